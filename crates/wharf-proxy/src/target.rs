//! A live target: one release at one address, with its own pool of keep-alive
//! connections, its count of requests in flight, and the token that cancels them when a
//! drain runs out of time.
//!
//! A target has its own pool so that draining it can close exactly its idle connections:
//! when the last reference to the target goes (the routing table dropped it and its
//! last request ended), the pool and every idle connection in it go with it.

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use http::HeaderValue;
use http::uri::Authority;
use hyper::body::Incoming;
use hyper_util::client::legacy::Client;
use hyper_util::client::legacy::connect::HttpConnector;
use hyper_util::rt::{TokioExecutor, TokioTimer};
use serde::Serialize;
use tokio_util::sync::CancellationToken;

use crate::error::{Error, Result};
use crate::metrics::{Metrics, TargetMetrics};
use crate::state::TargetSpec;

/// How long an idle upstream connection stays in the pool.
const POOL_IDLE: Duration = Duration::from_secs(60);
/// How long connecting to an upstream may take.
const CONNECT_TIMEOUT: Duration = Duration::from_secs(5);

/// One release at one address, serving.
pub(crate) struct Target {
    pub(crate) spec: TargetSpec,
    pub(crate) authority: Authority,
    /// `X-Release`'s value.
    pub(crate) release_header: HeaderValue,
    /// One keep-alive pool per data-plane worker thread: a request and its upstream
    /// connection stay on one thread ([`crate::worker`]).
    clients: Box<[Client<HttpConnector, Incoming>]>,
    in_flight: AtomicUsize,
    pub(crate) cancel: CancellationToken,
    pub(crate) metrics: TargetMetrics,
}

/// Checks a target's address: `host:port`, nothing else.
pub(crate) fn parse_addr(field: &str, addr: &str) -> Result<Authority> {
    let bad = || {
        Error::field(
            field,
            format!("field `{field}` must be `host:port` (e.g. 127.0.0.1:3000), got {addr:?}"),
        )
    };
    let authority: Authority = addr.parse().map_err(|_| bad())?;
    if authority.port_u16().is_none()
        || authority.as_str().contains('@')
        || authority.host().is_empty()
    {
        return Err(bad());
    }
    Ok(authority)
}

/// Checks a release name: it goes into a header and into metric labels.
pub(crate) fn check_release(field: &str, release: &str) -> Result<HeaderValue> {
    let ok = !release.is_empty()
        && release.len() <= 128
        && release
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"._-+:@/".contains(&b));
    if !ok {
        return Err(Error::field(
            field,
            format!(
                "field `{field}` must be 1–128 characters of letters, digits and ._-+:@/, got {release:?}"
            ),
        ));
    }
    HeaderValue::from_str(release).map_err(|_| Error::field(field, "not a header value"))
}

impl Target {
    /// A target for `spec` of `service`, with a fresh connection pool.
    pub(crate) fn new(service: &str, spec: TargetSpec, metrics: &Metrics) -> Result<Arc<Target>> {
        let authority = parse_addr("addr", &spec.addr)?;
        let release_header = check_release("release", &spec.release)?;
        let clients = (0..crate::worker::count())
            .map(|_| {
                let mut connector = HttpConnector::new();
                connector.set_nodelay(true);
                connector.set_connect_timeout(Some(CONNECT_TIMEOUT));
                Client::builder(TokioExecutor::new())
                    .pool_idle_timeout(POOL_IDLE)
                    .pool_timer(TokioTimer::new())
                    .build(connector)
            })
            .collect();
        Ok(Arc::new(Target {
            metrics: metrics.target(service, &spec.release),
            spec,
            authority,
            release_header,
            clients,
            in_flight: AtomicUsize::new(0),
            cancel: CancellationToken::new(),
        }))
    }

    /// The pool of the data-plane worker this runs on.
    pub(crate) fn client(&self) -> &Client<HttpConnector, Incoming> {
        &self.clients[crate::worker::index() % self.clients.len()]
    }

    /// Counts a request in flight until the guard is dropped (at the end of its
    /// response body, or when it fails).
    pub(crate) fn begin(self: &Arc<Self>) -> InFlight {
        self.in_flight.fetch_add(1, Ordering::AcqRel);
        self.metrics.in_flight.inc();
        InFlight {
            target: Arc::clone(self),
            started: Instant::now(),
        }
    }

    /// Requests in flight now.
    pub(crate) fn in_flight(&self) -> usize {
        self.in_flight.load(Ordering::Acquire)
    }

    /// Waits for the requests in flight to end (the target gets no new ones: it is out of
    /// the routing table), up to `timeout`; then cancels those left.
    pub(crate) async fn drain(&self, timeout: Duration) -> Drain {
        let started = Instant::now();
        let deadline = started + timeout;
        let mut left = self.in_flight();
        while left > 0 && Instant::now() < deadline {
            tokio::time::sleep(Duration::from_millis(10)).await;
            left = self.in_flight();
        }
        if left > 0 {
            self.cancel.cancel();
        }
        Drain {
            release: self.spec.release.clone(),
            addr: self.spec.addr.clone(),
            waited_ms: u64::try_from(started.elapsed().as_millis()).unwrap_or(u64::MAX),
            cancelled: left,
        }
    }
}

/// What draining a target did.
#[derive(Debug, Clone, Serialize)]
pub struct Drain {
    /// The drained release.
    pub release: String,
    /// Its address.
    pub addr: String,
    /// How long the drain waited for requests in flight.
    pub waited_ms: u64,
    /// Requests still in flight at the drain timeout, cancelled.
    pub cancelled: usize,
}

/// A request in flight on a target (see [`Target::begin`]).
pub(crate) struct InFlight {
    target: Arc<Target>,
    started: Instant,
}

impl InFlight {
    pub(crate) fn target(&self) -> &Arc<Target> {
        &self.target
    }
}

impl Drop for InFlight {
    fn drop(&mut self) {
        let t = &self.target;
        t.metrics
            .duration
            .observe(self.started.elapsed().as_secs_f64());
        t.metrics.in_flight.dec();
        t.in_flight.fetch_sub(1, Ordering::AcqRel);
    }
}
