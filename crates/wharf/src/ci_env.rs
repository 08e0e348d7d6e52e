//! The event a CI platform's job was started for, read from the platform's own variables
//! (`wharf run --from-ci`). Exported CI files stay thin: they call wharf, and wharf reads
//! GitHub Actions, GitLab CI, Woodpecker or Bitbucket Pipelines variables itself, so no
//! branch name, tag or input is ever spliced into the platform file's shell source.
//!
//! Manual runs pass their inputs as `WHARF_INPUT_<NAME>` variables, and one job of a
//! platform's matrix names its cell with `WHARF_MATRIX_<KEY>` variables.

use std::collections::BTreeMap;

use wharf_model::{Event, EventKind};

use crate::exit::UserError;

/// Reads the event from `var` (the process environment, or a map in tests).
pub fn event(var: &dyn Fn(&str) -> Option<String>) -> Result<Event, UserError> {
    let set = |name: &str| var(name).filter(|v| !v.is_empty());
    let mut e = if set("GITHUB_ACTIONS").as_deref() == Some("true") {
        github(&set)?
    } else if set("GITLAB_CI").is_some() {
        // `true` on GitLab; gitlab-ci-local sets `false` to tell it runs locally.
        gitlab(&set)?
    } else if set("CI").as_deref() == Some("woodpecker") {
        woodpecker(&set)?
    } else if set("BITBUCKET_BUILD_NUMBER").is_some() {
        bitbucket(&set)
    } else {
        return Err(UserError::invalid("--from-ci: no CI platform detected")
            .hint("it reads GitHub Actions, GitLab CI, Woodpecker and Bitbucket variables; locally, use --event"));
    };
    if let Some(kind) = set("WHARF_EVENT") {
        // An exported file may name the event itself (a Bitbucket custom pipeline).
        e.kind = parse_kind(&kind).ok_or_else(|| {
            UserError::invalid(format!("WHARF_EVENT `{kind}` is not an event"))
                .hint("push, tag, pull_request, schedule or manual")
        })?;
    }
    if e.kind == EventKind::Tag {
        e.version = e.tag.as_deref().and_then(Event::version_from_tag);
    }
    if e.kind == EventKind::Manual {
        e.inputs = inputs(var);
    }
    Ok(e)
}

/// The `WHARF_MATRIX_*` variables of this process: the cell of a matrix job that one job of
/// the platform's matrix runs (see `wharf_pipeline::matrix_env_var`).
pub fn matrix_from_process() -> BTreeMap<String, String> {
    std::env::vars()
        .filter(|(k, _)| k.starts_with("WHARF_MATRIX_"))
        .collect()
}

fn parse_kind(s: &str) -> Option<EventKind> {
    Some(match s {
        "push" => EventKind::Push,
        "tag" => EventKind::Tag,
        "pull_request" => EventKind::PullRequest,
        "schedule" => EventKind::Schedule,
        "manual" => EventKind::Manual,
        _ => return None,
    })
}

fn with(
    kind: EventKind,
    branch: Option<String>,
    tag: Option<String>,
    sha: Option<String>,
) -> Event {
    let mut e = Event::new(kind);
    e.branch = branch;
    e.tag = tag;
    e.sha = sha;
    e
}

fn unknown(platform: &str, var: &str, value: &str) -> UserError {
    UserError::invalid(format!(
        "--from-ci: {platform} event `{value}` ({var}) has no wharf event"
    ))
    .hint("set WHARF_EVENT to push, tag, pull_request, schedule or manual")
}

fn github(set: &dyn Fn(&str) -> Option<String>) -> Result<Event, UserError> {
    let sha = set("GITHUB_SHA");
    let name = set("GITHUB_EVENT_NAME").unwrap_or_default();
    let mut e = match name.as_str() {
        "push" if set("GITHUB_REF_TYPE").as_deref() == Some("tag") => {
            with(EventKind::Tag, None, set("GITHUB_REF_NAME"), sha)
        }
        "push" => with(EventKind::Push, set("GITHUB_REF_NAME"), None, sha),
        "pull_request" | "pull_request_target" => {
            with(EventKind::PullRequest, set("GITHUB_BASE_REF"), None, sha)
        }
        "schedule" => with(EventKind::Schedule, set("GITHUB_REF_NAME"), None, sha),
        "workflow_dispatch" => with(EventKind::Manual, set("GITHUB_REF_NAME"), None, sha),
        other => return Err(unknown("GitHub", "GITHUB_EVENT_NAME", other)),
    };
    e.actor = set("GITHUB_ACTOR");
    Ok(e)
}

fn gitlab(set: &dyn Fn(&str) -> Option<String>) -> Result<Event, UserError> {
    let sha = set("CI_COMMIT_SHA");
    let source = set("CI_PIPELINE_SOURCE").unwrap_or_else(|| "push".into());
    let mut e = match source.as_str() {
        "merge_request_event" => with(
            EventKind::PullRequest,
            set("CI_MERGE_REQUEST_TARGET_BRANCH_NAME"),
            None,
            sha,
        ),
        _ if set("CI_COMMIT_TAG").is_some() => {
            with(EventKind::Tag, None, set("CI_COMMIT_TAG"), sha)
        }
        "push" => with(EventKind::Push, set("CI_COMMIT_BRANCH"), None, sha),
        "schedule" => with(EventKind::Schedule, set("CI_COMMIT_BRANCH"), None, sha),
        "web" | "api" | "trigger" | "chat" => {
            with(EventKind::Manual, set("CI_COMMIT_BRANCH"), None, sha)
        }
        other => return Err(unknown("GitLab", "CI_PIPELINE_SOURCE", other)),
    };
    e.actor = set("GITLAB_USER_LOGIN");
    Ok(e)
}

fn woodpecker(set: &dyn Fn(&str) -> Option<String>) -> Result<Event, UserError> {
    let sha = set("CI_COMMIT_SHA");
    let event = set("CI_PIPELINE_EVENT").unwrap_or_default();
    let mut e = match event.as_str() {
        "push" => with(EventKind::Push, set("CI_COMMIT_BRANCH"), None, sha),
        "tag" => with(EventKind::Tag, None, set("CI_COMMIT_TAG"), sha),
        "pull_request" => with(
            EventKind::PullRequest,
            set("CI_COMMIT_TARGET_BRANCH"),
            None,
            sha,
        ),
        "cron" => with(EventKind::Schedule, set("CI_COMMIT_BRANCH"), None, sha),
        "manual" => with(EventKind::Manual, set("CI_COMMIT_BRANCH"), None, sha),
        other => return Err(unknown("Woodpecker", "CI_PIPELINE_EVENT", other)),
    };
    e.actor = set("CI_COMMIT_AUTHOR");
    Ok(e)
}

fn bitbucket(set: &dyn Fn(&str) -> Option<String>) -> Event {
    let sha = set("BITBUCKET_COMMIT");
    if let Some(tag) = set("BITBUCKET_TAG") {
        with(EventKind::Tag, None, Some(tag), sha)
    } else if set("BITBUCKET_PR_ID").is_some() {
        with(
            EventKind::PullRequest,
            set("BITBUCKET_PR_DESTINATION_BRANCH"),
            None,
            sha,
        )
    } else {
        with(EventKind::Push, set("BITBUCKET_BRANCH"), None, sha)
    }
}

/// `WHARF_INPUT_<NAME>=VALUE` variables (from std::env; a map in tests).
fn inputs(var: &dyn Fn(&str) -> Option<String>) -> BTreeMap<String, String> {
    // The names are unknown here: the environment is scanned by the caller's closure
    // through the special key `WHARF_INPUT_*`, which lists `NAME=VALUE` lines.
    var("WHARF_INPUT_*")
        .unwrap_or_default()
        .lines()
        .filter_map(|l| l.split_once('='))
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect()
}

/// [`event`] over the process environment.
pub fn event_from_process() -> Result<Event, UserError> {
    event(&|name: &str| {
        if name == "WHARF_INPUT_*" {
            let lines: Vec<String> = std::env::vars()
                .filter_map(|(k, v)| k.strip_prefix("WHARF_INPUT_").map(|n| format!("{n}={v}")))
                .collect();
            return Some(lines.join("\n"));
        }
        std::env::var(name).ok()
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn from(pairs: &[(&str, &str)]) -> Result<Event, UserError> {
        let map: BTreeMap<String, String> = pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect();
        event(&move |k: &str| map.get(k).cloned())
    }

    #[test]
    fn github_push_tag_pr_and_dispatch() {
        let base = [("GITHUB_ACTIONS", "true"), ("GITHUB_SHA", "abc")];
        let push = from(&[
            base[0],
            base[1],
            ("GITHUB_EVENT_NAME", "push"),
            ("GITHUB_REF_TYPE", "branch"),
            ("GITHUB_REF_NAME", "main"),
        ])
        .unwrap();
        assert_eq!(
            (push.kind, push.branch.as_deref(), push.sha.as_deref()),
            (EventKind::Push, Some("main"), Some("abc"))
        );
        let tag = from(&[
            base[0],
            base[1],
            ("GITHUB_EVENT_NAME", "push"),
            ("GITHUB_REF_TYPE", "tag"),
            ("GITHUB_REF_NAME", "v1.2.3"),
        ])
        .unwrap();
        assert_eq!(
            (tag.kind, tag.tag.as_deref(), tag.version.as_deref()),
            (EventKind::Tag, Some("v1.2.3"), Some("1.2.3"))
        );
        let pr = from(&[
            base[0],
            ("GITHUB_EVENT_NAME", "pull_request"),
            ("GITHUB_BASE_REF", "main"),
            ("GITHUB_HEAD_REF", "feature"),
        ])
        .unwrap();
        assert_eq!(
            (pr.kind, pr.branch.as_deref()),
            (EventKind::PullRequest, Some("main"))
        );
        let manual = from(&[
            base[0],
            ("GITHUB_EVENT_NAME", "workflow_dispatch"),
            ("WHARF_INPUT_*", "target=staging"),
        ])
        .unwrap();
        assert_eq!(
            manual.inputs.get("target").map(String::as_str),
            Some("staging")
        );
        let err = from(&[base[0], ("GITHUB_EVENT_NAME", "issues")]).unwrap_err();
        assert!(
            err.message
                .contains("GitHub event `issues` (GITHUB_EVENT_NAME) has no wharf event"),
            "{}",
            err.message
        );
    }

    #[test]
    fn gitlab_woodpecker_and_bitbucket() {
        let tag = from(&[
            ("GITLAB_CI", "true"),
            ("CI_PIPELINE_SOURCE", "push"),
            ("CI_COMMIT_TAG", "v2.0.0"),
        ])
        .unwrap();
        assert_eq!(tag.kind, EventKind::Tag);
        let mr = from(&[
            ("GITLAB_CI", "true"),
            ("CI_PIPELINE_SOURCE", "merge_request_event"),
            ("CI_MERGE_REQUEST_TARGET_BRANCH_NAME", "main"),
        ])
        .unwrap();
        assert_eq!(
            (mr.kind, mr.branch.as_deref()),
            (EventKind::PullRequest, Some("main"))
        );
        let web = from(&[
            ("GITLAB_CI", "true"),
            ("CI_PIPELINE_SOURCE", "web"),
            ("CI_COMMIT_BRANCH", "main"),
        ])
        .unwrap();
        assert_eq!(web.kind, EventKind::Manual);
        let cron = from(&[
            ("CI", "woodpecker"),
            ("CI_PIPELINE_EVENT", "cron"),
            ("CI_COMMIT_BRANCH", "main"),
        ])
        .unwrap();
        assert_eq!(cron.kind, EventKind::Schedule);
        let bb = from(&[
            ("BITBUCKET_BUILD_NUMBER", "7"),
            ("BITBUCKET_BRANCH", "main"),
            ("BITBUCKET_COMMIT", "abc"),
        ])
        .unwrap();
        assert_eq!(
            (bb.kind, bb.branch.as_deref()),
            (EventKind::Push, Some("main"))
        );
        let custom = from(&[
            ("BITBUCKET_BUILD_NUMBER", "7"),
            ("WHARF_EVENT", "manual"),
            ("WHARF_INPUT_*", "a=1\nb=2"),
        ])
        .unwrap();
        assert_eq!((custom.kind, custom.inputs.len()), (EventKind::Manual, 2));
        let err = from(&[("PATH", "/bin")]).unwrap_err();
        assert!(err.message.contains("no CI platform detected"));
    }
}
