//! What an operator can do to runs (cancel, re-run the failed jobs, start a manual run),
//! once for both front ends of the server: the JSON API and the dashboard's forms. The
//! callers check who may; these do it.

use std::collections::BTreeMap;

use axum::http::HeaderMap;
use wharf_model::{Event, EventKind, RunStatus};

use crate::app::Shared;
use crate::audit::{Action, Change, Pending};
use crate::error::{Error, Result};
use crate::tokens::Role;
use crate::{git, paths};

/// Who asked, for the record.
#[derive(Debug, Clone)]
pub(crate) struct Who {
    /// The token's id.
    pub token_id: i64,
    /// The token's name.
    pub name: String,
    /// Its role.
    pub role: Role,
    /// Through what: `api` or `dashboard`.
    pub via: &'static str,
    /// The client's address, for the audit log.
    pub peer: std::net::SocketAddr,
}

impl Who {
    /// An API client.
    pub(crate) fn api(c: crate::tokens::Caller, peer: std::net::SocketAddr) -> Who {
        Who {
            token_id: c.id,
            name: c.name,
            role: c.role,
            via: "api",
            peer,
        }
    }

    /// A dashboard user.
    pub(crate) fn session(
        u: &crate::ui::session::Session,
        _headers: &HeaderMap,
        peer: std::net::SocketAddr,
    ) -> Who {
        Who {
            token_id: u.token_id,
            name: u.name.clone(),
            role: u.role,
            via: "dashboard",
            peer,
        }
    }

    /// Who it is in the audit log.
    pub(crate) fn audited(&self) -> crate::audit::Actor {
        crate::audit::Actor::token(self.token_id, &self.name, self.role, self.peer)
    }
}

/// Asks run `run` of `project` to stop its running jobs.
pub(crate) async fn cancel(s: &Shared, who: &Who, project: &str, run: u64) -> Result<()> {
    super::runs::record(s, project, run).await?;
    let handle = {
        let running = s.running.lock().unwrap_or_else(|p| p.into_inner());
        running.get(&(project.to_string(), run)).cloned()
    };
    let Some(cancel) = handle else {
        return Err(Error::Conflict(format!("run #{run} is not running")));
    };
    // Recorded first: bumping the handle cannot fail, and a cancel that could not be
    // recorded is not made.
    let change = Change::new(
        Action::RunCancel,
        format!("{project}#{run}"),
        serde_json::json!({ "project": project, "run": run, "via": who.via }),
    );
    crate::audit::record(&s.db, &who.audited(), change).await?;
    cancel.send_modify(|c| *c += 1);
    Ok(())
}

/// Queues a re-run of the failed jobs of run `run`; the event's id.
pub(crate) async fn rerun(s: &Shared, who: &Who, project: &str, run: u64) -> Result<i64> {
    let rec = super::runs::record(s, project, run).await?;
    if rec.summary.finished_at.is_none() {
        return Err(Error::Conflict(format!("run #{run} has not finished")));
    }
    if rec.summary.status == RunStatus::Success {
        return Err(Error::Conflict(format!(
            "run #{run} succeeded: no failed jobs to re-run"
        )));
    }
    let mut audit = Pending::begin(&s.db).await?;
    let id = crate::db::insert_rerun(
        audit.conn(),
        project,
        &rec.summary.event,
        run,
        crate::db::Source::Manual,
        1,
        crate::now(),
    )
    .await?;
    let change = Change::new(
        Action::RunRerun,
        format!("{project}#{run}"),
        serde_json::json!({ "project": project, "run": run, "event": id, "via": who.via }),
    );
    audit.commit(&who.audited(), change).await?;
    s.wake.notify_waiters();
    Ok(id)
}

/// A manual run, queued.
#[derive(Debug, serde::Serialize)]
pub(crate) struct Triggered {
    /// The event's id.
    pub event: i64,
    /// The branch it runs.
    pub branch: String,
    /// The commit.
    pub sha: String,
    /// The pipelines it starts.
    pub pipelines: Vec<String>,
}

/// The branch to run (`branch`, else the default one) and its commit, fetched now; and the
/// pipeline files at that commit.
async fn checkout_pipelines(
    s: &Shared,
    project: &str,
    branch: Option<String>,
) -> Result<(String, String, Vec<String>, Vec<wharf_pipeline::Pipeline>)> {
    let p =
        s.db.project(project)
            .await?
            .ok_or_else(|| Error::NotFound(format!("no project named `{project}`")))?;
    let mirror = paths::mirror(&s.config.data_dir, project);
    let (branch, sha, branches) = {
        let lock = s.git_lock(project);
        let _held = lock.lock().await;
        git::fetch(&p.repo, &mirror).await?;
        let branches = git::branches(&mirror).await;
        let branch = match branch {
            Some(b) => b,
            None => match git::default_branch(&mirror).await {
                Some(b) => b,
                None => {
                    return Err(Error::invalid(
                        "the repository has no default branch to run",
                        Some(&format!(
                            "name one: `wharf trigger --branch NAME` (its branches: {})",
                            branches.join(", ")
                        )),
                    ));
                }
            },
        };
        let sha = git::branch_commit(&mirror, &branch).await?;
        (branch, sha, branches)
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
    Ok((branch, sha, branches, pipelines))
}

/// Queues a manual run of `project` at `branch` (else its default branch) with `inputs`.
pub(crate) async fn trigger(
    s: &Shared,
    who: &Who,
    project: &str,
    branch: Option<String>,
    inputs: BTreeMap<String, String>,
) -> Result<Triggered> {
    let (branch, sha, _, pipelines) = checkout_pipelines(s, project, branch).await?;
    let mut event = Event::new(EventKind::Manual);
    event.branch = Some(branch.clone());
    event.sha = Some(sha.clone());
    event.inputs = inputs;
    // The person, as approvals compare it (who may not approve their own run).
    event.actor = Some(who.name.clone());
    let plans = wharf_runtime::select(&pipelines, &event, &wharf_runtime::Selection::default())
        .map_err(|e| Error::invalid(e.to_string(), None))?;
    if plans.is_empty() {
        return Err(Error::invalid(
            format!("no pipeline of {branch} takes manual runs"),
            Some("add `on: { manual: {} }` to a pipeline"),
        ));
    }
    let pipelines: Vec<String> = plans.into_iter().map(|p| p.pipeline).collect();
    let mut audit = Pending::begin(&s.db).await?;
    let id = crate::db::insert_event(
        audit.conn(),
        project,
        crate::db::Source::Manual,
        &event,
        None,
        crate::now(),
    )
    .await?;
    // The inputs as the event keeps them (viewers see them in the queue already).
    let change = Change::new(
        Action::RunTrigger,
        project,
        serde_json::json!({
            "event": id, "branch": branch, "sha": sha, "pipelines": pipelines,
            "inputs": event.inputs, "via": who.via,
        }),
    );
    audit.commit(&who.audited(), change).await?;
    s.wake.notify_waiters();
    Ok(Triggered {
        event: id,
        branch,
        sha,
        pipelines,
    })
}

/// What a form for a manual run needs: the branch, the others, and each manual pipeline's
/// inputs.
#[derive(Debug, serde::Serialize)]
pub(crate) struct ManualForm {
    branch: String,
    branches: Vec<String>,
    pipelines: Vec<ManualPipeline>,
}

#[derive(Debug, serde::Serialize)]
struct ManualPipeline {
    name: String,
    inputs: Vec<ManualInput>,
}

#[derive(Debug, serde::Serialize)]
struct ManualInput {
    name: String,
    description: Option<String>,
    default: Option<String>,
    options: Vec<String>,
    required: bool,
}

/// The manual pipelines of `project` at `branch` (else its default branch) and their inputs.
pub(crate) async fn manual_inputs(
    s: &Shared,
    project: &str,
    branch: Option<String>,
) -> Result<ManualForm> {
    let (branch, _, branches, pipelines) = checkout_pipelines(s, project, branch).await?;
    let pipelines = pipelines
        .iter()
        .filter_map(|p| {
            let inputs = p.triggers()?.manual.as_ref()?;
            Some(ManualPipeline {
                name: p.name().to_string(),
                inputs: inputs
                    .iter()
                    .map(|i| ManualInput {
                        name: i.name.clone(),
                        description: i.description.clone(),
                        default: i.default.clone(),
                        options: i.options.clone(),
                        required: i.required,
                    })
                    .collect(),
            })
        })
        .collect();
    Ok(ManualForm {
        branch,
        branches,
        pipelines,
    })
}
