//! Live logs: one Server-Sent Events stream per job, read from the step log files the
//! engine writes (never from a buffer in memory), with the byte position in every event's
//! `id:` so that a follower that reconnects with `Last-Event-ID` resumes exactly where it
//! was: no gap, no duplicate.
//!
//! The engine writes each read of a step's output to its log file before anything else
//! sees it (`wharf_engine::logs`), so the file *is* the stream: a follower keeps only its
//! position, reads at its own pace, and can never slow the job or another follower. Which
//! steps have started or ended comes from the run's events as they happen ([`Live`],
//! filled by [`crate::observe`]); a run that is not live any more is read from the store.
//!
//! Event ids: `S:b:N` after a `step` or `log` event (step `S` started, its first `N` bytes
//! sent) and `S:e` after a `step-end` event. `?from=ID` does what `Last-Event-ID` does, for
//! a client that starts a new stream itself (after reading a range of the stored log).

use std::collections::HashMap;
use std::path::PathBuf;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::response::sse::{Event as SseEvent, KeepAlive, Sse};
use base64::Engine as _;
use futures_util::Stream;
use tokio::sync::watch;
use wharf_model::{JobStatus, RunEvent, StepStatus};

use crate::app::Shared;
use crate::error::{Error, Result};

/// How often a follower looks at its log file for new bytes while the step runs (the
/// engine sends no event per line to the server: followers read the file).
const POLL: Duration = Duration::from_millis(40);

/// How often a follower of a run that is not live (recovered after a restart, or run by
/// another process) reads the run's record again.
const RECORD_POLL: Duration = Duration::from_millis(500);

/// The most bytes in one `log` event.
const CHUNK: usize = 64 * 1024;

/// The most bytes a follower reads at a time: what it holds as events not yet sent, so a
/// follower's memory stays about this (a follower behind reads again once they are sent).
const BURST: usize = 256 * 1024;

/// How far behind the end of a step's log a follower may be before it is told to read the
/// stored log by range and resume after it.
pub(crate) const BEHIND: u64 = 8 * 1024 * 1024;

/// The runs being run by this server, as their events arrive.
#[derive(Default)]
pub(crate) struct Live {
    runs: Mutex<HashMap<(String, u64), Arc<LiveRun>>>,
}

/// One running run: each job's and step's state, and a counter bumped on every change.
pub(crate) struct LiveRun {
    changed: watch::Sender<u64>,
    state: Mutex<RunState>,
}

#[derive(Default, Clone)]
struct RunState {
    finished: bool,
    jobs: HashMap<String, JobState>,
}

#[derive(Clone)]
struct JobState {
    status: Option<(JobStatus, Option<String>)>,
    steps: Vec<StepState>,
}

#[derive(Clone)]
struct StepState {
    name: String,
    started: bool,
    end: Option<(StepStatus, Option<i32>)>,
}

impl Live {
    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<(String, u64), Arc<LiveRun>>> {
        self.runs.lock().unwrap_or_else(|p| p.into_inner())
    }

    fn get(&self, project: &str, run: u64) -> Option<Arc<LiveRun>> {
        self.lock().get(&(project.to_string(), run)).cloned()
    }

    /// Takes one event of a running run.
    pub(crate) fn observe(&self, project: &str, run: u64, ev: &RunEvent) {
        if let RunEvent::RunStarted { jobs, .. } = ev {
            let state = RunState {
                finished: false,
                jobs: jobs
                    .iter()
                    .map(|j| {
                        let steps = j
                            .steps
                            .iter()
                            .map(|name| StepState {
                                name: name.clone(),
                                started: false,
                                end: None,
                            })
                            .collect();
                        (
                            j.id.clone(),
                            JobState {
                                status: None,
                                steps,
                            },
                        )
                    })
                    .collect(),
            };
            let live = Arc::new(LiveRun {
                changed: watch::Sender::new(0),
                state: Mutex::new(state),
            });
            self.lock().insert((project.to_string(), run), live);
            return;
        }
        let Some(live) = self.get(project, run) else {
            return;
        };
        {
            let mut st = live.state.lock().unwrap_or_else(|p| p.into_inner());
            match ev {
                RunEvent::StepStarted { job, step, .. } => {
                    if let Some(s) = st.jobs.get_mut(job).and_then(|j| j.steps.get_mut(*step)) {
                        s.started = true;
                    }
                }
                RunEvent::StepFinished {
                    job,
                    step,
                    status,
                    exit_code,
                    ..
                } => {
                    if let Some(s) = st.jobs.get_mut(job).and_then(|j| j.steps.get_mut(*step)) {
                        s.end = Some((*status, *exit_code));
                    }
                }
                RunEvent::JobStarted { job, .. } => {
                    // A retried attempt starts its steps again from the first.
                    if let Some(j) = st.jobs.get_mut(job) {
                        for s in &mut j.steps {
                            s.started = false;
                            s.end = None;
                        }
                    }
                }
                RunEvent::JobFinished {
                    job,
                    status,
                    reason,
                    ..
                } => {
                    if let Some(j) = st.jobs.get_mut(job) {
                        j.status = Some((*status, reason.clone()));
                    }
                }
                RunEvent::RunFinished { .. } => st.finished = true,
                _ => return,
            }
        }
        live.changed.send_modify(|n| *n += 1);
        if matches!(ev, RunEvent::RunFinished { .. }) {
            // Recorded before it was shown: followers read the rest from the store.
            self.lock().remove(&(project.to_string(), run));
        }
    }
}

/// Where a follower is in a job's log.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Position {
    /// The step.
    pub step: usize,
    /// Whether its `step` event was sent, and how many of its bytes.
    pub sent: Option<u64>,
}

impl Position {
    /// The start of the job: nothing sent.
    pub const START: Position = Position {
        step: 0,
        sent: None,
    };

    /// Reads an event id (`S:b:N` or `S:e`).
    pub(crate) fn parse(id: &str) -> Option<Position> {
        let mut parts = id.trim().split(':');
        let step: usize = parts.next()?.parse().ok()?;
        match (parts.next()?, parts.next(), parts.next()) {
            ("b", Some(n), None) => Some(Position {
                step,
                sent: Some(n.parse().ok()?),
            }),
            ("e", None, None) => Some(Position {
                step: step.checked_add(1)?,
                sent: None,
            }),
            _ => None,
        }
    }

    fn id(self) -> String {
        match self.sent {
            Some(n) => format!("{}:b:{n}", self.step),
            None => format!("{}:e", self.step.saturating_sub(1)),
        }
    }
}

/// A job's steps as a follower sees them at one moment.
struct View {
    steps: Vec<StepState>,
    /// The job's end, once it ended.
    done: Option<(JobStatus, Option<String>)>,
    /// Woken on every change, while the run is live.
    changed: Option<watch::Receiver<u64>>,
}

/// What a follower needs to read a job.
pub(crate) struct Follow {
    pub shared: Arc<Shared>,
    pub project: String,
    pub run: u64,
    pub job: String,
    /// The project's `.wharf`-like state directory, where `logs/` is.
    pub state: PathBuf,
    /// Where the stored log of step `S` is served by range (`{S}` replaced).
    pub range_url: String,
}

impl Follow {
    async fn view(&self) -> Result<View> {
        if let Some(live) = self.shared.live.get(&self.project, self.run) {
            let st = live.state.lock().unwrap_or_else(|p| p.into_inner()).clone();
            if let Some(j) = st.jobs.get(&self.job) {
                return Ok(View {
                    steps: j.steps.clone(),
                    done: j.status.clone(),
                    changed: Some(live.changed.subscribe()),
                });
            }
        }
        let store = self.shared.store(&self.project).await?;
        let rec = store
            .get_run(self.run)
            .await?
            .ok_or_else(|| Error::NotFound(format!("no run #{}", self.run)))?;
        let j = rec.jobs.iter().find(|j| j.id == self.job).ok_or_else(|| {
            Error::NotFound(format!("run #{} has no job `{}`", self.run, self.job))
        })?;
        let steps = j
            .steps
            .iter()
            .map(|s| StepState {
                name: s.name.clone(),
                started: s.started_at.is_some() || s.status != StepStatus::Pending,
                end: (!matches!(s.status, StepStatus::Pending | StepStatus::Running))
                    .then_some((s.status, s.exit_code)),
            })
            .collect();
        let done = (j.status.is_terminal()).then(|| (j.status, j.reason.clone()));
        Ok(View {
            steps,
            done,
            changed: None,
        })
    }

    fn log_file(&self, step: usize) -> PathBuf {
        wharf_store::log_path(&self.state, self.run, &self.job, step).0
    }
}

/// A follower's counted place among the server's followers: released when dropped.
pub(crate) struct Slot {
    _permit: tokio::sync::OwnedSemaphorePermit,
    _counted: crate::metrics::Follower,
}

/// Takes a follower's place, or says the server has as many as it takes.
pub(crate) fn admit(s: &Shared) -> Result<Slot> {
    let permit = s.followers.clone().try_acquire_owned().map_err(|_| {
        Error::Busy(format!(
            "this server already streams {} live logs, its --max-followers; retry later, or read the stored log by range",
            s.config.max_followers
        ))
    })?;
    Ok(Slot {
        _permit: permit,
        _counted: s.metrics.follower(),
    })
}

/// The SSE response following `f` from `from`.
pub(crate) fn stream(
    f: Follow,
    from: Position,
    slot: Slot,
) -> Sse<impl Stream<Item = std::result::Result<SseEvent, std::convert::Infallible>>> {
    let state = Cursor {
        f,
        pos: from,
        pending: std::collections::VecDeque::new(),
        ended: false,
        file: None,
        _slot: slot,
    };
    let events = futures_util::stream::unfold(state, |mut c| async move {
        loop {
            if let Some(ev) = c.pending.pop_front() {
                return Some((Ok(ev), c));
            }
            if c.ended {
                return None;
            }
            c.advance().await;
        }
    });
    Sse::new(events).keep_alive(
        KeepAlive::new()
            .interval(Duration::from_secs(15))
            .text("ping"),
    )
}

/// A follower's state between events.
struct Cursor {
    f: Follow,
    pos: Position,
    pending: std::collections::VecDeque<SseEvent>,
    ended: bool,
    /// The log file of the step being read, kept open between reads.
    file: Option<(usize, std::fs::File)>,
    _slot: Slot,
}

impl Cursor {
    fn push(&mut self, kind: &str, data: serde_json::Value) {
        self.pending.push_back(
            SseEvent::default()
                .event(kind)
                .id(self.pos.id())
                .data(data.to_string()),
        );
    }

    fn end(&mut self, data: serde_json::Value) {
        self.pending
            .push_back(SseEvent::default().event("end").data(data.to_string()));
        self.ended = true;
    }

    /// Queues whatever is new, or waits for something to be.
    async fn advance(&mut self) {
        let view = match self.f.view().await {
            Ok(v) => v,
            Err(e) => {
                self.end(serde_json::json!({ "error": e.to_string() }));
                return;
            }
        };
        let mut sent: u64 = 0;
        while self.pos.step < view.steps.len() && sent == 0 {
            let i = self.pos.step;
            let step = &view.steps[i];
            let ran = step.started || step.end.is_some();
            if !ran {
                if view.done.is_some() {
                    // The job ended before this step ran (a failure before it, a cancel).
                    self.pos = Position {
                        step: view.steps.len(),
                        sent: None,
                    };
                }
                break;
            }
            let offset = match self.pos.sent {
                Some(n) => n,
                None => {
                    self.pos.sent = Some(0);
                    self.push("step", serde_json::json!({ "step": i, "name": step.name }));
                    0
                }
            };
            // The end is read before the file: once a step ended, its file is complete.
            let end = step.end;
            let (len, bytes) = match self.read_file(i, offset).await {
                Ok(r) => r,
                Err(e) => {
                    self.end(serde_json::json!({ "error": e.to_string() }));
                    return;
                }
            };
            if len > offset.saturating_add(BEHIND) {
                // Far behind: the stored log by range is the faster way to catch up.
                self.push(
                    "behind",
                    serde_json::json!({
                        "step": i,
                        "from": offset,
                        "to": len,
                        "url": self.f.range_url.replace("{S}", &i.to_string()),
                    }),
                );
                self.ended = true;
                return;
            }
            if !bytes.is_empty() {
                sent += self.send_bytes(
                    i,
                    offset,
                    &bytes,
                    end.is_some() && offset + bytes.len() as u64 == len,
                );
                if self.pos.sent < Some(len) {
                    // More than one read's worth: send these first.
                    break;
                }
            }
            match end {
                Some((status, exit_code)) if self.pos.sent >= Some(len) => {
                    self.pos = Position {
                        step: i + 1,
                        sent: None,
                    };
                    self.push(
                        "step-end",
                        serde_json::json!({
                            "step": i,
                            "status": status.as_str(),
                            "exit_code": exit_code,
                        }),
                    );
                }
                _ => break,
            }
        }
        if self.pos.step >= view.steps.len()
            && let Some((status, reason)) = &view.done
        {
            self.end(serde_json::json!({ "status": status.as_str(), "reason": reason }));
            return;
        }
        if !self.pending.is_empty() || sent > 0 {
            return;
        }
        match view.changed {
            Some(mut rx) => {
                let _ = tokio::time::timeout(POLL, rx.changed()).await;
            }
            None => tokio::time::sleep(RECORD_POLL.min(POLL * 5)).await,
        }
    }

    /// Step `i`'s log: its length now, and up to [`BURST`] of its bytes from `offset`.
    /// One trip to a blocking thread, with the file kept open from one read to the next.
    async fn read_file(&mut self, i: usize, offset: u64) -> Result<(u64, Vec<u8>)> {
        let path = self.f.log_file(i);
        let kept = match self.file.take() {
            Some((step, f)) if step == i => Some(f),
            _ => None,
        };
        let (file, read) = tokio::task::spawn_blocking(move || {
            use std::os::unix::fs::FileExt as _;
            let file = match kept {
                Some(f) => f,
                None => match std::fs::File::open(&path) {
                    Ok(f) => f,
                    // A step that printed nothing yet has no log file.
                    Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
                        return (None, Ok((0, Vec::new())));
                    }
                    Err(e) => return (None, Err(Error::io("read the log", &path)(e))),
                },
            };
            let read = (|| {
                let len = file
                    .metadata()
                    .map_err(Error::io("read the log", &path))?
                    .len();
                let want = usize::try_from(len.saturating_sub(offset))
                    .unwrap_or(BURST)
                    .min(BURST);
                let mut buf = vec![0u8; want];
                let mut got = 0;
                while got < want {
                    match file.read_at(&mut buf[got..], offset + got as u64) {
                        Ok(0) => break,
                        Ok(n) => got += n,
                        Err(e) if e.kind() == std::io::ErrorKind::Interrupted => {}
                        Err(e) => return Err(Error::io("read the log", &path)(e)),
                    }
                }
                buf.truncate(got);
                Ok((len, buf))
            })();
            (Some(file), read)
        })
        .await
        .map_err(|e| Error::invalid(format!("reading a log: {e}"), None))?;
        self.file = file.map(|f| (i, f));
        read
    }

    /// Queues `bytes` (step `i`'s log from `offset`) as `log` events of at most [`CHUNK`]
    /// bytes; how many it queued. A UTF-8 character cut at the end waits for its other
    /// bytes, unless the log is complete (`last`): bytes that are not UTF-8 go as `base64`.
    fn send_bytes(&mut self, i: usize, offset: u64, bytes: &[u8], last: bool) -> u64 {
        let mut at = 0usize;
        while at < bytes.len() {
            let piece = &bytes[at..bytes.len().min(at + CHUNK)];
            let start = offset + at as u64;
            let (data, used) = match std::str::from_utf8(piece) {
                Ok(text) => (
                    serde_json::json!({ "step": i, "offset": start, "text": text }),
                    piece.len(),
                ),
                Err(e) if e.error_len().is_none() && e.valid_up_to() > 0 => {
                    let valid = e.valid_up_to();
                    let text = std::str::from_utf8(&piece[..valid]).unwrap_or_default();
                    (
                        serde_json::json!({ "step": i, "offset": start, "text": text }),
                        valid,
                    )
                }
                Err(e) if e.error_len().is_none() && !last => {
                    // Only the start of a character so far (the end of what was read
                    // cuts it): it goes with the bytes after it, next time.
                    break;
                }
                Err(_) => (
                    serde_json::json!({
                        "step": i,
                        "offset": start,
                        "base64": base64::engine::general_purpose::STANDARD.encode(piece),
                    }),
                    piece.len(),
                ),
            };
            at += used;
            self.pos.sent = Some(offset + at as u64);
            self.push("log", data);
        }
        at as u64
    }
}

#[cfg(test)]
mod tests {
    use super::Position;

    #[test]
    fn ids_read_back_as_the_positions_they_name() {
        for p in [
            Position {
                step: 0,
                sent: Some(0),
            },
            Position {
                step: 3,
                sent: Some(12345),
            },
            Position {
                step: 2,
                sent: None,
            },
        ] {
            assert_eq!(Position::parse(&p.id()), Some(p), "{}", p.id());
        }
        assert_eq!(
            Position::parse("0:e"),
            Some(Position {
                step: 1,
                sent: None
            })
        );
    }

    #[test]
    fn anything_else_is_not_an_id() {
        for bad in [
            "",
            "start",
            "1",
            "1:b",
            "1:b:x",
            "1:b:1:2",
            "1:e:3",
            "-1:b:0",
            "x:b:0",
            "1:c:0",
            "18446744073709551615:e",
            "1:b:-5",
            " 1 : b : 2",
        ] {
            assert_eq!(Position::parse(bad), None, "{bad:?}");
        }
    }

    #[test]
    fn no_input_panics() {
        let alphabet = [
            "0",
            "1",
            "9",
            ":",
            "b",
            "e",
            "-",
            " ",
            "x",
            "18446744073709551616",
        ];
        let mut state = 0x9e37_79b9_7f4a_7c15u64;
        for _ in 0..20_000 {
            let mut id = String::new();
            for _ in 0..(state % 7) {
                state ^= state << 13;
                state ^= state >> 7;
                state ^= state << 17;
                id.push_str(alphabet[(state % alphabet.len() as u64) as usize]);
            }
            if let Some(p) = Position::parse(&id) {
                // What parses names one position, whose own id parses back to it.
                assert_eq!(Position::parse(&p.id()), Some(p), "{id:?}");
            }
        }
    }
}
