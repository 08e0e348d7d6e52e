//! Gitea's and Forgejo's event types. Their payloads are GitHub's shapes (see
//! [`hub`](crate::hub)); what differs is the user fields, `synchronized` for new commits
//! on a pull request, and that a pull request's other changes (labels, assignees,
//! milestones, review requests) arrive as `pull_request` with their own action.

use crate::delivery::Hook;
use crate::error::{ParseError, shown};
use crate::hub::{self, Flavour};

/// The hook a Gitea/Forgejo delivery of type `event` reports.
pub(crate) fn hook(event: &str, body: &[u8]) -> Result<Hook, ParseError> {
    let shown_event = shown(event);
    match event {
        "push" => hub::push(Flavour::Gitea, &shown_event, body),
        "pull_request" => hub::pull_request(&shown_event, body),
        // Gitea sends a tag both as a push and as `create`; the push is enough.
        "create" | "delete" => Ok(Hook::Ignored {
            reason: format!("event type {shown_event} (the push reports the same change)"),
        }),
        _ => Ok(Hook::Ignored {
            reason: format!("event type {shown_event}"),
        }),
    }
}
