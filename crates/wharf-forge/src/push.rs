//! A push, whichever forge sent it: the ref decides between a branch push, a tag and a
//! deletion, and every id and name is checked on the way to a [`Hook`].

use crate::delivery::Hook;
use crate::error::ParseError;
use crate::refs::{Ref, check_sha, is_zero, parse_ref};

/// What the forges' push payloads have in common, taken out of each one's JSON.
#[derive(Debug, Default)]
pub(crate) struct PushFacts {
    /// `ref`.
    pub reference: Option<String>,
    /// `before`.
    pub before: Option<String>,
    /// `after`.
    pub after: Option<String>,
    /// GitHub's `deleted`.
    pub deleted: bool,
    /// The commit an annotated tag points at, when the payload names it (GitLab's
    /// `checkout_sha`).
    pub tag_commit: Option<String>,
    /// The head commit's message.
    pub message: Option<String>,
    /// Who pushed.
    pub actor: Option<String>,
}

/// Turns a push into a hook; `event` is the event type, already [`shown`](crate::error::shown).
pub(crate) fn push_hook(event: &str, facts: PushFacts) -> Result<Hook, ParseError> {
    let missing = |field| ParseError::MissingField {
        event: event.to_owned(),
        field,
    };
    let reference = facts.reference.ok_or_else(|| missing("ref"))?;
    let target = parse_ref(&reference)?;
    let after = facts.after.ok_or_else(|| missing("after"))?;
    let after = check_sha("after", &after)?;
    if facts.deleted || is_zero(&after) {
        return Ok(Hook::Deleted { reference });
    }
    Ok(match target {
        Ref::Branch(branch) => {
            let before = facts.before.ok_or_else(|| missing("before"))?;
            Hook::Push {
                branch,
                sha: after,
                before: check_sha("before", &before)?,
                message: facts.message,
                actor: facts.actor,
            }
        }
        Ref::Tag(tag) => {
            let sha = match facts.tag_commit.filter(|s| !s.is_empty()) {
                Some(commit) => check_sha("checkout_sha", &commit)?,
                None => after,
            };
            Hook::Tag {
                tag,
                sha,
                actor: facts.actor,
            }
        }
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    const A: &str = "1111111111111111111111111111111111111111";
    const B: &str = "2222222222222222222222222222222222222222";
    const ZERO: &str = "0000000000000000000000000000000000000000";

    fn facts(reference: &str, before: &str, after: &str) -> PushFacts {
        PushFacts {
            reference: Some(reference.into()),
            before: Some(before.into()),
            after: Some(after.into()),
            ..PushFacts::default()
        }
    }

    #[test]
    fn a_branch_push_carries_both_ends() {
        let hook = push_hook("`push`", facts("refs/heads/main", A, B)).unwrap();
        assert_eq!(
            hook,
            Hook::Push {
                branch: "main".into(),
                sha: B.into(),
                before: A.into(),
                message: None,
                actor: None,
            }
        );
    }

    #[test]
    fn a_zero_after_or_the_deleted_flag_is_a_deletion() {
        let hook = push_hook("`push`", facts("refs/tags/v1", A, ZERO)).unwrap();
        assert_eq!(
            hook,
            Hook::Deleted {
                reference: "refs/tags/v1".into()
            }
        );
        let mut f = facts("refs/heads/x", A, B);
        f.deleted = true;
        assert_eq!(
            push_hook("`push`", f).unwrap(),
            Hook::Deleted {
                reference: "refs/heads/x".into()
            }
        );
    }

    #[test]
    fn a_tag_prefers_the_commit_it_points_at() {
        let mut f = facts("refs/tags/v1", ZERO, A);
        f.tag_commit = Some(B.into());
        let Hook::Tag { sha, .. } = push_hook("`push`", f).unwrap() else {
            panic!("not a tag");
        };
        assert_eq!(sha, B);
        let mut f = facts("refs/tags/v1", ZERO, A);
        f.tag_commit = Some(String::new());
        let Hook::Tag { sha, .. } = push_hook("`push`", f).unwrap() else {
            panic!("not a tag");
        };
        assert_eq!(sha, A);
    }

    #[test]
    fn missing_and_bad_fields_say_which() {
        let mut f = facts("refs/heads/main", A, B);
        f.after = None;
        assert_eq!(
            push_hook("`push`", f).unwrap_err().to_string(),
            "the `push` payload has no `after`"
        );
        let mut f = facts("refs/heads/main", A, B);
        f.reference = None;
        assert_eq!(
            push_hook("`push`", f).unwrap_err().to_string(),
            "the `push` payload has no `ref`"
        );
        let e = push_hook("`push`", facts("refs/heads/main", "nope", B)).unwrap_err();
        assert_eq!(
            e.to_string(),
            "`before` is not a 40-character hex commit id: `nope`"
        );
    }
}
