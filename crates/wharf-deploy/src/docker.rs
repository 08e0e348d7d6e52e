//! The Docker target's containers: one per deployment, named and labelled so the next
//! deployer (or a reconciliation) finds them, published on 127.0.0.1 at a port chosen
//! once, so a stopped container restarts at the address the proxy remembers.

use std::collections::HashMap;

use bollard::Docker;
use bollard::models::{
    ContainerCreateBody, HostConfig, PortBinding, RestartPolicy, RestartPolicyNameEnum,
};
use bollard::query_parameters::{
    CreateContainerOptionsBuilder, CreateImageOptionsBuilder, ListContainersOptionsBuilder,
    RemoveContainerOptionsBuilder, StopContainerOptionsBuilder,
};
use futures_util::StreamExt as _;
use wharf_model::{DockerTarget, Produced, ProducedKind};

use crate::error::{Error, Result};

/// The label with the environment a container serves.
pub const ENV_LABEL: &str = "org.wharf.deploy.environment";
/// The label with the release a container runs.
pub const RELEASE_LABEL: &str = "org.wharf.deploy.release";
/// The label with the deployment that started a container.
pub const DEPLOYMENT_LABEL: &str = "org.wharf.deploy.id";
/// The label with the scope of a container: which project's environment, behind which
/// proxy service (two projects may both have a `production`).
pub const SCOPE_LABEL: &str = "org.wharf.deploy.scope";

/// The scope of an environment's containers: a short digest of the project's root, the
/// proxy and the service.
pub fn scope(root: &std::path::Path, target: &DockerTarget) -> String {
    use sha2::Digest as _;
    let mut h = sha2::Sha256::new();
    h.update(root.to_string_lossy().as_bytes());
    h.update([0]);
    h.update(target.proxy.as_bytes());
    h.update([0]);
    h.update(target.service.as_bytes());
    let d = h.finalize();
    d.iter().take(6).map(|b| format!("{b:02x}")).collect()
}

/// The engine.
#[derive(Clone)]
pub struct Engine {
    docker: Docker,
    host: String,
}

/// A deployment's container.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct Container {
    /// Its id.
    pub id: String,
    /// Its name.
    pub name: String,
    /// The release it runs.
    pub release: String,
    /// The deployment that started it.
    pub deployment: i64,
    /// `127.0.0.1:PORT`, where its application answers.
    pub addr: String,
    /// Whether it runs.
    pub running: bool,
}

fn fail(doing: impl Into<String>) -> impl FnOnce(bollard::errors::Error) -> Error {
    let doing = doing.into();
    move |e| Error::target(doing, wharf_oci::docker::chain(&e))
}

/// The image reference a release's items name for a target: `repo@sha256:…`, by digest,
/// never by tag (a moved tag changes nothing).
pub fn image_of(items: &[Produced], target: &DockerTarget, version: &str) -> Result<String> {
    let images: Vec<(&str, &str)> = items
        .iter()
        .filter(|p| p.kind == ProducedKind::PushedImage)
        .map(|p| (repository(&p.name), p.digest.as_str()))
        .collect();
    let mut distinct: Vec<(&str, &str)> = Vec::new();
    for i in images {
        if !distinct.iter().any(|d| d.0 == i.0) {
            distinct.push(i);
        }
    }
    let chosen = match &target.image {
        Some(want) => distinct
            .iter()
            .find(|(repo, _)| repo == want)
            .ok_or_else(|| {
                Error::refused(
                    format!("release {version} pushed no image `{want}`"),
                    format!(
                        "it pushed: {}",
                        if distinct.is_empty() {
                            "none".to_string()
                        } else {
                            distinct.iter().map(|d| d.0).collect::<Vec<_>>().join(", ")
                        }
                    ),
                )
            })?,
        None => match distinct.as_slice() {
            [one] => one,
            [] => {
                return Err(Error::refused(
                    format!("release {version} has no pushed image to run"),
                    "the Docker target runs an image the release pushed to a registry (`build-image` with `push: true`); `wharf release show` lists what it has",
                ));
            }
            _ => {
                return Err(Error::refused(
                    format!("release {version} pushed several images"),
                    format!(
                        "name the one to run: `target: {{docker: {{image: …}}}}`, one of {}",
                        distinct.iter().map(|d| d.0).collect::<Vec<_>>().join(", ")
                    ),
                ));
            }
        },
    };
    Ok(format!("{}@{}", chosen.0, chosen.1))
}

/// `host:5000/name` of `host:5000/name:tag` (or `…@sha256:…`).
fn repository(reference: &str) -> &str {
    let no_digest = reference.split('@').next().unwrap_or(reference);
    match no_digest.rfind(':') {
        Some(i) if !no_digest[i..].contains('/') => &no_digest[..i],
        _ => no_digest,
    }
}

impl Engine {
    /// Connects to `DOCKER_HOST` or the default socket.
    pub async fn connect() -> Result<Engine> {
        let host = wharf_oci::docker::default_docker_host();
        let docker = wharf_oci::docker::connect(&host).await.map_err(|e| {
            Error::target(
                format!("connect to the Docker Engine at {host}"),
                e.to_string(),
            )
        })?;
        Ok(Engine { docker, host })
    }

    /// Where the engine is.
    pub fn host(&self) -> &str {
        &self.host
    }

    /// Makes sure the engine has `image` (by digest), pulling it when it does not;
    /// returns whether it pulled.
    pub async fn ensure_image(&self, image: &str) -> Result<bool> {
        if self.docker.inspect_image(image).await.is_ok() {
            return Ok(false);
        }
        let opts = CreateImageOptionsBuilder::default()
            .from_image(image)
            .build();
        let mut pull =
            self.docker
                .create_image(Some(opts), None, wharf_oci::docker::pull_credentials(image));
        while let Some(item) = pull.next().await {
            item.map_err(fail(format!("pull {image}")))?;
        }
        self.docker
            .inspect_image(image)
            .await
            .map_err(fail(format!("pull {image}")))?;
        Ok(true)
    }

    /// The container deployment `id` will start: its name and the 127.0.0.1 port it is
    /// published on, chosen now so both can be recorded before it exists (a deployer
    /// killed while creating it leaves a name its reconciliation can remove).
    pub fn plan(
        &self,
        scope: &str,
        environment: &str,
        release: &str,
        id: i64,
    ) -> Result<Container> {
        let name = format!("wharf-{environment}-{id}-{scope}");
        Ok(Container {
            id: name.clone(),
            name,
            release: release.to_string(),
            deployment: id,
            addr: format!("127.0.0.1:{}", free_port()?),
            running: false,
        })
    }

    /// Creates and starts the `planned` container; returns it with its engine id.
    pub async fn start_new(
        &self,
        planned: &Container,
        scope: &str,
        environment: &str,
        image: &str,
        target: &DockerTarget,
    ) -> Result<Container> {
        let name = &planned.name;
        let port = planned.addr.rsplit(':').next().unwrap_or_default();
        let key = format!("{}/tcp", target.port);
        let mut labels = HashMap::new();
        labels.insert(ENV_LABEL.to_string(), environment.to_string());
        labels.insert(SCOPE_LABEL.to_string(), scope.to_string());
        labels.insert(RELEASE_LABEL.to_string(), planned.release.clone());
        labels.insert(DEPLOYMENT_LABEL.to_string(), planned.deployment.to_string());
        let body = ContainerCreateBody {
            image: Some(image.to_string()),
            env: Some(target.env.iter().map(|(k, v)| format!("{k}={v}")).collect()),
            labels: Some(labels),
            exposed_ports: Some(vec![key.clone()]),
            host_config: Some(HostConfig {
                port_bindings: Some(HashMap::from([(
                    key,
                    Some(vec![PortBinding {
                        host_ip: Some("127.0.0.1".into()),
                        host_port: Some(port.to_string()),
                    }]),
                )])),
                restart_policy: Some(RestartPolicy {
                    name: Some(RestartPolicyNameEnum::UNLESS_STOPPED),
                    maximum_retry_count: None,
                }),
                ..Default::default()
            }),
            ..Default::default()
        };
        // A container of this name left by a deployer that died before recording it.
        let _ = self.remove(name).await;
        let opts = CreateContainerOptionsBuilder::default().name(name).build();
        let created = self
            .docker
            .create_container(Some(opts), body)
            .await
            .map_err(fail(format!("create container {name} from {image}")))?;
        self.docker
            .start_container(
                &created.id,
                None::<bollard::query_parameters::StartContainerOptions>,
            )
            .await
            .map_err(fail(format!("start container {name}")))?;
        Ok(Container {
            id: created.id,
            running: true,
            ..planned.clone()
        })
    }

    /// Starts a stopped container again (a rollback: no pull, no build).
    pub async fn start(&self, c: &Container) -> Result<()> {
        match self
            .docker
            .start_container(
                &c.id,
                None::<bollard::query_parameters::StartContainerOptions>,
            )
            .await
        {
            Ok(()) => Ok(()),
            // 304: already running.
            Err(bollard::errors::Error::DockerResponseServerError {
                status_code: 304, ..
            }) => Ok(()),
            Err(e) => Err(fail(format!("start container {}", c.name))(e)),
        }
    }

    /// Stops a container, keeping it for an instant switch back.
    pub async fn stop(&self, c: &Container) -> Result<()> {
        let opts = StopContainerOptionsBuilder::default().t(10).build();
        match self.docker.stop_container(&c.id, Some(opts)).await {
            Ok(()) => Ok(()),
            Err(bollard::errors::Error::DockerResponseServerError {
                status_code: 304 | 404,
                ..
            }) => Ok(()),
            Err(e) => Err(fail(format!("stop container {}", c.name))(e)),
        }
    }

    /// Removes a container (by id or name), whatever its state; gone already is fine.
    pub async fn remove(&self, id: &str) -> Result<()> {
        let opts = RemoveContainerOptionsBuilder::default().force(true).build();
        match self.docker.remove_container(id, Some(opts)).await {
            Ok(()) => Ok(()),
            Err(bollard::errors::Error::DockerResponseServerError {
                status_code: 404, ..
            }) => Ok(()),
            Err(e) => Err(fail(format!("remove container {id}"))(e)),
        }
    }

    /// Every container of `environment` in `scope`, oldest deployment first.
    pub async fn containers(&self, scope: &str, environment: &str) -> Result<Vec<Container>> {
        let filters = HashMap::from([(
            "label".to_string(),
            vec![
                format!("{ENV_LABEL}={environment}"),
                format!("{SCOPE_LABEL}={scope}"),
            ],
        )]);
        let opts = ListContainersOptionsBuilder::default()
            .all(true)
            .filters(&filters)
            .build();
        let list = self
            .docker
            .list_containers(Some(opts))
            .await
            .map_err(fail(format!(
                "list the containers of environment {environment}"
            )))?;
        let mut out = Vec::new();
        for c in list {
            let labels = c.labels.unwrap_or_default();
            let addr = c
                .ports
                .unwrap_or_default()
                .iter()
                .find_map(|p| p.public_port.map(|pp| format!("127.0.0.1:{pp}")))
                .unwrap_or_default();
            out.push(Container {
                id: c.id.unwrap_or_default(),
                name: c
                    .names
                    .and_then(|n| n.first().cloned())
                    .unwrap_or_default()
                    .trim_start_matches('/')
                    .to_string(),
                release: labels.get(RELEASE_LABEL).cloned().unwrap_or_default(),
                deployment: labels
                    .get(DEPLOYMENT_LABEL)
                    .and_then(|d| d.parse().ok())
                    .unwrap_or(0),
                addr,
                running: c.state.map(|s| s.to_string()) == Some("running".to_string()),
            });
        }
        out.sort_by_key(|c| c.deployment);
        Ok(out)
    }
}

/// A free port on 127.0.0.1, chosen now so the container keeps it across restarts.
fn free_port() -> Result<u16> {
    let l = std::net::TcpListener::bind("127.0.0.1:0")
        .map_err(|e| Error::target("find a free port on 127.0.0.1", e.to_string()))?;
    l.local_addr()
        .map(|a| a.port())
        .map_err(|e| Error::target("find a free port on 127.0.0.1", e.to_string()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn repositories_lose_their_tag_but_not_their_port() {
        assert_eq!(
            repository("127.0.0.1:5000/demo:1.2.0"),
            "127.0.0.1:5000/demo"
        );
        assert_eq!(repository("127.0.0.1:5000/demo"), "127.0.0.1:5000/demo");
        assert_eq!(repository("demo@sha256:ab"), "demo");
    }
}
