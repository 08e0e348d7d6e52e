//! Deployments and the environment leases that keep them one at a time.
//!
//! A deployment row is written before each phase starts (`phase`), so a deployer that
//! dies leaves enough behind for the next one to reconcile it. The environment's lease is
//! a row with its holder (host, pid and the pid's start time) and an expiry the holder
//! renews: a second deployer gets the holder's details, and a holder that is gone (its
//! process dead on this host, or its lease lapsed elsewhere) is taken over — never a
//! lock directory someone has to delete by hand.

use sqlx::Row;
use wharf_model::{DeployMode, DeployStatus, DeploymentRecord, Millis, Produced};

use crate::error::{Result, corrupt};
use crate::process::{Liveness, liveness, start_time};
use crate::store::Store;

/// How long an environment lease or a deployment's ownership lasts without renewal.
pub const DEPLOY_LEASE_MS: Millis = 20_000;

/// A deployment to record.
#[derive(Debug, Clone)]
pub struct NewDeployment<'a> {
    /// The environment.
    pub environment: &'a str,
    /// The release's version.
    pub release: &'a str,
    /// The release serving before, if any.
    pub previous: Option<&'a str>,
    /// Deploy, rollback or redeploy.
    pub mode: DeployMode,
    /// The strategy's name.
    pub strategy: &'a str,
    /// The release's items, by digest.
    pub digests: &'a [Produced],
    /// Who asked for it.
    pub actor: &'a str,
    /// Its first status (`queued` or `waiting`).
    pub status: DeployStatus,
    /// Why its gates are skipped (`ACTOR: REASON`), when they are.
    pub gates_override: Option<&'a str>,
    /// Now.
    pub at: Millis,
}

/// Who holds an environment's lease.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct LeaseHolder {
    /// The environment.
    pub environment: String,
    /// The deployment that holds it.
    pub deployment: i64,
    /// Who started that deployment.
    pub actor: String,
    /// The host and pid of its deployer.
    pub host: String,
    /// Its deployer's pid.
    pub pid: u32,
    /// Since when.
    pub taken_at: Millis,
    /// Until when, unless renewed.
    pub expires: Millis,
}

/// A deployment whose deployer is gone: what reconciliation gets.
#[derive(Debug, Clone)]
pub struct Orphan {
    /// The record as its deployer left it.
    pub record: DeploymentRecord,
    /// Why it counts as orphaned (`deployer pid 123 on HOST is gone`).
    pub why: String,
}

/// A lease row as its holder.
fn holder_row(
    environment: &str,
    row: &sqlx::sqlite::SqliteRow,
) -> Result<LeaseHolder, sqlx::Error> {
    Ok(LeaseHolder {
        environment: environment.to_string(),
        deployment: row.try_get("deployment")?,
        actor: row.try_get("actor")?,
        host: row.try_get("holder_host")?,
        pid: u32::try_from(row.try_get::<i64, _>("holder_pid")?).unwrap_or(0),
        taken_at: row.try_get("taken_at")?,
        expires: row.try_get("expires")?,
    })
}

/// This process, as an owner: (host, pid, start time).
fn me() -> (String, u32, Option<i64>) {
    let pid = std::process::id();
    (crate::lease::host(), pid, start_time(pid))
}

/// Whether an owner recorded as (host, pid, start) at `lease_until` is gone.
fn gone(
    host: &str,
    pid: Option<i64>,
    start: Option<i64>,
    lease_until: Option<i64>,
    now: Millis,
) -> Option<String> {
    let pid_u = pid.and_then(|p| u32::try_from(p).ok());
    if host == crate::lease::host()
        && let Some(p) = pid_u
    {
        if p == std::process::id() && start == start_time(p) {
            return None;
        }
        return match liveness(p, start) {
            Liveness::Dead => Some(format!("its deployer (pid {p} on {host}) is gone")),
            Liveness::Alive => None,
            Liveness::Unknown => lease_until
                .filter(|u| *u < now)
                .map(|_| format!("its deployer's lease on {host} lapsed")),
        };
    }
    lease_until
        .filter(|u| *u < now)
        .map(|_| format!("its deployer's lease ({host}) lapsed"))
}

/// The columns a [`DeploymentRecord`] is read from (a macro, so queries stay static).
macro_rules! columns {
    () => {
        "id, environment, release, previous, mode, strategy, digests, status, phase, reason, actor, weight, target_state, created_at, started_at, finished_at, gates_override"
    };
}

impl Store {
    /// Records a new deployment, owned by this process; returns its id.
    pub async fn create_deployment(&self, d: &NewDeployment<'_>) -> Result<i64> {
        let (host, pid, start) = me();
        let digests = serde_json::to_string(d.digests).unwrap_or_else(|_| "[]".into());
        let id = sqlx::query(
            "INSERT INTO deployments (environment, release, previous, mode, strategy, digests, status, phase, actor, \
             owner_host, owner_pid, owner_start, lease_until, created_at, gates_override) \
             VALUES (?, ?, ?, ?, ?, ?, ?, 'gates', ?, ?, ?, ?, ?, ?, ?)",
        )
        .bind(d.environment)
        .bind(d.release)
        .bind(d.previous)
        .bind(d.mode.as_str())
        .bind(d.strategy)
        .bind(digests)
        .bind(d.status.as_str())
        .bind(d.actor)
        .bind(host)
        .bind(i64::from(pid))
        .bind(start)
        .bind(d.at + DEPLOY_LEASE_MS)
        .bind(d.at)
        .bind(d.gates_override)
        .execute(&self.pool)
        .await
        .map_err(self.db_err("record a deployment"))?
        .last_insert_rowid();
        Ok(id)
    }

    /// Records where deployment `id` is. `reason` replaces the stored one when given;
    /// a final status also sets `finished_at` and clears the request.
    pub async fn set_deployment(
        &self,
        id: i64,
        status: DeployStatus,
        phase: &str,
        reason: Option<&str>,
        at: Millis,
    ) -> Result<()> {
        let fin = status.is_final().then_some(at);
        sqlx::query(
            "UPDATE deployments SET status = ?, phase = ?, reason = COALESCE(?, reason), \
             finished_at = COALESCE(?, finished_at), \
             started_at = CASE WHEN ? IN ('running') THEN COALESCE(started_at, ?) ELSE started_at END, \
             request = CASE WHEN ? THEN NULL ELSE request END, \
             lease_until = CASE WHEN ? THEN lease_until ELSE ? END \
             WHERE id = ?",
        )
        .bind(status.as_str())
        .bind(phase)
        .bind(reason)
        .bind(fin)
        .bind(status.as_str())
        .bind(at)
        .bind(status.is_final())
        .bind(status.is_final())
        .bind(at + DEPLOY_LEASE_MS)
        .bind(id)
        .execute(&self.pool)
        .await
        .map_err(self.db_err("update a deployment"))?;
        Ok(())
    }

    /// Records the share of traffic deployment `id`'s release has.
    pub async fn set_deployment_weight(&self, id: i64, weight: u8) -> Result<()> {
        sqlx::query("UPDATE deployments SET weight = ? WHERE id = ?")
            .bind(i64::from(weight))
            .bind(id)
            .execute(&self.pool)
            .await
            .map_err(self.db_err("update a deployment"))?;
        Ok(())
    }

    /// Records what the target keeps about deployment `id` (JSON).
    pub async fn set_deployment_target(&self, id: i64, state: &str) -> Result<()> {
        sqlx::query("UPDATE deployments SET target_state = ? WHERE id = ?")
            .bind(state)
            .bind(id)
            .execute(&self.pool)
            .await
            .map_err(self.db_err("update a deployment"))?;
        Ok(())
    }

    /// Takes over deployment `id` as this process's (a resume, a reconciliation).
    pub async fn own_deployment(&self, id: i64, at: Millis) -> Result<()> {
        let (host, pid, start) = me();
        sqlx::query(
            "UPDATE deployments SET owner_host = ?, owner_pid = ?, owner_start = ?, lease_until = ? WHERE id = ?",
        )
        .bind(host)
        .bind(i64::from(pid))
        .bind(start)
        .bind(at + DEPLOY_LEASE_MS)
        .bind(id)
        .execute(&self.pool)
        .await
        .map_err(self.db_err("take over a deployment"))?;
        Ok(())
    }

    /// Asks a paused deployment to `resume` or `abort`; `false` when it is not paused.
    pub async fn request_deployment(&self, id: i64, request: &str) -> Result<bool> {
        let n = sqlx::query(
            "UPDATE deployments SET request = ? WHERE id = ? AND status IN ('paused', 'running', 'waiting', 'queued')",
        )
        .bind(request)
        .bind(id)
        .execute(&self.pool)
        .await
        .map_err(self.db_err("ask a deployment"))?
        .rows_affected();
        Ok(n == 1)
    }

    /// What someone asked of deployment `id` (`resume`, `abort`), taken (cleared).
    pub async fn take_deployment_request(&self, id: i64) -> Result<Option<String>> {
        let err = self.db_err("read a deployment's request");
        let asked: Option<Option<String>> =
            sqlx::query_scalar("SELECT request FROM deployments WHERE id = ?")
                .bind(id)
                .fetch_optional(&self.pool)
                .await
                .map_err(&err)?;
        let Some(asked) = asked.flatten() else {
            return Ok(None);
        };
        // Taken once: cleared only if nobody changed it meanwhile.
        let n = sqlx::query("UPDATE deployments SET request = NULL WHERE id = ? AND request = ?")
            .bind(id)
            .bind(&asked)
            .execute(&self.pool)
            .await
            .map_err(&err)?
            .rows_affected();
        Ok((n == 1).then_some(asked))
    }

    /// One deployment.
    pub async fn get_deployment(&self, id: i64) -> Result<Option<DeploymentRecord>> {
        let row = sqlx::query(concat!(
            "SELECT ",
            columns!(),
            " FROM deployments WHERE id = ?"
        ))
        .bind(id)
        .fetch_optional(&self.pool)
        .await
        .map_err(self.db_err("read a deployment"))?;
        row.map(|r| self.deployment_row(&r)).transpose()
    }

    /// Deployments, newest first: of one environment, or of all.
    pub async fn list_deployments(
        &self,
        environment: Option<&str>,
        limit: u32,
    ) -> Result<Vec<DeploymentRecord>> {
        let rows = sqlx::query(concat!(
            "SELECT ",
            columns!(),
            " FROM deployments WHERE (?1 IS NULL OR environment = ?1) ORDER BY id DESC LIMIT ?2"
        ))
        .bind(environment)
        .bind(i64::from(limit))
        .fetch_all(&self.pool)
        .await
        .map_err(self.db_err("list deployments"))?;
        rows.iter().map(|r| self.deployment_row(r)).collect()
    }

    /// The deployment whose release serves `environment` now: its latest that succeeded.
    pub async fn serving(&self, environment: &str) -> Result<Option<DeploymentRecord>> {
        let row = sqlx::query(concat!("SELECT ", columns!(), " FROM deployments WHERE environment = ? AND status = 'succeeded' ORDER BY id DESC LIMIT 1"))
        .bind(environment)
        .fetch_optional(&self.pool)
        .await
        .map_err(self.db_err("read an environment's release"))?;
        row.map(|r| self.deployment_row(&r)).transpose()
    }

    /// Whether `release` was ever deployed to `environment` successfully.
    pub async fn deployed_successfully(&self, environment: &str, release: &str) -> Result<bool> {
        let n: i64 = sqlx::query_scalar(
            "SELECT COUNT(*) FROM deployments WHERE environment = ? AND release = ? AND status = 'succeeded'",
        )
        .bind(environment)
        .bind(release)
        .fetch_one(&self.pool)
        .await
        .map_err(self.db_err("read deployments"))?;
        Ok(n > 0)
    }

    /// Renews deployment `id`'s ownership and, when it holds one, its environment's
    /// lease.
    pub async fn renew_deployment(&self, id: i64, at: Millis) -> Result<()> {
        let err = self.db_err("renew a deployment's lease");
        sqlx::query("UPDATE deployments SET lease_until = ? WHERE id = ?")
            .bind(at + DEPLOY_LEASE_MS)
            .bind(id)
            .execute(&self.pool)
            .await
            .map_err(&err)?;
        sqlx::query("UPDATE environment_leases SET expires = ? WHERE deployment = ?")
            .bind(at + DEPLOY_LEASE_MS)
            .bind(id)
            .execute(&self.pool)
            .await
            .map_err(&err)?;
        Ok(())
    }

    /// Takes `environment`'s lease for deployment `id`, or says who holds it. A holder
    /// whose deployer is gone is replaced (its deployment is reconciled separately).
    pub async fn take_environment(
        &self,
        environment: &str,
        id: i64,
        actor: &str,
        at: Millis,
    ) -> Result<std::result::Result<(), LeaseHolder>> {
        let err = self.db_err("take an environment's lease");
        let (host, pid, start) = me();
        for _ in 0..3 {
            let inserted = sqlx::query(
                "INSERT INTO environment_leases (environment, deployment, holder_host, holder_pid, holder_start, actor, taken_at, expires) \
                 VALUES (?, ?, ?, ?, ?, ?, ?, ?) ON CONFLICT (environment) DO NOTHING",
            )
            .bind(environment)
            .bind(id)
            .bind(&host)
            .bind(i64::from(pid))
            .bind(start)
            .bind(actor)
            .bind(at)
            .bind(at + DEPLOY_LEASE_MS)
            .execute(&self.pool)
            .await
            .map_err(&err)?
            .rows_affected();
            if inserted == 1 {
                return Ok(Ok(()));
            }
            let Some(row) = sqlx::query(
                "SELECT deployment, holder_host, holder_pid, holder_start, actor, taken_at, expires FROM environment_leases WHERE environment = ?",
            )
            .bind(environment)
            .fetch_optional(&self.pool)
            .await
            .map_err(&err)?
            else {
                continue;
            };
            let holder = holder_row(environment, &row).map_err(&err)?;
            if holder.deployment == id {
                return Ok(Ok(()));
            }
            let holder_start: Option<i64> = row.try_get("holder_start").map_err(&err)?;
            if gone(
                &holder.host,
                Some(i64::from(holder.pid)),
                holder_start,
                Some(holder.expires),
                at,
            )
            .is_none()
            {
                return Ok(Err(holder));
            }
            // The holder is gone: take the lease over, unless someone else just did.
            sqlx::query("DELETE FROM environment_leases WHERE environment = ? AND deployment = ?")
                .bind(environment)
                .bind(holder.deployment)
                .execute(&self.pool)
                .await
                .map_err(&err)?;
        }
        Err(crate::Error::Conflict(format!(
            "the lease of environment {environment} changed hands three times while it was being taken; try again"
        )))
    }

    /// Who holds `environment`'s lease, if anyone.
    pub async fn environment_holder(&self, environment: &str) -> Result<Option<LeaseHolder>> {
        let err = self.db_err("read an environment's lease");
        let Some(row) = sqlx::query(
            "SELECT deployment, holder_host, holder_pid, actor, taken_at, expires FROM environment_leases WHERE environment = ?",
        )
        .bind(environment)
        .fetch_optional(&self.pool)
        .await
        .map_err(&err)?
        else {
            return Ok(None);
        };
        Ok(Some(holder_row(environment, &row).map_err(&err)?))
    }

    /// Gives `environment`'s lease back, if deployment `id` holds it.
    pub async fn release_environment(&self, environment: &str, id: i64) -> Result<()> {
        sqlx::query("DELETE FROM environment_leases WHERE environment = ? AND deployment = ?")
            .bind(environment)
            .bind(id)
            .execute(&self.pool)
            .await
            .map_err(self.db_err("give an environment's lease back"))?;
        Ok(())
    }

    /// Deployments that are not over but whose deployer is gone.
    pub async fn orphaned_deployments(&self, at: Millis) -> Result<Vec<Orphan>> {
        let err = self.db_err("find orphaned deployments");
        let rows = sqlx::query(concat!(
            "SELECT ",
            columns!(),
            ", owner_host, owner_pid, owner_start, lease_until FROM deployments \
             WHERE status IN ('queued', 'waiting', 'running', 'paused') ORDER BY id"
        ))
        .fetch_all(&self.pool)
        .await
        .map_err(&err)?;
        let mut out = Vec::new();
        for row in &rows {
            let host: Option<String> = row.try_get("owner_host").map_err(&err)?;
            let pid: Option<i64> = row.try_get("owner_pid").map_err(&err)?;
            let start: Option<i64> = row.try_get("owner_start").map_err(&err)?;
            let until: Option<i64> = row.try_get("lease_until").map_err(&err)?;
            if let Some(why) = gone(host.as_deref().unwrap_or(""), pid, start, until, at) {
                out.push(Orphan {
                    record: self.deployment_row(row)?,
                    why,
                });
            }
        }
        Ok(out)
    }

    fn deployment_row(&self, row: &sqlx::sqlite::SqliteRow) -> Result<DeploymentRecord> {
        let err = self.db_err("read a deployment");
        let mode: String = row.try_get("mode").map_err(&err)?;
        let status: String = row.try_get("status").map_err(&err)?;
        let digests: String = row.try_get("digests").map_err(&err)?;
        let weight: i64 = row.try_get("weight").map_err(&err)?;
        let id: i64 = row.try_get("id").map_err(&err)?;
        Ok(DeploymentRecord {
            id,
            environment: row.try_get("environment").map_err(&err)?,
            release: row.try_get("release").map_err(&err)?,
            previous: row.try_get("previous").map_err(&err)?,
            mode: DeployMode::parse(&mode).ok_or_else(|| {
                corrupt(
                    &self.path,
                    format!("deployment {id} has an unknown mode `{mode}`"),
                )
            })?,
            strategy: row.try_get("strategy").map_err(&err)?,
            digests: serde_json::from_str(&digests)
                .map_err(|e| corrupt(&self.path, format!("deployment {id}'s digests: {e}")))?,
            status: DeployStatus::parse(&status).ok_or_else(|| {
                corrupt(
                    &self.path,
                    format!("deployment {id} has an unknown status `{status}`"),
                )
            })?,
            phase: row.try_get("phase").map_err(&err)?,
            reason: row.try_get("reason").map_err(&err)?,
            actor: row.try_get("actor").map_err(&err)?,
            weight: u8::try_from(weight).unwrap_or(0),
            created_at: row.try_get("created_at").map_err(&err)?,
            started_at: row.try_get("started_at").map_err(&err)?,
            finished_at: row.try_get("finished_at").map_err(&err)?,
            target_state: row.try_get("target_state").map_err(&err)?,
            gates_override: row.try_get("gates_override").map_err(&err)?,
        })
    }
}
