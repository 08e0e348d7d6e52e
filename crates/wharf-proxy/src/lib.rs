//! `wharf proxy`: the data plane of deployments. A reverse proxy, run as its own
//! process so that a deployer that dies never stops traffic, with a control API that
//! deploys the way kamal-proxy does — register the new target, wait for its health,
//! switch atomically, drain the old one — plus what kamal-proxy lacks: weighted canaries
//! with sticky keys, a blue/green preview, an instant rollback to the previous release,
//! and metrics per release.
//!
//! The data plane ([`forward`]) reads an immutable routing table ([`table`]) that the
//! control side ([`control`]) replaces whole on every change, after writing the state
//! file ([`state`]), so a restarted proxy serves what it served before.

mod admin;
mod api;
mod control;
mod error;
mod forward;
pub mod health;
mod metrics;
pub mod state;
mod table;
mod target;
mod worker;

use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::{Arc, RwLock};
use std::time::Duration;

use hyper::server::conn::http1;
use hyper::service::service_fn;
use hyper_util::rt::{TokioIo, TokioTimer};
use sha2::{Digest, Sha256};
use tokio::net::TcpListener;
use tokio::task::JoinHandle;

pub use crate::error::{Error, Result};
pub use crate::target::Drain;

use crate::control::Control;
use crate::metrics::Metrics;
use crate::table::Table;

/// How long a client may take to send a request's headers.
const HEADER_TIMEOUT: Duration = Duration::from_secs(30);

/// How the proxy runs.
#[derive(Debug, Clone)]
pub struct Config {
    /// The data plane's address.
    pub listen: SocketAddr,
    /// The control API's address.
    pub admin: SocketAddr,
    /// The state file.
    pub state_file: PathBuf,
    /// How long a replaced target's requests in flight may take before they are cut.
    pub drain_timeout: Duration,
    /// How long a new target has to become healthy.
    pub health_timeout: Duration,
    /// The file holding the token the control API requires (`Authorization: Bearer`);
    /// required when `admin` is not a loopback address.
    pub admin_token_file: Option<PathBuf>,
}

impl Config {
    /// The defaults: 30 s drain and health timeouts, no admin token.
    pub fn new(listen: SocketAddr, admin: SocketAddr, state_file: PathBuf) -> Config {
        Config {
            listen,
            admin,
            state_file,
            drain_timeout: Duration::from_secs(30),
            health_timeout: Duration::from_secs(30),
            admin_token_file: None,
        }
    }
}

/// What the data plane and the control API share.
pub(crate) struct Shared {
    pub(crate) config: Config,
    table: RwLock<Arc<Table>>,
    pub(crate) control: tokio::sync::Mutex<Control>,
    pub(crate) metrics: Metrics,
    /// SHA-256 of the admin token.
    pub(crate) admin_token: Option<[u8; 32]>,
}

impl Shared {
    /// The routing table now.
    pub(crate) fn table(&self) -> Arc<Table> {
        Arc::clone(&self.table.read().unwrap_or_else(|p| p.into_inner()))
    }

    /// Makes `table` the routing table: requests from now on see it.
    pub(crate) fn publish(&self, table: Table) {
        *self.table.write().unwrap_or_else(|p| p.into_inner()) = Arc::new(table);
    }
}

/// A running proxy: both listeners serve until it is dropped (or the process ends).
pub struct Proxy {
    listen: SocketAddr,
    admin: SocketAddr,
    restored: usize,
    tasks: Vec<JoinHandle<()>>,
    /// The data plane's threads; stopped when the proxy is dropped.
    _workers: worker::Workers,
}

impl Proxy {
    /// Checks `config`, restores the state file, binds both addresses and serves.
    pub async fn start(config: Config) -> Result<Proxy> {
        let admin_token = match &config.admin_token_file {
            Some(path) => Some(read_token(path)?),
            None if !config.admin.ip().is_loopback() => {
                return Err(Error::invalid(
                    format!(
                        "the control API would listen on {}, which is not a loopback address, without a token",
                        config.admin
                    ),
                    Some(
                        "anyone who reaches it can switch your traffic: pass --admin-token-file FILE \
                         (clients send `Authorization: Bearer TOKEN`), or keep --admin on 127.0.0.1"
                            .into(),
                    ),
                ));
            }
            None => None,
        };
        let metrics = Metrics::new();
        let control = Control::restore(state::load(&config.state_file)?, &metrics)?;
        let restored = control.len();
        // Written back at once: a state file that cannot be written is found now, not
        // at the first deploy.
        state::save(&config.state_file, &state::load(&config.state_file)?)?;
        let bind = |what, addr| async move {
            TcpListener::bind(addr)
                .await
                .map_err(|source| Error::Bind { what, addr, source })
        };
        let data = worker::bind(config.listen).map_err(|source| Error::Bind {
            what: "data plane",
            addr: config.listen,
            source,
        })?;
        let admin = bind("control API", config.admin).await?;
        let listen_addr = data.local_addr().unwrap_or(config.listen);
        let admin_addr = local(&admin, config.admin);
        let shared = Arc::new(Shared {
            table: RwLock::new(Arc::new(control.table())),
            control: tokio::sync::Mutex::new(control),
            metrics,
            admin_token,
            config,
        });
        let s = Arc::clone(&shared);
        let workers = worker::Workers::start(data, listen_addr, move |listener| {
            let s = Arc::clone(&s);
            accept(listener, move |peer| {
                let s = Arc::clone(&s);
                service_fn(move |req| forward::handle(Arc::clone(&s), peer, req))
            })
        })
        .map_err(|source| Error::Bind {
            what: "data plane",
            addr: listen_addr,
            source,
        })?;
        let s = shared;
        let admin_task = tokio::spawn(accept(admin, move |_| {
            let s = Arc::clone(&s);
            service_fn(move |req| admin::handle(Arc::clone(&s), req))
        }));
        Ok(Proxy {
            listen: listen_addr,
            admin: admin_addr,
            restored,
            tasks: vec![admin_task],
            _workers: workers,
        })
    }

    /// The data plane's address (the port the system chose, for port 0).
    pub fn listen_addr(&self) -> SocketAddr {
        self.listen
    }

    /// The control API's address.
    pub fn admin_addr(&self) -> SocketAddr {
        self.admin
    }

    /// How many services the state file restored.
    pub fn restored(&self) -> usize {
        self.restored
    }
}

impl Drop for Proxy {
    fn drop(&mut self) {
        for t in &self.tasks {
            t.abort();
        }
    }
}

fn local(l: &TcpListener, asked: SocketAddr) -> SocketAddr {
    l.local_addr().unwrap_or(asked)
}

fn read_token(path: &std::path::Path) -> Result<[u8; 32]> {
    let text = std::fs::read_to_string(path).map_err(|source| Error::Io {
        doing: "read the admin token file",
        path: path.to_path_buf(),
        source,
    })?;
    let token = text.trim();
    if token.len() < 16 {
        return Err(Error::invalid(
            format!(
                "the admin token in {} is shorter than 16 characters",
                path.display()
            ),
            Some("generate one: head -c 32 /dev/urandom | base64 > FILE".into()),
        ));
    }
    Ok(Sha256::digest(token.as_bytes()).into())
}

/// Accepts connections on `listener` forever, serving each with `make(peer)`.
async fn accept<S, B>(listener: TcpListener, make: impl Fn(SocketAddr) -> S)
where
    S: hyper::service::Service<
            hyper::Request<hyper::body::Incoming>,
            Response = hyper::Response<B>,
            Error = std::convert::Infallible,
        > + Send
        + 'static,
    S::Future: Send + 'static,
    B: http_body::Body + Send + 'static,
    B::Data: Send,
    B::Error: Into<Box<dyn std::error::Error + Send + Sync>>,
{
    loop {
        let (stream, peer) = match listener.accept().await {
            Ok(c) => c,
            Err(_) => {
                // Out of file descriptors, most likely: wait for some to be freed.
                tokio::time::sleep(Duration::from_millis(20)).await;
                continue;
            }
        };
        let _ = stream.set_nodelay(true);
        let service = make(peer);
        tokio::spawn(async move {
            let conn = http1::Builder::new()
                .timer(TokioTimer::new())
                .header_read_timeout(HEADER_TIMEOUT)
                .serve_connection(TokioIo::new(stream), service);
            // A client that went away is its own business.
            let _ = conn.await;
        });
    }
}
