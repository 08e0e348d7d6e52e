//! Runs of a project: list (filters, pages), one run, cancel, re-run failed jobs, trigger
//! a manual run with inputs; and the project's releases.

use std::net::SocketAddr;
use std::sync::Arc;

use axum::Json;
use axum::extract::{ConnectInfo, Path, Query, State};
use axum::http::{HeaderMap, StatusCode};
use wharf_model::{EventKind, JobRecord, ReleaseRecord, RunRecord, RunStatus, RunSummary};

use super::actions::{self, Who};
use super::{allow, caller, project_store};
use crate::app::Shared;
use crate::error::{Error, Result};
use crate::tokens::Role;

#[derive(serde::Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct ListQuery {
    pipeline: Option<String>,
    status: Option<String>,
    #[serde(rename = "ref")]
    reference: Option<String>,
    event: Option<String>,
    before: Option<u64>,
    limit: Option<u32>,
}

pub(super) async fn list(
    State(s): State<Arc<Shared>>,
    headers: HeaderMap,
    Path(project): Path<String>,
    Query(q): Query<ListQuery>,
) -> Result<Json<Vec<RunSummary>>> {
    allow(&s, &headers, Role::Viewer).await?;
    let store = project_store(&s, &project).await?;
    let status = match &q.status {
        None => None,
        Some(t) => Some(RunStatus::parse(t).ok_or_else(|| {
            Error::invalid(
                format!("unknown status `{t}`"),
                Some("running, success, failed, cancelled or interrupted"),
            )
        })?),
    };
    let event = match &q.event {
        None => None,
        Some(t) => Some(
            EventKind::ALL
                .into_iter()
                .find(|k| k.as_str() == t)
                .ok_or_else(|| Error::invalid(format!("unknown event `{t}`"), None))?,
        ),
    };
    let filter = wharf_store::RunFilter {
        pipeline: q.pipeline,
        status,
        reference: q.reference,
        event,
        before: q.before,
        limit: q.limit.unwrap_or(20).clamp(1, 200),
    };
    Ok(Json(store.find_runs(&filter).await?))
}

/// Run `run` of `project`, or 404.
pub(super) async fn record(s: &Shared, project: &str, run: u64) -> Result<RunRecord> {
    let store = project_store(s, project).await?;
    store
        .get_run(run)
        .await?
        .ok_or_else(|| Error::NotFound(format!("project `{project}` has no run #{run}")))
}

pub(super) async fn get(
    State(s): State<Arc<Shared>>,
    headers: HeaderMap,
    Path((project, run)): Path<(String, u64)>,
) -> Result<Json<RunRecord>> {
    allow(&s, &headers, Role::Viewer).await?;
    Ok(Json(record(&s, &project, run).await?))
}

pub(super) async fn jobs(
    State(s): State<Arc<Shared>>,
    headers: HeaderMap,
    Path((project, run)): Path<(String, u64)>,
) -> Result<Json<Vec<JobRecord>>> {
    allow(&s, &headers, Role::Viewer).await?;
    Ok(Json(record(&s, &project, run).await?.jobs))
}

pub(super) async fn job(
    State(s): State<Arc<Shared>>,
    headers: HeaderMap,
    Path((project, run, job)): Path<(String, u64, String)>,
) -> Result<Json<JobRecord>> {
    allow(&s, &headers, Role::Viewer).await?;
    record(&s, &project, run)
        .await?
        .jobs
        .into_iter()
        .find(|j| j.id == job)
        .map(Json)
        .ok_or_else(|| Error::NotFound(format!("run #{run} has no job `{job}`")))
}

pub(super) async fn cancel(
    State(s): State<Arc<Shared>>,
    ConnectInfo(peer): ConnectInfo<SocketAddr>,
    headers: HeaderMap,
    Path((project, run)): Path<(String, u64)>,
) -> Result<(StatusCode, Json<serde_json::Value>)> {
    let who = Who::api(caller(&s, &headers, Role::Operator).await?, peer);
    actions::cancel(&s, &who, &project, run).await?;
    Ok((
        StatusCode::ACCEPTED,
        Json(serde_json::json!({ "run": run, "outcome": "cancelling its running jobs" })),
    ))
}

pub(super) async fn rerun(
    State(s): State<Arc<Shared>>,
    ConnectInfo(peer): ConnectInfo<SocketAddr>,
    headers: HeaderMap,
    Path((project, run)): Path<(String, u64)>,
) -> Result<(StatusCode, Json<serde_json::Value>)> {
    let who = Who::api(caller(&s, &headers, Role::Operator).await?, peer);
    let id = actions::rerun(&s, &who, &project, run).await?;
    Ok((
        StatusCode::ACCEPTED,
        Json(
            serde_json::json!({ "event": id, "outcome": format!("re-running the failed jobs of run #{run}") }),
        ),
    ))
}

#[derive(serde::Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct TriggerBody {
    branch: Option<String>,
    #[serde(default)]
    inputs: std::collections::BTreeMap<String, String>,
}

/// A manual run: the branch's commit as of now (the default branch unless named), every
/// pipeline with `on.manual`, with `inputs` checked against those pipelines before the
/// event is queued.
pub(super) async fn trigger(
    State(s): State<Arc<Shared>>,
    ConnectInfo(peer): ConnectInfo<SocketAddr>,
    headers: HeaderMap,
    Path(project): Path<String>,
    Json(b): Json<TriggerBody>,
) -> Result<(StatusCode, Json<actions::Triggered>)> {
    let who = Who::api(caller(&s, &headers, Role::Operator).await?, peer);
    let done = actions::trigger(&s, &who, &project, b.branch, b.inputs).await?;
    Ok((StatusCode::ACCEPTED, Json(done)))
}

pub(super) async fn releases(
    State(s): State<Arc<Shared>>,
    headers: HeaderMap,
    Path(project): Path<String>,
) -> Result<Json<Vec<ReleaseRecord>>> {
    allow(&s, &headers, Role::Viewer).await?;
    let store = project_store(&s, &project).await?;
    Ok(Json(store.list_releases_whole().await?))
}

/// A release with the outcome of the policy gate it passed.
#[derive(serde::Serialize)]
pub(super) struct ReleaseWithGate {
    #[serde(flatten)]
    release: ReleaseRecord,
    #[serde(skip_serializing_if = "Option::is_none")]
    policy: Option<wharf_policy::Outcome>,
}

/// One release whole (items, evidence, notes), with the outcome of the policy gate it
/// passed as `policy` when it passed one: what `wharf release show --json` prints.
pub(super) async fn release(
    State(s): State<Arc<Shared>>,
    headers: HeaderMap,
    Path((project, version)): Path<(String, String)>,
) -> Result<Json<ReleaseWithGate>> {
    allow(&s, &headers, Role::Viewer).await?;
    let store = project_store(&s, &project).await?;
    let release = store
        .get_release(&version)
        .await?
        .ok_or_else(|| Error::NotFound(format!("project `{project}` has no release {version}")))?;
    let blobs = wharf_runtime::verify::StoreBlobs(wharf_store::ArtifactStore::new(
        &crate::paths::state(&s.config.data_dir, &project),
    ));
    let policy = wharf_runtime::verify::gate(&release, &blobs);
    Ok(Json(ReleaseWithGate { release, policy }))
}
