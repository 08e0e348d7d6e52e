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
use std::sync::Once;
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

/// Judges `result` by the metric's conditions, as Argo's `EvaluateResult` does: the
/// failure condition holding is a failure (even if the success condition holds too);
/// with a success condition only, it holding is a success and not holding a failure;
/// with a failure condition only, it not holding is a success; with both, neither
/// holding is inconclusive; with **no condition the measurement is successful** (Argo:
/// "always return success unless there is an error").
///
/// A condition sees only `result`, must give `true` or `false` (Argo compiles it with
/// `AsBool`), and any other outcome, or a parse error, makes the measurement an error.
pub fn evaluate<'a>(metric: &'a AnalysisMetric, result: &Value) -> (Phase, String) {
    let name = &metric.name;
    let check = |kind: &str, cond: Option<&'a str>| -> Result<Option<(&'a str, bool)>, String> {
        cond.map(|src| condition(kind, src, result).map(|holds| (src, holds)))
            .transpose()
    };
    let (success, failure) = match (
        check("success", metric.success.as_deref()),
        check("failure", metric.failure.as_deref()),
    ) {
        (Ok(s), Ok(f)) => (s, f),
        (Err(e), _) | (_, Err(e)) => return (Phase::Error, e),
    };
    match (success, failure) {
        (None, None) => (
            Phase::Successful,
            format!("{name} {} (no condition)", show(result)),
        ),
        (_, Some((src, true))) => (Phase::Failed, explain(name, src, result, true)),
        (Some((src, true)), _) => (Phase::Successful, explain(name, src, result, true)),
        (Some((src, false)), None) => (Phase::Failed, explain(name, src, result, false)),
        (None, Some((src, false))) => (Phase::Successful, explain(name, src, result, false)),
        (Some((s, false)), Some((f, false))) => (
            Phase::Inconclusive,
            format!("{name} {}: neither `{s}` nor `{f}` holds", show(result)),
        ),
    }
}

/// What conditions can see: `result`, nothing else.
struct ResultCtx<'a>(&'a Value);

impl Context for ResultCtx<'_> {
    fn lookup(&self, path: &[String]) -> Option<Value> {
        (path == ["result"]).then(|| self.0.clone())
    }
    fn status(&self) -> Status {
        Status::default()
    }
}

/// Whether condition `src` holds for `result`.
fn condition(kind: &str, src: &str, result: &Value) -> Result<bool, String> {
    let what = format!("the {kind} condition `{src}`");
    let expr = wharf_expr::parse(src).map_err(|e| format!("{what}: {e}"))?;
    if let Some(r) = expr.references().into_iter().find(|r| r.path != ["result"]) {
        return Err(format!(
            "{what} uses `{}`; a condition sees only `result`",
            r.path.join(".")
        ));
    }
    if let Some((f, _)) = expr
        .functions()
        .into_iter()
        .find(|(f, _)| matches!(f.as_str(), "success" | "failure" | "cancelled" | "always"))
    {
        return Err(format!("{what} calls {f}(), which means nothing here"));
    }
    match wharf_expr::eval(&expr, &ResultCtx(result)) {
        Ok(Value::Bool(holds)) => Ok(holds),
        Ok(other) => Err(format!(
            "{what} gave {} for {}, not true or false",
            show(&other),
            show(result)
        )),
        Err(e) => Err(format!("{what}: {e}")),
    }
}

/// A condition that held (`holds`) or did not, said about `result`: `success-rate 0.80
/// < 0.99` for the simple form `result OP LITERAL` (the operator negated when it did
/// not hold), else `success-rate 0.80: `…` is false`.
fn explain(name: &str, src: &str, result: &Value, holds: bool) -> String {
    if let Some((op, literal)) = simple_form(src) {
        let op = if holds { op } else { negate(op) };
        return format!(
            "{name} {} {op} {literal}",
            show_against(result, op, &literal)
        );
    }
    format!("{name} {}: `{src}` is {holds}", show(result))
}

/// `result OP LITERAL` (or `LITERAL OP result`, turned around): the operator and the
/// literal as wharf writes it back.
fn simple_form(src: &str) -> Option<(&'static str, String)> {
    let expr = wharf_expr::parse(src).ok()?;
    // Every operation comes back parenthesised, so one comparison is `(a OP b)`.
    let text = expr.rewrite(&|p: &[String]| Some(p.join(".")))?;
    let inner = text.strip_prefix('(')?.strip_suffix(')')?;
    let mut parts = inner.split(' ');
    let (left, op, right) = (parts.next()?, parts.next()?, parts.next()?);
    if parts.next().is_some() || inner.contains(['(', ')']) {
        return None;
    }
    let op = ["==", "!=", "<=", ">=", "<", ">"]
        .into_iter()
        .find(|o| *o == op)?;
    let is_literal =
        |s: &str| s != "result" && wharf_expr::parse(s).is_ok_and(|e| e.references().is_empty());
    match (left, right) {
        ("result", lit) if is_literal(lit) => Some((op, lit.to_string())),
        (lit, "result") if is_literal(lit) => Some((flip(op), lit.to_string())),
        _ => None,
    }
}

fn negate(op: &str) -> &'static str {
    match op {
        "==" => "!=",
        "!=" => "==",
        "<" => ">=",
        "<=" => ">",
        ">" => "<=",
        _ => "<",
    }
}

fn flip(op: &'static str) -> &'static str {
    match op {
        "<" => ">",
        "<=" => ">=",
        ">" => "<",
        ">=" => "<=",
        same => same,
    }
}

/// A value for messages: a fraction with 2 decimals, a whole number without, a string
/// quoted.
fn show(v: &Value) -> String {
    match v {
        Value::Number(n) if n.is_finite() && n.fract() != 0.0 => format!("{n:.2}"),
        Value::String(s) => format!("'{s}'"),
        other => other.to_display_string(),
    }
}

/// [`show`], with as many more decimals as it takes for `value OP literal` to read true
/// (`0.9899` against `0.99` is `0.9899 < 0.99`, not `0.99 < 0.99`).
fn show_against(v: &Value, op: &str, literal: &str) -> String {
    let (Value::Number(n), Ok(lit)) = (v, literal.parse::<f64>()) else {
        return show(v);
    };
    if !n.is_finite() || n.fract() == 0.0 {
        return show(v);
    }
    let reads_true = |shown: f64| match op {
        "==" => shown == lit,
        "!=" => shown != lit,
        "<" => shown < lit,
        "<=" => shown <= lit,
        ">" => shown > lit,
        _ => shown >= lit,
    };
    (2..=8)
        .map(|decimals| format!("{n:.decimals$}"))
        .find(|s| s.parse().is_ok_and(reads_true))
        .unwrap_or_else(|| n.to_string())
}

/// How template values are written into the text.
#[derive(Clone, Copy)]
enum Escape {
    /// As they are (a PromQL query, a script's argument).
    None,
    /// Percent-encoded (a URL).
    Url,
}

/// What templates can see: the four [`Vars`].
struct VarsCtx<'a>(&'a Vars);

impl Context for VarsCtx<'_> {
    fn lookup(&self, path: &[String]) -> Option<Value> {
        let v = self.0;
        match path {
            [name] => match name.as_str() {
                "release" => Some(Value::from(v.release.as_str())),
                "previous" => v.previous.as_deref().map(Value::from),
                "service" => Some(Value::from(v.service.as_str())),
                "environment" => Some(Value::from(v.environment.as_str())),
                _ => None,
            },
            _ => None,
        }
    }
    fn status(&self) -> Status {
        Status::default()
    }
}

/// `text` with each `${{ … }}` replaced by its value.
fn render(text: &str, vars: &Vars, escape: Escape) -> Result<String, String> {
    let template = wharf_expr::parse_template(text).map_err(|e| format!("`{text}`: {e}"))?;
    let ctx = VarsCtx(vars);
    let mut out = String::with_capacity(text.len());
    for segment in template.segments() {
        let (expr, span) = match segment {
            Segment::Literal(t) => {
                out.push_str(t);
                continue;
            }
            Segment::Expr { expr, span } => (expr, &text[span.clone()]),
        };
        let references = expr.references();
        if let Some(r) = references
            .iter()
            .find(|r| !matches!(r.path.as_slice(), [n] if VAR_NAMES.contains(&n.as_str())))
        {
            return Err(format!(
                "unknown name `{}` in `{span}` (the names are {})",
                r.path.join("."),
                VAR_NAMES.join(", ")
            ));
        }
        let value = wharf_expr::eval(expr, &ctx).map_err(|e| format!("`{span}`: {e}"))?;
        if value == Value::Null
            && vars.previous.is_none()
            && references.iter().any(|r| r.path == ["previous"])
        {
            return Err(format!(
                "`{span}`: there is no previous release (hint: `${{{{ previous || 'none' }}}}` picks a value)"
            ));
        }
        let value = value.to_display_string();
        match escape {
            Escape::None => out.push_str(&value),
            Escape::Url => percent_encode(&value, &mut out),
        }
    }
    Ok(out)
}

/// Writes `s` with every byte but RFC 3986's unreserved ones as `%XX`.
fn percent_encode(s: &str, out: &mut String) {
    const HEX: &[u8; 16] = b"0123456789ABCDEF";
    for b in s.bytes() {
        if b.is_ascii_alphanumeric() || matches!(b, b'-' | b'.' | b'_' | b'~') {
            out.push(char::from(b));
        } else {
            out.push('%');
            out.push(char::from(HEX[usize::from(b >> 4)]));
            out.push(char::from(HEX[usize::from(b & 15)]));
        }
    }
}

/// `1.5 s`, `300 ms`.
fn human(d: Duration) -> String {
    let ms = d.as_millis();
    if ms < 1000 {
        format!("{ms} ms")
    } else if ms.is_multiple_of(1000) {
        format!("{} s", ms / 1000)
    } else {
        format!("{:.1} s", d.as_secs_f64())
    }
}

/// One Prometheus instant query.
async fn prometheus(
    url: &str,
    query: &str,
    timeout_ms: u64,
    vars: &Vars,
) -> Result<Sample, String> {
    let label = format!(
        "prometheus {}",
        wharf_net::redact_url(url).trim_end_matches('/')
    );
    let fail = |what: String| format!("{label}: {what}");
    let query = render(query, vars, Escape::None).map_err(|e| fail(format!("the query: {e}")))?;
    let mut endpoint = parse_url(url).map_err(fail)?;
    let path = format!("{}/api/v1/query", endpoint.path().trim_end_matches('/'));
    endpoint.set_path(&path);
    endpoint.query_pairs_mut().append_pair("query", &query);
    let (status, body) = get(&endpoint, timeout_ms).await.map_err(fail)?;
    prometheus_sample(status, &body).map_err(fail)
}

/// The sample of a Prometheus answer (`{"status": "success", "data": {"resultType":
/// "vector", "result": [{"metric": {…}, "value": [1700000000.1, "0.2"]}]}}`).
fn prometheus_sample(status: u16, body: &[u8]) -> Result<Sample, String> {
    let answer: serde_json::Value = serde_json::from_slice(body).map_err(|e| {
        if (200..300).contains(&status) {
            format!("the answer is not JSON ({e})")
        } else {
            format!("HTTP {status}{}", redirect_note(status))
        }
    })?;
    if answer["status"] != "success" {
        let kind = answer["errorType"].as_str().unwrap_or("error");
        let error = answer["error"].as_str().unwrap_or("no message");
        return Err(format!("the query failed (HTTP {status}): {kind}: {error}"));
    }
    if !(200..300).contains(&status) {
        return Err(format!("HTTP {status}"));
    }
    let data = &answer["data"];
    let value = match data["resultType"].as_str() {
        Some("vector") => {
            let result = data["result"]
                .as_array()
                .ok_or("the answer has no data.result list")?;
            match result.as_slice() {
                [] => {
                    return Err(
                        "the query returned no samples (an empty result is an error, not a pass)"
                            .into(),
                    );
                }
                [one] => &one["value"],
                many => {
                    return Err(format!(
                        "the query returned {} series, and a condition sees one value (hint: aggregate them, e.g. sum(…) or max(…))",
                        many.len()
                    ));
                }
            }
        }
        Some("scalar") => &data["result"],
        Some(other) => {
            return Err(format!(
                "the query returned a {other}; use one that returns an instant vector or a scalar"
            ));
        }
        None => return Err("the answer has no data.resultType".into()),
    };
    let text = value[1]
        .as_str()
        .ok_or("the answer's sample has no value")?
        .to_string();
    let n: f64 = text
        .parse()
        .map_err(|_| format!("the sample {text:?} is not a number"))?;
    if n.is_nan() {
        return Err("the query returned NaN (0/0: no requests in the window?), which is an error, not a value".into());
    }
    if n.is_infinite() {
        return Err(format!(
            "the query returned {text} (a division by zero?), which is an error, not a value"
        ));
    }
    Ok(Sample {
        value: Value::Number(n),
        text,
    })
}

/// One HTTP measurement.
async fn http(
    url: &str,
    json_path: Option<&str>,
    timeout_ms: u64,
    vars: &Vars,
) -> Result<Sample, String> {
    let url = render(url, vars, Escape::Url)
        .map_err(|e| format!("http {}: the URL: {e}", wharf_net::redact_url(url)))?;
    let label = format!("http {}", wharf_net::redact_url(&url));
    let fail = |what: String| format!("{label}: {what}");
    let endpoint = parse_url(&url).map_err(fail)?;
    let (status, body) = get(&endpoint, timeout_ms).await.map_err(fail)?;
    if !(200..300).contains(&status) {
        return Err(fail(format!("HTTP {status}{}", redirect_note(status))));
    }
    match (
        serde_json::from_slice::<serde_json::Value>(&body),
        json_path,
    ) {
        (Ok(json), None) => scalar(&json, "the answer").map_err(fail),
        (Ok(json), Some(path)) => {
            let at =
                json_at(&json, path).ok_or_else(|| fail(format!("the answer has no `{path}`")))?;
            scalar(at, &format!("`{path}`")).map_err(fail)
        }
        (Err(_), None) => {
            let text = String::from_utf8_lossy(&body).trim().to_string();
            Ok(Sample {
                value: Value::from(text.as_str()),
                text,
            })
        }
        (Err(e), Some(path)) => Err(fail(format!(
            "the answer is not JSON ({e}), so `{path}` cannot be read from it"
        ))),
    }
}

/// The value at a dotted path: object keys, and array indices as numbers.
fn json_at<'a>(json: &'a serde_json::Value, path: &str) -> Option<&'a serde_json::Value> {
    path.split('.').try_fold(json, |at, key| match at {
        serde_json::Value::Object(map) => map.get(key),
        serde_json::Value::Array(items) => items.get(key.parse::<usize>().ok()?),
        _ => None,
    })
}

fn scalar(json: &serde_json::Value, what: &str) -> Result<Sample, String> {
    use serde_json::Value as J;
    let (value, text) = match json {
        J::Number(n) => {
            let f = n
                .as_f64()
                .ok_or_else(|| format!("{what} is not a usable number"))?;
            (Value::Number(f), n.to_string())
        }
        J::Bool(b) => (Value::Bool(*b), b.to_string()),
        J::String(s) => (Value::from(s.as_str()), s.clone()),
        J::Null => return Err(format!("{what} is null")),
        J::Array(_) | J::Object(_) => {
            return Err(format!(
                "{what} is a JSON {}; `json_path` must lead to a number, a string or a boolean",
                if json.is_array() { "array" } else { "object" }
            ));
        }
    };
    Ok(Sample { value, text })
}

fn redirect_note(status: u16) -> &'static str {
    if (300..400).contains(&status) {
        " (a redirect to another host is not followed)"
    } else {
        ""
    }
}

fn parse_url(url: &str) -> Result<reqwest::Url, String> {
    let parsed = reqwest::Url::parse(url).map_err(|e| format!("not a URL ({e})"))?;
    match parsed.scheme() {
        "http" | "https" => Ok(parsed),
        other => Err(format!("the scheme is {other}, not http or https")),
    }
}

/// GETs `url` within `timeout_ms`, following redirects only on the same origin: the
/// status and the body (at most [`MAX_BODY`]).
async fn get(url: &reqwest::Url, timeout_ms: u64) -> Result<(u16, Vec<u8>), String> {
    install_crypto_provider();
    let timeout = Duration::from_millis(timeout_ms);
    let origin = (
        url.scheme().to_string(),
        url.host_str().map(str::to_string),
        url.port_or_known_default(),
    );
    let policy = reqwest::redirect::Policy::custom(move |attempt| {
        let to = attempt.url();
        let same = to.scheme() == origin.0
            && to.host_str() == origin.1.as_deref()
            && to.port_or_known_default() == origin.2;
        if same && attempt.previous().len() < 5 {
            attempt.follow()
        } else {
            attempt.stop()
        }
    });
    let client = reqwest::Client::builder()
        .user_agent(concat!("wharf/", env!("CARGO_PKG_VERSION"), " analysis"))
        .timeout(timeout)
        .redirect(policy)
        .build()
        .map_err(|e| wharf_net::describe(&e))?;
    let why = |e: reqwest::Error| {
        if e.is_timeout() {
            format!("no answer within {}", human(timeout))
        } else {
            wharf_net::describe(&e)
        }
    };
    let mut response = client.get(url.clone()).send().await.map_err(why)?;
    let status = response.status().as_u16();
    let mut body = Vec::new();
    while let Some(chunk) = response.chunk().await.map_err(why)? {
        if body.len() + chunk.len() > MAX_BODY {
            return Err(format!("the answer is larger than {} MiB", MAX_BODY >> 20));
        }
        body.extend_from_slice(&chunk);
    }
    Ok((status, body))
}

/// reqwest is built without a TLS crypto provider; wharf-net installs rustls's ring
/// provider when its first client is made, so make one.
fn install_crypto_provider() {
    static ONCE: Once = Once::new();
    ONCE.call_once(|| {
        let _ = wharf_net::Net::new(wharf_net::Limits::default());
    });
}

/// One run of a script metric.
async fn script(
    name: &str,
    run: &[String],
    timeout_ms: u64,
    vars: &Vars,
    dir: &Path,
) -> (Phase, Option<String>, String) {
    let error = |what: String| (Phase::Error, None, what);
    let Some((program, args)) = run.split_first() else {
        return error("script: `run` is empty".into());
    };
    let label = format!("script `{program}`");
    let args: Result<Vec<String>, String> =
        args.iter().map(|a| render(a, vars, Escape::None)).collect();
    let args = match args {
        Ok(args) => args,
        Err(e) => return error(format!("{label}: {e}")),
    };
    let mut command = tokio::process::Command::new(program);
    command
        .args(&args)
        .current_dir(dir)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .kill_on_drop(true)
        .env("WHARF_RELEASE", &vars.release)
        .env(
            "WHARF_PREVIOUS_RELEASE",
            vars.previous.as_deref().unwrap_or(""),
        )
        .env("WHARF_SERVICE", &vars.service)
        .env("WHARF_ENVIRONMENT", &vars.environment);
    let mut child = match command.spawn() {
        Ok(child) => child,
        Err(e) => {
            return error(format!(
                "{label}: cannot start it in {}: {e}",
                dir.display()
            ));
        }
    };
    let stdout = Tail::read(child.stdout.take());
    let stderr = Tail::read(child.stderr.take());
    let limit = Duration::from_millis(timeout_ms);
    let status = match tokio::time::timeout(limit, child.wait()).await {
        Ok(Ok(status)) => status,
        Ok(Err(e)) => return error(format!("{label}: cannot wait for it: {e}")),
        Err(_) => {
            let _ = child.kill().await;
            return error(format!(
                "{label}: still running after {}, killed",
                human(limit)
            ));
        }
    };
    let (stderr, stdout) = (stderr.finish().await, stdout.finish().await);
    let said = last_line(&stderr)
        .or_else(|| last_line(&stdout))
        .map(|l| format!(": {l}"))
        .unwrap_or_default();
    match status.code() {
        Some(0) => (
            Phase::Successful,
            Some("0".into()),
            format!("{name}: exit 0"),
        ),
        Some(code) => (
            Phase::Failed,
            Some(code.to_string()),
            format!("{name}: exit {code}{said}"),
        ),
        None => (Phase::Failed, None, format!("{name}: {status}{said}")),
    }
}

/// The last bytes of a child's output, read in a task of its own (aborted when
/// dropped) so that a program that writes a lot never blocks.
struct Tail(Option<tokio::task::JoinHandle<Vec<u8>>>);

impl Tail {
    fn read(pipe: Option<impl tokio::io::AsyncRead + Unpin + Send + 'static>) -> Tail {
        Tail(pipe.map(|mut pipe| {
            tokio::spawn(async move {
                let mut kept = Vec::new();
                let mut buf = [0u8; 4096];
                while let Ok(n @ 1..) = pipe.read(&mut buf).await {
                    kept.extend_from_slice(&buf[..n]);
                    if kept.len() > 2 * OUTPUT_TAIL {
                        kept.drain(..kept.len() - OUTPUT_TAIL);
                    }
                }
                kept
            })
        }))
    }

    /// What was read, waiting at most [`OUTPUT_GRACE`] for the pipe to close.
    async fn finish(mut self) -> Vec<u8> {
        match self.0.as_mut() {
            Some(task) => match tokio::time::timeout(OUTPUT_GRACE, task).await {
                Ok(Ok(kept)) => kept,
                _ => Vec::new(),
            },
            None => Vec::new(),
        }
    }
}

impl Drop for Tail {
    fn drop(&mut self) {
        if let Some(task) = &self.0 {
            task.abort();
        }
    }
}

/// The last non-empty line of `output`, at most 200 characters.
fn last_line(output: &[u8]) -> Option<String> {
    let text = String::from_utf8_lossy(output);
    let line = text.lines().map(str::trim).rfind(|l| !l.is_empty())?;
    let mut short: String = line.chars().take(200).collect();
    if short.len() < line.len() {
        short.push('…');
    }
    Some(short)
}
