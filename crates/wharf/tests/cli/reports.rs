//! What a failed job leaves: its JUnit reports (always kept, failed tests named), its
//! `artifacts: { when: on_failure | always }` (GitLab's `artifacts:when`), and the warnings
//! of the run (a `reports:` glob that matched nothing).

use crate::helper::Project;

/// A pytest-like job: writes a JUnit report with two failed tests of three, and a log,
/// then fails as pytest does (exit 1).
const PIPELINE: &str = r#"version: 1
fail-fast: false
jobs:
  test:
    run: |
      mkdir -p reports
      echo "collected 3 items; 2 failed" > pytest.log
      cat > reports/junit.xml <<'XML'
      <?xml version="1.0" encoding="utf-8"?>
      <testsuites><testsuite name="pytest" errors="0" failures="2" skipped="0" tests="3">
      <testcase classname="tests.test_calc" name="test_add" time="0.001"/>
      <testcase classname="tests.test_calc" name="test_sub" time="0.002"><failure message="assert 1 == 2&#10; +  where 1 = sub(3, 2)">def test_sub():
      &gt;       assert sub(3, 2) == 2
      E       assert 1 == 2</failure></testcase>
      <testcase classname="tests.test_io" name="test_read" time="0.003"><failure message="FileNotFoundError: data.csv">Traceback</failure></testcase>
      </testsuite></testsuites>
      XML
      exit 1
    reports: [reports/junit.xml, reports/coverage.xml]
    artifacts:
      paths: [pytest.log]
      when: always
  build:
    run: |
      mkdir -p dist && echo wheel > dist/app.whl
      exit 3
    artifacts: [dist/app.whl]
  lint:
    run: echo clean > lint.log
    artifacts: { paths: [lint.log], when: on_failure }
  notify:
    needs: [test]
    if: failure()
    run: echo "notify got $(cat pytest.log)"
  deploy:
    needs: [test]
    run: echo never
"#;

/// `wharf artifacts --json` as (job, path) pairs.
fn artifacts(p: &Project) -> Vec<(String, String)> {
    let list = p.wharf(&["artifacts", "--json"]).expect(0).json();
    list.as_array()
        .unwrap()
        .iter()
        .map(|a| {
            (
                a["job"].as_str().unwrap().to_string(),
                a["path"].as_str().unwrap().to_string(),
            )
        })
        .collect()
}

#[test]
fn a_failed_test_job_keeps_its_report_and_when_always_artifacts_and_names_the_failed_tests() {
    let p = Project::new(PIPELINE);
    let r = p.wharf(&["run", "--plain", "-j", "1"]).expect(1);
    let err = r.stderr();

    // The summary names each failed test with its class and the first line of its message,
    // the rest of the message below it, and the glob that matched nothing.
    let summary = &err[err.rfind("JOB").expect("a summary table")..];
    assert!(summary.contains("1 passed, 2 failed"), "{summary}");
    assert!(summary.contains("\nfailed tests:\n"), "{summary}");
    assert!(
        summary.contains(
            "  [test] test_sub (tests.test_calc): assert 1 == 2\n       +  where 1 = sub(3, 2)\n"
        ),
        "{summary}"
    );
    assert!(
        summary.contains("  [test] test_read (tests.test_io): FileNotFoundError: data.csv\n"),
        "{summary}"
    );
    assert!(
        summary.contains("warning: [test] reports: `reports/coverage.xml` matched no file\n"),
        "{summary}"
    );
    // Said as it happened, too.
    assert!(
        err.contains("[test] warning: reports: `reports/coverage.xml` matched no file"),
        "{err}"
    );
    // A job that still runs after the failure receives the failed job's artifacts.
    assert!(
        err.contains("[notify] notify got collected 3 items; 2 failed"),
        "{err}"
    );

    // Kept: the report (always) and the `when: always` log of the failed job; not the
    // list-form artifact of a failed job, nor the `on_failure` one of a job that passed.
    let kept = artifacts(&p);
    for want in [("test", "pytest.log"), ("test", "reports/junit.xml")] {
        assert!(
            kept.contains(&(want.0.to_string(), want.1.to_string())),
            "{want:?} in {kept:?}"
        );
    }
    assert!(
        !kept.iter().any(|(_, path)| path == "dist/app.whl"),
        "{kept:?}"
    );
    assert!(!kept.iter().any(|(_, path)| path == "lint.log"), "{kept:?}");
    let list = p.wharf(&["artifacts", "--json"]).expect(0).json();
    let junit = list
        .as_array()
        .unwrap()
        .iter()
        .find(|a| a["path"] == "reports/junit.xml")
        .unwrap();
    let stored = std::fs::read_to_string(junit["stored_at"].as_str().unwrap()).unwrap();
    assert!(stored.contains(r#"name="test_read""#), "{stored}");
    let text = p.wharf(&["artifacts"]).expect(0).stdout();
    assert!(
        text.contains("reports/junit.xml") && text.contains("pytest.log"),
        "{text}"
    );

    // `wharf show --json`: the failed tests with the report, the warning with the run.
    let rec = p.wharf(&["show", "--json"]).expect(0).json();
    let test = rec["jobs"]
        .as_array()
        .unwrap()
        .iter()
        .find(|j| j["id"] == "test")
        .unwrap();
    assert_eq!(test["status"], "failed");
    let report = &test["reports"][0];
    assert_eq!(report["path"], "reports/junit.xml");
    assert_eq!(report["failures"], 2);
    assert_eq!(
        report["failed_tests"],
        serde_json::json!([
            {
                "name": "test_sub",
                "classname": "tests.test_calc",
                "kind": "failure",
                "message": "assert 1 == 2\n +  where 1 = sub(3, 2)"
            },
            {
                "name": "test_read",
                "classname": "tests.test_io",
                "kind": "failure",
                "message": "FileNotFoundError: data.csv"
            }
        ])
    );
    assert_eq!(
        rec["warnings"],
        serde_json::json!([{
            "job": "test",
            "step": null,
            "message": "reports: `reports/coverage.xml` matched no file"
        }])
    );
    let status = |id: &str| {
        rec["jobs"]
            .as_array()
            .unwrap()
            .iter()
            .find(|j| j["id"] == id)
            .unwrap()["status"]
            .clone()
    };
    assert_eq!(status("notify"), "success");
    assert_eq!(status("deploy"), "skipped");
    assert_eq!(status("lint"), "success");

    // `wharf show`: the same, as text.
    let show = p.wharf(&["show"]).expect(0).stdout();
    assert!(
        show.contains("    tests: 1 passed, 2 failed (reports/junit.xml)\n      failed: test_sub (tests.test_calc): assert 1 == 2\n"),
        "{show}"
    );
    assert!(
        show.contains("      failed: test_read (tests.test_io): FileNotFoundError: data.csv\n"),
        "{show}"
    );
    assert!(
        show.contains("    warning: reports: `reports/coverage.xml` matched no file\n"),
        "{show}"
    );
}

#[test]
fn json_events_carry_the_failed_tests_and_the_warning() {
    let p = Project::new(PIPELINE);
    let r = p.wharf(&["run", "--json", "test"]).expect(1);
    let ev = r.events();
    let report = ev.iter().find(|e| e["type"] == "report_parsed").unwrap();
    assert_eq!(report["job"], "test");
    assert_eq!(report["tests"], 3);
    assert_eq!(report["failed_tests"][0]["name"], "test_sub");
    assert_eq!(report["failed_tests"][0]["classname"], "tests.test_calc");
    assert_eq!(report["failed_tests"][1]["name"], "test_read");
    assert_eq!(
        report["failed_tests"][1]["message"],
        "FileNotFoundError: data.csv"
    );
    let warning = ev.iter().find(|e| e["type"] == "warning").unwrap();
    assert_eq!(
        warning,
        &serde_json::json!({
            "type": "warning",
            "job": "test",
            "step": null,
            "message": "reports: `reports/coverage.xml` matched no file"
        })
    );
    let stored: Vec<&str> = ev
        .iter()
        .filter(|e| e["type"] == "artifact_stored")
        .map(|e| e["path"].as_str().unwrap())
        .collect();
    assert_eq!(stored, ["pytest.log", "reports/junit.xml"]);
    // Every event comes before the job's end, which comes before the run's.
    let pos = |t: &str| ev.iter().position(|e| e["type"] == t).unwrap();
    assert!(pos("warning") < pos("job_finished"));
}

/// A report of a job that passed is kept too, and stays with the run: jobs after it do not
/// receive it (as a service's log); a report also declared as an artifact is stored once
/// and passed on.
#[test]
fn reports_of_a_passing_job_are_kept_not_passed_on() {
    let p = Project::new(
        r#"version: 1
jobs:
  test:
    run: |
      echo '<testsuite><testcase classname="c" name="ok"/></testsuite>' > junit.xml
      echo '<testsuite><testcase classname="c" name="ok2"/></testsuite>' > both.xml
    reports: [junit.xml, both.xml]
    artifacts: { paths: [both.xml], when: on_success }
  after:
    needs: [test]
    run: |
      test ! -e junit.xml
      test -e both.xml
"#,
    );
    let r = p.wharf(&["run", "--plain"]).expect(0);
    assert!(!r.stderr().contains("failed tests:"), "{}", r.stderr());
    assert!(!r.stderr().contains("warning:"), "{}", r.stderr());
    let kept = artifacts(&p);
    assert_eq!(
        kept,
        [
            ("test".to_string(), "both.xml".to_string()),
            ("test".to_string(), "junit.xml".to_string())
        ]
    );
}

/// `when: on_failure` keeps nothing when the job passes, and a glob of a failed job's
/// artifacts that matched nothing is a warning: the job's own failure stays its reason.
#[test]
fn on_failure_artifacts_and_globs_that_match_nothing_after_a_failure() {
    let p = Project::new(
        r#"version: 1
jobs:
  flaky:
    run: |
      echo "attempt" > debug.log
      exit 4
    artifacts: { paths: [debug.log, core.*], when: on_failure }
"#,
    );
    let r = p.wharf(&["run", "--plain"]).expect(1);
    let err = r.stderr();
    assert!(
        err.contains("warning: [flaky] artifacts: `core.*` matched no file"),
        "{err}"
    );
    assert_eq!(
        artifacts(&p),
        [("flaky".to_string(), "debug.log".to_string())]
    );
    let rec = p.wharf(&["show", "--json"]).expect(0).json();
    assert_eq!(
        rec["jobs"][0]["reason"],
        "step `echo \"attempt\" > debug.log` exited with 4"
    );
}

/// A retried job shows its latest attempt's reports, artifacts and warnings, not the sum of
/// every attempt's.
#[test]
fn a_retry_shows_the_latest_attempt_only() {
    let p = Project::new(
        r#"version: 1
jobs:
  flaky:
    retry: 1
    run: |
      if [ -e tried.marker ]; then
        echo '<testsuite><testcase classname="c" name="a"/></testsuite>' > junit.xml
        exit 0
      fi
      touch tried.marker
      echo '<testsuite><testcase classname="c" name="a"><failure message="first try"/></testcase></testsuite>' > junit.xml
      exit 1
    reports: [junit.xml, missing.xml]
    workspace: shared
"#,
    );
    p.allow_settings(&["workspace.shared"]);
    let r = p.wharf(&["run", "--plain"]).expect(0);
    let err = r.stderr();
    let summary = &err[err.rfind("JOB").unwrap()..];
    assert!(summary.contains("1 passed"), "{summary}");
    assert!(!summary.contains("failed tests:"), "{summary}");
    assert_eq!(summary.matches("warning: [flaky]").count(), 1, "{summary}");
    let rec = p.wharf(&["show", "--json"]).expect(0).json();
    assert_eq!(rec["jobs"][0]["reports"][0]["failures"], 0);
    assert_eq!(
        rec["jobs"][0]["reports"][0]["failed_tests"],
        serde_json::json!([])
    );
    assert_eq!(rec["warnings"].as_array().unwrap().len(), 1);
}

#[test]
fn a_bad_when_or_a_map_without_paths_is_refused_with_a_hint() {
    let p = Project::new(
        "version: 1\njobs:\n  test:\n    run: pytest\n    artifacts: { paths: [junit.xml], when: sometimes }\n",
    );
    let r = p.wharf(&["validate"]).expect(2);
    let err = r.stderr();
    assert!(
        err.contains("invalid `when` `sometimes` for artifacts"),
        "{err}"
    );
    assert!(err.contains("wharf.yml:5:44"), "{err}");
    assert!(
        err.contains("hint: `when` is one of `on_success`, `on_failure`, `always`"),
        "{err}"
    );
    p.wharf(&["run"]).expect(2);

    let p = Project::new(
        "version: 1\njobs:\n  test:\n    run: pytest\n    artifacts: { paths: [junit.xml], when: on-failure }\n",
    );
    let err = p.wharf(&["validate"]).expect(2).stderr();
    assert!(err.contains("did you mean `on_failure`?"), "{err}");

    let p = Project::new(
        "version: 1\njobs:\n  test:\n    run: pytest\n    artifacts: { when: always }\n",
    );
    let err = p.wharf(&["validate"]).expect(2).stderr();
    assert!(
        err.contains("`artifacts` of job `test` has no `paths`"),
        "{err}"
    );
    assert!(
        err.contains("hint: name the files to keep: `artifacts: { paths: [junit.xml, test.log], when: always }`"),
        "{err}"
    );

    let p = Project::new(
        "version: 1\njobs:\n  test:\n    run: pytest\n    artifacts: { paths: [a], expire_in: 1 week }\n",
    );
    let err = p.wharf(&["validate"]).expect(2).stderr();
    assert!(err.contains("unknown key `expire_in`"), "{err}");
    assert!(err.contains("`paths`") && err.contains("`when`"), "{err}");

    // The escaping-path check holds for the map form too.
    let p = Project::new(
        "version: 1\njobs:\n  test:\n    run: pytest\n    artifacts: { paths: [../out.log], when: always }\n",
    );
    let err = p.wharf(&["validate"]).expect(2).stderr();
    assert!(
        err.contains("artifact path `../out.log` leaves the workspace"),
        "{err}"
    );

    // Both forms are valid.
    let p = Project::new(
        "version: 1\njobs:\n  a:\n    run: pytest\n    artifacts: [x]\n  b:\n    run: pytest\n    artifacts:\n      paths: [y]\n      when: always\n",
    );
    p.wharf(&["validate"]).expect(0);
}
