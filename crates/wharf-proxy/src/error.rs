//! What can go wrong in the proxy, each error saying what was being done. The control
//! API maps these to HTTP statuses in one place ([`Error::status`]).

use std::net::SocketAddr;
use std::path::PathBuf;

/// An error of the proxy or of one control request.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// The request or the configuration is invalid; `field` names the offending JSON
    /// field when there is one.
    #[error("{message}")]
    Invalid {
        /// What is wrong.
        message: String,
        /// The JSON field at fault (`weight`, `health.path`), if any.
        field: Option<String>,
        /// How to fix it.
        hint: Option<String>,
    },
    /// No such service or route.
    #[error("{0}")]
    NotFound(String),
    /// The route exists, not with this method.
    #[error("{0}")]
    NotAllowed(String),
    /// The request conflicts with the service's current state (nothing to promote, a
    /// canary already live, a host another service answers for).
    #[error("{0}")]
    Conflict(String),
    /// A target never became healthy; the old target keeps serving.
    #[error(
        "release {release} at {addr} did not become healthy within {waited_ms} ms; \
         the last probe: {last_probe}"
    )]
    Unhealthy {
        /// The release that was being deployed.
        release: String,
        /// Its address.
        addr: String,
        /// How long the proxy waited.
        waited_ms: u64,
        /// What the last health probe found.
        last_probe: String,
    },
    /// The admin token is missing or wrong.
    #[error("the control API needs `Authorization: Bearer TOKEN` (the proxy's --admin-token-file)")]
    Unauthorized,
    /// Reading or writing a file.
    #[error("cannot {doing} {}: {source}", path.display())]
    Io {
        /// What was being done ("write the state file").
        doing: &'static str,
        /// The file.
        path: PathBuf,
        /// The cause.
        source: std::io::Error,
    },
    /// The state file is not what the proxy writes.
    #[error("cannot read the state file {}: {source}", path.display())]
    State {
        /// The file.
        path: PathBuf,
        /// The cause.
        source: serde_json::Error,
    },
    /// A listener could not be bound.
    #[error("cannot listen on {addr} for the {what}: {source}")]
    Bind {
        /// "data plane" or "control API".
        what: &'static str,
        /// The address.
        addr: SocketAddr,
        /// The cause.
        source: std::io::Error,
    },
}

/// The proxy's result.
pub type Result<T, E = Error> = std::result::Result<T, E>;

impl Error {
    /// An invalid value of JSON field `field`.
    pub(crate) fn field(field: impl Into<String>, message: impl Into<String>) -> Error {
        Error::Invalid {
            message: message.into(),
            field: Some(field.into()),
            hint: None,
        }
    }

    /// An invalid setting, with a hint.
    pub(crate) fn invalid(message: impl Into<String>, hint: Option<String>) -> Error {
        Error::Invalid {
            message: message.into(),
            field: None,
            hint,
        }
    }

    /// The HTTP status the control API answers this error with.
    pub fn status(&self) -> http::StatusCode {
        use http::StatusCode as S;
        match self {
            Error::Invalid { .. } => S::BAD_REQUEST,
            Error::NotFound(_) => S::NOT_FOUND,
            Error::NotAllowed(_) => S::METHOD_NOT_ALLOWED,
            Error::Conflict(_) => S::CONFLICT,
            Error::Unhealthy { .. } => S::SERVICE_UNAVAILABLE,
            Error::Unauthorized => S::UNAUTHORIZED,
            Error::Io { .. } | Error::State { .. } | Error::Bind { .. } => S::INTERNAL_SERVER_ERROR,
        }
    }

    /// The error as the control API's JSON body: `error`, and `field`, `hint` or
    /// `last_probe` where they apply.
    pub fn to_json(&self) -> serde_json::Value {
        let mut v = serde_json::json!({ "error": self.to_string() });
        match self {
            Error::Invalid { field, hint, .. } => {
                if let Some(f) = field {
                    v["field"] = f.as_str().into();
                }
                if let Some(h) = hint {
                    v["hint"] = h.as_str().into();
                }
            }
            Error::Unhealthy { last_probe, .. } => v["last_probe"] = last_probe.as_str().into(),
            _ => {}
        }
        v
    }
}
