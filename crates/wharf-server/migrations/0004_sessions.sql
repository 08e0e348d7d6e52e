-- Dashboard sessions: a token exchanged for a cookie, kept only as its SHA-256. Ending
-- the token (revoking it) ends its sessions: the lookup joins on tokens.revoked_at.
CREATE TABLE sessions (
    hash       TEXT PRIMARY KEY,
    token_id   INTEGER NOT NULL REFERENCES tokens(id) ON DELETE CASCADE,
    csrf       TEXT NOT NULL,
    created_at INTEGER NOT NULL,
    expires_at INTEGER NOT NULL
);
CREATE INDEX sessions_expiry ON sessions (expires_at);
