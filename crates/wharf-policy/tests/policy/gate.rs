//! The gate on the recorded reports, on fixed dates.

use wharf_policy::{
    ExceptionKind, Finding, InsecureSetting, Outcome, Report, SettingCover, Severity, evaluate,
    settings,
};

use crate::{day, policy, report};

const HEAD: &str = r#"[exceptions]
approvers = ["sec-lead", "cto"]

[vulnerabilities]
fail-on = ["critical", "high"]
"#;

/// Covers the high Werkzeug finding of Trivy's `pip.json`; lines 7-16 of `HEAD + this`.
const WERKZEUG: &str = r#"
[[exception]]
id = "EXC-0007"
kind = "vulnerability"
vulnerability = "CVE-2019-14806"
package = "pkg:pypi/werkzeug@0.11"
reason = "the Werkzeug debugger is never enabled in production images"
owner = "team-web"
approved-by = "sec-lead"
created = 2026-11-01
expires = 2027-01-15
"#;

fn exception(id: &str, vulnerability: &str, package: Option<&str>) -> String {
    let package = package.map_or(String::new(), |p| format!("package = \"{p}\"\n"));
    format!(
        r#"
[[exception]]
id = "{id}"
kind = "vulnerability"
vulnerability = "{vulnerability}"
{package}reason = "reviewed: not reachable from our code"
owner = "team-web"
approved-by = "cto"
created = 2026-11-01
expires = 2027-01-15
"#
    )
}

fn findings(reports: &[Report]) -> Vec<Finding> {
    reports.iter().flat_map(|r| r.findings.clone()).collect()
}

fn open_ids(list: &[wharf_policy::OpenFinding]) -> Vec<String> {
    list.iter()
        .map(|o| format!("{} {}", o.finding.severity, o.finding.id))
        .collect()
}

fn gate(policy_text: &str, reports: &[Report], today: &str) -> Outcome {
    evaluate(
        &policy(policy_text),
        &findings(reports),
        None,
        None,
        day(today),
    )
}

#[test]
fn a_valid_exception_passes_and_is_listed_as_applied() {
    let outcome = gate(
        &format!("{HEAD}{WERKZEUG}"),
        &[report("trivy/pip.json")],
        "2026-12-06",
    );
    assert!(outcome.passed(), "{}", outcome.render_text());
    assert!(outcome.failing.is_empty());
    assert_eq!(open_ids(&outcome.open), vec!["medium CVE-2020-28724"]);
    assert_eq!(outcome.applied.len(), 1);
    let a = &outcome.applied[0];
    assert_eq!(a.id, "EXC-0007");
    assert_eq!(a.kind, ExceptionKind::Vulnerability);
    assert_eq!(
        a.matched,
        vec!["CVE-2019-14806 Werkzeug 0.11 (trivy, reports/trivy/pip.json)"]
    );
    assert_eq!(
        (a.owner.as_str(), a.approved_by.as_str()),
        ("team-web", "sec-lead")
    );
    assert_eq!(a.days_left, 40);
    assert!(!a.expiring);
    assert!(outcome.failures().is_empty());
}

#[test]
fn an_exception_near_its_end_is_expiring_and_still_applies_on_its_last_day() {
    let text = format!("{HEAD}{WERKZEUG}");
    let outcome = gate(&text, &[report("trivy/pip.json")], "2027-01-05");
    assert!(outcome.passed());
    assert_eq!(outcome.applied[0].days_left, 10);
    assert_eq!(
        outcome
            .expiring()
            .map(|a| a.id.as_str())
            .collect::<Vec<_>>(),
        vec!["EXC-0007"]
    );
    let last_day = gate(&text, &[report("trivy/pip.json")], "2027-01-15");
    assert!(last_day.passed());
    assert_eq!(last_day.applied[0].days_left, 0);
    // 15 days left is outside warn-days = 14.
    let early = gate(&text, &[report("trivy/pip.json")], "2026-12-31");
    assert_eq!(early.applied[0].days_left, 15);
    assert_eq!(early.expiring().count(), 0);
}

#[test]
fn past_its_expiry_the_gate_fails_naming_the_exception() {
    let outcome = gate(
        &format!("{HEAD}{WERKZEUG}"),
        &[report("trivy/pip.json")],
        "2027-01-16",
    );
    assert!(!outcome.passed());
    assert!(outcome.applied.is_empty());
    assert_eq!(outcome.expired.len(), 1);
    let e = &outcome.expired[0];
    assert_eq!(e.id, "EXC-0007");
    assert_eq!(
        (e.owner.as_str(), e.approved_by.as_str()),
        ("team-web", "sec-lead")
    );
    assert_eq!(e.expires, day("2027-01-15"));
    assert_eq!(e.location.to_string(), "wharf.policy.toml:7:1");
    // The finding it covered is open again, marked with the exception.
    assert_eq!(open_ids(&outcome.failing), vec!["high CVE-2019-14806"]);
    assert_eq!(
        outcome.failing[0].expired_exception.as_deref(),
        Some("EXC-0007")
    );
    assert_eq!(
        outcome.failures(),
        vec![
            "exception EXC-0007 expired on 2027-01-15 (owner team-web, approved by sec-lead) \
             and still matches CVE-2019-14806 Werkzeug 0.11 (trivy, reports/trivy/pip.json); \
             renew it with a new approval or fix the finding",
            "high CVE-2019-14806 Werkzeug 0.11 (trivy, reports/trivy/pip.json) has no valid \
             exception",
        ]
    );
}

#[test]
fn without_an_exception_a_high_finding_fails() {
    let outcome = gate(HEAD, &[report("trivy/pip.json")], "2026-12-06");
    assert!(!outcome.passed());
    assert_eq!(open_ids(&outcome.failing), vec!["high CVE-2019-14806"]);
    assert_eq!(outcome.failing[0].expired_exception, None);
    assert_eq!(open_ids(&outcome.open), vec!["medium CVE-2020-28724"]);
}

#[test]
fn an_exception_that_matches_nothing_fails_as_unused() {
    let text = format!(
        "{HEAD}{WERKZEUG}{}",
        exception("EXC-0099", "CVE-2099-0001", None)
    );
    let outcome = gate(&text, &[report("trivy/pip.json")], "2026-12-06");
    assert!(!outcome.passed());
    assert_eq!(outcome.applied.len(), 1);
    assert_eq!(outcome.unused.len(), 1);
    assert_eq!(outcome.unused[0].id, "EXC-0099");
    assert_eq!(
        outcome.failures(),
        vec![
            "exception EXC-0099 (wharf.policy.toml:18:1) matched nothing; remove it from the \
             policy file"
        ]
    );
    // A package-scoped exception for another version is unused too: a bump ends it.
    let bumped = format!(
        "{HEAD}{}",
        exception(
            "EXC-0100",
            "CVE-2019-14806",
            Some("pkg:pypi/werkzeug@0.15.3")
        )
    );
    let outcome = gate(&bumped, &[report("trivy/pip.json")], "2026-12-06");
    assert_eq!(outcome.unused[0].id, "EXC-0100");
    assert_eq!(open_ids(&outcome.failing), vec!["high CVE-2019-14806"]);
}

#[test]
fn findings_below_fail_on_are_open_but_do_not_fail() {
    let outcome = gate(HEAD, &[report("trivy/alpine-310.json")], "2026-12-06");
    assert!(outcome.passed());
    assert!(outcome.failing.is_empty());
    assert_eq!(
        open_ids(&outcome.open),
        vec![
            "medium CVE-2019-1549",
            "medium CVE-2019-1549",
            "medium CVE-2019-1551",
            "medium CVE-2019-1551",
        ]
    );
    // Adding medium to fail-on makes them fail.
    let strict = HEAD.replace(
        r#"["critical", "high"]"#,
        r#"["critical", "high", "medium"]"#,
    );
    let outcome = gate(&strict, &[report("trivy/alpine-310.json")], "2026-12-06");
    assert_eq!(outcome.failing.len(), 4);
    assert!(!outcome.passed());
}

#[test]
fn pip_audit_findings_have_no_severity_and_fail_by_default() {
    let outcome = gate("", &[report("pip-audit/readme.json")], "2026-12-06");
    assert_eq!(
        open_ids(&outcome.failing),
        vec!["unknown PYSEC-2018-66", "unknown PYSEC-2019-179"]
    );
    let outcome = gate(HEAD, &[report("pip-audit/readme.json")], "2026-12-06");
    assert!(outcome.passed());
    assert_eq!(outcome.open.len(), 2);
}

#[test]
fn an_exception_by_one_id_covers_findings_that_list_it_as_an_alias() {
    // Grype: the GHSA match lists the CVE among its related vulnerabilities.
    let text = format!(
        "{HEAD}{}",
        exception(
            "EXC-1",
            "CVE-2014-3577",
            Some("pkg:maven/org.apache.httpcomponents/httpclient@4.1.1")
        )
    );
    let outcome = gate(&text, &[report("grype/ghsa-test.json")], "2026-12-06");
    assert!(outcome.open.is_empty() && outcome.failing.is_empty());
    assert_eq!(
        outcome.applied[0].matched,
        vec![
            "GHSA-cfh5-3ghh-wfjx httpclient 4.1.1 (grype, reports/grype/ghsa-test.json)",
            "CVE-2014-3577 httpclient 4.1.1 (grype, reports/grype/ghsa-test.json)",
        ]
    );

    // OSV-Scanner SARIF: a GHSA exception covers the CVE result that lists it.
    let text = format!(
        "{HEAD}{}",
        exception("EXC-2", "ghsa-whgm-jr23-g3j9", Some("ansi-html"))
    );
    let outcome = gate(
        &text,
        &[report("osv-scanner/sarif-with-vulns.sarif")],
        "2026-12-06",
    );
    assert!(outcome.passed(), "{}", outcome.render_text());
    assert_eq!(
        outcome.applied[0].matched,
        vec![
            "CVE-2021-23424 ansi-html 0.0.1 (osv-scanner, reports/osv-scanner/sarif-with-vulns.sarif)"
        ]
    );

    // pip-audit: a CVE exception covers the PYSEC finding that lists it; the other stays.
    let text = exception("EXC-3", "CVE-2019-1010083", Some("flask"));
    let outcome = gate(&text, &[report("pip-audit/readme.json")], "2026-12-06");
    assert_eq!(open_ids(&outcome.failing), vec!["unknown PYSEC-2018-66"]);
    assert_eq!(outcome.applied[0].id, "EXC-3");

    // Trivy: a Debian advisory id covers the CVE that lists it in VendorIDs.
    let text = format!("{HEAD}{}", exception("EXC-4", "DSA-4613-1", None));
    let outcome = gate(&text, &[report("trivy/debian-buster.json")], "2026-12-06");
    assert!(outcome.passed(), "{}", outcome.render_text());
    assert_eq!(open_ids(&outcome.open), vec!["low CVE-2019-18276"]);

    // Trivy's JSON carries GHSA ids only in reference URLs: a GHSA exception does not
    // match its CVE finding, and is reported unused.
    let text = format!("{HEAD}{}", exception("EXC-5", "GHSA-gq9m-qvpx-68hc", None));
    let outcome = gate(&text, &[report("trivy/pip.json")], "2026-12-06");
    assert_eq!(outcome.unused[0].id, "EXC-5");
    assert_eq!(open_ids(&outcome.failing), vec!["high CVE-2019-14806"]);
}

#[test]
fn one_exception_covers_the_same_vulnerability_in_every_report() {
    let text = format!("{HEAD}{}", exception("EXC-1", "CVE-2019-1551", None));
    let outcome = gate(
        &text,
        &[
            report("trivy/alpine-310.json"),
            report("trivy/alpine-310.sarif"),
        ],
        "2026-12-06",
    );
    assert_eq!(outcome.applied[0].matched.len(), 4);
    assert_eq!(outcome.open.len(), 4);
    assert!(outcome.open.iter().all(|o| o.finding.id == "CVE-2019-1549"));
}

const PLAIN_HTTP: &str = r#"
[[exception]]
id = "EXC-0009"
kind = "setting"
setting = "registry.plain-http"
subject = "127.0.0.1:5000"
reason = "lab registry on 127.0.0.1 only"
owner = "ops"
approved-by = "sec-lead"
created = 2026-12-01
expires = 2026-12-15
"#;

#[test]
fn insecure_settings_need_a_valid_setting_exception() {
    let p = policy(&format!("{HEAD}{PLAIN_HTTP}"));
    let lab = InsecureSetting::new(settings::PLAIN_HTTP_REGISTRY)
        .with_subject("127.0.0.1:5000")
        .with_location(".wharf/pipeline.yml:12:5");
    let other =
        InsecureSetting::new(settings::PLAIN_HTTP_REGISTRY).with_subject("registry.example");
    let shared = InsecureSetting::new(settings::SHARED_WORKSPACE);

    assert!(
        matches!(p.setting_cover(&lab, day("2026-12-06")), SettingCover::Covered(e) if e.id == "EXC-0009")
    );
    assert_eq!(
        p.setting_cover(&other, day("2026-12-06")),
        SettingCover::Uncovered
    );
    let expired = p.setting_cover(&lab, day("2026-12-16"));
    assert!(matches!(expired, SettingCover::Expired(e) if e.id == "EXC-0009"));
    assert_eq!(
        expired.refusal(&lab).unwrap(),
        "insecure setting registry.plain-http 127.0.0.1:5000 (.wharf/pipeline.yml:12:5) is \
         covered only by exception EXC-0009, which expired on 2026-12-15 (owner ops, approved \
         by sec-lead); renew or remove it"
    );
    assert_eq!(
        p.setting_cover(&shared, day("2026-12-06"))
            .refusal(&shared)
            .unwrap(),
        "insecure setting workspace.shared needs a `setting` exception in the policy file"
    );

    let all = [lab.clone(), other.clone(), shared.clone()];
    let outcome = evaluate(&p, &[], None, Some(&all), day("2026-12-06"));
    assert!(!outcome.passed());
    assert_eq!(outcome.applied[0].id, "EXC-0009");
    assert_eq!(
        outcome.applied[0].matched,
        vec!["registry.plain-http 127.0.0.1:5000 (.wharf/pipeline.yml:12:5)"]
    );
    assert!(outcome.applied[0].expiring);
    assert_eq!(
        outcome.failures(),
        vec![
            "insecure setting registry.plain-http registry.example has no valid `setting` exception",
            "insecure setting workspace.shared has no valid `setting` exception",
        ]
    );
    // Settings not looked at: the setting exception is not judged unused.
    assert!(evaluate(&p, &[], None, None, day("2026-12-06")).passed());
    // Looked at and absent: it is.
    let outcome = evaluate(&p, &[], None, Some(&[]), day("2026-12-06"));
    assert_eq!(outcome.unused[0].id, "EXC-0009");
}

#[test]
fn the_outcome_is_json_for_the_release_record() {
    let outcome = gate(
        &format!("{HEAD}{WERKZEUG}"),
        &[report("trivy/pip.json")],
        "2026-12-06",
    );
    let json = serde_json::to_value(&outcome).unwrap();
    assert_eq!(json["date"], "2026-12-06");
    assert_eq!(json["policy"]["file"], "wharf.policy.toml");
    assert!(
        json["policy"]["digest"]
            .as_str()
            .unwrap()
            .starts_with("sha256:")
    );
    assert_eq!(json["fail_on"], serde_json::json!(["critical", "high"]));
    assert_eq!(json["applied"][0]["id"], "EXC-0007");
    assert_eq!(json["applied"][0]["kind"], "vulnerability");
    assert_eq!(json["applied"][0]["expires"], "2027-01-15");
    assert_eq!(json["applied"][0]["days_left"], 40);
    assert_eq!(json["open"][0]["id"], "CVE-2020-28724");
    assert_eq!(json["open"][0]["severity"], "medium");
    assert_eq!(
        json["open"][0]["expired_exception"],
        serde_json::Value::Null
    );
    let back: Outcome = serde_json::from_value(json).unwrap();
    assert_eq!(back, outcome);
}

#[test]
fn the_text_report_lists_findings_severity_first_and_marks_exceptions() {
    let debian = exception("EXC-3", "DSA-4613-1", None)
        .replace("2026-11-01", "2026-10-05")
        .replace("2027-01-15", "2026-12-31");
    let text = format!(
        "{HEAD}{WERKZEUG}{}{}{debian}",
        exception("EXC-2", "GHSA-whgm-jr23-g3j9", None),
        exception("EXC-0099", "CVE-2099-0001", None)
    );
    let outcome = gate(
        &text,
        &[
            report("trivy/pip.json"),
            report("trivy/debian-buster.json"),
            report("osv-scanner/sarif-with-vulns.sarif"),
            report("pip-audit/readme.json"),
        ],
        "2027-01-05",
    );
    let rendered = outcome
        .render_text()
        .replace(&outcome.policy.digest, "sha256:…");
    insta::assert_snapshot!(rendered);
    assert_eq!(outcome.failing[0].finding.severity, Severity::Critical);
    assert_eq!(
        outcome.failing[0].expired_exception.as_deref(),
        Some("EXC-3")
    );
}
