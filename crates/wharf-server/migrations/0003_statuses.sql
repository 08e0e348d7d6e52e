-- Commit statuses reported back to each project's forge (docs/server.md, "Commit
-- statuses"): where to post them, and the durable outbox they are delivered from.

-- A project's status API: its forge's API root, the repository there (`owner/name`, or
-- GitLab's project id or path) and the API token, sealed with the server's key (scope
-- 'status-token'). A project without a row reports nothing.
CREATE TABLE status_configs (
    project   TEXT PRIMARY KEY REFERENCES projects (name) ON DELETE CASCADE,
    api       TEXT NOT NULL,
    repo      TEXT NOT NULL,
    key_id    TEXT NOT NULL,
    nonce     BLOB NOT NULL,
    token     BLOB NOT NULL
);

-- One row per (project, commit, context): the newest state queued for it. A newer state
-- replaces an undelivered older one (coalescing: GitHub keeps at most 1000 statuses per
-- commit and context), never the other way round: (run, rank) only grows (rank 0
-- pending, 1 running, 2 ended). `seq` grows with every change; a delivery marks the row
-- delivered only if `seq` is still the one it sent.
CREATE TABLE status_outbox (
    project         TEXT NOT NULL REFERENCES projects (name) ON DELETE CASCADE,
    sha             TEXT NOT NULL,
    context         TEXT NOT NULL,
    -- The ref (branch or tag) GitLab is told; NULL when the event had none.
    ref             TEXT,
    -- wharf's own word (pending, running, success, failure, error, cancelled, skipped);
    -- each forge's is chosen when it is delivered.
    state           TEXT NOT NULL,
    target_url      TEXT NOT NULL,
    description     TEXT NOT NULL,
    run             INTEGER NOT NULL,
    rank            INTEGER NOT NULL,
    seq             INTEGER NOT NULL,
    attempts        INTEGER NOT NULL DEFAULT 0,
    -- When to try next; NULL once delivered or given up.
    next_attempt_at INTEGER,
    delivered_at    INTEGER,
    last_error      TEXT,
    PRIMARY KEY (project, sha, context)
);
CREATE INDEX status_outbox_due ON status_outbox (next_attempt_at, seq);
