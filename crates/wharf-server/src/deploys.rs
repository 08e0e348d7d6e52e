//! Deployments on the server: the same [`wharf_deploy`] that `wharf deploy` runs, over the
//! project's run store (where its runs recorded its releases), with the environments its
//! default branch's head declares. A deployment runs in a task of the server, in a
//! worktree of that commit (script targets run there); whoever asked is answered as soon
//! as it is recorded. Shared by the API and the dashboard, which check who may.

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

pub(crate) use wharf_deploy::Ask;
use wharf_deploy::{DeployRequest, Deployer, EnvironmentState};
use wharf_model::{DeploymentRecord, EnvironmentRules};

use crate::api::actions::Who;
use crate::app::{GitLock, Shared};
use crate::audit::{Action, Change};
use crate::error::{Error, Result};
use crate::{git, paths};

/// What a deployer needs of the project's repository.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Need {
    /// Its environments only: the pipeline files at the default branch's head, as the
    /// mirror has them (fetched only when there is no mirror yet).
    Rules,
    /// Its files, for script targets and analysis scripts; fetched first when `fetch`.
    Files { fetch: bool },
}

/// The project's files a deployer works in; [`Checkout::remove`] when done.
pub(crate) struct Checkout {
    mirror: PathBuf,
    lock: GitLock,
    /// The pipeline files, or the worktree's parent.
    tmp: tempfile::TempDir,
    /// The worktree, when the deployer needs the project's files.
    worktree: Option<PathBuf>,
}

impl Checkout {
    fn root(&self) -> &Path {
        self.worktree.as_deref().unwrap_or(self.tmp.path())
    }

    /// Removes the files (and the worktree from the mirror's list).
    pub(crate) async fn remove(self) {
        if let Some(w) = &self.worktree {
            let _held = self.lock.lock().await;
            git::remove_worktree(&self.mirror, w).await;
        }
    }
}

/// The default branch's head of `project`, checked out as `need` says.
async fn checkout(s: &Shared, project: &str, need: Need) -> Result<(Checkout, String)> {
    let p =
        s.db.project(project)
            .await?
            .ok_or_else(|| Error::NotFound(format!("no project named `{project}`")))?;
    let mirror = paths::mirror(&s.config.data_dir, project);
    let lock = s.git_lock(project);
    let held = lock.lock().await;
    if matches!(need, Need::Files { fetch: true }) || !mirror.join("HEAD").is_file() {
        git::fetch(&p.repo, &mirror).await?;
    }
    let Some(branch) = git::default_branch(&mirror).await else {
        return Err(Error::invalid(
            "the repository has no default branch to read its environments from",
            Some(&format!(
                "point its HEAD at one branch (its branches: {})",
                git::branches(&mirror).await.join(", ")
            )),
        ));
    };
    let sha = git::branch_commit(&mirror, &branch).await?;
    let (tmp, worktree) = match need {
        Need::Rules => {
            let tmp =
                tempfile::tempdir().map_err(Error::io("create a temporary directory", &mirror))?;
            git::pipeline_files(&mirror, &sha, tmp.path()).await?;
            (tmp, None)
        }
        Need::Files { .. } => {
            let parent = paths::deploys(&s.config.data_dir, project);
            tokio::fs::create_dir_all(&parent)
                .await
                .map_err(Error::io("create", &parent))?;
            let tmp = tempfile::Builder::new()
                .prefix("deploy-")
                .tempdir_in(&parent)
                .map_err(Error::io("create a directory in", &parent))?;
            let tree = tmp.path().join("tree");
            git::worktree(&mirror, &sha, &tree).await?;
            (tmp, Some(tree))
        }
    };
    drop(held);
    Ok((
        Checkout {
            mirror,
            lock,
            tmp,
            worktree,
        },
        branch,
    ))
}

/// The environments the pipeline files under `root` declare.
fn declared(root: &Path, branch: &str) -> Result<Vec<EnvironmentRules>> {
    let pipelines = wharf_pipeline::load_project(root).map_err(|d| {
        Error::invalid(
            format!(
                "the pipeline files of {branch} are invalid:\n{}",
                d.render(false)
            ),
            Some("`wharf validate` in the repository shows every problem"),
        )
    })?;
    wharf_deploy::declared(&pipelines).map_err(refusal)
}

/// The deployer of `project`, and the files it works in.
async fn deployer(s: &Shared, project: &str, need: Need) -> Result<(Deployer, Checkout)> {
    let store = crate::api::project_store(s, project).await?;
    let (co, branch) = checkout(s, project, need).await?;
    let environments = match declared(co.root(), &branch) {
        Ok(e) => e,
        Err(e) => {
            co.remove().await;
            return Err(e);
        }
    };
    Ok((
        Deployer {
            store,
            root: co.root().to_path_buf(),
            environments,
            say: say(project),
            now: wharf_deploy::system_now,
            key_file: Some(paths::key_file(&s.config.data_dir)),
            decisions: Some(decisions(s, project)),
        },
        co,
    ))
}

/// Writes each decision at a deployment's gates to the audit log as the server's own,
/// before the deployer acts on it; who approved is in the approvals' own entries.
fn decisions(s: &Shared, project: &str) -> wharf_deploy::Decisions {
    let (db, project) = (s.db.clone(), project.to_string());
    wharf_deploy::Decisions(std::sync::Arc::new(move |d: wharf_deploy::Decision| {
        let (db, project) = (db.clone(), project.clone());
        Box::pin(async move {
            let change = Change::new(
                Action::DeployGate,
                format!("{project}/{}", d.environment),
                serde_json::json!({
                    "project": project,
                    "deployment": d.deployment,
                    "environment": d.environment,
                    "release": d.release,
                    "outcome": d.outcome,
                    "detail": d.detail,
                }),
            );
            if let Err(e) = crate::audit::record(&db, &crate::audit::Actor::server(), change).await
            {
                eprintln!("wharf serve: {project}: the audit log: {e}");
            }
        })
    }))
}

/// A deployment's progress goes to the server's log.
fn say(project: &str) -> wharf_deploy::Say {
    let name = project.to_string();
    Arc::new(move |line: &str| eprintln!("wharf serve: {name}: {line}"))
}

/// A deployment's refusal or failure as the server answers it: the CLI's message and
/// hint, 409 when the state is in the way (an outdated release, a held environment).
pub(crate) fn refusal(e: wharf_deploy::Error) -> Error {
    use wharf_deploy::Error as D;
    match e {
        D::Refused { message, hint } => Error::Invalid {
            message,
            hint: hint.filter(|h| !h.is_empty()),
        },
        D::Outdated { message, hint } => Error::Conflicting { message, hint },
        D::Held(h) => {
            let (message, hint) = wharf_deploy::held_message(&h, crate::now());
            Error::Conflicting {
                message,
                hint: Some(hint),
            }
        }
        D::Store(e) => Error::Store(e),
        e @ D::Target { .. } => Error::Deploy(e.to_string()),
    }
}

/// The environments of `project`, as `wharf environments --json` shows them.
pub(crate) async fn environments(s: &Shared, project: &str) -> Result<Vec<EnvironmentState>> {
    let (d, co) = deployer(s, project, Need::Rules).await?;
    let states = d.environment_states().await.map_err(refusal);
    co.remove().await;
    states
}

/// A deployment to start.
#[derive(Debug, Clone)]
pub(crate) struct Want {
    /// The release; `None`: the environment's previous good one (a rollback).
    pub release: Option<String>,
    /// The environment.
    pub environment: String,
    /// Going back to an older release on purpose.
    pub rollback: bool,
    /// Wait for the environment's lease instead of being refused.
    pub queue: bool,
    /// Skip the environment's gates, for this reason (an admin's emergency rollback).
    pub override_gates: Option<String>,
}

/// Starts a deployment of `project` as `want` says, in a task of the server; the
/// deployment as recorded (or, when nothing can hold it up before its lease, as it is
/// once it has the lease), or the refusal.
pub(crate) async fn start(
    s: &Arc<Shared>,
    who: &Who,
    project: &str,
    want: Want,
) -> Result<DeploymentRecord> {
    // A task of its own: a client that leaves mid-request cannot leave a deployment
    // started and not in the audit log.
    let (s, who, project) = (s.clone(), who.clone(), project.to_string());
    tokio::spawn(async move { start_here(&s, &who, &project, want).await })
        .await
        .map_err(|e| Error::Deploy(format!("its task failed: {e}")))?
}

async fn start_here(s: &Shared, who: &Who, project: &str, want: Want) -> Result<DeploymentRecord> {
    let (d, co) = deployer(s, project, Need::Files { fetch: true }).await?;
    let (req, quick) = match request_of(&d, who, &want).await {
        Ok(r) => r,
        Err(e) => {
            co.remove().await;
            return Err(e);
        }
    };
    let (tx, rx) = tokio::sync::oneshot::channel();
    let task = {
        let (d, req) = (d.clone(), req.clone());
        tokio::spawn(async move {
            let out = d.deploy_notify(&req, Some(tx)).await;
            co.remove().await;
            out
        })
    };
    let Ok(id) = rx.await else {
        // Refused before it was recorded (unknown release, requires, refs, freeze,
        // outdated): the task has ended with why.
        return match task.await {
            Ok(Ok(rec)) => Ok(rec),
            Ok(Err(e)) => Err(refusal(e)),
            Err(e) => Err(Error::Deploy(format!("its task failed: {e}"))),
        };
    };
    let change = Change::new(
        if want.release.is_none() {
            Action::DeployRollback
        } else {
            Action::DeployCreate
        },
        format!("{project}/{}", req.environment),
        serde_json::json!({
            "deployment": id, "release": req.version, "environment": req.environment,
            "rollback": req.rollback, "queue": req.queue, "via": who.via,
            "override_gates": req.override_gates,
        }),
    );
    if let Err(e) = crate::audit::record(&s.db, &who.audited(), change).await {
        // A deployment the audit log cannot name is asked to stop (at its next gate,
        // pause or queue check, as `wharf deploy abort` is).
        let _ = d.store.request_deployment(id, "abort").await;
        return Err(e);
    }
    if quick {
        return settled(&d, id, task).await;
    }
    d.store
        .get_deployment(id)
        .await?
        .ok_or_else(|| Error::NotFound(format!("no deployment {id}")))
}

/// What `want` asks of `d` as a request, and whether nothing stands between the
/// deployment's record and its lease (no approvals, no wait timer, no queue).
async fn request_of(d: &Deployer, who: &Who, want: &Want) -> Result<(DeployRequest, bool)> {
    let (rules, _) = d.environment(&want.environment).map_err(refusal)?;
    let quick = !want.queue
        && (want.override_gates.is_some()
            || (rules.approvals == 0 && rules.wait_ms.unwrap_or(0) == 0));
    let version = match &want.release {
        Some(v) => v.clone(),
        None => d
            .rollback_target(&want.environment)
            .await
            .map_err(refusal)?,
    };
    Ok((
        DeployRequest {
            environment: want.environment.clone(),
            version,
            rollback: want.rollback || want.release.is_none(),
            queue: want.queue,
            actor: who.name.clone(),
            override_gates: want.override_gates.clone(),
        },
        quick,
    ))
}

/// Deployment `id` once it has its environment's lease, or has ended: a held environment
/// is a refusal then, as for `wharf deploy` (the deployment is recorded as failed, too).
async fn settled(
    d: &Deployer,
    id: i64,
    task: tokio::task::JoinHandle<wharf_deploy::Result<DeploymentRecord>>,
) -> Result<DeploymentRecord> {
    let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
    loop {
        if task.is_finished() {
            return match task.await {
                Ok(Ok(rec)) => Ok(rec),
                Ok(Err(e)) => Err(refusal(e)),
                Err(e) => Err(Error::Deploy(format!("its task failed: {e}"))),
            };
        }
        let rec = d
            .store
            .get_deployment(id)
            .await?
            .ok_or_else(|| Error::NotFound(format!("no deployment {id}")))?;
        let leased = rec.phase != "gates" && !rec.status.is_final();
        if leased || tokio::time::Instant::now() > deadline {
            return Ok(rec);
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

/// Asks deployment `id` of `project` to resume or abort, as `wharf deploy resume|abort`
/// does; waits a moment for its deployer to act. Whether it has, and the deployment.
pub(crate) async fn ask(
    s: &Arc<Shared>,
    who: &Who,
    project: &str,
    id: i64,
    what: Ask,
) -> Result<(bool, DeploymentRecord)> {
    // As for `start`: what is audited is also asked, whatever the client does.
    let (s, who, project) = (s.clone(), who.clone(), project.to_string());
    tokio::spawn(async move { ask_here(&s, &who, &project, id, what).await })
        .await
        .map_err(|e| Error::Deploy(format!("its task failed: {e}")))?
}

async fn ask_here(
    s: &Shared,
    who: &Who,
    project: &str,
    id: i64,
    what: Ask,
) -> Result<(bool, DeploymentRecord)> {
    let store = crate::api::project_store(s, project).await?;
    let rec = store
        .get_deployment(id)
        .await?
        .ok_or_else(|| Error::NotFound(format!("no deployment {id}")))?;
    if let Some(why) = what.refused(&rec) {
        return Err(Error::Conflict(why));
    }
    // Recorded first: a request that could not be recorded is not made.
    let change = Change::new(
        match what {
            Ask::Resume => Action::DeployResume,
            Ask::Abort => Action::DeployAbort,
        },
        format!("{project}/{}", rec.environment),
        serde_json::json!({
            "deployment": id, "release": rec.release, "environment": rec.environment,
            "status": rec.status.as_str(), "via": who.via,
        }),
    );
    crate::audit::record(&s.db, &who.audited(), change).await?;
    // Its deployer looks for requests every 200 ms; an abort then moves traffic back,
    // which may take longer than an answer should wait.
    what.send(&store, &rec, Duration::from_secs(5))
        .await
        .map_err(|e| match e {
            wharf_deploy::Error::Refused { message, .. } => Error::Conflict(message),
            other => Error::Deploy(other.to_string()),
        })
}

/// At the server's start: every project's deployments that a server stopped or killed in
/// their middle are reconciled (interrupted, rolled back or finished, as `wharf deploy`
/// reconciles a dead deployer's), so none stays `running` and no lease stays taken.
pub(crate) async fn reconcile_all(s: &Shared) {
    let projects = match s.db.projects().await {
        Ok(p) => p,
        Err(e) => {
            eprintln!("wharf serve: reconciling deployments: {e}");
            return;
        }
    };
    for p in projects {
        if let Err(e) = reconcile(s, &p.name).await {
            eprintln!("wharf serve: {}: reconciling deployments: {e}", p.name);
        }
    }
}

async fn reconcile(s: &Shared, project: &str) -> Result<()> {
    // The checkouts of deployments the last server ran are theirs no more.
    let left = paths::deploys(&s.config.data_dir, project);
    if left.exists() {
        let _ = tokio::fs::remove_dir_all(&left).await;
        let mirror = paths::mirror(&s.config.data_dir, project);
        if mirror.join("HEAD").is_file() {
            let lock = s.git_lock(project);
            let _held = lock.lock().await;
            git::prune_worktrees(&mirror).await;
        }
    }
    let store = s.store(project).await?;
    if store.orphaned_deployments(crate::now()).await?.is_empty() {
        return Ok(());
    }
    let (d, co) = match deployer(s, project, Need::Files { fetch: false }).await {
        Ok((d, co)) => (d, Some(co)),
        Err(e) => {
            // Without its environments each is settled as `interrupted`, which says so.
            eprintln!(
                "wharf serve: {project}: its environments cannot be read ({e}); its unfinished deployments are reconciled without them"
            );
            let d = Deployer {
                store,
                root: paths::project(&s.config.data_dir, project),
                environments: Vec::new(),
                say: say(project),
                now: wharf_deploy::system_now,
                key_file: Some(paths::key_file(&s.config.data_dir)),
                decisions: None,
            };
            (d, None)
        }
    };
    let done = d.reconcile().await;
    if let Some(co) = co {
        co.remove().await;
    }
    done.map(|_| ()).map_err(refusal)
}
