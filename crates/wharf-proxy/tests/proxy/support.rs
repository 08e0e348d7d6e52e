//! The test's pieces: upstream servers that answer with their release name, a blocking
//! keep-alive HTTP/1.1 client, and a proxy on free ports of 127.0.0.1.

use std::collections::HashMap;
use std::io::{BufRead, BufReader, Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::sync::Arc;
use std::sync::atomic::{AtomicU16, AtomicUsize, Ordering};
use std::time::Duration;

use bytes::Bytes;
use http_body_util::{BodyExt, Full};
use hyper::service::service_fn;
use hyper_util::rt::TokioIo;
use wharf_proxy::{Config, Proxy};

/// A proxy in a runtime of its own, with its state file in a temp dir.
pub struct Harness {
    pub rt: tokio::runtime::Runtime,
    pub proxy: Option<Proxy>,
    pub dir: tempfile::TempDir,
    pub config: Config,
}

impl Harness {
    pub fn new(tweak: impl FnOnce(&mut Config)) -> Harness {
        let rt = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(2)
            .enable_all()
            .build()
            .unwrap();
        let dir = tempfile::tempdir().unwrap();
        let any = "127.0.0.1:0".parse().unwrap();
        let mut config = Config::new(any, any, dir.path().join("proxy.json"));
        config.health_timeout = Duration::from_millis(1500);
        config.drain_timeout = Duration::from_secs(10);
        tweak(&mut config);
        let proxy = rt.block_on(Proxy::start(config.clone())).unwrap();
        Harness {
            rt,
            proxy: Some(proxy),
            dir,
            config,
        }
    }

    pub fn proxy(&self) -> &Proxy {
        self.proxy.as_ref().unwrap()
    }

    pub fn listen(&self) -> SocketAddr {
        self.proxy().listen_addr()
    }

    /// Stops the proxy and starts another from the same state file.
    pub fn restart(&mut self) {
        self.proxy = None;
        let p = self.rt.block_on(Proxy::start(self.config.clone())).unwrap();
        self.proxy = Some(p);
    }

    /// A control request; the status and the JSON answer.
    pub fn admin(&self, method: &str, path: &str, body: &str) -> (u16, serde_json::Value) {
        let mut c = Client::new(self.proxy().admin_addr());
        let r = c.send(method, path, &[], body.as_bytes());
        let v = serde_json::from_slice(&r.body).unwrap_or_else(|e| {
            panic!("{method} {path}: not JSON ({e}): {} {}", r.status, r.text())
        });
        (r.status, v)
    }

    /// A control request that must succeed.
    pub fn ok(&self, method: &str, path: &str, body: &str) -> serde_json::Value {
        let (status, v) = self.admin(method, path, body);
        assert_eq!(status, 200, "{method} {path} {body}: {v:#}");
        v
    }

    /// `web` answering for `web.test`, with `extra` fields.
    pub fn service(&self, extra: &str) {
        self.ok(
            "PUT",
            "/services/web",
            &format!(r#"{{"hosts": ["web.test"] {extra}}}"#),
        );
    }

    pub fn deploy(&self, up: &Upstream) -> serde_json::Value {
        self.ok(
            "POST",
            "/services/web/deploy",
            &format!(
                r#"{{"release": "{}", "addr": "{}", "health": {{"interval_ms": 100}}}}"#,
                up.release, up.addr
            ),
        )
    }

    /// A client of the data plane.
    pub fn client(&self) -> Client {
        Client::new(self.listen())
    }

    /// One GET through the proxy for `web.test`.
    pub fn get(&self, path: &str) -> Answer {
        self.client()
            .send("GET", path, &[("host", "web.test")], b"")
    }

    pub fn upstream(&self, release: &str) -> Upstream {
        self.rt.block_on(Upstream::start(release))
    }
}

/// An upstream: answers its release name; `/up` with the status in `up`; `/slow?ms=N`
/// after N ms; `/echo` with the request's headers and body as JSON; `/own-release` with
/// its own `X-Release`.
pub struct Upstream {
    pub release: String,
    pub addr: SocketAddr,
    pub up: Arc<AtomicU16>,
    /// Connections open now.
    pub open: Arc<AtomicUsize>,
    /// Requests other than `/up`.
    pub hits: Arc<AtomicUsize>,
    /// `/slow` requests being answered now.
    pub slow: Arc<AtomicUsize>,
    task: tokio::task::JoinHandle<()>,
}

impl Drop for Upstream {
    fn drop(&mut self) {
        self.task.abort();
    }
}

struct Open(Arc<AtomicUsize>);
impl Drop for Open {
    fn drop(&mut self) {
        self.0.fetch_sub(1, Ordering::SeqCst);
    }
}

impl Upstream {
    pub async fn start(release: &str) -> Upstream {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let up = Arc::new(AtomicU16::new(200));
        let open = Arc::new(AtomicUsize::new(0));
        let hits = Arc::new(AtomicUsize::new(0));
        let slow = Arc::new(AtomicUsize::new(0));
        let (r, u, o, h, sl) = (
            release.to_string(),
            up.clone(),
            open.clone(),
            hits.clone(),
            slow.clone(),
        );
        let task = tokio::spawn(async move {
            loop {
                let Ok((stream, _)) = listener.accept().await else {
                    continue;
                };
                o.fetch_add(1, Ordering::SeqCst);
                let guard = Open(o.clone());
                let (r, u, h, sl) = (r.clone(), u.clone(), h.clone(), sl.clone());
                tokio::spawn(async move {
                    let _guard = guard;
                    let svc = service_fn(move |req| {
                        answer(r.clone(), u.clone(), h.clone(), sl.clone(), req)
                    });
                    let _ = hyper::server::conn::http1::Builder::new()
                        .serve_connection(TokioIo::new(stream), svc)
                        .await;
                });
            }
        });
        Upstream {
            release: release.to_string(),
            addr,
            up,
            open,
            hits,
            slow,
            task,
        }
    }
}

async fn answer(
    release: String,
    up: Arc<AtomicU16>,
    hits: Arc<AtomicUsize>,
    slow: Arc<AtomicUsize>,
    req: hyper::Request<hyper::body::Incoming>,
) -> Result<hyper::Response<Full<Bytes>>, std::convert::Infallible> {
    let path = req.uri().path().to_string();
    let query = req.uri().query().unwrap_or("").to_string();
    let mut resp = hyper::Response::new(Full::new(Bytes::from(release.clone())));
    if path == "/up" {
        *resp.status_mut() = hyper::StatusCode::from_u16(up.load(Ordering::SeqCst)).unwrap();
        return Ok(resp);
    }
    hits.fetch_add(1, Ordering::SeqCst);
    match path.as_str() {
        "/slow" => {
            let ms: u64 = query.trim_start_matches("ms=").parse().unwrap_or(2000);
            slow.fetch_add(1, Ordering::SeqCst);
            let _done = Open(slow);
            tokio::time::sleep(Duration::from_millis(ms)).await;
        }
        "/echo" => {
            let headers: HashMap<String, Vec<String>> = req
                .headers()
                .keys()
                .map(|k| {
                    let vals = req
                        .headers()
                        .get_all(k)
                        .iter()
                        .map(|v| v.to_str().unwrap().to_string())
                        .collect();
                    (k.as_str().to_string(), vals)
                })
                .collect();
            let body = req.into_body().collect().await.unwrap().to_bytes();
            let v = serde_json::json!({
                "headers": headers,
                "body": String::from_utf8_lossy(&body),
                "release": release,
            });
            *resp.body_mut() = Full::new(Bytes::from(v.to_string()));
        }
        "/own-release" => {
            resp.headers_mut()
                .insert("x-release", "custom".parse().unwrap());
        }
        _ => {}
    }
    Ok(resp)
}

/// What a request got.
#[derive(Debug)]
pub struct Answer {
    pub status: u16,
    pub headers: Vec<(String, String)>,
    pub body: Vec<u8>,
}

impl Answer {
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(n, _)| n.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }
    pub fn text(&self) -> String {
        String::from_utf8_lossy(&self.body).into_owned()
    }
    pub fn release(&self) -> String {
        self.header("x-release").unwrap_or("").to_string()
    }
}

/// A blocking HTTP/1.1 client on one keep-alive connection (reconnecting only when
/// asked to: a test counts a broken connection as a failure).
pub struct Client {
    addr: SocketAddr,
    conn: Option<BufReader<TcpStream>>,
}

impl Client {
    pub fn new(addr: SocketAddr) -> Client {
        Client { addr, conn: None }
    }

    /// Sends one request; panics on any connection error.
    pub fn send(
        &mut self,
        method: &str,
        path: &str,
        headers: &[(&str, &str)],
        body: &[u8],
    ) -> Answer {
        self.try_send(method, path, headers, body)
            .unwrap_or_else(|e| panic!("{method} {path}: {e}"))
    }

    /// Sends one request on the kept-alive connection (opening one if there is none).
    pub fn try_send(
        &mut self,
        method: &str,
        path: &str,
        headers: &[(&str, &str)],
        body: &[u8],
    ) -> std::io::Result<Answer> {
        if self.conn.is_none() {
            let s = TcpStream::connect(self.addr)?;
            s.set_read_timeout(Some(Duration::from_secs(30)))?;
            s.set_nodelay(true)?;
            self.conn = Some(BufReader::new(s));
        }
        let r = self.exchange(method, path, headers, body);
        if r.is_err() {
            self.conn = None;
        }
        r
    }

    fn exchange(
        &mut self,
        method: &str,
        path: &str,
        headers: &[(&str, &str)],
        body: &[u8],
    ) -> std::io::Result<Answer> {
        let conn = self.conn.as_mut().unwrap();
        let mut req = format!("{method} {path} HTTP/1.1\r\n");
        if !headers.iter().any(|(n, _)| n.eq_ignore_ascii_case("host")) {
            req.push_str(&format!("host: {}\r\n", self.addr));
        }
        for (n, v) in headers {
            req.push_str(&format!("{n}: {v}\r\n"));
        }
        if !body.is_empty() || method != "GET" {
            req.push_str(&format!("content-length: {}\r\n", body.len()));
        }
        req.push_str("\r\n");
        let s = conn.get_mut();
        s.write_all(req.as_bytes())?;
        s.write_all(body)?;
        let mut line = String::new();
        if conn.read_line(&mut line)? == 0 {
            return Err(std::io::Error::new(
                std::io::ErrorKind::UnexpectedEof,
                "connection closed",
            ));
        }
        let status: u16 = line
            .split_whitespace()
            .nth(1)
            .and_then(|s| s.parse().ok())
            .ok_or_else(|| std::io::Error::other(format!("bad status line {line:?}")))?;
        let mut headers = Vec::new();
        loop {
            line.clear();
            conn.read_line(&mut line)?;
            let l = line.trim_end();
            if l.is_empty() {
                break;
            }
            let (n, v) = l.split_once(':').unwrap();
            headers.push((n.to_ascii_lowercase(), v.trim().to_string()));
        }
        let get = |n: &str| headers.iter().find(|(k, _)| k == n).map(|(_, v)| v.clone());
        let mut body = Vec::new();
        if let Some(len) = get("content-length") {
            body.resize(len.parse().unwrap(), 0);
            conn.read_exact(&mut body)?;
        } else if get("transfer-encoding").is_some_and(|t| t.contains("chunked")) {
            loop {
                line.clear();
                conn.read_line(&mut line)?;
                let size = usize::from_str_radix(line.trim(), 16)
                    .map_err(|_| std::io::Error::other(format!("bad chunk size {line:?}")))?;
                let mut chunk = vec![0; size + 2];
                conn.read_exact(&mut chunk)?;
                if size == 0 {
                    break;
                }
                body.extend_from_slice(&chunk[..size]);
            }
        }
        if get("connection").is_some_and(|c| c.eq_ignore_ascii_case("close")) {
            self.conn = None;
        }
        Ok(Answer {
            status,
            headers,
            body,
        })
    }
}

/// A port of 127.0.0.1 nothing listens on.
pub fn dead_addr() -> SocketAddr {
    let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    l.local_addr().unwrap()
}
