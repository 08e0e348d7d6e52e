//! `wharf releases`: the recorded releases, newest first.

use std::path::Path;

use crate::cli::JsonFlag;
use crate::commands::history;
use crate::exit::ExitStatus;

/// Runs `wharf releases`.
pub async fn run(dir: &Path, args: JsonFlag) -> anyhow::Result<ExitStatus> {
    let releases = match history::open(dir).await? {
        Some((_, store)) => store.list_releases().await?,
        None => Vec::new(),
    };
    if args.json {
        println!("{}", serde_json::to_string(&releases)?);
        return Ok(ExitStatus::Success);
    }
    if releases.is_empty() {
        eprintln!(
            "no releases recorded yet\n  hint: add a `release:` step to a pipeline and run it"
        );
        return Ok(ExitStatus::Success);
    }
    println!(
        "{:<16} {:<18} {:<12} {:>6}  WHEN",
        "VERSION", "TAG", "COMMIT", "RUN"
    );
    for r in releases {
        println!(
            "{:<16} {:<18} {:<12} {:>6}  {}",
            r.version,
            r.tag,
            &r.commit[..r.commit.len().min(12)],
            format!("#{}", r.run),
            history::age(r.created_at)
        );
    }
    Ok(ExitStatus::Success)
}
