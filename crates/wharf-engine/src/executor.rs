//! The executor boundary: how one step's command gets run somewhere.
//!
//! The job runner decides *what* to run (command, environment, directory, deadline); an
//! [`Executor`] decides *where*: a local process group ([`crate::LocalExecutor`]), later a
//! container or a remote agent. [`crate::FakeExecutor`] answers instantly, so the engine's
//! control flow is tested and benchmarked without processes.

use std::future::Future;
use std::path::PathBuf;
use std::pin::Pin;
use std::time::Duration;

use tokio::sync::watch;
use tokio::time::Instant;

use crate::logs::LogWriter;

/// A boxed, sendable future (what [`Executor::run_step`] returns).
pub type BoxFuture<T> = Pin<Box<dyn Future<Output = T> + Send>>;

/// Everything needed to run one step's command.
#[derive(Clone)]
pub struct StepRequest {
    /// Job id, for log prefixes and fakes.
    pub job: String,
    /// 0-based step index.
    pub step: usize,
    /// Program and arguments (`argv[0]` is looked up on the step's `PATH`).
    pub argv: Vec<String>,
    /// Directory to run in.
    pub cwd: PathBuf,
    /// The complete environment (nothing is inherited).
    pub env: Vec<(String, String)>,
    /// Kill the step when this instant passes.
    pub deadline: Option<Instant>,
    /// After SIGTERM, how long to wait before SIGKILL.
    pub kill_grace: Duration,
}

impl std::fmt::Debug for StepRequest {
    // The environment can hold secrets: never print its values.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("StepRequest")
            .field("job", &self.job)
            .field("step", &self.step)
            .field("argv", &self.argv)
            .field("cwd", &self.cwd)
            .field(
                "env",
                &self.env.iter().map(|(k, _)| k.as_str()).collect::<Vec<_>>(),
            )
            .field("deadline", &self.deadline)
            .finish()
    }
}

/// How a step's process ended.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum StepOutcome {
    /// It exited with this code.
    Exited(i32),
    /// A signal killed it (not one wharf sent).
    Signaled(i32),
    /// Its deadline passed and wharf killed its process group.
    TimedOut,
    /// wharf killed it because the job was cancelled.
    Cancelled,
    /// It could not be started (the message says why).
    FailedToStart(String),
}

impl StepOutcome {
    /// Whether the step succeeded.
    pub fn is_success(&self) -> bool {
        matches!(self, StepOutcome::Exited(0))
    }

    /// The exit code to record: the process's own, 128+signal, or 127 when not found.
    pub fn exit_code(&self) -> Option<i32> {
        match self {
            StepOutcome::Exited(c) => Some(*c),
            StepOutcome::Signaled(s) => Some(128 + s),
            StepOutcome::FailedToStart(_) => Some(127),
            StepOutcome::TimedOut | StepOutcome::Cancelled => None,
        }
    }
}

/// Runs step commands.
pub trait Executor: Send + Sync + 'static {
    /// Runs `req`, writing its output to `log`, until it exits, its deadline passes, or
    /// `cancel` becomes true. Must not return before every process it started is gone.
    fn run_step(
        &self,
        req: StepRequest,
        cancel: watch::Receiver<bool>,
        log: LogWriter,
    ) -> BoxFuture<StepOutcome>;

    /// Whether no process a step that ran in `workspace` (or below it) started can still
    /// run, even one that left the step's process group (a daemon that called `setsid`).
    /// Then the job's workspace can be reset and handed to a later job.
    fn confined(&self, workspace: &std::path::Path) -> bool {
        let _ = workspace;
        false
    }
}
