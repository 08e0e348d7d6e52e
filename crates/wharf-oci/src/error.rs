//! The crate's error type: every I/O variant says which path and what was being done.

use std::path::PathBuf;

/// Errors from building, reading or writing images and layouts.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// A filesystem operation failed.
    #[error("{action} {}: {source}", path.display())]
    Io {
        /// What wharf was doing, e.g. "cannot read".
        action: &'static str,
        /// The path involved.
        path: PathBuf,
        /// The underlying error.
        #[source]
        source: std::io::Error,
    },
    /// A string is not a valid `sha256:<64 hex>` digest.
    #[error("invalid digest `{0}`: expected sha256:<64 lowercase hex digits>")]
    InvalidDigest(String),
    /// The directory is not an OCI image layout, or it is damaged.
    #[error("{}: {reason}", path.display())]
    InvalidLayout {
        /// The layout root.
        path: PathBuf,
        /// What is wrong with it.
        reason: String,
    },
    /// A blob's content does not hash to the digest it is stored under.
    #[error("blob {expected} is damaged: its content hashes to {actual}")]
    DigestMismatch {
        /// The digest the blob was expected to have.
        expected: String,
        /// The digest of the bytes actually read.
        actual: String,
    },
    /// A JSON document (index, manifest, config) could not be read or written.
    #[error("{what}: {source}")]
    Json {
        /// Which document.
        what: String,
        /// The serde error.
        #[source]
        source: serde_json::Error,
    },
    /// A registry refused or failed a request (the message says which and what to do).
    #[error("{0}")]
    Registry(String),
    /// The network failed a request: a limit ran out (a stalled registry), or the
    /// connection broke after the retries.
    #[error(transparent)]
    Net(#[from] wharf_net::NetError),
    /// Anything else the builder rejects, with a message for the user.
    #[error("{0}")]
    Invalid(String),
    /// A Dockerfile build through the Docker Engine failed (see [`crate::docker`]).
    #[error(transparent)]
    Docker(#[from] crate::docker::DockerError),
}

/// The crate's result type.
pub type Result<T, E = Error> = std::result::Result<T, E>;

impl Error {
    /// An [`Error::Io`] for `path`.
    pub fn io(action: &'static str, path: impl Into<PathBuf>, source: std::io::Error) -> Self {
        Error::Io {
            action,
            path: path.into(),
            source,
        }
    }
}
