//! `wharf publish python`: the `publish-python` step's work from the command line.

use std::path::Path;

use crate::cli::PublishCommand;
use crate::exit::{ExitStatus, UserError};

/// Runs `wharf publish …`.
pub async fn run(_dir: &Path, cmd: PublishCommand) -> anyhow::Result<ExitStatus> {
    match cmd {
        PublishCommand::Python(_) => {
            Err(UserError::failed("publishing is not available in this build yet").into())
        }
    }
}
