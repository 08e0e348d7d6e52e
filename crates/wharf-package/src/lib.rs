//! Immutable release packages: a job's declared outputs frozen into one reproducible
//! `.tar.gz` with a manifest, so a release is built once and promoted unchanged.
//!
//! The same inputs always give the same bytes (and so the same sha256), which lets the
//! package live in a content-addressed store and be compared across runs:
//!
//! - the first entry is [`MANIFEST_NAME`], the [`Manifest`] as pretty JSON plus a newline;
//! - then every file, sorted by path (byte order); directories are implied by the paths
//!   and never stored as entries, so empty directories are not packaged;
//! - GNU tar headers with uid/gid 0, empty user/group names, the caller's `mtime`, and a
//!   mode of `0o755` when the file has any executable bit, `0o644` otherwise;
//! - gzip at level 6 with mtime 0 and no file name.
//!
//! Symlinks inside the root are followed: the package stores the content they point
//! to, under the link's own path. A symlink resolving outside the root is refused.

mod create;
mod error;
mod hashing;
mod inputs;
mod verify;

use std::path::PathBuf;

use serde::{Deserialize, Serialize};

pub use create::create;
pub use error::{Error, Result};
pub use verify::verify;

/// Name of the manifest, always the first entry of a package.
pub const MANIFEST_NAME: &str = "wharf-package.json";

/// The manifest format this crate writes and accepts.
pub const FORMAT: u32 = 1;

/// What to package and where to write it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PackageRequest {
    /// Directory the `paths` are relative to; nothing outside it is ever packaged.
    pub root: PathBuf,
    /// Files or directories, relative to `root` (`.` means the whole root).
    pub paths: Vec<String>,
    /// Where the `.tar.gz` ends up; written through a temporary file beside it.
    pub output: PathBuf,
    /// Release version recorded in the manifest.
    pub version: Option<String>,
    /// Commit recorded in the manifest.
    pub commit: Option<String>,
    /// Run number recorded in the manifest.
    pub run: Option<u64>,
    /// Modification time (seconds since the epoch) given to every entry, chosen by the
    /// caller (`SOURCE_DATE_EPOCH` or the commit time) so rebuilds are identical.
    pub mtime: u64,
}

/// The description of a package's content, stored as its first entry.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Manifest {
    /// Manifest format, [`FORMAT`].
    pub format: u32,
    /// Release version, if the caller gave one.
    pub version: Option<String>,
    /// Commit the package was built from, if the caller gave one.
    pub commit: Option<String>,
    /// Run that built the package, if the caller gave one.
    pub run: Option<u64>,
    /// Every packaged file, sorted by path.
    pub files: Vec<FileEntry>,
}

/// One packaged file.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct FileEntry {
    /// Path inside the package, `/`-separated, relative.
    pub path: String,
    /// Normalised permission bits: `0o755` or `0o644`.
    pub mode: u32,
    /// Size in bytes.
    pub size: u64,
    /// Lower-case hex sha256 of the content.
    pub sha256: String,
}

/// A package that [`create`] wrote.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Built {
    /// Where it was written (the request's `output`).
    pub path: PathBuf,
    /// Lower-case hex sha256 of the whole `.tar.gz`.
    pub sha256: String,
    /// Size of the whole `.tar.gz` in bytes.
    pub size: u64,
    /// The manifest stored in it.
    pub manifest: Manifest,
}

/// A package that [`verify`] checked.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Verified {
    /// The manifest, now known to match the content exactly.
    pub manifest: Manifest,
    /// Lower-case hex sha256 of the whole file.
    pub sha256: String,
}
