//! The thresholds judged against what was measured: one [`Check`] per threshold given,
//! each with the measured value beside its limit, so a failed step says by how much.

use std::fmt;
use std::time::Duration;

use serde::{Deserialize, Serialize};

use crate::duration::format_us;
use crate::report::Latency;
use crate::{HumanDuration, Thresholds};

/// What a threshold limits.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum Metric {
    /// The median latency (microseconds), at most the limit.
    #[serde(rename = "p50")]
    P50,
    /// The 90th percentile latency (microseconds), at most the limit.
    #[serde(rename = "p90")]
    P90,
    /// The 99th percentile latency (microseconds), at most the limit.
    #[serde(rename = "p99")]
    P99,
    /// The 99.9th percentile latency (microseconds), at most the limit.
    #[serde(rename = "p99.9")]
    P99_9,
    /// The slowest answer (microseconds), at most the limit.
    #[serde(rename = "max")]
    Max,
    /// Errors / requests (a fraction), at most the limit.
    #[serde(rename = "error-rate")]
    ErrorRate,
    /// Answers per second, at least the limit.
    #[serde(rename = "throughput")]
    Throughput,
}

impl Metric {
    /// Its name as the spec writes it (`p99.9`, `error-rate`).
    pub fn name(self) -> &'static str {
        match self {
            Metric::P50 => "p50",
            Metric::P90 => "p90",
            Metric::P99 => "p99",
            Metric::P99_9 => "p99.9",
            Metric::Max => "max",
            Metric::ErrorRate => "error-rate",
            Metric::Throughput => "throughput",
        }
    }

    /// Whether the measured value must be at least the limit (throughput) rather than
    /// at most.
    pub fn is_minimum(self) -> bool {
        self == Metric::Throughput
    }

    /// Whether it is a latency, in microseconds.
    pub fn is_latency(self) -> bool {
        !matches!(self, Metric::ErrorRate | Metric::Throughput)
    }

    /// The value in its unit, for people: `5.21 ms`, `0.2 %`, `1923.4 requests/s`.
    fn show(self, v: f64) -> String {
        match self {
            Metric::ErrorRate => percent(v),
            Metric::Throughput => format!("{v:.1} requests/s"),
            _ => format_us(v),
        }
    }

    /// A limit as the spec wrote it: `50ms`, `1 %`, `1000 requests/s`.
    fn show_limit(self, v: f64) -> String {
        match self {
            Metric::ErrorRate => percent(v),
            Metric::Throughput => format!("{} requests/s", trim(v, 3)),
            _ => HumanDuration(Duration::from_micros(v as u64)).to_string(),
        }
    }
}

/// One threshold judged.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Check {
    /// What it limits.
    pub metric: Metric,
    /// The limit: microseconds for latencies, a fraction for `error-rate`, requests per
    /// second for `throughput`.
    pub limit: f64,
    /// What was measured, in the same unit; none when there was nothing to measure
    /// (no answers for a latency, no requests for `error-rate`), which fails the check.
    pub measured: Option<f64>,
    /// Whether the measured value is within the limit.
    pub passed: bool,
}

impl Check {
    fn new(metric: Metric, limit: f64, measured: Option<f64>) -> Check {
        let passed = measured.is_some_and(|m| {
            if metric.is_minimum() {
                m >= limit
            } else {
                m <= limit
            }
        });
        Check {
            metric,
            limit,
            measured,
            passed,
        }
    }
}

/// `p99 6.21 ms <= 50ms: passed`, `throughput 812.0 requests/s < 1000 requests/s: FAILED`.
impl fmt::Display for Check {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let m = self.metric;
        let verdict = if self.passed { "passed" } else { "FAILED" };
        let limit = m.show_limit(self.limit);
        match self.measured {
            None => {
                let nothing = if m.is_latency() {
                    "no answers to measure"
                } else {
                    "no requests to measure"
                };
                write!(f, "{}: {nothing} (limit {limit}): {verdict}", m.name())
            }
            Some(v) => {
                let op = match (m.is_minimum(), self.passed) {
                    (true, true) => ">=",
                    (true, false) => "<",
                    (false, true) => "<=",
                    (false, false) => ">",
                };
                write!(f, "{} {} {op} {limit}: {verdict}", m.name(), m.show(v))
            }
        }
    }
}

/// Judges each threshold given. `latency` is none without answers; `error_rate` is none
/// without requests.
pub(crate) fn evaluate(
    t: &Thresholds,
    latency: Option<&Latency>,
    error_rate: Option<f64>,
    throughput: f64,
) -> Vec<Check> {
    let mut checks = Vec::new();
    let lat = |pick: fn(&Latency) -> u64| latency.map(|l| pick(l) as f64);
    let us = |d: HumanDuration| d.0.as_micros() as f64;
    let latencies: [(Metric, Option<HumanDuration>, Option<f64>); 5] = [
        (Metric::P50, t.p50, lat(|l| l.p50_us)),
        (Metric::P90, t.p90, lat(|l| l.p90_us)),
        (Metric::P99, t.p99, lat(|l| l.p99_us)),
        (Metric::P99_9, t.p99_9, lat(|l| l.p99_9_us)),
        (Metric::Max, t.max, lat(|l| l.max_us)),
    ];
    for (metric, limit, measured) in latencies {
        if let Some(limit) = limit {
            checks.push(Check::new(metric, us(limit), measured));
        }
    }
    if let Some(limit) = t.error_rate {
        checks.push(Check::new(Metric::ErrorRate, limit, error_rate));
    }
    if let Some(limit) = t.throughput {
        checks.push(Check::new(Metric::Throughput, limit, Some(throughput)));
    }
    checks
}

/// A fraction as a percentage with up to three significant digits: `0.2 %`, `12.5 %`.
pub(crate) fn percent(fraction: f64) -> String {
    let p = fraction * 100.0;
    let decimals = if p >= 10.0 {
        1
    } else if p >= 1.0 {
        2
    } else {
        3
    };
    format!("{} %", trim(p, decimals))
}

fn trim(v: f64, decimals: usize) -> String {
    let s = format!("{v:.decimals$}");
    if s.contains('.') {
        s.trim_end_matches('0').trim_end_matches('.').to_owned()
    } else {
        s
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn latency(p50: u64, p99: u64, max: u64) -> Latency {
        Latency {
            min_us: p50 / 2,
            mean_us: p50 as f64,
            stdev_us: 1.0,
            p50_us: p50,
            p75_us: p50,
            p90_us: p50,
            p99_us: p99,
            p99_9_us: max,
            max_us: max,
        }
    }

    fn thresholds() -> Thresholds {
        Thresholds {
            p50: Some(HumanDuration::millis(10)),
            p90: None,
            p99: Some(HumanDuration::millis(50)),
            p99_9: None,
            max: Some(HumanDuration::secs(1)),
            error_rate: Some(0.01),
            throughput: Some(1000.0),
        }
    }

    #[test]
    fn no_thresholds_no_checks() {
        let l = latency(5_000, 6_000, 9_000);
        assert!(evaluate(&Thresholds::default(), Some(&l), Some(0.5), 1.0).is_empty());
    }

    #[test]
    fn each_threshold_given_is_checked_in_order_with_measured_beside_limit() {
        let l = latency(5_210, 61_300, 900_000);
        let checks = evaluate(&thresholds(), Some(&l), Some(0.002), 812.0);
        let shown: Vec<String> = checks.iter().map(ToString::to_string).collect();
        assert_eq!(
            shown,
            [
                "p50 5.21 ms <= 10ms: passed",
                "p99 61.30 ms > 50ms: FAILED",
                "max 900 ms <= 1s: passed",
                "error-rate 0.2 % <= 1 %: passed",
                "throughput 812.0 requests/s < 1000 requests/s: FAILED",
            ]
        );
        assert_eq!(checks[1].metric, Metric::P99);
        assert_eq!(checks[1].limit, 50_000.0);
        assert_eq!(checks[1].measured, Some(61_300.0));
        assert!(!checks[1].passed);
    }

    #[test]
    fn limits_are_inclusive() {
        let l = latency(10_000, 50_000, 1_000_000);
        let checks = evaluate(&thresholds(), Some(&l), Some(0.01), 1000.0);
        assert!(checks.iter().all(|c| c.passed), "{checks:?}");
    }

    #[test]
    fn nothing_measured_fails_the_check() {
        let checks = evaluate(&thresholds(), None, None, 0.0);
        let shown: Vec<String> = checks.iter().map(ToString::to_string).collect();
        assert_eq!(
            shown,
            [
                "p50: no answers to measure (limit 10ms): FAILED",
                "p99: no answers to measure (limit 50ms): FAILED",
                "max: no answers to measure (limit 1s): FAILED",
                "error-rate: no requests to measure (limit 1 %): FAILED",
                "throughput 0.0 requests/s < 1000 requests/s: FAILED",
            ]
        );
    }

    #[test]
    fn an_error_rate_of_zero_allows_no_error() {
        let t = Thresholds {
            error_rate: Some(0.0),
            ..Thresholds::default()
        };
        assert!(evaluate(&t, None, Some(0.0), 0.0)[0].passed);
        let c = &evaluate(&t, None, Some(0.00001), 0.0)[0];
        assert!(!c.passed);
        assert_eq!(c.to_string(), "error-rate 0.001 % > 0 %: FAILED");
    }

    #[test]
    fn checks_serialise_with_the_spec_names() {
        let l = latency(5_000, 6_000, 9_000);
        let t = Thresholds {
            p99_9: Some(HumanDuration::millis(20)),
            ..Thresholds::default()
        };
        let json = serde_json::to_value(evaluate(&t, Some(&l), Some(0.0), 1.0)).unwrap();
        assert_eq!(
            json,
            serde_json::json!([{"metric": "p99.9", "limit": 20000.0, "measured": 9000.0, "passed": true}])
        );
    }
}
