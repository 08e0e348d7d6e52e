//! What can stop a deployment before or while it runs.

use wharf_store::LeaseHolder;

/// A deployment that could not be made, or a target that failed.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// The request is refused as it stands (unknown release, outdated, a requirement
    /// not met, a gate): the user's to fix.
    #[error("{message}")]
    Refused {
        /// What is wrong.
        message: String,
        /// How to fix it.
        hint: Option<String>,
    },
    /// The release is older than the one running, and this is not a rollback: refused,
    /// as a conflict with what runs rather than a bad request.
    #[error("{message}")]
    Outdated {
        /// What is wrong.
        message: String,
        /// How to go back on purpose.
        hint: Option<String>,
    },
    /// Another deployment holds the environment.
    #[error(
        "environment {} is held by deployment {} ({}, started by {} from pid {} on {})",
        .0.environment, .0.deployment, "since its lease was taken", .0.actor, .0.pid, .0.host
    )]
    Held(LeaseHolder),
    /// The store failed.
    #[error(transparent)]
    Store(#[from] wharf_store::Error),
    /// The target failed (the Docker Engine, the proxy, the script).
    #[error("{doing}: {reason}")]
    Target {
        /// What was being done.
        doing: String,
        /// What went wrong.
        reason: String,
    },
}

impl Error {
    /// A refusal with a hint.
    pub fn refused(message: impl Into<String>, hint: impl Into<String>) -> Error {
        Error::Refused {
            message: message.into(),
            hint: Some(hint.into()),
        }
    }

    /// A target failure.
    pub fn target(doing: impl Into<String>, reason: impl Into<String>) -> Error {
        Error::Target {
            doing: doing.into(),
            reason: reason.into(),
        }
    }
}

/// What to tell someone whose deployment found `h` holding the environment: the message
/// (with how long ago it was taken, against `now`) and the hint. One wording for every
/// front end.
pub fn held_message(h: &LeaseHolder, now: wharf_model::Millis) -> (String, String) {
    let secs = (now - h.taken_at).max(0) / 1000;
    let ago = match secs {
        s if s < 60 => format!("{s}s ago"),
        s if s < 3600 => format!("{}m ago", s / 60),
        s if s < 86400 => format!("{}h ago", s / 3600),
        s => format!("{}d ago", s / 86400),
    };
    (
        format!(
            "environment {} is held by deployment {} ({}, pid {} on {}, since {ago})",
            h.environment, h.deployment, h.actor, h.pid, h.host
        ),
        "wait for it (`wharf deploy … --queue` waits by itself), or `wharf deploy abort ID`"
            .to_string(),
    )
}

/// This crate's result.
pub type Result<T, E = Error> = std::result::Result<T, E>;
