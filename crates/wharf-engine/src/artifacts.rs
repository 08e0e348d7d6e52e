//! Artifacts: files a job declares, stored content-addressed and handed to the jobs that
//! need it.
//!
//! Collection walks only the literal directory prefix of each glob (`dist/*.whl` walks
//! `dist/`), so a workspace full of virtualenvs is not scanned. Anything that would let a
//! job read or write outside its workspace is refused: absolute patterns, `..`, and
//! symlinks whose target lies outside.

use std::path::{Component, Path, PathBuf};

use globset::{Glob, GlobMatcher};
use wharf_model::ArtifactRecord;

/// Where artifact contents live (implemented over `wharf-store`'s content-addressed store).
pub trait ArtifactStore: Send + Sync + 'static {
    /// Stores the file's content; returns its hex sha256 and size.
    fn put(&self, path: &Path) -> std::io::Result<(String, u64)>;
    /// Writes the object `sha256` to `dest` with `mode` (nothing to do when it is there).
    fn materialize(&self, sha256: &str, dest: &Path, mode: u32) -> std::io::Result<()>;
}

/// A file matched by an artifact or report glob.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Found {
    /// Path relative to the workspace, `/`-separated.
    pub rel: String,
    /// The file to read (a symlink's target when it was a link inside the workspace).
    pub abs: PathBuf,
    /// Unix mode bits of the file.
    pub mode: u32,
}

/// Checks that a pattern or recorded path stays inside the workspace: relative, and no
/// `..` component.
pub fn check_relative(p: &str) -> Result<(), String> {
    let path = Path::new(p);
    if path.is_absolute() {
        return Err(format!(
            "`{p}` is an absolute path: artifact paths are relative to the workspace"
        ));
    }
    if path.components().any(|c| matches!(c, Component::ParentDir)) {
        return Err(format!(
            "`{p}` contains `..`: artifact paths must stay inside the workspace"
        ));
    }
    Ok(())
}

/// Finds the files matching `patterns` under `workspace`. A pattern matching a directory
/// takes every file below it. `require_match`: a pattern matching nothing is an error.
pub fn collect(
    workspace: &Path,
    patterns: &[String],
    require_match: bool,
) -> Result<Vec<Found>, String> {
    use std::os::unix::fs::PermissionsExt;

    let root = workspace
        .canonicalize()
        .map_err(|e| format!("workspace {}: {e}", workspace.display()))?;
    let mut found: Vec<Found> = Vec::new();
    for pattern in patterns {
        check_relative(pattern)?;
        let matcher = matcher(pattern)?;
        let base = literal_prefix(pattern);
        let start = root.join(&base);
        let mut matched = 0usize;
        if !start.exists() && std::fs::symlink_metadata(&start).is_err() {
            if require_match {
                return Err(format!("`{pattern}` matched no file"));
            }
            continue;
        }
        for entry in walkdir::WalkDir::new(&start)
            .follow_links(false)
            .sort_by_file_name()
        {
            let entry = entry.map_err(|e| format!("reading {}: {e}", start.display()))?;
            let rel_path = entry
                .path()
                .strip_prefix(&root)
                .map_err(|_| format!("{} is outside the workspace", entry.path().display()))?;
            let rel = rel_path.to_string_lossy().replace('\\', "/");
            if rel.is_empty() || !matches_self_or_ancestor(&matcher, rel_path) {
                continue;
            }
            let ft = entry.file_type();
            if ft.is_dir() {
                continue;
            }
            let abs = if ft.is_symlink() {
                let target = entry
                    .path()
                    .canonicalize()
                    .map_err(|e| format!("`{rel}` is a broken symlink: {e}"))?;
                if !target.starts_with(&root) {
                    return Err(format!(
                        "`{rel}` is a symlink to {}, outside the workspace: refused",
                        target.display()
                    ));
                }
                if target.is_dir() {
                    continue;
                }
                target
            } else {
                entry.path().to_path_buf()
            };
            let mode = std::fs::metadata(&abs)
                .map_err(|e| format!("`{rel}`: {e}"))?
                .permissions()
                .mode()
                & 0o7777;
            matched += 1;
            if !found.iter().any(|f| f.rel == rel) {
                found.push(Found { rel, abs, mode });
            }
        }
        if matched == 0 && require_match {
            return Err(format!("`{pattern}` matched no file"));
        }
    }
    Ok(found)
}

/// Stores every found file; returns the records.
pub fn store_all(
    store: &dyn ArtifactStore,
    job: &str,
    found: &[Found],
) -> Result<Vec<ArtifactRecord>, String> {
    found
        .iter()
        .map(|f| {
            let (sha256, size) = store
                .put(&f.abs)
                .map_err(|e| format!("storing artifact `{}`: {e}", f.rel))?;
            Ok(ArtifactRecord {
                job: job.to_string(),
                path: f.rel.clone(),
                sha256,
                size,
                mode: f.mode,
            })
        })
        .collect()
}

/// Writes `artifacts` into `workspace` at their recorded relative paths.
pub fn materialize(
    store: &dyn ArtifactStore,
    workspace: &Path,
    artifacts: &[ArtifactRecord],
) -> Result<(), String> {
    for a in artifacts {
        check_relative(&a.path)?;
        let dest = workspace.join(&a.path);
        // A symlinked directory on the way could redirect the write outside.
        if let Some(parent) = dest.parent()
            && let Ok(real) = parent.canonicalize()
            && let Ok(root) = workspace.canonicalize()
            && !real.starts_with(&root)
        {
            return Err(format!(
                "artifact `{}` would be written outside the workspace (through a symlink): refused",
                a.path
            ));
        }
        store
            .materialize(&a.sha256, &dest, a.mode)
            .map_err(|e| format!("restoring artifact `{}` from job `{}`: {e}", a.path, a.job))?;
    }
    Ok(())
}

pub(crate) fn matcher(pattern: &str) -> Result<GlobMatcher, String> {
    let p = pattern.trim_end_matches('/');
    Glob::new(p)
        .map(|g| g.compile_matcher())
        .map_err(|e| format!("bad glob `{pattern}`: {e}"))
}

pub(crate) fn matches_self_or_ancestor(m: &GlobMatcher, rel: &Path) -> bool {
    rel.ancestors()
        .take_while(|a| !a.as_os_str().is_empty())
        .any(|a| m.is_match(a))
}

/// The directory part of a glob before its first wildcard component.
pub(crate) fn literal_prefix(pattern: &str) -> PathBuf {
    let mut base = PathBuf::new();
    let comps: Vec<&str> = pattern.trim_end_matches('/').split('/').collect();
    for (i, c) in comps.iter().enumerate() {
        let wild = c.contains(['*', '?', '[', '{']);
        if wild || i == comps.len() - 1 {
            break;
        }
        base.push(c);
    }
    base
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ws() -> tempfile::TempDir {
        let d = tempfile::tempdir().unwrap();
        std::fs::create_dir_all(d.path().join("dist/sub")).unwrap();
        std::fs::write(d.path().join("dist/a.whl"), "a").unwrap();
        std::fs::write(d.path().join("dist/sub/b.txt"), "b").unwrap();
        std::fs::write(d.path().join("top.txt"), "t").unwrap();
        d
    }

    fn rels(f: &[Found]) -> Vec<&str> {
        f.iter().map(|x| x.rel.as_str()).collect()
    }

    #[test]
    fn globs_and_directories() {
        let d = ws();
        let f = collect(d.path(), &["dist/*.whl".into()], true).unwrap();
        assert_eq!(rels(&f), vec!["dist/a.whl"]);
        let f = collect(d.path(), &["dist/".into(), "top.txt".into()], true).unwrap();
        assert_eq!(rels(&f), vec!["dist/a.whl", "dist/sub/b.txt", "top.txt"]);
        let f = collect(d.path(), &["**/*.txt".into()], true).unwrap();
        assert_eq!(rels(&f), vec!["dist/sub/b.txt", "top.txt"]);
    }

    #[test]
    fn no_match_is_an_error_only_when_required() {
        let d = ws();
        let e = collect(d.path(), &["nope/*".into()], true).unwrap_err();
        assert!(e.contains("matched no file"), "{e}");
        assert!(
            collect(d.path(), &["nope/*".into()], false)
                .unwrap()
                .is_empty()
        );
    }

    #[test]
    fn escapes_are_refused() {
        let d = ws();
        for p in ["../x", "/etc/passwd", "dist/../../x"] {
            let e = collect(d.path(), &[p.into()], true).unwrap_err();
            assert!(e.contains("workspace"), "{p}: {e}");
        }
        let outside = tempfile::tempdir().unwrap();
        std::fs::write(outside.path().join("secret"), "s").unwrap();
        std::os::unix::fs::symlink(outside.path().join("secret"), d.path().join("dist/link"))
            .unwrap();
        let e = collect(d.path(), &["dist/*".into()], true).unwrap_err();
        assert!(e.contains("outside the workspace"), "{e}");
    }

    #[test]
    fn symlinks_inside_are_followed() {
        let d = ws();
        std::os::unix::fs::symlink(d.path().join("top.txt"), d.path().join("dist/ln")).unwrap();
        let f = collect(d.path(), &["dist/ln".into()], true).unwrap();
        assert!(f[0].abs.ends_with("top.txt"));
    }
}
