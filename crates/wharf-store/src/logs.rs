//! Where a step's log file lives: `logs/<run>/<job-slug>.<step>.log` in the wharf dir.
//!
//! Job ids are free text (`test (py=3.11)` for a matrix cell), so they are turned into a
//! safe directory name; when that changed anything, a short hash of the real id is added
//! so that two ids that map to the same name (`a b` and `a/b`) still get distinct logs.

use std::path::{Path, PathBuf};

use crate::hash::sha256_str;

/// Longest slug kept before the hash suffix: far below any file system's name limit.
const MAX_SLUG: usize = 100;

/// The log file of step `step` (0-based) of job `job_id` in run `run`: the path to write
/// (absolute when `wharf_dir` can be made absolute) and the same path relative to
/// `wharf_dir` with `/` separators, as recorded in `StepFinished::log`.
pub fn log_path(wharf_dir: &Path, run: u64, job_id: &str, step: usize) -> (PathBuf, String) {
    // One directory per run (not per job): creating a directory is a measurable part of a
    // step's cost. The step index is the last dotted part, so names cannot collide.
    let relative = relative_log_path(run, job_id, step);
    let base = std::path::absolute(wharf_dir).unwrap_or_else(|_| wharf_dir.to_path_buf());
    (base.join(&relative), relative)
}

/// [`log_path`]'s path relative to the `.wharf` directory.
pub(crate) fn relative_log_path(run: u64, job_id: &str, step: usize) -> String {
    format!("logs/{run}/{}.{step}.log", job_slug(job_id))
}

/// A directory name for a job id: `[A-Za-z0-9._-]` kept, anything else `_`, plus
/// `-` and 8 hex digits of the id's sha256 when the id was not already such a name.
fn job_slug(id: &str) -> String {
    let mut slug: String = id
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || matches!(c, '.' | '_' | '-') {
                c
            } else {
                '_'
            }
        })
        .collect();
    let mut changed = slug != id;
    if matches!(slug.as_str(), "" | "." | "..") {
        // Not names of a directory of its own.
        slug = "_".repeat(slug.len().max(1));
        changed = true;
    }
    if slug.len() > MAX_SLUG {
        // Only ASCII is left, so any byte index is a char boundary.
        slug.truncate(MAX_SLUG);
        changed = true;
    }
    if changed {
        slug.push('-');
        slug.push_str(&sha256_str(id)[..8]);
    }
    slug
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn plain_ids_are_kept() {
        assert_eq!(job_slug("build"), "build");
        assert_eq!(job_slug("deploy-prod_2.x"), "deploy-prod_2.x");
    }

    #[test]
    fn other_ids_are_mapped_and_hashed() {
        let py311 = job_slug("test (py=3.11)");
        let py312 = job_slug("test (py=3.12)");
        assert!(py311.starts_with("test__py_3.11_-"), "{py311}");
        assert_eq!(py311.len(), "test__py_3.11_".len() + 9);
        assert_ne!(py311, py312);
        assert_ne!(job_slug("a b"), job_slug("a/b"));
        assert_ne!(job_slug("a b"), "a_b");
        assert_eq!(job_slug("a b"), job_slug("a b"), "stable");
    }

    #[test]
    fn no_id_escapes_its_directory() {
        for id in ["", ".", "..", "../../etc", "a/../../b", "é"] {
            let slug = job_slug(id);
            assert!(
                !slug.contains('/') && slug != "." && slug != "..",
                "{id:?} -> {slug}"
            );
            assert!(!slug.is_empty());
        }
        assert!(job_slug(&"x".repeat(300)).len() <= MAX_SLUG + 9);
    }

    #[test]
    fn paths_are_under_the_wharf_dir() {
        let (abs, rel) = log_path(Path::new("/p/.wharf"), 7, "test (py=3.11)", 2);
        assert!(rel.starts_with("logs/7/test__py_3.11_-"), "{rel}");
        assert!(rel.ends_with(".2.log"), "{rel}");
        assert_eq!(abs, Path::new("/p/.wharf").join(&rel));
        let (abs, _) = log_path(Path::new("relative/.wharf"), 1, "build", 0);
        assert!(abs.is_absolute());
    }
}
