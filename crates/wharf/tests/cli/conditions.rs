//! Job conditions as GitHub Actions defines them: `success()`, `failure()`, `always()` and
//! `cancelled()` judge every job a job needs, directly or through others. The first three
//! tests are workflows from GitHub's documentation, ported to wharf.

use crate::helper::{Project, job_status as status};

fn reason(events: &[serde_json::Value], job: &str) -> String {
    events
        .iter()
        .rev()
        .find(|e| e["type"] == "job_finished" && e["job"] == job)
        .and_then(|e| e["reason"].as_str().map(String::from))
        .unwrap_or_default()
}

/// "Workflow syntax: jobs.<job_id>.needs", the example that requires successful dependent
/// jobs and then runs job3 with `if: ${{ always() }}` "after job1 and job2 have completed,
/// regardless of whether they were successful".
#[test]
fn github_needs_example_always_runs_after_a_failed_chain() {
    for fail_fast in ["true", "false"] {
        let p = Project::new(&format!(
            r#"version: 1
fail-fast: {fail_fast}
jobs:
  job1:
    run: exit 1
  job2:
    needs: [job1]
    run: echo job2
  job3:
    if: ${{{{ always() }}}}
    needs: [job1, job2]
    run: echo job3 ran
"#
        ));
        let r = p.wharf(&["run", "--json"]).expect(1);
        let ev = r.events();
        assert_eq!(status(&ev, "job1"), "failed");
        assert_eq!(status(&ev, "job2"), "skipped", "fail-fast: {fail_fast}");
        assert_eq!(status(&ev, "job3"), "success", "fail-fast: {fail_fast}");
    }
}

/// "Expressions: failure()": "If you have a chain of dependent jobs, failure() returns
/// true if any ancestor job fails." The notify job needs only deploy; test, deploy's need,
/// is what failed.
#[test]
fn github_failure_example_sees_an_ancestor_not_only_a_direct_need() {
    let p = Project::new(
        r#"version: 1
jobs:
  test:
    run: exit 1
  deploy:
    needs: [test]
    run: echo deploying
  notify:
    needs: [deploy]
    if: ${{ failure() }}
    run: echo "something upstream failed"
  celebrate:
    needs: [deploy]
    if: ${{ success() }}
    run: echo "all green"
"#,
    );
    let r = p.wharf(&["run", "--json"]).expect(1);
    let ev = r.events();
    assert_eq!(status(&ev, "deploy"), "skipped");
    assert_eq!(status(&ev, "notify"), "success");
    assert!(
        ev.iter().any(|e| e["type"] == "log"
            && e["job"] == "notify"
            && e["line"] == "something upstream failed"),
        "notify's step ran"
    );
    assert_ne!(status(&ev, "celebrate"), "success");
}

/// "Expressions: always()": "If you want to run a job or step regardless of its success or
/// failure, use the recommended alternative: `if: ${{ !cancelled() }}`". A failure does not
/// make `cancelled()` true, with fail-fast on (wharf's default) or off; an interrupted run
/// does (tested in run_control).
#[test]
fn github_not_cancelled_example_runs_after_a_failure_even_under_fail_fast() {
    let p = Project::new(
        r#"version: 1
jobs:
  build:
    run: exit 1
  upload-logs:
    needs: [build]
    if: ${{ !cancelled() }}
    run: echo uploading
  only-when-cancelled:
    needs: [build]
    if: ${{ cancelled() }}
    run: echo never
"#,
    );
    let r = p.wharf(&["run", "--json"]).expect(1);
    let ev = r.events();
    assert_eq!(status(&ev, "upload-logs"), "success");
    assert_ne!(status(&ev, "only-when-cancelled"), "success");
}

/// GitHub Actions' `success()` also judges the whole chain: a job after a job that ran
/// `if: always()` past a failure is skipped (actions/runner#491), and says why. (With
/// fail-fast, wharf's default, it would be cancelled by the failure instead.)
#[test]
fn success_judges_the_chain_past_an_always_job() {
    let p = Project::new(
        r#"version: 1
fail-fast: false
jobs:
  a:
    run: exit 1
  b:
    needs: [a]
    if: always()
    run: echo b
  c:
    needs: [b]
    run: echo c
  d:
    needs: [b]
    if: always() && needs.b.result == 'success'
    run: echo d
"#,
    );
    let r = p.wharf(&["run", "--json"]).expect(1);
    let ev = r.events();
    assert_eq!(status(&ev, "b"), "success");
    assert_eq!(status(&ev, "c"), "skipped");
    assert!(
        reason(&ev, "c").contains("earlier in its needs chain"),
        "{}",
        reason(&ev, "c")
    );
    assert_eq!(status(&ev, "d"), "success");
}

/// Fail-fast (wharf's default) stops jobs that did not ask to run after a failure, even
/// those that do not need the failed job; `failure()` there is false (no ancestor failed),
/// so such a job does not start either.
#[test]
fn fail_fast_cancels_independent_jobs_unless_their_if_asks_to_run() {
    let p = Project::new(
        r#"version: 1
jobs:
  fails:
    run: exit 1
  later:
    needs: [fails]
    if: ${{ !cancelled() }}
    run: echo later
  independent:
    needs: [later]
    run: echo independent
  independent-on-failure:
    needs: [later]
    if: failure()
    run: echo independent-on-failure
"#,
    );
    let r = p.wharf(&["run", "--json", "-j", "1"]).expect(1);
    let ev = r.events();
    assert_eq!(status(&ev, "later"), "success");
    assert_ne!(status(&ev, "independent"), "success");
    assert_eq!(status(&ev, "independent-on-failure"), "success");
}

/// A job's `if:` reads the outputs and result of the job it needs, decided the moment that
/// job ends (it once saw them only for jobs recorded earlier, so such a condition was
/// always false).
#[test]
fn an_if_reads_the_outputs_and_result_of_the_job_that_just_ended() {
    let p = Project::new(
        r#"version: 1
jobs:
  changes:
    outputs: [docs_only]
    run: echo "docs_only=true" >> "$WHARF_OUTPUT"
  docs:
    needs: [changes]
    if: ${{ needs.changes.outputs.docs_only == 'true' && needs.changes.result == 'success' }}
    run: echo publishing docs
  deploy:
    needs: [changes]
    if: needs.changes.outputs.docs_only != 'true'
    run: echo deploying
"#,
    );
    let r = p.wharf(&["run", "--json"]).expect(0);
    let ev = r.events();
    assert_eq!(status(&ev, "docs"), "success");
    assert_eq!(status(&ev, "deploy"), "skipped");
    assert!(reason(&ev, "deploy").contains("if: condition was false"));
}

/// `needs.JOB.result` is checked like outputs: only for jobs the job needs.
#[test]
fn validate_refuses_the_result_of_a_job_not_needed() {
    let p = Project::new(
        r#"version: 1
jobs:
  a:
    run: "true"
  b:
    if: needs.a.result == 'success'
    run: "true"
"#,
    );
    let r = p.wharf(&["validate"]).expect(2);
    let err = r.stderr();
    assert!(err.contains("job `b` does not need `a`"), "{err}");
    assert!(
        err.contains("add `a` to `needs:` of job `b` to read its result"),
        "{err}"
    );
}
