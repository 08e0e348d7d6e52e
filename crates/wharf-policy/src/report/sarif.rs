//! SARIF 2.1.0 from any tool. SARIF has no fields for a package, its version or a fix, so
//! they are read from the conventions of the tools that write it for dependencies:
//!
//! - **id**: the rule's `help.text` when it starts `Vulnerability <ID>` (Trivy, Grype —
//!   Grype's rule ids are `<ID>-<package>`), else the result's `ruleId`.
//! - **aliases**: the rule's `deprecatedIds` (OSV-Scanner lists the aliases there).
//! - **package, version, fixed versions**: `Package:` / `Installed Version:` /
//!   `Fixed Version:` lines of the result message (Trivy); `Package 'name@version' is
//!   vulnerable to …` (OSV-Scanner, fixed versions from its help's "Fixed Versions" table);
//!   `… package: name, version v was found …` (Grype, fixed versions from the rule help's
//!   `Fix Version:` line); a single `properties.purls` entry on the rule (Grype).
//! - **severity**, first found: a `Severity:` line in the result message or the rule's
//!   help (Trivy, Grype: the tool's own severity); a severity word in the rule's
//!   `properties.tags` (Trivy); `properties.security-severity`, a CVSS score banded as
//!   GitHub does (OSV-Scanner); the result's `level`, else the rule's default level, else
//!   `warning` as SARIF says: `error` high, `warning` medium, `note` low, `none` unknown.
//! - results with `kind` `pass`, `notApplicable` or `informational` are not findings;
//!   results the tool suppressed (a suppression that is `accepted` or has no status, and
//!   none `underReview` or `rejected`) are counted in the report's notes, not judged.

use serde::Deserialize;
use serde_json::{Map, Value};

use super::{
    Finding, FindingKind, Report, ReportFormat, clean_aliases, non_empty, split_versions, typed,
};
use crate::error::{Error, Result};
use crate::package::same_name;
use crate::severity::Severity;

const FORMAT: ReportFormat = ReportFormat::Sarif;

#[derive(Deserialize)]
struct Log {
    runs: Vec<Run>,
}

#[derive(Deserialize)]
struct Run {
    tool: Tool,
    results: Option<Vec<SarifResult>>,
}

#[derive(Deserialize)]
struct Tool {
    driver: Driver,
}

#[derive(Deserialize)]
struct Driver {
    name: String,
    version: Option<String>,
    #[serde(rename = "semanticVersion")]
    semantic_version: Option<String>,
    rules: Option<Vec<Rule>>,
}

#[derive(Deserialize)]
struct Rule {
    id: Option<String>,
    #[serde(rename = "shortDescription")]
    short_description: Option<Text>,
    help: Option<Text>,
    #[serde(rename = "defaultConfiguration")]
    default_configuration: Option<Configuration>,
    properties: Option<Map<String, Value>>,
    #[serde(rename = "deprecatedIds")]
    deprecated_ids: Option<Vec<String>>,
}

#[derive(Deserialize)]
struct Text {
    text: Option<String>,
}

#[derive(Deserialize)]
struct Configuration {
    level: Option<String>,
}

#[derive(Deserialize)]
struct SarifResult {
    #[serde(rename = "ruleId")]
    rule_id: Option<String>,
    #[serde(rename = "ruleIndex")]
    rule_index: Option<i64>,
    rule: Option<RuleReference>,
    kind: Option<String>,
    level: Option<String>,
    message: Option<Text>,
    locations: Option<Vec<Location>>,
    suppressions: Option<Vec<Suppression>>,
    properties: Option<Map<String, Value>>,
}

#[derive(Deserialize)]
struct RuleReference {
    id: Option<String>,
    index: Option<i64>,
}

#[derive(Deserialize)]
struct Location {
    #[serde(rename = "physicalLocation")]
    physical_location: Option<PhysicalLocation>,
}

#[derive(Deserialize)]
struct PhysicalLocation {
    #[serde(rename = "artifactLocation")]
    artifact_location: Option<ArtifactLocation>,
}

#[derive(Deserialize)]
struct ArtifactLocation {
    uri: Option<String>,
}

#[derive(Deserialize)]
struct Suppression {
    status: Option<String>,
}

pub(super) fn parse(file: &str, value: &Value) -> Result<Report> {
    match value.get("version") {
        Some(Value::String(v)) if v == "2.1.0" => {}
        Some(v) => {
            return Err(Error::UnsupportedReportVersion {
                file: file.to_string(),
                format: FORMAT,
                field: "version",
                found: v.to_string(),
                supported: "\"2.1.0\"",
            });
        }
        None => {
            return Err(Error::MalformedReport {
                file: file.to_string(),
                format: FORMAT,
                reason: "no `version`; a SARIF log says \"version\": \"2.1.0\"".into(),
            });
        }
    }
    let log: Log = typed(
        file,
        FORMAT,
        value,
        "runs[] with tool.driver{name, rules[]} and results[]",
    )?;
    let mut findings = Vec::new();
    let mut notes = Vec::new();
    let mut tools: Vec<(String, Option<String>)> = Vec::new();
    for run in log.runs {
        let tool = run.tool.driver.name.trim().to_ascii_lowercase();
        let version = non_empty(run.tool.driver.semantic_version.or(run.tool.driver.version));
        if !tools.iter().any(|(t, _)| *t == tool) {
            tools.push((tool.clone(), version));
        }
        let rules = run.tool.driver.rules.unwrap_or_default();
        let mut suppressed = 0;
        for result in run.results.unwrap_or_default() {
            if matches!(
                result.kind.as_deref(),
                Some("pass" | "notApplicable" | "informational")
            ) {
                continue;
            }
            if is_suppressed(&result) {
                suppressed += 1;
                continue;
            }
            findings.push(finding(file, &tool, &rules, &result));
        }
        if suppressed > 0 {
            notes.push(format!(
                "{suppressed} result(s) suppressed by {tool} itself are not judged by the policy"
            ));
        }
    }
    let (tool, tool_version) = match tools.len() {
        0 => ("sarif".to_string(), None),
        1 => tools.remove(0),
        _ => (
            tools
                .iter()
                .map(|(t, _)| t.as_str())
                .collect::<Vec<_>>()
                .join("+"),
            None,
        ),
    };
    Ok(Report {
        file: file.to_string(),
        format: FORMAT,
        tool,
        tool_version,
        sha256: String::new(),
        findings,
        notes,
    })
}

fn is_suppressed(result: &SarifResult) -> bool {
    let Some(suppressions) = result.suppressions.as_ref().filter(|s| !s.is_empty()) else {
        return false;
    };
    let status = |s: &Suppression| s.status.as_deref().unwrap_or("accepted").to_string();
    suppressions.iter().any(|s| status(s) == "accepted")
        && !suppressions
            .iter()
            .any(|s| matches!(status(s).as_str(), "underReview" | "rejected"))
}

fn rule_for<'r>(rules: &'r [Rule], result: &SarifResult) -> Option<&'r Rule> {
    let id = result
        .rule_id
        .as_deref()
        .or(result.rule.as_ref().and_then(|r| r.id.as_deref()));
    let index = result
        .rule_index
        .or(result.rule.as_ref().and_then(|r| r.index));
    if let Some(rule) = index
        .and_then(|i| usize::try_from(i).ok())
        .and_then(|i| rules.get(i))
        && (id.is_none() || rule.id.as_deref() == id)
    {
        return Some(rule);
    }
    let id = id?;
    rules.iter().find(|r| r.id.as_deref() == Some(id))
}

/// The value of the first `Key: value` line with this key.
fn line_value<'t>(text: &'t str, key: &str) -> Option<&'t str> {
    text.lines().find_map(|line| {
        let (k, v) = line.split_once(':')?;
        (k.trim() == key).then(|| v.trim())
    })
}

fn finding(file: &str, tool: &str, rules: &[Rule], result: &SarifResult) -> Finding {
    let rule = rule_for(rules, result);
    let message = result
        .message
        .as_ref()
        .and_then(|m| m.text.as_deref())
        .unwrap_or_default();
    let help = rule
        .and_then(|r| r.help.as_ref())
        .and_then(|h| h.text.as_deref())
        .unwrap_or_default();
    let rule_id = result
        .rule_id
        .clone()
        .or_else(|| result.rule.as_ref().and_then(|r| r.id.clone()))
        .or_else(|| rule.and_then(|r| r.id.clone()))
        .unwrap_or_else(|| "(no ruleId)".into());
    let id = help
        .lines()
        .next()
        .and_then(|l| l.strip_prefix("Vulnerability "))
        .and_then(|l| l.split_whitespace().next())
        .map(str::to_string)
        .unwrap_or(rule_id);

    let (package, version, mut fixed) = package_of(message, help);
    if fixed.is_empty()
        && let Some(p) = &package
    {
        fixed = osv_fixed_versions(help, p);
    }
    let purl = rule
        .and_then(|r| r.properties.as_ref())
        .and_then(|p| p.get("purls"))
        .and_then(Value::as_array)
        .filter(|a| a.len() == 1)
        .and_then(|a| a[0].as_str())
        .map(str::to_string);
    let tags: Vec<&str> = rule
        .and_then(|r| r.properties.as_ref())
        .and_then(|p| p.get("tags"))
        .and_then(Value::as_array)
        .map(|t| t.iter().filter_map(Value::as_str).collect())
        .unwrap_or_default();
    let kind = if tags
        .iter()
        .any(|t| t.eq_ignore_ascii_case("misconfiguration"))
    {
        FindingKind::Misconfiguration
    } else if tags.iter().any(|t| t.eq_ignore_ascii_case("secret")) {
        FindingKind::Secret
    } else {
        FindingKind::Vulnerability
    };
    let target = result.locations.iter().flatten().find_map(|l| {
        l.physical_location
            .as_ref()?
            .artifact_location
            .as_ref()?
            .uri
            .clone()
    });

    Finding {
        kind,
        aliases: clean_aliases(
            &id,
            rule.and_then(|r| r.deprecated_ids.clone())
                .unwrap_or_default(),
        ),
        package,
        version,
        purl,
        severity: severity(result, rule, message, help, &tags),
        fixed_versions: fixed,
        title: rule
            .and_then(|r| r.short_description.as_ref())
            .and_then(|d| non_empty(d.text.clone())),
        target,
        tool: tool.to_string(),
        report: file.to_string(),
        id,
    }
}

/// Package, version and fixed versions from the result message (or the rule help).
fn package_of(message: &str, help: &str) -> (Option<String>, Option<String>, Vec<String>) {
    // Trivy: "Package: x\nInstalled Version: y\n…\nFixed Version: z".
    if let Some(name) = line_value(message, "Package") {
        let version = line_value(message, "Installed Version").map(str::to_string);
        let fixed = line_value(message, "Fixed Version")
            .map(split_versions)
            .unwrap_or_default();
        return (
            Some(name.to_string()),
            version.filter(|v| !v.is_empty()),
            fixed,
        );
    }
    // OSV-Scanner: "Package 'name@version' is vulnerable to 'ID'…".
    if let Some(rest) = message.strip_prefix("Package '")
        && let Some((spec, _)) = rest.split_once("' is vulnerable to")
    {
        return match spec.rsplit_once('@') {
            Some((name, version)) if !name.is_empty() => (
                Some(name.to_string()),
                Some(version.to_string()),
                Vec::new(),
            ),
            _ => (Some(spec.to_string()), None, Vec::new()),
        };
    }
    let fixed = line_value(help, "Fix Version")
        .map(split_versions)
        .unwrap_or_default();
    // Grype: "A low vulnerability in rpm package: name, version v was found at: …".
    if let Some((_, rest)) = message.split_once(" package: ")
        && let Some((name, rest)) = rest.split_once(", version ")
    {
        let version = rest.split(" was found").next().unwrap_or(rest).trim();
        return (
            Some(name.trim().to_string()),
            Some(version.to_string()),
            fixed,
        );
    }
    // Grype's rule help, one rule per package.
    if let Some(name) = line_value(help, "Package") {
        let version = line_value(help, "Version").map(str::to_string);
        return (
            Some(name.to_string()),
            version.filter(|v| !v.is_empty()),
            fixed,
        );
    }
    (None, None, fixed)
}

/// OSV-Scanner's help has a markdown table `| Vulnerability ID | Package Name | Fixed
/// Version |` under `### Fixed Versions`.
fn osv_fixed_versions(help: &str, package: &str) -> Vec<String> {
    let Some((_, table)) = help.split_once("### Fixed Versions") else {
        return Vec::new();
    };
    let mut out = Vec::new();
    for line in table.lines().map(str::trim) {
        if line.is_empty() {
            if out.is_empty() {
                continue;
            }
            break;
        }
        if !line.starts_with('|') {
            if line.starts_with('#') {
                break;
            }
            continue;
        }
        let cells: Vec<&str> = line.trim_matches('|').split('|').map(str::trim).collect();
        if let [_, name, fixed, ..] = cells.as_slice()
            && same_name("", name, package)
        {
            for v in split_versions(fixed) {
                if !out.contains(&v) {
                    out.push(v);
                }
            }
        }
    }
    out
}

fn severity(
    result: &SarifResult,
    rule: Option<&Rule>,
    message: &str,
    help: &str,
    tags: &[&str],
) -> Severity {
    if let Some(s) = line_value(message, "Severity").or_else(|| line_value(help, "Severity")) {
        return Severity::from_scanner(s);
    }
    if let Some(s) = tags.iter().find_map(|t| Severity::parse(t)) {
        return s;
    }
    let score = [
        result.properties.as_ref(),
        rule.and_then(|r| r.properties.as_ref()),
    ]
    .into_iter()
    .flatten()
    .find_map(|p| match p.get("security-severity")? {
        Value::String(s) => s.trim().parse::<f64>().ok(),
        Value::Number(n) => n.as_f64(),
        _ => None,
    });
    if let Some(score) = score {
        return Severity::from_cvss(score);
    }
    let level = result.level.as_deref().or(rule
        .and_then(|r| r.default_configuration.as_ref())
        .and_then(|c| c.level.as_deref()));
    match level.unwrap_or("warning") {
        "error" => Severity::High,
        "warning" => Severity::Medium,
        "note" => Severity::Low,
        _ => Severity::Unknown,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_key_value_lines() {
        let m = "Package: libssl1.1\nInstalled Version: 1.1.1c-r0\nSeverity: MEDIUM";
        assert_eq!(line_value(m, "Package"), Some("libssl1.1"));
        assert_eq!(line_value(m, "Version"), None);
        assert_eq!(line_value(m, "Severity"), Some("MEDIUM"));
    }

    #[test]
    fn reads_osv_and_grype_messages() {
        let (p, v, _) = package_of(
            "Package '@babel/core@7.0.0' is vulnerable to 'X' (also known as 'Y').",
            "",
        );
        assert_eq!(
            (p.as_deref(), v.as_deref()),
            (Some("@babel/core"), Some("7.0.0"))
        );
        let (p, v, f) = package_of(
            "A low vulnerability in rpm package: package-1, version 1.1.1 was found in image",
            "Fix Version: 1.2.1,2.1.3",
        );
        assert_eq!(
            (p.as_deref(), v.as_deref()),
            (Some("package-1"), Some("1.1.1"))
        );
        assert_eq!(f, vec!["1.2.1", "2.1.3"]);
    }
}
