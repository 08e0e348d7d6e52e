//! Conventional commits (conventionalcommits.org 1.0.0): which group a commit belongs to
//! in the notes, and how far it bumps the version. Commits that do not follow the
//! convention are kept, under "Other", never dropped.

use serde::Serialize;

use crate::Commit;
use crate::version::Bump;

/// A section of the release notes, in the order they are printed.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum Group {
    /// `!` or a `BREAKING CHANGE:` footer.
    Breaking,
    /// `feat`.
    Features,
    /// `fix`.
    Fixes,
    /// `perf`.
    Performance,
    /// Everything else, conventional or not.
    Other,
}

impl Group {
    /// The section heading.
    pub fn title(self) -> &'static str {
        match self {
            Group::Breaking => "Breaking changes",
            Group::Features => "Features",
            Group::Fixes => "Fixes",
            Group::Performance => "Performance",
            Group::Other => "Other",
        }
    }
}

/// A commit and what the convention says about it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Classified {
    /// Full sha.
    pub sha: String,
    /// The first line of the message.
    pub summary: String,
    /// The type (`feat`, `fix` …), `None` when the message is not conventional.
    pub kind: Option<String>,
    /// The scope, `feat(api): …` gives `api`.
    pub scope: Option<String>,
    /// The description after `type(scope): `, or the summary.
    pub description: String,
    /// `!` or a `BREAKING CHANGE` footer.
    pub breaking: bool,
    /// Its section in the notes.
    pub group: Group,
    /// How far it bumps the version on its own.
    pub bump: Bump,
}

/// Classifies one commit.
pub fn classify(c: &Commit) -> Classified {
    match git_conventional::Commit::parse(&c.message) {
        Ok(cc) => {
            let kind = cc.type_().as_str().to_ascii_lowercase();
            let breaking = cc.breaking();
            let (group, bump) = if breaking {
                (Group::Breaking, Bump::Major)
            } else {
                match kind.as_str() {
                    "feat" => (Group::Features, Bump::Minor),
                    "fix" => (Group::Fixes, Bump::Patch),
                    "perf" => (Group::Performance, Bump::Patch),
                    _ => (Group::Other, Bump::None),
                }
            };
            Classified {
                sha: c.sha.clone(),
                summary: c.summary().to_string(),
                kind: Some(kind),
                scope: cc.scope().map(|s| s.as_str().to_string()),
                description: cc.description().to_string(),
                breaking,
                group,
                bump,
            }
        }
        Err(_) => Classified {
            sha: c.sha.clone(),
            summary: c.summary().to_string(),
            kind: None,
            scope: None,
            description: c.summary().to_string(),
            breaking: false,
            group: Group::Other,
            bump: Bump::None,
        },
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn c(message: &str) -> Classified {
        classify(&Commit {
            sha: "0123456789".into(),
            message: message.into(),
            time: 0,
        })
    }

    #[test]
    fn types_map_to_groups_and_bumps() {
        assert_eq!(
            (c("feat: add x").group, c("feat: add x").bump),
            (Group::Features, Bump::Minor)
        );
        assert_eq!(c("fix(api): y").bump, Bump::Patch);
        assert_eq!(c("fix(api): y").scope.as_deref(), Some("api"));
        assert_eq!(c("perf: faster").group, Group::Performance);
        assert_eq!(c("docs: readme").group, Group::Other);
        assert_eq!(c("docs: readme").bump, Bump::None);
        assert_eq!(c("Feat: capitalised").bump, Bump::Minor);
    }

    #[test]
    fn breaking_by_bang_or_footer() {
        assert_eq!(c("feat!: drop v1").bump, Bump::Major);
        assert_eq!(c("refactor(core)!: rename").group, Group::Breaking);
        let footer = c("fix: tweak\n\nBREAKING CHANGE: the flag is gone");
        assert!(footer.breaking);
        assert_eq!(footer.description, "tweak");
    }

    #[test]
    fn other_messages_are_kept() {
        let o = c("Update README");
        assert_eq!(
            (o.group, o.kind.clone(), o.description.as_str()),
            (Group::Other, None, "Update README")
        );
    }
}
