//! A TCP proxy on 127.0.0.1 in front of a real service (the registry, the index) that
//! misbehaves the way a network or an overloaded peer does: it stops reading an upload,
//! never answers, resets connections, adds latency, or answers 503 to the first
//! requests. Tests of the network limits point a client at it and measure how fast and
//! how clearly the client fails (or recovers).
//!
//! Plain std threads, one per connection direction. The [`Fault`] in force when a
//! connection is accepted decides what happens to that connection; [`FaultProxy::set`]
//! changes it for the next ones (to pass during a test's setup, say). Dropping the proxy
//! shuts every connection down, so nothing it stalled outlives the test.

use std::io::{Read, Write};
use std::net::{Shutdown, TcpListener, TcpStream};
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, Weak};
use std::thread::JoinHandle;
use std::time::Duration;

/// What the proxy does to a connection.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Fault {
    /// Forward both ways.
    Pass,
    /// Forward the first `after` bytes the client sends on the connection, then stop
    /// reading from it (the connection stays open, answers still flow back): a peer that
    /// stops reading an upload.
    StallUpload {
        /// Bytes forwarded before the stall.
        after: u64,
    },
    /// Accept, read everything the client sends, never answer (nothing is forwarded).
    NeverAnswer,
    /// Read `after` bytes (not forwarded), then drop the connection with data unread,
    /// which makes the kernel answer with a reset.
    Reset {
        /// Bytes read before the reset.
        after: u64,
    },
    /// Forward both ways, each chunk held back for this long.
    Delay(Duration),
    /// Answer `503 Service Unavailable` to the first `count` requests whose request line
    /// contains `matching` (every request when it is empty), having read their body;
    /// forward the others. Forwarded requests carry `Connection: close`, so that every
    /// request comes on a connection of its own and is seen.
    Unavailable {
        /// How many requests get a 503.
        count: usize,
        /// A substring of the request line (`PUT `, `/blobs/uploads/`), or empty.
        matching: &'static str,
    },
    /// Reset the connection of the first `count` requests whose request line contains
    /// `matching`, halfway through their body; forward the others (as
    /// [`Fault::Unavailable`] does).
    ResetRequests {
        /// How many requests are reset.
        count: usize,
        /// A substring of the request line, or empty.
        matching: &'static str,
    },
}

/// What the proxy saw, for assertions.
#[derive(Debug, Default)]
struct Seen {
    /// Request lines answered 503 or reset (in [`Fault::Unavailable`],
    /// [`Fault::ResetRequests`]).
    injected: Mutex<Vec<String>>,
    /// Connections whose client side the proxy stopped reading.
    stalled: AtomicUsize,
    /// Connections accepted.
    connections: AtomicUsize,
}

/// A running fault proxy; stopped (every connection shut down) when dropped.
pub struct FaultProxy {
    /// Its port on 127.0.0.1.
    pub port: u16,
    fault: Arc<Mutex<Fault>>,
    seen: Arc<Seen>,
    stop: Arc<AtomicBool>,
    sockets: Sockets,
    accept: Option<JoinHandle<()>>,
}

impl FaultProxy {
    /// Starts a proxy on a free loopback port in front of 127.0.0.1:`upstream`.
    pub fn start(upstream: u16, fault: Fault) -> FaultProxy {
        let listener = TcpListener::bind("127.0.0.1:0").expect("cannot bind 127.0.0.1:0");
        let port = listener.local_addr().expect("a local address").port();
        let fault = Arc::new(Mutex::new(fault));
        let seen = Arc::new(Seen::default());
        let stop = Arc::new(AtomicBool::new(false));
        let sockets: Sockets = Arc::default();
        let ctx = Ctx {
            upstream,
            seen: seen.clone(),
            stop: stop.clone(),
            sockets: sockets.clone(),
        };
        let current = fault.clone();
        let accept = std::thread::spawn(move || {
            for conn in listener.incoming() {
                if ctx.stop.load(Ordering::SeqCst) {
                    break;
                }
                let Ok(conn) = conn else { continue };
                ctx.seen.connections.fetch_add(1, Ordering::SeqCst);
                let conn = ctx.keep(conn);
                let fault = current.lock().expect("fault lock").clone();
                let ctx = ctx.clone();
                std::thread::spawn(move || {
                    let _ = ctx.handle(conn, &fault);
                });
            }
        });
        FaultProxy {
            port,
            fault,
            seen,
            stop,
            sockets,
            accept: Some(accept),
        }
    }

    /// `127.0.0.1:PORT`.
    pub fn host(&self) -> String {
        format!("127.0.0.1:{}", self.port)
    }

    /// Applies `fault` to the connections accepted from now on.
    pub fn set(&self, fault: Fault) {
        *self.fault.lock().expect("fault lock") = fault;
    }

    /// The request lines answered 503 or reset so far.
    pub fn injected(&self) -> Vec<String> {
        self.seen.injected.lock().expect("seen lock").clone()
    }

    /// How many connections the proxy stopped reading.
    pub fn stalled(&self) -> usize {
        self.seen.stalled.load(Ordering::SeqCst)
    }

    /// How many connections were accepted.
    pub fn connections(&self) -> usize {
        self.seen.connections.load(Ordering::SeqCst)
    }
}

impl Drop for FaultProxy {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::SeqCst);
        for s in self.sockets.lock().expect("sockets lock").drain(..) {
            if let Some(s) = s.upgrade() {
                let _ = s.shutdown(Shutdown::Both);
            }
        }
        // Wake the accept loop so that it sees `stop`.
        let _ = TcpStream::connect(("127.0.0.1", self.port));
        if let Some(h) = self.accept.take() {
            let _ = h.join();
        }
    }
}

/// The sockets of every connection, for the drop to shut down; weak, so that a socket
/// closes (or resets) as soon as its connection's threads let go of it.
type Sockets = Arc<Mutex<Vec<Weak<TcpStream>>>>;

/// A connection's socket, shared by its two copying threads (`&TcpStream` reads and
/// writes).
type Conn = Arc<TcpStream>;

/// What every connection's thread needs.
#[derive(Clone)]
struct Ctx {
    upstream: u16,
    seen: Arc<Seen>,
    stop: Arc<AtomicBool>,
    sockets: Sockets,
}

impl Ctx {
    /// Shares a socket, remembered so that dropping the proxy can shut it down.
    fn keep(&self, s: TcpStream) -> Conn {
        let s = Arc::new(s);
        let mut list = self.sockets.lock().expect("sockets lock");
        list.retain(|w| w.strong_count() > 0);
        list.push(Arc::downgrade(&s));
        s
    }

    fn connect_upstream(&self) -> std::io::Result<Conn> {
        Ok(self.keep(TcpStream::connect(("127.0.0.1", self.upstream))?))
    }

    /// Waits until the proxy is dropped.
    fn park(&self) {
        while !self.stop.load(Ordering::SeqCst) {
            std::thread::sleep(Duration::from_millis(50));
        }
    }

    fn handle(&self, client: Conn, fault: &Fault) -> std::io::Result<()> {
        match fault {
            Fault::Pass => self.pipe(client, None, u64::MAX),
            Fault::Delay(d) => self.pipe(client, Some(*d), u64::MAX),
            Fault::StallUpload { after } => self.pipe(client, None, *after),
            Fault::NeverAnswer => {
                let mut buf = [0u8; 64 * 1024];
                while (&*client).read(&mut buf)? > 0 {}
                // The client gave up (or the proxy is dropped): nothing else to do.
                Ok(())
            }
            Fault::Reset { after } => {
                let mut buf = vec![0u8; (*after as usize).max(1)];
                let _ = (&*client).read_exact(&mut buf);
                // Let more arrive, so that closing with it unread sends a reset.
                std::thread::sleep(Duration::from_millis(50));
                drop(client);
                Ok(())
            }
            Fault::Unavailable { count, matching } => {
                self.per_request(client, *count, matching, false)
            }
            Fault::ResetRequests { count, matching } => {
                self.per_request(client, *count, matching, true)
            }
        }
    }

    /// Copies both ways; client-to-upstream stops reading after `limit` bytes (and
    /// the connection is then held open until the proxy is dropped).
    fn pipe(&self, client: Conn, delay: Option<Duration>, limit: u64) -> std::io::Result<()> {
        let up = self.connect_upstream()?;
        self.pipe_with(client, up, delay, limit, Vec::new())
    }

    fn pipe_with(
        &self,
        client: Conn,
        up: Conn,
        delay: Option<Duration>,
        limit: u64,
        first: Vec<u8>,
    ) -> std::io::Result<()> {
        let (c2, u2) = (client.clone(), up.clone());
        let down = std::thread::spawn(move || {
            let _ = copy(&u2, &c2, delay, u64::MAX);
            let _ = c2.shutdown(Shutdown::Write);
        });
        (&*up).write_all(&first)?;
        let copied = copy(&client, &up, delay, limit);
        if matches!(copied, Ok(Copied::Limit)) {
            self.seen.stalled.fetch_add(1, Ordering::SeqCst);
            // Stop reading the client, keep everything open.
            self.park();
        } else {
            let _ = up.shutdown(Shutdown::Write);
        }
        let _ = down.join();
        Ok(())
    }

    /// [`Fault::Unavailable`] or [`Fault::ResetRequests`] for one connection (one
    /// request: forwarded ones are sent with `Connection: close`).
    fn per_request(
        &self,
        client: Conn,
        count: usize,
        matching: &str,
        reset: bool,
    ) -> std::io::Result<()> {
        let Some(head) = read_head(&client)? else {
            return Ok(());
        };
        let text = String::from_utf8_lossy(&head).into_owned();
        let line = text.lines().next().unwrap_or("").to_string();
        let inject = line.contains(matching) && {
            let mut list = self.seen.injected.lock().expect("seen lock");
            let yes = list.len() < count;
            if yes {
                list.push(line.clone());
            }
            yes
        };
        if inject && reset {
            let half = header(&text, "content-length")
                .and_then(|v| v.parse::<u64>().ok())
                .unwrap_or(0)
                / 2;
            std::io::copy(&mut (&*client).take(half), &mut std::io::sink())?;
            std::thread::sleep(Duration::from_millis(20));
            // Dropped with the rest unread: the kernel resets the connection.
            return Ok(());
        }
        if inject {
            read_body(&client, &text)?;
            (&*client).write_all(
                b"HTTP/1.1 503 Service Unavailable\r\nContent-Length: 0\r\nConnection: close\r\n\r\n",
            )?;
            let _ = client.shutdown(Shutdown::Write);
            // Drain until the client closes, so that closing sends no reset.
            let mut buf = [0u8; 4096];
            while (&*client).read(&mut buf).unwrap_or(0) > 0 {}
            return Ok(());
        }
        let head = close_connection(&text);
        let up = self.connect_upstream()?;
        self.pipe_with(client, up, None, u64::MAX, head.into_bytes())
    }
}

/// How a copy ended.
enum Copied {
    /// The source closed.
    Eof,
    /// `limit` bytes were copied.
    Limit,
}

fn copy(
    mut from: &TcpStream,
    mut to: &TcpStream,
    delay: Option<Duration>,
    limit: u64,
) -> std::io::Result<Copied> {
    let mut buf = vec![0u8; 64 * 1024];
    let mut total = 0u64;
    loop {
        if total >= limit {
            return Ok(Copied::Limit);
        }
        let want = buf
            .len()
            .min(usize::try_from(limit - total).unwrap_or(usize::MAX));
        let n = from.read(&mut buf[..want])?;
        if n == 0 {
            return Ok(Copied::Eof);
        }
        if let Some(d) = delay {
            std::thread::sleep(d);
        }
        to.write_all(&buf[..n])?;
        total += n as u64;
    }
}

/// The request head up to and including the blank line; `None` when the client closed
/// first.
fn read_head(mut client: &TcpStream) -> std::io::Result<Option<Vec<u8>>> {
    let mut head = Vec::new();
    let mut byte = [0u8; 1];
    while !head.ends_with(b"\r\n\r\n") {
        if client.read(&mut byte)? == 0 {
            return Ok(None);
        }
        head.push(byte[0]);
    }
    Ok(Some(head))
}

/// Reads the body the head announces (Content-Length or chunked).
fn read_body(mut client: &TcpStream, head: &str) -> std::io::Result<()> {
    if header(head, "transfer-encoding").is_some_and(|v| v.eq_ignore_ascii_case("chunked")) {
        loop {
            let mut line = Vec::new();
            let mut byte = [0u8; 1];
            while !line.ends_with(b"\r\n") {
                if client.read(&mut byte)? == 0 {
                    return Ok(());
                }
                line.push(byte[0]);
            }
            let size_text = String::from_utf8_lossy(&line);
            let size = usize::from_str_radix(size_text.trim().split(';').next().unwrap_or("0"), 16)
                .unwrap_or(0);
            let mut chunk = vec![0u8; size + 2];
            client.read_exact(&mut chunk)?;
            if size == 0 {
                return Ok(());
            }
        }
    }
    let length: u64 = header(head, "content-length")
        .and_then(|v| v.parse().ok())
        .unwrap_or(0);
    std::io::copy(&mut client.take(length), &mut std::io::sink())?;
    Ok(())
}

/// The value of header `name` in a request head.
fn header(head: &str, name: &str) -> Option<String> {
    head.lines().find_map(|l| {
        let (k, v) = l.split_once(':')?;
        k.trim()
            .eq_ignore_ascii_case(name)
            .then(|| v.trim().to_string())
    })
}

/// `head` with `Connection: close` in place of any Connection header.
fn close_connection(head: &str) -> String {
    let mut out = String::new();
    for line in head.split_inclusive("\r\n") {
        if line == "\r\n" {
            out.push_str("Connection: close\r\n\r\n");
        } else if !line.to_ascii_lowercase().starts_with("connection:") {
            out.push_str(line);
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn forwarded_heads_ask_for_close() {
        assert_eq!(
            close_connection("GET / HTTP/1.1\r\nHost: a\r\nConnection: keep-alive\r\n\r\n"),
            "GET / HTTP/1.1\r\nHost: a\r\nConnection: close\r\n\r\n"
        );
    }

    /// An echo server: answers each connection with what it read, until EOF.
    fn echo() -> u16 {
        let l = TcpListener::bind("127.0.0.1:0").unwrap();
        let port = l.local_addr().unwrap().port();
        std::thread::spawn(move || {
            for mut c in l.incoming().flatten() {
                std::thread::spawn(move || {
                    let mut buf = [0u8; 4096];
                    while let Ok(n) = c.read(&mut buf) {
                        if n == 0 || c.write_all(&buf[..n]).is_err() {
                            break;
                        }
                    }
                });
            }
        });
        port
    }

    #[test]
    fn pass_forwards_and_a_stall_stops_reading() {
        let proxy = FaultProxy::start(echo(), Fault::Pass);
        let mut c = TcpStream::connect(("127.0.0.1", proxy.port)).unwrap();
        c.write_all(b"ping").unwrap();
        let mut got = [0u8; 4];
        c.read_exact(&mut got).unwrap();
        assert_eq!(&got, b"ping");

        proxy.set(Fault::StallUpload { after: 1024 });
        let mut c = TcpStream::connect(("127.0.0.1", proxy.port)).unwrap();
        c.set_write_timeout(Some(Duration::from_millis(500)))
            .unwrap();
        // Far more than the socket buffers hold: the write must block, then time out.
        let chunk = vec![7u8; 1 << 20];
        let mut written = 0usize;
        let err = loop {
            match c.write(&chunk) {
                Ok(n) => written += n,
                Err(e) => break e,
            }
            assert!(written < 256 << 20, "the proxy kept reading");
        };
        assert!(
            matches!(
                err.kind(),
                std::io::ErrorKind::WouldBlock | std::io::ErrorKind::TimedOut
            ),
            "{err}"
        );
        assert_eq!(proxy.stalled(), 1);
    }
}
