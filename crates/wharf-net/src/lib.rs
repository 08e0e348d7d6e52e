//! Network limits for every HTTP client of wharf (the registry, the package index, the
//! forge API), so that nothing hangs on a stalled peer: a connect limit, an idle limit
//! (no byte read or written for that long, in either direction) and an overall limit per
//! request, from the `WHARF_NET_*` variables ([`Limits`]).
//!
//! [`Net::send`] sends one request under those limits and fails with a [`NetError`]
//! that names the peer, its host, and what was being sent; retrying is the caller's
//! business (each protocol knows what may be sent twice), helped by
//! [`NetError::retry_reason`] and the shared wording of [`retrying`]. Messages never
//! show a URL's query or userinfo ([`redact_url`]): a registry's upload URL carries its
//! `_state` token in the query.

mod error;
pub mod limits;
mod redact;
mod watch;

use std::sync::Arc;
use std::time::{Duration, Instant};

pub use error::{NetError, Phase};
pub use limits::{CONNECT_ENV, IDLE_ENV, Limits, TIMEOUT_ENV, parse_duration};
pub use redact::{host_of, redact_url};

use reqwest::ResponseBuilderExt as _;
use watch::{Activity, IdleBody, Watched, find_net_error};

/// Who is asked what, for messages: `registry 127.0.0.1:5000` and `the upload of blob
/// sha256:… (12.0 MiB)`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Exchange {
    /// The peer's kind: `registry`, `index`, `forge API`.
    pub peer: &'static str,
    /// `host[:port]`, never with userinfo.
    pub host: String,
    /// What is being sent or fetched, as a noun phrase.
    pub what: String,
}

impl Exchange {
    /// An exchange with the host of `url` (its userinfo left out).
    pub fn new(peer: &'static str, url: &str, what: impl Into<String>) -> Exchange {
        Exchange {
            peer,
            host: host_of(url),
            what: what.into(),
        }
    }

    fn stalled(&self, phase: Phase, idle: Duration, sent: u64) -> NetError {
        NetError::Stalled {
            peer: self.peer,
            host: self.host.clone(),
            what: self.what.clone(),
            phase,
            idle,
            sent,
        }
    }

    fn overall(&self, limit: Duration) -> NetError {
        NetError::Overall {
            peer: self.peer,
            host: self.host.clone(),
            what: self.what.clone(),
            limit,
        }
    }

    /// The error for a failed reqwest call or body read of this exchange: the stall or
    /// limit that caused it, else the transport error, URLs left out.
    pub fn error(&self, err: &reqwest::Error, limits: &Limits) -> NetError {
        if let Some(own) = find_net_error(err) {
            return own.clone();
        }
        if err.is_connect() && err.is_timeout() {
            return NetError::ConnectTimeout {
                peer: self.peer,
                host: self.host.clone(),
                limit: limits.connect,
            };
        }
        let transient = transient_words(err);
        NetError::Broken {
            peer: self.peer,
            host: self.host.clone(),
            what: self.what.clone(),
            detail: describe(err),
            transient,
        }
    }
}

/// An HTTP client under [`Limits`].
#[derive(Debug, Clone)]
pub struct Net {
    client: reqwest::Client,
    limits: Limits,
}

/// Installs rustls' ring provider for the process (reqwest is built without a default
/// one); call before building any `reqwest::Client`. Idempotent.
pub fn install_crypto() {
    let _ = rustls::crypto::ring::default_provider().install_default();
}

impl Net {
    /// A client with `limits` (wharf's user agent, rustls with the ring provider).
    pub fn new(limits: Limits) -> Result<Net, NetError> {
        install_crypto();
        let client = reqwest::Client::builder()
            .user_agent(concat!("wharf/", env!("CARGO_PKG_VERSION")))
            .connect_timeout(limits.connect)
            .pool_max_idle_per_host(16)
            .build()
            .map_err(|e| NetError::Client(describe(&e)))?;
        Ok(Net { client, limits })
    }

    /// A client with the limits of the `WHARF_NET_*` variables.
    pub fn from_env() -> Result<Net, NetError> {
        Net::new(Limits::from_env()?)
    }

    /// The underlying client, to build requests for [`Net::send`].
    pub fn client(&self) -> &reqwest::Client {
        &self.client
    }

    /// The limits.
    pub fn limits(&self) -> &Limits {
        &self.limits
    }

    /// Sends `request` under the limits. The answer's body is watched too: reading it
    /// fails when it stalls for the idle limit or passes the overall limit; give such a
    /// read's error to [`Exchange::error`].
    pub async fn send(
        &self,
        request: reqwest::RequestBuilder,
        exchange: &Exchange,
    ) -> Result<reqwest::Response, NetError> {
        let limits = self.limits;
        let (client, request) = request.build_split();
        let mut request = request.map_err(|e| exchange.error(&e, &limits))?;
        let activity = Arc::new(Activity::new());
        let length = request
            .headers()
            .get(reqwest::header::CONTENT_LENGTH)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.parse::<u64>().ok());
        match request.body_mut().take() {
            Some(body) => {
                let watched = Watched::new(body, length, activity.clone());
                *request.body_mut() = Some(reqwest::Body::wrap(watched));
            }
            None => activity.finish(),
        }
        let deadline = Instant::now() + limits.total;
        let call = client.execute(request);
        tokio::pin!(call);
        loop {
            let wake = (activity.last() + limits.idle).min(deadline);
            tokio::select! {
                result = &mut call => {
                    return match result {
                        Ok(response) => Ok(watch_answer(response, exchange, &limits, deadline)),
                        Err(e) => Err(exchange.error(&e, &limits)),
                    };
                }
                () = tokio::time::sleep_until(wake.into()) => {
                    let now = Instant::now();
                    if now >= deadline {
                        return Err(exchange.overall(limits.total));
                    }
                    if now.duration_since(activity.last()) >= limits.idle {
                        return Err(exchange.stalled(activity.phase(), limits.idle, activity.sent()));
                    }
                }
            }
        }
    }
}

/// `response` with its body under the idle limit and the request's deadline.
fn watch_answer(
    response: reqwest::Response,
    exchange: &Exchange,
    limits: &Limits,
    deadline: Instant,
) -> reqwest::Response {
    let url = response.url().clone();
    let http: http::Response<reqwest::Body> = response.into();
    let (mut parts, body) = http.into_parts();
    // The conversion drops the URL; put it back where reqwest looks for it.
    if let Ok(with_url) = http::Response::builder().url(url).body(()) {
        parts.extensions.extend(with_url.into_parts().0.extensions);
    }
    let body = IdleBody::new(body, exchange.clone(), limits.idle, deadline, limits.total);
    reqwest::Response::from(http::Response::from_parts(parts, reqwest::Body::wrap(body)))
}

/// A reqwest error and its causes on one line, without the URL reqwest adds (it may
/// carry a token in its query) and with any URL inside a cause redacted.
pub fn describe(err: &reqwest::Error) -> String {
    let kind = if err.is_connect() {
        "cannot connect"
    } else if err.is_timeout() {
        "timed out"
    } else if err.is_builder() {
        "invalid request"
    } else if err.is_redirect() {
        "bad redirect"
    } else if err.is_body() {
        "request or answer body failed"
    } else if err.is_decode() {
        "cannot read the answer"
    } else if err.is_request() {
        "error sending the request"
    } else {
        "request failed"
    };
    let mut text = kind.to_string();
    let mut cause = std::error::Error::source(err);
    while let Some(c) = cause {
        let s = c.to_string();
        if !text.ends_with(&s) {
            text = format!("{text}: {s}");
        }
        cause = c.source();
    }
    scrub_urls(&text)
}

/// `text` with every `http(s)://` URL in it redacted.
fn scrub_urls(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    let mut rest = text;
    let next_url = |s: &str| match (s.find("http://"), s.find("https://")) {
        (Some(a), Some(b)) => Some(a.min(b)),
        (a, b) => a.or(b),
    };
    while let Some(i) = next_url(rest) {
        out.push_str(&rest[..i]);
        let tail = &rest[i..];
        let end = tail
            .find(|c: char| c.is_whitespace() || matches!(c, ')' | '"' | '\'' | '>'))
            .unwrap_or(tail.len());
        out.push_str(&redact_url(&tail[..end]));
        rest = &tail[end..];
    }
    out.push_str(rest);
    out
}

/// A few words for a retry line when a failure may pass (a refused, reset or closed
/// connection); `None` when sending again cannot help.
fn transient_words(err: &reqwest::Error) -> Option<&'static str> {
    if err.is_builder() || err.is_redirect() || err.is_timeout() {
        return None;
    }
    let mut cause: Option<&(dyn std::error::Error + 'static)> = Some(err);
    while let Some(c) = cause {
        if let Some(io) = c.downcast_ref::<std::io::Error>() {
            use std::io::ErrorKind::*;
            return Some(match io.kind() {
                ConnectionRefused => "connection refused",
                ConnectionReset => "connection reset",
                ConnectionAborted => "connection aborted",
                BrokenPipe | UnexpectedEof => "connection closed",
                _ => "network error",
            });
        }
        cause = c.source();
    }
    if err.is_connect() {
        Some("cannot connect")
    } else if err.is_request() || err.is_body() || err.is_decode() {
        Some("connection closed")
    } else {
        None
    }
}

/// The line a client says when it sends a request again: `retrying blob sha256:…
/// (2/5) after 503`. `attempt` is the one about to be made.
pub fn retrying(subject: &str, attempt: u32, attempts: u32, reason: &str) -> String {
    format!("retrying {subject} ({attempt}/{attempts}) after {reason}")
}

/// `512 B`, `12.0 KiB`, `3.5 MiB`, `1.2 GiB`.
pub fn human_size(bytes: u64) -> String {
    const UNITS: [&str; 4] = ["KiB", "MiB", "GiB", "TiB"];
    if bytes < 1024 {
        return format!("{bytes} B");
    }
    let mut value = bytes as f64 / 1024.0;
    let mut unit = 0;
    while value >= 1024.0 && unit < UNITS.len() - 1 {
        value /= 1024.0;
        unit += 1;
    }
    format!("{value:.1} {}", UNITS[unit])
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sizes_and_retry_lines() {
        assert_eq!(human_size(512), "512 B");
        assert_eq!(human_size(12 << 20), "12.0 MiB");
        assert_eq!(human_size(1536), "1.5 KiB");
        assert_eq!(
            retrying("blob sha256:0123456789ab…", 2, 5, "503"),
            "retrying blob sha256:0123456789ab… (2/5) after 503"
        );
    }

    #[test]
    fn urls_inside_error_text_lose_their_query() {
        assert_eq!(
            scrub_urls(
                "error for url (http://127.0.0.1:5000/v2/a/blobs/uploads/x?_state=s3cret&digest=d): reset"
            ),
            "error for url (http://127.0.0.1:5000/v2/a/blobs/uploads/x): reset"
        );
        assert_eq!(
            scrub_urls("see https://u:p@h.example/a?b and http://x/y"),
            "see https://h.example/a and http://x/y"
        );
    }
}
