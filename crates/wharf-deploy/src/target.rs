//! The two targets behind one driver: a container behind `wharf proxy` (Docker), or the
//! project's own deploy script, called once per traffic change with `WHARF_*` variables.

use std::collections::BTreeMap;
use std::time::Duration;

use serde_json::json;
use tokio::io::{AsyncBufReadExt as _, BufReader};
use wharf_model::{
    DeployConfig, DeployMode, DockerTarget, HealthCheck, ProducedKind, ReleaseRecord, ScriptTarget,
    Sticky, Strategy, Target,
};
use wharf_store::Store;

use std::sync::Arc;

use wharf_secrets::mask::MaskSet;
use wharf_secrets::secret::SecretString;

use crate::analysis::Vars;
use crate::deployer::{Deployer, Say};
use crate::docker::{Container, Engine, image_of};
use crate::error::{Error, Result};
use crate::proxy::{ProxyClient, health_json};

/// A change of traffic.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Step {
    /// All traffic to the new release, after its health gate.
    Switch,
    /// The new release on the preview address, after its health gate.
    Preview,
    /// The new release as a canary with this weight, after its health gate.
    Canary(u8),
    /// The canary's weight.
    Weight(u8),
    /// The preview or the canary becomes the primary.
    Promote,
    /// All traffic back to the previous release.
    Back,
}

/// What the Docker target keeps in the deployment record.
#[derive(Debug, Clone, serde::Serialize, serde::Deserialize)]
pub struct DockerState {
    /// The proxy's control API.
    pub proxy: String,
    /// The proxy's service.
    pub service: String,
    /// The image, by digest.
    pub image: String,
    /// The new release's container, once started.
    pub container: Option<Container>,
    /// Whether the container ran before this deployment (a rollback restarts it).
    pub reused: bool,
    /// The scope of the environment's containers ([`crate::docker::scope`]).
    #[serde(default)]
    pub scope: String,
}

/// Records what the Docker target knows about deployment `id`.
async fn save(store: &Store, id: i64, state: &DockerState) -> Result<()> {
    let text = serde_json::to_string(state).unwrap_or_default();
    store.set_deployment_target(id, &text).await?;
    Ok(())
}

/// The Docker target's parts.
struct DockerKind {
    engine: Engine,
    proxy: ProxyClient,
    target: DockerTarget,
    state: DockerState,
}

/// Drives one deployment's target.
pub struct Driver {
    kind: Kind,
    store: Store,
    id: i64,
    release: ReleaseRecord,
    previous: Option<ReleaseRecord>,
    environment: String,
    mode: DeployMode,
    strategy: Strategy,
    health: Option<HealthCheck>,
    say: Say,
    /// Whether a script target was called with traffic (it may have switched it).
    touched: bool,
    /// The deployer's clock.
    now: fn() -> wharf_model::Millis,
}

enum Kind {
    Docker(Box<DockerKind>),
    Script {
        target: ScriptTarget,
        root: std::path::PathBuf,
        /// Its secrets, decrypted (the driver exists only once the gates passed).
        secrets: Vec<(String, SecretString)>,
        /// What output lines are masked with.
        masks: Arc<MaskSet>,
    },
}

impl Driver {
    /// A driver for deployment `id` of `release` over `previous`.
    pub(crate) async fn new(
        d: &Deployer,
        cfg: &DeployConfig,
        environment: &str,
        id: i64,
        release: &ReleaseRecord,
        previous: Option<&ReleaseRecord>,
        mode: DeployMode,
    ) -> Result<Driver> {
        let kind = match &cfg.target {
            Target::Docker(t) => {
                let image = image_of(&release.items, t, &release.version)?;
                let engine = Engine::connect().await?;
                let proxy = ProxyClient::new(&t.proxy)?;
                let mut spec = json!({"hosts": t.hosts, "default": t.hosts.is_empty()});
                if let Strategy::Canary {
                    sticky: Some(s), ..
                } = &cfg.strategy
                {
                    spec["sticky"] = match s {
                        Sticky::Cookie(c) => json!({"cookie": c}),
                        Sticky::Header(h) => json!({"header": h}),
                    };
                }
                if let Strategy::BlueGreen {
                    preview_host: Some(h),
                    ..
                } = &cfg.strategy
                {
                    spec["preview_host"] = json!(h);
                }
                proxy.configure(&t.service, spec).await?;
                Kind::Docker(Box::new(DockerKind {
                    engine,
                    proxy,
                    target: t.clone(),
                    state: DockerState {
                        proxy: t.proxy.clone(),
                        service: t.service.clone(),
                        image,
                        container: None,
                        reused: false,
                        scope: crate::docker::scope(&d.root, t),
                    },
                }))
            }
            Target::Script(t) => {
                let secrets = script_secrets(d, environment, &t.secrets).await?;
                let values: Vec<&str> = secrets.iter().map(|(_, v)| v.expose()).collect();
                Kind::Script {
                    target: t.clone(),
                    root: d.root.clone(),
                    masks: Arc::new(MaskSet::new(&values)),
                    secrets,
                }
            }
        };
        Ok(Driver {
            kind,
            store: d.store.clone(),
            id,
            release: release.clone(),
            previous: previous.cloned(),
            environment: environment.to_string(),
            mode,
            strategy: cfg.strategy.clone(),
            health: cfg.health.clone(),
            say: d.say.clone(),
            touched: false,
            now: d.now,
        })
    }

    /// What an analysis may name.
    pub fn vars(&self, environment: &str) -> Vars {
        Vars {
            release: self.release.version.clone(),
            previous: self.previous.as_ref().map(|p| p.version.clone()),
            service: match &self.kind {
                Kind::Docker(k) => k.target.service.clone(),
                Kind::Script { .. } => environment.to_string(),
            },
            environment: environment.to_string(),
        }
    }

    /// Whether a script target was called to move traffic (so a failure after it needs a
    /// call back).
    pub fn touched(&self) -> bool {
        self.touched
    }

    /// Whether there is a release to go back to.
    pub fn has_previous(&self) -> bool {
        self.previous.is_some()
    }

    async fn save(&self) -> Result<()> {
        if let Kind::Docker(k) = &self.kind {
            save(&self.store, self.id, &k.state).await?;
        }
        Ok(())
    }

    /// Gets the release ready without traffic: the image pulled (by digest) and its
    /// container started; a rollback restarts the release's retained container.
    pub async fn prepare(&mut self) -> Result<()> {
        let (id, version) = (self.id, self.release.version.clone());
        let environment = self.environment.clone();
        let mode = self.mode;
        let say = self.say.clone();
        if let Kind::Docker(k) = &mut self.kind {
            let DockerKind {
                engine,
                target,
                state,
                ..
            } = &mut **k;
            let retained = engine
                .containers(&state.scope, &environment)
                .await?
                .into_iter()
                .rev()
                .find(|c| c.release == version && c.deployment != id && !c.addr.is_empty());
            match retained {
                Some(c) if mode != DeployMode::Deploy => {
                    say(&format!(
                        "deployment {id}: starting the retained container {} of {version} (no pull)",
                        c.name
                    ));
                    // Recorded first: a deployer killed now leaves it for the
                    // reconciliation to stop again.
                    state.container = Some(c.clone());
                    state.reused = true;
                    save(&self.store, id, state).await?;
                    engine.start(&c).await?;
                }
                _ => {
                    // The phase is `pull` already (the deployer's, before this driver).
                    if engine.ensure_image(&state.image).await? {
                        say(&format!("deployment {id}: pulled {}", state.image));
                    }
                    self.store
                        .set_deployment(
                            id,
                            wharf_model::DeployStatus::Running,
                            "start",
                            None,
                            (self.now)(),
                        )
                        .await?;
                    // Its name and address are recorded before it exists: a deployer
                    // killed while the engine creates it leaves a name to remove.
                    let planned = engine.plan(&state.scope, &environment, &version, id)?;
                    state.container = Some(planned.clone());
                    save(&self.store, id, state).await?;
                    let c = engine
                        .start_new(&planned, &state.scope, &environment, &state.image, target)
                        .await?;
                    say(&format!(
                        "deployment {id}: started container {} ({}) on {}",
                        c.name, state.image, c.addr
                    ));
                    state.container = Some(c);
                }
            }
        }
        self.save().await?;
        self.store
            .set_deployment(
                id,
                wharf_model::DeployStatus::Running,
                "health",
                None,
                (self.now)(),
            )
            .await?;
        Ok(())
    }

    /// Makes one traffic change.
    pub async fn step(&mut self, step: Step) -> Result<()> {
        match &self.kind {
            Kind::Docker(_) => self.docker_step(step).await,
            Kind::Script { .. } => self.script_step(step).await,
        }
    }

    async fn docker_step(&mut self, step: Step) -> Result<()> {
        let Kind::Docker(k) = &self.kind else {
            return Ok(());
        };
        let (proxy, state) = (&k.proxy, &k.state);
        let svc = state.service.clone();
        let version = self.release.version.clone();
        let addr = state
            .container
            .as_ref()
            .map(|c| c.addr.clone())
            .unwrap_or_default();
        let health = self.health.clone().unwrap_or(HealthCheck {
            path: "/up".into(),
            url: None,
            interval_ms: 1000,
            timeout_ms: 30_000,
            hold_ms: 0,
        });
        // `for:` a release must stay healthy before the proxy's gate (which takes one 2xx):
        // probed here, on its own address.
        if health.hold_ms > 0 && matches!(step, Step::Switch | Step::Preview | Step::Canary(_)) {
            probe_until_healthy(&format!("http://{addr}{}", health.path), &health).await?;
        }
        let hj = {
            let mut h = health_json(
                &health.path,
                health.interval_ms,
                health.interval_ms.clamp(500, 5000),
            );
            h["deadline_ms"] = json!(health.timeout_ms);
            h
        };
        let post = reqwest::Method::POST;
        let gated = |body: serde_json::Value, path: String| {
            let proxy = proxy.clone();
            let version = version.clone();
            async move {
                match proxy.call(reqwest::Method::POST, &path, Some(body)).await? {
                    Ok(_) => Ok(()),
                    Err(r) if r.status == 503 => Err(Error::target(
                        "health",
                        format!(
                            "release {version} never became healthy: {}",
                            r.last_probe.unwrap_or(r.error)
                        ),
                    )),
                    Err(r) => Err(Error::target(
                        format!("POST {path} on the proxy"),
                        format!("{} {}", r.status, r.error),
                    )),
                }
            }
        };
        match step {
            Step::Switch => {
                // A canary or preview a dead deployer left would make the proxy refuse.
                self.drop_pending().await?;
                let Kind::Docker { .. } = &self.kind else {
                    return Ok(());
                };
                gated(
                    json!({"release": version, "addr": addr, "health": hj}),
                    format!("/services/{svc}/deploy"),
                )
                .await?;
                (self.say)(&format!(
                    "deployment {}: {version} is healthy and takes all traffic",
                    self.id
                ));
            }
            Step::Preview => {
                self.drop_pending().await?;
                gated(
                    json!({"release": version, "addr": addr, "health": hj, "preview": true}),
                    format!("/services/{svc}/deploy"),
                )
                .await?;
                (self.say)(&format!(
                    "deployment {}: {version} is healthy on the preview address",
                    self.id
                ));
            }
            Step::Canary(w) => {
                self.drop_pending().await?;
                gated(
                    json!({"release": version, "addr": addr, "health": hj, "weight": w}),
                    format!("/services/{svc}/canary"),
                )
                .await?;
            }
            Step::Weight(w) => {
                proxy
                    .must(
                        reqwest::Method::PUT,
                        &format!("/services/{svc}/canary"),
                        Some(json!({"weight": w})),
                    )
                    .await?;
            }
            Step::Promote => {
                let s = proxy.service(&svc).await?.unwrap_or_default();
                if !s["canary"].is_null() || !s["preview"].is_null() {
                    proxy
                        .must(post, &format!("/services/{svc}/promote"), None)
                        .await?;
                }
            }
            Step::Back => {
                let s = proxy.service(&svc).await?.unwrap_or_default();
                if !s["canary"].is_null() {
                    proxy
                        .must(
                            reqwest::Method::DELETE,
                            &format!("/services/{svc}/canary"),
                            None,
                        )
                        .await?;
                }
                if !s["preview"].is_null() {
                    proxy
                        .must(
                            reqwest::Method::DELETE,
                            &format!("/services/{svc}/preview"),
                            None,
                        )
                        .await?;
                }
                if s["primary"]["release"].as_str() == Some(version.as_str()) {
                    if self.previous.is_none() {
                        return Err(Error::target(
                            "roll back",
                            "there is no earlier release in this environment to go back to",
                        ));
                    }
                    proxy
                        .must(post, &format!("/services/{svc}/rollback"), Some(json!({})))
                        .await?;
                }
                (self.say)(&format!(
                    "deployment {}: all traffic is back on the previous release",
                    self.id
                ));
            }
        }
        Ok(())
    }

    async fn drop_pending(&self) -> Result<()> {
        let Kind::Docker(k) = &self.kind else {
            return Ok(());
        };
        let (proxy, state) = (&k.proxy, &k.state);
        let s = proxy.service(&state.service).await?.unwrap_or_default();
        for k in ["canary", "preview"] {
            if !s[k].is_null() {
                proxy
                    .must(
                        reqwest::Method::DELETE,
                        &format!("/services/{}/{k}", state.service),
                        None,
                    )
                    .await?;
            }
        }
        Ok(())
    }

    /// After success: the previous release's container is stopped and kept (an instant
    /// switch back), older ones are removed.
    pub async fn finish(&mut self) -> Result<()> {
        let Kind::Docker(k) = &self.kind else {
            return Ok(());
        };
        let (engine, state) = (&k.engine, &k.state);
        let mine = state.container.as_ref().map(|c| c.id.clone());
        let all = engine.containers(&state.scope, &self.environment).await?;
        let prev = self.previous.as_ref().map(|p| p.version.clone());
        let keep = all
            .iter()
            .rev()
            .find(|c| Some(&c.id) != mine.as_ref() && Some(&c.release) == prev.as_ref())
            .map(|c| c.id.clone());
        for c in &all {
            if Some(&c.id) == mine.as_ref() {
                continue;
            }
            if Some(&c.id) == keep.as_ref() {
                engine.stop(c).await?;
            } else {
                engine.remove(&c.id).await?;
            }
        }
        Ok(())
    }

    /// After a failure: the new release's container goes (a restarted retained one is
    /// stopped again).
    pub async fn discard(&mut self) {
        if let Kind::Docker(k) = &self.kind
            && let Some(c) = &k.state.container
        {
            let (engine, state) = (&k.engine, &k.state);
            let r = if state.reused {
                engine.stop(c).await
            } else {
                engine.remove(&c.id).await
            };
            if let Err(e) = r {
                (self.say)(&format!("deployment {}: {e}", self.id));
            }
        }
    }

    async fn script_step(&mut self, step: Step) -> Result<()> {
        let (weight, back) = match step {
            Step::Switch | Step::Promote => (100, false),
            Step::Preview => (0, false),
            Step::Canary(w) | Step::Weight(w) => (w, false),
            Step::Back => (100, true),
        };
        let Kind::Script {
            target,
            root,
            secrets,
            masks,
        } = &self.kind
        else {
            return Ok(());
        };
        let (release, previous) = if back {
            let Some(p) = &self.previous else {
                return Err(Error::target(
                    "roll back",
                    "there is no earlier release in this environment to go back to",
                ));
            };
            (p, Some(&self.release))
        } else {
            (&self.release, self.previous.as_ref())
        };
        let mode = if back {
            DeployMode::Rollback
        } else {
            self.mode
        };
        let mut env = BTreeMap::new();
        for k in ["PATH", "HOME", "USER", "LANG", "TMPDIR", "DOCKER_HOST"] {
            if let Ok(v) = std::env::var(k) {
                env.insert(k.to_string(), v);
            }
        }
        env.insert("WHARF_ENVIRONMENT".into(), self.environment.clone());
        env.insert("WHARF_RELEASE".into(), release.version.clone());
        env.insert("WHARF_IMAGE_DIGEST".into(), image_digest(release));
        env.insert("WHARF_IMAGE".into(), image_ref(release));
        env.insert(
            "WHARF_PREVIOUS_RELEASE".into(),
            previous.map(|p| p.version.clone()).unwrap_or_default(),
        );
        env.insert(
            "WHARF_PREVIOUS_IMAGE_DIGEST".into(),
            previous.map(image_digest).unwrap_or_default(),
        );
        env.insert("WHARF_DEPLOYMENT_ID".into(), self.id.to_string());
        env.insert(
            "WHARF_STRATEGY".into(),
            if back { "direct" } else { self.strategy.name() }.to_string(),
        );
        env.insert("WHARF_WEIGHT".into(), weight.to_string());
        env.insert("WHARF_MODE".into(), mode.as_str().to_string());
        env.insert(
            "WHARF_PREVIEW".into(),
            if matches!(step, Step::Preview) {
                "true"
            } else {
                "false"
            }
            .to_string(),
        );
        if weight > 0 && !back {
            self.touched = true;
        }
        for (name, value) in secrets {
            env.insert(name.clone(), value.expose().to_string());
        }
        let say = self.say.clone();
        let masks = masks.clone();
        let masked: Say = Arc::new(move |line: &str| say(&masks.mask_str(line)));
        let ran = run_script(target, root, &env, &masked, self.id).await;
        // The variables held secrets: wiped, not just dropped.
        for v in env.values_mut() {
            zeroize::Zeroize::zeroize(v);
        }
        ran?;
        if let Some(h) = &self.health
            && let Some(url) = &h.url
            && (weight > 0 || matches!(step, Step::Preview))
        {
            probe_until_healthy(url, h).await?;
        }
        Ok(())
    }
}

/// `sha256:…` of the release's first pushed (or built) image, or empty.
fn image_digest(r: &ReleaseRecord) -> String {
    r.items
        .iter()
        .find(|p| p.kind == ProducedKind::PushedImage)
        .or_else(|| r.items.iter().find(|p| p.kind == ProducedKind::Image))
        .map(|p| p.digest.clone())
        .unwrap_or_default()
}

/// `repo@sha256:…` of the release's first pushed image, or empty.
fn image_ref(r: &ReleaseRecord) -> String {
    r.items
        .iter()
        .find(|p| p.kind == ProducedKind::PushedImage)
        .map(|p| {
            let name = p.name.split('@').next().unwrap_or(&p.name);
            let repo = match name.rfind(':') {
                Some(i) if !name[i..].contains('/') => &name[..i],
                _ => name,
            };
            format!("{repo}@{}", p.digest)
        })
        .unwrap_or_default()
}

async fn run_script(
    t: &ScriptTarget,
    root: &std::path::Path,
    env: &BTreeMap<String, String>,
    say: &Say,
    id: i64,
) -> Result<()> {
    let program = &t.run[0];
    let doing = format!("run the deploy script `{}`", t.run.join(" "));
    let mut cmd = tokio::process::Command::new(if program.contains('/') {
        root.join(program)
    } else {
        std::path::PathBuf::from(program)
    });
    cmd.args(&t.run[1..])
        .current_dir(root)
        .env_clear()
        .envs(env)
        .stdin(std::process::Stdio::null())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .kill_on_drop(true);
    let mut child = cmd
        .spawn()
        .map_err(|e| Error::target(&doing, e.to_string()))?;
    let out = child.stdout.take();
    let err = child.stderr.take();
    let pipe = |r: Option<tokio::process::ChildStdout>| {
        let say = say.clone();
        tokio::spawn(async move {
            if let Some(r) = r {
                let mut lines = BufReader::new(r).lines();
                while let Ok(Some(l)) = lines.next_line().await {
                    say(&format!("deployment {id}: | {l}"));
                }
            }
        })
    };
    let o = pipe(out);
    let e = {
        let say = say.clone();
        tokio::spawn(async move {
            if let Some(r) = err {
                let mut lines = BufReader::new(r).lines();
                while let Ok(Some(l)) = lines.next_line().await {
                    say(&format!("deployment {id}: | {l}"));
                }
            }
        })
    };
    let status = match tokio::time::timeout(Duration::from_millis(t.timeout_ms), child.wait()).await
    {
        Ok(s) => s.map_err(|e| Error::target(&doing, e.to_string()))?,
        Err(_) => {
            let _ = child.kill().await;
            return Err(Error::target(
                &doing,
                format!(
                    "it ran longer than its timeout ({} s) and was killed",
                    t.timeout_ms / 1000
                ),
            ));
        }
    };
    let _ = o.await;
    let _ = e.await;
    if !status.success() {
        return Err(Error::target(&doing, format!("it exited with {status}")));
    }
    Ok(())
}

/// Probes `url` until it has answered 2xx for `h.hold_ms` without a failure (the first 2xx
/// when 0), within `h.timeout_ms`.
async fn probe_until_healthy(url: &str, h: &HealthCheck) -> Result<()> {
    wharf_net::install_crypto();
    let client = reqwest::Client::builder()
        .timeout(Duration::from_millis(h.interval_ms.clamp(500, 5000)))
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .map_err(|e| Error::target("build an HTTP client", e.to_string()))?;
    let start = tokio::time::Instant::now();
    let end = start + Duration::from_millis(h.timeout_ms);
    let hold = Duration::from_millis(h.hold_ms);
    let mut healthy_since: Option<tokio::time::Instant> = None;
    let mut last;
    loop {
        let now = tokio::time::Instant::now();
        last = match client.get(url).send().await {
            Ok(r) if r.status().is_success() => {
                let since = *healthy_since.get_or_insert(now);
                if now.duration_since(since) >= hold {
                    return Ok(());
                }
                format!("HTTP {}", r.status().as_u16())
            }
            Ok(r) => {
                healthy_since = None;
                format!("HTTP {}", r.status().as_u16())
            }
            Err(e) => {
                healthy_since = None;
                format!("GET {url}: {}", wharf_oci::docker::chain(&e))
            }
        };
        if tokio::time::Instant::now() + Duration::from_millis(h.interval_ms) > end {
            break;
        }
        tokio::time::sleep(Duration::from_millis(h.interval_ms)).await;
    }
    let want = if h.hold_ms > 0 {
        format!("answered 2xx for {} in a row", human_ms(h.hold_ms))
    } else {
        "answered 2xx".to_string()
    };
    Err(Error::target(
        "health",
        format!(
            "{url} never {want} within {}: last probe {last}",
            human_ms(h.timeout_ms)
        ),
    ))
}

/// `5 s`, `1.5 s`, `250 ms`.
fn human_ms(ms: u64) -> String {
    if ms < 1000 {
        format!("{ms} ms")
    } else if ms.is_multiple_of(1000) {
        format!("{} s", ms / 1000)
    } else {
        format!("{:.1} s", ms as f64 / 1000.0)
    }
}

impl Driver {
    /// Restores what the target recorded about the deployment (a reconciliation).
    pub fn restore(&mut self, recorded: Option<&str>) {
        if let (Kind::Docker(k), Some(text)) = (&mut self.kind, recorded)
            && let Ok(s) = serde_json::from_str::<DockerState>(text)
        {
            k.state = s;
        }
    }

    /// Whether traffic reaches the new release now (as the proxy says; a script target
    /// cannot be asked, so the recorded weight decides).
    pub async fn has_traffic(&self, recorded_weight: u8) -> Result<bool> {
        match &self.kind {
            Kind::Docker(k) => {
                let s = k.proxy.service(&k.state.service).await?.unwrap_or_default();
                let v = self.release.version.as_str();
                Ok(s["primary"]["release"].as_str() == Some(v)
                    || s["canary"]["target"]["release"].as_str() == Some(v)
                    || s["canary"]["release"].as_str() == Some(v)
                    || s["preview"]["release"].as_str() == Some(v))
            }
            Kind::Script { .. } => Ok(recorded_weight > 0),
        }
    }

    /// Whether the new release has all the traffic now (as [`Driver::has_traffic`] asks).
    pub async fn has_all_traffic(&self, recorded_weight: u8) -> Result<bool> {
        match &self.kind {
            Kind::Docker(k) => {
                let s = k.proxy.service(&k.state.service).await?.unwrap_or_default();
                Ok(
                    s["primary"]["release"].as_str() == Some(self.release.version.as_str())
                        && s["canary"].is_null(),
                )
            }
            Kind::Script { .. } => Ok(recorded_weight >= 100),
        }
    }
}

/// The script target's secrets for `environment`, decrypted: each name's value for the
/// environment, else its value for every environment; a missing one is refused by name.
async fn script_secrets(
    d: &Deployer,
    environment: &str,
    names: &[String],
) -> Result<Vec<(String, SecretString)>> {
    if names.is_empty() {
        return Ok(Vec::new());
    }
    let mut records = Vec::new();
    let mut missing = Vec::new();
    for name in names {
        let rec = match d.store.get_secret(name, Some(environment)).await? {
            Some(r) => Some(r),
            None => d.store.get_secret(name, None).await?,
        };
        match rec {
            Some(r) => records.push((name.clone(), r)),
            None => missing.push(name.as_str()),
        }
    }
    if !missing.is_empty() {
        return Err(Error::refused(
            format!(
                "the deploy script's secret{} not in the secret store: {}",
                if missing.len() == 1 { " is" } else { "s are" },
                missing.join(", ")
            ),
            format!(
                "store it with `wharf secrets set {} --env {environment}` (the value is read from stdin)",
                missing[0]
            ),
        ));
    }
    let key = wharf_runtime::secrets::load_key(d.key_file.as_deref())
        .map_err(|e| Error::target("open the secret store", e.to_string()))?;
    records
        .iter()
        .map(|(name, rec)| {
            wharf_runtime::secrets::open(&key, name, rec)
                .map(|v| (name.clone(), v))
                .map_err(|e| Error::target("decrypt a secret", e.to_string()))
        })
        .collect()
}
