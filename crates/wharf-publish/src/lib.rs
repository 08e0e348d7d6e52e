//! Publishing packages to package indexes, idempotently: a file the index already has
//! with the same content is skipped, the same file name with other content is an error.
//!
//! [`python`] uploads wheels and sdists through the upload API twine uses. The crate never
//! prints: progress goes to the caller's closure.

pub mod python;

/// What went wrong, with a message for the user.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// A file cannot be read or is not a package.
    #[error("{0}")]
    File(String),
    /// The index has the file with other content.
    #[error(
        "{filename} is already on the index with other content (index sha256:{index}, this file sha256:{file}); a published file cannot change: bump the version"
    )]
    Conflict {
        /// The file name.
        filename: String,
        /// The sha256 the index lists.
        index: String,
        /// The sha256 of the local file.
        file: String,
    },
    /// The index refused a request or could not be reached.
    #[error("{0}")]
    Index(String),
    /// The request itself is not acceptable (no files, a token over plain HTTP...).
    #[error("{0}")]
    Invalid(String),
    /// The network failed a request: a limit ran out (an index that stalled or never
    /// answered), or the connection broke after the retries.
    #[error(transparent)]
    Net(#[from] wharf_net::NetError),
}

/// The crate's result type.
pub type Result<T, E = Error> = std::result::Result<T, E>;
