//! The stall watchdog. reqwest 0.13 has no limit that fits an upload: its `timeout` is
//! overall, and its `read_timeout` runs from the start of the request to the answer's
//! headers without ever being reset, so it fails any upload longer than itself, and
//! nothing at all watches a peer that stops reading the request body (the write just
//! blocks). So the request body is wrapped to note every chunk the connection takes
//! ([`Watched`]), a watchdog beside the request fails it when nothing moved for the idle
//! limit, and the answer's body is wrapped to fail a read that waits as long
//! ([`IdleBody`]).
//!
//! A chunk is taken when hyper's write buffer has room for it, so a peer that stops
//! reading is seen once the socket buffers are full: a few MiB later, and then within
//! the idle limit.

use std::pin::Pin;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::task::{Context, Poll, ready};
use std::time::{Duration, Instant};

use bytes::Bytes;
use http_body::{Body as _, Frame, SizeHint};

use crate::{Exchange, NetError, Phase};

/// In-memory bodies are handed over in chunks of this size, so that a slow but moving
/// upload is seen moving.
const CHUNK: usize = 64 * 1024;

type BoxError = Box<dyn std::error::Error + Send + Sync>;

/// What a request's body has done so far, shared with its watchdog.
#[derive(Debug)]
pub(crate) struct Activity {
    origin: Instant,
    /// Nanoseconds from `origin` to the last chunk taken.
    last: AtomicU64,
    sent: AtomicU64,
    done: AtomicBool,
}

impl Activity {
    pub(crate) fn new() -> Activity {
        Activity {
            origin: Instant::now(),
            last: AtomicU64::new(0),
            sent: AtomicU64::new(0),
            done: AtomicBool::new(false),
        }
    }

    fn touch(&self, bytes: usize) {
        let nanos = u64::try_from(self.origin.elapsed().as_nanos()).unwrap_or(u64::MAX);
        self.last.store(nanos, Ordering::Relaxed);
        self.sent.fetch_add(bytes as u64, Ordering::Relaxed);
    }

    /// When the last chunk was taken (the start, before any).
    pub(crate) fn last(&self) -> Instant {
        self.origin + Duration::from_nanos(self.last.load(Ordering::Relaxed))
    }

    /// Body bytes taken so far.
    pub(crate) fn sent(&self) -> u64 {
        self.sent.load(Ordering::Relaxed)
    }

    /// The whole body was taken (or there was none).
    pub(crate) fn finish(&self) {
        self.done.store(true, Ordering::Relaxed);
    }

    /// How far the request had got, for a stall.
    pub(crate) fn phase(&self) -> Phase {
        if self.done.load(Ordering::Relaxed) {
            Phase::Waiting
        } else {
            Phase::Sending
        }
    }
}

/// Where a watched body's bytes come from.
enum Source {
    /// An in-memory body, handed over [`CHUNK`] bytes at a time.
    Bytes(Bytes),
    /// A streamed body (a file, a multipart form).
    Stream(reqwest::Body),
}

/// The bytes of an in-memory body, without a copy: such a body yields them whole on its
/// first poll, and never waits.
fn in_memory(mut body: reqwest::Body) -> Bytes {
    let mut cx = Context::from_waker(std::task::Waker::noop());
    match Pin::new(&mut body).poll_frame(&mut cx) {
        Poll::Ready(Some(Ok(frame))) => frame.into_data().unwrap_or_default(),
        _ => Bytes::new(),
    }
}

/// A request body that notes each chunk the connection takes.
pub(crate) struct Watched {
    source: Source,
    /// The body's length when known (its size hint, or the request's Content-Length):
    /// hyper stops polling once it has that many bytes, so the end is noted then.
    length: Option<u64>,
    activity: Arc<Activity>,
}

impl Watched {
    pub(crate) fn new(body: reqwest::Body, length: Option<u64>, activity: Arc<Activity>) -> Self {
        let length = length.or(body.size_hint().exact());
        let source = match body.as_bytes() {
            Some(_) => Source::Bytes(in_memory(body)),
            None => Source::Stream(body),
        };
        if length == Some(0) {
            activity.finish();
        }
        Watched {
            source,
            length,
            activity,
        }
    }

    fn took(&self, n: usize) {
        self.activity.touch(n);
        if self.length.is_some_and(|l| self.activity.sent() >= l) {
            self.activity.finish();
        }
    }
}

impl http_body::Body for Watched {
    type Data = Bytes;
    type Error = BoxError;

    fn poll_frame(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, BoxError>>> {
        let this = &mut *self;
        match &mut this.source {
            Source::Bytes(b) => {
                if b.is_empty() {
                    this.activity.finish();
                    return Poll::Ready(None);
                }
                let chunk = b.split_to(CHUNK.min(b.len()));
                this.took(chunk.len());
                Poll::Ready(Some(Ok(Frame::data(chunk))))
            }
            Source::Stream(body) => match ready!(Pin::new(body).poll_frame(cx)) {
                Some(Ok(frame)) => {
                    let n = frame.data_ref().map_or(0, |d| d.len());
                    this.took(n);
                    Poll::Ready(Some(Ok(frame)))
                }
                Some(Err(e)) => Poll::Ready(Some(Err(e.into()))),
                None => {
                    this.activity.finish();
                    Poll::Ready(None)
                }
            },
        }
    }

    fn is_end_stream(&self) -> bool {
        match &self.source {
            Source::Bytes(b) => b.is_empty(),
            Source::Stream(body) => body.is_end_stream(),
        }
    }

    fn size_hint(&self) -> SizeHint {
        match &self.source {
            Source::Bytes(b) => SizeHint::with_exact(b.len() as u64),
            Source::Stream(body) => body.size_hint(),
        }
    }
}

/// An answer's body that fails a read waiting longer than the idle limit, or going past
/// the request's overall deadline. The idle timer runs only while a read waits for the
/// peer: time the caller takes between reads is not the peer's.
pub(crate) struct IdleBody {
    inner: reqwest::Body,
    idle: Duration,
    timer: Pin<Box<tokio::time::Sleep>>,
    /// The timer runs for the current wait (armed at its first `Pending`).
    armed: bool,
    deadline: Pin<Box<tokio::time::Sleep>>,
    exchange: Exchange,
    total: Duration,
}

impl IdleBody {
    pub(crate) fn new(
        inner: reqwest::Body,
        exchange: Exchange,
        idle: Duration,
        deadline: Instant,
        total: Duration,
    ) -> Self {
        IdleBody {
            inner,
            idle,
            timer: Box::pin(tokio::time::sleep(idle)),
            armed: false,
            deadline: Box::pin(tokio::time::sleep_until(deadline.into())),
            exchange,
            total,
        }
    }
}

impl http_body::Body for IdleBody {
    type Data = Bytes;
    type Error = BoxError;

    fn poll_frame(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, BoxError>>> {
        let this = &mut *self;
        if this.deadline.as_mut().poll(cx).is_ready() {
            return Poll::Ready(Some(Err(Box::new(this.exchange.overall(this.total)))));
        }
        match Pin::new(&mut this.inner).poll_frame(cx) {
            Poll::Ready(Some(Ok(frame))) => {
                this.armed = false;
                Poll::Ready(Some(Ok(frame)))
            }
            Poll::Ready(Some(Err(e))) => Poll::Ready(Some(Err(e.into()))),
            Poll::Ready(None) => Poll::Ready(None),
            Poll::Pending => {
                if !this.armed {
                    let until = tokio::time::Instant::now() + this.idle;
                    this.timer.as_mut().reset(until);
                    this.armed = true;
                }
                if this.timer.as_mut().poll(cx).is_ready() {
                    return Poll::Ready(Some(Err(Box::new(this.exchange.stalled(
                        Phase::Receiving,
                        this.idle,
                        0,
                    )))));
                }
                Poll::Pending
            }
        }
    }

    fn is_end_stream(&self) -> bool {
        self.inner.is_end_stream()
    }

    fn size_hint(&self) -> SizeHint {
        self.inner.size_hint()
    }
}

/// Finds a [`NetError`] among `err`'s causes (an [`IdleBody`] failure that reqwest
/// wrapped), or `None`.
pub(crate) fn find_net_error<'a>(
    err: &'a (dyn std::error::Error + 'static),
) -> Option<&'a NetError> {
    let mut cur: Option<&(dyn std::error::Error + 'static)> = Some(err);
    while let Some(e) = cur {
        if let Some(n) = e.downcast_ref::<NetError>() {
            return Some(n);
        }
        cur = e.source();
    }
    None
}
