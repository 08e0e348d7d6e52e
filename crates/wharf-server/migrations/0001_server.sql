-- The server's own database (server.db in the data directory): the projects it serves,
-- the durable queue of events, and every webhook delivery it took. Each project's runs,
-- logs, artifacts and secrets live in that project's run store, as under `wharf run`.

CREATE TABLE projects (
    name        TEXT PRIMARY KEY,
    repo        TEXT NOT NULL,
    forge       TEXT NOT NULL CHECK (forge IN ('github', 'gitlab', 'gitea')),
    -- Polling interval in milliseconds; NULL: webhooks only.
    poll_ms     INTEGER,
    -- The webhook secret, sealed with the server's key (scope 'webhook').
    hook_key_id TEXT NOT NULL,
    hook_nonce  BLOB NOT NULL,
    hook_secret BLOB NOT NULL,
    created_at  INTEGER NOT NULL
);

-- One row per event to run: accepted (queued) before any forge is answered, so an
-- accepted event survives a crash; taken by the dispatcher (running); ended (done,
-- failed: it could not be run, with why; interrupted: the server died while it ran).
CREATE TABLE events (
    id          INTEGER PRIMARY KEY AUTOINCREMENT,
    project     TEXT NOT NULL REFERENCES projects (name) ON DELETE CASCADE,
    source      TEXT NOT NULL
                CHECK (source IN ('webhook', 'poll', 'schedule', 'manual', 'pipeline', 'retry')),
    -- wharf_model::Event as JSON.
    event       TEXT NOT NULL,
    -- The commit a pushed branch pointed at before (its changed files are judged
    -- against it once the commits are fetched); NULL when unknown.
    before      TEXT,
    -- A re-run of this run's failed jobs (and the jobs after them), reusing the others.
    rerun       INTEGER,
    -- 1, or the attempt of the event a server crash interrupted, plus one.
    attempt     INTEGER NOT NULL DEFAULT 1,
    received_at INTEGER NOT NULL,
    state       TEXT NOT NULL DEFAULT 'queued'
                CHECK (state IN ('queued', 'running', 'done', 'failed', 'interrupted')),
    started_at  INTEGER,
    finished_at INTEGER,
    -- The numbers of the runs it started in the project's store, as JSON.
    runs        TEXT NOT NULL DEFAULT '[]',
    error       TEXT
);
CREATE INDEX events_queue ON events (state, id);

-- Every verified delivery, by the forge's delivery id: a redelivery within the retention
-- window finds its row and starts nothing.
CREATE TABLE deliveries (
    project     TEXT NOT NULL REFERENCES projects (name) ON DELETE CASCADE,
    delivery    TEXT NOT NULL,
    event_type  TEXT NOT NULL,
    received_at INTEGER NOT NULL,
    -- The queued event, NULL when the delivery was ignored.
    event       INTEGER REFERENCES events (id) ON DELETE SET NULL,
    outcome     TEXT NOT NULL,
    PRIMARY KEY (project, delivery)
);
CREATE INDEX deliveries_age ON deliveries (received_at);

-- What the poller (and webhooks) last saw of each branch and tag: a poll turns the
-- difference into events, and a webhook for a ref already at its commit starts nothing.
CREATE TABLE refs (
    project TEXT NOT NULL REFERENCES projects (name) ON DELETE CASCADE,
    name    TEXT NOT NULL,
    sha     TEXT NOT NULL,
    PRIMARY KEY (project, name)
);

-- When each project was last polled, and how it went.
CREATE TABLE polls (
    project TEXT PRIMARY KEY REFERENCES projects (name) ON DELETE CASCADE,
    at      INTEGER NOT NULL,
    error   TEXT
);

-- The last tick each `on.schedule` entry fired for: a later tick fires it once, however
-- many were missed while the server was down.
CREATE TABLE schedules (
    project   TEXT NOT NULL REFERENCES projects (name) ON DELETE CASCADE,
    pipeline  TEXT NOT NULL,
    cron      TEXT NOT NULL,
    last_tick INTEGER NOT NULL,
    PRIMARY KEY (project, pipeline, cron)
);

-- API tokens: random, shown once, kept only as their SHA-256.
CREATE TABLE tokens (
    id           INTEGER PRIMARY KEY AUTOINCREMENT,
    name         TEXT NOT NULL,
    role         TEXT NOT NULL CHECK (role IN ('viewer', 'operator', 'admin')),
    hash         TEXT NOT NULL UNIQUE,
    created_at   INTEGER NOT NULL,
    last_used_at INTEGER,
    revoked_at   INTEGER
);
