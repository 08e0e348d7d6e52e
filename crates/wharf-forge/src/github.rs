//! GitHub's event types: `push` and `pull_request` start runs, `ping` answers the hook
//! check, everything else is acknowledged and ignored.

use crate::delivery::Hook;
use crate::error::{ParseError, shown};
use crate::hub::{self, Flavour};

/// The hook a GitHub delivery of type `event` reports.
pub(crate) fn hook(event: &str, body: &[u8]) -> Result<Hook, ParseError> {
    let shown_event = shown(event);
    match event {
        "push" => hub::push(Flavour::Github, &shown_event, body),
        "pull_request" => hub::pull_request(&shown_event, body),
        "ping" => Ok(Hook::Ping),
        // A tag or branch created or deleted also arrives as a push, which carries the
        // commit: acting on both would run twice.
        "create" | "delete" => Ok(Hook::Ignored {
            reason: format!("event type {shown_event} (the push reports the same change)"),
        }),
        _ => Ok(Hook::Ignored {
            reason: format!("event type {shown_event}"),
        }),
    }
}
