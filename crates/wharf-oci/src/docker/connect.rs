//! Finding and reaching the Docker Engine: `DOCKER_HOST` (`unix://` or `tcp://`) or the
//! default socket, then a version handshake so that an engine older than the client's
//! API version is spoken to in its own version instead of refusing every request.

use std::time::Duration;

use bollard::{API_DEFAULT_VERSION, Docker};

use super::DockerError;

/// Where the engine listens when `DOCKER_HOST` is unset, as for the `docker` CLI.
pub const DEFAULT_DOCKER_HOST: &str = "unix:///var/run/docker.sock";

/// The environment variable that names the engine, as for the `docker` CLI.
pub const DOCKER_HOST_ENV: &str = "DOCKER_HOST";

/// How long a request may wait for the engine's response headers. A build answers only
/// once the whole context is uploaded, so this is long; an unreachable engine is caught
/// by the much shorter [`HANDSHAKE`].
const REQUEST_TIMEOUT_SECS: u64 = 3600;

/// How long the first exchange may take before the engine counts as unreachable.
const HANDSHAKE: Duration = Duration::from_secs(15);

/// `DOCKER_HOST` when set and not empty, else [`DEFAULT_DOCKER_HOST`].
pub fn default_docker_host() -> String {
    std::env::var(DOCKER_HOST_ENV)
        .ok()
        .filter(|h| !h.is_empty())
        .unwrap_or_else(|| DEFAULT_DOCKER_HOST.to_owned())
}

/// Connects to the engine at `host` and agrees on an API version with it.
pub async fn connect(host: &str) -> Result<Docker, DockerError> {
    let unreachable = |reason: String| DockerError::Unreachable {
        host: host.to_owned(),
        reason,
    };
    let docker = if host.starts_with("unix://") {
        Docker::connect_with_unix(host, REQUEST_TIMEOUT_SECS, API_DEFAULT_VERSION)
    } else if host.starts_with("tcp://") || host.starts_with("http://") {
        Docker::connect_with_http(host, REQUEST_TIMEOUT_SECS, API_DEFAULT_VERSION)
    } else {
        return Err(DockerError::UnsupportedHost(host.to_owned()));
    }
    .map_err(|e| unreachable(chain(&e)))?;
    match tokio::time::timeout(HANDSHAKE, docker.negotiate_version()).await {
        Ok(Ok(docker)) => Ok(docker),
        Ok(Err(e)) => Err(unreachable(chain(&e))),
        Err(_) => Err(unreachable(format!(
            "no answer within {} s",
            HANDSHAKE.as_secs()
        ))),
    }
}

/// An error and its sources on one line: bollard's top-level messages alone ("error in
/// the hyper legacy client") do not say what went wrong.
pub fn chain(e: &dyn std::error::Error) -> String {
    let mut text = e.to_string();
    let mut source = e.source();
    while let Some(s) = source {
        let s_text = s.to_string();
        if !text.contains(&s_text) {
            text.push_str(": ");
            text.push_str(&s_text);
        }
        source = s.source();
    }
    text
}

/// The credentials the image builder would use for `image`'s registry (docker's
/// `config.json`: `auths`, credential helpers), sent with the pull: the engine itself
/// reads no `docker login`.
pub fn pull_credentials(image: &str) -> Option<bollard::auth::DockerCredentials> {
    let reference = crate::registry::Reference::parse(image).ok()?;
    let creds = crate::registry::docker_config::lookup(&reference.host).ok()??;
    let secret = creds.password.expose().to_string();
    Some(bollard::auth::DockerCredentials {
        serveraddress: Some(reference.host.clone()),
        username: (!creds.identity_token).then(|| creds.username.clone()),
        password: (!creds.identity_token).then(|| secret.clone()),
        identitytoken: creds.identity_token.then_some(secret),
        ..Default::default()
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn an_absent_socket_is_unreachable_with_a_hint() {
        let err = connect("unix:///nonexistent/wharf/docker.sock")
            .await
            .unwrap_err()
            .to_string();
        assert!(
            err.starts_with(
                "no Docker Engine reachable at unix:///nonexistent/wharf/docker.sock: "
            ),
            "{err}"
        );
        assert!(
            err.contains("hint: start dockerd or use build-image without `dockerfile:`"),
            "{err}"
        );
    }

    #[tokio::test]
    async fn a_closed_tcp_port_is_unreachable() {
        // Bound then released: nothing listens there.
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap()
            .port();
        let host = format!("tcp://127.0.0.1:{port}");
        let err = connect(&host).await.unwrap_err().to_string();
        assert!(
            err.starts_with(&format!("no Docker Engine reachable at {host}: ")),
            "{err}"
        );
    }

    #[tokio::test]
    async fn other_schemes_are_refused() {
        let err = connect("ssh://build@host").await.unwrap_err().to_string();
        assert!(
            err.contains("unsupported Docker host `ssh://build@host`"),
            "{err}"
        );
    }
}
