//! `wharf schema`: the JSON Schema of the pipeline file, for editors.

use crate::exit::ExitStatus;

/// Runs `wharf schema`.
pub fn run() -> anyhow::Result<ExitStatus> {
    outln!(
        "{}",
        serde_json::to_string_pretty(&wharf_pipeline::schema())?
    );
    Ok(ExitStatus::Success)
}
