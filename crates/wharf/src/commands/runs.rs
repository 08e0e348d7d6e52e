//! `wharf runs`: the run history, newest first.

use std::path::Path;

use crate::cli::RunsArgs;
use crate::commands::history;
use crate::exit::ExitStatus;
use crate::output::table::{Align, Table, ellipsize};
use crate::output::view::duration;

/// Runs `wharf runs`.
pub async fn run(dir: &Path, args: RunsArgs) -> anyhow::Result<ExitStatus> {
    let runs = match crate::commands::remote::Remote::from_args(&args.remote)? {
        Some(remote) => remote.runs(args.limit).await?,
        None => match history::open(dir).await? {
            Some((_, store)) => store.list_runs(args.limit).await?,
            None => Vec::new(),
        },
    };
    if args.json {
        outln!("{}", serde_json::to_string_pretty(&runs)?);
        return Ok(ExitStatus::Success);
    }
    if runs.is_empty() {
        eprintln!("no runs recorded yet; start one with `wharf run`");
        return Ok(ExitStatus::Success);
    }
    let mut table = Table::new(&[
        ("RUN", Align::Right),
        ("STATUS", Align::Left),
        ("PIPELINE", Align::Left),
        ("EVENT", Align::Left),
        ("TIME", Align::Right),
        ("STARTED", Align::Left),
    ]);
    for r in runs {
        let mut event = r.event.kind.to_string();
        if let Some(t) = r.event.tag.as_ref().or(r.event.branch.as_ref()) {
            event.push(' ');
            event.push_str(t);
        }
        let time = r
            .finished_at
            .map(|f| duration(f - r.started_at))
            .unwrap_or_else(|| "-".into());
        table.row(vec![
            format!("#{}", r.number),
            r.status.to_string(),
            ellipsize(&r.pipeline, 30),
            ellipsize(&event, 40),
            time,
            history::age(r.started_at),
        ]);
    }
    out!("{}", table.render());
    Ok(ExitStatus::Success)
}
