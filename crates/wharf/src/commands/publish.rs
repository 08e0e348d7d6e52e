//! `wharf publish python`: the `publish-python` step's work from the command line.

use std::path::Path;

use crate::cli::{PublishCommand, PublishPythonArgs};
use crate::exit::{ExitStatus, UserError};
use wharf_publish::python::{PublishRequest, publish};

use crate::secret_env;

/// Runs `wharf publish …`.
pub async fn run(dir: &Path, cmd: PublishCommand) -> anyhow::Result<ExitStatus> {
    match cmd {
        PublishCommand::Python(args) => python(dir, args).await,
    }
}

async fn python(dir: &Path, args: PublishPythonArgs) -> anyhow::Result<ExitStatus> {
    super::check_net_limits()?;
    let files = args
        .files
        .iter()
        .map(|f| {
            if f.is_absolute() {
                f.clone()
            } else {
                dir.join(f)
            }
        })
        .collect();
    let token = match &args.token_secret {
        Some(name) => Some(secret_env::lookup(dir, name).await?),
        None => None,
    };
    let req = PublishRequest {
        repository: args.repository.clone(),
        index_url: args.index_url.clone(),
        files,
        username: args.username.clone(),
        token,
        limits: None,
    };
    let published = publish(&req, &mut |line| eprintln!("{line}"))
        .await
        .map_err(|e| UserError::failed(e.to_string()))?;
    let produced = wharf_builtins::publish::produced(&req.repository, published);
    if args.json {
        outln!("{}", serde_json::to_string(&produced)?);
    }
    Ok(ExitStatus::Success)
}
