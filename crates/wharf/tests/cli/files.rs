//! Files from outside the project never become pipelines, artifacts or cache entries, and
//! every parser limit says which it is.

use std::path::Path;
use std::process::Command;

use crate::helper::{Project, Run};

/// A parent project whose pipeline must never run for a command in its `child/`.
const PARENT: &str = "version: 1\njobs:\n  parent:\n    run: touch parent-ran\n";

/// A line no output may ever show: it lives only in files outside the project.
const SECRET: &str = "SECRET_hunter2_LINE";

fn mkfifo(path: &Path) {
    let s = Command::new("mkfifo").arg(path).status().unwrap();
    assert!(s.success(), "mkfifo {}", path.display());
}

/// A directory outside every project, with `secret.yml` (a pipeline with a line that must
/// never show) and `secret.txt`.
fn outside() -> tempfile::TempDir {
    let o = tempfile::tempdir().unwrap();
    std::fs::write(
        o.path().join("secret.yml"),
        format!("version: 1\n{SECRET}: leaked\njobs:\n  x:\n    run: \"true\"\n"),
    )
    .unwrap();
    std::fs::write(o.path().join("secret.txt"), format!("{SECRET}\n")).unwrap();
    o
}

fn assert_no_secret(r: &Run) {
    assert!(
        !r.stdout().contains(SECRET) && !r.stderr().contains(SECRET),
        "a line of a file outside the project was printed\n--- stdout\n{}\n--- stderr\n{}",
        r.stdout(),
        r.stderr()
    );
}

/// Every file under `dir`, read.
fn contents(dir: &Path) -> Vec<String> {
    let mut out = Vec::new();
    let Ok(entries) = std::fs::read_dir(dir) else {
        return out;
    };
    for e in entries.flatten() {
        let ft = e.file_type().unwrap();
        if ft.is_dir() {
            out.extend(contents(&e.path()));
        } else if ft.is_file() {
            out.push(String::from_utf8_lossy(&std::fs::read(e.path()).unwrap()).into_owned());
        }
    }
    out
}

#[test]
fn a_wharf_yml_that_is_not_a_file_is_an_error_naming_it_never_the_parents_pipeline() {
    let p = Project::new(PARENT);
    let child = p.path().join("child");
    std::fs::create_dir(&child).unwrap();
    let yml = child.join("wharf.yml");
    let make = |what: &str| match what {
        "FIFO" => mkfifo(&yml),
        "directory" => std::fs::create_dir(&yml).unwrap(),
        "link to /dev/zero" => std::os::unix::fs::symlink("/dev/zero", &yml).unwrap(),
        "link to the device /dev/null" => std::os::unix::fs::symlink("/dev/null", &yml).unwrap(),
        "dangling link" => std::os::unix::fs::symlink("missing.yml", &yml).unwrap(),
        other => unreachable!("{other}"),
    };
    let cases = [
        ("FIFO", "`wharf.yml` is a FIFO (named pipe), not a file"),
        ("directory", "`wharf.yml` is a directory, not a file"),
        (
            "link to /dev/zero",
            "`wharf.yml` is a symlink to /dev/zero, outside the project",
        ),
        (
            "link to the device /dev/null",
            "`wharf.yml` is a symlink to /dev/null, outside the project",
        ),
        (
            "dangling link",
            "`wharf.yml` is a symlink to missing.yml, which does not exist",
        ),
    ];
    for (what, message) in cases {
        make(what);
        for args in [&["validate"][..], &["run", "--plain"]] {
            let r = p.wharf_in(&child, args, 60).expect(2);
            let err = r.stderr();
            assert!(err.contains(message), "{what}, {args:?}: {err}");
            assert!(err.contains("hint:"), "{what}, {args:?}: {err}");
            assert!(!p.path().join("parent-ran").exists(), "{what}: {err}");
            assert!(!err.contains("parent"), "{what}: {err}");
        }
        let _ = std::fs::remove_file(&yml).or_else(|_| std::fs::remove_dir(&yml));
    }

    // The same rules for `.wharf/*.yml`.
    std::fs::create_dir(child.join(".wharf")).unwrap();
    mkfifo(&child.join(".wharf/ci.yml"));
    let r = p.wharf_in(&child, &["run", "--plain"], 60).expect(2);
    assert!(
        r.stderr()
            .contains("`.wharf/ci.yml` is a FIFO (named pipe), not a file"),
        "{}",
        r.stderr()
    );
    assert!(!p.path().join("parent-ran").exists());
}

#[test]
fn a_pipeline_linked_from_outside_is_refused_and_never_quoted() {
    let o = outside();
    let p = Project::new(PARENT);
    std::fs::remove_file(p.path().join("wharf.yml")).unwrap();
    let target = o.path().join("secret.yml").canonicalize().unwrap();
    std::os::unix::fs::symlink(&target, p.path().join("wharf.yml")).unwrap();
    for args in [&["validate"][..], &["validate", "--json"], &["run"]] {
        let r = p.wharf(args).expect(2);
        assert_no_secret(&r);
        let text = format!("{}{}", r.stdout(), r.stderr());
        assert!(
            text.contains(&format!(
                "`wharf.yml` is a symlink to {}, outside the project",
                target.display()
            )),
            "{args:?}: {text}"
        );
    }
    // Also under `.wharf/`, and through a link to a directory outside.
    std::fs::remove_file(p.path().join("wharf.yml")).unwrap();
    std::fs::create_dir(p.path().join(".wharf")).unwrap();
    std::os::unix::fs::symlink(&target, p.path().join(".wharf/ci.yml")).unwrap();
    let r = p.wharf(&["validate"]).expect(2);
    assert_no_secret(&r);
    assert!(
        r.stderr().contains("`.wharf/ci.yml` is a symlink to"),
        "{}",
        r.stderr()
    );
    std::fs::remove_dir_all(p.path().join(".wharf")).unwrap();
    std::os::unix::fs::symlink(o.path(), p.path().join(".wharf")).unwrap();
    let r = p.wharf(&["validate"]).expect(2);
    assert_no_secret(&r);
    assert!(
        r.stderr()
            .contains("`.wharf/secret.yml` is outside the project: it resolves to"),
        "{}",
        r.stderr()
    );
}

#[test]
fn a_pipeline_linked_from_inside_the_project_is_read() {
    let p = Project::new(PARENT);
    std::fs::remove_file(p.path().join("wharf.yml")).unwrap();
    p.write("ci/pipeline.yml", PARENT);
    std::os::unix::fs::symlink("ci/pipeline.yml", p.path().join("wharf.yml")).unwrap();
    let r = p.wharf(&["validate"]).expect(0);
    assert!(r.stderr().contains("ok: wharf.yml"), "{}", r.stderr());
}

#[test]
fn validate_refuses_artifact_paths_that_leave_the_workspace_before_any_run() {
    let p = Project::new(
        "version: 1\njobs:\n  a:\n    run: touch ran\n    artifacts: [/etc/passwd, \"dist/../../x\"]\n",
    );
    let r = p.wharf(&["validate"]).expect(2);
    let err = r.stderr();
    assert!(
        err.contains("artifact path `/etc/passwd` leaves the workspace"),
        "{err}"
    );
    assert!(
        err.contains("artifact path `dist/../../x` leaves the workspace"),
        "{err}"
    );
    p.wharf(&["run"]).expect(2);
    assert!(!p.path().join("ran").exists());
    assert!(!p.path().join(".wharf/wharf.db").exists());
}

/// `--json` log lines of a run.
fn log_lines(r: &Run) -> Vec<String> {
    r.events()
        .iter()
        .filter(|e| e["type"] == "log")
        .filter_map(|e| e["line"].as_str().map(String::from))
        .collect()
}

#[test]
fn an_artifact_link_to_a_file_outside_is_left_out_with_a_warning() {
    let o = outside();
    let secret = o.path().join("secret.txt").canonicalize().unwrap();
    let p = Project::new(&format!(
        "version: 1\njobs:\n  a:\n    run: |\n      mkdir dist\n      echo ok > dist/ok.txt\n      ln -s {} dist/link.txt\n    artifacts: [\"dist/*\"]\n",
        secret.display()
    ));
    let r = p.wharf(&["run", "--json"]).expect(0);
    // A warning of the run: recorded, and listed under the summary and by `wharf show`.
    let warning = format!(
        "artifacts: `dist/link.txt` leads to {}, outside the workspace: left out",
        secret.display()
    );
    let events = r.events();
    let warnings: Vec<&str> = events
        .iter()
        .filter(|e| e["type"] == "warning" && e["job"] == "a")
        .filter_map(|e| e["message"].as_str())
        .collect();
    assert_eq!(warnings, [warning.as_str()]);
    let shown = p.wharf(&["show", "--json"]).expect(0).json();
    assert_eq!(shown["warnings"][0]["message"], warning.as_str());
    let list = p.wharf(&["artifacts", "--json"]).expect(0).json();
    let paths: Vec<&str> = list
        .as_array()
        .unwrap()
        .iter()
        .map(|a| a["path"].as_str().unwrap())
        .collect();
    assert_eq!(paths, ["dist/ok.txt"]);
    assert!(
        !contents(&p.path().join(".wharf/artifacts"))
            .iter()
            .any(|c| c.contains(SECRET))
    );
}

#[test]
fn an_artifact_glob_never_walks_through_a_symlinked_directory_out() {
    let o = outside();
    let real = o.path().canonicalize().unwrap();
    let p = Project::new(&format!(
        "version: 1\njobs:\n  a:\n    run: ln -s {} out\n    artifacts: [\"out/*.txt\"]\n",
        real.display()
    ));
    let r = p.wharf(&["run", "--plain"]).expect(1);
    let err = r.stderr();
    assert!(
        err.contains(&format!(
            "`out/*.txt` matched no file inside the workspace (`out` leads to {}, outside the workspace: left out)",
            real.display()
        )),
        "{err}"
    );
    assert_no_secret(&r);
    assert!(
        !contents(&p.path().join(".wharf/artifacts"))
            .iter()
            .any(|c| c.contains(SECRET))
    );
}

#[test]
fn cache_paths_never_follow_a_symlinked_directory_out() {
    let o = outside();
    std::fs::create_dir(o.path().join("lib")).unwrap();
    std::fs::write(o.path().join("lib/mod.py"), SECRET).unwrap();
    let real = o.path().canonicalize().unwrap();
    let p = Project::new(&format!(
        r#"version: 1
jobs:
  deps:
    cache:
      key: [deps.txt]
      paths: [.deps, vendor/lib, "vendor/*"]
    run: |
      mkdir -p .deps
      echo installed > .deps/installed
      ln -s {} vendor
"#,
        real.display()
    ));
    p.write("deps.txt", "flask==3\n");
    let r = p.wharf(&["run", "--json"]).expect(0);
    let lines = log_lines(&r);
    for warning in [
        format!(
            "wharf: warning: cache paths: `vendor/lib` leads to {}/lib, outside the workspace: left out",
            real.display()
        ),
        format!(
            "wharf: warning: cache paths: `vendor` leads to {}, outside the workspace: left out",
            real.display()
        ),
    ] {
        assert!(lines.contains(&warning), "{warning}\n{lines:?}");
    }
    assert!(
        lines.iter().any(|l| l.contains("cache: saved")),
        "{lines:?}"
    );
    let cached = contents(&p.path().join(".wharf/cache/jobs/objects"));
    assert_eq!(cached, ["installed\n"]);
}

#[test]
fn a_flat_file_of_40749_jobs_names_the_node_limit_it_went_over() {
    let mut text = String::from("version: 1\njobs:\n");
    for i in 0..40_749 {
        text.push_str(&format!("  j{i:05}:\n    run: echo\n"));
    }
    assert!(text.len() < 1 << 20, "under the size limit: {}", text.len());
    let p = Project::new(&text);
    let r = p.wharf(&["validate"]).expect(2);
    let err = r.stderr();
    assert!(
        err.contains("error: the file has more than 100000 YAML nodes"),
        "{err}"
    );
    assert!(
        err.contains("hint: pipeline files may hold 100000 nodes"),
        "{err}"
    );
    assert!(!err.contains("nested"), "{err}");
}
