//! `wharf cache list|rm|prune`: the job cache's entries.

use std::path::Path;

use wharf_engine::cache::{self, JobCache};

use crate::cli::CacheCommand;
use crate::commands::history;
use crate::exit::{ExitStatus, UserError};
use crate::output::table::{Align, Table};
use crate::project;

/// Runs `wharf cache …`.
pub fn run(dir: &Path, cmd: CacheCommand) -> anyhow::Result<ExitStatus> {
    let root = project::find_root(dir)?;
    let jc = project::job_cache(&root)?;
    match cmd {
        CacheCommand::List(args) => list(&jc, args.json),
        CacheCommand::Rm(args) => {
            let prefix = if args.all {
                String::new()
            } else {
                args.key.unwrap_or_default()
            };
            let removed = jc.remove(&prefix)?;
            if args.json {
                outln!("{}", serde_json::json!({ "removed": removed }));
            } else if removed == 0 {
                return Err(
                    UserError::invalid(format!("no cache entry starts with `{prefix}`"))
                        .hint("`wharf cache list` shows the keys")
                        .into(),
                );
            } else {
                eprintln!(
                    "removed {removed} cache entr{}",
                    if removed == 1 { "y" } else { "ies" }
                );
            }
            Ok(ExitStatus::Success)
        }
        CacheCommand::Prune(args) => {
            let max = match &args.max_size {
                Some(text) => cache::parse_size(text).ok_or_else(|| {
                    UserError::invalid(format!("--max-size `{text}` is not a size"))
                        .hint("write a number and a unit: `500M`, `5G`")
                })?,
                None => jc.max_bytes(),
            };
            let evicted = jc.prune_to(max, None)?;
            if args.json {
                outln!("{}", serde_json::json!({ "evicted": evicted }));
            } else {
                eprintln!(
                    "evicted {evicted} cache entr{} to fit in {}",
                    if evicted == 1 { "y" } else { "ies" },
                    cache::human(max)
                );
            }
            Ok(ExitStatus::Success)
        }
    }
}

fn list(jc: &JobCache, json: bool) -> anyhow::Result<ExitStatus> {
    let entries = jc.list();
    if json {
        outln!("{}", serde_json::to_string(&entries)?);
        return Ok(ExitStatus::Success);
    }
    if entries.is_empty() {
        eprintln!(
            "the job cache is empty\n  hint: give a job `cache: {{ key: [...], paths: [...] }}`"
        );
        return Ok(ExitStatus::Success);
    }
    let mut table = Table::new(&[
        ("KEY", Align::Left),
        ("FILES", Align::Right),
        ("SIZE", Align::Right),
        ("USED", Align::Left),
    ]);
    for e in &entries {
        table.row(vec![
            e.key.clone(),
            e.files.to_string(),
            cache::human(e.bytes),
            history::age(e.used_at),
        ]);
    }
    out!("{}", table.render());
    Ok(ExitStatus::Success)
}
