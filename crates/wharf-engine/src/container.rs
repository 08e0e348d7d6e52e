//! Jobs in containers (`image:`) and their side containers (`services:`), through the
//! Docker Engine API.
//!
//! A container job gets one container for all its steps, as on GitHub Actions and GitLab:
//! the job's workspace and wharf's scratch directory are bind-mounted at the same paths as
//! on the host (so `$WHARF_WORKSPACE`, `$WHARF_OUTPUT` and paths in messages mean the same
//! thing inside), it runs as the invoking user (files the job creates belong to them, not to
//! root), and each step is an `exec` in it with the step's own environment (secrets are
//! never in the container's configuration, which `docker inspect` shows).
//!
//! The container's main process is a shell reading a stdin that wharf holds open: when wharf goes
//! away for any reason, even SIGKILL, the engine closes that stdin, the shell ends, the
//! container stops, and the engine removes it (`AutoRemove`). No watchdog process is
//! needed, and nothing is left running.
//!
//! Images are used when the engine has them; otherwise they are pulled (a missing image is
//! an error naming it, never a fallback to the host).

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::pin::Pin;
use std::sync::Arc;
use std::time::Duration;

use bollard::Docker;
use bollard::container::LogOutput;
use bollard::exec::{CreateExecOptions, StartExecResults};
use bollard::models::{
    ContainerCreateBody, EndpointSettings, HostConfig, NetworkCreateRequest, NetworkingConfig,
    PortBinding,
};
use bollard::query_parameters::{
    AttachContainerOptionsBuilder, CreateContainerOptionsBuilder, CreateImageOptionsBuilder,
    RemoveContainerOptionsBuilder,
};
use futures_util::StreamExt;
use tokio::io::AsyncWrite;
use tokio::sync::{Mutex, watch};
use tokio::time::sleep_until;
use wharf_model::LogStream;

use crate::executor::{BoxFuture, Executor, StepOutcome, StepRequest};
use crate::logs::LogWriter;

/// A container could not be set up or used.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// No engine answers.
    #[error(
        "no Docker Engine reachable at {host}: {reason}\n\
         hint: start dockerd (or point DOCKER_HOST at an engine); jobs with `image:` or `services:` run in containers"
    )]
    Unreachable {
        /// The address tried.
        host: String,
        /// What went wrong.
        reason: String,
    },
    /// The image is neither in the engine nor pullable.
    #[error(
        "image `{image}` is not available: {reason}\nhint: build it first (a `build-image` step with `push: true`), or check the name"
    )]
    Image {
        /// The reference.
        image: String,
        /// The engine's answer.
        reason: String,
    },
    /// The engine refused or failed a request.
    #[error("{doing}: {reason}")]
    Engine {
        /// What was being done.
        doing: String,
        /// The engine's answer.
        reason: String,
    },
}

fn engine(doing: impl Into<String>) -> impl FnOnce(bollard::errors::Error) -> Error {
    let doing = doing.into();
    move |e| Error::Engine {
        doing,
        reason: wharf_oci::docker::chain(&e),
    }
}

/// A connection to the engine, shared by the jobs of a run.
#[derive(Clone)]
pub struct Containers {
    docker: Docker,
    host: String,
}

impl std::fmt::Debug for Containers {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Containers")
            .field("host", &self.host)
            .finish()
    }
}

/// A service container of a job (`services.NAME`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ServiceSpec {
    /// Its name: the host name container jobs reach it by.
    pub name: String,
    /// Its image.
    pub image: String,
    /// Its environment.
    pub env: BTreeMap<String, String>,
    /// Container ports to publish on 127.0.0.1, each with the host port asked for (0: any
    /// free one).
    pub ports: Vec<(u16, u16)>,
    /// The health command, run in the service with `sh -c`.
    pub health_cmd: Option<String>,
    /// Between health checks.
    pub health_interval: Duration,
    /// Failed checks before the service counts as unhealthy.
    pub health_retries: u32,
}

/// What a job's containers need.
#[derive(Debug, Clone)]
pub struct JobContainers {
    /// Names the containers and the network: `wharf-RUN-JOB`.
    pub name: String,
    /// The job container's image, for a container job.
    pub image: Option<String>,
    /// Directories mounted at the same path (the workspace, wharf's scratch directory).
    pub mounts: Vec<PathBuf>,
    /// Where `oci-layout:` paths start (the job's workspace).
    pub base: PathBuf,
    /// The job's services.
    pub services: Vec<ServiceSpec>,
}

/// A running service.
#[derive(Debug, Clone)]
pub struct RunningService {
    /// Its name.
    pub name: String,
    /// The host ports its container ports were published on (container port -> host).
    pub ports: Vec<(u16, u16)>,
    id: String,
}

/// The containers of one job while it runs.
pub struct Running {
    docker: Docker,
    /// The job container, for a container job.
    job: Option<JobContainer>,
    /// The services, started and healthy.
    pub services: Vec<RunningService>,
    network: Option<String>,
}

struct JobContainer {
    id: String,
    /// Held open: when it closes (the job ended, wharf stopped or died), the container
    /// ends and the engine removes it.
    stdin: Mutex<Option<Pin<Box<dyn AsyncWrite + Send>>>>,
    /// The image's `PATH`.
    path: Option<String>,
    user: String,
}

impl Containers {
    /// Connects to the engine (`DOCKER_HOST`, else the default socket).
    pub async fn connect() -> Result<Containers, Error> {
        let host = wharf_oci::docker::default_docker_host();
        match wharf_oci::docker::connect(&host).await {
            Ok(docker) => Ok(Containers { docker, host }),
            Err(wharf_oci::docker::DockerError::Unreachable { host, reason }) => {
                Err(Error::Unreachable { host, reason })
            }
            Err(e) => Err(Error::Unreachable {
                host,
                reason: e.to_string(),
            }),
        }
    }

    /// Removes the containers and networks of wharf processes that are gone (a wharf
    /// killed while a job's services ran); returns how many containers went.
    pub async fn reap(&self) -> usize {
        let mut filters = std::collections::HashMap::new();
        filters.insert("label".to_string(), vec![PID_LABEL.to_string()]);
        let dead = |labels: Option<&std::collections::HashMap<String, String>>| {
            labels
                .and_then(|l| l.get(PID_LABEL))
                .and_then(|p| p.parse::<u32>().ok())
                .is_some_and(|pid| {
                    pid != std::process::id()
                        && !std::path::Path::new(&format!("/proc/{pid}")).exists()
                })
        };
        let opts = bollard::query_parameters::ListContainersOptions {
            all: true,
            filters: Some(filters.clone()),
            ..Default::default()
        };
        let mut n = 0;
        for c in self
            .docker
            .list_containers(Some(opts))
            .await
            .unwrap_or_default()
        {
            if dead(c.labels.as_ref())
                && let Some(id) = c.id
            {
                remove(&self.docker, &id).await;
                n += 1;
            }
        }
        let opts = bollard::query_parameters::ListNetworksOptions {
            filters: Some(filters),
        };
        for net in self
            .docker
            .list_networks(Some(opts))
            .await
            .unwrap_or_default()
        {
            if dead(net.labels.as_ref())
                && let Some(name) = net.name
            {
                let _ = self.docker.remove_network(&name).await;
            }
        }
        n
    }

    /// Makes sure the engine has `image` and returns the name to run it by: an image the
    /// engine has is used as it is, another is pulled, and `oci-layout:DIR[:TAG]` (relative
    /// to `base`, the job's workspace) is loaded from the layout an earlier job built.
    pub async fn ensure_image(&self, image: &str, base: &std::path::Path) -> Result<String, Error> {
        if let Some(layout) = image.strip_prefix("oci-layout:") {
            return self.load_layout(image, layout, base).await;
        }
        if self.docker.inspect_image(image).await.is_ok() {
            return Ok(image.to_string());
        }
        let opts = CreateImageOptionsBuilder::default()
            .from_image(image)
            .build();
        let mut pull =
            self.docker
                .create_image(Some(opts), None, wharf_oci::docker::pull_credentials(image));
        while let Some(item) = pull.next().await {
            if let Err(e) = item {
                return Err(Error::Image {
                    image: image.to_string(),
                    reason: wharf_oci::docker::chain(&e),
                });
            }
        }
        self.docker
            .inspect_image(image)
            .await
            .map(|_| image.to_string())
            .map_err(|e| Error::Image {
                image: image.to_string(),
                reason: wharf_oci::docker::chain(&e),
            })
    }

    async fn load_layout(
        &self,
        image: &str,
        layout: &str,
        base: &std::path::Path,
    ) -> Result<String, Error> {
        let (dir, tag) = wharf_oci::layout::split_layout_ref(layout, base);
        let unavailable = |reason: String| Error::Image {
            image: image.to_string(),
            reason,
        };
        // Named by the layout's manifest digest: the same image loads once.
        let oci = wharf_oci::OciLayout::open(&dir).map_err(|e| unavailable(e.to_string()))?;
        let desc = oci
            .resolve(tag.as_deref())
            .map_err(|e| unavailable(e.to_string()))?;
        let hex = desc.digest().to_string();
        let hex = hex.rsplit(':').next().unwrap_or_default();
        let name = format!("wharf-layout:{}", &hex[..hex.len().min(16)]);
        if self.docker.inspect_image(&name).await.is_ok() {
            return Ok(name);
        }
        let (dir2, tag2, name2) = (dir.clone(), tag.clone(), name.clone());
        let archive = tokio::task::spawn_blocking(move || {
            wharf_oci::docker::load_archive(&dir2, tag2.as_deref(), &name2)
        })
        .await
        .map_err(|e| unavailable(e.to_string()))?
        .map_err(|e| unavailable(e.to_string()))?;
        let opts = bollard::query_parameters::ImportImageOptionsBuilder::default()
            .quiet(true)
            .build();
        let mut load = self
            .docker
            .import_image(opts, bollard::body_full(archive.into()), None);
        while let Some(item) = load.next().await {
            match item {
                Ok(info) => {
                    if let Some(e) = info.error_detail.and_then(|d| d.message) {
                        return Err(unavailable(e));
                    }
                }
                Err(e) => return Err(unavailable(wharf_oci::docker::chain(&e))),
            }
        }
        Ok(name)
    }

    /// Starts a job's network, services (waiting until healthy) and job container.
    /// `say` reports progress lines. On error, whatever was started is removed.
    pub async fn start(
        &self,
        spec: &JobContainers,
        say: &(dyn Fn(String) + Send + Sync),
    ) -> Result<Running, Error> {
        let mut running = Running {
            docker: self.docker.clone(),
            job: None,
            services: Vec::new(),
            network: None,
        };
        match self.start_into(spec, &mut running, say).await {
            Ok(()) => Ok(running),
            Err(e) => {
                running.stop().await;
                Err(e)
            }
        }
    }

    async fn start_into(
        &self,
        spec: &JobContainers,
        running: &mut Running,
        say: &(dyn Fn(String) + Send + Sync),
    ) -> Result<(), Error> {
        let with_network = !spec.services.is_empty();
        if with_network {
            let req = NetworkCreateRequest {
                name: spec.name.clone(),
                driver: Some("bridge".into()),
                labels: Some(labels()),
                ..Default::default()
            };
            self.docker
                .create_network(req)
                .await
                .map_err(engine(format!("creating the network {}", spec.name)))?;
            running.network = Some(spec.name.clone());
        }
        for s in &spec.services {
            let service = self.start_service(spec, s, say).await;
            match service {
                Ok(svc) => running.services.push(svc),
                Err((e, Some(svc))) => {
                    running.services.push(svc);
                    return Err(e);
                }
                Err((e, None)) => return Err(e),
            }
        }
        if let Some(image) = &spec.image {
            running.job = Some(self.start_job(spec, image).await?);
        }
        Ok(())
    }

    async fn start_service(
        &self,
        spec: &JobContainers,
        s: &ServiceSpec,
        say: &(dyn Fn(String) + Send + Sync),
    ) -> Result<RunningService, (Error, Option<RunningService>)> {
        let image = self
            .ensure_image(&s.image, &spec.base)
            .await
            .map_err(|e| (e, None))?;
        let name = format!("{}-{}", spec.name, s.name);
        let mut bindings = std::collections::HashMap::new();
        let mut exposed = Vec::new();
        for (container, host) in &s.ports {
            let key = format!("{container}/tcp");
            exposed.push(key.clone());
            bindings.insert(
                key,
                Some(vec![PortBinding {
                    host_ip: Some("127.0.0.1".into()),
                    host_port: Some(if *host == 0 {
                        String::new()
                    } else {
                        host.to_string()
                    }),
                }]),
            );
        }
        let mut endpoints = std::collections::HashMap::new();
        endpoints.insert(
            spec.name.clone(),
            EndpointSettings {
                aliases: Some(vec![s.name.clone()]),
                ..Default::default()
            },
        );
        let body = ContainerCreateBody {
            image: Some(image),
            env: Some(s.env.iter().map(|(k, v)| format!("{k}={v}")).collect()),
            labels: Some(labels()),
            exposed_ports: Some(exposed),
            host_config: Some(HostConfig {
                port_bindings: Some(bindings),
                network_mode: Some(spec.name.clone()),
                ..Default::default()
            }),
            networking_config: Some(NetworkingConfig {
                endpoints_config: Some(endpoints),
            }),
            ..Default::default()
        };
        let opts = CreateContainerOptionsBuilder::default().name(&name).build();
        let id = self
            .docker
            .create_container(Some(opts), body)
            .await
            .map_err(|e| (engine(format!("creating service `{}`", s.name))(e), None))?
            .id;
        let mut svc = RunningService {
            name: s.name.clone(),
            ports: Vec::new(),
            id: id.clone(),
        };
        if let Err(e) = self.docker.start_container(&id, None).await {
            return Err((
                engine(format!("starting service `{}`", s.name))(e),
                Some(svc),
            ));
        }
        let info = self
            .docker
            .inspect_container(&id, None)
            .await
            .map_err(|e| (engine(format!("inspecting service `{}`", s.name))(e), None))?;
        let published = info
            .network_settings
            .and_then(|n| n.ports)
            .unwrap_or_default();
        for (container, _) in &s.ports {
            let host = published
                .get(&format!("{container}/tcp"))
                .and_then(|b| b.as_ref())
                .and_then(|b| b.first())
                .and_then(|b| b.host_port.as_deref())
                .and_then(|p| p.parse().ok())
                .unwrap_or(0);
            svc.ports.push((*container, host));
        }
        if let Some(cmd) = &s.health_cmd
            && let Err(e) = self.wait_healthy(&svc, s, cmd, say).await
        {
            return Err((e, Some(svc)));
        }
        say(format!(
            "service `{}` is up ({}){}",
            s.name,
            s.image,
            if svc.ports.is_empty() {
                String::new()
            } else {
                format!(
                    ", {}",
                    svc.ports
                        .iter()
                        .map(|(c, h)| format!("port {c} on 127.0.0.1:{h}"))
                        .collect::<Vec<_>>()
                        .join(", ")
                )
            }
        ));
        Ok(svc)
    }

    /// Runs the health command until it passes; after `retries` failures, the error
    /// carries its last output and the service's log.
    async fn wait_healthy(
        &self,
        svc: &RunningService,
        s: &ServiceSpec,
        cmd: &str,
        say: &(dyn Fn(String) + Send + Sync),
    ) -> Result<(), Error> {
        let mut last = String::new();
        for attempt in 1..=s.health_retries.max(1) {
            let argv = vec!["sh".to_string(), "-c".to_string(), cmd.to_string()];
            let (code, output) = exec_collect(&self.docker, &svc.id, argv).await?;
            if code == 0 {
                return Ok(());
            }
            last = output;
            if attempt == 1 {
                say(format!("waiting for service `{}` to be healthy", s.name));
            }
            tokio::time::sleep(s.health_interval).await;
        }
        let log = container_log(&self.docker, &svc.id).await;
        Err(Error::Engine {
            doing: format!(
                "service `{}` never became healthy ({} checks of `{cmd}`)",
                s.name,
                s.health_retries.max(1)
            ),
            reason: format!(
                "last health output:\n{}\nservice log:\n{}",
                tail(&last, 20),
                tail(&log, 40)
            ),
        })
    }

    async fn start_job(&self, spec: &JobContainers, image: &str) -> Result<JobContainer, Error> {
        let image = &self.ensure_image(image, &spec.base).await?;
        let info = self
            .docker
            .inspect_image(image)
            .await
            .map_err(|e| Error::Image {
                image: image.to_string(),
                reason: wharf_oci::docker::chain(&e),
            })?;
        let path = info
            .config
            .and_then(|c| c.env)
            .unwrap_or_default()
            .into_iter()
            .find_map(|e| e.strip_prefix("PATH=").map(String::from));
        let user = format!(
            "{}:{}",
            rustix::process::getuid().as_raw(),
            rustix::process::getgid().as_raw()
        );
        let binds = spec
            .mounts
            .iter()
            .map(|m| format!("{0}:{0}", m.display()))
            .collect();
        let body = ContainerCreateBody {
            image: Some(image.to_string()),
            // Ends when its stdin does (a shell builtin: steps need a shell anyway).
            entrypoint: Some(vec![
                "sh".into(),
                "-c".into(),
                "while read -r _; do :; done".into(),
            ]),
            cmd: Some(Vec::new()),
            open_stdin: Some(true),
            stdin_once: Some(true),
            attach_stdin: Some(true),
            user: Some(user.clone()),
            labels: Some(labels()),
            host_config: Some(HostConfig {
                binds: Some(binds),
                auto_remove: Some(true),
                network_mode: (!spec.services.is_empty()).then(|| spec.name.clone()),
                ..Default::default()
            }),
            ..Default::default()
        };
        let opts = CreateContainerOptionsBuilder::default()
            .name(&spec.name)
            .build();
        let id = self
            .docker
            .create_container(Some(opts), body)
            .await
            .map_err(engine(format!("creating the job container from `{image}`")))?
            .id;
        let attach = AttachContainerOptionsBuilder::default()
            .stdin(true)
            .stream(true)
            .build();
        let attached = match self.docker.attach_container(&id, Some(attach)).await {
            Ok(a) => a,
            Err(e) => {
                remove(&self.docker, &id).await;
                return Err(engine("attaching to the job container")(e));
            }
        };
        if let Err(e) = self.docker.start_container(&id, None).await {
            remove(&self.docker, &id).await;
            return Err(engine(format!("starting the job container from `{image}`"))(e));
        }
        Ok(JobContainer {
            id,
            stdin: Mutex::new(Some(attached.input)),
            path,
            user,
        })
    }
}

/// The label naming the wharf process a container or network belongs to.
const PID_LABEL: &str = "org.wharf.pid";

fn labels() -> std::collections::HashMap<String, String> {
    let mut l = std::collections::HashMap::new();
    l.insert(PID_LABEL.to_string(), std::process::id().to_string());
    l
}

async fn remove(docker: &Docker, id: &str) {
    let opts = RemoveContainerOptionsBuilder::default()
        .force(true)
        .v(true)
        .build();
    let _ = docker.remove_container(id, Some(opts)).await;
}

/// Runs `argv` in a container and returns its exit code and output.
async fn exec_collect(
    docker: &Docker,
    id: &str,
    argv: Vec<String>,
) -> Result<(i64, String), Error> {
    let exec = docker
        .create_exec(
            id,
            CreateExecOptions {
                cmd: Some(argv),
                attach_stdout: Some(true),
                attach_stderr: Some(true),
                ..Default::default()
            },
        )
        .await
        .map_err(engine("running a command in a container"))?;
    let mut text = String::new();
    if let StartExecResults::Attached { mut output, .. } =
        docker
            .start_exec(&exec.id, None)
            .await
            .map_err(engine("running a command in a container"))?
    {
        while let Some(Ok(chunk)) = output.next().await {
            text.push_str(&String::from_utf8_lossy(&chunk.into_bytes()));
            if text.len() > 64 * 1024 {
                text.drain(..text.len() - 64 * 1024);
            }
        }
    }
    let code = docker
        .inspect_exec(&exec.id)
        .await
        .map_err(engine("reading a command's exit code"))?
        .exit_code
        .unwrap_or(-1);
    Ok((code, text))
}

async fn container_log(docker: &Docker, id: &str) -> String {
    let opts = bollard::query_parameters::LogsOptionsBuilder::default()
        .stdout(true)
        .stderr(true)
        .build();
    let mut logs = docker.logs(id, Some(opts));
    let mut text = String::new();
    while let Some(Ok(chunk)) = logs.next().await {
        text.push_str(&String::from_utf8_lossy(&chunk.into_bytes()));
    }
    text
}

/// The last `n` lines of `text`.
fn tail(text: &str, n: usize) -> String {
    let lines: Vec<&str> = text.lines().collect();
    lines[lines.len().saturating_sub(n)..].join("\n")
}

impl Running {
    /// The environment steps get about the services: `WHARF_SERVICE_NAME_HOST`, and
    /// `WHARF_SERVICE_NAME_PORT` (the first port) and `_PORT_N` per container port. From a
    /// container job a service is its name and its own ports; from the host, 127.0.0.1 and
    /// the published ports.
    pub fn service_env(&self) -> Vec<(String, String)> {
        let in_container = self.job.is_some();
        let mut out = Vec::new();
        for s in &self.services {
            let upper: String = s
                .name
                .chars()
                .map(|c| {
                    if c.is_ascii_alphanumeric() {
                        c.to_ascii_uppercase()
                    } else {
                        '_'
                    }
                })
                .collect();
            let host = if in_container {
                s.name.clone()
            } else {
                "127.0.0.1".to_string()
            };
            out.push((format!("WHARF_SERVICE_{upper}_HOST"), host));
            for (i, (container, published)) in s.ports.iter().enumerate() {
                let port = if in_container { *container } else { *published };
                if i == 0 {
                    out.push((format!("WHARF_SERVICE_{upper}_PORT"), port.to_string()));
                }
                out.push((
                    format!("WHARF_SERVICE_{upper}_PORT_{container}"),
                    port.to_string(),
                ));
            }
        }
        out
    }

    /// Each service's log, by name.
    pub async fn service_logs(&self) -> Vec<(String, String)> {
        let mut out = Vec::new();
        for s in &self.services {
            out.push((s.name.clone(), container_log(&self.docker, &s.id).await));
        }
        out
    }

    /// Removes the job container, the services and the network. The job container goes
    /// by itself once its stdin closes (and the engine removes it): nothing waits for it.
    pub async fn stop(&self) {
        if let Some(job) = &self.job {
            job.stdin.lock().await.take();
            if self.network.is_some() {
                // The network can go only once nothing is attached to it.
                remove(&self.docker, &job.id).await;
            }
        }
        for s in &self.services {
            remove(&self.docker, &s.id).await;
        }
        if let Some(net) = &self.network {
            let _ = self.docker.remove_network(net).await;
        }
    }

    /// The executor for the job's steps, when it runs in a container.
    pub fn executor(self: &Arc<Self>) -> Option<Arc<dyn Executor>> {
        self.job.as_ref()?;
        Some(Arc::new(InContainer(self.clone())))
    }
}

/// Runs steps as `exec`s in the job container.
struct InContainer(Arc<Running>);

impl Executor for InContainer {
    fn run_step(
        &self,
        req: StepRequest,
        cancel: watch::Receiver<bool>,
        log: LogWriter,
    ) -> BoxFuture<StepOutcome> {
        let running = self.0.clone();
        Box::pin(async move {
            let job = running.job.as_ref().expect("a container job");
            exec_step(&running.docker, job, req, cancel, log).await
        })
    }
}

/// The variables that describe the host, not the container: the image's own value (or
/// none) applies inside.
const HOST_ONLY: &[&str] = &["PATH", "HOME", "SHELL", "USER", "LOGNAME", "TMPDIR"];

async fn exec_step(
    docker: &Docker,
    job: &JobContainer,
    req: StepRequest,
    mut cancel: watch::Receiver<bool>,
    mut log: LogWriter,
) -> StepOutcome {
    let mut argv = req.argv.clone();
    if argv.first().is_some_and(|a| a == "bash") {
        // GitHub Actions' rule: without bash in the image, `run:` uses sh. Decided in the
        // container, in the step's own exec (asking first would cost an exec per job).
        let mut wrapped: Vec<String> = vec![
            "sh".into(),
            "-c".into(),
            r#"if command -v bash >/dev/null 2>&1; then exec "$@"; fi; eval "script=\${$#}"; exec sh -e -c "$script""#.into(),
            "sh".into(),
        ];
        wrapped.append(&mut argv);
        argv = wrapped;
    }
    let mut env: Vec<String> = req
        .env
        .iter()
        .filter(|(k, _)| !HOST_ONLY.contains(&k.as_str()))
        .map(|(k, v)| format!("{k}={v}"))
        .collect();
    if let Some(p) = &job.path {
        env.push(format!("PATH={p}"));
    }
    env.push("HOME=/tmp".into());
    let exec = match docker
        .create_exec(
            &job.id,
            CreateExecOptions {
                cmd: Some(argv),
                env: Some(env),
                working_dir: Some(req.cwd.display().to_string()),
                user: Some(job.user.clone()),
                attach_stdout: Some(true),
                attach_stderr: Some(true),
                ..Default::default()
            },
        )
        .await
    {
        Ok(e) => e,
        Err(e) => {
            let why = format!("the job container: {}", wharf_oci::docker::chain(&e));
            log.note(&why);
            let _ = log.finish();
            return StepOutcome::FailedToStart(why);
        }
    };
    let started = match docker.start_exec(&exec.id, None).await {
        Ok(StartExecResults::Attached { output, .. }) => output,
        Ok(StartExecResults::Detached) => {
            let _ = log.finish();
            return StepOutcome::FailedToStart("the engine detached the step".into());
        }
        Err(e) => {
            let why = format!("the job container: {}", wharf_oci::docker::chain(&e));
            log.note(&why);
            let _ = log.finish();
            return StepOutcome::FailedToStart(why);
        }
    };
    let mut output = started;
    let deadline = req.deadline;
    let mut stopping: Option<StepOutcome> = None;
    loop {
        tokio::select! {
            item = output.next() => match item {
                Some(Ok(LogOutput::StdOut { message })) | Some(Ok(LogOutput::Console { message })) => {
                    log.write(LogStream::Stdout, &message);
                }
                Some(Ok(LogOutput::StdErr { message })) => log.write(LogStream::Stderr, &message),
                Some(Ok(LogOutput::StdIn { .. })) => {}
                Some(Err(e)) => {
                    let why = format!("lost the step's output: the Docker Engine went away? {}", wharf_oci::docker::chain(&e));
                    log.note(&why);
                    let _ = log.finish();
                    return StepOutcome::FailedToStart(why);
                }
                None => break,
            },
            _ = async { match deadline { Some(d) => sleep_until(d).await, None => std::future::pending().await } }, if stopping.is_none() => {
                stopping = Some(StepOutcome::TimedOut);
                kill_container(docker, &job.id, req.kill_grace).await;
            }
            changed = cancel.changed(), if stopping.is_none() => {
                if changed.is_ok() && *cancel.borrow() {
                    stopping = Some(StepOutcome::Cancelled);
                    kill_container(docker, &job.id, req.kill_grace).await;
                }
            }
        }
    }
    let _ = log.finish();
    if let Some(outcome) = stopping {
        return outcome;
    }
    match docker.inspect_exec(&exec.id).await {
        Ok(info) => match info.exit_code {
            Some(code) => StepOutcome::Exited(code as i32),
            // The output ended while the step still ran: the connection to the engine was
            // cut (the engine restarted or stopped), not the step.
            None if info.running == Some(true) => StepOutcome::FailedToStart(
                "lost the step's output while it still ran: the Docker Engine went away?".into(),
            ),
            None => StepOutcome::FailedToStart("the engine reported no exit code".into()),
        },
        Err(e) => StepOutcome::FailedToStart(format!(
            "reading the step's exit code: the Docker Engine went away? {}",
            wharf_oci::docker::chain(&e)
        )),
    }
}

/// Stops a step in a container the only way the engine allows: the container goes (the
/// engine has no call to signal one `exec`). SIGTERM first, SIGKILL after the grace.
async fn kill_container(docker: &Docker, id: &str, grace: Duration) {
    let opts = bollard::query_parameters::StopContainerOptionsBuilder::default()
        .t(grace.as_secs().max(1) as i32)
        .build();
    let _ = tokio::time::timeout(
        grace + Duration::from_secs(5),
        docker.stop_container(id, Some(opts)),
    )
    .await;
}
