//! Exit codes, as one enum: what a script calling wharf can rely on.

/// How wharf exits.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ExitStatus {
    /// Everything succeeded.
    Success,
    /// The pipeline ran and a job failed (or a check failed).
    Failure,
    /// Bad usage, an invalid pipeline file, or an internal error.
    Invalid,
    /// Stopped by Ctrl-C / SIGTERM.
    Interrupted,
}

impl From<ExitStatus> for std::process::ExitCode {
    fn from(s: ExitStatus) -> Self {
        std::process::ExitCode::from(match s {
            ExitStatus::Success => 0,
            ExitStatus::Failure => 1,
            ExitStatus::Invalid => 2,
            ExitStatus::Interrupted => 130,
        })
    }
}

/// An error that already says what went wrong, and maybe how to fix it.
#[derive(Debug)]
pub struct UserError {
    /// What went wrong.
    pub message: String,
    /// How to fix it.
    pub hint: Option<String>,
    /// The exit status it leads to.
    pub status: ExitStatus,
}

impl UserError {
    /// An invalid-input error (exit 2).
    pub fn invalid(message: impl Into<String>) -> UserError {
        UserError {
            message: message.into(),
            hint: None,
            status: ExitStatus::Invalid,
        }
    }

    /// The work itself failed (a registry refused a push, an index an upload): exit 1.
    pub fn failed(message: impl Into<String>) -> UserError {
        UserError {
            message: message.into(),
            hint: None,
            status: ExitStatus::Failure,
        }
    }

    /// Invalid input whose diagnostics were printed already (exit 2, nothing more said).
    pub fn reported() -> UserError {
        UserError::invalid(String::new())
    }

    /// Adds a hint.
    pub fn hint(mut self, hint: impl Into<String>) -> UserError {
        self.hint = Some(hint.into());
        self
    }
}

impl std::fmt::Display for UserError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.message)
    }
}

impl std::error::Error for UserError {}
