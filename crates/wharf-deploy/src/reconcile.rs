//! Deployments whose deployer died: each is reconciled, by the next deployer to start, to
//! `interrupted` (traffic never moved: the new release's container goes), `rolled_back`
//! (traffic had moved but the release was not verified: it goes back to the previous
//! one), or resumed to `succeeded` (it had passed everything and was only tidying up,
//! or had all the traffic with no analysis left to run).
//! None stays "running", and its environment's lease is free again.

use wharf_model::{DeployMode, DeployStatus, DeploymentRecord, Strategy};

use crate::deployer::Deployer;
use crate::error::Result;
use crate::target::{Driver, Step};

/// What a reconciliation did to one deployment.
#[derive(Debug, Clone, serde::Serialize)]
pub struct Reconciled {
    /// The deployment.
    pub id: i64,
    /// Its environment.
    pub environment: String,
    /// What it is now.
    pub status: DeployStatus,
    /// Why.
    pub reason: String,
}

impl Deployer {
    /// Reconciles every deployment whose deployer is gone.
    pub async fn reconcile(&self) -> Result<Vec<Reconciled>> {
        let mut out = Vec::new();
        for orphan in self.store.orphaned_deployments((self.now)()).await? {
            let rec = orphan.record;
            self.store.own_deployment(rec.id, (self.now)()).await?;
            let (status, reason) = match self.settle(&rec, &orphan.why).await {
                Ok(x) => x,
                Err(e) => (
                    DeployStatus::Interrupted,
                    format!("{}; reconciling it failed: {e}", orphan.why),
                ),
            };
            self.store
                .set_deployment(rec.id, status, "done", Some(&reason), (self.now)())
                .await?;
            self.store
                .release_environment(&rec.environment, rec.id)
                .await?;
            (self.say)(&format!(
                "deployment {}: reconciled to {}: {reason}",
                rec.id,
                status.as_str()
            ));
            out.push(Reconciled {
                id: rec.id,
                environment: rec.environment.clone(),
                status,
                reason,
            });
        }
        Ok(out)
    }

    async fn settle(&self, rec: &DeploymentRecord, why: &str) -> Result<(DeployStatus, String)> {
        let before = matches!(rec.status, DeployStatus::Queued | DeployStatus::Waiting)
            || matches!(rec.phase.as_str(), "gates" | "queued" | "pull" | "start");
        let Ok((_, cfg)) = self.environment(&rec.environment) else {
            return Ok((
                DeployStatus::Interrupted,
                format!("{why}; its environment is no longer declared"),
            ));
        };
        if before && rec.target_state.is_none() {
            return Ok((
                DeployStatus::Interrupted,
                format!("{why} during {}; traffic never moved", rec.phase),
            ));
        }
        let Some(release) = self.store.get_release(&rec.release).await? else {
            return Ok((
                DeployStatus::Interrupted,
                format!("{why}; release {} is no longer recorded", rec.release),
            ));
        };
        let previous = match &rec.previous {
            Some(p) => self.store.get_release(p).await?,
            None => None,
        };
        let mut driver = Driver::new(
            self,
            cfg,
            &rec.environment,
            rec.id,
            &release,
            previous.as_ref(),
            rec.mode,
        )
        .await?;
        driver.restore(rec.target_state.as_deref());
        let moved = driver.has_traffic(rec.weight).await?;
        if !moved {
            driver.discard().await;
            // The proxy may have finished a health gate the dead deployer had asked for
            // just before the container went: then traffic goes back at once.
            if driver.has_traffic(0).await? && driver.has_previous() {
                driver.step(Step::Back).await?;
            }
            return Ok((
                DeployStatus::Interrupted,
                format!("{why} during {}; traffic never moved", rec.phase),
            ));
        }
        if rec.phase == "finish" {
            driver.finish().await?;
            return Ok((
                DeployStatus::Succeeded,
                format!("resumed: {why} after the release passed its checks"),
            ));
        }
        // All the traffic and nothing left to check: the switch came after the health
        // gate, and no analysis follows it (a rollback, a direct deployment without
        // analysis, or a blue/green or canary promotion, which only comes once the
        // analysis passed).
        let checked_before_switch = rec.mode == DeployMode::Rollback
            || cfg.analysis.is_empty()
            || !matches!(cfg.strategy, Strategy::Direct);
        if checked_before_switch && driver.has_all_traffic(rec.weight).await? {
            driver.finish().await?;
            self.store.set_deployment_weight(rec.id, 100).await?;
            return Ok((
                DeployStatus::Succeeded,
                format!(
                    "resumed: {why} during {} after the switch; nothing was left to check",
                    rec.phase
                ),
            ));
        }
        if !driver.has_previous() {
            return Ok((
                DeployStatus::Interrupted,
                format!(
                    "{why} during {}; it serves, unverified, with no earlier release to go back to",
                    rec.phase
                ),
            ));
        }
        driver.step(Step::Back).await?;
        driver.discard().await;
        self.store.set_deployment_weight(rec.id, 0).await?;
        Ok((
            DeployStatus::RolledBack,
            format!(
                "{why} during {}; the release was not verified, so traffic went back to {}",
                rec.phase,
                rec.previous.as_deref().unwrap_or("the previous release")
            ),
        ))
    }
}
