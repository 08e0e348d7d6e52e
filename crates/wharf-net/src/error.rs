//! What went wrong on the network, said for the person reading a CI log: which peer, on
//! which host, what was being sent, which limit ran out and the variable that sets it.
//! No variant holds a URL with its query or userinfo, nor a header: messages never show
//! an upload's `_state` token or a credential.

use std::time::Duration;

use crate::limits::{CONNECT_ENV, Human, IDLE_ENV, TIMEOUT_ENV};

/// How far a request had got when it stalled.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Phase {
    /// The peer stopped taking the request body.
    Sending,
    /// The request went out and no answer came.
    Waiting,
    /// The answer started and then stopped.
    Receiving,
}

/// A network failure of one request.
#[derive(Debug, Clone, thiserror::Error)]
pub enum NetError {
    /// A `WHARF_NET_*` variable does not hold a duration.
    #[error(
        "{name} `{value}` is not a valid limit: {reason}\n  hint: write a duration such as `30s`, `2m` or `1h`"
    )]
    BadLimit {
        /// The variable.
        name: &'static str,
        /// Its value.
        value: String,
        /// Why it is refused.
        reason: String,
    },
    /// The HTTP client could not be set up.
    #[error("cannot set up the HTTP client: {0}")]
    Client(String),
    /// No connection within the connect limit.
    #[error(
        "cannot connect to {peer} {host} within {} (connect limit {CONNECT_ENV})\n  hint: check that {host} is up and reachable from here",
        Human(*limit)
    )]
    ConnectTimeout {
        /// `registry`, `index`, `forge API`...
        peer: &'static str,
        /// `host[:port]`.
        host: String,
        /// The limit that ran out.
        limit: Duration,
    },
    /// The peer stopped: no byte moved for the idle limit.
    #[error(
        "{peer} {host} {} for {} ({}idle limit {IDLE_ENV})\n  hint: {host} may be overloaded or a proxy in between stuck; raise {IDLE_ENV} only if it is known to be that slow",
        phase_text(*phase, what),
        Human(*idle),
        sent_text(*phase, *sent)
    )]
    Stalled {
        /// The peer's kind.
        peer: &'static str,
        /// `host[:port]`.
        host: String,
        /// What was being exchanged (`the upload of blob sha256:… (12.0 MiB)`).
        what: String,
        /// How far it had got.
        phase: Phase,
        /// The idle limit.
        idle: Duration,
        /// Request body bytes handed to the connection before the stall.
        sent: u64,
    },
    /// The request took longer than the overall limit.
    #[error(
        "{peer} {host}: {what} took longer than {} (overall limit {TIMEOUT_ENV})",
        Human(*limit)
    )]
    Overall {
        /// The peer's kind.
        peer: &'static str,
        /// `host[:port]`.
        host: String,
        /// What was being exchanged.
        what: String,
        /// The limit.
        limit: Duration,
    },
    /// The connection failed or broke (refused, reset, closed early, DNS).
    #[error("{peer} {host}: {what} failed: {detail}")]
    Broken {
        /// The peer's kind.
        peer: &'static str,
        /// `host[:port]`.
        host: String,
        /// What was being exchanged.
        what: String,
        /// The transport error and its causes, URLs left out.
        detail: String,
        /// Short words for a retry line (`connection reset`); `None` when sending the
        /// request again cannot help.
        transient: Option<&'static str>,
    },
}

fn phase_text(phase: Phase, what: &str) -> String {
    match phase {
        Phase::Sending => format!("stopped reading {what}"),
        Phase::Waiting => format!("did not answer {what}"),
        Phase::Receiving => format!("stopped sending the answer to {what}"),
    }
}

fn sent_text(phase: Phase, sent: u64) -> String {
    match phase {
        Phase::Sending => format!("{} sent; ", crate::human_size(sent)),
        _ => String::new(),
    }
}

impl NetError {
    /// Why sending the same request again may work, in a few words for a retry line
    /// (`connection reset`); `None` for stalls and limits: a peer that stopped for the
    /// whole idle limit is not waited for again.
    pub fn retry_reason(&self) -> Option<&'static str> {
        match self {
            NetError::Broken { transient, .. } => *transient,
            _ => None,
        }
    }

    /// Whether a limit ran out (connect, idle or overall).
    pub fn is_timeout(&self) -> bool {
        matches!(
            self,
            NetError::ConnectTimeout { .. } | NetError::Stalled { .. } | NetError::Overall { .. }
        )
    }
}
