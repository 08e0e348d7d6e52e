//! Runs a Plan: the scheduler state machine, executors, the log pipeline.
//!
//! [`run`] drives a [`wharf_model::Plan`] to the end with an [`Executor`] (local processes
//! or a fake), emitting [`wharf_model::RunEvent`]s that the caller records and displays.
//! The [`scheduler`] inside is pure and can be driven on its own.

pub mod artifacts;
mod builtin;
pub mod cache;
mod cgroup;
pub mod container;
mod context;
pub mod env;
mod executor;
mod fake;
mod fs_error;
mod gate;
mod job;
pub use job::{JobEnv, JobRun, run_job};
pub mod junit;
mod keep;
mod local;
pub mod logs;
pub mod outputs;
mod parallel;
mod runner;
pub mod scheduler;
pub mod shell;
mod watchdog;
pub mod workspace;

pub use artifacts::ArtifactStore;
pub use builtin::{BuiltinOutcome, BuiltinRequest, BuiltinRunner};
pub use context::event_lookup;
pub use executor::{BoxFuture, Executor, StepOutcome, StepRequest};
pub use fake::{FakeArtifacts, FakeExecutor};
pub use fs_error::IoError;
pub use gate::{Gate, GateNote, GateOutcome};
pub use local::LocalExecutor;
pub use runner::{LogPathFn, RunOptions, run};
pub use workspace::Workspaces;

/// Now, in milliseconds since the Unix epoch.
pub fn now_ms() -> wharf_model::Millis {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_millis() as i64)
        .unwrap_or(0)
}
