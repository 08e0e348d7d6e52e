//! `/projects/{project}/environments` and `/projects/{project}/deployments`: what
//! `wharf environments`, `deployments`, `deploy`, `rollback` and `deploy resume|abort` do,
//! through the API. Reading needs a viewer; deploying, rolling back, resuming and
//! aborting an operator, and each is in the audit log.

use std::net::SocketAddr;
use std::sync::Arc;

use axum::Json;
use axum::extract::{ConnectInfo, Path, Query, State};
use axum::http::{HeaderMap, StatusCode};
use wharf_deploy::EnvironmentState;
use wharf_model::DeploymentRecord;

use super::actions::Who;
use super::{allow, caller, project_store};
use crate::app::Shared;
use crate::deploys::{self, Ask, Want};
use crate::error::{Error, Result};
use crate::tokens::Role;

/// `GET …/environments`: each environment the default branch declares, with what runs
/// there and who holds it.
pub(super) async fn environments(
    State(s): State<Arc<Shared>>,
    headers: HeaderMap,
    Path(project): Path<String>,
) -> Result<Json<Vec<EnvironmentState>>> {
    allow(&s, &headers, Role::Viewer).await?;
    Ok(Json(deploys::environments(&s, &project).await?))
}

#[derive(serde::Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct ListQuery {
    env: Option<String>,
    limit: Option<u32>,
}

/// `GET …/deployments[?env=E&limit=N]`: newest first.
pub(super) async fn list(
    State(s): State<Arc<Shared>>,
    headers: HeaderMap,
    Path(project): Path<String>,
    Query(q): Query<ListQuery>,
) -> Result<Json<Vec<DeploymentRecord>>> {
    allow(&s, &headers, Role::Viewer).await?;
    let limit = q.limit.unwrap_or(50);
    if !(1..=10_000).contains(&limit) {
        return Err(Error::invalid(
            format!("limit {limit} is out of range"),
            Some("1 to 10000"),
        ));
    }
    let store = project_store(&s, &project).await?;
    Ok(Json(
        store
            .list_deployments(q.env.as_deref().filter(|e| !e.is_empty()), limit)
            .await?,
    ))
}

/// `GET …/deployments/{id}`.
pub(super) async fn get(
    State(s): State<Arc<Shared>>,
    headers: HeaderMap,
    Path((project, id)): Path<(String, i64)>,
) -> Result<Json<DeploymentRecord>> {
    allow(&s, &headers, Role::Viewer).await?;
    let store = project_store(&s, &project).await?;
    store
        .get_deployment(id)
        .await?
        .map(Json)
        .ok_or_else(|| Error::NotFound(format!("no deployment {id}")))
}

#[derive(serde::Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct CreateBody {
    release: String,
    environment: String,
    #[serde(default)]
    rollback: bool,
    #[serde(default)]
    queue: bool,
}

/// `POST …/deployments`: deploys a recorded release; 202 with the deployment once it is
/// recorded (it goes on in the server), or the refusal.
pub(super) async fn create(
    State(s): State<Arc<Shared>>,
    ConnectInfo(peer): ConnectInfo<SocketAddr>,
    headers: HeaderMap,
    Path(project): Path<String>,
    Json(b): Json<CreateBody>,
) -> Result<(StatusCode, Json<DeploymentRecord>)> {
    let who = Who::api(caller(&s, &headers, Role::Operator).await?, peer);
    let want = Want {
        release: Some(b.release),
        environment: b.environment,
        rollback: b.rollback,
        queue: b.queue,
        override_gates: None,
    };
    let rec = deploys::start(&s, &who, &project, want).await?;
    Ok((StatusCode::ACCEPTED, Json(rec)))
}

#[derive(serde::Deserialize, Default)]
#[serde(deny_unknown_fields)]
pub(super) struct RollbackBody {
    /// Skip the environment's gates, for this reason (admins only; audited).
    #[serde(default)]
    override_gates: Option<String>,
}

/// `POST …/environments/{name}/rollback`: back to the environment's previous good release.
/// `{"override_gates": "REASON"}` skips its gates in an emergency: an admin's token only,
/// and the reason goes to the deployment and the audit log.
pub(super) async fn rollback(
    State(s): State<Arc<Shared>>,
    ConnectInfo(peer): ConnectInfo<SocketAddr>,
    headers: HeaderMap,
    Path((project, environment)): Path<(String, String)>,
    body: Option<Json<RollbackBody>>,
) -> Result<(StatusCode, Json<DeploymentRecord>)> {
    let b = body.map(|Json(b)| b).unwrap_or_default();
    let role = if b.override_gates.is_some() {
        Role::Admin
    } else {
        Role::Operator
    };
    let who = Who::api(caller(&s, &headers, role).await?, peer);
    let want = Want {
        release: None,
        environment,
        rollback: true,
        queue: false,
        override_gates: b.override_gates,
    };
    let rec = deploys::start(&s, &who, &project, want).await?;
    Ok((StatusCode::ACCEPTED, Json(rec)))
}

async fn ask(
    s: &Arc<Shared>,
    peer: SocketAddr,
    headers: &HeaderMap,
    project: &str,
    id: i64,
    what: Ask,
) -> Result<(StatusCode, Json<DeploymentRecord>)> {
    let who = Who::api(caller(s, headers, Role::Operator).await?, peer);
    let (acted, rec) = deploys::ask(s, &who, project, id, what).await?;
    let status = if acted {
        StatusCode::OK
    } else {
        StatusCode::ACCEPTED
    };
    Ok((status, Json(rec)))
}

/// `POST …/deployments/{id}/resume`: 200 once its deployer went on, 202 while it has not yet.
pub(super) async fn resume(
    State(s): State<Arc<Shared>>,
    ConnectInfo(peer): ConnectInfo<SocketAddr>,
    headers: HeaderMap,
    Path((project, id)): Path<(String, i64)>,
) -> Result<(StatusCode, Json<DeploymentRecord>)> {
    ask(&s, peer, &headers, &project, id, Ask::Resume).await
}

/// `POST …/deployments/{id}/abort`: 200 once it ended, 202 while its deployer has not acted.
pub(super) async fn abort(
    State(s): State<Arc<Shared>>,
    ConnectInfo(peer): ConnectInfo<SocketAddr>,
    headers: HeaderMap,
    Path((project, id)): Path<(String, i64)>,
) -> Result<(StatusCode, Json<DeploymentRecord>)> {
    ask(&s, peer, &headers, &project, id, Ask::Abort).await
}
