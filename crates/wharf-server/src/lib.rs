//! `wharf serve`: the CD server, another front end of the one runtime.
//!
//! It takes events from forges' webhooks (verified, deduplicated, stored durably before
//! the forge gets its 2xx), keeps them in a queue in its own SQLite database
//! (`server.db` in the data directory), and runs each one as `wharf run` would: the
//! project's repository fetched with `git`, a worktree at the event's commit (its pipeline
//! files decide), then [`wharf_runtime`] with the project's run store, its secrets opened
//! with the server's key. Runs, logs and artifacts live in each project's run store under
//! `projects/NAME/state`, the same store `wharf runs` reads.

pub mod admin;
mod api;
mod app;
pub mod audit;
pub mod db;
mod deploys;
mod dispatch;
mod error;
mod git;
mod health;
mod hooks;
mod live;
mod metrics;
mod observe;
mod paths;
mod poll;
mod schedule;
pub mod statuses;
pub mod tokens;
mod ui;

use std::net::SocketAddr;
use std::path::PathBuf;
use std::time::Duration;

pub use app::serve;
pub use error::{Error, Result};
pub use paths::{default_data_dir, valid_project_name};

/// How the server runs.
#[derive(Debug, Clone)]
pub struct Config {
    /// Where its database, key, repositories and run stores live.
    pub data_dir: PathBuf,
    /// The address it listens on (127.0.0.1 unless another is named).
    pub listen: SocketAddr,
    /// Events run at once.
    pub max_runs: usize,
    /// Jobs at once within one run.
    pub max_parallel: usize,
    /// The largest webhook body taken; larger ones get 413.
    pub max_body: usize,
    /// How long a delivery id is remembered (a redelivery within it starts nothing).
    pub dedup_window: Duration,
    /// How long a client may take to send a request's body.
    pub body_timeout: Duration,
    /// How many times an event runs in all when the server dies under it: its runs'
    /// unfinished jobs run again (reusing the finished ones) until this many attempts.
    pub interrupted_attempts: i64,
    /// The server's address as the forge's users reach it, for the links of commit
    /// statuses (`--public-url`); `None`: `http://` and the address it listens on.
    pub public_url: Option<String>,
    /// A file holding the bearer token `/metrics` requires; `None`: `/metrics` is open.
    pub metrics_token_file: Option<PathBuf>,
    /// Live-log streams served at once; past it a follower gets 503 and `Retry-After`.
    pub max_followers: usize,
    /// How long a dashboard sign-in lasts.
    pub session_ttl: Duration,
}

impl Config {
    /// The defaults, with `data_dir` and `listen`.
    pub fn new(data_dir: PathBuf, listen: SocketAddr) -> Config {
        Config {
            data_dir,
            listen,
            max_runs: 2,
            max_parallel: 4,
            // GitHub caps payloads at 25 MB; none of the forges sends more.
            max_body: 25 << 20,
            dedup_window: Duration::from_secs(7 * 24 * 3600),
            body_timeout: Duration::from_secs(10),
            interrupted_attempts: 2,
            public_url: None,
            metrics_token_file: None,
            max_followers: 500,
            session_ttl: Duration::from_secs(12 * 3600),
        }
    }
}

/// `segment` percent-encoded for a URL path segment (RFC 3986 unreserved kept).
pub(crate) fn url_segment(segment: &str) -> String {
    let mut out = String::with_capacity(segment.len());
    for b in segment.bytes() {
        if b.is_ascii_alphanumeric() || matches!(b, b'-' | b'.' | b'_' | b'~') {
            out.push(b as char);
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

/// Milliseconds since the epoch.
pub(crate) fn now() -> wharf_model::Millis {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_millis() as wharf_model::Millis)
        .unwrap_or(0)
}
