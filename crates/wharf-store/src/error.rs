//! The store's errors: every failure names the file involved and, where the user can act,
//! ends with a `hint:`.

use std::path::{Path, PathBuf};

use sqlx::migrate::MigrateError;

/// Everything that can go wrong in the run database or the artifact store.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// A file system operation failed.
    #[error("could not {action} `{}`: {source}", path.display())]
    Io {
        /// What was being done, e.g. "create the artifact directory".
        action: &'static str,
        /// The file or directory involved.
        path: PathBuf,
        /// The underlying error.
        #[source]
        source: std::io::Error,
    },

    /// The database file exists but is not a usable wharf run database.
    #[error(
        "`{}` is not a usable wharf run database: {detail}\n\
         hint: move it aside (e.g. to `{}.bak`) and run wharf again to start a fresh history",
        path.display(),
        path.display()
    )]
    Corrupt {
        /// The database file.
        path: PathBuf,
        /// What is wrong with it.
        detail: String,
    },

    /// The database was written by a newer wharf, whose schema this one does not know.
    #[error(
        "`{}` was written by a newer wharf (schema migration {version} is unknown here)\n\
         hint: upgrade wharf, or move the database aside to start a fresh history",
        path.display()
    )]
    TooNew {
        /// The database file.
        path: PathBuf,
        /// The first unknown migration.
        version: i64,
    },

    /// A statement failed for a reason other than a damaged file (locked, disk full, …).
    #[error("could not {action} in `{}`: {source}\nhint: {hint}", path.display())]
    Database {
        /// What was being done, e.g. "start a run".
        action: &'static str,
        /// The database file.
        path: PathBuf,
        /// What the user can do about it.
        hint: &'static str,
        /// The underlying error.
        #[source]
        source: sqlx::Error,
    },

    /// A write that would contradict what is recorded (a release is made once).
    #[error("{0}")]
    Conflict(String),

    /// A value could not be encoded as JSON for storage.
    #[error("could not encode {what} as JSON: {source}")]
    Encode {
        /// What was being encoded.
        what: &'static str,
        /// The underlying error.
        #[source]
        source: serde_json::Error,
    },

    /// Events were recorded for a run that is not in the database.
    #[error("run {run} is not in the run database")]
    UnknownRun {
        /// The run number.
        run: u64,
    },

    /// An event names a job the run does not have.
    #[error("run {run} has no job `{job}`")]
    UnknownJob {
        /// The run number.
        run: u64,
        /// The job id the event named.
        job: String,
    },

    /// A string that should be a sha256 digest is not one.
    #[error("`{0}` is not a sha256 digest (64 lowercase hex characters)")]
    InvalidDigest(String),

    /// The artifact store has no object with this digest.
    #[error(
        "artifact {sha256} is missing from the artifact store (`{}`)\n\
         hint: the store was pruned or edited by hand; re-run the job that produced it",
        path.display()
    )]
    MissingObject {
        /// The digest asked for.
        sha256: String,
        /// Where the object should be.
        path: PathBuf,
    },
}

/// The result type of this crate.
pub type Result<T, E = Error> = std::result::Result<T, E>;

/// A closure for `map_err` that wraps an I/O error with what was done to which path.
pub(crate) fn io(action: &'static str, path: &Path) -> impl FnOnce(std::io::Error) -> Error {
    let path = path.to_path_buf();
    move |source| Error::Io {
        action,
        path,
        source,
    }
}

/// SQLite's primary result codes for "this file is damaged or not a database".
const SQLITE_CORRUPT: i64 = 11;
const SQLITE_NOTADB: i64 = 26;
const SQLITE_BUSY: i64 = 5;
const SQLITE_LOCKED: i64 = 6;

/// Classifies a sqlx error: damage becomes [`Error::Corrupt`], the rest [`Error::Database`]
/// with a hint fitting the cause.
pub(crate) fn db(path: &Path, action: &'static str, source: sqlx::Error) -> Error {
    let code = match &source {
        sqlx::Error::Database(e) => e
            .code()
            .and_then(|c| c.parse::<i64>().ok())
            .map(|c| c & 0xff),
        _ => None,
    };
    let corrupt = matches!(code, Some(SQLITE_CORRUPT | SQLITE_NOTADB))
        || matches!(
            source,
            sqlx::Error::ColumnDecode { .. } | sqlx::Error::Decode(_)
        );
    if corrupt {
        return Error::Corrupt {
            path: path.to_path_buf(),
            detail: source.to_string(),
        };
    }
    let hint = match code {
        Some(SQLITE_BUSY | SQLITE_LOCKED) => {
            "another wharf process held the database for too long; try again"
        }
        _ => "check that the directory is writable and the disk is not full",
    };
    Error::Database {
        action,
        path: path.to_path_buf(),
        hint,
        source,
    }
}

/// Classifies a migration failure.
pub(crate) fn migrate(path: &Path, source: MigrateError) -> Error {
    match source {
        MigrateError::Execute(e) | MigrateError::ExecuteMigration(e, _) => {
            db(path, "update the database schema", e)
        }
        MigrateError::VersionMissing(version) => Error::TooNew {
            path: path.to_path_buf(),
            version,
        },
        other => Error::Corrupt {
            path: path.to_path_buf(),
            detail: other.to_string(),
        },
    }
}

/// Shorthand for a damaged value found while reading rows.
pub(crate) fn corrupt(path: &Path, detail: String) -> Error {
    Error::Corrupt {
        path: path.to_path_buf(),
        detail,
    }
}
