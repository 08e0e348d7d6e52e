//! `load-test:` — an HTTP load from `wharf_load` against a URL (a service of the job, a
//! blue/green preview), its progress said every second, its report and latency histogram
//! kept with the run (`load-test/STEP/report.json`, `latency.svg`), and a failure naming
//! each threshold it missed.

use tokio::sync::watch;
use wharf_engine::BuiltinRequest;
use wharf_engine::logs::LogWriter;
use wharf_model::{LoadTestStep, Produced, ProducedKind};

use super::{StepResult, say};

/// `${VAR}` in `text` replaced by the step's variable `VAR` (a service's port, say); an
/// unknown variable is an error, never an empty string.
fn expand(text: &str, req: &BuiltinRequest) -> Result<String, String> {
    let mut out = String::new();
    let mut rest = text;
    while let Some(start) = rest.find("${") {
        out.push_str(&rest[..start]);
        let after = &rest[start + 2..];
        let end = after
            .find('}')
            .ok_or_else(|| format!("`{text}`: `${{` without its `}}`"))?;
        let name = &after[..end];
        let value = req.var(name).ok_or_else(|| {
            format!("`{text}`: the step's environment has no `{name}` (services set WHARF_SERVICE_NAME_HOST and _PORT)")
        })?;
        out.push_str(value);
        rest = &after[end + 1..];
    }
    out.push_str(rest);
    Ok(out)
}

/// Runs the load; `kept` receives the report and histogram first, so that they are kept
/// even when a threshold fails the step.
pub(super) async fn run(
    req: &BuiltinRequest,
    step: &LoadTestStep,
    cancel: watch::Receiver<bool>,
    log: &mut LogWriter,
    kept: &mut Vec<Produced>,
) -> StepResult {
    let spec = wharf_load::LoadSpec::of_step(step, &|text| expand(text, req))?;
    say(
        log,
        format!(
            "load-test {} for {}{}",
            spec.url,
            spec.duration,
            if spec.warm_up.0.is_zero() {
                String::new()
            } else {
                format!(" after a {} warm-up", spec.warm_up)
            }
        ),
    );
    let report = wharf_load::run(&spec, cancel, |p| say(log, format!("  {p}")))
        .await
        .map_err(|e| e.to_string())?;
    for line in report.summary().lines() {
        say(log, line);
    }
    for c in &report.checks {
        say(log, c.to_string());
    }
    let dir_rel = format!("load-test/{}", req.step + 1);
    let dir = req.workspace.join(&dir_rel);
    std::fs::create_dir_all(&dir).map_err(|e| format!("{}: {e}", dir.display()))?;
    let json = report.to_json().map_err(|e| e.to_string())?;
    let svg = report.svg();
    for (name, bytes) in [
        ("report.json", json.as_bytes()),
        ("latency.svg", svg.as_bytes()),
    ] {
        let path = dir.join(name);
        std::fs::write(&path, bytes).map_err(|e| format!("{}: {e}", path.display()))?;
        kept.push(Produced {
            kind: ProducedKind::Evidence,
            name: format!("{dir_rel}/{name}"),
            digest: wharf_policy::sha256(bytes),
            size: Some(bytes.len() as u64),
        });
    }
    say(
        log,
        format!("kept {dir_rel}/report.json and {dir_rel}/latency.svg with the run"),
    );
    let failed: Vec<String> = report.failures().map(|c| c.to_string()).collect();
    if !failed.is_empty() {
        return Err(format!(
            "{} threshold{} missed: {}",
            failed.len(),
            if failed.len() == 1 { "" } else { "s" },
            failed.join("; ")
        ));
    }
    Ok(std::mem::take(kept))
}
