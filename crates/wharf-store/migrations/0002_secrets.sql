-- Encrypted secrets (`wharf secrets set`). The store holds only what wharf-secrets sealed:
-- the id of the key, the nonce and the ciphertext, never a value; it cannot decrypt them.
-- `scope` is the environment a secret is limited to, '' for every environment (not NULL:
-- a primary key must tell two unscoped rows of one name apart). Times are Unix
-- milliseconds.

CREATE TABLE secrets (
    name       TEXT    NOT NULL,
    scope      TEXT    NOT NULL DEFAULT '',
    key_id     TEXT    NOT NULL,
    nonce      BLOB    NOT NULL,
    ciphertext BLOB    NOT NULL,
    updated_at INTEGER NOT NULL,
    PRIMARY KEY (name, scope)
) WITHOUT ROWID;
