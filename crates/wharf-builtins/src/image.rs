//! `build-image:` — build an OCI image (daemonless, or from a Dockerfile through a Docker
//! Engine) and push it; the image digest becomes `WHARF_IMAGE_DIGEST` for later steps
//! and jobs.

use wharf_engine::BuiltinRequest;
use wharf_engine::logs::LogWriter;
use wharf_model::BuildImageStep;

use super::{StepResult, say, source_date};
use crate::images::{ImageContext, build_image};

pub(super) async fn run(
    req: &BuiltinRequest,
    step: &BuildImageStep,
    log: &mut LogWriter,
    warnings: &mut Vec<String>,
) -> StepResult {
    let password = match &step.password {
        Some(name) => Some(
            req.secret(name)
                .cloned()
                .ok_or_else(|| format!("secret {name} is not available to this job"))?,
        ),
        None => None,
    };
    // A matrix cell's id has spaces and parentheses: keep the directory name plain.
    let name: String = req
        .job
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || c == '-' || c == '_' {
                c
            } else {
                '-'
            }
        })
        .collect();
    let cx = ImageContext {
        cwd: &req.cwd,
        workspace: &req.workspace,
        wharf_dir: &req.wharf_dir,
        name: &name,
        version: req.event.version.clone(),
        sha: req.event.sha.clone(),
        created: source_date(req)? as i64,
        mtime: match req.var("SOURCE_DATE_EPOCH") {
            Some(v) => v
                .trim()
                .parse()
                .map_err(|_| format!("SOURCE_DATE_EPOCH `{v}` is not a number of seconds"))?,
            None => 0,
        },
        password,
        output: None,
        confined: true,
    };
    // Its `warning: …` lines also go to the run's summary.
    build_image(step, &cx, &mut |line| {
        if let Some(w) = line.strip_prefix("warning: ") {
            warnings.push(w.to_string());
        }
        say(log, line)
    })
    .await
}
