//! Reading the history back: `wharf runs`, `wharf show`, the server's API.
//!
//! Rows become wharf-model records here, and only here; a value the model cannot parse
//! (an unknown status, broken JSON) is reported as a damaged database, never a panic.

use std::collections::{BTreeMap, HashMap};

use sqlx::Row;
use sqlx::sqlite::SqliteRow;
use wharf_model::{
    ArtifactRecord, Event, FailedTest, FailureKind, JobRecord, JobStatus, Produced, ProducedKind,
    ReportRecord, RunRecord, RunStatus, RunSummary, StepRecord, StepStatus, WarningRecord,
};

use crate::error::{Result, corrupt};
use crate::store::{Store, from_sql, to_sql};

/// Which runs [`Store::find_runs`] lists.
#[derive(Debug, Clone, Default)]
pub struct RunFilter {
    /// Only this pipeline's.
    pub pipeline: Option<String>,
    /// Only runs with this status.
    pub status: Option<RunStatus>,
    /// Only runs for this branch or tag.
    pub reference: Option<String>,
    /// Only runs started by this kind of event.
    pub event: Option<wharf_model::EventKind>,
    /// Only runs numbered below this (paging).
    pub before: Option<u64>,
    /// At most this many.
    pub limit: u32,
}

impl Store {
    /// The latest `limit` runs, newest first.
    pub async fn list_runs(&self, limit: u32) -> Result<Vec<RunSummary>> {
        let err = self.db_err("list runs");
        let rows = sqlx::query(
            "SELECT number, pipeline, event, status, started_at, finished_at \
             FROM runs ORDER BY number DESC LIMIT ?",
        )
        .bind(i64::from(limit))
        .fetch_all(&self.pool)
        .await
        .map_err(&err)?;
        rows.iter().map(|row| self.summary(row)).collect()
    }

    /// Runs matching `filter`, newest first: a page of at most `filter.limit`, older than
    /// `filter.before` when given (the last number of the previous page).
    pub async fn find_runs(&self, filter: &RunFilter) -> Result<Vec<RunSummary>> {
        let err = self.db_err("list runs");
        let rows = sqlx::query(
            "SELECT number, pipeline, event, status, started_at, finished_at FROM runs \
             WHERE (?1 IS NULL OR pipeline = ?1) AND (?2 IS NULL OR status = ?2) \
             AND (?3 IS NULL OR json_extract(event, '$.branch') = ?3 OR json_extract(event, '$.tag') = ?3) \
             AND (?4 IS NULL OR json_extract(event, '$.kind') = ?4) \
             AND (?5 IS NULL OR number < ?5) \
             ORDER BY number DESC LIMIT ?6",
        )
        .bind(filter.pipeline.as_deref())
        .bind(filter.status.map(|s| s.as_str()))
        .bind(filter.reference.as_deref())
        .bind(filter.event.map(|e| e.as_str()))
        .bind(filter.before.map(to_sql))
        .bind(i64::from(filter.limit))
        .fetch_all(&self.pool)
        .await
        .map_err(&err)?;
        rows.iter().map(|row| self.summary(row)).collect()
    }

    /// The number of the newest run, if there is one.
    pub async fn latest_run(&self) -> Result<Option<u64>> {
        let latest: Option<i64> = sqlx::query_scalar("SELECT MAX(number) FROM runs")
            .fetch_one(&self.pool)
            .await
            .map_err(self.db_err("find the latest run"))?;
        Ok(latest.map(from_sql))
    }

    /// Everything recorded about run `number`: its jobs in plan order, each with the
    /// steps of its last attempt, its outputs, artifacts and reports (with their failed
    /// tests), and the run's warnings.
    pub async fn get_run(&self, number: u64) -> Result<Option<RunRecord>> {
        let err = self.db_err("read a run");
        let run = to_sql(number);
        // One read transaction: a snapshot, even while the run is being recorded.
        let mut tx = self.pool.begin().await.map_err(&err)?;
        let Some(row) = sqlx::query(
            "SELECT number, pipeline, event, status, started_at, finished_at, file \
             FROM runs WHERE number = ?",
        )
        .bind(run)
        .fetch_optional(&mut *tx)
        .await
        .map_err(&err)?
        else {
            return Ok(None);
        };
        let summary = self.summary(&row)?;
        let file: String = row.try_get("file").map_err(&err)?;

        let mut steps: HashMap<String, Vec<StepRecord>> = HashMap::new();
        for row in sqlx::query(
            "SELECT job, idx, name, status, exit_code, started_at, finished_at, log \
             FROM steps WHERE run = ? ORDER BY job, idx",
        )
        .bind(run)
        .fetch_all(&mut *tx)
        .await
        .map_err(&err)?
        {
            let job: String = row.try_get("job").map_err(&err)?;
            steps.entry(job).or_default().push(self.step(&row)?);
        }

        let mut artifacts: HashMap<String, Vec<ArtifactRecord>> = HashMap::new();
        for row in sqlx::query(
            "SELECT job, path, sha256, size, mode FROM artifacts WHERE run = ? ORDER BY seq",
        )
        .bind(run)
        .fetch_all(&mut *tx)
        .await
        .map_err(&err)?
        {
            let artifact = ArtifactRecord {
                job: row.try_get("job").map_err(&err)?,
                path: row.try_get("path").map_err(&err)?,
                sha256: row.try_get("sha256").map_err(&err)?,
                size: from_sql(row.try_get("size").map_err(&err)?),
                mode: row.try_get("mode").map_err(&err)?,
            };
            artifacts
                .entry(artifact.job.clone())
                .or_default()
                .push(artifact);
        }

        let mut failed: HashMap<(String, String), Vec<FailedTest>> = HashMap::new();
        for row in sqlx::query(
            "SELECT job, path, name, classname, kind, message FROM failed_tests \
             WHERE run = ? ORDER BY job, path, idx",
        )
        .bind(run)
        .fetch_all(&mut *tx)
        .await
        .map_err(&err)?
        {
            let job: String = row.try_get("job").map_err(&err)?;
            let path: String = row.try_get("path").map_err(&err)?;
            let kind: String = row.try_get("kind").map_err(&err)?;
            let test = FailedTest {
                name: row.try_get("name").map_err(&err)?,
                classname: row.try_get("classname").map_err(&err)?,
                kind: FailureKind::parse(&kind).ok_or_else(|| {
                    corrupt(
                        &self.path,
                        format!("a failed test of job `{job}` has an unknown kind `{kind}`"),
                    )
                })?,
                message: row.try_get("message").map_err(&err)?,
            };
            failed.entry((job, path)).or_default().push(test);
        }

        let mut reports: HashMap<String, Vec<ReportRecord>> = HashMap::new();
        for row in sqlx::query(
            "SELECT job, path, tests, failures, errors, skipped \
             FROM reports WHERE run = ? ORDER BY seq",
        )
        .bind(run)
        .fetch_all(&mut *tx)
        .await
        .map_err(&err)?
        {
            let count = |column: &str| row.try_get(column).map(from_sql).map_err(&err);
            let job: String = row.try_get("job").map_err(&err)?;
            let path: String = row.try_get("path").map_err(&err)?;
            let report = ReportRecord {
                failed_tests: failed
                    .remove(&(job.clone(), path.clone()))
                    .unwrap_or_default(),
                job,
                path,
                tests: count("tests")?,
                failures: count("failures")?,
                errors: count("errors")?,
                skipped: count("skipped")?,
            };
            reports.entry(report.job.clone()).or_default().push(report);
        }

        let mut produced: HashMap<String, Vec<Produced>> = HashMap::new();
        for row in sqlx::query(
            "SELECT job, kind, name, digest, size FROM produced WHERE run = ? ORDER BY seq",
        )
        .bind(run)
        .fetch_all(&mut *tx)
        .await
        .map_err(&err)?
        {
            let job: String = row.try_get("job").map_err(&err)?;
            let kind: String = row.try_get("kind").map_err(&err)?;
            let size: Option<i64> = row.try_get("size").map_err(&err)?;
            let item = Produced {
                kind: ProducedKind::parse(&kind).ok_or_else(|| {
                    corrupt(
                        &self.path,
                        format!("job `{job}` produced an unknown kind `{kind}`"),
                    )
                })?,
                name: row.try_get("name").map_err(&err)?,
                digest: row.try_get("digest").map_err(&err)?,
                size: size.map(from_sql),
            };
            produced.entry(job).or_default().push(item);
        }

        let mut warnings = Vec::new();
        for row in sqlx::query("SELECT job, step, message FROM warnings WHERE run = ? ORDER BY seq")
            .bind(run)
            .fetch_all(&mut *tx)
            .await
            .map_err(&err)?
        {
            let step: Option<i64> = row.try_get("step").map_err(&err)?;
            warnings.push(WarningRecord {
                job: row.try_get("job").map_err(&err)?,
                step: step.map(|s| usize::try_from(from_sql(s)).unwrap_or(usize::MAX)),
                message: row.try_get("message").map_err(&err)?,
            });
        }

        let mut jobs = Vec::new();
        for row in sqlx::query(
            "SELECT id, needs, status, attempt, exit_code, reason, started_at, finished_at, \
             outputs FROM jobs WHERE run = ? ORDER BY position",
        )
        .bind(run)
        .fetch_all(&mut *tx)
        .await
        .map_err(&err)?
        {
            let id: String = row.try_get("id").map_err(&err)?;
            let status: String = row.try_get("status").map_err(&err)?;
            let needs: String = row.try_get("needs").map_err(&err)?;
            let outputs: String = row.try_get("outputs").map_err(&err)?;
            let unreadable = |column: &str, e: serde_json::Error| {
                corrupt(
                    &self.path,
                    format!("job `{id}` has unreadable {column}: {e}"),
                )
            };
            jobs.push(JobRecord {
                needs: serde_json::from_str(&needs).map_err(|e| unreadable("needs", e))?,
                status: JobStatus::parse(&status).ok_or_else(|| {
                    corrupt(
                        &self.path,
                        format!("job `{id}` has unknown status `{status}`"),
                    )
                })?,
                exit_code: row.try_get("exit_code").map_err(&err)?,
                reason: row.try_get("reason").map_err(&err)?,
                attempt: row.try_get("attempt").map_err(&err)?,
                started_at: row.try_get("started_at").map_err(&err)?,
                finished_at: row.try_get("finished_at").map_err(&err)?,
                outputs: serde_json::from_str::<BTreeMap<String, String>>(&outputs)
                    .map_err(|e| unreadable("outputs", e))?,
                steps: steps.remove(&id).unwrap_or_default(),
                artifacts: artifacts.remove(&id).unwrap_or_default(),
                reports: reports.remove(&id).unwrap_or_default(),
                produced: produced.remove(&id).unwrap_or_default(),
                id,
            });
        }
        tx.commit().await.map_err(&err)?;
        Ok(Some(RunRecord {
            summary,
            file,
            jobs,
            warnings,
        }))
    }

    fn summary(&self, row: &SqliteRow) -> Result<RunSummary> {
        let err = self.db_err("read a run");
        let number = from_sql(row.try_get("number").map_err(&err)?);
        let status: String = row.try_get("status").map_err(&err)?;
        let event: String = row.try_get("event").map_err(&err)?;
        Ok(RunSummary {
            number,
            pipeline: row.try_get("pipeline").map_err(&err)?,
            event: serde_json::from_str::<Event>(&event).map_err(|e| {
                corrupt(
                    &self.path,
                    format!("run {number} has an unreadable event: {e}"),
                )
            })?,
            status: RunStatus::parse(&status).ok_or_else(|| {
                corrupt(
                    &self.path,
                    format!("run {number} has unknown status `{status}`"),
                )
            })?,
            started_at: row.try_get("started_at").map_err(&err)?,
            finished_at: row.try_get("finished_at").map_err(&err)?,
        })
    }

    fn step(&self, row: &SqliteRow) -> Result<StepRecord> {
        let err = self.db_err("read a run");
        let status: String = row.try_get("status").map_err(&err)?;
        Ok(StepRecord {
            index: usize::try_from(from_sql(row.try_get("idx").map_err(&err)?))
                .unwrap_or(usize::MAX),
            name: row.try_get("name").map_err(&err)?,
            status: StepStatus::parse(&status).ok_or_else(|| {
                corrupt(&self.path, format!("a step has unknown status `{status}`"))
            })?,
            exit_code: row.try_get("exit_code").map_err(&err)?,
            started_at: row.try_get("started_at").map_err(&err)?,
            finished_at: row.try_get("finished_at").map_err(&err)?,
            log: row.try_get("log").map_err(&err)?,
        })
    }
}
