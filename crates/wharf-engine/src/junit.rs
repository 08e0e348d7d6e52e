//! JUnit XML reports: counts of tests, failures, errors and skips, and which tests failed.
//!
//! Every test runner worth using writes JUnit XML (pytest `--junitxml`, cargo-nextest,
//! go-junit-report …), so it is the one format wharf reads to put test results into the
//! summary and the run record. Counting `<testcase>` elements (rather than trusting the
//! suite attributes) gives the same numbers for every dialect. A failed case is kept by
//! name, class and the first lines of its message, so a red run says which tests broke
//! without opening the report; only the first few are kept, so a report with ten thousand
//! failures costs no more than one with twenty.

use std::path::Path;

use quick_xml::Reader;
use quick_xml::XmlVersion;
use quick_xml::events::{BytesStart, Event};
use wharf_model::{FailedTest, FailureKind};

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

/// What one report says.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Report {
    /// Its counts.
    pub counts: Counts,
    /// Its failed and erroring cases in report order, the first
    /// [`FailedTest::MAX_LISTED`].
    pub failed: Vec<FailedTest>,
}

/// The largest report parsed.
pub const MAX_REPORT_BYTES: u64 = 64 << 20;

/// Parses the report at `path`.
pub fn parse_file(path: &Path) -> Result<Report, String> {
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

/// How bad a test case went so far; the worst thing seen inside it decides.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
enum Severity {
    Passed,
    Skipped,
    Failed,
    Error,
}

/// The `<testcase>` being read.
struct Case {
    name: String,
    classname: String,
    severity: Severity,
    /// The `message` attribute of the element that decided the severity.
    message: String,
    /// Its text, while it is short enough to matter.
    text: String,
    /// Inside that element: its text is being collected.
    in_failure: bool,
}

impl Case {
    fn new(e: &BytesStart<'_>) -> Case {
        Case {
            name: attribute(e, "name"),
            classname: attribute(e, "classname"),
            severity: Severity::Passed,
            message: String::new(),
            text: String::new(),
            in_failure: false,
        }
    }

    /// A child element opened (`empty`: it has no content).
    fn child(&mut self, e: &BytesStart<'_>, empty: bool) {
        let severity = match e.local_name().as_ref() {
            "skipped" => Severity::Skipped,
            "failure" => Severity::Failed,
            "error" => Severity::Error,
            _ => return,
        };
        if severity <= self.severity {
            return;
        }
        self.severity = severity;
        if severity >= Severity::Failed {
            self.message = attribute(e, "message");
            self.text.clear();
            self.in_failure = !empty;
        }
    }

    /// Text inside the deciding element: kept up to a little more than a message needs.
    fn push_text(&mut self, text: &str) {
        if self.in_failure && self.text.len() < FailedTest::MAX_MESSAGE_CHARS * 4 {
            self.text.push_str(text);
        }
    }

    /// The case as kept, when it failed.
    fn failed(self) -> Option<FailedTest> {
        let kind = match self.severity {
            Severity::Failed => FailureKind::Failure,
            Severity::Error => FailureKind::Error,
            Severity::Passed | Severity::Skipped => return None,
        };
        let message = if self.message.trim().is_empty() {
            excerpt(&self.text)
        } else {
            excerpt(&self.message)
        };
        Some(FailedTest {
            name: self.name,
            classname: self.classname,
            kind,
            message,
        })
    }
}

/// Parses a report's bytes.
pub fn parse(xml: &[u8]) -> Result<Report, String> {
    let mut reader = Reader::from_reader(xml);
    let mut buf = Vec::new();
    let mut report = Report::default();
    let mut case: Option<Case> = None;
    let mut saw_root = false;
    loop {
        let ev = reader
            .read_event_into(&mut buf)
            .map_err(|e| format!("not valid XML at byte {}: {e}", reader.error_position()))?;
        match (&ev, &mut case) {
            (Event::Start(e) | Event::Empty(e), None) => match e.local_name().as_ref() {
                "testsuites" | "testsuite" => saw_root = true,
                "testcase" => {
                    saw_root = true;
                    report.counts.tests += 1;
                    // `<testcase/>` has no children: it passed.
                    if matches!(ev, Event::Start(_)) {
                        case = Some(Case::new(e));
                    }
                }
                _ => {}
            },
            (Event::Start(e), Some(c)) => c.child(e, false),
            (Event::Empty(e), Some(c)) => c.child(e, true),
            (Event::Text(t), Some(c)) => c.push_text(&t.xml10_content()),
            (Event::CData(t), Some(c)) => c.push_text(&t.xml10_content()),
            (Event::GeneralRef(r), Some(c)) if c.in_failure => {
                let resolved = match r.resolve_char_ref() {
                    Ok(Some(ch)) => ch.to_string(),
                    _ => quick_xml::escape::resolve_predefined_entity(r)
                        .map_or_else(|| format!("&{};", &**r), str::to_string),
                };
                c.push_text(&resolved);
            }
            (Event::End(e), Some(c)) => match e.local_name().as_ref() {
                "failure" | "error" => c.in_failure = false,
                "testcase" => {
                    let done = case.take().expect("matched Some");
                    match done.severity {
                        Severity::Skipped => report.counts.skipped += 1,
                        Severity::Failed => report.counts.failures += 1,
                        Severity::Error => report.counts.errors += 1,
                        Severity::Passed => {}
                    }
                    if report.failed.len() < FailedTest::MAX_LISTED
                        && let Some(f) = done.failed()
                    {
                        report.failed.push(f);
                    }
                }
                _ => {}
            },
            (Event::Eof, _) => break,
            _ => {}
        }
        buf.clear();
    }
    if !saw_root {
        return Err("no <testsuite> or <testcase> element: not a JUnit report".into());
    }
    Ok(report)
}

/// The value of attribute `name` of `e`, `""` when absent or unreadable.
fn attribute(e: &BytesStart<'_>, name: &str) -> String {
    match e.try_get_attribute(name) {
        Ok(Some(a)) => a
            .normalized_value(XmlVersion::Implicit1_0)
            .map(|v| v.into_owned())
            .unwrap_or_else(|_| a.value.clone().into_owned()),
        _ => String::new(),
    }
}

/// The first lines of `text`, as a summary shows them: blank lines around it dropped,
/// trailing spaces trimmed, at most [`FailedTest::MAX_MESSAGE_LINES`] lines and
/// [`FailedTest::MAX_MESSAGE_CHARS`] characters, `…` where it was cut.
pub fn excerpt(text: &str) -> String {
    let mut lines = text
        .lines()
        .map(str::trim_end)
        .skip_while(|l| l.trim().is_empty());
    let mut out = String::new();
    let mut chars = 0;
    let mut more = false;
    'lines: for (i, line) in lines.by_ref().enumerate() {
        if i == FailedTest::MAX_MESSAGE_LINES {
            more = !line.trim().is_empty();
            break;
        }
        for ch in (i > 0).then_some('\n').into_iter().chain(line.chars()) {
            if chars >= FailedTest::MAX_MESSAGE_CHARS {
                more = true;
                break 'lines;
            }
            out.push(ch);
            chars += 1;
        }
    }
    // Blank lines left out are no cut.
    more = more || lines.any(|l| !l.trim().is_empty());
    out.truncate(out.trim_end().len());
    if more {
        out.push('…');
    }
    out
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
            parse(xml).unwrap().counts,
            Counts {
                tests: 5,
                failures: 1,
                errors: 1,
                skipped: 1
            }
        );
    }

    #[test]
    fn keeps_failed_cases_by_name_class_and_message() {
        let xml = br#"<testsuites><testsuite name="pytest">
<testcase classname="tests.test_calc" name="test_add"/>
<testcase classname="tests.test_calc" name="test_sub"><failure message="assert 1 == 2&#10;  where 1 = sub(3, 2)">def test_sub():
&gt;       assert sub(3, 2) == 2</failure></testcase>
<testcase classname="tests.test_io" name="test_read"><error message="">
<![CDATA[FileNotFoundError: data.csv]]>
  at open()
</error><system-out>not this</system-out></testcase>
<testcase classname="tests.test_io" name="test_skip"><skipped/></testcase>
<testcase name="test_noclass"><failure>  first &lt;line&gt; &#x41;
second</failure></testcase>
</testsuite></testsuites>"#;
        let r = parse(xml).unwrap();
        assert_eq!(r.counts.failures, 2);
        assert_eq!(r.counts.errors, 1);
        let f = |name: &str, classname: &str, kind, message: &str| FailedTest {
            name: name.into(),
            classname: classname.into(),
            kind,
            message: message.into(),
        };
        assert_eq!(
            r.failed,
            vec![
                f(
                    "test_sub",
                    "tests.test_calc",
                    FailureKind::Failure,
                    "assert 1 == 2\n  where 1 = sub(3, 2)"
                ),
                f(
                    "test_read",
                    "tests.test_io",
                    FailureKind::Error,
                    "FileNotFoundError: data.csv\n  at open()"
                ),
                f(
                    "test_noclass",
                    "",
                    FailureKind::Failure,
                    "  first <line> A\nsecond"
                ),
            ]
        );
    }

    #[test]
    fn an_error_outranks_a_failure_and_takes_its_message() {
        let xml = br#"<testsuite><testcase name="t"><failure message="assert"/><error message="teardown broke"/></testcase></testsuite>"#;
        let r = parse(xml).unwrap();
        assert_eq!((r.counts.failures, r.counts.errors), (0, 1));
        assert_eq!(r.failed[0].kind, FailureKind::Error);
        assert_eq!(r.failed[0].message, "teardown broke");
    }

    #[test]
    fn keeps_only_the_first_cases_and_lines() {
        let mut xml = String::from("<testsuite>");
        for i in 0..50 {
            xml.push_str(&format!(
                "<testcase name=\"t{i}\"><failure>{}</failure></testcase>",
                (1..=9)
                    .map(|l| format!("line {l}"))
                    .collect::<Vec<_>>()
                    .join("\n")
            ));
        }
        xml.push_str("</testsuite>");
        let r = parse(xml.as_bytes()).unwrap();
        assert_eq!(r.counts.failures, 50);
        assert_eq!(r.failed.len(), FailedTest::MAX_LISTED);
        assert_eq!(r.failed[19].name, "t19");
        assert_eq!(
            r.failed[0].message,
            "line 1\nline 2\nline 3\nline 4\nline 5…"
        );
    }

    #[test]
    fn excerpts_cut_long_text_and_drop_blank_edges() {
        assert_eq!(excerpt("\n\n  boom  \n\n"), "  boom");
        assert_eq!(excerpt("a\nb\n\n\n"), "a\nb");
        let long = "x".repeat(2000);
        let e = excerpt(&long);
        assert_eq!(e.chars().count(), FailedTest::MAX_MESSAGE_CHARS + 1);
        assert!(e.ends_with('…'));
        assert_eq!(excerpt("é".repeat(600).as_str()).chars().count(), 501);
    }

    #[test]
    fn rejects_non_junit_and_broken_xml() {
        assert!(parse(b"<html></html>").unwrap_err().contains("not a JUnit"));
        assert!(parse(b"<testsuite><testcase></testsuite>").is_err());
    }
}
