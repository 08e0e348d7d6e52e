//! Trivy JSON (`trivy --format json`), schema version 2: the `Results` of
//! `pkg/types/report.go`.

use serde::Deserialize;
use serde_json::Value;

use super::{
    Finding, FindingKind, Report, ReportFormat, clean_aliases, non_empty, split_versions, typed,
};
use crate::error::{Error, Result};
use crate::severity::Severity;

const FORMAT: ReportFormat = ReportFormat::TrivyJson;

#[derive(Deserialize)]
#[serde(rename_all = "PascalCase")]
struct Doc {
    trivy: Option<Tool>,
    results: Option<Vec<TrivyResult>>,
}

#[derive(Deserialize)]
#[serde(rename_all = "PascalCase")]
struct Tool {
    version: Option<String>,
}

#[derive(Deserialize)]
#[serde(rename_all = "PascalCase")]
struct TrivyResult {
    target: Option<String>,
    vulnerabilities: Option<Vec<Vulnerability>>,
    misconfigurations: Option<Vec<Misconfiguration>>,
    secrets: Option<Vec<Secret>>,
    experimental_modified_findings: Option<Vec<Value>>,
}

#[derive(Deserialize)]
#[serde(rename_all = "PascalCase")]
struct Vulnerability {
    #[serde(rename = "VulnerabilityID")]
    id: String,
    #[serde(rename = "VendorIDs")]
    vendor_ids: Option<Vec<String>>,
    pkg_name: Option<String>,
    pkg_identifier: Option<PkgIdentifier>,
    installed_version: Option<String>,
    fixed_version: Option<String>,
    severity: Option<String>,
    title: Option<String>,
}

#[derive(Deserialize)]
struct PkgIdentifier {
    #[serde(rename = "PURL")]
    purl: Option<String>,
}

#[derive(Deserialize)]
#[serde(rename_all = "PascalCase")]
struct Misconfiguration {
    #[serde(rename = "ID")]
    id: Option<String>,
    #[serde(rename = "AVDID")]
    avd_id: Option<String>,
    title: Option<String>,
    severity: Option<String>,
    status: Option<String>,
}

#[derive(Deserialize)]
#[serde(rename_all = "PascalCase")]
struct Secret {
    #[serde(rename = "RuleID")]
    rule_id: String,
    title: Option<String>,
    severity: Option<String>,
    start_line: Option<u64>,
}

pub(super) fn parse(file: &str, value: &Value) -> Result<Report> {
    match value.get("SchemaVersion") {
        Some(v) if v.as_u64() == Some(2) => {}
        Some(v) => {
            return Err(Error::UnsupportedReportVersion {
                file: file.to_string(),
                format: FORMAT,
                field: "SchemaVersion",
                found: v.to_string(),
                supported: "2",
            });
        }
        None => {
            return Err(Error::MalformedReport {
                file: file.to_string(),
                format: FORMAT,
                reason: "no `SchemaVersion`; this is not a Trivy JSON report".into(),
            });
        }
    }
    let doc: Doc = typed(
        file,
        FORMAT,
        value,
        "Results[] with Vulnerabilities[], Misconfigurations[], Secrets[]",
    )?;
    let mut findings = Vec::new();
    let mut suppressed = 0;
    for result in doc.results.unwrap_or_default() {
        let target = non_empty(result.target);
        let base = |kind, id: String| Finding {
            kind,
            id,
            aliases: Vec::new(),
            package: None,
            version: None,
            purl: None,
            severity: Severity::Unknown,
            fixed_versions: Vec::new(),
            title: None,
            target: target.clone(),
            tool: "trivy".into(),
            report: file.to_string(),
        };
        for v in result.vulnerabilities.unwrap_or_default() {
            let id = v.id.trim().to_string();
            findings.push(Finding {
                aliases: clean_aliases(&id, v.vendor_ids.unwrap_or_default()),
                package: non_empty(v.pkg_name),
                version: non_empty(v.installed_version),
                purl: non_empty(v.pkg_identifier.and_then(|p| p.purl)),
                severity: v
                    .severity
                    .as_deref()
                    .map_or(Severity::Unknown, Severity::from_scanner),
                fixed_versions: v
                    .fixed_version
                    .as_deref()
                    .map(split_versions)
                    .unwrap_or_default(),
                title: non_empty(v.title),
                ..base(FindingKind::Vulnerability, id)
            });
        }
        for m in result.misconfigurations.unwrap_or_default() {
            if m.status
                .as_deref()
                .is_some_and(|s| !s.eq_ignore_ascii_case("FAIL"))
            {
                continue;
            }
            let Some(id) = non_empty(m.id.clone()).or_else(|| non_empty(m.avd_id.clone())) else {
                continue;
            };
            findings.push(Finding {
                aliases: clean_aliases(&id, m.avd_id),
                severity: m
                    .severity
                    .as_deref()
                    .map_or(Severity::Unknown, Severity::from_scanner),
                title: non_empty(m.title),
                ..base(FindingKind::Misconfiguration, id)
            });
        }
        for s in result.secrets.unwrap_or_default() {
            let mut finding = base(FindingKind::Secret, s.rule_id.trim().to_string());
            finding.severity = s
                .severity
                .as_deref()
                .map_or(Severity::Unknown, Severity::from_scanner);
            finding.title = non_empty(s.title);
            if let (Some(t), Some(line)) = (&target, s.start_line) {
                finding.target = Some(format!("{t}:{line}"));
            }
            findings.push(finding);
        }
        suppressed += result.experimental_modified_findings.map_or(0, |m| m.len());
    }
    let mut notes = Vec::new();
    if suppressed > 0 {
        notes.push(format!(
            "{suppressed} finding(s) suppressed by trivy's own ignore rules are not judged by the policy"
        ));
    }
    Ok(Report {
        file: file.to_string(),
        format: FORMAT,
        tool: "trivy".into(),
        tool_version: doc.trivy.and_then(|t| non_empty(t.version)),
        sha256: String::new(),
        findings,
        notes,
    })
}
