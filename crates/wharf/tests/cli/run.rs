//! `wharf run`: the engine's semantics through the real binary.

use crate::helper::{Project, job_status, started_jobs};

#[test]
fn a_pipeline_runs_in_dependency_order_with_outputs_and_layered_env() {
    let p = Project::new(
        r#"version: 1
workspace: shared
name: demo
env: { LEVEL: pipeline, KEEP: p }
jobs:
  first:
    env: { LEVEL: job }
    outputs: [greeting]
    steps:
      - run: echo "greeting=hello from first" >> "$WHARF_OUTPUT"
      - env: { LEVEL: step }
        run: echo "level=$LEVEL keep=$KEEP" > first.txt
  second:
    needs: [first]
    env:
      GREETING: ${{ needs.first.outputs.greeting }}
    run: |
      test -f first.txt
      echo "got: $GREETING; level=$LEVEL" > second.txt
"#,
    );
    p.allow_settings(&["workspace.shared"]);
    let r = p.wharf(&["run", "--json"]).expect(0);
    assert_eq!(p.read("first.txt"), "level=step keep=p\n");
    assert_eq!(
        p.read("second.txt"),
        "got: hello from first; level=pipeline\n"
    );
    let ev = r.events();
    assert_eq!(ev[0]["type"], "run_started");
    assert_eq!(ev.last().unwrap()["type"], "run_finished");
    assert_eq!(ev.last().unwrap()["status"], "success");
    let first_done = ev
        .iter()
        .position(|e| e["type"] == "job_finished" && e["job"] == "first")
        .unwrap();
    let second_start = ev
        .iter()
        .position(|e| e["type"] == "job_started" && e["job"] == "second")
        .unwrap();
    assert!(first_done < second_start);
    let out = ev
        .iter()
        .find(|e| e["type"] == "job_finished" && e["job"] == "first")
        .unwrap();
    assert_eq!(out["outputs"]["greeting"], "hello from first");
}

#[test]
fn a_failing_job_exits_1_skips_dependants_and_shows_the_failure() {
    let p = Project::new(
        "version: 1\njobs:\n  bad:\n    run: |\n      echo about to fail\n      exit 3\n  after:\n    needs: [bad]\n    run: touch after\n",
    );
    let r = p.wharf(&["run", "--plain"]).expect(1);
    let err = r.stderr();
    assert!(err.contains("[bad] about to fail"), "{err}");
    assert!(err.contains("exited with 3"), "{err}");
    assert!(err.contains("skipped"), "{err}");
    assert!(!p.path().join("after").exists());
}

#[test]
fn conditions_on_event_branch_and_tag_and_status() {
    let p = Project::new(
        r#"version: 1
workspace: shared
jobs:
  on-main:
    if: branch == 'main'
    run: touch on-main
  on-tag:
    if: event == 'tag' && startsWith(tag, 'v')
    run: echo "$WHARF_TAG $WHARF_VERSION" > on-tag
  fails:
    run: exit 1
    continue-on-error: true
  cleanup:
    needs: [fails]
    if: always()
    run: touch cleanup
"#,
    );
    p.allow_settings(&["workspace.shared"]);
    p.wharf(&["run", "--branch", "dev"]).expect(0);
    assert!(!p.path().join("on-main").exists());
    assert!(!p.path().join("on-tag").exists());
    assert!(p.path().join("cleanup").exists());
    p.wharf(&["run", "--branch", "main"]).expect(0);
    assert!(p.path().join("on-main").exists());
    p.tag("v1.2.3");
    p.wharf(&["run", "--event", "tag", "--tag", "v1.2.3"])
        .expect(0);
    assert_eq!(p.read("on-tag"), "v1.2.3 1.2.3\n");
}

#[test]
fn event_context_reaches_steps_as_variables_and_triggers_filter_pipelines() {
    let p = Project::new(
        r#"version: 1
workspace: shared
on:
  push: { branches: [main] }
  manual: { inputs: { target: { default: staging, options: [staging, production] } } }
jobs:
  show:
    run: echo "$WHARF_EVENT|$WHARF_BRANCH|$WHARF_SHA|$WHARF_INPUT_TARGET|$WHARF_RUN_ID" > ctx
"#,
    );
    p.allow_settings(&["workspace.shared"]);
    p.git_init();
    p.wharf(&["run"]).expect(0);
    let ctx = p.read("ctx");
    let parts: Vec<&str> = ctx.trim().split('|').collect();
    assert_eq!(parts[0], "push");
    assert_eq!(parts[1], "main");
    assert_eq!(parts[2].len(), 40, "{ctx}");
    assert_eq!(parts[4], "1");
    // a branch the pipeline does not listen to: nothing runs, exit 0
    std::fs::remove_file(p.path().join("ctx")).unwrap();
    let r = p.wharf(&["run", "--branch", "feature"]).expect(0);
    assert!(r.stderr().contains("no pipeline runs"), "{}", r.stderr());
    assert!(!p.path().join("ctx").exists());
    // manual inputs: default, explicit, and a value outside the options
    p.wharf(&["run", "--event", "manual"]).expect(0);
    assert!(p.read("ctx").starts_with("manual|main|"));
    assert!(p.read("ctx").contains("|staging|"));
    p.wharf(&["run", "--event", "manual", "--input", "target=production"])
        .expect(0);
    assert!(p.read("ctx").contains("|production|"));
    let r = p
        .wharf(&["run", "--event", "manual", "--input", "target=moon"])
        .expect(2);
    assert!(r.stderr().contains("production"), "{}", r.stderr());
}

#[test]
fn matrix_cells_run_with_their_values() {
    let p = Project::new(
        r#"version: 1
workspace: shared
jobs:
  test:
    matrix: { py: ["3.11", "3.12"], os: [linux] }
    run: echo ${{ matrix.py }}-$WHARF_JOB >> cells
"#,
    );
    p.allow_settings(&["workspace.shared"]);
    let r = p.wharf(&["run", "-j", "1", "--json"]).expect(0);
    let mut cells: Vec<String> = p.read("cells").lines().map(String::from).collect();
    cells.sort();
    assert_eq!(
        cells,
        vec![
            "3.11-test (py=3.11, os=linux)",
            "3.12-test (py=3.12, os=linux)"
        ]
    );
    assert_eq!(
        job_status(&r.events(), "test (py=3.11, os=linux)"),
        "success"
    );
}

#[test]
fn retries_rerun_a_failed_job() {
    let p = Project::new(
        r#"version: 1
workspace: shared
jobs:
  flaky:
    retry: 2
    run: |
      n=$(cat count 2>/dev/null || echo 0)
      echo $((n+1)) > count
      test $((n+1)) -ge 3
"#,
    );
    p.allow_settings(&["workspace.shared"]);
    let r = p.wharf(&["run", "--json"]).expect(0);
    assert_eq!(p.read("count").trim(), "3");
    let starts = r
        .events()
        .iter()
        .filter(|e| e["type"] == "job_started")
        .count();
    assert_eq!(starts, 3);
}

#[test]
fn fail_fast_cancels_running_jobs_unless_disabled() {
    let pipeline = |ff: bool| {
        format!(
            "version: 1\nfail-fast: {ff}\njobs:\n  slow:\n    run: sleep 5 && touch slow-done\n  bad:\n    run: sleep 0.2 && exit 1\n"
        )
    };
    let p = Project::new(&pipeline(true));
    let started = std::time::Instant::now();
    let r = p.wharf(&["run", "--json", "--kill-grace", "1"]).expect(1);
    assert!(started.elapsed() < std::time::Duration::from_secs(4));
    assert_eq!(job_status(&r.events(), "slow"), "cancelled");
    assert!(!p.path().join("slow-done").exists());
    let p = Project::new(&pipeline(false));
    let r = p.wharf(&["run", "--json"]).expect(1);
    assert_eq!(job_status(&r.events(), "slow"), "success");
}

#[test]
fn working_directory_and_selected_jobs() {
    let p = Project::new(
        "version: 1\nworkspace: shared\njobs:\n  a:\n    working-directory: sub\n    run: pwd > where\n  b:\n    needs: [a]\n    run: touch b\n  c:\n    run: touch c\n",
    );
    p.allow_settings(&["workspace.shared"]);
    std::fs::create_dir(p.path().join("sub")).unwrap();
    p.wharf(&["run", "b"]).expect(0);
    assert!(p.read("sub/where").trim().ends_with("/sub"));
    assert!(p.path().join("b").exists());
    assert!(!p.path().join("c").exists(), "c was not asked for");
}

#[test]
fn steps_see_only_allow_listed_host_variables() {
    let p = Project::new("version: 1\nworkspace: shared\njobs:\n  a:\n    run: env > seen\n");
    p.allow_settings(&["workspace.shared"]);
    let r = p
        .cmd(&["run"])
        .env("AWS_SECRET_ACCESS_KEY", "leak")
        .env("WHARF_SECRET_KEY", "k")
        .output()
        .unwrap();
    assert!(r.status.success());
    let seen = p.read("seen");
    assert!(
        !seen.contains("leak") && !seen.contains("WHARF_SECRET_KEY"),
        "{seen}"
    );
    assert!(
        seen.contains("PATH=") && seen.contains("WHARF_JOB=a"),
        "{seen}"
    );
}

#[test]
fn dry_run_prints_the_plan_and_runs_nothing() {
    let p = Project::new("version: 1\njobs:\n  a:\n    run: touch a\n");
    let r = p.wharf(&["run", "--dry-run", "--json"]).expect(0);
    let plans = r.json();
    assert_eq!(plans[0]["jobs"][0]["id"], "a");
    assert!(!p.path().join("a").exists());
    assert!(!p.path().join(".wharf/wharf.db").exists());
}

#[test]
fn artifacts_are_stored_and_restored_for_jobs_that_need_them_and_reports_counted() {
    let p = Project::new(
        r#"version: 1
jobs:
  build:
    run: |
      mkdir -p dist reports
      echo wheel-bytes > dist/app.whl
      printf '<testsuite><testcase name="a"/><testcase name="b"><failure/></testcase></testsuite>' > reports/junit.xml
    artifacts: ["dist/*.whl"]
    reports: [reports/junit.xml]
  use:
    needs: [build]
    run: |
      test ! -e reports/junit.xml
      echo "use: $(cat dist/app.whl)"
  tamper:
    needs: [build]
    run: rm dist/app.whl
  late:
    needs: [tamper]
    run: echo "late= $(cat dist/app.whl)"
"#,
    );
    let r = p.wharf(&["run", "-j", "1", "--json"]).expect(0);
    let ev = r.events();
    let lines: Vec<&str> = ev
        .iter()
        .filter(|e| e["type"] == "log")
        .filter_map(|e| e["line"].as_str())
        .collect();
    assert!(lines.contains(&"use: wheel-bytes"), "{lines:?}");
    assert!(
        lines.contains(&"late= wheel-bytes"),
        "artifact restored after a job deleted it: {lines:?}"
    );
    let stored = ev.iter().find(|e| e["type"] == "artifact_stored").unwrap();
    assert_eq!(stored["path"], "dist/app.whl");
    let report = ev.iter().find(|e| e["type"] == "report_parsed").unwrap();
    assert_eq!(report["tests"], 2);
    assert_eq!(report["failures"], 1);
    let list = p.wharf(&["artifacts", "--json"]).expect(0).json();
    assert_eq!(list[0]["path"], "dist/app.whl");
    assert_eq!(list[0]["sha256"].as_str().unwrap().len(), 64);
    let stored_at = list[0]["stored_at"].as_str().unwrap();
    assert_eq!(std::fs::read_to_string(stored_at).unwrap(), "wheel-bytes\n");
}

#[test]
fn artifact_paths_escaping_the_workspace_are_refused() {
    let outside = tempfile::tempdir().unwrap();
    std::fs::write(outside.path().join("secret"), "s").unwrap();
    let p = Project::new(&format!(
        "version: 1\njobs:\n  a:\n    run: ln -sf {} dist-link\n    artifacts: [dist-link]\n",
        outside.path().join("secret").display()
    ));
    let r = p.wharf(&["run", "--plain"]).expect(1);
    assert!(
        r.stderr().contains("outside the workspace"),
        "{}",
        r.stderr()
    );
}

#[test]
fn missing_artifacts_fail_the_job() {
    let p =
        Project::new("version: 1\njobs:\n  a:\n    run: \"true\"\n    artifacts: [dist/*.whl]\n");
    let r = p.wharf(&["run", "--plain"]).expect(1);
    assert!(r.stderr().contains("matched no file"), "{}", r.stderr());
}

#[test]
fn stdout_lines_are_never_instructions() {
    let p = Project::new(
        "version: 1\njobs:\n  a:\n    outputs: [x]\n    run: |\n      echo 'x=from-stdout'\n      echo '::set-output name=x::evil'\n",
    );
    let r = p.wharf(&["run", "--json"]).expect(0);
    let done = r
        .events()
        .into_iter()
        .find(|e| e["type"] == "job_finished")
        .unwrap();
    assert_eq!(done["outputs"], serde_json::json!({}));
}

#[test]
fn schedule_and_pull_request_events_start_only_pipelines_that_listen_to_them() {
    let p = Project::new(
        r#"version: 1
workspace: shared
name: nightly
on:
  schedule: ["0 3 * * 1"]
jobs:
  scan:
    run: echo "$WHARF_EVENT" > nightly
"#,
    );
    p.allow_settings(&["workspace.shared"]);
    p.write(
        ".wharf/review.yml",
        r#"version: 1
workspace: shared
name: review
on:
  pull_request: { branches: [main] }
jobs:
  check:
    run: echo "$WHARF_EVENT $WHARF_BRANCH" > review
"#,
    );
    // wharf.yml and .wharf/*.yml are both pipelines of the project
    let r = p.wharf(&["run", "--branch", "main"]).expect(0);
    assert!(r.stderr().contains("no pipeline runs"), "{}", r.stderr());
    p.wharf(&["run", "--event", "schedule"]).expect(0);
    assert_eq!(p.read("nightly"), "schedule\n");
    assert!(!p.path().join("review").exists());
    p.wharf(&["run", "--event", "pull_request", "--branch", "main"])
        .expect(0);
    assert_eq!(p.read("review"), "pull_request main\n");
    std::fs::remove_file(p.path().join("review")).unwrap();
    p.wharf(&["run", "--event", "pull_request", "--branch", "dev"])
        .expect(0);
    assert!(!p.path().join("review").exists(), "branch filter");
    let runs = p.wharf(&["runs", "--json"]).expect(0).json();
    let names: Vec<&str> = runs
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r["pipeline"].as_str().unwrap())
        .collect();
    assert_eq!(names, vec!["review", "nightly"]);
}

#[test]
fn on_a_terminal_the_live_view_shows_marks_durations_and_the_failing_tail() {
    let p = Project::new(
        "version: 1\njobs:\n  ok:\n    run: sleep 0.3\n  bad:\n    needs: [ok]\n    run: |\n      echo first-line\n      echo the-last-words >&2\n      exit 5\n",
    );
    // `script` gives wharf a real pseudo-terminal, as a person's shell would.
    let cmd = format!("{} run", crate::helper::bin().display());
    let out = std::process::Command::new("script")
        .args(["-qec", &cmd, "/dev/null"])
        .current_dir(p.path())
        .env("TERM", "xterm")
        .stdin(std::process::Stdio::null())
        .output()
        .unwrap();
    let screen = String::from_utf8_lossy(&out.stdout);
    assert_eq!(out.status.code(), Some(1), "{screen}");
    assert!(screen.contains("✓") && screen.contains("ok"), "{screen}");
    assert!(screen.contains("✗") && screen.contains("bad"), "{screen}");
    // The tail follows the failed job's line (which ends with its reason).
    let after_mark = &screen[screen.find('✗').unwrap()..];
    let tail = &after_mark[after_mark.find("exited with 5").unwrap()..];
    let first = tail.find("first-line").unwrap();
    let last = tail.find("the-last-words").unwrap();
    assert!(
        first < last,
        "the tail keeps the order the step wrote in: {screen}"
    );
    assert!(screen.contains("exited with 5"), "{screen}");
    assert!(
        screen.contains("JOB") && screen.contains("failed"),
        "summary: {screen}"
    );
    assert!(
        !screen.contains("[bad] first-line"),
        "no plain prefixes on a terminal: {screen}"
    );
}

#[test]
fn a_tag_event_needs_the_tag_on_the_commit_it_runs() {
    let p =
        Project::new("version: 1\nworkspace: shared\njobs:\n  release:\n    run: touch released\n");
    p.allow_settings(&["workspace.shared"]);
    p.git_init();
    // No such tag: nothing runs, and the hint says how to make it (or rehearse with --sha).
    let r = p
        .wharf(&["run", "--plain", "--event", "tag", "--tag", "v0.9.0"])
        .expect(2);
    let err = r.stderr();
    assert!(
        err.contains("--event tag --tag v0.9.0: this repository has no tag `v0.9.0`"),
        "{err}"
    );
    assert!(err.contains("git tag -a v0.9.0 -m v0.9.0"), "{err}");
    assert!(!p.path().join("released").exists());

    // The tag exists but on another commit: refused, naming both.
    p.tag("v1.0.0");
    let tagged = p.git(&["rev-parse", "HEAD"]).trim().to_string();
    p.write("more.txt", "x\n");
    p.git(&["add", "-A"]);
    p.git(&["commit", "-qm", "after the tag"]);
    let r = p
        .wharf(&["run", "--plain", "--event", "tag", "--tag", "v1.0.0"])
        .expect(2);
    let err = r.stderr();
    assert!(
        err.contains(&format!(
            "`v1.0.0` points at {}, not at HEAD",
            &tagged[..12]
        )),
        "{err}"
    );
    assert!(err.contains("git checkout v1.0.0"), "{err}");
    assert!(!p.path().join("released").exists());

    // On the tagged commit it runs; a tag not made yet can be rehearsed with --sha.
    p.git(&["checkout", "-q", "v1.0.0"]);
    p.wharf(&["run", "--plain", "--event", "tag", "--tag", "v1.0.0"])
        .expect(0);
    assert!(p.path().join("released").exists());
    let r = p
        .wharf(&[
            "run", "--plain", "--event", "tag", "--tag", "v2.0.0", "--sha", &tagged,
        ])
        .expect(0);
    assert!(
        r.stderr()
            .contains("no tag `v2.0.0`: running as if it pointed at --sha"),
        "{}",
        r.stderr()
    );
}

/// `wharf run "test (python=3.12)"` runs that matrix cell alone, by the name wharf shows.
#[test]
fn one_matrix_cell_runs_by_its_displayed_name() {
    let p = Project::new(
        "version: 1\nworkspace: shared\njobs:\n  test:\n    matrix: { python: [\"3.11\", \"3.12\"] }\n    run: touch ran-${{ matrix.python }}\n  ship:\n    needs: [test]\n    run: touch shipped\n",
    );
    p.allow_settings(&["workspace.shared"]);
    let r = p.wharf(&["run", "--json", "test (python=3.12)"]).expect(0);
    assert!(p.path().join("ran-3.12").exists());
    assert!(!p.path().join("ran-3.11").exists());
    assert!(!p.path().join("shipped").exists());
    let started = started_jobs(&r.events());
    assert_eq!(started, ["test (python=3.12)"]);
    let err = p.wharf(&["run", "test (python=3.13)"]).expect(2).stderr();
    assert!(
        err.contains("job `test` has no matrix cell `test (python=3.13)`"),
        "{err}"
    );
    assert!(
        err.contains("its cells: test (python=3.11), test (python=3.12)"),
        "{err}"
    );
}

/// `on.push.paths` is judged locally against `--base` (default: the upstream branch):
/// the files changed since the merge base, plus uncommitted ones; `--dry-run` says which
/// changed and why each pipeline starts or not.
#[test]
fn path_filters_are_judged_against_a_base() {
    let p = Project::new(
        "version: 1\nname: code\non:\n  push:\n    paths: [\"src/**\"]\njobs:\n  test:\n    run: \"true\"\n",
    );
    p.write(".wharf/docs.yml", "version: 1\nname: docs\non:\n  push:\n    paths: [\"docs/**\"]\njobs:\n  build-docs:\n    run: \"true\"\n");
    p.write("src/app.py", "v1\n");
    p.write("docs/index.md", "v1\n");
    p.git_init();
    p.git(&["branch", "base"]);
    // Without a base or an upstream, filters are not applied, and the dry run says so.
    let dry = p.wharf(&["run", "--dry-run"]).expect(0).stdout();
    assert!(dry.contains("path filters not applied"), "{dry}");
    // A docs change since `base`: only the docs pipeline starts.
    p.write("docs/index.md", "v2\n");
    p.git(&["commit", "-qam", "docs"]);
    let dry = p
        .wharf(&["run", "--dry-run", "--base", "base"])
        .expect(0)
        .stdout();
    assert!(
        dry.contains(
            "changed since base (merge base, plus uncommitted changes): 1 file: docs/index.md"
        ),
        "{dry}"
    );
    assert!(
        dry.contains("pipeline code: not started: no changed file matches on.push.paths [src/**]"),
        "{dry}"
    );
    assert!(
        dry.contains("pipeline docs: started: on.push.paths [docs/**] matches docs/index.md"),
        "{dry}"
    );
    let r = p.wharf(&["run", "--json", "--base", "base"]).expect(0);
    let started = started_jobs(&r.events());
    assert_eq!(started, ["build-docs"]);
    // An uncommitted source edit counts too.
    p.write("src/app.py", "v2\n");
    let dry = p
        .wharf(&["run", "--dry-run", "--base", "base"])
        .expect(0)
        .stdout();
    assert!(
        dry.contains("pipeline code: started: on.push.paths [src/**] matches src/app.py"),
        "{dry}"
    );
    // A base that is not a commit.
    let err = p.wharf(&["run", "--base", "nope"]).expect(2).stderr();
    assert!(
        err.contains("--base nope: not a commit this repository shares history with"),
        "{err}"
    );
}

/// `wharf run --rerun-failed` runs the failed jobs of the last run and the jobs after them,
/// for that run's event, reusing what the jobs they need produced (outputs, artifacts)
/// without running those again.
#[test]
fn rerun_failed_reuses_what_succeeded() {
    let counter = tempfile::tempdir().unwrap();
    let log = counter.path().join("build-runs");
    let p = Project::new(&format!(
        r#"version: 1
jobs:
  build:
    outputs: [version]
    run: |
      echo built >> {log}
      mkdir -p dist && echo wheel-1.2 > dist/app.whl
      echo "version=1.2" >> "$WHARF_OUTPUT"
    artifacts: [dist/app.whl]
  lint:
    run: "true"
  test:
    needs: [build, lint]
    env: {{ VERSION: "${{{{ needs.build.outputs.version }}}}" }}
    run: |
      test ! -f FAIL
      test "$(cat dist/app.whl)" = wheel-1.2
      test "$VERSION" = 1.2
  deploy:
    needs: [test]
    run: echo deployed
"#,
        log = log.display()
    ));
    p.write("FAIL", "x\n");
    p.git_init();
    let first = p.wharf(&["run", "--json"]).expect(1);
    assert_eq!(job_status(&first.events(), "test"), "failed");
    std::fs::remove_file(p.path().join("FAIL")).unwrap();
    p.git(&["rm", "-q", "--cached", "FAIL"]);
    let again = p.wharf(&["run", "--json", "--rerun-failed"]).expect(0);
    assert!(
        again.stderr().contains("re-running the failed jobs of run #1 (test) and the 1 job after them; reusing the results, outputs and artifacts of build, lint"),
        "{}",
        again.stderr()
    );
    let ev = again.events();
    let started: Vec<&str> = ev
        .iter()
        .filter(|e| e["type"] == "job_started")
        .map(|e| e["job"].as_str().unwrap())
        .collect();
    assert_eq!(started, ["test", "deploy"]);
    assert_eq!(job_status(&ev, "deploy"), "success");
    assert_eq!(
        std::fs::read_to_string(&log).unwrap(),
        "built\n",
        "build ran once"
    );
    // Nothing failed any more.
    let r = p.wharf(&["run", "--rerun-failed", "2"]).expect(0);
    assert!(
        r.stderr().contains("run #2 has no failed jobs"),
        "{}",
        r.stderr()
    );
    let err = p.wharf(&["run", "--rerun-failed", "x"]).expect(2).stderr();
    assert!(err.contains("--rerun-failed x: not a run number"), "{err}");
}

/// `on.pipeline` under `wharf run`: the run of `build` starts `deploy` (on success) and
/// not `alert` (on failure), at once, as the server does.
#[test]
fn a_pipeline_that_follows_another_runs_after_it_locally() {
    let p = Project::new(
        "version: 1\nname: build\non: { push: {} }\njobs:\n  b:\n    run: echo built\n",
    );
    p.write(
        ".wharf/deploy.yml",
        "version: 1\nname: deploy\non: { pipeline: { name: build } }\njobs:\n  d:\n    run: echo \"deploying after $WHARF_EVENT\"\n",
    );
    p.write(
        ".wharf/alert.yml",
        "version: 1\nname: alert\non: { pipeline: { name: build, status: failure } }\njobs:\n  a:\n    run: echo alert\n",
    );
    let out = p.wharf(&["run", "--plain"]).expect(0);
    let err = out.stderr();
    assert!(err.contains("starting deploy (on.pipeline)"), "{err}");
    assert!(err.contains("[d] deploying after pipeline"), "{err}");
    assert!(!err.contains("[a] alert"), "{err}");
    // a name that is no pipeline, and a pipeline that follows itself, are refused
    p.write(
        ".wharf/alert.yml",
        "version: 1\nname: alert\non: { pipeline: { name: biuld } }\njobs:\n  a:\n    run: echo alert\n",
    );
    p.write(
        ".wharf/deploy.yml",
        "version: 1\nname: deploy\non: { pipeline: { name: deploy } }\njobs:\n  d:\n    run: \"true\"\n",
    );
    let out = p.wharf(&["validate"]).expect(2);
    let err = out.stderr();
    assert!(
        err.contains("`on.pipeline` names `biuld`, which is not a pipeline of the project"),
        "{err}"
    );
    assert!(err.contains("a pipeline cannot follow itself"), "{err}");
}

#[test]
fn an_invalid_pipeline_is_reported_once_by_every_command_that_loads_it() {
    let p = Project::new(
        "version: 1\non: { manual: {} }\njobs:\n  a:\n    run: \"true\"\n    bogus: 1\n",
    );
    for args in [&["run", "--plain"][..], &["graph"], &["validate"]] {
        let r = p.wharf(args).expect(2);
        let err = r.stderr();
        assert!(
            err.contains("error: unknown key `bogus` in job `a`"),
            "{args:?}\n{err}"
        );
        assert!(err.contains("--> wharf.yml:6:5"), "{args:?}\n{err}");
        assert_eq!(err.matches("error:").count(), 2, "{args:?}\n{err}");
        assert!(
            err.trim_end().ends_with("error: 1 problem found"),
            "{args:?}\n{err}"
        );
    }
}

#[test]
fn without_user_in_the_environment_the_actor_is_the_account_of_the_user_id() {
    let p = Project::new("version: 1\non: { manual: {} }\njobs:\n  a:\n    run: \"true\"\n");
    let out = p
        .cmd(&["run", "--plain", "--event", "manual"])
        .env_remove("USER")
        .env_remove("LOGNAME")
        .stdin(std::process::Stdio::null())
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(0), "{out:?}");
    let whoami = std::process::Command::new("id")
        .arg("-un")
        .output()
        .unwrap();
    let me = String::from_utf8_lossy(&whoami.stdout).trim().to_string();
    let shown = p.wharf(&["show", "--json"]).expect(0).json();
    assert_eq!(shown["event"]["actor"], me.as_str(), "{shown}");
}
