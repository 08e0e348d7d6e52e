//! The crate's error type.

use std::path::PathBuf;

/// Errors from reading git history or writing a changelog.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// `git` could not be run at all.
    #[error("cannot run git in {}: {source}", dir.display())]
    Spawn {
        /// Where.
        dir: PathBuf,
        /// Why.
        #[source]
        source: std::io::Error,
    },
    /// `git` ran and failed.
    #[error("`git {args}` failed: {stderr}")]
    Git {
        /// The arguments (never secrets: wharf passes none to git here).
        args: String,
        /// What git printed on stderr.
        stderr: String,
    },
    /// The directory is not inside a git repository.
    #[error("{} is not in a git repository", .0.display())]
    NotARepo(PathBuf),
    /// A bad argument (a `--since` tag that does not exist, a bad pre-release name).
    #[error("{0}")]
    Invalid(String),
}

/// The crate's result type.
pub type Result<T, E = Error> = std::result::Result<T, E>;
