//! The state of a run as the renderers see it, folded from the event stream.

use std::collections::VecDeque;

use wharf_model::{FailedTest, FailureKind, JobStatus, Millis, Produced, RunEvent, RunStatus};

/// How many of a job's last log lines are kept to show when it fails.
pub const TAIL_LINES: usize = 20;

/// One job as displayed.
#[derive(Debug, Clone)]
pub struct JobView {
    /// Job id.
    pub id: String,
    /// Step names.
    pub steps: Vec<String>,
    /// Current status.
    pub status: JobStatus,
    /// The attempt running or last run.
    pub attempt: u32,
    /// When the current attempt started.
    pub started: Option<Millis>,
    /// When it finished.
    pub finished: Option<Millis>,
    /// The step running now.
    pub current_step: Option<usize>,
    /// Why it ended that way.
    pub reason: Option<String>,
    /// Test counts from its reports: tests, failures, errors, skipped.
    pub tests: Option<[u64; 4]>,
    /// The failed test cases its reports list, in report order.
    pub failed_tests: Vec<FailedTest>,
    /// Number of artifacts stored.
    pub artifacts: usize,
    /// Release artifacts its built-in steps produced.
    pub produced: Vec<Produced>,
    /// Its last lines of output.
    pub tail: VecDeque<String>,
}

impl JobView {
    /// Appends lines to the tail, keeping the last [`TAIL_LINES`].
    fn push_tail<'a>(&mut self, lines: impl Iterator<Item = &'a str>) {
        for line in lines {
            if self.tail.len() == TAIL_LINES {
                self.tail.pop_front();
            }
            self.tail.push_back(line.to_string());
        }
    }

    /// Milliseconds the job ran (or has been running, given `now`).
    pub fn elapsed(&self, now: Millis) -> Option<Millis> {
        self.started
            .map(|s| self.finished.unwrap_or(now).saturating_sub(s))
    }
}

/// A run as displayed.
#[derive(Debug, Clone, Default)]
pub struct RunView {
    /// Run number.
    pub run: u64,
    /// Pipeline name.
    pub pipeline: String,
    /// Jobs in plan order.
    pub jobs: Vec<JobView>,
    /// When it started.
    pub started: Millis,
    /// When it ended and how.
    pub finished: Option<(Millis, RunStatus)>,
    /// Its warnings so far: (job id, message), in order.
    pub warnings: Vec<(String, String)>,
}

impl RunView {
    /// Index of job `id`.
    pub fn index(&self, id: &str) -> Option<usize> {
        self.jobs.iter().position(|j| j.id == id)
    }

    /// Folds one event in; returns the index of the job it concerns, if any.
    pub fn apply(&mut self, ev: &RunEvent) -> Option<usize> {
        match ev {
            RunEvent::RunStarted {
                run,
                pipeline,
                jobs,
                at,
                ..
            } => {
                self.run = *run;
                self.pipeline = pipeline.clone();
                self.started = *at;
                self.jobs = jobs
                    .iter()
                    .map(|j| JobView {
                        id: j.id.clone(),
                        steps: j.steps.clone(),
                        status: JobStatus::Pending,
                        attempt: 0,
                        started: None,
                        finished: None,
                        current_step: None,
                        reason: None,
                        tests: None,
                        failed_tests: Vec::new(),
                        artifacts: 0,
                        produced: Vec::new(),
                        tail: VecDeque::new(),
                    })
                    .collect();
                None
            }
            RunEvent::JobWaiting { job, reason, .. } => {
                let i = self.index(job)?;
                let j = &mut self.jobs[i];
                j.status = JobStatus::Waiting;
                j.reason = Some(reason.clone());
                Some(i)
            }
            RunEvent::JobStarted { job, attempt, at } => {
                let i = self.index(job)?;
                let j = &mut self.jobs[i];
                j.status = JobStatus::Running;
                j.reason = None;
                j.attempt = *attempt;
                j.started = Some(*at);
                j.tail.clear();
                // A retry starts over: what shows is the latest attempt's (as in the store).
                j.tests = None;
                j.failed_tests.clear();
                j.artifacts = 0;
                self.warnings.retain(|(w, _)| w != job);
                Some(i)
            }
            RunEvent::StepStarted { job, step, .. } => {
                let i = self.index(job)?;
                self.jobs[i].current_step = Some(*step);
                Some(i)
            }
            RunEvent::Lines { job, text, .. } => {
                let i = self.index(job)?;
                // Only the last lines can stay in the tail: skip the rest without copying.
                let lines: Vec<&str> = text.rsplit('\n').take(TAIL_LINES).collect();
                self.jobs[i].push_tail(lines.into_iter().rev());
                Some(i)
            }
            RunEvent::LinesSkipped { job, lines, .. } => {
                let i = self.index(job)?;
                self.jobs[i].push_tail(std::iter::once(
                    format!("… {lines} lines not shown (see `wharf logs`)").as_str(),
                ));
                Some(i)
            }
            RunEvent::StepFinished { job, .. } => self.index(job),
            RunEvent::JobFinished {
                job,
                status,
                reason,
                at,
                ..
            } => {
                let i = self.index(job)?;
                let j = &mut self.jobs[i];
                j.status = *status;
                j.finished = Some(*at);
                j.reason = reason.clone();
                j.current_step = None;
                Some(i)
            }
            RunEvent::ArtifactStored { job, .. } => {
                let i = self.index(job)?;
                self.jobs[i].artifacts += 1;
                Some(i)
            }
            // The release step says what it released in its log.
            RunEvent::Released { .. } => None,
            RunEvent::Produced { job, item, .. } => {
                let i = self.index(job)?;
                self.jobs[i].produced.push(item.clone());
                Some(i)
            }
            RunEvent::ReportParsed {
                job,
                tests,
                failures,
                errors,
                skipped,
                failed_tests,
                ..
            } => {
                let i = self.index(job)?;
                let t = self.jobs[i].tests.get_or_insert([0; 4]);
                t[0] += tests;
                t[1] += failures;
                t[2] += errors;
                t[3] += skipped;
                self.jobs[i]
                    .failed_tests
                    .extend(failed_tests.iter().cloned());
                Some(i)
            }
            RunEvent::Warning { job, message, .. } => {
                self.warnings.push((job.clone(), message.clone()));
                self.index(job)
            }
            RunEvent::RunFinished { status, at } => {
                self.finished = Some((*at, *status));
                None
            }
        }
    }
}

/// `1.234s`, `12.3s`, `2m05s`.
pub fn duration(ms: Millis) -> String {
    let ms = ms.max(0);
    if ms < 10_000 {
        format!("{:.2}s", ms as f64 / 1000.0)
    } else if ms < 60_000 {
        format!("{:.1}s", ms as f64 / 1000.0)
    } else {
        format!("{}m{:02}s", ms / 60_000, (ms % 60_000) / 1000)
    }
}

/// `9 passed, 1 failed` from tests/failures/errors/skipped.
pub fn tests_text(t: [u64; 4]) -> String {
    let [tests, failures, errors, skipped] = t;
    let passed = tests.saturating_sub(failures + errors + skipped);
    let mut parts = vec![format!("{passed} passed")];
    for (n, what) in [
        (failures, "failed"),
        (errors, "errors"),
        (skipped, "skipped"),
    ] {
        if n > 0 {
            parts.push(format!("{n} {what}"));
        }
    }
    parts.join(", ")
}

/// A failed test as one heading line and the rest of its message: `test_sub (tests.calc):
/// assert 1 == 2`, `test_read (tests.io), error: FileNotFoundError`.
pub fn failed_test_text(t: &FailedTest) -> (String, Vec<&str>) {
    let mut head = t.name.clone();
    if !t.classname.is_empty() {
        head.push_str(&format!(" ({})", t.classname));
    }
    if t.kind == FailureKind::Error {
        head.push_str(", error");
    }
    let mut lines = t.message.lines();
    if let Some(first) = lines.next() {
        head.push_str(&format!(": {first}"));
    }
    (head, lines.collect())
}

/// The mark shown before a finished job.
pub fn mark(status: JobStatus) -> &'static str {
    match status {
        JobStatus::Success => "✓",
        JobStatus::Failed | JobStatus::TimedOut | JobStatus::Interrupted => "✗",
        JobStatus::FailedAllowed => "!",
        JobStatus::Skipped => "-",
        JobStatus::Cancelled => "⊘",
        JobStatus::Pending | JobStatus::Waiting | JobStatus::Running => " ",
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn durations() {
        assert_eq!(duration(1234), "1.23s");
        assert_eq!(duration(12_345), "12.3s");
        assert_eq!(duration(125_000), "2m05s");
    }

    #[test]
    fn failed_tests_read_name_class_kind_and_message() {
        let t = FailedTest {
            name: "test_sub".into(),
            classname: "tests.calc".into(),
            kind: FailureKind::Failure,
            message: "assert 1 == 2\n  where 1 = sub(3, 2)".into(),
        };
        assert_eq!(
            failed_test_text(&t),
            (
                "test_sub (tests.calc): assert 1 == 2".to_string(),
                vec!["  where 1 = sub(3, 2)"]
            )
        );
        let e = FailedTest {
            classname: String::new(),
            kind: FailureKind::Error,
            message: String::new(),
            ..t
        };
        assert_eq!(failed_test_text(&e).0, "test_sub, error");
    }

    #[test]
    fn tests() {
        assert_eq!(tests_text([10, 1, 0, 2]), "7 passed, 1 failed, 2 skipped");
    }
}
