//! Why packaging or verification failed, with the path involved in every case so the
//! message is actionable without a backtrace.

use std::io;
use std::path::{Path, PathBuf};

/// Errors from [`create`](crate::create) and [`verify`](crate::verify).
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
    /// An input path is absolute.
    #[error("package input {path:?} is absolute; inputs must be relative to the package root")]
    Absolute {
        /// The input as given.
        path: String,
    },
    /// An input path contains `..`.
    #[error("package input {path:?} contains `..`; inputs must stay inside the package root")]
    ParentDir {
        /// The input as given.
        path: String,
    },
    /// An input resolves (through a symlink) outside the root.
    #[error("package input {path:?} resolves to {} outside the package root {}", target.display(), root.display())]
    Escapes {
        /// The path inside the package.
        path: String,
        /// Where it resolves to.
        target: PathBuf,
        /// The package root.
        root: PathBuf,
    },
    /// An input does not exist (or is a dangling symlink).
    #[error("package input {path:?} does not exist under {}", root.display())]
    Missing {
        /// The input as given.
        path: String,
        /// The package root.
        root: PathBuf,
    },
    /// An input or output path cannot be packaged for another reason.
    #[error("package path {path:?}: {reason}")]
    InvalidPath {
        /// The path involved.
        path: String,
        /// Why it is refused.
        reason: &'static str,
    },
    /// A file changed between hashing it and adding it.
    #[error("{} changed while it was being packaged; package it again once it is stable", path.display())]
    Changed {
        /// The file on disk.
        path: PathBuf,
    },
    /// The manifest could not be encoded.
    #[error("encoding the package manifest: {0}")]
    Encode(#[source] serde_json::Error),
    /// The package is not a readable gzip-compressed tar.
    #[error("{} is not a valid package: {reason}", package.display())]
    Corrupt {
        /// The package file.
        package: PathBuf,
        /// What is wrong.
        reason: String,
    },
    /// The manifest is missing, misplaced or unreadable.
    #[error("{}: bad manifest: {reason}", package.display())]
    Manifest {
        /// The package file.
        package: PathBuf,
        /// What is wrong.
        reason: String,
    },
    /// A file's content or metadata differs from the manifest.
    #[error("{}: {file}: {what}", package.display())]
    Mismatch {
        /// The package file.
        package: PathBuf,
        /// The path inside the package.
        file: String,
        /// What differs.
        what: String,
    },
    /// Files listed in the manifest are absent from the archive.
    #[error("{}: files in the manifest but not in the archive: {}", package.display(), files.join(", "))]
    MissingFiles {
        /// The package file.
        package: PathBuf,
        /// The absent paths.
        files: Vec<String>,
    },
    /// The archive holds an entry the manifest does not list.
    #[error("{}: {file}: in the archive but not in the manifest", package.display())]
    ExtraFile {
        /// The package file.
        package: PathBuf,
        /// The unexpected path.
        file: String,
    },
    /// The archive holds the same path twice.
    #[error("{}: {file}: stored more than once", package.display())]
    DuplicateFile {
        /// The package file.
        package: PathBuf,
        /// The repeated path.
        file: String,
    },
}

/// Result of this crate's operations.
pub type Result<T, E = Error> = std::result::Result<T, E>;

/// Builds a `map_err` closure for an I/O error on `path` while doing `action`.
pub(crate) fn io_err<'a>(
    action: &'static str,
    path: &'a Path,
) -> impl FnOnce(io::Error) -> Error + 'a {
    move |source| Error::Io {
        action,
        path: path.to_path_buf(),
        source,
    }
}
