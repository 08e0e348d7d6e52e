//! Runs of a project: list (filters, pages), one run, cancel, re-run failed jobs, trigger
//! a manual run with inputs; and the project's releases.

use std::sync::Arc;

use axum::Json;
use axum::extract::{Path, Query, State};
use axum::http::{HeaderMap, StatusCode};
use wharf_model::{Event, EventKind, JobRecord, ReleaseRecord, RunRecord, RunStatus, RunSummary};

use super::{allow, project_store};
use crate::app::Shared;
use crate::error::{Error, Result};
use crate::tokens::Role;
use crate::{git, paths};

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
    headers: HeaderMap,
    Path((project, run)): Path<(String, u64)>,
) -> Result<(StatusCode, Json<serde_json::Value>)> {
    allow(&s, &headers, Role::Operator).await?;
    record(&s, &project, run).await?;
    let handle = {
        let running = s.running.lock().unwrap_or_else(|p| p.into_inner());
        running.get(&(project.clone(), run)).cloned()
    };
    let Some(cancel) = handle else {
        return Err(Error::Conflict(format!("run #{run} is not running")));
    };
    cancel.send_modify(|c| *c += 1);
    Ok((
        StatusCode::ACCEPTED,
        Json(serde_json::json!({ "run": run, "outcome": "cancelling its running jobs" })),
    ))
}

pub(super) async fn rerun(
    State(s): State<Arc<Shared>>,
    headers: HeaderMap,
    Path((project, run)): Path<(String, u64)>,
) -> Result<(StatusCode, Json<serde_json::Value>)> {
    allow(&s, &headers, Role::Operator).await?;
    let rec = record(&s, &project, run).await?;
    if rec.summary.finished_at.is_none() {
        return Err(Error::Conflict(format!("run #{run} has not finished")));
    }
    if rec.summary.status == RunStatus::Success {
        return Err(Error::Conflict(format!(
            "run #{run} succeeded: no failed jobs to re-run"
        )));
    }
    let id =
        s.db.enqueue_rerun(
            &project,
            &rec.summary.event,
            run,
            crate::db::Source::Manual,
            1,
            crate::now(),
        )
        .await?;
    s.wake.notify_waiters();
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
    headers: HeaderMap,
    Path(project): Path<String>,
    Json(b): Json<TriggerBody>,
) -> Result<(StatusCode, Json<serde_json::Value>)> {
    let role = allow(&s, &headers, Role::Operator).await?;
    let p =
        s.db.project(&project)
            .await?
            .ok_or_else(|| Error::NotFound(format!("no project named `{project}`")))?;
    let mirror = paths::mirror(&s.config.data_dir, &project);
    let (branch, sha) = {
        let lock = s.git_lock(&project);
        let _held = lock.lock().await;
        git::fetch(&p.repo, &mirror).await?;
        let branch = match b.branch {
            Some(b) => b,
            None => match git::default_branch(&mirror).await {
                Some(b) => b,
                None => {
                    return Err(Error::invalid(
                        "the repository has no default branch to run",
                        Some(&format!(
                            "name one: `wharf trigger --branch NAME` (its branches: {})",
                            git::branches(&mirror).await.join(", ")
                        )),
                    ));
                }
            },
        };
        let sha = git::branch_commit(&mirror, &branch).await?;
        (branch, sha)
    };
    let dir = tempfile::tempdir().map_err(Error::io("create a temporary directory", &mirror))?;
    git::pipeline_files(&mirror, &sha, dir.path()).await?;
    let pipelines = wharf_pipeline::load_project(dir.path()).map_err(|d| {
        Error::invalid(
            format!(
                "the pipeline files of {branch} are invalid:\n{}",
                d.render(false)
            ),
            None,
        )
    })?;
    let mut event = Event::new(EventKind::Manual);
    event.branch = Some(branch.clone());
    event.sha = Some(sha.clone());
    event.inputs = b.inputs;
    event.actor = Some(format!("api ({})", role.as_str()));
    let plans = wharf_runtime::select(&pipelines, &event, &wharf_runtime::Selection::default())
        .map_err(|e| Error::invalid(e.to_string(), None))?;
    if plans.is_empty() {
        return Err(Error::invalid(
            format!("no pipeline of {branch} takes manual runs"),
            Some("add `on: { manual: {} }` to a pipeline"),
        ));
    }
    let id =
        s.db.enqueue(&project, crate::db::Source::Manual, &event, crate::now())
            .await?;
    s.wake.notify_waiters();
    let names: Vec<&str> = plans.iter().map(|p| p.pipeline.as_str()).collect();
    Ok((
        StatusCode::ACCEPTED,
        Json(serde_json::json!({ "event": id, "branch": branch, "sha": sha, "pipelines": names })),
    ))
}

pub(super) async fn releases(
    State(s): State<Arc<Shared>>,
    headers: HeaderMap,
    Path(project): Path<String>,
) -> Result<Json<Vec<ReleaseRecord>>> {
    allow(&s, &headers, Role::Viewer).await?;
    let store = project_store(&s, &project).await?;
    Ok(Json(store.list_releases().await?))
}
