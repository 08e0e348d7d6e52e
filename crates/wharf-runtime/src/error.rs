//! What can stop a run before or around its jobs (a job's own failure is its status, not an
//! error).

use std::path::PathBuf;

/// Why the runtime could not run an event.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// Bad input from the user (an unknown job, a missing secret, a bad manual input): the
    /// front end shows it with its hint and exits 2.
    #[error("{message}")]
    Invalid {
        /// What is wrong.
        message: String,
        /// How to fix it.
        hint: Option<String>,
    },
    /// A pipeline could not be planned for the event.
    #[error("cannot plan pipeline `{pipeline}`")]
    Plan {
        /// The pipeline.
        pipeline: String,
        /// What is wrong, with positions.
        diagnostics: wharf_pipeline::Diagnostics,
    },
    /// The run history failed.
    #[error("{doing}: {source}")]
    Store {
        /// What was being done.
        doing: &'static str,
        /// The cause.
        #[source]
        source: wharf_store::Error,
    },
    /// The jobs' workspaces could not be prepared.
    #[error("preparing the jobs' workspaces: {0}")]
    Workspace(#[from] wharf_engine::workspace::Error),
    /// A file operation failed.
    #[error("{doing} {}: {source}", path.display())]
    Io {
        /// What was being done.
        doing: &'static str,
        /// On which path.
        path: PathBuf,
        /// The cause.
        #[source]
        source: std::io::Error,
    },
    /// A task of the runtime died.
    #[error("the {0} task failed: {1}")]
    Task(&'static str, String),
}

impl Error {
    /// A user error with a hint.
    pub fn invalid(message: impl Into<String>, hint: impl Into<String>) -> Error {
        Error::Invalid {
            message: message.into(),
            hint: Some(hint.into()),
        }
    }

    /// Maps a store error, saying what was being done.
    pub fn store(doing: &'static str) -> impl FnOnce(wharf_store::Error) -> Error {
        move |source| Error::Store { doing, source }
    }
}

/// The result type of the runtime.
pub type Result<T> = std::result::Result<T, Error>;
