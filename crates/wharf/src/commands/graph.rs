//! `wharf graph`: the job graph of each pipeline.

use std::path::Path;

use wharf_model::{Event, EventKind};

use crate::cli::{GraphArgs, GraphFormat};
use crate::exit::{ExitStatus, UserError};
use crate::project;

/// Runs `wharf graph`.
pub fn run(dir: &Path, args: GraphArgs) -> anyhow::Result<ExitStatus> {
    let root = project::find_root(dir)?;
    let pipelines = project::load(&root)?;
    let mut event = Event::new(EventKind::Push);
    (event.sha, event.branch) = wharf_builtins::git::head(&root);
    let mut all = Vec::new();
    for p in &pipelines {
        let plan = p.plan(&event, &[]).map_err(|d| {
            eprint!("{}", d.render(console::colors_enabled_stderr()));
            UserError::invalid(format!("cannot plan pipeline `{}`", p.name()))
        })?;
        if args.json {
            all.push(wharf_pipeline::graph::json(&plan));
            continue;
        }
        let text = match args.format {
            GraphFormat::Text => {
                format!(
                    "{} ({})\n{}",
                    plan.pipeline,
                    plan.file,
                    wharf_pipeline::graph::text(&plan)
                )
            }
            GraphFormat::Dot => wharf_pipeline::graph::dot(&plan),
            GraphFormat::Mermaid => wharf_pipeline::graph::mermaid(&plan),
        };
        out!("{text}");
    }
    if args.json {
        outln!("{}", serde_json::to_string_pretty(&all)?);
    }
    Ok(ExitStatus::Success)
}
