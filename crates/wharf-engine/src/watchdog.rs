//! A guard that stops running steps when wharf itself dies without cleaning up
//! (SIGKILL, the OOM killer, a crash): without it their process groups would keep
//! running, a deploy script included, with nobody reading their output.
//!
//! The guard is a small `sh` process in its own process group, started with the first
//! step. wharf tells it, one line at a time on its stdin, which step process groups run
//! (`+PGID`) and which have ended (`-PGID`), and `bye` on a clean exit. When its stdin
//! ends without `bye`, the kernel closed the pipe because wharf is gone: it sends SIGTERM
//! to every group still registered, then SIGKILL after a grace period. Only wharf holds
//! the write end (it is close-on-exec, so steps never inherit it), so the pipe's end
//! means exactly that wharf died. Its own process group keeps a terminal's Ctrl-C, which
//! wharf handles itself, from reaching it; it ignores SIGINT, SIGHUP and SIGTERM.
//!
//! Steps' cgroups (see `cgroup`) are registered too (`+cDIR`): for them the guard writes
//! `cgroup.kill`, which also reaches the processes that left their step's process group,
//! and removes the directories.
//!
//! Best effort: when `sh` cannot be started, steps run unguarded, as before.

use std::io::Write;
use std::os::unix::process::CommandExt;
use std::process::{Child, ChildStdin, Command, Stdio};
use std::sync::Mutex;

/// Seconds between the SIGTERM and the SIGKILL the guard sends.
const GRACE_SECONDS: u32 = 5;

/// The guard's script: reads the registry of groups, acts on a missing `bye`.
fn script() -> String {
    format!(
        r#"trap '' INT HUP TERM QUIT PIPE
groups=' '
cgroups=''
while IFS= read -r line; do
  case $line in
    bye) exit 0 ;;
    +c*) cgroups="$cgroups${{line#+c}}
" ;;
    +*) groups="$groups${{line#+}} " ;;
    -*) id=${{line#-}}
        case $groups in *" $id "*) groups="${{groups%% $id *}} ${{groups#* $id }}" ;; esac ;;
  esac
done
[ -n "${{groups# }}" ] || [ -n "$cgroups" ] || exit 0
for g in $groups; do kill -TERM -$g 2>/dev/null; done
[ -z "${{groups# }}" ] || sleep {GRACE_SECONDS}
for g in $groups; do kill -KILL -$g 2>/dev/null; done
[ -n "$cgroups" ] || exit 0
printf '%s' "$cgroups" | while IFS= read -r c; do echo 1 > "$c/cgroup.kill"; done 2>/dev/null
sleep 1
printf '%s' "$cgroups" | while IFS= read -r c; do rmdir "$c" "${{c%/*}}"; done 2>/dev/null
"#
    )
}

/// The guard of one executor's steps, started on first use.
#[derive(Debug, Default)]
pub(crate) struct Watchdog {
    state: Mutex<State>,
}

#[derive(Debug, Default)]
enum State {
    /// No step yet.
    #[default]
    Idle,
    /// Running, with the write end of its stdin.
    Running(Child, ChildStdin),
    /// `sh` could not be started, or the guard went away: steps run unguarded.
    Off,
}

impl Watchdog {
    /// Registers the process group `pgid` of a step that just started.
    pub(crate) fn register(&self, pgid: i32) {
        self.send(&format!("+{pgid}\n"), true);
    }

    /// Unregisters the process group `pgid` of a step that ended.
    pub(crate) fn unregister(&self, pgid: i32) {
        self.send(&format!("-{pgid}\n"), false);
    }

    /// Registers a steps' cgroup directory, for as long as this process lives. A path
    /// with a newline (which no cgroup wharf makes has) is not registered.
    pub(crate) fn register_cgroup(&self, dir: &std::path::Path) {
        if let Some(dir) = dir.to_str().filter(|d| !d.contains('\n')) {
            self.send(&format!("+c{dir}\n"), true);
        }
    }

    fn send(&self, line: &str, start: bool) {
        let Ok(mut state) = self.state.lock() else {
            return;
        };
        if start && matches!(*state, State::Idle) {
            *state = spawn().map_or(State::Off, |(c, s)| State::Running(c, s));
        }
        if let State::Running(_, stdin) = &mut *state
            && stdin.write_all(line.as_bytes()).is_err()
        {
            *state = State::Off;
        }
    }
}

fn spawn() -> Option<(Child, ChildStdin)> {
    let mut child = Command::new("sh")
        .arg("-c")
        .arg(script())
        .env_clear()
        .env("PATH", "/usr/local/bin:/usr/bin:/bin")
        .stdin(Stdio::piped())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .process_group(0)
        .spawn()
        .ok()?;
    let stdin = child.stdin.take()?;
    Some((child, stdin))
}

impl Drop for Watchdog {
    fn drop(&mut self) {
        let state = match self.state.get_mut() {
            Ok(s) => std::mem::take(s),
            Err(p) => std::mem::take(p.into_inner()),
        };
        if let State::Running(mut child, mut stdin) = state {
            // A clean end: the guard exits at once (and is reaped here, so a long-lived
            // server leaves no zombie per run).
            let _ = stdin.write_all(b"bye\n");
            drop(stdin);
            let _ = child.wait();
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::{Duration, Instant};

    fn alive(pid: i32) -> bool {
        std::fs::read_to_string(format!("/proc/{pid}/stat"))
            .map(|s| {
                !s.rsplit(')')
                    .next()
                    .unwrap_or("")
                    .trim_start()
                    .starts_with('Z')
            })
            .unwrap_or(false)
    }

    fn group_of_sleep() -> Child {
        Command::new("sleep")
            .arg("60")
            .process_group(0)
            .spawn()
            .expect("sleep")
    }

    #[test]
    fn a_clean_end_leaves_steps_alone() {
        let mut step = group_of_sleep();
        let id = step.id() as i32;
        let dog = Watchdog::default();
        dog.register(id);
        drop(dog);
        std::thread::sleep(Duration::from_millis(200));
        assert!(
            alive(id),
            "bye means wharf ended cleanly: nothing is killed"
        );
        let _ = step.kill();
        let _ = step.wait();
    }

    #[test]
    fn a_lost_wharf_gets_its_registered_steps_stopped() {
        let mut running = group_of_sleep();
        let mut ended = group_of_sleep();
        let dog = Watchdog::default();
        dog.register(running.id() as i32);
        dog.register(ended.id() as i32);
        dog.unregister(ended.id() as i32);
        // Close the pipe without `bye`, as the kernel does when wharf dies.
        let state = std::mem::take(&mut *dog.state.lock().unwrap());
        let State::Running(mut guard, stdin) = state else {
            panic!("the guard did not start");
        };
        drop(stdin);
        let deadline = Instant::now() + Duration::from_secs(3);
        while running.try_wait().unwrap().is_none() && Instant::now() < deadline {
            std::thread::sleep(Duration::from_millis(20));
        }
        assert!(
            running.try_wait().unwrap().is_some(),
            "the registered step was stopped"
        );
        assert!(
            ended.try_wait().unwrap().is_none(),
            "an unregistered group is never signalled"
        );
        let _ = ended.kill();
        let _ = ended.wait();
        let _ = guard.wait();
    }
}
