//! wharf's own insecure settings — `workspace: shared`, secrets for pull requests, a
//! plain-HTTP registry, a `production` environment without approvals — are refused by
//! `validate` (and so by `run`) unless the policy file has a valid `setting` exception; the
//! `policy` step applies those exceptions and the release records them.

use crate::helper::{Project, day, settings_policy};

/// A `setting` exception, valid or not as `created`/`expires` (days from today) say.
fn setting_exception(
    id: &str,
    key: &str,
    subject: Option<&str>,
    created: i64,
    expires: i64,
) -> String {
    let subject = subject
        .map(|s| format!("subject = \"{s}\"\n"))
        .unwrap_or_default();
    format!(
        "\n[[exception]]\nid = \"{id}\"\nkind = \"setting\"\nsetting = \"{key}\"\n{subject}\
         reason = \"the legacy build reads what the previous job left\"\nowner = \"team-web\"\n\
         approved-by = \"sec-lead\"\ncreated = {}\nexpires = {}\n",
        day(created),
        day(expires)
    )
}

const SHARED: &str =
    "version: 1\nname: legacy\nworkspace: shared\njobs:\n  build:\n    run: touch built\n";

#[test]
fn each_insecure_setting_is_refused_without_an_exception_located_with_a_hint() {
    let cases = [
        (
            SHARED,
            "error: insecure setting workspace.shared legacy needs a `setting` exception in the policy file",
            "wharf.yml:3:12",
            "remove `workspace: shared`",
        ),
        (
            "version: 1\njobs:\n  build:\n    workspace: shared\n    run: touch built\n",
            "error: insecure setting workspace.shared build needs a `setting` exception",
            "wharf.yml:4:16",
            "subject = \"build\"",
        ),
        (
            "version: 1\non:\n  pull_request: { secrets: true }\njobs:\n  a:\n    run: \"true\"\n",
            "error: insecure setting secrets.pull-requests wharf needs a `setting` exception",
            "wharf.yml:3:28",
            "remove `secrets: true`",
        ),
        (
            "version: 1\nenvironments:\n  production:\n    branches: [main]\njobs:\n  a:\n    environment: production\n    run: \"true\"\n",
            "error: insecure setting environment.production-without-approval production needs a `setting` exception",
            "wharf.yml:3:3",
            "approval: { required: 1 }",
        ),
        (
            // No `environments:` at all: nothing asks for an approval either.
            "version: 1\njobs:\n  a:\n    environment: Production\n    run: \"true\"\n",
            "error: insecure setting environment.production-without-approval Production needs",
            "wharf.yml:4:18",
            "approval: { required: 1 }",
        ),
        (
            "version: 1\njobs:\n  a:\n    steps:\n      - build-image:\n          layers: [{ src: app/, dest: /app/ }]\n          image: registry.internal:5000/app\n          insecure: [registry.internal:5000, \"127.0.0.1:5000\"]\n",
            "error: insecure setting registry.plain-http registry.internal:5000 needs a `setting` exception",
            "wharf.yml:8:22",
            "reach the registry over https",
        ),
    ];
    let release = (
        "version: 1\njobs:\n  a:\n    steps:\n      - release: { insecure: [\"registry.internal:5000\"] }\n",
        "error: insecure setting registry.plain-http registry.internal:5000 needs a `setting` exception",
        "wharf.yml:5:31",
        "reach the registry over https",
    );
    for (pipeline, says, at, hint) in cases.into_iter().chain([release]) {
        let p = Project::new(pipeline);
        let v = p.wharf(&["validate"]).expect(2);
        let err = v.stderr();
        assert!(err.contains(says), "{pipeline}\n---\n{err}");
        assert!(err.contains(&format!("--> {at}")), "{at}\n---\n{err}");
        assert!(
            err.contains("create `wharf.policy.toml` with an exception"),
            "{err}"
        );
        assert!(err.contains(hint), "{hint}\n---\n{err}");
        // Only the one setting: a loopback registry under `insecure:` is not one.
        assert!(err.contains("error: 1 problem found"), "{err}");
        // `run` refuses it too, before any job.
        let r = p.wharf(&["run", "--plain"]).expect(2);
        assert!(r.stderr().contains(says), "{}", r.stderr());
        assert!(!p.path().join("built").exists());
    }
}

#[test]
fn a_valid_exception_lets_the_setting_stay_and_its_subject_limits_it() {
    let p = Project::new(SHARED);
    // An exception for another pipeline does not cover this one.
    p.write(
        "wharf.policy.toml",
        &setting_exception("EXC-1", "workspace.shared", Some("other"), -1, 30),
    );
    let v = p.wharf(&["validate"]).expect(2);
    assert!(
        v.stderr()
            .contains("insecure setting workspace.shared legacy needs a `setting` exception"),
        "{}",
        v.stderr()
    );
    assert!(
        v.stderr()
            .contains("add an exception to `wharf.policy.toml`"),
        "{}",
        v.stderr()
    );
    // Its own subject, or none, does.
    for subject in [Some("legacy"), None] {
        p.write(
            "wharf.policy.toml",
            &setting_exception("EXC-1", "workspace.shared", subject, -1, 30),
        );
        p.wharf(&["validate"]).expect(0);
    }
    p.wharf(&["run", "--plain"]).expect(0);
    assert!(
        p.path().join("built").exists(),
        "the shared job wrote into the project"
    );
    // `validate --json` says so too.
    let j = p.wharf(&["validate", "--json"]).expect(0).json();
    assert_eq!(j["valid"], true);
}

#[test]
fn an_expired_exception_is_named_and_the_last_day_still_counts() {
    let p = Project::new(SHARED);
    p.write(
        "wharf.policy.toml",
        &setting_exception("EXC-7", "workspace.shared", None, -40, -1),
    );
    let v = p.wharf(&["validate"]).expect(2);
    let err = v.stderr();
    assert!(
        err.contains(&format!(
            "error: insecure setting workspace.shared legacy is covered only by exception EXC-7, which expired on {} (owner team-web, approved by sec-lead); renew or remove it",
            day(-1)
        )),
        "{err}"
    );
    assert!(
        err.contains("renew exception EXC-7 in `wharf.policy.toml`"),
        "{err}"
    );
    // An exception applies through its `expires` day.
    p.write(
        "wharf.policy.toml",
        &setting_exception("EXC-7", "workspace.shared", None, -40, 0),
    );
    p.wharf(&["validate"]).expect(0);
}

#[test]
fn a_broken_policy_file_is_reported_at_its_line() {
    let p = Project::new(SHARED);
    // The owner approving their own exception, and a setting wharf does not have.
    p.write(
        "wharf.policy.toml",
        &format!(
            "{}\n[[exception]]\nid = \"EXC-2\"\nkind = \"setting\"\nsetting = \"tls.off\"\nreason = \"r\"\nowner = \"a\"\napproved-by = \"b\"\ncreated = {}\nexpires = {}\n",
            setting_exception("EXC-1", "workspace.shared", None, -1, 30)
                .replace("approved-by = \"sec-lead\"", "approved-by = \"Team-Web\""),
            day(-1),
            day(30)
        ),
    );
    let v = p.wharf(&["validate"]).expect(2);
    let err = v.stderr();
    assert!(err.contains("--> wharf.policy.toml:8:"), "{err}");
    assert!(err.contains("EXC-1"), "{err}");
    assert!(err.contains("tls.off"), "{err}");
    assert!(err.contains("--> wharf.policy.toml:15:"), "{err}");
    // The setting itself is not judged against a file with problems.
    assert!(!err.contains("insecure setting workspace.shared"), "{err}");
}

#[test]
fn the_policy_step_applies_setting_exceptions_and_reports_unused_ones() {
    let p = Project::new(
        "version: 1\nname: legacy\nworkspace: shared\njobs:\n  gate:\n    steps:\n      - policy: { reports: [trivy.json] }\n",
    );
    p.write(
        "trivy.json",
        include_str!("../../../wharf-policy/tests/reports/trivy/pip.json"),
    );
    // Nothing in the report fails: only the settings are judged.
    let allow = format!(
        "[vulnerabilities]\nfail-on = []\n{}",
        settings_policy(&["workspace.shared"])
    );
    p.write("wharf.policy.toml", &allow);
    let r = p.wharf(&["run", "--plain"]).expect(0);
    let out = format!("{}{}", r.stdout(), r.stderr());
    assert!(
        out.contains("SET-0"),
        "the applied exception is listed:\n{out}"
    );
    let outcome: serde_json::Value = serde_json::from_str(&p.read("policy/outcome.json")).unwrap();
    let applied = outcome.to_string();
    assert!(applied.contains("workspace.shared"), "{applied}");

    // A `setting` exception that allows nothing the project uses is unused: the gate fails.
    p.write(
        "wharf.policy.toml",
        &format!(
            "{allow}{}",
            setting_exception(
                "EXC-9",
                "registry.plain-http",
                Some("old.registry:5000"),
                -1,
                30
            )
        ),
    );
    let r = p.wharf(&["run", "--plain"]).expect(1);
    let out = format!("{}{}", r.stdout(), r.stderr());
    assert!(out.contains("EXC-9"), "{out}");
    assert!(
        out.contains("exception EXC-9 (wharf.policy.toml:14:1) matched nothing"),
        "{out}"
    );
}
