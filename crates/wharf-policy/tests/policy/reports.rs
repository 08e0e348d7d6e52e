//! The recorded reports of real scanners, normalised; and reports that must be refused.

use serde_json::{Value, json};
use wharf_policy::{FindingKind, ReportFormat, Severity, detect_format, parse_report};

use crate::report;

fn ids(r: &wharf_policy::Report) -> Vec<String> {
    r.findings
        .iter()
        .map(|f| {
            format!(
                "{} {} {} {}",
                f.severity,
                f.id,
                f.package.as_deref().unwrap_or("-"),
                f.version.as_deref().unwrap_or("-")
            )
        })
        .collect()
}

#[test]
fn the_format_is_told_from_the_content() {
    for (path, format) in [
        ("trivy/alpine-310.json", ReportFormat::TrivyJson),
        ("trivy/pip.json", ReportFormat::TrivyJson),
        ("trivy/alpine-310.sarif", ReportFormat::Sarif),
        ("grype/ghsa-test.json", ReportFormat::GrypeJson),
        ("grype/image.sarif", ReportFormat::Sarif),
        ("osv-scanner/sarif-with-vulns.sarif", ReportFormat::Sarif),
        ("pip-audit/readme.json", ReportFormat::PipAuditJson),
        ("pip-audit/test_json.json", ReportFormat::PipAuditJson),
    ] {
        let bytes = std::fs::read(format!(
            "{}/tests/reports/{path}",
            env!("CARGO_MANIFEST_DIR")
        ))
        .unwrap();
        assert_eq!(detect_format(&bytes), Some(format), "{path}");
        assert_eq!(report(path).format, format, "{path}");
    }
}

#[test]
fn trivy_json_vulnerabilities() {
    let r = report("trivy/alpine-310.json");
    assert_eq!(
        (r.tool.as_str(), r.tool_version.as_deref()),
        ("trivy", Some("dev"))
    );
    assert_eq!(
        ids(&r),
        vec![
            "medium CVE-2019-1549 libcrypto1.1 1.1.1c-r0",
            "medium CVE-2019-1551 libcrypto1.1 1.1.1c-r0",
            "medium CVE-2019-1549 libssl1.1 1.1.1c-r0",
            "medium CVE-2019-1551 libssl1.1 1.1.1c-r0",
        ]
    );
    let f = &r.findings[1];
    assert_eq!(f.fixed_versions, vec!["1.1.1d-r2"]);
    assert_eq!(
        f.purl.as_deref(),
        Some("pkg:apk/alpine/libcrypto1.1@1.1.1c-r0?arch=x86_64&distro=3.10.2")
    );
    assert_eq!(f.report, "reports/trivy/alpine-310.json");
    assert_eq!(
        f.title.as_deref(),
        Some("openssl: Integer overflow in RSAZ modular exponentiation on x86_64")
    );
    let digest = wharf_policy::sha256(
        &std::fs::read(format!(
            "{}/tests/reports/trivy/alpine-310.json",
            env!("CARGO_MANIFEST_DIR")
        ))
        .unwrap(),
    );
    assert_eq!(r.sha256, digest);

    let pip = report("trivy/pip.json");
    assert_eq!(
        ids(&pip),
        vec![
            "high CVE-2019-14806 Werkzeug 0.11",
            "medium CVE-2020-28724 Werkzeug 0.11"
        ]
    );
    // Trivy lists GHSA ids only among its reference URLs, never as an id or alias.
    assert!(pip.findings.iter().all(|f| f.aliases.is_empty()));

    let debian = report("trivy/debian-buster.json");
    assert_eq!(
        ids(&debian),
        vec![
            "low CVE-2019-18276 bash 5.0-4",
            "critical CVE-2019-18224 libidn2-0 2.0.5-1"
        ]
    );
    assert_eq!(debian.findings[1].aliases, vec!["DSA-4613-1"]);
}

#[test]
fn trivy_json_misconfigurations_and_secrets() {
    let r = report("trivy/dockerfile.json");
    assert_eq!(r.findings.len(), 1);
    let f = &r.findings[0];
    assert_eq!(
        (f.kind, f.id.as_str(), f.severity, f.target.as_deref()),
        (
            FindingKind::Misconfiguration,
            "DS-0002",
            Severity::High,
            Some("Dockerfile")
        )
    );
    let s = report("trivy/secrets.json");
    let found: Vec<_> = s
        .findings
        .iter()
        .map(|f| (f.kind, f.id.as_str(), f.severity, f.target.as_deref()))
        .collect();
    assert_eq!(
        found,
        vec![
            (
                FindingKind::Secret,
                "aws-access-key-id",
                Severity::Critical,
                Some("deploy.sh:3")
            ),
            (
                FindingKind::Secret,
                "mysecret",
                Severity::High,
                Some("deploy.sh:7")
            ),
        ]
    );
}

#[test]
fn trivy_sarif_gives_the_same_findings_as_its_json() {
    let sarif = report("trivy/alpine-310.sarif");
    let json = report("trivy/alpine-310.json");
    assert_eq!(sarif.tool, "trivy");
    assert_eq!(ids(&sarif), ids(&json));
    let fixed: Vec<_> = sarif
        .findings
        .iter()
        .map(|f| f.fixed_versions.clone())
        .collect();
    let json_fixed: Vec<_> = json
        .findings
        .iter()
        .map(|f| f.fixed_versions.clone())
        .collect();
    assert_eq!(fixed, json_fixed);
}

#[test]
fn grype_json_with_related_vulnerabilities_as_aliases() {
    let r = report("grype/ghsa-test.json");
    assert_eq!(
        (r.tool.as_str(), r.tool_version.as_deref()),
        ("grype", Some("0.65.1"))
    );
    assert_eq!(
        ids(&r),
        vec![
            "medium GHSA-cfh5-3ghh-wfjx httpclient 4.1.1",
            "medium CVE-2014-3577 httpclient 4.1.1",
        ]
    );
    assert_eq!(r.findings[0].aliases, vec!["CVE-2014-3577"]);
    assert_eq!(r.findings[0].fixed_versions, vec!["4.3.5"]);
    assert_eq!(
        r.findings[0].purl.as_deref(),
        Some("pkg:maven/org.apache.httpcomponents/httpclient@4.1.1")
    );
    assert!(r.findings[1].fixed_versions.is_empty());
}

#[test]
fn grype_sarif_uses_grypes_own_severity_not_the_cvss_score() {
    let r = report("grype/image.sarif");
    assert_eq!(
        ids(&r),
        vec![
            "low CVE-1999-0001 package-1 1.1.1",
            "critical CVE-1999-0002 package-2 2.2.2"
        ]
    );
    assert_eq!(
        r.findings[0].fixed_versions,
        vec!["1.2.1", "2.1.3", "3.4.0"]
    );
    assert_eq!(
        r.findings[1].purl.as_deref(),
        Some("pkg:deb/package-2@2.2.2")
    );
}

#[test]
fn osv_scanner_sarif_with_aliases_and_security_severity() {
    let r = report("osv-scanner/sarif-with-vulns.sarif");
    assert_eq!(
        (r.tool.as_str(), r.tool_version.as_deref()),
        ("osv-scanner", Some("2.5.0"))
    );
    assert_eq!(ids(&r), vec!["high CVE-2021-23424 ansi-html 0.0.1"]);
    let f = &r.findings[0];
    assert_eq!(f.aliases, vec!["GHSA-whgm-jr23-g3j9"]);
    assert_eq!(f.fixed_versions, vec!["0.0.8"]);
    assert_eq!(
        f.title.as_deref(),
        Some("CVE-2021-23424: Uncontrolled Resource Consumption in ansi-html")
    );
}

#[test]
fn pip_audit_json_both_shapes() {
    let readme = report("pip-audit/readme.json");
    assert_eq!(
        ids(&readme),
        vec![
            "unknown PYSEC-2019-179 flask 0.5",
            "unknown PYSEC-2018-66 flask 0.5"
        ]
    );
    assert_eq!(
        readme.findings[0].aliases,
        vec!["CVE-2019-1010083", "GHSA-5wv5-4vpf-pj6m"]
    );
    assert_eq!(
        readme.findings[0].purl.as_deref(),
        Some("pkg:pypi/flask@0.5")
    );
    let current = report("pip-audit/test_json.json");
    assert_eq!(
        ids(&current),
        vec![
            "unknown VULN-0 foo 1.0",
            "unknown VULN-1 foo 1.0",
            "unknown VULN-2 bar 0.1",
        ]
    );
    assert_eq!(current.findings[0].fixed_versions, vec!["1.1", "1.4"]);
}

#[test]
fn what_the_tools_suppressed_or_skipped_is_noted() {
    let path = format!(
        "{}/tests/reports/osv-scanner/sarif-with-vulns.sarif",
        env!("CARGO_MANIFEST_DIR")
    );
    let mut log: Value = serde_json::from_slice(&std::fs::read(path).unwrap()).unwrap();
    log["runs"][0]["results"][0]["suppressions"] =
        json!([{"kind": "external", "status": "accepted", "justification": "not reachable"}]);
    let r = parse_report("osv.sarif", log.to_string().as_bytes(), None).unwrap();
    assert!(r.findings.is_empty());
    assert_eq!(
        r.notes,
        vec!["1 result(s) suppressed by osv-scanner itself are not judged by the policy"]
    );
    // A suppression still under review does not hide the result.
    log["runs"][0]["results"][0]["suppressions"] =
        json!([{"kind": "external", "status": "underReview"}]);
    let r = parse_report("osv.sarif", log.to_string().as_bytes(), None).unwrap();
    assert_eq!(r.findings.len(), 1);

    let skipped = br#"{"dependencies": [{"name": "wharf-demo", "skip_reason": "Dependency not found on PyPI and could not be audited: wharf-demo (0.1.0)"}], "fixes": []}"#;
    let r = parse_report("audit.json", skipped, None).unwrap();
    assert!(r.findings.is_empty());
    assert_eq!(
        r.notes,
        vec![
            "pip-audit did not audit wharf-demo: Dependency not found on PyPI and could not be \
             audited: wharf-demo (0.1.0)"
        ]
    );
}

#[test]
fn an_unknown_report_is_refused_naming_the_file_and_the_formats() {
    let err = parse_report(
        "reports/cyclonedx.json",
        br#"{"bomFormat": "CycloneDX", "specVersion": "1.6"}"#,
        None,
    )
    .unwrap_err();
    assert_eq!(
        err.to_string(),
        "reports/cyclonedx.json: cannot tell which scanner wrote this report: it is a JSON \
         object with keys bomFormat, specVersion\n  hint: expected Trivy JSON (`SchemaVersion`), \
         Grype JSON (`matches`), SARIF 2.1.0 (`version`, `runs`) or pip-audit JSON \
         (`dependencies`); name the format explicitly if it is one of these"
    );
    let err = parse_report("r.txt", b"Total: 3 (HIGH: 1)", None).unwrap_err();
    assert!(
        err.to_string()
            .starts_with("r.txt: cannot tell which scanner wrote this report: it is not JSON (expected value at line 1 column 1)"),
        "{err}"
    );
}

#[test]
fn unsupported_versions_are_refused() {
    let err =
        parse_report("old.json", br#"{"SchemaVersion": 1, "Results": []}"#, None).unwrap_err();
    assert_eq!(
        err.to_string(),
        "old.json: Trivy JSON report has SchemaVersion 1; only 2 is supported"
    );
    let err = parse_report("old.sarif", br#"{"version": "2.0.0", "runs": []}"#, None).unwrap_err();
    assert_eq!(
        err.to_string(),
        "old.sarif: SARIF report has version \"2.0.0\"; only \"2.1.0\" is supported"
    );
}

#[test]
fn malformed_reports_say_what_was_expected() {
    let err = parse_report(
        "grype.json",
        br#"{"matches": [{"vulnerability": {"id": 7}}]}"#,
        None,
    )
    .unwrap_err();
    assert_eq!(
        err.to_string(),
        "grype.json: malformed Grype JSON report: invalid type: integer `7`, expected a string \
         (expected matches[] with vulnerability{id, severity, fix}, relatedVulnerabilities[], \
         artifact{name, version, purl})"
    );
    let err = parse_report(
        "x.sarif",
        br#"{"version": "2.1.0"}"#,
        Some(ReportFormat::TrivyJson),
    )
    .unwrap_err();
    assert_eq!(
        err.to_string(),
        "x.sarif: malformed Trivy JSON report: no `SchemaVersion`; this is not a Trivy JSON report"
    );
    let err = parse_report("x.json", b"{", Some(ReportFormat::PipAuditJson)).unwrap_err();
    assert_eq!(
        err.to_string(),
        "x.json: malformed pip-audit JSON report: not JSON: EOF while parsing an object at line 1 column 1"
    );
    let err = wharf_policy::read_report(std::path::Path::new("/nonexistent/trivy.json"), None)
        .unwrap_err();
    assert!(
        err.to_string()
            .starts_with("reading the scanner report /nonexistent/trivy.json: "),
        "{err}"
    );
}
