//! `/audit`: the audit log, newest first, and the check of its chain; admins only.

use std::sync::Arc;

use axum::Json;
use axum::extract::{Query, State};
use axum::http::HeaderMap;

use super::allow;
use crate::app::Shared;
use crate::audit::{self, Entry, Filter, Report};
use crate::error::Result;
use crate::tokens::Role;

#[derive(serde::Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct ListQuery {
    before: Option<i64>,
    limit: Option<u32>,
    action: Option<String>,
}

pub(super) async fn list(
    State(s): State<Arc<Shared>>,
    headers: HeaderMap,
    Query(q): Query<ListQuery>,
) -> Result<Json<Vec<Entry>>> {
    allow(&s, &headers, Role::Admin).await?;
    let filter = Filter {
        before: q.before,
        limit: q.limit.unwrap_or(50).clamp(1, 1000),
        action: q.action,
    };
    Ok(Json(audit::list(&s.db, &filter).await?))
}

pub(super) async fn verify(
    State(s): State<Arc<Shared>>,
    headers: HeaderMap,
) -> Result<Json<Report>> {
    allow(&s, &headers, Role::Admin).await?;
    Ok(Json(audit::verify(&s.db).await?))
}
