//! Runs one attempt of one job: its steps in order, then reports, artifacts (see `keep`)
//! and outputs.

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::sync::Arc;

use tokio::sync::{mpsc::UnboundedSender, watch};
use tokio::time::Instant;
use wharf_expr::Status;
use wharf_model::{
    ArtifactRecord, JobSpec, LogStream, Produced, ProducedKind, RunEvent, StepAction, StepStatus,
    WorkspaceMode,
};

use crate::artifacts::{self, ArtifactStore};
use crate::builtin::{self, BuiltinRequest};
use crate::context::{JobContext, condition_holds};
use crate::executor::{Executor, StepOutcome, StepRequest};
use crate::logs::LogWriter;
use crate::runner::RunOptions;
use crate::scheduler::Outcome;
use crate::{cache, container, env, now_ms, outputs, shell};

/// The run-side handles a job attempt works with (the data is its [`JobSpec`]).
pub struct JobEnv {
    /// How the run goes (workspaces, cache, containers, secrets, logs).
    pub opts: Arc<RunOptions>,
    /// Where steps run.
    pub executor: Arc<dyn Executor>,
    /// Where artifacts are kept.
    pub store: Arc<dyn ArtifactStore>,
    /// Where its events go.
    pub events: UnboundedSender<RunEvent>,
    /// Becomes true when the job is to stop (fail-fast, Ctrl-C, a server's cancel).
    pub cancel: watch::Receiver<bool>,
}

/// Everything a job attempt needs, moved into its task.
pub(crate) struct JobTask {
    pub spec: JobSpec,
    pub opts: Arc<RunOptions>,
    pub executor: Arc<dyn Executor>,
    pub store: Arc<dyn ArtifactStore>,
    pub events: UnboundedSender<RunEvent>,
    pub cancel: watch::Receiver<bool>,
    /// What the gate gave a deployment job: its secrets, and the masks that include them.
    pub gated: Option<Gated>,
}

/// A deployment job's secrets, decrypted once its gates passed, and every form of them
/// (with the run's) to mask.
pub(crate) struct Gated {
    pub secrets: Vec<(String, wharf_secrets::secret::SecretString)>,
    pub masks: Option<Arc<wharf_secrets::mask::MaskSet>>,
}

/// How an attempt ended: what the engine (or a remote agent) reports back.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct JobRun {
    /// Success, failure, timeout or cancel.
    pub outcome: Outcome,
    /// The failed step's exit code.
    pub exit_code: Option<i32>,
    /// Why it failed, secrets masked.
    pub reason: Option<String>,
    /// The outputs its steps wrote (declared ones only), secrets masked.
    pub outputs: BTreeMap<String, String>,
    /// The artifacts it stored.
    pub artifacts: Vec<ArtifactRecord>,
    /// What its built-in steps produced.
    pub produced: Vec<Produced>,
}

impl JobRun {
    pub(crate) fn failed(reason: String) -> JobRun {
        JobRun {
            outcome: Outcome::Failed,
            exit_code: None,
            reason: Some(reason),
            outputs: BTreeMap::new(),
            artifacts: Vec::new(),
            produced: Vec::new(),
        }
    }
}

/// Runs one attempt of one job: its workspace, containers and cache, its steps, then its
/// reports, artifacts and outputs. Events go to `env.events`; it stops when `env.cancel`
/// becomes true. A panic inside is the caller's to catch (the run driver turns it into a
/// failed job).
pub async fn run_job(spec: JobSpec, env: JobEnv) -> JobRun {
    run(JobTask {
        spec,
        opts: env.opts,
        executor: env.executor,
        store: env.store,
        events: env.events,
        cancel: env.cancel,
        gated: None,
    })
    .await
}

pub(crate) async fn run(mut t: JobTask) -> JobRun {
    let job = &t.spec.plan.jobs[t.spec.index];
    let started = |t: &JobTask| {
        let _ = t.events.send(RunEvent::JobStarted {
            job: t.spec.plan.jobs[t.spec.index].id.clone(),
            attempt: t.spec.attempt,
            at: now_ms(),
        });
    };
    // A deployment job starts once its environment's gates passed; until then it is
    // `waiting` (the gate says so when it has to wait).
    let gate = job.environment.as_ref().and(t.opts.gate.clone());
    if gate.is_none() {
        started(&t);
    }
    if let Some(gate) = gate {
        let (events, id) = (t.events.clone(), job.id.clone());
        let pool = t.opts.text_pool.clone();
        let masks = t.opts.masks.clone();
        let note: crate::GateNote = Box::new(move |text: &str| {
            let text = format!("wharf: {text}");
            let text = match &masks {
                Some(m) if !m.is_empty() => m.mask_str(&text),
                _ => text,
            };
            pool.force(text.capacity());
            let _ = events.send(RunEvent::Lines {
                job: id.clone(),
                step: 0,
                stream: LogStream::Stderr,
                text,
            });
        });
        match gate.pass(t.spec.index, note, t.cancel.clone()).await {
            crate::GateOutcome::Pass(secrets) => {
                let masks = if secrets.is_empty() {
                    t.opts.masks.clone()
                } else {
                    Some(Arc::new(wharf_secrets::mask::MaskSet::with_more(
                        t.opts.masks.as_deref(),
                        &secrets
                            .iter()
                            .map(|(_, v)| v.expose().as_bytes())
                            .collect::<Vec<_>>(),
                    )))
                };
                t.gated = Some(Gated { secrets, masks });
                started(&t);
            }
            crate::GateOutcome::Refused(reason) => return JobRun::failed(reason),
            crate::GateOutcome::Cancelled => {
                let mut run =
                    JobRun::failed("cancelled while waiting at the environment's gates".into());
                run.outcome = Outcome::Cancelled;
                return run;
            }
        }
    }
    let t = t;
    let job = &t.spec.plan.jobs[t.spec.index];
    let own = match (job.workspace, &t.opts.workspaces) {
        (WorkspaceMode::Isolated, Some(all)) if let Some(ready) = all.take_ready(&job.id) => {
            Some(ready)
        }
        (WorkspaceMode::Isolated, Some(all)) => {
            let (all, id) = (all.clone(), job.id.clone());
            match tokio::task::spawn_blocking(move || all.create(&id)).await {
                Ok(Ok(path)) => Some(path),
                Ok(Err(e)) => return JobRun::failed(format!("workspace: {e}")),
                Err(e) => return JobRun::failed(format!("workspace: {e}")),
            }
        }
        _ => None,
    };
    let workspace = own.clone().unwrap_or_else(|| t.opts.workspace.clone());
    let last = job.steps.len().saturating_sub(1);
    let run = run_steps(&t, workspace).await;
    if let (Some(path), Some(all)) = (own, &t.opts.workspaces) {
        if all.keep()
            || run
                .outcome
                .retries(t.spec.attempt, job.retry.max, job.retry.on_timeout)
        {
            // Kept on purpose (said once per run by the caller), or replaced by the next
            // attempt's fresh copy.
        } else if matches!(run.outcome, Outcome::Success | Outcome::Cancelled) {
            // A job container may outlive the job by a moment (the engine removes it),
            // and a step's daemon can outlive its step where there are no cgroups: their
            // workspaces are not handed on.
            if job.image.is_none() && t.executor.confined(&path) {
                all.recycle(path);
            } else {
                all.remove(path);
            }
        } else {
            note(
                &t,
                last,
                &format!(
                    "the failed job's workspace is kept for debugging (the next run removes it): {}",
                    path.display()
                ),
            );
        }
    }
    run
}

/// Runs the job's steps in `workspace`, then collects its reports, artifacts and outputs.
async fn run_steps(t: &JobTask, workspace: PathBuf) -> JobRun {
    let job = &t.spec.plan.jobs[t.spec.index];

    if !t.spec.inherited.is_empty() {
        let store = t.store.clone();
        let ws = workspace.clone();
        let list = t.spec.inherited.clone();
        let res = tokio::task::spawn_blocking(move || artifacts::materialize(&*store, &ws, &list))
            .await
            .map_err(|e| e.to_string())
            .and_then(|r| r.map_err(|e| e.to_string()));
        if let Err(e) = res {
            return JobRun::failed(e);
        }
    }
    let cache = restore_cache(t, &workspace).await;

    // The environment every step starts from.
    let mut base = t.opts.host_env.clone();
    env::layer(
        &mut base,
        env::context_env(&t.spec.plan, job, t.opts.run, &workspace),
    );
    if let Some(d) = &t.spec.image_digest {
        env::layer(&mut base, [("WHARF_IMAGE_DIGEST".to_string(), d.clone())]);
    }
    let mut env_map: BTreeMap<String, String> = BTreeMap::new();
    let status = Status {
        success: true,
        failure: false,
        cancelled: false,
    };
    for templates in [&t.spec.plan.env, &job.env] {
        if let Err(e) = render_into(t, templates, &mut env_map, status) {
            return JobRun::failed(e);
        }
    }
    let containers = match start_containers(t, &workspace, &env_map).await {
        Ok(c) => c,
        Err(e) => return JobRun::failed(e),
    };
    let executor = containers
        .as_ref()
        .and_then(|c| c.executor())
        .unwrap_or_else(|| t.executor.clone());
    if let Some(c) = &containers {
        env::layer(&mut base, c.service_env());
    }
    // Not created up front: the first `>> "$WHARF_OUTPUT"` creates it, and a job that
    // writes no outputs costs no file operations. The directory is made once per run.
    let output_file =
        output_dir(&t.opts).join(format!("{}-{}.output", t.spec.index, t.spec.attempt));

    let deadline = job
        .timeout_ms
        .map(|ms| Instant::now() + std::time::Duration::from_millis(ms));
    let mut failed = false;
    let mut timed_out = false;
    let mut cancelled = false;
    let mut exit_code = None;
    let mut reason = None;
    let mut cancel = t.cancel.clone();
    let mut last_step = 0;
    let mut produced: Vec<Produced> = Vec::new();

    for (i, step) in job.steps.iter().enumerate() {
        last_step = i;
        cancelled |= *cancel.borrow_and_update();
        let step_status = Status {
            success: !failed && !cancelled,
            failure: failed,
            cancelled,
        };
        let mut step_env = env_map.clone();
        let decision = render_into(t, &step.env, &mut step_env, step_status).and_then(|_| {
            let ctx = ctx(t, &step_env, step_status);
            condition_holds(step.condition.as_deref(), &ctx)
        });
        let run_it = match decision {
            Ok(b) => b,
            Err(e) => {
                failed = true;
                reason = Some(format!("step `{}`: {e}", step.name));
                false
            }
        };
        if !run_it {
            let _ = t.events.send(RunEvent::StepFinished {
                job: job.id.clone(),
                step: i,
                status: if cancelled {
                    StepStatus::Cancelled
                } else {
                    StepStatus::Skipped
                },
                exit_code: None,
                log: None,
                at: now_ms(),
            });
            continue;
        }
        let _ = t.events.send(RunEvent::StepStarted {
            job: job.id.clone(),
            step: i,
            name: step.name.clone(),
            at: now_ms(),
        });
        let (log_abs, log_rel) = (t.opts.log_path)(t.opts.run, &job.id, i);
        let log = match LogWriter::create(&job.id, i, &log_abs, t.events.clone()) {
            Ok(l) => l.with_masks(task_masks(t)).with_pool(&t.opts.text_pool),
            Err(e) => {
                failed = true;
                reason = Some(format!("creating log {}: {e}", log_abs.display()));
                finish_step(t, i, StepStatus::Failed, None, None);
                continue;
            }
        };
        let mut vars = base.clone();
        env::layer(&mut vars, step_env.clone());
        let dir = step
            .working_directory
            .as_ref()
            .or(job.working_directory.as_ref());
        let cwd: PathBuf = match dir {
            Some(d) => {
                if let Err(e) = artifacts::check_relative(d) {
                    failed = true;
                    reason = Some(format!("working-directory {e}"));
                    finish_step(t, i, StepStatus::Failed, None, Some(log_rel));
                    let _ = log.finish();
                    continue;
                }
                workspace.join(d)
            }
            None => workspace.clone(),
        };
        let step_deadline = step
            .timeout_ms
            .map(|ms| Instant::now() + std::time::Duration::from_millis(ms));
        let until = match (deadline, step_deadline) {
            (Some(a), Some(b)) => Some(a.min(b)),
            (a, b) => a.or(b),
        };
        let secrets = match &t.gated {
            Some(g) => Some(&g.secrets),
            None => t.opts.secrets.get(&t.spec.index),
        };
        let mut builtin_error = None;
        let outcome = match &step.action {
            StepAction::Run { run, shell: sh } => {
                if let Some(secrets) = secrets {
                    // Last, so nothing in `env:` can shadow a declared secret. The values
                    // live in the request only as long as the step runs (the executor
                    // passes them as the child's environment, never as arguments).
                    env::layer(
                        &mut vars,
                        secrets
                            .iter()
                            .map(|(k, v)| (k.clone(), v.expose().to_string())),
                    );
                }
                vars.push(("WHARF_OUTPUT".into(), output_file.display().to_string()));
                let req = StepRequest {
                    job: job.id.clone(),
                    step: i,
                    argv: shell::argv(sh, run),
                    cwd,
                    env: vars,
                    deadline: until,
                    kill_grace: t.opts.kill_grace,
                };
                executor.run_step(req, cancel.clone(), log).await
            }
            StepAction::Builtin(b) => {
                let rendered = builtin::render(b, &mut |text: &str| {
                    let tpl = wharf_expr::parse_template(text).map_err(|e| e.to_string())?;
                    tpl.render(&ctx(t, &step_env, step_status))
                        .map_err(|e| e.to_string())
                });
                match (rendered, &t.opts.builtins) {
                    (Err(e), _) => {
                        let mut log = log;
                        log.note(&format!("wharf: {e}"));
                        let _ = log.finish();
                        StepOutcome::FailedToStart(e)
                    }
                    (Ok(_), None) => {
                        let _ = log.finish();
                        StepOutcome::FailedToStart(
                            "built-in steps are not available in this runner".to_string(),
                        )
                    }
                    (Ok(builtin), Some(runner)) => {
                        let req = BuiltinRequest {
                            job: job.id.clone(),
                            step: i,
                            builtin,
                            cwd,
                            workspace: workspace.clone(),
                            project: t.opts.workspace.clone(),
                            wharf_dir: t.opts.wharf_dir.clone(),
                            run: t.opts.run,
                            event: t.spec.plan.event.clone(),
                            env: vars,
                            secrets: secrets.cloned().unwrap_or_default(),
                            deadline: until,
                            upstream_artifacts: t
                                .spec
                                .upstream_artifacts
                                .iter()
                                .chain(t.spec.inherited.iter())
                                .cloned()
                                .collect(),
                            upstream_produced: t
                                .spec
                                .upstream
                                .iter()
                                .chain(produced.iter())
                                .cloned()
                                .collect(),
                            known_releases: t.opts.known_releases.clone(),
                            signing_key: t.opts.signing_key.clone(),
                        };
                        let done = runner.run(req, cancel.clone(), log).await;
                        for w in &done.warnings {
                            warn(t, Some(i), w);
                        }
                        for item in done.produced {
                            if matches!(item.kind, ProducedKind::Image | ProducedKind::PushedImage)
                            {
                                // Later steps of this job see the image too.
                                env::layer(
                                    &mut base,
                                    [("WHARF_IMAGE_DIGEST".to_string(), item.digest.clone())],
                                );
                            }
                            let _ = t.events.send(RunEvent::Produced {
                                job: job.id.clone(),
                                step: i,
                                item: item.clone(),
                            });
                            produced.push(item);
                        }
                        if let Some(record) = done.release {
                            let _ = t.events.send(RunEvent::Released {
                                job: job.id.clone(),
                                step: i,
                                record,
                            });
                        }
                        builtin_error = done.error;
                        done.outcome
                    }
                }
            }
        };
        let (st, code) = match &outcome {
            o if o.is_success() => (StepStatus::Success, o.exit_code()),
            StepOutcome::TimedOut => (StepStatus::TimedOut, None),
            StepOutcome::Cancelled => (StepStatus::Cancelled, None),
            o if step.continue_on_error => (StepStatus::FailedAllowed, o.exit_code()),
            o => (StepStatus::Failed, o.exit_code()),
        };
        finish_step(t, i, st, code, Some(log_rel));
        match st {
            StepStatus::Failed => {
                failed = true;
                exit_code = code;
                reason.get_or_insert_with(|| match (&outcome, builtin_error) {
                    (_, Some(why)) => format!("step `{}`: {why}", step.name),
                    (StepOutcome::FailedToStart(why), _) => format!("step `{}`: {why}", step.name),
                    (_, None) => format!("step `{}` exited with {}", step.name, code.unwrap_or(-1)),
                });
            }
            StepStatus::TimedOut => {
                failed = true;
                let step_own = step_deadline.is_some_and(|d| deadline.is_none_or(|j| d <= j));
                timed_out = true;
                reason = Some(if step_own {
                    format!("step `{}` timed out", step.name)
                } else {
                    "the job timed out".to_string()
                });
            }
            StepStatus::Cancelled => cancelled = true,
            _ => {}
        }
    }

    let mut run = JobRun {
        outcome: if cancelled {
            Outcome::Cancelled
        } else if timed_out {
            Outcome::TimedOut
        } else if failed {
            Outcome::Failed
        } else {
            Outcome::Success
        },
        exit_code,
        reason,
        outputs: BTreeMap::new(),
        artifacts: Vec::new(),
        produced,
    };
    drop(executor);
    if let Some(c) = containers {
        keep_service_logs(t, &c, last_step).await;
        c.stop().await;
    }
    if run.outcome == Outcome::Cancelled {
        return run;
    }
    crate::keep::reports_and_artifacts(t, &workspace, &mut run).await;
    match std::fs::metadata(&output_file) {
        Err(_) => {}
        Ok(m) if m.len() > outputs::MAX_OUTPUT_BYTES => {
            run.outcome = Outcome::Failed;
            run.reason = Some(format!(
                "$WHARF_OUTPUT holds {} bytes, over the {} byte limit",
                m.len(),
                outputs::MAX_OUTPUT_BYTES
            ));
        }
        Ok(_) => {
            let text = std::fs::read_to_string(&output_file).unwrap_or_default();
            let _ = std::fs::remove_file(&output_file);
            let (values, problems) = outputs::parse(&text, &job.outputs);
            for p in problems {
                noted_warning(t, last_step, &format!("$WHARF_OUTPUT: {p}"));
            }
            run.outputs = values.into_iter().map(|(k, v)| (k, mask(t, &v))).collect();
        }
    }
    if run.outcome == Outcome::Success
        && let Some((key, false)) = cache
    {
        save_cache(t, key, &workspace, last_step).await;
    }
    run.reason = run.reason.map(|r| mask(t, &r));
    run
}

/// Starts the job's container (`image:`) and services, rendering their templates with the
/// job's context; `None` for a job on the host without services.
async fn start_containers(
    t: &JobTask,
    workspace: &std::path::Path,
    env_map: &BTreeMap<String, String>,
) -> Result<Option<Arc<container::Running>>, String> {
    let job = &t.spec.plan.jobs[t.spec.index];
    if job.image.is_none() && job.services.is_empty() {
        return Ok(None);
    }
    let Some(engine) = &t.opts.containers else {
        return Err(
            "jobs with `image:` or `services:` need a Docker Engine, and this runner has none"
                .into(),
        );
    };
    let status = Status {
        success: true,
        failure: false,
        cancelled: false,
    };
    let render = |text: &str| -> Result<String, String> {
        let tpl = wharf_expr::parse_template(text).map_err(|e| e.to_string())?;
        tpl.render(&ctx(t, env_map, status))
            .map_err(|e| e.to_string())
    };
    let image = match &job.image {
        Some(i) => Some(render(i).map_err(|e| format!("image: {e}"))?),
        None => None,
    };
    let mut services = Vec::new();
    for s in &job.services {
        let mut env = BTreeMap::new();
        for (k, v) in &s.env {
            env.insert(
                k.clone(),
                render(v).map_err(|e| format!("service `{}`: env `{k}`: {e}", s.name))?,
            );
        }
        services.push(container::ServiceSpec {
            name: s.name.clone(),
            image: render(&s.image).map_err(|e| format!("service `{}`: image: {e}", s.name))?,
            env,
            ports: s.ports.clone(),
            health_cmd: s.health.as_ref().map(|h| h.cmd.clone()),
            health_interval: std::time::Duration::from_millis(
                s.health.as_ref().map_or(1000, |h| h.interval_ms),
            ),
            health_retries: s.health.as_ref().map_or(1, |h| h.retries),
        });
    }
    let spec = container::JobContainers {
        name: format!(
            "wharf-{}-{}-{}-{}",
            std::process::id(),
            t.opts.run,
            crate::workspace::slug(&job.id),
            t.spec.attempt
        ),
        image,
        mounts: vec![workspace.to_path_buf(), output_dir(&t.opts)],
        base: workspace.to_path_buf(),
        services,
    };
    let say = |line: String| note(t, 0, &line);
    match engine.start(&spec, &say).await {
        Ok(r) => Ok(Some(Arc::new(r))),
        Err(e) => {
            // The whole story (health output, the service's log) goes to the job's log;
            // the reason is its first line.
            let text = e.to_string();
            for line in text.lines().skip(1) {
                note(t, 0, line);
            }
            Err(text.lines().next().unwrap_or_default().to_string())
        }
    }
}

/// Keeps each service's log as an artifact of the run (`services/NAME.log`), not passed on
/// to later jobs.
async fn keep_service_logs(t: &JobTask, c: &container::Running, step: usize) {
    let job = &t.spec.plan.jobs[t.spec.index];
    for (name, text) in c.service_logs().await {
        let file = output_dir(&t.opts).join(format!(
            "{}-{}-service-{name}.log",
            t.spec.index, t.spec.attempt
        ));
        let stored = std::fs::write(&file, mask(t, &text)).and_then(|()| t.store.put(&file));
        let _ = std::fs::remove_file(&file);
        match stored {
            Ok((sha256, size)) => {
                let _ = t.events.send(RunEvent::ArtifactStored {
                    job: job.id.clone(),
                    path: format!("services/{name}.log"),
                    sha256,
                    size,
                    mode: 0o644,
                });
            }
            Err(e) => note(
                t,
                step,
                &format!("service `{name}`: its log was not kept: {e}"),
            ),
        }
    }
}

/// Restores the job's cache into `workspace`; returns its key and whether it was an exact
/// hit. A cache that cannot be read is a warning, never a failure (as on GitHub and GitLab).
async fn restore_cache(t: &JobTask, workspace: &std::path::Path) -> Option<(cache::Key, bool)> {
    let job = &t.spec.plan.jobs[t.spec.index];
    let (Some(plan), Some(store)) = (&job.cache, &t.opts.cache) else {
        return None;
    };
    let spec = cache::Spec {
        key: plan.key.clone(),
        paths: plan.paths.clone(),
        restore_keys: plan.restore_keys.clone(),
    };
    let scope = format!("{}/{}", t.spec.plan.pipeline, job.id);
    let (store, ws) = (store.clone(), workspace.to_path_buf());
    let started = Instant::now();
    let done = tokio::task::spawn_blocking(move || {
        let key = cache::JobCache::key(&ws, &scope, &spec)?;
        let restored = store.restore(&key, &ws)?;
        Ok::<_, cache::Error>((key, restored))
    })
    .await;
    let secs = started.elapsed().as_secs_f64();
    let (key, restored) = match done {
        Ok(Ok(x)) => x,
        Ok(Err(e)) => {
            noted_warning(t, 0, &format!("cache: not restored: {e}"));
            return None;
        }
        Err(e) => {
            noted_warning(t, 0, &format!("cache: not restored: {e}"));
            return None;
        }
    };
    for l in &key.left_out {
        noted_warning(t, 0, &format!("cache key: {l}"));
    }
    for glob in &key.unmatched {
        noted_warning(
            t,
            0,
            &format!("cache key `{glob}` matched no file; the key is made of the other parts"),
        );
    }
    let exact = match &restored {
        cache::Restored::Exact { files, bytes } => {
            note(
                t,
                0,
                &format!(
                    "cache: restored {} ({files} files, {}) in {secs:.2}s",
                    key.key,
                    cache::human(*bytes)
                ),
            );
            true
        }
        cache::Restored::Fallback {
            key: other,
            files,
            bytes,
        } => {
            note(
                t,
                0,
                &format!(
                    "cache: no entry for {}; restored {other} from a restore key ({files} files, {}) in {secs:.2}s",
                    key.key,
                    cache::human(*bytes)
                ),
            );
            false
        }
        cache::Restored::Miss => {
            note(t, 0, &format!("cache: no entry for {}", key.key));
            false
        }
    };
    Some((key, exact))
}

/// Saves the job's cache paths under its key (after a success whose key missed).
async fn save_cache(t: &JobTask, key: cache::Key, workspace: &std::path::Path, step: usize) {
    let job = &t.spec.plan.jobs[t.spec.index];
    let (Some(plan), Some(store)) = (&job.cache, &t.opts.cache) else {
        return;
    };
    let (store, ws, paths) = (store.clone(), workspace.to_path_buf(), plan.paths.clone());
    let started = Instant::now();
    let name = key.key.clone();
    let done = tokio::task::spawn_blocking(move || store.save(&key, &ws, &paths)).await;
    let secs = started.elapsed().as_secs_f64();
    let text = match done {
        Ok(Ok(cache::Saved::Stored {
            files,
            bytes,
            new_bytes,
            evicted,
            left_out,
        })) => {
            for l in &left_out {
                noted_warning(t, step, &format!("cache paths: {l}"));
            }
            let mut t = format!(
                "cache: saved {name} ({files} files, {}, {} new) in {secs:.2}s",
                cache::human(bytes),
                cache::human(new_bytes)
            );
            if evicted > 0 {
                t.push_str(&format!(
                    "; evicted {evicted} least recently used entr{} to stay under the cap",
                    if evicted == 1 { "y" } else { "ies" }
                ));
            }
            t
        }
        Ok(Ok(cache::Saved::Skipped(why))) => {
            return noted_warning(t, step, &format!("cache not saved: {why}"));
        }
        Ok(Err(e)) => return noted_warning(t, step, &format!("cache not saved: {e}")),
        Err(e) => return noted_warning(t, step, &format!("cache not saved: {e}")),
    };
    note(t, step, &text);
}

/// The masks of this job: the run's, and its own secrets when a gate gave them.
fn task_masks(t: &JobTask) -> Option<&Arc<wharf_secrets::mask::MaskSet>> {
    match &t.gated {
        Some(g) => g.masks.as_ref(),
        None => t.opts.masks.as_ref(),
    }
}

/// `text` with every secret of the run masked.
pub(crate) fn mask(t: &JobTask, text: &str) -> String {
    match task_masks(t) {
        Some(m) if !m.is_empty() => m.mask_str(text),
        _ => text.to_string(),
    }
}

/// The directory of a run's `$WHARF_OUTPUT` files.
pub(crate) fn output_dir(opts: &RunOptions) -> PathBuf {
    opts.wharf_dir.join("tmp").join(format!("run-{}", opts.run))
}

fn ctx<'a>(t: &'a JobTask, env: &'a BTreeMap<String, String>, status: Status) -> JobContext<'a> {
    JobContext {
        plan: &t.spec.plan,
        job: &t.spec.plan.jobs[t.spec.index],
        outputs: &t.spec.outputs,
        results: &t.spec.results,
        env,
        status,
    }
}

/// Renders `templates` into `env`. A value that reads `env.X` of another value of the
/// same map is rendered after it, whatever their order (the map is sorted by name, not by
/// file position); in a cycle, the values left see what `env` held before.
fn render_into(
    t: &JobTask,
    templates: &BTreeMap<String, String>,
    env: &mut BTreeMap<String, String>,
    status: Status,
) -> Result<(), String> {
    let mut parsed = Vec::with_capacity(templates.len());
    for (k, v) in templates {
        if v.contains("${{") {
            let tpl = wharf_expr::parse_template(v).map_err(|e| format!("env `{k}`: {e}"))?;
            let deps: Vec<String> = tpl
                .references()
                .into_iter()
                .filter(|r| r.path.len() == 2 && r.path[0] == "env" && r.path[1] != *k)
                .map(|r| r.path[1].clone())
                .filter(|d| templates.contains_key(d))
                .collect();
            parsed.push((k, Some((tpl, deps))));
        } else {
            parsed.push((k, None));
        }
    }
    let mut done: Vec<&String> = Vec::with_capacity(parsed.len());
    while !parsed.is_empty() {
        let ready = parsed
            .iter()
            .position(|(_, p)| {
                p.as_ref()
                    .is_none_or(|(_, deps)| deps.iter().all(|d| done.contains(&d)))
            })
            .unwrap_or(0);
        let (k, p) = parsed.remove(ready);
        let value = match p {
            None => templates[k].clone(),
            Some((tpl, _)) => {
                let snapshot = env.clone();
                tpl.render(&ctx(t, &snapshot, status))
                    .map_err(|e| format!("env `{k}`: {e}"))?
            }
        };
        env.insert(k.clone(), value);
        done.push(k);
    }
    Ok(())
}

fn finish_step(
    t: &JobTask,
    step: usize,
    status: StepStatus,
    exit_code: Option<i32>,
    log: Option<String>,
) {
    let _ = t.events.send(RunEvent::StepFinished {
        job: t.spec.plan.jobs[t.spec.index].id.clone(),
        step,
        status,
        exit_code,
        log,
        at: now_ms(),
    });
}

/// A warning about the job (`step`: the step it is about, if one), secrets masked:
/// recorded with the run and listed under its summary and in `wharf show`.
pub(crate) fn warn(t: &JobTask, step: Option<usize>, message: &str) {
    let _ = t.events.send(RunEvent::Warning {
        job: t.spec.plan.jobs[t.spec.index].id.clone(),
        step,
        message: mask(t, message),
    });
}

/// A warning about the job: a line in its live output (`warning: …`, as before) and a
/// run warning the summary, `wharf show` and `--json` carry.
fn noted_warning(t: &JobTask, step: usize, message: &str) {
    let line = if message.starts_with("cache: not restored") || message.starts_with("$WHARF_OUTPUT")
    {
        message.to_string()
    } else {
        format!("warning: {message}")
    };
    note(t, step, &line);
    warn(t, Some(step), message);
}

/// A line from wharf about the job, shown live (not part of a step's log file).
fn note(t: &JobTask, step: usize, text: &str) {
    let text = mask(t, &format!("wharf: {text}"));
    t.opts.text_pool.force(text.capacity());
    let _ = t.events.send(RunEvent::Lines {
        job: t.spec.plan.jobs[t.spec.index].id.clone(),
        step,
        stream: LogStream::Stderr,
        text,
    });
}
