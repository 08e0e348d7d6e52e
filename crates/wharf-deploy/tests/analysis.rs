//! The analysis: Argo's limits over sequences of measurements, the conditions and their
//! messages, and each provider against a real peer — a script, an HTTP server, and a
//! real Prometheus scraping a real `wharf proxy` with a healthy release and a canary
//! that fails one request in five.

mod analysis_support;

use std::path::Path;
use std::time::{Duration, Instant};

use analysis_support::{Reply, Seen, Server, Traffic, http, prom, script, upstream, vars};
use tokio::sync::watch;
use wharf_deploy::analysis::{Measurement, MetricState, Phase, Verdict, evaluate, measure, run};
use wharf_expr::Value;
use wharf_model::{AnalysisMetric, Provider};
use wharf_test_support::prometheus::Prometheus;

// ---------------------------------------------------------------------------------------
// The limits

fn phase(c: char) -> Phase {
    match c {
        'S' => Phase::Successful,
        'F' => Phase::Failed,
        'E' => Phase::Error,
        'I' => Phase::Inconclusive,
        other => panic!("no phase {other}"),
    }
}

struct Row {
    what: &'static str,
    interval: bool,
    count: Option<u32>,
    failure_limit: i32,
    errors: u32,
    phases: &'static str,
    /// The measurement (by index) at which the verdict came, and the verdict.
    verdict: Option<(usize, Verdict)>,
    /// The verdict of stopping it after the phases.
    stopped: Verdict,
}

fn failed(s: &str) -> Verdict {
    Verdict::Failed(s.to_string())
}

fn inconclusive(s: &str) -> Verdict {
    Verdict::Inconclusive(s.to_string())
}

#[test]
fn limits_follow_argo_over_sequences_of_measurements() {
    use Verdict::Successful as Ok_;
    #[rustfmt::skip]
    let rows = [
        Row { what: "failure_limit 0: the first failure fails", interval: true, count: Some(5), failure_limit: 0, errors: 4, phases: "SF",
              verdict: Some((1, failed("analysis m#1"))), stopped: failed("analysis m#1") },
        Row { what: "failure_limit 2: the third failure fails", interval: true, count: Some(10), failure_limit: 2, errors: 4, phases: "FSFSF",
              verdict: Some((4, failed("analysis m#4"))), stopped: failed("analysis m#4") },
        Row { what: "failure_limit 2: the count is reached with two failures", interval: true, count: Some(5), failure_limit: 2, errors: 4, phases: "FFSSS",
              verdict: Some((4, Ok_)), stopped: Ok_ },
        Row { what: "failure_limit -1 never fails", interval: true, count: Some(3), failure_limit: -1, errors: 4, phases: "FFF",
              verdict: Some((2, Ok_)), stopped: Ok_ },
        Row { what: "errors do not count towards the count", interval: true, count: Some(2), failure_limit: 0, errors: 4, phases: "ESES",
              verdict: Some((3, Ok_)), stopped: Ok_ },
        Row { what: "5 errors in a row with the default limit 4", interval: true, count: Some(3), failure_limit: 0, errors: 4, phases: "EEEEE",
              verdict: Some((4, inconclusive("analysis m: 5 errors in a row: m#4"))), stopped: inconclusive("analysis m: 5 errors in a row: m#4") },
        Row { what: "4 errors in a row are tolerated", interval: true, count: Some(1), failure_limit: 0, errors: 4, phases: "EEEES",
              verdict: Some((4, Ok_)), stopped: Ok_ },
        Row { what: "a measurement resets the errors in a row", interval: true, count: Some(3), failure_limit: 0, errors: 2, phases: "EESEESEES",
              verdict: Some((8, Ok_)), stopped: Ok_ },
        Row { what: "consecutive_error_limit 0: the first error", interval: true, count: Some(3), failure_limit: 0, errors: 0, phases: "SE",
              verdict: Some((1, inconclusive("analysis m: 1 error in a row: m#1"))), stopped: inconclusive("analysis m: 1 error in a row: m#1") },
        Row { what: "an inconclusive measurement (inconclusiveLimit 0)", interval: true, count: Some(5), failure_limit: 3, errors: 4, phases: "SI",
              verdict: Some((1, inconclusive("analysis m#1"))), stopped: inconclusive("analysis m#1") },
        Row { what: "no interval: one measurement", interval: false, count: None, failure_limit: 0, errors: 4, phases: "S",
              verdict: Some((0, Ok_)), stopped: Ok_ },
        Row { what: "no interval: one failed measurement", interval: false, count: None, failure_limit: 0, errors: 4, phases: "F",
              verdict: Some((0, failed("analysis m#0"))), stopped: failed("analysis m#0") },
        Row { what: "no interval: errors are retried", interval: false, count: None, failure_limit: 0, errors: 4, phases: "EES",
              verdict: Some((2, Ok_)), stopped: Ok_ },
        Row { what: "count 0 is no count", interval: false, count: Some(0), failure_limit: 0, errors: 4, phases: "S",
              verdict: Some((0, Ok_)), stopped: Ok_ },
        Row { what: "background: goes on, a tolerated failure included", interval: true, count: None, failure_limit: 1, errors: 4, phases: "SSFSSEE",
              verdict: None, stopped: Ok_ },
        Row { what: "background: a failure over the limit", interval: true, count: None, failure_limit: 0, errors: 4, phases: "SSF",
              verdict: Some((2, failed("analysis m#2"))), stopped: failed("analysis m#2") },
        Row { what: "background stopped with only errors", interval: true, count: None, failure_limit: 0, errors: 4, phases: "EE",
              verdict: None, stopped: inconclusive("analysis m: stopped before any successful measurement (last: m#1)") },
        Row { what: "counted, stopped early after successes", interval: true, count: Some(5), failure_limit: 0, errors: 4, phases: "SSE",
              verdict: None, stopped: Ok_ },
        Row { what: "counted, stopped early with a tolerated failure", interval: true, count: Some(5), failure_limit: 1, errors: 4, phases: "SF",
              verdict: None, stopped: inconclusive("analysis m: stopped after 2 of 5 measurements, 1 failed") },
        Row { what: "stopped before any measurement", interval: true, count: Some(5), failure_limit: 0, errors: 4, phases: "",
              verdict: None, stopped: inconclusive("analysis m: stopped before its first measurement") },
    ];
    for row in rows {
        let mut m = script("m", &["true"], 1000);
        m.interval_ms = row.interval.then_some(100);
        m.count = row.count;
        m.failure_limit = row.failure_limit;
        m.consecutive_error_limit = row.errors;
        let mut state = MetricState::new(&m);
        let mut first = None;
        for (i, c) in row.phases.chars().enumerate() {
            let measurement = Measurement {
                metric: "m".into(),
                at: 0,
                phase: phase(c),
                value: None,
                message: format!("m#{i}"),
            };
            let got = state.record(&measurement);
            match (&first, got) {
                (None, Some(v)) => first = Some((i, v)),
                (Some((_, v)), got) => assert_eq!(got.as_ref(), Some(v), "{}: sticks", row.what),
                (None, None) => {}
            }
        }
        assert_eq!(first, row.verdict, "{}", row.what);
        assert_eq!(
            state.verdict(),
            row.verdict.as_ref().map(|(_, v)| v),
            "{}",
            row.what
        );
        assert_eq!(state.taken as usize, row.phases.len(), "{}", row.what);
        assert_eq!(state.stop(), row.stopped, "{}: stopped", row.what);
    }
}

#[test]
fn counters_move_as_in_argo() {
    let mut m = script("m", &["true"], 1000);
    m.interval_ms = Some(100);
    m.failure_limit = -1;
    let mut state = MetricState::new(&m);
    for (i, c) in "SFEEFSE".chars().enumerate() {
        state.record(&Measurement {
            metric: "m".into(),
            at: i as i64,
            phase: phase(c),
            value: None,
            message: String::new(),
        });
    }
    assert_eq!(
        (
            state.successful,
            state.failed,
            state.inconclusive,
            state.errors,
            state.consecutive_errors,
            state.taken,
            state.counted()
        ),
        (2, 2, 0, 3, 1, 7, 4)
    );
}

// ---------------------------------------------------------------------------------------
// Conditions

fn judge(
    name: &str,
    success: Option<&str>,
    failure: Option<&str>,
    result: Value,
) -> (Phase, String) {
    let mut m = prom(name, "http://127.0.0.1:9", "up");
    m.success = success.map(str::to_string);
    m.failure = failure.map(str::to_string);
    evaluate(&m, &result)
}

/// A success condition, a failure condition, the result, and the judgement.
type Case = (
    Option<&'static str>,
    Option<&'static str>,
    Value,
    Phase,
    &'static str,
);

#[test]
fn conditions_follow_argo_and_read_well() {
    use Phase::*;
    let n = Value::Number;
    #[rustfmt::skip]
    let cases: Vec<Case> = vec![
        // Success only: it holding is a success, not holding a failure.
        (Some("result >= 0.99"), None, n(0.8), Failed, "success-rate 0.80 < 0.99"),
        (Some("result >= 0.99"), None, n(1.0), Successful, "success-rate 1 >= 0.99"),
        (Some("result >= 0.99"), None, n(0.9899), Failed, "success-rate 0.9899 < 0.99"),
        (Some("0.99 <= result"), None, n(0.8), Failed, "success-rate 0.80 < 0.99"),
        (Some("result > 0.5"), None, n(0.5), Failed, "success-rate 0.50 <= 0.5"),
        (Some("result < 2"), None, n(3.0), Failed, "success-rate 3 >= 2"),
        (Some("result == 'ok'"), None, Value::from("degraded"), Failed, "success-rate 'degraded' != 'ok'"),
        (Some("result == true"), None, Value::Bool(true), Successful, "success-rate true == true"),
        (Some("result >= 0.99 && result <= 1"), None, n(0.8), Failed, "success-rate 0.80: `result >= 0.99 && result <= 1` is false"),
        // Failure only: it holding is a failure, not holding a success.
        (None, Some("result > 0.05"), n(0.2), Failed, "success-rate 0.20 > 0.05"),
        (None, Some("result > 0.05"), n(0.01), Successful, "success-rate 0.01 <= 0.05"),
        (None, Some("result > 0.05 || result < 0"), n(0.2), Failed, "success-rate 0.20: `result > 0.05 || result < 0` is true"),
        // Both: neither holding is inconclusive; the failure condition wins.
        (Some("result >= 0.99"), Some("result < 0.95"), n(0.97), Inconclusive, "success-rate 0.97: neither `result >= 0.99` nor `result < 0.95` holds"),
        (Some("result >= 0.99"), Some("result < 0.95"), n(0.9), Failed, "success-rate 0.90 < 0.95"),
        (Some("result >= 0.99"), Some("result < 0.95"), n(0.997), Successful, "success-rate 1.00 >= 0.99"),
        (Some("result > 0"), Some("result > 0.5"), n(0.8), Failed, "success-rate 0.80 > 0.5"),
        // None: successful (Argo: "always return success unless there is an error").
        (None, None, n(0.8), Successful, "success-rate 0.80 (no condition)"),
    ];
    for (success, failure, result, phase, message) in cases {
        let got = judge("success-rate", success, failure, result.clone());
        assert_eq!(
            got,
            (phase, message.to_string()),
            "{success:?} {failure:?} {result:?}"
        );
    }
}

#[test]
fn a_condition_that_cannot_be_evaluated_is_an_error() {
    let n = Value::Number(0.8);
    #[rustfmt::skip]
    let cases = [
        (Some("result >="), None, "the success condition `result >=`: "),
        (Some("rate >= 0.99"), None, "the success condition `rate >= 0.99` uses `rate`; a condition sees only `result`"),
        (Some("result"), None, "the success condition `result` gave 0.80 for 0.80, not true or false"),
        (None, Some("failure()"), "the failure condition `failure()` calls failure(), which means nothing here"),
        (Some("result > 0.9"), Some("result.x > 1"), "the failure condition `result.x > 1` uses `result.x`"),
    ];
    for (success, failure, start) in cases {
        let (phase, message) = judge("m", success, failure, n.clone());
        assert_eq!(phase, Phase::Error, "{message}");
        assert!(
            message.starts_with(start),
            "{message:?} should start with {start:?}"
        );
    }
}

// ---------------------------------------------------------------------------------------
// Scripts

#[tokio::test]
async fn script_exit_codes_timeouts_and_missing_programs() {
    let dir = tempfile::tempdir().unwrap();
    let here = dir.path().canonicalize().unwrap();
    let v = vars("v2");

    let ok = script(
        "smoke",
        &[
            "sh",
            "-c",
            r#"test "$WHARF_RELEASE" = v2 && test "$WHARF_PREVIOUS_RELEASE" = v1 \
               && test "$WHARF_SERVICE" = web && test "$WHARF_ENVIRONMENT" = production \
               && test "$1" = v2-web && test "$(pwd -P)" = "$2" && test ! -t 0 && ! read x"#,
            "sh",
            "${{ release }}-${{ service }}",
            here.to_str().unwrap(),
        ],
        5000,
    );
    let m = measure(&ok, &v, dir.path()).await;
    assert_eq!(
        (
            m.metric.as_str(),
            m.phase,
            m.value.as_deref(),
            m.message.as_str()
        ),
        ("smoke", Phase::Successful, Some("0"), "smoke: exit 0")
    );
    assert!(m.at > 1_600_000_000_000, "{}", m.at);

    let fails = script(
        "smoke",
        &[
            "sh",
            "-c",
            "echo checking; echo 'warming up' >&2; echo '3 of 10 checks failed' >&2; exit 3",
        ],
        5000,
    );
    let m = measure(&fails, &v, dir.path()).await;
    assert_eq!(
        (m.phase, m.value.as_deref(), m.message.as_str()),
        (
            Phase::Failed,
            Some("3"),
            "smoke: exit 3: 3 of 10 checks failed"
        )
    );

    let signalled = script("smoke", &["sh", "-c", "kill -9 $$"], 5000);
    let m = measure(&signalled, &v, dir.path()).await;
    assert_eq!(
        (m.phase, m.value.as_deref()),
        (Phase::Failed, None),
        "{}",
        m.message
    );
    assert!(m.message.contains("signal: 9"), "{}", m.message);

    // A program it started in the background holds the pipes open: the measurement
    // still ends at the timeout.
    let slow = script("smoke", &["sh", "-c", "sleep 5; echo never"], 300);
    let t = Instant::now();
    let m = measure(&slow, &v, dir.path()).await;
    assert!(t.elapsed() < Duration::from_secs(3), "{:?}", t.elapsed());
    assert_eq!(
        (m.phase, m.value.as_deref(), m.message.as_str()),
        (
            Phase::Error,
            None,
            "script `sh`: still running after 300 ms, killed"
        )
    );

    let missing = script("smoke", &["./no-such-check"], 5000);
    let m = measure(&missing, &v, dir.path()).await;
    assert_eq!(m.phase, Phase::Error);
    assert!(
        m.message.starts_with(&format!(
            "script `./no-such-check`: cannot start it in {}: ",
            dir.path().display()
        )),
        "{}",
        m.message
    );

    let unknown = script("smoke", &["echo", "${{ version }}"], 5000);
    let m = measure(&unknown, &v, dir.path()).await;
    assert_eq!(
        (m.phase, m.message.as_str()),
        (
            Phase::Error,
            "script `echo`: unknown name `version` in `${{ version }}` (the names are release, previous, service, environment)"
        )
    );

    // No previous release: an error, unless the template picks a value itself.
    let first = wharf_deploy::analysis::Vars {
        previous: None,
        ..vars("v1")
    };
    let m = measure(
        &script("smoke", &["echo", "${{ previous }}"], 5000),
        &first,
        dir.path(),
    )
    .await;
    assert_eq!(m.phase, Phase::Error);
    assert!(
        m.message.contains("there is no previous release"),
        "{}",
        m.message
    );
    let picks = script(
        "smoke",
        &[
            "sh",
            "-c",
            r#"test "$1" = none && test -z "$WHARF_PREVIOUS_RELEASE""#,
            "sh",
            "${{ previous || 'none' }}",
        ],
        5000,
    );
    assert_eq!(
        measure(&picks, &first, dir.path()).await.phase,
        Phase::Successful
    );
}

// ---------------------------------------------------------------------------------------
// HTTP

fn stats_server() -> Server {
    Server::start(|target| match target {
        "/stats" => Reply::json(serde_json::json!({
            "data": {"ratio": 0.97, "ok": true, "items": [{"v": "green"}], "none": null, "obj": {}}
        })),
        "/plain" => Reply::new(200, "ok\n"),
        "/fail" | "/fail?token=s3cret" => Reply::new(500, "boom"),
        "/moved" => Reply::new(302, "").header("location", "/stats"),
        "/away" => Reply::new(302, "").header("location", "http://example.invalid/stats"),
        "/slow" => {
            std::thread::sleep(Duration::from_secs(2));
            Reply::new(200, "1")
        }
        echo if echo.starts_with("/echo") => Reply::json(serde_json::json!({"target": echo})),
        _ => Reply::new(404, "no"),
    })
}

#[tokio::test]
async fn http_values_json_paths_and_errors() {
    let server = stats_server();
    let dir = tempfile::tempdir().unwrap();
    let v = vars("v2");
    let at = |path: &str| server.url(path);

    let mut m = http("stats", &at("/stats"), Some("data.ratio"), 2000);
    m.success = Some("result >= 0.95".into());
    let got = measure(&m, &v, dir.path()).await;
    assert_eq!(
        (got.phase, got.value.as_deref(), got.message.as_str()),
        (Phase::Successful, Some("0.97"), "stats 0.97 >= 0.95")
    );
    m.success = Some("result >= 0.99".into());
    let got = measure(&m, &v, dir.path()).await;
    assert_eq!(
        (got.phase, got.message.as_str()),
        (Phase::Failed, "stats 0.97 < 0.99")
    );

    #[rustfmt::skip]
    let values = [
        ("/stats", Some("data.ok"), Some("result == true"), Phase::Successful, "true"),
        ("/stats", Some("data.items.0.v"), Some("result == 'green'"), Phase::Successful, "green"),
        ("/plain", None, Some("result == 'ok'"), Phase::Successful, "ok"),
        ("/moved", Some("data.ratio"), None, Phase::Successful, "0.97"),
    ];
    for (path, json_path, success, phase, value) in values {
        let mut m = http("stats", &at(path), json_path, 2000);
        m.success = success.map(str::to_string);
        let got = measure(&m, &v, dir.path()).await;
        assert_eq!(
            (got.phase, got.value.as_deref()),
            (phase, Some(value)),
            "{path} {json_path:?}: {}",
            got.message
        );
    }

    let base = format!("http {}", at(""));
    #[rustfmt::skip]
    let errors = [
        ("/stats", Some("data.missing"), format!("{base}/stats: the answer has no `data.missing`")),
        ("/stats", Some("data.items.7"), format!("{base}/stats: the answer has no `data.items.7`")),
        ("/stats", Some("data.none"), format!("{base}/stats: `data.none` is null")),
        ("/stats", Some("data.obj"), format!("{base}/stats: `data.obj` is a JSON object; `json_path` must lead to a number, a string or a boolean")),
        ("/stats", None, format!("{base}/stats: the answer is a JSON object; `json_path` must lead to a number, a string or a boolean")),
        ("/fail", None, format!("{base}/fail: HTTP 500")),
        ("/fail?token=s3cret", None, format!("{base}/fail: HTTP 500")),
        ("/away", None, format!("{base}/away: HTTP 302 (a redirect to another host is not followed)")),
        ("/slow", None, format!("{base}/slow: no answer within 300 ms")),
    ];
    for (path, json_path, message) in errors {
        let m = http("stats", &at(path), json_path, 300);
        let t = Instant::now();
        let got = measure(&m, &v, dir.path()).await;
        assert!(
            t.elapsed() < Duration::from_millis(1500),
            "{path}: {:?}",
            t.elapsed()
        );
        assert_eq!(
            (got.phase, got.value, got.message),
            (Phase::Error, None, message),
            "{path}"
        );
    }

    // Values are percent-encoded into the URL; the literal text is left as written.
    let odd = wharf_deploy::analysis::Vars {
        release: "1.0.0+build 7/x".into(),
        ..vars("")
    };
    let m = http(
        "echo",
        &at("/echo?release=${{ release }}&env=${{ environment }}"),
        Some("target"),
        2000,
    );
    let got = measure(&m, &odd, dir.path()).await;
    assert_eq!(
        got.value.as_deref(),
        Some("/echo?release=1.0.0%2Bbuild%207%2Fx&env=production"),
        "{}",
        got.message
    );

    // Nothing listens: an error naming the URL.
    let dead = format!("http://127.0.0.1:{}/stats", analysis_support::free_port());
    let got = measure(&http("stats", &dead, None, 2000), &v, dir.path()).await;
    assert_eq!(got.phase, Phase::Error);
    assert!(
        got.message
            .starts_with(&format!("http {dead}: cannot connect")),
        "{}",
        got.message
    );

    // An inconclusive measurement ends a run inconclusive.
    let mut m = http("stats", &at("/stats"), Some("data.ratio"), 2000);
    m.success = Some("result >= 0.99".into());
    m.failure = Some("result < 0.9".into());
    m.interval_ms = Some(50);
    m.count = Some(3);
    let (_tx, rx) = watch::channel(false);
    let seen = Seen::default();
    let verdict = run(&[m], &v, dir.path(), rx, &|m| seen.push(m)).await;
    assert_eq!(
        verdict,
        inconclusive("analysis stats 0.97: neither `result >= 0.99` nor `result < 0.9` holds")
    );
    assert_eq!(seen.of("stats").len(), 1);
}

// ---------------------------------------------------------------------------------------
// run

fn every(mut m: AnalysisMetric, interval_ms: u64, count: Option<u32>) -> AnalysisMetric {
    m.interval_ms = Some(interval_ms);
    m.count = count;
    m
}

#[tokio::test]
async fn run_ends_at_the_first_failure_while_background_metrics_go_on() {
    let dir = tempfile::tempdir().unwrap();
    let background = every(script("alive", &["true"], 5000), 50, None);
    // Fails on its third run (the count file lives in the metric's directory).
    let third = r#"n=$(cat runs 2>/dev/null || echo 0); n=$((n+1)); echo $n > runs; [ $n -ne 3 ] || { echo "run $n failed" >&2; exit 1; }"#;
    let smoke = every(script("smoke", &["sh", "-c", third], 5000), 50, Some(10));
    let (_tx, rx) = watch::channel(false);
    let seen = Seen::default();
    let t = Instant::now();
    let verdict = run(&[background, smoke], &vars("v2"), dir.path(), rx, &|m| {
        seen.push(m)
    })
    .await;
    assert_eq!(verdict, failed("analysis smoke: exit 1: run 3 failed"));
    assert!(t.elapsed() < Duration::from_secs(5), "{:?}", t.elapsed());
    let smoke = seen.of("smoke");
    let phases: Vec<Phase> = smoke.iter().map(|m| m.phase).collect();
    assert_eq!(
        phases,
        [Phase::Successful, Phase::Successful, Phase::Failed]
    );
    assert!(!seen.of("alive").is_empty());
    assert!(
        smoke.windows(2).all(|w| w[1].at - w[0].at >= 50),
        "the interval is kept"
    );
}

#[tokio::test]
async fn run_background_metrics_end_successful_when_stopped() {
    let dir = tempfile::tempdir().unwrap();
    let background = every(script("alive", &["true"], 5000), 50, None);
    let counted = every(script("smoke", &["true"], 5000), 50, Some(2));
    let once = script("once", &["true"], 5000);
    let (tx, rx) = watch::channel(false);
    let seen = Seen::default();
    let stopper = tokio::spawn(async move {
        tokio::time::sleep(Duration::from_millis(500)).await;
        tx.send(true).unwrap();
        tx
    });
    let t = Instant::now();
    let verdict = run(
        &[background, counted, once],
        &vars("v2"),
        dir.path(),
        rx,
        &|m| seen.push(m),
    )
    .await;
    assert_eq!(verdict, Verdict::Successful);
    assert!(
        t.elapsed() >= Duration::from_millis(500),
        "the background metric waits for stop"
    );
    assert!(t.elapsed() < Duration::from_secs(3), "{:?}", t.elapsed());
    assert_eq!(seen.of("smoke").len(), 2);
    assert_eq!(seen.of("once").len(), 1);
    assert!(seen.of("alive").len() >= 3, "{}", seen.of("alive").len());
    drop(stopper.await.unwrap());
}

#[tokio::test]
async fn run_stopped_before_a_measurement_is_inconclusive() {
    let dir = tempfile::tempdir().unwrap();
    let mut late = every(script("late", &["true"], 5000), 50, Some(3));
    late.initial_delay_ms = 60_000;
    let (tx, rx) = watch::channel(false);
    let stopper = tokio::spawn(async move {
        tokio::time::sleep(Duration::from_millis(100)).await;
        tx.send(true).unwrap();
        tx
    });
    let seen = Seen::default();
    let t = Instant::now();
    let verdict = run(&[late], &vars("v2"), dir.path(), rx, &|m| seen.push(m)).await;
    assert_eq!(
        verdict,
        inconclusive("analysis late: stopped before its first measurement")
    );
    assert!(t.elapsed() < Duration::from_secs(2));
    assert!(seen.0.lock().unwrap().is_empty());
    drop(stopper.await.unwrap());

    // Already stopped: nothing is measured at all.
    let (_tx, rx) = watch::channel(true);
    let verdict = run(
        &[every(script("now", &["true"], 5000), 50, None)],
        &vars("v2"),
        dir.path(),
        rx,
        &|m| seen.push(m),
    )
    .await;
    assert_eq!(
        verdict,
        inconclusive("analysis now: stopped before its first measurement")
    );
}

#[tokio::test]
async fn run_with_too_many_errors_in_a_row_is_inconclusive() {
    let dir = tempfile::tempdir().unwrap();
    let mut broken = every(script("smoke", &["./missing-check"], 5000), 50, Some(3));
    broken.consecutive_error_limit = 2;
    let (_tx, rx) = watch::channel(false);
    let seen = Seen::default();
    let verdict = run(&[broken], &vars("v2"), dir.path(), rx, &|m| seen.push(m)).await;
    let reason = verdict.reason().unwrap().to_string();
    assert!(matches!(verdict, Verdict::Inconclusive(_)), "{verdict:?}");
    assert!(
        reason.starts_with(
            "analysis smoke: 3 errors in a row: script `./missing-check`: cannot start it in "
        ),
        "{reason}"
    );
    assert_eq!(seen.of("smoke").len(), 3);
}

#[tokio::test]
async fn run_without_metrics_or_interval() {
    let dir = tempfile::tempdir().unwrap();
    let (_tx, rx) = watch::channel(false);
    let seen = Seen::default();
    assert_eq!(
        run(&[], &vars("v2"), dir.path(), rx.clone(), &|m| seen.push(m)).await,
        Verdict::Successful
    );
    let verdict = run(
        &[script("once", &["true"], 5000)],
        &vars("v2"),
        dir.path(),
        rx,
        &|m| seen.push(m),
    )
    .await;
    assert_eq!(verdict, Verdict::Successful);
    assert_eq!(seen.of("once").len(), 1);
}

#[test]
fn run_can_be_spawned() {
    fn send<T: Send>(_: &T) {}
    let (_tx, rx) = watch::channel(false);
    let metrics = [script("once", &["true"], 5000)];
    let v = vars("v2");
    let report = |_: &Measurement| {};
    send(&run(&metrics, &v, Path::new("."), rx, &report));
}

// ---------------------------------------------------------------------------------------
// Prometheus, for real

const ERROR_RATE: &str = r#"sum(rate(wharf_proxy_requests_total{service="${{ service }}",release="${{ release }}",class="5xx"}[15s])) / sum(rate(wharf_proxy_requests_total{service="${{ service }}",release="${{ release }}"}[15s]))"#;
const SUCCESS_RATE: &str = r#"sum(rate(wharf_proxy_requests_total{service="${{ service }}",release="${{ release }}",class!="5xx"}[15s])) / sum(rate(wharf_proxy_requests_total{service="${{ service }}",release="${{ release }}"}[15s]))"#;

/// A control request to the proxy that must succeed.
async fn admin(addr: std::net::SocketAddr, method: &'static str, path: &'static str, body: String) {
    let (status, answer) = tokio::task::spawn_blocking(move || {
        analysis_support::request(addr, method, path, "127.0.0.1", &body).unwrap()
    })
    .await
    .unwrap();
    assert_eq!(status, 200, "{method} {path}: {answer}");
}

/// Measures until Prometheus has the data (the measurement is no longer an error).
async fn when_measured(
    m: &AnalysisMetric,
    v: &wharf_deploy::analysis::Vars,
    p: &Prometheus,
) -> Measurement {
    let deadline = Instant::now() + Duration::from_secs(25);
    loop {
        let got = measure(m, v, Path::new(".")).await;
        if got.phase != Phase::Error {
            return got;
        }
        assert!(
            Instant::now() < deadline,
            "no data: {}\n{}",
            got.message,
            p.log()
        );
        tokio::time::sleep(Duration::from_millis(500)).await;
    }
}

/// The number in `success-rate 0.80 < 0.99`, checked against `prefix` and `suffix`.
fn number_between(message: &str, prefix: &str, suffix: &str) -> f64 {
    let n = message
        .strip_prefix(prefix)
        .and_then(|m| m.strip_suffix(suffix))
        .unwrap_or_else(|| panic!("{message:?} is not `{prefix}N{suffix}`"));
    assert!(
        n.len() == 4 && n.starts_with("0."),
        "two decimals: {message:?}"
    );
    n.parse().unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn prometheus_judges_releases_behind_wharf_proxy() {
    let (v1, _) = upstream("v1", 0);
    let (v2, v2_served) = upstream("v2", 20);
    let state = tempfile::tempdir().unwrap();
    let any = "127.0.0.1:0".parse().unwrap();
    let proxy = wharf_proxy::Proxy::start(wharf_proxy::Config::new(
        any,
        any,
        state.path().join("proxy.json"),
    ))
    .await
    .unwrap();
    let a = proxy.admin_addr();
    admin(
        a,
        "PUT",
        "/services/web",
        r#"{"hosts": ["web.test"]}"#.into(),
    )
    .await;
    let target = |release: &str, addr| {
        format!(r#""release": "{release}", "addr": "{addr}", "health": {{"interval_ms": 100}}"#)
    };
    admin(
        a,
        "POST",
        "/services/web/deploy",
        format!("{{{}}}", target("v1", v1.addr)),
    )
    .await;
    admin(
        a,
        "POST",
        "/services/web/canary",
        format!(r#"{{{}, "weight": 50}}"#, target("v2", v2.addr)),
    )
    .await;
    let prom = tokio::task::spawn_blocking(move || Prometheus::start(&[a]))
        .await
        .unwrap();
    let traffic = Traffic::start(proxy.listen_addr());

    let (stable, canary) = (vars("v1"), vars("v2"));
    let mut success_rate = prom_metric("success-rate", &prom, SUCCESS_RATE);
    success_rate.success = Some("result >= 0.99".into());
    let mut error_rate = prom_metric("error-rate", &prom, ERROR_RATE);
    error_rate.failure = Some("result > 0.05".into());

    // The healthy release.
    let got = when_measured(&success_rate, &stable, &prom).await;
    assert_eq!(
        (got.phase, got.value.as_deref(), got.message.as_str()),
        (Phase::Successful, Some("1"), "success-rate 1 >= 0.99"),
        "{}",
        prom.log()
    );
    let got = measure(&error_rate, &stable, Path::new(".")).await;
    assert_eq!(
        (got.phase, got.message.as_str()),
        (Phase::Successful, "error-rate 0 <= 0.05")
    );

    // The canary fails one request in five: give the window a few scrapes.
    when_measured(&error_rate, &canary, &prom).await;
    tokio::time::sleep(Duration::from_secs(2)).await;
    let got = measure(&success_rate, &canary, Path::new(".")).await;
    assert_eq!(got.phase, Phase::Failed, "{}", got.message);
    let shown = number_between(&got.message, "success-rate ", " < 0.99");
    let value: f64 = got.value.as_deref().unwrap().parse().unwrap();
    assert!(
        (value - 0.8).abs() < 0.05 && (shown - value).abs() <= 0.005,
        "{value} {}",
        got.message
    );
    let got = measure(&error_rate, &canary, Path::new(".")).await;
    assert_eq!(got.phase, Phase::Failed, "{}", got.message);
    let value = number_between(&got.message, "error-rate ", " > 0.05");
    assert!((value - 0.2).abs() < 0.05, "{}", got.message);

    // A run over the canary fails at its second failure (failure_limit 1) …
    let mut counted = every(error_rate.clone(), 300, Some(5));
    counted.failure_limit = 1;
    let (_tx, rx) = watch::channel(false);
    let seen = Seen::default();
    let verdict = run(&[counted], &canary, Path::new("."), rx, &|m| seen.push(m)).await;
    let reason = verdict.reason().unwrap_or_default().to_string();
    assert!(matches!(verdict, Verdict::Failed(_)), "{verdict:?}");
    number_between(&reason, "analysis error-rate ", " > 0.05");
    assert_eq!(seen.of("error-rate").len(), 2);

    // … and one over the stable release passes: its count, and its background metric
    // once stopped.
    let (tx, rx) = watch::channel(false);
    let metrics = [
        every(success_rate.clone(), 200, Some(2)),
        every(error_rate.clone(), 200, None),
    ];
    let stopper = tokio::spawn(async move {
        tokio::time::sleep(Duration::from_millis(800)).await;
        tx.send(true).unwrap();
        tx
    });
    let verdict = run(&metrics, &stable, Path::new("."), rx, &|m| seen.push(m)).await;
    assert_eq!(verdict, Verdict::Successful);
    drop(stopper.await.unwrap());

    drop(traffic);
    assert!(v2_served.load(std::sync::atomic::Ordering::SeqCst) > 100);
}

fn prom_metric(name: &str, p: &Prometheus, query: &str) -> AnalysisMetric {
    prom(name, &p.url(), query)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn prometheus_errors_are_never_a_pass() {
    let mut p = tokio::task::spawn_blocking(|| Prometheus::start(&[]))
        .await
        .unwrap();
    let url = p.url();
    let v = vars("v9");
    let here = Path::new(".");

    // No traffic for the release: an empty vector, an error.
    let mut m = prom_metric("success-rate", &p, SUCCESS_RATE);
    m.success = Some("result >= 0.99".into());
    let got = measure(&m, &v, here).await;
    let empty = format!(
        "prometheus {url}: the query returned no samples (an empty result is an error, not a pass)"
    );
    assert_eq!(
        (got.phase, got.value.as_deref(), got.message.as_str()),
        (Phase::Error, None, empty.as_str())
    );

    // The URL's credentials never show.
    let secret = prom(
        "success-rate",
        &format!("http://ops:s3cret@{}/?token=t0ken", p.addr),
        SUCCESS_RATE,
    );
    let got = measure(&secret, &v, here).await;
    assert_eq!(got.message, empty);

    #[rustfmt::skip]
    let cases = [
        ("scalar(vector(0.25))", Some("result < 0.5"), Phase::Successful, "m 0.25 < 0.5"),
        ("vector(1)", None, Phase::Successful, "m 1 (no condition)"),
        ("vector(0.5)", Some("result > 0.9"), Phase::Failed, "m 0.50 <= 0.9"),
        ("0/0", Some("result < 0.5"), Phase::Error, "the query returned NaN"),
        ("1/0", Some("result < 0.5"), Phase::Error, "the query returned +Inf"),
        (r#"label_replace(vector(1), "a", "x", "", "") or label_replace(vector(2), "a", "y", "", "")"#, None, Phase::Error,
         "the query returned 2 series, and a condition sees one value"),
        ("sum(", None, Phase::Error, "the query failed (HTTP 400): bad_data: "),
        ("up[1m]", None, Phase::Error, "the query returned a matrix"),
        ("vector(1) > ${{ nothing }}", None, Phase::Error, "the query: unknown name `nothing`"),
    ];
    for (query, success, phase, message) in cases {
        let mut m = prom_metric("m", &p, query);
        m.success = success.map(str::to_string);
        let got = measure(&m, &v, here).await;
        let shown = got
            .message
            .strip_prefix(&format!("prometheus {url}: "))
            .unwrap_or(&got.message);
        assert_eq!(got.phase, phase, "{query}: {}", got.message);
        assert!(
            shown.starts_with(message) || got.message == message,
            "{query}: {:?} vs {message:?}",
            got.message
        );
    }

    // Errors in a row past the limit: inconclusive, never a pass.
    let mut errors = every(m.clone(), 100, Some(3));
    errors.consecutive_error_limit = 2;
    let (_tx, rx) = watch::channel(false);
    let seen = Seen::default();
    let verdict = run(&[errors.clone()], &v, here, rx.clone(), &|m| seen.push(m)).await;
    assert_eq!(
        verdict,
        inconclusive(&format!(
            "analysis success-rate: 3 errors in a row: {empty}"
        ))
    );
    assert_eq!(seen.of("success-rate").len(), 3);

    // Prometheus stopped: connection refused, an error; the run is inconclusive.
    p.stop();
    let got = measure(&m, &v, here).await;
    assert_eq!(got.phase, Phase::Error);
    assert!(
        got.message
            .starts_with(&format!("prometheus {url}: cannot connect")),
        "{}",
        got.message
    );
    errors.consecutive_error_limit = 1;
    let verdict = run(&[errors], &v, here, rx, &|m| seen.push(m)).await;
    let reason = verdict.reason().unwrap_or_default().to_string();
    assert!(matches!(verdict, Verdict::Inconclusive(_)), "{verdict:?}");
    assert!(
        reason.starts_with(&format!(
            "analysis success-rate: 2 errors in a row: prometheus {url}: cannot connect"
        )),
        "{reason}"
    );

    // A Prometheus that accepts but never answers: the timeout.
    let silent = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let mut m = prom(
        "m",
        &format!("http://{}", silent.local_addr().unwrap()),
        "vector(1)",
    );
    m.provider = match m.provider {
        Provider::Prometheus { url, query, .. } => Provider::Prometheus {
            url,
            query,
            timeout_ms: 300,
        },
        other => other,
    };
    let t = Instant::now();
    let got = measure(&m, &v, here).await;
    assert!(t.elapsed() < Duration::from_secs(2), "{:?}", t.elapsed());
    assert_eq!(
        got.message,
        format!(
            "prometheus http://{}: no answer within 300 ms",
            silent.local_addr().unwrap()
        )
    );
}
