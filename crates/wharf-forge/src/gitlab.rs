//! GitLab's event types: `Push Hook`, `Tag Push Hook` and `Merge Request Hook` start runs,
//! everything else is acknowledged and ignored.
//!
//! GitLab has no "synchronize": a merge request's new commits arrive as `action: update`
//! with `oldrev` (the previous head), while a title or label change is an `update` without
//! it, and must not start a run.

use serde::Deserialize;

use crate::delivery::{Hook, PrAction};
use crate::error::{ParseError, shown};
use crate::pull::{PullFacts, PullFields, pull_hook};
use crate::push::{PushFacts, push_hook};

#[derive(Debug, Deserialize)]
struct Push {
    #[serde(rename = "ref")]
    reference: Option<String>,
    before: Option<String>,
    after: Option<String>,
    checkout_sha: Option<String>,
    user_username: Option<String>,
    commits: Option<Vec<Commit>>,
}

#[derive(Debug, Deserialize)]
struct Commit {
    id: Option<String>,
    message: Option<String>,
}

#[derive(Debug, Deserialize)]
struct MergeRequestEvent {
    user: Option<User>,
    object_attributes: Option<Attributes>,
}

#[derive(Debug, Deserialize)]
struct User {
    username: Option<String>,
}

#[derive(Debug, Deserialize)]
struct Attributes {
    iid: Option<u64>,
    action: Option<String>,
    oldrev: Option<String>,
    state: Option<String>,
    title: Option<String>,
    source_branch: Option<String>,
    target_branch: Option<String>,
    source_project_id: Option<u64>,
    target_project_id: Option<u64>,
    last_commit: Option<LastCommit>,
    source: Option<Project>,
    target: Option<Project>,
}

#[derive(Debug, Deserialize)]
struct LastCommit {
    id: Option<String>,
}

#[derive(Debug, Deserialize)]
struct Project {
    path_with_namespace: Option<String>,
}

/// The hook a GitLab delivery of type `event` reports.
pub(crate) fn hook(event: &str, body: &[u8]) -> Result<Hook, ParseError> {
    let shown_event = shown(event);
    match event {
        "Push Hook" | "Tag Push Hook" => push(&shown_event, body),
        "Merge Request Hook" => merge_request(&shown_event, body),
        _ => Ok(Hook::Ignored {
            reason: format!("event type {shown_event}"),
        }),
    }
}

fn push(event: &str, body: &[u8]) -> Result<Hook, ParseError> {
    let p: Push = crate::parse::json(event, body)?;
    // At most 20 commits come along, oldest first: the head is the one whose id is the
    // new tip, else the last.
    let tip = p.checkout_sha.clone().or_else(|| p.after.clone());
    let commits = p.commits.unwrap_or_default();
    let message = commits
        .iter()
        .find(|c| c.id.is_some() && c.id == tip)
        .or(commits.last())
        .and_then(|c| c.message.clone());
    push_hook(
        event,
        PushFacts {
            reference: p.reference,
            before: p.before,
            after: p.after,
            deleted: false,
            tag_commit: p.checkout_sha,
            message,
            actor: p.user_username,
        },
    )
}

fn merge_request(event: &str, body: &[u8]) -> Result<Hook, ParseError> {
    let e: MergeRequestEvent = crate::parse::json(event, body)?;
    let missing = |field| ParseError::MissingField {
        event: event.to_owned(),
        field,
    };
    let a = e
        .object_attributes
        .ok_or_else(|| missing("object_attributes"))?;
    let action = a
        .action
        .as_deref()
        .ok_or_else(|| missing("object_attributes.action"))?;
    let action = match action {
        "open" => PrAction::Opened,
        "reopen" => PrAction::Reopened,
        "update" => {
            if a.oldrev.as_deref().is_none_or(str::is_empty) {
                return Ok(Hook::Ignored {
                    reason: "merge request update without new commits".into(),
                });
            }
            if let Some(state) = a.state.as_deref().filter(|s| *s != "opened") {
                return Ok(Hook::Ignored {
                    reason: format!("merge request update while it is {}", shown(state)),
                });
            }
            PrAction::Synchronized
        }
        other => {
            return Ok(Hook::Ignored {
                reason: format!("merge request action {}", shown(other)),
            });
        }
    };
    let fork = is_fork(&a);
    pull_hook(
        event,
        &PullFields {
            number: "object_attributes.iid",
            sha: "object_attributes.last_commit.id",
            head_branch: "object_attributes.source_branch",
            base_branch: "object_attributes.target_branch",
        },
        PullFacts {
            number: a.iid,
            action,
            sha: a.last_commit.and_then(|c| c.id),
            head_branch: a.source_branch,
            base_branch: a.target_branch,
            fork,
            title: a.title,
            actor: e.user.and_then(|u| u.username),
        },
    )
}

/// Source and target projects differ: by id, else by path; a fork when unsure, since a
/// fork's run gets no secrets.
fn is_fork(a: &Attributes) -> bool {
    if let (Some(s), Some(t)) = (a.source_project_id, a.target_project_id) {
        return s != t;
    }
    let path = |p: &Option<Project>| p.as_ref()?.path_with_namespace.clone();
    match (path(&a.source), path(&a.target)) {
        (Some(s), Some(t)) => s != t,
        _ => true,
    }
}
