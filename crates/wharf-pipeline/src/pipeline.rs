//! A validated pipeline file: every rule checked, ready to be planned for any event.
//!
//! Holding a [`Pipeline`] means the file is valid; it can still be refused at plan time
//! only for reasons that depend on the request (an unknown job name on the command line).

use std::collections::BTreeMap;
use std::ops::Range;

use wharf_model::{Event, Plan, RetryPolicy, StepAction};

use crate::diagnostic::Diagnostics;
use crate::matrix::Matrix;
use crate::triggers::Triggers;

/// A validated pipeline file.
#[derive(Debug, Clone)]
pub struct Pipeline {
    pub(crate) name: String,
    pub(crate) name_span: Option<Range<usize>>,
    pub(crate) file: String,
    pub(crate) source: std::sync::Arc<str>,
    pub(crate) triggers: Option<Triggers>,
    pub(crate) env: Vec<(String, String)>,
    pub(crate) defaults: Defaults,
    pub(crate) fail_fast: bool,
    pub(crate) jobs: Vec<Job>,
    pub(crate) environments: Vec<Environment>,
    pub(crate) insecure: Vec<FoundSetting>,
}

/// One of wharf's own insecure settings, found where the file sets it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FoundSetting {
    /// The setting, its subject and `file:line:column`.
    pub setting: wharf_model::InsecureSetting,
    /// The bytes of the file that set it.
    pub span: std::ops::Range<usize>,
}

/// `defaults:`, validated.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Defaults {
    /// Job timeout in milliseconds.
    pub timeout_ms: Option<u64>,
    /// Step shell, when set.
    pub shell: Option<String>,
    /// Working directory.
    pub working_directory: Option<String>,
}

/// One job, validated (matrix not yet expanded, templates not yet substituted).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Job {
    /// Its key in `jobs:`.
    pub name: String,
    /// Names of the jobs it needs.
    pub needs: Vec<String>,
    /// `if:` source.
    pub condition: Option<String>,
    /// The steps (`run:` shorthand becomes one step).
    pub steps: Vec<Step>,
    /// `env:` templates, in file order.
    pub env: Vec<(String, String)>,
    /// Declared secret names.
    pub secrets: Vec<String>,
    /// The matrix, if any.
    pub matrix: Option<Matrix>,
    /// Timeout in milliseconds (its own, else `defaults.timeout`).
    pub timeout_ms: Option<u64>,
    /// Retry policy.
    pub retry: RetryPolicy,
    /// A failure does not fail the run.
    pub continue_on_error: bool,
    /// Working directory (its own, else `defaults.working-directory`).
    pub working_directory: Option<String>,
    /// Container image to run in.
    pub image: Option<String>,
    /// Artifact globs.
    pub artifacts: Vec<String>,
    /// When the artifacts are kept (`artifacts: { when }`).
    pub artifacts_when: wharf_model::ArtifactsWhen,
    /// Report globs.
    pub reports: Vec<String>,
    /// Cache key files and paths, when declared.
    pub cache: Option<Cache>,
    /// Declared output names.
    pub outputs: Vec<String>,
    /// Target environment.
    pub environment: Option<String>,
    /// Side containers.
    pub services: Vec<wharf_model::ServicePlan>,
    /// Where the job runs (its own `workspace:`, else the pipeline's).
    pub workspace: wharf_model::WorkspaceMode,
}

/// `cache:` (parsed, not used yet).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Cache {
    /// Files whose content makes up the key.
    pub key: Vec<String>,
    /// Paths saved and restored.
    pub paths: Vec<String>,
    /// Fallback keys, each a leading part of `key`.
    pub restore_keys: Vec<Vec<String>>,
}

/// One step, validated.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Step {
    /// `name:`, if given.
    pub name: Option<String>,
    /// What it does; a `run:` script is a template whose only expressions are `matrix.*`.
    pub action: StepAction,
    /// `env:` templates, in file order.
    pub env: Vec<(String, String)>,
    /// Working directory.
    pub working_directory: Option<String>,
    /// Timeout in milliseconds.
    pub timeout_ms: Option<u64>,
    /// A failure does not fail the job.
    pub continue_on_error: bool,
    /// `if:` source.
    pub condition: Option<String>,
}

/// A deployment environment.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Environment {
    /// Its name.
    pub name: String,
    /// Its rules (checked before a job or `wharf deploy` deploys to it; what the plan
    /// carries) and how it is deployed to.
    pub rules: wharf_model::EnvironmentRules,
}

impl Pipeline {
    /// The pipeline's name.
    pub fn name(&self) -> &str {
        &self.name
    }

    /// The display path of its file.
    pub fn file(&self) -> &str {
        &self.file
    }

    /// Whether `event` starts this pipeline (no `on:` means every event does, except
    /// the end of another pipeline: only `on.pipeline` follows one, and never a pipeline
    /// already in the chain that led to the event).
    pub fn matches(&self, event: &Event) -> bool {
        if event.kind == wharf_model::EventKind::Pipeline {
            let in_chain = event
                .upstream
                .as_ref()
                .is_some_and(|u| u.chain.contains(&self.name));
            return !in_chain
                && self
                    .triggers
                    .as_ref()
                    .is_some_and(|t| t.pipeline.is_some() && t.matches(event));
        }
        self.triggers.as_ref().is_none_or(|t| t.matches(event))
    }

    /// Checks a manual event's inputs and applies defaults; `Err` says what is wrong and
    /// lists the valid choices.
    pub fn resolve_inputs(&self, event: &mut Event) -> Result<(), String> {
        let declared = self.triggers.as_ref().and_then(|t| t.manual.as_deref());
        crate::inputs::resolve(&self.name, declared, &mut event.inputs)
    }

    /// Compiles the pipeline for `event`. `only_jobs` empty means every job; otherwise
    /// those jobs and everything they need.
    pub fn plan(&self, event: &Event, only_jobs: &[String]) -> Result<Plan, Diagnostics> {
        crate::plan::plan(self, event, only_jobs, true)
    }

    /// Compiles only the named jobs, without the jobs they need (their `needs` are taken
    /// as met): one platform job of an exported CI file runs one wharf job this way.
    pub fn plan_without_needs(&self, event: &Event, jobs: &[String]) -> Result<Plan, Diagnostics> {
        crate::plan::plan(self, event, jobs, false)
    }

    /// wharf's own insecure settings this pipeline uses, where it sets them (each allowed
    /// by a `setting` exception once [`load_project`](crate::load_project) accepted it).
    pub fn insecure_settings(&self) -> &[FoundSetting] {
        &self.insecure
    }

    /// Job names in source order.
    pub fn job_names(&self) -> Vec<&str> {
        self.jobs.iter().map(|j| j.name.as_str()).collect()
    }

    /// The jobs, validated, in source order.
    pub fn jobs(&self) -> &[Job] {
        &self.jobs
    }

    /// The `on:` triggers, `None` when the file has no `on:` (every event matches).
    pub fn triggers(&self) -> Option<&Triggers> {
        self.triggers.as_ref()
    }

    /// Pipeline-level `env:` templates, in file order.
    pub fn env(&self) -> &[(String, String)] {
        &self.env
    }

    /// `defaults:`.
    pub fn defaults(&self) -> &Defaults {
        &self.defaults
    }

    /// Whether a failing job cancels the others.
    pub fn fail_fast(&self) -> bool {
        self.fail_fast
    }

    /// The declared deployment environments.
    pub fn environments(&self) -> &[Environment] {
        &self.environments
    }

    /// The file's text, for diagnostics about this pipeline.
    pub fn source(&self) -> &str {
        &self.source
    }

    /// Environment variables as the plan stores them.
    pub(crate) fn env_map(env: &[(String, String)]) -> BTreeMap<String, String> {
        env.iter().cloned().collect()
    }
}
