//! `publish-python:` — upload wheels and sdists to an index (see `wharf_publish::python`).

use wharf_engine::BuiltinRequest;
use wharf_engine::logs::LogWriter;
use wharf_model::{Produced, ProducedKind, PublishPythonStep};
use wharf_publish::python::{PublishRequest, Published, publish};

use super::{StepResult, say};

pub(super) async fn run(
    req: &BuiltinRequest,
    step: &PublishPythonStep,
    log: &mut LogWriter,
) -> StepResult {
    let found = wharf_engine::artifacts::collect(&req.cwd, &step.files, true)
        .map_err(|e| format!("files: {e}"))?;
    for l in &found.left_out {
        say(log, format!("warning: files: {l}"));
    }
    let files = found.files.into_iter().map(|f| f.abs).collect();
    let token = match &step.token {
        Some(name) => Some(
            req.secret(name)
                .cloned()
                .ok_or_else(|| format!("secret {name} is not available to this job"))?,
        ),
        None => None,
    };
    let request = PublishRequest {
        repository: step.repository.clone(),
        index_url: step.index_url.clone(),
        files,
        username: step.username.clone(),
        token,
        limits: None,
    };
    let published = publish(&request, &mut |line| say(log, line))
        .await
        .map_err(|e| e.to_string())?;
    Ok(produced(&request.repository, published))
}

/// The run's record of files now on the index `repository`.
pub fn produced(repository: &str, published: Vec<Published>) -> Vec<Produced> {
    published
        .into_iter()
        .map(|p| Produced {
            kind: ProducedKind::PythonFile,
            name: format!("{} on {repository}", p.filename),
            digest: p.digest,
            size: Some(p.size),
        })
        .collect()
}
