-- Deployments: a recorded release promoted to an environment, one row per attempt
-- (a rollback is a new row). The deployer that runs it is its owner (host, pid and the
-- pid's start time) and renews lease_until while it runs; whoever starts next reconciles
-- rows whose owner is gone.
CREATE TABLE deployments (
    id           INTEGER PRIMARY KEY AUTOINCREMENT,
    environment  TEXT    NOT NULL,
    release      TEXT    NOT NULL,
    previous     TEXT,
    -- deploy, rollback, redeploy
    mode         TEXT    NOT NULL,
    strategy     TEXT    NOT NULL,
    -- JSON: the release's items ([Produced]) as recorded
    digests      TEXT    NOT NULL,
    -- queued, waiting, running, paused, succeeded, failed, rolled_back, aborted, interrupted
    status       TEXT    NOT NULL,
    phase        TEXT    NOT NULL,
    reason       TEXT,
    actor        TEXT    NOT NULL,
    weight       INTEGER NOT NULL DEFAULT 0,
    -- JSON the target keeps (container ids, addresses)
    target_state TEXT,
    -- what someone asked of a paused deployment: resume or abort
    request      TEXT,
    owner_host   TEXT,
    owner_pid    INTEGER,
    owner_start  INTEGER,
    lease_until  INTEGER,
    created_at   INTEGER NOT NULL,
    started_at   INTEGER,
    finished_at  INTEGER
);

CREATE INDEX deployments_by_environment ON deployments (environment, id);

-- One deployment per environment at a time: the holder renews `expires`; a row whose
-- holder is gone (its process dead on this host, or its lease lapsed) may be taken over.
CREATE TABLE environment_leases (
    environment TEXT    PRIMARY KEY,
    deployment  INTEGER NOT NULL,
    holder_host TEXT    NOT NULL,
    holder_pid  INTEGER NOT NULL,
    holder_start INTEGER,
    actor       TEXT    NOT NULL,
    taken_at    INTEGER NOT NULL,
    expires     INTEGER NOT NULL
);
