//! `.dockerignore` rules, so the build context we send holds what `docker build` would
//! send: files the user excluded (secrets, `target/`, `.git/`) never reach the engine.
//!
//! Supported, as in Docker's own matcher: one pattern per line; blank lines and lines
//! starting with `#` are skipped; surrounding whitespace and a leading `/` are dropped;
//! `*` and `?` never match `/`; `**` matches any number of directories; `[a-z]` classes
//! and `\` escapes; a `!` line re-includes what an earlier line excluded; the last
//! matching line wins; a pattern that matches a directory excludes everything below it.
//! Not supported: Docker's `filepath.Clean` of `..` inside patterns (such lines are taken
//! literally and so match nothing).

use globset::{GlobBuilder, GlobMatcher};

use super::DockerError;

/// The parsed rules of one `.dockerignore` file.
#[derive(Debug, Default)]
pub(crate) struct DockerIgnore {
    rules: Vec<Rule>,
}

#[derive(Debug)]
struct Rule {
    matcher: GlobMatcher,
    /// A `!` line: a match re-includes the path.
    include: bool,
}

impl DockerIgnore {
    /// Parses the text of a `.dockerignore` file.
    pub(crate) fn parse(text: &str) -> Result<Self, DockerError> {
        let mut rules = Vec::new();
        for (n, line) in text.lines().enumerate() {
            let line = line.trim();
            if line.is_empty() || line.starts_with('#') {
                continue;
            }
            let (include, pattern) = match line.strip_prefix('!') {
                Some(rest) => (true, rest.trim()),
                None => (false, line),
            };
            // Docker cleans the pattern: `./a`, `/a` and `a/` all mean `a`.
            let pattern = pattern
                .trim_start_matches("./")
                .trim_start_matches('/')
                .trim_end_matches('/');
            if pattern.is_empty() {
                continue;
            }
            let glob = GlobBuilder::new(pattern)
                .literal_separator(true)
                .backslash_escape(true)
                .build()
                .map_err(|e| DockerError::Dockerignore {
                    line: n + 1,
                    reason: e.kind().to_string(),
                })?;
            rules.push(Rule {
                matcher: glob.compile_matcher(),
                include,
            });
        }
        Ok(DockerIgnore { rules })
    }

    /// Whether the context-relative `path` (with `/` separators) is left out.
    pub(crate) fn excludes(&self, path: &str) -> bool {
        let mut excluded = false;
        for rule in &self.rules {
            if rule.matcher.is_match(path) || parents(path).any(|p| rule.matcher.is_match(p)) {
                excluded = !rule.include;
            }
        }
        excluded
    }

    /// Whether some `!` line could re-include a path below an excluded directory, so
    /// the walk must still look inside excluded directories.
    pub(crate) fn has_exceptions(&self) -> bool {
        self.rules.iter().any(|r| r.include)
    }
}

/// `a/b/c` -> `a`, `a/b`.
fn parents(path: &str) -> impl Iterator<Item = &str> {
    path.match_indices('/').map(move |(i, _)| &path[..i])
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ignore(text: &str) -> DockerIgnore {
        DockerIgnore::parse(text).unwrap()
    }

    #[test]
    fn stars_stay_within_a_directory_and_double_stars_cross_them() {
        let i = ignore("*.log\n/target\nsecrets/**/*.key\n");
        assert!(i.excludes("build.log"));
        assert!(!i.excludes("logs/build.log"), "`*` does not match `/`");
        assert!(i.excludes("target"));
        assert!(
            i.excludes("target/debug/wharf"),
            "a directory takes its contents along"
        );
        assert!(i.excludes("secrets/a/b/c.key"));
        assert!(i.excludes("secrets/c.key"));
        assert!(!i.excludes("secrets/c.pem"));
        assert!(!i.excludes("src/target"));
    }

    #[test]
    fn the_last_matching_line_wins_and_exceptions_reinclude() {
        let i = ignore("# comment\n\n  docs  \n!docs/keep.md\n*.md\n!README.md\n");
        assert!(i.excludes("docs/other.txt"));
        assert!(
            !i.excludes("docs/keep.md"),
            "`*.md` comes later but matches top-level files only"
        );
        assert!(i.excludes("CHANGES.md"));
        assert!(!i.excludes("README.md"));
        assert!(i.has_exceptions());
        assert!(!ignore("a\nb/").has_exceptions());
    }

    #[test]
    fn reinclusion_inside_an_excluded_directory() {
        let i = ignore("vendor\n!vendor/keep\n");
        assert!(i.excludes("vendor/drop"));
        assert!(!i.excludes("vendor/keep"));
        assert!(!i.excludes("vendor/keep/file"));
    }

    #[test]
    fn a_bad_pattern_names_its_line() {
        let err = DockerIgnore::parse("ok\n[unclosed\n")
            .unwrap_err()
            .to_string();
        assert!(err.contains(".dockerignore line 2"), "{err}");
    }
}
