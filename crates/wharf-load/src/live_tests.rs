//! The generator against a small scripted HTTP/1.1 server on 127.0.0.1: counting,
//! warm-up, reconnection, each kind of error, cancellation, the open loop's schedule
//! and its latency accounting under a stall, and the SVG of real reports.

use std::net::SocketAddr;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::watch;

use crate::generator::{open_loop_latency, run_with_histogram};
use crate::{HumanDuration, LoadSpec, Mode, Phase, Report, run};

/// What the server does with one request.
#[derive(Debug, Clone)]
struct Reply {
    delay: Duration,
    status: u16,
    close: bool,
    /// Sent instead of an HTTP answer.
    raw: Option<&'static str>,
    /// Never answer.
    hang: bool,
}

impl Reply {
    fn ok() -> Reply {
        Reply {
            delay: Duration::ZERO,
            status: 200,
            close: false,
            raw: None,
            hang: false,
        }
    }
}

type Script = Arc<dyn Fn(u64, Duration) -> Reply + Send + Sync>;

/// A request as the server read it.
#[derive(Debug, Clone)]
struct Seen {
    head: String,
    body: Vec<u8>,
}

struct Server {
    addr: SocketAddr,
    requests: Arc<AtomicU64>,
    connections: Arc<AtomicU64>,
    seen: Arc<Mutex<Vec<Seen>>>,
    task: tokio::task::JoinHandle<()>,
}

impl Drop for Server {
    fn drop(&mut self) {
        self.task.abort();
    }
}

impl Server {
    async fn start(script: impl Fn(u64, Duration) -> Reply + Send + Sync + 'static) -> Server {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let requests = Arc::new(AtomicU64::new(0));
        let connections = Arc::new(AtomicU64::new(0));
        let seen = Arc::new(Mutex::new(Vec::new()));
        let script: Script = Arc::new(script);
        let started = Instant::now();
        let (r, c, s) = (requests.clone(), connections.clone(), seen.clone());
        let task = tokio::spawn(async move {
            loop {
                let Ok((stream, _)) = listener.accept().await else {
                    return;
                };
                c.fetch_add(1, Ordering::SeqCst);
                let (r, s, script) = (r.clone(), s.clone(), script.clone());
                tokio::spawn(serve(stream, r, s, script, started));
            }
        });
        Server {
            addr,
            requests,
            connections,
            seen,
            task,
        }
    }

    fn url(&self, path: &str) -> String {
        format!("http://{}{path}", self.addr)
    }
}

async fn serve(
    mut stream: TcpStream,
    requests: Arc<AtomicU64>,
    seen: Arc<Mutex<Vec<Seen>>>,
    script: Script,
    started: Instant,
) {
    let _ = stream.set_nodelay(true);
    let mut buf = Vec::new();
    loop {
        let head_end = loop {
            if let Some(i) = buf.windows(4).position(|w| w == b"\r\n\r\n") {
                break i + 4;
            }
            let mut chunk = [0u8; 4096];
            match stream.read(&mut chunk).await {
                Ok(0) | Err(_) => return,
                Ok(n) => buf.extend_from_slice(&chunk[..n]),
            }
        };
        let head = String::from_utf8_lossy(&buf[..head_end]).into_owned();
        let length: usize = head
            .lines()
            .find_map(|l| {
                let (k, v) = l.split_once(':')?;
                k.eq_ignore_ascii_case("content-length")
                    .then(|| v.trim().parse().ok())?
            })
            .unwrap_or(0);
        while buf.len() < head_end + length {
            let mut chunk = [0u8; 4096];
            match stream.read(&mut chunk).await {
                Ok(0) | Err(_) => return,
                Ok(n) => buf.extend_from_slice(&chunk[..n]),
            }
        }
        let body = buf[head_end..head_end + length].to_vec();
        buf.drain(..head_end + length);
        seen.lock().unwrap().push(Seen { head, body });
        let index = requests.fetch_add(1, Ordering::SeqCst);
        let reply = script(index, started.elapsed());
        if reply.hang {
            std::future::pending::<()>().await;
        }
        tokio::time::sleep(reply.delay).await;
        let answer = match reply.raw {
            Some(raw) => raw.to_owned(),
            None => format!(
                "HTTP/1.1 {} X\r\ncontent-length: 2\r\n{}\r\nok",
                reply.status,
                if reply.close {
                    "connection: close\r\n"
                } else {
                    ""
                }
            ),
        };
        if stream.write_all(answer.as_bytes()).await.is_err() || reply.close || reply.raw.is_some()
        {
            return;
        }
    }
}

fn spec(url: String, connections: u32, duration_ms: u64) -> LoadSpec {
    let mut s = LoadSpec::new(url);
    s.connections = Some(connections);
    s.duration = HumanDuration::millis(duration_ms);
    s
}

async fn go(s: &LoadSpec) -> Report {
    let (_tx, rx) = watch::channel(false);
    run(s, rx, |_| {}).await.expect("runs")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_closed_loop_counts_every_answer_and_reports_progress() {
    let server = Server::start(|_, _| Reply::ok()).await;
    let mut s = spec(server.url("/"), 2, 1_300);
    s.thresholds.p99 = Some(HumanDuration::secs(1));
    s.thresholds.error_rate = Some(0.0);
    s.thresholds.throughput = Some(1.0);
    let (_tx, rx) = watch::channel(false);
    let mut seen = Vec::new();
    let r = run(&s, rx, |p| seen.push(p.clone())).await.unwrap();
    assert!(r.requests > 10, "{}", r.summary());
    assert_eq!(r.requests, server.requests.load(Ordering::SeqCst));
    assert_eq!(r.responses, r.requests);
    assert_eq!(r.status_classes.get("2xx"), Some(&r.requests));
    assert_eq!(r.errors.total, 0);
    assert_eq!(server.connections.load(Ordering::SeqCst), 2, "keep-alive");
    let l = r.latency.as_ref().unwrap();
    assert!(l.min_us <= l.p50_us && l.p50_us <= l.p99_us && l.p99_us <= l.max_us);
    assert!((r.measured_secs - 1.3).abs() < 1e-6);
    assert!((r.throughput - r.responses as f64 / 1.3).abs() < 1e-6);
    assert!(r.passed && r.checks.len() == 3, "{:?}", r.checks);
    assert!(!r.cancelled && r.unsent == 0);
    assert_eq!(
        r.histogram.iter().map(|b| b.count).sum::<u64>(),
        r.responses
    );
    assert!(!seen.is_empty(), "a progress report every second");
    assert_eq!(seen[0].phase, Phase::Measuring);
    assert!(seen[0].requests > 0);
    assert!(
        seen[0].to_string().starts_with("measuring, 1s of 1s: "),
        "{}",
        seen[0]
    );
    let json: serde_json::Value = serde_json::from_str(&r.to_json().unwrap()).unwrap();
    for key in [
        "p50_us", "p75_us", "p90_us", "p99_us", "p99_9_us", "max_us", "mean_us", "stdev_us",
    ] {
        assert!(json["latency"][key].is_number(), "{key}");
    }
    assert_eq!(
        json["mode"],
        serde_json::json!({"loop": "closed", "connections": 2})
    );
    assert_eq!(json["checks"][0]["metric"], "p99");
    // Floats may come back one ULP off (serde_json's fast parsing): compare the rest.
    let back: Report = serde_json::from_value(json).unwrap();
    let counts = |r: &Report| r.histogram.iter().map(|b| b.count).collect::<Vec<_>>();
    // A check's measured value is a float too: its metric and verdict must match.
    let verdicts = |r: &Report| {
        r.checks
            .iter()
            .map(|c| (format!("{:?}", c.metric), c.passed))
            .collect::<Vec<_>>()
    };
    assert_eq!(
        (
            back.requests,
            &back.status_classes,
            &back.errors,
            verdicts(&back),
            counts(&back)
        ),
        (
            r.requests,
            &r.status_classes,
            &r.errors,
            verdicts(&r),
            counts(&r)
        )
    );
    assert_eq!(back.latency.unwrap().p99_9_us, l.p99_9_us);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn warm_up_requests_are_sent_but_not_counted() {
    let server = Server::start(|_, _| Reply {
        delay: Duration::from_millis(2),
        ..Reply::ok()
    })
    .await;
    let mut s = spec(server.url("/"), 1, 300);
    s.warm_up = HumanDuration::millis(300);
    let r = go(&s).await;
    assert!(r.warm_up_requests > 5 && r.requests > 5, "{r:?}");
    assert_eq!(
        r.warm_up_requests + r.requests,
        server.requests.load(Ordering::SeqCst)
    );
    assert!((r.measured_secs - 0.3).abs() < 1e-6);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sends_the_method_headers_and_body_asked_for() {
    let server = Server::start(|_, _| Reply::ok()).await;
    let mut s = spec(server.url("/api?x=1"), 1, 100);
    s.method = "post".to_owned();
    s.body = Some("{\"a\":1}".to_owned());
    s.headers.insert("X-Token".to_owned(), "t0k".to_owned());
    s.headers
        .insert("host".to_owned(), "preview.app".to_owned());
    go(&s).await;
    let seen = server.seen.lock().unwrap()[0].clone();
    let head = seen.head.to_ascii_lowercase();
    assert!(head.starts_with("post /api?x=1 http/1.1\r\n"), "{head}");
    assert!(head.contains("\r\nhost: preview.app\r\n"), "{head}");
    assert!(head.contains("\r\nx-token: t0k\r\n"), "{head}");
    assert!(head.contains("\r\ncontent-length: 7\r\n"), "{head}");
    assert!(head.contains("\r\nuser-agent: wharf-load/"), "{head}");
    assert_eq!(seen.body, b"{\"a\":1}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn reconnects_when_the_server_closes_each_connection() {
    let server = Server::start(|_, _| Reply {
        close: true,
        ..Reply::ok()
    })
    .await;
    let r = go(&spec(server.url("/"), 2, 300)).await;
    assert!(r.requests > 5);
    assert_eq!(r.errors.total, 0, "{:?}", r.error_samples);
    assert_eq!(server.connections.load(Ordering::SeqCst), r.requests);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_refused_port_is_all_connect_errors_and_fails_every_check() {
    let port = {
        let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        l.local_addr().unwrap().port()
    };
    let mut s = spec(format!("http://127.0.0.1:{port}/"), 2, 200);
    s.thresholds.p99 = Some(HumanDuration::millis(50));
    s.thresholds.error_rate = Some(0.01);
    let r = go(&s).await;
    assert!(r.requests > 0);
    assert_eq!(r.errors.connect, r.requests);
    assert_eq!(r.error_rate, 1.0);
    assert_eq!(r.responses, 0);
    assert!(r.latency.is_none() && r.histogram.is_empty());
    assert!(!r.passed);
    assert_eq!(
        r.failures().map(ToString::to_string).collect::<Vec<_>>(),
        [
            "p99: no answers to measure (limit 50ms): FAILED",
            "error-rate 100 % > 1 %: FAILED"
        ]
    );
    assert!(
        r.error_samples[0].starts_with(&format!("connect to 127.0.0.1:{port}: ")),
        "{:?}",
        r.error_samples
    );
    // Paced by CONNECT_RETRY_PAUSE, not a tight loop.
    assert!(r.requests <= 2 * 200 / 10 + 2, "{}", r.requests);
    let text = svg_parses(&r.svg());
    assert!(text.contains("no answers to plot"), "{text}");
    assert!(
        text.contains("p99: no answers to measure (limit 50ms): FAILED"),
        "{text}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn each_error_kind_is_counted_as_such() {
    let server = Server::start(|i, _| match i % 4 {
        0 => Reply {
            status: 503,
            ..Reply::ok()
        },
        1 => Reply {
            raw: Some("HELLO\r\n\r\n"),
            ..Reply::ok()
        },
        2 => Reply {
            raw: Some("HTTP/1.1 200 OK\r\ncontent-length: 10\r\n\r\nok"),
            ..Reply::ok()
        },
        _ => Reply {
            hang: true,
            ..Reply::ok()
        },
    })
    .await;
    let mut s = spec(server.url("/"), 1, 600);
    s.timeout = HumanDuration::millis(100);
    let r = go(&s).await;
    let e = &r.errors;
    assert!(
        e.status >= 1 && e.protocol >= 1 && e.closed >= 1 && e.timeout >= 1,
        "{e:?}"
    );
    assert_eq!(e.connect, 0);
    assert_eq!(e.total, e.status + e.protocol + e.closed + e.timeout);
    assert_eq!(r.status_classes.get("5xx"), Some(&e.status));
    assert_eq!(r.responses, e.status, "only the 503s are complete answers");
    assert_eq!(r.error_rate, 1.0);
    assert!(
        r.error_samples
            .contains(&"no complete answer within 100ms".to_owned()),
        "{:?}",
        r.error_samples
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn cancelling_stops_at_once_with_what_was_measured() {
    let server = Server::start(|_, _| Reply::ok()).await;
    let s = spec(server.url("/"), 2, 30_000);
    let (tx, rx) = watch::channel(false);
    let started = Instant::now();
    let canceller = tokio::spawn(async move {
        tokio::time::sleep(Duration::from_millis(200)).await;
        tx.send(true).unwrap();
        tx
    });
    let r = run(&s, rx, |_| {}).await.unwrap();
    assert!(started.elapsed() < Duration::from_secs(10));
    assert!(r.cancelled && r.requests > 0);
    assert!(
        r.measured_secs >= 0.2 && r.measured_secs < 10.0,
        "{}",
        r.measured_secs
    );
    drop(canceller.await);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_open_loop_sends_its_schedule_whatever_the_answers() {
    let server = Server::start(|_, _| Reply::ok()).await;
    let mut s = spec(server.url("/"), 2, 1_000);
    s.rate = Some(100.0);
    let r = go(&s).await;
    assert_eq!(
        r.mode,
        Mode::Open {
            rate: 100.0,
            connections: 2
        }
    );
    // 2 connections x 50 slots, 20 ms apart, staggered by 10 ms.
    assert_eq!(r.requests + r.unsent, 100);
    assert_eq!(r.unsent, 0);
    assert_eq!(server.requests.load(Ordering::SeqCst), 100);
}

/// A server slower than the rate: the schedule falls behind, each late request is
/// charged its wait, the slots never reached are counted as unsent, and the throughput
/// threshold fails.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_open_loop_above_capacity_charges_the_backlog_and_counts_the_unsent() {
    let server = Server::start(|_, _| Reply {
        delay: Duration::from_millis(50),
        ..Reply::ok()
    })
    .await;
    let mut s = spec(server.url("/"), 1, 1_000);
    s.rate = Some(100.0);
    s.thresholds.throughput = Some(90.0);
    let r = go(&s).await;
    assert_eq!(r.requests + r.unsent, 100, "{}", r.summary());
    assert!(r.unsent >= 60, "{}", r.unsent);
    // The last request sent was due at ~190 ms and answered at ~1 s.
    assert!(
        r.latency.as_ref().unwrap().max_us >= 500_000,
        "{:?}",
        r.latency
    );
    assert!(!r.passed);
    assert!(
        r.checks[0].to_string().ends_with("< 90 requests/s: FAILED"),
        "{}",
        r.checks[0]
    );
}

/// The server stalls one request for 500 ms. The closed loop sees one slow request;
/// the open loop also charges the ~100 requests scheduled during the stall, which
/// could not be sent (one connection), with their wait. Lower bounds only: a loaded
/// machine makes latencies longer, never shorter.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_open_loop_charges_a_stall_to_every_request_it_held_back() {
    fn stall_once() -> impl Fn(u64, Duration) -> Reply + Send + Sync + 'static {
        let stalled = AtomicBool::new(false);
        move |_, since| {
            let stall =
                since >= Duration::from_millis(1_000) && !stalled.swap(true, Ordering::SeqCst);
            Reply {
                delay: if stall {
                    Duration::from_millis(500)
                } else {
                    Duration::ZERO
                },
                ..Reply::ok()
            }
        }
    }
    let open_server = Server::start(stall_once()).await;
    let mut open = spec(open_server.url("/"), 1, 3_000);
    open.rate = Some(200.0);
    let open_hist = run_hist(&open).await;

    let closed_server = Server::start(stall_once()).await;
    let closed_hist = run_hist(&spec(closed_server.url("/"), 1, 3_000)).await;

    let slow = |h: &hdrhistogram::Histogram<u64>| h.count_between(250_000, u64::MAX);
    // Slots every 5 ms; those due in the stall's first 250 ms wait at least 250 ms.
    assert!(
        slow(&open_hist) >= 45,
        "open loop: {} slow",
        slow(&open_hist)
    );
    assert!(open_hist.value_at_quantile(0.99) >= 250_000);
    assert!(open_hist.max() >= 500_000 && closed_hist.max() >= 500_000);
    assert!(
        slow(&closed_hist) < slow(&open_hist),
        "closed loop: {} slow of {}",
        slow(&closed_hist),
        closed_hist.len()
    );
}

/// The run's merged histogram.
async fn run_hist(s: &LoadSpec) -> hdrhistogram::Histogram<u64> {
    let (_tx, rx) = watch::channel(false);
    let (r, h) = run_with_histogram(s, rx, |_| {}).await.unwrap();
    assert_eq!(h.len(), r.responses);
    h
}

#[test]
fn open_loop_latency_charges_waiting_for_the_connection_not_the_generators_lag() {
    let t = Instant::now();
    let ms = |n: u64| tokio::time::Instant::from_std(t + Duration::from_millis(n));
    // Idle connection, the timer woke 1 ms late: only the 5 ms exchange counts.
    assert_eq!(
        open_loop_latency(ms(100), ms(100), ms(101), ms(106)),
        Duration::from_millis(5)
    );
    // The connection was busy until 400 with a stalled answer: the 300 ms wait counts.
    assert_eq!(
        open_loop_latency(ms(100), ms(400), ms(400), ms(405)),
        Duration::from_millis(305)
    );
    // Busy, and then sent 2 ms late by the generator: the wait counts, the lag not.
    assert_eq!(
        open_loop_latency(ms(100), ms(400), ms(402), ms(407)),
        Duration::from_millis(305)
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_svg_of_a_real_report_is_well_formed_with_its_markers_and_thresholds() {
    let server = Server::start(|i, _| Reply {
        delay: Duration::from_millis(if i % 10 == 0 { 8 } else { 2 }),
        ..Reply::ok()
    })
    .await;
    let mut s = spec(server.url("/a?b=1&c='2'"), 2, 400);
    s.thresholds.p50 = Some(HumanDuration::secs(1));
    s.thresholds.p99 = Some(HumanDuration::millis(1));
    s.thresholds.error_rate = Some(0.5);
    s.thresholds.throughput = Some(1.0);
    let r = go(&s).await;
    let svg = r.svg();
    let text = svg_parses(&svg);
    assert!(
        text.contains(&format!("GET http://{}/a?b=1&c='2'", server.addr)),
        "{text}"
    );
    assert!(
        text.contains("400ms measured, closed loop, 2 connections"),
        "{text}"
    );
    assert!(text.contains("requests/s"), "{text}");
    for needle in [
        "p50 ",
        "p90 ",
        "p99 ",
        "p50 ≤ 1 s: passed",
        "p99 ≤ 1 ms: FAILED",
    ] {
        assert!(text.contains(needle), "{needle} in {text}");
    }
    assert!(text.contains("error-rate 0 % <= 50 %: passed"), "{text}");
    assert!(text.contains("latency (log scale)") && text.contains("% of answers"));
    assert!(text.contains(" ms"), "axis labels with units: {text}");
}

/// Parses `svg` as XML (each element closed in order) and returns its text content.
fn svg_parses(svg: &str) -> String {
    use quick_xml::events::Event;
    let mut reader = quick_xml::Reader::from_str(svg);
    let mut text = String::new();
    let mut depth = 0_i32;
    let mut elements = 0;
    loop {
        match reader.read_event() {
            Ok(Event::Start(e)) => {
                if depth == 0 {
                    assert_eq!(e.name().as_ref(), "svg");
                }
                depth += 1;
                elements += 1;
            }
            Ok(Event::End(_)) => {
                depth -= 1;
                text.push('\n');
            }
            Ok(Event::Empty(_)) => elements += 1,
            Ok(Event::Text(t)) => {
                text.push_str(&t.xml10_content());
            }
            Ok(Event::GeneralRef(r)) => {
                let name = r.xml10_content();
                text.push_str(match name.as_ref() {
                    "amp" => "&",
                    "lt" => "<",
                    "gt" => ">",
                    "quot" => "\"",
                    "apos" => "'",
                    other => panic!("unknown entity {other}"),
                });
            }
            Ok(Event::Eof) => break,
            Ok(_) => {}
            Err(e) => panic!(
                "not well-formed at {}: {e}\n{svg}",
                reader.buffer_position()
            ),
        }
    }
    assert_eq!(depth, 0, "every element closed");
    assert!(elements > 5);
    text
}
