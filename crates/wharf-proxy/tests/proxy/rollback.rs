//! Rollback to the previous release, and the state across restarts.

use std::sync::atomic::Ordering;
use std::time::{Duration, Instant};

use crate::support::Harness;

#[test]
fn rollback_switches_back_at_once_and_a_second_one_rolls_forward() {
    let h = Harness::new(|_| {});
    let (v1, v2) = (h.upstream("v1"), h.upstream("v2"));
    h.service("");
    h.deploy(&v1);
    h.deploy(&v2);
    assert_eq!(h.get("/").release(), "v2");
    let t = Instant::now();
    let v = h.ok("POST", "/services/web/rollback", "");
    assert!(
        t.elapsed() < Duration::from_millis(500),
        "{:?}",
        t.elapsed()
    );
    assert_eq!(
        (v["release"].as_str(), v["replaced"]["release"].as_str()),
        (Some("v1"), Some("v2"))
    );
    assert_eq!(v["health"]["status"], 200, "{v:#}");
    assert_eq!(h.get("/").release(), "v1");
    let v = h.ok("POST", "/services/web/rollback", "{}");
    assert_eq!(v["release"], "v2");
    assert_eq!(h.get("/").release(), "v2");
    // The previous release stopped: the one probe refuses the rollback, nothing changes.
    v1.up.store(503, Ordering::SeqCst);
    let (status, v) = h.admin("POST", "/services/web/rollback", "");
    assert_eq!(status, 503, "{v:#}");
    let last = v["last_probe"].as_str().unwrap();
    assert!(
        last.starts_with("HTTP 503") && last.contains("force"),
        "{last}"
    );
    assert_eq!(h.get("/").release(), "v2");
    // Forced, it switches without the probe.
    let v = h.ok("POST", "/services/web/rollback", r#"{"force": true}"#);
    assert_eq!(
        (v["release"].as_str(), v["health"].is_null()),
        (Some("v1"), true)
    );
    assert_eq!(h.get("/").release(), "v1");
    // A service deployed once has nothing to roll back to.
    h.ok("PUT", "/services/api", r#"{"hosts": ["api.test"]}"#);
    let (status, v) = h.admin("POST", "/services/api/rollback", "");
    assert_eq!(status, 409);
    assert_eq!(
        v["error"],
        "service api has no previous release to roll back to"
    );
}

#[test]
fn a_rollback_during_a_canary_leaves_only_the_previous_release() {
    let h = Harness::new(|_| {});
    let (v1, v2, v3) = (h.upstream("v1"), h.upstream("v2"), h.upstream("v3"));
    h.service("");
    h.deploy(&v1);
    h.deploy(&v2);
    h.ok(
        "POST",
        "/services/web/canary",
        &format!(
            r#"{{"release": "v3", "addr": "{}", "weight": 50}}"#,
            v3.addr
        ),
    );
    let v = h.ok("POST", "/services/web/rollback", "");
    let drained: Vec<&str> = v["drained"]
        .as_array()
        .unwrap()
        .iter()
        .map(|d| d["release"].as_str().unwrap())
        .collect();
    assert!(drained.contains(&"v2") && drained.contains(&"v3"), "{v:#}");
    let mut c = h.client();
    for _ in 0..100 {
        assert_eq!(
            c.send("GET", "/", &[("host", "web.test")], b"").release(),
            "v1"
        );
    }
    let s = h.ok("GET", "/services/web", "");
    assert!(s.get("canary").is_none(), "{s:#}");
}

#[test]
fn a_restarted_proxy_serves_what_it_served_without_an_api_call() {
    let mut h = Harness::new(|_| {});
    let (v1, v2) = (h.upstream("v1"), h.upstream("v2"));
    h.service(r#", "sticky": {"header": "x-user"}"#);
    h.deploy(&v1);
    h.ok(
        "POST",
        "/services/web/canary",
        &format!(
            r#"{{"release": "v2", "addr": "{}", "weight": 50}}"#,
            v2.addr
        ),
    );
    let before = h.ok("GET", "/services", "");
    h.restart();
    assert_eq!(h.proxy().restored(), 1);
    let mut c = h.client();
    let seen: std::collections::HashSet<String> = (0..200)
        .map(|_| c.send("GET", "/", &[("host", "web.test")], b"").release())
        .collect();
    assert_eq!(seen.len(), 2, "{seen:?}");
    assert_eq!(h.ok("GET", "/services", ""), before);
    let text = std::fs::read_to_string(h.dir.path().join("proxy.json")).unwrap();
    assert!(text.contains("\"weight\": 50"), "{text}");
}
