//! Pure domain types shared by every wharf crate.
//!
//! These types are the contracts between crates: `wharf-pipeline` produces a [`Plan`],
//! `wharf-engine` executes it and emits [`RunEvent`]s, `wharf-store` records those events
//! and answers queries with [`RunRecord`]s, and the binary renders all of them. Nothing
//! here does I/O; everything is serializable so a plan (`--dry-run`) or an event stream
//! (`--json`) can be printed as data.

mod builtin;
mod deploy;
mod event;
mod insecure;
mod plan;
mod record;
mod run_event;
pub mod state;
mod status;

pub use builtin::{
    BuildImageStep, Builtin, ForgeStep, LayerSpec, LoadTestStep, LoadThresholds, PackageStep,
    PolicyStep, Produced, ProducedKind, PublishPythonStep, ReleaseStep, StepAction, Switch,
};
pub use deploy::{
    AnalysisMetric, CanaryStep, DeployConfig, DeployMode, DeployStatus, DeploymentRecord,
    DockerTarget, HealthCheck, Pause, Provider, RollbackPolicy, ScriptTarget, Sticky, Strategy,
    Target,
};
pub use event::{Event, EventKind, Upstream};
pub use insecure::InsecureSetting;
pub use plan::{
    ArtifactsWhen, CachePlan, EnvironmentRules, FreezeWindow, HealthPlan, JobSpec, Plan,
    PlannedJob, PlannedStep, RetryPolicy, ServicePlan, WorkspaceMode,
};
pub use record::{
    ArtifactRecord, Evidence, EvidenceKind, FailedTest, FailureKind, Handoff, JobRecord,
    ReleaseRecord, ReportRecord, RunRecord, RunSummary, StepRecord, WarningRecord,
};
pub use run_event::{JobInfo, LogStream, RunEvent};
pub use status::{JobStatus, RunStatus, StepStatus};

/// Milliseconds since the Unix epoch (UTC). The one time representation across crates.
pub type Millis = i64;
