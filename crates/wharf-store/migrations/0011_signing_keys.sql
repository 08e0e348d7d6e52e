-- The release keys that sign provenance and images: the public half in the clear, the
-- private half sealed under the secret store's key (as secrets are). One current key; a
-- rotated one is kept, retired, so what it signed can still be checked.
CREATE TABLE signing_keys (
    id TEXT PRIMARY KEY,
    algorithm TEXT NOT NULL,
    public_pem TEXT NOT NULL,
    key_id TEXT NOT NULL,
    nonce BLOB NOT NULL,
    ciphertext BLOB NOT NULL,
    created_at INTEGER NOT NULL,
    retired_at INTEGER
);
