//! Licences from the SBOM against `[licenses]` and licence exceptions.

use wharf_policy::{LicenseProblem, Package, evaluate};

use crate::{day, policy};

fn package(name: &str, version: &str, license: Option<&str>) -> Package {
    Package {
        name: name.into(),
        version: Some(version.into()),
        purl: Some(format!("pkg:pypi/{name}@{version}")),
        license: license.map(str::to_string),
    }
}

const POLICY: &str = r#"[licenses]
allow = ["MIT", "Apache-2.0", "BSD-3-Clause"]
"#;

const CERTIFI_EXCEPTION: &str = r#"
[[exception]]
id = "EXC-0008"
kind = "license"
license = "MPL-2.0"
package = "pkg:pypi/certifi@2024.8.30"
reason = "unmodified, file-level copyleft; legal ok 2026-10"
owner = "team-web"
approved-by = "cto"
created = 2026-10-20
expires = 2027-01-15
"#;

fn sbom() -> Vec<Package> {
    vec![
        package("flask", "3.0.3", Some("BSD-3-Clause")),
        package("certifi", "2024.8.30", Some("MPL-2.0")),
        package("dual", "1.0", Some("MIT OR GPL-3.0-only")),
        package("both", "1.0", Some("MIT AND GPL-3.0-only")),
        package("mystery", "0.1", None),
        package("legacy", "2.0", Some("Apache 2.0")),
    ]
}

#[test]
fn a_licence_not_allowed_is_a_finding_and_an_allowed_or_passes() {
    let p = policy(POLICY);
    let outcome = evaluate(&p, &[], Some(&sbom()), None, day("2026-12-06"));
    let found: Vec<(&str, &LicenseProblem)> = outcome
        .licenses
        .iter()
        .map(|l| (l.package.name.as_str(), &l.problem))
        .collect();
    assert_eq!(
        found,
        vec![
            (
                "certifi",
                &LicenseProblem::NotAllowed {
                    not_allowed: vec!["MPL-2.0".into()]
                }
            ),
            (
                "both",
                &LicenseProblem::NotAllowed {
                    not_allowed: vec!["GPL-3.0-only".into()]
                }
            ),
            ("mystery", &LicenseProblem::Unknown),
        ]
    );
    assert!(!outcome.passed());
    assert_eq!(
        outcome.failures(),
        vec![
            "licence of certifi 2024.8.30 (MPL-2.0) is not allowed: MPL-2.0",
            "licence of both 1.0 (MIT AND GPL-3.0-only) is not allowed: GPL-3.0-only",
            "licence of mystery 0.1 (no licence) is unknown licence",
        ]
    );
}

#[test]
fn unknown_licences_may_be_allowed() {
    let p = policy(&format!("{POLICY}unknown = \"allow\"\n"));
    let packages = vec![
        package("mystery", "0.1", Some("NOASSERTION")),
        package("odd", "0.2", Some("Some Custom Licence v3")),
    ];
    let outcome = evaluate(&p, &[], Some(&packages), None, day("2026-12-06"));
    assert!(outcome.passed(), "{}", outcome.render_text());
}

#[test]
fn a_licence_exception_covers_its_package_and_licence_only() {
    let p = policy(&format!("{POLICY}{CERTIFI_EXCEPTION}"));
    let mut packages = sbom();
    packages.retain(|p| p.name == "certifi" || p.name == "flask");
    let outcome = evaluate(&p, &[], Some(&packages), None, day("2026-12-06"));
    assert!(outcome.passed(), "{}", outcome.render_text());
    assert_eq!(outcome.applied.len(), 1);
    assert_eq!(outcome.applied[0].id, "EXC-0008");
    assert_eq!(
        outcome.applied[0].matched,
        vec!["certifi 2024.8.30 (MPL-2.0)"]
    );

    // A bumped certifi is no longer covered, and the exception is then unused.
    packages[1] = package("certifi", "2025.1.31", Some("MPL-2.0"));
    let outcome = evaluate(&p, &[], Some(&packages), None, day("2026-12-06"));
    assert_eq!(outcome.licenses.len(), 1);
    assert_eq!(outcome.unused.len(), 1);
    assert_eq!(outcome.unused[0].id, "EXC-0008");

    // Without an SBOM licences are not judged, and licence exceptions are not unused.
    let outcome = evaluate(&p, &[], None, None, day("2026-12-06"));
    assert!(outcome.passed());
}

#[test]
fn an_expired_licence_exception_fails_naming_it() {
    let p = policy(&format!("{POLICY}{CERTIFI_EXCEPTION}"));
    let packages = vec![package("certifi", "2024.8.30", Some("MPL-2.0"))];
    let outcome = evaluate(&p, &[], Some(&packages), None, day("2027-01-16"));
    assert_eq!(outcome.licenses.len(), 1);
    assert_eq!(
        outcome.licenses[0].expired_exception.as_deref(),
        Some("EXC-0008")
    );
    assert_eq!(outcome.expired.len(), 1);
    assert_eq!(
        outcome.failures()[0],
        "exception EXC-0008 expired on 2027-01-15 (owner team-web, approved by cto) and still \
         matches certifi 2024.8.30 (MPL-2.0); renew it with a new approval or fix the finding"
    );
}

#[test]
fn noassertion_exception_covers_an_unknown_licence() {
    let exception = r#"
[[exception]]
id = "EXC-0010"
kind = "license"
license = "NOASSERTION"
package = "mystery"
reason = "internal package, licence file reviewed by legal"
owner = "team-web"
approved-by = "cto"
created = 2026-11-01
expires = 2027-01-15
"#;
    let p = policy(&format!("{POLICY}{exception}"));
    let packages = vec![package("mystery", "0.1", None)];
    let outcome = evaluate(&p, &[], Some(&packages), None, day("2026-12-06"));
    assert!(outcome.passed(), "{}", outcome.render_text());
    assert_eq!(outcome.applied[0].matched, vec!["mystery 0.1 (no licence)"]);
}
