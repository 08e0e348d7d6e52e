//! Grype JSON (`grype -o json`): the `Document` of `grype/presenter/models/document.go`.

use serde::Deserialize;
use serde_json::Value;

use super::{Finding, FindingKind, Report, ReportFormat, clean_aliases, non_empty, typed};
use crate::error::Result;
use crate::severity::Severity;

const FORMAT: ReportFormat = ReportFormat::GrypeJson;

#[derive(Deserialize)]
struct Doc {
    matches: Vec<Match>,
    #[serde(rename = "ignoredMatches")]
    ignored_matches: Option<Vec<Value>>,
    descriptor: Option<Descriptor>,
}

#[derive(Deserialize)]
struct Descriptor {
    name: Option<String>,
    version: Option<String>,
}

#[derive(Deserialize)]
struct Match {
    vulnerability: Vulnerability,
    #[serde(rename = "relatedVulnerabilities")]
    related: Option<Vec<Related>>,
    artifact: Artifact,
}

#[derive(Deserialize)]
struct Vulnerability {
    id: String,
    severity: Option<String>,
    fix: Option<Fix>,
}

#[derive(Deserialize)]
struct Fix {
    versions: Option<Vec<String>>,
}

#[derive(Deserialize)]
struct Related {
    id: String,
}

#[derive(Deserialize)]
struct Artifact {
    name: Option<String>,
    version: Option<String>,
    purl: Option<String>,
    locations: Option<Vec<ArtifactLocation>>,
}

#[derive(Deserialize)]
struct ArtifactLocation {
    path: Option<String>,
}

pub(super) fn parse(file: &str, value: &Value) -> Result<Report> {
    let doc: Doc = typed(
        file,
        FORMAT,
        value,
        "matches[] with vulnerability{id, severity, fix}, relatedVulnerabilities[], artifact{name, version, purl}",
    )?;
    let findings = doc
        .matches
        .into_iter()
        .map(|m| {
            let id = m.vulnerability.id.trim().to_string();
            Finding {
                kind: FindingKind::Vulnerability,
                aliases: clean_aliases(
                    &id,
                    m.related.unwrap_or_default().into_iter().map(|r| r.id),
                ),
                package: non_empty(m.artifact.name),
                version: non_empty(m.artifact.version),
                purl: non_empty(m.artifact.purl),
                severity: m
                    .vulnerability
                    .severity
                    .as_deref()
                    .map_or(Severity::Unknown, Severity::from_scanner),
                fixed_versions: m
                    .vulnerability
                    .fix
                    .and_then(|f| f.versions)
                    .unwrap_or_default(),
                title: None,
                target: m
                    .artifact
                    .locations
                    .unwrap_or_default()
                    .into_iter()
                    .find_map(|l| non_empty(l.path)),
                tool: "grype".into(),
                report: file.to_string(),
                id,
            }
        })
        .collect();
    let mut notes = Vec::new();
    let ignored = doc.ignored_matches.map_or(0, |i| i.len());
    if ignored > 0 {
        notes.push(format!(
            "{ignored} match(es) ignored by grype's own ignore rules are not judged by the policy"
        ));
    }
    let descriptor = doc.descriptor;
    Ok(Report {
        file: file.to_string(),
        format: FORMAT,
        tool: descriptor
            .as_ref()
            .and_then(|d| non_empty(d.name.clone()))
            .unwrap_or_else(|| "grype".into()),
        tool_version: descriptor.and_then(|d| non_empty(d.version)),
        sha256: String::new(),
        findings,
        notes,
    })
}
