//! Output that survives pipes: every data command, its stdout closed by the reader before
//! it writes (what `wharf runs | head -1` does after one line), ends without a panic or an
//! error message.

use std::process::Stdio;

use crate::helper::Project;

#[test]
fn every_data_command_piped_into_a_closed_reader_ends_quietly() {
    let p = Project::new(
        "version: 1\njobs:\n  build:\n    run: |\n      seq 1 20000\n      mkdir -p dist && echo wheel > dist/app.whl\n    artifacts: [dist/app.whl]\n  test:\n    needs: [build]\n    run: seq 1 20000\n",
    );
    p.git_init();
    p.wharf(&["run", "--plain"]).expect(0);
    let commands: &[&[&str]] = &[
        &["runs"],
        &["runs", "--json"],
        &["show", "1"],
        &["show", "1", "--json"],
        &["logs", "1"],
        &["logs", "1", "build", "--json"],
        &["artifacts", "1"],
        &["artifacts", "1", "--json"],
        &["graph"],
        &["graph", "--format", "dot"],
        &["validate"],
        &["validate", "--json"],
        &["schema"],
        &["releases"],
        &["releases", "--json"],
        &["cache", "list"],
        &["cache", "list", "--json"],
        &["secrets", "list"],
        &["run", "--dry-run"],
        &["run", "--dry-run", "--json"],
        &["release", "plan"],
        &["export", "github", "-o", "-"],
        &["--help"],
        &["run", "--help"],
    ];
    for args in commands {
        let mut child = p
            .cmd(args)
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap();
        // The reader is gone before wharf writes its first byte.
        drop(child.stdout.take());
        let out = child.wait_with_output().unwrap();
        let err = String::from_utf8_lossy(&out.stderr);
        assert_ne!(
            out.status.code(),
            Some(101),
            "wharf {args:?} panicked: {err}"
        );
        assert!(
            !err.contains("panicked")
                && !err.contains("Broken pipe")
                && !err.contains("os error 32"),
            "wharf {args:?}: {err}"
        );
    }
}

/// `runs` and `artifacts` print aligned tables with headers; `graph` and `--dry-run` show
/// each job's `if:`, and `graph --json` gives the jobs as data.
#[test]
fn tables_align_and_the_graph_shows_conditions() {
    let p = Project::new(
        "version: 1\njobs:\n  build-the-wheel:\n    run: mkdir -p dist && echo w > dist/app-1.0-py3-none-any.whl\n    artifacts: [dist/app-1.0-py3-none-any.whl]\n  notify:\n    needs: [build-the-wheel]\n    if: failure()\n    run: echo failed\n",
    );
    p.wharf(&["run", "--plain"]).expect(0);
    p.wharf(&["run", "--plain"]).expect(0);
    let runs = p.wharf(&["runs"]).expect(0).stdout();
    let lines: Vec<&str> = runs.lines().collect();
    assert!(lines[0].starts_with("RUN  STATUS"), "{runs}");
    let col = lines[0].find("PIPELINE").unwrap();
    for row in &lines[1..] {
        assert_eq!(row.find("wharf"), Some(col), "{runs}");
    }
    let arts = p.wharf(&["artifacts", "1"]).expect(0).stdout();
    let lines: Vec<&str> = arts.lines().collect();
    assert!(lines[0].starts_with("JOB  "), "{arts}");
    assert_eq!(lines[1].find("dist/"), lines[0].find("PATH"), "{arts}");
    let graph = p.wharf(&["graph"]).expect(0).stdout();
    assert!(
        graph.contains("notify <- build-the-wheel  (if: failure())"),
        "{graph}"
    );
    let dry = p.wharf(&["run", "--dry-run"]).expect(0).stdout();
    assert!(dry.contains("(if: failure())"), "{dry}");
    let json: serde_json::Value =
        serde_json::from_str(&p.wharf(&["graph", "--json"]).expect(0).stdout()).unwrap();
    assert_eq!(json[0]["jobs"][1]["if"], "failure()");
    assert_eq!(json[0]["jobs"][1]["needs"][0], "build-the-wheel");
}
