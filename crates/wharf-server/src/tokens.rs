//! API tokens: 32 random bytes, shown once, kept as their SHA-256 (a stolen database
//! gives no usable token), each with a role. Looking a token up by its hash leaks nothing
//! through timing that helps forge one: the hash of a guess says nothing about the hash of
//! a real token.

use sha2::{Digest, Sha256};
use sqlx::Row;
use wharf_secrets::secret::SecretString;

use crate::audit::{Action, Actor, Change, Pending};
use crate::db::Db;
use crate::error::{Error, Result};

/// The prefix of every token, so scanners and people recognise one.
const PREFIX: &str = "wharf_";

/// What a token may do; each role may do what the ones before it may.
#[derive(
    Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, serde::Serialize, serde::Deserialize,
)]
#[serde(rename_all = "lowercase")]
pub enum Role {
    /// Read projects, runs, logs, artifacts, releases and secret names.
    Viewer,
    /// Also cancel, re-run and trigger runs.
    Operator,
    /// Also manage projects, secrets and tokens.
    Admin,
}

impl Role {
    /// The role's name.
    pub fn as_str(self) -> &'static str {
        match self {
            Role::Viewer => "viewer",
            Role::Operator => "operator",
            Role::Admin => "admin",
        }
    }

    /// Parses a role's name.
    pub fn parse(s: &str) -> Option<Role> {
        match s {
            "viewer" => Some(Role::Viewer),
            "operator" => Some(Role::Operator),
            "admin" => Some(Role::Admin),
            _ => None,
        }
    }
}

/// A token as listed (never the token itself).
#[derive(Debug, Clone, serde::Serialize)]
pub struct TokenInfo {
    /// Its id.
    pub id: i64,
    /// The name it was given.
    pub name: String,
    /// Its role.
    pub role: Role,
    /// When it was made.
    pub created_at: i64,
    /// When it was last used.
    pub last_used_at: Option<i64>,
    /// When it was revoked.
    pub revoked_at: Option<i64>,
}

/// Who a live token is.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Caller {
    /// The token's id.
    pub id: i64,
    /// The name it was given.
    pub name: String,
    /// Its role.
    pub role: Role,
}

fn hash(token: &str) -> String {
    Sha256::digest(token.as_bytes())
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}

impl Db {
    /// Makes a token, recorded in the audit log as done `by`; returns its id and the token
    /// (shown once).
    pub async fn create_token(
        &self,
        name: &str,
        role: Role,
        by: &Actor,
    ) -> Result<(i64, SecretString)> {
        if name.trim().is_empty() || name.len() > 100 {
            return Err(Error::invalid(
                "a token needs a name of 1 to 100 characters",
                None,
            ));
        }
        let random = wharf_secrets::crypto::random_token()?;
        let token = SecretString::new(format!("{PREFIX}{}", random.expose()));
        let mut audit = Pending::begin(self).await?;
        let row = sqlx::query(
            "INSERT INTO tokens (name, role, hash, created_at) VALUES (?, ?, ?, ?) RETURNING id",
        )
        .bind(name)
        .bind(role.as_str())
        .bind(hash(token.expose()))
        .bind(crate::now())
        .fetch_one(audit.conn())
        .await
        .map_err(Error::db("create a token"))?;
        let id: i64 = row.get(0);
        let detail = serde_json::json!({ "name": name, "role": role.as_str() });
        audit
            .commit(by, Change::new(Action::TokenCreate, id.to_string(), detail))
            .await?;
        Ok((id, token))
    }

    /// Every token, newest first.
    pub async fn tokens(&self) -> Result<Vec<TokenInfo>> {
        let rows = sqlx::query(
            "SELECT id, name, role, created_at, last_used_at, revoked_at FROM tokens ORDER BY id DESC",
        )
        .fetch_all(self.pool())
        .await
        .map_err(Error::db("list tokens"))?;
        rows.iter()
            .map(|r| {
                let role: String = r.get(2);
                Ok(TokenInfo {
                    id: r.get(0),
                    name: r.get(1),
                    role: Role::parse(&role)
                        .ok_or_else(|| Error::invalid(format!("stored role `{role}`"), None))?,
                    created_at: r.get(3),
                    last_used_at: r.get(4),
                    revoked_at: r.get(5),
                })
            })
            .collect()
    }

    /// Revokes token `id`, recorded in the audit log as done `by`; `false` when there is
    /// no such live token (nothing recorded).
    pub async fn revoke_token(&self, id: i64, by: &Actor) -> Result<bool> {
        let mut audit = Pending::begin(self).await?;
        let row = sqlx::query(
            "UPDATE tokens SET revoked_at = ? WHERE id = ? AND revoked_at IS NULL RETURNING name",
        )
        .bind(crate::now())
        .bind(id)
        .fetch_optional(audit.conn())
        .await
        .map_err(Error::db("revoke a token"))?;
        let Some(row) = row else {
            return Ok(false);
        };
        let name: String = row.get(0);
        audit
            .commit(
                by,
                Change::new(
                    Action::TokenRevoke,
                    id.to_string(),
                    serde_json::json!({ "name": name }),
                ),
            )
            .await?;
        Ok(true)
    }

    /// The role of a live token, noting its use; `None` for an unknown or revoked one.
    pub async fn authenticate(&self, token: &str) -> Result<Option<(i64, Role)>> {
        Ok(self.identify(token).await?.map(|c| (c.id, c.role)))
    }

    /// Who a live token is, noting its use; `None` for an unknown or revoked one.
    pub async fn identify(&self, token: &str) -> Result<Option<Caller>> {
        if !token.starts_with(PREFIX) {
            return Ok(None);
        }
        let row = sqlx::query(
            "SELECT id, role, last_used_at, name FROM tokens WHERE hash = ? AND revoked_at IS NULL",
        )
        .bind(hash(token))
        .fetch_optional(self.pool())
        .await
        .map_err(Error::db("check a token"))?;
        let Some(row) = row else {
            return Ok(None);
        };
        let id: i64 = row.get(0);
        let role: String = row.get(1);
        let last: Option<i64> = row.get(2);
        let now = crate::now();
        // Noted at most once a minute: a synced write per request would cost more than
        // the request.
        if last.is_none_or(|l| now - l > 60_000) {
            sqlx::query("UPDATE tokens SET last_used_at = ? WHERE id = ?")
                .bind(now)
                .bind(id)
                .execute(self.pool())
                .await
                .map_err(Error::db("note a token's use"))?;
        }
        let name: String = row.get(3);
        Ok(Role::parse(&role).map(|role| Caller { id, name, role }))
    }
}
