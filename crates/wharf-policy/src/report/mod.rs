//! Scanner reports, as the project's own scanners wrote them, normalised to [`Finding`]s.
//!
//! These parse outside input: any bytes give a report or an [`Error`] naming the file and
//! what was expected, never a panic. The format is told from the content (or given):
//!
//! - **Trivy JSON**: an object with `SchemaVersion` (only `2` is read); every
//!   `Results[].Vulnerabilities[]`, every `Misconfigurations[]` whose `Status` is `FAIL`,
//!   every `Secrets[]`. `VendorIDs` (DSA, RHSA…) are aliases.
//! - **Grype JSON**: an object with `matches`; `relatedVulnerabilities` are aliases (a GHSA
//!   match lists its CVE there). `ignoredMatches` are counted in [`Report::notes`].
//! - **SARIF 2.1.0** (any tool: Trivy, Grype, OSV-Scanner…): every result whose `kind` is
//!   `fail`, `open` or `review` (absent means `fail`) and that the tool did not suppress.
//!   See [`sarif`] for how package, severity and aliases are read.
//! - **pip-audit JSON**: `{"dependencies": [...], "fixes": [...]}` (pip-audit 2) or the bare
//!   array older versions and the README show; `aliases` are aliases. pip-audit gives no
//!   severity, so its findings are `unknown`.

mod grype;
mod pip_audit;
pub mod sarif;
mod trivy;

use std::fmt;
use std::path::Path;
use std::str::FromStr;

use serde::{Deserialize, Serialize};
use serde_json::Value;

use crate::error::{Error, Result};
use crate::severity::Severity;

/// The report formats this crate reads.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum ReportFormat {
    /// `trivy --format json`, schema version 2.
    TrivyJson,
    /// `grype -o json`.
    GrypeJson,
    /// SARIF 2.1.0 from any tool.
    Sarif,
    /// `pip-audit -f json`.
    PipAuditJson,
}

impl ReportFormat {
    /// Every format, in detection order.
    pub const ALL: [ReportFormat; 4] = [
        ReportFormat::TrivyJson,
        ReportFormat::GrypeJson,
        ReportFormat::Sarif,
        ReportFormat::PipAuditJson,
    ];

    /// The name a pipeline uses to give the format explicitly.
    pub fn as_str(self) -> &'static str {
        match self {
            ReportFormat::TrivyJson => "trivy-json",
            ReportFormat::GrypeJson => "grype-json",
            ReportFormat::Sarif => "sarif",
            ReportFormat::PipAuditJson => "pip-audit-json",
        }
    }

    fn title(self) -> &'static str {
        match self {
            ReportFormat::TrivyJson => "Trivy JSON",
            ReportFormat::GrypeJson => "Grype JSON",
            ReportFormat::Sarif => "SARIF",
            ReportFormat::PipAuditJson => "pip-audit JSON",
        }
    }
}

impl fmt::Display for ReportFormat {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.title())
    }
}

impl FromStr for ReportFormat {
    type Err = String;

    /// Accepts `trivy-json`, `grype-json`, `sarif`, `pip-audit-json`, and the tool names
    /// alone (`trivy`, `grype`, `pip-audit`).
    fn from_str(s: &str) -> Result<ReportFormat, String> {
        Ok(match s.trim().to_ascii_lowercase().as_str() {
            "trivy" | "trivy-json" => ReportFormat::TrivyJson,
            "grype" | "grype-json" => ReportFormat::GrypeJson,
            "sarif" => ReportFormat::Sarif,
            "pip-audit" | "pip-audit-json" => ReportFormat::PipAuditJson,
            other => {
                return Err(format!(
                    "unknown report format `{other}`; expected trivy-json, grype-json, sarif or \
                     pip-audit-json"
                ));
            }
        })
    }
}

/// What sort of problem a finding is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, Default)]
#[serde(rename_all = "kebab-case")]
pub enum FindingKind {
    /// A known vulnerability in a package.
    #[default]
    Vulnerability,
    /// A misconfiguration (Trivy's config scanning).
    Misconfiguration,
    /// A secret found in files.
    Secret,
}

/// One problem a scanner reported, in one package (or file).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Finding {
    /// What sort of problem.
    pub kind: FindingKind,
    /// The scanner's id for it: CVE, GHSA, PYSEC…, or a rule id.
    pub id: String,
    /// Other ids for the same problem, as the report lists them.
    pub aliases: Vec<String>,
    /// The affected package's name.
    pub package: Option<String>,
    /// The installed version.
    pub version: Option<String>,
    /// The package URL, when the report gives one (or, for pip-audit, implies one).
    pub purl: Option<String>,
    /// How bad it is.
    pub severity: Severity,
    /// Versions that fix it.
    pub fixed_versions: Vec<String>,
    /// A one-line title, when the report has one.
    pub title: Option<String>,
    /// Where it was found: Trivy's target, a SARIF location, a secret's file and line.
    pub target: Option<String>,
    /// The scanner, e.g. `trivy`, `grype`, `osv-scanner`, `pip-audit`.
    pub tool: String,
    /// The report file it came from.
    pub report: String,
}

impl Finding {
    /// Whether `id` is this finding's id or one of its aliases (ASCII case-insensitive).
    pub fn is_known_as(&self, id: &str) -> bool {
        self.id.eq_ignore_ascii_case(id) || self.aliases.iter().any(|a| a.eq_ignore_ascii_case(id))
    }

    /// `id package version (tool, report)`, for tables and the release record.
    pub fn describe(&self) -> String {
        let mut out = self.id.clone();
        for part in [&self.package, &self.version].into_iter().flatten() {
            out.push(' ');
            out.push_str(part);
        }
        out.push_str(&format!(" ({}, {})", self.tool, self.report));
        out
    }
}

/// A parsed report.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Report {
    /// The report's display name.
    pub file: String,
    /// Its format.
    pub format: ReportFormat,
    /// The scanner that wrote it.
    pub tool: String,
    /// The scanner's version, when the report says.
    pub tool_version: Option<String>,
    /// `sha256:<hex>` of the report's bytes, for the release record.
    pub sha256: String,
    /// Every finding, in report order.
    pub findings: Vec<Finding>,
    /// Things worth saying that are not findings: results the tool suppressed itself,
    /// dependencies it could not audit.
    pub notes: Vec<String>,
}

/// Tells a report's format from its content; `None` when it is none of the four.
pub fn detect_format(bytes: &[u8]) -> Option<ReportFormat> {
    serde_json::from_slice::<Value>(bytes)
        .ok()
        .and_then(|v| detect(&v))
}

fn detect(value: &Value) -> Option<ReportFormat> {
    match value {
        Value::Object(o) if o.contains_key("SchemaVersion") => Some(ReportFormat::TrivyJson),
        Value::Object(o) if o.get("matches").is_some_and(Value::is_array) => {
            Some(ReportFormat::GrypeJson)
        }
        Value::Object(o)
            if o.get("runs").is_some_and(Value::is_array)
                && (o.contains_key("version")
                    || o.get("$schema")
                        .and_then(Value::as_str)
                        .is_some_and(|s| s.to_ascii_lowercase().contains("sarif"))) =>
        {
            Some(ReportFormat::Sarif)
        }
        Value::Object(o) if o.get("dependencies").is_some_and(Value::is_array) => {
            Some(ReportFormat::PipAuditJson)
        }
        Value::Array(items)
            if !items.is_empty()
                && items.iter().all(|i| {
                    i.get("name").is_some()
                        && (i.get("vulns").is_some() || i.get("skip_reason").is_some())
                }) =>
        {
            Some(ReportFormat::PipAuditJson)
        }
        _ => None,
    }
}

/// A short description of JSON that is not a known report.
fn describe_json(value: &Value) -> String {
    match value {
        Value::Object(o) if o.is_empty() => "an empty JSON object".into(),
        Value::Object(o) => {
            let keys: Vec<&str> = o.keys().take(6).map(String::as_str).collect();
            let more = if o.len() > keys.len() { ", …" } else { "" };
            format!("a JSON object with keys {}{more}", keys.join(", "))
        }
        Value::Array(a) if a.is_empty() => "an empty JSON array".into(),
        Value::Array(_) => "a JSON array of something else".into(),
        Value::String(_) => "a JSON string".into(),
        Value::Number(_) => "a JSON number".into(),
        Value::Bool(_) => "a JSON boolean".into(),
        Value::Null => "JSON null".into(),
    }
}

/// Parses a report's bytes; `file` names it in messages and findings. With `format`
/// `None` the format is told from the content.
pub fn parse_report(file: &str, bytes: &[u8], format: Option<ReportFormat>) -> Result<Report> {
    let value: Value = serde_json::from_slice(bytes).map_err(|e| match format {
        Some(format) => Error::MalformedReport {
            file: file.to_string(),
            format,
            reason: format!("not JSON: {e}"),
        },
        None => Error::UnknownReportFormat {
            file: file.to_string(),
            reason: format!("it is not JSON ({e})"),
        },
    })?;
    let format = match format {
        Some(f) => f,
        None => detect(&value).ok_or_else(|| Error::UnknownReportFormat {
            file: file.to_string(),
            reason: format!("it is {}", describe_json(&value)),
        })?,
    };
    let mut report = match format {
        ReportFormat::TrivyJson => trivy::parse(file, &value),
        ReportFormat::GrypeJson => grype::parse(file, &value),
        ReportFormat::Sarif => sarif::parse(file, &value),
        ReportFormat::PipAuditJson => pip_audit::parse(file, &value),
    }?;
    report.sha256 = crate::digest::sha256(bytes);
    Ok(report)
}

/// Reads and parses the report at `path` (named by `path` in messages and findings).
pub fn read_report(path: &Path, format: Option<ReportFormat>) -> Result<Report> {
    let bytes = std::fs::read(path).map_err(|source| Error::Io {
        action: "reading the scanner report",
        path: path.to_path_buf(),
        source,
    })?;
    parse_report(&path.display().to_string(), &bytes, format)
}

/// Deserialises `value` as `T`, or a malformed-report error saying what was expected.
fn typed<'v, T: Deserialize<'v>>(
    file: &str,
    format: ReportFormat,
    value: &'v Value,
    expected: &str,
) -> Result<T> {
    T::deserialize(value).map_err(|e| Error::MalformedReport {
        file: file.to_string(),
        format,
        reason: format!("{e} (expected {expected})"),
    })
}

/// Splits a list of versions as scanners write it (`"1.2.3, 1.3.1"`).
fn split_versions(text: &str) -> Vec<String> {
    text.split(',')
        .map(str::trim)
        .filter(|v| !v.is_empty())
        .map(str::to_string)
        .collect()
}

/// Removes `id` itself and duplicates from a list of aliases, keeping the order.
fn clean_aliases(id: &str, aliases: impl IntoIterator<Item = String>) -> Vec<String> {
    let mut out: Vec<String> = Vec::new();
    for a in aliases {
        let a = a.trim().to_string();
        if !a.is_empty()
            && !a.eq_ignore_ascii_case(id)
            && !out.iter().any(|o| o.eq_ignore_ascii_case(&a))
        {
            out.push(a);
        }
    }
    out
}

fn non_empty(s: Option<String>) -> Option<String> {
    s.map(|s| s.trim().to_string()).filter(|s| !s.is_empty())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn unknown_content_is_described() {
        let err = parse_report("x.json", br#"{"hello": 1}"#, None).unwrap_err();
        assert!(
            err.to_string()
                .starts_with("x.json: cannot tell which scanner wrote this report: it is a JSON object with keys hello\n"),
            "{err}"
        );
        let err = parse_report("x.json", b"\xff\x00", None).unwrap_err();
        assert!(err.to_string().contains("it is not JSON"), "{err}");
        assert_eq!(detect_format(b"[]"), None);
    }

    #[test]
    fn formats_have_names() {
        for f in ReportFormat::ALL {
            assert_eq!(f.as_str().parse::<ReportFormat>(), Ok(f));
        }
        assert_eq!("trivy".parse::<ReportFormat>(), Ok(ReportFormat::TrivyJson));
        assert!("cyclonedx".parse::<ReportFormat>().is_err());
    }
}
