//! One deployment from request to record: the checks (the release exists, requirements,
//! refs, freeze windows, outdated), the gates (approvals, wait timer), the environment's
//! lease, then the strategy on the target, the analysis, and the rollback when it fails.

use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use wharf_model::{
    DeployConfig, DeployMode, DeployStatus, DeploymentRecord, EnvironmentRules, Millis, Pause,
    ReleaseRecord, RollbackPolicy, Strategy,
};
use wharf_store::{NewDeployment, Store};

use crate::analysis::{self, Verdict};
use crate::error::{Error, Result};
use crate::target::{Driver, Step};

/// Progress lines for the user.
pub type Say = Arc<dyn Fn(&str) + Send + Sync>;

/// How often a deployment looks for a request (`resume`, `abort`), an approval or a free
/// lease.
pub(crate) const POLL: Duration = Duration::from_millis(200);

/// What to deploy.
#[derive(Debug, Clone)]
pub struct DeployRequest {
    /// The environment.
    pub environment: String,
    /// The release's version.
    pub version: String,
    /// Going back to an older release on purpose.
    pub rollback: bool,
    /// Wait for the environment's lease instead of failing when another deployment holds it.
    pub queue: bool,
    /// Who asks.
    pub actor: String,
    /// Skip the environment's gates (refs, freeze windows, approvals, wait timer) for an
    /// emergency rollback, for this reason; recorded with the deployment.
    pub override_gates: Option<String>,
}

/// Runs deployments for one project.
#[derive(Clone)]
pub struct Deployer {
    /// The project's store (releases, deployments, leases, approval gates).
    pub store: Store,
    /// The project's root: where script targets and analysis scripts run.
    pub root: PathBuf,
    /// The environments the pipeline declares.
    pub environments: Vec<EnvironmentRules>,
    /// Progress.
    pub say: Say,
    /// The clock, in milliseconds since the epoch.
    pub now: fn() -> Millis,
    /// The key file that opens the store's secrets (a server's), or the user's when
    /// `None` (`WHARF_SECRET_KEY` wins over both).
    pub key_file: Option<PathBuf>,
    /// Told of every decision at a deployment's gates (a server's audit log).
    pub decisions: Option<Decisions>,
}

/// A decision at a deployment's gates.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Decision {
    /// The deployment; `None` when it was refused before it was recorded.
    pub deployment: Option<i64>,
    /// The environment.
    pub environment: String,
    /// The release.
    pub release: String,
    /// `refused`, `waiting`, `approved`, `cancelled`, `overridden` or `passed`.
    pub outcome: &'static str,
    /// Why, who approved, or the approval gate's id.
    pub detail: String,
}

/// Where decisions go: the deployer awaits what it returns before acting on the decision.
#[derive(Clone)]
#[allow(clippy::type_complexity)]
pub struct Decisions(
    pub Arc<dyn Fn(Decision) -> std::pin::Pin<Box<dyn Future<Output = ()> + Send>> + Send + Sync>,
);

impl std::fmt::Debug for Decisions {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Decisions")
    }
}

/// The current time.
pub fn system_now() -> Millis {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| i64::try_from(d.as_millis()).unwrap_or(i64::MAX))
        .unwrap_or(0)
}

/// Whether release `a` is older than `b`: by semantic version when both are one, else by
/// when they were recorded.
pub fn older(a: &ReleaseRecord, b: &ReleaseRecord) -> bool {
    let v = |s: &str| semver::Version::parse(s.trim_start_matches('v')).ok();
    match (v(&a.version), v(&b.version)) {
        (Some(x), Some(y)) => x < y,
        _ => a.created_at < b.created_at,
    }
}

impl Deployer {
    /// The rules and deployment config of `name`.
    pub fn environment(&self, name: &str) -> Result<(&EnvironmentRules, &DeployConfig)> {
        let names: Vec<&str> = self.environments.iter().map(|e| e.name.as_str()).collect();
        let rules = self
            .environments
            .iter()
            .find(|e| e.name == name)
            .ok_or_else(|| {
                Error::refused(
                    format!("no environment `{name}` in the pipeline"),
                    if names.is_empty() {
                        "declare it under `environments:` with a `target:`".to_string()
                    } else {
                        format!("the pipeline declares: {}", names.join(", "))
                    },
                )
            })?;
        let cfg = rules.deploy.as_ref().ok_or_else(|| {
            Error::refused(
                format!("environment `{name}` ({}) has no `target:`", rules.at),
                "give it `target: {docker: {proxy: URL, port: PORT}}` or `target: {script: {run: [./deploy.sh]}}`",
            )
        })?;
        Ok((rules, cfg))
    }

    /// Records a decision (awaited: it is in the audit log before it takes effect).
    async fn decide(
        &self,
        id: Option<i64>,
        req: &DeployRequest,
        outcome: &'static str,
        detail: String,
    ) {
        if let Some(d) = &self.decisions {
            (d.0)(Decision {
                deployment: id,
                environment: req.environment.clone(),
                release: req.version.clone(),
                outcome,
                detail,
            })
            .await;
        }
    }

    /// Deploys, and returns the deployment as it ended.
    pub async fn deploy(&self, req: &DeployRequest) -> Result<DeploymentRecord> {
        self.deploy_notify(req, None).await
    }

    /// Deploys, telling `created` the deployment's id as soon as it is recorded (a
    /// server answers then, while the deployment goes on); returns it as it ended.
    pub async fn deploy_notify(
        &self,
        req: &DeployRequest,
        created: Option<tokio::sync::oneshot::Sender<i64>>,
    ) -> Result<DeploymentRecord> {
        self.reconcile().await?;
        let checked = self.checks(req).await;
        if let Err(e @ (Error::Refused { .. } | Error::Outdated { .. })) = &checked {
            self.decide(None, req, "refused", e.to_string()).await;
        }
        let (release, serving, mode, overridden) = checked?;
        let (rules, cfg) = self.environment(&req.environment)?;
        let id = self
            .store
            .create_deployment(&NewDeployment {
                environment: &req.environment,
                release: &release.version,
                previous: serving.as_ref().map(|s| s.release.as_str()),
                mode,
                strategy: if mode == DeployMode::Rollback {
                    "direct"
                } else {
                    cfg.strategy.name()
                },
                digests: &release.items,
                actor: &req.actor,
                status: DeployStatus::Waiting,
                gates_override: overridden.as_deref(),
                at: (self.now)(),
            })
            .await?;
        if let Some(tx) = created {
            let _ = tx.send(id);
        }
        (self.say)(&format!(
            "deployment {id}: {} {} to {} ({})",
            mode.as_str(),
            release.version,
            req.environment,
            if mode == DeployMode::Rollback {
                "direct"
            } else {
                cfg.strategy.name()
            }
        ));
        if let Some(o) = &overridden {
            (self.say)(&format!(
                "deployment {id}: the gates of {} are skipped by {o}",
                req.environment
            ));
            self.decide(Some(id), req, "overridden", o.clone()).await;
        }
        let beat = self.heartbeat(id);
        let out = self.gated(id, req, rules, cfg, &release, mode).await;
        beat.abort();
        let _ = self.store.release_environment(&req.environment, id).await;
        match out {
            Ok(()) => {}
            Err(Error::Held(h)) => {
                let why = format!(
                    "environment {} is held by deployment {} ({}, pid {} on {})",
                    h.environment, h.deployment, h.actor, h.pid, h.host
                );
                self.finish(id, DeployStatus::Failed, "gates", &why).await?;
                return Err(Error::Held(h));
            }
            Err(e @ (Error::Refused { .. } | Error::Outdated { .. })) => {
                self.finish(id, DeployStatus::Failed, "gates", &e.to_string())
                    .await?;
                return Err(e);
            }
            Err(e) => {
                let rec = self.store.get_deployment(id).await?;
                let phase = rec.map(|r| r.phase).unwrap_or_default();
                self.finish(id, DeployStatus::Failed, &phase, &e.to_string())
                    .await?;
            }
        }
        self.store
            .get_deployment(id)
            .await?
            .ok_or_else(|| Error::target("read the deployment back", "it is gone"))
    }

    /// What is checked before a deployment is recorded: the release, the environments it
    /// requires, the override, the refs, the freeze windows, outdated. Returns the
    /// release, what serves now, the mode and who overrode the gates, and why.
    async fn checks(
        &self,
        req: &DeployRequest,
    ) -> Result<(
        ReleaseRecord,
        Option<DeploymentRecord>,
        DeployMode,
        Option<String>,
    )> {
        let (rules, cfg) = self.environment(&req.environment)?;
        let release = self
            .store
            .get_release(&req.version)
            .await?
            .ok_or_else(|| {
                Error::refused(
                    format!("no release {} is recorded", req.version),
                    "`wharf releases` lists the recorded releases; a deployment promotes one, it never builds",
                )
            })?;
        for env in &cfg.requires {
            if !self
                .store
                .deployed_successfully(env, &release.version)
                .await?
            {
                return Err(Error::refused(
                    format!(
                        "release {} has not been deployed to `{env}` successfully; `{}` requires it ({})",
                        release.version, req.environment, rules.at
                    ),
                    format!(
                        "deploy it there first: `wharf deploy {} --env {env}`",
                        release.version
                    ),
                ));
            }
        }
        let overridden = match req.override_gates.as_deref().map(str::trim) {
            None => None,
            Some("") => {
                return Err(Error::refused(
                    "an override of the gates needs a reason",
                    "say why, e.g. `--override-gates \"checkout is down; INC-1234\"`: it is kept with the deployment",
                ));
            }
            Some(why) if !req.rollback => {
                return Err(Error::refused(
                    format!(
                        "the gates of `{}` may be skipped only by a rollback (asked because: {why})",
                        req.environment
                    ),
                    format!(
                        "`wharf rollback {} --override-gates REASON` goes back to the previous good release",
                        req.environment
                    ),
                ));
            }
            Some(why) => Some(format!("{}: {why}", req.actor)),
        };
        if overridden.is_none()
            && let Some(why) =
                wharf_pipeline::gates::release_refused(rules, &release.version, &release.tag)
        {
            return Err(Error::refused(
                why,
                "deploy a release whose tag the environment takes",
            ));
        }
        if overridden.is_none()
            && let Some(f) = wharf_pipeline::gates::frozen(rules, (self.now)())
        {
            return Err(Error::refused(
                f.reason(rules),
                "deploy after the window, or remove the window",
            ));
        }
        let serving = self.store.serving(&req.environment).await?;
        let mode = self.mode(req, &release, serving.as_ref()).await?;
        Ok((release, serving, mode, overridden))
    }

    async fn mode(
        &self,
        req: &DeployRequest,
        release: &ReleaseRecord,
        serving: Option<&DeploymentRecord>,
    ) -> Result<DeployMode> {
        let Some(cur) = serving else {
            return Ok(DeployMode::Deploy);
        };
        if cur.release == release.version {
            return Ok(DeployMode::Redeploy);
        }
        let Some(cur_rel) = self.store.get_release(&cur.release).await? else {
            return Ok(DeployMode::Deploy);
        };
        if older(release, &cur_rel) {
            if req.rollback {
                return Ok(DeployMode::Rollback);
            }
            return Err(Error::Outdated {
                message: format!(
                    "release {} is older than {}, which runs in {}: refused as outdated",
                    release.version, cur.release, req.environment
                ),
                hint: Some(format!(
                    "to go back on purpose: `wharf rollback {}` or `wharf deploy {} --env {} --rollback`",
                    req.environment, release.version, req.environment
                )),
            });
        }
        Ok(if req.rollback {
            DeployMode::Rollback
        } else {
            DeployMode::Deploy
        })
    }

    fn heartbeat(&self, id: i64) -> tokio::task::JoinHandle<()> {
        let (store, now) = (self.store.clone(), self.now);
        tokio::spawn(async move {
            loop {
                tokio::time::sleep(Duration::from_secs(5)).await;
                let _ = store.renew_deployment(id, now()).await;
            }
        })
    }

    pub(crate) async fn finish(
        &self,
        id: i64,
        status: DeployStatus,
        phase: &str,
        reason: &str,
    ) -> Result<()> {
        self.store
            .set_deployment(id, status, phase, Some(reason), (self.now)())
            .await?;
        (self.say)(&format!("deployment {id}: {}: {reason}", status.as_str()));
        Ok(())
    }

    async fn phase(&self, id: i64, status: DeployStatus, phase: &str) -> Result<()> {
        self.store
            .set_deployment(id, status, phase, None, (self.now)())
            .await?;
        Ok(())
    }

    /// The gates, the lease, then the target.
    async fn gated(
        &self,
        id: i64,
        req: &DeployRequest,
        rules: &EnvironmentRules,
        cfg: &DeployConfig,
        release: &ReleaseRecord,
        mode: DeployMode,
    ) -> Result<()> {
        let skip = req.override_gates.is_some();
        let decided = async {
            if rules.approvals > 0 && !skip {
                self.approvals(id, req, rules).await?;
            }
            if let Some(ms) = rules.wait_ms.filter(|ms| *ms > 0 && !skip) {
                (self.say)(&format!(
                    "deployment {id}: waiting {} s (`wait:` of {})",
                    ms / 1000,
                    rules.name
                ));
                self.decide(
                    Some(id),
                    req,
                    "waiting",
                    format!("wait timer: {}", wharf_pipeline::gates::human_ms(ms)),
                )
                .await;
                self.sleep_or_abort(id, ms).await?;
                if let Some(f) = wharf_pipeline::gates::frozen(rules, (self.now)()) {
                    return Err(Error::refused(f.reason(rules), "deploy after the window"));
                }
            }
            Ok(())
        }
        .await;
        match &decided {
            Ok(()) if !skip => self.decide(Some(id), req, "passed", String::new()).await,
            Ok(()) => {}
            Err(e @ Error::Refused { message, .. }) => {
                self.decide(
                    Some(id),
                    req,
                    if message.starts_with("aborted") {
                        "cancelled"
                    } else {
                        "refused"
                    },
                    e.to_string(),
                )
                .await
            }
            Err(e) => self.decide(Some(id), req, "refused", e.to_string()).await,
        }
        decided?;
        // The lease.
        let mut told = false;
        loop {
            match self
                .store
                .take_environment(&req.environment, id, &req.actor, (self.now)())
                .await?
            {
                Ok(()) => break,
                Err(holder) if req.queue => {
                    if !told {
                        self.phase(id, DeployStatus::Queued, "queued").await?;
                        (self.say)(&format!(
                            "deployment {id}: queued behind deployment {} ({})",
                            holder.deployment, holder.actor
                        ));
                        told = true;
                    }
                    if self.store.take_deployment_request(id).await?.as_deref() == Some("abort") {
                        return Err(Error::refused("aborted while queued", "nothing changed"));
                    }
                    tokio::time::sleep(POLL).await;
                }
                Err(holder) => return Err(Error::Held(holder)),
            }
        }
        // What runs may have changed while this one queued.
        let serving = self.store.serving(&req.environment).await?;
        if told && mode != DeployMode::Rollback {
            self.mode(req, release, serving.as_ref()).await?;
        }
        self.store.own_deployment(id, (self.now)()).await?;
        self.phase(id, DeployStatus::Running, "pull").await?;
        let previous = match serving.as_ref() {
            Some(s) if s.release != release.version => self.store.get_release(&s.release).await?,
            _ => None,
        };
        let driver = Driver::new(
            self,
            cfg,
            &req.environment,
            id,
            release,
            previous.as_ref(),
            mode,
        )
        .await?;
        self.drive(id, &req.environment, cfg, driver, mode).await
    }

    async fn approvals(
        &self,
        id: i64,
        req: &DeployRequest,
        rules: &EnvironmentRules,
    ) -> Result<()> {
        let job = format!("deployment {id}");
        let gate = self
            .store
            .open_gate(&wharf_store::NewGate {
                run: 0,
                job: &job,
                environment: &rules.name,
                required: rules.approvals,
                starter: Some(&req.actor),
                self_approval: rules.self_approval,
                at: (self.now)(),
            })
            .await?;
        self.decide(
            Some(id),
            req,
            "waiting",
            format!("approval gate {gate}: {} needed", rules.approvals),
        )
        .await;
        (self.say)(&format!(
            "deployment {id}: waiting for {} approval{} to deploy to `{}` ({}): `wharf approve {gate}`{}",
            rules.approvals,
            if rules.approvals == 1 { "" } else { "s" },
            rules.name,
            rules.at,
            if rules.self_approval {
                String::new()
            } else {
                format!("; {}, who asked for it, may not approve it", req.actor)
            }
        ));
        loop {
            match self.store.get_gate(gate).await? {
                Some(g) if g.state == "approved" => {
                    let who: Vec<&str> = g.approvals.iter().map(|a| a.0.as_str()).collect();
                    (self.say)(&format!("deployment {id}: approved by {}", who.join(", ")));
                    self.decide(
                        Some(id),
                        req,
                        "approved",
                        format!("approval gate {gate}: by {}", who.join(", ")),
                    )
                    .await;
                    return Ok(());
                }
                Some(g) if g.state == "cancelled" => {
                    return Err(Error::refused(
                        "its approval gate was cancelled",
                        "ask again",
                    ));
                }
                Some(_) => {}
                None => return Err(Error::refused("its approval gate is gone", "ask again")),
            }
            if self.store.take_deployment_request(id).await?.as_deref() == Some("abort") {
                let _ = self.store.close_gate(gate, "cancelled", (self.now)()).await;
                return Err(Error::refused(
                    "aborted while waiting for approvals",
                    "nothing changed",
                ));
            }
            tokio::time::sleep(POLL).await;
        }
    }

    async fn sleep_or_abort(&self, id: i64, ms: u64) -> Result<()> {
        let end = tokio::time::Instant::now() + Duration::from_millis(ms);
        while tokio::time::Instant::now() < end {
            if self.store.take_deployment_request(id).await?.as_deref() == Some("abort") {
                return Err(Error::refused("aborted while waiting", "nothing changed"));
            }
            tokio::time::sleep(POLL.min(end - tokio::time::Instant::now())).await;
        }
        Ok(())
    }

    /// Moves traffic with the strategy, analyses, and promotes or rolls back.
    pub(crate) async fn drive(
        &self,
        id: i64,
        environment: &str,
        cfg: &DeployConfig,
        mut driver: Driver,
        mode: DeployMode,
    ) -> Result<()> {
        // A rollback goes straight back: the release ran before. So does the first
        // release of a canary environment: there is no release to split traffic with
        // (the proxy refuses a canary without a primary) or to compare and roll back to,
        // so, as Argo Rollouts' initial deploy, it skips the steps and their analysis.
        let first_canary = mode == DeployMode::Deploy
            && !driver.has_previous()
            && matches!(cfg.strategy, Strategy::Canary { .. });
        if first_canary {
            (self.say)(&format!(
                "deployment {id}: nothing serves in {environment} yet: all traffic at once, no canary steps"
            ));
        }
        let strategy = if mode == DeployMode::Rollback || first_canary {
            Strategy::Direct
        } else {
            cfg.strategy.clone()
        };
        let analysis = if mode == DeployMode::Rollback || first_canary {
            Vec::new()
        } else {
            cfg.analysis.clone()
        };
        // Records `start` and `health` itself (a rollback's retained container skips the
        // pull).
        driver.prepare().await?;
        let (stop_tx, stop_rx) = tokio::sync::watch::channel(false);
        let vars = driver.vars(environment);
        let root = self.root.clone();
        let say = self.say.clone();
        let metrics = analysis.clone();
        let start_analysis = move || {
            let (vars, root, say, metrics, stop_rx) = (
                vars.clone(),
                root.clone(),
                say.clone(),
                metrics.clone(),
                stop_rx.clone(),
            );
            tokio::spawn(async move {
                let on = move |m: &analysis::Measurement| {
                    say(&format!(
                        "analysis {}: {:?} {}",
                        m.metric, m.phase, m.message
                    ));
                };
                analysis::run(&metrics, &vars, &root, stop_rx, &on).await
            })
        };
        let outcome: Result<Option<Verdict>> = async {
            match &strategy {
                Strategy::Direct => {
                    driver.step(Step::Switch).await?;
                    self.traffic(id, 100).await?;
                    self.phase(id, DeployStatus::Running, "analysis").await?;
                    if analysis.is_empty() {
                        return Ok(None);
                    }
                    // Counted metrics end by themselves; validation refuses background
                    // ones (an interval without a count) outside a canary.
                    let h = start_analysis();
                    Ok(Some(h.await.unwrap_or_else(|e| {
                        Verdict::Inconclusive(format!("the analysis task failed: {e}"))
                    })))
                }
                Strategy::BlueGreen { pause, .. } => {
                    driver.step(Step::Preview).await?;
                    self.phase(id, DeployStatus::Running, "analysis").await?;
                    if !analysis.is_empty() {
                        let h = start_analysis();
                        let v = h.await.unwrap_or_else(|e| {
                            Verdict::Inconclusive(format!("the analysis task failed: {e}"))
                        });
                        if !matches!(v, Verdict::Successful) {
                            return Ok(Some(v));
                        }
                    }
                    if let Some(p) = pause {
                        self.pause_step(id, *p, None).await?;
                    }
                    driver.step(Step::Promote).await?;
                    self.traffic(id, 100).await?;
                    Ok(None)
                }
                Strategy::Canary { steps, .. } => {
                    self.phase(id, DeployStatus::Running, "canary").await?;
                    let mut handle = (!analysis.is_empty()).then(start_analysis);
                    for (i, st) in steps.iter().enumerate() {
                        if st.weight >= 100 {
                            break;
                        }
                        driver
                            .step(if i == 0 {
                                Step::Canary(st.weight)
                            } else {
                                Step::Weight(st.weight)
                            })
                            .await?;
                        self.traffic(id, st.weight).await?;
                        (self.say)(&format!("deployment {id}: canary at {} %", st.weight));
                        if let Some(p) = st.pause
                            && let Some(v) = self.pause_step(id, p, handle.as_mut()).await?
                        {
                            return Ok(Some(v));
                        }
                    }
                    let _ = stop_tx.send(true);
                    if let Some(h) = handle {
                        let v = h.await.unwrap_or_else(|e| {
                            Verdict::Inconclusive(format!("the analysis task failed: {e}"))
                        });
                        if !matches!(v, Verdict::Successful) {
                            return Ok(Some(v));
                        }
                    }
                    driver.step(Step::Promote).await?;
                    self.traffic(id, 100).await?;
                    Ok(None)
                }
            }
        }
        .await;
        let _ = stop_tx.send(true);
        match outcome {
            Err(Error::Refused { message, .. }) if message.starts_with("aborted") => {
                driver.step(Step::Back).await?;
                self.traffic(id, 0).await?;
                driver.discard().await;
                self.finish(id, DeployStatus::Aborted, "done", &message)
                    .await
            }
            Err(e) => {
                // Before traffic moved, nothing to undo but the new release's container.
                let moved = driver.touched()
                    || self
                        .store
                        .get_deployment(id)
                        .await?
                        .is_some_and(|d| d.weight > 0);
                if moved && driver.has_previous() {
                    let _ = driver.step(Step::Back).await;
                    self.traffic(id, 0).await?;
                    driver.discard().await;
                    return self
                        .finish(id, DeployStatus::RolledBack, "done", &format!("{e}"))
                        .await;
                }
                driver.discard().await;
                Err(e)
            }
            Ok(None) | Ok(Some(Verdict::Successful)) => {
                self.phase(id, DeployStatus::Running, "finish").await?;
                driver.finish().await?;
                self.finish(id, DeployStatus::Succeeded, "done", "deployed")
                    .await
            }
            Ok(Some(v)) => {
                let (why, inconclusive) = match v {
                    Verdict::Failed(why) => (why, false),
                    Verdict::Inconclusive(why) => (format!("inconclusive: {why}"), true),
                    Verdict::Successful => unreachable!("handled above"),
                };
                if inconclusive || cfg.rollback == RollbackPolicy::Manual {
                    // Paused for a human: never promote on no data.
                    match self.pause_until(id, &why).await? {
                        Resume::Go => {
                            driver.step(Step::Promote).await?;
                            self.traffic(id, 100).await?;
                            self.phase(id, DeployStatus::Running, "finish").await?;
                            driver.finish().await?;
                            return self
                                .finish(
                                    id,
                                    DeployStatus::Succeeded,
                                    "done",
                                    &format!("resumed after {why}"),
                                )
                                .await;
                        }
                        Resume::Abort => {
                            driver.step(Step::Back).await?;
                            self.traffic(id, 0).await?;
                            driver.discard().await;
                            return self
                                .finish(
                                    id,
                                    DeployStatus::Aborted,
                                    "done",
                                    &format!("aborted after {why}"),
                                )
                                .await;
                        }
                    }
                }
                driver.step(Step::Back).await?;
                self.traffic(id, 0).await?;
                driver.discard().await;
                self.finish(id, DeployStatus::RolledBack, "done", &why)
                    .await
            }
        }
    }

    async fn traffic(&self, id: i64, weight: u8) -> Result<()> {
        self.store.set_deployment_weight(id, weight).await?;
        Ok(())
    }

    /// A step's pause: a time, or until resumed. Ends early with the analysis's verdict
    /// when it fails or is inconclusive.
    async fn pause_step(
        &self,
        id: i64,
        p: Pause,
        mut analysis: Option<&mut tokio::task::JoinHandle<Verdict>>,
    ) -> Result<Option<Verdict>> {
        let end = match p {
            Pause::For(ms) => Some(tokio::time::Instant::now() + Duration::from_millis(ms)),
            Pause::UntilResumed => {
                self.store
                    .set_deployment(
                        id,
                        DeployStatus::Paused,
                        "canary",
                        Some("paused: until `wharf deploy resume`"),
                        (self.now)(),
                    )
                    .await?;
                (self.say)(&format!(
                    "deployment {id}: paused; `wharf deploy resume {id}` or `wharf deploy abort {id}`"
                ));
                None
            }
        };
        loop {
            if let Some(h) = analysis.as_deref_mut()
                && h.is_finished()
            {
                let v = h.await.unwrap_or_else(|e| {
                    Verdict::Inconclusive(format!("the analysis task failed: {e}"))
                });
                if !matches!(v, Verdict::Successful) {
                    return Ok(Some(v));
                }
                analysis = None;
            }
            match self.store.take_deployment_request(id).await?.as_deref() {
                Some("abort") => return Err(Error::refused("aborted by `wharf deploy abort`", "")),
                Some("resume") => break,
                _ => {}
            }
            if let Some(e) = end
                && tokio::time::Instant::now() >= e
            {
                break;
            }
            tokio::time::sleep(POLL).await;
        }
        self.phase(id, DeployStatus::Running, "canary").await?;
        Ok(None)
    }

    async fn pause_until(&self, id: i64, why: &str) -> Result<Resume> {
        self.store
            .set_deployment(
                id,
                DeployStatus::Paused,
                "analysis",
                Some(&format!("paused: {why}")),
                (self.now)(),
            )
            .await?;
        (self.say)(&format!(
            "deployment {id}: paused: {why}; `wharf deploy resume {id}` promotes, `wharf deploy abort {id}` rolls back"
        ));
        loop {
            match self.store.take_deployment_request(id).await?.as_deref() {
                Some("abort") => return Ok(Resume::Abort),
                Some("resume") => {
                    self.phase(id, DeployStatus::Running, "analysis").await?;
                    return Ok(Resume::Go);
                }
                _ => {}
            }
            tokio::time::sleep(POLL).await;
        }
    }

    /// The release to roll `environment` back to: the last one that succeeded there
    /// before the one serving.
    pub async fn rollback_target(&self, environment: &str) -> Result<String> {
        let serving = self.store.serving(environment).await?.ok_or_else(|| {
            Error::refused(
                format!("nothing has been deployed to `{environment}` successfully"),
                "there is no earlier release to go back to",
            )
        })?;
        let all = self
            .store
            .list_deployments(Some(environment), 10_000)
            .await?;
        all.iter()
            .filter(|d| {
                d.id < serving.id
                    && d.status == DeployStatus::Succeeded
                    && d.release != serving.release
            })
            .map(|d| d.release.clone())
            .next()
            .ok_or_else(|| {
                Error::refused(
                    format!(
                        "`{environment}` runs {}, and no other release succeeded there before it",
                        serving.release
                    ),
                    "`wharf deployments --env ENV` shows the history",
                )
            })
    }
}

enum Resume {
    Go,
    Abort,
}
