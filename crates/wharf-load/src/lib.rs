//! The engine of the `load-test` step: an HTTP load generator whose thresholds fail the
//! step, and whose report is kept with the run.
//!
//! A [`LoadSpec`] (what the step's inputs deserialise into) names a `url`, the request
//! (`method`, `headers`, `body`), how to pace it, `connections` alone for a **closed
//! loop** (each connection sends its next request when the previous answer arrived, as
//! wrk does) or with a `rate` for an **open loop** (a fixed schedule of requests per
//! second, latency measured from each request's *intended* send time so that a stalling
//! server cannot hide behind the requests it held back, as wrk2 does), a `duration`
//! measured after a `warm-up` that is not, a per-request `timeout`, and [`Thresholds`]
//! on the latency percentiles, the error rate and the throughput.
//!
//! [`run`] sends the load on keep-alive HTTP/1.1 connections (hyper's client
//! connection, reopened whenever the server closes one), records each latency in an HDR
//! histogram (microseconds, 3 significant digits, as wrk2), counts answers by status
//! class and errors by [`ErrorKind`], calls back with [`Progress`] once a second, and
//! returns a [`Report`]: the percentiles (p50, p75, p90, p99, p99.9, max, mean, stdev),
//! the counts, the achieved throughput and one [`Check`] per threshold, measured beside
//! its limit. [`Report::to_json`] is what the step keeps; [`Report::svg`] draws the
//! latency distribution with the percentile markers and the thresholds, for the run's
//! artifacts and the run page.
//!
//! ```no_run
//! # async fn example() -> wharf_load::Result<()> {
//! let spec: wharf_load::LoadSpec = serde_json::from_str(
//!     r#"{"url": "http://127.0.0.1:8080/", "connections": 10, "duration": "30s",
//!         "warm-up": "5s", "thresholds": {"p99": "50ms", "error-rate": 0.01}}"#,
//! )?;
//! spec.validate()?;
//! let (_cancel, cancelled) = tokio::sync::watch::channel(false);
//! let report = wharf_load::run(&spec, cancelled, |p| eprintln!("{p:?}")).await?;
//! for check in &report.checks {
//!     eprintln!("{check}");
//! }
//! std::fs::write("load-test.json", report.to_json()?).ok();
//! std::fs::write("latency.svg", report.svg()).ok();
//! # Ok(()) }
//! ```
//!
//! Its closed-loop latencies agree with Debian's wrk against the same server (the
//! integration test `tests/wrk.rs` runs both, alternating, and compares p50, p99 and
//! requests per second). https is refused for now. The library never prints.

mod client;
mod duration;
mod error;
mod generator;
mod report;
mod spec;
mod stats;
mod step;
mod svg;
mod verdict;

#[cfg(test)]
mod live_tests;

pub use duration::HumanDuration;
pub use error::{Error, Result, SpecError};
pub use generator::{CONNECT_RETRY_PAUSE, PROGRESS_INTERVAL, Phase, Progress, run};
pub use report::{BUCKETS, Bucket, ErrorCounts, ErrorKind, KEPT_ERRORS, Latency, Report};
pub use spec::{
    DEFAULT_CONNECTIONS, DEFAULT_DURATION, DEFAULT_TIMEOUT, LoadSpec, MAX_CONNECTIONS, MAX_LATENCY,
    MAX_RUN, Mode, Thresholds,
};
pub use svg::render as render_svg;
pub use verdict::{Check, Metric};
