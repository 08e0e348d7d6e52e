//! Fuzzes the scanner-report parsers and the gate: any bytes, read as any of the four
//! formats or detected, must give a report or an error that renders, never a panic. What
//! parses goes through the gate with a fixed policy and the text renderer; the same
//! bytes, as text, are also judged as a package's licence expression.
//!
//! Input: `[format selector] report bytes`.

#![no_main]

use std::sync::LazyLock;

use libfuzzer_sys::fuzz_target;
use wharf_policy::{Package, Policy, ReportFormat, evaluate, parse_report};

const POLICY: &str = r#"
[vulnerabilities]
fail-on = ["critical", "high"]
[licenses]
allow = ["MIT", "Apache-2.0"]

[[exception]]
id = "EXC-1"
kind = "vulnerability"
vulnerability = "CVE-2019-14806"
package = "pkg:pypi/werkzeug@0.11"
reason = "fuzz"
owner = "a"
approved-by = "b"
created = 2026-11-01
expires = 2027-01-15
"#;

static GATE: LazyLock<Policy> = LazyLock::new(|| Policy::parse("fuzz.toml", POLICY).unwrap());

fuzz_target!(|data: &[u8]| {
    let [selector, bytes @ ..] = data else {
        return;
    };
    let format = match selector % 5 {
        0 => None,
        n => Some(ReportFormat::ALL[usize::from(n - 1)]),
    };
    let today = wharf_policy::NaiveDate::from_ymd_opt(2026, 12, 6).unwrap();
    let license = String::from_utf8_lossy(bytes).into_owned();
    let packages = [Package {
        name: "fuzzed".into(),
        version: Some("1.0".into()),
        purl: None,
        license: Some(license),
    }];
    match parse_report("fuzz.json", bytes, format) {
        Ok(report) => {
            let outcome = evaluate(&GATE, &report.findings, Some(&packages), None, today);
            let _ = outcome.render_text();
            let _ = outcome.failures();
        }
        Err(e) => {
            let _ = e.to_string();
            let _ = evaluate(&GATE, &[], Some(&packages), None, today).render_text();
        }
    }
});
