//! The poller: projects registered with `--poll` are listed (`git ls-remote`) on that
//! interval, and each branch that moved or tag that appeared becomes the same event a
//! webhook would give. A ref a webhook already reported at its commit starts nothing, so a
//! project may use both.

use std::sync::Arc;
use std::time::Duration;

use tokio::sync::watch;

use crate::app::Shared;
use crate::git;

/// How often the poller looks for projects that are due.
const TICK: Duration = Duration::from_millis(500);

/// How long one `git ls-remote` may take.
const LIST_TIMEOUT: Duration = Duration::from_secs(60);

/// Polls until `stop` turns true.
pub(crate) async fn run(s: Arc<Shared>, mut stop: watch::Receiver<bool>) {
    loop {
        if let Err(e) = tick(&s).await {
            eprintln!("wharf serve: poller: {e}");
        }
        tokio::select! {
            _ = tokio::time::sleep(TICK) => {}
            _ = stop.wait_for(|s| *s) => return,
        }
    }
}

async fn tick(s: &Shared) -> crate::Result<()> {
    let now = crate::now();
    let last = s.db.last_polls().await?;
    for p in s.db.projects().await? {
        let Some(every) = p.poll else {
            continue;
        };
        let due = last
            .iter()
            .find(|(name, _)| *name == p.name)
            .is_none_or(|(_, at)| now - at >= every.as_millis() as i64);
        if !due {
            continue;
        }
        let listed = tokio::time::timeout(LIST_TIMEOUT, git::remote_refs(&p.repo)).await;
        let refs = match listed {
            Ok(Ok(refs)) => refs,
            Ok(Err(e)) => {
                eprintln!("wharf serve: {}: poll failed: {e}", p.name);
                s.db.poll_failed(&p.name, &e.to_string(), now).await?;
                continue;
            }
            Err(_) => {
                eprintln!(
                    "wharf serve: {}: poll timed out after {LIST_TIMEOUT:?}",
                    p.name
                );
                s.db.poll_failed(&p.name, "timed out", now).await?;
                continue;
            }
        };
        let queued = s.db.record_poll(&p.name, &refs, now).await?;
        if !queued.is_empty() {
            eprintln!(
                "wharf serve: {}: poll found {} new commit(s) or tag(s): event(s) {}",
                p.name,
                queued.len(),
                queued
                    .iter()
                    .map(|i| i.to_string())
                    .collect::<Vec<_>>()
                    .join(", ")
            );
            s.wake.notify_waiters();
        }
    }
    Ok(())
}
