//! Each job in its own workspace: the project as git sees it, plus its needs' artifacts,
//! and nothing another job or run left.

use std::process::Stdio;

use crate::helper::Project;

fn log_lines(events: &[serde_json::Value], job: &str) -> Vec<String> {
    events
        .iter()
        .filter(|e| e["type"] == "log" && e["job"] == job)
        .filter_map(|e| e["line"].as_str().map(String::from))
        .collect()
}

const LEAKY: &str = r#"version: 1
jobs:
  build:
    run: |
      mkdir -p dist
      echo wheel > dist/app.whl
      echo scratch > undeclared.txt
    artifacts: [dist/app.whl]
  test:
    needs: [build]
    run: |
      ls -a | tr '\n' ' '; echo
      cat dist/app.whl
      cat undeclared.txt
"#;

#[test]
fn a_job_sees_the_git_view_of_the_project_and_its_needs_artifacts_only() {
    let p = Project::new(LEAKY);
    p.allow_settings(&["workspace.shared"]);
    p.write(".gitignore", ".wharf/\nbuild-output/\n");
    p.write("tracked.txt", "committed\n");
    p.git_init();
    p.write("tracked.txt", "edited, not committed\n");
    p.write("untracked.txt", "new\n");
    p.write("build-output/stale.bin", "ignored\n");
    let r = p.wharf(&["run", "--json"]).expect(1);
    let ev = r.events();
    let lines = log_lines(&ev, "test");
    let listing = &lines[0];
    for present in [".git", "tracked.txt", "untracked.txt", "wharf.yml", "dist"] {
        assert!(
            listing.split(' ').any(|f| f == present),
            "{present} missing: {listing}"
        );
    }
    for absent in ["build-output", "undeclared.txt", ".wharf"] {
        assert!(
            !listing.split(' ').any(|f| f == absent),
            "{absent} leaked: {listing}"
        );
    }
    assert_eq!(lines[1], "wheel");
    assert!(
        lines
            .iter()
            .any(|l| l.contains("undeclared.txt: No such file")),
        "{lines:?}"
    );
    // The failed job's workspace is kept and named, so one can `cd` in.
    let kept = lines
        .iter()
        .find_map(|l| l.strip_prefix("wharf: the failed job's workspace is kept for debugging (the next run removes it): "))
        .expect("workspace path printed")
        .to_string();
    assert!(kept.ends_with(".wharf/workspaces/1/test"), "{kept}");
    assert_eq!(
        std::fs::read_to_string(std::path::Path::new(&kept).join("tracked.txt")).unwrap(),
        "edited, not committed\n"
    );
    // The build job succeeded: its workspace is gone; the project is untouched.
    assert!(!p.path().join(".wharf/workspaces/1/build").exists());
    assert!(!p.path().join("undeclared.txt").exists());
    assert!(!p.path().join("dist").exists());

    // The next run removes the kept workspace; `workspace: shared` gives up isolation:
    // the file the first job left is there for the second.
    std::fs::write(
        p.path().join("wharf.yml"),
        LEAKY.replace("version: 1\n", "version: 1\nworkspace: shared\n"),
    )
    .unwrap();
    p.wharf(&["run", "--plain"]).expect(0);
    assert!(!std::path::Path::new(&kept).exists(), "pruned by run 2");
    assert!(p.path().join("undeclared.txt").exists());
}

#[test]
fn the_workspace_is_a_git_checkout_with_history_and_uncommitted_edits() {
    let p = Project::new(
        "version: 1\njobs:\n  describe:\n    run: |\n      git describe --tags\n      git status --porcelain\n      git log --format=%s\n",
    );
    p.write(".gitignore", ".wharf/\n");
    p.write("app.py", "v1\n");
    p.git_init();
    p.git(&["tag", "v0.3.0"]);
    p.write("app.py", "v2\n");
    let r = p.wharf(&["run", "--json"]).expect(0);
    let lines = log_lines(&r.events(), "describe");
    assert_eq!(lines, ["v0.3.0", " M app.py", "init"]);
}

#[test]
fn five_runs_at_once_keep_their_files_and_artifacts_apart() {
    let p = Project::new(
        r#"version: 1
jobs:
  write:
    run: |
      echo "$WHARF_RUN_ID" > mine.txt
      sleep 0.3
    artifacts: [mine.txt]
  read:
    needs: [write]
    run: |
      sleep 0.2
      echo "read $(cat mine.txt) in $WHARF_RUN_ID"
"#,
    );
    let children: Vec<_> = (0..5)
        .map(|_| {
            p.cmd(&["run", "--json"])
                .stdin(Stdio::null())
                .stdout(Stdio::piped())
                .stderr(Stdio::piped())
                .spawn()
                .unwrap()
        })
        .collect();
    let mut seen = Vec::new();
    for child in children {
        let out = child.wait_with_output().unwrap();
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
        let events: Vec<serde_json::Value> = String::from_utf8_lossy(&out.stdout)
            .lines()
            .map(|l| serde_json::from_str(l).unwrap())
            .collect();
        let run = events[0]["run"].as_u64().unwrap();
        assert_eq!(log_lines(&events, "read"), [format!("read {run} in {run}")]);
        seen.push(run);
    }
    seen.sort();
    assert_eq!(seen, [1, 2, 3, 4, 5]);
    for run in seen {
        let list = p
            .wharf(&["artifacts", &run.to_string(), "--json"])
            .expect(0)
            .json();
        let stored = list[0]["stored_at"].as_str().unwrap();
        assert_eq!(
            std::fs::read_to_string(stored).unwrap(),
            format!("{run}\n"),
            "run {run} recorded another run's artifact"
        );
    }
    assert!(!p.path().join("mine.txt").exists());
    let left: Vec<_> = std::fs::read_dir(p.path().join(".wharf/workspaces"))
        .unwrap()
        .flatten()
        .map(|e| e.file_name())
        .collect();
    assert!(left.is_empty(), "workspaces left behind: {left:?}");
}

#[test]
fn keep_workspaces_keeps_every_job_s_copy() {
    let p = Project::new("version: 1\njobs:\n  a:\n    run: echo done > a.txt\n");
    let r = p.wharf(&["run", "--plain", "--keep-workspaces"]).expect(0);
    assert!(
        r.stderr().contains("workspaces are kept in"),
        "{}",
        r.stderr()
    );
    assert_eq!(p.read(".wharf/workspaces/1/a/a.txt"), "done\n");
    // A later run does not remove what was kept on purpose.
    p.wharf(&["run", "--plain"]).expect(0);
    assert!(p.path().join(".wharf/workspaces/1/a/a.txt").exists());
}

#[test]
fn a_job_s_own_workspace_key_and_step_conditions() {
    let p = Project::new(
        r#"version: 1
jobs:
  mine:
    run: echo isolated > isolated.txt
  in-project:
    workspace: shared
    steps:
      - run: exit 3
        continue-on-error: true
      - if: failure()
        run: echo "not after an allowed failure"
      - run: echo shared > shared.txt
      - if: always()
        run: echo "always runs"
      - if: event == 'tag'
        run: echo "only for tags"
"#,
    );
    p.allow_settings(&["workspace.shared"]);
    let r = p.wharf(&["run", "--json"]).expect(0);
    let ev = r.events();
    assert!(p.path().join("shared.txt").exists(), "ran in the project");
    assert!(
        !p.path().join("isolated.txt").exists(),
        "ran in its own copy"
    );
    assert_eq!(log_lines(&ev, "in-project"), ["always runs"]);
    let statuses: Vec<&str> = ev
        .iter()
        .filter(|e| e["type"] == "step_finished" && e["job"] == "in-project")
        .map(|e| e["status"].as_str().unwrap())
        .collect();
    assert_eq!(
        statuses,
        ["failed_allowed", "skipped", "success", "success", "skipped"]
    );
}

/// After a run, `git status` shows nothing wharf wrote (history, logs, artifacts, caches,
/// workspaces), while a pipeline file under `.wharf/` stays visible to commit.
#[test]
fn git_status_shows_nothing_wharf_wrote_but_pipeline_files_stay_committable() {
    let p = Project::new(
        "version: 1\njobs:\n  build:\n    cache: { key: [wharf.yml], paths: [.venv] }\n    run: |\n      mkdir -p .venv dist\n      echo lib > .venv/lib.txt\n      echo wheel > dist/app.whl\n    artifacts: [dist/app.whl]\n  fails:\n    needs: [build]\n    run: exit 1\n",
    );
    p.git_init();
    p.wharf(&["run", "--plain"]).expect(1);
    let status = p.git(&["status", "--porcelain", "--untracked-files=all"]);
    assert_eq!(status, "", "git status after a run:\n{status}");
    let ignore = p.read(".wharf/.gitignore");
    assert!(
        ignore.contains("/wharf.db\n") && ignore.contains("/workspaces\n"),
        "{ignore}"
    );
    // A pipeline file under .wharf/ is the project's: git sees it.
    p.write(
        ".wharf/nightly.yml",
        "version: 1\njobs:\n  scan:\n    run: \"true\"\n",
    );
    let status = p.git(&["status", "--porcelain", "--untracked-files=all"]);
    assert_eq!(status.trim(), "?? .wharf/nightly.yml");
    // A .gitignore the user edited is left alone.
    p.write(".wharf/.gitignore", "# mine\n/wharf.db*\n");
    p.wharf(&["run", "--plain"]).expect(1);
    assert_eq!(p.read(".wharf/.gitignore"), "# mine\n/wharf.db*\n");
}
