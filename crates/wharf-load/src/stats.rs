//! What the connections measure, turned into a [`Report`] at the end. Counts are kept
//! per connection and added up; latencies go, in batches, into one HDR histogram
//! shared by all connections: a histogram covering 1 µs to an hour at 3 significant
//! digits weighs ~190 KB, which thousands of connections must not each carry.

use std::sync::{Arc, Mutex, MutexGuard};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use hdrhistogram::Histogram;
use http::StatusCode;

use crate::client::Failure;
use crate::report::{BUCKETS, Bucket, ErrorCounts, KEPT_ERRORS, Latency, Report};
use crate::spec::{MAX_LATENCY, Target};
use crate::verdict::evaluate;

/// How many latencies a connection keeps before it adds them to the shared histogram.
const BATCH: usize = 256;

/// The latencies of all connections, in microseconds.
pub(crate) type SharedHistogram = Arc<Mutex<Histogram<u64>>>;

/// An empty histogram from 1 µs to [`MAX_LATENCY`], 3 significant digits.
pub(crate) fn new_histogram() -> SharedHistogram {
    let high = MAX_LATENCY.0.as_micros() as u64;
    let h = Histogram::new_with_bounds(1, high, 3).expect("constant bounds are valid");
    Arc::new(Mutex::new(h))
}

fn lock(h: &SharedHistogram) -> MutexGuard<'_, Histogram<u64>> {
    h.lock().unwrap_or_else(|poisoned| poisoned.into_inner())
}

/// What one connection measured (or, merged, all of them).
#[derive(Debug)]
pub(crate) struct Stats {
    histogram: SharedHistogram,
    pending: Vec<u64>,
    status_classes: [u64; 10],
    errors: ErrorCounts,
    samples: Vec<String>,
    pub unsent: u64,
    pub max_lag: Duration,
    pub warm_up_requests: u64,
}

impl Stats {
    pub(crate) fn new(histogram: SharedHistogram) -> Stats {
        Stats {
            histogram,
            pending: Vec::with_capacity(BATCH),
            status_classes: [0; 10],
            errors: ErrorCounts::default(),
            samples: Vec::new(),
            unsent: 0,
            max_lag: Duration::ZERO,
            warm_up_requests: 0,
        }
    }

    /// One measured request: its outcome, and its latency when it got an answer.
    pub(crate) fn record(&mut self, outcome: &Result<StatusCode, Failure>, latency: Duration) {
        match outcome {
            Ok(status) => {
                self.pending.push(latency.as_micros() as u64);
                if self.pending.len() >= BATCH {
                    self.flush();
                }
                self.status_classes[usize::from(status.as_u16() / 100) % 10] += 1;
                if !(status.is_success() || status.is_redirection()) {
                    self.errors.status += 1;
                    self.errors.total += 1;
                    self.sample(format!("status {status}"));
                }
            }
            Err(f) => {
                self.errors.add(f.kind);
                self.sample(f.message.clone());
            }
        }
    }

    fn flush(&mut self) {
        if self.pending.is_empty() {
            return;
        }
        let mut h = lock(&self.histogram);
        for us in self.pending.drain(..) {
            h.saturating_record(us);
        }
    }

    fn sample(&mut self, message: String) {
        if self.samples.len() < KEPT_ERRORS && !self.samples.contains(&message) {
            self.samples.push(message);
        }
    }

    /// Adds `o`'s counts (both record latencies into the same histogram).
    pub(crate) fn merge(&mut self, mut o: Stats) {
        o.flush();
        for (a, b) in self.status_classes.iter_mut().zip(o.status_classes) {
            *a += b;
        }
        self.errors.merge(&o.errors);
        for s in std::mem::take(&mut o.samples) {
            self.sample(s);
        }
        self.unsent += o.unsent;
        self.max_lag = self.max_lag.max(o.max_lag);
        self.warm_up_requests += o.warm_up_requests;
    }

    /// The latencies recorded so far.
    pub(crate) fn histogram(&mut self) -> Histogram<u64> {
        self.flush();
        lock(&self.histogram).clone()
    }

    /// The report of a run of `target`.
    pub(crate) fn into_report(
        mut self,
        target: &Target,
        started_at: SystemTime,
        ended_at: SystemTime,
        measured: Duration,
        cancelled: bool,
    ) -> Report {
        let hist = self.histogram();
        let responses = hist.len();
        let failed = self.errors.total - self.errors.status;
        let requests = responses + failed;
        let error_rate = if requests == 0 {
            0.0
        } else {
            self.errors.total as f64 / requests as f64
        };
        let measured_secs = measured.as_secs_f64();
        let throughput = if measured_secs > 0.0 {
            responses as f64 / measured_secs
        } else {
            0.0
        };
        let latency = latency(&hist);
        let checks = evaluate(
            &target.thresholds,
            latency.as_ref(),
            (requests > 0).then_some(error_rate),
            throughput,
        );
        let status_classes = self
            .status_classes
            .iter()
            .enumerate()
            .filter(|(_, n)| **n > 0)
            .map(|(class, n)| (format!("{class}xx"), *n))
            .collect();
        Report {
            url: target.url.clone(),
            method: target.method.to_string(),
            mode: target.mode,
            warm_up: target.warm_up.into(),
            duration: target.duration.into(),
            timeout: target.timeout.into(),
            started_at_ms: unix_ms(started_at),
            ended_at_ms: unix_ms(ended_at),
            measured_secs,
            cancelled,
            warm_up_requests: self.warm_up_requests,
            requests,
            responses,
            status_classes,
            errors: self.errors,
            error_rate,
            throughput,
            passed: checks.iter().all(|c| c.passed),
            checks,
            latency,
            histogram: buckets(&hist),
            unsent: self.unsent,
            max_send_lag_us: self.max_lag.as_micros() as u64,
            error_samples: self.samples,
        }
    }
}

fn latency(h: &Histogram<u64>) -> Option<Latency> {
    if h.is_empty() {
        return None;
    }
    Some(Latency {
        min_us: h.min(),
        mean_us: h.mean(),
        stdev_us: h.stdev(),
        p50_us: h.value_at_quantile(0.5),
        p75_us: h.value_at_quantile(0.75),
        p90_us: h.value_at_quantile(0.9),
        p99_us: h.value_at_quantile(0.99),
        p99_9_us: h.value_at_quantile(0.999),
        max_us: h.max(),
    })
}

fn unix_ms(t: SystemTime) -> u64 {
    t.duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_millis() as u64)
}

/// [`BUCKETS`] log-spaced bars from a little under the fastest answer to a little over
/// the slowest (at least a 1.2 ratio wide, so a very steady server is a peak, not a
/// wall).
fn buckets(h: &Histogram<u64>) -> Vec<Bucket> {
    if h.is_empty() {
        return Vec::new();
    }
    let (mut lo, mut hi) = (h.min().max(1) as f64 * 0.98, h.max().max(1) as f64 * 1.02);
    if hi / lo < 1.2 {
        let mid = (lo * hi).sqrt();
        (lo, hi) = (mid / 1.2_f64.sqrt(), mid * 1.2_f64.sqrt());
    }
    let step = (hi / lo).ln() / BUCKETS as f64;
    let edge = |i: usize| lo * (step * i as f64).exp();
    let mut bars: Vec<Bucket> = (0..BUCKETS)
        .map(|i| Bucket {
            from_us: round1(edge(i)),
            to_us: round1(edge(i + 1)),
            count: 0,
        })
        .collect();
    for v in h.iter_recorded() {
        // The middle of hdrhistogram's bucket for the value.
        let top = v.value_iterated_to();
        let value = (h.lowest_equivalent(top) + top) as f64 / 2.0;
        let i = ((value.max(lo) / lo).ln() / step) as usize;
        bars[i.min(BUCKETS - 1)].count += v.count_at_value();
    }
    bars
}

fn round1(v: f64) -> f64 {
    (v * 10.0).round() / 10.0
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::report::ErrorKind;

    fn stats() -> Stats {
        Stats::new(new_histogram())
    }

    #[test]
    fn buckets_hold_every_answer_between_the_fastest_and_the_slowest() {
        let mut s = stats();
        for us in [5_000, 5_100, 5_200, 6_000, 250_000] {
            s.record(&Ok(StatusCode::OK), Duration::from_micros(us));
        }
        let bars = buckets(&s.histogram());
        assert_eq!(bars.len(), BUCKETS);
        assert_eq!(bars.iter().map(|b| b.count).sum::<u64>(), 5);
        assert!(bars[0].from_us <= 5_000.0 && bars[BUCKETS - 1].to_us >= 250_000.0);
        assert_eq!(bars[BUCKETS - 1].count, 1);
        assert!(bars.windows(2).all(|w| w[0].to_us == w[1].from_us));
    }

    #[test]
    fn a_single_latency_is_a_peak_in_the_middle() {
        let mut s = stats();
        for _ in 0..10 {
            s.record(&Ok(StatusCode::OK), Duration::from_micros(5_000));
        }
        let bars = buckets(&s.histogram());
        let peak = bars.iter().position(|b| b.count == 10).unwrap();
        assert!((BUCKETS / 3..2 * BUCKETS / 3).contains(&peak), "{peak}");
    }

    #[test]
    fn connections_share_one_histogram_in_batches() {
        let shared = new_histogram();
        let (mut a, mut b) = (Stats::new(shared.clone()), Stats::new(shared.clone()));
        for _ in 0..BATCH + 1 {
            a.record(&Ok(StatusCode::OK), Duration::from_micros(100));
        }
        b.record(&Ok(StatusCode::OK), Duration::from_micros(200));
        assert_eq!(
            lock(&shared).len(),
            BATCH as u64,
            "a full batch is added at once"
        );
        a.merge(b);
        assert_eq!(a.histogram().len(), BATCH as u64 + 2);
    }

    #[test]
    fn errors_count_by_kind_and_status_and_keep_distinct_examples() {
        let shared = new_histogram();
        let mut s = Stats::new(shared.clone());
        let d = Duration::from_millis(1);
        s.record(&Ok(StatusCode::OK), d);
        s.record(&Ok(StatusCode::FOUND), d);
        s.record(&Ok(StatusCode::SERVICE_UNAVAILABLE), d);
        s.record(&Ok(StatusCode::SERVICE_UNAVAILABLE), d);
        s.record(&Ok(StatusCode::NOT_FOUND), d);
        let refused = Failure::new(ErrorKind::Connect, "connect to a:1: refused");
        s.record(&Err(refused.clone()), d);
        s.record(&Err(refused), d);
        s.record(&Err(Failure::new(ErrorKind::Timeout, "no answer")), d);
        let mut other = Stats::new(shared);
        other.record(&Err(Failure::new(ErrorKind::Closed, "reset")), d);
        s.merge(other);
        assert_eq!(
            s.errors,
            ErrorCounts {
                connect: 2,
                timeout: 1,
                closed: 1,
                protocol: 0,
                status: 3,
                total: 7
            }
        );
        assert_eq!(
            s.samples,
            [
                "status 503 Service Unavailable",
                "status 404 Not Found",
                "connect to a:1: refused",
                "no answer",
                "reset"
            ]
        );
        assert_eq!(s.histogram().len(), 5);
        assert_eq!(s.status_classes[2..6], [1, 1, 1, 2]);
    }
}
