-- Approval gates: a deployment job of a run waiting for approvals before it deploys to a
-- protected environment. One gate per (run, job); each approver counts once.

CREATE TABLE gates (
    id            INTEGER PRIMARY KEY,
    run           INTEGER NOT NULL,
    job           TEXT    NOT NULL,
    environment   TEXT    NOT NULL,
    required      INTEGER NOT NULL,
    -- Who started the run (its actor), who may not approve unless self_approval is 1.
    starter       TEXT,
    self_approval INTEGER NOT NULL,
    -- waiting, approved, cancelled
    state         TEXT    NOT NULL,
    created_at    INTEGER NOT NULL,
    decided_at    INTEGER,
    UNIQUE (run, job)
);

CREATE TABLE approvals (
    gate     INTEGER NOT NULL REFERENCES gates (id) ON DELETE CASCADE,
    approver TEXT    NOT NULL,
    at       INTEGER NOT NULL,
    PRIMARY KEY (gate, approver)
) WITHOUT ROWID;
