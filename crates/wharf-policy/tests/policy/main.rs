//! The crate's one integration-test binary: the policy file's errors, the recorded scanner
//! reports (see `tests/reports/SOURCES.md`), licences, and the gate on a fixed date.

mod file;
mod gate;
mod licenses;
mod reports;

use std::path::Path;

use chrono::NaiveDate;
use wharf_policy::{Error, Policy, Report, parse_report};

/// A date, for a fixed "today".
pub fn day(text: &str) -> NaiveDate {
    NaiveDate::parse_from_str(text, "%Y-%m-%d").unwrap()
}

/// A recorded report from `tests/reports/`, named `reports/<path>` in findings.
pub fn report(path: &str) -> Report {
    let full = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/reports")
        .join(path);
    let bytes = std::fs::read(&full).unwrap();
    parse_report(&format!("reports/{path}"), &bytes, None).unwrap()
}

/// Parses a policy that must be valid.
pub fn policy(text: &str) -> Policy {
    match Policy::parse("wharf.policy.toml", text) {
        Ok(p) => p,
        Err(e) => panic!("policy should parse:\n{e}"),
    }
}

/// The problems of a policy that must be invalid, each as `file:line:col: message`.
pub fn problems(text: &str) -> Vec<String> {
    match Policy::parse("wharf.policy.toml", text) {
        Err(Error::Policy { problems, .. }) => problems.iter().map(|p| p.to_string()).collect(),
        other => panic!("expected policy problems, got {other:?}"),
    }
}

/// The hints of a policy that must be invalid.
pub fn hints(text: &str) -> Vec<Option<String>> {
    match Policy::parse("wharf.policy.toml", text) {
        Err(Error::Policy { problems, .. }) => problems.iter().map(|p| p.hint()).collect(),
        other => panic!("expected policy problems, got {other:?}"),
    }
}
