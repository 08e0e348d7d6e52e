//! The durable outbox of statuses (`status_outbox`): one row per project, commit and
//! context holding the newest state queued for it, delivered by the deliverer task.
//!
//! Coalescing and order live in one upsert: a transition replaces the row only when it is
//! newer — a later run, or a later rank in the same run (pending, then running, then
//! ended) — so an undelivered older state is dropped for the newer one and an older one
//! arriving late never overwrites a newer one. Every change takes the next `seq`; a
//! delivery marks the row delivered only if its `seq` is still the one sent, so a state
//! queued while an older one was on the wire is delivered after it.

use sqlx::Row;
use wharf_model::Millis;

use super::State;
use crate::db::Db;
use crate::error::{Error, Result};

/// One status to report.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Transition {
    /// The project.
    pub project: String,
    /// The commit.
    pub sha: String,
    /// The branch or tag (GitLab's `ref`).
    pub reference: Option<String>,
    /// `wharf/<pipeline>` or `wharf/<pipeline>/<job>`.
    pub context: String,
    /// What happened.
    pub state: State,
    /// The run's (or job's) page.
    pub target_url: String,
    /// A few words (at most 140 characters).
    pub description: String,
    /// The run's number: a later run's state is newer.
    pub run: u64,
}

/// A row due for delivery.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Due {
    /// What to send.
    pub t: Transition,
    /// Its version: delivered only if still this.
    pub seq: i64,
    /// Attempts made so far.
    pub attempts: i64,
}

/// Queues `t` unless the row holds a newer (or the same) state; whether it changed.
pub(crate) async fn enqueue(db: &Db, t: &Transition, now: Millis) -> Result<bool> {
    let res = sqlx::query(
        "INSERT INTO status_outbox \
           (project, sha, context, ref, state, target_url, description, run, rank, seq, \
            attempts, next_attempt_at, delivered_at, last_error) \
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, \
            (SELECT COALESCE(MAX(seq), 0) + 1 FROM status_outbox), 0, ?10, NULL, NULL) \
         ON CONFLICT (project, sha, context) DO UPDATE SET \
           ref = excluded.ref, state = excluded.state, target_url = excluded.target_url, \
           description = excluded.description, run = excluded.run, rank = excluded.rank, \
           seq = excluded.seq, attempts = 0, next_attempt_at = excluded.next_attempt_at, \
           delivered_at = NULL, last_error = NULL \
         WHERE (excluded.run, excluded.rank) > (status_outbox.run, status_outbox.rank) \
            OR ((excluded.run, excluded.rank) = (status_outbox.run, status_outbox.rank) \
                AND excluded.state <> status_outbox.state)",
    )
    .bind(&t.project)
    .bind(&t.sha)
    .bind(&t.context)
    .bind(&t.reference)
    .bind(t.state.as_str())
    .bind(&t.target_url)
    .bind(&t.description)
    .bind(t.run as i64)
    .bind(t.state.rank())
    .bind(now)
    .execute(db.pool())
    .await
    .map_err(Error::db("queue a commit status"))?;
    Ok(res.rows_affected() > 0)
}

/// The rows due at `now`, oldest change first.
pub(crate) async fn due(db: &Db, now: Millis, limit: u32) -> Result<Vec<Due>> {
    let rows = sqlx::query(
        "SELECT project, sha, context, ref, state, target_url, description, run, seq, attempts \
         FROM status_outbox WHERE next_attempt_at IS NOT NULL AND next_attempt_at <= ? \
         ORDER BY seq LIMIT ?",
    )
    .bind(now)
    .bind(limit)
    .fetch_all(db.pool())
    .await
    .map_err(Error::db("read the status outbox"))?;
    rows.iter()
        .map(|r| {
            let state: String = r.get(4);
            Ok(Due {
                t: Transition {
                    project: r.get(0),
                    sha: r.get(1),
                    context: r.get(2),
                    reference: r.get(3),
                    state: State::parse(&state).ok_or_else(|| {
                        Error::invalid(format!("stored status state `{state}` is unknown"), None)
                    })?,
                    target_url: r.get(5),
                    description: r.get(6),
                    run: r.get::<i64, _>(7).max(0) as u64,
                },
                seq: r.get(8),
                attempts: r.get(9),
            })
        })
        .collect()
}

/// When the next row is due, if any is.
pub(crate) async fn next_due(db: &Db) -> Result<Option<Millis>> {
    sqlx::query("SELECT MIN(next_attempt_at) FROM status_outbox WHERE next_attempt_at IS NOT NULL")
        .fetch_one(db.pool())
        .await
        .map(|r| r.get(0))
        .map_err(Error::db("read the status outbox"))
}

/// What became of one attempt.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Attempt {
    /// The forge took it.
    Delivered,
    /// Try again at this time.
    Retry { at: Millis, error: String },
    /// Not retried (refused, or out of attempts).
    GaveUp { error: String },
}

/// Records attempt `a` of `d`; a row changed since (a newer state queued) is left for
/// its own delivery.
pub(crate) async fn record(db: &Db, d: &Due, a: &Attempt, now: Millis) -> Result<()> {
    let (delivered, next, error) = match a {
        Attempt::Delivered => (Some(now), None, None),
        Attempt::Retry { at, error } => (None, Some(*at), Some(error.as_str())),
        Attempt::GaveUp { error } => (None, None, Some(error.as_str())),
    };
    sqlx::query(
        "UPDATE status_outbox SET attempts = attempts + 1, delivered_at = ?, \
         next_attempt_at = ?, last_error = ? \
         WHERE project = ? AND sha = ? AND context = ? AND seq = ?",
    )
    .bind(delivered)
    .bind(next)
    .bind(error)
    .bind(&d.t.project)
    .bind(&d.t.sha)
    .bind(&d.t.context)
    .bind(d.seq)
    .execute(db.pool())
    .await
    .map_err(Error::db("record a status delivery"))?;
    Ok(())
}

/// Forgets rows delivered before `before` (their commits are long reported); the newest
/// row stays, so `seq` keeps growing.
pub(crate) async fn prune(db: &Db, before: Millis) -> Result<u64> {
    let res = sqlx::query(
        "DELETE FROM status_outbox WHERE delivered_at IS NOT NULL AND delivered_at < ? \
         AND seq < (SELECT MAX(seq) FROM status_outbox)",
    )
    .bind(before)
    .execute(db.pool())
    .await
    .map_err(Error::db("prune the status outbox"))?;
    Ok(res.rows_affected())
}
