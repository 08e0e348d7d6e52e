-- Releases (`release:` step): one row per version, and what it ships. A release is
-- immutable once recorded: re-running the step for the same version replaces the row
-- only from the same commit (the code checks; the schema keeps one row per version).

CREATE TABLE releases (
    version    TEXT    PRIMARY KEY,
    tag        TEXT    NOT NULL,
    sha        TEXT    NOT NULL,
    run        INTEGER NOT NULL,
    notes      TEXT    NOT NULL,
    created_at INTEGER NOT NULL
) WITHOUT ROWID;

CREATE TABLE release_items (
    version TEXT    NOT NULL REFERENCES releases (version) ON DELETE CASCADE,
    seq     INTEGER NOT NULL,
    kind    TEXT    NOT NULL,
    name    TEXT    NOT NULL,
    digest  TEXT    NOT NULL,
    size    INTEGER,
    PRIMARY KEY (version, seq)
) WITHOUT ROWID;
