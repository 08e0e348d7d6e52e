//! Recording a run's events as they happen.
//!
//! This is on the hot path: every step of every run passes through here twice. So a
//! batch is one transaction (one commit, no fsync in WAL/NORMAL mode), each event is one
//! or two statements whose text is constant (sqlx prepares each once per connection and
//! reuses it), and nothing asks the schema anything.

use sqlx::SqliteConnection;
use sqlx::error::ErrorKind;
use wharf_model::RunEvent;

use crate::error::{Error, Result};
use crate::store::{Store, to_sql};

impl Store {
    /// Applies a batch of events of run `run`, all or nothing. `RunStarted` (recorded by
    /// [`Store::start_run`]) and `Log` (lines go to log files) are ignored. An event
    /// naming a job the run does not have fails the batch with [`Error::UnknownJob`].
    pub async fn record(&self, run: u64, events: &[RunEvent]) -> Result<()> {
        let mut tx = self
            .pool
            .begin_with("BEGIN IMMEDIATE")
            .await
            .map_err(self.db_err("record run events"))?;
        let number = to_sql(run);
        for event in events {
            let unknown = || match job_of(event) {
                Some(job) => Error::UnknownJob {
                    run,
                    job: job.to_string(),
                },
                None => Error::UnknownRun { run },
            };
            match apply(&mut tx, number, event).await {
                Ok(Some(0)) => return Err(unknown()),
                Ok(_) => {}
                Err(sqlx::Error::Database(e)) if e.kind() == ErrorKind::ForeignKeyViolation => {
                    return Err(unknown());
                }
                Err(e) => return Err(self.db_err("record run events")(e)),
            }
        }
        // The owner's last sign of life, should it die before the run ends.
        sqlx::query("UPDATE runs SET last_seen = ? WHERE number = ?")
            .bind(crate::store::now())
            .bind(number)
            .execute(&mut *tx)
            .await
            .map_err(self.db_err("record run events"))?;
        tx.commit()
            .await
            .map_err(self.db_err("record run events"))?;
        Ok(())
    }
}

/// What a job's retry clears: what its earlier attempt kept (each statement binds the run
/// and the job).
const RETRY_CLEARS: [&str; 4] = [
    "DELETE FROM artifacts WHERE run = ? AND job = ?",
    "DELETE FROM reports WHERE run = ? AND job = ?",
    "DELETE FROM failed_tests WHERE run = ? AND job = ?",
    "DELETE FROM warnings WHERE run = ? AND job = ?",
];

/// The job an event is about, if any.
fn job_of(event: &RunEvent) -> Option<&str> {
    match event {
        RunEvent::JobStarted { job, .. }
        | RunEvent::JobWaiting { job, .. }
        | RunEvent::StepStarted { job, .. }
        | RunEvent::Lines { job, .. }
        | RunEvent::LinesSkipped { job, .. }
        | RunEvent::StepFinished { job, .. }
        | RunEvent::JobFinished { job, .. }
        | RunEvent::ArtifactStored { job, .. }
        | RunEvent::ReportParsed { job, .. }
        | RunEvent::Warning { job, .. }
        | RunEvent::Produced { job, .. }
        | RunEvent::Released { job, .. } => Some(job),
        RunEvent::RunStarted { .. } | RunEvent::RunFinished { .. } => None,
    }
}

/// Applies one event; returns the rows the deciding statement touched (`None` for an
/// ignored event), so the caller can tell an unknown job or run from a recorded one.
async fn apply(
    conn: &mut SqliteConnection,
    run: i64,
    event: &RunEvent,
) -> Result<Option<u64>, sqlx::Error> {
    let rows = match event {
        RunEvent::RunStarted { .. } | RunEvent::Lines { .. } | RunEvent::LinesSkipped { .. } => {
            return Ok(None);
        }
        RunEvent::Released { record, .. } => {
            crate::releases::insert(conn, record).await?;
            return Ok(None);
        }
        RunEvent::JobStarted { job, attempt, at } => {
            let rows = sqlx::query(
                "UPDATE jobs SET status = 'running', attempt = ?, started_at = ?, \
                 finished_at = NULL, exit_code = NULL, reason = NULL \
                 WHERE run = ? AND id = ?",
            )
            .bind(i64::from(*attempt))
            .bind(at)
            .bind(run)
            .bind(job)
            .execute(&mut *conn)
            .await?
            .rows_affected();
            // A retry starts over: the steps shown are those of the latest attempt, and so
            // are its reports, artifacts and warnings (an attempt that failed may have kept
            // some). On the first attempt the steps are still as `start_run` wrote them.
            if *attempt > 1 {
                sqlx::query(
                    "UPDATE steps SET status = 'pending', exit_code = NULL, started_at = NULL, \
                 finished_at = NULL, log = NULL WHERE run = ? AND job = ?",
                )
                .bind(run)
                .bind(job)
                .execute(&mut *conn)
                .await?;
                for table in RETRY_CLEARS {
                    sqlx::query(table)
                        .bind(run)
                        .bind(job)
                        .execute(&mut *conn)
                        .await?;
                }
            }
            rows
        }
        RunEvent::JobWaiting { job, reason, .. } => {
            sqlx::query("UPDATE jobs SET status = 'waiting', reason = ? WHERE run = ? AND id = ?")
                .bind(reason)
                .bind(run)
                .bind(job)
                .execute(&mut *conn)
                .await?
                .rows_affected()
        }
        RunEvent::StepStarted {
            job,
            step,
            name,
            at,
        } => sqlx::query(
            "INSERT INTO steps (run, job, idx, name, status, started_at, log) \
             VALUES (?, ?, ?, ?, 'running', ?, ?) \
             ON CONFLICT (run, job, idx) DO UPDATE SET name = excluded.name, \
             status = 'running', started_at = excluded.started_at, finished_at = NULL, \
             exit_code = NULL, log = excluded.log",
        )
        .bind(run)
        .bind(job)
        .bind(to_sql(*step as u64))
        .bind(name)
        .bind(at)
        // Where its output goes while it runs: `wharf logs` of a running or interrupted
        // run reads it from there.
        .bind(crate::logs::relative_log_path(
            crate::store::from_sql(run),
            job,
            *step,
        ))
        .execute(&mut *conn)
        .await?
        .rows_affected(),
        RunEvent::StepFinished {
            job,
            step,
            status,
            exit_code,
            log,
            at,
        } => sqlx::query(
            "INSERT INTO steps (run, job, idx, name, status, exit_code, log, finished_at) \
             VALUES (?, ?, ?, '', ?, ?, ?, ?) \
             ON CONFLICT (run, job, idx) DO UPDATE SET status = excluded.status, \
             exit_code = excluded.exit_code, log = excluded.log, \
             finished_at = excluded.finished_at",
        )
        .bind(run)
        .bind(job)
        .bind(to_sql(*step as u64))
        .bind(status.as_str())
        .bind(exit_code)
        .bind(log)
        .bind(at)
        .execute(&mut *conn)
        .await?
        .rows_affected(),
        RunEvent::JobFinished {
            job,
            status,
            exit_code,
            reason,
            outputs,
            at,
        } => {
            // A map of strings always encodes; the fallback only keeps this infallible.
            let outputs = serde_json::to_string(outputs).unwrap_or_else(|_| "{}".into());
            sqlx::query(
                "UPDATE jobs SET status = ?, exit_code = ?, reason = ?, finished_at = ?, \
                 outputs = ? WHERE run = ? AND id = ?",
            )
            .bind(status.as_str())
            .bind(exit_code)
            .bind(reason)
            .bind(at)
            .bind(outputs)
            .bind(run)
            .bind(job)
            .execute(&mut *conn)
            .await?
            .rows_affected()
        }
        RunEvent::ArtifactStored {
            job,
            path,
            sha256,
            size,
            mode,
        } => sqlx::query(
            "INSERT INTO artifacts (run, job, path, sha256, size, mode) \
             VALUES (?, ?, ?, ?, ?, ?) \
             ON CONFLICT (run, job, path) DO UPDATE SET sha256 = excluded.sha256, \
             size = excluded.size, mode = excluded.mode",
        )
        .bind(run)
        .bind(job)
        .bind(path)
        .bind(sha256)
        .bind(to_sql(*size))
        .bind(i64::from(*mode))
        .execute(&mut *conn)
        .await?
        .rows_affected(),
        RunEvent::ReportParsed {
            job,
            path,
            tests,
            failures,
            errors,
            skipped,
            failed_tests,
        } => {
            let rows = sqlx::query(
                "INSERT INTO reports (run, job, path, tests, failures, errors, skipped) \
                 VALUES (?, ?, ?, ?, ?, ?, ?) \
                 ON CONFLICT (run, job, path) DO UPDATE SET tests = excluded.tests, \
                 failures = excluded.failures, errors = excluded.errors, \
                 skipped = excluded.skipped",
            )
            .bind(run)
            .bind(job)
            .bind(path)
            .bind(to_sql(*tests))
            .bind(to_sql(*failures))
            .bind(to_sql(*errors))
            .bind(to_sql(*skipped))
            .execute(&mut *conn)
            .await?
            .rows_affected();
            sqlx::query("DELETE FROM failed_tests WHERE run = ? AND job = ? AND path = ?")
                .bind(run)
                .bind(job)
                .bind(path)
                .execute(&mut *conn)
                .await?;
            for (i, t) in failed_tests.iter().enumerate() {
                sqlx::query(
                    "INSERT INTO failed_tests (run, job, path, idx, name, classname, kind, \
                     message) VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
                )
                .bind(run)
                .bind(job)
                .bind(path)
                .bind(to_sql(i as u64))
                .bind(&t.name)
                .bind(&t.classname)
                .bind(t.kind.as_str())
                .bind(&t.message)
                .execute(&mut *conn)
                .await?;
            }
            rows
        }
        RunEvent::Warning { job, step, message } => {
            sqlx::query("INSERT INTO warnings (run, job, step, message) VALUES (?, ?, ?, ?)")
                .bind(run)
                .bind(job)
                .bind(step.map(|s| to_sql(s as u64)))
                .bind(message)
                .execute(&mut *conn)
                .await?
                .rows_affected()
        }
        RunEvent::Produced { job, step, item } => sqlx::query(
            "INSERT INTO produced (run, job, step, kind, name, digest, size) \
             VALUES (?, ?, ?, ?, ?, ?, ?) \
             ON CONFLICT (run, job, kind, name) DO UPDATE SET step = excluded.step, \
             digest = excluded.digest, size = excluded.size",
        )
        .bind(run)
        .bind(job)
        .bind(to_sql(*step as u64))
        .bind(item.kind.as_str())
        .bind(&item.name)
        .bind(&item.digest)
        .bind(item.size.map(to_sql))
        .execute(&mut *conn)
        .await?
        .rows_affected(),
        RunEvent::RunFinished { status, at } => {
            sqlx::query("UPDATE runs SET status = ?, finished_at = ? WHERE number = ?")
                .bind(status.as_str())
                .bind(at)
                .bind(run)
                .execute(&mut *conn)
                .await?
                .rows_affected()
        }
    };
    Ok(Some(rows))
}
