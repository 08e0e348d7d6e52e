//! The GitHub-shaped `push` and `pull_request` payloads, which Gitea and Forgejo copy
//! closely enough to share one reading: only the fields wharf needs, all optional, so that
//! what a forge leaves out is reported as a missing field rather than a JSON error, and
//! the little that differs (who pushed, how "new commits" is spelled) is chosen by
//! [`Flavour`].

use serde::Deserialize;

use crate::delivery::{Hook, PrAction};
use crate::error::{ParseError, shown};
use crate::pull::{PullFacts, PullFields, pull_hook};
use crate::push::{PushFacts, push_hook};

/// Which forge wrote the payload, where the two differ.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Flavour {
    /// GitHub.
    Github,
    /// Gitea or Forgejo.
    Gitea,
}

#[derive(Debug, Deserialize)]
struct Push {
    #[serde(rename = "ref")]
    reference: Option<String>,
    before: Option<String>,
    after: Option<String>,
    deleted: Option<bool>,
    head_commit: Option<Commit>,
    commits: Option<Vec<Commit>>,
    pusher: Option<User>,
    sender: Option<User>,
}

#[derive(Debug, Deserialize)]
struct Commit {
    id: Option<String>,
    message: Option<String>,
}

/// GitHub's `pusher` has `name`; its `sender` and Gitea's users have `login` (Gitea also
/// `username`, the same value).
#[derive(Debug, Deserialize)]
struct User {
    name: Option<String>,
    login: Option<String>,
    username: Option<String>,
}

impl User {
    fn handle(&self) -> Option<String> {
        self.login.clone().or_else(|| self.username.clone())
    }
}

#[derive(Debug, Deserialize)]
struct PullRequestEvent {
    action: Option<String>,
    number: Option<u64>,
    pull_request: Option<PullRequest>,
    sender: Option<User>,
}

#[derive(Debug, Deserialize)]
struct PullRequest {
    number: Option<u64>,
    title: Option<String>,
    head: Option<Branch>,
    base: Option<Branch>,
}

#[derive(Debug, Deserialize)]
struct Branch {
    #[serde(rename = "ref")]
    reference: Option<String>,
    sha: Option<String>,
    repo: Option<Repo>,
    /// Gitea's, beside `repo`.
    repo_id: Option<u64>,
}

#[derive(Debug, Deserialize)]
struct Repo {
    id: Option<u64>,
    full_name: Option<String>,
}

/// A `push` delivery.
pub(crate) fn push(flavour: Flavour, event: &str, body: &[u8]) -> Result<Hook, ParseError> {
    let p: Push = crate::parse::json(event, body)?;
    let after = p.after.clone();
    let commits = p.commits.unwrap_or_default();
    let by_id = || {
        commits
            .iter()
            .find(|c| c.id.is_some() && c.id == after)
            .and_then(|c| c.message.clone())
    };
    // GitHub names the head commit; failing that (and for Gitea, whose `commits` order is
    // not GitHub's), the commit whose id is `after` is the head.
    let message = p.head_commit.and_then(|c| c.message).or_else(by_id);
    let actor = match flavour {
        Flavour::Github => p.pusher.and_then(|u| u.name),
        Flavour::Gitea => p.pusher.and_then(|u| u.handle()),
    }
    .or_else(|| p.sender.and_then(|u| u.handle()));
    push_hook(
        event,
        PushFacts {
            reference: p.reference,
            before: p.before,
            after: p.after,
            deleted: p.deleted.unwrap_or(false),
            tag_commit: None,
            message,
            actor,
        },
    )
}

/// A `pull_request` delivery.
pub(crate) fn pull_request(event: &str, body: &[u8]) -> Result<Hook, ParseError> {
    let e: PullRequestEvent = crate::parse::json(event, body)?;
    let action = e.action.ok_or_else(|| ParseError::MissingField {
        event: event.to_owned(),
        field: "action",
    })?;
    // Both spellings for both forges: GitHub says `synchronize`, Gitea `synchronized`, and
    // a forge imitating the other must not lose its runs over a letter.
    let action = match action.as_str() {
        "opened" => PrAction::Opened,
        "synchronize" | "synchronized" => PrAction::Synchronized,
        "reopened" => PrAction::Reopened,
        _ => {
            return Ok(Hook::Ignored {
                reason: format!("pull request action {}", shown(&action)),
            });
        }
    };
    let pr = e.pull_request.ok_or_else(|| ParseError::MissingField {
        event: event.to_owned(),
        field: "pull_request",
    })?;
    let fork = is_fork(pr.head.as_ref(), pr.base.as_ref());
    let (head_branch, sha) = match pr.head {
        Some(b) => (b.reference, b.sha),
        None => (None, None),
    };
    pull_hook(
        event,
        &PullFields {
            number: "number",
            sha: "pull_request.head.sha",
            head_branch: "pull_request.head.ref",
            base_branch: "pull_request.base.ref",
        },
        PullFacts {
            number: e.number.or(pr.number),
            action,
            sha,
            head_branch,
            base_branch: pr.base.and_then(|b| b.reference),
            fork,
            title: pr.title,
            actor: e.sender.and_then(|u| u.handle()),
        },
    )
}

/// Whether the head is in another repository than the base. When the payload cannot tell
/// (GitHub sends `head.repo: null` once a fork is deleted), it is a fork: a fork's run gets
/// no secrets, and guessing the other way would hand them out.
fn is_fork(head: Option<&Branch>, base: Option<&Branch>) -> bool {
    let id = |b: Option<&Branch>| {
        let b = b?;
        b.repo
            .as_ref()
            .and_then(|r| r.id)
            .or(b.repo_id)
            .filter(|&id| id != 0)
    };
    if let (Some(h), Some(b)) = (id(head), id(base)) {
        return h != b;
    }
    let name = |b: Option<&Branch>| b?.repo.as_ref()?.full_name.clone();
    match (name(head), name(base)) {
        (Some(h), Some(b)) => h != b,
        _ => true,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn branch(json: &str) -> Branch {
        serde_json::from_str(json).unwrap()
    }

    #[test]
    fn fork_compares_ids_then_names_and_assumes_a_fork_when_unsure() {
        let same = branch(r#"{"repo": {"id": 1, "full_name": "a/b"}}"#);
        let other = branch(r#"{"repo": {"id": 2, "full_name": "a/b"}}"#);
        assert!(!is_fork(Some(&same), Some(&same)));
        assert!(is_fork(Some(&other), Some(&same)));
        let gitea = branch(r#"{"repo_id": 1}"#);
        assert!(!is_fork(Some(&gitea), Some(&same)));
        let named = branch(r#"{"repo": {"full_name": "a/b"}}"#);
        let renamed = branch(r#"{"repo": {"full_name": "c/b"}}"#);
        assert!(!is_fork(Some(&named), Some(&named)));
        assert!(is_fork(Some(&renamed), Some(&named)));
        let gone = branch(r#"{"repo": null}"#);
        assert!(is_fork(Some(&gone), Some(&same)));
        assert!(is_fork(None, Some(&same)));
    }
}
