//! A load client for the deployment tests: `GET`s on N keep-alive HTTP/1.1 connections
//! (std threads, one per connection, the protocol written by hand on a `TcpStream`), at
//! a fixed total rate or as fast as the server answers, recording every request: when
//! it was sent, its status and the release that answered (`X-Release`).
//!
//! So a test can ask "did any request fail during the switch", "when did release v1
//! stop getting traffic" ([`LoadReport::last_at_ms`]) and "did any answer come from
//! v3" ([`LoadReport::count`]).
//!
//! The client reads a status line, headers, and a body delimited by `Content-Length`,
//! chunked encoding or (without either) the end of the connection; `1xx` answers are
//! skipped. It reconnects when the server closes: after an answer with `Connection:
//! close` (or an HTTP/1.0 one without keep-alive) or ended by EOF. A request counts as a
//! connection error (status 0) only when it gets no complete answer: refused, reset,
//! closed mid-answer, malformed, or no answer within [`REQUEST_TIMEOUT`]. One exception,
//! as every HTTP client makes it: when a *reused* keep-alive connection turns out closed
//! before a single byte of the answer arrived (the server closed it while idle), the
//! request is sent again once on a fresh connection.

use std::collections::{BTreeMap, BTreeSet};
use std::io::{ErrorKind, Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

/// How long one request may take, connecting included, before it counts as an error.
pub const REQUEST_TIMEOUT: Duration = Duration::from_secs(30);
/// How many connection errors a report keeps the text of.
pub const KEPT_ERRORS: usize = 20;
/// The most a response head (status line and headers) may take.
const MAX_HEAD: usize = 64 * 1024;
/// How late a rate-limited connection may fall behind its schedule before it gives up
/// the missed slots instead of catching up in a burst.
const MAX_LAG: Duration = Duration::from_secs(1);

/// What load to put on a server.
#[derive(Debug, Clone)]
pub struct LoadSpec {
    /// Where to connect (the proxy's data plane, or an app directly).
    pub addr: SocketAddr,
    /// The `Host` header; default: `addr`.
    pub host: Option<String>,
    /// The request target, e.g. `/` ([`crate::app::APP_PATH`]).
    pub path: String,
    /// How many connections, each with its own thread (at least 1).
    pub connections: usize,
    /// Requests per second in total, spread evenly over the connections; `None`: each
    /// connection sends its next request as soon as the previous one is answered.
    pub rate_per_sec: Option<u32>,
    /// Extra request headers (a `Cookie`, `X-Wharf-Preview: 1`, ...).
    pub headers: Vec<(String, String)>,
}

impl LoadSpec {
    /// One connection, as fast as possible, `GET path` at `addr`.
    pub fn new(addr: SocketAddr, path: &str) -> LoadSpec {
        LoadSpec {
            addr,
            host: None,
            path: path.to_owned(),
            connections: 1,
            rate_per_sec: None,
            headers: Vec::new(),
        }
    }
}

/// One request.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Sample {
    /// When it was sent, in milliseconds since the load started.
    pub at_ms: u64,
    /// Its status; 0 for a connection error.
    pub status: u16,
    /// The answer's `X-Release` ("" when it had none, and for connection errors).
    pub release: String,
    /// How long it took, until the end of the answer's body (or the error).
    pub latency_us: u64,
}

/// What a load did.
#[derive(Debug, Clone, Default)]
pub struct LoadReport {
    /// Requests sent (answered or not).
    pub requests: u64,
    /// Answers by status (connection errors are not in it).
    pub by_status: BTreeMap<u16, u64>,
    /// Answers by `X-Release` ("" for answers without one).
    pub by_release: BTreeMap<String, u64>,
    /// The first [`KEPT_ERRORS`] connection errors, `"AT ms: connection N: WHAT"`.
    pub errors: Vec<String>,
    /// All connection errors.
    pub error_count: u64,
    /// Answers that were not 2xx, plus connection errors.
    pub failed: u64,
    /// Latencies of the answered requests, in microseconds, sorted.
    pub latencies_us: Vec<u64>,
    /// Every request, in the order they were sent.
    pub samples: Vec<Sample>,
    /// How long the load ran, in milliseconds.
    pub elapsed_ms: u64,
}

impl LoadReport {
    fn from_data(samples: Vec<Sample>, errors: Vec<String>, elapsed: Duration) -> LoadReport {
        let mut r = LoadReport {
            errors,
            elapsed_ms: elapsed.as_millis() as u64,
            ..LoadReport::default()
        };
        for s in &samples {
            r.requests += 1;
            if s.status == 0 {
                r.error_count += 1;
                r.failed += 1;
                continue;
            }
            *r.by_status.entry(s.status).or_default() += 1;
            *r.by_release.entry(s.release.clone()).or_default() += 1;
            if !(200..300).contains(&s.status) {
                r.failed += 1;
            }
            r.latencies_us.push(s.latency_us);
        }
        r.latencies_us.sort_unstable();
        r.samples = samples;
        r.samples.sort_by_key(|s| s.at_ms);
        r
    }

    /// The `p`-th percentile (0–100) of the answered requests' latencies, in
    /// microseconds (0 when nothing was answered).
    pub fn percentile_us(&self, p: f64) -> u64 {
        if self.latencies_us.is_empty() {
            return 0;
        }
        let rank = (p.clamp(0.0, 100.0) / 100.0 * (self.latencies_us.len() - 1) as f64).round();
        self.latencies_us[rank as usize]
    }

    /// The median latency, in microseconds.
    pub fn p50_us(&self) -> u64 {
        self.percentile_us(50.0)
    }

    /// The 99th percentile latency, in microseconds.
    pub fn p99_us(&self) -> u64 {
        self.percentile_us(99.0)
    }

    /// Answers from `release`.
    pub fn count(&self, release: &str) -> u64 {
        self.by_release.get(release).copied().unwrap_or(0)
    }

    /// When the first request answered by `release` was sent (ms since the start).
    pub fn first_at_ms(&self, release: &str) -> Option<u64> {
        self.samples
            .iter()
            .find(|s| s.status != 0 && s.release == release)
            .map(|s| s.at_ms)
    }

    /// When the last request answered by `release` was sent (ms since the start): when
    /// it stopped getting traffic.
    pub fn last_at_ms(&self, release: &str) -> Option<u64> {
        self.samples
            .iter()
            .rev()
            .find(|s| s.status != 0 && s.release == release)
            .map(|s| s.at_ms)
    }

    /// The requests that failed (connection errors and non-2xx answers).
    pub fn failures(&self) -> Vec<&Sample> {
        self.samples
            .iter()
            .filter(|s| !(200..300).contains(&s.status))
            .collect()
    }

    /// `failed / requests` (0 without requests).
    pub fn failed_ratio(&self) -> f64 {
        if self.requests == 0 {
            0.0
        } else {
            self.failed as f64 / self.requests as f64
        }
    }

    /// Requests per second over the run.
    pub fn rate_per_sec(&self) -> f64 {
        self.requests as f64 * 1000.0 / self.elapsed_ms.max(1) as f64
    }

    /// A one-line summary for assertion messages.
    pub fn summary(&self) -> String {
        format!(
            "{} requests in {} ms ({:.0}/s), by status {:?}, by release {:?}, {} connection \
             errors {:?}, p50 {} us, p99 {} us",
            self.requests,
            self.elapsed_ms,
            self.rate_per_sec(),
            self.by_status,
            self.by_release,
            self.error_count,
            self.errors,
            self.p50_us(),
            self.p99_us()
        )
    }
}

#[derive(Debug, Default)]
struct Data {
    samples: Vec<Sample>,
    errors: Vec<String>,
}

#[derive(Debug)]
struct Shared {
    stop: AtomicBool,
    start: Instant,
    data: Mutex<Data>,
}

fn lock(data: &Mutex<Data>) -> MutexGuard<'_, Data> {
    data.lock().unwrap_or_else(|e| e.into_inner())
}

impl Shared {
    fn record(&self, conn: usize, at: Duration, took: Duration, result: Result<Answer, String>) {
        let at_ms = at.as_millis() as u64;
        let latency_us = took.as_micros() as u64;
        let mut data = lock(&self.data);
        let sample = match result {
            Ok(a) => Sample {
                at_ms,
                status: a.status,
                release: a.release,
                latency_us,
            },
            Err(e) => {
                if data.errors.len() < KEPT_ERRORS {
                    data.errors
                        .push(format!("{at_ms} ms: connection {conn}: {e}"));
                }
                Sample {
                    at_ms,
                    status: 0,
                    release: String::new(),
                    latency_us,
                }
            }
        };
        data.samples.push(sample);
    }

    fn report(&self) -> LoadReport {
        let data = lock(&self.data);
        LoadReport::from_data(
            data.samples.clone(),
            data.errors.clone(),
            self.start.elapsed(),
        )
    }
}

/// A running load (see [`start`]). Dropping it stops it too, without a report.
#[derive(Debug)]
pub struct Load {
    shared: Arc<Shared>,
    threads: Vec<JoinHandle<()>>,
}

/// Starts `spec.connections` connections putting load on `spec.addr`; runs until
/// [`Load::stop`].
pub fn start(spec: LoadSpec) -> Load {
    assert!(spec.connections > 0, "a load needs at least one connection");
    assert!(
        spec.rate_per_sec != Some(0),
        "rate_per_sec: Some(0) sends nothing; use None for as fast as possible"
    );
    let shared = Arc::new(Shared {
        stop: AtomicBool::new(false),
        start: Instant::now(),
        data: Mutex::new(Data::default()),
    });
    let request = Arc::new(request_bytes(&spec));
    let interval = spec
        .rate_per_sec
        .map(|r| Duration::from_secs_f64(spec.connections as f64 / f64::from(r)));
    let threads = (0..spec.connections)
        .map(|i| {
            let shared = shared.clone();
            let request = request.clone();
            let addr = spec.addr;
            // Staggered, so the connections' requests interleave evenly.
            let first = interval
                .map(|iv| iv.mul_f64(i as f64 / spec.connections as f64))
                .unwrap_or_default();
            std::thread::Builder::new()
                .name(format!("load-{i}"))
                .spawn(move || worker(i, addr, &request, interval, first, &shared))
                .expect("cannot start a load thread")
        })
        .collect();
    Load { shared, threads }
}

impl Load {
    /// Stops sending: each connection finishes the request it is in (so long requests
    /// are answered, or time out after [`REQUEST_TIMEOUT`]), then the report.
    pub fn stop(mut self) -> LoadReport {
        self.shared.stop.store(true, Ordering::SeqCst);
        for t in self.threads.drain(..) {
            let _ = t.join();
        }
        self.shared.report()
    }

    /// The report so far, while the load goes on.
    pub fn snapshot(&self) -> LoadReport {
        self.shared.report()
    }

    /// Requests sent so far (answered or not).
    pub fn requests(&self) -> u64 {
        lock(&self.shared.data).samples.len() as u64
    }

    /// Milliseconds since the load started, the clock of [`Sample::at_ms`].
    pub fn now_ms(&self) -> u64 {
        self.shared.start.elapsed().as_millis() as u64
    }
}

impl Drop for Load {
    fn drop(&mut self) {
        self.shared.stop.store(true, Ordering::SeqCst);
    }
}

/// Long requests on N connections (see [`long_requests`]).
#[derive(Debug)]
pub struct LongRequests(Load);

/// Issues back-to-back `GET path` requests on `connections` connections, e.g. to the
/// app's slow endpoint (`/slow/?2`), so requests are always in flight: what a drain must
/// let finish.
pub fn long_requests(
    addr: SocketAddr,
    host: Option<&str>,
    path: &str,
    connections: usize,
) -> LongRequests {
    LongRequests(start(LoadSpec {
        addr,
        host: host.map(str::to_owned),
        path: path.to_owned(),
        connections,
        rate_per_sec: None,
        headers: Vec::new(),
    }))
}

impl LongRequests {
    /// Stops issuing new ones, waits for those in flight, and reports all.
    pub fn stop(self) -> LoadReport {
        self.0.stop()
    }

    /// The report so far.
    pub fn snapshot(&self) -> LoadReport {
        self.0.snapshot()
    }

    /// Milliseconds since they started, the clock of [`Sample::at_ms`].
    pub fn now_ms(&self) -> u64 {
        self.0.now_ms()
    }
}

/// Sends `requests_each` requests for each of `clients` clients to
/// [`crate::app::APP_PATH`], each client on its own keep-alive connection with the cookie
/// `cookie_name=user-N`, and returns, by cookie value, the releases (`X-Release`) that
/// answered it. A connection error shows as `"(error: WHAT)"` and an answer without
/// `X-Release` as `"(status N without X-Release)"` among the releases, so a test
/// asserting one release per key sees them. Runs up to 8 clients at a time.
pub fn sticky_check(
    addr: SocketAddr,
    host: Option<&str>,
    cookie_name: &str,
    clients: usize,
    requests_each: usize,
) -> BTreeMap<String, BTreeSet<String>> {
    let next = AtomicUsize::new(0);
    let results = Mutex::new(BTreeMap::new());
    std::thread::scope(|scope| {
        for _ in 0..clients.min(8) {
            scope.spawn(|| {
                loop {
                    let i = next.fetch_add(1, Ordering::SeqCst);
                    if i >= clients {
                        break;
                    }
                    let key = format!("user-{i}");
                    let request = request_bytes(&LoadSpec {
                        addr,
                        host: host.map(str::to_owned),
                        path: crate::app::APP_PATH.to_owned(),
                        connections: 1,
                        rate_per_sec: None,
                        headers: vec![("Cookie".to_owned(), format!("{cookie_name}={key}"))],
                    });
                    let mut conn = None;
                    let mut seen = BTreeSet::new();
                    for _ in 0..requests_each {
                        let deadline = Instant::now() + REQUEST_TIMEOUT;
                        seen.insert(match exchange(&mut conn, addr, &request, deadline) {
                            Ok(a) if a.has_release => a.release,
                            Ok(a) => format!("(status {} without X-Release)", a.status),
                            Err(e) => format!("(error: {e})"),
                        });
                    }
                    results
                        .lock()
                        .unwrap_or_else(|e| e.into_inner())
                        .insert(key, seen);
                }
            });
        }
    });
    results.into_inner().unwrap_or_else(|e| e.into_inner())
}

/// One `GET path` on a fresh connection (with `Host: host`, default `addr`): its status
/// and `X-Release`, or why it got no complete answer. For probes that must not panic
/// while a server starts (refused, reset).
pub fn get_once(
    addr: SocketAddr,
    host: Option<&str>,
    path: &str,
) -> Result<(u16, Option<String>), String> {
    let request = request_bytes(&LoadSpec {
        host: host.map(str::to_owned),
        ..LoadSpec::new(addr, path)
    });
    let answer = exchange(&mut None, addr, &request, Instant::now() + REQUEST_TIMEOUT)?;
    Ok((answer.status, answer.has_release.then_some(answer.release)))
}

fn request_bytes(spec: &LoadSpec) -> Vec<u8> {
    assert!(
        spec.path.starts_with('/') && !spec.path.contains(|c: char| c.is_ascii_whitespace()),
        "path {:?}: an origin-form target (/...) without spaces",
        spec.path
    );
    let host = spec.host.clone().unwrap_or_else(|| spec.addr.to_string());
    let mut r = format!(
        "GET {} HTTP/1.1\r\nHost: {host}\r\nUser-Agent: wharf-test-load\r\nAccept: */*\r\n",
        spec.path
    );
    for (k, v) in &spec.headers {
        r.push_str(&format!("{k}: {v}\r\n"));
    }
    r.push_str("\r\n");
    r.into_bytes()
}

fn worker(
    idx: usize,
    addr: SocketAddr,
    request: &[u8],
    interval: Option<Duration>,
    first: Duration,
    shared: &Shared,
) {
    let mut conn: Option<Conn> = None;
    let mut next = shared.start + first;
    while !shared.stop.load(Ordering::SeqCst) {
        if let Some(iv) = interval {
            // Sleep in short steps, so a stop is seen at once.
            loop {
                let now = Instant::now();
                if now >= next || shared.stop.load(Ordering::SeqCst) {
                    break;
                }
                std::thread::sleep((next - now).min(Duration::from_millis(20)));
            }
            if shared.stop.load(Ordering::SeqCst) {
                break;
            }
            let now = Instant::now();
            next = if now > next + MAX_LAG { now } else { next } + iv;
        }
        let sent = Instant::now();
        let result = exchange(&mut conn, addr, request, sent + REQUEST_TIMEOUT);
        let failed = result.is_err();
        shared.record(idx, sent - shared.start, sent.elapsed(), result);
        if failed && interval.is_none() {
            // A refused connection fails in microseconds; do not spin on it.
            std::thread::sleep(Duration::from_millis(5));
        }
    }
}

/// The part of an answer the load client keeps.
#[derive(Debug)]
struct Answer {
    status: u16,
    release: String,
    has_release: bool,
    close: bool,
}

/// A failed exchange; `received` tells whether any byte of an answer arrived.
#[derive(Debug)]
struct Fail {
    what: String,
    received: bool,
}

/// Sends `request` on the connection (opening one if there is none) and reads the
/// answer; drops the connection when the server closes it or anything fails.
fn exchange(
    conn: &mut Option<Conn>,
    addr: SocketAddr,
    request: &[u8],
    deadline: Instant,
) -> Result<Answer, String> {
    for attempt in 0..2 {
        let reused = conn.is_some();
        let c = match conn {
            Some(c) => c,
            None => conn.insert(Conn::connect(addr, deadline)?),
        };
        match c.round_trip(request, deadline) {
            Ok(a) => {
                if a.close {
                    *conn = None;
                }
                return Ok(a);
            }
            Err(f) => {
                *conn = None;
                if reused && !f.received && attempt == 0 {
                    continue;
                }
                return Err(if reused {
                    format!("{} (on a reused connection)", f.what)
                } else {
                    f.what
                });
            }
        }
    }
    unreachable!("the second attempt returns")
}

/// An HTTP/1.1 client connection with its read buffer.
struct Conn {
    stream: TcpStream,
    buf: Vec<u8>,
    pos: usize,
    received: bool,
}

/// Why reading stopped.
enum ReadErr {
    Eof,
    Other(String),
}

fn remaining(deadline: Instant) -> Result<Duration, String> {
    deadline
        .checked_duration_since(Instant::now())
        .filter(|d| !d.is_zero())
        .ok_or_else(|| format!("no complete answer within {REQUEST_TIMEOUT:?}"))
}

impl Conn {
    fn connect(addr: SocketAddr, deadline: Instant) -> Result<Conn, String> {
        let limit = remaining(deadline)?.min(Duration::from_secs(5));
        let stream = TcpStream::connect_timeout(&addr, limit)
            .map_err(|e| format!("cannot connect to {addr}: {e}"))?;
        let _ = stream.set_nodelay(true);
        Ok(Conn {
            stream,
            buf: Vec::with_capacity(16 * 1024),
            pos: 0,
            received: false,
        })
    }

    fn round_trip(&mut self, request: &[u8], deadline: Instant) -> Result<Answer, Fail> {
        // Bytes left over from a previous answer: the server sent more than it said.
        self.received = self.pos < self.buf.len();
        if self.received {
            return Err(Fail {
                what: "the server sent bytes after its previous answer".to_owned(),
                received: true,
            });
        }
        let result = self.send_and_read(request, deadline);
        result.map_err(|what| Fail {
            what,
            received: self.received,
        })
    }

    fn send_and_read(&mut self, request: &[u8], deadline: Instant) -> Result<Answer, String> {
        self.stream
            .set_write_timeout(Some(remaining(deadline)?))
            .map_err(|e| e.to_string())?;
        self.stream
            .write_all(request)
            .map_err(|e| format!("cannot send the request: {e}"))?;
        loop {
            let status_line = self.line(deadline)?;
            let (version, status) = parse_status_line(&status_line)?;
            let mut content_length: Option<u64> = None;
            let mut chunked = false;
            let mut connection = String::new();
            let mut release = None;
            let mut head = status_line.len();
            loop {
                let line = self.line(deadline)?;
                if line.is_empty() {
                    break;
                }
                head += line.len();
                if head > MAX_HEAD {
                    return Err(format!("a response head over {MAX_HEAD} bytes"));
                }
                let Some((name, value)) = line.split_once(':') else {
                    return Err(format!("a malformed header line {line:?}"));
                };
                let value = value.trim();
                match name.trim().to_ascii_lowercase().as_str() {
                    "content-length" => {
                        let n = value
                            .parse()
                            .map_err(|_| format!("a malformed Content-Length {value:?}"))?;
                        if content_length.is_some_and(|m| m != n) {
                            return Err("conflicting Content-Length headers".to_owned());
                        }
                        content_length = Some(n);
                    }
                    "transfer-encoding" => {
                        chunked = value
                            .rsplit(',')
                            .next()
                            .is_some_and(|t| t.trim().eq_ignore_ascii_case("chunked"));
                        if !chunked {
                            return Err(format!("an unsupported Transfer-Encoding {value:?}"));
                        }
                    }
                    "connection" => {
                        connection = value.to_ascii_lowercase();
                    }
                    "x-release" => release = Some(value.to_owned()),
                    _ => {}
                }
            }
            if (100..200).contains(&status) && status != 101 {
                continue; // an interim answer; the real one follows
            }
            if status == 101 {
                return Err("the server switched protocols".to_owned());
            }
            let tokens = || connection.split(',').map(str::trim);
            let mut close = tokens().any(|t| t == "close")
                || (version == "HTTP/1.0" && !tokens().any(|t| t == "keep-alive"));
            if status == 204 || status == 304 {
                // no body
            } else if chunked {
                self.chunked_body(deadline)?;
            } else if let Some(n) = content_length {
                self.skip(n, deadline)?;
            } else {
                self.read_to_eof(deadline)?;
                close = true;
            }
            return Ok(Answer {
                status,
                has_release: release.is_some(),
                release: release.unwrap_or_default(),
                close,
            });
        }
    }

    /// Reads more bytes into the buffer.
    fn fill(&mut self, deadline: Instant) -> Result<(), ReadErr> {
        if self.pos == self.buf.len() {
            self.buf.clear();
            self.pos = 0;
        } else if self.pos > 32 * 1024 {
            self.buf.drain(..self.pos);
            self.pos = 0;
        }
        let limit = remaining(deadline).map_err(ReadErr::Other)?;
        self.stream
            .set_read_timeout(Some(limit))
            .map_err(|e| ReadErr::Other(e.to_string()))?;
        let len = self.buf.len();
        self.buf.resize(len + 16 * 1024, 0);
        let result = self.stream.read(&mut self.buf[len..]);
        let n = *result.as_ref().unwrap_or(&0);
        self.buf.truncate(len + n);
        match result {
            Ok(0) => Err(ReadErr::Eof),
            Ok(_) => {
                self.received = true;
                Ok(())
            }
            Err(e) if matches!(e.kind(), ErrorKind::WouldBlock | ErrorKind::TimedOut) => Err(
                ReadErr::Other(format!("no complete answer within {REQUEST_TIMEOUT:?}")),
            ),
            Err(e) => Err(ReadErr::Other(format!("read: {e}"))),
        }
    }

    /// `fill` where the end of the connection is an error: the answer is incomplete.
    fn more(&mut self, deadline: Instant) -> Result<(), String> {
        self.fill(deadline).map_err(|e| match e {
            ReadErr::Eof if self.received => {
                "the server closed the connection in the middle of an answer".to_owned()
            }
            ReadErr::Eof => "the server closed the connection without an answer".to_owned(),
            ReadErr::Other(what) => what,
        })
    }

    /// One line without its CRLF (or bare LF).
    fn line(&mut self, deadline: Instant) -> Result<String, String> {
        loop {
            if let Some(i) = self.buf[self.pos..].iter().position(|&b| b == b'\n') {
                let raw = &self.buf[self.pos..self.pos + i];
                let raw = raw.strip_suffix(b"\r").unwrap_or(raw);
                let line = String::from_utf8_lossy(raw).into_owned();
                self.pos += i + 1;
                return Ok(line);
            }
            if self.buf.len() - self.pos > MAX_HEAD {
                return Err(format!("a line over {MAX_HEAD} bytes"));
            }
            self.more(deadline)?;
        }
    }

    /// Skips `n` body bytes.
    fn skip(&mut self, mut n: u64, deadline: Instant) -> Result<(), String> {
        loop {
            let available = (self.buf.len() - self.pos) as u64;
            let take = available.min(n);
            self.pos += take as usize;
            n -= take;
            if n == 0 {
                return Ok(());
            }
            self.more(deadline)?;
        }
    }

    fn chunked_body(&mut self, deadline: Instant) -> Result<(), String> {
        loop {
            let line = self.line(deadline)?;
            let size = line.split(';').next().unwrap_or("").trim();
            let size = u64::from_str_radix(size, 16)
                .map_err(|_| format!("a malformed chunk size line {line:?}"))?;
            if size == 0 {
                // Trailers, up to the empty line.
                while !self.line(deadline)?.is_empty() {}
                return Ok(());
            }
            self.skip(size, deadline)?;
            if !self.line(deadline)?.is_empty() {
                return Err("a chunk not followed by CRLF".to_owned());
            }
        }
    }

    fn read_to_eof(&mut self, deadline: Instant) -> Result<(), String> {
        loop {
            self.pos = self.buf.len();
            match self.fill(deadline) {
                Ok(()) => {}
                Err(ReadErr::Eof) => return Ok(()),
                Err(ReadErr::Other(what)) => return Err(what),
            }
        }
    }
}

fn parse_status_line(line: &str) -> Result<(&str, u16), String> {
    let mut parts = line.splitn(3, ' ');
    let version = parts.next().unwrap_or("");
    let code = parts.next().unwrap_or("");
    if !version.starts_with("HTTP/1.") || code.len() != 3 {
        return Err(format!("not an HTTP/1.x status line: {line:?}"));
    }
    let status = code
        .parse()
        .map_err(|_| format!("not an HTTP/1.x status line: {line:?}"))?;
    Ok((version, status))
}
