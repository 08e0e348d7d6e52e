//! `policy:` — the project's policy file (see `wharf_policy`) applied to the reports its
//! own scanners wrote and to the licences of its wheels. Prints the outcome (applied
//! exceptions, then open findings by severity), keeps it as `policy/outcome.json` with the
//! run (the release that follows records it), and fails naming what the policy does not
//! allow.

use wharf_engine::BuiltinRequest;
use wharf_engine::logs::LogWriter;
use wharf_model::{PolicyStep, Produced, ProducedKind};
use wharf_policy::{Package, Policy};

use super::{StepResult, say};

/// Where the outcome is kept in the job's workspace (and found by the release step).
pub const OUTCOME: &str = "policy/outcome.json";

pub(super) async fn run(
    req: &BuiltinRequest,
    step: &PolicyStep,
    log: &mut LogWriter,
) -> StepResult {
    let path = req.cwd.join(&step.file);
    let text = std::fs::read_to_string(&path).map_err(|e| {
        format!(
            "cannot read the policy file {}: {e}\n  hint: write one (docs/supply-chain.md#the-policy-file), or name it with `policy: {{ file: PATH }}`",
            step.file
        )
    })?;
    let policy = match Policy::parse(&step.file, &text) {
        Ok(p) => p,
        Err(wharf_policy::Error::Policy { problems, .. }) => {
            for p in &problems {
                say(log, p.render());
            }
            return Err(format!(
                "the policy file {} has {} problem{}",
                step.file,
                problems.len(),
                if problems.len() == 1 { "" } else { "s" }
            ));
        }
        Err(e) => return Err(e.to_string()),
    };
    say(log, format!("policy {} ({})", step.file, policy.digest));
    let mut findings = Vec::new();
    if !step.reports.is_empty() {
        let found = wharf_engine::artifacts::collect(&req.cwd, &step.reports, true)
            .map_err(|e| format!("reports: {e}"))?;
        for l in &found.left_out {
            say(log, format!("warning: reports: {l}"));
        }
        for f in &found.files {
            let bytes = std::fs::read(&f.abs).map_err(|e| format!("{}: {e}", f.rel))?;
            let report = wharf_policy::parse_report(&f.rel, &bytes, None)
                .map_err(|e| format!("{}: {e}", f.rel))?;
            say(
                log,
                format!(
                    "report {} ({} {}): {} finding(s)",
                    f.rel,
                    report.tool,
                    report.format.as_str(),
                    report.findings.len()
                ),
            );
            for n in &report.notes {
                say(log, format!("  {n}"));
            }
            findings.extend(report.findings);
        }
    }
    let packages = if step.licenses.is_empty() {
        None
    } else {
        Some(licensed(req, step, log).await?)
    };
    let today = chrono::DateTime::from_timestamp_millis(wharf_engine::now_ms())
        .map(|t| t.date_naive())
        .ok_or("the clock is out of range")?;
    // The project's insecure settings (validation let each through on a `setting`
    // exception): judged here so those exceptions are applied and recorded, and a `setting`
    // exception that allows nothing is reported unused.
    let outcome = wharf_policy::evaluate(
        &policy,
        &findings,
        packages.as_deref(),
        Some(&step.settings),
        today,
    );
    for line in outcome.render_text().lines() {
        say(log, line);
    }
    let json = serde_json::to_vec_pretty(&outcome).map_err(|e| format!("the outcome: {e}"))?;
    let dest = req.workspace.join(OUTCOME);
    if let Some(dir) = dest.parent() {
        std::fs::create_dir_all(dir).map_err(|e| format!("{}: {e}", dir.display()))?;
    }
    std::fs::write(&dest, &json).map_err(|e| format!("{}: {e}", dest.display()))?;
    let kept = vec![Produced {
        kind: ProducedKind::Evidence,
        name: OUTCOME.to_string(),
        digest: wharf_policy::sha256(&json),
        size: Some(json.len() as u64),
    }];
    if !outcome.passed() {
        let failures = outcome.failures();
        return Err(format!(
            "the policy does not allow this: {}",
            failures.join("; ")
        ));
    }
    Ok(kept)
}

/// The packages whose licences are judged: each wheel (with its dependencies from the
/// workspace's lock) and each virtual environment the step names.
async fn licensed(
    req: &BuiltinRequest,
    step: &PolicyStep,
    log: &mut LogWriter,
) -> Result<Vec<Package>, String> {
    let mut out: Vec<Package> = Vec::new();
    let mut wheels = Vec::new();
    let mut venvs = Vec::new();
    for pat in &step.licenses {
        let dir = req.cwd.join(pat.trim_end_matches('/'));
        if dir.join("pyvenv.cfg").is_file() {
            venvs.push((pat.clone(), dir));
        } else {
            wheels.push(pat.clone());
        }
    }
    if !wheels.is_empty() {
        let found = wharf_engine::artifacts::collect(&req.cwd, &wheels, true)
            .map_err(|e| format!("licenses: {e}"))?;
        // The workspace's lock, read once for every wheel.
        let (resolved, from) = super::evidence::resolved_of(&req.workspace)?;
        for f in found.files.iter().filter(|f| f.rel.ends_with(".whl")) {
            let (path, resolved) = (f.abs.clone(), resolved.clone());
            let sbom = tokio::task::spawn_blocking(move || {
                wharf_sbom::from_wheel(&path, &resolved).map_err(|e| e.to_string())
            })
            .await
            .map_err(|e| e.to_string())??;
            say(
                log,
                format!(
                    "licences of {} and {} dependenc{} ({from})",
                    f.rel,
                    sbom.packages.len(),
                    if sbom.packages.len() == 1 { "y" } else { "ies" }
                ),
            );
            out.push(Package {
                name: sbom.subject.name.clone(),
                version: sbom.subject.version.clone(),
                purl: Some(sbom.subject.purl()),
                license: sbom.subject.license.clone(),
            });
            out.extend(sbom.packages.iter().map(|p| Package {
                name: p.name.clone(),
                version: p.version.clone(),
                purl: p.purl.clone(),
                license: p.license.clone(),
            }));
        }
    }
    for (pat, dir) in venvs {
        let resolved = wharf_sbom::Resolved::from_venv(&dir).map_err(|e| format!("{pat}: {e}"))?;
        say(
            log,
            format!(
                "licences of the {} package(s) in {pat}",
                resolved.packages.len()
            ),
        );
        out.extend(resolved.packages.iter().map(|p| Package {
            name: p.name.clone(),
            version: p.version.clone(),
            purl: p.version.as_deref().map(|v| {
                format!(
                    "pkg:pypi/{}@{v}",
                    wharf_sbom::purl::normalize_python_name(&p.name)
                )
            }),
            license: p.license.clone(),
        }));
    }
    out.sort_by(|a, b| (&a.name, &a.version).cmp(&(&b.name, &b.version)));
    out.dedup_by(|a, b| a.name == b.name && a.version == b.version);
    Ok(out)
}
