//! The Plan: a pipeline compiled for one event, complete before any side effect.
//!
//! `wharf-pipeline` builds it (matrix expanded, `needs` resolved to indices, templates with
//! trusted values substituted); `wharf-engine` runs it; `wharf run --dry-run` prints it.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use crate::{Event, StepAction};

/// A pipeline compiled for one event.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Plan {
    /// The pipeline's `name:` (or the file stem when it has none).
    pub pipeline: String,
    /// The file it came from, relative to the project root.
    pub file: String,
    /// The event this plan is for.
    pub event: Event,
    /// Pipeline-level `env:`, values still templates (`${{ … }}` evaluated at job start).
    pub env: BTreeMap<String, String>,
    /// Cancel running jobs when one fails (`fail-fast:`, default true).
    pub fail_fast: bool,
    /// Whether `pull_request` runs may receive secrets (`on.pull_request.secrets: true`).
    pub pull_request_secrets: bool,
    /// The jobs, matrix-expanded, in source order. `needs` are indices into this list.
    pub jobs: Vec<PlannedJob>,
    /// The protection rules of each environment a job of the plan deploys to
    /// (`environment:`), checked before such a job starts.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub environments: Vec<EnvironmentRules>,
}

/// An environment's protection rules, as the plan carries them (`environments.NAME`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct EnvironmentRules {
    /// Its name.
    pub name: String,
    /// Where it is declared (`wharf.yml:12:3`), for the reasons gates give.
    pub at: String,
    /// Branches whose runs may deploy to it (globs); with `tags`, empty lists allow any ref.
    #[serde(default)]
    pub branches: Vec<String>,
    /// Tags whose runs may deploy to it (globs).
    #[serde(default)]
    pub tags: Vec<String>,
    /// Windows in which nothing deploys to it.
    #[serde(default)]
    pub freeze: Vec<FreezeWindow>,
    /// How long a job waits before deploying to it, in milliseconds.
    #[serde(default)]
    pub wait_ms: Option<u64>,
    /// Distinct approvals a deployment needs before it starts (0: none).
    #[serde(default)]
    pub approvals: u32,
    /// Whether whoever started the run may approve it.
    #[serde(default)]
    pub self_approval: bool,
    /// How releases are deployed to it (`target:` and what goes with it), when declared.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub deploy: Option<crate::DeployConfig>,
}

/// A freeze window: from each time `cron` fires (in `timezone`) for `duration_ms`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct FreezeWindow {
    /// When a window starts: a 5-field cron expression.
    pub cron: String,
    /// How long each window lasts, in milliseconds.
    pub duration_ms: u64,
    /// The IANA time zone the cron is read in (`Europe/Berlin`; `UTC` when not given).
    pub timezone: String,
}

impl Plan {
    /// Keeps the jobs `keep` names (by index) and every job they need, directly or not;
    /// `needs` indices are renumbered.
    pub fn retain_with_needs(&mut self, keep: &[usize]) {
        let mut kept = vec![false; self.jobs.len()];
        let mut todo: Vec<usize> = keep.to_vec();
        while let Some(i) = todo.pop() {
            if i < kept.len() && !kept[i] {
                kept[i] = true;
                todo.extend(self.jobs[i].needs.iter().copied());
            }
        }
        let mut new_index = vec![usize::MAX; self.jobs.len()];
        let mut n = 0;
        for (i, k) in kept.iter().enumerate() {
            if *k {
                new_index[i] = n;
                n += 1;
            }
        }
        let jobs = std::mem::take(&mut self.jobs);
        self.jobs = jobs
            .into_iter()
            .enumerate()
            .filter(|(i, _)| kept[*i])
            .map(|(_, mut job)| {
                job.needs = job.needs.iter().map(|&i| new_index[i]).collect();
                job
            })
            .collect();
    }
}

/// One job of a plan (one matrix cell of a job with a matrix).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct PlannedJob {
    /// Unique id within the plan: the job name, or `name (k=v, k2=v2)` for a matrix cell.
    pub id: String,
    /// The job's key in the file.
    pub name: String,
    /// This cell's matrix values (empty without a matrix).
    pub matrix: BTreeMap<String, String>,
    /// Indices into [`Plan::jobs`] of the jobs this one needs (every cell of a needed
    /// matrix job).
    pub needs: Vec<usize>,
    /// The `if:` expression source, `None` for the default (`success()`).
    pub condition: Option<String>,
    /// The steps, in order.
    pub steps: Vec<PlannedStep>,
    /// Job `env:` (templates), layered over the pipeline env.
    pub env: BTreeMap<String, String>,
    /// Secret names the job declares.
    pub secrets: Vec<String>,
    /// Kill the job after this many milliseconds.
    pub timeout_ms: Option<u64>,
    /// How often to retry a failed job.
    pub retry: RetryPolicy,
    /// A failure of this job does not fail the run.
    pub continue_on_error: bool,
    /// Directory the steps run in, relative to the workspace.
    pub working_directory: Option<String>,
    /// Artifact globs, relative to the workspace.
    pub artifacts: Vec<String>,
    /// When the `artifacts` are kept: after a success (the default), a failure, or both.
    #[serde(default, skip_serializing_if = "ArtifactsWhen::is_on_success")]
    pub artifacts_when: ArtifactsWhen,
    /// JUnit XML report globs, relative to the workspace.
    pub reports: Vec<String>,
    /// Output names the job declares (written by steps to `$WHARF_OUTPUT`).
    pub outputs: Vec<String>,
    /// The deployment environment the job targets, if any.
    pub environment: Option<String>,
    /// The container image the job's steps run in (a template, rendered at job start).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub image: Option<String>,
    /// Side containers started before the first step.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub services: Vec<ServicePlan>,
    /// The job's cache, if it declares one.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cache: Option<CachePlan>,
    /// Where the job runs: a workspace of its own (the default) or the project directory.
    #[serde(default, skip_serializing_if = "WorkspaceMode::is_isolated")]
    pub workspace: WorkspaceMode,
    /// Jobs it needs that ran outside this run (`wharf run --no-deps`, one platform job
    /// per wharf job): their results and outputs come from handoff files.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub external_needs: Vec<String>,
}

/// One step of a job.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct PlannedStep {
    /// Display name: `name:` or the first line of the command.
    pub name: String,
    /// What the step does.
    pub action: StepAction,
    /// Step `env:` (templates), layered over job env.
    pub env: BTreeMap<String, String>,
    /// Directory, relative to the workspace (overrides the job's).
    pub working_directory: Option<String>,
    /// Kill the step after this many milliseconds.
    pub timeout_ms: Option<u64>,
    /// A failure of this step does not fail the job.
    pub continue_on_error: bool,
    /// The step's `if:` expression source, `None` for the default (`success()`).
    pub condition: Option<String>,
}

/// One of a job's `services:`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ServicePlan {
    /// Its name: the host name a container job reaches it by.
    pub name: String,
    /// Its image (a template, rendered at job start).
    pub image: String,
    /// Its environment (templates).
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub env: BTreeMap<String, String>,
    /// `(container port, host port)` pairs; host port 0 means any free one.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub ports: Vec<(u16, u16)>,
    /// The health check run in the service before the job's first step.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub health: Option<HealthPlan>,
}

/// A service's health check.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct HealthPlan {
    /// Run with `sh -c` in the service; exit 0 means healthy.
    pub cmd: String,
    /// Between checks, in milliseconds.
    pub interval_ms: u64,
    /// Checks before the service counts as never healthy.
    pub retries: u32,
}

/// A job's `cache:`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct CachePlan {
    /// Globs of files whose content makes up the key, in order.
    pub key: Vec<String>,
    /// Files and directories saved and restored, relative to the workspace.
    pub paths: Vec<String>,
    /// Fallback keys, best first: each a leading part of `key`.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub restore_keys: Vec<Vec<String>>,
}

/// When a job's `artifacts:` are kept (`artifacts: { paths, when }`), in GitLab's words:
/// after a success, after a failure (a timeout is one), or after either. A cancelled job
/// keeps nothing.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ArtifactsWhen {
    /// Only when the job succeeded (the list form `artifacts: [GLOB…]`).
    #[default]
    OnSuccess,
    /// Only when the job failed or timed out: what a failure leaves for debugging.
    OnFailure,
    /// Whether the job succeeded or failed.
    Always,
}

impl ArtifactsWhen {
    /// Every value, in the order the docs list them.
    pub const ALL: [ArtifactsWhen; 3] = [
        ArtifactsWhen::OnSuccess,
        ArtifactsWhen::OnFailure,
        ArtifactsWhen::Always,
    ];

    /// Its name in a pipeline file.
    pub fn as_str(self) -> &'static str {
        match self {
            ArtifactsWhen::OnSuccess => "on_success",
            ArtifactsWhen::OnFailure => "on_failure",
            ArtifactsWhen::Always => "always",
        }
    }

    /// The value named `s` in a pipeline file.
    pub fn parse(s: &str) -> Option<ArtifactsWhen> {
        ArtifactsWhen::ALL.into_iter().find(|w| w.as_str() == s)
    }

    /// Whether this is the default, [`ArtifactsWhen::OnSuccess`].
    pub fn is_on_success(&self) -> bool {
        *self == ArtifactsWhen::OnSuccess
    }

    /// Whether artifacts are kept after a job that ended so (`succeeded`: every step
    /// succeeded; otherwise it failed or timed out).
    pub fn keeps(self, succeeded: bool) -> bool {
        match self {
            ArtifactsWhen::OnSuccess => succeeded,
            ArtifactsWhen::OnFailure => !succeeded,
            ArtifactsWhen::Always => true,
        }
    }
}

/// Where a job's steps run (`workspace:` on a job or the pipeline).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum WorkspaceMode {
    /// A fresh copy of the project as git sees it, plus the artifacts of its needs: what a
    /// CI runner's checkout gives a job.
    #[default]
    Isolated,
    /// The project directory itself, shared with every other such job and run.
    Shared,
}

impl WorkspaceMode {
    /// Whether this is the default, [`WorkspaceMode::Isolated`].
    pub fn is_isolated(&self) -> bool {
        *self == WorkspaceMode::Isolated
    }
}

/// How a failed job is retried.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
pub struct RetryPolicy {
    /// Extra attempts after the first (0 = no retry).
    pub max: u32,
    /// Retry also when the job timed out (default: only on failure).
    pub on_timeout: bool,
}

/// Everything one attempt of one job needs from the run, as data: what the engine's
/// [`run_job`](../wharf_engine/fn.run_job.html) takes, and what a remote agent will receive
/// (with the project at the run's commit, its secrets and the artifacts' bytes).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct JobSpec {
    /// The run's number.
    pub run: u64,
    /// The run's plan (shared by every job of the run).
    pub plan: std::sync::Arc<Plan>,
    /// Which job of the plan.
    pub index: usize,
    /// 1-based attempt number.
    pub attempt: u32,
    /// Outputs of the jobs it needs, by job name.
    pub outputs: std::collections::HashMap<String, BTreeMap<String, String>>,
    /// Final statuses of the jobs it needs, by job name.
    pub results: std::collections::HashMap<String, crate::JobStatus>,
    /// Artifacts of every job it needs, directly or not: written into its workspace.
    pub inherited: Vec<crate::ArtifactRecord>,
    /// The last image a job it needs built or pushed (`WHARF_IMAGE_DIGEST`).
    pub image_digest: Option<String>,
    /// What the built-in steps of every job it needs produced.
    pub upstream: Vec<crate::Produced>,
    /// Artifacts of jobs that ran outside this run (for release records).
    pub upstream_artifacts: Vec<crate::ArtifactRecord>,
}
