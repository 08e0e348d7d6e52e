//! pip-audit JSON (`pip-audit -f json`): `{"dependencies": [...], "fixes": [...]}` as
//! `pip_audit/_format/json.py` writes it, or the bare array of dependencies that older
//! versions wrote and the README still shows.

use serde::Deserialize;
use serde_json::Value;

use super::{Finding, FindingKind, Report, ReportFormat, clean_aliases, non_empty, typed};
use crate::error::Result;
use crate::severity::Severity;

const FORMAT: ReportFormat = ReportFormat::PipAuditJson;

#[derive(Deserialize)]
struct Doc {
    dependencies: Vec<Dependency>,
}

#[derive(Deserialize)]
struct Dependency {
    name: String,
    version: Option<String>,
    vulns: Option<Vec<Vulnerability>>,
    skip_reason: Option<String>,
}

#[derive(Deserialize)]
struct Vulnerability {
    id: String,
    fix_versions: Option<Vec<String>>,
    aliases: Option<Vec<String>>,
}

pub(super) fn parse(file: &str, value: &Value) -> Result<Report> {
    let expected = "dependencies[] with name, version, vulns[]{id, fix_versions, aliases}";
    let dependencies = if value.is_array() {
        typed::<Vec<Dependency>>(file, FORMAT, value, expected)?
    } else {
        typed::<Doc>(file, FORMAT, value, expected)?.dependencies
    };
    let mut findings = Vec::new();
    let mut notes = Vec::new();
    for dep in dependencies {
        let name = dep.name.trim().to_string();
        if let Some(reason) = non_empty(dep.skip_reason) {
            notes.push(format!("pip-audit did not audit {name}: {reason}"));
        }
        let version = non_empty(dep.version);
        let purl = version
            .as_ref()
            .filter(|_| !name.is_empty())
            .map(|v| format!("pkg:pypi/{name}@{v}"));
        for v in dep.vulns.unwrap_or_default() {
            let id = v.id.trim().to_string();
            findings.push(Finding {
                kind: FindingKind::Vulnerability,
                aliases: clean_aliases(&id, v.aliases.unwrap_or_default()),
                package: Some(name.clone()).filter(|n| !n.is_empty()),
                version: version.clone(),
                purl: purl.clone(),
                severity: Severity::Unknown,
                fixed_versions: v.fix_versions.unwrap_or_default(),
                title: None,
                target: None,
                tool: "pip-audit".into(),
                report: file.to_string(),
                id,
            });
        }
    }
    Ok(Report {
        file: file.to_string(),
        format: FORMAT,
        tool: "pip-audit".into(),
        tool_version: None,
        sha256: String::new(),
        findings,
        notes,
    })
}
