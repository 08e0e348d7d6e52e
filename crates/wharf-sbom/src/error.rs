//! Why an SBOM could not be collected or written, with the path (and line, where there
//! is one) in every case so the message is actionable without a backtrace.

use std::io;
use std::path::PathBuf;

/// Errors from the collectors and writers of this crate.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// An I/O operation failed.
    #[error("{action} {}: {source}", path.display())]
    Io {
        /// What was being done, e.g. "reading".
        action: &'static str,
        /// The file or directory involved.
        path: PathBuf,
        /// The underlying error.
        source: io::Error,
    },
    /// A package database, metadata file or lock file is malformed.
    #[error("{}{}: {reason}", path.display(), line.map(|l| format!(":{l}")).unwrap_or_default())]
    Parse {
        /// The file being read (for a member of a wheel: `wheel.whl/member`).
        path: PathBuf,
        /// The 1-based line, when the problem is on one.
        line: Option<usize>,
        /// What is wrong.
        reason: String,
    },
    /// A wheel is not a readable zip archive.
    #[error("reading wheel {}: {source}", path.display())]
    Zip {
        /// The wheel file.
        path: PathBuf,
        /// The underlying error.
        source: zip::result::ZipError,
    },
    /// A requirement in a requirements file is not pinned to one version.
    #[error(
        "{}:{line}: {requirement:?} is not pinned with `==`; \
         hint: export the resolved set (`pip freeze`, `uv export`, `pip-compile --generate-hashes`)",
        path.display()
    )]
    Unpinned {
        /// The requirements file.
        path: PathBuf,
        /// The 1-based line.
        line: usize,
        /// The requirement as written.
        requirement: String,
    },
    /// Two sources of resolved dependencies disagree on a package's version.
    #[error("{name} is {first} in one source of resolved dependencies and {second} in another")]
    VersionConflict {
        /// The normalised package name.
        name: String,
        /// The version from the first source.
        first: String,
        /// The version from the second source.
        second: String,
    },
    /// A hand-built [`Sbom`](crate::Sbom) or [`FileInput`](crate::FileInput) breaks a rule
    /// the output formats need (a digest that is not hex, an invalid licence expression,
    /// a relationship to a package that is not there, ...).
    #[error("invalid SBOM content: {what}: {reason}")]
    Invalid {
        /// The element involved.
        what: String,
        /// The rule it breaks.
        reason: String,
    },
}

/// Shorthand for results of this crate.
pub type Result<T, E = Error> = std::result::Result<T, E>;

impl Error {
    pub(crate) fn io(action: &'static str, path: impl Into<PathBuf>, source: io::Error) -> Self {
        Self::Io {
            action,
            path: path.into(),
            source,
        }
    }

    pub(crate) fn parse(
        path: impl Into<PathBuf>,
        line: Option<usize>,
        reason: impl Into<String>,
    ) -> Self {
        Self::Parse {
            path: path.into(),
            line,
            reason: reason.into(),
        }
    }

    pub(crate) fn invalid(what: impl Into<String>, reason: impl Into<String>) -> Self {
        Self::Invalid {
            what: what.into(),
            reason: reason.into(),
        }
    }
}
