//! The event stream a run emits.
//!
//! The engine emits these in order; the store records them, the terminal view renders
//! them, and `wharf run --json` prints one per line. Log lines are carried for live
//! display only: the engine writes logs to files itself, and the store keeps their paths.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use crate::{Event, FailedTest, JobStatus, Millis, Produced, RunStatus, StepStatus};

/// Which output stream a log line came from.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum LogStream {
    /// The step's standard output and standard error together, in the order written
    /// (the local executor gives a step one pipe for both, as `2>&1` does).
    Output,
    /// The step's standard output alone (executors that keep the streams apart).
    Stdout,
    /// The step's standard error alone, or a note from wharf itself.
    Stderr,
}

/// A job as announced at the start of a run.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct JobInfo {
    /// Unique id within the run (see `PlannedJob::id`).
    pub id: String,
    /// The job's key in the pipeline file.
    pub name: String,
    /// Ids of the jobs it needs.
    pub needs: Vec<String>,
    /// Step names, in order.
    pub steps: Vec<String>,
}

/// One thing that happened during a run.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum RunEvent {
    /// The run was created; every job is pending.
    RunStarted {
        /// The run number (1, 2, …) within this project's store.
        run: u64,
        /// The pipeline's name.
        pipeline: String,
        /// The pipeline file, relative to the project root.
        file: String,
        /// What started it.
        event: Event,
        /// Every job of the plan, in plan order.
        jobs: Vec<JobInfo>,
        /// When.
        at: Millis,
    },
    /// A job's attempt began (attempt 1 is the first try).
    JobStarted {
        /// Job id.
        job: String,
        /// 1-based attempt number.
        attempt: u32,
        /// When.
        at: Millis,
    },
    /// A job waits at its environment's gates (approvals, a wait timer) before it starts,
    /// as GitHub's jobs do: its status is `waiting` until [`RunEvent::JobStarted`].
    JobWaiting {
        /// Job id.
        job: String,
        /// What it waits for.
        reason: String,
        /// When.
        at: Millis,
    },
    /// A step began.
    StepStarted {
        /// Job id.
        job: String,
        /// 0-based step index.
        step: usize,
        /// Step name.
        name: String,
        /// When.
        at: Millis,
    },
    /// Several complete lines a step printed, in one event (secrets already masked): how
    /// the engine sends output, so a step printing millions of lines costs one event per
    /// read, not per line. Not stored in the database. `--json` writes one
    /// `{"type": "log", "job", "step", "stream", "line"}` object per line.
    Lines {
        /// Job id.
        job: String,
        /// 0-based step index.
        step: usize,
        /// Where they came from.
        stream: LogStream,
        /// The lines, separated by `\n`, without a final newline.
        text: String,
    },
    /// Lines a step printed that were not sent for display because the display was too
    /// far behind (a slow terminal or reader): they are in the step's log file. Sent
    /// before the next lines shown, or at the end of the step. Not stored.
    LinesSkipped {
        /// Job id.
        job: String,
        /// 0-based step index.
        step: usize,
        /// How many lines.
        lines: u64,
        /// How many bytes.
        bytes: u64,
    },
    /// A step ended.
    StepFinished {
        /// Job id.
        job: String,
        /// 0-based step index.
        step: usize,
        /// How it ended.
        status: StepStatus,
        /// The process exit code, when it exited normally.
        exit_code: Option<i32>,
        /// Its log file, relative to the `.wharf` directory.
        log: Option<String>,
        /// When.
        at: Millis,
    },
    /// A job ended (after its last attempt), or was skipped or cancelled without running.
    JobFinished {
        /// Job id.
        job: String,
        /// How it ended.
        status: JobStatus,
        /// The exit code of the step that decided the status, if any.
        exit_code: Option<i32>,
        /// Why, when not obvious from the status (e.g. "needs `build` failed").
        reason: Option<String>,
        /// Outputs the job's steps wrote to `$WHARF_OUTPUT`.
        outputs: BTreeMap<String, String>,
        /// When.
        at: Millis,
    },
    /// A file matched by a job's `artifacts:` was stored.
    ArtifactStored {
        /// Job id.
        job: String,
        /// Path relative to the workspace.
        path: String,
        /// Hex sha256 of the content (also its key in the artifact store).
        sha256: String,
        /// Size in bytes.
        size: u64,
        /// Unix mode bits.
        mode: u32,
    },
    /// A built-in step produced a release artifact (a package, an image, a Python file).
    Produced {
        /// Job id.
        job: String,
        /// 0-based step index.
        step: usize,
        /// What it produced.
        item: Produced,
    },
    /// A `release` step released a version: its record, stored by the recorder.
    Released {
        /// Job id.
        job: String,
        /// 0-based step index.
        step: usize,
        /// The release.
        record: crate::ReleaseRecord,
    },
    /// A JUnit XML report was parsed.
    ReportParsed {
        /// Job id.
        job: String,
        /// Path relative to the workspace.
        path: String,
        /// Test cases.
        tests: u64,
        /// Failed test cases.
        failures: u64,
        /// Test cases in error.
        errors: u64,
        /// Skipped test cases.
        skipped: u64,
        /// The failed and erroring test cases, in report order: the first
        /// [`FailedTest::MAX_LISTED`], each message cut to its first lines (the counts say
        /// how many there were in all).
        #[serde(default)]
        failed_tests: Vec<FailedTest>,
    },
    /// Something the user should know that did not fail the job: a `reports:` glob that
    /// matched no file, an unreadable report, a failed job's artifacts it could not keep.
    /// Recorded with the run, listed under the summary (`warning: [job] message`) and in
    /// `wharf show`.
    Warning {
        /// Job id.
        job: String,
        /// 0-based index of the step it is about, if one.
        step: Option<usize>,
        /// What happened, one sentence, secrets masked.
        message: String,
    },
    /// The run ended.
    RunFinished {
        /// How it ended.
        status: RunStatus,
        /// When.
        at: Millis,
    },
}
