//! Schedules: the `on.schedule` entries of each project's default branch (as last
//! fetched) fire in UTC. Each entry remembers the tick it last fired for; when the latest
//! tick is later, it fires once, so a server that was down over several ticks starts one
//! run, not one per missed tick. An entry seen for the first time only records its tick.

use std::sync::Arc;
use std::time::Duration;

use tokio::sync::watch;
use wharf_model::{Event, EventKind};

use crate::app::Shared;
use crate::{git, paths};

/// How often schedules are looked at (cron's resolution is a minute).
const TICK: Duration = Duration::from_secs(5);

/// Fires schedules until `stop` turns true.
pub(crate) async fn run(s: Arc<Shared>, mut stop: watch::Receiver<bool>) {
    loop {
        if let Err(e) = tick(&s).await {
            eprintln!("wharf serve: scheduler: {e}");
        }
        tokio::select! {
            _ = tokio::time::sleep(TICK) => {}
            _ = stop.wait_for(|s| *s) => return,
        }
    }
}

async fn tick(s: &Shared) -> crate::Result<()> {
    let data = &s.config.data_dir;
    for p in s.db.projects().await? {
        let mirror = paths::mirror(data, &p.name);
        let dir =
            tempfile::tempdir().map_err(crate::Error::io("create a temporary directory", data))?;
        let branch = {
            // The mirror is the dispatcher's too: one git operation on it at a time.
            let lock = s.git_lock(&p.name);
            let _held = lock.lock().await;
            if !mirror.join("HEAD").is_file()
                && let Err(e) = git::fetch(&p.repo, &mirror).await
            {
                eprintln!(
                    "wharf serve: {}: cannot fetch the repository for its schedules: {e}",
                    p.name
                );
                continue;
            }
            let Some(branch) = git::default_branch(&mirror).await else {
                continue;
            };
            let rev = format!("refs/heads/{branch}");
            if git::pipeline_files(&mirror, &rev, dir.path())
                .await
                .is_err()
            {
                continue;
            }
            branch
        };
        // An invalid file has no schedule to fire; its push already reported it.
        let Ok(pipelines) = wharf_pipeline::load_project(dir.path()) else {
            continue;
        };
        let now = crate::now();
        for pipeline in &pipelines {
            let Some(t) = pipeline.triggers() else {
                continue;
            };
            for cron in &t.schedule {
                let Some(tick) = wharf_pipeline::last_tick(cron, now) else {
                    continue;
                };
                let mut e = Event::new(EventKind::Schedule);
                e.branch = Some(branch.clone());
                e.schedule = Some(cron.clone());
                e.actor = Some("schedule".to_string());
                if let Some(id) =
                    s.db.fire_schedule(&p.name, pipeline.name(), cron, tick, &e, now)
                        .await?
                {
                    eprintln!(
                        "wharf serve: {}: schedule `{cron}` of {} fired: event {id}",
                        p.name,
                        pipeline.name()
                    );
                    s.wake.notify_waiters();
                }
            }
        }
    }
    Ok(())
}
