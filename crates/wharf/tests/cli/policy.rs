//! The `policy` step: the project's policy file applied to a real Trivy report and to the
//! licences of a wheel; exceptions that are valid, expired, unused or badly approved; and
//! the release that records the gate it passed.

use std::io::Write;

use crate::helper::{Project, Run, day};

/// Trivy's own recorded report of a pip project (its integration test golden file):
/// Werkzeug 0.11 with CVE-2019-14806 (HIGH) and CVE-2020-28724 (MEDIUM).
const TRIVY_PIP: &str = include_str!("../../../wharf-policy/tests/reports/trivy/pip.json");

/// What a run said, on either stream.
fn said(r: &Run) -> String {
    format!("{}{}", r.stdout(), r.stderr())
}

fn wharf(p: &Project, args: &[&str]) -> Run {
    p.wharf_keyed(args)
}

const HEAD: &str = r#"[exceptions]
approvers = ["sec-lead", "cto"]

[vulnerabilities]
fail-on = ["critical", "high"]
"#;

fn exception(
    id: &str,
    vuln: &str,
    owner: &str,
    approver: &str,
    created: i64,
    expires: i64,
) -> String {
    format!(
        r#"
[[exception]]
id = "{id}"
kind = "vulnerability"
vulnerability = "{vuln}"
package = "Werkzeug"
reason = "the debugger is never enabled in production"
owner = "{owner}"
approved-by = "{approver}"
created = {}
expires = {}
"#,
        day(created),
        day(expires)
    )
}

fn project(pipeline_extra: &str) -> Project {
    let p = Project::new(&format!(
        r#"version: 1
jobs:
  scan:
    steps:
      - policy: {{ reports: [reports/trivy.json] }}
{pipeline_extra}"#
    ));
    p.write("reports/trivy.json", TRIVY_PIP);
    p.write(".gitignore", ".wharf/\nrelease-evidence/\npolicy/\n");
    p.git_init();
    p.commit("feat: first");
    p
}

#[test]
fn the_gate_fails_on_a_high_finding_and_passes_with_a_valid_exception() {
    let p = project("");
    // No policy file: a clear error.
    let run = wharf(&p, &["run", "--plain"]).expect(1);
    assert!(said(&run).contains("wharf.policy.toml"), "{}", said(&run));

    // No exception: the HIGH finding fails the step, the MEDIUM one is only listed.
    p.write("wharf.policy.toml", HEAD);
    let run = wharf(&p, &["run", "--plain"]).expect(1);
    let out = said(&run);
    assert!(
        out.contains("report reports/trivy.json (trivy trivy-json): 2 finding(s)"),
        "{out}"
    );
    assert!(out.contains("CVE-2019-14806"), "{out}");
    assert!(out.contains("CVE-2020-28724"), "{out}");
    assert!(out.contains("the policy does not allow this"), "{out}");

    // A valid exception (owner, a different approver on the list, 40 days): it passes,
    // and the outcome lists the exception first.
    p.write(
        "wharf.policy.toml",
        &format!(
            "{HEAD}{}",
            exception(
                "EXC-0001",
                "CVE-2019-14806",
                "team-web",
                "sec-lead",
                -10,
                30
            )
        ),
    );
    let run = wharf(&p, &["run", "--plain"]).expect(0);
    let out = said(&run);
    assert!(out.contains("EXC-0001"), "{out}");
    assert!(out.contains("team-web"), "{out}");

    // `file:` names another policy file.
    std::fs::create_dir_all(p.path().join("security")).unwrap();
    std::fs::rename(
        p.path().join("wharf.policy.toml"),
        p.path().join("security/policy.toml"),
    )
    .unwrap();
    let pipeline = std::fs::read_to_string(p.path().join("wharf.yml")).unwrap();
    p.write(
        "wharf.yml",
        &pipeline.replace("policy: {", "policy: { file: security/policy.toml,"),
    );
    let out = said(&wharf(&p, &["run", "--plain"]).expect(0));
    assert!(
        out.contains("policy security/policy.toml (sha256:"),
        "{out}"
    );

    // A policy step with nothing to judge is refused by validate, located.
    p.write(
        "wharf.yml",
        "version: 1\njobs:\n  scan:\n    steps:\n      - policy: { file: x.toml }\n",
    );
    let v = wharf(&p, &["validate"]).expect(2);
    assert!(
        v.stderr().contains("`policy:` has nothing to judge"),
        "{}",
        v.stderr()
    );
    assert!(v.stderr().contains("wharf.yml:5:"), "{}", v.stderr());
    assert!(
        v.stderr().contains("add `reports: reports/*.json`"),
        "{}",
        v.stderr()
    );
}

#[test]
fn expired_unused_and_self_approved_exceptions_each_fail_with_their_own_error() {
    let p = project("");
    // Expired yesterday: the gate fails naming the exception, not only the finding.
    p.write(
        "wharf.policy.toml",
        &format!(
            "{HEAD}{}",
            exception(
                "EXC-0002",
                "CVE-2019-14806",
                "team-web",
                "sec-lead",
                -60,
                -1
            )
        ),
    );
    let out = wharf(&p, &["run", "--plain"]).expect(1);
    let out = said(&out);
    assert!(out.contains("EXC-0002"), "{out}");
    assert!(out.contains("expired"), "{out}");
    // An exception that matches nothing is stale: it fails, named.
    p.write(
        "wharf.policy.toml",
        &format!(
            "{HEAD}{}{}",
            exception(
                "EXC-0003",
                "CVE-2019-14806",
                "team-web",
                "sec-lead",
                -10,
                30
            ),
            exception("EXC-0004", "CVE-2000-0001", "team-web", "sec-lead", -10, 30)
        ),
    );
    let out = wharf(&p, &["run", "--plain"]).expect(1);
    let out = said(&out);
    assert!(out.contains("EXC-0004"), "{out}");
    assert!(
        out.contains("exception EXC-0004 (wharf.policy.toml:18:1) matched nothing"),
        "{out}"
    );
    // The owner approving their own exception is a located error of the policy file.
    p.write(
        "wharf.policy.toml",
        &format!(
            "{HEAD}{}",
            exception(
                "EXC-0005",
                "CVE-2019-14806",
                "sec-lead",
                "sec-lead",
                -10,
                30
            )
        ),
    );
    let out = wharf(&p, &["run", "--plain"]).expect(1);
    let out = said(&out);
    assert!(out.contains("wharf.policy.toml:"), "{out}");
    assert!(
        out.contains("the policy file wharf.policy.toml has 1 problem"),
        "{out}"
    );
}

/// A minimal real wheel: its dist-info METADATA declares `license`.
fn wheel(p: &Project, name: &str, license: &str) -> String {
    let file = format!("dist/{name}-1.0.0-py3-none-any.whl");
    std::fs::create_dir_all(p.path().join("dist")).unwrap();
    let mut z = zip::ZipWriter::new(std::fs::File::create(p.path().join(&file)).unwrap());
    let opts = zip::write::SimpleFileOptions::default();
    z.start_file(format!("{name}/__init__.py"), opts).unwrap();
    z.write_all(b"").unwrap();
    z.start_file(format!("{name}-1.0.0.dist-info/METADATA"), opts)
        .unwrap();
    write!(
        z,
        "Metadata-Version: 2.4\nName: {name}\nVersion: 1.0.0\nLicense-Expression: {license}\n"
    )
    .unwrap();
    z.start_file(format!("{name}-1.0.0.dist-info/WHEEL"), opts)
        .unwrap();
    z.write_all(b"Wheel-Version: 1.0\nGenerator: test\nRoot-Is-Purelib: true\nTag: py3-none-any\n")
        .unwrap();
    z.finish().unwrap();
    file
}

#[test]
fn licences_of_a_wheel_are_judged_and_a_release_records_the_gate_it_passed() {
    let p = project(
        r#"    artifacts: [dist/*.whl]
  release:
    needs: [scan]
    steps:
      - release: {}
"#,
    );
    let w = wheel(&p, "demo", "GPL-3.0-only");
    p.write(
        "wharf.yml",
        &std::fs::read_to_string(p.path().join("wharf.yml"))
            .unwrap()
            .replace(
                "reports: [reports/trivy.json] }",
                "reports: [reports/trivy.json], licenses: [dist/*.whl] }",
            ),
    );
    let policy = |allow: &str| {
        format!(
            "{HEAD}\n[licenses]\nallow = [{allow}]\n{}",
            exception("EXC-0001", "CVE-2019-14806", "team-web", "sec-lead", -80, 5)
        )
    };
    p.write("wharf.policy.toml", &policy("\"MIT\""));
    p.git(&["add", "-A"]);
    p.git(&["commit", "-qm", "feat: a wheel"]);
    let out = wharf(&p, &["run", "--plain"]).expect(1);
    let out = said(&out);
    assert!(out.contains(&format!("licences of {w}")), "{out}");
    assert!(out.contains("GPL-3.0-only"), "{out}");
    // Allowed: the gate passes, and the release records it.
    p.write("wharf.policy.toml", &policy("\"MIT\", \"GPL-3.0-only\""));
    p.git(&["add", "-A"]);
    p.git(&["commit", "-qm", "fix: allow the GPL"]);
    let run = wharf(&p, &["run", "--plain"]);
    assert_eq!(run.code(), 0, "{}\n{}", run.stdout(), run.stderr());
    let shown = wharf(&p, &["release", "show", "0.1.0"]).expect(0).stdout();
    // Exceptions first (this one expires in 5 days: within the warning window), then the
    // open findings by severity, then what proves the release.
    let risk = shown.find("risk (policy wharf.policy.toml").expect(&shown);
    let exc = shown
        .find("exception EXC-0001 (vulnerability) expires")
        .expect(&shown);
    let medium = shown.find("medium    CVE-2020-28724").expect(&shown);
    let proves = shown.find("what proves it").expect(&shown);
    assert!(risk < exc && exc < medium && medium < proves, "{shown}");
    assert!(shown.contains("(in 5 days)"), "{shown}");
    assert!(
        shown.contains("owner team-web, approved by sec-lead"),
        "{shown}"
    );
    assert!(
        shown.contains("policy       policy/outcome.json"),
        "{shown}"
    );
    let json = wharf(&p, &["release", "show", "0.1.0", "--json"])
        .expect(0)
        .json();
    assert_eq!(json["policy"]["applied"][0]["id"], "EXC-0001", "{json}");
    assert!(
        json["policy"]["policy"]["digest"]
            .as_str()
            .unwrap()
            .starts_with("sha256:"),
        "{json}"
    );
    // The policy file's digest is in the signed provenance too.
    wharf(&p, &["release", "verify", "0.1.0"]).expect(0);
}

/// Every other way a policy file or a report can be wrong stops the gate with its own
/// located message and exit code 1, as the step's failure.
#[test]
fn each_policy_problem_and_each_bad_report_has_its_own_message_and_exit_code() {
    let p = project("");
    let valid = exception(
        "EXC-0001",
        "CVE-2019-14806",
        "team-web",
        "sec-lead",
        -10,
        30,
    );
    let policies = [
        (
            valid.replace(
                "reason = \"the debugger is never enabled in production\"\n",
                "",
            ),
            "wharf.policy.toml:7:1: exception EXC-0001 has no `reason`".to_string(),
        ),
        (
            valid.replace("approved-by = \"sec-lead\"", "approved-by = \"mallory\""),
            "wharf.policy.toml:14:15: exception EXC-0001 is approved by `mallory`, who is not \
             in [exceptions] approvers"
                .to_string(),
        ),
        (
            exception(
                "EXC-0001",
                "CVE-2019-14806",
                "team-web",
                "sec-lead",
                -10,
                120,
            ),
            format!(
                "wharf.policy.toml:16:11: exception EXC-0001 lasts 130 days ({} to {}), more \
                 than max-days = 90",
                day(-10),
                day(120)
            ),
        ),
    ];
    for (text, says) in policies {
        p.write("wharf.policy.toml", &format!("{HEAD}{text}"));
        let out = said(&wharf(&p, &["run", "--plain"]).expect(1));
        assert!(out.contains(&says), "{says}\n---\n{out}");
        assert!(
            out.contains("error: the policy file wharf.policy.toml has 1 problem"),
            "{out}"
        );
    }
    // Reports: not a scanner's, an old Trivy schema, a malformed one.
    p.write("wharf.policy.toml", &format!("{HEAD}{valid}"));
    for (report, says) in [
        (
            r#"{"bomFormat": "CycloneDX", "specVersion": "1.6"}"#,
            "reports/trivy.json: cannot tell which scanner wrote this report",
        ),
        (
            r#"{"SchemaVersion": 1, "Results": []}"#,
            "reports/trivy.json: Trivy JSON report has SchemaVersion 1; only 2 is supported",
        ),
        (
            r#"{"SchemaVersion": 2, "Results": 7}"#,
            "reports/trivy.json: malformed Trivy JSON report",
        ),
    ] {
        p.write("reports/trivy.json", report);
        let out = said(&wharf(&p, &["run", "--plain"]).expect(1));
        assert!(out.contains(says), "{says}\n---\n{out}");
    }
}
