-- The run history: one row per run, its jobs in plan order, the steps of each job's last
-- attempt, and the artifacts and reports the jobs stored. Statuses are the lowercase names
-- of wharf-model's status enums (`as_str`); times are Unix milliseconds.

CREATE TABLE runs (
    -- AUTOINCREMENT: a number is never handed out twice, even after old runs are pruned.
    number         INTEGER PRIMARY KEY AUTOINCREMENT,
    pipeline       TEXT    NOT NULL,
    file           TEXT    NOT NULL,
    -- The whole wharf_model::Event as JSON; the columns below copy its searchable parts.
    event          TEXT    NOT NULL,
    event_kind     TEXT    NOT NULL,
    branch         TEXT,
    tag            TEXT,
    sha            TEXT,
    status         TEXT    NOT NULL,
    started_at     INTEGER NOT NULL,
    finished_at    INTEGER,
    -- The wharf process that runs it, and that process's start time (/proc/PID/stat
    -- field 22, NULL when unknown), so a recycled pid is not mistaken for it.
    pid            INTEGER NOT NULL,
    pid_start_time INTEGER
);

CREATE INDEX runs_by_status   ON runs (status);
CREATE INDEX runs_by_pipeline ON runs (pipeline, number);
CREATE INDEX runs_by_kind     ON runs (event_kind, number);
CREATE INDEX runs_by_branch   ON runs (branch, number) WHERE branch IS NOT NULL;
CREATE INDEX runs_by_tag      ON runs (tag) WHERE tag IS NOT NULL;

CREATE TABLE jobs (
    run         INTEGER NOT NULL REFERENCES runs (number) ON DELETE CASCADE,
    id          TEXT    NOT NULL,
    -- Index in the plan: the order `get_run` answers in.
    position    INTEGER NOT NULL,
    name        TEXT    NOT NULL,
    -- JSON array of the ids of the jobs it needs.
    needs       TEXT    NOT NULL,
    status      TEXT    NOT NULL,
    attempt     INTEGER NOT NULL DEFAULT 0,
    exit_code   INTEGER,
    reason      TEXT,
    started_at  INTEGER,
    finished_at INTEGER,
    -- JSON object of the outputs the job wrote.
    outputs     TEXT    NOT NULL DEFAULT '{}',
    PRIMARY KEY (run, id),
    UNIQUE (run, position)
) WITHOUT ROWID;

CREATE TABLE steps (
    run         INTEGER NOT NULL,
    job         TEXT    NOT NULL,
    idx         INTEGER NOT NULL,
    name        TEXT    NOT NULL,
    status      TEXT    NOT NULL,
    exit_code   INTEGER,
    started_at  INTEGER,
    finished_at INTEGER,
    -- Log file, relative to the .wharf directory.
    log         TEXT,
    PRIMARY KEY (run, job, idx),
    FOREIGN KEY (run, job) REFERENCES jobs (run, id) ON DELETE CASCADE
) WITHOUT ROWID;

CREATE TABLE artifacts (
    -- Insertion order, the order `get_run` answers in.
    seq    INTEGER PRIMARY KEY,
    run    INTEGER NOT NULL,
    job    TEXT    NOT NULL,
    path   TEXT    NOT NULL,
    sha256 TEXT    NOT NULL,
    size   INTEGER NOT NULL,
    mode   INTEGER NOT NULL,
    UNIQUE (run, job, path),
    FOREIGN KEY (run, job) REFERENCES jobs (run, id) ON DELETE CASCADE
);

-- Which runs still reference an object: what a garbage collector of the artifact store asks.
CREATE INDEX artifacts_by_sha256 ON artifacts (sha256);

CREATE TABLE reports (
    seq      INTEGER PRIMARY KEY,
    run      INTEGER NOT NULL,
    job      TEXT    NOT NULL,
    path     TEXT    NOT NULL,
    tests    INTEGER NOT NULL,
    failures INTEGER NOT NULL,
    errors   INTEGER NOT NULL,
    skipped  INTEGER NOT NULL,
    UNIQUE (run, job, path),
    FOREIGN KEY (run, job) REFERENCES jobs (run, id) ON DELETE CASCADE
);
