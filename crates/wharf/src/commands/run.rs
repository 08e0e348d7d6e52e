//! `wharf run`: plan the pipelines the event triggers, run them, record and show them.

use std::io::IsTerminal;
use std::path::Path;
use std::time::Duration;

use anyhow::Context as _;
use tokio::sync::watch;
use wharf_model::{Event, EventKind, RunEvent, RunStatus};

use crate::cli::{EventArg, RunArgs};
use crate::exit::{ExitStatus, UserError};
use crate::output::view::RunView;
use crate::output::{Mode, Renderer};
use crate::project;

/// Runs `wharf run`: flags -> event and selection -> the runtime -> exit code.
pub async fn run(dir: &Path, args: RunArgs) -> anyhow::Result<ExitStatus> {
    let root = project::find_root(dir)?;
    let pipelines = project::load(&root)?;
    if let Some(which) = &args.rerun_failed {
        return rerun_failed(&root, &pipelines, which, &args).await;
    }
    let mut event = build_event(&root, &args)?;
    let base = changed_files(&root, &args, &mut event)?;
    let selection = wharf_runtime::Selection {
        jobs: args.jobs.clone(),
        no_deps: args.no_deps,
        env: env_overrides(&args.env)?,
        matrix_env: if args.from_ci {
            crate::ci_env::matrix_from_process()
        } else {
            Default::default()
        },
    };
    let plans = wharf_runtime::select(&pipelines, &event, &selection).map_err(user_error)?;
    if plans.is_empty() {
        if args.dry_run && !args.json {
            explain_paths(&pipelines, &event, base.as_deref());
        }
        eprintln!(
            "no pipeline runs for this event ({}); nothing to do",
            describe(&event)
        );
        eprintln!("  hint: each pipeline's `on:` says which events start it; try --event manual");
        return Ok(ExitStatus::Success);
    }
    if args.dry_run {
        if args.json {
            outln!("{}", serde_json::to_string_pretty(&plans)?);
        } else {
            explain_paths(&pipelines, &event, base.as_deref());
            for plan in &plans {
                outln!(
                    "pipeline {} ({}) for {}",
                    plan.pipeline,
                    plan.file,
                    describe(&plan.event)
                );
                out!("{}", wharf_pipeline::graph::text(plan));
            }
        }
        return Ok(ExitStatus::Success);
    }

    execute(&root, &pipelines, plans, Vec::new(), &args).await
}

/// Runs `plans` through the runtime and turns how they ended into the exit code.
async fn execute(
    root: &Path,
    pipelines: &[wharf_pipeline::Pipeline],
    plans: Vec<wharf_model::Plan>,
    reuse: Vec<wharf_model::Handoff>,
    args: &RunArgs,
) -> anyhow::Result<ExitStatus> {
    let root = root.to_path_buf();
    let mode = if args.json {
        Mode::Json
    } else if args.plain || !std::io::stderr().is_terminal() {
        Mode::Plain
    } else {
        Mode::Live
    };
    let state_dir = project::state_dir(&root);
    let store = wharf_store::Store::open(&state_dir)
        .await
        .with_context(|| format!("opening the run history in {}", state_dir.display()))?;
    let request = wharf_runtime::RunRequest {
        root: root.clone(),
        state_dir,
        max_parallel: args.parallel,
        kill_grace: Duration::from_secs(args.kill_grace),
        keep_workspaces: args.keep_workspaces,
        no_deps: args.no_deps,
        secrets: if args.secrets_from_env {
            wharf_runtime::SecretSource::Environment
        } else {
            wharf_runtime::SecretSource::Store
        },
        key_file: None,
        display: true,
        host_env: wharf_engine::env::host_env(std::env::vars()),
        cache: project::job_cache(&root)?,
        reuse,
        gate_log: None,
    };
    let interrupt = interrupt_counter();
    let mut plans = plans;
    let mut all = Vec::new();
    // A run's end starts the pipelines that follow it (`on.pipeline`), as on the server;
    // not one platform job of an exported file (`--no-deps`): the platform chains those.
    while !plans.is_empty() {
        let ran: Vec<(String, wharf_model::Event)> = plans
            .iter()
            .map(|p| (p.pipeline.clone(), p.event.clone()))
            .collect();
        let finished = wharf_runtime::run(
            &store,
            plans,
            &request,
            &mut || Box::new(Display::new(mode)),
            interrupt.clone(),
            &|w| eprintln!("{w}"),
        )
        .await
        .map_err(user_error)?;
        plans = Vec::new();
        if !args.no_deps {
            for ((name, event), f) in ran.iter().zip(&finished) {
                match wharf_runtime::event::followers(pipelines, event, name, f.run, f.status) {
                    Ok(None) => {}
                    Err(why) => eprintln!("warning: {why}"),
                    Ok(Some(next)) => {
                        let more = wharf_runtime::select(
                            pipelines,
                            &next,
                            &wharf_runtime::Selection::default(),
                        )
                        .map_err(user_error)?;
                        for p in &more {
                            eprintln!(
                                "run #{} of {name} ended: starting {} (on.pipeline)",
                                f.run, p.pipeline
                            );
                        }
                        plans.extend(more);
                    }
                }
            }
        }
        all.extend(finished);
    }
    let mut worst = ExitStatus::Success;
    for f in all {
        let exit = match f.status {
            RunStatus::Success => ExitStatus::Success,
            RunStatus::Cancelled | RunStatus::Interrupted => ExitStatus::Interrupted,
            RunStatus::Failed | RunStatus::Running => ExitStatus::Failure,
        };
        if exit != ExitStatus::Success && worst == ExitStatus::Success {
            worst = exit;
        }
    }
    Ok(worst)
}

/// `wharf run --rerun-failed [RUN]`.
async fn rerun_failed(
    root: &Path,
    pipelines: &[wharf_pipeline::Pipeline],
    which: &str,
    args: &RunArgs,
) -> anyhow::Result<ExitStatus> {
    let number = match which {
        "latest" => None,
        n => Some(n.trim_start_matches('#').parse::<u64>().map_err(|_| {
            UserError::invalid(format!("--rerun-failed {n}: not a run number"))
                .hint("e.g. `wharf run --rerun-failed 3`, or without a number for the latest run")
        })?),
    };
    let Some((_, store)) = crate::commands::history::open(root).await? else {
        return Err(crate::commands::history::no_runs());
    };
    let previous = crate::commands::history::find_run(&store, number).await?;
    drop(store);
    let Some(rerun) = wharf_runtime::rerun_failed(pipelines, &previous).map_err(user_error)? else {
        eprintln!(
            "run #{} has no failed jobs: nothing to re-run",
            previous.summary.number
        );
        return Ok(ExitStatus::Success);
    };
    let after = rerun.plan.jobs.len().saturating_sub(rerun.failed.len());
    eprintln!(
        "re-running the failed jobs of run #{} ({}){}{}",
        previous.summary.number,
        rerun.failed.join(", "),
        if after > 0 {
            format!(
                " and the {after} job{} after them",
                if after == 1 { "" } else { "s" }
            )
        } else {
            String::new()
        },
        if rerun.reused.is_empty() {
            String::new()
        } else {
            format!(
                "; reusing the results, outputs and artifacts of {}",
                rerun
                    .reused
                    .iter()
                    .map(|h| h.job.as_str())
                    .collect::<Vec<_>>()
                    .join(", ")
            )
        }
    );
    if args.dry_run {
        if args.json {
            outln!("{}", serde_json::to_string_pretty(&[&rerun.plan])?);
        } else {
            out!("{}", wharf_pipeline::graph::text(&rerun.plan));
        }
        return Ok(ExitStatus::Success);
    }
    execute(root, pipelines, vec![rerun.plan], rerun.reused, args).await
}

/// The runtime's errors as the CLI shows them: bad input with its hint (exit 2), a plan's
/// diagnostics printed with their positions.
pub(crate) fn user_error(e: wharf_runtime::Error) -> anyhow::Error {
    match e {
        wharf_runtime::Error::Invalid { message, hint } => {
            let u = UserError::invalid(message);
            match hint {
                Some(h) => u.hint(h).into(),
                None => u.into(),
            }
        }
        wharf_runtime::Error::Plan {
            pipeline,
            diagnostics,
        } => {
            eprint!("{}", diagnostics.render(console::colors_enabled_stderr()));
            UserError::invalid(format!("cannot plan pipeline `{pipeline}`")).into()
        }
        other => anyhow::Error::new(other),
    }
}

/// The terminal's view of a run: the live display, plain lines or JSON events.
struct Display {
    renderer: Renderer,
    view: RunView,
}

impl Display {
    fn new(mode: Mode) -> Display {
        Display {
            renderer: Renderer::new(mode),
            view: RunView::default(),
        }
    }
}

impl wharf_runtime::Observer for Display {
    fn event(&mut self, ev: &RunEvent) {
        let job = self.view.apply(ev);
        self.renderer.event(&self.view, job, ev);
    }

    fn flush(&mut self) {
        self.renderer.flush();
    }

    fn finish(&mut self) {
        self.renderer.finish(&self.view);
    }

    fn warn(&mut self, text: &str) {
        eprintln!("warning: {text}");
    }
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
    e.actor = crate::project::local_user();
    if kind == EventKind::Tag {
        let tag = args
            .tag
            .clone()
            .or_else(|| wharf_builtins::git::tag_at_head(root))
            .ok_or_else(|| {
                UserError::invalid("--event tag needs a tag, and no tag points at HEAD")
                    .hint("pass --tag v1.2.3")
            })?;
        match wharf_runtime::event::check_tag(root, &tag, e.sha.as_deref(), args.sha.is_some()) {
            Ok(Some(warning)) => eprintln!("warning: {warning}"),
            Ok(None) => {}
            Err(wharf_runtime::Error::Invalid { message, hint }) => {
                let u = UserError::invalid(message);
                return Err(match hint {
                    Some(h) => u.hint(h),
                    None => u,
                });
            }
            Err(e) => return Err(UserError::invalid(e.to_string())),
        }
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

/// For a push: the files changed since `--base` (default: the branch's upstream), so that
/// `on.push.paths` filters judge them as on the server. Returns the base used, if any.
fn changed_files(
    root: &Path,
    args: &RunArgs,
    event: &mut Event,
) -> Result<Option<String>, anyhow::Error> {
    if args.from_ci || event.kind != EventKind::Push {
        return Ok(None);
    }
    let found =
        wharf_runtime::event::changes_since(root, args.base.as_deref()).map_err(user_error)?;
    Ok(found.map(|(base, files)| {
        event.changed_paths = Some(files);
        base
    }))
}

/// `--dry-run`: which files changed, and why each pipeline with an `on.push.paths` filter
/// starts or not.
fn explain_paths(pipelines: &[wharf_pipeline::Pipeline], event: &Event, base: Option<&str>) {
    if event.kind != EventKind::Push {
        return;
    }
    let filtered: Vec<_> = pipelines
        .iter()
        .filter(|p| {
            p.triggers()
                .is_some_and(|t| t.push.as_ref().is_some_and(|p| p.paths.is_some()))
        })
        .collect();
    match (&event.changed_paths, base) {
        (Some(files), Some(base)) => {
            outln!(
                "changed since {base} (merge base, plus uncommitted changes): {} file{}{}{}",
                files.len(),
                if files.len() == 1 { "" } else { "s" },
                if files.is_empty() { "" } else { ": " },
                some_of(files, 10)
            );
        }
        _ if !filtered.is_empty() => {
            outln!(
                "path filters not applied: no --base given and the branch has no upstream \
                 (every pipeline runs as if its paths matched)"
            );
        }
        _ => {}
    }
    for p in filtered {
        let Some((patterns, hits)) = p.triggers().and_then(|t| t.paths_verdict(event)) else {
            continue;
        };
        if hits.is_empty() {
            outln!(
                "pipeline {}: not started: no changed file matches on.push.paths [{}]",
                p.name(),
                patterns.join(", ")
            );
        } else {
            outln!(
                "pipeline {}: started: on.push.paths [{}] matches {}",
                p.name(),
                patterns.join(", "),
                some_of(&hits, 5)
            );
        }
    }
}

/// The first `n` of `items`, then how many more: `a, b and 3 more`.
fn some_of(items: &[String], n: usize) -> String {
    let mut text = items
        .iter()
        .take(n)
        .map(String::as_str)
        .collect::<Vec<_>>()
        .join(", ");
    if items.len() > n {
        text.push_str(&format!(" and {} more", items.len() - n));
    }
    text
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
