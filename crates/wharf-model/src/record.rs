//! What the store answers about earlier runs.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use crate::{Event, JobStatus, Millis, Produced, RunStatus, StepStatus};

/// One line of `wharf runs`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct RunSummary {
    /// The run number.
    pub number: u64,
    /// The pipeline's name.
    pub pipeline: String,
    /// What started it.
    pub event: Event,
    /// How it ended (or `running`).
    pub status: RunStatus,
    /// When it started.
    pub started_at: Millis,
    /// When it ended.
    pub finished_at: Option<Millis>,
}

/// A run with everything recorded about it (`wharf show`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct RunRecord {
    /// The run itself.
    #[serde(flatten)]
    pub summary: RunSummary,
    /// The pipeline file, relative to the project root.
    pub file: String,
    /// Its jobs, in plan order.
    pub jobs: Vec<JobRecord>,
}

/// A job of a recorded run.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct JobRecord {
    /// Job id.
    pub id: String,
    /// Ids of the jobs it needs.
    pub needs: Vec<String>,
    /// How it ended.
    pub status: JobStatus,
    /// Exit code of the deciding step.
    pub exit_code: Option<i32>,
    /// Why, when not obvious from the status.
    pub reason: Option<String>,
    /// The last attempt number (0 if it never started).
    pub attempt: u32,
    /// When its last attempt started.
    pub started_at: Option<Millis>,
    /// When it ended.
    pub finished_at: Option<Millis>,
    /// Its steps (of the last attempt).
    pub steps: Vec<StepRecord>,
    /// Outputs it wrote.
    pub outputs: BTreeMap<String, String>,
    /// Artifacts it stored.
    pub artifacts: Vec<ArtifactRecord>,
    /// JUnit reports it produced.
    pub reports: Vec<ReportRecord>,
    /// Release artifacts its built-in steps produced (packages, images, Python files).
    #[serde(default)]
    pub produced: Vec<Produced>,
}

/// A step of a recorded job.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct StepRecord {
    /// 0-based index.
    pub index: usize,
    /// Display name.
    pub name: String,
    /// How it ended.
    pub status: StepStatus,
    /// Process exit code.
    pub exit_code: Option<i32>,
    /// When it started.
    pub started_at: Option<Millis>,
    /// When it ended.
    pub finished_at: Option<Millis>,
    /// Log file, relative to the `.wharf` directory.
    pub log: Option<String>,
}

/// A stored artifact.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ArtifactRecord {
    /// The job that produced it.
    pub job: String,
    /// Path relative to the workspace.
    pub path: String,
    /// Hex sha256 (its key in the content-addressed store).
    pub sha256: String,
    /// Size in bytes.
    pub size: u64,
    /// Unix mode bits.
    pub mode: u32,
}

/// A parsed JUnit report.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ReportRecord {
    /// The job that produced it.
    pub job: String,
    /// Path relative to the workspace.
    pub path: String,
    /// Test cases.
    pub tests: u64,
    /// Failed test cases.
    pub failures: u64,
    /// Test cases in error.
    pub errors: u64,
    /// Skipped test cases.
    pub skipped: u64,
}

/// A release (`wharf releases`, `wharf release show`): what was released, from which
/// commit and run, with its notes and the digest of everything it ships.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ReleaseRecord {
    /// The version, e.g. `1.2.0`.
    pub version: String,
    /// The git tag, e.g. `v1.2.0`.
    pub tag: String,
    /// The released commit (full sha).
    pub commit: String,
    /// The run that made it.
    pub run: u64,
    /// The release notes (Markdown).
    pub notes: String,
    /// When it was recorded.
    pub created_at: Millis,
    /// Artifacts, packages, images and Python files, with their digests.
    pub items: Vec<Produced>,
}

/// What a job hands to the jobs after it when they run in other processes (one platform
/// job per wharf job): written to `.wharf/handoff/JOB.json` and carried by the platform's
/// artifact mechanism.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Handoff {
    /// The job's name.
    pub job: String,
    /// How it ended.
    pub status: JobStatus,
    /// Outputs it wrote.
    pub outputs: BTreeMap<String, String>,
    /// Artifacts it stored (already in the workspace of the next job).
    pub artifacts: Vec<ArtifactRecord>,
    /// What its built-in steps produced.
    pub produced: Vec<Produced>,
}
