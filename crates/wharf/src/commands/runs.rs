//! `wharf runs`: the run history, newest first.

use std::path::Path;

use crate::cli::RunsArgs;
use crate::commands::history;
use crate::exit::ExitStatus;
use crate::output::view::duration;

/// Runs `wharf runs`.
pub async fn run(dir: &Path, args: RunsArgs) -> anyhow::Result<ExitStatus> {
    let runs = match history::open(dir).await? {
        Some((_, store)) => store.list_runs(args.limit).await?,
        None => Vec::new(),
    };
    if args.json {
        println!("{}", serde_json::to_string_pretty(&runs)?);
        return Ok(ExitStatus::Success);
    }
    if runs.is_empty() {
        eprintln!("no runs recorded yet; start one with `wharf run`");
        return Ok(ExitStatus::Success);
    }
    println!(
        "{:>5}  {:<11}  {:<16}  {:<28}  {:>8}  STARTED",
        "RUN", "STATUS", "PIPELINE", "EVENT", "TIME"
    );
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
        println!(
            "{:>5}  {:<11}  {:<16}  {:<28}  {:>8}  {}",
            format!("#{}", r.number),
            r.status,
            r.pipeline,
            event,
            time,
            history::age(r.started_at)
        );
    }
    Ok(ExitStatus::Success)
}
