//! The server's database (`server.db` in the data directory): projects, the durable queue
//! of events, and the deliveries taken. Every commit is synced (`synchronous = FULL`):
//! an event is answered 2xx only once it is on disk.

use std::path::Path;
use std::time::Duration;

use sqlx::Row;
use sqlx::sqlite::{
    SqliteConnectOptions, SqliteJournalMode, SqlitePool, SqlitePoolOptions, SqliteSynchronous,
};
use wharf_forge::ForgeKind;
use wharf_model::{Event, Millis};
use wharf_secrets::crypto::Sealed;

use crate::error::{Error, Result};

/// The columns `event_of` reads, in its order.
macro_rules! event_columns {
    () => {
        "id, project, source, event, received_at, state, runs, error, attempt, rerun"
    };
}

/// The server database's migrations, oldest first (`/readyz` checks them applied).
pub(crate) const MIGRATIONS: &[(i64, &str, &str)] = &[
    (1, "server", include_str!("../migrations/0001_server.sql")),
    (2, "audit", include_str!("../migrations/0002_audit.sql")),
    (
        3,
        "statuses",
        include_str!("../migrations/0003_statuses.sql"),
    ),
    (
        4,
        "sessions",
        include_str!("../migrations/0004_sessions.sql"),
    ),
];

/// A handle on the server's database; clones share one pool.
#[derive(Debug, Clone)]
pub struct Db {
    pool: SqlitePool,
}

/// A registered project.
#[derive(Debug, Clone)]
pub struct Project {
    /// Its name (the webhook route's last part).
    pub name: String,
    /// The git URL the server clones.
    pub repo: String,
    /// The forge that sends its webhooks.
    pub forge: ForgeKind,
    /// How often to poll the repository, if at all.
    pub poll: Option<Duration>,
    /// The webhook secret, sealed.
    pub hook_secret: Sealed,
    /// When it was added.
    pub created_at: Millis,
}

/// Where an event came from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Source {
    /// A forge's webhook.
    Webhook,
    /// The poller found a new commit or tag.
    Poll,
    /// An `on.schedule` entry fired.
    Schedule,
    /// Someone asked (API, `wharf trigger`).
    Manual,
    /// Another pipeline ended (`on.pipeline`).
    Pipeline,
    /// The server died while the event ran: its runs' unfinished jobs again.
    Retry,
}

impl Source {
    /// The column's word.
    pub fn as_str(self) -> &'static str {
        match self {
            Source::Webhook => "webhook",
            Source::Poll => "poll",
            Source::Schedule => "schedule",
            Source::Manual => "manual",
            Source::Pipeline => "pipeline",
            Source::Retry => "retry",
        }
    }
}

/// An event the dispatcher took.
#[derive(Debug, Clone)]
pub struct Claimed {
    /// Its id.
    pub id: i64,
    /// The project it is for.
    pub project: String,
    /// What happened.
    pub event: Event,
    /// The commit a pushed branch pointed at before, when known.
    pub before: Option<String>,
    /// The run whose failed jobs to run again, for a re-run.
    pub rerun: Option<u64>,
    /// 1, or one more than the event a server crash interrupted.
    pub attempt: i64,
    /// When the server accepted it.
    pub received_at: Millis,
}

/// One queued or past event, as listed.
#[derive(Debug, Clone, serde::Serialize)]
pub struct EventRow {
    /// Its id.
    pub id: i64,
    /// Its project.
    pub project: String,
    /// Where it came from.
    pub source: String,
    /// What happened.
    pub event: Event,
    /// When the server accepted it.
    pub received_at: Millis,
    /// queued, running, done, failed or interrupted.
    pub state: String,
    /// The runs it started, by number in the project's store.
    pub runs: Vec<u64>,
    /// Why it failed.
    pub error: Option<String>,
    /// 1, or one more than the event a crash interrupted.
    pub attempt: i64,
    /// The run it re-runs the failed jobs of, if it is a re-run.
    pub rerun: Option<i64>,
}

/// What became of a delivery.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Accepted {
    /// Queued as this event.
    Queued(i64),
    /// Taken before (the same delivery id): nothing new.
    Duplicate,
    /// Recorded, nothing to run.
    Ignored,
    /// Its branch or tag was already seen at this commit (by polling): nothing new.
    Seen,
}

impl Db {
    /// Opens (creating) `server.db` in `data_dir` and brings its schema up to date.
    pub async fn open(data_dir: &Path) -> Result<Db> {
        let path = data_dir.join("server.db");
        let options = SqliteConnectOptions::new()
            .filename(&path)
            .create_if_missing(true)
            .journal_mode(SqliteJournalMode::Wal)
            .synchronous(SqliteSynchronous::Full)
            .busy_timeout(Duration::from_secs(5))
            .foreign_keys(true);
        let pool = SqlitePoolOptions::new()
            .max_connections(4)
            .connect_with(options)
            .await
            .map_err(Error::db("open"))?;
        wharf_store::migrations::embedded(MIGRATIONS)
            .run(&pool)
            .await?;
        Ok(Db { pool })
    }

    /// A write transaction that takes the lock up front (`BEGIN IMMEDIATE`): concurrent
    /// writers queue on the busy timeout instead of failing on a lock upgrade.
    async fn write(&self) -> Result<sqlx::Transaction<'static, sqlx::Sqlite>> {
        self.pool
            .begin_with("BEGIN IMMEDIATE")
            .await
            .map_err(Error::db("begin a write"))
    }

    /// The pool, for the other tables' queries.
    pub(crate) fn pool(&self) -> &SqlitePool {
        &self.pool
    }

    /// Adds a project; an existing name is refused. Not audited: people's requests go
    /// through `admin::add_project`.
    pub async fn add_project(&self, p: &Project) -> Result<()> {
        let mut conn = self
            .pool
            .acquire()
            .await
            .map_err(Error::db("add a project"))?;
        insert_project(&mut conn, p).await
    }

    /// Removes a project and its queue; `false` when there was none. Not audited:
    /// people's requests go through `admin::remove_project`.
    pub async fn remove_project(&self, name: &str) -> Result<bool> {
        let mut conn = self
            .pool
            .acquire()
            .await
            .map_err(Error::db("remove a project"))?;
        delete_project(&mut conn, name).await
    }

    /// Every project, by name.
    pub async fn projects(&self) -> Result<Vec<Project>> {
        let rows = sqlx::query(
            "SELECT name, repo, forge, poll_ms, hook_key_id, hook_nonce, hook_secret, created_at \
             FROM projects ORDER BY name",
        )
        .fetch_all(&self.pool)
        .await
        .map_err(Error::db("list projects"))?;
        rows.iter().map(project_of).collect()
    }

    /// One project.
    pub async fn project(&self, name: &str) -> Result<Option<Project>> {
        let row = sqlx::query(
            "SELECT name, repo, forge, poll_ms, hook_key_id, hook_nonce, hook_secret, created_at \
             FROM projects WHERE name = ?",
        )
        .bind(name)
        .fetch_optional(&self.pool)
        .await
        .map_err(Error::db("read a project"))?;
        row.as_ref().map(project_of).transpose()
    }

    /// Records a verified delivery and, unless it is a redelivery or there is nothing to
    /// run (`event` is `None`), queues its event, in one synced transaction.
    pub async fn accept_delivery(
        &self,
        project: &str,
        delivery: Option<&str>,
        event_type: &str,
        event: Option<(&Event, Option<&str>)>,
        outcome: &str,
        now: Millis,
    ) -> Result<Accepted> {
        let mut tx = self.write().await?;
        if let Some(id) = delivery {
            let seen = sqlx::query("SELECT 1 FROM deliveries WHERE project = ? AND delivery = ?")
                .bind(project)
                .bind(id)
                .fetch_optional(&mut *tx)
                .await
                .map_err(Error::db("look up a delivery"))?;
            if seen.is_some() {
                return Ok(Accepted::Duplicate);
            }
        }
        // A ref the poller (or an earlier delivery) already saw at this commit has run.
        let reference = event.and_then(|(e, _)| ref_of(e));
        let mut seen_at_commit = false;
        if let (Some((e, _)), Some(name)) = (event, &reference) {
            let sha = e.sha.as_deref().unwrap_or_default();
            let row = sqlx::query("SELECT sha FROM refs WHERE project = ? AND name = ?")
                .bind(project)
                .bind(name)
                .fetch_optional(&mut *tx)
                .await
                .map_err(Error::db("read a ref"))?;
            seen_at_commit = row.is_some_and(|r| r.get::<String, _>(0) == sha);
            upsert_ref(&mut tx, project, name, sha).await?;
        }
        let queued = match event {
            Some((e, before)) if !seen_at_commit => {
                Some(insert_event(&mut tx, project, Source::Webhook, e, before, now).await?)
            }
            _ => None,
        };
        let outcome = if seen_at_commit {
            format!("{outcome}: already seen at this commit, nothing new")
        } else {
            outcome.to_string()
        };
        if let Some(id) = delivery {
            sqlx::query(
                "INSERT INTO deliveries (project, delivery, event_type, received_at, event, outcome) \
                 VALUES (?, ?, ?, ?, ?, ?)",
            )
            .bind(project)
            .bind(id)
            .bind(event_type)
            .bind(now)
            .bind(queued)
            .bind(&outcome)
            .execute(&mut *tx)
            .await
            .map_err(Error::db("record a delivery"))?;
        }
        tx.commit().await.map_err(Error::db("commit a delivery"))?;
        Ok(match queued {
            Some(id) => Accepted::Queued(id),
            None if seen_at_commit => Accepted::Seen,
            None => Accepted::Ignored,
        })
    }

    /// Records what a poll saw and queues an event for each branch or tag that is new or
    /// moved, in one transaction. The first poll of a project only records (registering a
    /// project does not run every branch). Returns the events queued.
    pub async fn record_poll(
        &self,
        project: &str,
        refs: &[(String, String)],
        now: Millis,
    ) -> Result<Vec<i64>> {
        let mut tx = self.write().await?;
        let known: Vec<(String, String)> =
            sqlx::query("SELECT name, sha FROM refs WHERE project = ?")
                .bind(project)
                .fetch_all(&mut *tx)
                .await
                .map_err(Error::db("read refs"))?
                .iter()
                .map(|r| (r.get(0), r.get(1)))
                .collect();
        let first = sqlx::query("SELECT 1 FROM polls WHERE project = ?")
            .bind(project)
            .fetch_optional(&mut *tx)
            .await
            .map_err(Error::db("read polls"))?
            .is_none()
            && known.is_empty();
        let mut queued = Vec::new();
        for (name, sha) in refs {
            let before = known
                .iter()
                .find(|(n, _)| n == name)
                .map(|(_, s)| s.clone());
            if before.as_deref() == Some(sha.as_str()) {
                continue;
            }
            upsert_ref(&mut tx, project, name, sha).await?;
            if first {
                continue;
            }
            let event = if let Some(branch) = name.strip_prefix("refs/heads/") {
                let mut e = Event::new(wharf_model::EventKind::Push);
                e.branch = Some(branch.to_string());
                e.sha = Some(sha.clone());
                (e, Some(before.unwrap_or_else(|| "0".repeat(40))))
            } else if let Some(tag) = name.strip_prefix("refs/tags/") {
                if before.is_some() {
                    // A moved tag is not a new release; a forge would not send it either.
                    continue;
                }
                let mut e = Event::new(wharf_model::EventKind::Tag);
                e.tag = Some(tag.to_string());
                e.version = Event::version_from_tag(tag);
                e.sha = Some(sha.clone());
                (e, None)
            } else {
                continue;
            };
            let id = insert_event(
                &mut tx,
                project,
                Source::Poll,
                &event.0,
                event.1.as_deref(),
                now,
            )
            .await?;
            queued.push(id);
        }
        for (name, _) in &known {
            if !refs.iter().any(|(n, _)| n == name) {
                sqlx::query("DELETE FROM refs WHERE project = ? AND name = ?")
                    .bind(project)
                    .bind(name)
                    .execute(&mut *tx)
                    .await
                    .map_err(Error::db("forget a ref"))?;
            }
        }
        sqlx::query(
            "INSERT INTO polls (project, at, error) VALUES (?, ?, NULL) \
             ON CONFLICT (project) DO UPDATE SET at = excluded.at, error = NULL",
        )
        .bind(project)
        .bind(now)
        .execute(&mut *tx)
        .await
        .map_err(Error::db("record a poll"))?;
        tx.commit().await.map_err(Error::db("commit a poll"))?;
        Ok(queued)
    }

    /// Records a poll that failed (the next one is tried at the next interval).
    pub async fn poll_failed(&self, project: &str, error: &str, now: Millis) -> Result<()> {
        sqlx::query(
            "INSERT INTO polls (project, at, error) VALUES (?, ?, ?) \
             ON CONFLICT (project) DO UPDATE SET at = excluded.at, error = excluded.error",
        )
        .bind(project)
        .bind(now)
        .bind(error)
        .execute(&self.pool)
        .await
        .map_err(Error::db("record a poll"))?;
        Ok(())
    }

    /// When each project was last polled.
    pub async fn last_polls(&self) -> Result<Vec<(String, Millis)>> {
        Ok(sqlx::query("SELECT project, at FROM polls")
            .fetch_all(&self.pool)
            .await
            .map_err(Error::db("read polls"))?
            .iter()
            .map(|r| (r.get(0), r.get(1)))
            .collect())
    }

    /// Fires a schedule entry whose latest tick is `tick`: queues `event` when the entry
    /// fired for an earlier tick, records `tick` (without queuing) when the entry is new.
    /// Returns the event queued, if any.
    pub async fn fire_schedule(
        &self,
        project: &str,
        pipeline: &str,
        cron: &str,
        tick: Millis,
        event: &Event,
        now: Millis,
    ) -> Result<Option<i64>> {
        let mut tx = self.write().await?;
        let last: Option<i64> = sqlx::query(
            "SELECT last_tick FROM schedules WHERE project = ? AND pipeline = ? AND cron = ?",
        )
        .bind(project)
        .bind(pipeline)
        .bind(cron)
        .fetch_optional(&mut *tx)
        .await
        .map_err(Error::db("read a schedule"))?
        .map(|r| r.get(0));
        if last.is_some_and(|l| l >= tick) {
            return Ok(None);
        }
        sqlx::query(
            "INSERT INTO schedules (project, pipeline, cron, last_tick) VALUES (?, ?, ?, ?) \
             ON CONFLICT (project, pipeline, cron) DO UPDATE SET last_tick = excluded.last_tick",
        )
        .bind(project)
        .bind(pipeline)
        .bind(cron)
        .bind(tick)
        .execute(&mut *tx)
        .await
        .map_err(Error::db("record a schedule"))?;
        let queued = match last {
            Some(_) => {
                Some(insert_event(&mut tx, project, Source::Schedule, event, None, now).await?)
            }
            None => None,
        };
        tx.commit().await.map_err(Error::db("commit a schedule"))?;
        Ok(queued)
    }

    /// Queues an event from another source than a webhook.
    pub async fn enqueue(
        &self,
        project: &str,
        source: Source,
        event: &Event,
        now: Millis,
    ) -> Result<i64> {
        let mut tx = self.write().await?;
        let id = insert_event(&mut tx, project, source, event, None, now).await?;
        tx.commit().await.map_err(Error::db("commit an event"))?;
        Ok(id)
    }

    /// Queues a re-run of run `run`'s failed jobs (its event, at its commit): asked for
    /// (`Source::Manual`, attempt 1) or after a crash (`Source::Retry`, `attempt`).
    pub async fn enqueue_rerun(
        &self,
        project: &str,
        event: &Event,
        run: u64,
        source: Source,
        attempt: i64,
        now: Millis,
    ) -> Result<i64> {
        let mut tx = self.write().await?;
        let id = insert_rerun(&mut tx, project, event, run, source, attempt, now).await?;
        tx.commit().await.map_err(Error::db("commit a re-run"))?;
        Ok(id)
    }

    /// Forgets delivery ids older than `before` (the dedup window).
    pub async fn forget_deliveries(&self, before: Millis) -> Result<u64> {
        let res = sqlx::query("DELETE FROM deliveries WHERE received_at < ?")
            .bind(before)
            .execute(&self.pool)
            .await
            .map_err(Error::db("forget old deliveries"))?;
        Ok(res.rows_affected())
    }

    /// Takes the oldest queued event, marking it running.
    pub async fn claim(&self, now: Millis) -> Result<Option<Claimed>> {
        let row = sqlx::query(
            "UPDATE events SET state = 'running', started_at = ? \
             WHERE id = (SELECT id FROM events WHERE state = 'queued' ORDER BY id LIMIT 1) \
             RETURNING id, project, event, before, rerun, attempt, received_at",
        )
        .bind(now)
        .fetch_optional(&self.pool)
        .await
        .map_err(Error::db("take a queued event"))?;
        let Some(row) = row else {
            return Ok(None);
        };
        let text: String = row.get(2);
        Ok(Some(Claimed {
            id: row.get(0),
            project: row.get(1),
            event: serde_json::from_str(&text)
                .map_err(|e| Error::invalid(format!("stored event is not readable: {e}"), None))?,
            before: row.get(3),
            rerun: row.get::<Option<i64>, _>(4).map(|n| n.max(0) as u64),
            attempt: row.get(5),
            received_at: row.get(6),
        }))
    }

    /// Replaces a running event's stored event (its commit, once resolved).
    pub async fn set_event(&self, id: i64, event: &Event) -> Result<()> {
        sqlx::query("UPDATE events SET event = ? WHERE id = ?")
            .bind(serde_json::to_string(event).expect("an event serializes"))
            .bind(id)
            .execute(&self.pool)
            .await
            .map_err(Error::db("update an event"))?;
        Ok(())
    }

    /// Records the run numbers an event started, as soon as each starts.
    pub async fn add_run(&self, event: i64, run: u64) -> Result<()> {
        sqlx::query("UPDATE events SET runs = json_insert(runs, '$[#]', ?) WHERE id = ?")
            .bind(run as i64)
            .bind(event)
            .execute(&self.pool)
            .await
            .map_err(Error::db("record an event's run"))?;
        Ok(())
    }

    /// Ends an event: `done`, or `failed` with why.
    pub async fn finish(&self, event: i64, error: Option<&str>, now: Millis) -> Result<()> {
        sqlx::query("UPDATE events SET state = ?, error = ?, finished_at = ? WHERE id = ?")
            .bind(if error.is_some() { "failed" } else { "done" })
            .bind(error)
            .bind(now)
            .bind(event)
            .execute(&self.pool)
            .await
            .map_err(Error::db("end an event"))?;
        Ok(())
    }

    /// At start, the events a dead server was running: those that had started no run go
    /// back to the queue (nothing of them ran); the others are marked `interrupted` and
    /// returned.
    pub async fn interrupted(&self, now: Millis) -> Result<(u64, Vec<EventRow>)> {
        let mut tx = self.write().await?;
        let requeued = sqlx::query(
            "UPDATE events SET state = 'queued', started_at = NULL WHERE state = 'running' AND runs = '[]'",
        )
        .execute(&mut *tx)
        .await
        .map_err(Error::db("queue events again"))?
        .rows_affected();
        let rows = sqlx::query(concat!(
            "UPDATE events SET state = 'interrupted', finished_at = ? WHERE state = 'running' RETURNING ",
            event_columns!()
        ))
        .bind(now)
        .fetch_all(&mut *tx)
        .await
        .map_err(Error::db("mark interrupted events"))?;
        tx.commit().await.map_err(Error::db("commit"))?;
        Ok((requeued, rows.iter().map(event_of).collect::<Result<_>>()?))
    }

    /// The latest events, newest first, of one project or all.
    pub async fn events(&self, project: Option<&str>, limit: u32) -> Result<Vec<EventRow>> {
        let rows = sqlx::query(concat!(
            "SELECT ",
            event_columns!(),
            " FROM events WHERE ?1 IS NULL OR project = ?1 ORDER BY id DESC LIMIT ?2"
        ))
        .bind(project)
        .bind(limit)
        .fetch_all(&self.pool)
        .await
        .map_err(Error::db("list events"))?;
        rows.iter().map(event_of).collect()
    }

    /// One event.
    pub async fn event(&self, id: i64) -> Result<Option<EventRow>> {
        let row = sqlx::query(concat!(
            "SELECT ",
            event_columns!(),
            " FROM events WHERE id = ?"
        ))
        .bind(id)
        .fetch_optional(&self.pool)
        .await
        .map_err(Error::db("read an event"))?;
        row.as_ref().map(event_of).transpose()
    }
}

/// Adds a project on `conn` (a transaction's, for the audit log); an existing name is
/// refused.
pub(crate) async fn insert_project(conn: &mut sqlx::SqliteConnection, p: &Project) -> Result<()> {
    let res = sqlx::query(
        "INSERT INTO projects (name, repo, forge, poll_ms, hook_key_id, hook_nonce, hook_secret, created_at) \
         VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
    )
    .bind(&p.name)
    .bind(&p.repo)
    .bind(p.forge.as_str())
    .bind(p.poll.map(|d| d.as_millis() as i64))
    .bind(&p.hook_secret.key_id)
    .bind(&p.hook_secret.nonce)
    .bind(&p.hook_secret.ciphertext)
    .bind(p.created_at)
    .execute(&mut *conn)
    .await;
    match res {
        Ok(_) => Ok(()),
        Err(sqlx::Error::Database(e)) if e.is_unique_violation() => Err(Error::invalid(
            format!("a project named `{}` exists", p.name),
            Some("choose another name, or remove it first (`wharf server project remove`)"),
        )),
        Err(e) => Err(Error::db("add a project")(e)),
    }
}

/// Removes a project and its queue on `conn`; `false` when there was none.
pub(crate) async fn delete_project(conn: &mut sqlx::SqliteConnection, name: &str) -> Result<bool> {
    let res = sqlx::query("DELETE FROM projects WHERE name = ?")
        .bind(name)
        .execute(&mut *conn)
        .await
        .map_err(Error::db("remove a project"))?;
    Ok(res.rows_affected() > 0)
}

/// Queues a re-run of run `run`'s failed jobs on `tx` (see [`Db::enqueue_rerun`]).
pub(crate) async fn insert_rerun(
    tx: &mut sqlx::SqliteConnection,
    project: &str,
    event: &Event,
    run: u64,
    source: Source,
    attempt: i64,
    now: Millis,
) -> Result<i64> {
    let id = insert_event(tx, project, source, event, None, now).await?;
    sqlx::query("UPDATE events SET rerun = ?, attempt = ? WHERE id = ?")
        .bind(run as i64)
        .bind(attempt)
        .bind(id)
        .execute(&mut *tx)
        .await
        .map_err(Error::db("queue a re-run"))?;
    Ok(id)
}

/// Queues an event on `tx`; its id.
pub(crate) async fn insert_event(
    tx: &mut sqlx::SqliteConnection,
    project: &str,
    source: Source,
    event: &Event,
    before: Option<&str>,
    now: Millis,
) -> Result<i64> {
    let json = serde_json::to_string(event).expect("an event serializes");
    let row = sqlx::query(
        "INSERT INTO events (project, source, event, before, received_at) VALUES (?, ?, ?, ?, ?) RETURNING id",
    )
    .bind(project)
    .bind(source.as_str())
    .bind(json)
    .bind(before)
    .bind(now)
    .fetch_one(&mut *tx)
    .await
    .map_err(Error::db("queue an event"))?;
    Ok(row.get(0))
}

/// The full ref a push or tag event is about.
fn ref_of(e: &Event) -> Option<String> {
    match e.kind {
        wharf_model::EventKind::Push => e.branch.as_ref().map(|b| format!("refs/heads/{b}")),
        wharf_model::EventKind::Tag => e.tag.as_ref().map(|t| format!("refs/tags/{t}")),
        _ => None,
    }
}

async fn upsert_ref(
    tx: &mut sqlx::SqliteConnection,
    project: &str,
    name: &str,
    sha: &str,
) -> Result<()> {
    sqlx::query(
        "INSERT INTO refs (project, name, sha) VALUES (?, ?, ?) \
         ON CONFLICT (project, name) DO UPDATE SET sha = excluded.sha",
    )
    .bind(project)
    .bind(name)
    .bind(sha)
    .execute(&mut *tx)
    .await
    .map_err(Error::db("record a ref"))?;
    Ok(())
}

fn project_of(row: &sqlx::sqlite::SqliteRow) -> Result<Project> {
    let forge: String = row.get(2);
    let poll: Option<i64> = row.get(3);
    Ok(Project {
        name: row.get(0),
        repo: row.get(1),
        forge: ForgeKind::parse(&forge)
            .ok_or_else(|| Error::invalid(format!("stored forge `{forge}` is unknown"), None))?,
        poll: poll.map(|ms| Duration::from_millis(ms.max(0) as u64)),
        hook_secret: Sealed {
            key_id: row.get(4),
            nonce: row.get(5),
            ciphertext: row.get(6),
        },
        created_at: row.get(7),
    })
}

fn event_of(row: &sqlx::sqlite::SqliteRow) -> Result<EventRow> {
    let event: String = row.get(3);
    let runs: String = row.get(6);
    Ok(EventRow {
        id: row.get(0),
        project: row.get(1),
        source: row.get(2),
        event: serde_json::from_str(&event)
            .map_err(|e| Error::invalid(format!("stored event is not readable: {e}"), None))?,
        received_at: row.get(4),
        state: row.get(5),
        runs: serde_json::from_str(&runs).unwrap_or_default(),
        error: row.get(7),
        attempt: row.get(8),
        rerun: row.get(9),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    async fn db_with_project() -> (tempfile::TempDir, Db) {
        let dir = tempfile::tempdir().unwrap();
        let db = Db::open(dir.path()).await.unwrap();
        db.add_project(&Project {
            name: "app".into(),
            repo: "/nowhere".into(),
            forge: ForgeKind::Github,
            poll: None,
            hook_secret: Sealed {
                key_id: "k".into(),
                nonce: vec![0; 24],
                ciphertext: vec![1; 32],
            },
            created_at: 0,
        })
        .await
        .unwrap();
        (dir, db)
    }

    #[tokio::test]
    async fn a_schedule_fires_once_per_new_tick_however_many_were_missed() {
        let (_dir, db) = db_with_project().await;
        let cron = "*/5 * * * *";
        let mut e = Event::new(wharf_model::EventKind::Schedule);
        e.schedule = Some(cron.into());
        let minute = 60_000;
        let t0 = 1_796_567_400_000; // a 5-minute tick
        // first seen: the current tick is recorded, nothing fires
        let fired = db
            .fire_schedule("app", "nightly", cron, t0, &e, t0 + minute)
            .await
            .unwrap();
        assert_eq!(fired, None);
        // the same tick again: nothing
        assert_eq!(
            db.fire_schedule("app", "nightly", cron, t0, &e, t0 + 2 * minute)
                .await
                .unwrap(),
            None
        );
        // the next tick: fires once
        let t1 = t0 + 5 * minute;
        assert!(
            db.fire_schedule("app", "nightly", cron, t1, &e, t1)
                .await
                .unwrap()
                .is_some()
        );
        assert_eq!(
            db.fire_schedule("app", "nightly", cron, t1, &e, t1 + minute)
                .await
                .unwrap(),
            None
        );
        // down for an hour (12 ticks missed): the latest tick fires once
        let t13 = t1 + 60 * minute;
        let now = t13 + 30_000;
        let tick = wharf_pipeline::last_tick(cron, now).unwrap();
        assert_eq!(tick, t13);
        assert!(
            db.fire_schedule("app", "nightly", cron, tick, &e, now)
                .await
                .unwrap()
                .is_some()
        );
        assert_eq!(
            db.fire_schedule("app", "nightly", cron, tick, &e, now + 1)
                .await
                .unwrap(),
            None
        );
        let events = db.events(Some("app"), 100).await.unwrap();
        assert_eq!(events.len(), 2);
        assert!(events.iter().all(|e| e.source == "schedule"));
    }

    #[tokio::test]
    async fn the_first_poll_records_and_later_ones_queue_what_moved() {
        let (_dir, db) = db_with_project().await;
        let a = "a".repeat(40);
        let b = "b".repeat(40);
        let refs = vec![("refs/heads/main".to_string(), a.clone())];
        assert!(db.record_poll("app", &refs, 1).await.unwrap().is_empty());
        assert!(
            db.record_poll("app", &refs, 2).await.unwrap().is_empty(),
            "nothing moved"
        );
        let moved = vec![
            ("refs/heads/main".to_string(), b.clone()),
            ("refs/tags/v1.0.0".to_string(), b.clone()),
        ];
        let queued = db.record_poll("app", &moved, 3).await.unwrap();
        assert_eq!(queued.len(), 2);
        let events = db.events(Some("app"), 10).await.unwrap();
        let push = events
            .iter()
            .find(|e| e.event.kind == wharf_model::EventKind::Push)
            .unwrap();
        assert_eq!(push.event.sha.as_deref(), Some(b.as_str()));
        // a webhook for what the poller saw starts nothing
        let mut e = Event::new(wharf_model::EventKind::Push);
        e.branch = Some("main".into());
        e.sha = Some(b.clone());
        let got = db
            .accept_delivery(
                "app",
                Some("d1"),
                "push",
                Some((&e, Some(a.as_str()))),
                "push",
                4,
            )
            .await
            .unwrap();
        assert_eq!(got, Accepted::Seen);
    }
}
