-- The audit log: who did what to the server, when and from where. Append-only, each
-- entry holding the hash of the one before (see audit.rs for the hash's encoding), so a
-- changed or deleted entry breaks the chain and `wharf audit verify` names it.

CREATE TABLE audit (
    -- 1, 2, 3 … with no gaps: a missing number is a deleted entry.
    seq       INTEGER PRIMARY KEY CHECK (seq >= 1),
    -- Milliseconds since the epoch.
    at        INTEGER NOT NULL,
    -- `token:ID (NAME)` for an API token, `local:USER` for the admin CLI on the data
    -- directory.
    actor     TEXT NOT NULL,
    role      TEXT NOT NULL,
    -- `token.create`, `secret.set`, `run.trigger` … (audit.rs, `Action`).
    action    TEXT NOT NULL,
    -- The project, run, token id or secret name acted on; never a secret's value.
    target    TEXT NOT NULL,
    -- A small JSON object, hashed as stored.
    detail    TEXT NOT NULL,
    -- The HTTP client's address (IP:port), or `cli`.
    source    TEXT NOT NULL,
    prev_hash TEXT NOT NULL,
    hash      TEXT NOT NULL
);

-- The last entry's number and hash, updated with every append in the same transaction:
-- the chain alone cannot show that its last entries were deleted; this row can.
CREATE TABLE audit_head (
    id   INTEGER PRIMARY KEY CHECK (id = 1),
    seq  INTEGER NOT NULL,
    hash TEXT NOT NULL
);
INSERT INTO audit_head (id, seq, hash)
VALUES (1, 0, '0000000000000000000000000000000000000000000000000000000000000000');

-- Mistakes are refused; someone who can drop these triggers can also rewrite the log,
-- which is what verifying the chain is for.
CREATE TRIGGER audit_no_update BEFORE UPDATE ON audit
BEGIN
    SELECT RAISE(ABORT, 'the audit log is append-only');
END;
CREATE TRIGGER audit_no_delete BEFORE DELETE ON audit
BEGIN
    SELECT RAISE(ABORT, 'the audit log is append-only');
END;
CREATE TRIGGER audit_head_no_delete BEFORE DELETE ON audit_head
BEGIN
    SELECT RAISE(ABORT, 'the audit log is append-only');
END;
