//! `package:` — a reproducible release package of workspace paths, kept as an artifact.

use wharf_engine::BuiltinRequest;
use wharf_engine::logs::LogWriter;
use wharf_model::{PackageStep, Produced, ProducedKind};
use wharf_package::PackageRequest;

use super::{StepResult, resolve, say, source_date, workspace_relative};

pub(super) async fn run(
    req: &BuiltinRequest,
    step: &PackageStep,
    log: &mut LogWriter,
) -> StepResult {
    for p in &step.paths {
        resolve(req, "paths", p)?;
    }
    let output = resolve(req, "output", &step.output)?;
    let request = PackageRequest {
        root: req.cwd.clone(),
        paths: step.paths.clone(),
        output,
        version: req.event.version.clone(),
        commit: req.event.sha.clone(),
        run: Some(req.run),
        mtime: source_date(req)?,
    };
    let built = tokio::task::spawn_blocking(move || wharf_package::create(&request))
        .await
        .map_err(|e| format!("the package task failed: {e}"))?
        .map_err(|e| e.to_string())?;
    let name = workspace_relative(req, &built.path);
    say(
        log,
        format!(
            "packaged {} file{} into {name} ({} bytes)\nsha256:{}",
            built.manifest.files.len(),
            if built.manifest.files.len() == 1 {
                ""
            } else {
                "s"
            },
            built.size,
            built.sha256
        ),
    );
    Ok(vec![Produced {
        kind: ProducedKind::Package,
        name,
        digest: format!("sha256:{}", built.sha256),
        size: Some(built.size),
    }])
}
