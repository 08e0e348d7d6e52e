//! Workspaces: each job starts from the project as git sees it, and from nothing else.
//!
//! A CI runner gives every job a fresh checkout: tracked files, plus what the job's `needs`
//! pass on as artifacts. A local runner that lets jobs share the project directory lets a
//! pipeline pass on a laptop that fails on the server (a job reads a file another job left
//! without declaring it), and two runs at once overwrite each other's files. So a run lists
//! the project once ([`Snapshot::take`]: tracked files and untracked files that are not
//! ignored, uncommitted edits included) and every job gets its own copy of that list
//! ([`Workspaces::create`]), with the project's git metadata beside it when the project is
//! a repository's top level (its own `HEAD` and index, objects borrowed through git's
//! alternates), so `git describe` and `git status` answer as in a CI checkout.
//!
//! Copies go through `std::fs::copy`, which is `copy_file_range` on Linux: a reflink on
//! file systems that share extents (btrfs, XFS), an in-kernel copy elsewhere; files keep
//! their bytes and modes. Large trees are copied on every core.

use std::collections::{HashMap, HashSet};
use std::ffi::OsString;
use std::fs::File;
use std::io;
use std::os::unix::fs::{MetadataExt, PermissionsExt};
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, OnceLock};

use crate::fs_error::{IoError, io_err, walk_err};

/// Entries of the `.wharf` state directory: never part of a workspace (see
/// [`wharf_model::state::STATE_ENTRIES`]).
pub use wharf_model::state::STATE_ENTRIES;

/// Failure to list or copy the project.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// A file operation failed.
    #[error(transparent)]
    Io(#[from] IoError),
    /// `git ls-files` failed in a repository.
    #[error("listing the project's files with git in {}: {message}", path.display())]
    Git {
        /// The project.
        path: PathBuf,
        /// What git said.
        message: String,
    },
}

/// The result type of this module.
pub type Result<T> = std::result::Result<T, Error>;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Kind {
    File,
    Symlink,
    /// A directory to copy whole (a submodule's or a nested repository's checkout).
    Tree,
}

#[derive(Debug, Clone)]
struct Entry {
    /// Where it is read from.
    src: PathBuf,
    /// Where it goes, relative to the workspace.
    rel: PathBuf,
    kind: Kind,
}

/// The project's files as a fresh checkout would have them, listed once per run.
#[derive(Debug)]
pub struct Snapshot {
    entries: Vec<Entry>,
    /// Directories to create first, parents before children.
    dirs: Vec<PathBuf>,
    /// Whether the workspace gets a `.git` of its own.
    git: bool,
    /// The bytes of every file, for the figures a caller reports.
    bytes: u64,
    /// Which entry and directory names each directory holds (made for the first reset).
    layout: OnceLock<Layout>,
    /// The mode `materialize` gives directories (the process's umask decides it).
    dir_mode: OnceLock<u32>,
}

/// What a directory of a workspace holds: `rel dir -> [(name, node)]`.
#[derive(Debug, Default)]
struct Layout {
    children: HashMap<PathBuf, Vec<(OsString, Node)>>,
}

#[derive(Debug, Clone, Copy)]
enum Node {
    /// `entries[i]`.
    Entry(usize),
    /// A directory holding entries.
    Dir,
}

impl Layout {
    fn of(&self, rel: &Path) -> &[(OsString, Node)] {
        self.children.get(rel).map_or(&[], Vec::as_slice)
    }
}

impl Snapshot {
    /// Lists `root`: through `git ls-files` inside a repository (tracked files and untracked
    /// ones that are not ignored), every file but `.git` elsewhere; never the `.wharf` state.
    /// `scratch` is a directory this run owns (the git metadata template goes there).
    pub fn take(root: &Path, scratch: &Path) -> Result<Snapshot> {
        let mut entries = Vec::new();
        let repo = find_repo(root);
        match &repo {
            Some(_) => list_git(root, &mut entries)?,
            None => list_walk(root, &mut entries)?,
        }
        let git = match repo {
            Some(git_path) if git_path.parent() == Some(root) => {
                git_template(root, &git_path, scratch, &mut entries)?
            }
            _ => false,
        };
        let mut dirs = HashSet::new();
        let mut bytes = 0;
        for e in &entries {
            let mut p = e.rel.parent();
            while let Some(d) = p {
                if d.as_os_str().is_empty() || !dirs.insert(d.to_path_buf()) {
                    break;
                }
                p = d.parent();
            }
            if e.kind == Kind::File {
                bytes += std::fs::symlink_metadata(&e.src).map_or(0, |m| m.len());
            }
        }
        let mut dirs: Vec<PathBuf> = dirs.into_iter().collect();
        dirs.sort_by_key(|d| d.components().count());
        Ok(Snapshot {
            entries,
            dirs,
            git,
            bytes,
            layout: OnceLock::new(),
            dir_mode: OnceLock::new(),
        })
    }

    /// How many files and links a workspace gets.
    pub fn len(&self) -> usize {
        self.entries.len()
    }

    /// Whether the project has no files at all.
    pub fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }

    /// The bytes of regular files a workspace gets.
    pub fn bytes(&self) -> u64 {
        self.bytes
    }

    /// Whether workspaces get a `.git` (the project is a repository's top level).
    pub fn has_git(&self) -> bool {
        self.git
    }

    /// Copies the project into `dest` (which must not exist yet).
    pub fn materialize(&self, dest: &Path) -> Result<()> {
        std::fs::create_dir(dest).map_err(io_err("creating the workspace", dest))?;
        if self.dir_mode.get().is_none()
            && let Ok(m) = dest.symlink_metadata()
        {
            let _ = self.dir_mode.set(m.permissions().mode() & 0o7777);
        }
        for d in &self.dirs {
            let p = dest.join(d);
            match std::fs::create_dir(&p) {
                Ok(()) => {}
                Err(e) if e.kind() == io::ErrorKind::AlreadyExists => {}
                Err(e) => return Err(io_err("creating", &p)(e).into()),
            }
        }
        crate::parallel::for_each(&self.entries, |e| copy_entry(e, &dest.join(&e.rel)))
    }

    fn layout(&self) -> &Layout {
        self.layout.get_or_init(|| {
            let mut layout = Layout::default();
            let mut add = |rel: &Path, node: Node| {
                if let (Some(parent), Some(name)) = (rel.parent(), rel.file_name()) {
                    layout
                        .children
                        .entry(parent.to_path_buf())
                        .or_default()
                        .push((name.to_os_string(), node));
                }
            };
            for d in &self.dirs {
                add(d, Node::Dir);
            }
            for (i, e) in self.entries.iter().enumerate() {
                add(&e.rel, Node::Entry(i));
            }
            layout
        })
    }

    /// Brings `root`, a workspace made from this snapshot and handed to a job at `since`
    /// (a reading of the file system's clock, [`fs_clock`]), back to what [`materialize`]
    /// made: what the job added is removed, what it removed comes back, and every file,
    /// link or directory whose change time is not older than `since` is made again. A
    /// change time cannot be set by a process (writing, truncating, `chmod`, `chown`,
    /// linking and renaming all move it to the clock's present, and `touch` only sets the
    /// modification time), so an entry older than `since` is the one that was handed out.
    /// Only for workspaces no process can write to any more.
    ///
    /// [`materialize`]: Snapshot::materialize
    pub fn reset(&self, root: &Path, since: Stamp) -> Result<()> {
        let uid = root
            .symlink_metadata()
            .map_err(io_err("reading", root))?
            .uid();
        self.reset_dir(root, Path::new(""), since, uid)
    }

    fn reset_dir(&self, root: &Path, rel: &Path, since: Stamp, uid: u32) -> Result<()> {
        let layout = self.layout();
        let expected = layout.of(rel);
        let abs = root.join(rel);
        let meta = abs.symlink_metadata().map_err(io_err("reading", &abs))?;
        let mut made = HashSet::new();
        if Stamp::of(&meta) >= since {
            // Entries came or went (or the directory's mode changed): compare the listing.
            let mut present = HashSet::new();
            for item in std::fs::read_dir(&abs).map_err(io_err("listing", &abs))? {
                let item = item.map_err(io_err("listing", &abs))?;
                let name = item.file_name();
                if expected.iter().any(|(n, _)| *n == name) {
                    present.insert(name);
                } else {
                    remove_any(&item.path())?;
                }
            }
            for (name, node) in expected {
                if !present.contains(name) {
                    self.create_node(root, &rel.join(name), *node)?;
                    made.insert(name.clone());
                }
            }
            if let Some(&mode) = self.dir_mode.get()
                && meta.permissions().mode() & 0o7777 != mode
            {
                std::fs::set_permissions(&abs, std::fs::Permissions::from_mode(mode))
                    .map_err(io_err("setting the mode of", &abs))?;
            }
        }
        for &(ref name, node) in expected {
            if made.contains(name) {
                continue;
            }
            let child = rel.join(name);
            let path = root.join(&child);
            let Ok(m) = path.symlink_metadata() else {
                self.create_node(root, &child, node)?;
                continue;
            };
            let fresh = match node {
                Node::Dir => m.is_dir() && m.uid() == uid,
                Node::Entry(i) => match self.entries[i].kind {
                    Kind::File => m.is_file() && Stamp::of(&m) < since,
                    Kind::Symlink => m.is_symlink() && Stamp::of(&m) < since,
                    Kind::Tree => m.is_dir() && tree_older(&path, since)?,
                },
            };
            if !fresh {
                remove_any(&path)?;
                self.create_node(root, &child, node)?;
            } else if let Node::Dir = node {
                self.reset_dir(root, &child, since, uid)?;
            }
        }
        Ok(())
    }

    /// Makes `rel` (and, for a directory, everything in it) as `materialize` does.
    fn create_node(&self, root: &Path, rel: &Path, node: Node) -> Result<()> {
        let path = root.join(rel);
        match node {
            Node::Entry(i) => copy_entry(&self.entries[i], &path),
            Node::Dir => {
                std::fs::create_dir(&path).map_err(io_err("creating", &path))?;
                for (name, child) in self.layout().of(rel) {
                    self.create_node(root, &rel.join(name), *child)?;
                }
                Ok(())
            }
        }
    }
}

/// A reading of the clock a file system stamps changes with: an inode's change time.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub struct Stamp(i64, i64);

impl Stamp {
    fn of(m: &std::fs::Metadata) -> Stamp {
        Stamp(m.ctime(), m.ctime_nsec())
    }
}

/// The present on `dir`'s file system's clock, read once through a fresh [`FsClock`].
pub fn fs_clock(dir: &Path) -> io::Result<Stamp> {
    FsClock::open(dir)?.now()
}

/// Reads the clock a file system stamps changes with, later than the change time of every
/// inode changed so far: the change time of one unnamed file of its own, changed at each
/// reading. Read from the file system, not the system clock: the kernel stamps inodes from
/// a coarse clock that lags it by up to a tick, and files made in the same tick share a
/// change time. Where the kernel has fine-grained timestamps on demand (Linux 6.13 and
/// later on ext4, XFS, btrfs, tmpfs), changing a file whose change time was just read gets
/// a fine-grained one, and every later change is stamped no earlier: so a workspace made
/// just before is not taken as changed. Elsewhere a file made in the same tick counts as
/// changed and is copied again; never the reverse.
///
/// The file is made once and kept open: a new inode per reading cost two allocations per
/// job, and on a file system without a journal each allocation scans past the inodes freed
/// in the last seconds (`recently_deleted` in ext4), which a run frees by the hundred.
#[derive(Debug, Clone)]
pub struct FsClock(Arc<File>);

impl FsClock {
    /// An unnamed file in `dir` where the file system has them (`O_TMPFILE`), otherwise a
    /// named one removed at once; either way on `dir`'s file system, open until dropped.
    pub fn open(dir: &Path) -> io::Result<FsClock> {
        use rustix::fs::{Mode, OFlags};
        let file = match rustix::fs::open(
            dir,
            OFlags::WRONLY | OFlags::TMPFILE | OFlags::CLOEXEC,
            Mode::from_raw_mode(0o600),
        ) {
            Ok(fd) => File::from(fd),
            Err(_) => {
                let path = dir.join(format!(".clock-{}", std::process::id()));
                let file = File::create(&path);
                let _ = std::fs::remove_file(&path);
                file?
            }
        };
        Ok(FsClock(Arc::new(file)))
    }

    /// The present: the file's change time once it was changed twice, each time just
    /// after it was read. The kernel gives a fine-grained stamp on demand only when the
    /// coarse clock is not past the file's change time: the first change brings that
    /// time to the coarse present, the second then gets a fine-grained stamp, later than
    /// the change time of every file changed in the same tick before it.
    pub fn now(&self) -> io::Result<Stamp> {
        let f = &*self.0;
        // `chmod` moves the change time even when the mode stays the same.
        let mode = std::fs::Permissions::from_mode(0o400);
        f.metadata()?;
        f.set_permissions(mode.clone())?;
        f.metadata()?;
        f.set_permissions(mode)?;
        Ok(Stamp::of(&f.metadata()?))
    }
}

/// Whether nothing in the tree at `path` changed at or after `since` (a directory's change
/// time moves when an entry comes or goes).
fn tree_older(path: &Path, since: Stamp) -> Result<bool> {
    for item in walkdir::WalkDir::new(path) {
        let item = item.map_err(|e| walk_err::<Error>("reading", path, e))?;
        let m = item
            .metadata()
            .map_err(|e| walk_err::<Error>("reading", path, e))?;
        if Stamp::of(&m) >= since {
            return Ok(false);
        }
    }
    Ok(true)
}

/// Removes a file, a link or a whole directory.
fn remove_any(path: &Path) -> Result<()> {
    let is_dir = path.symlink_metadata().is_ok_and(|m| m.is_dir());
    let res = if is_dir {
        std::fs::remove_dir_all(path)
    } else {
        std::fs::remove_file(path)
    };
    match res {
        Err(e) if e.kind() != io::ErrorKind::NotFound => Err(io_err("removing", path)(e).into()),
        _ => Ok(()),
    }
}

fn copy_entry(e: &Entry, to: &Path) -> Result<()> {
    match e.kind {
        Kind::File => match std::fs::copy(&e.src, to) {
            Ok(_) => Ok(()),
            // Deleted since the listing (a tracked file removed in the working tree, or
            // gone while the run started): a checkout would not have it either.
            Err(err) if err.kind() == io::ErrorKind::NotFound => Ok(()),
            Err(err) => Err(io_err("copying", &e.src)(err).into()),
        },
        Kind::Symlink => {
            let target = std::fs::read_link(&e.src).map_err(io_err("reading the link", &e.src))?;
            std::os::unix::fs::symlink(&target, to).map_err(io_err("creating the link", to))?;
            Ok(())
        }
        Kind::Tree => copy_tree(&e.src, to),
    }
}

/// Copies a directory whole (except nested `.git` metadata).
fn copy_tree(src: &Path, to: &Path) -> Result<()> {
    for item in walkdir::WalkDir::new(src)
        .sort_by_file_name()
        .into_iter()
        .filter_entry(|d| d.file_name() != ".git")
    {
        let item = item.map_err(|e| walk_err::<Error>("reading", src, e))?;
        let rel = item.path().strip_prefix(src).unwrap_or(item.path());
        let dest = to.join(rel);
        let ft = item.file_type();
        if ft.is_dir() {
            match std::fs::create_dir(&dest) {
                Err(e) if e.kind() != io::ErrorKind::AlreadyExists => {
                    return Err(io_err("creating", &dest)(e).into());
                }
                _ => {}
            }
        } else {
            let kind = if ft.is_symlink() {
                Kind::Symlink
            } else if ft.is_file() {
                Kind::File
            } else {
                // A FIFO, socket or device: no checkout has one (git cannot track them),
                // and copying a FIFO would wait forever for a writer.
                continue;
            };
            let e = Entry {
                src: item.path().to_path_buf(),
                rel: rel.to_path_buf(),
                kind,
            };
            copy_entry(&e, &dest)?;
        }
    }
    Ok(())
}

/// The `.git` (directory or file) of the repository `root` is in, if any.
fn find_repo(root: &Path) -> Option<PathBuf> {
    root.ancestors()
        .map(|d| d.join(".git"))
        .find(|g| g.symlink_metadata().is_ok())
}

fn is_state(rel: &Path) -> bool {
    let mut c = rel.components();
    c.next().is_some_and(|first| first.as_os_str() == ".wharf")
        && c.next()
            .is_some_and(|second| STATE_ENTRIES.iter().any(|s| second.as_os_str() == *s))
}

fn list_git(root: &Path, entries: &mut Vec<Entry>) -> Result<()> {
    let mut cmd = Command::new("git");
    cmd.current_dir(root).args([
        "ls-files",
        "-z",
        "--cached",
        "--others",
        "--exclude-standard",
        "--deduplicate",
        "--",
        ".",
    ]);
    for s in STATE_ENTRIES {
        cmd.arg(format!(":(exclude).wharf/{s}"));
    }
    let out = cmd.output().map_err(|e| Error::Git {
        path: root.to_path_buf(),
        message: format!("cannot run git: {e}"),
    })?;
    if !out.status.success() {
        return Err(Error::Git {
            path: root.to_path_buf(),
            message: String::from_utf8_lossy(&out.stderr).trim().to_string(),
        });
    }
    for raw in out.stdout.split(|&b| b == 0).filter(|r| !r.is_empty()) {
        let rel = PathBuf::from(<std::ffi::OsStr as std::os::unix::ffi::OsStrExt>::from_bytes(raw));
        if is_state(&rel) {
            continue;
        }
        let src = root.join(&rel);
        // A tracked file deleted in the working tree is not there: as in a checkout of the
        // uncommitted state, the job does not get it.
        let Ok(meta) = src.symlink_metadata() else {
            continue;
        };
        let kind = if meta.is_symlink() {
            Kind::Symlink
        } else if meta.is_dir() {
            Kind::Tree
        } else if meta.is_file() {
            Kind::File
        } else {
            // Not something a checkout has (see `copy_tree`).
            continue;
        };
        entries.push(Entry { src, rel, kind });
    }
    Ok(())
}

fn list_walk(root: &Path, entries: &mut Vec<Entry>) -> Result<()> {
    let walk = walkdir::WalkDir::new(root)
        .min_depth(1)
        .sort_by_file_name()
        .into_iter()
        .filter_entry(|d| {
            let rel = d.path().strip_prefix(root).unwrap_or(d.path());
            d.file_name() != ".git" && !is_state(rel)
        });
    for item in walk {
        let item = item.map_err(|e| walk_err::<Error>("listing", root, e))?;
        let ft = item.file_type();
        if ft.is_dir() {
            continue;
        }
        let kind = if ft.is_symlink() {
            Kind::Symlink
        } else if ft.is_file() {
            Kind::File
        } else {
            continue;
        };
        let rel = item.path().strip_prefix(root).unwrap_or(item.path());
        entries.push(Entry {
            src: item.path().to_path_buf(),
            rel: rel.to_path_buf(),
            kind,
        });
    }
    Ok(())
}

/// Adds a `.git` for the workspace: the project's `HEAD`, index, config and refs, with its
/// objects reached through `objects/info/alternates` (nothing is copied from the object
/// store, and nothing a job does to its repository touches the project's).
fn git_template(
    root: &Path,
    git_path: &Path,
    scratch: &Path,
    entries: &mut Vec<Entry>,
) -> Result<bool> {
    let Some((git_dir, common)) = git_dirs(root, git_path) else {
        return Ok(false);
    };
    let objects = common.join("objects");
    if !objects.is_dir() {
        return Ok(false);
    }
    std::fs::create_dir_all(scratch).map_err(io_err("creating", scratch))?;
    let alternates = scratch.join("git-alternates");
    std::fs::write(&alternates, format!("{}\n", objects.display()))
        .map_err(io_err("writing", &alternates))?;
    let dot_git = Path::new(".git");
    entries.push(Entry {
        src: alternates,
        rel: dot_git.join("objects/info/alternates"),
        kind: Kind::File,
    });
    for (dir, name) in [
        (&git_dir, "HEAD"),
        (&git_dir, "index"),
        (&common, "config"),
        (&common, "packed-refs"),
        (&common, "shallow"),
    ] {
        let src = dir.join(name);
        if src.is_file() {
            entries.push(Entry {
                src,
                rel: dot_git.join(name),
                kind: Kind::File,
            });
        }
    }
    let refs = common.join("refs");
    if refs.is_dir() {
        entries.push(Entry {
            src: refs,
            rel: dot_git.join("refs"),
            kind: Kind::Tree,
        });
    }
    Ok(true)
}

/// The per-worktree git directory and the common one (objects, refs, config).
fn git_dirs(root: &Path, git_path: &Path) -> Option<(PathBuf, PathBuf)> {
    if git_path.is_dir() {
        return Some((git_path.to_path_buf(), git_path.to_path_buf()));
    }
    // A worktree or a submodule: `.git` is a file naming the directory.
    let text = std::fs::read_to_string(git_path).ok()?;
    let dir = text.strip_prefix("gitdir:")?.trim();
    let git_dir = root.join(dir);
    let common = match std::fs::read_to_string(git_dir.join("commondir")) {
        Ok(c) => git_dir.join(c.trim()),
        Err(_) => git_dir.clone(),
    };
    Some((git_dir, common))
}

/// The workspaces of one run: `.wharf/workspaces/RUN/JOB`, made from one snapshot.
///
/// A job's workspace is a fresh copy of the snapshot, or a workspace an earlier job of the
/// run used, reset to the snapshot ([`Workspaces::recycle`]): for a project of thousands
/// of files, resetting what one job changed costs a walk of the tree instead of a copy of
/// every byte, and what the next job sees is the same.
#[derive(Debug)]
pub struct Workspaces {
    snapshot: Arc<Snapshot>,
    dir: PathBuf,
    keep: bool,
    /// Removals and resets still going on in the background.
    removing: Mutex<Vec<tokio::task::JoinHandle<()>>>,
    /// Workspaces ready to be renamed into a job's place: copies made ahead of time (small
    /// projects only: there the copy's syscalls are the cost, and the next job need not
    /// wait for them) and workspaces reset after their job.
    spares: Arc<Mutex<Vec<Ready>>>,
    /// The workspaces handed to jobs, with the moment each was handed out at.
    handed: Mutex<HashMap<PathBuf, Stamp>>,
    /// Threads making spares.
    making: Mutex<Vec<std::thread::JoinHandle<()>>>,
    /// Names spares uniquely.
    spare_seq: AtomicUsize,
    /// Stamps the moment a workspace is handed out at.
    clock: FsClock,
    /// Held while the run lives: a later run removes this run's leftovers only once it can
    /// take the lock.
    _lock: File,
}

/// A workspace equal to the snapshot since `since`.
#[derive(Debug)]
struct Ready {
    path: PathBuf,
    since: Stamp,
}

/// At most this many workspaces wait for a job (each is a copy of the project).
const MAX_SPARES: usize = 8;

impl Workspaces {
    /// Lists the project and claims `state_dir/workspaces/RUN`. Leftovers of earlier runs
    /// that no live process holds are removed. `keep`: leave every workspace in place.
    pub fn prepare(project: &Path, state_dir: &Path, run: u64, keep: bool) -> Result<Workspaces> {
        let base = state_dir.join("workspaces");
        std::fs::create_dir_all(&base).map_err(io_err("creating", &base))?;
        prune(&base);
        let dir = base.join(run.to_string());
        // The lock first: another run's `prune` removes a run's directory whose lock it
        // can take, so the directory is made only once the lock is held.
        let lock_path = base.join(format!("{run}.lock"));
        let lock = hold(&lock_path)?;
        // A run number is used once, but a database reset could hand it out again.
        if dir.exists() {
            std::fs::remove_dir_all(&dir).map_err(io_err("removing the old", &dir))?;
        }
        std::fs::create_dir(&dir).map_err(io_err("creating", &dir))?;
        if keep {
            let marker = base.join(format!("{run}.keep"));
            File::create(&marker).map_err(io_err("creating", &marker))?;
        }
        let snapshot = Snapshot::take(project, &dir.join(".scratch"))?;
        let clock = FsClock::open(&dir).map_err(io_err("making a clock file in", &dir))?;
        let ws = Workspaces {
            snapshot: Arc::new(snapshot),
            dir,
            keep,
            removing: Mutex::new(Vec::new()),
            spares: Arc::default(),
            handed: Mutex::default(),
            making: Mutex::new(Vec::new()),
            spare_seq: AtomicUsize::new(0),
            clock,
            _lock: lock,
        };
        ws.make_spare();
        Ok(ws)
    }

    /// The snapshot workspaces are made from.
    pub fn snapshot(&self) -> &Snapshot {
        &self.snapshot
    }

    /// Whether workspaces stay after the run (`--keep-workspaces`).
    pub fn keep(&self) -> bool {
        self.keep
    }

    /// A fresh workspace for one attempt of `job` (an earlier attempt's is replaced).
    pub fn create(&self, job: &str) -> Result<PathBuf> {
        if let Some(ready) = self.take_ready(job) {
            return Ok(ready);
        }
        let dest = self.dir.join(slug(job));
        if dest.exists() {
            std::fs::remove_dir_all(&dest).map_err(io_err("removing the old", &dest))?;
        }
        self.snapshot.materialize(&dest)?;
        if let Ok(since) = self.clock.now() {
            lock(&self.handed).insert(dest.clone(), since);
        }
        self.make_spare();
        Ok(dest)
    }

    /// A workspace for `job` when one is ready and its place is free: a rename, quick
    /// enough for an async task; `None` when [`Workspaces::create`] must copy.
    pub fn take_ready(&self, job: &str) -> Option<PathBuf> {
        let dest = self.dir.join(slug(job));
        if dest.symlink_metadata().is_ok() {
            return None;
        }
        let spare = lock(&self.spares).pop()?;
        if std::fs::rename(&spare.path, &dest).is_err() {
            lock(&self.spares).push(spare);
            return None;
        }
        lock(&self.handed).insert(dest.clone(), spare.since);
        self.make_spare();
        Some(dest)
    }

    /// Starts making a spare copy in the background when the project is small and none
    /// is ready or on its way.
    fn make_spare(&self) {
        const SMALL_BYTES: u64 = 8 << 20;
        const SMALL_FILES: usize = 500;
        if self.keep || self.snapshot.bytes() > SMALL_BYTES || self.snapshot.len() > SMALL_FILES {
            return;
        }
        let mut making = lock(&self.making);
        making.retain(|h| !h.is_finished());
        let ready = lock(&self.spares).len();
        if ready + making.len() >= 1 {
            return;
        }
        let path = self.spare_path();
        let (snapshot, spares, clock) = (
            self.snapshot.clone(),
            self.spares.clone(),
            self.clock.clone(),
        );
        making.push(std::thread::spawn(move || {
            if snapshot.materialize(&path).is_ok()
                && let Ok(since) = clock.now()
            {
                lock(&spares).push(Ready { path, since });
            } else {
                let _ = std::fs::remove_dir_all(&path);
            }
        }));
    }

    fn spare_path(&self) -> PathBuf {
        let n = self.spare_seq.fetch_add(1, Ordering::Relaxed);
        self.dir.join(format!(".spare-{n}"))
    }

    /// Removes a job's workspace in the background, off the run's critical path.
    pub fn remove(&self, path: PathBuf) {
        lock(&self.handed).remove(&path);
        let handle = tokio::task::spawn_blocking(move || {
            let _ = std::fs::remove_dir_all(&path);
        });
        lock(&self.removing).push(handle);
    }

    /// After a job whose processes are all gone (nothing can write to its workspace any
    /// more): resets the workspace to the snapshot in the background and keeps it for a
    /// later job of the run ([`Snapshot::reset`]); removes it when that fails, when the
    /// file system's clock went back, or when enough are waiting already.
    pub fn recycle(&self, path: PathBuf) {
        let since = lock(&self.handed).remove(&path);
        let Some(since) = since.filter(|_| !self.keep && lock(&self.spares).len() < MAX_SPARES)
        else {
            return self.remove(path);
        };
        // Out of the job's name at once: a later job of the same name gets a place.
        let spare = self.spare_path();
        if std::fs::rename(&path, &spare).is_err() {
            return self.remove(path);
        }
        let (snapshot, spares, clock) = (
            self.snapshot.clone(),
            self.spares.clone(),
            self.clock.clone(),
        );
        let handle = tokio::task::spawn_blocking(move || {
            let clock_ok = clock.now().is_ok_and(|now| now >= since);
            if clock_ok
                && snapshot.reset(&spare, since).is_ok()
                && let Ok(now) = clock.now()
            {
                lock(&spares).push(Ready {
                    path: spare,
                    since: now,
                });
            } else {
                let _ = std::fs::remove_dir_all(&spare);
            }
        });
        lock(&self.removing).push(handle);
    }

    /// Waits for the removals, then removes the run's directory unless a workspace is
    /// left in it (a failed job's, or every one with `--keep-workspaces`).
    pub async fn finish(&self) {
        let pending = std::mem::take(&mut *lock(&self.removing));
        for h in pending {
            let _ = h.await;
        }
        let making = std::mem::take(&mut *lock(&self.making));
        let spares = self.spares.clone();
        let _ = tokio::task::spawn_blocking(move || {
            for h in making {
                let _ = h.join();
            }
            for spare in lock(&spares).drain(..) {
                let _ = std::fs::remove_dir_all(spare.path);
            }
        })
        .await;
        let _ = std::fs::remove_dir_all(self.dir.join(".scratch"));
        if std::fs::remove_dir(&self.dir).is_ok()
            && let Some(base) = self.dir.parent()
            && let Some(name) = self.dir.file_name()
        {
            let _ = std::fs::remove_file(base.join(format!("{}.lock", name.to_string_lossy())));
        }
    }
}

/// Locks a mutex whose data stays consistent even if a holder panicked.
fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|p| p.into_inner())
}

impl Drop for Workspaces {
    // A spare still being made must be done before the run's lock goes, or a later run's
    // prune could race it.
    fn drop(&mut self) {
        for h in std::mem::take(&mut *lock(&self.making)) {
            let _ = h.join();
        }
    }
}

/// A directory name for a job id: `test (py=3.12)` becomes `test_py_3.12_`.
pub(crate) fn slug(id: &str) -> String {
    id.chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.') {
                c
            } else {
                '_'
            }
        })
        .collect()
}

/// Removes what earlier runs left (failed jobs' workspaces, a killed run's), except runs
/// still holding their lock and runs started with `--keep-workspaces`.
/// Takes the lock file at `path`, made if missing. A `prune` that found it free may remove
/// the file just as this locks it; a lock on a file no longer at `path` guards nothing, so
/// then it is taken again.
fn hold(path: &Path) -> Result<File> {
    loop {
        let file = File::create(path).map_err(io_err("creating", path))?;
        file.lock().map_err(io_err("locking", path))?;
        let held = file.metadata().map_err(io_err("reading", path))?;
        match std::fs::metadata(path) {
            Ok(now) if now.ino() == held.ino() && now.dev() == held.dev() => return Ok(file),
            Ok(_) => {}
            Err(e) if e.kind() == io::ErrorKind::NotFound => {}
            Err(e) => return Err(io_err("reading", path)(e).into()),
        }
    }
}

fn prune(base: &Path) {
    let Ok(items) = std::fs::read_dir(base) else {
        return;
    };
    for item in items.flatten() {
        let path = item.path();
        let Some(run) = path
            .file_name()
            .and_then(|n| n.to_str())
            .filter(|n| n.bytes().all(|b| b.is_ascii_digit()))
            .map(str::to_string)
        else {
            continue;
        };
        if base.join(format!("{run}.keep")).exists() {
            continue;
        }
        let lock_path = base.join(format!("{run}.lock"));
        let free = match File::create(&lock_path) {
            Ok(f) => f.try_lock().is_ok(),
            Err(_) => false,
        };
        if free {
            let _ = std::fs::remove_dir_all(&path);
            let _ = std::fs::remove_file(&lock_path);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::os::unix::fs::PermissionsExt;

    fn git(dir: &Path, args: &[&str]) {
        let ok = Command::new("git")
            .current_dir(dir)
            .args(["-c", "user.name=t", "-c", "user.email=t@localhost"])
            .args(args)
            .status()
            .expect("git runs")
            .success();
        assert!(ok, "git {args:?}");
    }

    fn files(dir: &Path) -> Vec<String> {
        let mut out: Vec<String> = walkdir::WalkDir::new(dir)
            .into_iter()
            .filter_entry(|e| e.file_name() != ".git")
            .flatten()
            .filter(|e| !e.file_type().is_dir())
            .map(|e| {
                e.path()
                    .strip_prefix(dir)
                    .unwrap()
                    .to_string_lossy()
                    .into_owned()
            })
            .collect();
        out.sort();
        out
    }

    #[test]
    fn a_git_project_gives_what_a_checkout_of_its_working_tree_gives() {
        let t = tempfile::tempdir().unwrap();
        let p = t.path().join("p");
        std::fs::create_dir_all(p.join("src")).unwrap();
        std::fs::create_dir_all(p.join(".wharf/logs/1")).unwrap();
        std::fs::create_dir_all(p.join("build")).unwrap();
        std::fs::write(p.join(".gitignore"), "build/\n").unwrap();
        std::fs::write(p.join("src/a.py"), "v1\n").unwrap();
        std::fs::write(p.join("gone.txt"), "x").unwrap();
        std::fs::write(p.join("run.sh"), "#!/bin/sh\n").unwrap();
        std::fs::set_permissions(p.join("run.sh"), std::fs::Permissions::from_mode(0o755)).unwrap();
        std::os::unix::fs::symlink("src/a.py", p.join("link")).unwrap();
        git(&p, &["init", "-q", "-b", "main"]);
        git(&p, &["add", "-A"]);
        git(&p, &["commit", "-qm", "one"]);
        git(&p, &["tag", "v1.0.0"]);
        // Uncommitted: an edit, a new file, a deletion, ignored output, wharf state.
        std::fs::write(p.join("src/a.py"), "v2\n").unwrap();
        std::fs::write(p.join("new.txt"), "n").unwrap();
        std::fs::remove_file(p.join("gone.txt")).unwrap();
        std::fs::write(p.join("build/out.bin"), "o").unwrap();
        std::fs::write(p.join(".wharf/logs/1/x.log"), "l").unwrap();
        std::fs::write(p.join(".wharf/ci.yml"), "version: 1").unwrap();

        let ws = Workspaces::prepare(&p, &p.join(".wharf"), 7, false).unwrap();
        assert!(ws.snapshot().has_git());
        let dest = ws.create("test (py=3.12)").unwrap();
        assert!(dest.ends_with(".wharf/workspaces/7/test__py_3.12_"));
        assert_eq!(
            files(&dest),
            [
                ".gitignore",
                ".wharf/ci.yml",
                "link",
                "new.txt",
                "run.sh",
                "src/a.py"
            ]
        );
        assert_eq!(
            std::fs::read_to_string(dest.join("src/a.py")).unwrap(),
            "v2\n"
        );
        let mode = std::fs::metadata(dest.join("run.sh"))
            .unwrap()
            .permissions()
            .mode();
        assert_eq!(mode & 0o777, 0o755);
        assert_eq!(
            std::fs::read_link(dest.join("link")).unwrap(),
            Path::new("src/a.py")
        );
        // Its own repository: history and tags read, status shows the uncommitted edit,
        // and a commit in the workspace leaves the project alone.
        let out = Command::new("git")
            .current_dir(&dest)
            .args(["describe", "--tags"])
            .output()
            .unwrap();
        assert_eq!(String::from_utf8_lossy(&out.stdout).trim(), "v1.0.0");
        let out = Command::new("git")
            .current_dir(&dest)
            .args(["status", "--porcelain"])
            .output()
            .unwrap();
        let status = String::from_utf8_lossy(&out.stdout);
        assert!(status.contains(" M src/a.py"), "{status}");
        git(&dest, &["commit", "-qam", "in the workspace"]);
        let out = Command::new("git")
            .current_dir(&p)
            .args(["log", "--oneline"])
            .output()
            .unwrap();
        assert_eq!(String::from_utf8_lossy(&out.stdout).lines().count(), 1);
        // A job changing its copy changes nothing in the project.
        std::fs::write(dest.join("src/a.py"), "changed by the job").unwrap();
        assert_eq!(std::fs::read_to_string(p.join("src/a.py")).unwrap(), "v2\n");
    }

    #[test]
    fn outside_git_every_file_but_the_state_is_copied() {
        let t = tempfile::tempdir().unwrap();
        let p = t.path();
        std::fs::create_dir_all(p.join(".wharf/artifacts")).unwrap();
        std::fs::create_dir_all(p.join("d/e")).unwrap();
        std::fs::write(p.join("d/e/f"), "f").unwrap();
        std::fs::write(p.join("wharf.yml"), "version: 1").unwrap();
        std::fs::write(p.join(".wharf/wharf.db"), "db").unwrap();
        std::fs::write(p.join(".wharf/artifacts/x"), "a").unwrap();
        let ws = Workspaces::prepare(p, &p.join(".wharf"), 1, false).unwrap();
        assert!(!ws.snapshot().has_git());
        let many: Vec<PathBuf> = (0..3)
            .map(|i| ws.create(&format!("j{i}")).unwrap())
            .collect();
        for d in &many {
            assert_eq!(files(d), ["d/e/f", "wharf.yml"]);
        }
        // A retry starts over.
        std::fs::write(many[0].join("left-by-attempt-1"), "x").unwrap();
        let again = ws.create("j0").unwrap();
        assert_eq!(files(&again), ["d/e/f", "wharf.yml"]);
    }

    #[test]
    fn a_later_run_removes_leftovers_of_finished_runs_only() {
        let t = tempfile::tempdir().unwrap();
        let p = t.path();
        std::fs::write(p.join("wharf.yml"), "version: 1").unwrap();
        let state = p.join(".wharf");
        let live = Workspaces::prepare(p, &state, 1, false).unwrap();
        let live_ws = live.create("a").unwrap();
        let kept = Workspaces::prepare(p, &state, 2, true).unwrap();
        let kept_ws = kept.create("a").unwrap();
        drop(kept);
        let dead = Workspaces::prepare(p, &state, 3, false).unwrap();
        let dead_ws = dead.create("a").unwrap();
        drop(dead);
        let _next = Workspaces::prepare(p, &state, 4, false).unwrap();
        assert!(live_ws.exists(), "a running run keeps its workspaces");
        assert!(kept_ws.exists(), "--keep-workspaces keeps them");
        assert!(!dead_ws.exists(), "a finished run's leftovers go");
    }

    #[tokio::test]
    async fn small_projects_get_a_copy_made_ahead_and_it_goes_at_the_end() {
        let t = tempfile::tempdir().unwrap();
        let p = t.path();
        std::fs::write(p.join("wharf.yml"), "version: 1").unwrap();
        let ws = Workspaces::prepare(p, &p.join(".wharf"), 3, false).unwrap();
        let run_dir = p.join(".wharf/workspaces/3");
        let wait_for = |name: &str| {
            let path = run_dir.join(name);
            let t = std::time::Instant::now();
            while !(path.join("wharf.yml").exists()
                && ws.spares.lock().unwrap().iter().any(|r| r.path == path))
            {
                assert!(
                    t.elapsed() < std::time::Duration::from_secs(10),
                    "no {name}"
                );
                std::thread::sleep(std::time::Duration::from_millis(5));
            }
        };
        wait_for(".spare-0");
        let a = ws.create("a").unwrap();
        assert!(
            !run_dir.join(".spare-0").exists(),
            "the spare became the workspace"
        );
        assert_eq!(files(&a), ["wharf.yml"]);
        wait_for(".spare-1");
        ws.remove(a);
        ws.finish().await;
        assert!(!run_dir.exists(), "spares and workspaces are gone");
    }

    /// Every file, link and directory under `dir` with its mode and the sha256 of its
    /// contents (or target).
    fn tree(dir: &Path) -> Vec<(String, u32, String)> {
        use sha2::Digest;
        let mut out: Vec<_> = walkdir::WalkDir::new(dir)
            .min_depth(1)
            .into_iter()
            .flatten()
            .map(|e| {
                let m = e.path().symlink_metadata().unwrap();
                let body = if m.is_symlink() {
                    std::fs::read_link(e.path())
                        .unwrap()
                        .into_os_string()
                        .into_encoded_bytes()
                } else if m.is_file() {
                    std::fs::read(e.path()).unwrap()
                } else {
                    Vec::new()
                };
                let rel = e.path().strip_prefix(dir).unwrap();
                let sum = format!("{:x}", sha2::Sha256::digest(&body));
                (rel.to_string_lossy().into_owned(), m.mode(), sum)
            })
            .collect();
        out.sort();
        out
    }

    #[tokio::test]
    async fn a_recycled_workspace_is_the_snapshot_again_whatever_the_job_did() {
        let t = tempfile::tempdir().unwrap();
        let p = t.path().join("p");
        // Over 500 files: no copy is made ahead, so the second job's workspace is the
        // first one's, reset.
        for i in 0..520 {
            let d = p.join(format!("d{}", i % 5));
            std::fs::create_dir_all(&d).unwrap();
            std::fs::write(d.join(format!("f{i}")), format!("{i}\n")).unwrap();
        }
        std::fs::create_dir_all(p.join("src/deep")).unwrap();
        std::fs::write(p.join("src/deep/a.py"), "a\n").unwrap();
        std::fs::write(p.join("run.sh"), "#!/bin/sh\n").unwrap();
        std::fs::set_permissions(p.join("run.sh"), std::fs::Permissions::from_mode(0o755)).unwrap();
        std::os::unix::fs::symlink("src/deep/a.py", p.join("link")).unwrap();
        git(&p, &["init", "-q", "-b", "main"]);
        git(&p, &["add", "-A"]);
        git(&p, &["commit", "-qm", "one"]);

        let ws = Workspaces::prepare(&p, &p.join(".wharf"), 5, false).unwrap();
        let a = ws.create("a").unwrap();
        let pristine = tree(&a);
        let kept_ino = a.join("d1/f1").symlink_metadata().unwrap().ino();
        // What a job might do, right away (within the clock's tick).
        std::fs::write(a.join("d0/f0"), "changed\n").unwrap();
        let f = std::fs::OpenOptions::new()
            .append(true)
            .open(a.join("d2/f2"))
            .unwrap();
        f.set_len(0).unwrap();
        drop(f);
        std::fs::set_permissions(a.join("run.sh"), std::fs::Permissions::from_mode(0o600)).unwrap();
        std::fs::set_permissions(a.join("d3"), std::fs::Permissions::from_mode(0o700)).unwrap();
        std::fs::remove_file(a.join("d4/f4")).unwrap();
        std::fs::remove_dir_all(a.join("src")).unwrap();
        std::fs::create_dir_all(a.join("build/lib")).unwrap();
        std::fs::write(a.join("build/lib/out.so"), "o").unwrap();
        std::fs::write(a.join("d1/new.txt"), "n").unwrap();
        std::fs::remove_file(a.join("link")).unwrap();
        std::os::unix::fs::symlink("/etc/passwd", a.join("link")).unwrap();
        std::fs::hard_link(a.join("d1/f6"), t.path().join("outside")).unwrap();
        git(&a, &["commit", "-qam", "in the job"]);
        ws.recycle(a.clone());
        assert!(!a.exists(), "the job's name is free at once");
        // Wait for the reset, then the next job gets that workspace.
        let pending = std::mem::take(&mut *lock(&ws.removing));
        for h in pending {
            h.await.unwrap();
        }
        let b = ws.create("b").unwrap();
        assert_eq!(
            b.join("d1/f1").symlink_metadata().unwrap().ino(),
            kept_ino,
            "an untouched file is not copied again"
        );
        assert_eq!(tree(&b), pristine);
        let out = Command::new("git")
            .current_dir(&b)
            .args(["log", "--oneline"])
            .output()
            .unwrap();
        assert_eq!(String::from_utf8_lossy(&out.stdout).lines().count(), 1);
        ws.remove(b);
        ws.finish().await;
    }

    #[test]
    fn the_clock_orders_a_file_made_between_two_readings() {
        let t = tempfile::tempdir().unwrap();
        let clock = FsClock::open(t.path()).unwrap();
        // Without fine-grained stamps on demand (before Linux 6.13), readings in one tick
        // are equal and a file made between them may share their stamp.
        let fine = clock.now().unwrap() < clock.now().unwrap();
        for i in 0..40 {
            let before = clock.now().unwrap();
            if i % 4 == 0 {
                // Into a new tick of the coarse clock: the clock file's change time is
                // then behind it, and the kernel would rather give a coarse stamp.
                std::thread::sleep(std::time::Duration::from_millis(5));
            }
            let file = t.path().join(format!("f{i}"));
            std::fs::write(&file, "x").unwrap();
            let made = Stamp::of(&file.symlink_metadata().unwrap());
            let after = clock.now().unwrap();
            assert!(
                made >= before,
                "a file made after a reading is not older than it"
            );
            if fine {
                assert!(
                    made < after,
                    "{i}: a file made before a reading is older than it"
                );
            }
        }
    }

    #[test]
    fn many_files_are_copied_in_parallel_byte_for_byte() {
        let t = tempfile::tempdir().unwrap();
        let p = t.path().join("p");
        for i in 0..300 {
            let d = p.join(format!("d{}", i % 7));
            std::fs::create_dir_all(&d).unwrap();
            std::fs::write(d.join(format!("f{i}")), vec![i as u8; i * 37]).unwrap();
        }
        let s = Snapshot::take(&p, &t.path().join("scratch")).unwrap();
        assert_eq!(s.len(), 300);
        let dest = t.path().join("ws");
        s.materialize(&dest).unwrap();
        for i in 0..300 {
            let rel = format!("d{}/f{i}", i % 7);
            assert_eq!(
                std::fs::read(dest.join(&rel)).unwrap(),
                std::fs::read(p.join(&rel)).unwrap()
            );
        }
    }
}
