//! `wharf run`: plan the pipelines the event triggers, run them, record and show them.

use std::io::IsTerminal;
use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use anyhow::Context as _;
use tokio::sync::{mpsc, watch};
use wharf_model::{Event, EventKind, JobInfo, Plan, RunEvent, RunStatus};

use crate::cli::{EventArg, RunArgs};
use crate::exit::{ExitStatus, UserError};
use crate::output::view::RunView;
use crate::output::{Mode, Renderer};
use crate::{project, secret_env};

/// Runs `wharf run`.
pub async fn run(dir: &Path, args: RunArgs) -> anyhow::Result<ExitStatus> {
    let root = project::find_root(dir)?;
    let pipelines = project::load(&root)?;
    let event = build_event(&root, &args)?;

    let overrides = env_overrides(&args.env)?;
    let mut plans = Vec::new();
    for p in &pipelines {
        if !p.matches(&event) {
            continue;
        }
        let names = p.job_names();
        let only: Vec<String> = args
            .jobs
            .iter()
            .filter(|j| names.contains(&j.as_str()))
            .cloned()
            .collect();
        if !args.jobs.is_empty() && only.is_empty() {
            continue;
        }
        let mut ev = event.clone();
        p.resolve_inputs(&mut ev)
            .map_err(|m| UserError::invalid(format!("pipeline `{}`: {m}", p.name())))?;
        let planned = if args.no_deps {
            p.plan_without_needs(&ev, &only)
        } else {
            p.plan(&ev, &only)
        };
        let mut plan = planned.map_err(|d| {
            eprint!("{}", d.render(console::colors_enabled_stderr()));
            UserError::invalid(format!("cannot plan pipeline `{}`", p.name()))
        })?;
        for (k, v) in &overrides {
            plan.env.insert(k.clone(), v.clone());
        }
        plans.push(plan);
    }
    for wanted in &args.jobs {
        let known = pipelines
            .iter()
            .any(|p| p.job_names().contains(&wanted.as_str()));
        if !known {
            return Err(UserError::invalid(format!("no job named `{wanted}`"))
                .hint(format!("jobs: {}", all_jobs(&pipelines)))
                .into());
        }
    }
    if plans.is_empty() {
        eprintln!(
            "no pipeline runs for this event ({}); nothing to do",
            describe(&event)
        );
        eprintln!("  hint: each pipeline's `on:` says which events start it; try --event manual");
        return Ok(ExitStatus::Success);
    }
    if args.dry_run {
        if args.json {
            println!("{}", serde_json::to_string_pretty(&plans)?);
        } else {
            for plan in &plans {
                println!(
                    "pipeline {} ({}) for {}",
                    plan.pipeline,
                    plan.file,
                    describe(&plan.event)
                );
                print!("{}", wharf_pipeline::graph::text(plan));
            }
        }
        return Ok(ExitStatus::Success);
    }

    let mode = if args.json {
        Mode::Json
    } else if args.plain || !std::io::stderr().is_terminal() {
        Mode::Plain
    } else {
        Mode::Live
    };
    let wharf_dir = project::state_dir(&root);
    let store = wharf_store::Store::open(&wharf_dir)
        .await
        .with_context(|| format!("opening the run history in {}", wharf_dir.display()))?;
    // Every plan's secrets before any job runs: a missing one must stop everything.
    let mut secrets = Vec::new();
    for plan in &plans {
        let source = if args.secrets_from_env {
            secret_env::Source::Environment
        } else {
            secret_env::Source::Store
        };
        let resolved = secret_env::resolve(&store, plan, source).await?;
        if !resolved.withheld.is_empty() {
            eprintln!(
                "warning: pull_request run: secrets withheld from {} (set `on.pull_request.secrets: true` only for trusted pipelines)",
                resolved.withheld.join(", ")
            );
        }
        secrets.push(resolved);
    }
    let job_cache = Arc::new(project::job_cache(&root)?);
    // Before any job: a run that needs containers and has no engine stops here.
    let needs_engine = plans
        .iter()
        .flat_map(|p| &p.jobs)
        .any(|j| j.image.is_some() || !j.services.is_empty());
    let containers = if needs_engine {
        let c = wharf_engine::container::Containers::connect()
            .await
            .map_err(|e| UserError::invalid(e.to_string()))?;
        let reaped = c.reap().await;
        if reaped > 0 {
            eprintln!("removed {reaped} container(s) left by a wharf that was killed");
        }
        Some(c)
    } else {
        None
    };
    let interrupt = interrupt_counter();
    let mut worst = ExitStatus::Success;
    for (plan, resolved) in plans.into_iter().zip(secrets) {
        let status = execute(
            &root,
            &store,
            plan,
            resolved,
            &args,
            Shared {
                mode,
                interrupt: interrupt.clone(),
                job_cache: job_cache.clone(),
                containers: containers.clone(),
            },
        )
        .await?;
        let exit = match status {
            RunStatus::Success => ExitStatus::Success,
            RunStatus::Cancelled | RunStatus::Interrupted => ExitStatus::Interrupted,
            RunStatus::Failed | RunStatus::Running => ExitStatus::Failure,
        };
        if exit != ExitStatus::Success && worst == ExitStatus::Success {
            worst = exit;
        }
        if exit == ExitStatus::Interrupted {
            break;
        }
    }
    Ok(worst)
}

/// What every plan of one `wharf run` shares.
struct Shared {
    mode: Mode,
    interrupt: watch::Receiver<u32>,
    job_cache: Arc<wharf_engine::cache::JobCache>,
    containers: Option<wharf_engine::container::Containers>,
}

async fn execute(
    root: &Path,
    store: &wharf_store::Store,
    plan: Plan,
    secrets: secret_env::Resolved,
    args: &RunArgs,
    shared: Shared,
) -> anyhow::Result<RunStatus> {
    let Shared {
        mode,
        interrupt,
        job_cache,
        containers,
    } = shared;
    let wharf_dir = project::state_dir(root);
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
        .context("recording the new run")?;

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
    let text_pool = Arc::new(wharf_engine::logs::TextPool::default());
    let consumer = tokio::spawn(consume(
        rx,
        store.clone(),
        number,
        mode,
        engine_done.clone(),
        text_pool.clone(),
    ));

    // With --no-deps the CI platform's checkout is the job's fresh workspace already, and
    // the artifacts it passes on are in the project directory.
    let workspaces = if args.no_deps {
        None
    } else {
        let (root, state, keep) = (root.to_path_buf(), wharf_dir.clone(), args.keep_workspaces);
        let prepared = tokio::task::spawn_blocking(move || {
            wharf_engine::Workspaces::prepare(&root, &state, number, keep)
        })
        .await
        .context("the workspace task failed")?;
        let ws = match prepared {
            Ok(ws) => ws,
            Err(e) => {
                let end = RunEvent::RunFinished {
                    status: RunStatus::Failed,
                    at: wharf_engine::now_ms(),
                };
                let _ = store.record(number, &[end]).await;
                return Err(anyhow::Error::new(e).context("preparing the jobs' workspaces"));
            }
        };
        if keep {
            eprintln!(
                "workspaces are kept in {}",
                wharf_dir
                    .join("workspaces")
                    .join(number.to_string())
                    .display()
            );
        }
        Some(Arc::new(ws))
    };
    let log_dir = wharf_dir.clone();
    let opts = wharf_engine::RunOptions {
        run: number,
        workspace: root.to_path_buf(),
        workspaces: workspaces.clone(),
        // With --no-deps the platform's own cache (what the export maps `cache:` to) has
        // restored the paths already.
        cache: (!args.no_deps).then_some(job_cache),
        containers,
        wharf_dir: wharf_dir.clone(),
        max_parallel: args.parallel.max(1),
        kill_grace: Duration::from_secs(args.kill_grace),
        host_env: wharf_engine::env::host_env(std::env::vars()),
        log_path: Box::new(move |run, job, step| wharf_store::log_path(&log_dir, run, job, step)),
        masks: secrets.masks,
        secrets: secrets.by_job,
        text_pool,
        builtins: Some(Arc::new(wharf_builtins::Builtins)),
        known_releases: store
            .list_releases()
            .await
            .context("reading the recorded releases")?
            .into_iter()
            .map(|r| (r.version, r.commit))
            .collect(),
        handoffs: if args.no_deps {
            crate::handoff::load(&wharf_dir)
        } else {
            Vec::new()
        },
    };
    let plan = Arc::new(plan);
    let artifacts = Arc::new(Artifacts(wharf_store::ArtifactStore::new(&wharf_dir)));
    let status = wharf_engine::run(
        plan.clone(),
        opts,
        Arc::new(wharf_engine::LocalExecutor::new()),
        artifacts,
        tx,
        interrupt,
    )
    .await;
    engine_done.notify_one();
    consumer.await.context("the output task failed")?;
    if let Some(ws) = workspaces {
        ws.finish().await;
    }
    if args.no_deps {
        // For the platform jobs after this one (see handoff.rs).
        if let Some(record) = store.get_run(number).await? {
            crate::handoff::write(&wharf_dir, &plan, &record).with_context(|| {
                format!(
                    "writing handoff files in {}",
                    crate::handoff::dir(&wharf_dir).display()
                )
            })?;
        }
    }
    Ok(status)
}

/// How long the recorder gathers events before writing them in one transaction. A crash
/// loses at most this much of the run's record (its logs are already on disk, and the run
/// is marked interrupted on the next start); per-event transactions would cost more than
/// a whole step.
const RECORD_WINDOW: Duration = Duration::from_millis(100);

/// How long the display waits between batches of events when output is light.
const DISPLAY_BATCH: Duration = Duration::from_millis(5);

/// Below this many events in a batch, output counts as light.
const LIGHT_BATCH: usize = 256;

/// Renders events as they come and records them in the store in time-windowed batches.
async fn consume(
    mut rx: mpsc::UnboundedReceiver<RunEvent>,
    store: wharf_store::Store,
    run: u64,
    mode: Mode,
    engine_done: Arc<tokio::sync::Notify>,
    text_pool: Arc<wharf_engine::logs::TextPool>,
) {
    let mut renderer = Renderer::new(mode);
    let mut view = RunView::default();
    let mut pending: Vec<RunEvent> = Vec::with_capacity(256);
    let mut flush_at: Option<tokio::time::Instant> = None;
    let mut warned = false;
    loop {
        tokio::select! {
            ev = rx.recv() => {
                let Some(first) = ev else { break };
                let mut next = Some(first);
                let mut n = 0;
                let mut ended = false;
                while let Some(ev) = next.take() {
                    ended |= matches!(ev, RunEvent::RunFinished { .. });
                    let job = view.apply(&ev);
                    renderer.event(&view, job, &ev);
                    match ev {
                        // Shown; the buffer goes back to the engine.
                        RunEvent::Lines { text, .. } => text_pool.give(text),
                        ev => pending.push(ev),
                    }
                    n += 1;
                    if n < 65_536 {
                        next = rx.try_recv().ok();
                    }
                }
                renderer.flush();
                if !pending.is_empty() && flush_at.is_none() {
                    flush_at = Some(tokio::time::Instant::now() + RECORD_WINDOW);
                }
                // Let events pile up a little: waking this task for every event of every
                // job costs the engine a cross-thread hand-off each time, and 5 ms is
                // below what a person watching can notice. Never after the last event.
                // Only when output is light: under a flood of log lines the batches are
                // large anyway, and sleeping would let the queue grow without bound.
                if !ended && n < LIGHT_BATCH {
                    tokio::select! {
                        _ = tokio::time::sleep(DISPLAY_BATCH) => {}
                        _ = engine_done.notified() => {}
                    }
                }
            }
            _ = tokio::time::sleep_until(flush_at.unwrap_or_else(tokio::time::Instant::now)), if flush_at.is_some() => {
                record(&store, run, &mut pending, &mut warned).await;
                flush_at = None;
            }
        }
    }
    record(&store, run, &mut pending, &mut warned).await;
    renderer.finish(&view);
}

async fn record(
    store: &wharf_store::Store,
    run: u64,
    pending: &mut Vec<RunEvent>,
    warned: &mut bool,
) {
    if pending.is_empty() {
        return;
    }
    if let Err(e) = store.record(run, pending).await
        && !*warned
    {
        *warned = true;
        eprintln!("warning: could not record run #{run} in the history: {e}");
    }
    pending.clear();
}

/// Counts Ctrl-C / SIGTERM deliveries; the engine cancels the run on the first.
fn interrupt_counter() -> watch::Receiver<u32> {
    let (tx, rx) = watch::channel(0u32);
    tokio::spawn(async move {
        let mut term =
            tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()).ok();
        loop {
            tokio::select! {
                r = tokio::signal::ctrl_c() => if r.is_err() { break },
                Some(()) = async { match term.as_mut() { Some(t) => t.recv().await, None => std::future::pending().await } } => {},
            }
            let count = {
                tx.send_modify(|c| *c += 1);
                *tx.borrow()
            };
            if count == 1 {
                eprintln!(
                    "\nstopping: cancelling running jobs (press Ctrl-C again to exit at once)"
                );
            } else {
                eprintln!("\nexiting without waiting for steps to stop");
                std::process::exit(130);
            }
        }
    });
    rx
}

fn build_event(root: &Path, args: &RunArgs) -> Result<Event, UserError> {
    if args.from_ci {
        let mut e = crate::ci_env::event_from_process()?;
        if e.sha.is_none() {
            e.sha = wharf_builtins::git::head(root).0;
        }
        return Ok(e);
    }
    let kind = match args.event {
        EventArg::Push => EventKind::Push,
        EventArg::Tag => EventKind::Tag,
        EventArg::PullRequest => EventKind::PullRequest,
        EventArg::Schedule => EventKind::Schedule,
        EventArg::Manual => EventKind::Manual,
    };
    let mut e = Event::new(kind);
    let (head_sha, head_branch) = if args.sha.is_some() && args.branch.is_some() {
        (None, None)
    } else {
        wharf_builtins::git::head(root)
    };
    e.sha = args.sha.clone().or(head_sha);
    e.actor = std::env::var("USER").ok();
    if kind == EventKind::Tag {
        let tag = args
            .tag
            .clone()
            .or_else(|| wharf_builtins::git::tag_at_head(root))
            .ok_or_else(|| {
                UserError::invalid("--event tag needs a tag, and no tag points at HEAD")
                    .hint("pass --tag v1.2.3")
            })?;
        e.version = Event::version_from_tag(&tag);
        e.tag = Some(tag);
        e.branch = args.branch.clone();
    } else {
        if args.tag.is_some() {
            return Err(UserError::invalid("--tag is only for --event tag")
                .hint("use --event tag --tag v1.2.3"));
        }
        e.branch = args.branch.clone().or(head_branch);
    }
    if !args.inputs.is_empty() && kind != EventKind::Manual {
        return Err(UserError::invalid("--input is only for --event manual")
            .hint("use --event manual --input NAME=VALUE"));
    }
    for kv in &args.inputs {
        let (k, v) = kv.split_once('=').ok_or_else(|| {
            UserError::invalid(format!("--input `{kv}` is not NAME=VALUE"))
                .hint("e.g. --input target=staging")
        })?;
        e.inputs.insert(k.to_string(), v.to_string());
    }
    Ok(e)
}

/// `--env NAME=VALUE` pairs, checked: a valid name, not `WHARF_*`, a literal value.
fn env_overrides(pairs: &[String]) -> Result<Vec<(String, String)>, UserError> {
    pairs
        .iter()
        .map(|kv| {
            let (k, v) = kv.split_once('=').ok_or_else(|| {
                UserError::invalid(format!("--env `{kv}` is not NAME=VALUE")).hint("e.g. --env REGISTRY=127.0.0.1:5000")
            })?;
            let valid = k.chars().next().is_some_and(|c| c.is_ascii_alphabetic() || c == '_')
                && k.chars().all(|c| c.is_ascii_alphanumeric() || c == '_');
            if !valid || k.starts_with("WHARF_") {
                return Err(UserError::invalid(format!("--env: `{k}` cannot be set"))
                    .hint("use letters, digits and `_`, not starting with a digit; `WHARF_*` names are wharf's"));
            }
            if v.contains("${{") {
                return Err(UserError::invalid(format!("--env {k}: the value is taken literally and may not contain `${{{{`"))
                    .hint("expressions belong in the pipeline file"));
            }
            Ok((k.to_string(), v.to_string()))
        })
        .collect()
}

fn describe(e: &Event) -> String {
    let mut s = format!("{} event", e.kind);
    if let Some(t) = &e.tag {
        s.push_str(&format!(", tag `{t}`"));
    }
    if let Some(b) = &e.branch {
        s.push_str(&format!(", branch `{b}`"));
    }
    s
}

fn all_jobs(pipelines: &[wharf_pipeline::Pipeline]) -> String {
    pipelines
        .iter()
        .flat_map(|p| p.job_names())
        .collect::<Vec<_>>()
        .join(", ")
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
