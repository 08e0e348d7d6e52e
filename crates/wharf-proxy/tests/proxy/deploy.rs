//! Deploys: the health gate, the atomic switch under load, the drain.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use crate::support::{Client, Harness, dead_addr};

/// Requests sent non-stop by one client thread: (sent at, status and release, or the error).
type Log = Vec<(Instant, Result<(u16, String), String>)>;

fn load(h: &Harness, stop: &Arc<AtomicBool>, threads: usize) -> Vec<std::thread::JoinHandle<Log>> {
    (0..threads)
        .map(|_| {
            let stop = Arc::clone(stop);
            let addr = h.listen();
            std::thread::spawn(move || {
                let mut c = Client::new(addr);
                let mut log = Vec::new();
                while !stop.load(Ordering::SeqCst) {
                    let t = Instant::now();
                    let r = c
                        .try_send("GET", "/", &[("host", "web.test")], b"")
                        .map(|a| (a.status, a.release()))
                        .map_err(|e| e.to_string());
                    log.push((t, r));
                }
                log
            })
        })
        .collect()
}

#[test]
fn a_deploy_under_load_fails_no_request_and_lets_long_ones_finish() {
    let h = Harness::new(|_| {});
    let v1 = h.upstream("v1");
    let v2 = h.upstream("v2");
    h.service("");
    h.deploy(&v1);
    let stop = Arc::new(AtomicBool::new(false));
    let clients = load(&h, &stop, 4);
    std::thread::sleep(Duration::from_millis(300));
    let long: Vec<_> = (0..3)
        .map(|_| {
            let addr = h.listen();
            std::thread::spawn(move || {
                Client::new(addr).try_send("GET", "/slow?ms=2000", &[("host", "web.test")], b"")
            })
        })
        .collect();
    let deadline = Instant::now() + Duration::from_secs(5);
    while v1.slow.load(Ordering::SeqCst) < 3 {
        assert!(
            Instant::now() < deadline,
            "the long requests did not reach v1"
        );
        std::thread::sleep(Duration::from_millis(10));
    }
    let before = Instant::now();
    let v = h.deploy(&v2);
    let switched = Instant::now();
    assert_eq!(v["release"], "v2", "{v:#}");
    assert_eq!(v["replaced"]["release"], "v1", "{v:#}");
    let drained = &v["drained"][0];
    assert_eq!(drained["cancelled"], 0, "{v:#}");
    assert!(
        drained["waited_ms"].as_u64().unwrap() >= 500,
        "the deploy waited for the long requests: {v:#}"
    );
    assert!(switched - before >= Duration::from_millis(500));
    std::thread::sleep(Duration::from_millis(300));
    stop.store(true, Ordering::SeqCst);
    let mut total = 0;
    let mut after = 0;
    let mut saw_v1 = false;
    for c in clients {
        for (at, r) in c.join().unwrap() {
            total += 1;
            let (status, release) = r.unwrap_or_else(|e| panic!("a request failed: {e}"));
            assert_eq!(status, 200);
            saw_v1 |= release == "v1";
            if at > switched {
                after += 1;
                assert_eq!(release, "v2", "a request sent after the deploy answered");
            }
        }
    }
    assert!(
        saw_v1 && after > 0 && total > 100,
        "{total} requests, {after} after"
    );
    for l in long {
        let a = l.join().unwrap().expect("a long request completes");
        assert_eq!(
            (a.status, a.text(), a.release()),
            (200, "v1".into(), "v1".into())
        );
    }
    // The drained release's pooled connections are closed, and it gets nothing more.
    let deadline = Instant::now() + Duration::from_secs(3);
    while v1.open.load(Ordering::SeqCst) > 0 {
        assert!(
            Instant::now() < deadline,
            "connections to the drained v1 stay open"
        );
        std::thread::sleep(Duration::from_millis(20));
    }
    let hits = v1.hits.load(Ordering::SeqCst);
    assert_eq!(h.get("/").release(), "v2");
    assert_eq!(v1.hits.load(Ordering::SeqCst), hits);
}

#[test]
fn a_release_that_is_not_healthy_never_gets_traffic() {
    let h = Harness::new(|_| {});
    let v1 = h.upstream("v1");
    let v2 = h.upstream("v2");
    v2.up.store(500, Ordering::SeqCst);
    h.service("");
    h.deploy(&v1);
    let stop = Arc::new(AtomicBool::new(false));
    let clients = load(&h, &stop, 2);
    let unhealthy = |addr: String| {
        let t = Instant::now();
        let (status, v) = h.admin(
            "POST",
            "/services/web/deploy",
            &format!(r#"{{"release": "v2", "addr": "{addr}", "health": {{"interval_ms": 100}}}}"#),
        );
        (status, v, t.elapsed())
    };
    let (status, v, took) = unhealthy(v2.addr.to_string());
    assert_eq!(status, 503, "{v:#}");
    assert_eq!(v["last_probe"], "HTTP 500", "{v:#}");
    let e = v["error"].as_str().unwrap();
    assert!(
        e.contains("release v2") && e.contains("did not become healthy within 1500 ms"),
        "{e}"
    );
    assert!(
        took >= Duration::from_millis(1300) && took < Duration::from_millis(2500),
        "{took:?}"
    );
    // One that never listens.
    let (status, v, _) = unhealthy(dead_addr().to_string());
    assert_eq!(status, 503, "{v:#}");
    let last = v["last_probe"].as_str().unwrap();
    assert!(last.contains("cannot connect"), "{last}");
    stop.store(true, Ordering::SeqCst);
    for c in clients {
        for (_, r) in c.join().unwrap() {
            assert_eq!(r.unwrap(), (200, "v1".to_string()));
        }
    }
    assert_eq!(v2.hits.load(Ordering::SeqCst), 0, "v2 got traffic");
    let (_, s) = h.admin("GET", "/services/web", "");
    assert_eq!(s["primary"]["release"], "v1", "{s:#}");
    assert!(s.get("previous").is_none(), "{s:#}");
}

#[test]
fn a_drain_cuts_requests_that_outlive_the_drain_timeout() {
    let h = Harness::new(|c| c.drain_timeout = Duration::from_millis(500));
    let v1 = h.upstream("v1");
    let v2 = h.upstream("v2");
    h.service("");
    h.deploy(&v1);
    let addr = h.listen();
    let slow = std::thread::spawn(move || {
        Client::new(addr).try_send("GET", "/slow?ms=5000", &[("host", "web.test")], b"")
    });
    std::thread::sleep(Duration::from_millis(200));
    let t = Instant::now();
    let v = h.deploy(&v2);
    assert!(t.elapsed() < Duration::from_secs(2), "{:?}", t.elapsed());
    assert_eq!(v["drained"][0]["cancelled"], 1, "{v:#}");
    let a = slow.join().unwrap().expect("the proxy answers");
    assert_eq!(a.status, 502);
    assert!(
        a.text()
            .contains("release v1 was drained before it answered"),
        "{}",
        a.text()
    );
}
