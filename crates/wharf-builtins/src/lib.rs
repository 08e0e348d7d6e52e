//! The built-in steps (`package:`, `build-image:`, `publish-python:`, `release:`), run for
//! the engine with the package, OCI, publish and release crates. One file per step kind;
//! this one dispatches and turns cancellation, deadlines and errors into the step's
//! outcome.
//!
//! They touch no store: what a step produces (packages, pushed digests, the release record)
//! goes back in its [`BuiltinOutcome`], and the engine turns it into run events that the
//! recorder stores. Every front end (the CLI, the server, an agent) runs them the same way.

mod evidence;
pub mod git;
mod image;
pub mod images;
mod load_test;
mod package;
mod policy;
pub mod publish;
pub mod push;
mod release;

pub use evidence::IN_TOTO;

use std::path::{Component, Path, PathBuf};

use tokio::sync::watch;
use wharf_engine::logs::LogWriter;
use wharf_engine::{BoxFuture, BuiltinOutcome, BuiltinRequest, BuiltinRunner, StepOutcome};
use wharf_model::{Builtin, LogStream, Produced};

/// The [`BuiltinRunner`] every front end gives the engine.
#[derive(Debug, Default)]
pub struct Builtins;

/// What a built-in step's body returns: what it produced, or why it failed.
type StepResult = Result<Vec<Produced>, String>;

impl BuiltinRunner for Builtins {
    fn run(
        &self,
        req: BuiltinRequest,
        cancel: watch::Receiver<bool>,
        log: LogWriter,
    ) -> BoxFuture<BuiltinOutcome> {
        Box::pin(run(req, cancel, log))
    }
}

async fn run(
    req: BuiltinRequest,
    mut cancel: watch::Receiver<bool>,
    mut log: LogWriter,
) -> BuiltinOutcome {
    let deadline = req.deadline;
    let step_cancel = cancel.clone();
    let mut released = None;
    let mut warnings = Vec::new();
    // What a step keeps even when it fails (a load test's report of the thresholds it
    // missed).
    let mut kept_on_failure = Vec::new();
    let body = async {
        match &req.builtin {
            Builtin::Package(p) => package::run(&req, p, &mut log).await,
            Builtin::BuildImage(b) => image::run(&req, b, &mut log, &mut warnings).await,
            Builtin::PublishPython(p) => publish::run(&req, p, &mut log).await,
            Builtin::Policy(p) => policy::run(&req, p, &mut log).await,
            Builtin::LoadTest(l) => {
                load_test::run(&req, l, step_cancel, &mut log, &mut kept_on_failure).await
            }
            Builtin::Release(r) => {
                release::run(&req, r, &mut log, &mut warnings)
                    .await
                    .map(|(record, kept)| {
                        released = record;
                        kept
                    })
            }
        }
    };
    let stopped = async {
        let sleep = async {
            match deadline {
                Some(d) => tokio::time::sleep_until(d).await,
                None => std::future::pending().await,
            }
        };
        tokio::select! {
            _ = cancel.wait_for(|c| *c) => StepOutcome::Cancelled,
            _ = sleep => StepOutcome::TimedOut,
        }
    };
    let result = tokio::select! {
        r = body => Ok(r),
        s = stopped => Err(s),
    };
    let (outcome, produced, error) = match result {
        Ok(Ok(produced)) => (StepOutcome::Exited(0), produced, None),
        Ok(Err(e)) => {
            log.write(LogStream::Stderr, format!("error: {e}\n").as_bytes());
            (StepOutcome::Exited(1), kept_on_failure, Some(e))
        }
        Err(stop) => (stop, Vec::new(), None),
    };
    let _ = log.finish();
    BuiltinOutcome {
        release: released.filter(|_| error.is_none() && outcome == StepOutcome::Exited(0)),
        outcome,
        produced,
        error,
        warnings,
    }
}

/// A line of progress in the step's log.
fn say(log: &mut LogWriter, text: impl AsRef<str>) {
    let mut line = text.as_ref().to_string();
    line.push('\n');
    log.write(LogStream::Stdout, line.as_bytes());
}

/// Resolves a parameter path against the step's directory, refusing absolute paths and
/// `..` so a pipeline cannot reach outside its workspace.
fn resolve(req: &BuiltinRequest, key: &str, rel: &str) -> Result<PathBuf, String> {
    let p = Path::new(rel);
    if p.is_absolute() || p.components().any(|c| matches!(c, Component::ParentDir)) {
        return Err(format!(
            "`{key}: {rel}` must be a path inside the workspace (no leading `/`, no `..`)"
        ));
    }
    Ok(req.cwd.join(p))
}

/// `path` relative to the workspace, `/`-separated, for records.
fn workspace_relative(req: &BuiltinRequest, path: &Path) -> String {
    path.strip_prefix(&req.workspace)
        .unwrap_or(path)
        .to_string_lossy()
        .replace('\\', "/")
}

/// Seconds since the epoch for every timestamp a build writes: `SOURCE_DATE_EPOCH` from
/// the step's environment, else the commit time, else 0, so rebuilds are identical.
fn source_date(req: &BuiltinRequest) -> Result<u64, String> {
    match req.var("SOURCE_DATE_EPOCH") {
        Some(v) => v
            .trim()
            .parse()
            .map_err(|_| format!("SOURCE_DATE_EPOCH `{v}` is not a number of seconds")),
        None => Ok(crate::git::head_time(&req.project).unwrap_or(0)),
    }
}
