//! One runtime for every front end: an event end to end.
//!
//! [`select`] picks the pipelines an event starts and plans them; [`run`] resolves every
//! plan's secrets before any job starts, connects to the Docker Engine when a job needs
//! containers, then runs each plan on the engine in a workspace per job, recording every
//! event in the store and handing it to the front end's [`Observer`] to show. `wharf run`
//! is one caller (flags -> request -> here -> exit code); the server and the agent are the
//! others, so a run cannot behave differently depending on who started it.

pub mod approvals;
mod error;
pub mod event;
mod gates;
pub mod handoff;
pub mod keys;
mod recorder;
pub mod secrets;
mod select;
pub mod verify;

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use tokio::sync::{mpsc, watch};
use wharf_engine::cache::JobCache;
use wharf_engine::container::Containers;
use wharf_model::{Handoff, JobInfo, Plan, RunEvent, RunStatus};
use wharf_store::StateStore;

/// The most bytes of log lines on their way to the display at once. Past it, lines are
/// skipped for display (never for the log file), so a display slower than a step's output
/// keeps memory flat instead of queueing all of it.
const DISPLAY_BUDGET: usize = 8 << 20;

pub use error::{Error, Result};
pub use recorder::Observer;
pub use secrets::Source as SecretSource;
pub use select::{Rerun, Selection, rerun_failed, select};

/// How to run the plans of one event.
#[derive(Debug, Clone)]
pub struct RunRequest {
    /// The project directory.
    pub root: PathBuf,
    /// Its state directory (`.wharf`): history, logs, artifacts, workspaces, caches.
    pub state_dir: PathBuf,
    /// At most this many jobs at once.
    pub max_parallel: usize,
    /// Between SIGTERM and SIGKILL when stopping a step.
    pub kill_grace: Duration,
    /// Keep every job's workspace after the run.
    pub keep_workspaces: bool,
    /// Jobs run one per process of a CI platform (`--no-deps`): no workspaces (the
    /// platform's checkout is one), no cache (the platform's is mapped), handoff files in
    /// and out.
    pub no_deps: bool,
    /// Where declared secrets come from.
    pub secrets: SecretSource,
    /// Whether the observer shows steps' output line by line (`wharf run`); the server
    /// only keeps the log files, which its followers read.
    pub display: bool,
    /// The key file that opens stored secrets, instead of the user's (`None`): the
    /// server's, in its data directory. `WHARF_SECRET_KEY` still wins.
    pub key_file: Option<PathBuf>,
    /// The allow-listed host environment steps start from.
    pub host_env: Vec<(String, String)>,
    /// The job cache.
    pub cache: JobCache,
    /// Jobs of an earlier run whose results, outputs and artifacts this run reuses
    /// instead of running them again (`wharf run --rerun-failed`): the plan names them in
    /// its jobs' `external_needs`, and their artifacts go into the workspaces of the jobs
    /// that need them.
    pub reuse: Vec<Handoff>,
    /// Told of every decision at a deployment job's gates (the server writes them to its
    /// audit log); `None` keeps them in the run's own output and record only.
    pub gate_log: Option<GateLog>,
}

/// A decision at a deployment job's gates.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct GateDecision {
    /// The run.
    pub run: u64,
    /// The deployment job.
    pub job: String,
    /// The environment it deploys to.
    pub environment: String,
    /// `refused`, `waiting` (for approvals), `approved`, `cancelled` or `passed`.
    pub outcome: &'static str,
    /// Why, or who approved, or the approval gate's id.
    pub detail: String,
}

/// Where gate decisions go.
#[derive(Clone)]
/// The gate awaits what it returns before acting on the decision (the server writes its
/// audit entry there), so no decision takes effect unrecorded.
pub struct GateLog(pub Arc<dyn Fn(GateDecision) -> wharf_engine::BoxFuture<()> + Send + Sync>);

impl std::fmt::Debug for GateLog {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("GateLog")
    }
}

/// How one plan's run ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Finished {
    /// The run's number.
    pub run: u64,
    /// Its status.
    pub status: RunStatus,
}

/// Runs `plans` one after the other (each a run of its own) and returns how each ended; a
/// cancelled or interrupted run stops the rest. `observer` makes the display of each run;
/// `interrupt` counts cancel requests (the first cancels the running jobs); `warn` hears
/// what the user should know besides the runs' events (warnings start with `warning: `).
pub async fn run<S: StateStore>(
    store: &S,
    plans: Vec<Plan>,
    req: &RunRequest,
    observer: &mut (dyn FnMut() -> Box<dyn Observer> + Send),
    interrupt: watch::Receiver<u32>,
    warn: &(dyn Fn(String) + Sync),
) -> Result<Vec<Finished>> {
    // Every plan's secrets before any job runs: a missing one must stop everything.
    let mut secrets = Vec::new();
    for plan in &plans {
        let resolved = secrets::resolve(store, plan, req.secrets, req.key_file.as_deref()).await?;
        if !resolved.withheld.is_empty() {
            warn(format!(
                "warning: pull_request run: secrets withheld from {} (set `on.pull_request.secrets: true` only for trusted pipelines)",
                resolved.withheld.join(", ")
            ));
        }
        secrets.push(resolved);
    }
    // The release key, opened once, when a job may record a release: made on the first
    // release (like the secret key on the first secret), and said.
    let releases = plans.iter().any(|p| {
        let skipped = select::statically_skipped(p);
        p.jobs.iter().enumerate().any(|(i, j)| {
            !skipped[i]
                && j.steps.iter().any(|s| {
                    matches!(
                        &s.action,
                        wharf_model::StepAction::Builtin(wharf_model::Builtin::Release(_))
                    )
                })
        })
    });
    let signing_key = if releases && !req.no_deps {
        let key = match keys::load(store, req.key_file.as_deref()).await? {
            Some(k) => k,
            None => {
                let meta = keys::create(
                    store,
                    req.key_file.as_deref(),
                    false,
                    wharf_engine::now_ms(),
                )
                .await?;
                warn(format!(
                    "made the project's release key {} to sign its releases (`wharf keys show` prints the public key)",
                    meta.id
                ));
                keys::load(store, req.key_file.as_deref())
                    .await?
                    .ok_or_else(|| {
                        Error::invalid(
                            "the release key just made cannot be read",
                            "`wharf keys show` shows what is stored",
                        )
                    })?
            }
        };
        Some(Arc::new(key))
    } else {
        None
    };
    // Before any job: a run that needs containers and has no engine stops here. Jobs that
    // cannot run for this event (a tag-only image job on a push) need none.
    let containers = if plans.iter().any(|p| {
        let skipped = select::statically_skipped(p);
        p.jobs
            .iter()
            .enumerate()
            .any(|(i, j)| !skipped[i] && (j.image.is_some() || !j.services.is_empty()))
    }) {
        let c = Containers::connect().await.map_err(|e| Error::Invalid {
            message: e.to_string(),
            hint: None,
        })?;
        let reaped = c.reap().await;
        if reaped > 0 {
            warn(format!(
                "removed {reaped} container(s) left by a wharf that was killed"
            ));
        }
        Some(c)
    } else {
        None
    };
    let cache = Arc::new(req.cache.clone());
    let mut done = Vec::new();
    for (plan, resolved) in plans.into_iter().zip(secrets) {
        let (run, status) = execute(
            store,
            plan,
            resolved,
            req,
            Shared {
                observer: observer(),
                interrupt: interrupt.clone(),
                cache: cache.clone(),
                containers: containers.clone(),
                signing_key: signing_key.clone(),
            },
            warn,
        )
        .await?;
        done.push(Finished { run, status });
        if matches!(status, RunStatus::Cancelled | RunStatus::Interrupted) {
            break;
        }
    }
    Ok(done)
}

/// What every plan of one event shares.
struct Shared {
    observer: Box<dyn Observer>,
    interrupt: watch::Receiver<u32>,
    cache: Arc<JobCache>,
    containers: Option<Containers>,
    signing_key: Option<Arc<wharf_secrets::signing::ReleaseKey>>,
}

async fn execute<S: StateStore>(
    store: &S,
    plan: Plan,
    secrets: secrets::Resolved,
    req: &RunRequest,
    shared: Shared,
    warn: &(dyn Fn(String) + Sync),
) -> Result<(u64, RunStatus)> {
    let Shared {
        observer,
        interrupt,
        cache,
        containers,
        signing_key,
    } = shared;
    let state = &req.state_dir;
    let jobs: Vec<JobInfo> = plan
        .jobs
        .iter()
        .map(|j| JobInfo {
            id: j.id.clone(),
            name: j.name.clone(),
            needs: j.needs.iter().map(|&n| plan.jobs[n].id.clone()).collect(),
            steps: j.steps.iter().map(|s| s.name.clone()).collect(),
        })
        .collect();
    let known_releases = store
        .list_releases()
        .await
        .map_err(Error::store("reading the recorded releases"))?
        .into_iter()
        .map(|r| (r.version, r.commit))
        .collect();
    let at = wharf_engine::now_ms();
    let number = store
        .start_run(&wharf_store::NewRun {
            pipeline: plan.pipeline.clone(),
            file: plan.file.clone(),
            event: plan.event.clone(),
            jobs: jobs.clone(),
            at,
            pid: std::process::id(),
        })
        .await
        .map_err(Error::store("recording the new run"))?;
    let workspaces = if req.no_deps {
        None
    } else {
        match prepare_workspaces(req, number).await {
            Ok(ws) => Some(ws),
            Err(e) => {
                let end = RunEvent::RunFinished {
                    status: RunStatus::Failed,
                    at: wharf_engine::now_ms(),
                };
                let _ = store.record(number, &[end]).await;
                return Err(e);
            }
        }
    };
    if req.keep_workspaces && workspaces.is_some() {
        warn(format!(
            "workspaces are kept in {}",
            state.join("workspaces").join(number.to_string()).display()
        ));
    }

    let (tx, rx) = mpsc::unbounded_channel();
    let _ = tx.send(RunEvent::RunStarted {
        run: number,
        pipeline: plan.pipeline.clone(),
        file: plan.file.clone(),
        event: plan.event.clone(),
        jobs,
        at,
    });
    let engine_done = Arc::new(tokio::sync::Notify::new());
    let text_pool = Arc::new(if req.display {
        wharf_engine::logs::TextPool::bounded(DISPLAY_BUDGET)
    } else {
        wharf_engine::logs::TextPool::silent()
    });
    let consumer = tokio::spawn(recorder::consume(
        rx,
        store.clone(),
        number,
        observer,
        engine_done.clone(),
        text_pool.clone(),
    ));
    let log_dir = state.clone();
    let opts = wharf_engine::RunOptions {
        run: number,
        workspace: req.root.clone(),
        workspaces: workspaces.clone(),
        cache: (!req.no_deps).then_some(cache),
        containers,
        wharf_dir: state.clone(),
        max_parallel: req.max_parallel.max(1),
        kill_grace: req.kill_grace,
        host_env: req.host_env.clone(),
        log_path: Box::new(move |run, job, step| wharf_store::log_path(&log_dir, run, job, step)),
        gate: (!plan.environments.is_empty()).then(|| {
            Arc::new(gates::EnvironmentGates {
                plan: Arc::new(plan.clone()),
                store: store.clone(),
                run: number,
                events: tx.clone(),
                deferred: std::sync::Mutex::new(secrets.deferred),
                key_file: req.key_file.clone(),
                passed: Default::default(),
                now: wharf_engine::now_ms,
                log: req.gate_log.clone(),
            }) as Arc<dyn wharf_engine::Gate>
        }),
        masks: secrets.masks,
        secrets: secrets.by_job,
        text_pool,
        builtins: Some(Arc::new(wharf_builtins::Builtins)),
        known_releases,
        signing_key,
        handoffs: if req.no_deps {
            handoff::load(state, &|w| warn(format!("warning: {w}")))
        } else {
            req.reuse.clone()
        },
        materialize_handoffs: !req.no_deps && !req.reuse.is_empty(),
    };
    let executor = Arc::new(wharf_engine::LocalExecutor::new());
    if plan.jobs.iter().any(|j| j.image.is_none())
        && let Err(why) = executor.cgroups()
    {
        warn(format!(
            "warning: steps run without a cgroup ({why}): a process a step starts in a new \
             session (setsid) can outlive the step; see docs/runs.md#stopping-steps"
        ));
    }
    let plan = Arc::new(plan);
    let artifacts = Arc::new(Artifacts(wharf_store::ArtifactStore::new(state)));
    let status = wharf_engine::run(plan.clone(), opts, executor, artifacts, tx, interrupt).await;
    engine_done.notify_one();
    consumer
        .await
        .map_err(|e| Error::Task("recorder", e.to_string()))?;
    if let Some(ws) = workspaces {
        ws.finish().await;
    }
    if req.no_deps {
        // For the platform jobs after this one (see handoff.rs).
        if let Some(record) = store
            .get_run(number)
            .await
            .map_err(Error::store("reading the run back"))?
        {
            handoff::write(state, &plan, &record).map_err(|source| Error::Io {
                doing: "writing handoff files in",
                path: handoff::dir(state),
                source,
            })?;
        }
    }
    Ok((number, status))
}

async fn prepare_workspaces(req: &RunRequest, run: u64) -> Result<Arc<wharf_engine::Workspaces>> {
    let (root, state, keep) = (req.root.clone(), req.state_dir.clone(), req.keep_workspaces);
    let ws = tokio::task::spawn_blocking(move || {
        wharf_engine::Workspaces::prepare(&root, &state, run, keep)
    })
    .await
    .map_err(|e| Error::Task("workspace", e.to_string()))??;
    Ok(Arc::new(ws))
}

/// The engine's artifact store over the on-disk content-addressed store.
struct Artifacts(wharf_store::ArtifactStore);

impl wharf_engine::ArtifactStore for Artifacts {
    fn put(&self, path: &Path) -> std::io::Result<(String, u64)> {
        self.0.put_file(path).map_err(std::io::Error::other)
    }

    fn materialize(&self, sha256: &str, dest: &Path, mode: u32) -> std::io::Result<()> {
        self.0
            .materialize(sha256, dest, mode)
            .map_err(std::io::Error::other)
    }
}
