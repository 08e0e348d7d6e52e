//! `wharf artifacts`: the files a run stored, with their digests.

use std::path::Path;

use crate::cli::ShowArgs;
use crate::commands::history;
use crate::exit::ExitStatus;
use crate::output::table::{Align, Table};

/// Runs `wharf artifacts`.
pub async fn run(dir: &Path, args: ShowArgs) -> anyhow::Result<ExitStatus> {
    let (rec, objects) = match crate::commands::remote::Remote::from_args(&args.remote)? {
        // On a server: the API downloads them (`/runs/N/artifacts/PATH`).
        Some(remote) => (remote.run(args.run).await?, None),
        None => {
            let Some((wharf_dir, store)) = history::open(dir).await? else {
                return Err(history::no_runs());
            };
            (
                history::find_run(&store, args.run).await?,
                Some(wharf_store::ArtifactStore::new(&wharf_dir)),
            )
        }
    };
    let list: Vec<serde_json::Value> = rec
        .jobs
        .iter()
        .flat_map(|j| j.artifacts.iter())
        .map(|a| {
            let stored = objects
                .as_ref()
                .and_then(|o| o.object_path(&a.sha256).ok())
                .map(|p| p.display().to_string())
                .unwrap_or_default();
            serde_json::json!({
                "job": a.job, "path": a.path, "size": a.size,
                "sha256": a.sha256, "mode": a.mode, "stored_at": stored,
            })
        })
        .collect();
    if args.json {
        outln!("{}", serde_json::to_string_pretty(&list)?);
        return Ok(ExitStatus::Success);
    }
    if list.is_empty() {
        eprintln!("run #{} stored no artifacts", rec.summary.number);
        return Ok(ExitStatus::Success);
    }
    let mut table = Table::new(&[
        ("JOB", Align::Left),
        ("PATH", Align::Left),
        ("SIZE", Align::Right),
        ("SHA256", Align::Left),
    ]);
    for a in rec.jobs.iter().flat_map(|j| j.artifacts.iter()) {
        table.row(vec![
            a.job.clone(),
            a.path.clone(),
            wharf_engine::cache::human(a.size),
            a.sha256.clone(),
        ]);
    }
    out!("{}", table.render());
    Ok(ExitStatus::Success)
}
