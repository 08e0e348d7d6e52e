//! `wharf proxy` end to end: the real binary as a separate process, `kill -9` and a
//! restart from the state file, and its refusals.

use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpListener;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use wharf_test_support::http;

use crate::helper::bin;

/// An upstream on 127.0.0.1 that answers every request with `release` (and 200 on /up),
/// one request per connection.
fn upstream(release: &'static str) -> std::net::SocketAddr {
    let l = TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = l.local_addr().unwrap();
    std::thread::spawn(move || {
        for s in l.incoming() {
            let Ok(mut s) = s else { continue };
            std::thread::spawn(move || {
                let mut buf = [0u8; 4096];
                let mut got = Vec::new();
                while !got.windows(4).any(|w| w == b"\r\n\r\n") {
                    match s.read(&mut buf) {
                        Ok(0) | Err(_) => return,
                        Ok(n) => got.extend_from_slice(&buf[..n]),
                    }
                }
                let _ = write!(
                    s,
                    "HTTP/1.1 200 OK\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{release}",
                    release.len()
                );
            });
        }
    });
    addr
}

/// A `wharf proxy` process (the deployment tests start theirs with it too).
pub(crate) struct ProxyProcess {
    child: Child,
    pub(crate) listen: String,
    pub(crate) admin: String,
}

impl ProxyProcess {
    pub(crate) fn start(state: &std::path::Path, listen: &str, admin: &str) -> ProxyProcess {
        let mut child = Command::new(bin())
            .args(["proxy", "--listen", listen, "--admin", admin, "--state"])
            .arg(state)
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .unwrap();
        let mut line = String::new();
        BufReader::new(child.stdout.take().unwrap())
            .read_line(&mut line)
            .unwrap();
        let v: serde_json::Value =
            serde_json::from_str(&line).unwrap_or_else(|e| panic!("{e}: {line:?}"));
        ProxyProcess {
            child,
            listen: v["listen"].as_str().unwrap().to_string(),
            admin: v["admin"].as_str().unwrap().to_string(),
        }
    }

    fn api(&self, method: &str, path: &str, body: serde_json::Value) -> http::Answer {
        http::send_json(method, &format!("http://{}{path}", self.admin), None, &body)
    }

    fn get(&self) -> http::Answer {
        http::get(&format!("http://{}/", self.listen), None)
    }

    fn kill9(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Drop for ProxyProcess {
    fn drop(&mut self) {
        self.kill9();
    }
}

#[test]
fn a_killed_proxy_restarts_serving_the_same_release_without_an_api_call() {
    let dir = tempfile::tempdir().unwrap();
    let state = dir.path().join("proxy.json");
    let (v1, v2) = (upstream("v1"), upstream("v2"));
    let mut p = ProxyProcess::start(&state, "127.0.0.1:0", "127.0.0.1:0");
    let a = p.api(
        "PUT",
        "/services/web",
        serde_json::json!({"hosts": ["web.test"], "default": true}),
    );
    assert_eq!(a.status, 200, "{}", a.text());
    for (release, addr) in [("v1", v1), ("v2", v2)] {
        let a = p.api(
            "POST",
            "/services/web/deploy",
            serde_json::json!({"release": release, "addr": addr.to_string(), "health": {"interval_ms": 100}}),
        );
        assert_eq!(a.status, 200, "{}", a.text());
    }
    let a = p.get();
    assert_eq!(
        (a.status, a.text(), a.header("x-release")),
        (200, "v2".into(), Some("v2"))
    );
    let (listen, admin) = (p.listen.clone(), p.admin.clone());
    p.kill9();
    let p = ProxyProcess::start(&state, &listen, &admin);
    let deadline = Instant::now() + Duration::from_secs(10);
    let a = loop {
        if std::net::TcpStream::connect(&p.listen).is_ok() {
            break p.get();
        }
        assert!(
            Instant::now() < deadline,
            "the restarted proxy does not listen"
        );
        std::thread::sleep(Duration::from_millis(20));
    };
    assert_eq!(
        (a.status, a.text(), a.header("x-release")),
        (200, "v2".into(), Some("v2"))
    );
    // What it remembered includes the previous release: rollback works after a restart.
    let a = p.api("POST", "/services/web/rollback", serde_json::json!({}));
    assert_eq!(a.status, 200, "{}", a.text());
    assert_eq!(p.get().header("x-release"), Some("v1"));
}

#[test]
fn a_non_loopback_admin_address_without_a_token_file_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    let out = Command::new(bin())
        .args([
            "proxy",
            "--listen",
            "127.0.0.1:0",
            "--admin",
            // A documentation address (RFC 5737): nothing here can bind it.
            "192.0.2.1:0",
            "--state",
        ])
        .arg(dir.path().join("proxy.json"))
        .output()
        .unwrap();
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "{err}");
    assert!(
        err.starts_with("error: the control API would listen on 192.0.2.1:0, which is not a loopback address, without a token\n"),
        "{err}"
    );
    assert!(
        err.contains(
            "  hint: anyone who reaches it can switch your traffic: pass --admin-token-file FILE"
        ),
        "{err}"
    );
    assert!(out.stdout.is_empty());
    assert!(
        !dir.path().join("proxy.json").exists(),
        "nothing was written"
    );
}

#[test]
fn bad_proxy_flags_and_state_files_are_refused() {
    let dir = tempfile::tempdir().unwrap();
    let state = dir.path().join("proxy.json");
    let out = Command::new(bin())
        .args(["proxy", "--drain-timeout", "soon", "--state"])
        .arg(&state)
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("\"soon\" is not a duration: a number and a unit (ms, s, m, h)"),
        "{err}"
    );
    std::fs::write(&state, "{\"services\": {\"web\": {\"hostz\": []}}}").unwrap();
    let out = Command::new(bin())
        .args([
            "proxy",
            "--listen",
            "127.0.0.1:0",
            "--admin",
            "127.0.0.1:0",
            "--state",
        ])
        .arg(&state)
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("cannot read the state file") && err.contains("hostz"),
        "{err}"
    );
}

#[test]
fn a_second_proxy_on_a_data_address_in_use_is_refused_not_joined() {
    let dir = tempfile::tempdir().unwrap();
    let first = ProxyProcess::start(&dir.path().join("a.json"), "127.0.0.1:0", "127.0.0.1:0");
    // The data plane's threads share their port among themselves (SO_REUSEPORT); another
    // process must not be able to join it and take half the traffic.
    let out = Command::new(bin())
        .args([
            "proxy",
            "--listen",
            &first.listen,
            "--admin",
            "127.0.0.1:0",
            "--state",
        ])
        .arg(dir.path().join("b.json"))
        .stdin(Stdio::null())
        .output()
        .unwrap();
    assert_ne!(out.status.code(), Some(0));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains(&first.listen) && err.to_lowercase().contains("in use"),
        "{err}"
    );
    // The first one still answers.
    assert_eq!(first.get().status, 404);
}
