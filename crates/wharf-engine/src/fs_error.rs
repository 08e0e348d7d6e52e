//! A file operation that failed, saying what was being done and on which path: the I/O
//! error of the workspace and cache modules alike.

use std::io;
use std::path::{Path, PathBuf};

/// What was being done, where, and why it failed.
#[derive(Debug, thiserror::Error)]
#[error("{doing} {}: {source}", path.display())]
pub struct IoError {
    /// What was being done.
    pub doing: &'static str,
    /// On which path.
    pub path: PathBuf,
    /// The cause.
    #[source]
    pub source: io::Error,
}

/// `map_err(io_err("copying", path))?`: wraps an `io::Error` with what and where (`?`
/// turns it into the module's error).
pub(crate) fn io_err<'a>(
    doing: &'static str,
    path: &'a Path,
) -> impl FnOnce(io::Error) -> IoError + 'a {
    move |source| IoError {
        doing,
        path: path.to_path_buf(),
        source,
    }
}

/// A `walkdir` error as an [`IoError`] (a symlink loop has no `io::Error` of its own).
pub(crate) fn walk_err<E: From<IoError>>(doing: &'static str, root: &Path, e: walkdir::Error) -> E {
    let path = e.path().unwrap_or(root).to_path_buf();
    E::from(IoError {
        doing,
        path,
        source: e
            .into_io_error()
            .unwrap_or_else(|| io::Error::other("a symlink loop")),
    })
}
