//! Turns the caller's input paths into the sorted, de-duplicated set of files to
//! package, refusing anything that could reach outside the package root.

use std::collections::BTreeMap;
use std::fs;
use std::io;
use std::path::{Component, Path, PathBuf};

use walkdir::WalkDir;

use crate::MANIFEST_NAME;
use crate::error::{Error, Result, io_err};

/// A file to package: its path inside the package and where to read it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Input {
    /// `/`-separated path inside the package.
    pub(crate) name: String,
    /// The resolved file on disk (symlinks followed).
    pub(crate) source: PathBuf,
}

/// Resolves `paths` under `root` into files sorted by name (byte order), each once.
pub(crate) fn collect(root: &Path, paths: &[String]) -> Result<Vec<Input>> {
    let root = fs::canonicalize(root).map_err(io_err("resolving the package root", root))?;
    let mut files = BTreeMap::new();
    for raw in paths {
        let name = normalise(raw)?;
        let full = root.join(&name);
        let target = match fs::canonicalize(&full) {
            Ok(target) => target,
            Err(e) if e.kind() == io::ErrorKind::NotFound => {
                return Err(Error::Missing {
                    path: raw.clone(),
                    root: root.clone(),
                });
            }
            Err(e) => return Err(io_err("resolving", &full)(e)),
        };
        check_inside(&root, raw, &target)?;
        let meta = fs::metadata(&target).map_err(io_err("reading metadata of", &target))?;
        if meta.is_file() {
            add(&mut files, name, target)?;
        } else if meta.is_dir() {
            walk(&root, &full, &name, &mut files)?;
        } else {
            return Err(unsupported(raw));
        }
    }
    Ok(files
        .into_iter()
        .map(|(name, source)| Input { name, source })
        .collect())
}

/// Adds every file under the directory `full` (named `name` in the package).
fn walk(root: &Path, full: &Path, name: &str, files: &mut BTreeMap<String, PathBuf>) -> Result<()> {
    for entry in WalkDir::new(full).follow_links(true) {
        let entry = entry.map_err(|e| {
            let path = e.path().unwrap_or(full).to_path_buf();
            io_err("walking", &path)(e.into())
        })?;
        if entry.file_type().is_dir() {
            continue;
        }
        let sub = entry
            .path()
            .strip_prefix(full)
            .expect("walkdir yields paths under its root");
        let mut parts: Vec<&str> = Vec::new();
        if !name.is_empty() {
            parts.push(name);
        }
        for c in sub.components() {
            let part = c.as_os_str().to_str().ok_or_else(|| Error::InvalidPath {
                path: entry.path().display().to_string(),
                reason: "the file name is not valid UTF-8",
            })?;
            parts.push(part);
        }
        let file_name = parts.join("/");
        if !entry.file_type().is_file() {
            return Err(unsupported(&file_name));
        }
        let target = fs::canonicalize(entry.path()).map_err(io_err("resolving", entry.path()))?;
        check_inside(root, &file_name, &target)?;
        add(files, file_name, target)?;
    }
    Ok(())
}

fn add(files: &mut BTreeMap<String, PathBuf>, name: String, source: PathBuf) -> Result<()> {
    if name == MANIFEST_NAME {
        return Err(Error::InvalidPath {
            path: name,
            reason: "the name is reserved for the package manifest",
        });
    }
    files.insert(name, source);
    Ok(())
}

fn check_inside(root: &Path, name: &str, target: &Path) -> Result<()> {
    if target.starts_with(root) {
        Ok(())
    } else {
        Err(Error::Escapes {
            path: name.to_string(),
            target: target.to_path_buf(),
            root: root.to_path_buf(),
        })
    }
}

fn unsupported(name: &str) -> Error {
    Error::InvalidPath {
        path: name.to_string(),
        reason: "only regular files and directories can be packaged",
    }
}

/// Checks an input is relative without `..`; returns it `/`-joined without `.` parts
/// (empty for the root itself).
fn normalise(raw: &str) -> Result<String> {
    if raw.is_empty() {
        return Err(Error::InvalidPath {
            path: raw.to_string(),
            reason: "the path is empty (use `.` for the whole root)",
        });
    }
    let mut parts = Vec::new();
    for c in Path::new(raw).components() {
        match c {
            Component::Normal(part) => parts.push(part.to_str().expect("input is a String")),
            Component::CurDir => {}
            Component::ParentDir => {
                return Err(Error::ParentDir {
                    path: raw.to_string(),
                });
            }
            Component::RootDir | Component::Prefix(_) => {
                return Err(Error::Absolute {
                    path: raw.to_string(),
                });
            }
        }
    }
    Ok(parts.join("/"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn normalise_strips_dots_and_refuses_escapes() {
        assert_eq!(normalise("./a//b/./c").unwrap(), "a/b/c");
        assert_eq!(normalise(".").unwrap(), "");
        assert!(matches!(normalise("a/../b"), Err(Error::ParentDir { .. })));
        assert!(matches!(
            normalise("/etc/passwd"),
            Err(Error::Absolute { .. })
        ));
        assert!(matches!(normalise(""), Err(Error::InvalidPath { .. })));
    }

    #[test]
    fn collect_sorts_and_deduplicates() {
        let dir = tempfile::tempdir().unwrap();
        fs::create_dir_all(dir.path().join("d/e")).unwrap();
        fs::write(dir.path().join("d/e/z"), "z").unwrap();
        fs::write(dir.path().join("d/a"), "a").unwrap();
        fs::write(dir.path().join("b"), "b").unwrap();
        let paths = ["d", "b", "d/a", "./b"].map(String::from);
        let names: Vec<_> = collect(dir.path(), &paths)
            .unwrap()
            .into_iter()
            .map(|i| i.name)
            .collect();
        assert_eq!(names, ["b", "d/a", "d/e/z"]);
    }
}
