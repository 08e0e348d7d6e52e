//! Statuses of runs, jobs and steps, as recorded and displayed.

use serde::{Deserialize, Serialize};

macro_rules! status_enum {
    ($(#[$doc:meta])* $name:ident { $($(#[$vdoc:meta])* $variant:ident => $text:literal,)* }) => {
        $(#[$doc])*
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
        #[serde(rename_all = "snake_case")]
        pub enum $name {
            $($(#[$vdoc])* $variant,)*
        }

        impl $name {
            /// The lowercase name stored in the database and printed in `--json`.
            pub fn as_str(self) -> &'static str {
                match self { $($name::$variant => $text,)* }
            }

            /// Parses the name written by [`Self::as_str`].
            pub fn parse(s: &str) -> Option<Self> {
                match s { $($text => Some($name::$variant),)* _ => None }
            }
        }

        impl std::fmt::Display for $name {
            fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                f.write_str(self.as_str())
            }
        }
    };
}

status_enum! {
    /// The status of a whole run.
    RunStatus {
        /// Jobs are still running.
        Running => "running",
        /// Every job that ran succeeded (or was allowed to fail).
        Success => "success",
        /// At least one job failed.
        Failed => "failed",
        /// Stopped by the user (Ctrl-C) before it finished.
        Cancelled => "cancelled",
        /// The wharf process died mid-run (found on the next start).
        Interrupted => "interrupted",
    }
}

status_enum! {
    /// The status of one job.
    JobStatus {
        /// Waiting for its needs.
        Pending => "pending",
        /// Waiting at its environment's gates (approvals, a wait timer) before it starts.
        Waiting => "waiting",
        /// Its steps are running.
        Running => "running",
        /// Every step succeeded.
        Success => "success",
        /// A step failed (after retries).
        Failed => "failed",
        /// Failed, but the job has `continue-on-error`: does not fail the run.
        FailedAllowed => "failed_allowed",
        /// Its `if:` was false, or a need did not succeed.
        Skipped => "skipped",
        /// Stopped by fail-fast or Ctrl-C.
        Cancelled => "cancelled",
        /// Killed because it ran past its timeout.
        TimedOut => "timed_out",
        /// The wharf process died while it ran.
        Interrupted => "interrupted",
    }
}

status_enum! {
    /// The status of one step.
    StepStatus {
        /// Not started yet.
        Pending => "pending",
        /// Running now.
        Running => "running",
        /// Exited 0.
        Success => "success",
        /// Exited non-zero or could not start.
        Failed => "failed",
        /// Failed, but the step has `continue-on-error`.
        FailedAllowed => "failed_allowed",
        /// Not run: an earlier step failed, or its `if:` was false.
        Skipped => "skipped",
        /// Killed by fail-fast or Ctrl-C.
        Cancelled => "cancelled",
        /// Killed because it ran past its timeout.
        TimedOut => "timed_out",
        /// The wharf process died while it ran.
        Interrupted => "interrupted",
    }
}

impl JobStatus {
    /// Whether the job has finished (any terminal status).
    pub fn is_terminal(self) -> bool {
        !matches!(
            self,
            JobStatus::Pending | JobStatus::Waiting | JobStatus::Running
        )
    }

    /// Whether dependants see this job as succeeded (`success()` in expressions).
    pub fn counts_as_success(self) -> bool {
        matches!(self, JobStatus::Success | JobStatus::FailedAllowed)
    }

    /// Whether this job makes the run fail.
    pub fn fails_run(self) -> bool {
        matches!(
            self,
            JobStatus::Failed | JobStatus::TimedOut | JobStatus::Interrupted
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trip() {
        for s in ["pending", "failed_allowed", "timed_out", "interrupted"] {
            assert_eq!(JobStatus::parse(s).unwrap().as_str(), s);
        }
        assert_eq!(RunStatus::parse("bogus"), None);
        assert_eq!(
            serde_json::to_string(&StepStatus::TimedOut).unwrap(),
            "\"timed_out\""
        );
    }
}
