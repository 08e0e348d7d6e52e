//! The analysis tests' pieces: a tiny threaded HTTP/1.1 server (the HTTP provider's
//! endpoint, and the upstreams behind `wharf proxy`), a blocking client, a traffic
//! generator, and metric builders (the real Prometheus is
//! `wharf_test_support::prometheus`).

#![allow(dead_code)]

use std::io::{BufRead, BufReader, Read, Write};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;
use std::time::Duration;

use wharf_deploy::analysis::{Measurement, Vars};
use wharf_model::{AnalysisMetric, Provider};

/// The variables most tests use.
pub fn vars(release: &str) -> Vars {
    Vars {
        release: release.to_string(),
        previous: Some("v1".to_string()),
        service: "web".to_string(),
        environment: "production".to_string(),
    }
}

/// A metric with Argo's defaults: one measurement, no condition, no failure
/// tolerated, 4 errors in a row tolerated.
pub fn metric(name: &str, provider: Provider) -> AnalysisMetric {
    AnalysisMetric {
        name: name.to_string(),
        provider,
        interval_ms: None,
        count: None,
        initial_delay_ms: 0,
        success: None,
        failure: None,
        failure_limit: 0,
        consecutive_error_limit: 4,
    }
}

/// A script metric.
pub fn script(name: &str, run: &[&str], timeout_ms: u64) -> AnalysisMetric {
    metric(
        name,
        Provider::Script {
            run: run.iter().map(|s| s.to_string()).collect(),
            timeout_ms,
        },
    )
}

/// An HTTP metric.
pub fn http(name: &str, url: &str, json_path: Option<&str>, timeout_ms: u64) -> AnalysisMetric {
    metric(
        name,
        Provider::Http {
            url: url.to_string(),
            json_path: json_path.map(str::to_string),
            timeout_ms,
        },
    )
}

/// A Prometheus metric.
pub fn prom(name: &str, url: &str, query: &str) -> AnalysisMetric {
    metric(
        name,
        Provider::Prometheus {
            url: url.to_string(),
            query: query.to_string(),
            timeout_ms: 2000,
        },
    )
}

/// Collects what `run` reports.
#[derive(Default)]
pub struct Seen(pub Mutex<Vec<Measurement>>);

impl Seen {
    pub fn push(&self, m: &Measurement) {
        self.0.lock().unwrap().push(m.clone());
    }
    pub fn of(&self, metric: &str) -> Vec<Measurement> {
        let all = self.0.lock().unwrap();
        all.iter().filter(|m| m.metric == metric).cloned().collect()
    }
}

/// What a [`Server`] answers.
pub struct Reply {
    pub status: u16,
    pub headers: Vec<(String, String)>,
    pub body: String,
}

impl Reply {
    pub fn new(status: u16, body: impl Into<String>) -> Reply {
        Reply {
            status,
            headers: Vec::new(),
            body: body.into(),
        }
    }
    pub fn json(body: serde_json::Value) -> Reply {
        Reply {
            status: 200,
            headers: vec![("content-type".into(), "application/json".into())],
            body: body.to_string(),
        }
    }
    pub fn header(mut self, name: &str, value: &str) -> Reply {
        self.headers.push((name.into(), value.into()));
        self
    }
}

type Handler = dyn Fn(&str) -> Reply + Send + Sync;

/// An HTTP/1.1 server with keep-alive on 127.0.0.1, a thread per connection, answering
/// each request's target (path and query) with `handler`.
pub struct Server {
    pub addr: SocketAddr,
    stop: Arc<AtomicBool>,
    accept: Option<JoinHandle<()>>,
}

impl Server {
    pub fn start(handler: impl Fn(&str) -> Reply + Send + Sync + 'static) -> Server {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let addr = listener.local_addr().unwrap();
        let stop = Arc::new(AtomicBool::new(false));
        let handler: Arc<Handler> = Arc::new(handler);
        let s = stop.clone();
        let accept = std::thread::spawn(move || {
            for stream in listener.incoming() {
                if s.load(Ordering::SeqCst) {
                    break;
                }
                let Ok(stream) = stream else { continue };
                let h = handler.clone();
                std::thread::spawn(move || serve(stream, &*h));
            }
        });
        Server {
            addr,
            stop,
            accept: Some(accept),
        }
    }

    pub fn url(&self, path: &str) -> String {
        format!("http://{}{path}", self.addr)
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::SeqCst);
        // Wake the accept loop so it sees the flag.
        let _ = TcpStream::connect(self.addr);
        if let Some(t) = self.accept.take() {
            let _ = t.join();
        }
    }
}

fn serve(stream: TcpStream, handler: &Handler) {
    let _ = stream.set_nodelay(true);
    let mut conn = BufReader::new(stream);
    loop {
        let mut line = String::new();
        if conn.read_line(&mut line).unwrap_or(0) == 0 {
            return;
        }
        let target = line.split_whitespace().nth(1).unwrap_or("/").to_string();
        let (mut length, mut close) = (0usize, false);
        loop {
            let mut h = String::new();
            if conn.read_line(&mut h).unwrap_or(0) == 0 {
                return;
            }
            let h = h.trim_end();
            if h.is_empty() {
                break;
            }
            let (name, value) = h.split_once(':').unwrap_or((h, ""));
            let (name, value) = (name.trim().to_ascii_lowercase(), value.trim());
            if name == "content-length" {
                length = value.parse().unwrap_or(0);
            }
            if name == "connection" && value.eq_ignore_ascii_case("close") {
                close = true;
            }
        }
        let mut body = vec![0; length];
        if conn.read_exact(&mut body).is_err() {
            return;
        }
        let reply = handler(&target);
        let mut out = format!(
            "HTTP/1.1 {} X\r\ncontent-length: {}\r\n",
            reply.status,
            reply.body.len()
        );
        for (n, v) in &reply.headers {
            out.push_str(&format!("{n}: {v}\r\n"));
        }
        out.push_str("\r\n");
        out.push_str(&reply.body);
        if conn.get_mut().write_all(out.as_bytes()).is_err() || close {
            return;
        }
    }
}

/// An upstream of the proxy: `/up` is healthy; other requests fail (500) at
/// `fail_percent`, spread evenly (with 20: every fifth request).
pub fn upstream(release: &'static str, fail_percent: usize) -> (Server, Arc<AtomicUsize>) {
    let served = Arc::new(AtomicUsize::new(0));
    let n = served.clone();
    let server = Server::start(move |target| {
        if target == "/up" {
            return Reply::new(200, "up");
        }
        let i = n.fetch_add(1, Ordering::SeqCst);
        let fails = (i + 1) * fail_percent / 100 > i * fail_percent / 100;
        Reply::new(if fails { 500 } else { 200 }, release)
    });
    (server, served)
}

/// One blocking request on a fresh connection: the status and the body.
pub fn request(
    addr: SocketAddr,
    method: &str,
    path: &str,
    host: &str,
    body: &str,
) -> std::io::Result<(u16, String)> {
    let mut s = TcpStream::connect(addr)?;
    s.set_read_timeout(Some(Duration::from_secs(10)))?;
    write!(
        s,
        "{method} {path} HTTP/1.1\r\nhost: {host}\r\nconnection: close\r\ncontent-length: {}\r\n\r\n{body}",
        body.len()
    )?;
    let mut answer = Vec::new();
    s.read_to_end(&mut answer)?;
    let text = String::from_utf8_lossy(&answer).into_owned();
    let status = text
        .split_whitespace()
        .nth(1)
        .and_then(|s| s.parse().ok())
        .ok_or_else(|| std::io::Error::other(format!("bad answer {text:?}")))?;
    let body = text
        .split_once("\r\n\r\n")
        .map_or("", |(_, b)| b)
        .to_string();
    Ok((status, body))
}

/// Requests to the proxy for `web.test` from a thread, until dropped.
pub struct Traffic {
    stop: Arc<AtomicBool>,
    pub sent: Arc<AtomicUsize>,
    thread: Option<JoinHandle<()>>,
}

impl Traffic {
    pub fn start(proxy: SocketAddr) -> Traffic {
        let stop = Arc::new(AtomicBool::new(false));
        let sent = Arc::new(AtomicUsize::new(0));
        let (s, n) = (stop.clone(), sent.clone());
        let thread = std::thread::spawn(move || {
            while !s.load(Ordering::SeqCst) {
                if request(proxy, "GET", "/", "web.test", "").is_ok() {
                    n.fetch_add(1, Ordering::SeqCst);
                }
                std::thread::sleep(Duration::from_millis(4));
            }
        });
        Traffic {
            stop,
            sent,
            thread: Some(thread),
        }
    }
}

impl Drop for Traffic {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::SeqCst);
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

/// A port of 127.0.0.1 that was free a moment ago.
pub fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}
