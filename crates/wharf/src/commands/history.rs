//! What the history commands share: opening the store read-side and finding a run.

use std::path::Path;

use wharf_model::RunRecord;
use wharf_store::Store;

use crate::exit::UserError;
use crate::project;

/// Opens the project's run history; `None` when no run was ever recorded.
pub async fn open(dir: &Path) -> anyhow::Result<Option<(std::path::PathBuf, Store)>> {
    let root = project::find_root(dir)?;
    let wharf_dir = project::state_dir(&root);
    if !wharf_dir.join("wharf.db").exists() {
        return Ok(None);
    }
    let store = Store::open(&wharf_dir).await?;
    Ok(Some((wharf_dir, store)))
}

/// The run `number`, or the latest when `None`; a clear error when there is none.
pub async fn find_run(store: &Store, number: Option<u64>) -> anyhow::Result<RunRecord> {
    let number = match number {
        Some(n) => n,
        None => store.latest_run().await?.ok_or_else(no_runs)?,
    };
    store.get_run(number).await?.ok_or_else(|| {
        UserError::invalid(format!("there is no run #{number}"))
            .hint("`wharf runs` lists the recorded runs")
            .into()
    })
}

/// "no runs recorded yet" as an error.
pub fn no_runs() -> anyhow::Error {
    UserError::invalid("no runs recorded yet")
        .hint("start one with `wharf run`")
        .into()
}

/// `3m ago`-style age of a timestamp.
pub fn age(at: wharf_model::Millis) -> String {
    let secs = (wharf_engine::now_ms() - at).max(0) / 1000;
    match secs {
        s if s < 60 => format!("{s}s ago"),
        s if s < 3600 => format!("{}m ago", s / 60),
        s if s < 86400 => format!("{}h ago", s / 3600),
        s => format!("{}d ago", s / 86400),
    }
}
