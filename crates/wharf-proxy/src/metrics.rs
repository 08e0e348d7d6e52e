//! `GET /metrics` on the control port: requests, latency and in-flight requests **per
//! release**, so an analysis can compare a canary with the stable release (kamal-proxy
//! labels by service only).
//!
//! Each target takes its own handles to its series when it is created, so the hot path
//! increments atomics and never hashes label sets.

use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::metrics::histogram::{Histogram, exponential_buckets};
use prometheus_client::registry::{Registry, Unit};

#[derive(Debug, Clone, PartialEq, Eq, Hash, EncodeLabelSet)]
struct ReleaseLabels {
    service: String,
    release: String,
}

#[derive(Debug, Clone, PartialEq, Eq, Hash, EncodeLabelSet)]
struct RequestLabels {
    service: String,
    release: String,
    class: &'static str,
}

#[derive(Debug, Clone, PartialEq, Eq, Hash, EncodeLabelSet)]
struct SwitchLabels {
    service: String,
    action: &'static str,
}

type HistogramFamily<L> = Family<L, Histogram, fn() -> Histogram>;

/// The proxy's series.
pub(crate) struct Metrics {
    registry: Registry,
    requests: Family<RequestLabels, Counter>,
    duration: HistogramFamily<ReleaseLabels>,
    in_flight: Family<ReleaseLabels, Gauge>,
    unrouted: Counter,
    switches: Family<SwitchLabels, Counter>,
}

/// The status classes counted, in the order of [`TargetMetrics::requests`].
const CLASSES: [&str; 5] = ["1xx", "2xx", "3xx", "4xx", "5xx"];

/// One target's handles to its series.
pub(crate) struct TargetMetrics {
    requests: [Counter; 5],
    pub(crate) duration: Histogram,
    pub(crate) in_flight: Gauge,
}

impl TargetMetrics {
    /// Counts one answer with `status`.
    pub(crate) fn answered(&self, status: u16) {
        let i = usize::from((status / 100).clamp(1, 5) - 1);
        self.requests[i].inc();
    }
}

fn latency() -> Histogram {
    // 0.5 ms .. ~16 s.
    Histogram::new(exponential_buckets(0.0005, 2.0, 16))
}

impl Metrics {
    pub(crate) fn new() -> Metrics {
        let mut registry = Registry::with_prefix("wharf_proxy");
        let requests = Family::<RequestLabels, Counter>::default();
        registry.register(
            "requests",
            "Requests answered, by service, release and status class (5xx includes the proxy's own 502s)",
            requests.clone(),
        );
        let duration: HistogramFamily<ReleaseLabels> = Family::new_with_constructor(latency);
        registry.register_with_unit(
            "request_duration",
            "Time from a request's arrival to the end of its response body, by service and release",
            Unit::Seconds,
            duration.clone(),
        );
        let in_flight = Family::<ReleaseLabels, Gauge>::default();
        registry.register(
            "in_flight_requests",
            "Requests being forwarded now, by service and release",
            in_flight.clone(),
        );
        let unrouted = Counter::default();
        registry.register(
            "unrouted_requests",
            "Requests no service answers for (404) or for a service with no release (503)",
            unrouted.clone(),
        );
        let switches = Family::<SwitchLabels, Counter>::default();
        registry.register(
            "switches",
            "Changes of what a service serves: deploy, preview, canary, weight, promote, rollback, drop",
            switches.clone(),
        );
        Metrics {
            registry,
            requests,
            duration,
            in_flight,
            unrouted,
            switches,
        }
    }

    /// The handles of release `release` of `service`.
    pub(crate) fn target(&self, service: &str, release: &str) -> TargetMetrics {
        let labels = ReleaseLabels {
            service: service.to_string(),
            release: release.to_string(),
        };
        let requests = CLASSES.map(|class| {
            self.requests
                .get_or_create(&RequestLabels {
                    service: service.to_string(),
                    release: release.to_string(),
                    class,
                })
                .clone()
        });
        TargetMetrics {
            requests,
            duration: self.duration.get_or_create(&labels).clone(),
            in_flight: self.in_flight.get_or_create(&labels).clone(),
        }
    }

    /// Counts a request no release answered.
    pub(crate) fn unrouted(&self) {
        self.unrouted.inc();
    }

    /// Counts a change of `service` by `action`.
    pub(crate) fn switched(&self, service: &str, action: &'static str) {
        self.switches
            .get_or_create(&SwitchLabels {
                service: service.to_string(),
                action,
            })
            .inc();
    }

    /// The series in Prometheus's text format.
    pub(crate) fn encode(&self) -> String {
        let mut text = String::new();
        // Writing to a String cannot fail.
        let _ = prometheus_client::encoding::prometheus_text::encode(&mut text, &self.registry);
        text
    }
}
