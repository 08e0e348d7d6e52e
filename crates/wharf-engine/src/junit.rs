//! JUnit XML reports: counts of tests, failures, errors and skips.
//!
//! Every test runner worth using writes JUnit XML (pytest `--junitxml`, cargo-nextest,
//! go-junit-report …), so it is the one format wharf reads to put test counts into the
//! summary and the run record. Counting `<testcase>` elements (rather than trusting the
//! suite attributes) gives the same numbers for every dialect.

use std::path::Path;

use quick_xml::Reader;
use quick_xml::events::Event;

/// Test counts of one report.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Counts {
    /// Test cases.
    pub tests: u64,
    /// Failed test cases.
    pub failures: u64,
    /// Test cases in error.
    pub errors: u64,
    /// Skipped test cases.
    pub skipped: u64,
}

/// The largest report parsed.
pub const MAX_REPORT_BYTES: u64 = 64 << 20;

/// Parses the report at `path`.
pub fn parse_file(path: &Path) -> Result<Counts, String> {
    let meta = std::fs::metadata(path).map_err(|e| e.to_string())?;
    if meta.len() > MAX_REPORT_BYTES {
        return Err(format!(
            "report is {} bytes, over the {} byte limit",
            meta.len(),
            MAX_REPORT_BYTES
        ));
    }
    let text = std::fs::read(path).map_err(|e| e.to_string())?;
    parse(&text)
}

/// Parses a report's bytes.
pub fn parse(xml: &[u8]) -> Result<Counts, String> {
    let mut reader = Reader::from_reader(xml);
    let mut buf = Vec::new();
    let mut counts = Counts::default();
    // Inside a <testcase>: the worst thing seen so far (0 none, 1 skipped, 2 failure, 3 error).
    let mut in_case: Option<u8> = None;
    let mut saw_root = false;
    loop {
        let ev = reader
            .read_event_into(&mut buf)
            .map_err(|e| format!("not valid XML at byte {}: {e}", reader.error_position()))?;
        let (is_empty, e) = match &ev {
            Event::Start(e) => (false, Some(e)),
            Event::Empty(e) => (true, Some(e)),
            _ => (false, None),
        };
        if let Some(e) = e {
            let name = e.local_name();
            match (in_case, name.as_ref()) {
                (None, "testsuites" | "testsuite") => saw_root = true,
                (None, "testcase") => {
                    saw_root = true;
                    counts.tests += 1;
                    // `<testcase/>` has no children: it passed.
                    in_case = (!is_empty).then_some(0);
                }
                (Some(sev), child) => {
                    let this = match child {
                        "skipped" => 1,
                        "failure" => 2,
                        "error" => 3,
                        _ => 0,
                    };
                    in_case = Some(sev.max(this));
                }
                _ => {}
            }
        }
        match ev {
            Event::End(e) if e.local_name().as_ref() == "testcase" => {
                if let Some(sev) = in_case.take() {
                    match sev {
                        1 => counts.skipped += 1,
                        2 => counts.failures += 1,
                        3 => counts.errors += 1,
                        _ => {}
                    }
                }
            }
            Event::Eof => break,
            _ => {}
        }
        buf.clear();
    }
    if !saw_root {
        return Err("no <testsuite> or <testcase> element: not a JUnit report".into());
    }
    Ok(counts)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn counts_pytest_style_report() {
        let xml = br#"<?xml version="1.0" encoding="utf-8"?>
<testsuites><testsuite name="pytest" errors="0" failures="1" skipped="1" tests="4">
<testcase classname="t" name="a" time="0.1"/>
<testcase classname="t" name="b"><failure message="boom">trace</failure></testcase>
<testcase classname="t" name="c"><skipped message="later"/></testcase>
<testcase classname="t" name="d"><error message="x"/><system-out>hi</system-out></testcase>
<testcase classname="t" name="e"></testcase>
</testsuite></testsuites>"#;
        assert_eq!(
            parse(xml).unwrap(),
            Counts {
                tests: 5,
                failures: 1,
                errors: 1,
                skipped: 1
            }
        );
    }

    #[test]
    fn rejects_non_junit_and_broken_xml() {
        assert!(parse(b"<html></html>").unwrap_err().contains("not a JUnit"));
        assert!(parse(b"<testsuite><testcase></testsuite>").is_err());
    }
}
