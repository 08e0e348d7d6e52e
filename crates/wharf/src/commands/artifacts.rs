//! `wharf artifacts`: the files a run stored, with their digests.

use std::path::Path;

use crate::cli::ShowArgs;
use crate::commands::history;
use crate::exit::ExitStatus;

/// Runs `wharf artifacts`.
pub async fn run(dir: &Path, args: ShowArgs) -> anyhow::Result<ExitStatus> {
    let Some((wharf_dir, store)) = history::open(dir).await? else {
        return Err(history::no_runs());
    };
    let rec = history::find_run(&store, args.run).await?;
    let objects = wharf_store::ArtifactStore::new(&wharf_dir);
    let list: Vec<serde_json::Value> = rec
        .jobs
        .iter()
        .flat_map(|j| j.artifacts.iter())
        .map(|a| {
            let stored = objects
                .object_path(&a.sha256)
                .map(|p| p.display().to_string())
                .unwrap_or_default();
            serde_json::json!({
                "job": a.job, "path": a.path, "size": a.size,
                "sha256": a.sha256, "mode": a.mode, "stored_at": stored,
            })
        })
        .collect();
    if args.json {
        println!("{}", serde_json::to_string_pretty(&list)?);
        return Ok(ExitStatus::Success);
    }
    if list.is_empty() {
        eprintln!("run #{} stored no artifacts", rec.summary.number);
        return Ok(ExitStatus::Success);
    }
    for a in rec.jobs.iter().flat_map(|j| j.artifacts.iter()) {
        println!(
            "{:<12}  {:<40}  {:>10}  sha256:{}",
            a.job, a.path, a.size, a.sha256
        );
    }
    Ok(ExitStatus::Success)
}
