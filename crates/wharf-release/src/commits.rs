//! Conventional commits (conventionalcommits.org 1.0.0): which group a commit belongs to
//! in the notes, and how far it bumps the version. Every type the convention's common
//! presets name has a section of its own (a `docs:` commit is documentation, not
//! "other"); commits of another type or none are kept, under "Other", never dropped.

use serde::Serialize;

use crate::Commit;
use crate::version::Bump;

/// A section of the release notes, in the order they are printed: what users notice
/// first, the project's own housekeeping last.
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
    /// `revert`.
    Reverts,
    /// `docs` (and `doc`).
    Documentation,
    /// `refactor`.
    Refactoring,
    /// `test` (and `tests`).
    Tests,
    /// `build` (and `deps`).
    Build,
    /// `ci`.
    Ci,
    /// `style`.
    Style,
    /// `chore`.
    Chores,
    /// Another type, or a message that does not follow the convention.
    Other,
}

impl Group {
    /// Every group, in the order the notes print them.
    pub const ALL: [Group; 13] = [
        Group::Breaking,
        Group::Features,
        Group::Fixes,
        Group::Performance,
        Group::Reverts,
        Group::Documentation,
        Group::Refactoring,
        Group::Tests,
        Group::Build,
        Group::Ci,
        Group::Style,
        Group::Chores,
        Group::Other,
    ];

    /// The section heading.
    pub fn title(self) -> &'static str {
        match self {
            Group::Breaking => "Breaking changes",
            Group::Features => "Features",
            Group::Fixes => "Fixes",
            Group::Performance => "Performance",
            Group::Reverts => "Reverts",
            Group::Documentation => "Documentation",
            Group::Refactoring => "Refactoring",
            Group::Tests => "Tests",
            Group::Build => "Build system",
            Group::Ci => "Continuous integration",
            Group::Style => "Style",
            Group::Chores => "Chores",
            Group::Other => "Other",
        }
    }

    /// The group and bump of a (lower-case) type in a commit that breaks nothing.
    fn of_type(kind: &str) -> (Group, Bump) {
        match kind {
            "feat" => (Group::Features, Bump::Minor),
            "fix" => (Group::Fixes, Bump::Patch),
            "perf" => (Group::Performance, Bump::Patch),
            "revert" => (Group::Reverts, Bump::None),
            "docs" | "doc" => (Group::Documentation, Bump::None),
            "refactor" => (Group::Refactoring, Bump::None),
            "test" | "tests" => (Group::Tests, Bump::None),
            "build" | "deps" => (Group::Build, Bump::None),
            "ci" => (Group::Ci, Bump::None),
            "style" => (Group::Style, Bump::None),
            "chore" => (Group::Chores, Bump::None),
            _ => (Group::Other, Bump::None),
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
                Group::of_type(&kind)
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
            // What `git revert` writes is a revert, though not in the convention's form.
            group: if c.summary().starts_with("Revert \"") {
                Group::Reverts
            } else {
                Group::Other
            },
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
        assert_eq!(c("docs: readme").group, Group::Documentation);
        assert_eq!(c("docs: readme").bump, Bump::None);
        assert_eq!(c("Feat: capitalised").bump, Bump::Minor);
    }

    #[test]
    fn every_common_type_has_its_own_group() {
        for (message, group) in [
            ("docs: readme", Group::Documentation),
            ("doc(api): typo", Group::Documentation),
            ("ci: cache the venv", Group::Ci),
            ("build: bump setuptools", Group::Build),
            ("build(deps): bump flask", Group::Build),
            ("perf: faster", Group::Performance),
            ("refactor: split app.py", Group::Refactoring),
            ("test: cover the 404 path", Group::Tests),
            ("style: black", Group::Style),
            ("chore: tidy", Group::Chores),
            ("revert: feat: x", Group::Reverts),
            ("CI: upper-case type", Group::Ci),
            ("wip: half done", Group::Other),
        ] {
            let got = c(message);
            assert_eq!(got.group, group, "{message}");
            assert_ne!(got.kind, None, "{message}");
        }
        // no group is left out of the notes' order
        assert_eq!(Group::ALL.len(), Group::Other as usize + 1);
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
    fn what_git_revert_writes_is_a_revert() {
        let r = c("Revert \"feat: add x\"\n\nThis reverts commit 0123.");
        assert_eq!((r.group, r.kind), (Group::Reverts, None));
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
