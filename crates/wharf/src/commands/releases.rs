//! `wharf releases`: the recorded releases, newest first.

use std::path::Path;

use crate::cli::JsonFlag;
use crate::commands::history;
use crate::exit::ExitStatus;
use crate::output::table::{Align, Table};

/// Runs `wharf releases`.
pub async fn run(dir: &Path, args: JsonFlag) -> anyhow::Result<ExitStatus> {
    let releases = match history::open(dir).await? {
        // The table needs no items; `--json` gives each release whole.
        Some((_, store)) if args.json => store.list_releases_whole().await?,
        Some((_, store)) => store.list_releases().await?,
        None => Vec::new(),
    };
    if args.json {
        outln!("{}", serde_json::to_string(&releases)?);
        return Ok(ExitStatus::Success);
    }
    if releases.is_empty() {
        eprintln!(
            "no releases recorded yet\n  hint: add a `release:` step to a pipeline and run it"
        );
        return Ok(ExitStatus::Success);
    }
    let mut table = Table::new(&[
        ("VERSION", Align::Left),
        ("TAG", Align::Left),
        ("COMMIT", Align::Left),
        ("RUN", Align::Right),
        ("WHEN", Align::Left),
    ]);
    for r in releases {
        table.row(vec![
            r.version.to_string(),
            r.tag.clone(),
            r.commit[..r.commit.len().min(12)].to_string(),
            format!("#{}", r.run),
            history::age(r.created_at),
        ]);
    }
    out!("{}", table.render());
    Ok(ExitStatus::Success)
}
