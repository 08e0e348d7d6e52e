//! How an environment is deployed to (`environments.NAME.{target, strategy, health,
//! analysis, rollback, requires}`), and the record of each deployment.
//!
//! `wharf-pipeline` validates the file into a [`DeployConfig`]; `wharf-deploy` runs a
//! deployment with it and records a [`DeploymentRecord`] that `wharf deployments` lists.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use crate::{Millis, Produced};

/// How releases reach an environment.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct DeployConfig {
    /// Where the release runs.
    pub target: Target,
    /// How traffic moves to it.
    #[serde(default)]
    pub strategy: Strategy,
    /// The HTTP health gate before traffic.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub health: Option<HealthCheck>,
    /// The measurements after the switch (or during a canary, or on a blue/green preview).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub analysis: Vec<AnalysisMetric>,
    /// What a failed health gate or analysis does.
    #[serde(default)]
    pub rollback: RollbackPolicy,
    /// Environments the same release must have been deployed to successfully first.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub requires: Vec<String>,
}

/// Where a release runs.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Target {
    /// A container of the release's image on a Docker host, behind `wharf proxy`.
    Docker(DockerTarget),
    /// The project's own deploy script, with `WHARF_*` variables.
    Script(ScriptTarget),
}

/// `target: {docker: …}`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct DockerTarget {
    /// The control API of the `wharf proxy` in front of the containers
    /// (`http://127.0.0.1:8081`).
    pub proxy: String,
    /// The proxy's service name (default: the environment's name).
    pub service: String,
    /// The `Host` values the service answers for (empty: the proxy's default service).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub hosts: Vec<String>,
    /// The port the application listens on inside its container.
    pub port: u16,
    /// Which of the release's images runs (its repository, without tag), when it has
    /// several.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub image: Option<String>,
    /// Environment variables of the container.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub env: BTreeMap<String, String>,
}

/// `target: {script: …}`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ScriptTarget {
    /// The program and its arguments, run from the project's root (no shell).
    pub run: Vec<String>,
    /// How long one call may take, in milliseconds.
    pub timeout_ms: u64,
    /// Secrets it gets as variables (the environment's value, else the one for every
    /// environment), decrypted only after the gates passed.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub secrets: Vec<String>,
}

/// How traffic moves to a new release.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Strategy {
    /// All traffic at once, after the health gate.
    #[default]
    Direct,
    /// Healthy on a preview address first; promoted after the analysis (and an optional
    /// pause).
    BlueGreen {
        /// How long the healthy preview waits before promotion (`None`: not at all).
        #[serde(default, skip_serializing_if = "Option::is_none")]
        pause: Option<Pause>,
        /// The `Host` that reaches the preview (besides `X-Wharf-Preview: 1`).
        #[serde(default, skip_serializing_if = "Option::is_none")]
        preview_host: Option<String>,
    },
    /// Weighted steps, then promotion.
    Canary {
        /// The steps, in order.
        steps: Vec<CanaryStep>,
        /// One client, one release: the cookie or header whose value picks the release.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        sticky: Option<Sticky>,
    },
}

impl Strategy {
    /// `direct`, `blue-green` or `canary`.
    pub fn name(&self) -> &'static str {
        match self {
            Strategy::Direct => "direct",
            Strategy::BlueGreen { .. } => "blue-green",
            Strategy::Canary { .. } => "canary",
        }
    }
}

/// One canary step.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct CanaryStep {
    /// The share of requests the new release gets, 1–100.
    pub weight: u8,
    /// How long the step lasts (`None`: it moves on at once).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub pause: Option<Pause>,
}

/// A pause of a deployment.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Pause {
    /// For this many milliseconds.
    For(u64),
    /// Until `wharf deploy resume` (`pause: manual`).
    UntilResumed,
}

/// A sticky key.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Sticky {
    /// A cookie's value.
    Cookie(String),
    /// A request header's value.
    Header(String),
}

/// The HTTP health gate a release passes before it gets traffic.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct HealthCheck {
    /// The path probed on the release (Docker target), e.g. `/up`.
    pub path: String,
    /// The full URL probed instead (script targets).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub url: Option<String>,
    /// Time between probes, in milliseconds.
    pub interval_ms: u64,
    /// How long the release has to become healthy, in milliseconds.
    pub timeout_ms: u64,
    /// How long it must answer 2xx without a failure before it counts as healthy, in
    /// milliseconds (0: the first 2xx).
    #[serde(default)]
    pub hold_ms: u64,
}

/// One metric of the analysis, with Argo Rollouts' semantics.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct AnalysisMetric {
    /// Its name (in reasons: `analysis success-rate 0.80 < 0.99`).
    pub name: String,
    /// Where the value comes from.
    pub provider: Provider,
    /// Time between measurements, in milliseconds (`None`: one measurement).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub interval_ms: Option<u64>,
    /// Measurements to take (`None` with an interval: until the deployment ends).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub count: Option<u32>,
    /// Wait before the first measurement, in milliseconds.
    #[serde(default)]
    pub initial_delay_ms: u64,
    /// The condition of a successful measurement (an expression over `result`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub success: Option<String>,
    /// The condition of a failed measurement.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub failure: Option<String>,
    /// Failed measurements tolerated before the metric fails (Argo's `failureLimit`,
    /// default 0; -1: never).
    #[serde(default)]
    pub failure_limit: i32,
    /// Errors in a row tolerated before the metric is inconclusive (default 4).
    #[serde(default = "default_error_limit")]
    pub consecutive_error_limit: u32,
}

fn default_error_limit() -> u32 {
    4
}

/// Where a measurement comes from.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Provider {
    /// An HTTP GET; `result` is the JSON body (or the value at `json_path`).
    Http {
        /// The URL (may use `${{ release }}`, …).
        url: String,
        /// A dotted path into the JSON body, e.g. `data.ratio`.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        json_path: Option<String>,
        /// Per-request limit, in milliseconds.
        timeout_ms: u64,
    },
    /// A Prometheus instant query; `result` is the first sample's value.
    Prometheus {
        /// The server, e.g. `http://127.0.0.1:9090`.
        url: String,
        /// The query (may use `${{ release }}`, `${{ previous }}`, `${{ service }}`,
        /// `${{ environment }}`).
        query: String,
        /// Per-request limit, in milliseconds.
        timeout_ms: u64,
    },
    /// An HTTP load (a blue/green preview, the canary) whose thresholds are the verdict:
    /// all met is success, one missed a failure, no answer at all an error.
    LoadTest {
        /// The load and its thresholds, as a `load-test` step takes them; the URL, headers
        /// and body may use `${{ release }}`, ….
        spec: Box<crate::LoadTestStep>,
    },
    /// A program; exit 0 is success, any other exit a failure.
    Script {
        /// The program and its arguments (no shell).
        run: Vec<String>,
        /// How long it may run, in milliseconds.
        timeout_ms: u64,
    },
}

/// What a failed health gate or analysis does.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum RollbackPolicy {
    /// Traffic goes back to the previous release at once.
    #[default]
    Auto,
    /// The deployment pauses for someone to `wharf deploy abort` (roll back) or
    /// `wharf deploy resume` (keep going).
    Manual,
}

/// Why a deployment exists.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum DeployMode {
    /// A release newer than the one running.
    Deploy,
    /// Back to a release that ran before.
    Rollback,
    /// The release that runs, again.
    Redeploy,
}

impl DeployMode {
    /// `deploy`, `rollback` or `redeploy` (`WHARF_MODE`).
    pub fn as_str(self) -> &'static str {
        match self {
            DeployMode::Deploy => "deploy",
            DeployMode::Rollback => "rollback",
            DeployMode::Redeploy => "redeploy",
        }
    }

    /// Parses [`DeployMode::as_str`].
    pub fn parse(s: &str) -> Option<DeployMode> {
        match s {
            "deploy" => Some(DeployMode::Deploy),
            "rollback" => Some(DeployMode::Rollback),
            "redeploy" => Some(DeployMode::Redeploy),
            _ => None,
        }
    }
}

/// Where a deployment is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum DeployStatus {
    /// Waiting for the environment's lease.
    Queued,
    /// At its gates (approvals, wait timer).
    Waiting,
    /// Deploying.
    Running,
    /// Stopped for a human (a canary step with no duration, an inconclusive analysis,
    /// `rollback: manual`): `wharf deploy resume` or `abort`.
    Paused,
    /// The release runs and passed its checks.
    Succeeded,
    /// Never got traffic (refused, unhealthy, failed to start).
    Failed,
    /// Got traffic, then traffic went back to the previous release.
    RolledBack,
    /// Stopped by `wharf deploy abort` (traffic back on the previous release).
    Aborted,
    /// Its deployer died before traffic moved; nothing changed.
    Interrupted,
}

impl DeployStatus {
    /// The stable name used in the store and in `--json`.
    pub fn as_str(self) -> &'static str {
        match self {
            DeployStatus::Queued => "queued",
            DeployStatus::Waiting => "waiting",
            DeployStatus::Running => "running",
            DeployStatus::Paused => "paused",
            DeployStatus::Succeeded => "succeeded",
            DeployStatus::Failed => "failed",
            DeployStatus::RolledBack => "rolled_back",
            DeployStatus::Aborted => "aborted",
            DeployStatus::Interrupted => "interrupted",
        }
    }

    /// Parses [`DeployStatus::as_str`].
    pub fn parse(s: &str) -> Option<DeployStatus> {
        Some(match s {
            "queued" => DeployStatus::Queued,
            "waiting" => DeployStatus::Waiting,
            "running" => DeployStatus::Running,
            "paused" => DeployStatus::Paused,
            "succeeded" => DeployStatus::Succeeded,
            "failed" => DeployStatus::Failed,
            "rolled_back" => DeployStatus::RolledBack,
            "aborted" => DeployStatus::Aborted,
            "interrupted" => DeployStatus::Interrupted,
            _ => return None,
        })
    }

    /// Whether it is over.
    pub fn is_final(self) -> bool {
        matches!(
            self,
            DeployStatus::Succeeded
                | DeployStatus::Failed
                | DeployStatus::RolledBack
                | DeployStatus::Aborted
                | DeployStatus::Interrupted
        )
    }
}

/// One deployment of a release to an environment.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct DeploymentRecord {
    /// Its id (`wharf deploy resume ID`).
    pub id: i64,
    /// The environment.
    pub environment: String,
    /// The release's version.
    pub release: String,
    /// The release that served before (what a rollback returns to).
    pub previous: Option<String>,
    /// Deploy, rollback or redeploy.
    pub mode: DeployMode,
    /// `direct`, `blue-green` or `canary`.
    pub strategy: String,
    /// What is deployed, by digest (the release's recorded items).
    pub digests: Vec<Produced>,
    /// Where it is.
    pub status: DeployStatus,
    /// Its last phase: `gates`, `pull`, `start`, `health`, `switch`, `canary`, `analysis`,
    /// `done`.
    pub phase: String,
    /// Why it ended as it did (`failed: health`, `rolled_back: analysis success-rate
    /// 0.80 < 0.99`), or why it is paused.
    pub reason: Option<String>,
    /// Who started it.
    pub actor: String,
    /// The share of traffic on the release now (0–100).
    pub weight: u8,
    /// When it was created, started (its lease taken) and ended.
    pub created_at: Millis,
    /// When it took the environment's lease.
    pub started_at: Option<Millis>,
    /// When it ended.
    pub finished_at: Option<Millis>,
    /// Why its gates were skipped, and by whom (an emergency rollback), if they were.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub gates_override: Option<String>,
    /// What the target keeps about it (container ids, addresses), as JSON text.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub target_state: Option<String>,
}
