//! Commit statuses reported back to the forge: pending, then how it ended, for each
//! pipeline (`wharf/<pipeline>`) and each job (`wharf/<pipeline>/<job>`) of every run,
//! each linking to the run's page on this server (docs/server.md, "Commit statuses").
//!
//! Three steps, so that nothing slow happens on the runtime's recorder thread:
//! [`observe`] turns a run's events into transitions and sends them down a channel; the
//! writer task puts each in the durable outbox ([`outbox`], where a newer state coalesces
//! with an undelivered older one and never the other way round); the deliverer task
//! posts what is due to the forge, retrying 5xx, 429 and connection failures with
//! backoff up to [`MAX_ATTEMPTS`], never a refusal (another 4xx: logged with the forge's
//! message). A project without status settings reports nothing, and the log says so once.

pub mod config;
mod forge;
mod outbox;

use std::collections::{HashMap, HashSet};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use tokio::sync::{Notify, mpsc, watch};
use wharf_model::{JobStatus, RunEvent, RunStatus};

pub use config::{StatusInfo, StatusUpdate, http_url};
use outbox::{Attempt, Due, Transition};

use crate::app::Shared;
use crate::observe::RunContext;

/// Attempts per status before it is given up (1 s, 2 s, 4 s … apart, at most
/// [`MAX_BACKOFF`]: about 17 minutes in all).
pub(crate) const MAX_ATTEMPTS: i64 = 10;
/// The longest wait between two attempts.
const MAX_BACKOFF: Duration = Duration::from_secs(600);
/// GitHub's limit on a status description.
const MAX_DESCRIPTION: usize = 140;
/// How long delivered rows are kept.
const KEEP_DELIVERED: Duration = Duration::from_secs(7 * 24 * 3600);

/// A status in wharf's words; each forge's word is chosen at delivery
/// ([`forge::state_word`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum State {
    /// Queued, not yet running (a run that started).
    Pending,
    /// A job running.
    Running,
    /// Passed.
    Success,
    /// Failed (a step failed, timed out).
    Failure,
    /// Could not finish (the server died under it).
    Error,
    /// Cancelled.
    Cancelled,
    /// Not run (`if:` false, or a need did not succeed).
    Skipped,
}

impl State {
    /// The outbox's word.
    pub fn as_str(self) -> &'static str {
        match self {
            State::Pending => "pending",
            State::Running => "running",
            State::Success => "success",
            State::Failure => "failure",
            State::Error => "error",
            State::Cancelled => "cancelled",
            State::Skipped => "skipped",
        }
    }

    /// Parses [`State::as_str`].
    pub fn parse(s: &str) -> Option<State> {
        [
            State::Pending,
            State::Running,
            State::Success,
            State::Failure,
            State::Error,
            State::Cancelled,
            State::Skipped,
        ]
        .into_iter()
        .find(|st| st.as_str() == s)
    }

    /// Its place within a run: pending 0, running 1, ended 2 (a state never follows one
    /// of a higher rank in the same run).
    pub fn rank(self) -> i64 {
        match self {
            State::Pending => 0,
            State::Running => 1,
            _ => 2,
        }
    }
}

/// The reporting side the server shares: the channel to the writer, and the pipeline of
/// each running run (job events do not name it).
pub(crate) struct Statuses {
    public_url: String,
    tx: mpsc::UnboundedSender<Transition>,
    rx: Mutex<Option<mpsc::UnboundedReceiver<Transition>>>,
    pipelines: Mutex<HashMap<(String, u64), String>>,
    wake: Notify,
}

impl Statuses {
    /// Reports link to pages under `public_url`.
    pub fn new(public_url: &str) -> Statuses {
        let (tx, rx) = mpsc::unbounded_channel();
        Statuses {
            public_url: public_url.trim_end_matches('/').to_string(),
            tx,
            rx: Mutex::new(Some(rx)),
            pipelines: Mutex::new(HashMap::new()),
            wake: Notify::new(),
        }
    }

    fn pipelines(&self) -> std::sync::MutexGuard<'_, HashMap<(String, u64), String>> {
        self.pipelines.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// The page of run `run`, or of its job `job`.
    fn page(&self, project: &str, run: u64, job: Option<&str>) -> String {
        let mut url = format!("{}/projects/{project}/runs/{run}", self.public_url);
        if let Some(job) = job {
            url.push_str("/jobs/");
            url.push_str(&crate::url_segment(job));
        }
        url
    }
}

/// Queues the statuses event `ev` of a run means. Quick and non-blocking: called on the
/// recorder thread.
pub(crate) fn observe(s: &Arc<Shared>, ctx: &RunContext<'_>, ev: &RunEvent) {
    if let Some(t) = transition(&s.statuses, ctx, ev) {
        // The writer is gone only once the server has stopped.
        let _ = s.statuses.tx.send(t);
    }
}

/// The transition `ev` makes, if any.
fn transition(st: &Statuses, ctx: &RunContext<'_>, ev: &RunEvent) -> Option<Transition> {
    let key = |run| (ctx.project.to_string(), run);
    let (run, pipeline, job, state, description) = match ev {
        RunEvent::RunStarted { run, pipeline, .. } => {
            st.pipelines().insert(key(*run), pipeline.clone());
            let d = format!("run #{run} started");
            (*run, pipeline.clone(), None, State::Pending, d)
        }
        RunEvent::JobStarted { job, attempt, .. } if *attempt == 1 => {
            let pipeline = st.pipelines().get(&key(ctx.run))?.clone();
            let d = format!("running in run #{}", ctx.run);
            (ctx.run, pipeline, Some(job), State::Running, d)
        }
        RunEvent::JobWaiting { job, reason, .. } => {
            let pipeline = st.pipelines().get(&key(ctx.run))?.clone();
            (ctx.run, pipeline, Some(job), State::Pending, reason.clone())
        }
        RunEvent::JobFinished {
            job,
            status,
            exit_code,
            reason,
            ..
        } => {
            let pipeline = st.pipelines().get(&key(ctx.run))?.clone();
            let (state, d) = job_end(*status, *exit_code, reason.as_deref());
            (ctx.run, pipeline, Some(job), state, d)
        }
        RunEvent::RunFinished { status, .. } => {
            let pipeline = st.pipelines().remove(&key(ctx.run))?;
            let (state, d) = run_end(*status, ctx.run);
            (ctx.run, pipeline, None, state, d)
        }
        _ => return None,
    };
    let sha = ctx.event.sha.clone()?;
    let context = match job {
        Some(j) => format!("wharf/{pipeline}/{j}"),
        None => format!("wharf/{pipeline}"),
    };
    Some(Transition {
        project: ctx.project.to_string(),
        sha,
        reference: ctx.event.branch.clone().or_else(|| ctx.event.tag.clone()),
        context,
        state,
        target_url: st.page(ctx.project, run, job.map(String::as_str)),
        description: truncate(&description, MAX_DESCRIPTION),
        run,
    })
}

/// A run's end, as a state and a description.
fn run_end(status: RunStatus, run: u64) -> (State, String) {
    match status {
        RunStatus::Success => (State::Success, format!("run #{run} passed")),
        RunStatus::Failed => (State::Failure, format!("run #{run} failed")),
        RunStatus::Cancelled => (State::Cancelled, format!("run #{run} was cancelled")),
        RunStatus::Interrupted => (
            State::Error,
            format!("run #{run} was interrupted (the server stopped)"),
        ),
        RunStatus::Running => (State::Pending, format!("run #{run} is running")),
    }
}

/// A job's end, as a state and a description.
fn job_end(status: JobStatus, exit: Option<i32>, reason: Option<&str>) -> (State, String) {
    let why = |base: &str| match (reason, exit) {
        (Some(r), _) => format!("{base}: {r}"),
        (None, Some(code)) => format!("{base} (exit {code})"),
        (None, None) => base.to_string(),
    };
    match status {
        JobStatus::Success => (State::Success, "passed".into()),
        JobStatus::FailedAllowed => (State::Success, why("failed, allowed to")),
        JobStatus::Failed => (State::Failure, why("failed")),
        JobStatus::TimedOut => (State::Failure, why("timed out")),
        JobStatus::Skipped => (State::Skipped, why("skipped")),
        JobStatus::Cancelled => (State::Cancelled, why("cancelled")),
        JobStatus::Interrupted => (State::Error, why("interrupted")),
        JobStatus::Waiting => (State::Pending, "waiting".into()),
        JobStatus::Pending | JobStatus::Running => (State::Running, "running".into()),
    }
}

/// `text` cut to at most `max` characters (an ellipsis marks the cut).
pub(crate) fn truncate(text: &str, max: usize) -> String {
    if text.chars().count() <= max {
        return text.to_string();
    }
    let mut cut: String = text.chars().take(max.saturating_sub(1)).collect();
    cut.push('…');
    cut
}

/// The writer and the deliverer, until the server stops: the writer lasts until the
/// runs still going when it was told to stop have ended (their statuses are queued),
/// then the deliverer makes one last pass and ends; what is left is delivered by the
/// next start.
pub(crate) async fn run(s: Arc<Shared>, stop: watch::Receiver<bool>) {
    let rx = s
        .statuses
        .rx
        .lock()
        .unwrap_or_else(|p| p.into_inner())
        .take();
    let Some(rx) = rx else {
        return;
    };
    let (written_tx, written) = watch::channel(false);
    let writer = tokio::spawn(write(s.clone(), rx, stop, written_tx));
    deliver(s, written).await;
    let _ = writer.await;
}

/// Moves transitions from the channel into the outbox.
async fn write(
    s: Arc<Shared>,
    mut rx: mpsc::UnboundedReceiver<Transition>,
    mut stop: watch::Receiver<bool>,
    done: watch::Sender<bool>,
) {
    let mut told: HashSet<String> = HashSet::new();
    // Since when no run has been going, after the stop: a worker still fetching gets a
    // minute; an event left `running` by a failed write does not hold the stop forever.
    let mut idle_since: Option<std::time::Instant> = None;
    loop {
        let stopping = *stop.borrow();
        let idle = stopping && {
            let none = s
                .running
                .lock()
                .unwrap_or_else(|p| p.into_inner())
                .is_empty();
            let since = *idle_since.get_or_insert_with(std::time::Instant::now);
            if !none {
                idle_since = None;
            }
            none && since.elapsed() > Duration::from_secs(60)
        };
        if stopping && (idle || !runs_going(&s).await) {
            while let Ok(t) = rx.try_recv() {
                store(&s, &mut told, t).await;
            }
            let _ = done.send(true);
            return;
        }
        // After the stop, runs still going finish: their transitions still come.
        let t = tokio::select! {
            t = rx.recv() => t,
            _ = stop.wait_for(|s| *s), if !stopping => continue,
            _ = tokio::time::sleep(Duration::from_millis(200)), if stopping => continue,
        };
        let Some(t) = t else {
            let _ = done.send(true);
            return;
        };
        store(&s, &mut told, t).await;
    }
}

/// Whether an event is being run (this server's: one server per data directory).
async fn runs_going(s: &Shared) -> bool {
    sqlx::query("SELECT 1 FROM events WHERE state = 'running' LIMIT 1")
        .fetch_optional(s.db.pool())
        .await
        .map(|r| r.is_some())
        .unwrap_or(false)
}

/// Puts `t` in the outbox when its project reports statuses.
async fn store(s: &Shared, told: &mut HashSet<String>, t: Transition) {
    match config::get(&s.db, &t.project).await {
        Ok(Some(_)) => {
            told.remove(&t.project);
        }
        Ok(None) => {
            if told.insert(t.project.clone()) {
                eprintln!(
                    "wharf serve: {}: no status API set, so no commit statuses are reported (`wharf server project set {} --status-api URL --status-token-stdin`)",
                    t.project, t.project
                );
            }
            return;
        }
        Err(e) => {
            eprintln!("wharf serve: {}: {e}", t.project);
            return;
        }
    }
    match outbox::enqueue(&s.db, &t, crate::now()).await {
        Ok(true) => s.statuses.wake.notify_one(),
        Ok(false) => {}
        Err(e) => eprintln!("wharf serve: {}: {e}", t.project),
    }
}

/// Delivers due statuses until `written` turns true, then once more.
async fn deliver(s: Arc<Shared>, mut written: watch::Receiver<bool>) {
    let net = match wharf_net::Net::new(wharf_net::Limits {
        connect: Duration::from_secs(10),
        idle: Duration::from_secs(30),
        total: Duration::from_secs(30),
    }) {
        Ok(n) => n,
        Err(e) => {
            eprintln!("wharf serve: commit statuses are not reported: {e}");
            return;
        }
    };
    let mut last_prune = 0;
    loop {
        let finishing = *written.borrow();
        if let Err(e) = deliver_due(&s, &net).await {
            eprintln!("wharf serve: commit statuses: {e}");
        }
        if finishing {
            return;
        }
        let now = crate::now();
        if now - last_prune > 3_600_000 {
            last_prune = now;
            let _ = outbox::prune(&s.db, now - KEEP_DELIVERED.as_millis() as i64).await;
        }
        let wait = match outbox::next_due(&s.db).await {
            Ok(Some(at)) => Duration::from_millis((at - crate::now()).clamp(0, 60_000) as u64),
            _ => Duration::from_secs(60),
        };
        tokio::select! {
            _ = s.statuses.wake.notified() => {}
            _ = tokio::time::sleep(wait) => {}
            _ = written.wait_for(|w| *w) => {}
        }
    }
}

/// One pass over what is due.
async fn deliver_due(s: &Shared, net: &wharf_net::Net) -> crate::Result<()> {
    loop {
        let due = outbox::due(&s.db, crate::now(), 50).await?;
        if due.is_empty() {
            return Ok(());
        }
        // Each project's settings, read once a pass (a change applies from the next).
        let mut settings: HashMap<String, Option<Target>> = HashMap::new();
        for d in &due {
            if !settings.contains_key(&d.t.project) {
                let target = target(s, &d.t.project).await;
                settings.insert(d.t.project.clone(), target);
            }
            let attempt = match settings.get(&d.t.project).and_then(Option::as_ref) {
                Some(target) => attempt(net, target, d).await,
                None => Attempt::GaveUp {
                    error: "the project has no status settings (or its token cannot be opened)"
                        .into(),
                },
            };
            log(d, &attempt);
            outbox::record(&s.db, d, &attempt, crate::now()).await?;
        }
    }
}

/// Where and how a project's statuses go.
struct Target {
    forge: wharf_forge::ForgeKind,
    info: StatusInfo,
    token: wharf_secrets::secret::SecretString,
}

async fn target(s: &Shared, project: &str) -> Option<Target> {
    let found = async {
        let p = s.db.project(project).await?;
        let c = config::get(&s.db, project).await?;
        match (p, c) {
            (Some(p), Some(c)) => Ok::<_, crate::Error>(Some(Target {
                forge: p.forge,
                token: c.token(&s.key, project)?,
                info: c.info,
            })),
            _ => Ok(None),
        }
    };
    match found.await {
        Ok(t) => t,
        Err(e) => {
            eprintln!("wharf serve: {project}: commit statuses: {e}");
            None
        }
    }
}

/// Sends `d` once.
async fn attempt(net: &wharf_net::Net, target: &Target, d: &Due) -> Attempt {
    let answer = match forge::request(
        net.client(),
        target.forge,
        &target.info,
        &target.token,
        &d.t,
    ) {
        Err(error) => forge::Answer::Refused { error },
        Ok(req) => {
            let exchange = wharf_net::Exchange::new(
                "forge API",
                &target.info.api,
                format!("the commit status {}", d.t.context),
            );
            match net.send(req, &exchange).await {
                Err(e) => forge::Answer::Transient {
                    error: e.to_string().lines().next().unwrap_or_default().to_string(),
                    after: None,
                },
                Ok(resp) => {
                    let status = resp.status().as_u16();
                    let retry_after = resp
                        .headers()
                        .get(reqwest::header::RETRY_AFTER)
                        .and_then(|v| v.to_str().ok())
                        .map(str::to_string);
                    let body = resp.bytes().await.unwrap_or_default();
                    forge::classify(status, retry_after.as_deref(), &body)
                }
            }
        }
    };
    next(d.attempts + 1, answer, crate::now())
}

/// What the outbox records after attempt number `made` got `answer`.
fn next(made: i64, answer: forge::Answer, now: wharf_model::Millis) -> Attempt {
    match answer {
        forge::Answer::Taken => Attempt::Delivered,
        forge::Answer::Refused { error } => Attempt::GaveUp { error },
        forge::Answer::Transient { error, .. } if made >= MAX_ATTEMPTS => Attempt::GaveUp {
            error: format!("{error} (gave up after {made} attempts)"),
        },
        forge::Answer::Transient { error, after } => {
            let backoff = Duration::from_secs(1u64 << (made - 1).clamp(0, 20)).min(MAX_BACKOFF);
            let wait = after.map_or(backoff, |a| a.min(MAX_BACKOFF));
            Attempt::Retry {
                at: now + wait.as_millis() as i64,
                error,
            }
        }
    }
}

fn log(d: &Due, a: &Attempt) {
    let what = format!(
        "{}: commit status {} ({}) of {}",
        d.t.project,
        d.t.context,
        d.t.state.as_str(),
        &d.t.sha[..d.t.sha.len().min(12)]
    );
    match a {
        Attempt::Delivered => {}
        Attempt::Retry { at, error } => eprintln!(
            "wharf serve: {what}: {error}; attempt {} of {MAX_ATTEMPTS}, retrying in {}s",
            d.attempts + 1,
            ((at - crate::now()).max(0) + 999) / 1000
        ),
        Attempt::GaveUp { error } => {
            eprintln!("wharf serve: {what} not delivered, not retried: {error}")
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::db::{Db, Project};

    async fn db() -> (tempfile::TempDir, Db) {
        let dir = tempfile::tempdir().unwrap();
        let db = Db::open(dir.path()).await.unwrap();
        db.add_project(&Project {
            name: "app".into(),
            repo: "/nowhere".into(),
            forge: wharf_forge::ForgeKind::Github,
            poll: None,
            hook_secret: wharf_secrets::crypto::Sealed {
                key_id: "k".into(),
                nonce: vec![0; 24],
                ciphertext: vec![1; 32],
            },
            created_at: 0,
        })
        .await
        .unwrap();
        (dir, db)
    }

    fn t(context: &str, state: State, run: u64) -> Transition {
        Transition {
            project: "app".into(),
            sha: "a".repeat(40),
            reference: Some("main".into()),
            context: context.into(),
            state,
            target_url: format!("http://ci/projects/app/runs/{run}"),
            description: state.as_str().into(),
            run,
        }
    }

    fn states(due: &[Due]) -> Vec<(String, &'static str, u64)> {
        due.iter()
            .map(|d| (d.t.context.clone(), d.t.state.as_str(), d.t.run))
            .collect()
    }

    #[tokio::test]
    async fn a_newer_state_replaces_an_undelivered_older_one() {
        let (_dir, db) = db().await;
        assert!(
            outbox::enqueue(&db, &t("wharf/ci", State::Pending, 1), 0)
                .await
                .unwrap()
        );
        assert!(
            outbox::enqueue(&db, &t("wharf/ci/a", State::Running, 1), 0)
                .await
                .unwrap()
        );
        assert!(
            outbox::enqueue(&db, &t("wharf/ci", State::Success, 1), 0)
                .await
                .unwrap()
        );
        let due = outbox::due(&db, 0, 10).await.unwrap();
        assert_eq!(
            states(&due),
            [
                ("wharf/ci/a".to_string(), "running", 1),
                ("wharf/ci".to_string(), "success", 1)
            ],
            "one delivery per context, the newest, in the order of their last change"
        );
    }

    #[tokio::test]
    async fn an_older_state_never_overwrites_a_newer_one() {
        let (_dir, db) = db().await;
        outbox::enqueue(&db, &t("wharf/ci", State::Failure, 2), 0)
            .await
            .unwrap();
        // run 2 ended; run 1's late pending, its end, and run 2's own pending are older
        for old in [
            t("wharf/ci", State::Pending, 1),
            t("wharf/ci", State::Success, 1),
            t("wharf/ci", State::Pending, 2),
            t("wharf/ci", State::Failure, 2),
        ] {
            assert!(!outbox::enqueue(&db, &old, 0).await.unwrap(), "{old:?}");
        }
        let due = outbox::due(&db, 0, 10).await.unwrap();
        assert_eq!(states(&due), [("wharf/ci".to_string(), "failure", 2)]);
        // a later run's pending is newer
        assert!(
            outbox::enqueue(&db, &t("wharf/ci", State::Pending, 3), 0)
                .await
                .unwrap()
        );
        let due = outbox::due(&db, 0, 10).await.unwrap();
        assert_eq!(states(&due), [("wharf/ci".to_string(), "pending", 3)]);
    }

    #[tokio::test]
    async fn a_state_queued_while_an_older_one_was_sent_is_delivered_after_it() {
        let (_dir, db) = db().await;
        outbox::enqueue(&db, &t("wharf/ci", State::Pending, 1), 0)
            .await
            .unwrap();
        let sent = outbox::due(&db, 0, 10).await.unwrap().remove(0);
        // while `pending` is on the wire, the run ends
        outbox::enqueue(&db, &t("wharf/ci", State::Success, 1), 0)
            .await
            .unwrap();
        outbox::record(&db, &sent, &Attempt::Delivered, 5)
            .await
            .unwrap();
        let due = outbox::due(&db, 10, 10).await.unwrap();
        assert_eq!(
            states(&due),
            [("wharf/ci".to_string(), "success", 1)],
            "the older delivery does not mark the newer state delivered"
        );
        outbox::record(&db, &due[0], &Attempt::Delivered, 11)
            .await
            .unwrap();
        assert!(outbox::due(&db, 20, 10).await.unwrap().is_empty());
        assert_eq!(outbox::next_due(&db).await.unwrap(), None);
    }

    #[tokio::test]
    async fn failures_are_retried_with_backoff_then_given_up() {
        let (_dir, db) = db().await;
        outbox::enqueue(&db, &t("wharf/ci", State::Pending, 1), 0)
            .await
            .unwrap();
        let d = outbox::due(&db, 0, 10).await.unwrap().remove(0);
        let transient = || forge::Answer::Transient {
            error: "500 boom".into(),
            after: None,
        };
        let a = next(1, transient(), 1_000);
        assert_eq!(
            a,
            Attempt::Retry {
                at: 2_000,
                error: "500 boom".into()
            }
        );
        outbox::record(&db, &d, &a, 1_000).await.unwrap();
        assert!(
            outbox::due(&db, 1_999, 10).await.unwrap().is_empty(),
            "not before its time"
        );
        let d = outbox::due(&db, 2_000, 10).await.unwrap().remove(0);
        assert_eq!(d.attempts, 1);
        assert_eq!(
            next(2, transient(), 0),
            Attempt::Retry {
                at: 2_000,
                error: "500 boom".into()
            }
        );
        assert!(matches!(
            next(MAX_ATTEMPTS, transient(), 0),
            Attempt::GaveUp { .. }
        ));
        let refused = next(
            1,
            forge::Answer::Refused {
                error: "401 Bad credentials".into(),
            },
            0,
        );
        assert!(matches!(refused, Attempt::GaveUp { .. }));
        outbox::record(&db, &d, &refused, 2_000).await.unwrap();
        assert!(outbox::due(&db, i64::MAX, 10).await.unwrap().is_empty());
    }

    #[test]
    fn runs_and_jobs_become_statuses() {
        let st = Statuses::new("http://ci.example/");
        let mut event = wharf_model::Event::new(wharf_model::EventKind::Push);
        event.sha = Some("b".repeat(40));
        event.branch = Some("main".into());
        let ctx = |run| RunContext {
            project: "app",
            run,
            event: &event,
        };
        let started = RunEvent::RunStarted {
            run: 4,
            pipeline: "ci".into(),
            file: "wharf.yml".into(),
            event: event.clone(),
            jobs: vec![],
            at: 0,
        };
        let p = transition(&st, &ctx(4), &started).unwrap();
        assert_eq!((p.context.as_str(), p.state), ("wharf/ci", State::Pending));
        assert_eq!(p.target_url, "http://ci.example/projects/app/runs/4");
        let job = RunEvent::JobStarted {
            job: "test (a/b)".into(),
            attempt: 1,
            at: 0,
        };
        let j = transition(&st, &ctx(4), &job).unwrap();
        assert_eq!(j.context, "wharf/ci/test (a/b)");
        assert_eq!(
            j.target_url,
            "http://ci.example/projects/app/runs/4/jobs/test%20%28a%2Fb%29"
        );
        let skipped = RunEvent::JobFinished {
            job: "deploy".into(),
            status: JobStatus::Skipped,
            exit_code: None,
            reason: Some("needs `test` failed".into()),
            outputs: Default::default(),
            at: 0,
        };
        let s = transition(&st, &ctx(4), &skipped).unwrap();
        assert_eq!(s.state, State::Skipped);
        assert_eq!(s.description, "skipped: needs `test` failed");
        let end = RunEvent::RunFinished {
            status: RunStatus::Cancelled,
            at: 0,
        };
        let e = transition(&st, &ctx(4), &end).unwrap();
        assert_eq!(e.state, State::Cancelled);
        assert!(
            transition(&st, &ctx(4), &job).is_none(),
            "the run has ended"
        );
        let long = truncate(&"x".repeat(300), MAX_DESCRIPTION);
        assert_eq!(long.chars().count(), MAX_DESCRIPTION);
    }
}
