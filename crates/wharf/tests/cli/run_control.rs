//! Stopping runs: timeouts, Ctrl-C, and a wharf killed with SIGKILL.

use std::process::Stdio;
use std::time::{Duration, Instant};

use crate::helper::{Project, alive, wait_for};

#[test]
fn a_timeout_kills_the_whole_process_group() {
    let p = Project::new(
        "version: 1\nworkspace: shared\njobs:\n  slow:\n    timeout: 1s\n    run: |\n      sleep 60 &\n      echo $! > child.pid\n      trap '' TERM\n      sleep 60\n",
    );
    p.allow_settings(&["workspace.shared"]);
    let started = Instant::now();
    let r = p.wharf(&["run", "--plain", "--kill-grace", "1"]).expect(1);
    assert!(started.elapsed() < Duration::from_secs(15));
    assert!(
        r.stderr().contains("timed_out") || r.stderr().contains("timed out"),
        "{}",
        r.stderr()
    );
    let child: i32 = p.read("child.pid").trim().parse().unwrap();
    std::thread::sleep(Duration::from_millis(200));
    assert!(!alive(child), "the step's background child survived");
}

#[test]
fn ctrl_c_cancels_the_run_kills_steps_and_exits_130() {
    let p = Project::new(
        "version: 1\nworkspace: shared\njobs:\n  slow:\n    run: |\n      sleep 60 &\n      echo $! > child.pid\n      sleep 60\n  later:\n    needs: [slow]\n    run: touch later\n",
    );
    p.allow_settings(&["workspace.shared"]);
    let child = p
        .cmd(&["run", "--plain", "--kill-grace", "2"])
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    wait_for(&p.path().join("child.pid"));
    rustix::process::kill_process(
        rustix::process::Pid::from_raw(child.id() as i32).unwrap(),
        rustix::process::Signal::INT,
    )
    .unwrap();
    let started = Instant::now();
    let out = child.wait_with_output().unwrap();
    assert!(started.elapsed() < Duration::from_secs(10));
    assert_eq!(
        out.status.code(),
        Some(130),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let bg: i32 = p.read("child.pid").trim().parse().unwrap();
    assert!(!alive(bg));
    assert!(!p.path().join("later").exists());
    let shown = p.wharf(&["show", "--json"]).expect(0).json();
    assert_eq!(shown["status"], "cancelled");
}

/// `wharf run --plain` in the background, its output discarded.
fn spawn_quiet_run(p: &Project) -> std::process::Child {
    p.cmd(&["run", "--plain"])
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap()
}

#[test]
fn a_run_killed_with_sigkill_is_marked_interrupted_on_the_next_start() {
    let p = Project::new(
        "version: 1\nworkspace: shared\njobs:\n  slow:\n    run: touch started && sleep 30\n",
    );
    p.allow_settings(&["workspace.shared"]);
    let mut child = spawn_quiet_run(&p);
    wait_for(&p.path().join("started"));
    child.kill().unwrap();
    child.wait().unwrap();
    let runs = p.wharf(&["runs", "--json"]).expect(0).json();
    assert_eq!(runs[0]["status"], "interrupted", "{runs}");
    let shown = p.wharf(&["show", "1", "--json"]).expect(0).json();
    assert_eq!(shown["jobs"][0]["status"], "interrupted");
    // and the database still works for new runs
    p.write(
        "wharf.yml",
        "version: 1\njobs:\n  quick:\n    run: \"true\"\n",
    );
    p.wharf(&["run"]).expect(0);
    let runs = p.wharf(&["runs", "--json"]).expect(0).json();
    assert_eq!(runs[0]["number"], 2);
    assert_eq!(runs[0]["status"], "success");
}

#[test]
fn steps_do_not_outlive_a_wharf_killed_with_sigkill() {
    let p = Project::new(
        "version: 1\nworkspace: shared\njobs:\n  deploy:\n    run: |\n      sleep 60 &\n      echo $! > child.pid\n      echo $$ > main.pid\n      sleep 60\n",
    );
    p.allow_settings(&["workspace.shared"]);
    let mut child = spawn_quiet_run(&p);
    wait_for(&p.path().join("main.pid"));
    let bg: i32 = p.read("child.pid").trim().parse().unwrap();
    let main: i32 = p.read("main.pid").trim().parse().unwrap();
    assert!(alive(bg) && alive(main));
    // No chance to clean up: the watchdog sees wharf's end of its pipe close and stops
    // the step's whole process group (SIGTERM; SIGKILL 5 s later).
    child.kill().unwrap();
    child.wait().unwrap();
    let deadline = Instant::now() + Duration::from_secs(10);
    while (alive(bg) || alive(main)) && Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(50));
    }
    assert!(!alive(bg), "the step's background process outlived wharf");
    assert!(!alive(main), "the step outlived wharf");
}

#[test]
fn no_deps_runs_only_the_named_jobs() {
    let p = crate::helper::Project::new(
        "version: 1\njobs:\n  build:\n    run: echo building\n  test:\n    needs: [build]\n    run: echo testing\n",
    );
    let run = p.wharf(&["run", "--plain", "--no-deps", "test"]).expect(0);
    assert!(run.stderr().contains("[test] testing"), "{}", run.stderr());
    assert!(!run.stderr().contains("building"), "{}", run.stderr());
    let with = p.wharf(&["run", "--plain", "test"]).expect(0);
    assert!(with.stderr().contains("[build] building"));
    let bad = p.wharf(&["run", "--no-deps"]).expect(2);
    assert!(
        bad.stderr()
            .contains("the following required arguments were not provided"),
        "{}",
        bad.stderr()
    );
}

#[test]
fn env_overrides_are_literal_and_later_values_see_them_whatever_the_order() {
    let p = crate::helper::Project::new(
        "version: 1\nenv: { REGISTRY: \"127.0.0.1:5000\", IMAGE: \"${{ env.REGISTRY }}/demo\" }\njobs:\n  a:\n    run: echo \"image=$IMAGE\"\n",
    );
    let run = p.wharf(&["run", "--plain"]).expect(0);
    assert!(
        run.stderr().contains("[a] image=127.0.0.1:5000/demo"),
        "{}",
        run.stderr()
    );
    let run = p
        .wharf(&["run", "--plain", "--env", "REGISTRY=127.0.0.1:6001"])
        .expect(0);
    assert!(
        run.stderr().contains("[a] image=127.0.0.1:6001/demo"),
        "{}",
        run.stderr()
    );
    for (arg, message) in [
        (
            "X=${{ sha }}",
            "error: --env X: the value is taken literally and may not contain `${{`",
        ),
        ("WHARF_RUN=1", "error: --env: `WHARF_RUN` cannot be set"),
        ("novalue", "error: --env `novalue` is not NAME=VALUE"),
    ] {
        let bad = p.wharf(&["run", "--plain", "--env", arg]).expect(2);
        assert!(bad.stderr().contains(message), "{arg}: {}", bad.stderr());
    }
}

/// `wharf logs -f` follows a running job: its first line arrives while the run still
/// runs, every line arrives, and it ends when the run does.
#[test]
fn logs_follow_prints_a_running_job_s_lines_as_they_come() {
    use std::io::BufRead;
    let p = crate::helper::Project::new(
        "version: 1\njobs:\n  slow:\n    run: |\n      for i in 1 2 3 4 5 6; do echo \"line $i\"; sleep 0.3; done\n",
    );
    let mut run = p
        .cmd(&["run", "--plain"])
        .stdin(std::process::Stdio::null())
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .spawn()
        .unwrap();
    // Wait until the run is recorded, then follow it.
    let t = std::time::Instant::now();
    while !p.path().join(".wharf/wharf.db").exists()
        || !p.wharf(&["runs", "--json"]).stdout().contains("\"number\"")
    {
        assert!(
            t.elapsed() < std::time::Duration::from_secs(20),
            "the run never started"
        );
        std::thread::sleep(std::time::Duration::from_millis(50));
    }
    let mut follow = p
        .cmd(&["logs", "-f", "latest", "slow"])
        .stdin(std::process::Stdio::null())
        .stdout(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    let mut lines = std::io::BufReader::new(follow.stdout.take().unwrap()).lines();
    let mut got = Vec::new();
    let mut first_while_running = None;
    for line in lines.by_ref() {
        let line = line.unwrap();
        if line.starts_with("line ") && first_while_running.is_none() {
            first_while_running = Some(run.try_wait().unwrap().is_none());
        }
        got.push(line);
    }
    assert_eq!(
        first_while_running,
        Some(true),
        "the first line came only after the run: {got:?}"
    );
    let status = follow.wait().unwrap();
    assert!(status.success());
    assert!(run.wait().unwrap().success());
    let body: Vec<&str> = got
        .iter()
        .map(String::as_str)
        .filter(|l| l.starts_with("line "))
        .collect();
    assert_eq!(
        body,
        ["line 1", "line 2", "line 3", "line 4", "line 5", "line 6"],
        "{got:?}"
    );
    assert_eq!(
        got[0],
        "==> slow / for i in 1 2 3 4 5 6; do echo \"line $i\"; sleep 0.3; done <=="
    );
}
