//! The pipeline file as written: serde types that mirror the YAML, with positions.
//!
//! These types only describe shape (keys, types); every rule that needs more than one
//! value lives in `validate`. They also derive the JSON Schema published for editors, so
//! the schema cannot drift from what the parser accepts. Fields that diagnostics point at
//! are `Spanned`; `flatten` and `untagged` are avoided because they lose positions.

use std::borrow::Cow;
use std::fmt;

use schemars::{JsonSchema, Schema, SchemaGenerator, json_schema};
use serde::Deserialize;
use serde::de::{Deserializer, Error, MapAccess, Visitor};
use serde_saphyr::Spanned;

use crate::ordered_map::OrderedMap;
use crate::scalar::{Declared, Scalar};

/// An environment map: names to values (templates), with positions.
pub type EnvFile = OrderedMap<Spanned<Scalar>>;

/// A wharf pipeline file (version 1).
#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields, rename_all = "kebab-case")]
#[schemars(title = "wharf pipeline file")]
pub struct PipelineFile {
    /// The file format version; only `1` exists.
    #[schemars(with = "u8", range(min = 1, max = 1))]
    pub version: Spanned<u64>,
    /// The pipeline's name (default: the file stem; `wharf.yml` gives `wharf`).
    #[serde(default)]
    #[schemars(with = "Option<String>")]
    pub name: Option<Spanned<String>>,
    /// Which events start this pipeline; absent means every event.
    #[serde(default)]
    pub on: Option<OnFile>,
    /// Environment variables for every step (values may use `${{ … }}`).
    #[serde(default)]
    #[schemars(with = "OrderedMap<Scalar>")]
    pub env: EnvFile,
    /// Defaults for every job and step.
    #[serde(default)]
    pub defaults: Option<DefaultsFile>,
    /// Cancel running jobs when one fails (default true).
    #[serde(default)]
    pub fail_fast: Option<bool>,
    /// The jobs, in order; a job starts when all its `needs` succeeded.
    #[schemars(with = "OrderedMap<JobFile>")]
    pub jobs: Spanned<OrderedMap<JobFile>>,
    /// Where jobs run unless they say otherwise: `isolated` (default) or `shared`.
    #[serde(default)]
    #[schemars(with = "Option<WorkspaceFile>")]
    pub workspace: Option<Spanned<WorkspaceFile>>,
    /// Deployment environments that jobs may target with `environment:`.
    #[serde(default)]
    #[schemars(with = "Option<OrderedMap<EnvironmentFile>>")]
    pub environments: Option<Spanned<OrderedMap<EnvironmentFile>>>,
}

/// The `on:` triggers.
#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields, rename_all = "snake_case")]
pub struct OnFile {
    /// A push to a branch.
    #[serde(default)]
    pub push: Declared<PushFile>,
    /// A pushed tag whose name matches one of these globs.
    #[serde(default)]
    #[schemars(with = "Option<Vec<String>>")]
    pub tag: Option<Vec<Spanned<String>>>,
    /// A pull request targeting a branch.
    #[serde(default)]
    pub pull_request: Declared<PullRequestFile>,
    /// Cron schedules (5 fields, UTC).
    #[serde(default)]
    #[schemars(with = "Option<Vec<String>>")]
    pub schedule: Option<Vec<Spanned<String>>>,
    /// Started by hand, with optional inputs.
    #[serde(default)]
    pub manual: Declared<ManualFile>,
    /// Another pipeline finished.
    #[serde(default)]
    pub pipeline: Option<PipelineTriggerFile>,
}

/// `on.push`.
#[derive(Debug, Default, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct PushFile {
    /// Branch globs (default `["**"]`); `*` does not cross `/`, `**` does.
    #[serde(default)]
    #[schemars(with = "Option<Vec<String>>")]
    pub branches: Option<Vec<Spanned<String>>>,
    /// Path globs: run only when a changed file matches one.
    #[serde(default)]
    #[schemars(with = "Option<Vec<String>>")]
    pub paths: Option<Vec<Spanned<String>>>,
}

/// `on.pull_request`.
#[derive(Debug, Default, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct PullRequestFile {
    /// Target branch globs (default `["**"]`).
    #[serde(default)]
    #[schemars(with = "Option<Vec<String>>")]
    pub branches: Option<Vec<Spanned<String>>>,
    /// Give pull request runs access to secrets (default false: PRs are untrusted).
    #[serde(default)]
    #[schemars(with = "Option<bool>")]
    pub secrets: Option<Spanned<bool>>,
}

/// `on.manual`.
#[derive(Debug, Default, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct ManualFile {
    /// Inputs a user may (or must) give, available as `inputs.NAME`.
    #[serde(default)]
    pub inputs: OrderedMap<InputFile>,
}

/// One manual input.
#[derive(Debug, Default, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct InputFile {
    /// What the input is for.
    #[serde(default)]
    pub description: Option<String>,
    /// The value used when none is given.
    #[serde(default)]
    #[schemars(with = "Option<Scalar>")]
    pub default: Option<Spanned<Scalar>>,
    /// The only values allowed.
    #[serde(default)]
    #[schemars(with = "Option<Vec<Scalar>>")]
    pub options: Option<Vec<Spanned<Scalar>>>,
    /// A value must be given (or defaulted).
    #[serde(default)]
    pub required: Option<bool>,
}

/// `on.pipeline`.
#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct PipelineTriggerFile {
    /// The pipeline whose completion triggers this one.
    #[schemars(with = "String")]
    pub name: Spanned<String>,
    /// Which outcome triggers (default `success`).
    #[serde(default)]
    pub status: Option<TriggerStatus>,
}

/// The outcome of another pipeline that triggers this one.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum TriggerStatus {
    /// It succeeded.
    Success,
    /// It failed.
    Failure,
    /// It finished either way.
    Any,
}

/// `defaults:`.
#[derive(Debug, Default, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields, rename_all = "kebab-case")]
pub struct DefaultsFile {
    /// Default job timeout, e.g. `30m`.
    #[serde(default)]
    #[schemars(with = "Option<String>")]
    pub timeout: Option<Spanned<String>>,
    /// Default shell for steps (default `bash`).
    #[serde(default)]
    #[schemars(with = "Option<String>")]
    pub shell: Option<Spanned<String>>,
    /// Default working directory, relative to the workspace.
    #[serde(default)]
    #[schemars(with = "Option<String>")]
    pub working_directory: Option<Spanned<String>>,
}

/// One job.
#[derive(Debug, Default, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields, rename_all = "kebab-case")]
pub struct JobFile {
    /// Jobs that must succeed first: a list, or one job's name (`needs: build`, as GitHub
    /// Actions allows).
    #[serde(default)]
    #[schemars(with = "Option<crate::scalar::OneOrMany>")]
    pub needs: Option<Spanned<crate::scalar::Names>>,
    /// Run only when this expression is true (default `success()`).
    #[serde(default, rename = "if")]
    #[schemars(with = "Option<String>")]
    pub condition: Option<Spanned<String>>,
    /// The steps, in order (or use `run`).
    #[serde(default)]
    #[schemars(with = "Option<Vec<StepFile>>")]
    pub steps: Option<Vec<Spanned<StepFile>>>,
    /// Shorthand for a single `run` step.
    #[serde(default)]
    #[schemars(with = "Option<String>")]
    pub run: Option<Spanned<String>>,
    /// Environment variables for the job's steps.
    #[serde(default)]
    #[schemars(with = "OrderedMap<Scalar>")]
    pub env: EnvFile,
    /// Secret names the job may read, exposed as environment variables.
    #[serde(default)]
    #[schemars(with = "Option<Vec<String>>")]
    pub secrets: Option<Vec<Spanned<String>>>,
    /// Run the job once per combination of values.
    #[serde(default)]
    #[schemars(with = "Option<MatrixFile>")]
    pub matrix: Option<Spanned<MatrixFile>>,
    /// Kill the job after this long, e.g. `30m`.
    #[serde(default)]
    #[schemars(with = "Option<String>")]
    pub timeout: Option<Spanned<String>>,
    /// Retry a failed job: a count (0 to 10) or `{ max, on-timeout }`.
    #[serde(default)]
    #[schemars(with = "Option<RetryFile>")]
    pub retry: Option<Spanned<RetryFile>>,
    /// A failure of this job does not fail the run.
    #[serde(default)]
    pub continue_on_error: Option<bool>,
    /// Directory the steps run in, relative to the workspace.
    #[serde(default)]
    #[schemars(with = "Option<String>")]
    pub working_directory: Option<Spanned<String>>,
    /// A container image to run the job's steps in (may use `${{ … }}`; `oci-layout:DIR[:TAG]`
    /// loads one an earlier job built).
    #[serde(default)]
    #[schemars(with = "Option<String>")]
    pub image: Option<Spanned<String>>,
    /// Files the job produces, as globs relative to the workspace: a list (kept when the
    /// job succeeds), or `{ paths, when }`.
    #[serde(default)]
    #[schemars(with = "Option<ArtifactsFile>")]
    pub artifacts: Option<Spanned<ArtifactsFile>>,
    /// JUnit XML reports, as globs relative to the workspace.
    #[serde(default)]
    #[schemars(with = "Option<Vec<String>>")]
    pub reports: Option<Vec<Spanned<String>>>,
    /// A cache restored before and saved after the job.
    #[serde(default)]
    #[schemars(with = "Option<CacheFile>")]
    pub cache: Option<Spanned<CacheFile>>,
    /// Output names the job's steps write to `$WHARF_OUTPUT`.
    #[serde(default)]
    #[schemars(with = "Option<Vec<String>>")]
    pub outputs: Option<Vec<Spanned<String>>>,
    /// The deployment environment the job targets.
    #[serde(default)]
    #[schemars(with = "Option<String>")]
    pub environment: Option<Spanned<String>>,
    /// Where the job runs: `isolated` (a workspace of its own, the default) or `shared`
    /// (the project directory itself).
    #[serde(default)]
    #[schemars(with = "Option<WorkspaceFile>")]
    pub workspace: Option<Spanned<WorkspaceFile>>,
    /// Side containers (a database, the image under test) started and waited on before
    /// the first step, removed after the last, in GitHub Actions' shape.
    #[serde(default)]
    #[schemars(with = "Option<OrderedMap<ServiceFile>>")]
    pub services: Option<Spanned<OrderedMap<ServiceFile>>>,
}

/// `services.NAME`.
#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct ServiceFile {
    /// The image (may use `${{ … }}`; `oci-layout:DIR[:TAG]` loads one an earlier job built).
    #[schemars(with = "String")]
    pub image: Spanned<String>,
    /// Environment variables of the service container.
    #[serde(default)]
    #[schemars(with = "OrderedMap<Scalar>")]
    pub env: EnvFile,
    /// Ports to publish on 127.0.0.1: `5432` (any free host port) or `"15432:5432"`.
    #[serde(default)]
    #[schemars(with = "Option<Vec<Scalar>>")]
    pub ports: Option<Vec<Spanned<Scalar>>>,
    /// Waited on before the first step.
    #[serde(default)]
    #[schemars(with = "Option<ServiceHealthFile>")]
    pub health: Option<Spanned<ServiceHealthFile>>,
}

/// `services.NAME.health`.
#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct ServiceHealthFile {
    /// A command run with `sh -c` in the service; exit 0 means healthy.
    #[schemars(with = "String")]
    pub cmd: Spanned<String>,
    /// Between checks (default `1s`).
    #[serde(default)]
    #[schemars(with = "Option<String>")]
    pub interval: Option<Spanned<String>>,
    /// Checks before the service counts as never healthy (default 30).
    #[serde(default)]
    #[schemars(with = "Option<u32>")]
    pub retries: Option<Spanned<u64>>,
}

/// `workspace:` as written.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, JsonSchema)]
#[serde(rename_all = "kebab-case")]
pub enum WorkspaceFile {
    /// A fresh copy of the project as git sees it, plus the artifacts of its needs.
    Isolated,
    /// The project directory itself: files other jobs and runs leave are visible.
    Shared,
}

impl From<WorkspaceFile> for wharf_model::WorkspaceMode {
    fn from(w: WorkspaceFile) -> Self {
        match w {
            WorkspaceFile::Isolated => wharf_model::WorkspaceMode::Isolated,
            WorkspaceFile::Shared => wharf_model::WorkspaceMode::Shared,
        }
    }
}

/// One step.
#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields, rename_all = "kebab-case")]
pub struct StepFile {
    /// Display name (default: the first line of `run`).
    #[serde(default)]
    #[schemars(with = "Option<String>")]
    pub name: Option<Spanned<String>>,
    /// The shell script (or one of the built-in steps below).
    #[serde(default)]
    #[schemars(with = "Option<String>")]
    pub run: Option<Spanned<String>>,
    /// Built-in: archive paths into a reproducible release package.
    #[serde(default)]
    #[schemars(with = "Option<crate::builtin::PackageFile>")]
    pub package: Option<Spanned<crate::builtin::PackageFile>>,
    /// Built-in: build an OCI image (and push it).
    #[serde(default)]
    #[schemars(with = "Option<crate::builtin::BuildImageFile>")]
    pub build_image: Option<Spanned<crate::builtin::BuildImageFile>>,
    /// Built-in: upload Python wheels and sdists to an index.
    #[serde(default)]
    #[schemars(with = "Option<crate::builtin::PublishPythonFile>")]
    pub publish_python: Option<Spanned<crate::builtin::PublishPythonFile>>,
    /// Built-in: write the release (version, notes, tag, release record).
    #[serde(default)]
    #[schemars(with = "Option<crate::builtin::ReleaseFile>")]
    pub release: Option<Spanned<crate::builtin::ReleaseFile>>,
    /// Built-in: apply the policy file to scanner reports and licences.
    #[serde(default)]
    #[schemars(with = "Option<crate::builtin::PolicyFile>")]
    pub policy: Option<Spanned<crate::builtin::PolicyFile>>,
    /// Built-in: load an HTTP endpoint and check latency, errors and throughput.
    #[serde(default)]
    #[schemars(with = "Option<crate::builtin::LoadTestFile>")]
    pub load_test: Option<Spanned<crate::builtin::LoadTestFile>>,
    /// The shell (default: `defaults.shell` or `bash`).
    #[serde(default)]
    #[schemars(with = "Option<String>")]
    pub shell: Option<Spanned<String>>,
    /// Environment variables for this step.
    #[serde(default)]
    #[schemars(with = "OrderedMap<Scalar>")]
    pub env: EnvFile,
    /// Directory, relative to the workspace.
    #[serde(default)]
    #[schemars(with = "Option<String>")]
    pub working_directory: Option<Spanned<String>>,
    /// Kill the step after this long.
    #[serde(default)]
    #[schemars(with = "Option<String>")]
    pub timeout: Option<Spanned<String>>,
    /// A failure of this step does not fail the job.
    #[serde(default)]
    pub continue_on_error: Option<bool>,
    /// Run only when this expression is true (default `success()`).
    #[serde(default, rename = "if")]
    #[schemars(with = "Option<String>")]
    pub condition: Option<Spanned<String>>,
}

/// `cache:`: restored before the job's steps, saved after it succeeds when its key missed.
#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields, rename_all = "kebab-case")]
pub struct CacheFile {
    /// Globs of files whose content makes up the key (with the pipeline, job and platform).
    #[serde(default)]
    #[schemars(with = "Vec<String>")]
    pub key: Vec<Spanned<String>>,
    /// Files and directories (globs allowed) saved and restored, relative to the workspace.
    #[schemars(with = "Vec<String>")]
    pub paths: Vec<Spanned<String>>,
    /// Fallbacks when the key misses, best first: each a leading part of `key` (`[]`: any
    /// earlier entry of this job). The newest entry matching one restores.
    #[serde(default)]
    #[schemars(with = "Vec<Vec<String>>")]
    pub restore_keys: Vec<Spanned<Vec<String>>>,
}

/// A deployment environment.
#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct EnvironmentFile {
    /// Approvals needed before a deployment starts.
    #[serde(default)]
    #[schemars(with = "Option<ApprovalFile>")]
    pub approval: Option<Spanned<ApprovalFile>>,
    /// Where releases run: `{docker: …}` or `{script: …}`.
    #[serde(default)]
    #[schemars(with = "Option<TargetFile>")]
    pub target: Option<Spanned<TargetFile>>,
    /// How traffic moves to a new release (default: direct).
    #[serde(default)]
    #[schemars(with = "Option<StrategyFile>")]
    pub strategy: Option<Spanned<StrategyFile>>,
    /// The HTTP health gate before a release gets traffic.
    #[serde(default)]
    #[schemars(with = "Option<HealthFile>")]
    pub health: Option<Spanned<HealthFile>>,
    /// Measurements after the switch (during a canary, on a blue/green preview).
    #[serde(default)]
    #[schemars(with = "Option<Vec<AnalysisFile>>")]
    pub analysis: Option<Vec<Spanned<AnalysisFile>>>,
    /// What a failed health gate or analysis does: `auto` (default) or `manual`.
    #[serde(default)]
    #[schemars(with = "Option<Rollback>")]
    pub rollback: Option<Spanned<Rollback>>,
    /// Environments the same release must have been deployed to successfully first.
    #[serde(default)]
    #[schemars(with = "Option<Vec<String>>")]
    pub requires: Option<Vec<Spanned<String>>>,
    /// Branches whose runs may deploy here (globs). With `tags:`, a run must match one of
    /// the two lists; with neither, any branch or tag may.
    #[serde(default)]
    #[schemars(with = "Option<Vec<String>>")]
    pub branches: Option<Vec<Spanned<String>>>,
    /// Tags whose runs may deploy here (globs).
    #[serde(default)]
    #[schemars(with = "Option<Vec<String>>")]
    pub tags: Option<Vec<Spanned<String>>>,
    /// Windows in which nothing deploys here, e.g. `{cron: "0 18 * * FRI", duration: 62h,
    /// timezone: Europe/Berlin}`.
    #[serde(default)]
    pub freeze: Option<Vec<FreezeFile>>,
    /// How long a deployment waits before it starts, e.g. `5m`.
    #[serde(default)]
    #[schemars(with = "Option<String>")]
    pub wait: Option<Spanned<String>>,
}

/// `environments.NAME.freeze[]`.
#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct FreezeFile {
    /// When each window starts: a 5-field cron expression.
    #[schemars(with = "String")]
    pub cron: Spanned<String>,
    /// How long each window lasts, e.g. `62h`.
    #[schemars(with = "String")]
    pub duration: Spanned<String>,
    /// The IANA time zone the cron is read in, e.g. `Europe/Berlin` (default `UTC`).
    #[serde(default)]
    #[schemars(with = "Option<String>")]
    pub timezone: Option<Spanned<String>>,
}

/// `environments.NAME.approval`.
#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields, rename_all = "kebab-case")]
pub struct ApprovalFile {
    /// How many approvals are needed.
    #[serde(default)]
    pub required: Option<u32>,
    /// Whether whoever started the run may approve it.
    #[serde(default)]
    pub self_approval: Option<bool>,
}

/// `environments.NAME.health`: the HTTP health gate before a release gets traffic.
#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct HealthFile {
    /// The path probed on the release's container (Docker target), e.g. `/up`.
    #[serde(default)]
    #[schemars(with = "Option<String>")]
    pub path: Option<Spanned<String>>,
    /// The URL probed after a script target's call (script targets).
    #[serde(default)]
    #[schemars(with = "Option<String>")]
    pub url: Option<Spanned<String>>,
    /// Time between probes (default `1s`).
    #[serde(default)]
    #[schemars(with = "Option<String>")]
    pub interval: Option<Spanned<String>>,
    /// How long the release has to become healthy (default `30s`).
    #[serde(default)]
    #[schemars(with = "Option<String>")]
    pub timeout: Option<Spanned<String>>,
    /// How long it must answer 2xx without a failure before it gets traffic (default: the
    /// first 2xx is enough), e.g. `5s`: a release that crashes soon after it starts never
    /// gets a request.
    #[serde(default, rename = "for")]
    #[schemars(with = "Option<String>")]
    pub hold: Option<Spanned<String>>,
}

/// `environments.NAME.rollback`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum Rollback {
    /// Traffic goes back to the previous release as soon as the health gate or the
    /// analysis fails (the default).
    Auto,
    /// The deployment pauses for someone to `wharf deploy abort` or `resume` it.
    Manual,
}

/// `environments.NAME.target`: exactly one of `docker` and `script`.
#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct TargetFile {
    /// The release's image in a container on the Docker host, behind `wharf proxy`.
    #[serde(default)]
    #[schemars(with = "Option<DockerTargetFile>")]
    pub docker: Option<Spanned<DockerTargetFile>>,
    /// The project's own deploy script.
    #[serde(default)]
    #[schemars(with = "Option<ScriptTargetFile>")]
    pub script: Option<Spanned<ScriptTargetFile>>,
}

/// `environments.NAME.target.docker`.
#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct DockerTargetFile {
    /// The control API of the `wharf proxy` in front of the containers, e.g.
    /// `http://127.0.0.1:8081`.
    #[schemars(with = "String")]
    pub proxy: Spanned<String>,
    /// The proxy's service name (default: the environment's name).
    #[serde(default)]
    #[schemars(with = "Option<String>")]
    pub service: Option<Spanned<String>>,
    /// `Host` values the service answers for (default: every host no other service
    /// claims).
    #[serde(default)]
    #[schemars(with = "Option<Vec<String>>")]
    pub hosts: Option<Vec<Spanned<String>>>,
    /// The port the application listens on in its container.
    #[schemars(with = "u16")]
    pub port: Spanned<i64>,
    /// Which of the release's pushed images runs (its name without tag), when it has
    /// several.
    #[serde(default)]
    #[schemars(with = "Option<String>")]
    pub image: Option<Spanned<String>>,
    /// Environment variables of the container (plain values; not secrets).
    #[serde(default)]
    #[schemars(with = "Option<OrderedMap<String>>")]
    pub env: Option<Spanned<OrderedMap<Spanned<String>>>>,
}

/// `environments.NAME.target.script`.
#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct ScriptTargetFile {
    /// The program and its arguments, run from the project root with no shell, e.g.
    /// `[./deploy.sh, --fast]`.
    #[schemars(with = "Vec<String>")]
    pub run: Spanned<Vec<Spanned<String>>>,
    /// How long one call may take (default `10m`).
    #[serde(default)]
    #[schemars(with = "Option<String>")]
    pub timeout: Option<Spanned<String>>,
    /// Secrets the program gets as variables, decrypted after the environment's gates
    /// (the environment's value, else the one for every environment).
    #[serde(default)]
    #[schemars(with = "Option<Vec<String>>")]
    pub secrets: Option<Vec<Spanned<String>>>,
}

/// `environments.NAME.strategy`: `direct` (the default), or `{blue-green: …}`, or
/// `{canary: …}`.
#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields, rename_all = "kebab-case")]
pub struct StrategyFile {
    /// All traffic at once after the health gate (`direct: {}`).
    #[serde(default)]
    #[schemars(with = "Option<EmptyFile>")]
    pub direct: Option<Spanned<EmptyFile>>,
    /// A preview first, promoted after the analysis.
    #[serde(default)]
    #[schemars(with = "Option<BlueGreenFile>")]
    pub blue_green: Option<Spanned<BlueGreenFile>>,
    /// Weighted steps, then promotion.
    #[serde(default)]
    #[schemars(with = "Option<CanaryFile>")]
    pub canary: Option<Spanned<CanaryFile>>,
}

/// A map with no keys (`direct: {}`).
#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct EmptyFile {}

/// `strategy.blue-green`.
#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields, rename_all = "kebab-case")]
pub struct BlueGreenFile {
    /// How long the healthy preview waits before promotion: a duration, or `manual`
    /// (until `wharf deploy resume`).
    #[serde(default)]
    #[schemars(with = "Option<String>")]
    pub pause: Option<Spanned<String>>,
    /// The `Host` that reaches the preview (besides the header `X-Wharf-Preview: 1`).
    #[serde(default)]
    #[schemars(with = "Option<String>")]
    pub preview_host: Option<Spanned<String>>,
}

/// `strategy.canary`.
#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct CanaryFile {
    /// The steps: `{weight: 10, pause: 5m}`; `pause: manual` waits for
    /// `wharf deploy resume`.
    pub steps: Vec<CanaryStepFile>,
    /// One client, one release: `{cookie: NAME}` or `{header: NAME}`.
    #[serde(default)]
    #[schemars(with = "Option<StickyFile>")]
    pub sticky: Option<Spanned<StickyFile>>,
}

/// `strategy.canary.steps[]`.
#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct CanaryStepFile {
    /// The share of requests the new release gets, 1–100.
    #[schemars(with = "u8")]
    pub weight: Spanned<i64>,
    /// How long the step lasts: a duration, or `manual`.
    #[serde(default)]
    #[schemars(with = "Option<String>")]
    pub pause: Option<Spanned<String>>,
}

/// `strategy.canary.sticky`.
#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct StickyFile {
    /// The cookie whose value picks the release.
    #[serde(default)]
    #[schemars(with = "Option<String>")]
    pub cookie: Option<Spanned<String>>,
    /// The request header whose value picks the release.
    #[serde(default)]
    #[schemars(with = "Option<String>")]
    pub header: Option<Spanned<String>>,
}

/// `environments.NAME.analysis[]`: one metric, with Argo Rollouts' semantics.
#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields, rename_all = "kebab-case")]
pub struct AnalysisFile {
    /// Its name, e.g. `success-rate`.
    #[schemars(with = "String")]
    pub name: Spanned<String>,
    /// A Prometheus instant query.
    #[serde(default)]
    #[schemars(with = "Option<PrometheusFile>")]
    pub prometheus: Option<Spanned<PrometheusFile>>,
    /// An HTTP GET whose JSON body (or a value in it) is the result.
    #[serde(default)]
    #[schemars(with = "Option<HttpProbeFile>")]
    pub http: Option<Spanned<HttpProbeFile>>,
    /// A program whose exit code is the result (no shell).
    #[serde(default)]
    #[schemars(with = "Option<Vec<String>>")]
    pub script: Option<Spanned<Vec<Spanned<String>>>>,
    /// An HTTP load whose thresholds are the result, as the `load-test` step takes it
    /// (against a blue/green preview: its `preview-host` or `X-Wharf-Preview: "1"`).
    #[serde(default)]
    #[schemars(with = "Option<crate::builtin::LoadTestFile>")]
    pub load_test: Option<Spanned<crate::builtin::LoadTestFile>>,
    /// Time between measurements (without it: one measurement).
    #[serde(default)]
    #[schemars(with = "Option<String>")]
    pub interval: Option<Spanned<String>>,
    /// Measurements to take (without it and with an interval: until the deployment ends).
    #[serde(default)]
    #[schemars(with = "Option<u32>")]
    pub count: Option<Spanned<i64>>,
    /// Wait before the first measurement.
    #[serde(default)]
    #[schemars(with = "Option<String>")]
    pub initial_delay: Option<Spanned<String>>,
    /// A measurement succeeds when this holds, e.g. `result >= 0.99`.
    #[serde(default)]
    #[schemars(with = "Option<String>")]
    pub success: Option<Spanned<String>>,
    /// A measurement fails when this holds, e.g. `result > 0.05`.
    #[serde(default)]
    #[schemars(with = "Option<String>")]
    pub failure: Option<Spanned<String>>,
    /// Failed measurements tolerated (default 0; -1: never fail).
    #[serde(default)]
    #[schemars(with = "Option<i32>")]
    pub failure_limit: Option<Spanned<i64>>,
    /// Measurement errors in a row tolerated before the analysis is inconclusive
    /// (default 4).
    #[serde(default)]
    #[schemars(with = "Option<u32>")]
    pub consecutive_error_limit: Option<Spanned<i64>>,
    /// How long one measurement may take (default `10s`).
    #[serde(default)]
    #[schemars(with = "Option<String>")]
    pub timeout: Option<Spanned<String>>,
}

/// `analysis[].prometheus`.
#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct PrometheusFile {
    /// The server, e.g. `http://127.0.0.1:9090`.
    #[schemars(with = "String")]
    pub url: Spanned<String>,
    /// The instant query; `${{ release }}`, `${{ previous }}`, `${{ service }}` and
    /// `${{ environment }}` are replaced.
    #[schemars(with = "String")]
    pub query: Spanned<String>,
}

/// `analysis[].http`.
#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields, rename_all = "kebab-case")]
pub struct HttpProbeFile {
    /// The URL (the same `${{ … }}` names as a query).
    #[schemars(with = "String")]
    pub url: Spanned<String>,
    /// A dotted path into the JSON body, e.g. `data.ratio`.
    #[serde(default)]
    #[schemars(with = "Option<String>")]
    pub json_path: Option<Spanned<String>>,
}

/// `retry:` as written: a count, or a map.
#[derive(Debug, Clone, Copy)]
pub struct RetryFile {
    /// Extra attempts (validated to 0..=10 later, with a position).
    pub max: i64,
    /// Retry on timeouts too.
    pub on_timeout: bool,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields, rename_all = "kebab-case")]
struct RetryMap {
    max: i64,
    #[serde(default)]
    on_timeout: bool,
}

impl<'de> Deserialize<'de> for RetryFile {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct RetryVisitor;

        impl<'de> Visitor<'de> for RetryVisitor {
            type Value = RetryFile;

            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("a number of retries or `{ max: N, on-timeout: BOOL }`")
            }

            fn visit_i64<E: Error>(self, v: i64) -> Result<RetryFile, E> {
                Ok(RetryFile {
                    max: v,
                    on_timeout: false,
                })
            }

            fn visit_u64<E: Error>(self, v: u64) -> Result<RetryFile, E> {
                Ok(RetryFile {
                    max: i64::try_from(v).unwrap_or(i64::MAX),
                    on_timeout: false,
                })
            }

            fn visit_map<A: MapAccess<'de>>(self, map: A) -> Result<RetryFile, A::Error> {
                let m = RetryMap::deserialize(serde::de::value::MapAccessDeserializer::new(map))?;
                Ok(RetryFile {
                    max: m.max,
                    on_timeout: m.on_timeout,
                })
            }
        }

        deserializer.deserialize_any(RetryVisitor)
    }
}

impl JsonSchema for RetryFile {
    fn schema_name() -> Cow<'static, str> {
        "Retry".into()
    }

    fn json_schema(_generator: &mut SchemaGenerator) -> Schema {
        json_schema!({
            "description": "Extra attempts after a failure: a count, or a map.",
            "oneOf": [
                { "type": "integer", "minimum": 0, "maximum": 10 },
                {
                    "type": "object",
                    "additionalProperties": false,
                    "required": ["max"],
                    "properties": {
                        "max": { "type": "integer", "minimum": 0, "maximum": 10 },
                        "on-timeout": { "type": "boolean" }
                    }
                }
            ]
        })
    }
}

/// `artifacts:` as written: a list of globs, or `{ paths: [GLOB…], when: WHEN }`.
#[derive(Debug, Default)]
pub struct ArtifactsFile {
    /// The globs.
    pub paths: Vec<Spanned<String>>,
    /// `when:`, checked by `validate` (so a wrong value gets a hint); `None` in the list
    /// form or when absent.
    pub when: Option<Spanned<String>>,
    /// The map form was used without `paths:`.
    pub no_paths: bool,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct ArtifactsMap {
    #[serde(default)]
    paths: Option<Vec<Spanned<String>>>,
    #[serde(default)]
    when: Option<Spanned<String>>,
}

impl<'de> Deserialize<'de> for ArtifactsFile {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct ArtifactsVisitor;

        impl<'de> Visitor<'de> for ArtifactsVisitor {
            type Value = ArtifactsFile;

            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("a list of globs or `{ paths: [GLOB…], when: on_success | on_failure | always }`")
            }

            fn visit_seq<A: serde::de::SeqAccess<'de>>(
                self,
                mut seq: A,
            ) -> Result<ArtifactsFile, A::Error> {
                let mut paths = Vec::new();
                while let Some(p) = seq.next_element::<Spanned<String>>()? {
                    paths.push(p);
                }
                Ok(ArtifactsFile {
                    paths,
                    ..ArtifactsFile::default()
                })
            }

            fn visit_map<A: MapAccess<'de>>(self, map: A) -> Result<ArtifactsFile, A::Error> {
                let m =
                    ArtifactsMap::deserialize(serde::de::value::MapAccessDeserializer::new(map))?;
                Ok(ArtifactsFile {
                    no_paths: m.paths.is_none(),
                    paths: m.paths.unwrap_or_default(),
                    when: m.when,
                })
            }
        }

        deserializer.deserialize_any(ArtifactsVisitor)
    }
}

impl JsonSchema for ArtifactsFile {
    fn schema_name() -> Cow<'static, str> {
        "Artifacts".into()
    }

    fn json_schema(_generator: &mut SchemaGenerator) -> Schema {
        json_schema!({
            "description": "Files the job keeps: a list of globs (kept when the job succeeds), or a map that says when.",
            "anyOf": [
                { "type": "array", "items": { "type": "string" } },
                {
                    "type": "object",
                    "additionalProperties": false,
                    "required": ["paths"],
                    "properties": {
                        "paths": {
                            "description": "Globs relative to the workspace.",
                            "type": "array",
                            "items": { "type": "string" }
                        },
                        "when": {
                            "description": "Keep them after a success (default), a failure, or either (GitLab's `artifacts:when`).",
                            "enum": ["on_success", "on_failure", "always"]
                        }
                    }
                }
            ]
        })
    }
}

/// A list of matrix cells given by hand (`include:` / `exclude:`).
pub type CellsFile = Vec<Spanned<OrderedMap<Spanned<Scalar>>>>;

/// `matrix:` as written: axes in order, and the `include` / `exclude` lists.
#[derive(Debug, Default)]
pub struct MatrixFile {
    /// Axis name and its values, in source order.
    pub axes: Vec<(Spanned<String>, Vec<Spanned<Scalar>>)>,
    /// Extra cells.
    pub include: CellsFile,
    /// Cells removed from the cross product.
    pub exclude: CellsFile,
}

impl<'de> Deserialize<'de> for MatrixFile {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct MatrixVisitor;

        impl<'de> Visitor<'de> for MatrixVisitor {
            type Value = MatrixFile;

            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("a mapping of axis names to lists of values")
            }

            fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<MatrixFile, A::Error> {
                let mut matrix = MatrixFile::default();
                while let Some(key) = map.next_key::<Spanned<String>>()? {
                    match key.value.as_str() {
                        "include" => matrix.include = map.next_value()?,
                        "exclude" => matrix.exclude = map.next_value()?,
                        _ => {
                            let values = map.next_value()?;
                            matrix.axes.push((key, values));
                        }
                    }
                }
                Ok(matrix)
            }
        }

        deserializer.deserialize_map(MatrixVisitor)
    }
}

impl JsonSchema for MatrixFile {
    fn schema_name() -> Cow<'static, str> {
        "Matrix".into()
    }

    fn json_schema(generator: &mut SchemaGenerator) -> Schema {
        let scalar = generator.subschema_for::<Scalar>();
        json_schema!({
            "description": "Axes (name -> list of values); the job runs once per combination.",
            "type": "object",
            "properties": {
                "include": {
                    "description": "Extra combinations.",
                    "type": "array",
                    "items": { "type": "object", "additionalProperties": scalar }
                },
                "exclude": {
                    "description": "Combinations removed from the cross product.",
                    "type": "array",
                    "items": { "type": "object", "additionalProperties": scalar }
                }
            },
            "additionalProperties": { "type": "array", "items": scalar }
        })
    }
}
