//! `/projects/{project}/statuses`: where a project's commit statuses are reported (the
//! token is taken, sealed, and never shown again).

use std::net::SocketAddr;
use std::sync::Arc;

use axum::Json;
use axum::extract::{ConnectInfo, Path, State};
use axum::http::{HeaderMap, StatusCode};
use wharf_secrets::secret::SecretString;

use super::actor;
use crate::admin::ProjectInfo;
use crate::app::Shared;
use crate::error::Result;
use crate::statuses::StatusUpdate;
use crate::tokens::Role;

#[derive(serde::Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct SetBody {
    api: Option<String>,
    token: Option<String>,
    repo: Option<String>,
}

pub(super) async fn set(
    State(s): State<Arc<Shared>>,
    ConnectInfo(peer): ConnectInfo<SocketAddr>,
    headers: HeaderMap,
    Path(project): Path<String>,
    Json(b): Json<SetBody>,
) -> Result<Json<ProjectInfo>> {
    let by = actor(&s, &headers, Role::Admin, peer).await?;
    let update = StatusUpdate {
        api: b.api,
        token: b.token.map(SecretString::new),
        repo: b.repo,
        off: false,
    };
    Ok(Json(
        crate::admin::set_statuses(&s.config.data_dir, &project, update, &by).await?,
    ))
}

pub(super) async fn remove(
    State(s): State<Arc<Shared>>,
    ConnectInfo(peer): ConnectInfo<SocketAddr>,
    headers: HeaderMap,
    Path(project): Path<String>,
) -> Result<StatusCode> {
    let by = actor(&s, &headers, Role::Admin, peer).await?;
    let update = StatusUpdate {
        off: true,
        ..StatusUpdate::default()
    };
    crate::admin::set_statuses(&s.config.data_dir, &project, update, &by).await?;
    Ok(StatusCode::NO_CONTENT)
}
