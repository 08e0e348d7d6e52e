//! The deployment tests' test app (busybox httpd with knobs) on the host and in a Docker
//! Engine, and the load client against it and against stub servers.

use std::io::{BufRead, BufReader, Write};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use wharf_test_support::app::{self, AppKnobs, HostApp};
use wharf_test_support::docker::{docker, docker_ok, require_engine};
use wharf_test_support::http::{self, Answer};
use wharf_test_support::load::{self, LoadSpec};

/// The app on the host, with its rootfs (removed after the app is killed).
struct TestApp {
    app: HostApp,
    _dir: tempfile::TempDir,
}

fn host_app(knobs: AppKnobs) -> TestApp {
    let dir = tempfile::tempdir().unwrap();
    app::write_app_rootfs(dir.path(), &knobs);
    let app = app::run_app_on_host(dir.path());
    TestApp { app, _dir: dir }
}

fn get(url: &str) -> Answer {
    http::request("GET", url, &[], b"")
}

#[test]
fn the_host_app_answers_its_release_on_every_endpoint() {
    let t = host_app(AppKnobs::new("v1.2-rc1"));
    let a = get(&t.app.url(app::APP_PATH));
    assert_eq!(a.status, 200, "{}", t.app.log());
    assert_eq!(a.text(), "v1.2-rc1");
    assert_eq!(a.header("x-release"), Some("v1.2-rc1"));
    assert_eq!(a.header("content-length"), Some("8"));
    let a = get(&t.app.url("/?some=query"));
    assert_eq!((a.status, a.text().as_str()), (200, "v1.2-rc1"));
    let a = get(&t.app.url(app::HEALTH_PATH));
    assert_eq!(a.status, 200);
    assert_eq!(a.header("x-release"), Some("v1.2-rc1"));
    let a = get(&t.app.url("/nowhere/"));
    assert_eq!(a.status, 404);
    assert_eq!(a.header("x-release"), Some("v1.2-rc1"));
    let a = get(&t.app.url("/slow/?soon"));
    assert_eq!(a.status, 400);
    assert_eq!(a.header("x-release"), Some("v1.2-rc1"));
    // busybox's own answer, as documented: no trailing slash, no CGI
    assert_eq!(get(&t.app.url("/up")).status, 404);
}

#[test]
fn the_host_app_health_answers_the_configured_status() {
    let t = host_app(AppKnobs {
        health_status: 500,
        ..AppKnobs::new("sick")
    });
    let a = get(&t.app.url(app::HEALTH_PATH));
    assert_eq!(a.status, 500);
    assert_eq!(a.header("x-release"), Some("sick"));
    assert_eq!(get(&t.app.url(app::APP_PATH)).status, 200);
}

#[test]
fn the_host_app_is_unhealthy_during_its_slow_start() {
    let t = host_app(AppKnobs {
        slow_start_ms: 1500,
        ..AppKnobs::new("slow")
    });
    let first = get(&t.app.url(app::HEALTH_PATH));
    assert_eq!(first.status, 503, "{}", first.text());
    assert_eq!(first.header("x-release"), Some("slow"));
    assert_eq!(
        get(&t.app.url(app::APP_PATH)).status,
        200,
        "the app answers"
    );
    let healthy_after = loop {
        let a = get(&t.app.url(app::HEALTH_PATH));
        if a.status == 200 {
            break t.app.uptime();
        }
        assert_eq!(a.status, 503);
        assert!(t.app.uptime() < Duration::from_secs(5), "never healthy");
        std::thread::sleep(Duration::from_millis(25));
    };
    assert!(
        healthy_after >= Duration::from_millis(1500) && healthy_after < Duration::from_millis(2500),
        "healthy after {healthy_after:?}"
    );
}

#[test]
fn the_host_app_fails_the_configured_share_of_requests() {
    let t = host_app(AppKnobs {
        error_percent: 20,
        ..AppKnobs::new("flaky")
    });
    let load = load::start(LoadSpec {
        connections: 8,
        ..LoadSpec::new(t.app.addr(), app::APP_PATH)
    });
    let deadline = Instant::now() + Duration::from_secs(60);
    while load.requests() < 2000 {
        assert!(Instant::now() < deadline, "{}", load.snapshot().summary());
        std::thread::sleep(Duration::from_millis(20));
    }
    let r = load.stop();
    eprintln!("as fast as possible, 8 connections: {}", r.summary());
    assert_eq!(r.error_count, 0, "{}", r.summary());
    assert_eq!(
        r.by_release.len(),
        1,
        "X-Release on every answer: {}",
        r.summary()
    );
    assert_eq!(r.count("flaky"), r.requests);
    let errors = r.by_status.get(&500).copied().unwrap_or(0);
    assert_eq!(errors + r.by_status[&200], r.requests, "{}", r.summary());
    let percent = errors as f64 * 100.0 / r.requests as f64;
    eprintln!(
        "error_percent 20: measured {percent:.1} % of {}",
        r.requests
    );
    assert!(
        (16.0..=24.0).contains(&percent),
        "{percent:.1} % of {} requests failed, want 20 ± 4",
        r.requests
    );
}

#[test]
fn the_host_app_honours_latency_and_the_slow_endpoint() {
    let t = host_app(AppKnobs {
        latency_ms: 300,
        ..AppKnobs::new("v2")
    });
    let started = Instant::now();
    let a = get(&t.app.url(app::APP_PATH));
    let took = started.elapsed();
    assert_eq!((a.status, a.text().as_str()), (200, "v2"));
    assert!(
        took >= Duration::from_millis(300) && took < Duration::from_millis(1000),
        "{took:?}"
    );
    // the health check is not slowed down
    let started = Instant::now();
    assert_eq!(get(&t.app.url(app::HEALTH_PATH)).status, 200);
    assert!(started.elapsed() < Duration::from_millis(300));
    let started = Instant::now();
    let a = get(&t.app.url(&format!("{}?2", app::SLOW_PATH)));
    let took = started.elapsed();
    assert_eq!(a.status, 200);
    assert_eq!(a.header("x-release"), Some("v2"));
    assert!(
        took >= Duration::from_secs(2) && took < Duration::from_millis(2800),
        "{took:?}"
    );
}

#[test]
fn the_host_app_crashes_or_never_listens_when_told() {
    let mut crashing = host_app(AppKnobs {
        crash_after_ms: Some(700),
        ..AppKnobs::new("doomed")
    });
    assert_eq!(get(&crashing.app.url(app::APP_PATH)).status, 200);
    let status = crashing
        .app
        .wait_exit(Duration::from_secs(5))
        .expect("the app did not crash");
    assert_eq!(status.code(), Some(1));
    assert!(crashing.app.uptime() >= Duration::from_millis(700));
    assert!(crashing.app.log().contains("crashing as told"));
    let gone = Instant::now() + Duration::from_secs(1);
    while TcpStream::connect(crashing.app.addr()).is_ok() {
        assert!(Instant::now() < gone, "httpd went with it");
        std::thread::sleep(Duration::from_millis(10));
    }

    let mut mute = host_app(AppKnobs {
        listen: false,
        ..AppKnobs::new("mute")
    });
    std::thread::sleep(Duration::from_millis(300));
    assert!(TcpStream::connect(mute.app.addr()).is_err());
    assert!(mute.app.exit_status().is_none(), "it waits forever");
}

#[test]
fn the_load_client_holds_200_requests_per_second_on_8_connections() {
    let t = host_app(AppKnobs::new("steady"));
    let load = load::start(LoadSpec {
        connections: 8,
        rate_per_sec: Some(200),
        ..LoadSpec::new(t.app.addr(), app::APP_PATH)
    });
    std::thread::sleep(Duration::from_secs(3));
    let r = load.stop();
    eprintln!("200/s on 8 connections for 3 s: {}", r.summary());
    assert!((580..=620).contains(&r.requests), "{}", r.summary());
    assert_eq!((r.error_count, r.failed), (0, 0), "{}", r.summary());
    assert_eq!(r.count("steady"), r.requests);
    assert_eq!(r.by_status[&200], r.requests);
    assert_eq!(r.samples.len() as u64, r.requests);
    assert!(r.first_at_ms("steady").unwrap() < 10);
    assert!(r.last_at_ms("steady").unwrap() > 2900);
    assert_eq!(r.first_at_ms("other"), None);
    // evenly spread: about 100 requests in every 500 ms
    for from in (0..2500).step_by(500) {
        let n = r
            .samples
            .iter()
            .filter(|s| (from..from + 500).contains(&s.at_ms))
            .count();
        assert!(
            (85..=115).contains(&n),
            "{n} requests sent at {from}..+500 ms"
        );
    }
}

/// A tiny HTTP/1.1 server whose answers depend on the path; counts connections.
struct Stub {
    addr: SocketAddr,
    connections: Arc<AtomicUsize>,
}

fn stub() -> Stub {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = listener.local_addr().unwrap();
    let connections = Arc::new(AtomicUsize::new(0));
    let count = connections.clone();
    std::thread::spawn(move || {
        for stream in listener.incoming() {
            let Ok(stream) = stream else { continue };
            count.fetch_add(1, Ordering::SeqCst);
            std::thread::spawn(move || serve_stub(stream));
        }
    });
    Stub { addr, connections }
}

fn serve_stub(stream: TcpStream) {
    let mut reader = BufReader::new(stream.try_clone().unwrap());
    let mut out = stream;
    loop {
        let mut request_line = String::new();
        if reader.read_line(&mut request_line).unwrap_or(0) == 0 {
            return;
        }
        loop {
            let mut line = String::new();
            if reader.read_line(&mut line).unwrap_or(0) == 0 {
                return;
            }
            if line == "\r\n" {
                break;
            }
        }
        let path = request_line.split(' ').nth(1).unwrap_or("");
        let answer: &[u8] = match path {
            "/keep-alive" => b"HTTP/1.1 200 OK\r\nContent-Length: 5\r\nX-Release: ka\r\n\r\nhello",
            "/chunked" => {
                b"HTTP/1.1 100 Continue\r\n\r\nHTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\
                  x-release: ch\r\n\r\n5;ext=1\r\nhello\r\n1\r\n!\r\n0\r\nX-Trailer: t\r\n\r\n"
            }
            "/close" => {
                b"HTTP/1.1 503 Busy\r\nContent-Length: 4\r\nConnection: close\r\nX-Release: cl\r\n\r\nbusy"
            }
            "/eof" => b"HTTP/1.1 200 OK\r\nX-Release: eof\r\n\r\nuntil the end",
            "/cut" => b"HTTP/1.1 200 OK\r\nContent-Length: 100\r\nX-Release: cut\r\n\r\nabc",
            "/idle" => b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\nX-Release: idle\r\n\r\nok",
            _ => b"HTTP/1.1 404 Not Found\r\nContent-Length: 0\r\n\r\n",
        };
        if out.write_all(answer).is_err() {
            return;
        }
        match path {
            "/close" | "/eof" | "/cut" => return,
            // keep-alive, but closed once idle for a moment (the client must not count
            // that against the next request)
            "/idle" => {
                std::thread::sleep(Duration::from_millis(20));
                return;
            }
            _ => {}
        }
    }
}

fn stub_load(stub: &Stub, path: &str, connections: usize) -> load::LoadReport {
    let load = load::start(LoadSpec {
        connections,
        rate_per_sec: Some(40),
        ..LoadSpec::new(stub.addr, path)
    });
    std::thread::sleep(Duration::from_millis(1000));
    load.stop()
}

#[test]
fn the_load_client_reads_every_framing_and_reconnects_when_the_server_closes() {
    let s = stub();
    let r = stub_load(&s, "/keep-alive", 2);
    assert_eq!(
        (r.error_count, r.count("ka")),
        (0, r.requests),
        "{}",
        r.summary()
    );
    assert!(r.requests >= 38, "{}", r.summary());
    assert_eq!(s.connections.load(Ordering::SeqCst), 2, "kept alive");

    let s = stub();
    let r = stub_load(&s, "/chunked", 2);
    assert_eq!(
        (r.error_count, r.count("ch")),
        (0, r.requests),
        "{}",
        r.summary()
    );
    assert_eq!(s.connections.load(Ordering::SeqCst), 2, "kept alive");

    for (path, release, status) in [
        ("/close", "cl", 503),
        ("/eof", "eof", 200),
        ("/idle", "idle", 200),
    ] {
        let s = stub();
        let r = stub_load(&s, path, 2);
        assert_eq!(r.error_count, 0, "{path}: {}", r.summary());
        assert_eq!(r.by_status[&status], r.requests, "{path}: {}", r.summary());
        assert_eq!(r.count(release), r.requests, "{path}");
        assert_eq!(
            s.connections.load(Ordering::SeqCst) as u64,
            r.requests,
            "{path}: one connection per request"
        );
        assert_eq!(r.failed, if status == 503 { r.requests } else { 0 });
    }
}

#[test]
fn the_load_client_counts_a_close_in_the_middle_of_an_answer_as_an_error() {
    let s = stub();
    let r = stub_load(&s, "/cut", 1);
    assert!(r.requests >= 38, "{}", r.summary());
    assert_eq!(r.error_count, r.requests, "{}", r.summary());
    assert_eq!(r.failed, r.requests);
    assert!(r.by_status.is_empty() && r.by_release.is_empty());
    assert_eq!(r.errors.len(), load::KEPT_ERRORS);
    assert!(
        r.errors[0].contains("closed the connection in the middle of an answer"),
        "{:?}",
        r.errors
    );
    assert!(
        r.samples
            .iter()
            .all(|s| s.status == 0 && s.release.is_empty())
    );

    // nothing listening: every request is an error, and the client does not spin
    let closed = TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap();
    let load = load::start(LoadSpec::new(closed, "/"));
    std::thread::sleep(Duration::from_millis(300));
    let r = load.stop();
    assert_eq!(r.error_count, r.requests);
    assert!((10..=100).contains(&r.requests), "{}", r.summary());
    assert!(r.errors[0].contains("cannot connect"), "{:?}", r.errors);
}

#[test]
fn long_requests_keep_requests_in_flight_and_stop_waits_for_them() {
    let t = host_app(AppKnobs::new("long"));
    let long = load::long_requests(t.app.addr(), None, &format!("{}?1", app::SLOW_PATH), 3);
    std::thread::sleep(Duration::from_millis(2500));
    let stopping = Instant::now();
    let r = long.stop();
    let waited = stopping.elapsed();
    eprintln!("long requests: {} (stop waited {waited:?})", r.summary());
    assert_eq!(
        r.requests,
        9,
        "3 connections × 3 requests of 1 s: {}",
        r.summary()
    );
    assert_eq!((r.failed, r.count("long")), (0, 9), "{}", r.summary());
    assert!(r.latencies_us.iter().all(|&us| us >= 1_000_000));
    assert!(
        waited >= Duration::from_millis(300),
        "the third round was in flight"
    );
}

#[test]
fn sticky_check_sees_one_release_per_key() {
    let t = host_app(AppKnobs::new("only"));
    let seen = load::sticky_check(t.app.addr(), Some("app.example.com"), "uid", 20, 5);
    assert_eq!(seen.len(), 20);
    for (key, releases) in &seen {
        assert!(key.starts_with("user-"));
        assert_eq!(releases.iter().collect::<Vec<_>>(), ["only"], "{key}");
    }
}

/// Removes the container (and the image) even when the test fails.
struct Cleanup(Vec<Vec<String>>);

impl Drop for Cleanup {
    fn drop(&mut self) {
        for args in &self.0 {
            let args: Vec<&str> = args.iter().map(String::as_str).collect();
            let _ = docker(&args);
        }
    }
}

#[test]
fn the_app_image_runs_in_docker_behind_a_loopback_port() {
    require_engine();
    let dir = tempfile::tempdir().unwrap();
    app::write_app_rootfs(
        dir.path(),
        &AppKnobs {
            slow_start_ms: 500,
            ..AppKnobs::new("docker-v1")
        },
    );
    let image = format!("wharf-test-app:t{}", std::process::id());
    app::import_app_image(dir.path(), &image);
    let mut cleanup = Cleanup(vec![vec!["rmi".into(), "-f".into(), image.clone()]]);
    let id = docker_ok(&["run", "-d", "-p", "127.0.0.1::8080", &image]);
    cleanup
        .0
        .insert(0, vec!["rm".into(), "-f".into(), id.clone()]);
    let published = docker_ok(&["port", &id, "8080/tcp"]);
    let addr = published
        .lines()
        .find(|l| l.starts_with("127.0.0.1:"))
        .unwrap_or_else(|| panic!("not published on 127.0.0.1: {published}"))
        .to_owned();
    let sock: SocketAddr = addr.parse().unwrap();
    let deadline = Instant::now() + Duration::from_secs(20);
    let mut seen_503 = false;
    loop {
        // refused or reset while the container starts
        match load::get_once(sock, None, app::HEALTH_PATH) {
            Ok((200, release)) => {
                assert_eq!(release.as_deref(), Some("docker-v1"));
                break;
            }
            Ok((status, _)) => {
                assert_eq!(status, 503);
                seen_503 = true;
            }
            Err(_) => {}
        }
        assert!(
            Instant::now() < deadline,
            "never healthy; logs: {}",
            String::from_utf8_lossy(&docker(&["logs", &id]).stderr)
        );
        std::thread::sleep(Duration::from_millis(50));
    }
    assert!(seen_503, "the slow start showed");
    let a = get(&format!("http://{addr}/"));
    assert_eq!((a.status, a.text().as_str()), (200, "docker-v1"));
    assert_eq!(a.header("x-release"), Some("docker-v1"));
    let slow = get(&format!("http://{addr}{}?0.2", app::SLOW_PATH));
    assert_eq!(slow.header("x-release"), Some("docker-v1"));
    // PID 1 is the start script, whose trap makes `docker stop` quick
    let stopping = Instant::now();
    docker_ok(&["stop", &id]);
    assert!(
        stopping.elapsed() < Duration::from_secs(5),
        "{:?}",
        stopping.elapsed()
    );
    let code = docker_ok(&["inspect", "-f", "{{.State.ExitCode}}", &id]);
    assert_eq!(code, "0");
}
