//! Finishing the records of runs whose wharf process died (killed, crashed, power cut).
//!
//! Such a run would otherwise show as `running` forever. On open, every `running` run
//! whose owner is gone becomes `interrupted`, and so do its unfinished jobs and steps: an
//! owner on this host is gone when its process is (pid and start time); an owner on
//! another host when its lease has lapsed (see `lease`). A run whose owner is alive
//! belongs to another wharf in progress and is left alone.

use sqlx::Row;
use wharf_model::Millis;

use crate::error::Result;
use crate::process::{self, Liveness};
use crate::store::{Store, from_sql};

/// Marks the runs of dead processes interrupted at `now`; returns their numbers.
pub(crate) async fn recover(store: &Store, now: Millis) -> Result<Vec<u64>> {
    let rows = sqlx::query(
        "SELECT number, pid, pid_start_time, owner, lease_until FROM runs WHERE status = 'running'",
    )
    .fetch_all(&store.pool)
    .await
    .map_err(store.db_err("look for interrupted runs"))?;
    let here = crate::lease::host();
    let mut interrupted = Vec::new();
    for row in rows {
        let decode = store.db_err("look for interrupted runs");
        let number: i64 = row.try_get(0).map_err(&decode)?;
        let pid: i64 = row.try_get(1).map_err(&decode)?;
        let start_time: Option<i64> = row.try_get(2).map_err(&decode)?;
        let owner: Option<String> = row.try_get(3).map_err(&decode)?;
        let lease_until: Option<i64> = row.try_get(4).map_err(&decode)?;
        let alive = match (owner, lease_until) {
            // Another host: only the lease can tell.
            (Some(owner), Some(until)) if owner != here => until >= now,
            // This host (or a row from before leases): ask the process table. A pid that
            // does not fit a u32 cannot be a live process.
            _ => u32::try_from(pid)
                .is_ok_and(|pid| process::liveness(pid, start_time) != Liveness::Dead),
        };
        if !alive && mark_interrupted(store, number, now).await? {
            interrupted.push(from_sql(number));
        }
    }
    Ok(interrupted)
}

/// Marks one run interrupted, unless another process already did (or it finished since),
/// as of its owner's last sign of life (or `now` for rows from before that was recorded).
async fn mark_interrupted(store: &Store, number: i64, now: Millis) -> Result<bool> {
    let err = store.db_err("mark an interrupted run");
    let mut tx = store
        .pool
        .begin_with("BEGIN IMMEDIATE")
        .await
        .map_err(&err)?;
    let changed = sqlx::query(
        "UPDATE runs SET status = 'interrupted', \
         finished_at = MAX(started_at, MIN(?, COALESCE(last_seen, ?))) \
         WHERE number = ? AND status = 'running'",
    )
    .bind(now)
    .bind(now)
    .bind(number)
    .execute(&mut *tx)
    .await
    .map_err(&err)?
    .rows_affected();
    if changed == 0 {
        return Ok(false);
    }
    let ended: i64 = sqlx::query_scalar("SELECT finished_at FROM runs WHERE number = ?")
        .bind(number)
        .fetch_one(&mut *tx)
        .await
        .map_err(&err)?;
    sqlx::query(
        "UPDATE jobs SET status = 'interrupted', finished_at = ? \
         WHERE run = ? AND status IN ('running', 'waiting', 'pending')",
    )
    .bind(ended)
    .bind(number)
    .execute(&mut *tx)
    .await
    .map_err(&err)?;
    sqlx::query(
        "UPDATE steps SET status = 'interrupted', finished_at = ? \
         WHERE run = ? AND status = 'running'",
    )
    .bind(ended)
    .bind(number)
    .execute(&mut *tx)
    .await
    .map_err(&err)?;
    tx.commit().await.map_err(&err)?;
    Ok(true)
}
