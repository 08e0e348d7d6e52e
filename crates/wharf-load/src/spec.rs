//! What a load test is asked to do, as a pipeline file writes it (kebab-case keys,
//! durations as text), and its validation into the [`Target`] the generator runs: every
//! key has an effect or is refused with a message naming it.

use std::collections::BTreeMap;
use std::fmt;
use std::time::Duration;

use bytes::Bytes;
use http::header::{self, HeaderMap, HeaderName, HeaderValue};
use http::{Method, Request, Uri};
use http_body_util::Full;
use serde::{Deserialize, Serialize};

use crate::HumanDuration;
use crate::error::SpecError;

/// The most connections one load test may open.
pub const MAX_CONNECTIONS: u32 = 10_000;
/// Connections when `connections` is not given (wrk's default).
pub const DEFAULT_CONNECTIONS: u32 = 10;
/// `duration` when not given (wrk's default).
pub const DEFAULT_DURATION: HumanDuration = HumanDuration::secs(10);
/// `timeout` when not given (wrk's default).
pub const DEFAULT_TIMEOUT: HumanDuration = HumanDuration::secs(2);
/// The longest `timeout`, and latency threshold: the histogram's upper bound.
pub const MAX_LATENCY: HumanDuration = HumanDuration::secs(3600);
/// The longest `warm-up` plus `duration`.
pub const MAX_RUN: HumanDuration = HumanDuration::secs(24 * 3600);

/// A load test, as the `load-test` step's inputs give it.
///
/// Without `rate` it is a **closed loop**: each of `connections` keep-alive connections
/// sends its next request when the previous answer has arrived (as wrk does), and a
/// request's latency is from when it was sent to the end of its answer. With `rate` it
/// is an **open loop**: `rate` requests per second in total, spread evenly over
/// `connections`, each request having an *intended* send time on a fixed schedule; its
/// latency is measured from that intended time, so a server that stalls is charged for
/// the requests it kept from being sent (no coordinated omission, as in wrk2). See
/// [`run`](crate::run) for the exact accounting.
#[derive(Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "kebab-case")]
pub struct LoadSpec {
    /// The target, `http://host[:port][/path][?query]`; https is refused for now.
    pub url: String,
    /// The request method (case-insensitive); default `GET`.
    #[serde(default = "default_method")]
    pub method: String,
    /// Extra request headers. `Host` defaults to the URL's; `Content-Length` and
    /// `Transfer-Encoding` are refused (they follow from `body`). Values never print.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub headers: BTreeMap<String, String>,
    /// The request body, sent with every request (with its `Content-Length`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub body: Option<String>,
    /// Keep-alive connections; default [`DEFAULT_CONNECTIONS`].
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub connections: Option<u32>,
    /// Requests per second in total (an open loop); none: a closed loop.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub rate: Option<f64>,
    /// How long the measured part lasts; default [`DEFAULT_DURATION`].
    #[serde(default = "default_duration")]
    pub duration: HumanDuration,
    /// Load sent before the measured part, not counted (connections opened, caches and
    /// JITs warmed); default `0s`.
    #[serde(default)]
    pub warm_up: HumanDuration,
    /// The most one request may take, connecting included, before it counts as a
    /// timeout; default [`DEFAULT_TIMEOUT`].
    #[serde(default = "default_timeout")]
    pub timeout: HumanDuration,
    /// Limits that fail the step; none by default.
    #[serde(default, skip_serializing_if = "Thresholds::is_empty")]
    pub thresholds: Thresholds,
}

/// The limits of a load test; each one given is checked (see [`Check`](crate::Check)).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "kebab-case")]
pub struct Thresholds {
    /// The median latency must be at most this.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub p50: Option<HumanDuration>,
    /// The 90th percentile latency must be at most this.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub p90: Option<HumanDuration>,
    /// The 99th percentile latency must be at most this.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub p99: Option<HumanDuration>,
    /// The 99.9th percentile latency must be at most this.
    #[serde(default, rename = "p99.9", skip_serializing_if = "Option::is_none")]
    pub p99_9: Option<HumanDuration>,
    /// The slowest answer must take at most this.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub max: Option<HumanDuration>,
    /// Errors / requests must be at most this fraction (`0.01` is 1 %). Errors are
    /// answers whose status is not 2xx or 3xx, timeouts and connection errors.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub error_rate: Option<f64>,
    /// Answers per second over the measured part must be at least this.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub throughput: Option<f64>,
}

impl Thresholds {
    /// No threshold given.
    pub fn is_empty(&self) -> bool {
        *self == Thresholds::default()
    }

    /// The latency thresholds given, with their names (`p99.9`) and quantiles (1.0 for
    /// `max`), in increasing order.
    pub fn latency(&self) -> Vec<(&'static str, f64, HumanDuration)> {
        [
            ("p50", 0.5, self.p50),
            ("p90", 0.9, self.p90),
            ("p99", 0.99, self.p99),
            ("p99.9", 0.999, self.p99_9),
            ("max", 1.0, self.max),
        ]
        .into_iter()
        .filter_map(|(name, q, limit)| limit.map(|l| (name, q, l)))
        .collect()
    }
}

fn default_method() -> String {
    "GET".to_owned()
}

fn default_duration() -> HumanDuration {
    DEFAULT_DURATION
}

fn default_timeout() -> HumanDuration {
    DEFAULT_TIMEOUT
}

/// Header values and the body may hold credentials: only their names and size print.
impl fmt::Debug for LoadSpec {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let headers: BTreeMap<&str, &str> =
            self.headers.keys().map(|k| (k.as_str(), "***")).collect();
        f.debug_struct("LoadSpec")
            .field("url", &self.url)
            .field("method", &self.method)
            .field("headers", &headers)
            .field(
                "body",
                &self.body.as_ref().map(|b| format!("<{} bytes>", b.len())),
            )
            .field("connections", &self.connections)
            .field("rate", &self.rate)
            .field("duration", &self.duration)
            .field("warm_up", &self.warm_up)
            .field("timeout", &self.timeout)
            .field("thresholds", &self.thresholds)
            .finish()
    }
}

/// How requests are paced.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
#[serde(tag = "loop", rename_all = "snake_case")]
pub enum Mode {
    /// Each connection sends its next request when the previous answer arrived.
    Closed {
        /// Keep-alive connections.
        connections: u32,
    },
    /// `rate` requests per second on a fixed schedule, spread over the connections.
    Open {
        /// Requests per second in total.
        rate: f64,
        /// Keep-alive connections.
        connections: u32,
    },
}

impl Mode {
    /// How many connections.
    pub fn connections(&self) -> u32 {
        match *self {
            Mode::Closed { connections } | Mode::Open { connections, .. } => connections,
        }
    }
}

impl LoadSpec {
    /// A closed-loop `GET url` with every other key at its default.
    pub fn new(url: impl Into<String>) -> LoadSpec {
        LoadSpec {
            url: url.into(),
            method: default_method(),
            headers: BTreeMap::new(),
            body: None,
            connections: None,
            rate: None,
            duration: DEFAULT_DURATION,
            warm_up: HumanDuration::default(),
            timeout: DEFAULT_TIMEOUT,
            thresholds: Thresholds::default(),
        }
    }

    /// Checks every key, so a step can refuse a spec before it runs anything.
    pub fn validate(&self) -> Result<(), SpecError> {
        self.prepare().map(drop)
    }

    /// How requests will be paced (after validation: the connections defaulted).
    pub fn mode(&self) -> Mode {
        let connections = self.connections.unwrap_or(DEFAULT_CONNECTIONS);
        match self.rate {
            Some(rate) => Mode::Open { rate, connections },
            None => Mode::Closed { connections },
        }
    }

    /// The spec checked and turned into what the generator sends.
    pub(crate) fn prepare(&self) -> Result<Target, SpecError> {
        let (uri, host, port) = parse_url(&self.url)?;
        let method = Method::from_bytes(self.method.trim().to_ascii_uppercase().as_bytes())
            .map_err(|_| SpecError::Method {
                method: self.method.clone(),
            })?;
        let headers = self.header_map(&uri)?;
        let mode = self.mode();
        let connections = mode.connections();
        if !(1..=MAX_CONNECTIONS).contains(&connections) {
            return Err(SpecError::Connections {
                given: connections,
                max: MAX_CONNECTIONS,
            });
        }
        if let Some(rate) = self.rate
            && !(rate.is_finite() && rate > 0.0)
        {
            return Err(SpecError::Rate(rate));
        }
        nonzero("duration", self.duration)?;
        nonzero("timeout", self.timeout)?;
        at_most("timeout", self.timeout, MAX_LATENCY)?;
        at_most("duration", self.duration, MAX_RUN)?;
        at_most(
            "warm-up` plus `duration",
            HumanDuration(self.warm_up.0 + self.duration.0),
            MAX_RUN,
        )?;
        self.check_thresholds()?;
        let path = uri
            .path_and_query()
            .map_or("/", |p| p.as_str())
            .parse::<Uri>()
            .map_err(|e| SpecError::UrlInvalid {
                url: self.url.clone(),
                reason: e.to_string(),
            })?;
        Ok(Target {
            url: self.url.clone(),
            host,
            port,
            method,
            path,
            headers,
            body: Bytes::from(self.body.clone().unwrap_or_default()),
            mode,
            warm_up: self.warm_up.0,
            duration: self.duration.0,
            timeout: self.timeout.0,
            thresholds: self.thresholds.clone(),
        })
    }

    fn header_map(&self, uri: &Uri) -> Result<HeaderMap, SpecError> {
        let mut map = HeaderMap::new();
        for (name, value) in &self.headers {
            let n = HeaderName::from_bytes(name.trim().as_bytes())
                .map_err(|_| SpecError::HeaderName { name: name.clone() })?;
            if n == header::CONTENT_LENGTH || n == header::TRANSFER_ENCODING {
                return Err(SpecError::HeaderManaged { name: name.clone() });
            }
            let mut v = HeaderValue::from_str(value)
                .map_err(|_| SpecError::HeaderValue { name: name.clone() })?;
            v.set_sensitive(true);
            if map.insert(n, v).is_some() {
                return Err(SpecError::HeaderTwice { name: name.clone() });
            }
        }
        if !map.contains_key(header::HOST)
            && let Some(authority) = uri.authority()
            && let Ok(v) = HeaderValue::from_str(authority.as_str())
        {
            map.insert(header::HOST, v);
        }
        if !map.contains_key(header::USER_AGENT) {
            map.insert(
                header::USER_AGENT,
                HeaderValue::from_static(concat!("wharf-load/", env!("CARGO_PKG_VERSION"))),
            );
        }
        Ok(map)
    }

    fn check_thresholds(&self) -> Result<(), SpecError> {
        let t = &self.thresholds;
        for (name, _, limit) in t.latency() {
            let key = format!("thresholds.{name}");
            nonzero(&key, limit)?;
            at_most(&key, limit, MAX_LATENCY)?;
        }
        if let Some(e) = t.error_rate
            && !(0.0..=1.0).contains(&e)
        {
            return Err(SpecError::ErrorRate(e));
        }
        if let Some(tp) = t.throughput {
            if !(tp.is_finite() && tp > 0.0) {
                return Err(SpecError::Throughput(tp));
            }
            if let Some(rate) = self.rate
                && tp > rate
            {
                return Err(SpecError::ThroughputAboveRate {
                    throughput: tp,
                    rate,
                });
            }
        }
        Ok(())
    }
}

fn nonzero(key: &str, d: HumanDuration) -> Result<(), SpecError> {
    if d.0.is_zero() {
        return Err(SpecError::Zero {
            key: key.to_owned(),
        });
    }
    Ok(())
}

fn at_most(key: &str, d: HumanDuration, max: HumanDuration) -> Result<(), SpecError> {
    if d > max {
        return Err(SpecError::TooLong {
            key: key.to_owned(),
            given: d,
            max,
        });
    }
    Ok(())
}

/// The URL, its host (without IPv6 brackets) and port.
fn parse_url(url: &str) -> Result<(Uri, String, u16), SpecError> {
    let uri: Uri =
        url.trim()
            .parse()
            .map_err(|e: http::uri::InvalidUri| SpecError::UrlInvalid {
                url: redact_userinfo(url),
                reason: e.to_string(),
            })?;
    if let Some(authority) = uri.authority()
        && authority.as_str().contains('@')
    {
        return Err(SpecError::UrlCredentials {
            url: redact_userinfo(url),
        });
    }
    match uri.scheme_str() {
        Some("http") => {}
        Some("https") => {
            return Err(SpecError::UrlHttps {
                url: url.to_owned(),
            });
        }
        _ => {
            return Err(SpecError::UrlNotHttp {
                url: url.to_owned(),
            });
        }
    }
    let host = match uri.host() {
        Some(h) if !h.is_empty() => h.trim_start_matches('[').trim_end_matches(']'),
        _ => {
            return Err(SpecError::UrlNotHttp {
                url: url.to_owned(),
            });
        }
    };
    let host = host.to_owned();
    let port = uri.port_u16().unwrap_or(80);
    Ok((uri, host, port))
}

/// `http://user:pw@host/` as `http://***@host/`.
fn redact_userinfo(url: &str) -> String {
    let start = url.find("://").map_or(0, |i| i + 3);
    let end = url[start..]
        .find(['/', '?', '#'])
        .map_or(url.len(), |i| start + i);
    match url[start..end].rfind('@') {
        Some(at) => format!("{}***{}", &url[..start], &url[start + at..]),
        None => url.to_owned(),
    }
}

/// A validated spec: what every connection sends, and how. No `Debug`: it holds the
/// header values and the body.
#[derive(Clone)]
pub(crate) struct Target {
    pub url: String,
    pub host: String,
    pub port: u16,
    pub method: Method,
    /// The request target in origin form (`/path?query`).
    pub path: Uri,
    pub headers: HeaderMap,
    pub body: Bytes,
    pub mode: Mode,
    pub warm_up: Duration,
    pub duration: Duration,
    pub timeout: Duration,
    pub thresholds: Thresholds,
}

impl Target {
    /// One request (cheap: the body is shared).
    pub(crate) fn request(&self) -> Request<Full<Bytes>> {
        let mut req = Request::new(Full::new(self.body.clone()));
        *req.method_mut() = self.method.clone();
        *req.uri_mut() = self.path.clone();
        *req.headers_mut() = self.headers.clone();
        req
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn err(yaml_json: &str) -> String {
        let spec: LoadSpec = serde_json::from_str(yaml_json).expect("parses");
        spec.validate().expect_err("refused").to_string()
    }

    fn spec(url: &str) -> LoadSpec {
        LoadSpec::new(url)
    }

    #[test]
    fn defaults_are_wrks_and_a_closed_loop() {
        let s: LoadSpec =
            serde_json::from_str(r#"{"url": "http://127.0.0.1:8080/x?y=1"}"#).unwrap();
        assert_eq!(s, LoadSpec::new("http://127.0.0.1:8080/x?y=1"));
        assert_eq!(s.mode(), Mode::Closed { connections: 10 });
        let t = s.prepare().unwrap();
        assert_eq!(t.host, "127.0.0.1");
        assert_eq!(t.port, 8080);
        assert_eq!(t.path, "/x?y=1");
        assert_eq!(t.method, Method::GET);
        assert_eq!(t.headers[header::HOST], "127.0.0.1:8080");
        assert_eq!(t.duration, Duration::from_secs(10));
        assert_eq!(t.timeout, Duration::from_secs(2));
        assert_eq!(t.warm_up, Duration::ZERO);
    }

    #[test]
    fn reads_every_key_in_kebab_case() {
        let s: LoadSpec = serde_json::from_str(
            r#"{"url": "http://[::1]/", "method": "post", "headers": {"Host": "preview.app",
                "Authorization": "Bearer s3cret"}, "body": "{}", "connections": 4, "rate": 200,
                "duration": "30s", "warm-up": "5s", "timeout": "250ms",
                "thresholds": {"p50": "10ms", "p90": "20ms", "p99": "50ms", "p99.9": "80ms",
                "max": "1s", "error-rate": 0.01, "throughput": 150}}"#,
        )
        .unwrap();
        let t = s.prepare().unwrap();
        assert_eq!(t.host, "::1");
        assert_eq!(t.port, 80);
        assert_eq!(t.method, Method::POST);
        assert_eq!(t.headers[header::HOST], "preview.app");
        assert_eq!(
            t.mode,
            Mode::Open {
                rate: 200.0,
                connections: 4
            }
        );
        assert_eq!(t.warm_up, Duration::from_secs(5));
        assert_eq!(t.timeout, Duration::from_millis(250));
        assert_eq!(s.thresholds.latency().len(), 5);
        assert_eq!(s.thresholds.error_rate, Some(0.01));
        let debug = format!("{s:?}");
        assert!(
            !debug.contains("s3cret") && debug.contains("<2 bytes>"),
            "{debug}"
        );
    }

    #[test]
    fn unknown_keys_and_bare_numbers_are_refused_by_the_parser() {
        let e = serde_json::from_str::<LoadSpec>(r#"{"url": "http://a/", "rps": 5}"#)
            .unwrap_err()
            .to_string();
        assert!(e.starts_with("unknown field `rps`"), "{e}");
        let e = serde_json::from_str::<LoadSpec>(
            r#"{"url": "http://a/", "thresholds": {"p95": "1s"}}"#,
        )
        .unwrap_err()
        .to_string();
        assert!(e.starts_with("unknown field `p95`"), "{e}");
        let e = serde_json::from_str::<LoadSpec>(r#"{"url": "http://a/", "duration": "30"}"#)
            .unwrap_err()
            .to_string();
        assert!(e.contains("the number 30 needs a unit"), "{e}");
    }

    #[test]
    fn refuses_each_invalid_key_with_a_message_naming_it() {
        let cases = [
            (
                r#"{"url": "https://app.example/"}"#,
                "`url`: \"https://app.example/\" is https; only http:// is supported for now\n\
                 hint: load-test the service's plain http:// address (its service container, \
                 or the preview's port)",
            ),
            (
                r#"{"url": "ftp://a/"}"#,
                "`url`: \"ftp://a/\" must be an absolute http:// URL with a host",
            ),
            (
                r#"{"url": "/health"}"#,
                "`url`: \"/health\" must be an absolute http:// URL with a host",
            ),
            (
                r#"{"url": "http://a b/"}"#,
                "`url`: \"http://a b/\" is not a valid URL (invalid uri character)",
            ),
            (
                r#"{"url": "http://me:pw@a/x"}"#,
                "`url`: \"http://***@a/x\" must not carry credentials\nhint: send them in \
                 `headers` (e.g. `Authorization`), whose values are never printed",
            ),
            (
                r#"{"url": "http://a/", "method": "GE T"}"#,
                "`method`: \"GE T\" is not an HTTP method",
            ),
            (
                r#"{"url": "http://a/", "headers": {"X Y": "1"}}"#,
                "`headers`: \"X Y\" is not a valid header name",
            ),
            (
                r#"{"url": "http://a/", "headers": {"Authorization": "a\nb"}}"#,
                "`headers`: the value of \"Authorization\" is not a valid header value",
            ),
            (
                r#"{"url": "http://a/", "headers": {"X-A": "1", "x-a": "2"}}"#,
                "`headers`: \"x-a\" is given twice (header names are case-insensitive)",
            ),
            (
                r#"{"url": "http://a/", "headers": {"Content-Length": "3"}}"#,
                "`headers`: \"Content-Length\" is set by the load generator from `body`",
            ),
            (
                r#"{"url": "http://a/", "connections": 0}"#,
                "`connections` must be between 1 and 10000, not 0",
            ),
            (
                r#"{"url": "http://a/", "rate": 0}"#,
                "`rate` must be a positive number of requests per second, not 0",
            ),
            (
                r#"{"url": "http://a/", "duration": "0s"}"#,
                "`duration` must be longer than 0s",
            ),
            (
                r#"{"url": "http://a/", "timeout": "0ms"}"#,
                "`timeout` must be longer than 0s",
            ),
            (
                r#"{"url": "http://a/", "timeout": "2h"}"#,
                "`timeout` must be at most 1h, not 2h",
            ),
            (
                r#"{"url": "http://a/", "duration": "24h", "warm-up": "1m"}"#,
                "`warm-up` plus `duration` must be at most 24h, not 1441m",
            ),
            (
                r#"{"url": "http://a/", "thresholds": {"p99.9": "0s"}}"#,
                "`thresholds.p99.9` must be longer than 0s",
            ),
            (
                r#"{"url": "http://a/", "thresholds": {"error-rate": 5}}"#,
                "`thresholds.error-rate` must be a fraction between 0 and 1 (0.01 is 1 %), not 5",
            ),
            (
                r#"{"url": "http://a/", "thresholds": {"throughput": -1}}"#,
                "`thresholds.throughput` must be a positive number of requests per second, not -1",
            ),
            (
                r#"{"url": "http://a/", "rate": 100, "thresholds": {"throughput": 150}}"#,
                "`thresholds.throughput` (150 requests/s) is above `rate` (100 requests/s): the \
                 test could never pass",
            ),
        ];
        for (json, message) in cases {
            assert_eq!(err(json), message, "for {json}");
        }
    }

    #[test]
    fn the_run_error_wraps_the_spec_error() {
        let e = crate::Error::from(spec("https://a/").validate().unwrap_err());
        assert!(
            e.to_string()
                .starts_with("invalid load-test spec: `url`: \"https://a/\" is https"),
            "{e}"
        );
    }

    #[test]
    fn serialises_back_to_the_keys_it_reads() {
        let mut s = spec("http://a/");
        s.rate = Some(50.0);
        s.warm_up = HumanDuration::secs(2);
        s.thresholds.p99_9 = Some(HumanDuration::millis(80));
        let json = serde_json::to_value(&s).unwrap();
        assert_eq!(json["warm-up"], "2s");
        assert_eq!(json["thresholds"]["p99.9"], "80ms");
        let back: LoadSpec = serde_json::from_value(json).unwrap();
        assert_eq!(back, s);
    }
}
