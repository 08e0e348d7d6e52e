//! One keep-alive HTTP/1.1 connection (a hyper client connection on a tokio socket) and
//! one exchange on it: send the request, read the whole answer. A connection the server
//! closed (after `Connection: close`, its keep-alive limit, or idle) is replaced by a new
//! one; a request is sent again once, uncounted, only when hyper hands it back unsent
//! because a *reused* connection turned out closed, which every HTTP client does.
//! Connecting and the exchange are timed by the caller, which also bounds them.

use std::error::Error as _;
use std::future::Future;
use std::net::SocketAddr;
use std::pin::{Pin, pin};

use bytes::Bytes;
use http::StatusCode;
use http_body_util::{BodyExt, Full};
use hyper::client::conn::http1::{self, SendRequest};
use hyper_util::rt::TokioIo;
use tokio::net::TcpStream;

use crate::report::ErrorKind;
use crate::spec::Target;

/// A request that got no complete answer.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct Failure {
    pub kind: ErrorKind,
    pub message: String,
}

impl Failure {
    pub(crate) fn new(kind: ErrorKind, message: impl Into<String>) -> Failure {
        Failure {
            kind,
            message: message.into(),
        }
    }
}

type Driver = http1::Connection<TokioIo<TcpStream>, Full<Bytes>>;

/// An open connection; dropping it closes the socket. Its driver (hyper's state
/// machine reading and writing the socket) is polled by the task that sends on it, not
/// spawned: an answer reaches the clock without a hop to another task or thread.
pub(crate) struct Conn {
    sender: SendRequest<Full<Bytes>>,
    /// `None` once the connection has ended.
    driver: Option<Pin<Box<Driver>>>,
}

async fn connect(target: &Target, addrs: &[SocketAddr]) -> Result<Conn, Failure> {
    let stream = TcpStream::connect(addrs).await.map_err(|e| {
        Failure::new(
            ErrorKind::Connect,
            format!("connect to {}:{}: {e}", target.host, target.port),
        )
    })?;
    // Requests are small and latency is what is measured: no Nagle delay.
    let _ = stream.set_nodelay(true);
    let (sender, driver) = http1::handshake(TokioIo::new(stream))
        .await
        .map_err(|e| classify(&e))?;
    Ok(Conn {
        sender,
        driver: Some(Box::pin(driver)),
    })
}

/// Sends one request on `slot`'s connection (opening one if there is none) and reads
/// the answer to its end. On failure the connection is dropped.
pub(crate) async fn exchange(
    slot: &mut Option<Conn>,
    target: &Target,
    addrs: &[SocketAddr],
) -> Result<StatusCode, Failure> {
    let result = exchange_inner(slot, target, addrs).await;
    if result.is_err() {
        *slot = None;
    }
    result
}

/// What one try on a connection came to.
enum Try {
    Answered(StatusCode),
    /// The connection was closed before the request was written: it may be sent again.
    Unsent(Failure),
    Failed(Failure),
}

async fn exchange_inner(
    slot: &mut Option<Conn>,
    target: &Target,
    addrs: &[SocketAddr],
) -> Result<StatusCode, Failure> {
    let mut retried = false;
    loop {
        let reused = slot.is_some();
        let conn = match slot {
            Some(c) => c,
            None => slot.insert(connect(target, addrs).await?),
        };
        match on(conn, target).await {
            Try::Answered(status) => return Ok(status),
            // A reused connection the server closed while idle: not this request's
            // fault, once.
            Try::Unsent(_) if reused && !retried => {
                retried = true;
                *slot = None;
            }
            Try::Unsent(f) | Try::Failed(f) => return Err(f),
        }
    }
}

/// One request on `conn`, driving the connection meanwhile.
async fn on(conn: &mut Conn, target: &Target) -> Try {
    let Conn { sender, driver } = conn;
    let work = async {
        if let Err(e) = sender.ready().await {
            return Try::Unsent(classify(&e));
        }
        let resp = match sender.try_send_request(target.request()).await {
            Ok(resp) => resp,
            Err(mut e) => {
                let unsent = e.take_message().is_some();
                let f = classify(&e.into_error());
                return if unsent {
                    Try::Unsent(f)
                } else {
                    Try::Failed(f)
                };
            }
        };
        let status = resp.status();
        let mut body = resp.into_body();
        while let Some(frame) = body.frame().await {
            if let Err(e) = frame {
                return Try::Failed(classify(&e));
            }
        }
        Try::Answered(status)
    };
    drive(driver, work).await
}

/// Runs `work` to its end while polling the connection's driver, first, so that what
/// the driver reads reaches `work` in the same wake-up.
async fn drive<T>(driver: &mut Option<Pin<Box<Driver>>>, work: impl Future<Output = T>) -> T {
    let mut work = pin!(work);
    loop {
        let Some(d) = driver.as_mut() else {
            return work.await;
        };
        tokio::select! {
            biased;
            _ = d.as_mut() => {}
            out = &mut work => return out,
        }
        // The connection ended (closed, or failed); `work` learns it from hyper.
        *driver = None;
    }
}

/// hyper's error as a kind and a message with its cause.
fn classify(e: &hyper::Error) -> Failure {
    let mut message = e.to_string();
    if let Some(source) = e.source() {
        message.push_str(&format!(": {source}"));
    }
    let kind = if e.is_parse() || e.is_parse_status() || e.is_parse_too_large() || e.is_user() {
        ErrorKind::Protocol
    } else {
        ErrorKind::Closed
    };
    Failure::new(kind, message)
}
