-- What a run warned about (a `reports:` glob that matched nothing, an unreadable report, a
-- failed job's artifacts that could not be kept): shown under the summary and in
-- `wharf show`. `step` is the 0-based step it is about, NULL for the job as a whole.
-- `seq` keeps the order they happened in.

CREATE TABLE warnings (
    seq     INTEGER PRIMARY KEY,
    run     INTEGER NOT NULL,
    job     TEXT    NOT NULL,
    step    INTEGER,
    message TEXT    NOT NULL,
    FOREIGN KEY (run, job) REFERENCES jobs (run, id) ON DELETE CASCADE
);

CREATE INDEX warnings_by_run ON warnings (run, seq);

-- The failed and erroring test cases of each JUnit report (the first few of each report,
-- messages cut to their first lines): which tests broke, by name, without the report.
-- One row per case, so a flaky test can be found across runs by its name.

CREATE TABLE failed_tests (
    run       INTEGER NOT NULL,
    job       TEXT    NOT NULL,
    -- The report it comes from (reports.path).
    path      TEXT    NOT NULL,
    -- Its position among the report's failed cases.
    idx       INTEGER NOT NULL,
    name      TEXT    NOT NULL,
    classname TEXT    NOT NULL,
    -- `failure` or `error`.
    kind      TEXT    NOT NULL,
    message   TEXT    NOT NULL,
    PRIMARY KEY (run, job, path, idx),
    FOREIGN KEY (run, job) REFERENCES jobs (run, id) ON DELETE CASCADE
) WITHOUT ROWID;

CREATE INDEX failed_tests_by_name ON failed_tests (name, classname);
