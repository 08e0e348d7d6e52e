//! What started a run, with its context.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

/// The kind of event that starts a run.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum EventKind {
    /// A push to a branch.
    Push,
    /// A tag was pushed.
    Tag,
    /// A pull (merge) request was opened or updated. Untrusted: no secrets by default.
    PullRequest,
    /// A cron schedule fired.
    Schedule,
    /// Started by hand, possibly with inputs.
    Manual,
    /// Another pipeline finished.
    Pipeline,
}

impl EventKind {
    /// Every kind, in declaration order.
    pub const ALL: [EventKind; 6] = [
        EventKind::Push,
        EventKind::Tag,
        EventKind::PullRequest,
        EventKind::Schedule,
        EventKind::Manual,
        EventKind::Pipeline,
    ];

    /// The name used in pipeline files, expressions and `WHARF_EVENT`.
    pub fn as_str(self) -> &'static str {
        match self {
            EventKind::Push => "push",
            EventKind::Tag => "tag",
            EventKind::PullRequest => "pull_request",
            EventKind::Schedule => "schedule",
            EventKind::Manual => "manual",
            EventKind::Pipeline => "pipeline",
        }
    }

    /// Parses the name used in pipeline files and on the command line.
    pub fn parse(s: &str) -> Option<EventKind> {
        EventKind::ALL.into_iter().find(|k| k.as_str() == s)
    }
}

impl std::fmt::Display for EventKind {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// An event with its context. Every string here may come from outside (a branch name, a
/// tag, an input typed by a user): it reaches steps only as environment variables.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Event {
    /// What kind of event this is.
    pub kind: EventKind,
    /// The branch (push, pull_request target), if any.
    pub branch: Option<String>,
    /// The tag name (tag events), e.g. `v1.2.3`.
    pub tag: Option<String>,
    /// The version derived from the tag (`v1.2.3` -> `1.2.3`), if the tag is a version.
    pub version: Option<String>,
    /// The commit the run is for.
    pub sha: Option<String>,
    /// Who started it.
    pub actor: Option<String>,
    /// Files changed by the event, relative to the repository root, when known
    /// (used by `on.push.paths`). `None` means unknown: path filters then match.
    pub changed_paths: Option<Vec<String>>,
    /// Manual inputs, after defaults were applied.
    pub inputs: BTreeMap<String, String>,
    /// A pull request whose head is in another repository (a fork): its runs get no
    /// secrets, whatever the pipeline allows.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub fork: bool,
    /// The cron entry that fired (schedule events the server starts): only the pipelines
    /// with that entry run. `None` (`wharf run --event schedule`): every scheduled one.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub schedule: Option<String>,
    /// The run that ended (pipeline events): only pipelines whose `on.pipeline` names it
    /// and its outcome run. `None` (`wharf run --event pipeline`): every such pipeline.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub upstream: Option<Box<Upstream>>,
    /// The commit's subject line, when the front end knows it (the server reads it from
    /// the repository): shown in lists, never given to steps.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub message: Option<String>,
}

/// The run whose end started a pipeline event.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Upstream {
    /// Its pipeline's name.
    pub pipeline: String,
    /// Its number in the project's history.
    pub run: u64,
    /// Whether it succeeded.
    pub success: bool,
    /// Every pipeline of the chain that led here, oldest first, this run's last: a
    /// pipeline already in it is not started again (no cycles).
    #[serde(default)]
    pub chain: Vec<String>,
}

impl Event {
    /// A new event of `kind` with no context.
    pub fn new(kind: EventKind) -> Event {
        Event {
            kind,
            branch: None,
            tag: None,
            version: None,
            sha: None,
            actor: None,
            changed_paths: None,
            inputs: BTreeMap::new(),
            fork: false,
            schedule: None,
            upstream: None,
            message: None,
        }
    }

    /// The version a tag names: `v1.2.3` and `1.2.3` give `1.2.3`; anything that is not
    /// `MAJOR.MINOR.PATCH[-pre][+build]` gives `None`.
    pub fn version_from_tag(tag: &str) -> Option<String> {
        let v = tag.strip_prefix('v').unwrap_or(tag);
        let core = v.split(['-', '+']).next()?;
        let parts: Vec<&str> = core.split('.').collect();
        let numeric = |p: &&str| {
            !p.is_empty()
                && p.bytes().all(|b| b.is_ascii_digit())
                && (p.len() == 1 || !p.starts_with('0'))
        };
        if parts.len() == 3 && parts.iter().all(numeric) {
            Some(v.to_string())
        } else {
            None
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn versions_from_tags() {
        assert_eq!(Event::version_from_tag("v1.2.3").as_deref(), Some("1.2.3"));
        assert_eq!(Event::version_from_tag("1.2.3").as_deref(), Some("1.2.3"));
        assert_eq!(
            Event::version_from_tag("v1.2.3-rc.1").as_deref(),
            Some("1.2.3-rc.1")
        );
        assert_eq!(Event::version_from_tag("release-1"), None);
        assert_eq!(Event::version_from_tag("v1.2"), None);
        assert_eq!(Event::version_from_tag("v01.2.3"), None);
    }

    #[test]
    fn kinds_round_trip() {
        for k in EventKind::ALL {
            assert_eq!(EventKind::parse(k.as_str()), Some(k));
        }
        assert_eq!(EventKind::parse("nope"), None);
    }
}
