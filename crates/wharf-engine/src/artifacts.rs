//! Artifacts: files a job declares, stored content-addressed and handed to the jobs that
//! need it.
//!
//! Collection walks only the literal directory prefix of each glob (`dist/*.whl` walks
//! `dist/`), so a workspace full of virtualenvs is not scanned. Nothing outside the
//! workspace is ever collected: absolute patterns and `..` are refused (`validate` refuses
//! them before the run), and a match that leads out through a symlink (a link to a file
//! outside, or a literal prefix that is, or goes through, a symlinked directory outside) is
//! left out with a warning naming it. So is a match that is not a regular file (a FIFO
//! would block the read forever). This follows GitLab's runner, which never archives a path
//! outside the project directory and warns instead of failing
//! ("artifact path is not a subpath of project directory"); GitHub's `upload-artifact`
//! follows links wherever they lead, which would let a job publish any file the runner can
//! read. A pattern left with no file fails the job (as any pattern matching nothing) and
//! says what was left out.

use std::fmt;
use std::io;
use std::path::{Component, Path, PathBuf};

use globset::{Glob, GlobMatcher};
use wharf_model::ArtifactRecord;

use crate::fs_error::{IoError, io_err, walk_err};

/// Where artifact contents live (implemented over `wharf-store`'s content-addressed store).
pub trait ArtifactStore: Send + Sync + 'static {
    /// Stores the file's content; returns its hex sha256 and size.
    fn put(&self, path: &Path) -> std::io::Result<(String, u64)>;
    /// Writes the object `sha256` to `dest` with `mode` (nothing to do when it is there).
    fn materialize(&self, sha256: &str, dest: &Path, mode: u32) -> std::io::Result<()>;
}

/// Collecting, storing or restoring artifacts failed.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// An absolute pattern or recorded path.
    #[error("`{0}` is an absolute path: artifact paths are relative to the workspace")]
    Absolute(String),
    /// A pattern or recorded path with a `..` component.
    #[error("`{0}` contains `..`: artifact paths must stay inside the workspace")]
    ParentDir(String),
    /// A pattern that is not a glob.
    #[error("bad glob `{pattern}`: {message}")]
    BadGlob {
        /// The pattern.
        pattern: String,
        /// What the glob parser said.
        message: String,
    },
    /// A required pattern matched no file (or only files that were left out).
    #[error("`{pattern}` matched no file{}", Skipped(left_out))]
    NoMatch {
        /// The pattern.
        pattern: String,
        /// What it matched and left out.
        left_out: Vec<LeftOut>,
    },
    /// A matched symlink whose target does not exist.
    #[error("`{rel}` is a broken symlink: {source}")]
    BrokenLink {
        /// Its path in the workspace.
        rel: String,
        /// Why it cannot be resolved.
        #[source]
        source: io::Error,
    },
    /// A recorded artifact whose destination goes through a symlink out of the workspace.
    #[error("artifact `{0}` would be written outside the workspace (through a symlink): refused")]
    WriteOutside(String),
    /// The store could not keep a file.
    #[error("storing artifact `{rel}`: {source}")]
    Store {
        /// The file's path in the workspace.
        rel: String,
        /// The cause.
        #[source]
        source: io::Error,
    },
    /// The store could not write an artifact back.
    #[error("restoring artifact `{path}` from job `{job}`: {source}")]
    Restore {
        /// The artifact's path.
        path: String,
        /// The job that produced it.
        job: String,
        /// The cause.
        #[source]
        source: io::Error,
    },
    /// Reading the workspace failed.
    #[error(transparent)]
    Io(#[from] IoError),
}

/// The result type of this module.
pub type Result<T> = std::result::Result<T, Error>;

/// " (left out: …)" after "matched no file", when something was.
struct Skipped<'a>(&'a [LeftOut]);

impl fmt::Display for Skipped<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for (i, l) in self.0.iter().enumerate() {
            f.write_str(if i == 0 {
                " inside the workspace ("
            } else {
                "; "
            })?;
            write!(f, "{l}")?;
        }
        if !self.0.is_empty() {
            f.write_str(")")?;
        }
        Ok(())
    }
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

/// A match that was not collected, and why.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LeftOut {
    /// Its path relative to the workspace.
    pub rel: String,
    /// Why it was left out.
    pub why: Why,
}

/// Why a match was left out.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Why {
    /// It leads (as a symlink, or through one) to this path outside the workspace.
    Outside(PathBuf),
    /// It is not a regular file: a FIFO, a socket, a device.
    NotAFile(&'static str),
}

impl fmt::Display for LeftOut {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match &self.why {
            Why::Outside(target) => write!(
                f,
                "`{}` leads to {}, outside the workspace: left out",
                self.rel,
                target.display()
            ),
            Why::NotAFile(kind) => write!(f, "`{}` is {kind}, not a file: left out", self.rel),
        }
    }
}

/// What [`collect`] found, and what it left out.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Collected {
    /// The files, in pattern order, each once.
    pub files: Vec<Found>,
    /// Matches not collected; the caller warns about each.
    pub left_out: Vec<LeftOut>,
    /// The patterns that matched no file (or only files left out), in order, when a
    /// match was not required.
    pub unmatched: Vec<String>,
}

/// Checks that a pattern or recorded path stays inside the workspace: relative, and no
/// `..` component.
pub fn check_relative(p: &str) -> Result<()> {
    let path = Path::new(p);
    if path.is_absolute() {
        return Err(Error::Absolute(p.to_string()));
    }
    if path.components().any(|c| matches!(c, Component::ParentDir)) {
        return Err(Error::ParentDir(p.to_string()));
    }
    Ok(())
}

/// What a non-regular, non-directory file is, for "`x` is a FIFO, not a file".
pub(crate) fn kind(ft: std::fs::FileType) -> &'static str {
    wharf_model::state::file_kind(ft)
}

/// `rel` (a `/`-separated path in the workspace) as a string.
fn rel_string(rel: &Path) -> String {
    rel.to_string_lossy().replace('\\', "/")
}

/// Finds the files matching `patterns` under `workspace`. A pattern matching a directory
/// takes every file below it. `require_match`: a pattern matching no file is an error.
pub fn collect(workspace: &Path, patterns: &[String], require_match: bool) -> Result<Collected> {
    use std::os::unix::fs::PermissionsExt;

    let root = workspace
        .canonicalize()
        .map_err(io_err("resolving the workspace", workspace))?;
    let mut out = Collected::default();
    for pattern in patterns {
        check_relative(pattern)?;
        let matcher = matcher(pattern)?;
        let base = literal_prefix(pattern);
        let start = root.join(&base);
        let mut matched = 0usize;
        let mut left_out = Vec::new();
        let no_match = |left_out: Vec<LeftOut>| Error::NoMatch {
            pattern: pattern.clone(),
            left_out,
        };
        if std::fs::symlink_metadata(&start).is_err() {
            if require_match {
                return Err(no_match(left_out));
            }
            out.unmatched.push(pattern.clone());
            continue;
        }
        // The walk follows its starting point: it must not be, or go through, a link out.
        if let Ok(real) = start.canonicalize()
            && !real.starts_with(&root)
        {
            left_out.push(LeftOut {
                rel: rel_string(&base),
                why: Why::Outside(real),
            });
        } else {
            for entry in walkdir::WalkDir::new(&start)
                .follow_links(false)
                .sort_by_file_name()
            {
                let entry = entry.map_err(|e| walk_err::<Error>("reading", &start, e))?;
                let Ok(rel_path) = entry.path().strip_prefix(&root) else {
                    continue;
                };
                let rel = rel_string(rel_path);
                if rel.is_empty() || !matches_self_or_ancestor(&matcher, rel_path) {
                    continue;
                }
                let ft = entry.file_type();
                if ft.is_dir() {
                    continue;
                }
                let abs = if ft.is_symlink() {
                    let target =
                        entry
                            .path()
                            .canonicalize()
                            .map_err(|source| Error::BrokenLink {
                                rel: rel.clone(),
                                source,
                            })?;
                    if !target.starts_with(&root) {
                        left_out.push(LeftOut {
                            rel,
                            why: Why::Outside(target),
                        });
                        continue;
                    }
                    target
                } else {
                    entry.path().to_path_buf()
                };
                let meta = std::fs::metadata(&abs).map_err(io_err("reading", &abs))?;
                if meta.is_dir() {
                    continue;
                }
                if !meta.is_file() {
                    left_out.push(LeftOut {
                        rel,
                        why: Why::NotAFile(kind(meta.file_type())),
                    });
                    continue;
                }
                matched += 1;
                if !out.files.iter().any(|f| f.rel == rel) {
                    let mode = meta.permissions().mode() & 0o7777;
                    out.files.push(Found { rel, abs, mode });
                }
            }
        }
        if matched == 0 && require_match {
            return Err(no_match(left_out));
        }
        if matched == 0 {
            out.unmatched.push(pattern.clone());
        }
        for l in left_out {
            if !out.left_out.contains(&l) {
                out.left_out.push(l);
            }
        }
    }
    Ok(out)
}

/// Stores every found file; returns the records.
pub fn store_all(
    store: &dyn ArtifactStore,
    job: &str,
    found: &[Found],
) -> Result<Vec<ArtifactRecord>> {
    found
        .iter()
        .map(|f| {
            let (sha256, size) = store.put(&f.abs).map_err(|source| Error::Store {
                rel: f.rel.clone(),
                source,
            })?;
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
) -> Result<()> {
    for a in artifacts {
        check_relative(&a.path)?;
        let dest = workspace.join(&a.path);
        if dest
            .parent()
            .is_some_and(|dir| lands_outside(workspace, dir).is_some())
        {
            return Err(Error::WriteOutside(a.path.clone()));
        }
        store
            .materialize(&a.sha256, &dest, a.mode)
            .map_err(|source| Error::Restore {
                path: a.path.clone(),
                job: a.job.clone(),
                source,
            })?;
    }
    Ok(())
}

/// Where directory `dir` really is, when that is outside `workspace`: a symlinked
/// directory on the way redirects whatever is written there. The nearest existing ancestor
/// (`dir` itself included) is resolved, since the directories below it do not exist yet and
/// would be created there.
pub(crate) fn lands_outside(workspace: &Path, dir: &Path) -> Option<PathBuf> {
    let root = workspace.canonicalize().ok()?;
    let real = dir.ancestors().find_map(|a| a.canonicalize().ok())?;
    (!real.starts_with(&root)).then_some(real)
}

pub(crate) fn matcher(pattern: &str) -> Result<GlobMatcher> {
    let p = pattern.trim_end_matches('/');
    Glob::new(p)
        .map(|g| g.compile_matcher())
        .map_err(|e| Error::BadGlob {
            pattern: pattern.to_string(),
            message: e.to_string(),
        })
}

/// Whether `rel` (a recorded artifact path) is one `patterns` declare, as [`collect`]
/// matches them: what tells a job's declared artifacts from the other files kept with
/// its run (its reports, its services' logs).
pub fn declared(patterns: &[String], rel: &str) -> bool {
    patterns
        .iter()
        .any(|p| matcher(p).is_ok_and(|m| matches_self_or_ancestor(&m, Path::new(rel))))
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

    fn rels(c: &Collected) -> Vec<&str> {
        c.files.iter().map(|x| x.rel.as_str()).collect()
    }

    fn pats(p: &[&str]) -> Vec<String> {
        p.iter().map(|s| s.to_string()).collect()
    }

    /// A directory outside the workspace holding `secret`.
    fn outside() -> tempfile::TempDir {
        let o = tempfile::tempdir().unwrap();
        std::fs::write(o.path().join("secret"), "s").unwrap();
        o
    }

    #[test]
    fn globs_and_directories() {
        let d = ws();
        let f = collect(d.path(), &pats(&["dist/*.whl"]), true).unwrap();
        assert_eq!(rels(&f), vec!["dist/a.whl"]);
        let f = collect(d.path(), &pats(&["dist/", "top.txt"]), true).unwrap();
        assert_eq!(rels(&f), vec!["dist/a.whl", "dist/sub/b.txt", "top.txt"]);
        let f = collect(d.path(), &pats(&["**/*.txt"]), true).unwrap();
        assert_eq!(rels(&f), vec!["dist/sub/b.txt", "top.txt"]);
        assert!(f.left_out.is_empty());
    }

    #[test]
    fn no_match_is_an_error_only_when_required() {
        let d = ws();
        let e = collect(d.path(), &pats(&["nope/*"]), true).unwrap_err();
        assert_eq!(e.to_string(), "`nope/*` matched no file");
        let f = collect(
            d.path(),
            &pats(&["nope/*", "dist/*.whl", "dist/*.none"]),
            false,
        )
        .unwrap();
        assert_eq!(rels(&f), vec!["dist/a.whl"]);
        // The caller warns about each glob that matched nothing.
        assert_eq!(f.unmatched, vec!["nope/*", "dist/*.none"]);
    }

    #[test]
    fn absolute_and_parent_paths_are_refused() {
        let d = ws();
        for p in ["../x", "/etc/passwd", "dist/../../x"] {
            let e = collect(d.path(), &pats(&[p]), true).unwrap_err();
            assert!(
                matches!(e, Error::Absolute(_) | Error::ParentDir(_)),
                "{p}: {e}"
            );
            assert!(e.to_string().contains("workspace"), "{p}: {e}");
        }
    }

    #[test]
    fn a_link_to_a_file_outside_is_left_out_and_named() {
        let d = ws();
        let o = outside();
        let secret = o.path().join("secret").canonicalize().unwrap();
        std::os::unix::fs::symlink(&secret, d.path().join("dist/link")).unwrap();
        let f = collect(d.path(), &pats(&["dist/*"]), true).unwrap();
        assert_eq!(rels(&f), vec!["dist/a.whl", "dist/sub/b.txt"]);
        assert_eq!(
            f.left_out,
            vec![LeftOut {
                rel: "dist/link".into(),
                why: Why::Outside(secret.clone()),
            }]
        );
        assert_eq!(
            f.left_out[0].to_string(),
            format!(
                "`dist/link` leads to {}, outside the workspace: left out",
                secret.display()
            )
        );
        // Alone, it leaves the pattern with no file: the error says why.
        let e = collect(d.path(), &pats(&["dist/link"]), true).unwrap_err();
        assert_eq!(
            e.to_string(),
            format!(
                "`dist/link` matched no file inside the workspace (`dist/link` leads to {}, outside the workspace: left out)",
                secret.display()
            )
        );
    }

    #[test]
    fn a_glob_never_walks_through_a_symlinked_directory_out() {
        let d = ws();
        let o = outside();
        let real = o.path().canonicalize().unwrap();
        std::os::unix::fs::symlink(o.path(), d.path().join("out")).unwrap();
        // The link as the walk's start, and as a directory on the way to it.
        for p in ["out/*", "out/", "out/secret"] {
            let f = collect(d.path(), &pats(&[p]), false).unwrap();
            assert!(f.files.is_empty(), "{p}: {f:?}");
            assert_eq!(f.left_out.len(), 1, "{p}: {f:?}");
            assert!(
                f.left_out[0]
                    .to_string()
                    .contains(&format!("leads to {}", real.display())),
                "{p}: {}",
                f.left_out[0]
            );
        }
        std::fs::create_dir(o.path().join("sub")).unwrap();
        std::fs::write(o.path().join("sub/deep"), "d").unwrap();
        let f = collect(d.path(), &pats(&["out/sub/*"]), false).unwrap();
        assert!(f.files.is_empty(), "{f:?}");
        assert_eq!(f.left_out[0].rel, "out/sub");
        // A walk from the top never descends into it either.
        let f = collect(d.path(), &pats(&["**"]), true).unwrap();
        assert!(f.files.iter().all(|x| !x.rel.starts_with("out")), "{f:?}");
    }

    #[test]
    fn symlinks_inside_are_followed() {
        let d = ws();
        std::os::unix::fs::symlink(d.path().join("top.txt"), d.path().join("dist/ln")).unwrap();
        let f = collect(d.path(), &pats(&["dist/ln"]), true).unwrap();
        assert!(f.files[0].abs.ends_with("top.txt"));
        std::os::unix::fs::symlink(d.path().join("dist"), d.path().join("d2")).unwrap();
        let f = collect(d.path(), &pats(&["d2/*.whl"]), true).unwrap();
        assert_eq!(rels(&f), vec!["d2/a.whl"]);
    }

    #[test]
    fn writes_never_go_through_a_symlinked_directory_out() {
        let d = ws();
        let o = outside();
        std::os::unix::fs::symlink(o.path(), d.path().join("out")).unwrap();
        for rel in ["out", "out/new/deeper"] {
            let real = lands_outside(d.path(), &d.path().join(rel));
            assert_eq!(real, Some(o.path().canonicalize().unwrap()), "{rel}");
        }
        assert_eq!(lands_outside(d.path(), &d.path().join("new/dir")), None);
        assert_eq!(lands_outside(d.path(), &d.path().join("dist")), None);
        let record = ArtifactRecord {
            job: "a".into(),
            path: "out/x".into(),
            sha256: "0".repeat(64),
            size: 1,
            mode: 0o644,
        };
        let store = crate::FakeArtifacts::default();
        let e = materialize(&store, d.path(), &[record]).unwrap_err();
        assert_eq!(
            e.to_string(),
            "artifact `out/x` would be written outside the workspace (through a symlink): refused"
        );
    }

    #[test]
    fn what_is_not_a_regular_file_is_left_out_unread() {
        let d = ws();
        rustix::fs::mkfifoat(
            rustix::fs::CWD,
            d.path().join("dist/pipe"),
            rustix::fs::Mode::from_raw_mode(0o644),
        )
        .unwrap();
        let f = collect(d.path(), &pats(&["dist/*"]), true).unwrap();
        assert_eq!(rels(&f), vec!["dist/a.whl", "dist/sub/b.txt"]);
        assert_eq!(
            f.left_out[0].to_string(),
            "`dist/pipe` is a FIFO (named pipe), not a file: left out"
        );
    }
}
