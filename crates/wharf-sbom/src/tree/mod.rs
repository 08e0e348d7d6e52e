//! A directory tree as an SBOM: an image's root file system extracted from its layers,
//! or an unpacked release package.
//!
//! - Every regular file is listed with its SHA-1 and SHA-256. Symbolic links are not
//!   listed and never followed by the walk (their targets, when inside the tree, are
//!   listed as the files they are); devices, FIFOs and sockets are skipped too. Paths
//!   that are not UTF-8 are recorded lossily.
//! - The package databases are read through [`Root::resolve`], which follows symbolic
//!   links the way a process chrooted into the tree would (absolute targets start at the
//!   tree's root, `..` stops there), so nothing outside the tree is ever read and a
//!   merged-`/usr` image's `/bin/busybox` (dpkg's name) is matched with
//!   `usr/bin/busybox` (the file).
//! - Packages: Debian ([`dpkg`]), Alpine ([`apk`]), Python ([`dist_info`]); the operating
//!   system from `etc/os-release` (else `usr/lib/os-release`). The subject `CONTAINS`
//!   every package; each file names the first package that claims it (dpkg, then apk,
//!   then Python dists); `DEPENDS_ON` edges come from each database's dependency fields.

mod apk;
mod dist_info;
mod dpkg;
mod os_release;

use std::collections::{BTreeMap, VecDeque};
use std::fs;
use std::path::{Path, PathBuf};

use walkdir::WalkDir;

use crate::error::{Error, Result};
use crate::hash;
use crate::model::{File, Node, Package, Relationship, RelationshipKind, Sbom, Subject};

pub(crate) use os_release::OsRelease;

/// The SBOM of the tree at `root`, describing `subject` (see the module docs for what is
/// read and how).
pub fn from_tree(root: &Path, subject: Subject) -> Result<Sbom> {
    let meta = fs::metadata(root).map_err(|e| Error::io("reading", root, e))?;
    if !meta.is_dir() {
        return Err(Error::io(
            "reading",
            root,
            std::io::Error::new(std::io::ErrorKind::NotADirectory, "not a directory"),
        ));
    }
    let root = Root::new(root);
    let mut files = walk(&root)?;
    let os = OsRelease::read(&root)?;

    let mut found = dpkg::collect(&root, os.as_ref())?;
    found.extend(apk::collect(&root, os.as_ref())?);
    found.extend(dist_info::collect(&root, files.keys())?);

    let mut sbom = Sbom::new(subject);
    if let Some(os) = &os {
        let package = os.package();
        sbom.relationships.push(contains(&package));
        sbom.packages.push(package);
    }
    for f in &found {
        let key = f.package.key();
        for claimed in &f.files {
            if let Some(path) = root.resolve(claimed)
                && let Some(file) = files.get_mut(&path)
                && file.package.is_none()
            {
                file.package = Some(key.clone());
            }
        }
    }
    sbom.relationships
        .extend(found.iter().map(|f| contains(&f.package)));
    sbom.relationships.extend(depends_on(&found));
    sbom.packages.extend(found.into_iter().map(|f| f.package));
    sbom.files = files.into_values().collect();
    sbom.normalize();
    Ok(sbom)
}

/// A package found in a database, with what it claims and needs.
pub(crate) struct Found {
    pub package: Package,
    /// Paths it installed, relative to the tree's root, as the database names them.
    pub files: Vec<String>,
    /// Which packages can satisfy its dependencies: `group` must match.
    pub group: String,
    /// Names it answers to (its own and what it provides).
    pub names: Vec<String>,
    /// Its dependencies: each a list of alternatives, the first installed one wins.
    pub depends: Vec<Vec<String>>,
}

fn contains(p: &Package) -> Relationship {
    Relationship {
        from: Node::Subject,
        kind: RelationshipKind::Contains,
        to: Node::Package(p.key()),
    }
}

fn depends_on(found: &[Found]) -> Vec<Relationship> {
    let mut by_name: BTreeMap<(&str, &str), &Found> = BTreeMap::new();
    // Own names first, so a real package wins over another's `Provides:` of its name.
    for f in found {
        by_name.entry((&f.group, &f.names[0])).or_insert(f);
    }
    for f in found {
        for n in &f.names[1..] {
            by_name.entry((&f.group, n)).or_insert(f);
        }
    }
    let mut out = Vec::new();
    for f in found {
        for alternatives in &f.depends {
            let target = alternatives
                .iter()
                .find_map(|n| by_name.get(&(f.group.as_str(), n.as_str())));
            if let Some(t) = target {
                out.push(Relationship {
                    from: Node::Package(f.package.key()),
                    kind: RelationshipKind::DependsOn,
                    to: Node::Package(t.package.key()),
                });
            }
        }
    }
    out
}

/// Every regular file under the root, hashed, by relative path.
fn walk(root: &Root) -> Result<BTreeMap<String, File>> {
    let mut files = BTreeMap::new();
    for entry in WalkDir::new(&root.dir)
        .follow_links(false)
        .sort_by_file_name()
    {
        let entry = entry.map_err(|e| {
            let path = e.path().unwrap_or(&root.dir).to_owned();
            let source = e
                .into_io_error()
                .unwrap_or_else(|| std::io::Error::other("walking"));
            Error::io("walking", path, source)
        })?;
        if !entry.file_type().is_file() {
            continue;
        }
        let rel = entry
            .path()
            .strip_prefix(&root.dir)
            .expect("walkdir stays under its root");
        let rel = rel
            .components()
            .map(|c| c.as_os_str().to_string_lossy())
            .collect::<Vec<_>>()
            .join("/");
        let (sha1, sha256) = hash::both_of_file(entry.path())?;
        files.insert(
            rel.clone(),
            File {
                path: rel,
                sha1,
                sha256,
                package: None,
            },
        );
    }
    Ok(files)
}

/// Package databases and metadata files larger than this are refused, not read into
/// memory: an image's are a few megabytes.
const MAX_DATABASE: u64 = 256 * 1024 * 1024;

/// A tree read as if chrooted into it.
pub(crate) struct Root {
    dir: PathBuf,
}

impl Root {
    pub(crate) fn new(dir: &Path) -> Self {
        Self {
            dir: dir.to_owned(),
        }
    }

    /// Where `path` (relative, or absolute meaning from the tree's root) leads inside
    /// the tree once every symbolic link on the way is followed, as a relative path;
    /// `None` when it does not exist, loops, or is the root itself.
    pub(crate) fn resolve(&self, path: &str) -> Option<String> {
        let mut done: Vec<String> = Vec::new();
        let mut todo: VecDeque<String> = split(path).collect();
        let mut hops = 0;
        while let Some(part) = todo.pop_front() {
            match part.as_str() {
                "." => continue,
                ".." => {
                    done.pop();
                    continue;
                }
                _ => done.push(part),
            }
            let here = self.dir.join(done.join("/"));
            let meta = fs::symlink_metadata(&here).ok()?;
            if meta.file_type().is_symlink() {
                hops += 1;
                if hops > 40 {
                    return None;
                }
                let target = fs::read_link(&here).ok()?;
                let target = target.to_string_lossy();
                done.pop();
                if target.starts_with('/') {
                    done.clear();
                }
                for part in split(&target).collect::<Vec<_>>().into_iter().rev() {
                    todo.push_front(part);
                }
            }
        }
        (!done.is_empty()).then(|| done.join("/"))
    }

    /// The content of a file of the tree, `None` when it does not exist (or is not a file).
    pub(crate) fn read(&self, path: &str) -> Result<Option<String>> {
        let Some(rel) = self.resolve(path) else {
            return Ok(None);
        };
        let full = self.dir.join(&rel);
        let Ok(meta) = fs::metadata(&full) else {
            return Ok(None);
        };
        if !meta.is_file() {
            return Ok(None);
        }
        if meta.len() > MAX_DATABASE {
            return Err(Error::parse(
                &full,
                None,
                format!("{} bytes is too large for a package database", meta.len()),
            ));
        }
        let bytes = fs::read(&full).map_err(|e| Error::io("reading", &full, e))?;
        Ok(Some(String::from_utf8_lossy(&bytes).into_owned()))
    }

    /// Names in a directory of the tree, sorted; empty when it does not exist.
    pub(crate) fn list(&self, path: &str) -> Result<Vec<String>> {
        let Some(rel) = self.resolve(path) else {
            return Ok(Vec::new());
        };
        let full = self.dir.join(&rel);
        if !full.is_dir() {
            return Ok(Vec::new());
        }
        let mut names = Vec::new();
        for entry in fs::read_dir(&full).map_err(|e| Error::io("listing", &full, e))? {
            let entry = entry.map_err(|e| Error::io("listing", &full, e))?;
            names.push(entry.file_name().to_string_lossy().into_owned());
        }
        names.sort();
        Ok(names)
    }

    /// The path on disk of a tree path, for error messages.
    pub(crate) fn display(&self, path: &str) -> PathBuf {
        self.dir.join(path.trim_start_matches('/'))
    }
}

fn split(path: &str) -> impl Iterator<Item = String> + '_ {
    path.split('/').filter(|p| !p.is_empty()).map(str::to_owned)
}

/// `base/rel` normalised without touching the disk; `None` if `..` leaves the root.
pub(crate) fn join_lexical(base: &str, rel: &str) -> Option<String> {
    let mut out: Vec<&str> = Vec::new();
    let start = if rel.starts_with('/') { "" } else { base };
    for part in start.split('/').chain(rel.split('/')) {
        match part {
            "" | "." => {}
            ".." => {
                out.pop()?;
            }
            p => out.push(p),
        }
    }
    Some(out.join("/"))
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::os::unix::fs::symlink;

    #[test]
    fn resolve_follows_links_inside_the_root_only() {
        let dir = tempfile::tempdir().unwrap();
        let d = dir.path();
        fs::create_dir_all(d.join("usr/bin")).unwrap();
        fs::write(d.join("usr/bin/busybox"), "bb").unwrap();
        symlink("usr/bin", d.join("bin")).unwrap();
        symlink("/usr/bin/busybox", d.join("usr/bin/sh")).unwrap();
        symlink("../../../../../etc/passwd", d.join("usr/escape")).unwrap();
        symlink("loop", d.join("loop")).unwrap();
        let root = Root::new(d);
        assert_eq!(
            root.resolve("/bin/busybox").as_deref(),
            Some("usr/bin/busybox")
        );
        assert_eq!(root.resolve("bin/sh").as_deref(), Some("usr/bin/busybox"));
        assert_eq!(
            root.resolve("usr/escape"),
            None,
            "clamped at the root: <root>/etc/passwd"
        );
        assert_eq!(root.resolve("loop"), None);
        assert_eq!(root.resolve("/"), None);
    }

    #[test]
    fn lexical_join() {
        assert_eq!(
            join_lexical("usr/lib/py", "../../bin/x").as_deref(),
            Some("usr/bin/x")
        );
        assert_eq!(
            join_lexical("usr/lib/py", "/etc/x").as_deref(),
            Some("etc/x")
        );
        assert_eq!(join_lexical("usr", "../../x"), None);
    }
}
