//! `load-test:` — an HTTP load from `wharf_load` against a URL (a service of the job, a
//! blue/green preview), its progress said every second, its report and latency histogram
//! kept with the run (`load-test/STEP/report.json`, `latency.svg`), and a failure naming
//! each threshold it missed.

use serde_json::{Map, Value, json};
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

/// The spec `wharf_load` takes, from the step as written.
fn spec(step: &LoadTestStep, req: &BuiltinRequest) -> Result<wharf_load::LoadSpec, String> {
    let mut v = Map::new();
    v.insert("url".into(), json!(expand(&step.url, req)?));
    if let Some(m) = &step.method {
        v.insert("method".into(), json!(m));
    }
    if !step.headers.is_empty() {
        v.insert("headers".into(), json!(step.headers));
    }
    if let Some(b) = &step.body {
        v.insert("body".into(), json!(b));
    }
    if let Some(c) = step.connections {
        v.insert("connections".into(), json!(c));
    }
    if let Some(r) = step.rate {
        v.insert("rate".into(), json!(r));
    }
    for (key, value) in [
        ("duration", &step.duration),
        ("warm-up", &step.warm_up),
        ("timeout", &step.timeout),
    ] {
        if let Some(d) = value {
            v.insert(key.into(), json!(d));
        }
    }
    let t = &step.thresholds;
    let mut th = Map::new();
    for (key, value) in [
        ("p50", &t.p50),
        ("p90", &t.p90),
        ("p99", &t.p99),
        ("p99.9", &t.p99_9),
        ("max", &t.max),
    ] {
        if let Some(d) = value {
            th.insert(key.into(), json!(d));
        }
    }
    if let Some(e) = &t.error_rate {
        let e: f64 = e
            .parse()
            .map_err(|_| format!("`error-rate: {e}` is not a number"))?;
        th.insert("error-rate".into(), json!(e));
    }
    if let Some(tp) = t.throughput {
        th.insert("throughput".into(), json!(tp));
    }
    if !th.is_empty() {
        v.insert("thresholds".into(), Value::Object(th));
    }
    let spec: wharf_load::LoadSpec =
        serde_json::from_value(Value::Object(v)).map_err(|e| e.to_string())?;
    spec.validate().map_err(|e| e.to_string())?;
    Ok(spec)
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
    let spec = spec(step, req)?;
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
