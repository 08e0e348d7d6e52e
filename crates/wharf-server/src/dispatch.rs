//! The dispatcher: takes queued events oldest first and runs each through the runtime,
//! `max_runs` at a time.
//!
//! For an event: the project's mirror is fetched (one fetch per project at a time), the
//! event's commit checked out in a worktree of its own, its pipeline files loaded from
//! there, and the pipelines the event starts run exactly as `wharf run` runs them (the same
//! selection, workspaces, secrets and masking), recorded in the project's run store.

use std::sync::Arc;
use std::time::Duration;

use tokio::sync::{mpsc, watch};
use tokio::task::JoinHandle;
use wharf_model::RunEvent;

use crate::app::Shared;
use crate::db::Claimed;
use crate::error::{Error, Result};
use crate::{git, paths};

/// How long an idle worker sleeps when nothing wakes it (a queue written by another
/// process, such as `wharf trigger` on the data directory).
const IDLE_POLL: Duration = Duration::from_secs(1);

/// Starts the workers; each ends when `stop` turns true, after its current event.
pub(crate) fn start(s: Arc<Shared>, stop: watch::Receiver<bool>) -> Vec<JoinHandle<()>> {
    (0..s.config.max_runs.max(1))
        .map(|_| tokio::spawn(worker(s.clone(), stop.clone())))
        .collect()
}

async fn worker(s: Arc<Shared>, mut stop: watch::Receiver<bool>) {
    loop {
        if *stop.borrow() {
            return;
        }
        let claimed = match s.db.claim(crate::now()).await {
            Ok(c) => c,
            Err(e) => {
                eprintln!("wharf serve: {e}");
                None
            }
        };
        let Some(c) = claimed else {
            tokio::select! {
                _ = s.wake.notified() => {}
                _ = tokio::time::sleep(IDLE_POLL) => {}
                _ = stop.wait_for(|s| *s) => return,
            }
            continue;
        };
        s.metrics.claimed(crate::now() - c.received_at);
        let lock = s.git_lock(&c.project);
        let id = c.id;
        let project = c.project.clone();
        let outcome = process(&s, c, &lock).await;
        let error = outcome.err().map(|e| e.to_string());
        if let Some(e) = &error {
            eprintln!("wharf serve: {project}: event {id} failed: {e}");
        }
        if let Err(e) = s.db.finish(id, error.as_deref(), crate::now()).await {
            eprintln!("wharf serve: {e}");
        }
    }
}

/// Runs one event end to end.
async fn process(s: &Arc<Shared>, c: Claimed, git_lock: &tokio::sync::Mutex<()>) -> Result<()> {
    let data = &s.config.data_dir;
    let project =
        s.db.project(&c.project)
            .await?
            .ok_or_else(|| Error::NotFound(format!("project `{}` was removed", c.project)))?;
    let mirror = paths::mirror(data, &project.name);
    let checkout = paths::checkout(data, &project.name, c.id);
    let mut event = c.event.clone();
    {
        let _held = git_lock.lock().await;
        git::fetch(&project.repo, &mirror).await?;
        if event.sha.is_none() {
            // A schedule or a manual run: the branch's commit as of now.
            let branch = match event.branch.clone() {
                Some(b) => b,
                None => git::default_branch(&mirror)
                    .await
                    .ok_or_else(|| Error::invalid("the repository has no default branch", None))?,
            };
            event.sha = Some(git::branch_commit(&mirror, &branch).await?);
            event.branch = Some(branch);
            s.db.set_event(c.id, &event).await?;
        }
        // An annotated tag's delivery names the tag object: run its commit.
        let sha = git::peel(&mirror, event.sha.as_deref().unwrap_or_default()).await?;
        let message = git::subject(&mirror, &sha).await;
        if event.sha.as_deref() != Some(sha.as_str()) || event.message != message {
            event.sha = Some(sha.clone());
            event.message = message;
            s.db.set_event(c.id, &event).await?;
        }
        if checkout.exists() {
            git::remove_worktree(&mirror, &checkout).await;
        }
        git::worktree(&mirror, &sha, &checkout).await?;
        if let Some(before) = &c.before {
            event.changed_paths = git::changed(&mirror, before, &sha).await;
        }
    }
    let ran = run_checkout(s, &project.name, &c, &checkout, event).await;
    {
        // Under the lock: `git worktree prune` would otherwise remove the half-made
        // worktree of another event being checked out this moment.
        let _held = git_lock.lock().await;
        git::remove_worktree(&mirror, &checkout).await;
    }
    ran
}

/// Runs the pipelines of the checked-out commit that `event` starts.
async fn run_checkout(
    s: &Arc<Shared>,
    project: &str,
    c: &Claimed,
    checkout: &std::path::Path,
    event: wharf_model::Event,
) -> Result<()> {
    let (id, rerun) = (c.id, c.rerun);
    let data = &s.config.data_dir;
    let pipelines = wharf_pipeline::load_project(checkout).map_err(|d| {
        Error::invalid(
            format!(
                "the pipeline files at this commit are invalid:\n{}",
                d.render(false)
            ),
            None,
        )
    })?;
    let state = paths::state(data, project);
    let store = s.store(project).await?;
    let (plans, reuse) = match rerun {
        None => (
            wharf_runtime::select(&pipelines, &event, &wharf_runtime::Selection::default())
                .map_err(|e| Error::invalid(e.to_string(), None))?,
            Vec::new(),
        ),
        Some(n) => {
            let previous = store
                .get_run(n)
                .await?
                .ok_or_else(|| Error::NotFound(format!("no run #{n}")))?;
            match wharf_runtime::rerun_failed(&pipelines, &previous)
                .map_err(|e| Error::invalid(e.to_string(), None))?
            {
                Some(r) => {
                    if c.attempt > 1 {
                        deployments_may_run_again(&r, c.attempt)?;
                    }
                    eprintln!(
                        "wharf serve: {project}: re-running the failed jobs of run {n} ({})",
                        r.failed.join(", ")
                    );
                    (vec![r.plan], r.reused)
                }
                None => {
                    eprintln!(
                        "wharf serve: {project}: run {n} has no failed jobs: nothing to re-run"
                    );
                    return Ok(());
                }
            }
        }
    };
    let names: Vec<String> = plans.iter().map(|p| p.pipeline.clone()).collect();
    if plans.is_empty() {
        eprintln!(
            "wharf serve: {project}: event {id}: no pipeline's `on:` matches; nothing to run"
        );
        return Ok(());
    }
    let req = wharf_runtime::RunRequest {
        root: checkout.to_path_buf(),
        state_dir: state.clone(),
        max_parallel: s.config.max_parallel,
        kill_grace: Duration::from_secs(10),
        keep_workspaces: false,
        no_deps: false,
        secrets: wharf_runtime::SecretSource::Store,
        key_file: Some(paths::key_file(data)),
        display: false,
        host_env: wharf_engine::env::host_env(std::env::vars()),
        cache: wharf_engine::cache::JobCache::new(
            state.join("cache").join("jobs"),
            wharf_engine::cache::DEFAULT_MAX_BYTES,
        ),
        reuse,
        gate_log: Some(gate_log(s, project)),
    };
    let (runs_tx, mut runs_rx) = mpsc::unbounded_channel::<u64>();
    let db = s.db.clone();
    let recorder = tokio::spawn(async move {
        while let Some(run) = runs_rx.recv().await {
            if let Err(e) = db.add_run(id, run).await {
                eprintln!("wharf serve: {e}");
            }
        }
    });
    let (interrupt_tx, interrupt) = watch::channel(0u32);
    let interrupt_tx = Arc::new(interrupt_tx);
    let label = project.to_string();
    let event_for_log = event.clone();
    let finished = wharf_runtime::run(
        &store,
        plans,
        &req,
        &mut || {
            Box::new(Log {
                shared: s.clone(),
                event: event_for_log.clone(),
                project: label.clone(),
                run: 0,
                runs: runs_tx.clone(),
                running: s.running.clone(),
                cancel: interrupt_tx.clone(),
            })
        },
        interrupt,
        &|w| eprintln!("wharf serve: {project}: {w}"),
    )
    .await;
    drop(runs_tx);
    let _ = recorder.await;
    let finished = finished.map_err(|e| Error::invalid(e.to_string(), None))?;
    for (name, f) in names.iter().zip(&finished) {
        eprintln!(
            "wharf serve: {project}: run {} ({name}) {}",
            f.run,
            f.status.as_str()
        );
        chain(s, project, &pipelines, &event, name, f).await?;
    }
    Ok(())
}

/// Writes each decision at a deployment job's gates to the audit log, as the server's
/// own: who approved is in the approvals' own entries.
fn gate_log(s: &Arc<Shared>, project: &str) -> wharf_runtime::GateLog {
    let (s, project) = (s.clone(), project.to_string());
    wharf_runtime::GateLog(Arc::new(move |d: wharf_runtime::GateDecision| {
        let (s, project) = (s.clone(), project.clone());
        Box::pin(async move {
            let change = crate::audit::Change::new(
                crate::audit::Action::DeployGate,
                format!("{project}#{}/{}", d.run, d.job),
                serde_json::json!({
                    "project": project,
                    "run": d.run,
                    "job": d.job,
                    "environment": d.environment,
                    "outcome": d.outcome,
                    "detail": d.detail,
                }),
            );
            if let Err(e) =
                crate::audit::record(&s.db, &crate::audit::Actor::server(), change).await
            {
                eprintln!("wharf serve: {project}: the audit log: {e}");
            }
        })
    }))
}

/// The retry policy's exception: a job with an `environment:` (a deployment, whose steps
/// act on the world) that a server crash interrupted runs again only when its own
/// `retry:` allows another attempt; any other interrupted job runs again while the event
/// has attempts left (`--interrupted-attempts`).
fn deployments_may_run_again(r: &wharf_runtime::Rerun, attempt: i64) -> Result<()> {
    let used = u32::try_from(attempt - 1).unwrap_or(u32::MAX);
    for id in &r.failed {
        let Some(job) = r.plan.jobs.iter().find(|j| &j.id == id) else {
            continue;
        };
        if let Some(env) = &job.environment
            && job.retry.max < used
        {
            return Err(Error::invalid(
                format!(
                    "job `{id}` (environment {env}) was interrupted by the server's stop; it is not run again: a deployment runs again only as its `retry:` allows (max {}, attempt {attempt})",
                    job.retry.max
                ),
                Some(
                    "check the environment, then re-run the run's failed jobs (`POST …/runs/N/rerun`)",
                ),
            ));
        }
    }
    Ok(())
}

/// Queues the `on.pipeline` event of a run that ended, when a pipeline of the same commit
/// waits for it ([`wharf_runtime::event::followers`], as `wharf run` follows it too).
async fn chain(
    s: &Shared,
    project: &str,
    pipelines: &[wharf_pipeline::Pipeline],
    event: &wharf_model::Event,
    name: &str,
    f: &wharf_runtime::Finished,
) -> Result<()> {
    match wharf_runtime::event::followers(pipelines, event, name, f.run, f.status) {
        Ok(None) => Ok(()),
        Err(why) => {
            eprintln!("wharf serve: {project}: {why}");
            Ok(())
        }
        Ok(Some(next)) => {
            let id =
                s.db.enqueue(project, crate::db::Source::Pipeline, &next, crate::now())
                    .await?;
            eprintln!(
                "wharf serve: {project}: run {} of {name} ended: on.pipeline event {id}",
                f.run
            );
            s.wake.notify_waiters();
            Ok(())
        }
    }
}

/// What the server shows of a run: its start and end, and each job's end, in its log.
struct Log {
    shared: Arc<Shared>,
    /// What happened: the commit, the ref.
    event: wharf_model::Event,
    project: String,
    run: u64,
    runs: mpsc::UnboundedSender<u64>,
    running: crate::app::Running,
    cancel: Arc<watch::Sender<u32>>,
}

impl Log {
    fn running(&self) -> std::sync::MutexGuard<'_, crate::app::RunHandles> {
        self.running.lock().unwrap_or_else(|p| p.into_inner())
    }
}

impl wharf_runtime::Observer for Log {
    fn event(&mut self, ev: &RunEvent) {
        if let RunEvent::RunStarted { run, .. } = ev {
            self.run = *run;
        }
        crate::observe::run_event(
            &self.shared,
            &crate::observe::RunContext {
                project: &self.project,
                run: self.run,
                event: &self.event,
            },
            ev,
        );
        match ev {
            RunEvent::RunStarted { run, pipeline, .. } => {
                self.run = *run;
                let _ = self.runs.send(*run);
                let cancel = self.cancel.clone();
                self.running().insert((self.project.clone(), *run), cancel);
                eprintln!(
                    "wharf serve: {}: run {run} of {pipeline} started",
                    self.project
                );
            }
            RunEvent::JobFinished { job, status, .. } => {
                eprintln!(
                    "wharf serve: {}: run {}: job {job} {}",
                    self.project,
                    self.run,
                    status.as_str()
                );
            }
            RunEvent::RunFinished { .. } => {
                let key = (self.project.clone(), self.run);
                self.running().remove(&key);
            }
            _ => {}
        }
    }

    fn warn(&mut self, text: &str) {
        eprintln!("wharf serve: {}: run {}: {text}", self.project, self.run);
    }
}
