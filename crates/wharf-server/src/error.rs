//! The server's errors, and the one place they become HTTP answers.

use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};

/// What can go wrong in the server.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// The server's database failed.
    #[error("server database ({what}): {source}")]
    Db {
        /// What was being done.
        what: &'static str,
        /// The database's error.
        source: sqlx::Error,
    },
    /// A file or directory could not be used.
    #[error("{what} {}: {source}", path.display())]
    Io {
        /// What was being done.
        what: &'static str,
        /// The path.
        path: std::path::PathBuf,
        /// The system's error.
        source: std::io::Error,
    },
    /// A project's run store failed.
    #[error("run store: {0}")]
    Store(#[from] wharf_store::Error),
    /// The secret key or sealing failed.
    #[error("{0}")]
    Secrets(#[from] wharf_secrets::error::Error),
    /// A `git` command failed.
    #[error("git {what}: {detail}")]
    Git {
        /// What was being done.
        what: String,
        /// What git said.
        detail: String,
    },
    /// No such thing (a project, an event).
    #[error("{0}")]
    NotFound(String),
    /// A request the server refuses, and why.
    #[error("{message}")]
    Invalid {
        /// What is wrong.
        message: String,
        /// What to do instead.
        hint: Option<String>,
    },
    /// A request whose credentials do not hold.
    #[error("{0}")]
    Unauthorized(String),
    /// Credentials that hold, but not for this.
    #[error("{0}")]
    Forbidden(String),
    /// A request that conflicts with the state (cancelling a run that ended).
    #[error("{0}")]
    Conflict(String),
    /// A request that conflicts with the state, and what to do instead (an outdated
    /// release, an environment another deployment holds).
    #[error("{message}")]
    Conflicting {
        /// What is wrong.
        message: String,
        /// What to do instead.
        hint: Option<String>,
    },
    /// A deployment failed in a way that is the server's, not the request's.
    #[error("deployment: {0}")]
    Deploy(String),
    /// A position past the end of a log.
    #[error("{0}")]
    RangeBeyond(String),
    /// The server is at a cap (live-log followers): retry later.
    #[error("{0}")]
    Busy(String),
    /// A body over the cap.
    #[error("body over {0} bytes")]
    TooLarge(usize),
    /// The database's schema could not be brought up to date.
    #[error("server database migration: {0}")]
    Migrate(#[from] sqlx::migrate::MigrateError),
}

/// The server's result.
pub type Result<T> = std::result::Result<T, Error>;

impl Error {
    /// A database error while doing `what`.
    pub(crate) fn db(what: &'static str) -> impl FnOnce(sqlx::Error) -> Error {
        move |source| Error::Db { what, source }
    }

    /// An I/O error while doing `what` on `path`.
    pub(crate) fn io(
        what: &'static str,
        path: &std::path::Path,
    ) -> impl FnOnce(std::io::Error) -> Error {
        let path = path.to_path_buf();
        move |source| Error::Io { what, path, source }
    }

    /// A refused request.
    pub(crate) fn invalid(message: impl Into<String>, hint: Option<&str>) -> Error {
        Error::Invalid {
            message: message.into(),
            hint: hint.map(str::to_string),
        }
    }

    /// The HTTP status this error answers with.
    pub fn status(&self) -> StatusCode {
        match self {
            Error::NotFound(_) => StatusCode::NOT_FOUND,
            Error::Invalid { .. } => StatusCode::BAD_REQUEST,
            Error::Unauthorized(_) => StatusCode::UNAUTHORIZED,
            Error::Forbidden(_) => StatusCode::FORBIDDEN,
            Error::Conflict(_) | Error::Conflicting { .. } => StatusCode::CONFLICT,
            Error::TooLarge(_) => StatusCode::PAYLOAD_TOO_LARGE,
            Error::Busy(_) => StatusCode::SERVICE_UNAVAILABLE,
            Error::RangeBeyond(_) => StatusCode::RANGE_NOT_SATISFIABLE,
            _ => StatusCode::INTERNAL_SERVER_ERROR,
        }
    }
}

/// Every error answers with its status and a JSON body `{"error": what, "hint": …}`.
/// Internal failures say only that: their detail goes to the server's log, not to callers.
impl IntoResponse for Error {
    fn into_response(self) -> Response {
        let status = self.status();
        let (message, hint) = match &self {
            Error::Invalid { message, hint } | Error::Conflicting { message, hint } => {
                (message.clone(), hint.clone())
            }
            Error::Busy(message) => {
                let body = serde_json::json!({ "error": message });
                return (
                    status,
                    [(axum::http::header::RETRY_AFTER, "5")],
                    axum::Json(body),
                )
                    .into_response();
            }
            e if status.is_server_error() => {
                eprintln!("wharf serve: error: {e}");
                ("internal error; see the server's log".to_string(), None)
            }
            e => (e.to_string(), None),
        };
        let mut body = serde_json::json!({ "error": message });
        if let Some(h) = hint {
            body["hint"] = serde_json::Value::String(h);
        }
        (status, axum::Json(body)).into_response()
    }
}
