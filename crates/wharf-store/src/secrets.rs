//! The encrypted secrets of `wharf secrets set/list/rm`, beside the run history.
//!
//! The store keeps secrets as opaque sealed bytes: it does not depend on wharf-secrets,
//! never sees a key or a value, and could not decrypt what it holds. A secret is keyed by
//! its name and scope (an environment, or none for every environment), which is also what
//! the ciphertext is bound to, so rows cannot be swapped undetected.

use serde::Serialize;
use sqlx::Row;
use sqlx::sqlite::SqliteRow;
use wharf_model::Millis;

use crate::error::Result;
use crate::store::Store;

/// A stored secret: the sealed value and what it is bound to.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SecretRecord {
    /// The secret's name, e.g. `PYPI_TOKEN`.
    pub name: String,
    /// The environment it is limited to; `None` for every environment (`Some("")` is the
    /// same as `None`).
    pub scope: Option<String>,
    /// The id of the key that sealed it.
    pub key_id: String,
    /// The nonce it was sealed with.
    pub nonce: Vec<u8>,
    /// The sealed value (ciphertext and tag).
    pub ciphertext: Vec<u8>,
    /// When it was last set.
    pub updated_at: Millis,
}

/// What `wharf secrets list` shows about a secret: everything but the sealed bytes.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct SecretMeta {
    /// The secret's name.
    pub name: String,
    /// The environment it is limited to; `None` (JSON `null`) for every environment.
    pub scope: Option<String>,
    /// The id of the key that sealed it.
    pub key_id: String,
    /// When it was last set, in Unix milliseconds.
    pub updated_at: Millis,
}

impl Store {
    /// Stores `rec`, replacing the secret with the same name and scope if there is one.
    pub async fn put_secret(&self, rec: &SecretRecord) -> Result<()> {
        sqlx::query(
            "INSERT INTO secrets (name, scope, key_id, nonce, ciphertext, updated_at) \
             VALUES (?, ?, ?, ?, ?, ?) \
             ON CONFLICT (name, scope) DO UPDATE SET key_id = excluded.key_id, \
             nonce = excluded.nonce, ciphertext = excluded.ciphertext, \
             updated_at = excluded.updated_at",
        )
        .bind(&rec.name)
        .bind(to_column(rec.scope.as_deref()))
        .bind(&rec.key_id)
        .bind(&rec.nonce)
        .bind(&rec.ciphertext)
        .bind(rec.updated_at)
        .execute(&self.pool)
        .await
        .map_err(self.db_err("store a secret"))?;
        Ok(())
    }

    /// Every stored secret, without its sealed bytes, sorted by name and then scope (the
    /// unscoped one first).
    pub async fn list_secrets(&self) -> Result<Vec<SecretMeta>> {
        let err = self.db_err("list secrets");
        let rows =
            sqlx::query("SELECT name, scope, key_id, updated_at FROM secrets ORDER BY name, scope")
                .fetch_all(&self.pool)
                .await
                .map_err(&err)?;
        rows.iter()
            .map(|row| {
                Ok(SecretMeta {
                    name: row.try_get("name").map_err(&err)?,
                    scope: scope_of(row).map_err(&err)?,
                    key_id: row.try_get("key_id").map_err(&err)?,
                    updated_at: row.try_get("updated_at").map_err(&err)?,
                })
            })
            .collect()
    }

    /// The secret `name` stored for exactly `scope` (`None`: the one for every
    /// environment; no fallback from a scope to it).
    pub async fn get_secret(
        &self,
        name: &str,
        scope: Option<&str>,
    ) -> Result<Option<SecretRecord>> {
        let err = self.db_err("read a secret");
        let Some(row) = sqlx::query(
            "SELECT name, scope, key_id, nonce, ciphertext, updated_at FROM secrets \
             WHERE name = ? AND scope = ?",
        )
        .bind(name)
        .bind(to_column(scope))
        .fetch_optional(&self.pool)
        .await
        .map_err(&err)?
        else {
            return Ok(None);
        };
        Ok(Some(SecretRecord {
            name: row.try_get("name").map_err(&err)?,
            scope: scope_of(&row).map_err(&err)?,
            key_id: row.try_get("key_id").map_err(&err)?,
            nonce: row.try_get("nonce").map_err(&err)?,
            ciphertext: row.try_get("ciphertext").map_err(&err)?,
            updated_at: row.try_get("updated_at").map_err(&err)?,
        }))
    }

    /// Deletes the secret `name` stored for exactly `scope`; whether there was one.
    pub async fn delete_secret(&self, name: &str, scope: Option<&str>) -> Result<bool> {
        let done = sqlx::query("DELETE FROM secrets WHERE name = ? AND scope = ?")
            .bind(name)
            .bind(to_column(scope))
            .execute(&self.pool)
            .await
            .map_err(self.db_err("delete a secret"))?;
        Ok(done.rows_affected() > 0)
    }
}

/// The `scope` column's value: '' stands for "every environment".
fn to_column(scope: Option<&str>) -> &str {
    scope.unwrap_or("")
}

/// The inverse of [`to_column`].
fn scope_of(row: &SqliteRow) -> Result<Option<String>, sqlx::Error> {
    let scope: String = row.try_get("scope")?;
    Ok(Some(scope).filter(|s| !s.is_empty()))
}
