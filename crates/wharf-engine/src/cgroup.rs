//! A cgroup (v2) for each running step, where the system gives one: every process a step
//! starts stays in its cgroup whatever it does (`setsid`, double forks, a new process
//! group), so the step's end, a timeout, a cancel and the watchdog stop all of them with
//! one write to `cgroup.kill`. A process group, the fallback, loses a child that calls
//! `setsid`.
//!
//! wharf makes `wharf-PID-START` under its own cgroup, and in it one `slot-N` per step running
//! at once, reused from step to step (creating a cgroup costs ~60 µs; joining one ~10 µs).
//! The step's process joins its slot right after it started (the parent moves it: a join
//! in the child would need `fork` instead of `posix_spawn`, ~4x the cost of a step), then
//! whatever it had already started, so nothing it forked in that moment stays out. No controller is needed, so this works in the unified hierarchy of a
//! hybrid system too. It needs write access to wharf's own cgroup: root, or a delegated
//! subtree (systemd's `Delegate=yes`, a user session's `user@.service`). Without it,
//! [`Cgroups::detect`] says why and steps are stopped by process group, as before.

use std::fs::File;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::sync::Mutex;
use std::sync::atomic::{AtomicUsize, Ordering};

/// This process's cgroup directory for steps, and its idle slots.
#[derive(Debug)]
pub(crate) struct Cgroups {
    base: PathBuf,
    idle: Mutex<Vec<Slot>>,
    made: AtomicUsize,
}

/// One step's cgroup.
#[derive(Debug)]
pub(crate) struct Slot {
    dir: PathBuf,
    procs: File,
    kill: File,
}

impl Cgroups {
    /// Makes this process's directory for step cgroups, or says why it cannot. Also
    /// removes what wharf processes that are gone left (after stopping what runs there).
    pub(crate) fn detect() -> Result<Cgroups, String> {
        let own = own_cgroup_dir()?;
        prune(&own);
        // Named by pid *and* start time: pids are recycled (every 32,768 processes on a
        // default system), and a directory a dead wharf left must never pass for ours.
        let me = std::process::id();
        let base = own.join(format!("wharf-{me}-{}", start_time(me).unwrap_or(0)));
        match std::fs::create_dir(&base) {
            Ok(()) => {}
            Err(e) => {
                return Err(format!(
                    "cannot create a cgroup in {}: {e} (needs root or a delegated cgroup)",
                    own.display()
                ));
            }
        }
        if !base.join("cgroup.kill").exists() {
            let _ = std::fs::remove_dir(&base);
            return Err("the kernel has no cgroup.kill (Linux 5.14 or later has)".into());
        }
        Ok(Cgroups {
            base,
            idle: Mutex::new(Vec::new()),
            made: AtomicUsize::new(0),
        })
    }

    /// An empty cgroup for a step: an idle one, or a new one. `None` when none can be made.
    pub(crate) fn take(&self) -> Option<(Slot, bool)> {
        if let Some(slot) = self.idle.lock().ok().and_then(|mut idle| idle.pop()) {
            return Some((slot, false));
        }
        let n = self.made.fetch_add(1, Ordering::Relaxed);
        let dir = self.base.join(format!("slot-{n}"));
        std::fs::create_dir(&dir).ok()?;
        let open = |name: &str| std::fs::OpenOptions::new().write(true).open(dir.join(name));
        match (open("cgroup.procs"), open("cgroup.kill")) {
            (Ok(procs), Ok(kill)) => Some((Slot { dir, procs, kill }, true)),
            _ => {
                let _ = std::fs::remove_dir(&dir);
                None
            }
        }
    }

    /// Takes back a slot whose processes were killed.
    pub(crate) fn give(&self, slot: Slot) {
        if let Ok(mut idle) = self.idle.lock() {
            idle.push(slot);
        }
    }
}

impl Slot {
    /// Moves process `pid` into this cgroup, then what it had already started (found in
    /// `/proc/PID/task/*/children` once it is inside, recursively): called right after the
    /// spawn, so a step that forked before the move, even into a new session, cannot stay
    /// out. Everything started after a process's move is born inside.
    pub(crate) fn add(&mut self, pid: u32) -> std::io::Result<()> {
        self.procs.write_all(pid.to_string().as_bytes())?;
        let mut todo = children(pid);
        let mut seen = 0;
        while let Some(child) = todo.pop() {
            // Bounded: a fork bomb is the step's own business once it is inside.
            seen += 1;
            if seen > 4096 {
                break;
            }
            if self.procs.write_all(child.to_string().as_bytes()).is_ok() {
                todo.extend(children(child));
            }
        }
        Ok(())
    }

    /// SIGKILLs every process in the cgroup (none is the usual case at a step's end).
    pub(crate) fn kill(&mut self) {
        let _ = self.kill.write_all(b"1");
    }

    /// The cgroup's directory (what the watchdog is told).
    pub(crate) fn dir(&self) -> &Path {
        &self.dir
    }
}

impl Drop for Cgroups {
    fn drop(&mut self) {
        let slots = match self.idle.get_mut() {
            Ok(idle) => std::mem::take(idle),
            Err(p) => std::mem::take(p.into_inner()),
        };
        for mut slot in slots {
            slot.kill();
            remove_when_empty(&slot.dir);
        }
        remove_when_empty(&self.base);
    }
}

/// Removes a cgroup directory once its killed processes are gone (they exit
/// asynchronously; a populated cgroup cannot be removed). Gives up after ~200 ms.
fn remove_when_empty(dir: &Path) {
    for _ in 0..40 {
        match std::fs::remove_dir(dir) {
            Ok(()) => return,
            Err(e) if e.raw_os_error() == Some(rustix::io::Errno::BUSY.raw_os_error()) => {
                std::thread::sleep(std::time::Duration::from_millis(5));
            }
            Err(_) => return,
        }
    }
}

/// Process `pid`'s start time (`/proc/PID/stat` field 22, clock ticks since boot), `None`
/// when it is gone or a zombie.
fn start_time(pid: u32) -> Option<u64> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    // Fields after the command, which may itself hold spaces and parentheses.
    let mut fields = stat.rsplit_once(')')?.1.split_whitespace();
    let state = fields.next()?;
    if state == "Z" || state == "X" {
        return None;
    }
    fields.nth(18)?.parse().ok()
}

/// The processes `pid`'s threads started (empty when it has none or is gone).
fn children(pid: u32) -> Vec<u32> {
    let Ok(tasks) = std::fs::read_dir(format!("/proc/{pid}/task")) else {
        return Vec::new();
    };
    let mut out = Vec::new();
    for task in tasks.flatten() {
        if let Ok(text) = std::fs::read_to_string(task.path().join("children")) {
            out.extend(
                text.split_whitespace()
                    .filter_map(|p| p.parse::<u32>().ok()),
            );
        }
    }
    out
}

/// Stops and removes what `wharf-PID-START` directories of processes that are gone left
/// in `own`.
fn prune(own: &Path) {
    let Ok(entries) = std::fs::read_dir(own) else {
        return;
    };
    for entry in entries.flatten() {
        let name = entry.file_name();
        let Some((pid, started)) = name
            .to_str()
            .and_then(|n| n.strip_prefix("wharf-"))
            .and_then(|n| n.split_once('-'))
            .and_then(|(p, t)| Some((p.parse::<u32>().ok()?, t.parse::<u64>().ok()?)))
        else {
            continue;
        };
        if start_time(pid) == Some(started) {
            continue; // that wharf is alive
        }
        let base = entry.path();
        let _ = std::fs::write(base.join("cgroup.kill"), "1");
        if let Ok(slots) = std::fs::read_dir(&base) {
            for slot in slots.flatten().filter(|s| s.path().is_dir()) {
                remove_when_empty(&slot.path());
            }
        }
        remove_when_empty(&base);
    }
}

/// The directory of this process's cgroup in the mounted cgroup2 file system.
fn own_cgroup_dir() -> Result<PathBuf, String> {
    let cgroup = std::fs::read_to_string("/proc/self/cgroup")
        .map_err(|e| format!("cannot read /proc/self/cgroup: {e}"))?;
    let own = cgroup
        .lines()
        .find_map(|l| l.strip_prefix("0::"))
        .ok_or("no cgroup v2 hierarchy (only v1 controllers are mounted)")?;
    let mounts = std::fs::read_to_string("/proc/self/mountinfo")
        .map_err(|e| format!("cannot read /proc/self/mountinfo: {e}"))?;
    let mount = mounts
        .lines()
        .find_map(|line| {
            // ID PARENT MAJ:MIN ROOT MOUNTPOINT OPTIONS [OPTIONAL…] - FSTYPE SOURCE SUPER
            let (left, right) = line.split_once(" - ")?;
            if right.split(' ').next()? != "cgroup2" {
                return None;
            }
            let mut fields = left.split(' ');
            let root = fields.nth(3)?;
            let point = fields.next()?;
            Some((unescape(root), unescape(point)))
        })
        .ok_or("no cgroup2 file system is mounted")?;
    let (root, point) = mount;
    let relative = Path::new(own)
        .strip_prefix(&root)
        .map_err(|_| format!("this process's cgroup {own} is outside the mounted {root}"))?;
    Ok(Path::new(&point).join(relative))
}

/// mountinfo's octal escapes (`\040` for a space).
fn unescape(field: &str) -> String {
    let mut out = String::with_capacity(field.len());
    let mut rest = field;
    while let Some(i) = rest.find('\\') {
        out.push_str(&rest[..i]);
        let code = rest.get(i + 1..i + 4);
        match code.and_then(|c| u8::from_str_radix(c, 8).ok()) {
            Some(b) => {
                out.push(char::from(b));
                rest = &rest[i + 4..];
            }
            None => {
                out.push('\\');
                rest = &rest[i + 1..];
            }
        }
    }
    out.push_str(rest);
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn pidfile(_: &Cgroups) -> String {
        std::env::temp_dir()
            .join(format!("wharf-cgroup-test-{}.pid", std::process::id()))
            .display()
            .to_string()
    }

    #[test]
    fn a_live_process_has_a_start_time_a_gone_one_none() {
        assert!(start_time(std::process::id()).is_some());
        let mut child = std::process::Command::new("true").spawn().expect("true");
        let pid = child.id();
        child.wait().expect("wait");
        assert_eq!(start_time(pid), None);
    }

    #[test]
    fn mountinfo_escapes() {
        assert_eq!(unescape(r"/a\040b"), "/a b");
        assert_eq!(unescape(r"/plain"), "/plain");
        assert_eq!(unescape(r"/odd\x"), r"/odd\x");
    }

    /// Where cgroups can be had (root here), a slot's kill stops a process that left its
    /// process group; elsewhere the reason is a sentence.
    #[test]
    fn a_slot_kills_what_left_the_process_group() {
        let groups = match Cgroups::detect() {
            Ok(g) => g,
            Err(why) => {
                assert!(!why.is_empty());
                return;
            }
        };
        let (mut slot, _) = groups.take().expect("a slot");
        let mut child = std::process::Command::new("setsid")
            .args(["sleep", "60"])
            .spawn()
            .expect("setsid");
        slot.add(child.id()).expect("join");
        slot.kill();
        let status = child.wait().expect("wait");
        assert!(!status.success());
        // A process that started a new session *before* it was moved is swept in too.
        let mut early = std::process::Command::new("sh")
            .args([
                "-c",
                "setsid sleep 60 & echo $! > \"$0\"; wait",
                &pidfile(&groups),
            ])
            .spawn()
            .expect("sh");
        let file = pidfile(&groups);
        let deadline = std::time::Instant::now() + std::time::Duration::from_secs(5);
        while std::fs::read_to_string(&file).map_or(true, |t| t.trim().is_empty()) {
            assert!(std::time::Instant::now() < deadline, "no pid file");
            std::thread::sleep(std::time::Duration::from_millis(10));
        }
        let escaped: i32 = std::fs::read_to_string(&file)
            .unwrap()
            .trim()
            .parse()
            .unwrap();
        let _ = std::fs::remove_file(&file);
        slot.add(early.id()).expect("join");
        slot.kill();
        assert!(!early.wait().expect("wait").success());
        let deadline = std::time::Instant::now() + std::time::Duration::from_secs(5);
        while std::path::Path::new(&format!("/proc/{escaped}/cmdline")).exists()
            && std::fs::read_to_string(format!("/proc/{escaped}/stat"))
                .is_ok_and(|s| !s.contains(") Z"))
        {
            assert!(
                std::time::Instant::now() < deadline,
                "the setsid child survived"
            );
            std::thread::sleep(std::time::Duration::from_millis(10));
        }
        groups.give(slot);
        let base = groups.base.clone();
        drop(groups);
        assert!(!base.exists(), "{} left behind", base.display());
    }
}
