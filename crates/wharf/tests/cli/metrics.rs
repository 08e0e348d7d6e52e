//! `wharf serve`'s `/metrics`, `/healthz` and `/readyz`: scraped and parsed as Prometheus
//! reads the text format, before and after a real run, and by a real Prometheus (Debian's
//! `prometheus`, which `.ci/run` installs).

use std::collections::BTreeMap;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use wharf_test_support::forge::{Forge, Kind};
use wharf_test_support::{KillOnDrop, free_port, http, require_program, wait_for_port};

use crate::server::Server;

const SECRET: &str = "webhook-secret-for-metrics-1";

/// Two jobs: one runs, one is skipped by its `if:`.
const PIPELINE: &str = r#"version: 1
on:
  push: { branches: ["**"] }
jobs:
  build:
    run: echo building
  never:
    if: event == 'tag'
    run: echo never
"#;

/// One sample: its metric name, labels and value.
#[derive(Debug, Clone, PartialEq)]
struct Sample {
    name: String,
    labels: BTreeMap<String, String>,
    value: f64,
}

/// Parses the text exposition format (Prometheus 0.0.4 and OpenMetrics text): comment
/// and blank lines skipped, each other line `name{label="value",…} value [timestamp]`,
/// label values with `\\`, `\"` and `\n` escapes. Panics on anything else.
fn parse(text: &str) -> Vec<Sample> {
    let mut samples = Vec::new();
    for line in text.lines() {
        if line.is_empty() || line.starts_with('#') {
            continue;
        }
        let name_end = line
            .find(|c: char| !(c.is_ascii_alphanumeric() || c == '_' || c == ':'))
            .unwrap_or(line.len());
        let name = &line[..name_end];
        assert!(
            !name.is_empty() && !name.starts_with(|c: char| c.is_ascii_digit()),
            "bad metric name in {line:?}"
        );
        let mut rest = &line[name_end..];
        let mut labels = BTreeMap::new();
        if let Some(mut r) = rest.strip_prefix('{') {
            loop {
                if let Some(after) = r.strip_prefix('}') {
                    rest = after;
                    break;
                }
                let (key, after) = r
                    .split_once("=\"")
                    .unwrap_or_else(|| panic!("bad labels in {line:?}"));
                assert!(
                    !key.is_empty() && key.chars().all(|c| c.is_ascii_alphanumeric() || c == '_'),
                    "bad label name {key:?} in {line:?}"
                );
                let mut value = String::new();
                let mut chars = after.char_indices();
                let end = loop {
                    match chars.next() {
                        Some((i, '"')) => break i + 1,
                        Some((_, '\\')) => match chars.next().map(|(_, c)| c) {
                            Some('\\') => value.push('\\'),
                            Some('"') => value.push('"'),
                            Some('n') => value.push('\n'),
                            other => panic!("bad escape {other:?} in {line:?}"),
                        },
                        Some((_, c)) => value.push(c),
                        None => panic!("unclosed label value in {line:?}"),
                    }
                };
                labels.insert(key.to_string(), value);
                r = &after[end..];
                r = r.strip_prefix(',').unwrap_or(r);
            }
        }
        let mut fields = rest.split_whitespace();
        let value = match fields
            .next()
            .unwrap_or_else(|| panic!("no value: {line:?}"))
        {
            "+Inf" => f64::INFINITY,
            "-Inf" => f64::NEG_INFINITY,
            v => v
                .parse()
                .unwrap_or_else(|e| panic!("{v:?} in {line:?}: {e}")),
        };
        samples.push(Sample {
            name: name.to_string(),
            labels,
            value,
        });
    }
    samples
}

/// The value of series `name{labels}` (exactly those labels); 0 when absent, as a counter
/// nobody moved yet.
fn value(samples: &[Sample], name: &str, labels: &[(&str, &str)]) -> f64 {
    let want: BTreeMap<String, String> = labels
        .iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect();
    samples
        .iter()
        .find(|s| s.name == name && s.labels == want)
        .map_or(0.0, |s| s.value)
}

/// `GET /metrics`, checked 200 and parsed.
fn scrape(s: &Server) -> Vec<Sample> {
    let a = http::get(&format!("{}/metrics", s.url), None);
    assert_eq!(a.status, 200, "{}", a.text());
    parse(&a.text())
}

/// Registers project `app` on a GitHub test forge, pushes the pipeline and waits for its
/// event to end `done`; the forge.
fn run_pipeline(s: &Server) -> Forge {
    let forge = Forge::start(Kind::Github, &s.hook("app"), SECRET);
    let args = [
        "project",
        "add",
        "app",
        "--repo",
        &forge.clone_url(),
        "--forge",
        "github",
        "--webhook-secret-stdin",
    ];
    s.admin(&args, SECRET).expect(0);
    forge.commit("wharf.yml", PIPELINE, "add the pipeline");
    assert!(forge.push("main").status.success());
    let push = forge
        .deliveries()
        .into_iter()
        .find(|d| d.status == Some(202))
        .unwrap_or_else(|| panic!("no delivery queued: {:?}", forge.deliveries()));
    let answer: serde_json::Value = serde_json::from_slice(&push.response).unwrap();
    let e = s.wait_event(answer["event"].as_i64().unwrap());
    assert_eq!(e["state"], "done", "{e}\n{}", s.log());
    forge
}

/// Scrapes until `done` holds of the samples (the run's last events are counted as the
/// recorder takes them), at most 10 s; the last scrape.
fn scrape_until(s: &Server, done: impl Fn(&[Sample]) -> bool) -> Vec<Sample> {
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let samples = scrape(s);
        if done(&samples) || Instant::now() > deadline {
            return samples;
        }
        std::thread::sleep(Duration::from_millis(100));
    }
}

#[test]
fn metrics_move_when_a_run_happens() {
    let s = Server::new();
    let before = scrape(&s);
    let app_success = [("project", "app"), ("status", "success")];
    assert_eq!(value(&before, "wharf_runs_total", &app_success), 0.0);
    assert_eq!(value(&before, "wharf_queue_depth", &[]), 0.0);
    assert_eq!(value(&before, "wharf_runs_running", &[]), 0.0);
    assert_eq!(value(&before, "wharf_log_followers", &[]), 0.0);
    assert!(value(&before, "wharf_database_size_bytes", &[]) > 0.0);
    let version = env!("CARGO_PKG_VERSION");
    assert_eq!(
        value(&before, "wharf_build_info", &[("version", version)]),
        1.0
    );
    let waited = value(&before, "wharf_queue_wait_seconds_count", &[]);

    let _forge = run_pipeline(&s);
    let after = scrape_until(&s, |m| value(m, "wharf_runs_total", &app_success) >= 1.0);
    assert_eq!(value(&after, "wharf_runs_total", &app_success), 1.0);
    assert_eq!(value(&after, "wharf_jobs_total", &app_success), 1.0);
    assert_eq!(
        value(
            &after,
            "wharf_jobs_total",
            &[("project", "app"), ("status", "skipped")]
        ),
        1.0
    );
    let app = [("project", "app")];
    assert_eq!(
        value(&after, "wharf_job_duration_seconds_count", &app),
        1.0,
        "one job ran"
    );
    assert_eq!(
        value(
            &after,
            "wharf_job_duration_seconds_bucket",
            &[("project", "app"), ("le", "+Inf")]
        ),
        1.0
    );
    assert!(value(&after, "wharf_job_duration_seconds_sum", &app) > 0.0);
    assert_eq!(value(&after, "wharf_queue_depth", &[]), 0.0);
    assert_eq!(value(&after, "wharf_runs_running", &[]), 0.0);
    assert_eq!(
        value(&after, "wharf_queue_wait_seconds_count", &[]),
        waited + 1.0
    );
    let github = |result| [("forge", "github"), ("result", result)];
    assert_eq!(
        value(&after, "wharf_webhook_deliveries_total", &github("queued")),
        1.0
    );

    // a delivery with a bad signature
    let body = br#"{"ref": "refs/heads/main"}"#;
    let a = http::request(
        "POST",
        &s.hook("app"),
        &[
            ("X-GitHub-Event", "push"),
            ("X-GitHub-Delivery", "forged-1"),
            ("X-Hub-Signature-256", &format!("sha256={}", "0".repeat(64))),
        ],
        body,
    );
    assert_eq!(a.status, 401, "{}", a.text());
    // and one for a project nobody registered: no forge to name
    let a = http::request("POST", &s.hook("nobody"), &[], body);
    assert_eq!(a.status, 404, "{}", a.text());
    let last = scrape(&s);
    assert_eq!(
        value(
            &last,
            "wharf_webhook_deliveries_total",
            &github("rejected_signature")
        ),
        1.0
    );
    assert_eq!(
        value(
            &last,
            "wharf_webhook_deliveries_total",
            &[("forge", "unknown"), ("result", "unknown_project")]
        ),
        1.0
    );
    assert_eq!(value(&last, "wharf_runs_total", &app_success), 1.0);
}

#[test]
fn metrics_speak_openmetrics_to_who_asks_and_prometheus_text_to_others() {
    let s = Server::new();
    let url = format!("{}/metrics", s.url);
    let plain = http::get(&url, None);
    assert_eq!(
        plain.header("content-type"),
        Some("text/plain; version=0.0.4; charset=utf-8")
    );
    assert!(!plain.text().contains("# EOF"), "{}", plain.text());
    // what Prometheus 2.42 sends
    let accept = "application/openmetrics-text;version=1.0.0,application/openmetrics-text;version=0.0.1;q=0.75,text/plain;version=0.0.4;q=0.5,*/*;q=0.1";
    let open = http::request("GET", &url, &[("Accept", accept)], b"");
    assert_eq!(open.status, 200);
    assert_eq!(
        open.header("content-type"),
        Some("application/openmetrics-text; version=1.0.0; charset=utf-8")
    );
    assert!(open.text().ends_with("# EOF\n"), "{}", open.text());
    for text in [plain.text(), open.text()] {
        let samples = parse(&text);
        for name in [
            "wharf_queue_depth",
            "wharf_runs_running",
            "wharf_log_followers",
            "wharf_database_size_bytes",
            "wharf_build_info",
            "wharf_queue_wait_seconds_count",
        ] {
            assert!(samples.iter().any(|s| s.name == name), "{name} in\n{text}");
        }
    }
}

#[test]
fn a_metrics_token_file_makes_metrics_ask_for_it_and_health_stays_open() {
    let mut s = Server::new();
    let file = s.data.path().join("metrics.token");
    std::fs::write(&file, "metrics-token-for-tests-7\n").unwrap();
    s.kill9();
    s.start(&["--metrics-token-file", file.to_str().unwrap()]);
    let url = format!("{}/metrics", s.url);
    let a = http::get(&url, None);
    assert_eq!(a.status, 401, "{}", a.text());
    assert!(
        a.json()["error"].as_str().unwrap().contains("Bearer"),
        "{}",
        a.text()
    );
    assert_eq!(http::get(&url, Some("wrong")).status, 401);
    let a = http::get(&url, Some("metrics-token-for-tests-7"));
    assert_eq!(a.status, 200, "{}", a.text());
    assert!(!parse(&a.text()).is_empty());
    assert_eq!(http::get(&format!("{}/healthz", s.url), None).status, 200);
    assert_eq!(http::get(&format!("{}/readyz", s.url), None).status, 200);

    // an empty token file is refused at start, not taken as "no token"
    std::fs::write(&file, "\n").unwrap();
    s.kill9();
    let out = Command::new(crate::helper::bin())
        .args(["serve", "--listen", "127.0.0.1:0", "--data-dir"])
        .arg(s.data.path())
        .args(["--metrics-token-file", file.to_str().unwrap()])
        .env_remove("WHARF_SECRET_KEY")
        .stdin(Stdio::null())
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("is empty"), "{err}");
}

#[test]
fn healthz_answers_and_readyz_follows_the_migrations() {
    let s = Server::new();
    let a = http::get(&format!("{}/healthz", s.url), None);
    assert_eq!((a.status, a.text().as_str()), (200, "ok\n"));
    let readyz = format!("{}/readyz", s.url);
    let a = http::get(&readyz, None);
    assert_eq!((a.status, a.text().as_str()), (200, "ready\n"));

    // the migrations table disagrees with the binary's migrations: not ready
    let db = s.data.path().join("server.db");
    let sql = |statement: &str| -> String {
        let out = Command::new("python3")
            .arg("-c")
            .arg(
                "import sqlite3, sys\n\
                 c = sqlite3.connect(sys.argv[1], timeout=10)\n\
                 for row in c.execute(sys.argv[2]): print(*row)\n\
                 c.commit()",
            )
            .arg(&db)
            .arg(statement)
            .output()
            .unwrap();
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
        String::from_utf8_lossy(&out.stdout).trim().to_string()
    };
    let checksum = sql("SELECT hex(checksum) FROM _sqlx_migrations WHERE version = 1");
    assert!(!checksum.is_empty());
    sql("UPDATE _sqlx_migrations SET checksum = x'00' WHERE version = 1");
    let a = http::get(&readyz, None);
    assert_eq!(a.status, 503, "{}", a.text());
    assert_eq!(a.json()["ready"], false);
    assert!(
        a.json()["error"].as_str().unwrap().contains("migration 1"),
        "{}",
        a.text()
    );
    assert_eq!(
        http::get(&format!("{}/healthz", s.url), None).status,
        200,
        "alive all the same"
    );
    sql(&format!(
        "UPDATE _sqlx_migrations SET checksum = x'{checksum}' WHERE version = 1"
    ));
    assert_eq!(http::get(&readyz, None).status, 200);
}

#[test]
fn the_test_parser_reads_the_exposition_format() {
    let text = "# HELP a_total A.\n# TYPE a_total counter\n\
                a_total{x=\"q\\\"uo\\\\te\\nnl\",y=\"\",} 3 1700000000\n\
                b 1.5e3\nc_bucket{le=\"+Inf\"} +Inf\n# EOF\n";
    let samples = parse(text);
    assert_eq!(samples.len(), 3, "{samples:?}");
    assert_eq!(
        value(&samples, "a_total", &[("x", "q\"uo\\te\nnl"), ("y", "")]),
        3.0
    );
    assert_eq!(value(&samples, "b", &[]), 1500.0);
    assert_eq!(
        value(&samples, "c_bucket", &[("le", "+Inf")]),
        f64::INFINITY
    );
    assert_eq!(value(&samples, "missing", &[]), 0.0);
}

/// Prometheus itself scrapes the server and answers a query for the runs it counted.
#[test]
fn prometheus_scrapes_the_server() {
    require_program("prometheus", "prometheus");
    let s = Server::new();
    let _forge = run_pipeline(&s);
    let dir = tempfile::tempdir().unwrap();
    let target = s.url.strip_prefix("http://").unwrap();
    let config = dir.path().join("prometheus.yml");
    std::fs::write(
        &config,
        format!(
            "global:\n  scrape_interval: 1s\n  evaluation_interval: 1s\n\
             scrape_configs:\n  - job_name: wharf\n    scrape_interval: 1s\n    scrape_timeout: 1s\n    static_configs:\n      - targets: ['{target}']\n"
        ),
    )
    .unwrap();
    let port = free_port();
    let log_path = dir.path().join("prometheus.log");
    let log = std::fs::File::create(&log_path).unwrap();
    let mut child = KillOnDrop(
        Command::new("prometheus")
            .arg(format!("--config.file={}", config.display()))
            .arg(format!(
                "--storage.tsdb.path={}",
                dir.path().join("data").display()
            ))
            .arg(format!("--web.listen-address=127.0.0.1:{port}"))
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(log)
            .spawn()
            .unwrap(),
    );
    wait_for_port(port, Duration::from_secs(30), "prometheus", &mut child.0);
    let query = format!("http://127.0.0.1:{port}/api/v1/query?query=wharf_runs_total");
    let deadline = Instant::now() + Duration::from_secs(60);
    let result = loop {
        let a = http::get(&query, None);
        if a.status == 200 {
            let v = a.json();
            assert_eq!(v["status"], "success", "{v}");
            let result = v["data"]["result"].as_array().cloned().unwrap_or_default();
            if !result.is_empty() {
                break result;
            }
        }
        assert!(
            Instant::now() < deadline,
            "Prometheus did not get wharf_runs_total (last answer {} {}); its log:\n{}",
            a.status,
            a.text(),
            std::fs::read_to_string(&log_path).unwrap_or_default()
        );
        std::thread::sleep(Duration::from_millis(250));
    };
    let series = &result[0];
    assert_eq!(series["metric"]["__name__"], "wharf_runs_total", "{series}");
    assert_eq!(series["metric"]["project"], "app", "{series}");
    assert_eq!(series["metric"]["status"], "success", "{series}");
    assert_eq!(series["metric"]["job"], "wharf", "{series}");
    assert_eq!(series["value"][1], "1", "{series}");
    // and the target is healthy: every scrape parsed
    let up = http::get(
        &format!("http://127.0.0.1:{port}/api/v1/query?query=up"),
        None,
    )
    .json();
    assert_eq!(up["data"]["result"][0]["value"][1], "1", "{up}");
}
