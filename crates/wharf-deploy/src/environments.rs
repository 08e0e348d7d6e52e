//! The environments a project declares, and what each looks like now: one description for
//! every front end (`wharf environments --json`, the server's API and its dashboard), so
//! they cannot drift apart.

use serde::{Deserialize, Serialize};
use wharf_model::{EnvironmentRules, FreezeWindow, Millis, Target};
use wharf_store::LeaseHolder;

use crate::deployer::Deployer;
use crate::error::{Error, Result};

/// The environments `pipelines` declare, each once: the declaration with a `target:` wins
/// over ones without (a pipeline may name an environment only for its protection rules);
/// two different targets for one environment are refused.
pub fn declared(pipelines: &[wharf_pipeline::Pipeline]) -> Result<Vec<EnvironmentRules>> {
    let mut environments: Vec<EnvironmentRules> = Vec::new();
    for p in pipelines {
        for e in p.environments() {
            match environments.iter().find(|x| x.name == e.name) {
                Some(x)
                    if x.deploy.is_some()
                        && e.rules.deploy.is_some()
                        && x.deploy != e.rules.deploy =>
                {
                    return Err(Error::refused(
                        format!(
                            "environment `{}` is declared with two different targets ({} and {})",
                            e.name, x.at, e.rules.at
                        ),
                        "declare its `target:` and what goes with it in one pipeline file",
                    ));
                }
                Some(x) if x.deploy.is_some() => {}
                Some(_) => {
                    environments.retain(|x| x.name != e.name);
                    environments.push(e.rules.clone());
                }
                None => environments.push(e.rules.clone()),
            }
        }
    }
    Ok(environments)
}

/// Where an environment's releases run, in short.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum TargetSummary {
    /// A container behind `wharf proxy`.
    Docker {
        /// The proxy's control API.
        proxy: String,
        /// The proxy's service.
        service: String,
        /// The application's port in its container.
        port: u16,
    },
    /// The project's deploy program.
    Script {
        /// The program and its arguments.
        run: Vec<String>,
    },
}

/// One environment as declared, with what runs there and who holds it.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct EnvironmentState {
    /// Its name.
    pub name: String,
    /// Where it is declared (`wharf.yml:12:3`).
    pub at: String,
    /// Its target, if it has one.
    pub target: Option<TargetSummary>,
    /// Its strategy's name, if it has a target.
    pub strategy: Option<String>,
    /// Environments a release must have succeeded in first.
    pub requires: Vec<String>,
    /// Approvals a deployment needs.
    pub approvals: u32,
    /// Branches whose releases it takes (globs).
    pub branches: Vec<String>,
    /// Tags whose releases it takes (globs).
    pub tags: Vec<String>,
    /// Its freeze windows.
    pub freeze: Vec<FreezeWindow>,
    /// Its wait timer, in milliseconds.
    pub wait_ms: Option<u64>,
    /// The release that serves there (its latest successful deployment's).
    pub release: Option<String>,
    /// That deployment's id.
    pub deployment: Option<i64>,
    /// Since when it serves.
    pub since: Option<Millis>,
    /// Who holds the environment's lease, if anyone.
    pub lease: Option<LeaseHolder>,
}

impl EnvironmentState {
    /// Its rules in a few words: `2 approvals, refs, freeze, wait, requires staging`.
    pub fn rules(&self) -> Vec<String> {
        let mut rules = Vec::new();
        if self.approvals > 0 {
            rules.push(format!(
                "{} approval{}",
                self.approvals,
                if self.approvals == 1 { "" } else { "s" }
            ));
        }
        if !self.tags.is_empty() || !self.branches.is_empty() {
            rules.push("refs".to_string());
        }
        if !self.freeze.is_empty() {
            rules.push("freeze".to_string());
        }
        if self.wait_ms.is_some() {
            rules.push("wait".to_string());
        }
        if !self.requires.is_empty() {
            rules.push(format!("requires {}", self.requires.join(", ")));
        }
        rules
    }

    /// Its target in a few words: `docker (web)`, `script (./deploy.sh --fast)`, `-`.
    pub fn target_text(&self) -> String {
        match &self.target {
            Some(TargetSummary::Docker { service, .. }) => format!("docker ({service})"),
            Some(TargetSummary::Script { run }) => format!("script ({})", run.join(" ")),
            None => "-".to_string(),
        }
    }
}

impl Deployer {
    /// Every declared environment as it is now.
    pub async fn environment_states(&self) -> Result<Vec<EnvironmentState>> {
        let mut out = Vec::new();
        for e in &self.environments {
            let serving = self.store.serving(&e.name).await?;
            let lease = self.store.environment_holder(&e.name).await?;
            out.push(EnvironmentState {
                name: e.name.clone(),
                at: e.at.clone(),
                target: e.deploy.as_ref().map(|c| match &c.target {
                    Target::Docker(t) => TargetSummary::Docker {
                        proxy: t.proxy.clone(),
                        service: t.service.clone(),
                        port: t.port,
                    },
                    Target::Script(s) => TargetSummary::Script { run: s.run.clone() },
                }),
                strategy: e.deploy.as_ref().map(|c| c.strategy.name().to_string()),
                requires: e
                    .deploy
                    .as_ref()
                    .map(|c| c.requires.clone())
                    .unwrap_or_default(),
                approvals: e.approvals,
                branches: e.branches.clone(),
                tags: e.tags.clone(),
                freeze: e.freeze.clone(),
                wait_ms: e.wait_ms,
                release: serving.as_ref().map(|s| s.release.clone()),
                deployment: serving.as_ref().map(|s| s.id),
                since: serving.as_ref().and_then(|s| s.finished_at),
                lease,
            });
        }
        Ok(out)
    }
}
