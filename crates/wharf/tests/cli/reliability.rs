//! What is shown is stored, nothing escapes, nothing waits on the display: `wharf run`
//! killed at random moments, steps that leave their process group, logs of unfinished
//! runs, fail-fast with one slot, lines too long or too many to show.

use std::io::{BufRead, BufReader};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use crate::helper::{Project, alive, bin, wait_for};

/// A small seeded generator (xorshift64*): the crash test's kill times, reproducible
/// from the seed it prints.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_F491_4F6C_DD1D)
    }
}

/// 40 runs of a pipeline of short jobs, each `kill -9`ed at a random moment while its
/// `--json` events are read: every job and step shown finished is recorded with the
/// status shown. `WHARF_CRASH_SEED` replays a failure.
#[test]
fn forty_kills_lose_no_shown_completion() {
    let mut jobs = String::from("version: 1\nworkspace: shared\njobs:\n");
    for i in 0..24 {
        // Two parallel chains of quick jobs, some failing (allowed), so statuses differ.
        let needs = if i >= 2 {
            format!("    needs: [j{}]\n", i - 2)
        } else {
            String::new()
        };
        let run = if i % 5 == 3 {
            "sleep 0.01; exit 3"
        } else {
            "sleep 0.01"
        };
        jobs.push_str(&format!(
            "  j{i}:\n{needs}    continue-on-error: {}\n    run: {run}\n",
            i % 5 == 3
        ));
    }
    let p = Project::new(&jobs);
    p.allow_settings(&["workspace.shared"]);
    let seed: u64 = std::env::var("WHARF_CRASH_SEED")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or_else(|| {
            std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .map_or(1, |d| d.as_nanos() as u64)
                | 1
        });
    eprintln!("crash test seed: {seed} (WHARF_CRASH_SEED={seed} replays it)");
    let mut rng = Rng(seed);
    let mut shown_total = 0;
    for round in 0..40 {
        let mut child = Command::new(bin())
            .current_dir(p.path())
            .args(["run", "--json", "-j", "2"])
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .unwrap();
        let stdout = child.stdout.take().unwrap();
        let reader = std::thread::spawn(move || {
            BufReader::new(stdout)
                .lines()
                .map_while(Result::ok)
                .filter_map(|l| serde_json::from_str::<serde_json::Value>(&l).ok())
                .collect::<Vec<_>>()
        });
        // A whole run takes ~150-400 ms here: kill anywhere in it, often right after an
        // event (the events come every few ms).
        let after = Duration::from_micros(rng.next() % 400_000);
        std::thread::sleep(after);
        let _ = child.kill();
        let _ = child.wait();
        let events = reader.join().unwrap();
        let run = events
            .iter()
            .find(|e| e["type"] == "run_started")
            .and_then(|e| e["run"].as_u64());
        let Some(run) = run else { continue };
        let record = p
            .wharf(&["show", &run.to_string(), "--json"])
            .expect(0)
            .json();
        for ev in &events {
            match ev["type"].as_str() {
                Some("job_finished") => {
                    shown_total += 1;
                    let job = ev["job"].as_str().unwrap();
                    let stored = record["jobs"]
                        .as_array()
                        .unwrap()
                        .iter()
                        .find(|j| j["id"] == job)
                        .unwrap();
                    assert_eq!(
                        stored["status"], ev["status"],
                        "round {round} (seed {seed}, killed after {after:?}): job {job} shown {} but stored {}",
                        ev["status"], stored["status"]
                    );
                }
                Some("step_finished") => {
                    let job = ev["job"].as_str().unwrap();
                    let stored = record["jobs"]
                        .as_array()
                        .unwrap()
                        .iter()
                        .find(|j| j["id"] == job)
                        .unwrap();
                    let step = &stored["steps"][ev["step"].as_u64().unwrap() as usize];
                    assert_eq!(
                        step["status"], ev["status"],
                        "round {round} (seed {seed}, killed after {after:?}): step of {job} shown {} but stored {step}",
                        ev["status"]
                    );
                }
                Some("run_finished") => {
                    assert_eq!(
                        record["status"], ev["status"],
                        "round {round} (seed {seed})"
                    );
                }
                _ => {}
            }
        }
    }
    assert!(
        shown_total > 40,
        "the kills came too early to test anything ({shown_total} completions shown)"
    );
}

#[test]
fn a_step_child_that_calls_setsid_ends_with_its_step() {
    let p = Project::new(
        "version: 1\nworkspace: shared\njobs:\n  escape:\n    run: |\n      setsid sh -c 'echo $$ > escaped.pid; exec sleep 60' &\n      while [ ! -s escaped.pid ]; do sleep 0.01; done\n      sleep 0.5\n",
    );
    p.allow_settings(&["workspace.shared"]);
    // (The step lives half a second: on a machine as busy as the whole test suite makes
    // it, moving a process into a cgroup can wait that long behind the kernel's cgroup
    // lock, and a step that detaches a process and ends within the wait leaves it out;
    // docs/runs.md says so.)
    let r = p.wharf(&["run", "--plain"]).expect(0);
    let pid: i32 = p.read("escaped.pid").trim().parse().unwrap();
    expect_gone(pid, Duration::from_secs(5), &r.stderr(), "its step");
}

/// Waits up to `within` for `pid` to end and fails if it did not, unless wharf said it
/// had no cgroup for its steps (then the process is stopped here and the test passes: the
/// run said what it could not do, as the docs say it will).
fn expect_gone(pid: i32, within: Duration, stderr: &str, outlived: &str) {
    let deadline = Instant::now() + within;
    while alive(pid) && Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(20));
    }
    if stderr.contains("steps run without a cgroup") {
        eprintln!("no cgroups on this machine: {stderr}");
        let _ = rustix::process::kill_process(
            rustix::process::Pid::from_raw(pid).unwrap(),
            rustix::process::Signal::KILL,
        );
        return;
    }
    assert!(!alive(pid), "the setsid child outlived {outlived}");
}

#[test]
fn a_setsid_child_does_not_outlive_a_wharf_killed_with_sigkill() {
    let p = Project::new(
        "version: 1\nworkspace: shared\njobs:\n  escape:\n    run: |\n      setsid sh -c 'echo $$ > escaped.pid; exec sleep 60' &\n      sleep 60\n",
    );
    p.allow_settings(&["workspace.shared"]);
    let mut child = p
        .cmd(&["run", "--plain"])
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    wait_for(&p.path().join("escaped.pid"));
    std::thread::sleep(Duration::from_millis(50));
    let pid: i32 = p.read("escaped.pid").trim().parse().unwrap();
    child.kill().unwrap();
    let out = child.wait_with_output().unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    // The watchdog: SIGTERM to the step's group, 5 s of grace, then the cgroup's kill.
    expect_gone(pid, Duration::from_secs(15), &stderr, "the killed wharf");
}

#[test]
fn logs_of_running_and_interrupted_runs_show_their_steps() {
    let p = Project::new(
        "version: 1\nworkspace: shared\njobs:\n  chatty:\n    run: |\n      i=0; while [ $i -lt 3000 ]; do echo \"line $i\"; i=$((i+1)); done\n      echo quiet > started\n      sleep 60\n",
    );
    p.allow_settings(&["workspace.shared"]);
    let mut child = p
        .cmd(&["run", "--plain"])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    wait_for(&p.path().join("started"));
    std::thread::sleep(Duration::from_millis(200));
    // While it runs: every line it printed is in the log already.
    let live = p.wharf(&["logs"]).expect(0).stdout();
    assert!(live.contains("==> chatty / "), "{live}");
    assert!(
        live.contains("line 0\n") && live.contains("line 2999\n"),
        "{}",
        &live[live.len().saturating_sub(200)..]
    );
    child.kill().unwrap();
    child.wait().unwrap();
    let killed_at = wharf_now();
    std::thread::sleep(Duration::from_millis(1500));
    // Interrupted: the same lines, and the run ended when its owner was last seen.
    let after = p.wharf(&["logs", "1"]).expect(0).stdout();
    assert_eq!(
        after.matches("\nline ").count(),
        3000,
        "{}",
        &after[..200.min(after.len())]
    );
    let shown = p.wharf(&["show", "1", "--json"]).expect(0).json();
    assert_eq!(shown["status"], "interrupted");
    let finished = shown["finished_at"].as_i64().expect("finished_at");
    assert!(
        finished <= killed_at,
        "the run ended at {finished}, after the kill at {killed_at}: the next command's time"
    );
}

fn wharf_now() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_millis() as i64
}

#[test]
fn fail_fast_with_one_slot_cancels_the_jobs_not_started() {
    let p = Project::new(
        "version: 1\nworkspace: shared\njobs:\n  a:\n    run: exit 1\n  b:\n    run: touch b-ran\n  c:\n    run: touch c-ran\n  report:\n    if: always()\n    run: touch report-ran\n",
    );
    p.allow_settings(&["workspace.shared"]);
    let r = p.wharf(&["run", "--plain", "-j", "1"]).expect(1);
    assert!(!p.path().join("b-ran").exists(), "{}", r.stderr());
    assert!(!p.path().join("c-ran").exists());
    assert!(
        p.path().join("report-ran").exists(),
        "if: always() still runs"
    );
    let shown = p.wharf(&["show", "1", "--json"]).expect(0).json();
    let status = |id: &str| {
        shown["jobs"]
            .as_array()
            .unwrap()
            .iter()
            .find(|j| j["id"] == id)
            .unwrap()["status"]
            .clone()
    };
    assert_eq!(status("b"), "cancelled");
    assert_eq!(status("c"), "cancelled");
}

#[test]
fn a_huge_line_shows_as_one_cut_line_with_its_size() {
    let p = Project::new(
        "version: 1\nworkspace: shared\njobs:\n  wide:\n    run: |\n      echo before\n      head -c 50000000 /dev/zero | tr '\\0' x\n      echo\n      echo after\n",
    );
    p.allow_settings(&["workspace.shared"]);
    let r = p.wharf(&["run", "--plain"]).expect(0);
    let stderr = r.stderr();
    let wide: Vec<&str> = stderr
        .lines()
        .filter(|l| l.starts_with("[wide] x"))
        .collect();
    assert_eq!(wide.len(), 1, "one line, not {} pieces", wide.len());
    assert!(
        wide[0].ends_with(
            "[line of 47.7 MiB cut to its first 64.0 KiB for display; the log file has all of it]"
        ),
        "{}",
        &wide[0][wide[0].len() - 120..]
    );
    assert!(stderr.contains("[wide] before\n[wide] x"));
    assert!(
        stderr.contains("for display; the log file has all of it]\n[wide] after\n"),
        "no empty line between"
    );
    let log = p.wharf(&["logs", "1"]).expect(0).stdout();
    assert!(log.len() > 50_000_000);
}

/// A reader that does not read: the step ends on time, the display says what it skipped,
/// and the log file has every line.
#[test]
fn a_stalled_reader_slows_only_the_display() {
    let p = Project::new(
        "version: 1\nworkspace: shared\njobs:\n  flood:\n    run: |\n      seq 1 2000000\n      touch done\n",
    );
    p.allow_settings(&["workspace.shared"]);
    let child = p
        .cmd(&["run", "--json"])
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    // Read nothing until the step is done: the pipe fills, the display blocks.
    wait_for(&p.path().join("done"));
    let out = child.wait_with_output().unwrap();
    assert_eq!(out.status.code(), Some(0));
    let text = String::from_utf8_lossy(&out.stdout);
    let skipped: u64 = text
        .lines()
        .filter_map(|l| serde_json::from_str::<serde_json::Value>(l).ok())
        .filter(|e| e["type"] == "lines_skipped")
        .map(|e| e["lines"].as_u64().unwrap())
        .sum();
    let shown = text
        .lines()
        .filter(|l| l.contains(r#""type":"log""#))
        .count() as u64;
    assert!(
        skipped > 0,
        "a stalled reader made nothing skip ({shown} shown)"
    );
    assert_eq!(shown + skipped, 2_000_000, "every line is shown or counted");
    let log = p.wharf(&["logs", "1"]).expect(0).stdout();
    assert!(log.contains("\n2000000\n"));
}

/// A FIFO (or socket) in the project is not copied into workspaces: no checkout has one,
/// and copying it would wait forever for a writer.
#[test]
fn a_fifo_in_the_project_does_not_hang_the_run() {
    for git in [false, true] {
        let p = Project::new(
            "version: 1\njobs:\n  look:\n    run: |\n      test -f kept.txt\n      test ! -e pipe\n",
        );
        p.write("kept.txt", "a file\n");
        if git {
            p.git_init();
        }
        let status = Command::new("mkfifo")
            .arg(p.path().join("pipe"))
            .status()
            .unwrap();
        assert!(status.success());
        p.wharf_in(p.path(), &["run", "--plain"], 30).expect(0);
    }
}
