//! What a load test measured, kept with the run as JSON: latency percentiles from an
//! HDR histogram (microseconds, 3 significant digits), answers by status class, errors
//! by kind, the achieved throughput and each threshold's verdict. Figures cover the
//! measured part only, never the warm-up.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use crate::duration::format_us;
use crate::spec::Mode;
use crate::verdict::{Check, percent};
use crate::{HumanDuration, Result};

/// How many distinct error messages a report keeps, as examples.
pub const KEPT_ERRORS: usize = 10;
/// How many bars the latency histogram has.
pub const BUCKETS: usize = 48;

/// Why a request got no complete answer.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ErrorKind {
    /// The connection could not be opened (refused, unreachable).
    Connect,
    /// No complete answer within `timeout` (connecting included).
    Timeout,
    /// The connection closed or was reset before the answer was complete.
    Closed,
    /// The answer was not valid HTTP/1.x.
    Protocol,
}

/// Errors by kind. Every one counts in the error rate.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct ErrorCounts {
    /// Connections that could not be opened.
    pub connect: u64,
    /// Requests without a complete answer within `timeout`.
    pub timeout: u64,
    /// Connections closed or reset before the answer was complete.
    pub closed: u64,
    /// Answers that were not valid HTTP.
    pub protocol: u64,
    /// Complete answers whose status was not 2xx or 3xx.
    pub status: u64,
    /// All of them.
    pub total: u64,
}

impl ErrorCounts {
    pub(crate) fn add(&mut self, kind: ErrorKind) {
        match kind {
            ErrorKind::Connect => self.connect += 1,
            ErrorKind::Timeout => self.timeout += 1,
            ErrorKind::Closed => self.closed += 1,
            ErrorKind::Protocol => self.protocol += 1,
        }
        self.total += 1;
    }

    pub(crate) fn merge(&mut self, o: &ErrorCounts) {
        self.connect += o.connect;
        self.timeout += o.timeout;
        self.closed += o.closed;
        self.protocol += o.protocol;
        self.status += o.status;
        self.total += o.total;
    }
}

/// The latency of the complete answers (any status), in microseconds.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Latency {
    /// The fastest.
    pub min_us: u64,
    /// The mean.
    pub mean_us: f64,
    /// The standard deviation.
    pub stdev_us: f64,
    /// The median.
    pub p50_us: u64,
    /// The 75th percentile.
    pub p75_us: u64,
    /// The 90th percentile.
    pub p90_us: u64,
    /// The 99th percentile.
    pub p99_us: u64,
    /// The 99.9th percentile.
    pub p99_9_us: u64,
    /// The slowest.
    pub max_us: u64,
}

/// One bar of the latency histogram: answers whose latency was in `[from_us, to_us)`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Bucket {
    /// The bar's lower edge, microseconds.
    pub from_us: f64,
    /// The bar's upper edge, microseconds.
    pub to_us: f64,
    /// How many answers.
    pub count: u64,
}

/// The result of a load test.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Report {
    /// The URL loaded.
    pub url: String,
    /// The method sent.
    pub method: String,
    /// How requests were paced.
    pub mode: Mode,
    /// The warm-up asked for (not measured).
    pub warm_up: HumanDuration,
    /// The measured duration asked for.
    pub duration: HumanDuration,
    /// The per-request timeout.
    pub timeout: HumanDuration,
    /// When the load started (the warm-up's start), Unix milliseconds.
    pub started_at_ms: u64,
    /// When the test ended (the last answer in, or cancelled), Unix milliseconds.
    pub ended_at_ms: u64,
    /// How long the measured part lasted: `duration`, or less when cancelled.
    pub measured_secs: f64,
    /// Whether the test was cancelled before its end.
    pub cancelled: bool,
    /// Requests sent during the warm-up, not counted anywhere else.
    pub warm_up_requests: u64,
    /// Requests measured: complete answers plus requests without one.
    pub requests: u64,
    /// Complete answers, whatever their status.
    pub responses: u64,
    /// Complete answers by status class (`"2xx"`).
    pub status_classes: BTreeMap<String, u64>,
    /// Errors by kind.
    pub errors: ErrorCounts,
    /// `errors.total / requests` (0 without requests).
    pub error_rate: f64,
    /// Complete answers per second of the measured part (as wrk's `Requests/sec`).
    pub throughput: f64,
    /// Latency percentiles; none without a complete answer.
    pub latency: Option<Latency>,
    /// The latency distribution, log-spaced bars from the fastest to the slowest answer.
    pub histogram: Vec<Bucket>,
    /// Open loop: scheduled requests of the measured part never sent, because their
    /// connection was still waiting for an earlier answer when the test ended.
    pub unsent: u64,
    /// Open loop: the longest the generator itself sent a request late (its timer or a
    /// busy machine), which is not charged to the server's latency.
    pub max_send_lag_us: u64,
    /// Up to [`KEPT_ERRORS`] distinct error messages, as examples.
    pub error_samples: Vec<String>,
    /// Each threshold's verdict, in the order p50, p90, p99, p99.9, max, error-rate,
    /// throughput.
    pub checks: Vec<Check>,
    /// Whether every check passed (true without thresholds).
    pub passed: bool,
}

impl Report {
    /// The report as pretty JSON (what the step keeps in the run's artifacts).
    pub fn to_json(&self) -> Result<String> {
        Ok(serde_json::to_string_pretty(self)?)
    }

    /// The latency histogram as a self-contained SVG image (see [`render_svg`](crate::render_svg)).
    pub fn svg(&self) -> String {
        crate::svg::render(self)
    }

    /// The checks that failed.
    pub fn failures(&self) -> impl Iterator<Item = &Check> {
        self.checks.iter().filter(|c| !c.passed)
    }

    /// One line for a step's log: `GET http://… for 30s, closed loop, 10 connections:
    /// 57690 requests, 1923.0 requests/s, p50 5.21 ms, p99 6.20 ms, max 9.10 ms, errors
    /// 0 (0 %)`.
    pub fn summary(&self) -> String {
        let pacing = match self.mode {
            Mode::Closed { connections } => format!("closed loop, {connections} connections"),
            Mode::Open { rate, connections } => {
                format!("open loop at {rate} requests/s, {connections} connections")
            }
        };
        let latency = match &self.latency {
            Some(l) => format!(
                "p50 {}, p99 {}, max {}",
                format_us(l.p50_us as f64),
                format_us(l.p99_us as f64),
                format_us(l.max_us as f64)
            ),
            None => "no answers".to_owned(),
        };
        format!(
            "{} {} for {}{}, {pacing}: {} requests, {:.1} requests/s, {latency}, errors {} ({})",
            self.method,
            self.url,
            self.duration,
            if self.cancelled { " (cancelled)" } else { "" },
            self.requests,
            self.throughput,
            self.errors.total,
            percent(self.error_rate),
        )
    }
}
