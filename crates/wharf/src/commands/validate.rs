//! `wharf validate`: check every pipeline file; problems print with file:line:column.

use std::path::Path;

use crate::cli::JsonFlag;
use crate::exit::ExitStatus;
use crate::project;

/// Runs `wharf validate`.
pub fn run(dir: &Path, args: JsonFlag) -> anyhow::Result<ExitStatus> {
    let root = project::find_root(dir)?;
    match wharf_pipeline::load_project(&root) {
        Ok(pipelines) => {
            if args.json {
                let list: Vec<_> = pipelines
                    .iter()
                    .map(|p| serde_json::json!({"name": p.name(), "file": p.file(), "jobs": p.job_names()}))
                    .collect();
                outln!("{}", serde_json::json!({"valid": true, "pipelines": list}));
            } else {
                for p in &pipelines {
                    eprintln!(
                        "ok: {} ({}): {} jobs",
                        p.file(),
                        p.name(),
                        p.job_names().len()
                    );
                }
            }
            Ok(ExitStatus::Success)
        }
        Err(diags) => {
            if args.json {
                let list: Vec<_> = diags
                    .0
                    .iter()
                    .map(|d| {
                        serde_json::json!({
                            "file": d.file, "line": d.line, "column": d.column,
                            "message": d.message, "hint": d.hint,
                        })
                    })
                    .collect();
                outln!(
                    "{}",
                    serde_json::json!({"valid": false, "diagnostics": list})
                );
            } else {
                eprint!("{}", diags.render(console::colors_enabled_stderr()));
            }
            Ok(ExitStatus::Invalid)
        }
    }
}
