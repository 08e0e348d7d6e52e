//! `wharf runs`, `show`, `logs`, `artifacts` over recorded runs.

use crate::helper::Project;

#[test]
fn runs_show_and_logs_read_back_what_happened() {
    let p = Project::new(
        "version: 1\nname: hist\njobs:\n  hello:\n    steps:\n      - name: greet\n        run: echo hello-world\n      - run: echo second >&2\n  broken:\n    needs: [hello]\n    run: exit 4\n",
    );
    p.wharf(&["run"]).expect(1);
    let runs = p.wharf(&["runs", "--json"]).expect(0).json();
    assert_eq!(runs[0]["number"], 1);
    assert_eq!(runs[0]["pipeline"], "hist");
    assert_eq!(runs[0]["status"], "failed");
    let table = p.wharf(&["runs"]).expect(0).stdout();
    assert!(table.contains("#1") && table.contains("failed"), "{table}");

    let shown = p.wharf(&["show", "1", "--json"]).expect(0).json();
    assert_eq!(shown["jobs"][0]["status"], "success");
    assert_eq!(shown["jobs"][0]["steps"][0]["name"], "greet");
    assert_eq!(shown["jobs"][1]["exit_code"], 4);
    let text = p.wharf(&["show"]).expect(0).stdout();
    assert!(text.contains("broken") && text.contains("exit 4"), "{text}");

    let logs = p.wharf(&["logs", "1", "hello"]).expect(0).stdout();
    assert!(
        logs.contains("hello-world") && logs.contains("second"),
        "{logs}"
    );
    let lines: Vec<serde_json::Value> = p
        .wharf(&["logs", "latest", "--json"])
        .expect(0)
        .stdout()
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    assert!(
        lines
            .iter()
            .any(|l| l["line"] == "hello-world" && l["job"] == "hello")
    );
}

#[test]
fn unknown_runs_and_jobs_are_clear_errors() {
    let p = Project::new("version: 1\njobs:\n  a:\n    run: \"true\"\n");
    let r = p.wharf(&["show"]).expect(2);
    assert!(
        r.stderr().contains("no runs recorded yet"),
        "{}",
        r.stderr()
    );
    p.wharf(&["run"]).expect(0);
    let r = p.wharf(&["show", "7"]).expect(2);
    assert!(r.stderr().contains("no run #7"), "{}", r.stderr());
    let r = p.wharf(&["logs", "1", "zzz"]).expect(2);
    assert!(r.stderr().contains("no job `zzz`"), "{}", r.stderr());
    let r = p.wharf(&["logs", "abc"]).expect(2);
    assert!(r.stderr().contains("not a run number"), "{}", r.stderr());
    assert_eq!(
        p.wharf(&["runs", "--json"])
            .expect(0)
            .json()
            .as_array()
            .unwrap()
            .len(),
        1
    );
}
