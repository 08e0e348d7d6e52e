//! `/tokens`: make (shown once), list and revoke API tokens; admins only.

use std::net::SocketAddr;
use std::sync::Arc;

use axum::Json;
use axum::extract::{ConnectInfo, Path, State};
use axum::http::{HeaderMap, StatusCode};

use super::{actor, allow};
use crate::app::Shared;
use crate::error::{Error, Result};
use crate::tokens::{Role, TokenInfo};

pub(super) async fn list(
    State(s): State<Arc<Shared>>,
    headers: HeaderMap,
) -> Result<Json<Vec<TokenInfo>>> {
    allow(&s, &headers, Role::Admin).await?;
    Ok(Json(s.db.tokens().await?))
}

#[derive(serde::Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct CreateBody {
    name: String,
    role: String,
}

pub(super) async fn create(
    State(s): State<Arc<Shared>>,
    ConnectInfo(peer): ConnectInfo<SocketAddr>,
    headers: HeaderMap,
    Json(b): Json<CreateBody>,
) -> Result<(StatusCode, Json<serde_json::Value>)> {
    let by = actor(&s, &headers, Role::Admin, peer).await?;
    let role = Role::parse(&b.role).ok_or_else(|| {
        Error::invalid(
            format!("unknown role `{}`", b.role),
            Some("viewer, operator or admin"),
        )
    })?;
    let (id, token) = s.db.create_token(&b.name, role, &by).await?;
    Ok((
        StatusCode::CREATED,
        Json(
            serde_json::json!({ "id": id, "name": b.name, "role": role, "token": token.expose() }),
        ),
    ))
}

pub(super) async fn revoke(
    State(s): State<Arc<Shared>>,
    ConnectInfo(peer): ConnectInfo<SocketAddr>,
    headers: HeaderMap,
    Path(id): Path<i64>,
) -> Result<StatusCode> {
    let by = actor(&s, &headers, Role::Admin, peer).await?;
    if s.db.revoke_token(id, &by).await? {
        Ok(StatusCode::NO_CONTENT)
    } else {
        Err(Error::NotFound(format!("no live token {id}")))
    }
}
