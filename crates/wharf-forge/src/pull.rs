//! A pull (merge) request that should start a run, whichever forge sent it: its commit id
//! and branch names checked on the way to a [`Hook::PullRequest`].

use crate::delivery::{Hook, PrAction};
use crate::error::ParseError;
use crate::refs::{check_name, check_sha};

/// What the forges' pull request payloads have in common, once the action has been found
/// to be one that starts a run.
#[derive(Debug)]
pub(crate) struct PullFacts {
    /// GitHub/Gitea `number`, GitLab `iid`.
    pub number: Option<u64>,
    /// What happened.
    pub action: PrAction,
    /// The head commit.
    pub sha: Option<String>,
    /// The source branch.
    pub head_branch: Option<String>,
    /// The target branch.
    pub base_branch: Option<String>,
    /// Whether the head lives in another repository.
    pub fork: bool,
    /// The title.
    pub title: Option<String>,
    /// Who acted.
    pub actor: Option<String>,
}

/// Field paths, for messages, since they differ by forge.
pub(crate) struct PullFields {
    /// Where the number is.
    pub number: &'static str,
    /// Where the head commit is.
    pub sha: &'static str,
    /// Where the source branch is.
    pub head_branch: &'static str,
    /// Where the target branch is.
    pub base_branch: &'static str,
}

/// Turns a pull request into a hook; `event` is the event type, already
/// [`shown`](crate::error::shown).
pub(crate) fn pull_hook(
    event: &str,
    fields: &PullFields,
    facts: PullFacts,
) -> Result<Hook, ParseError> {
    let missing = |field| ParseError::MissingField {
        event: event.to_owned(),
        field,
    };
    let number = facts.number.ok_or_else(|| missing(fields.number))?;
    let sha = facts.sha.ok_or_else(|| missing(fields.sha))?;
    let head_branch = facts
        .head_branch
        .ok_or_else(|| missing(fields.head_branch))?;
    let base_branch = facts
        .base_branch
        .ok_or_else(|| missing(fields.base_branch))?;
    check_name("branch", &head_branch)?;
    check_name("branch", &base_branch)?;
    Ok(Hook::PullRequest {
        number,
        action: facts.action,
        sha: check_sha(fields.sha, &sha)?,
        head_branch,
        base_branch,
        fork: facts.fork,
        title: facts.title,
        actor: facts.actor,
    })
}
