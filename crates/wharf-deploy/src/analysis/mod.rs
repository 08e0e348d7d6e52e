//! The analysis of a deployment, with Argo Rollouts' semantics: each metric is measured
//! (a Prometheus instant query, an HTTP GET, or a script's exit code), each measurement is
//! judged by the metric's `success` and `failure` conditions, and the limits turn the
//! measurements into a [`Verdict`] that lets a deployment continue, roll back, or pause.
//!
//! It follows Argo Rollouts (`utils/evaluate/evaluate.go`, `analysis/analysis.go` at
//! argoproj/argo-rollouts 9f8d111) wherever Argo has a rule, and parts from it on
//! purpose where Argo's default is a known trap (see [`MetricState`] and [`measure`]):
//! a value that cannot be judged (no samples, `NaN`, `±Inf`) is an *error* rather than
//! a pass or a failure, and errors, however many, never promote a release.

use std::path::Path;
use std::process::Stdio;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use futures_util::stream::{FuturesUnordered, StreamExt};
use serde::{Deserialize, Serialize};
use tokio::io::AsyncReadExt;
use tokio::sync::watch;
use wharf_expr::{Context, Segment, Status, Value};
use wharf_model::{AnalysisMetric, Millis, Provider};

/// How long a metric waits before measuring again after an error when it has no
/// `interval_ms` (Argo's `DefaultErrorRetryInterval`). It is also the pace of a metric
/// with a `count` but no interval.
pub const ERROR_RETRY_INTERVAL: Duration = Duration::from_secs(10);

/// The largest answer read from Prometheus or an HTTP endpoint.
const MAX_BODY: usize = 4 << 20;

/// How much of a script's stdout and stderr is kept, from the end, for its message.
const OUTPUT_TAIL: usize = 4096;

/// How long a script's output is still read after it exited (a program it started in
/// the background may hold the pipes open).
const OUTPUT_GRACE: Duration = Duration::from_millis(500);

/// The names a query, an HTTP URL or a script's arguments may use in `${{ … }}`.
const VAR_NAMES: [&str; 4] = ["release", "previous", "service", "environment"];

/// What a metric's templates may use as `${{ release }}`, `${{ previous }}`,
/// `${{ service }}` and `${{ environment }}`; a script also gets them as `WHARF_RELEASE`,
/// `WHARF_PREVIOUS_RELEASE` (empty when there is none), `WHARF_SERVICE` and
/// `WHARF_ENVIRONMENT`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Vars {
    /// The release being deployed (its version).
    pub release: String,
    /// The release that served before, if any. A template whose `${{ … }}` comes to
    /// nothing because there is none is an error of the measurement; write
    /// `${{ previous || 'none' }}` to choose a value yourself.
    pub previous: Option<String>,
    /// The proxy's service name.
    pub service: String,
    /// The environment's name.
    pub environment: String,
}

/// How one measurement came out (Argo's measurement phases).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Phase {
    /// The success condition held (or the failure condition did not, or there is no
    /// condition); a script exited 0.
    Successful,
    /// The failure condition held (or the success condition did not); a script exited
    /// with another code.
    Failed,
    /// Nothing could be measured or judged: the provider was unreachable, answered
    /// badly, gave no value, or a condition could not be evaluated.
    Error,
    /// Both conditions are given and neither held.
    Inconclusive,
}

/// One measurement of one metric.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Measurement {
    /// The metric's name.
    pub metric: String,
    /// When it was taken (its start), in milliseconds since the Unix epoch.
    pub at: Millis,
    /// How it came out.
    pub phase: Phase,
    /// The value measured, as text: Prometheus's sample as it sent it, the JSON value
    /// (a string without its quotes), or a script's exit code. `None` when there was
    /// none.
    pub value: Option<String>,
    /// What happened, in words that read well in a deployment's reason:
    /// `success-rate 0.80 < 0.99`, `prometheus http://127.0.0.1:9090: the query returned
    /// no samples (…)`.
    pub message: String,
}

/// What the analysis (or one metric of it) concluded.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Verdict {
    /// The release may go on.
    Successful,
    /// The release must be rolled back; why, e.g. `analysis success-rate 0.80 < 0.99`.
    Failed(String),
    /// A human must decide (the deployment pauses, it never promotes); why.
    Inconclusive(String),
}

impl Verdict {
    /// The reason of a failed or inconclusive verdict.
    pub fn reason(&self) -> Option<&str> {
        match self {
            Verdict::Successful => None,
            Verdict::Failed(r) | Verdict::Inconclusive(r) => Some(r),
        }
    }
}

/// One metric's measurements so far, and the limits that turn them into a verdict.
///
/// The counters move as in Argo's `runMeasurements`, and [`MetricState::record`] checks
/// them in the order of Argo's `assessMetricStatus`: more failed measurements than
/// `failure_limit` (unless it is negative) fail the metric; an inconclusive measurement
/// makes it inconclusive (Argo's `inconclusiveLimit`, whose default 0 wharf does not
/// let you change); more errors in a row than `consecutive_error_limit` make it
/// inconclusive; reaching the count (errors do not count) makes it successful.
///
/// **Unlike Argo**, too many errors in a row are *inconclusive*, not an error phase:
/// Argo aborts the rollout on an errored run, wharf pauses the deployment for a human,
/// since a metrics server that is down says nothing about the release — but it must
/// never promote it either.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MetricState {
    name: String,
    failure_limit: i32,
    consecutive_error_limit: u32,
    count: Option<u32>,
    last_message: Option<String>,
    verdict: Option<Verdict>,
    /// Successful measurements.
    pub successful: u32,
    /// Failed measurements.
    pub failed: u32,
    /// Inconclusive measurements.
    pub inconclusive: u32,
    /// Measurements that were errors.
    pub errors: u32,
    /// Errors since the last measurement that was not one.
    pub consecutive_errors: u32,
    /// Every measurement recorded, errors included.
    pub taken: u32,
}

impl MetricState {
    /// The state of `metric` before its first measurement.
    pub fn new(metric: &AnalysisMetric) -> MetricState {
        MetricState {
            name: metric.name.clone(),
            failure_limit: metric.failure_limit,
            consecutive_error_limit: metric.consecutive_error_limit,
            count: effective_count(metric),
            last_message: None,
            verdict: None,
            successful: 0,
            failed: 0,
            inconclusive: 0,
            errors: 0,
            consecutive_errors: 0,
            taken: 0,
        }
    }

    /// The measurements that count towards the metric's `count`: all but errors
    /// (Argo's `Count`).
    pub fn counted(&self) -> u32 {
        self.successful + self.failed + self.inconclusive
    }

    /// The verdict, once there is one.
    pub fn verdict(&self) -> Option<&Verdict> {
        self.verdict.as_ref()
    }

    /// Counts `m` and returns the metric's verdict if it has one now. Once it has one,
    /// later measurements change nothing and the same verdict is returned.
    pub fn record(&mut self, m: &Measurement) -> Option<Verdict> {
        if self.verdict.is_some() {
            return self.verdict.clone();
        }
        self.taken += 1;
        self.last_message = Some(m.message.clone());
        match m.phase {
            Phase::Successful => self.successful += 1,
            Phase::Failed => self.failed += 1,
            Phase::Inconclusive => self.inconclusive += 1,
            Phase::Error => {
                self.errors += 1;
                self.consecutive_errors += 1;
            }
        }
        if m.phase != Phase::Error {
            self.consecutive_errors = 0;
        }
        let failed_limit = u32::try_from(self.failure_limit).ok();
        let verdict = if failed_limit.is_some_and(|limit| self.failed > limit) {
            Verdict::Failed(format!("analysis {}", m.message))
        } else if self.inconclusive > 0 {
            Verdict::Inconclusive(format!("analysis {}", m.message))
        } else if self.consecutive_errors > self.consecutive_error_limit {
            let errors = match self.consecutive_errors {
                1 => "1 error".to_string(),
                n => format!("{n} errors"),
            };
            Verdict::Inconclusive(format!(
                "analysis {}: {errors} in a row: {}",
                self.name, m.message
            ))
        } else if self.count.is_some_and(|count| self.counted() >= count) {
            Verdict::Successful
        } else {
            return None;
        };
        self.verdict = Some(verdict.clone());
        Some(verdict)
    }

    /// The verdict of a metric stopped before it had one (the deployment's window
    /// ended). Argo calls every such metric successful; wharf wants evidence:
    ///
    /// - a metric without a count (background analysis, whose normal end this is) is
    ///   successful if it had at least one successful measurement — failures within
    ///   `failure_limit` and errors within `consecutive_error_limit` are tolerated, as
    ///   they would be at a count;
    /// - a metric with a count it has not reached is successful only if it had at least
    ///   one successful measurement and no failed one;
    /// - anything else (no measurement at all, only errors) is inconclusive.
    pub fn stop(&mut self) -> Verdict {
        if let Some(v) = &self.verdict {
            return v.clone();
        }
        let verdict = if self.successful > 0 && (self.count.is_none() || self.failed == 0) {
            Verdict::Successful
        } else {
            let why = match (&self.last_message, self.count) {
                (None, _) => "stopped before its first measurement".to_string(),
                (Some(_), Some(count)) if self.successful > 0 => format!(
                    "stopped after {} of {count} measurements, {} failed",
                    self.counted(),
                    self.failed
                ),
                (Some(last), _) => {
                    format!("stopped before any successful measurement (last: {last})")
                }
            };
            Verdict::Inconclusive(format!("analysis {}: {why}", self.name))
        };
        self.verdict = Some(verdict.clone());
        verdict
    }
}

/// The measurements a metric takes (Argo's `EffectiveCount`): its `count`, one without
/// an interval, none (until stopped) with an interval and no count.
fn effective_count(metric: &AnalysisMetric) -> Option<u32> {
    match (metric.count.filter(|&c| c > 0), metric.interval_ms) {
        (Some(c), _) => Some(c),
        (None, None) => Some(1),
        (None, Some(_)) => None,
    }
}

/// Runs every metric at once until the analysis has a verdict, reporting each
/// measurement to `on_measure` as it is taken.
///
/// Each metric waits its `initial_delay_ms`, then measures every `interval_ms` (after
/// the previous measurement ended) until its [`MetricState`] has a verdict; a metric
/// without an interval measures once (retrying errors every [`ERROR_RETRY_INTERVAL`]);
/// a metric with an interval and no count measures until `stop` turns true (background
/// analysis), then gets [`MetricState::stop`]'s verdict, as does every metric not done
/// by then. A closed `stop` channel never stops anything.
///
/// The first metric to fail ends the run at once with its [`Verdict::Failed`] — that is
/// what makes a rollback fast — and the first inconclusive one likewise ends it
/// inconclusive (Argo terminates a run as soon as one metric completes unsuccessfully);
/// the run is successful when every metric is. No metrics: successful.
///
/// A measurement in flight when `stop` turns true is abandoned, not reported; so is
/// everything in flight when the returned future is dropped (a script is killed, though
/// not what it started in the background).
pub async fn run(
    metrics: &[AnalysisMetric],
    vars: &Vars,
    dir: &Path,
    stop: watch::Receiver<bool>,
    on_measure: &(dyn Fn(&Measurement) + Send + Sync),
) -> Verdict {
    let mut running: FuturesUnordered<_> = metrics
        .iter()
        .map(|metric| watch_metric(metric, vars, dir, stop.clone(), on_measure))
        .collect();
    while let Some(verdict) = running.next().await {
        if verdict != Verdict::Successful {
            return verdict;
        }
    }
    Verdict::Successful
}

/// One metric of [`run`], to its verdict.
async fn watch_metric(
    metric: &AnalysisMetric,
    vars: &Vars,
    dir: &Path,
    mut stop: watch::Receiver<bool>,
    on_measure: &(dyn Fn(&Measurement) + Send + Sync),
) -> Verdict {
    let mut state = MetricState::new(metric);
    let delay = Duration::from_millis(metric.initial_delay_ms);
    tokio::select! {
        biased;
        () = stopped(&mut stop) => return state.stop(),
        () = tokio::time::sleep(delay) => {}
    }
    let pause = metric
        .interval_ms
        .map_or(ERROR_RETRY_INTERVAL, Duration::from_millis);
    loop {
        let m = tokio::select! {
            biased;
            () = stopped(&mut stop) => return state.stop(),
            m = measure(metric, vars, dir) => m,
        };
        on_measure(&m);
        if let Some(verdict) = state.record(&m) {
            return verdict;
        }
        tokio::select! {
            biased;
            () = stopped(&mut stop) => return state.stop(),
            () = tokio::time::sleep(pause) => {}
        }
    }
}

/// Ready once `stop` is true; never, if its sender is gone first.
async fn stopped(stop: &mut watch::Receiver<bool>) {
    if stop.wait_for(|s| *s).await.is_err() {
        std::future::pending::<()>().await;
    }
}

/// Takes one measurement of `metric`; a script runs in `dir`.
///
/// - **Prometheus**: `GET {url}/api/v1/query?query=…` (an instant query); `result` is
///   the one sample of a vector, or a scalar. No sample, several series, `NaN` and
///   `±Inf` are errors (Argo hands them to the condition, where they are a classic
///   trap: `NaN >= 0.99` is false, `+Inf >= 0.99` is true).
/// - **HTTP**: `GET` the URL; a 2xx answer's JSON body, or its value at `json_path`
///   (`data.ratio`, `items.0.value`), is `result` (a number, a string or a boolean; a
///   body that is not JSON is `result` as text, as in Argo's web provider).
/// - **Script**: the program runs without a shell, with the `WHARF_*` variables of
///   [`Vars`], stdin closed, killed at its timeout; exit 0 is successful, any other
///   exit failed. Its `success`/`failure` conditions are not used (as Argo's job
///   provider).
///
/// Redirects are followed only to the same scheme, host and port. Messages never show a
/// URL's query or userinfo.
pub async fn measure(metric: &AnalysisMetric, vars: &Vars, dir: &Path) -> Measurement {
    let at = now_ms();
    let (phase, value, message) = match &metric.provider {
        Provider::Prometheus {
            url,
            query,
            timeout_ms,
        } => judged(metric, prometheus(url, query, *timeout_ms, vars).await),
        Provider::Http {
            url,
            json_path,
            timeout_ms,
        } => judged(
            metric,
            http(url, json_path.as_deref(), *timeout_ms, vars).await,
        ),
        Provider::Script { run, timeout_ms } => {
            script(&metric.name, run, *timeout_ms, vars, dir).await
        }
        Provider::LoadTest { spec } => load_test(&metric.name, spec, vars).await,
    };
    Measurement {
        metric: metric.name.clone(),
        at,
        phase,
        value,
        message,
    }
}

fn now_ms() -> Millis {
    SystemTime::now().duration_since(UNIX_EPOCH).map_or(0, |d| {
        Millis::try_from(d.as_millis()).unwrap_or(Millis::MAX)
    })
}

/// A value fetched from a provider: what conditions see, and its text.
struct Sample {
    value: Value,
    text: String,
}

fn judged(
    metric: &AnalysisMetric,
    sample: Result<Sample, String>,
) -> (Phase, Option<String>, String) {
    match sample {
        Ok(sample) => {
            let (phase, message) = evaluate(metric, &sample.value);
            (phase, Some(sample.text), message)
        }
        Err(message) => (Phase::Error, None, message),
    }
}

mod conditions;
mod providers;

use providers::{http, load_test, prometheus, script};

pub use conditions::evaluate;
