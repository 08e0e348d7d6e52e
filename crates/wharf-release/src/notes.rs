//! Release notes in Markdown: one section per version, commits grouped by their type
//! (Breaking changes, Features, Fixes, Performance, Reverts, Documentation, Refactoring,
//! Tests, Build system, Continuous integration, Style, Chores, then Other), each with its
//! short sha (a link when the remote is a known forge).

use std::fmt::Write;

use crate::commits::{Classified, Group};

/// How to render the notes of one release.
#[derive(Debug, Clone, Default)]
pub struct NotesOptions {
    /// The version the section is for, e.g. `1.2.0`.
    pub version: String,
    /// Release time, seconds since the epoch (the released commit's time, so notes are
    /// the same every time they are rendered).
    pub time: Option<i64>,
    /// Prefix for commit links, from [`crate::commit_url_base`].
    pub link_base: Option<String>,
}

/// The `## VERSION (DATE)` section for `commits` (newest first, as planned), ending in a
/// newline.
pub fn render_notes(commits: &[Classified], opts: &NotesOptions) -> String {
    let mut out = String::new();
    let date = opts
        .time
        .and_then(|t| chrono::DateTime::from_timestamp(t, 0))
        .map(|d| format!(" ({})", d.format("%Y-%m-%d")))
        .unwrap_or_default();
    let _ = writeln!(out, "## {}{date}", opts.version);
    if commits.is_empty() {
        out.push_str("\nNo changes.\n");
        return out;
    }
    for group in Group::ALL {
        // Oldest first inside a group: the order the work happened in.
        let items: Vec<&Classified> = commits.iter().rev().filter(|c| c.group == group).collect();
        if items.is_empty() {
            continue;
        }
        let _ = write!(out, "\n### {}\n\n", group.title());
        for c in items {
            let scope = c
                .scope
                .as_ref()
                .map(|s| format!("**{}:** ", escape(s)))
                .unwrap_or_default();
            let short = &c.sha[..c.sha.len().min(7)];
            let sha = match &opts.link_base {
                Some(base) => format!("[{short}]({base}{})", c.sha),
                None => short.to_string(),
            };
            // "Other" is every type without a section of its own: its items keep their
            // type, as written, so a `security:` commit still says so.
            let text = if group == Group::Other {
                escape(&c.summary)
            } else {
                format!("{scope}{}", escape(&c.description))
            };
            let _ = writeln!(out, "- {text} ({sha})");
        }
    }
    out
}

/// Keeps a commit message from turning into Markdown structure (a heading, a link).
fn escape(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for ch in text.chars() {
        if matches!(ch, '\\' | '`' | '*' | '_' | '[' | ']' | '<' | '>' | '#') {
            out.push('\\');
        }
        out.push(ch);
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{Commit, classify};

    fn c(sha: &str, m: &str) -> Classified {
        classify(&Commit {
            sha: sha.repeat(40 / sha.len()),
            message: m.into(),
            time: 0,
        })
    }

    #[test]
    fn groups_in_order_oldest_first_with_links() {
        let commits = vec![
            c("d", "fix(api): handle empty body"),
            c("c", "Update README"),
            c("b", "feat!: new config format"),
            c("a", "feat: add `--json` to show"),
        ];
        let notes = render_notes(
            &commits,
            &NotesOptions {
                version: "2.0.0".into(),
                time: Some(1_764_000_000),
                link_base: Some("https://github.com/o/r/commit/".into()),
            },
        );
        let expected = "## 2.0.0 (2025-11-24)

### Breaking changes

- new config format ([bbbbbbb](https://github.com/o/r/commit/bbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbb))

### Features

- add \\`--json\\` to show ([aaaaaaa](https://github.com/o/r/commit/aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa))

### Fixes

- **api:** handle empty body ([ddddddd](https://github.com/o/r/commit/dddddddddddddddddddddddddddddddddddddddd))

### Other

- Update README ([ccccccc](https://github.com/o/r/commit/cccccccccccccccccccccccccccccccccccccccc))
";
        assert_eq!(notes, expected);
    }

    #[test]
    fn every_type_under_its_own_heading_and_other_keeps_the_type() {
        let commits = vec![
            c("9", "Tidy up"),
            c("8", "security(auth): rotate keys"),
            c("7", "chore: bump version"),
            c("6", "style: black"),
            c("5", "ci: cache pip"),
            c("4", "build(deps): bump flask"),
            c("3", "test: cover 404"),
            c("2", "refactor: split app"),
            c("1", "perf: cache templates"),
            c("0", "docs(readme): install steps"),
        ];
        let notes = render_notes(
            &commits,
            &NotesOptions {
                version: "1.0.1".into(),
                ..Default::default()
            },
        );
        let expected = "## 1.0.1

### Performance

- cache templates (1111111)

### Documentation

- **readme:** install steps (0000000)

### Refactoring

- split app (2222222)

### Tests

- cover 404 (3333333)

### Build system

- **deps:** bump flask (4444444)

### Continuous integration

- cache pip (5555555)

### Style

- black (6666666)

### Chores

- bump version (7777777)

### Other

- security(auth): rotate keys (8888888)
- Tidy up (9999999)
";
        assert_eq!(notes, expected);
    }

    #[test]
    fn no_link_without_a_known_forge_and_a_note_without_commits() {
        let notes = render_notes(
            &[c("e", "chore: x")],
            &NotesOptions {
                version: "0.1.1".into(),
                ..Default::default()
            },
        );
        assert_eq!(notes, "## 0.1.1\n\n### Chores\n\n- x (eeeeeee)\n");
        let empty = render_notes(
            &[],
            &NotesOptions {
                version: "1.0.0".into(),
                ..Default::default()
            },
        );
        assert_eq!(empty, "## 1.0.0\n\nNo changes.\n");
    }
}
