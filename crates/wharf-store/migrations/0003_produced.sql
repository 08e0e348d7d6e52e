-- Release artifacts produced by built-in steps: release packages, images (built or
-- pushed, by manifest digest) and Python files published to an index. A release record
-- lists these digests. `seq` keeps the order they were produced in.

CREATE TABLE produced (
    seq    INTEGER PRIMARY KEY,
    run    INTEGER NOT NULL,
    job    TEXT    NOT NULL,
    step   INTEGER NOT NULL,
    kind   TEXT    NOT NULL,
    name   TEXT    NOT NULL,
    digest TEXT    NOT NULL,
    size   INTEGER,
    UNIQUE (run, job, kind, name),
    FOREIGN KEY (run, job) REFERENCES jobs (run, id) ON DELETE CASCADE
);
