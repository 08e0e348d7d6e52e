//! Health probes: `GET path` on a fresh connection, any 2xx is healthy (kamal-proxy's
//! contract). A target gets traffic only once a probe passed.

use std::time::{Duration, Instant};

use bytes::Bytes;
use http::uri::Authority;
use http::{Request, header};
use http_body_util::Empty;
use hyper_util::rt::TokioIo;
use serde::Serialize;

/// How a target is probed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HealthSpec {
    /// The path to GET (`/up`).
    pub path: String,
    /// Time between probes.
    pub interval: Duration,
    /// How long one probe may take.
    pub timeout: Duration,
    /// How long the target has to become healthy (`None`: the proxy's
    /// `--health-timeout`).
    pub deadline: Option<Duration>,
}

impl Default for HealthSpec {
    fn default() -> HealthSpec {
        HealthSpec {
            path: crate::state::default_health_path(),
            interval: Duration::from_secs(1),
            timeout: Duration::from_secs(5),
            deadline: None,
        }
    }
}

/// What one probe found.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(tag = "result", rename_all = "snake_case")]
pub enum Probe {
    /// The target answered this status.
    Status {
        /// The status code.
        status: u16,
    },
    /// No answer: the connection or the request failed, or timed out.
    Failed {
        /// Why.
        error: String,
    },
}

impl Probe {
    /// Whether the probe passed (a 2xx).
    pub fn healthy(&self) -> bool {
        matches!(self, Probe::Status { status } if (200..300).contains(status))
    }
}

impl std::fmt::Display for Probe {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Probe::Status { status } => write!(f, "HTTP {status}"),
            Probe::Failed { error } => f.write_str(error),
        }
    }
}

/// One probe of `path` at `addr`.
pub async fn probe(addr: &Authority, spec: &HealthSpec) -> Probe {
    let url = format!("http://{addr}{}", spec.path);
    match tokio::time::timeout(spec.timeout, get(addr, &spec.path)).await {
        Ok(Ok(status)) => Probe::Status { status },
        Ok(Err(error)) => Probe::Failed {
            error: format!("GET {url}: {error}"),
        },
        Err(_) => Probe::Failed {
            error: format!(
                "GET {url}: no answer within {} ms",
                spec.timeout.as_millis()
            ),
        },
    }
}

async fn get(addr: &Authority, path: &str) -> Result<u16, String> {
    let stream = tokio::net::TcpStream::connect(addr.as_str())
        .await
        .map_err(|e| format!("cannot connect: {e}"))?;
    let (mut send, conn) = hyper::client::conn::http1::handshake(TokioIo::new(stream))
        .await
        .map_err(|e| e.to_string())?;
    let conn = tokio::spawn(conn);
    let req = Request::get(path)
        .header(header::HOST, addr.as_str())
        .header(header::USER_AGENT, "wharf-proxy health check")
        .header(header::CONNECTION, "close")
        .body(Empty::<Bytes>::new())
        .map_err(|e| e.to_string())?;
    let resp = send.send_request(req).await.map_err(|e| e.to_string());
    // The body is not read; the connection closes with the task.
    conn.abort();
    Ok(resp?.status().as_u16())
}

/// Probes every `interval` until one passes (its result) or `deadline` has passed (the
/// last probe's result).
pub async fn wait_healthy(
    addr: &Authority,
    spec: &HealthSpec,
    deadline: Duration,
) -> Result<Probe, Probe> {
    let end = Instant::now() + deadline;
    loop {
        let started = Instant::now();
        // No probe outlives the deadline.
        let left = end.saturating_duration_since(started);
        let one = HealthSpec {
            timeout: spec.timeout.min(left).max(Duration::from_millis(50)),
            ..spec.clone()
        };
        let p = probe(addr, &one).await;
        if p.healthy() {
            return Ok(p);
        }
        let next = started + spec.interval;
        if next >= end {
            return Err(p);
        }
        tokio::time::sleep_until(next.into()).await;
    }
}
