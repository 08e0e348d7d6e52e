//! `publish-python:` — upload wheels and sdists to an index (see `crate::publishing`).

use wharf_engine::BuiltinRequest;
use wharf_engine::logs::LogWriter;
use wharf_model::PublishPythonStep;

use super::{StepResult, say};
use crate::publishing::{PublishRequest, publish};

pub(super) async fn run(
    req: &BuiltinRequest,
    step: &PublishPythonStep,
    log: &mut LogWriter,
) -> StepResult {
    let files = wharf_engine::artifacts::collect(&req.cwd, &step.files, true)
        .map_err(|e| format!("files: {e}"))?
        .into_iter()
        .map(|f| f.abs)
        .collect();
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
    };
    publish(&request, &mut |line| say(log, line)).await
}
