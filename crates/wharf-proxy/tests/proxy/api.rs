//! The control API's refusals, the forwarded request, the metrics.

use std::time::Duration;

use wharf_proxy::{Config, Error, Proxy};

use crate::support::{Client, Harness};

#[test]
fn bad_requests_are_refused_with_the_field_named() {
    let h = Harness::new(|_| {});
    let v1 = h.upstream("v1");
    let (status, v) = h.admin(
        "POST",
        "/services/nope/deploy",
        r#"{"release": "v1", "addr": "127.0.0.1:1"}"#,
    );
    assert_eq!(status, 404);
    assert_eq!(
        v["error"],
        "no service \"nope\"; create it with PUT /services/nope"
    );
    assert_eq!(h.admin("GET", "/services/nope", "").0, 404);
    let (status, v) = h.admin("PUT", "/services/web", r#"{"hosts": ["#);
    assert_eq!(status, 400);
    assert!(
        v["error"]
            .as_str()
            .unwrap()
            .starts_with("the body is not valid JSON: "),
        "{v:#}"
    );
    let (status, v) = h.admin(
        "PUT",
        "/services/web",
        r#"{"hosts": ["web.test"], "stickey": {}}"#,
    );
    assert_eq!(
        (status, v["field"].as_str()),
        (400, Some("stickey")),
        "{v:#}"
    );
    let (status, v) = h.admin("PUT", "/services/Web!", r#"{"hosts": ["web.test"]}"#);
    assert_eq!(status, 400, "{v:#}");
    h.service("");
    let (status, v) = h.admin("PUT", "/services/other", r#"{"hosts": ["WEB.test"]}"#);
    assert_eq!(status, 409);
    assert_eq!(
        v["error"],
        "host \"web.test\" already belongs to service web"
    );
    let (status, v) = h.admin("POST", "/services/web/deploy", r#"{"release": "v1"}"#);
    assert_eq!((status, v["field"].as_str()), (400, Some("addr")), "{v:#}");
    assert_eq!(v["error"], "missing field `addr`");
    let (status, v) = h.admin(
        "POST",
        "/services/web/deploy",
        r#"{"release": "v1", "addr": "127.0.0.1:1", "health": {"timeout_ms": "2s"}}"#,
    );
    assert_eq!(
        (status, v["field"].as_str()),
        (400, Some("health.timeout_ms")),
        "{v:#}"
    );
    let body = format!(r#"{{"release": "v2", "addr": "{}", "weight": 5}}"#, v1.addr);
    let (status, v) = h.admin("POST", "/services/web/canary", &body);
    assert_eq!(status, 409, "a canary needs a primary: {v:#}");
    h.deploy(&v1);
    let body = format!(
        r#"{{"release": "v2", "addr": "{}", "weight": 101}}"#,
        v1.addr
    );
    let (status, v) = h.admin("POST", "/services/web/canary", &body);
    assert_eq!(
        (status, v["field"].as_str()),
        (400, Some("weight")),
        "{v:#}"
    );
    assert_eq!(
        v["error"],
        "field `weight` must be between 0 and 100 (percent), got 101"
    );
    let (status, v) = h.admin("PUT", "/services/web/canary", r#"{"weight": 20}"#);
    assert_eq!(
        (status, v["error"].as_str()),
        (404, Some("service web has no canary"))
    );
    assert_eq!(h.admin("GET", "/services/web/deploy", "").0, 405);
    assert_eq!(h.admin("GET", "/nothing", "").0, 404);
    // The data plane: an unknown host, a service with nothing deployed.
    let a = h
        .client()
        .send("GET", "/", &[("host", "unknown.test")], b"");
    assert_eq!(a.status, 404);
    assert!(
        a.text()
            .contains("no service answers for host \"unknown.test\""),
        "{}",
        a.text()
    );
    h.ok("PUT", "/services/empty", r#"{"hosts": ["empty.test"]}"#);
    let a = h.client().send("GET", "/", &[("host", "empty.test")], b"");
    assert_eq!(
        (a.status, a.text()),
        (
            503,
            "wharf proxy: service empty has no release deployed yet\n".into()
        )
    );
    // A default service takes the hosts nobody else answers for.
    h.ok(
        "PUT",
        "/services/web",
        r#"{"hosts": ["web.test"], "default": true}"#,
    );
    assert_eq!(
        h.client()
            .send("GET", "/", &[("host", "unknown.test")], b"")
            .release(),
        "v1"
    );
}

#[test]
fn a_non_loopback_admin_address_needs_a_token_and_the_token_is_checked() {
    let rt = tokio::runtime::Runtime::new().unwrap();
    let dir = tempfile::tempdir().unwrap();
    let mut config = Config::new(
        "127.0.0.1:0".parse().unwrap(),
        // A documentation address (RFC 5737), never this machine's: even a check that
        // regressed could not bind it.
        "192.0.2.1:0".parse().unwrap(),
        dir.path().join("proxy.json"),
    );
    // Refused before anything is bound.
    match rt.block_on(Proxy::start(config.clone())) {
        Err(Error::Invalid { message, hint, .. }) => {
            assert!(
                message.contains("192.0.2.1:0") && message.contains("not a loopback address"),
                "{message}"
            );
            assert!(hint.unwrap().contains("--admin-token-file"));
        }
        Err(e) => panic!("{e}"),
        Ok(_) => panic!("started"),
    }
    let token = dir.path().join("token");
    std::fs::write(&token, "a-token-of-enough-length\n").unwrap();
    config.admin = "127.0.0.1:0".parse().unwrap();
    config.admin_token_file = Some(token);
    let h = Harness::new(|c| *c = config);
    let (status, v) = h.admin("GET", "/services", "");
    assert_eq!(status, 401);
    assert!(
        v["error"]
            .as_str()
            .unwrap()
            .contains("Authorization: Bearer"),
        "{v:#}"
    );
    let mut c = Client::new(h.proxy().admin_addr());
    let a = c.send(
        "GET",
        "/services",
        &[("authorization", "Bearer a-token-of-enough-length")],
        b"",
    );
    assert_eq!(a.status, 200, "{}", a.text());
    let a = c.send(
        "GET",
        "/metrics",
        &[("authorization", "Bearer wrong-token-of-some-length")],
        b"",
    );
    assert_eq!(a.status, 401);
}

#[test]
fn requests_are_forwarded_with_forwarded_headers_and_x_release() {
    let h = Harness::new(|_| {});
    let v1 = h.upstream("v1");
    h.service("");
    h.deploy(&v1);
    let body = "x".repeat(1 << 20);
    let a = h.client().send(
        "POST",
        "/echo?q=1",
        &[
            ("host", "web.test"),
            ("connection", "keep-alive, x-hop"),
            ("x-hop", "secret"),
            ("proxy-authorization", "Basic abc"),
            ("x-forwarded-for", "10.0.0.1"),
            ("x-app", "kept"),
        ],
        body.as_bytes(),
    );
    assert_eq!(
        (a.status, a.release()),
        (200, "v1".to_string()),
        "{}",
        a.text()
    );
    let v: serde_json::Value = serde_json::from_slice(&a.body).unwrap();
    let hd = &v["headers"];
    assert_eq!(hd["x-forwarded-for"][0], "10.0.0.1, 127.0.0.1", "{hd:#}");
    assert_eq!(hd["x-forwarded-proto"][0], "http");
    assert_eq!(hd["x-forwarded-host"][0], "web.test");
    assert_eq!(hd["host"][0], "web.test");
    assert_eq!(hd["via"][0], "1.1 wharf");
    assert_eq!(hd["x-app"][0], "kept");
    for gone in ["x-hop", "proxy-authorization", "connection"] {
        assert!(hd.get(gone).is_none(), "{gone} was forwarded: {hd:#}");
    }
    assert_eq!(v["body"].as_str().unwrap().len(), body.len());
    assert_eq!(h.get("/own-release").release(), "custom");
}

#[test]
fn metrics_count_requests_and_latency_per_release() {
    let h = Harness::new(|_| {});
    let (v1, v2) = (h.upstream("v1"), h.upstream("v2"));
    h.service("");
    h.deploy(&v1);
    h.ok(
        "POST",
        "/services/web/canary",
        &format!(
            r#"{{"release": "v2", "addr": "{}", "weight": 50}}"#,
            v2.addr
        ),
    );
    let mut c = h.client();
    for _ in 0..200 {
        assert_eq!(c.send("GET", "/", &[("host", "web.test")], b"").status, 200);
    }
    c.send("GET", "/", &[("host", "nobody.test")], b"");
    std::thread::sleep(Duration::from_millis(50));
    let mut admin = Client::new(h.proxy().admin_addr());
    let a = admin.send("GET", "/metrics", &[], b"");
    assert_eq!(a.status, 200);
    let text = a.text();
    let value = |series: &str| -> f64 {
        text.lines()
            .find_map(|l| l.strip_prefix(series).and_then(|r| r.strip_prefix(' ')))
            .unwrap_or_else(|| panic!("no {series} in\n{text}"))
            .parse()
            .unwrap()
    };
    let ok1 = value(r#"wharf_proxy_requests_total{service="web",release="v1",class="2xx"}"#);
    let ok2 = value(r#"wharf_proxy_requests_total{service="web",release="v2",class="2xx"}"#);
    assert_eq!(ok1 + ok2, 200.0);
    assert!(ok1 > 50.0 && ok2 > 50.0, "{ok1} {ok2}");
    let n2 = value(r#"wharf_proxy_request_duration_seconds_count{service="web",release="v2"}"#);
    assert_eq!(n2, ok2);
    assert_eq!(
        value(r#"wharf_proxy_in_flight_requests{service="web",release="v1"}"#),
        0.0
    );
    assert_eq!(value("wharf_proxy_unrouted_requests_total"), 1.0);
    assert_eq!(
        value(r#"wharf_proxy_switches_total{service="web",action="canary"}"#),
        1.0
    );
}
