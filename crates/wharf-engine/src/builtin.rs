//! The built-in step boundary. The engine decides *when* a built-in step runs and with
//! which (rendered) parameters, environment and secrets; a [`BuiltinRunner`] does the
//! work. The binary implements it with the package, OCI and publish crates, which keeps
//! the engine free of registries and HTTP clients (DESIGN.md: dependencies point one way).

use std::path::PathBuf;

use serde_json::Value as Json;
use tokio::sync::watch;
use tokio::time::Instant;
use wharf_model::{ArtifactRecord, Builtin, Event, Produced};
use wharf_secrets::secret::SecretString;

use crate::executor::{BoxFuture, StepOutcome};
use crate::logs::LogWriter;

/// Everything a built-in step needs.
pub struct BuiltinRequest {
    /// Job id.
    pub job: String,
    /// 0-based step index.
    pub step: usize,
    /// The step, every template already rendered.
    pub builtin: Builtin,
    /// The step's directory (relative paths in the parameters start here).
    pub cwd: PathBuf,
    /// The job's workspace (its own copy of the project, or the project itself).
    pub workspace: PathBuf,
    /// The project directory: where its git history lives, and what steps that change the
    /// project on purpose (the release's changelog) write to.
    pub project: PathBuf,
    /// The `.wharf` state directory (caches, image layouts).
    pub wharf_dir: PathBuf,
    /// The run number.
    pub run: u64,
    /// The event (version, sha, ...).
    pub event: Event,
    /// The step's environment (as a `run:` step would get it, without secrets).
    pub env: Vec<(String, String)>,
    /// The secrets the job declares, by name.
    pub secrets: Vec<(String, SecretString)>,
    /// Stop when this instant passes.
    pub deadline: Option<Instant>,
    /// Artifacts of the jobs this one needs (directly or not).
    pub upstream_artifacts: Vec<ArtifactRecord>,
    /// What the built-in steps of the jobs this one needs, and this job's earlier steps,
    /// produced.
    pub upstream_produced: Vec<Produced>,
    /// Versions already released, with their commits, when the run started (a version is
    /// released once).
    pub known_releases: Vec<(String, String)>,
    /// The project's release key, for a `release` step to sign what it records (`None`:
    /// its releases are unsigned, and it says so).
    pub signing_key: Option<std::sync::Arc<wharf_secrets::signing::ReleaseKey>>,
}

impl BuiltinRequest {
    /// The value of a secret the job declares.
    pub fn secret(&self, name: &str) -> Option<&SecretString> {
        self.secrets.iter().find(|(k, _)| k == name).map(|(_, v)| v)
    }

    /// An environment variable of the step.
    pub fn var(&self, name: &str) -> Option<&str> {
        self.env
            .iter()
            .rev()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.as_str())
    }
}

impl std::fmt::Debug for BuiltinRequest {
    // Secrets and the environment never print.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("BuiltinRequest")
            .field("job", &self.job)
            .field("step", &self.step)
            .field("builtin", &self.builtin)
            .field("cwd", &self.cwd)
            .field(
                "secrets",
                &self
                    .secrets
                    .iter()
                    .map(|(k, _)| k.as_str())
                    .collect::<Vec<_>>(),
            )
            .finish_non_exhaustive()
    }
}

/// How a built-in step ended, and what it produced.
#[derive(Debug, Clone)]
pub struct BuiltinOutcome {
    /// `Exited(0)` on success, `Exited(1)` with the reason written to the log on failure,
    /// or `TimedOut`/`Cancelled`.
    pub outcome: StepOutcome,
    /// Release artifacts it produced.
    pub produced: Vec<Produced>,
    /// The release a `release` step made, for the recorder.
    pub release: Option<wharf_model::ReleaseRecord>,
    /// What the user should see in the run's summary (also written to the step's log):
    /// e.g. an image built but not pushed, and why.
    pub warnings: Vec<String>,
    /// Why it failed, for the job's reason (also written to the step's log).
    pub error: Option<String>,
}

/// Runs built-in steps.
pub trait BuiltinRunner: Send + Sync + 'static {
    /// Runs `req`, writing progress to `log`, until done, its deadline passes, or `cancel`
    /// becomes true.
    fn run(
        &self,
        req: BuiltinRequest,
        cancel: watch::Receiver<bool>,
        log: LogWriter,
    ) -> BoxFuture<BuiltinOutcome>;
}

/// Renders every string of `builtin` as a template with `render`. The parameters are data
/// for wharf (never shell source), so they may use the whole run-time context.
pub(crate) fn render(
    builtin: &Builtin,
    render: &mut dyn FnMut(&str) -> Result<String, String>,
) -> Result<Builtin, String> {
    let mut value = serde_json::to_value(builtin).map_err(|e| e.to_string())?;
    walk(&mut value, render)?;
    serde_json::from_value(value).map_err(|e| e.to_string())
}

fn walk(
    v: &mut Json,
    render: &mut dyn FnMut(&str) -> Result<String, String>,
) -> Result<(), String> {
    match v {
        Json::String(s) if s.contains("${{") => *s = render(s)?,
        Json::Array(items) => items.iter_mut().try_for_each(|i| walk(i, render))?,
        Json::Object(map) => map.values_mut().try_for_each(|i| walk(i, render))?,
        _ => {}
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use wharf_model::PackageStep;

    #[test]
    fn every_string_is_rendered_and_others_kept() {
        let b = Builtin::Package(PackageStep {
            paths: vec!["dist/".into(), "${{ x }}".into()],
            output: "app-${{ v }}.tar.gz".into(),
        });
        let out = render(&b, &mut |s: &str| {
            Ok(s.replace("${{ x }}", "X").replace("${{ v }}", "1.0"))
        })
        .unwrap();
        assert_eq!(
            out,
            Builtin::Package(PackageStep {
                paths: vec!["dist/".into(), "X".into()],
                output: "app-1.0.tar.gz".into()
            })
        );
        let err = render(&b, &mut |_: &str| Err("boom".to_string())).unwrap_err();
        assert_eq!(err, "boom");
    }
}
