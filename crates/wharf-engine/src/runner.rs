//! The run driver: feeds the scheduler, starts job tasks, reports events.
//!
//! This is the only place that joins the pure [`Scheduler`] to the world. It owns the
//! per-run state the scheduler does not need (outputs, artifacts, cancel switches) and
//! turns scheduler actions into tasks and [`RunEvent`]s.

use std::collections::{BTreeMap, HashMap};
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use tokio::sync::{mpsc::UnboundedSender, watch};
use tokio::task::JoinSet;
use wharf_expr::Status;
use wharf_model::{
    ArtifactRecord, Handoff, JobSpec, JobStatus, Plan, Produced, ProducedKind, RunEvent, RunStatus,
};

use crate::artifacts::ArtifactStore;
use crate::context::{JobContext, condition_holds};
use crate::executor::Executor;
use crate::job::{self, JobEnv, JobRun};
use crate::now_ms;
use crate::scheduler::{Action, Decide, Input, JobNode, NeedsStatus, Scheduler};

/// Gives the log file of a step: `(absolute path, path relative to the .wharf dir)`.
pub type LogPathFn = dyn Fn(u64, &str, usize) -> (PathBuf, String) + Send + Sync;

/// How to run a plan.
pub struct RunOptions {
    /// The run number (from the store).
    pub run: u64,
    /// The project directory: where jobs with `workspace: shared` run.
    pub workspace: PathBuf,
    /// Where every other job gets a workspace of its own; `None` runs every job in the
    /// project directory.
    pub workspaces: Option<Arc<crate::Workspaces>>,
    /// The Docker Engine for jobs with `image:` or `services:`; `None` when no job needs
    /// one (the front end connects before the run, so a missing engine stops it early).
    pub containers: Option<crate::container::Containers>,
    /// The job cache (`cache:`); `None` runs jobs without one.
    pub cache: Option<Arc<crate::cache::JobCache>>,
    /// The `.wharf` state directory (scratch files go under `tmp/`).
    pub wharf_dir: PathBuf,
    /// At most this many jobs at once.
    pub max_parallel: usize,
    /// Between SIGTERM and SIGKILL when stopping a step.
    pub kill_grace: Duration,
    /// The allow-listed host environment (see [`crate::env::host_env`]).
    pub host_env: Vec<(String, String)>,
    /// Where step logs go.
    pub log_path: Box<LogPathFn>,
    /// Every form of every secret of this run, masked in logs, outputs and reasons.
    pub masks: Option<Arc<wharf_secrets::mask::MaskSet>>,
    /// The secrets each job (by plan index) gets as environment variables: only those it
    /// declares, already resolved for its environment.
    pub secrets: HashMap<usize, Vec<(String, wharf_secrets::secret::SecretString)>>,
    /// Buffers for the lines steps print; give them back once displayed.
    pub text_pool: Arc<crate::logs::TextPool>,
    /// Runs built-in steps (`package:`, `build-image:`, ...); without one, such steps fail.
    pub builtins: Option<Arc<dyn crate::BuiltinRunner>>,
    /// What jobs that ran outside this run left for it (their `external_needs`).
    pub handoffs: Vec<Handoff>,
    /// Whether the handoffs' artifacts must be written into the workspaces of the jobs
    /// that need them (jobs reused from an earlier run), rather than being there already
    /// (a CI platform's job that restored them, `--no-deps`).
    pub materialize_handoffs: bool,
    /// Versions already released, with their commits (for the `release` step).
    pub known_releases: Vec<(String, String)>,
    /// The project's release key, which `release` steps sign with.
    pub signing_key: Option<Arc<wharf_secrets::signing::ReleaseKey>>,
    /// Decides before each job with `environment:` starts, and gives its secrets then;
    /// without one, such jobs start at once with the secrets in `secrets`.
    pub gate: Option<Arc<dyn crate::Gate>>,
}

impl RunOptions {
    /// Options for run `run` in `dir` with everything optional off (no workspaces, cache,
    /// containers, built-in steps, secrets): logs go to `dir/logs/JOB-STEP`, scratch files
    /// under `dir/.wharf`. What tests, benchmarks and embedders start from.
    pub fn minimal(run: u64, dir: &std::path::Path) -> RunOptions {
        let logs = dir.join("logs");
        RunOptions {
            run,
            workspace: dir.to_path_buf(),
            workspaces: None,
            cache: None,
            containers: None,
            wharf_dir: dir.join(".wharf"),
            max_parallel: 2,
            kill_grace: Duration::from_secs(1),
            host_env: crate::env::host_env(std::env::vars()),
            log_path: Box::new(move |_, job, step| {
                (logs.join(format!("{job}-{step}")), String::new())
            }),
            masks: None,
            secrets: HashMap::new(),
            text_pool: Default::default(),
            builtins: None,
            handoffs: Vec::new(),
            materialize_handoffs: false,
            known_releases: Vec::new(),
            signing_key: None,
            gate: None,
        }
    }
}

/// Runs `plan` to the end and returns its status. Emits every [`RunEvent`] after
/// `RunStarted` (which the caller sends, since it allocates the run number).
/// `interrupt` counts Ctrl-C presses: the first cancels the run gracefully.
pub async fn run(
    plan: Arc<Plan>,
    opts: RunOptions,
    executor: Arc<dyn Executor>,
    store: Arc<dyn ArtifactStore>,
    events: UnboundedSender<RunEvent>,
    mut interrupt: watch::Receiver<u32>,
) -> RunStatus {
    let opts = Arc::new(opts);
    let scratch = job::output_dir(&opts);
    // If this fails, a step appending to $WHARF_OUTPUT says so, naming the path.
    let _ = std::fs::create_dir_all(&scratch);
    let nodes = plan
        .jobs
        .iter()
        .map(|j| JobNode {
            needs: j.needs.clone(),
            retries: j.retry.max,
            retry_on_timeout: j.retry.on_timeout,
            continue_on_error: j.continue_on_error,
        })
        .collect();
    let mut sched = Scheduler::new(nodes, opts.max_parallel, plan.fail_fast);
    let external: HashMap<String, Handoff> = opts
        .handoffs
        .iter()
        .map(|h| (h.job.clone(), h.clone()))
        .collect();
    let mut state = DriverState {
        outputs: HashMap::new(),
        results: HashMap::new(),
        artifacts: vec![Vec::new(); plan.jobs.len()],
        runs: (0..plan.jobs.len()).map(|_| None).collect(),
        cancels: HashMap::new(),
        any_artifacts: false,
        images: vec![None; plan.jobs.len()],
        produced: vec![Vec::new(); plan.jobs.len()],
    };
    let mut tasks: JoinSet<JobRun> = JoinSet::new();
    let mut task_jobs: HashMap<tokio::task::Id, usize> = HashMap::new();
    let mut actions = {
        let mut decide = decider(&plan, &state, &external);
        sched.handle(Input::Start, &mut decide)
    };
    loop {
        for action in actions.drain(..) {
            match action {
                Action::Start { job, attempt } => {
                    let (tx, rx) = watch::channel(false);
                    state.cancels.insert(job, tx);
                    let spec = JobSpec {
                        run: opts.run,
                        plan: plan.clone(),
                        index: job,
                        attempt,
                        outputs: with_external(
                            state.of_needs(&plan, job, &state.outputs),
                            &plan.jobs[job].external_needs,
                            &external,
                            |h| h.outputs.clone(),
                        ),
                        results: with_external(
                            state.of_needs(&plan, job, &state.results),
                            &plan.jobs[job].external_needs,
                            &external,
                            |h| h.status,
                        ),
                        inherited: {
                            let mut list = if state.any_artifacts {
                                inherited(&plan, job, &state.artifacts)
                            } else {
                                Vec::new()
                            };
                            if opts.materialize_handoffs {
                                list.extend(
                                    opts.handoffs
                                        .iter()
                                        .filter(|h| plan.jobs[job].external_needs.contains(&h.job))
                                        .flat_map(|h| h.artifacts.iter().cloned()),
                                );
                            }
                            list
                        },
                        image_digest: state.image_of_needs(&plan, job).or_else(|| {
                            // Outside this run: the last image any handoff names.
                            opts.handoffs
                                .iter()
                                .flat_map(|h| &h.produced)
                                .rev()
                                .find(|p| {
                                    matches!(
                                        p.kind,
                                        ProducedKind::Image | ProducedKind::PushedImage
                                    )
                                })
                                .map(|p| p.digest.clone())
                        }),
                        upstream: opts
                            .handoffs
                            .iter()
                            .flat_map(|h| h.produced.iter().cloned())
                            .chain(upstream(&plan, job, &state.produced))
                            .collect(),
                        upstream_artifacts: opts
                            .handoffs
                            .iter()
                            .flat_map(|h| h.artifacts.iter().cloned())
                            .collect(),
                    };
                    let env = JobEnv {
                        opts: opts.clone(),
                        executor: executor.clone(),
                        store: store.clone(),
                        events: events.clone(),
                        cancel: rx,
                    };
                    let handle = tasks.spawn(job::run_job(spec, env));
                    task_jobs.insert(handle.id(), job);
                }
                Action::Cancel { job } => {
                    if let Some(tx) = state.cancels.get(&job) {
                        let _ = tx.send(true);
                    }
                }
                Action::Finish {
                    job,
                    status,
                    reason,
                } => state.finish(&plan, job, status, reason, &events),
                Action::Done(status) => {
                    let _ = std::fs::remove_dir(&scratch);
                    let _ = events.send(RunEvent::RunFinished {
                        status,
                        at: now_ms(),
                    });
                    return status;
                }
            }
        }
        tokio::select! {
            Some(joined) = tasks.join_next_with_id() => {
                let (job, run) = match joined {
                    Ok((id, run)) => (task_jobs.remove(&id), run),
                    // A bug in wharf (or a step runner) fails that job, not the whole run.
                    Err(e) => (task_jobs.remove(&e.id()), JobRun::failed(panic_reason(e))),
                };
                let Some(job) = job else { continue };
                state.cancels.remove(&job);
                let outcome = run.outcome;
                state.runs[job] = Some(run);
                let mut decide = decider(&plan, &state, &external);
                actions = sched.handle(Input::Finished { job, outcome }, &mut decide);
            }
            changed = interrupt.changed() => {
                if changed.is_ok() {
                    let mut decide = decider(&plan, &state, &external);
                    actions = sched.handle(Input::Interrupt, &mut decide);
                } else {
                    // The interrupt sender is gone: nobody can interrupt any more.
                    interrupt = watch::channel(0).1;
                }
            }
        }
    }
}

struct DriverState {
    /// Outputs of finished jobs by job name (matrix cells merged in finishing order).
    outputs: HashMap<String, BTreeMap<String, String>>,
    /// Final statuses by job name (a matrix job: the worst cell so far).
    results: HashMap<String, JobStatus>,
    /// Artifacts stored by each job (index).
    artifacts: Vec<Vec<ArtifactRecord>>,
    /// The last attempt of each job.
    runs: Vec<Option<JobRun>>,
    cancels: HashMap<usize, watch::Sender<bool>>,
    /// Whether any job stored artifacts yet (saves walking the graph when none did).
    any_artifacts: bool,
    /// The last image digest each job (index) built or pushed.
    images: Vec<Option<String>>,
    /// What each job's built-in steps produced.
    produced: Vec<Vec<Produced>>,
}

impl DriverState {
    /// The image of the nearest job `job` needs that built one (direct needs first, in
    /// plan order; then theirs).
    fn image_of_needs(&self, plan: &Plan, job: usize) -> Option<String> {
        let mut seen = vec![false; plan.jobs.len()];
        let mut queue: std::collections::VecDeque<usize> =
            plan.jobs[job].needs.iter().copied().collect();
        while let Some(n) = queue.pop_front() {
            if std::mem::replace(&mut seen[n], true) {
                continue;
            }
            if let Some(d) = &self.images[n] {
                return Some(d.clone());
            }
            queue.extend(plan.jobs[n].needs.iter().copied());
        }
        None
    }

    /// The entries of `map` for the jobs `job` directly needs: all its expressions can
    /// see (copying everything finished so far would make a run quadratic in its jobs).
    fn of_needs<V: Clone>(
        &self,
        plan: &Plan,
        job: usize,
        map: &HashMap<String, V>,
    ) -> HashMap<String, V> {
        plan.jobs[job]
            .needs
            .iter()
            .filter_map(|&n| {
                let name = &plan.jobs[n].name;
                map.get(name).map(|v| (name.clone(), v.clone()))
            })
            .collect()
    }

    fn finish(
        &mut self,
        plan: &Plan,
        job: usize,
        status: JobStatus,
        reason: Option<String>,
        events: &UnboundedSender<RunEvent>,
    ) {
        let pj = &plan.jobs[job];
        let run = self.runs[job].take();
        let (exit_code, run_reason, outputs) = match run {
            Some(r) => {
                if let Some(img) = r
                    .produced
                    .iter()
                    .rev()
                    .find(|p| matches!(p.kind, ProducedKind::Image | ProducedKind::PushedImage))
                {
                    self.images[job] = Some(img.digest.clone());
                }
                if status.counts_as_success() {
                    self.produced[job] = r.produced.clone();
                }
                // A failed job's artifacts (`when: on_failure` or `always`) reach the
                // jobs that still run after it (`if: failure()` or `always()`).
                if !r.artifacts.is_empty() {
                    self.any_artifacts = true;
                    self.artifacts[job] = r.artifacts;
                }
                (r.exit_code, r.reason, r.outputs)
            }
            None => (None, None, BTreeMap::new()),
        };
        self.outputs
            .entry(pj.name.clone())
            .or_default()
            .extend(outputs.clone());
        let merged = match self.results.get(&pj.name) {
            Some(prev) if !prev.counts_as_success() => *prev,
            _ => status,
        };
        self.results.insert(pj.name.clone(), merged);
        let _ = events.send(RunEvent::JobFinished {
            job: pj.id.clone(),
            status,
            exit_code,
            reason: run_reason.or(reason),
            outputs,
            at: now_ms(),
        });
    }
}

/// Why a job task ended without a result: its panic's message.
fn panic_reason(e: tokio::task::JoinError) -> String {
    if !e.is_panic() {
        return format!("wharf lost the job's task: {e}");
    }
    let payload = e.into_panic();
    let msg = payload
        .downcast_ref::<&str>()
        .map(|s| s.to_string())
        .or_else(|| payload.downcast_ref::<String>().cloned())
        .unwrap_or_else(|| "(no message)".to_string());
    format!("internal error in wharf, the job stopped: {msg}")
}

/// `map` plus, for each of `names` with a handoff, the value `get` takes from it.
fn with_external<V>(
    mut map: HashMap<String, V>,
    names: &[String],
    external: &HashMap<String, Handoff>,
    get: impl Fn(&Handoff) -> V,
) -> HashMap<String, V> {
    for n in names {
        if let Some(h) = external.get(n) {
            map.insert(n.clone(), get(h));
        }
    }
    map
}

/// The artifacts of every job `job` needs, directly or transitively, in plan order.
fn inherited(plan: &Plan, job: usize, artifacts: &[Vec<ArtifactRecord>]) -> Vec<ArtifactRecord> {
    upstream(plan, job, artifacts)
}

/// The items of every job `job` needs, directly or transitively, in plan order.
fn upstream<T: Clone>(plan: &Plan, job: usize, per_job: &[Vec<T>]) -> Vec<T> {
    let mut seen = vec![false; plan.jobs.len()];
    let mut stack = plan.jobs[job].needs.clone();
    while let Some(n) = stack.pop() {
        if !seen[n] {
            seen[n] = true;
            stack.extend(plan.jobs[n].needs.iter().copied());
        }
    }
    seen.iter()
        .enumerate()
        .filter(|(_, s)| **s)
        .flat_map(|(i, _)| per_job[i].iter().cloned())
        .collect()
}

/// The scheduler's condition callback: evaluates each job's `if:`.
fn decider<'a>(
    plan: &'a Plan,
    state: &'a DriverState,
    external: &'a HashMap<String, Handoff>,
) -> Decider<'a> {
    Decider {
        plan,
        state,
        external,
    }
}

struct Decider<'a> {
    plan: &'a Plan,
    state: &'a DriverState,
    external: &'a HashMap<String, Handoff>,
}

impl Decide for Decider<'_> {
    fn should_run(&mut self, job: usize, needs: NeedsStatus) -> Result<bool, String> {
        self.should_run_with(job, needs, &|_| None)
    }

    fn should_run_with(
        &mut self,
        job: usize,
        mut needs: NeedsStatus,
        done: &dyn Fn(usize) -> Option<JobStatus>,
    ) -> Result<bool, String> {
        let (plan, state) = (self.plan, self.state);
        let pj = &plan.jobs[job];
        // Needs that ran in another process (`--no-deps`) count as the scheduler's own
        // would: a skipped or failed one makes `success()` false.
        // (A need with no handoff is taken as met: `wharf run --no-deps JOB` by hand.)
        for name in &pj.external_needs {
            if let Some(h) = self.external.get(name) {
                needs.success &= h.status.counts_as_success();
                needs.failure |= h.status.fails_run();
                needs.cancelled |= h.status == JobStatus::Cancelled;
            }
        }
        // The handoffs a platform passed on come from the jobs before this one (its needs'
        // chain): a failure among them is an ancestor's, as `failure()` judges.
        if !pj.external_needs.is_empty() {
            needs.failure |= self.external.values().any(|h| h.status.fails_run());
        }
        // The needs' results and outputs as of now: a need that ended within this very
        // scheduler step is not recorded in `state` yet (a matrix job's result is its
        // worst cell).
        let mut results = state.of_needs(plan, job, &state.results);
        let mut outputs = state.of_needs(plan, job, &state.outputs);
        for &n in &pj.needs {
            let name = &plan.jobs[n].name;
            if let Some(s) = done(n) {
                let merged = match results.get(name) {
                    Some(prev) if !prev.counts_as_success() => *prev,
                    _ => s,
                };
                results.insert(name.clone(), merged);
            }
            if let Some(run) = &state.runs[n] {
                outputs
                    .entry(name.clone())
                    .or_default()
                    .extend(run.outputs.clone());
            }
        }
        let env = BTreeMap::new();
        let ctx = JobContext {
            plan,
            job: pj,
            outputs: &outputs,
            results: &results,
            env: &env,
            // A stopping run (fail-fast, interrupt) is not a successful one: only jobs
            // whose `if:` asks to run after a failure or a cancel still start.
            status: Status {
                success: needs.success && !needs.stopping,
                failure: needs.failure,
                cancelled: needs.cancelled,
            },
        };
        condition_holds(pj.condition.as_deref(), &ctx).map_err(|e| format!("job `{}`: {e}", pj.id))
    }
}
