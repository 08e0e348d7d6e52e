//! The job cache: `cache: { key, paths, restore-keys }`, as GitHub Actions' and GitLab's
//! caches behave, kept on this machine.
//!
//! A job's key is its pipeline, its job (matrix cell), the platform, and one hash per `key:`
//! glob over the files it matches (path and content), written
//! `PIPELINE/JOB/OS-ARCH/H1/H2…`. An entry with that exact key restores; otherwise the newest
//! entry whose key starts with a `restore-keys:` prefix (a leading part of the `key:` list)
//! does. After a successful job whose key missed, its `paths` are saved under its key.
//!
//! Entries are manifests over content-addressed objects (`objects/AB/SHA256`), so a file
//! shared by two entries is stored once. A restore copies objects out (never links them: by
//! `copy_file_range`, which shares extents copy-on-write where the file system can), so a
//! job that changes a restored file never changes the cache. A manifest is written to a
//! temporary name and renamed: readers see a whole entry or none, also when two runs save
//! one key at once. Saving and restoring hold a shared lock on the cache; pruning (the
//! size cap, `wharf cache prune|rm`) holds it exclusively, so no object goes while a run
//! reads or writes it. The total size is capped (default 5 GiB): least recently used entries
//! go first.

use std::collections::HashSet;
use std::fs::File;
use std::io::Read;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::sync::Mutex;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::SystemTime;

use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

use crate::artifacts;
use crate::fs_error::{IoError, io_err, walk_err};

/// The default cap on the cache's total size: 5 GiB.
pub const DEFAULT_MAX_BYTES: u64 = 5 << 30;

/// The variable that sets the cap (`500M`, `5G`, or bytes).
pub const MAX_SIZE_ENV: &str = "WHARF_CACHE_MAX_SIZE";

/// A cache operation failed.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// A file operation failed.
    #[error(transparent)]
    Io(#[from] IoError),
    /// A `paths:` or `key:` entry the job cannot use.
    #[error("{0}")]
    Invalid(String),
}

/// The result type of this module.
pub type Result<T> = std::result::Result<T, Error>;

/// A job's cache declaration, as the plan carries it.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Spec {
    /// Globs of files whose content makes up the key, in order.
    pub key: Vec<String>,
    /// Files and directories (globs allowed) saved and restored, relative to the workspace.
    pub paths: Vec<String>,
    /// Fallbacks, best first: each a leading part of `key`.
    pub restore_keys: Vec<Vec<String>>,
}

/// A computed key.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Key {
    /// `PIPELINE/JOB/OS-ARCH/H1/H2…`.
    pub key: String,
    /// The prefixes a miss falls back to, best first (each ends with `/`).
    pub restore: Vec<String>,
    /// Key globs that matched no file (the key is made of the other parts).
    pub unmatched: Vec<String>,
    /// Matches of key globs left out of the key: outside the workspace, or not files.
    pub left_out: Vec<artifacts::LeftOut>,
}

/// What a restore found.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Restored {
    /// The entry with the job's exact key.
    Exact {
        /// Files written.
        files: usize,
        /// Their bytes.
        bytes: u64,
    },
    /// The newest entry matching a restore key.
    Fallback {
        /// The key of the entry restored.
        key: String,
        /// Files written.
        files: usize,
        /// Their bytes.
        bytes: u64,
    },
    /// Nothing matched.
    Miss,
}

/// What a save did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Saved {
    /// Saved under the job's key.
    Stored {
        /// Files in the entry.
        files: usize,
        /// Their bytes.
        bytes: u64,
        /// Bytes that were not in the cache before (the rest was shared).
        new_bytes: u64,
        /// Entries evicted to stay under the cap.
        evicted: usize,
        /// Paths not saved because they lead outside the workspace.
        left_out: Vec<artifacts::LeftOut>,
    },
    /// Not saved, and why (over the cap, nothing to save).
    Skipped(String),
}

/// One entry, as `wharf cache list` shows it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct EntryInfo {
    /// Its key.
    pub key: String,
    /// Files in it.
    pub files: usize,
    /// Their bytes (shared objects counted in every entry that has them).
    pub bytes: u64,
    /// When it was saved (ms since the epoch).
    pub created_at: i64,
    /// When it was last restored or saved (ms since the epoch).
    pub used_at: i64,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
enum Item {
    Dir {
        path: String,
        mode: u32,
    },
    File {
        path: String,
        mode: u32,
        sha256: String,
        size: u64,
    },
    Symlink {
        path: String,
        target: String,
    },
}

#[derive(Debug, Serialize, Deserialize)]
struct Manifest {
    key: String,
    created_at: i64,
    bytes: u64,
    items: Vec<Item>,
}

/// The job cache of one machine (or project): `DIR/objects`, `DIR/entries`.
#[derive(Debug, Clone)]
pub struct JobCache {
    dir: PathBuf,
    max_bytes: u64,
}

impl JobCache {
    /// The cache in `dir`, capped at `max_bytes` in total.
    pub fn new(dir: impl Into<PathBuf>, max_bytes: u64) -> JobCache {
        JobCache {
            dir: dir.into(),
            max_bytes,
        }
    }

    /// The cap on its total size.
    pub fn max_bytes(&self) -> u64 {
        self.max_bytes
    }

    /// Computes the key of a job: `scope` is `PIPELINE/JOB`.
    pub fn key(workspace: &Path, scope: &str, spec: &Spec) -> Result<Key> {
        let mut key = format!(
            "{scope}/{}-{}",
            std::env::consts::OS,
            std::env::consts::ARCH
        );
        let mut prefixes = vec![format!("{key}/")];
        let mut unmatched = Vec::new();
        let mut left_out = Vec::new();
        for glob in &spec.key {
            let found = artifacts::collect(workspace, std::slice::from_ref(glob), false)
                .map_err(|e| Error::Invalid(e.to_string()))?;
            left_out.extend(found.left_out);
            let found = found.files;
            if found.is_empty() {
                unmatched.push(glob.clone());
            }
            let mut h = Sha256::new();
            for f in &found {
                h.update(f.rel.as_bytes());
                h.update([0]);
                h.update(hash_file(&f.abs)?.as_bytes());
                h.update([0]);
            }
            let hex = hex(&h.finalize());
            key.push('/');
            key.push_str(&hex[..16]);
            prefixes.push(format!("{key}/"));
        }
        let restore = spec
            .restore_keys
            .iter()
            .filter(|r| spec.key.starts_with(r))
            .map(|r| prefixes[r.len()].clone())
            .collect();
        Ok(Key {
            key,
            restore,
            unmatched,
            left_out,
        })
    }

    fn entries(&self) -> PathBuf {
        self.dir.join("entries")
    }

    fn objects(&self) -> PathBuf {
        self.dir.join("objects")
    }

    fn entry_path(&self, key: &str) -> PathBuf {
        self.entries().join(format!(
            "{}.json",
            &hex(&Sha256::digest(key.as_bytes()))[..32]
        ))
    }

    fn object_path(&self, sha: &str) -> PathBuf {
        self.objects().join(&sha[..2]).join(sha)
    }

    fn lock(&self, exclusive: bool) -> Result<File> {
        std::fs::create_dir_all(&self.dir).map_err(io_err("creating", &self.dir))?;
        let path = self.dir.join("lock");
        let f = File::create(&path).map_err(io_err("opening", &path))?;
        if exclusive { f.lock() } else { f.lock_shared() }.map_err(io_err("locking", &path))?;
        Ok(f)
    }

    /// Restores the entry for `key` (or the newest one matching a restore prefix) into
    /// `workspace`.
    pub fn restore(&self, key: &Key, workspace: &Path) -> Result<Restored> {
        let _shared = self.lock(false)?;
        let (manifest, exact) = match self.read(&self.entry_path(&key.key)) {
            Some(m) if m.key == key.key => (m, true),
            _ => match self.newest_matching(&key.restore) {
                Some(m) => (m, false),
                None => return Ok(Restored::Miss),
            },
        };
        let files = self.write_out(&manifest, workspace)?;
        touch(&self.entry_path(&manifest.key));
        Ok(if exact {
            Restored::Exact {
                files,
                bytes: manifest.bytes,
            }
        } else {
            Restored::Fallback {
                key: manifest.key,
                files,
                bytes: manifest.bytes,
            }
        })
    }

    fn read(&self, path: &Path) -> Option<Manifest> {
        let text = std::fs::read(path).ok()?;
        serde_json::from_slice(&text).ok()
    }

    /// The most recently saved entry whose key starts with the first prefix that any
    /// entry has.
    fn newest_matching(&self, prefixes: &[String]) -> Option<Manifest> {
        if prefixes.is_empty() {
            return None;
        }
        let all = self.all();
        for prefix in prefixes {
            let best = all
                .iter()
                .filter(|(m, _, _)| m.key.starts_with(prefix.as_str()))
                .max_by_key(|(m, _, _)| m.created_at);
            if let Some((m, _, _)) = best {
                return self.read(&self.entry_path(&m.key));
            }
        }
        None
    }

    /// Every readable entry with its manifest path and last use.
    fn all(&self) -> Vec<(Manifest, PathBuf, SystemTime)> {
        let Ok(items) = std::fs::read_dir(self.entries()) else {
            return Vec::new();
        };
        let mut out = Vec::new();
        for item in items.flatten() {
            let path = item.path();
            if path.extension().is_none_or(|e| e != "json") {
                continue;
            }
            let used = item
                .metadata()
                .and_then(|m| m.modified())
                .unwrap_or(SystemTime::UNIX_EPOCH);
            if let Some(m) = self.read(&path) {
                out.push((m, path, used));
            }
        }
        out
    }

    /// Writes the entry's directories, links and files into `workspace`. Each directory
    /// is checked (no symlink on the way leads out) and made once, however many files it
    /// holds: a restore is thousands of small files, and its cost is their syscalls.
    fn write_out(&self, manifest: &Manifest, workspace: &Path) -> Result<usize> {
        let mut files = Vec::new();
        let mut made: HashSet<PathBuf> = HashSet::new();
        for item in &manifest.items {
            match item {
                Item::Dir { path, mode } => {
                    let dest = relative(workspace, path)?;
                    ensure_dir(workspace, &dest, path, &mut made)?;
                    let _ = std::fs::set_permissions(&dest, std::fs::Permissions::from_mode(*mode));
                }
                Item::Symlink { path, target } => {
                    let dest = relative(workspace, path)?;
                    if let Some(dir) = dest.parent() {
                        ensure_dir(workspace, dir, path, &mut made)?;
                    }
                    let _ = std::fs::remove_file(&dest);
                    std::os::unix::fs::symlink(target, &dest)
                        .map_err(io_err("creating the link", &dest))?;
                }
                Item::File {
                    path,
                    mode,
                    sha256,
                    size,
                } => {
                    let dest = relative(workspace, path)?;
                    if let Some(dir) = dest.parent() {
                        ensure_dir(workspace, dir, path, &mut made)?;
                    }
                    files.push((dest, *mode, sha256, *size));
                }
            }
        }
        let umask = current_umask();
        crate::parallel::for_each(&files, |(dest, mode, sha256, size)| {
            copy_out(&self.object_path(sha256), dest, *mode, *size, umask)
        })?;
        Ok(files.len())
    }

    /// Saves `paths` of `workspace` under `key`, then keeps the cache under its cap.
    pub fn save(&self, key: &Key, workspace: &Path, paths: &[String]) -> Result<Saved> {
        let (items, left_out) = walk(workspace, paths)?;
        let bytes: u64 = items
            .iter()
            .map(|(i, _)| match i {
                Item::File { size, .. } => *size,
                _ => 0,
            })
            .sum();
        if items.is_empty() {
            let mut why = format!("nothing to save: {} matched no file", paths.join(", "));
            for l in &left_out {
                why.push_str(&format!("; {l}"));
            }
            return Ok(Saved::Skipped(why));
        }
        if bytes > self.max_bytes {
            return Ok(Saved::Skipped(format!(
                "{} is over the cache's cap of {} (WHARF_CACHE_MAX_SIZE)",
                human(bytes),
                human(self.max_bytes)
            )));
        }
        let new_bytes = AtomicUsize::new(0);
        let hashed = {
            let _shared = self.lock(false)?;
            let objects = self.objects();
            std::fs::create_dir_all(&objects).map_err(io_err("creating", &objects))?;
            let done: Mutex<Vec<Item>> = Mutex::new(Vec::with_capacity(items.len()));
            crate::parallel::for_each(&items, |(item, abs)| {
                let item = match (item, abs) {
                    (
                        Item::File {
                            path, mode, size, ..
                        },
                        Some(abs),
                    ) => {
                        let (sha, added) = self.put(abs)?;
                        if added {
                            new_bytes.fetch_add(*size as usize, Ordering::Relaxed);
                        }
                        Item::File {
                            path: path.clone(),
                            mode: *mode,
                            sha256: sha,
                            size: *size,
                        }
                    }
                    (other, _) => other.clone(),
                };
                done.lock().unwrap_or_else(|p| p.into_inner()).push(item);
                Ok::<(), Error>(())
            })?;
            let mut items = done.into_inner().unwrap_or_else(|p| p.into_inner());
            items.sort_by(|a, b| item_path(a).cmp(item_path(b)));
            let manifest = Manifest {
                key: key.key.clone(),
                created_at: crate::now_ms(),
                bytes,
                items,
            };
            self.write_manifest(&manifest)?;
            manifest
                .items
                .iter()
                .filter(|i| matches!(i, Item::File { .. }))
                .count()
        };
        let evicted = self.prune_to(self.max_bytes, Some(&key.key))?;
        Ok(Saved::Stored {
            files: hashed,
            bytes,
            new_bytes: new_bytes.into_inner() as u64,
            evicted,
            left_out,
        })
    }

    fn write_manifest(&self, m: &Manifest) -> Result<()> {
        let entries = self.entries();
        std::fs::create_dir_all(&entries).map_err(io_err("creating", &entries))?;
        let path = self.entry_path(&m.key);
        let tmp = entries.join(format!(
            ".tmp-{}-{}",
            std::process::id(),
            TMP.fetch_add(1, Ordering::Relaxed)
        ));
        let text = serde_json::to_vec(m).map_err(|e| Error::Invalid(e.to_string()))?;
        std::fs::write(&tmp, text).map_err(io_err("writing", &tmp))?;
        std::fs::rename(&tmp, &path).map_err(io_err("renaming", &tmp))?;
        Ok(())
    }

    /// Stores a file's content; returns its sha256 and whether it was new.
    fn put(&self, src: &Path) -> Result<(String, bool)> {
        let sha = hash_file(src)?;
        let dest = self.object_path(&sha);
        if dest.exists() {
            return Ok((sha, false));
        }
        let dir = dest.parent().unwrap_or(&self.dir);
        std::fs::create_dir_all(dir).map_err(io_err("creating", dir))?;
        let tmp = dir.join(format!(
            ".tmp-{}-{}",
            std::process::id(),
            TMP.fetch_add(1, Ordering::Relaxed)
        ));
        std::fs::copy(src, &tmp).map_err(io_err("caching", src))?;
        // The copy is checked: a file that changed while it was hashed is not stored under
        // the wrong name.
        if hash_file(&tmp)? != sha {
            let _ = std::fs::remove_file(&tmp);
            return Err(Error::Invalid(format!(
                "{} changed while it was being cached",
                src.display()
            )));
        }
        std::fs::rename(&tmp, &dest).map_err(io_err("renaming", &tmp))?;
        Ok((sha, true))
    }

    /// Every entry, most recently used first.
    pub fn list(&self) -> Vec<EntryInfo> {
        let mut out: Vec<EntryInfo> = self
            .all()
            .into_iter()
            .map(|(m, _, used)| EntryInfo {
                files: m
                    .items
                    .iter()
                    .filter(|i| matches!(i, Item::File { .. }))
                    .count(),
                key: m.key,
                bytes: m.bytes,
                created_at: m.created_at,
                used_at: millis(used),
            })
            .collect();
        out.sort_by(|a, b| b.used_at.cmp(&a.used_at).then(a.key.cmp(&b.key)));
        out
    }

    /// Removes the entries whose key starts with `prefix` (every entry for `""`); returns
    /// how many.
    pub fn remove(&self, prefix: &str) -> Result<usize> {
        let _excl = self.lock(true)?;
        let mut n = 0;
        for (m, path, _) in self.all() {
            if m.key.starts_with(prefix) {
                std::fs::remove_file(&path).map_err(io_err("removing", &path))?;
                n += 1;
            }
        }
        self.collect_garbage()?;
        Ok(n)
    }

    /// Evicts least recently used entries until the objects fit in `max_bytes` (never
    /// `keep`); returns how many went.
    pub fn prune_to(&self, max_bytes: u64, keep: Option<&str>) -> Result<usize> {
        let _excl = self.lock(true)?;
        let mut total = self.objects_size();
        if total <= max_bytes {
            return Ok(0);
        }
        let mut all = self.all();
        all.sort_by_key(|(_, _, used)| *used);
        let mut evicted = 0;
        for (m, path, _) in all {
            if total <= max_bytes {
                break;
            }
            if Some(m.key.as_str()) == keep {
                continue;
            }
            std::fs::remove_file(&path).map_err(io_err("removing", &path))?;
            evicted += 1;
            total = self.collect_garbage()?;
        }
        Ok(evicted)
    }

    /// Removes objects no entry names; returns the bytes left. Call with the lock held
    /// exclusively.
    fn collect_garbage(&self) -> Result<u64> {
        let mut referenced = HashSet::new();
        for (m, _, _) in self.all() {
            for i in m.items {
                if let Item::File { sha256, .. } = i {
                    referenced.insert(sha256);
                }
            }
        }
        let mut left = 0;
        for item in walkdir::WalkDir::new(self.objects())
            .min_depth(2)
            .into_iter()
            .flatten()
        {
            let name = item.file_name().to_string_lossy().into_owned();
            let size = item.metadata().map_or(0, |m| m.len());
            if referenced.contains(&name) {
                left += size;
            } else {
                let _ = std::fs::remove_file(item.path());
            }
        }
        Ok(left)
    }

    fn objects_size(&self) -> u64 {
        walkdir::WalkDir::new(self.objects())
            .min_depth(2)
            .into_iter()
            .flatten()
            .filter_map(|e| e.metadata().ok())
            .filter(|m| m.is_file())
            .map(|m| m.len())
            .sum()
    }
}

static TMP: AtomicUsize = AtomicUsize::new(0);

fn item_path(i: &Item) -> &str {
    match i {
        Item::Dir { path, .. } | Item::File { path, .. } | Item::Symlink { path, .. } => path,
    }
}

/// Makes `dir` (on the way to `rel`, under `root`) a directory, with its parents, unless
/// `made` has it; refuses it when a symlink on the way leads outside `root` (a checkout can
/// hold a link where the entry had a directory). One `lstat` per directory: a directory
/// below checked ones is safe unless it is itself a link, and only a link is resolved.
fn ensure_dir(root: &Path, dir: &Path, rel: &str, made: &mut HashSet<PathBuf>) -> Result<()> {
    if made.contains(dir) || dir == root {
        return Ok(());
    }
    if let Some(parent) = dir.parent()
        && parent.starts_with(root)
    {
        ensure_dir(root, parent, rel, made)?;
    }
    match dir.symlink_metadata() {
        Ok(m) if m.is_dir() => {}
        Ok(m) if m.file_type().is_symlink() => {
            checked_dir(root, dir, rel)?;
            std::fs::create_dir_all(dir).map_err(io_err("creating", dir))?;
        }
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => match std::fs::create_dir(dir) {
            Err(e) if e.kind() != std::io::ErrorKind::AlreadyExists => {
                return Err(io_err("creating", dir)(e).into());
            }
            _ => {}
        },
        // A file where the entry has a directory: what `mkdir` says of it.
        Ok(_) => {
            std::fs::create_dir(dir).map_err(io_err("creating", dir))?;
        }
        Err(e) => return Err(io_err("reading", dir)(e).into()),
    }
    made.insert(dir.to_path_buf());
    Ok(())
}

/// `rel` under `root`, refused when it is absolute or has `..`.
fn relative(root: &Path, rel: &str) -> Result<PathBuf> {
    artifacts::check_relative(rel).map_err(|e| Error::Invalid(e.to_string()))?;
    Ok(root.join(rel))
}

/// Refuses `dir` (on the way to `rel`) when a symlink takes it outside `root`.
fn checked_dir(root: &Path, dir: &Path, rel: &str) -> Result<()> {
    match artifacts::lands_outside(root, dir) {
        Some(real) => Err(Error::Invalid(format!(
            "`{rel}` would be restored outside the workspace, through a symlink to {}: refused",
            real.display()
        ))),
        None => Ok(()),
    }
}

/// Copies a cached object of `size` bytes to `dest` with `mode`: a new file (`O_EXCL`, so
/// never written through a link left at its place; whatever is there is removed first), its
/// bytes by `copy_file_range` (shared extents where the file system has them), and its mode
/// set again only where `umask` took bits off at creation or the mode has special bits.
fn copy_out(src: &Path, dest: &Path, mode: u32, size: u64, umask: u32) -> Result<()> {
    use std::os::unix::fs::OpenOptionsExt;
    let create = || {
        std::fs::OpenOptions::new()
            .write(true)
            .create_new(true)
            .mode(mode & 0o7777)
            .open(dest)
    };
    let mut to = match create() {
        Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => {
            std::fs::remove_file(dest).map_err(io_err("replacing", dest))?;
            create()
        }
        other => other,
    }
    .map_err(io_err("restoring the cached file to", dest))?;
    let mut from = File::open(src).map_err(io_err("restoring the cached file", src))?;
    let mut copied = 0u64;
    while copied < size {
        let left = usize::try_from(size - copied).unwrap_or(usize::MAX);
        match rustix::fs::copy_file_range(&from, None, &to, None, left) {
            Ok(0) => break,
            Ok(n) => copied += n as u64,
            // Not between these two files (another file system, an old kernel): a copy
            // through memory, from where it stopped.
            Err(_) => {
                std::io::copy(&mut from, &mut to)
                    .map_err(io_err("restoring the cached file", src))?;
                break;
            }
        }
    }
    // Also for setuid, setgid and sticky bits: a write by a user without CAP_FSETID
    // clears the first two.
    if mode & 0o7777 & umask != 0 || mode & 0o7000 != 0 {
        to.set_permissions(std::fs::Permissions::from_mode(mode))
            .map_err(io_err("setting the mode of", dest))?;
    }
    Ok(())
}

/// This process's file mode creation mask, from `/proc/self/status` (reading it with
/// `umask(2)` would change it for every thread meanwhile); all bits when unknown, so that
/// every mode is set explicitly.
fn current_umask() -> u32 {
    std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|s| {
            s.lines()
                .find_map(|l| l.strip_prefix("Umask:"))
                .and_then(|v| u32::from_str_radix(v.trim(), 8).ok())
        })
        .unwrap_or(0o7777)
}

/// What [`walk`] found (each file with where to read it) and what it left out.
type Walked = (Vec<(Item, Option<PathBuf>)>, Vec<artifacts::LeftOut>);

/// The files, links and directories `paths` name under `workspace` (links are kept as
/// links, never followed), each file with where to read it; and what was left out. A path
/// that leads outside the workspace through a symlinked directory (`vendor/lib` where
/// `vendor` links elsewhere) is left out, as artifacts are: the cache never holds a file
/// from outside. A path that *is* a link to outside is kept as that link.
fn walk(workspace: &Path, paths: &[String]) -> Result<Walked> {
    let root = workspace
        .canonicalize()
        .map_err(io_err("resolving the workspace", workspace))?;
    let mut out = Vec::new();
    let mut left_out = Vec::new();
    let mut seen = HashSet::new();
    for pattern in paths {
        artifacts::check_relative(pattern)
            .map_err(|e| Error::Invalid(e.to_string().replace("artifact paths", "cache paths")))?;
        let wild = pattern.contains(['*', '?', '[', '{']);
        let (rel_start, matcher) = if wild {
            let m = artifacts::matcher(pattern).map_err(|e| Error::Invalid(e.to_string()))?;
            (artifacts::literal_prefix(pattern), Some(m))
        } else {
            (PathBuf::from(pattern.trim_end_matches('/')), None)
        };
        let start = root.join(&rel_start);
        let Ok(meta) = start.symlink_metadata() else {
            continue;
        };
        // Where the walk starts, and every directory on the way, must be inside. A start
        // that is itself a link out is kept as that link (when named) and never followed.
        let real_parent = match rel_start.parent() {
            Some(p) if !p.as_os_str().is_empty() => root.join(p).canonicalize().ok(),
            _ => None,
        };
        let real_start = start.canonicalize().ok();
        let inside = real_start.as_ref().is_some_and(|r| r.starts_with(&root));
        let outside = match (real_parent, &real_start) {
            (Some(p), _) if !p.starts_with(&root) => {
                Some(p.join(start.file_name().unwrap_or_default()))
            }
            (_, Some(r)) if wild && !inside => Some(r.clone()),
            _ => None,
        };
        if let Some(real) = outside {
            left_out.push(artifacts::LeftOut {
                rel: rel_start.to_string_lossy().into_owned(),
                why: artifacts::Why::Outside(real),
            });
            continue;
        }
        let follow = !meta.file_type().is_symlink() || inside;
        for e in walkdir::WalkDir::new(&start)
            .follow_links(false)
            .follow_root_links(follow)
            .sort_by_file_name()
        {
            let e = e.map_err(|e| walk_err::<Error>("reading", &start, e))?;
            let Ok(rel) = e.path().strip_prefix(&root) else {
                continue;
            };
            if let Some(m) = &matcher
                && !artifacts::matches_self_or_ancestor(m, rel)
            {
                continue;
            }
            let rel_s = rel.to_string_lossy().replace('\\', "/");
            if rel_s.is_empty() || !seen.insert(rel_s.clone()) {
                continue;
            }
            let meta = e
                .path()
                .symlink_metadata()
                .map_err(io_err("reading", e.path()))?;
            let mode = meta.permissions().mode() & 0o7777;
            let ft = meta.file_type();
            if ft.is_symlink() {
                let target = std::fs::read_link(e.path()).map_err(io_err("reading", e.path()))?;
                out.push((
                    Item::Symlink {
                        path: rel_s,
                        target: target.to_string_lossy().into_owned(),
                    },
                    None,
                ));
            } else if ft.is_dir() {
                out.push((Item::Dir { path: rel_s, mode }, None));
            } else if ft.is_file() {
                out.push((
                    Item::File {
                        path: rel_s,
                        mode,
                        sha256: String::new(),
                        size: meta.len(),
                    },
                    Some(e.path().to_path_buf()),
                ));
            }
        }
    }
    Ok((out, left_out))
}

fn hash_file(path: &Path) -> Result<String> {
    let mut f = File::open(path).map_err(io_err("reading", path))?;
    let mut h = Sha256::new();
    let mut buf = vec![0u8; 256 * 1024];
    loop {
        let n = f.read(&mut buf).map_err(io_err("reading", path))?;
        if n == 0 {
            break;
        }
        h.update(&buf[..n]);
    }
    Ok(hex(&h.finalize()))
}

fn hex(bytes: &[u8]) -> String {
    use std::fmt::Write;
    let mut s = String::with_capacity(bytes.len() * 2);
    for b in bytes {
        let _ = write!(s, "{b:02x}");
    }
    s
}

fn touch(path: &Path) {
    if let Ok(f) = File::options().append(true).open(path) {
        let _ = f.set_modified(SystemTime::now());
    }
}

fn millis(t: SystemTime) -> i64 {
    t.duration_since(SystemTime::UNIX_EPOCH)
        .map_or(0, |d| d.as_millis() as i64)
}

/// `1.5 MiB`-style sizes for messages.
pub fn human(bytes: u64) -> String {
    const UNITS: [&str; 5] = ["B", "KiB", "MiB", "GiB", "TiB"];
    let mut v = bytes as f64;
    let mut u = 0;
    while v >= 1024.0 && u < UNITS.len() - 1 {
        v /= 1024.0;
        u += 1;
    }
    if u == 0 {
        format!("{bytes} B")
    } else {
        format!("{v:.1} {}", UNITS[u])
    }
}

/// Parses a size: `500M`, `5G`, `5GiB`, `1024` (bytes).
pub fn parse_size(text: &str) -> Option<u64> {
    let t = text.trim();
    let split = t
        .find(|c: char| !c.is_ascii_digit() && c != '.')
        .unwrap_or(t.len());
    let (num, unit) = t.split_at(split);
    let n: f64 = num.parse().ok()?;
    let mult: u64 = match unit.trim().to_ascii_lowercase().as_str() {
        "" | "b" => 1,
        "k" | "kb" | "kib" => 1 << 10,
        "m" | "mb" | "mib" => 1 << 20,
        "g" | "gb" | "gib" => 1 << 30,
        "t" | "tb" | "tib" => 1 << 40,
        _ => return None,
    };
    (n >= 0.0).then_some((n * mult as f64) as u64)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn spec(key: &[&str], paths: &[&str], restore: &[&[&str]]) -> Spec {
        Spec {
            key: key.iter().map(|s| s.to_string()).collect(),
            paths: paths.iter().map(|s| s.to_string()).collect(),
            restore_keys: restore
                .iter()
                .map(|r| r.iter().map(|s| s.to_string()).collect())
                .collect(),
        }
    }

    fn write(p: &Path, rel: &str, text: &str) {
        let f = p.join(rel);
        std::fs::create_dir_all(f.parent().unwrap()).unwrap();
        std::fs::write(f, text).unwrap();
    }

    #[test]
    fn a_missed_key_saves_an_exact_hit_restores_a_fallback_takes_the_newest() {
        let t = tempfile::tempdir().unwrap();
        let cache = JobCache::new(t.path().join("cache"), DEFAULT_MAX_BYTES);
        let ws = t.path().join("ws");
        write(&ws, "requirements.txt", "flask==3\n");
        write(&ws, "noxfile.py", "v1\n");
        write(&ws, ".nox/env/lib/flask.py", "code\n");
        std::os::unix::fs::symlink("/usr/bin/python3", ws.join(".nox/env/python")).unwrap();
        let s = spec(
            &["requirements.txt", "noxfile.py"],
            &[".nox"],
            &[&["requirements.txt"], &[]],
        );
        let k1 = JobCache::key(&ws, "p/test", &s).unwrap();
        assert!(
            k1.key
                .starts_with(&format!("p/test/{}-", std::env::consts::OS))
        );
        assert_eq!(k1.key.matches('/').count(), 4);
        assert_eq!(cache.restore(&k1, &ws).unwrap(), Restored::Miss);
        let saved = cache.save(&k1, &ws, &s.paths).unwrap();
        assert!(matches!(saved, Saved::Stored { files: 1, .. }), "{saved:?}");

        // Exact: into a fresh workspace, file, mode and link as they were.
        let ws2 = t.path().join("ws2");
        write(&ws2, "requirements.txt", "flask==3\n");
        write(&ws2, "noxfile.py", "v1\n");
        let k = JobCache::key(&ws2, "p/test", &s).unwrap();
        assert_eq!(k, k1);
        assert_eq!(
            cache.restore(&k, &ws2).unwrap(),
            Restored::Exact { files: 1, bytes: 5 }
        );
        assert_eq!(
            std::fs::read_to_string(ws2.join(".nox/env/lib/flask.py")).unwrap(),
            "code\n"
        );
        assert_eq!(
            std::fs::read_link(ws2.join(".nox/env/python")).unwrap(),
            Path::new("/usr/bin/python3")
        );
        // A job changing the restored file does not change the cache.
        std::fs::write(ws2.join(".nox/env/lib/flask.py"), "patched").unwrap();
        let ws3 = t.path().join("ws3");
        write(&ws3, "requirements.txt", "flask==3\n");
        write(&ws3, "noxfile.py", "v2\n");
        let k3 = JobCache::key(&ws3, "p/test", &s).unwrap();
        assert_ne!(k3.key, k1.key);
        // Fallback on the requirements-only prefix.
        assert_eq!(
            cache.restore(&k3, &ws3).unwrap(),
            Restored::Fallback {
                key: k1.key.clone(),
                files: 1,
                bytes: 5
            }
        );
        assert_eq!(
            std::fs::read_to_string(ws3.join(".nox/env/lib/flask.py")).unwrap(),
            "code\n"
        );
        // Another job's or pipeline's entries never match.
        let other = JobCache::key(&ws3, "p/lint", &s).unwrap();
        let ws4 = t.path().join("ws4");
        std::fs::create_dir_all(&ws4).unwrap();
        assert_eq!(cache.restore(&other, &ws4).unwrap(), Restored::Miss);
    }

    #[test]
    fn shared_files_are_stored_once_and_the_cap_evicts_the_least_recently_used() {
        let t = tempfile::tempdir().unwrap();
        let cache = JobCache::new(t.path().join("cache"), 2400);
        let ws = t.path().join("ws");
        let s = spec(&["k"], &["big"], &[]);
        let save = |k: &str, a: &str, b: &str| {
            write(&ws, "k", k);
            write(&ws, "big/a", &a.repeat(500));
            write(&ws, "big/b", &b.repeat(500));
            let key = JobCache::key(&ws, "p/j", &s).unwrap();
            (cache.save(&key, &ws, &s.paths).unwrap(), key)
        };
        // Two entries sharing `b`: it is stored once.
        let (_, first) = save("0", "a", "b");
        let (_, second) = save("1", "c", "b");
        assert_eq!(cache.list().len(), 2);
        assert_eq!(cache.objects_size(), 1500, "b is stored once");
        // The first entry is used again, so the second is now the least recently used.
        std::thread::sleep(std::time::Duration::from_millis(20));
        touch(&cache.entry_path(&first.key));
        // A third entry goes over 2400 bytes: the least recently used entry goes, and the
        // object only it had.
        let (saved, third) = save("2", "d", "e");
        assert!(
            matches!(
                saved,
                Saved::Stored {
                    files: 2,
                    bytes: 1000,
                    new_bytes: 1000,
                    evicted: 1,
                    ref left_out,
                } if left_out.is_empty()
            ),
            "{saved:?}"
        );
        let left: Vec<String> = cache.list().into_iter().map(|e| e.key).collect();
        assert!(
            left.contains(&first.key) && left.contains(&third.key),
            "{left:?}"
        );
        assert!(!left.contains(&second.key), "{left:?}");
        assert_eq!(cache.objects_size(), 2000);
        // An entry over the cap is not saved, and says why.
        write(&ws, "big/c", &"f".repeat(4000));
        let k = JobCache::key(&ws, "p/j", &spec(&["big/c"], &["big"], &[])).unwrap();
        match cache.save(&k, &ws, &s.paths).unwrap() {
            Saved::Skipped(why) => assert!(why.contains("over the cache's cap"), "{why}"),
            other => panic!("{other:?}"),
        }
        assert_eq!(cache.remove("").unwrap(), 2);
        assert_eq!(cache.objects_size(), 0);
    }

    #[test]
    fn a_key_glob_matching_nothing_is_reported_and_paths_may_not_leave() {
        let t = tempfile::tempdir().unwrap();
        let ws = t.path();
        let k = JobCache::key(ws, "p/j", &spec(&["poetry.lock"], &[], &[])).unwrap();
        assert_eq!(k.unmatched, ["poetry.lock"]);
        let cache = JobCache::new(t.path().join("c"), DEFAULT_MAX_BYTES);
        let e = cache.save(&k, ws, &["../up".to_string()]).unwrap_err();
        assert!(
            e.to_string().contains("cache paths must stay inside"),
            "{e}"
        );
    }

    #[test]
    fn a_restore_replaces_what_is_in_place_and_keeps_modes() {
        let t = tempfile::tempdir().unwrap();
        let outside = t.path().join("outside");
        write(&outside, "target", "keep\n");
        let ws = t.path().join("ws");
        write(&ws, "lock", "1\n");
        write(&ws, "deps/bin/tool", "#!/bin/sh\n");
        write(&ws, "deps/private", "p\n");
        write(&ws, "deps/big", &"x".repeat(300_000));
        write(&ws, "one/two/three.txt", "3\n");
        let mode = |p: &Path| p.symlink_metadata().unwrap().permissions().mode() & 0o7777;
        let set = |p: &Path, m: u32| {
            std::fs::set_permissions(p, std::fs::Permissions::from_mode(m)).unwrap()
        };
        set(&ws.join("deps/bin/tool"), 0o755);
        set(&ws.join("deps/private"), 0o600);
        set(&ws.join("deps/big"), 0o664);
        let cache = JobCache::new(t.path().join("cache"), DEFAULT_MAX_BYTES);
        let s = spec(&["lock"], &["deps", "one/two/three.txt"], &[]);
        let key = JobCache::key(&ws, "p/j", &s).unwrap();
        assert!(matches!(
            cache.save(&key, &ws, &s.paths).unwrap(),
            Saved::Stored { files: 4, .. }
        ));

        // The places hold a link out, an older file, and nothing (no `one/two` yet).
        let ws2 = t.path().join("ws2");
        write(&ws2, "lock", "1\n");
        write(&ws2, "deps/private", "older, longer content\n");
        std::fs::create_dir_all(ws2.join("deps/bin")).unwrap();
        std::os::unix::fs::symlink(outside.join("target"), ws2.join("deps/bin/tool")).unwrap();
        assert!(matches!(
            cache.restore(&key, &ws2).unwrap(),
            Restored::Exact { files: 4, .. }
        ));
        assert_eq!(
            std::fs::read_to_string(outside.join("target")).unwrap(),
            "keep\n"
        );
        for (rel, m) in [
            ("deps/bin/tool", 0o755),
            ("deps/private", 0o600),
            ("deps/big", 0o664),
            ("one/two/three.txt", mode(&ws.join("one/two/three.txt"))),
        ] {
            let (a, b) = (ws.join(rel), ws2.join(rel));
            assert!(b.symlink_metadata().unwrap().is_file(), "{rel}");
            assert_eq!(
                std::fs::read(&a).unwrap(),
                std::fs::read(&b).unwrap(),
                "{rel}"
            );
            assert_eq!(mode(&b), m, "{rel}");
        }
    }

    #[test]
    fn a_restore_follows_a_link_that_stays_inside_and_refuses_one_deeper_that_leaves() {
        let t = tempfile::tempdir().unwrap();
        let ws = t.path().join("ws");
        write(&ws, "lock", "1\n");
        write(&ws, "deps/a/b/f.txt", "f\n");
        let cache = JobCache::new(t.path().join("cache"), DEFAULT_MAX_BYTES);
        let s = spec(&["lock"], &["deps"], &[]);
        let key = JobCache::key(&ws, "p/j", &s).unwrap();
        cache.save(&key, &ws, &s.paths).unwrap();

        // `deps` links to a directory of the workspace: restored through it.
        let ws2 = t.path().join("ws2");
        write(&ws2, "lock", "1\n");
        std::fs::create_dir_all(ws2.join("real")).unwrap();
        std::os::unix::fs::symlink("real", ws2.join("deps")).unwrap();
        cache.restore(&key, &ws2).unwrap();
        assert_eq!(
            std::fs::read_to_string(ws2.join("real/a/b/f.txt")).unwrap(),
            "f\n"
        );

        // A link two levels down that leads out is refused, and nothing is written there.
        let outside = t.path().join("outside");
        std::fs::create_dir_all(&outside).unwrap();
        let ws3 = t.path().join("ws3");
        write(&ws3, "lock", "1\n");
        std::fs::create_dir_all(ws3.join("deps/a")).unwrap();
        std::os::unix::fs::symlink(&outside, ws3.join("deps/a/b")).unwrap();
        let e = cache.restore(&key, &ws3).unwrap_err();
        assert!(e.to_string().contains("`deps/a/b"), "{e}");
        assert!(
            e.to_string()
                .contains("would be restored outside the workspace"),
            "{e}"
        );
        assert_eq!(std::fs::read_dir(&outside).unwrap().count(), 0);
    }

    #[test]
    fn no_file_from_outside_is_cached_or_written_through_a_link() {
        let t = tempfile::tempdir().unwrap();
        let outside = t.path().join("outside");
        write(&outside, "secret", "s\n");
        write(&outside, "lib/mod.py", "m\n");
        let ws = t.path().join("ws");
        write(&ws, "lock", "1\n");
        write(&ws, ".venv/ok.py", "ok\n");
        std::os::unix::fs::symlink(&outside, ws.join("vendor")).unwrap();
        std::os::unix::fs::symlink(outside.join("secret"), ws.join(".venv/python")).unwrap();
        let real = outside.canonicalize().unwrap();
        let cache = JobCache::new(t.path().join("cache"), DEFAULT_MAX_BYTES);
        let s = spec(
            &["lock", "vendor/*"],
            &["vendor", "vendor/lib", "vendor/*", ".venv"],
            &[],
        );
        let key = JobCache::key(&ws, "p/j", &s).unwrap();
        assert_eq!(key.unmatched, ["vendor/*"]);
        assert_eq!(key.left_out.len(), 1, "{key:?}");
        assert_eq!(
            key.left_out[0].to_string(),
            format!(
                "`vendor` leads to {}, outside the workspace: left out",
                real.display()
            )
        );
        let Saved::Stored {
            files, left_out, ..
        } = cache.save(&key, &ws, &s.paths).unwrap()
        else {
            panic!("not saved");
        };
        assert_eq!(files, 1, "only .venv/ok.py is a file to cache");
        let left: Vec<String> = left_out.iter().map(|l| l.to_string()).collect();
        assert_eq!(
            left,
            [
                format!(
                    "`vendor/lib` leads to {}, outside the workspace: left out",
                    real.join("lib").display()
                ),
                format!(
                    "`vendor` leads to {}, outside the workspace: left out",
                    real.display()
                ),
            ]
        );
        let manifest = cache.read(&cache.entry_path(&key.key)).unwrap();
        let paths: Vec<&str> = manifest.items.iter().map(item_path).collect();
        assert_eq!(paths, [".venv", ".venv/ok.py", ".venv/python", "vendor"]);
        assert!(
            manifest
                .items
                .iter()
                .all(|i| !matches!(i, Item::File { path, .. } if path.starts_with("vendor"))),
            "{paths:?}"
        );

        // Restoring into a checkout where `.venv` is a link out refuses the write.
        let ws2 = t.path().join("ws2");
        write(&ws2, "lock", "1\n");
        std::fs::create_dir_all(ws2.join("x")).unwrap();
        std::os::unix::fs::symlink(&outside, ws2.join(".venv")).unwrap();
        let e = cache.restore(&key, &ws2).unwrap_err();
        assert!(
            e.to_string()
                .contains("would be restored outside the workspace"),
            "{e}"
        );
        assert!(!outside.join("ok.py").exists());
    }

    #[test]
    fn sizes_parse_and_print() {
        assert_eq!(parse_size("5G"), Some(5 << 30));
        assert_eq!(parse_size("512 MiB"), Some(512 << 20));
        assert_eq!(parse_size("1024"), Some(1024));
        assert_eq!(parse_size("lots"), None);
        assert_eq!(human(1536), "1.5 KiB");
    }
}
