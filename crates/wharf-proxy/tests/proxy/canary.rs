//! Canaries (weights, sticky keys) and blue/green previews.

use std::collections::{HashMap, HashSet};

use crate::support::{Client, Harness, Upstream};

fn canary(h: &Harness, up: &Upstream, weight: u8) {
    h.ok(
        "POST",
        "/services/web/canary",
        &format!(
            r#"{{"release": "{}", "addr": "{}", "weight": {weight}, "health": {{"interval_ms": 100}}}}"#,
            up.release, up.addr
        ),
    );
}

/// The share (percent) of `n` requests without a key answered by `release`.
fn share(h: &Harness, release: &str, n: usize) -> f64 {
    let threads = 4;
    let counts: Vec<usize> = (0..threads)
        .map(|_| {
            let addr = h.listen();
            let release = release.to_string();
            std::thread::spawn(move || {
                let mut c = Client::new(addr);
                (0..n / threads)
                    .filter(|_| {
                        c.send("GET", "/", &[("host", "web.test")], b"").release() == release
                    })
                    .count()
            })
        })
        .collect::<Vec<_>>()
        .into_iter()
        .map(|t| t.join().unwrap())
        .collect();
    100.0 * counts.iter().sum::<usize>() as f64 / n as f64
}

#[test]
fn canary_weights_hold_within_one_and_a_half_points_over_20000_requests() {
    let h = Harness::new(|_| {});
    let (v1, v2) = (h.upstream("v1"), h.upstream("v2"));
    h.service("");
    h.deploy(&v1);
    canary(&h, &v2, 10);
    let s = share(&h, "v2", 20_000);
    assert!((s - 10.0).abs() <= 1.5, "weight 10: {s:.2} % on the canary");
    let v = h.ok("PUT", "/services/web/canary", r#"{"weight": 50}"#);
    assert_eq!(
        (v["weight"].as_u64(), v["was"].as_u64()),
        (Some(50), Some(10))
    );
    let s = share(&h, "v2", 20_000);
    assert!((s - 50.0).abs() <= 1.5, "weight 50: {s:.2} % on the canary");
    h.ok("PUT", "/services/web/canary", r#"{"weight": 0}"#);
    assert_eq!(share(&h, "v2", 400), 0.0);
    h.ok("PUT", "/services/web/canary", r#"{"weight": 100}"#);
    assert_eq!(share(&h, "v2", 400), 100.0);
    // Dropping the canary sends everything back to the primary.
    let v = h.ok("DELETE", "/services/web/canary", "");
    assert_eq!(v["dropped"]["release"], "v2");
    assert_eq!(share(&h, "v1", 400), 100.0);
}

/// Which release each of `keys` sees, over `per_key` requests (panics if one sees two).
fn sticky_releases(
    h: &Harness,
    keys: usize,
    per_key: usize,
    header: (&str, &str),
) -> HashMap<usize, String> {
    let mut c = Client::new(h.listen());
    (0..keys)
        .map(|k| {
            let value = header.1.replace("KEY", &format!("client-{k}"));
            let seen: HashSet<String> = (0..per_key)
                .map(|_| {
                    c.send("GET", "/", &[("host", "web.test"), (header.0, &value)], b"")
                        .release()
                })
                .collect();
            assert_eq!(seen.len(), 1, "key {k} saw {seen:?}");
            (k, seen.into_iter().next().unwrap())
        })
        .collect()
}

#[test]
fn a_sticky_cookie_keeps_each_client_on_one_release() {
    let h = Harness::new(|_| {});
    let (v1, v2) = (h.upstream("v1"), h.upstream("v2"));
    h.service(r#", "sticky": {"cookie": "wharf_key"}"#);
    h.deploy(&v1);
    canary(&h, &v2, 30);
    let cookie = ("cookie", "theme=dark; wharf_key=KEY; other=1");
    let at30 = sticky_releases(&h, 200, 20, cookie);
    let on = at30.values().filter(|r| *r == "v2").count();
    assert!(
        (30..=90).contains(&on),
        "{on} of 200 keys on the 30 % canary"
    );
    // A higher weight only moves keys from the primary to the canary.
    h.ok("PUT", "/services/web/canary", r#"{"weight": 60}"#);
    let at60 = sticky_releases(&h, 200, 5, cookie);
    for (k, r) in &at30 {
        if r == "v2" {
            assert_eq!(
                at60[k], "v2",
                "key {k} left the canary when the weight rose"
            );
        }
    }
    assert!(at60.values().filter(|r| *r == "v2").count() > on);
    // The same by header.
    h.ok(
        "PUT",
        "/services/web",
        r#"{"hosts": ["web.test"], "sticky": {"header": "X-User"}}"#,
    );
    let by_header = sticky_releases(&h, 50, 10, ("x-user", "KEY"));
    assert!(by_header.values().any(|r| r == "v1") && by_header.values().any(|r| r == "v2"));
}

#[test]
fn a_preview_is_reachable_only_through_the_preview_host_until_promoted() {
    let h = Harness::new(|_| {});
    let (v1, v2) = (h.upstream("v1"), h.upstream("v2"));
    h.service(r#", "preview_host": "next.web.test""#);
    h.deploy(&v1);
    let v = h.ok(
        "POST",
        "/services/web/deploy",
        &format!(
            r#"{{"release": "v2", "addr": "{}", "preview": true}}"#,
            v2.addr
        ),
    );
    assert_eq!(
        (v["preview"].as_bool(), v["replaced"].is_null()),
        (Some(true), true),
        "{v:#}"
    );
    let mut c = h.client();
    for _ in 0..50 {
        assert_eq!(
            c.send("GET", "/", &[("host", "web.test")], b"").release(),
            "v1"
        );
    }
    assert_eq!(
        c.send("GET", "/", &[("host", "next.web.test")], b"")
            .release(),
        "v2"
    );
    let a = c.send(
        "GET",
        "/",
        &[("host", "web.test"), ("x-wharf-preview", "1")],
        b"",
    );
    assert_eq!(a.release(), "v2");
    // A canary cannot start while a preview waits.
    let (status, v) = h.admin(
        "POST",
        "/services/web/canary",
        &format!(r#"{{"release": "v2", "addr": "{}", "weight": 5}}"#, v2.addr),
    );
    assert_eq!(status, 409, "{v:#}");
    let v = h.ok("POST", "/services/web/promote", "");
    assert_eq!(
        (v["release"].as_str(), v["replaced"]["release"].as_str()),
        (Some("v2"), Some("v1"))
    );
    assert_eq!(
        c.send("GET", "/", &[("host", "web.test")], b"").release(),
        "v2"
    );
    let a = c.send("GET", "/", &[("host", "next.web.test")], b"");
    assert_eq!(a.status, 503);
    assert!(
        a.text().contains("service web has no preview release"),
        "{}",
        a.text()
    );
    let s = h.ok("GET", "/services/web", "");
    assert_eq!(s["previous"]["release"], "v1", "{s:#}");
    let (status, _) = h.admin("POST", "/services/web/promote", "");
    assert_eq!(status, 409);
}
