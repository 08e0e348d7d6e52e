//! Release notes in Markdown: one section per version, commits grouped as Breaking
//! changes, Features, Fixes, Performance and Other, each with its short sha (a link when
//! the remote is a known forge).

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
    for group in [
        Group::Breaking,
        Group::Features,
        Group::Fixes,
        Group::Performance,
        Group::Other,
    ] {
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
            let _ = writeln!(out, "- {scope}{} ({sha})", escape(&c.description));
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
    fn no_link_without_a_known_forge_and_a_note_without_commits() {
        let notes = render_notes(
            &[c("e", "chore: x")],
            &NotesOptions {
                version: "0.1.1".into(),
                ..Default::default()
            },
        );
        assert_eq!(notes, "## 0.1.1\n\n### Other\n\n- x (eeeeeee)\n");
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
