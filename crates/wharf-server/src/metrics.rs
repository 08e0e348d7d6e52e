//! `GET /metrics`: what the server did, for Prometheus (the official `prometheus-client`).
//!
//! Counters and histograms move as things happen (runs and jobs through
//! [`crate::observe::run_event`], deliveries in [`crate::hooks`], the queue's wait in the
//! dispatcher); what is a state rather than a count (the queue's depth, the runs running,
//! the database's size) is read at scrape time, so it cannot drift from the truth.
//!
//! Labels stay bounded: a project's name, a status, a forge, a delivery's result; never a
//! run number, a commit, a branch or anything a request names freely (a delivery for an
//! unknown project counts under `forge="unknown"`).
//!
//! The route is open unless `wharf serve --metrics-token-file FILE` names a token:
//! Prometheus usually scrapes without credentials, but the series name the projects, so
//! a server reachable by others can require `Authorization: Bearer TOKEN`.

use std::collections::HashMap;
use std::path::Path;
use std::sync::{Arc, Mutex};

use axum::extract::State;
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::metrics::histogram::Histogram;
use prometheus_client::metrics::info::Info;
use prometheus_client::registry::{Registry, Unit};
use sha2::{Digest, Sha256};
use wharf_forge::ForgeKind;
use wharf_model::{Millis, RunEvent};

use crate::app::Shared;
use crate::db::Accepted;
use crate::error::{Error, Result};
use crate::observe::RunContext;

/// Bounds of `wharf_job_duration_seconds`: CI jobs, from a tenth of a second to an hour.
const JOB_BUCKETS: [f64; 14] = [
    0.1, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0, 120.0, 300.0, 600.0, 1200.0, 1800.0, 3600.0,
];

/// Bounds of `wharf_queue_wait_seconds`: from an idle server's few milliseconds to an hour
/// behind a busy queue.
const WAIT_BUCKETS: [f64; 13] = [
    0.01, 0.05, 0.1, 0.25, 0.5, 1.0, 5.0, 10.0, 30.0, 60.0, 300.0, 900.0, 3600.0,
];

/// The OpenMetrics text format, which Prometheus asks for first.
const OPENMETRICS: &str = "application/openmetrics-text; version=1.0.0; charset=utf-8";
/// The classic Prometheus text format, for every other client (curl, older scrapers).
const PROMETHEUS_TEXT: &str = "text/plain; version=0.0.4; charset=utf-8";

/// A project and a status (of a run or a job).
#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct StatusLabels {
    project: String,
    status: &'static str,
}

/// A project.
#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct ProjectLabels {
    project: String,
}

/// A forge and what became of its delivery.
#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct DeliveryLabels {
    forge: &'static str,
    result: &'static str,
}

/// The server's version.
#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct BuildLabels {
    version: &'static str,
}

type HistogramFamily<L> = Family<L, Histogram, fn() -> Histogram>;

/// Every series the server exports, and the registry that encodes them.
pub(crate) struct Metrics {
    registry: Registry,
    runs: Family<StatusLabels, Counter>,
    jobs: Family<StatusLabels, Counter>,
    job_duration: HistogramFamily<ProjectLabels>,
    queue_depth: Gauge,
    queue_wait: Histogram,
    runs_running: Gauge,
    deliveries: Family<DeliveryLabels, Counter>,
    followers: Gauge,
    database_size: Gauge,
    /// When each started job began (its first attempt), by project, run and job: its
    /// duration is observed when it finishes.
    started: Mutex<HashMap<(String, u64, String), Millis>>,
    /// The SHA-256 of the token `/metrics` requires, if one (never the token itself).
    token: Option<[u8; 32]>,
}

/// What became of a webhook delivery: the `result` label of
/// `wharf_webhook_deliveries_total`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum DeliveryResult {
    /// Its event was queued (202).
    Queued,
    /// The same delivery id was taken before.
    Duplicate,
    /// Its branch or tag was already seen at this commit (by polling).
    Seen,
    /// Nothing to run (a ping, a deleted branch, an event type wharf does not act on).
    Ignored,
    /// The signature or token did not verify (401).
    RejectedSignature,
    /// Not what the forge sends (400).
    BadRequest,
    /// Over the body cap (413).
    TooLarge,
    /// The body did not arrive in time (408).
    Timeout,
    /// No project by the route's name (404).
    UnknownProject,
    /// The server failed (500).
    Error,
}

impl DeliveryResult {
    /// The label's value.
    pub(crate) fn as_str(self) -> &'static str {
        match self {
            DeliveryResult::Queued => "queued",
            DeliveryResult::Duplicate => "duplicate",
            DeliveryResult::Seen => "seen",
            DeliveryResult::Ignored => "ignored",
            DeliveryResult::RejectedSignature => "rejected_signature",
            DeliveryResult::BadRequest => "bad_request",
            DeliveryResult::TooLarge => "too_large",
            DeliveryResult::Timeout => "timeout",
            DeliveryResult::UnknownProject => "unknown_project",
            DeliveryResult::Error => "error",
        }
    }

    /// A delivery that was verified and recorded.
    pub(crate) fn accepted(a: &Accepted) -> DeliveryResult {
        match a {
            Accepted::Queued(_) => DeliveryResult::Queued,
            Accepted::Duplicate => DeliveryResult::Duplicate,
            Accepted::Seen => DeliveryResult::Seen,
            Accepted::Ignored => DeliveryResult::Ignored,
        }
    }

    /// A delivery the handler answered with `status` without recording it.
    pub(crate) fn refused(status: StatusCode) -> DeliveryResult {
        match status {
            StatusCode::UNAUTHORIZED | StatusCode::FORBIDDEN => DeliveryResult::RejectedSignature,
            StatusCode::BAD_REQUEST => DeliveryResult::BadRequest,
            StatusCode::PAYLOAD_TOO_LARGE => DeliveryResult::TooLarge,
            StatusCode::REQUEST_TIMEOUT => DeliveryResult::Timeout,
            StatusCode::NOT_FOUND => DeliveryResult::UnknownProject,
            _ => DeliveryResult::Error,
        }
    }
}

/// One follower of a live log, counted in `wharf_log_followers` while it lives: hold it
/// for as long as the stream is open; dropping it (the client went away, the run ended)
/// takes it off.
#[must_use = "the follower is counted only while this guard lives"]
#[derive(Debug)]
pub(crate) struct Follower(Gauge);

impl Drop for Follower {
    fn drop(&mut self) {
        self.0.dec();
    }
}

impl Metrics {
    /// Registers every series; reads the token `/metrics` requires from `token_file`, if
    /// one is named.
    pub(crate) fn new(token_file: Option<&Path>) -> Result<Metrics> {
        let token = token_file.map(read_token).transpose()?;
        let mut registry = Registry::with_prefix("wharf");
        let runs = Family::<StatusLabels, Counter>::default();
        registry.register(
            "runs",
            "Runs that ended, by project and status",
            runs.clone(),
        );
        let jobs = Family::<StatusLabels, Counter>::default();
        registry.register(
            "jobs",
            "Jobs that ended (skipped and cancelled ones included), by project and status",
            jobs.clone(),
        );
        let job_duration: HistogramFamily<ProjectLabels> =
            Family::new_with_constructor(|| Histogram::new(JOB_BUCKETS));
        registry.register_with_unit(
            "job_duration",
            "How long jobs that started took, first attempt to end, by project",
            Unit::Seconds,
            job_duration.clone(),
        );
        let queue_depth = Gauge::default();
        registry.register(
            "queue_depth",
            "Events queued, not yet taken by the dispatcher",
            queue_depth.clone(),
        );
        let queue_wait = Histogram::new(WAIT_BUCKETS);
        registry.register_with_unit(
            "queue_wait",
            "How long events waited in the queue, received to taken",
            Unit::Seconds,
            queue_wait.clone(),
        );
        let runs_running = Gauge::default();
        registry.register("runs_running", "Runs running now", runs_running.clone());
        let deliveries = Family::<DeliveryLabels, Counter>::default();
        registry.register(
            "webhook_deliveries",
            "Webhook deliveries, by forge and what became of them",
            deliveries.clone(),
        );
        let followers = Gauge::default();
        registry.register(
            "log_followers",
            "Clients following a live log now",
            followers.clone(),
        );
        let database_size = Gauge::default();
        registry.register_with_unit(
            "database_size",
            "Size of the server's database (server.db and its write-ahead log)",
            Unit::Bytes,
            database_size.clone(),
        );
        registry.register(
            "build",
            "The server's version",
            Info::new(BuildLabels {
                version: env!("CARGO_PKG_VERSION"),
            }),
        );
        Ok(Metrics {
            registry,
            runs,
            jobs,
            job_duration,
            queue_depth,
            queue_wait,
            runs_running,
            deliveries,
            followers,
            database_size,
            started: Mutex::default(),
            token,
        })
    }

    /// One event of a run the server runs.
    pub(crate) fn observe(&self, ctx: &RunContext<'_>, ev: &RunEvent) {
        match ev {
            RunEvent::JobStarted { job, at, .. } => {
                self.started()
                    .entry((ctx.project.to_string(), ctx.run, job.clone()))
                    .or_insert(*at);
            }
            RunEvent::JobFinished {
                job, status, at, ..
            } => {
                self.jobs
                    .get_or_create(&StatusLabels {
                        project: ctx.project.to_string(),
                        status: status.as_str(),
                    })
                    .inc();
                let key = (ctx.project.to_string(), ctx.run, job.clone());
                if let Some(began) = self.started().remove(&key) {
                    self.job_duration
                        .get_or_create(&ProjectLabels {
                            project: ctx.project.to_string(),
                        })
                        .observe(seconds(at - began));
                }
            }
            RunEvent::RunFinished { status, .. } => {
                self.runs
                    .get_or_create(&StatusLabels {
                        project: ctx.project.to_string(),
                        status: status.as_str(),
                    })
                    .inc();
                // A job that never finished (the run failed under it) leaves nothing behind.
                self.started()
                    .retain(|(p, r, _), _| !(p == ctx.project && *r == ctx.run));
            }
            _ => {}
        }
    }

    /// The dispatcher took an event that waited `waited` milliseconds.
    pub(crate) fn claimed(&self, waited: Millis) {
        self.queue_wait.observe(seconds(waited.max(0)));
    }

    /// A webhook delivery for `forge` (`None`: no project by the route's name) ended as
    /// `result`.
    pub(crate) fn delivery(&self, forge: Option<ForgeKind>, result: DeliveryResult) {
        self.deliveries
            .get_or_create(&DeliveryLabels {
                forge: forge.map_or("unknown", ForgeKind::as_str),
                result: result.as_str(),
            })
            .inc();
    }

    /// Counts one more follower of a live log, until the guard is dropped.
    pub(crate) fn follower(&self) -> Follower {
        self.followers.inc();
        Follower(self.followers.clone())
    }

    /// The series in the OpenMetrics text format, or Prometheus's 0.0.4 text format.
    fn encode(&self, openmetrics: bool) -> std::result::Result<String, std::fmt::Error> {
        let mut text = String::new();
        if openmetrics {
            prometheus_client::encoding::text::encode(&mut text, &self.registry)?;
        } else {
            prometheus_client::encoding::prometheus_text::encode(&mut text, &self.registry)?;
        }
        Ok(text)
    }

    /// Whether `headers` carry the token `/metrics` requires (always, when none is set).
    fn allowed(&self, headers: &HeaderMap) -> bool {
        let Some(want) = &self.token else {
            return true;
        };
        let given = headers
            .get(header::AUTHORIZATION)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.strip_prefix("Bearer "));
        // Comparing hashes: how long a comparison takes says nothing about the token.
        given.is_some_and(|t| Sha256::digest(t.trim().as_bytes())[..] == want[..])
    }

    fn started(&self) -> std::sync::MutexGuard<'_, HashMap<(String, u64, String), Millis>> {
        self.started.lock().unwrap_or_else(|p| p.into_inner())
    }
}

/// `GET /metrics`.
pub(crate) async fn scrape(State(s): State<Arc<Shared>>, headers: HeaderMap) -> Result<Response> {
    let m = &s.metrics;
    if !m.allowed(&headers) {
        return Err(Error::Unauthorized(
            "/metrics needs `Authorization: Bearer TOKEN` (the server's --metrics-token-file)"
                .into(),
        ));
    }
    let queued: i64 = sqlx::query_scalar("SELECT count(*) FROM events WHERE state = 'queued'")
        .fetch_one(s.db.pool())
        .await
        .map_err(Error::db("count queued events"))?;
    m.queue_depth.set(queued);
    let running = s.running.lock().unwrap_or_else(|p| p.into_inner()).len();
    m.runs_running
        .set(i64::try_from(running).unwrap_or(i64::MAX));
    m.database_size.set(
        database_size(&s.config.data_dir)
            .try_into()
            .unwrap_or(i64::MAX),
    );
    let openmetrics = headers
        .get(header::ACCEPT)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.contains("application/openmetrics-text"));
    let Ok(text) = m.encode(openmetrics) else {
        return Ok(StatusCode::INTERNAL_SERVER_ERROR.into_response());
    };
    let kind = if openmetrics {
        OPENMETRICS
    } else {
        PROMETHEUS_TEXT
    };
    Ok((
        [(header::CONTENT_TYPE, HeaderValue::from_static(kind))],
        text,
    )
        .into_response())
}

/// The bytes of `server.db` and its write-ahead log in `data_dir`.
fn database_size(data_dir: &Path) -> u64 {
    ["server.db", "server.db-wal"]
        .iter()
        .filter_map(|f| std::fs::metadata(data_dir.join(f)).ok())
        .map(|m| m.len())
        .sum()
}

/// The SHA-256 of the token in `path` (surrounding whitespace trimmed).
fn read_token(path: &Path) -> Result<[u8; 32]> {
    let text = std::fs::read_to_string(path).map_err(Error::io("read the metrics token", path))?;
    let token = text.trim();
    if token.is_empty() {
        return Err(Error::invalid(
            format!("the metrics token file {} is empty", path.display()),
            Some("write a long random token into it, e.g. `openssl rand -hex 32 > FILE`"),
        ));
    }
    Ok(Sha256::digest(token.as_bytes()).into())
}

fn seconds(ms: Millis) -> f64 {
    ms as f64 / 1000.0
}

#[cfg(test)]
mod tests {
    use wharf_model::{Event, EventKind, JobStatus, RunStatus};

    use super::*;

    /// The value of the sample written exactly as `series` (name and labels).
    fn value(text: &str, series: &str) -> Option<f64> {
        text.lines()
            .find_map(|l| l.strip_prefix(series)?.strip_prefix(' '))
            .map(|v| v.split(' ').next().unwrap_or(v).parse().unwrap())
    }

    fn job_started(job: &str, attempt: u32, at: Millis) -> RunEvent {
        RunEvent::JobStarted {
            job: job.into(),
            attempt,
            at,
        }
    }

    fn job_finished(job: &str, status: JobStatus, at: Millis) -> RunEvent {
        RunEvent::JobFinished {
            job: job.into(),
            status,
            exit_code: None,
            reason: None,
            outputs: Default::default(),
            at,
        }
    }

    #[test]
    fn runs_and_jobs_count_by_status_and_started_jobs_by_duration() {
        let m = Metrics::new(None).unwrap();
        let event = Event::new(EventKind::Push);
        let ctx = RunContext {
            project: "app",
            run: 7,
            event: &event,
        };
        for ev in [
            job_started("build", 1, 1_000),
            // a retry: the duration runs from the first attempt
            job_started("build", 2, 2_000),
            job_finished("build", JobStatus::Success, 3_500),
            job_finished("deploy", JobStatus::Skipped, 3_600),
            job_started("lint", 1, 1_000),
            RunEvent::RunFinished {
                status: RunStatus::Failed,
                at: 4_000,
            },
        ] {
            m.observe(&ctx, &ev);
        }
        let text = m.encode(false).unwrap();
        let at = |s: &str| value(&text, s).unwrap_or_else(|| panic!("no {s} in\n{text}"));
        assert_eq!(
            at(r#"wharf_runs_total{project="app",status="failed"}"#),
            1.0
        );
        assert_eq!(
            at(r#"wharf_jobs_total{project="app",status="success"}"#),
            1.0
        );
        assert_eq!(
            at(r#"wharf_jobs_total{project="app",status="skipped"}"#),
            1.0
        );
        assert_eq!(
            at(r#"wharf_job_duration_seconds_count{project="app"}"#),
            1.0,
            "only the job that started"
        );
        assert_eq!(at(r#"wharf_job_duration_seconds_sum{project="app"}"#), 2.5);
        assert_eq!(
            at(r#"wharf_job_duration_seconds_bucket{project="app",le="1"}"#),
            0.0
        );
        assert_eq!(
            at(r#"wharf_job_duration_seconds_bucket{project="app",le="2.5"}"#),
            1.0
        );
        assert!(
            m.started().is_empty(),
            "the run's unfinished job is forgotten"
        );
        assert_eq!(at(r#"wharf_build_info{version="0.1.0"}"#), 1.0);
    }

    #[test]
    fn deliveries_count_by_forge_and_result() {
        let m = Metrics::new(None).unwrap();
        m.delivery(Some(ForgeKind::Gitlab), DeliveryResult::Queued);
        m.delivery(
            Some(ForgeKind::Github),
            DeliveryResult::refused(StatusCode::UNAUTHORIZED),
        );
        m.delivery(None, DeliveryResult::refused(StatusCode::NOT_FOUND));
        m.delivery(
            Some(ForgeKind::Github),
            DeliveryResult::accepted(&Accepted::Duplicate),
        );
        let text = m.encode(true).unwrap();
        for series in [
            r#"wharf_webhook_deliveries_total{forge="gitlab",result="queued"}"#,
            r#"wharf_webhook_deliveries_total{forge="github",result="rejected_signature"}"#,
            r#"wharf_webhook_deliveries_total{forge="unknown",result="unknown_project"}"#,
            r#"wharf_webhook_deliveries_total{forge="github",result="duplicate"}"#,
        ] {
            assert_eq!(value(&text, series), Some(1.0), "{series} in\n{text}");
        }
        assert!(text.ends_with("# EOF\n"), "OpenMetrics ends so:\n{text}");
    }

    #[test]
    fn a_follower_counts_while_its_guard_lives() {
        let m = Metrics::new(None).unwrap();
        let a = m.follower();
        let b = m.follower();
        assert_eq!(m.followers.get(), 2);
        drop(a);
        assert_eq!(m.followers.get(), 1);
        drop(b);
        assert_eq!(m.followers.get(), 0);
    }

    #[test]
    fn queue_wait_is_observed_in_seconds() {
        let m = Metrics::new(None).unwrap();
        m.claimed(250);
        m.claimed(-5);
        let text = m.encode(false).unwrap();
        assert_eq!(value(&text, "wharf_queue_wait_seconds_count"), Some(2.0));
        assert_eq!(value(&text, "wharf_queue_wait_seconds_sum"), Some(0.25));
    }

    #[test]
    fn a_token_file_makes_metrics_ask_for_the_token() {
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("token");
        std::fs::write(&file, "s3cret-metrics-token\n").unwrap();
        let m = Metrics::new(Some(&file)).unwrap();
        let with = |v: &str| {
            let mut h = HeaderMap::new();
            h.insert(header::AUTHORIZATION, HeaderValue::from_str(v).unwrap());
            h
        };
        assert!(!m.allowed(&HeaderMap::new()));
        assert!(!m.allowed(&with("Bearer wrong")));
        assert!(!m.allowed(&with("s3cret-metrics-token")));
        assert!(m.allowed(&with("Bearer s3cret-metrics-token")));
        assert!(Metrics::new(None).unwrap().allowed(&HeaderMap::new()));

        std::fs::write(&file, " \n").unwrap();
        let e = Metrics::new(Some(&file)).err().unwrap();
        assert!(e.to_string().contains("is empty"), "{e}");
        let e = Metrics::new(Some(&dir.path().join("missing")))
            .err()
            .unwrap();
        assert!(e.to_string().contains("metrics token"), "{e}");
    }
}
