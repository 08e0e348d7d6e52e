//! Reading a layer spec's sources into a sorted entry list, and splitting it into
//! sub-layers by a stable hash of each path.
//!
//! Only what the image needs survives from the disk: the path, the type, the permission
//! bits and the content (or link target). Owners, times and extended attributes are
//! replaced by fixed values when the tar is written, so a checkout on another machine
//! builds the same layer. The stat fields kept in [`Stamp`] serve only the build cache.

use std::collections::{BTreeMap, HashMap};
use std::fs;
use std::os::unix::fs::MetadataExt;
use std::path::{Component, Path, PathBuf};

use super::{LayerSpec, PART_TARGET_BYTES};
use crate::{Error, Result};

/// Mode of parent directories that the spec implies but no source provides.
const IMPLIED_DIR_MODE: u32 = 0o755;

/// What an entry is.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Kind {
    /// A directory.
    Dir,
    /// A regular file read from `src`; hard links are stored as separate copies.
    File { src: PathBuf, size: u64 },
    /// A symbolic link, stored as it is (never followed).
    Symlink { target: PathBuf },
}

/// Stat fields that tell the cache whether an input may have changed.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub(crate) struct Stamp {
    pub mtime_ns: i128,
    pub ctime_ns: i128,
    pub ino: u64,
    pub dev: u64,
}

/// One tar entry of a layer.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Entry {
    /// The path in the image without a leading or trailing `/`.
    pub path: String,
    pub kind: Kind,
    /// Permission bits only (`0o777`): setuid, setgid and sticky are dropped, so a
    /// checkout cannot smuggle privilege bits into an image.
    pub mode: u32,
    pub stamp: Stamp,
}

impl Entry {
    /// Content bytes (0 for directories and links).
    pub fn size(&self) -> u64 {
        match self.kind {
            Kind::File { size, .. } => size,
            _ => 0,
        }
    }
}

/// Reads `spec.src` into the entries of its layer, sorted by path bytes, parent
/// directories included.
pub(crate) fn scan(spec: &LayerSpec) -> Result<Vec<Entry>> {
    let (dest, into_dir) = dest_components(&spec.dest)?;
    let meta =
        fs::metadata(&spec.src).map_err(|e| Error::io("cannot read layer source", &spec.src, e))?;
    let mut entries = Vec::new();
    if meta.is_dir() {
        let root = dest.join("/");
        if let Some((_, parents)) = dest.split_last() {
            implied_parents(parents, &mut entries);
        }
        if !root.is_empty() {
            entries.push(Entry {
                path: root.clone(),
                kind: Kind::Dir,
                mode: meta.mode() & 0o777,
                stamp: stamp(&meta),
            });
        }
        walk(&spec.src, &root, &mut entries)?;
    } else if meta.is_file() {
        let mut dest = dest;
        if into_dir || dest.is_empty() {
            let name = spec
                .src
                .file_name()
                .and_then(|n| n.to_str())
                .ok_or_else(|| {
                    Error::Invalid(format!(
                        "{}: the file name is not UTF-8",
                        spec.src.display()
                    ))
                })?;
            dest.push(name.to_owned());
        }
        implied_parents(&dest[..dest.len() - 1], &mut entries);
        entries.push(Entry {
            path: dest.join("/"),
            kind: Kind::File {
                src: spec.src.clone(),
                size: meta.len(),
            },
            mode: meta.mode() & 0o777,
            stamp: stamp(&meta),
        });
    } else {
        return Err(Error::Invalid(format!(
            "{}: a layer source must be a file or a directory",
            spec.src.display()
        )));
    }
    entries.sort_by(|a, b| a.path.as_bytes().cmp(b.path.as_bytes()));
    Ok(entries)
}

/// Splits a layer's entries into sub-layers: each file, link and directory goes to the
/// part `hash(path) mod n`, together with its parent directories. `n` is a power of two
/// derived from the total content size alone, so the split depends only on the tree,
/// never on earlier builds. Returns each non-empty part with its content bytes.
pub(crate) fn split(entries: &[Entry], max_parts: u32) -> Vec<(Vec<&Entry>, u64)> {
    let total: u64 = entries.iter().map(Entry::size).sum();
    let cap = u64::from(max_parts.max(1)).next_power_of_two();
    let cap = if cap > u64::from(max_parts.max(1)) {
        cap / 2
    } else {
        cap
    };
    let parts = total
        .div_ceil(PART_TARGET_BYTES)
        .max(1)
        .next_power_of_two()
        .min(cap);
    if parts == 1 {
        return vec![(entries.iter().collect(), total)];
    }
    let dirs: HashMap<&str, &Entry> = entries
        .iter()
        .filter(|e| e.kind == Kind::Dir)
        .map(|e| (e.path.as_str(), e))
        .collect();
    let mut buckets: Vec<(BTreeMap<&[u8], &Entry>, u64)> =
        (0..parts).map(|_| (BTreeMap::new(), 0)).collect();
    for e in entries {
        let (bucket, bytes) = &mut buckets[(fnv1a(e.path.as_bytes()) % parts) as usize];
        *bytes += e.size();
        bucket.insert(e.path.as_bytes(), e);
        let mut p = e.path.as_str();
        while let Some(i) = p.rfind('/') {
            p = &p[..i];
            if let Some(d) = dirs.get(p) {
                bucket.insert(p.as_bytes(), d);
            }
        }
    }
    buckets
        .into_iter()
        .filter(|(b, _)| !b.is_empty())
        .map(|(b, bytes)| (b.into_values().collect(), bytes))
        .collect()
}

/// FNV-1a, 64 bits: stable across platforms and releases, unlike std's hasher.
fn fnv1a(bytes: &[u8]) -> u64 {
    bytes.iter().fold(0xcbf2_9ce4_8422_2325, |h, &b| {
        (h ^ u64::from(b)).wrapping_mul(0x0100_0000_01b3)
    })
}

/// The destination's path components, and whether it names a directory (ends in `/`).
fn dest_components(dest: &str) -> Result<(Vec<String>, bool)> {
    let mut parts = Vec::new();
    for c in dest.split('/') {
        match c {
            "" | "." => {}
            ".." => {
                return Err(Error::Invalid(format!(
                    "layer destination `{dest}` must not contain `..`"
                )));
            }
            c => parts.push(c.to_owned()),
        }
    }
    Ok((parts, dest.ends_with('/')))
}

/// Entries for `dirs`'s ancestors and itself: `a/b` gives `a` and `a/b`.
fn implied_parents(dirs: &[String], out: &mut Vec<Entry>) {
    for i in 1..=dirs.len() {
        out.push(Entry {
            path: dirs[..i].join("/"),
            kind: Kind::Dir,
            mode: IMPLIED_DIR_MODE,
            stamp: Stamp::default(),
        });
    }
}

fn stamp(meta: &fs::Metadata) -> Stamp {
    Stamp {
        mtime_ns: i128::from(meta.mtime()) * 1_000_000_000 + i128::from(meta.mtime_nsec()),
        ctime_ns: i128::from(meta.ctime()) * 1_000_000_000 + i128::from(meta.ctime_nsec()),
        ino: meta.ino(),
        dev: meta.dev(),
    }
}

/// Adds everything below `src` (not `src` itself) under the image path `root`.
fn walk(src: &Path, root: &str, out: &mut Vec<Entry>) -> Result<()> {
    for item in walkdir::WalkDir::new(src).min_depth(1).follow_links(false) {
        let item = item.map_err(|e| {
            let path = e.path().unwrap_or(src).to_owned();
            Error::io("cannot read", path, e.into())
        })?;
        let rel = item.path().strip_prefix(src).unwrap_or(item.path());
        let rel_str = rel.to_str().ok_or_else(|| {
            Error::Invalid(format!("{}: the path is not UTF-8", item.path().display()))
        })?;
        let path = if root.is_empty() {
            rel_str.to_owned()
        } else {
            format!("{root}/{rel_str}")
        };
        let meta = item
            .metadata()
            .map_err(|e| Error::io("cannot read", item.path(), e.into()))?;
        let ft = meta.file_type();
        let kind = if ft.is_dir() {
            Kind::Dir
        } else if ft.is_file() {
            Kind::File {
                src: item.path().to_owned(),
                size: meta.len(),
            }
        } else if ft.is_symlink() {
            let target = fs::read_link(item.path())
                .map_err(|e| Error::io("cannot read the symlink", item.path(), e))?;
            check_link(item.path(), rel, &target)?;
            Kind::Symlink { target }
        } else {
            return Err(Error::Invalid(format!(
                "{}: sockets, fifos and device files cannot go into a layer",
                item.path().display()
            )));
        };
        out.push(Entry {
            path,
            kind,
            mode: meta.mode() & 0o777,
            stamp: stamp(&meta),
        });
    }
    Ok(())
}

/// Refuses a relative link that climbs out of the source tree: in the image it would
/// point at something this layer does not provide, which is nearly always a link into
/// the build machine's checkout. Absolute targets name paths inside the image and are
/// kept; they are never followed at build time.
fn check_link(link: &Path, rel: &Path, target: &Path) -> Result<()> {
    if target.is_absolute() {
        return Ok(());
    }
    let mut depth = rel.components().count() as i64 - 1;
    for c in target.components() {
        match c {
            Component::ParentDir => depth -= 1,
            Component::Normal(_) => depth += 1,
            _ => {}
        }
        if depth < 0 {
            return Err(Error::Invalid(format!(
                "{}: the symlink target `{}` points outside the layer source; hint: copy the \
                 file instead, or use an absolute target (it is resolved inside the image)",
                link.display(),
                target.display()
            )));
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn link_escape_is_measured_from_the_links_directory() {
        let l = Path::new("l");
        assert!(check_link(l, Path::new("a/b/l"), Path::new("../x")).is_ok());
        assert!(check_link(l, Path::new("a/l"), Path::new("../x")).is_ok());
        assert!(check_link(l, Path::new("a/l"), Path::new("../../x")).is_err());
        assert!(check_link(l, Path::new("l"), Path::new("../x")).is_err());
        assert!(check_link(l, Path::new("a/l"), Path::new("b/../../x")).is_ok());
        assert!(check_link(l, Path::new("a/l"), Path::new("../../a/x")).is_err());
        assert!(check_link(l, Path::new("l"), Path::new("/etc/passwd")).is_ok());
    }

    #[test]
    fn split_is_a_power_of_two_capped_and_keeps_parents() {
        let mut entries = vec![Entry {
            path: "app".into(),
            kind: Kind::Dir,
            mode: 0o755,
            stamp: Stamp::default(),
        }];
        for i in 0..100 {
            entries.push(Entry {
                path: format!("app/f{i:03}"),
                kind: Kind::File {
                    src: "x".into(),
                    size: 1024 * 1024,
                },
                mode: 0o644,
                stamp: Stamp::default(),
            });
        }
        let parts = split(&entries, 48);
        assert!(parts.len() <= 32 && parts.len() > 16, "{}", parts.len());
        for (p, _) in &parts {
            assert_eq!(p[0].path, "app");
        }
        assert_eq!(split(&entries, 1).len(), 1);
        assert_eq!(split(&entries[..3], 64).len(), 1);
    }
}
