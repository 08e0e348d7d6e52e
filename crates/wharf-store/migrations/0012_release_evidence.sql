-- What proves a release (its signed provenance, public key, SBOMs, image signatures),
-- each by digest; written with the release by the recorder.
CREATE TABLE release_evidence (
    version  TEXT    NOT NULL REFERENCES releases (version) ON DELETE CASCADE,
    seq      INTEGER NOT NULL,
    kind     TEXT    NOT NULL,
    subject  TEXT    NOT NULL,
    name     TEXT    NOT NULL,
    digest   TEXT    NOT NULL,
    attached TEXT,
    PRIMARY KEY (version, seq)
) WITHOUT ROWID;
