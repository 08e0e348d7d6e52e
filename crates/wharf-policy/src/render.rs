//! The plain-text report the `policy` step prints: verdict, open findings (severity first),
//! licence and setting findings, the exceptions (applied with days left, expiring, expired
//! or unused), and every reason the gate fails.

use crate::gate::{OpenFinding, Outcome};

/// Renders `outcome` as aligned plain-text tables; ends with a newline.
pub fn text(outcome: &Outcome) -> String {
    let mut out = String::new();
    let verdict = if outcome.passed() { "PASSED" } else { "FAILED" };
    out.push_str(&format!(
        "policy {} ({}) on {}: {verdict}\n",
        outcome.policy.file, outcome.policy.digest, outcome.date
    ));

    let fail_on: Vec<&str> = outcome.fail_on.iter().map(|s| s.as_str()).collect();
    section(
        &mut out,
        &format!(
            "Failing findings (severity in fail-on: {})",
            if fail_on.is_empty() {
                "none".to_string()
            } else {
                fail_on.join(", ")
            }
        ),
        &findings_table(&outcome.failing),
    );
    section(
        &mut out,
        "Open findings below fail-on",
        &findings_table(&outcome.open),
    );

    let rows: Vec<Vec<String>> = outcome
        .licenses
        .iter()
        .map(|l| {
            vec![
                l.package.name.clone(),
                l.package.version.clone().unwrap_or_default(),
                l.package.license.clone().unwrap_or_else(|| "-".into()),
                l.describe_problem(),
                expired_note(&l.expired_exception),
            ]
        })
        .collect();
    section(
        &mut out,
        "Licence findings",
        &table(&["PACKAGE", "VERSION", "LICENCE", "PROBLEM", "NOTE"], &rows),
    );

    let rows: Vec<Vec<String>> = outcome
        .settings
        .iter()
        .map(|s| {
            vec![
                s.setting.key.clone(),
                s.setting.subject.clone().unwrap_or_default(),
                s.setting.location.clone().unwrap_or_default(),
                expired_note(&s.expired_exception),
            ]
        })
        .collect();
    section(
        &mut out,
        "Insecure settings without a valid exception",
        &table(&["SETTING", "SUBJECT", "WHERE", "NOTE"], &rows),
    );

    let mut rows: Vec<Vec<String>> = outcome
        .applied
        .iter()
        .map(|a| {
            let status = if a.expiring {
                format!("expiring: {} days left", a.days_left)
            } else {
                format!("{} days left", a.days_left)
            };
            vec![
                a.id.clone(),
                a.kind.as_str().to_string(),
                a.expires.to_string(),
                status,
                a.owner.clone(),
                a.approved_by.clone(),
                a.matched.join("; "),
            ]
        })
        .collect();
    rows.extend(outcome.expired.iter().map(|e| {
        vec![
            e.id.clone(),
            e.kind.as_str().to_string(),
            e.expires.to_string(),
            "EXPIRED".into(),
            e.owner.clone(),
            e.approved_by.clone(),
            e.matched.join("; "),
        ]
    }));
    rows.extend(outcome.unused.iter().map(|u| {
        vec![
            u.id.clone(),
            u.kind.as_str().to_string(),
            String::new(),
            "UNUSED".into(),
            String::new(),
            String::new(),
            format!("nothing ({})", u.location),
        ]
    }));
    section(
        &mut out,
        "Exceptions",
        &table(
            &[
                "ID",
                "KIND",
                "EXPIRES",
                "STATUS",
                "OWNER",
                "APPROVED BY",
                "MATCHED",
            ],
            &rows,
        ),
    );

    let failures = outcome.failures();
    if !failures.is_empty() {
        out.push_str(&format!("\nThe gate fails ({}):\n", failures.len()));
        for f in failures {
            out.push_str(&format!("  - {f}\n"));
        }
    }
    out
}

fn expired_note(id: &Option<String>) -> String {
    id.as_ref()
        .map(|id| format!("exception {id} expired"))
        .unwrap_or_default()
}

fn findings_table(findings: &[OpenFinding]) -> String {
    let rows: Vec<Vec<String>> = findings
        .iter()
        .map(|o| {
            let f = &o.finding;
            vec![
                f.severity.as_str().to_ascii_uppercase(),
                f.id.clone(),
                f.package.clone().unwrap_or_else(|| "-".into()),
                f.version.clone().unwrap_or_else(|| "-".into()),
                if f.fixed_versions.is_empty() {
                    "-".into()
                } else {
                    f.fixed_versions.join(", ")
                },
                f.tool.clone(),
                expired_note(&o.expired_exception),
            ]
        })
        .collect();
    table(
        &[
            "SEVERITY", "ID", "PACKAGE", "VERSION", "FIXED IN", "TOOL", "NOTE",
        ],
        &rows,
    )
}

fn section(out: &mut String, title: &str, body: &str) {
    if body.is_empty() {
        return;
    }
    out.push('\n');
    out.push_str(title);
    out.push_str(":\n");
    out.push_str(body);
}

/// Left-aligned columns two spaces apart; a last column that is empty in every row is
/// left out. Empty when there are no rows.
fn table(headers: &[&str], rows: &[Vec<String>]) -> String {
    if rows.is_empty() {
        return String::new();
    }
    let mut columns = headers.len();
    if rows.iter().all(|r| r.last().is_none_or(String::is_empty)) {
        columns -= 1;
    }
    let width = |i: usize| {
        rows.iter()
            .map(|r| r.get(i).map_or(0, |c| c.chars().count()))
            .chain([headers[i].chars().count()])
            .max()
            .unwrap_or(0)
    };
    let widths: Vec<usize> = (0..columns).map(width).collect();
    let mut out = String::new();
    let header: Vec<String> = headers[..columns].iter().map(|h| h.to_string()).collect();
    for row in std::iter::once(&header).chain(rows) {
        let mut line = String::new();
        for (i, w) in widths.iter().enumerate() {
            let cell = row.get(i).map_or("", String::as_str);
            line.push_str(cell);
            if i + 1 < columns {
                line.push_str(&" ".repeat(w - cell.chars().count() + 2));
            }
        }
        out.push_str(line.trim_end());
        out.push('\n');
    }
    out
}

#[cfg(test)]
mod tests {
    use super::table;

    #[test]
    fn aligns_columns_and_drops_an_empty_last_one() {
        let rows = vec![
            vec!["HIGH".to_string(), "CVE-1".to_string(), String::new()],
            vec!["LOW".to_string(), "GHSA-xxxx".to_string(), String::new()],
        ];
        assert_eq!(
            table(&["SEVERITY", "ID", "NOTE"], &rows),
            "SEVERITY  ID\nHIGH      CVE-1\nLOW       GHSA-xxxx\n"
        );
        assert_eq!(table(&["A"], &[]), "");
    }
}
