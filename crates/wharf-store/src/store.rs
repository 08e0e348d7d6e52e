//! The run history: a SQLite database at `<wharf dir>/wharf.db` that several wharf
//! processes (a `wharf run` per terminal, `wharf runs` beside them) share safely.
//!
//! WAL mode lets readers work while a run writes; `synchronous = NORMAL` makes a commit
//! cost no fsync (a power cut may lose the last events, never corrupt the file); writers
//! take the lock up front (`BEGIN IMMEDIATE`) so they queue on the busy timeout instead of
//! failing on a lock upgrade.

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use sqlx::sqlite::{
    SqliteConnectOptions, SqliteJournalMode, SqlitePool, SqlitePoolOptions, SqliteSynchronous,
};
use sqlx::{Row, SqliteConnection};
use wharf_model::{Event, JobInfo, Millis};

use crate::error::{self, Error, Result};
use crate::{migrations, process, recovery};

/// How long a statement waits for another process's write lock before giving up.
const BUSY_TIMEOUT: Duration = Duration::from_secs(5);

/// Connections per store: SQLite has one writer at a time anyway; a few let reads overlap.
const MAX_CONNECTIONS: u32 = 4;

/// A handle on the run database. Cheap to clone: clones share one connection pool.
#[derive(Debug, Clone)]
pub struct Store {
    pub(crate) pool: SqlitePool,
    pub(crate) path: Arc<PathBuf>,
}

/// What [`Store::start_run`] records about a new run.
#[derive(Debug, Clone, PartialEq)]
pub struct NewRun {
    /// The pipeline's name.
    pub pipeline: String,
    /// The pipeline file, relative to the project root.
    pub file: String,
    /// What started the run.
    pub event: Event,
    /// Every job of the plan, in plan order.
    pub jobs: Vec<JobInfo>,
    /// When the run started.
    pub at: Millis,
    /// The process running it (normally `std::process::id()`): recovery marks the run
    /// interrupted once this process is gone.
    pub pid: u32,
}

impl Store {
    /// Opens (creating if needed) the run database in `wharf_dir`, brings its schema up to
    /// date, and marks runs whose wharf process died as interrupted.
    pub async fn open(wharf_dir: &Path) -> Result<Store> {
        tokio::fs::create_dir_all(wharf_dir)
            .await
            .map_err(error::io("create the wharf directory", wharf_dir))?;
        write_gitignore(wharf_dir);
        let path = wharf_dir.join("wharf.db");
        // Two processes opening a new database at once would both try to create the
        // schema; the first holds this lock until the schema and recovery are done.
        let _lock = OpenLock::acquire(&wharf_dir.join("wharf.db.lock")).await?;
        let options = SqliteConnectOptions::new()
            .filename(&path)
            .create_if_missing(true)
            .journal_mode(SqliteJournalMode::Wal)
            .synchronous(SqliteSynchronous::Normal)
            .busy_timeout(BUSY_TIMEOUT)
            .foreign_keys(true);
        let pool = SqlitePoolOptions::new()
            .max_connections(MAX_CONNECTIONS)
            .connect_with(options)
            .await
            .map_err(|e| error::db(&path, "open the database", e))?;
        migrations::migrator()
            .run(&pool)
            .await
            .map_err(|e| error::migrate(&path, e))?;
        let store = Store {
            pool,
            path: Arc::new(path),
        };
        recovery::recover(&store, now()).await?;
        Ok(store)
    }

    /// The database file.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Records a new run, its jobs pending, and returns its number (1, 2, … per store;
    /// never reused, also when several wharf processes start runs at once).
    pub async fn start_run(&self, new: &NewRun) -> Result<u64> {
        let event = serde_json::to_string(&new.event).map_err(|source| Error::Encode {
            what: "the run's event",
            source,
        })?;
        let needs = new
            .jobs
            .iter()
            .map(|job| serde_json::to_string(&job.needs))
            .collect::<Result<Vec<_>, _>>()
            .map_err(|source| Error::Encode {
                what: "a job's needs",
                source,
            })?;
        let pid_start_time = process::start_time(new.pid);
        let mut tx = self
            .pool
            .begin_with("BEGIN IMMEDIATE")
            .await
            .map_err(self.db_err("start a run"))?;
        let row = sqlx::query(
            "INSERT INTO runs (pipeline, file, event, event_kind, branch, tag, sha, status, \
             started_at, pid, pid_start_time, owner, lease_until) \
             VALUES (?, ?, ?, ?, ?, ?, ?, 'running', ?, ?, ?, ?, ?) RETURNING number",
        )
        .bind(&new.pipeline)
        .bind(&new.file)
        .bind(&event)
        .bind(new.event.kind.as_str())
        .bind(&new.event.branch)
        .bind(&new.event.tag)
        .bind(&new.event.sha)
        .bind(new.at)
        .bind(i64::from(new.pid))
        .bind(pid_start_time)
        .bind(crate::lease::host())
        .bind(new.at + crate::lease::LEASE_MS)
        .fetch_one(&mut *tx)
        .await
        .map_err(self.db_err("start a run"))?;
        let number: i64 = row.try_get(0).map_err(self.db_err("start a run"))?;
        for (position, (job, needs)) in new.jobs.iter().zip(&needs).enumerate() {
            insert_job(&mut tx, number, position, job, needs)
                .await
                .map_err(self.db_err("record the run's jobs"))?;
        }
        tx.commit().await.map_err(self.db_err("start a run"))?;
        Ok(from_sql(number))
    }

    /// A closure for `map_err` that classifies a sqlx error for this database.
    pub(crate) fn db_err(&self, action: &'static str) -> impl Fn(sqlx::Error) -> Error + '_ {
        move |e| error::db(&self.path, action, e)
    }
}

async fn insert_job(
    conn: &mut SqliteConnection,
    run: i64,
    position: usize,
    job: &JobInfo,
    needs: &str,
) -> Result<(), sqlx::Error> {
    sqlx::query(
        "INSERT INTO jobs (run, id, position, name, needs, status) \
         VALUES (?, ?, ?, ?, ?, 'pending')",
    )
    .bind(run)
    .bind(&job.id)
    .bind(to_sql(position as u64))
    .bind(&job.name)
    .bind(needs)
    .execute(&mut *conn)
    .await?;
    for (index, name) in job.steps.iter().enumerate() {
        sqlx::query(
            "INSERT INTO steps (run, job, idx, name, status) VALUES (?, ?, ?, ?, 'pending')",
        )
        .bind(run)
        .bind(&job.id)
        .bind(to_sql(index as u64))
        .bind(name)
        .execute(&mut *conn)
        .await?;
    }
    Ok(())
}

/// SQLite integers are signed; counts and numbers past `i64::MAX` cannot occur, and a run
/// number that large simply matches no row.
pub(crate) fn to_sql(value: u64) -> i64 {
    i64::try_from(value).unwrap_or(i64::MAX)
}

/// The inverse of [`to_sql`] for values the schema keeps non-negative.
pub(crate) fn from_sql(value: i64) -> u64 {
    u64::try_from(value).unwrap_or(0)
}

/// The current time as Unix milliseconds.
pub(crate) fn now() -> Millis {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| {
            Millis::try_from(d.as_millis()).unwrap_or(Millis::MAX)
        })
}

/// An exclusive lock on a file beside the database, held while a process opens it.
/// The lock is released when the file is closed, i.e. when this is dropped.
struct OpenLock {
    _file: std::fs::File,
}

impl OpenLock {
    async fn acquire(path: &Path) -> Result<OpenLock> {
        let owned = path.to_path_buf();
        let locked = tokio::task::spawn_blocking(move || {
            let file = std::fs::OpenOptions::new()
                .create(true)
                .truncate(false)
                .write(true)
                .open(&owned)?;
            file.lock()?;
            Ok::<_, std::io::Error>(file)
        })
        .await
        .map_err(|join| std::io::Error::other(join.to_string()))
        .and_then(|r| r);
        locked
            .map(|file| OpenLock { _file: file })
            .map_err(error::io("lock the run database", path))
    }
}

/// Writes `.wharf/.gitignore` when it is missing (see
/// [`wharf_model::state::gitignore`]); best effort: a read-only project still runs.
fn write_gitignore(wharf_dir: &Path) {
    let path = wharf_dir.join(".gitignore");
    if path.symlink_metadata().is_err() {
        let _ = std::fs::write(&path, wharf_model::state::gitignore());
    }
}
