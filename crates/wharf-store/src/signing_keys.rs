//! The release keys (`wharf keys`): the public half in the clear, the private half as
//! sealed bytes the store cannot open (as for secrets). One key is current; rotating
//! retires it and keeps it, so what it signed can still be checked.

use serde::Serialize;
use sqlx::Row;
use sqlx::sqlite::SqliteRow;
use wharf_model::Millis;

use crate::error::Result;
use crate::store::Store;

/// A stored release key.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SigningKeyRecord {
    /// What is public about it.
    pub meta: SigningKeyMeta,
    /// The id of the secret key that sealed the private half.
    pub key_id: String,
    /// The nonce it was sealed with.
    pub nonce: Vec<u8>,
    /// The sealed private half.
    pub ciphertext: Vec<u8>,
}

/// What `wharf keys show` shows about a release key.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct SigningKeyMeta {
    /// The public key's id.
    pub id: String,
    /// `ecdsa-p256-sha256`.
    pub algorithm: String,
    /// The public key, PEM.
    pub public_pem: String,
    /// When it was made, in Unix milliseconds.
    pub created_at: Millis,
    /// When it was rotated out; `None` for the current key.
    pub retired_at: Option<Millis>,
}

/// The columns read back, in order.
macro_rules! key_columns {
    () => {
        "id, algorithm, public_pem, key_id, nonce, ciphertext, created_at, retired_at"
    };
}

fn record(row: &SqliteRow) -> std::result::Result<SigningKeyRecord, sqlx::Error> {
    Ok(SigningKeyRecord {
        meta: SigningKeyMeta {
            id: row.try_get("id")?,
            algorithm: row.try_get("algorithm")?,
            public_pem: row.try_get("public_pem")?,
            created_at: row.try_get("created_at")?,
            retired_at: row.try_get("retired_at")?,
        },
        key_id: row.try_get("key_id")?,
        nonce: row.try_get("nonce")?,
        ciphertext: row.try_get("ciphertext")?,
    })
}

impl Store {
    /// Stores `rec` as the current release key, retiring the current one (at its
    /// creation time) in the same transaction.
    pub async fn put_signing_key(&self, rec: &SigningKeyRecord) -> Result<()> {
        let err = self.db_err("store the release key");
        let mut tx = self.pool.begin().await.map_err(&err)?;
        sqlx::query("UPDATE signing_keys SET retired_at = ? WHERE retired_at IS NULL")
            .bind(rec.meta.created_at)
            .execute(&mut *tx)
            .await
            .map_err(&err)?;
        sqlx::query(
            "INSERT INTO signing_keys (id, algorithm, public_pem, key_id, nonce, ciphertext, \
             created_at, retired_at) VALUES (?, ?, ?, ?, ?, ?, ?, NULL)",
        )
        .bind(&rec.meta.id)
        .bind(&rec.meta.algorithm)
        .bind(&rec.meta.public_pem)
        .bind(&rec.key_id)
        .bind(&rec.nonce)
        .bind(&rec.ciphertext)
        .bind(rec.meta.created_at)
        .execute(&mut *tx)
        .await
        .map_err(&err)?;
        tx.commit().await.map_err(&err)?;
        Ok(())
    }

    /// The current release key, if one was made.
    pub async fn current_signing_key(&self) -> Result<Option<SigningKeyRecord>> {
        let err = self.db_err("read the release key");
        let row = sqlx::query(concat!(
            "SELECT ",
            key_columns!(),
            " FROM signing_keys WHERE retired_at IS NULL"
        ))
        .fetch_optional(&self.pool)
        .await
        .map_err(&err)?;
        row.map(|r| record(&r)).transpose().map_err(&err)
    }

    /// Every release key, the current one first, then the retired ones, newest first.
    pub async fn signing_keys(&self) -> Result<Vec<SigningKeyMeta>> {
        let err = self.db_err("list the release keys");
        let rows = sqlx::query(concat!(
            "SELECT ",
            key_columns!(),
            " FROM signing_keys ORDER BY retired_at IS NOT NULL, created_at DESC"
        ))
        .fetch_all(&self.pool)
        .await
        .map_err(&err)?;
        rows.iter()
            .map(|r| record(r).map(|k| k.meta))
            .collect::<std::result::Result<_, _>>()
            .map_err(&err)
    }
}
