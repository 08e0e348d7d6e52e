//! `/projects`: list, register, unregister; a project's event queue.

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use axum::Json;
use axum::extract::{ConnectInfo, Path, Query, State};
use axum::http::{HeaderMap, StatusCode};
use wharf_forge::ForgeKind;
use wharf_secrets::secret::SecretString;

use super::{actor, allow};
use crate::admin::{NewProject, ProjectInfo};
use crate::app::Shared;
use crate::error::{Error, Result};
use crate::tokens::Role;

pub(super) async fn list(
    State(s): State<Arc<Shared>>,
    headers: HeaderMap,
) -> Result<Json<Vec<ProjectInfo>>> {
    allow(&s, &headers, Role::Viewer).await?;
    Ok(Json(
        crate::admin::infos(&s.db, &s.db.projects().await?).await?,
    ))
}

#[derive(serde::Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct AddBody {
    name: String,
    repo: String,
    forge: String,
    poll_secs: Option<u64>,
    webhook_secret: Option<String>,
    status_api: Option<String>,
    status_token: Option<String>,
    status_repo: Option<String>,
}

pub(super) async fn add(
    State(s): State<Arc<Shared>>,
    ConnectInfo(peer): ConnectInfo<SocketAddr>,
    headers: HeaderMap,
    Json(b): Json<AddBody>,
) -> Result<(StatusCode, Json<serde_json::Value>)> {
    let by = actor(&s, &headers, Role::Admin, peer).await?;
    let forge = ForgeKind::parse(&b.forge).ok_or_else(|| {
        Error::invalid(
            format!("unknown forge `{}`", b.forge),
            Some("github, gitlab or gitea"),
        )
    })?;
    let generated = b.webhook_secret.is_none();
    let (info, secret) = crate::admin::add_project(
        &s.config.data_dir,
        NewProject {
            name: b.name,
            repo: b.repo,
            forge,
            poll: b.poll_secs.map(Duration::from_secs),
            hook_secret: b.webhook_secret.map(SecretString::new),
            statuses: crate::statuses::StatusUpdate {
                api: b.status_api,
                token: b.status_token.map(SecretString::new),
                repo: b.status_repo,
                off: false,
            },
        },
        &by,
    )
    .await?;
    let mut v = serde_json::to_value(&info).expect("serializes");
    if generated {
        // Shown this once; the server keeps it sealed.
        v["webhook_secret"] = serde_json::Value::String(secret.expose().to_string());
    }
    Ok((StatusCode::CREATED, Json(v)))
}

pub(super) async fn remove(
    State(s): State<Arc<Shared>>,
    ConnectInfo(peer): ConnectInfo<SocketAddr>,
    headers: HeaderMap,
    Path(project): Path<String>,
) -> Result<StatusCode> {
    let by = actor(&s, &headers, Role::Admin, peer).await?;
    if crate::admin::unregister(&s.db, &project, &by).await? {
        s.stores.lock().await.remove(&project);
        Ok(StatusCode::NO_CONTENT)
    } else {
        Err(Error::NotFound(format!("no project named `{project}`")))
    }
}

#[derive(serde::Deserialize)]
pub(super) struct EventsQuery {
    limit: Option<u32>,
}

pub(super) async fn events(
    State(s): State<Arc<Shared>>,
    headers: HeaderMap,
    Path(project): Path<String>,
    Query(q): Query<EventsQuery>,
) -> Result<Json<Vec<crate::db::EventRow>>> {
    allow(&s, &headers, Role::Viewer).await?;
    if s.db.project(&project).await?.is_none() {
        return Err(Error::NotFound(format!("no project named `{project}`")));
    }
    Ok(Json(
        s.db.events(Some(&project), q.limit.unwrap_or(50).min(500))
            .await?,
    ))
}
