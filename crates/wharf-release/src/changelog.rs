//! Inserting a release's section into `CHANGELOG.md`: newest first, right under the
//! title and its introduction, and never twice (running again changes nothing).

/// `existing` with `section` (from [`crate::render_notes`]) inserted for `version`, or
/// `None` when a section for that version is already there.
pub fn insert_section(existing: &str, version: &str, section: &str) -> Option<String> {
    if has_section(existing, version) {
        return None;
    }
    let section = section.trim_end();
    if existing.trim().is_empty() {
        return Some(format!("# Changelog\n\n{section}\n"));
    }
    // Before the first `## ` heading (an earlier release); after everything when none.
    let mut offset = 0;
    let mut insert_at = None;
    for line in existing.split_inclusive('\n') {
        if line.starts_with("## ") {
            insert_at = Some(offset);
            break;
        }
        offset += line.len();
    }
    Some(match insert_at {
        Some(at) => format!("{}{section}\n\n{}", &existing[..at], &existing[at..]),
        None => {
            let head = existing.trim_end();
            format!("{head}\n\n{section}\n")
        }
    })
}

/// Whether a `## VERSION` / `## [VERSION]` / `## vVERSION` heading exists.
fn has_section(text: &str, version: &str) -> bool {
    text.lines().filter_map(|l| l.strip_prefix("## ")).any(|h| {
        let h = h.trim_start_matches('[').trim_start_matches('v');
        h.strip_prefix(version)
            .is_some_and(|rest| rest.is_empty() || rest.starts_with([' ', ']', '(']))
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn inserts_at_the_top_once() {
        let old = "# Changelog\n\nAll notable changes.\n\n## 1.0.0 (2025-01-01)\n\n- first\n";
        let new =
            insert_section(old, "1.1.0", "## 1.1.0 (2025-02-01)\n\n### Fixes\n\n- x\n").unwrap();
        assert_eq!(
            new,
            "# Changelog\n\nAll notable changes.\n\n## 1.1.0 (2025-02-01)\n\n### Fixes\n\n- x\n\n## 1.0.0 (2025-01-01)\n\n- first\n"
        );
        assert_eq!(insert_section(&new, "1.1.0", "## 1.1.0\n\n- y\n"), None);
        // `1.1` is not `1.1.0`: a prefix does not count as the same release
        assert!(insert_section(&new, "1.1", "## 1.1\n").is_some());
    }

    #[test]
    fn new_files_and_files_without_releases() {
        assert_eq!(
            insert_section("", "0.1.0", "## 0.1.0\n\n- a\n").unwrap(),
            "# Changelog\n\n## 0.1.0\n\n- a\n"
        );
        assert_eq!(
            insert_section("# Changes\n", "0.1.0", "## 0.1.0\n").unwrap(),
            "# Changes\n\n## 0.1.0\n"
        );
        assert!(has_section("## [1.2.0] - 2025", "1.2.0"));
        assert!(has_section("## v1.2.0", "1.2.0"));
        assert!(!has_section("## 1.2.0-rc.1", "1.2.0"));
    }
}
