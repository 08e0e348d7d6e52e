//! The generator: one tokio task per connection, each pacing its own requests (closed
//! or open loop) and keeping its own histogram, merged when all have finished; a
//! progress line once a second from shared counters.

use std::collections::HashMap;
use std::fmt;
use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, SystemTime};

use hdrhistogram::Histogram;
use http::StatusCode;
use serde::{Deserialize, Serialize};
use tokio::sync::watch;
use tokio::task::JoinSet;
use tokio::time::{Instant, MissedTickBehavior};

use crate::client::{self, Conn, Failure};
use crate::report::{ErrorKind, Report};
use crate::spec::{Mode, Target};
use crate::stats::{Stats, new_histogram};
use crate::{Error, HumanDuration, LoadSpec, Result};

/// How often [`run`] reports progress.
pub const PROGRESS_INTERVAL: Duration = Duration::from_secs(1);
/// How long a closed-loop connection waits after failing to connect before it tries
/// again, so a refused port is not hammered in a tight loop.
pub const CONNECT_RETRY_PAUSE: Duration = Duration::from_millis(10);

/// Where a running test is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Phase {
    /// Sending, not counting yet.
    WarmUp,
    /// Sending and counting.
    Measuring,
    /// No longer sending; waiting for the last answers.
    Draining,
}

/// A test's progress, once every [`PROGRESS_INTERVAL`].
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Progress {
    /// Where the test is.
    pub phase: Phase,
    /// Seconds since the load started (warm-up included).
    pub elapsed_secs: f64,
    /// Seconds the load lasts in all: warm-up plus duration.
    pub total_secs: f64,
    /// Requests finished so far (answered or failed), warm-up included.
    pub requests: u64,
    /// Of which errors (any kind, non-2xx/3xx included).
    pub errors: u64,
    /// Requests finished per second since the previous progress.
    pub rate: f64,
}

/// `measuring, 12s of 35s: 22345 requests (0 errors), 1923.4 requests/s`.
impl fmt::Display for Progress {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let phase = match self.phase {
            Phase::WarmUp => "warming up",
            Phase::Measuring => "measuring",
            Phase::Draining => "waiting for the last answers",
        };
        write!(
            f,
            "{phase}, {:.0}s of {:.0}s: {} requests ({} errors), {:.1} requests/s",
            self.elapsed_secs, self.total_secs, self.requests, self.errors, self.rate
        )
    }
}

/// The instants that frame a test.
#[derive(Debug, Clone, Copy)]
struct Clock {
    /// The load starts (the warm-up's start).
    start: Instant,
    /// Counting starts.
    measure: Instant,
    /// No request is sent from here on.
    end: Instant,
}

#[derive(Debug, Default)]
struct Counters {
    finished: AtomicU64,
    errors: AtomicU64,
}

impl Counters {
    fn count(&self, outcome: &Result<StatusCode, Failure>) {
        self.finished.fetch_add(1, Ordering::Relaxed);
        let failed = match outcome {
            Ok(s) => !(s.is_success() || s.is_redirection()),
            Err(_) => true,
        };
        if failed {
            self.errors.fetch_add(1, Ordering::Relaxed);
        }
    }
}

/// Everything a connection's task needs.
struct Connection {
    target: Arc<Target>,
    addrs: Arc<[SocketAddr]>,
    clock: Clock,
    counters: Arc<Counters>,
    cancel: watch::Receiver<bool>,
    stats: Stats,
    conn: Option<Conn>,
}

/// Runs the load test `spec` and reports what it measured, its thresholds judged.
///
/// The load starts at once: `warm-up`, then `duration` measured. Requests are sent on
/// `connections` keep-alive HTTP/1.1 connections, each reopened when the server closes
/// it. No request is sent after the end; those in flight then are awaited (at most
/// `timeout`) and counted. A request counts in the figures when it was sent (closed
/// loop) or scheduled (open loop) after the warm-up.
///
/// **Latency** is until the end of the answer's body. Closed loop: from when the request
/// was started, connecting included when a connection had to be (re)opened. Open loop:
/// from the request's *intended* send time on the schedule, so time spent waiting for
/// an earlier, slow answer on the same connection is charged to the server (a 500 ms
/// stall shows in the percentiles of every request it held back, not only in the one
/// it delayed), as wrk2 does; but a request the generator itself sent late (its timer's
/// 1 ms granularity, a busy machine) is measured from when the connection was ready, so
/// the client's own lag is not charged to the server ([`Report::max_send_lag_us`] says
/// how late it ever was). Only complete answers have a latency, whatever their status.
///
/// **Errors** are answers with a status other than 2xx/3xx, requests without a complete
/// answer within `timeout` (connecting included), connections that could not be opened,
/// and connections closed or reset before the answer was complete (see
/// [`ErrorKind`]).
///
/// `cancel` turning true stops the test at once (requests in flight are abandoned) and
/// returns what was measured so far, marked cancelled. `progress` is called once every
/// [`PROGRESS_INTERVAL`]. Errors: an invalid spec, or a host name that does not resolve;
/// failed requests are not errors but figures of the report.
pub async fn run<F>(spec: &LoadSpec, cancel: watch::Receiver<bool>, progress: F) -> Result<Report>
where
    F: FnMut(&Progress) + Send,
{
    Ok(run_with_histogram(spec, cancel, progress).await?.0)
}

/// [`run`], and the merged histogram of the measured latencies (microseconds).
pub(crate) async fn run_with_histogram<F>(
    spec: &LoadSpec,
    cancel: watch::Receiver<bool>,
    mut progress: F,
) -> Result<(Report, Histogram<u64>)>
where
    F: FnMut(&Progress) + Send,
{
    let target = Arc::new(spec.prepare()?);
    let addrs = resolve(&target).await?;
    let started_at = SystemTime::now();
    let start = Instant::now();
    let clock = Clock {
        start,
        measure: start + target.warm_up,
        end: start + target.warm_up + target.duration,
    };
    let counters = Arc::new(Counters::default());
    let histogram = new_histogram();
    let mut tasks = JoinSet::new();
    let mut ids = HashMap::new();
    for i in 0..target.mode.connections() {
        let c = Connection {
            target: target.clone(),
            addrs: addrs.clone(),
            clock,
            counters: counters.clone(),
            cancel: cancel.clone(),
            stats: Stats::new(histogram.clone()),
            conn: None,
        };
        let handle = tasks.spawn(c.run(i));
        ids.insert(handle.id(), i);
    }
    let mut ticker = tokio::time::interval_at(start + PROGRESS_INTERVAL, PROGRESS_INTERVAL);
    ticker.set_missed_tick_behavior(MissedTickBehavior::Skip);
    let mut cancel_seen = cancel.clone();
    let mut cancelled_at = None;
    let mut total = Stats::new(histogram);
    let mut last = (start, 0_u64);
    loop {
        tokio::select! {
            joined = tasks.join_next() => match joined {
                None => break,
                Some(Ok(stats)) => total.merge(stats),
                Some(Err(e)) => {
                    return Err(Error::Worker {
                        connection: ids.get(&e.id()).copied().unwrap_or_default(),
                        message: e.to_string(),
                    });
                }
            },
            now = ticker.tick() => {
                let finished = counters.finished.load(Ordering::Relaxed);
                let secs = now.saturating_duration_since(last.0).as_secs_f64();
                let phase = if now < clock.measure {
                    Phase::WarmUp
                } else if now < clock.end {
                    Phase::Measuring
                } else {
                    Phase::Draining
                };
                progress(&Progress {
                    phase,
                    elapsed_secs: now.saturating_duration_since(start).as_secs_f64(),
                    total_secs: (target.warm_up + target.duration).as_secs_f64(),
                    requests: finished,
                    errors: counters.errors.load(Ordering::Relaxed),
                    rate: if secs > 0.0 { (finished - last.1) as f64 / secs } else { 0.0 },
                });
                last = (now, finished);
            }
            _ = cancelled(&mut cancel_seen), if cancelled_at.is_none() => {
                cancelled_at = Some(Instant::now());
            }
        }
    }
    let measured_end = cancelled_at.map_or(clock.end, |at| at.min(clock.end));
    let measured = measured_end.saturating_duration_since(clock.measure);
    let hist = total.histogram();
    let report = total.into_report(
        &target,
        started_at,
        SystemTime::now(),
        measured,
        cancelled_at.is_some(),
    );
    Ok((report, hist))
}

async fn resolve(target: &Target) -> Result<Arc<[SocketAddr]>> {
    let addrs: Vec<SocketAddr> = tokio::net::lookup_host((target.host.as_str(), target.port))
        .await
        .map_err(|source| Error::Resolve {
            host: target.host.clone(),
            source,
        })?
        .collect();
    if addrs.is_empty() {
        return Err(Error::NoAddress {
            host: target.host.clone(),
        });
    }
    Ok(addrs.into())
}

/// Resolves when `cancel` turns true; never when its sender is gone.
async fn cancelled(cancel: &mut watch::Receiver<bool>) {
    if cancel.wait_for(|c| *c).await.is_err() {
        std::future::pending::<()>().await;
    }
}

/// The latency of an open-loop request: scheduled at `intended`, its connection free
/// (the previous answer in) at `ready`, actually sent at `sent`, answered at `done`.
/// The wait for the connection (`ready - intended`) is the server's doing and counts;
/// the generator's own lag (`sent - ready`) does not.
pub(crate) fn open_loop_latency(
    intended: Instant,
    ready: Instant,
    sent: Instant,
    done: Instant,
) -> Duration {
    done.saturating_duration_since(sent) + ready.saturating_duration_since(intended)
}

impl Connection {
    async fn run(mut self, index: u32) -> Stats {
        match self.target.mode {
            Mode::Closed { .. } => self.closed_loop().await,
            Mode::Open { rate, connections } => self.open_loop(index, rate, connections).await,
        }
        self.stats
    }

    /// One request with the timeout; `None` when cancelled.
    async fn attempt(&mut self) -> Option<Result<StatusCode, Failure>> {
        let timeout = self.target.timeout;
        let exchange = client::exchange(&mut self.conn, &self.target, &self.addrs);
        let outcome = tokio::select! {
            biased;
            _ = cancelled(&mut self.cancel) => return None,
            r = tokio::time::timeout(timeout, exchange) => r,
        };
        let outcome = outcome.unwrap_or_else(|_| {
            Err(Failure::new(
                ErrorKind::Timeout,
                format!("no complete answer within {}", HumanDuration(timeout)),
            ))
        });
        if outcome.is_err() {
            self.conn = None;
        }
        self.counters.count(&outcome);
        Some(outcome)
    }

    fn record(&mut self, counted: bool, outcome: &Result<StatusCode, Failure>, latency: Duration) {
        if counted {
            self.stats.record(outcome, latency);
        } else {
            self.stats.warm_up_requests += 1;
        }
    }

    async fn closed_loop(&mut self) {
        loop {
            let sent = Instant::now();
            if sent >= self.clock.end {
                return;
            }
            let Some(outcome) = self.attempt().await else {
                return;
            };
            let latency = sent.elapsed();
            self.record(sent >= self.clock.measure, &outcome, latency);
            if matches!(&outcome, Err(f) if f.kind == ErrorKind::Connect) {
                tokio::select! {
                    _ = cancelled(&mut self.cancel) => return,
                    _ = tokio::time::sleep(CONNECT_RETRY_PAUSE) => {}
                }
            }
        }
    }

    /// Request `k` of connection `index` is due at `start + (index / connections + k) *
    /// interval`, `interval` being `connections / rate`: the connections take turns.
    async fn open_loop(&mut self, index: u32, rate: f64, connections: u32) {
        let interval = Duration::from_secs_f64(f64::from(connections) / rate);
        let first = self.clock.start + interval.mul_f64(f64::from(index) / f64::from(connections));
        let due = |k: u64| first + interval.mul_f64(k as f64);
        let mut free_at = self.clock.start;
        for k in 0_u64.. {
            let intended = due(k);
            if intended >= self.clock.end {
                return;
            }
            if Instant::now() >= self.clock.end {
                // Still busy with an earlier answer when the test ended.
                let left = (self.clock.end - intended).as_secs_f64() / interval.as_secs_f64();
                self.stats.unsent += left.ceil() as u64;
                return;
            }
            tokio::select! {
                biased;
                _ = cancelled(&mut self.cancel) => return,
                _ = tokio::time::sleep_until(intended) => {}
            }
            let ready = intended.max(free_at);
            let sent = Instant::now();
            let Some(outcome) = self.attempt().await else {
                return;
            };
            let done = Instant::now();
            free_at = done;
            let counted = intended >= self.clock.measure;
            if counted {
                self.stats.max_lag = self
                    .stats
                    .max_lag
                    .max(sent.saturating_duration_since(ready));
            }
            self.record(
                counted,
                &outcome,
                open_loop_latency(intended, ready, sent, done),
            );
        }
    }
}
