//! The local executor: each step is a child process in its own process group.
//!
//! A process group lets wharf stop a step *and everything it started*: on timeout or
//! cancel the whole group gets SIGTERM, then SIGKILL after a grace period; when a step's
//! main process exits, whatever it left running in its group is killed, so no step leaves
//! orphans behind. Where the system allows, each step also runs in a cgroup of its own
//! (see `cgroup`), which keeps even the processes that left the group (`setsid`): the
//! same moments kill all of them. If wharf itself dies without stopping them, a watchdog
//! process does (see `watchdog`).

use std::collections::HashMap;
use std::io::ErrorKind;
use std::path::PathBuf;
use std::process::{ExitStatus, Stdio};
use std::sync::{Arc, Mutex, OnceLock};

use rustix::process::{Pid, Signal, kill_process_group};
use std::os::fd::OwnedFd;

use tokio::io::AsyncReadExt;
use tokio::net::unix::pipe;
use tokio::process::Command;
use tokio::sync::watch;
use tokio::time::{Instant, sleep_until};

use crate::cgroup::{Cgroups, Slot};
use crate::executor::{BoxFuture, Executor, StepOutcome, StepRequest};
use crate::logs::LogWriter;
use crate::watchdog::Watchdog;

/// The size asked for the pipe of a step's output.
const PIPE_SIZE: usize = 1 << 20;

/// How much of a step's output is read at once.
const READ_SIZE: usize = 256 * 1024;

/// Runs steps as local processes.
#[derive(Debug, Default)]
pub struct LocalExecutor {
    /// Programs already found, by (name, PATH, directory): searching PATH costs a failed
    /// stat per directory before the hit, for every step. Like bash's `hash`, a program
    /// found once is not searched again during the run.
    resolved: Mutex<HashMap<(String, String, PathBuf), PathBuf>>,
    /// Stops the running steps' groups if wharf dies without doing it itself.
    watchdog: Arc<Watchdog>,
    /// The steps' cgroups, or why there are none (found out with the first step).
    cgroups: Arc<OnceLock<Result<Cgroups, String>>>,
    /// Where steps ran whose processes a cgroup may not have held (see [`Joined::add`]).
    unsure: Arc<Mutex<Vec<PathBuf>>>,
}

impl LocalExecutor {
    /// A new executor (one per run).
    pub fn new() -> LocalExecutor {
        LocalExecutor::default()
    }

    /// Whether steps get a cgroup each (`Ok`), or why not: then a step's processes are
    /// stopped by process group, and one that called `setsid` can outlive its step.
    pub fn cgroups(&self) -> Result<(), String> {
        match self.cgroups.get_or_init(Cgroups::detect) {
            Ok(_) => Ok(()),
            Err(why) => Err(why.clone()),
        }
    }

    fn program(&self, req: &StepRequest) -> Option<PathBuf> {
        let name = &req.argv[0];
        let path_var = req
            .env
            .iter()
            .find(|(k, _)| k == "PATH")
            .map(|(_, v)| v.as_str());
        // The directory matters only to relative PATH entries: with a workspace per job it
        // differs for every job, and keying on it would search PATH again for each.
        let relative = path_var.is_some_and(|p| p.split(':').any(|d| !d.starts_with('/')));
        let key = (
            name.clone(),
            path_var.unwrap_or_default().to_string(),
            if relative {
                req.cwd.clone()
            } else {
                PathBuf::new()
            },
        );
        if let Some(hit) = self.resolved.lock().ok().and_then(|m| m.get(&key).cloned()) {
            return Some(hit);
        }
        let found = resolve(name, path_var, &req.cwd)?;
        if let Ok(mut m) = self.resolved.lock() {
            m.insert(key, found.clone());
        }
        Some(found)
    }
}

impl Executor for LocalExecutor {
    fn confined(&self, workspace: &std::path::Path) -> bool {
        self.cgroups().is_ok()
            && !self
                .unsure
                .lock()
                .unwrap_or_else(|p| p.into_inner())
                .iter()
                .any(|cwd| cwd.starts_with(workspace))
    }

    fn run_step(
        &self,
        req: StepRequest,
        cancel: watch::Receiver<bool>,
        log: LogWriter,
    ) -> BoxFuture<StepOutcome> {
        let program = self.program(&req);
        let guards = Guards {
            watchdog: self.watchdog.clone(),
            cgroups: self.cgroups.clone(),
            unsure: self.unsure.clone(),
        };
        Box::pin(run(req, program, cancel, log, guards))
    }
}

/// What stops a step's processes besides wharf itself.
struct Guards {
    watchdog: Arc<Watchdog>,
    cgroups: Arc<OnceLock<Result<Cgroups, String>>>,
    unsure: Arc<Mutex<Vec<PathBuf>>>,
}

/// A step's process in its cgroup: on drop, everything in the cgroup is killed and the
/// cgroup goes back for the next step.
struct Joined {
    slot: Option<Slot>,
    cgroups: Arc<OnceLock<Result<Cgroups, String>>>,
}

impl Joined {
    /// A cgroup for the step about to start, when the system gives one (taken before the
    /// spawn, so that only the move is left between the spawn and the step being inside).
    fn new(guards: &Guards) -> Option<Joined> {
        let Ok(cgroups) = guards.cgroups.get_or_init(Cgroups::detect) else {
            return None;
        };
        let (slot, new) = cgroups.take()?;
        if new {
            guards.watchdog.register_cgroup(slot.dir());
        }
        Some(Joined {
            slot: Some(slot),
            cgroups: guards.cgroups.clone(),
        })
    }

    /// Moves the step's process (and whatever it already started) in; without a
    /// cgroup after all when that fails. `held` says whether the cgroup surely holds
    /// everything the step started: not when the process had already exited by the move
    /// (a child it left in a new session was no longer its child to be found).
    fn add(mut self, pid: u32, held: &mut bool) -> Option<Joined> {
        let slot = self.slot.as_mut()?;
        slot.add(pid).ok()?;
        let options = rustix::process::WaitIdOptions::EXITED
            | rustix::process::WaitIdOptions::NOHANG
            | rustix::process::WaitIdOptions::NOWAIT;
        *held = Pid::from_raw(pid as i32).is_some_and(|p| {
            matches!(
                rustix::process::waitid(rustix::process::WaitId::Pid(p), options),
                Ok(None)
            )
        });
        Some(self)
    }

    fn kill(&mut self) {
        if let Some(slot) = &mut self.slot {
            slot.kill();
        }
    }
}

impl Drop for Joined {
    fn drop(&mut self) {
        if let Some(mut slot) = self.slot.take() {
            slot.kill();
            if let Some(Ok(cgroups)) = self.cgroups.get() {
                cgroups.give(slot);
            }
        }
    }
}

/// Why wharf is stopping a step, once it decided to.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Stopping {
    No,
    Timeout,
    Cancel,
}

/// Runs one step. `program` is `argv[0]` resolved against the step's own PATH: given a
/// bare name and a PATH that differs from wharf's, std would fall back to fork and a PATH
/// search in the child, much slower than the posix_spawn it uses for a full path.
async fn run(
    req: StepRequest,
    program: Option<PathBuf>,
    mut cancel: watch::Receiver<bool>,
    mut log: LogWriter,
    guards: Guards,
) -> StepOutcome {
    let Some(program) = program else {
        let why = format!("{}: command not found", req.argv[0]);
        log.note(&why);
        let _ = log.finish();
        return StepOutcome::FailedToStart(why);
    };
    // stdout and stderr share one pipe, as with `2>&1`: the log keeps the order in which
    // the step wrote its lines (two pipes lose it, and a failing step's last lines would
    // show out of order).
    let (reader, writer) = match std::io::pipe().and_then(|(r, w)| Ok((r, w.try_clone()?, w))) {
        Ok((r, w1, w2)) => (r, (w1, w2)),
        Err(e) => {
            let why = format!("could not create a pipe: {e}");
            log.note(&why);
            let _ = log.finish();
            return StepOutcome::FailedToStart(why);
        }
    };
    // A bigger pipe lets a chatty step write more before wharf must read: fewer wake-ups
    // and reads (the default is 64 KiB). Best effort: the system may cap it.
    let _ = rustix::pipe::fcntl_setpipe_size(&reader, PIPE_SIZE);
    let mut cmd = Command::new(program);
    cmd.args(&req.argv[1..])
        .env_clear()
        .envs(req.env.iter().map(|(k, v)| (k, v)))
        .current_dir(&req.cwd)
        .stdin(Stdio::null())
        .stdout(Stdio::from(writer.0))
        .stderr(Stdio::from(writer.1))
        .process_group(0);
    let joined = Joined::new(&guards);
    let spawned = cmd.spawn();
    // The command holds the pipe's write ends: drop it, or the read end never sees EOF.
    drop(cmd);
    let mut child = match spawned {
        Ok(c) => c,
        Err(e) => {
            let why = match e.kind() {
                ErrorKind::NotFound if !req.cwd.is_dir() => {
                    format!("working directory {} does not exist", req.cwd.display())
                }
                ErrorKind::NotFound => format!("{}: command not found", req.argv[0]),
                _ => format!("could not start {}: {e}", req.argv[0]),
            };
            log.note(&why);
            let _ = log.finish();
            return StepOutcome::FailedToStart(why);
        }
    };
    // The watchdog hears of the step's group first: moving a process into a cgroup can
    // wait (the kernel's cgroup lock, behind every fork and exit on the machine), and a
    // wharf killed meanwhile must still leave nothing behind.
    let pgid = child.id().and_then(|id| Pid::from_raw(id as i32));
    let _guard = pgid.map(|g| Registered::new(&guards.watchdog, g.as_raw_nonzero().get()));
    // Then into the step's cgroup, with whatever it started meanwhile.
    let mut held = false;
    let mut joined = joined
        .zip(child.id())
        .and_then(|(j, pid)| j.add(pid, &mut held));
    if !held {
        guards
            .unsure
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .push(req.cwd.clone());
    }
    let mut output = match pipe::Receiver::from_owned_fd(OwnedFd::from(reader)) {
        Ok(r) => r,
        Err(e) => {
            // Without a reader the step would block on a full pipe: stop it.
            signal_group(pgid, Signal::KILL);
            let _ = child.wait().await;
            let why = format!("could not read the step's output: {e}");
            log.note(&why);
            let _ = log.finish();
            return StepOutcome::FailedToStart(why);
        }
    };
    let mut open = true;
    let mut buf = log.output_buffer(READ_SIZE);
    let mut status: Option<ExitStatus> = None;
    let mut stopping = Stopping::No;
    let mut kill_at: Option<Instant> = None;
    let far = Instant::now() + std::time::Duration::from_secs(86400 * 365);
    // A process that left the group (setsid) may hold the pipes open forever: after the
    // main process exits, read what is there for a short while, then stop.
    let mut drain_until = far;

    loop {
        if status.is_some() && !open {
            break;
        }
        let deadline = if stopping == Stopping::No {
            req.deadline.unwrap_or(far)
        } else {
            kill_at.unwrap_or(far)
        };
        tokio::select! {
            // Straight into the buffer that becomes the lines' event (cancel-safe: what a
            // read cut short by another branch took stays in `buf`).
            n = output.read_buf(&mut buf), if open => match n {
                Ok(0) | Err(_) => open = false,
                Ok(_) => {
                    log.output_read(std::mem::take(&mut buf));
                    buf = log.output_buffer(READ_SIZE);
                }
            },
            s = child.wait(), if status.is_none() => {
                status = Some(s.unwrap_or_else(|_| std::process::ExitStatus::default()));
                // The main process is gone: anything it left in its group (or cgroup) is
                // an orphan. Killing them also closes the pipes they hold open.
                signal_group(pgid, Signal::KILL);
                if let Some(j) = &mut joined {
                    j.kill();
                }
                drain_until = Instant::now() + std::time::Duration::from_secs(2);
            },
            _ = sleep_until(drain_until), if status.is_some() => break,
            _ = sleep_until(deadline), if status.is_none() => {
                if stopping == Stopping::No {
                    stopping = Stopping::Timeout;
                    log.note("timed out: stopping the step (SIGTERM)");
                    signal_group(pgid, Signal::TERM);
                    kill_at = Some(Instant::now() + req.kill_grace);
                } else {
                    log.note("still running after the grace period: SIGKILL");
                    signal_group(pgid, Signal::KILL);
                    if let Some(j) = &mut joined {
                        j.kill();
                    }
                    kill_at = None;
                }
            },
            changed = cancel.changed(), if stopping == Stopping::No && status.is_none() => {
                if changed.is_err() || *cancel.borrow() {
                    stopping = Stopping::Cancel;
                    log.note("cancelled: stopping the step (SIGTERM)");
                    signal_group(pgid, Signal::TERM);
                    kill_at = Some(Instant::now() + req.kill_grace);
                }
            },
        }
    }
    log.output_unread(buf);
    let _ = log.finish();
    match stopping {
        Stopping::Timeout => StepOutcome::TimedOut,
        Stopping::Cancel => StepOutcome::Cancelled,
        Stopping::No => outcome_of(status.expect("loop ends only after exit")),
    }
}

/// The file `program` names: itself when it contains a `/` (relative to `cwd`), else the
/// first executable file called that in `path` (the step's `PATH`).
fn resolve(program: &str, path: Option<&str>, cwd: &std::path::Path) -> Option<std::path::PathBuf> {
    use std::os::unix::fs::PermissionsExt;
    if program.contains('/') {
        return Some(cwd.join(program));
    }
    let executable = |p: &std::path::Path| {
        std::fs::metadata(p).is_ok_and(|m| m.is_file() && m.permissions().mode() & 0o111 != 0)
    };
    path?
        .split(':')
        .map(|dir| {
            if dir.is_empty() {
                cwd.to_path_buf()
            } else {
                cwd.join(dir)
            }
        })
        .map(|dir| dir.join(program))
        .find(|candidate| executable(candidate))
}

fn outcome_of(status: ExitStatus) -> StepOutcome {
    use std::os::unix::process::ExitStatusExt;
    match (status.code(), status.signal()) {
        (Some(code), _) => StepOutcome::Exited(code),
        (None, Some(sig)) => StepOutcome::Signaled(sig),
        (None, None) => StepOutcome::Exited(1),
    }
}

/// A step's process group, registered with the watchdog while this lives.
struct Registered<'a> {
    watchdog: &'a Watchdog,
    pgid: i32,
}

impl<'a> Registered<'a> {
    fn new(watchdog: &'a Watchdog, pgid: i32) -> Registered<'a> {
        watchdog.register(pgid);
        Registered { watchdog, pgid }
    }
}

impl Drop for Registered<'_> {
    fn drop(&mut self) {
        self.watchdog.unregister(self.pgid);
    }
}

fn signal_group(pgid: Option<Pid>, sig: Signal) {
    if let Some(pgid) = pgid {
        // ESRCH (the group is already empty) is the normal case after a clean exit.
        let _ = kill_process_group(pgid, sig);
    }
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use super::*;

    fn req(script: &str) -> StepRequest {
        StepRequest {
            job: "j".into(),
            step: 0,
            argv: vec!["sh".into(), "-c".into(), script.into()],
            cwd: std::env::temp_dir(),
            env: vec![("PATH".into(), std::env::var("PATH").unwrap())],
            deadline: None,
            kill_grace: Duration::from_millis(300),
        }
    }

    async fn go(r: StepRequest) -> (StepOutcome, String) {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("log");
        let (tx, _rx) = tokio::sync::mpsc::unbounded_channel();
        let log = LogWriter::create("j", 0, &path, tx).unwrap();
        let (_ctx, crx) = watch::channel(false);
        let out = LocalExecutor::new().run_step(r, crx, log).await;
        (out, std::fs::read_to_string(&path).unwrap())
    }

    #[tokio::test]
    async fn exit_codes_and_output() {
        let (o, log) = go(req("echo out; echo err >&2; exit 3")).await;
        assert_eq!(o, StepOutcome::Exited(3));
        assert!(log.contains("out\n") && log.contains("err\n"), "{log}");
    }

    #[test]
    fn programs_resolve_against_the_step_path() {
        let dir = tempfile::tempdir().unwrap();
        let bin = dir.path().join("bin");
        std::fs::create_dir(&bin).unwrap();
        let tool = bin.join("tool");
        std::fs::write(&tool, "#!/bin/sh\n").unwrap();
        std::fs::write(bin.join("plain"), "not executable").unwrap();
        use std::os::unix::fs::PermissionsExt;
        std::fs::set_permissions(&tool, std::fs::Permissions::from_mode(0o755)).unwrap();
        let path = format!("/nonexistent:{}", bin.display());
        assert_eq!(resolve("tool", Some(&path), dir.path()), Some(tool));
        assert_eq!(resolve("plain", Some(&path), dir.path()), None);
        assert_eq!(resolve("tool", None, dir.path()), None);
        assert_eq!(
            resolve("./x", Some(&path), dir.path()),
            Some(dir.path().join("./x"))
        );
    }

    #[tokio::test]
    async fn environment_is_only_what_was_given() {
        let mut r = req("echo \"[$HOME][$FOO]\"");
        r.env.push(("FOO".into(), "bar".into()));
        let (_, log) = go(r).await;
        assert_eq!(log, "[][bar]\n");
    }

    #[tokio::test]
    async fn missing_command_is_127() {
        let mut r = req("");
        r.argv = vec!["wharf-no-such-command".into()];
        let (o, log) = go(r).await;
        assert_eq!(o.exit_code(), Some(127));
        assert!(log.contains("command not found"), "{log}");
    }

    #[tokio::test]
    async fn timeout_kills_the_whole_group_including_term_ignorers() {
        let dir = tempfile::tempdir().unwrap();
        let pidfile = dir.path().join("pid");
        let mut r = req(&format!(
            "(trap '' TERM; sleep 30) & echo $! > {}; trap '' TERM; sleep 30; wait",
            pidfile.display()
        ));
        r.deadline = Some(Instant::now() + Duration::from_millis(300));
        let started = std::time::Instant::now();
        let (o, log) = go(r).await;
        assert_eq!(o, StepOutcome::TimedOut);
        assert!(started.elapsed() < Duration::from_secs(10));
        assert!(log.contains("SIGKILL"), "{log}");
        let pid: i32 = std::fs::read_to_string(&pidfile)
            .unwrap()
            .trim()
            .parse()
            .unwrap();
        assert!(!std::path::Path::new(&format!("/proc/{pid}")).exists() || is_zombie(pid));
    }

    #[tokio::test]
    async fn background_orphans_are_killed_when_the_step_exits() {
        let dir = tempfile::tempdir().unwrap();
        let pidfile = dir.path().join("pid");
        let r = req(&format!(
            "sleep 30 & echo $! > {}; echo done",
            pidfile.display()
        ));
        let started = std::time::Instant::now();
        let (o, _) = go(r).await;
        assert_eq!(o, StepOutcome::Exited(0));
        assert!(started.elapsed() < Duration::from_secs(10));
        let pid: i32 = std::fs::read_to_string(&pidfile)
            .unwrap()
            .trim()
            .parse()
            .unwrap();
        std::thread::sleep(Duration::from_millis(100));
        assert!(!std::path::Path::new(&format!("/proc/{pid}")).exists() || is_zombie(pid));
    }

    #[tokio::test]
    async fn cancel_stops_the_step() {
        let dir = tempfile::tempdir().unwrap();
        let (tx, _rx) = tokio::sync::mpsc::unbounded_channel();
        let log = LogWriter::create("j", 0, &dir.path().join("l"), tx).unwrap();
        let (ctx, crx) = watch::channel(false);
        let h = tokio::spawn(LocalExecutor::new().run_step(req("sleep 30"), crx, log));
        tokio::time::sleep(Duration::from_millis(100)).await;
        ctx.send(true).unwrap();
        assert_eq!(h.await.unwrap(), StepOutcome::Cancelled);
    }

    fn is_zombie(pid: i32) -> bool {
        std::fs::read_to_string(format!("/proc/{pid}/stat"))
            .map(|s| s.contains(") Z "))
            .unwrap_or(true)
    }
}
