//! Dashboard sign-in: an API token exchanged once for a session cookie (`HttpOnly`,
//! `SameSite=Strict`), kept in the database only as its SHA-256, with a CSRF token every
//! form carries back. A session ends when it expires, when its owner signs out, or when its
//! token is revoked (checked on every request).

use axum::http::HeaderMap;
use sha2::{Digest as _, Sha256};
use sqlx::Row as _;

use crate::app::Shared;
use crate::error::{Error, Result};
use crate::tokens::Role;

/// The cookie's name.
pub(crate) const COOKIE: &str = "wharf_session";

/// A signed-in user.
#[derive(Debug, Clone)]
pub(crate) struct Session {
    /// The token signed in with.
    pub token_id: i64,
    /// Its name.
    pub name: String,
    /// Its role.
    pub role: Role,
    /// What forms must carry back.
    pub csrf: String,
}

fn hash(value: &str) -> String {
    let mut h = Sha256::new();
    h.update(value.as_bytes());
    h.finalize().iter().map(|b| format!("{b:02x}")).collect()
}

fn random() -> Result<String> {
    Ok(wharf_secrets::crypto::random_token()?.expose().to_string())
}

/// Starts a session for token `token_id`; the cookie's value and the session's CSRF token.
pub(crate) async fn create(s: &Shared, token_id: i64) -> Result<(String, String)> {
    let id = random()?;
    let csrf = random()?;
    let now = crate::now();
    let ttl = i64::try_from(s.config.session_ttl.as_millis()).unwrap_or(i64::MAX);
    sqlx::query(
        "INSERT INTO sessions (hash, token_id, csrf, created_at, expires_at) VALUES (?, ?, ?, ?, ?)",
    )
    .bind(hash(&id))
    .bind(token_id)
    .bind(&csrf)
    .bind(now)
    .bind(now.saturating_add(ttl))
    .execute(s.db.pool())
    .await
    .map_err(Error::db("start a session"))?;
    // Expired sessions go as new ones come.
    sqlx::query("DELETE FROM sessions WHERE expires_at < ?")
        .bind(now)
        .execute(s.db.pool())
        .await
        .map_err(Error::db("forget expired sessions"))?;
    Ok((id, csrf))
}

/// Ends the session whose cookie is `value`.
pub(crate) async fn end(s: &Shared, value: &str) -> Result<()> {
    sqlx::query("DELETE FROM sessions WHERE hash = ?")
        .bind(hash(value))
        .execute(s.db.pool())
        .await
        .map_err(Error::db("end a session"))?;
    Ok(())
}

/// The session cookie's value in `headers`, if any.
pub(crate) fn cookie(headers: &HeaderMap) -> Option<String> {
    headers
        .get_all(axum::http::header::COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(';'))
        .filter_map(|kv| kv.trim().split_once('='))
        .find(|(k, _)| *k == COOKIE)
        .map(|(_, v)| v.to_string())
}

/// Why there is no session.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Missing {
    /// No cookie at all.
    None,
    /// A cookie of a session that expired, ended or whose token was revoked.
    Expired,
}

/// The session of the request, or why there is none.
pub(crate) async fn current(
    s: &Shared,
    headers: &HeaderMap,
) -> Result<std::result::Result<Session, Missing>> {
    let Some(value) = cookie(headers) else {
        return Ok(Err(Missing::None));
    };
    let row = sqlx::query(
        "SELECT s.token_id, t.name, t.role, s.csrf FROM sessions s JOIN tokens t ON t.id = s.token_id \
         WHERE s.hash = ? AND s.expires_at > ? AND t.revoked_at IS NULL",
    )
    .bind(hash(&value))
    .bind(crate::now())
    .fetch_optional(s.db.pool())
    .await
    .map_err(Error::db("read a session"))?;
    let Some(row) = row else {
        return Ok(Err(Missing::Expired));
    };
    let role: String = row.get(2);
    let Some(role) = Role::parse(&role) else {
        return Ok(Err(Missing::Expired));
    };
    Ok(Ok(Session {
        token_id: row.get(0),
        name: row.get(1),
        role,
        csrf: row.get(3),
    }))
}

/// Whether `given` is the session's CSRF token (compared in constant time).
pub(crate) fn csrf_ok(session: &Session, given: &str) -> bool {
    use subtle::ConstantTimeEq as _;
    session.csrf.as_bytes().ct_eq(given.as_bytes()).into()
}

/// Who may read: a bearer token (API clients) or a dashboard session (the browser's
/// `EventSource` and downloads carry the cookie). Only for requests that change nothing:
/// a cookie is sent by the browser whoever made the page, so changes need the CSRF token.
pub(crate) async fn allow_read(s: &Shared, headers: &HeaderMap, needed: Role) -> Result<Role> {
    if headers.contains_key(axum::http::header::AUTHORIZATION) || cookie(headers).is_none() {
        return crate::api::allow(s, headers, needed).await;
    }
    match current(s, headers).await? {
        Ok(session) if session.role >= needed => Ok(session.role),
        Ok(session) => Err(Error::Forbidden(format!(
            "this needs role {} or above; you are signed in as {}",
            needed.as_str(),
            session.role.as_str()
        ))),
        Err(_) => Err(Error::Unauthorized(
            "the dashboard session expired; sign in again".into(),
        )),
    }
}
