//! Is the wharf process that owns a run still alive?
//!
//! A pid alone is not enough: the kernel recycles pids, so a run records its process's
//! start time too (`/proc/PID/stat` field 22, clock ticks since boot) and a live process
//! with another start time is a stranger. This reads `/proc` (Linux); where there is no
//! `/proc`, liveness is unknown and recovery leaves runs alone rather than guess.

use std::path::Path;

/// What `/proc` says about a recorded process.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Liveness {
    /// The recorded process is running.
    Alive,
    /// It is gone (or a zombie, or its pid now belongs to another process).
    Dead,
    /// This system has no `/proc` to ask.
    Unknown,
}

/// The start time of process `pid`, `None` when it does not exist, is a zombie, or
/// `/proc` cannot tell.
pub(crate) fn start_time(pid: u32) -> Option<i64> {
    match read_stat(pid) {
        Stat::Running { start_time } => Some(start_time),
        Stat::Gone | Stat::Unreadable => None,
    }
}

/// Whether the process recorded as (`pid`, `recorded_start`) is still running.
pub(crate) fn liveness(pid: u32, recorded_start: Option<i64>) -> Liveness {
    match read_stat(pid) {
        Stat::Running { start_time } => match recorded_start {
            Some(recorded) if recorded != start_time => Liveness::Dead,
            _ => Liveness::Alive,
        },
        Stat::Gone => Liveness::Dead,
        Stat::Unreadable => Liveness::Unknown,
    }
}

enum Stat {
    Running { start_time: i64 },
    Gone,
    Unreadable,
}

fn read_stat(pid: u32) -> Stat {
    if !Path::new("/proc/self/stat").exists() {
        return Stat::Unreadable;
    }
    match std::fs::read_to_string(format!("/proc/{pid}/stat")) {
        Ok(text) => parse_stat(&text).map_or(Stat::Unreadable, |(state, start_time)| {
            if matches!(state, 'Z' | 'X') {
                Stat::Gone
            } else {
                Stat::Running { start_time }
            }
        }),
        // ESRCH shows up as NotFound, or as another error when the process exits while
        // the file is being read; either way it is no longer there.
        Err(_) if !Path::new(&format!("/proc/{pid}")).exists() => Stat::Gone,
        Err(_) => Stat::Unreadable,
    }
}

/// Parses the state (field 3) and start time (field 22) of a `/proc/PID/stat` line. The
/// command name (field 2) is in parentheses and may itself contain spaces and parentheses,
/// so fields are counted from the last `)`.
fn parse_stat(text: &str) -> Option<(char, i64)> {
    let after_comm = &text[text.rfind(')')? + 1..];
    let mut fields = after_comm.split_ascii_whitespace();
    let state = fields.next()?.chars().next()?;
    // `fields` now starts at field 4; field 22 is 18 further on.
    let start_time = fields.nth(18)?.parse().ok()?;
    Some((state, start_time))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_a_stat_line_with_a_tricky_command_name() {
        let line = "4242 (evil) name (x) S 1 4242 4242 0 -1 4194560 100 0 0 0 1 2 0 0 20 0 1 0 \
                    987654 12345678 100 18446744073709551615";
        assert_eq!(parse_stat(line), Some(('S', 987654)));
        assert_eq!(parse_stat("4242 (short) S 1 2"), None);
    }

    #[test]
    fn the_current_process_is_alive_with_its_own_start_time() {
        let me = std::process::id();
        let start = start_time(me).expect("this test needs /proc");
        assert_eq!(liveness(me, Some(start)), Liveness::Alive);
        assert_eq!(liveness(me, Some(start + 1)), Liveness::Dead);
        assert_eq!(liveness(me, None), Liveness::Alive);
    }
}
