//! The gates before a deployment job, as `wharf run` and the server both enforce them:
//! the environment's allowed refs, its freeze windows (checked again after the wait), its
//! wait timer; then the job's secrets, decrypted only now. Each refusal is the job's
//! failure reason, located at the environment's declaration.

use std::collections::HashMap;
use std::path::PathBuf;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use tokio::sync::watch;
use wharf_engine::{BoxFuture, Gate, GateNote, GateOutcome};
use wharf_model::Plan;
use wharf_pipeline::gates;

/// A job's secrets: name and value.
type Secrets = Vec<(String, wharf_secrets::secret::SecretString)>;

/// Gates for one plan's deployment jobs.
pub(crate) struct EnvironmentGates {
    pub plan: Arc<Plan>,
    /// Each deployment job's stored secret records, not yet decrypted.
    pub deferred: Mutex<HashMap<usize, Vec<(String, wharf_store::SecretRecord)>>>,
    /// The key file that opens them (the server's), or the user's when `None`.
    pub key_file: Option<PathBuf>,
    /// What a job that passed its gates got (a retried attempt passes again at once).
    pub passed: Arc<Mutex<HashMap<usize, Secrets>>>,
    /// The clock, in milliseconds since the epoch (tests choose it).
    pub now: fn() -> i64,
}

impl Gate for EnvironmentGates {
    fn pass(
        &self,
        index: usize,
        note: GateNote,
        mut cancel: watch::Receiver<bool>,
    ) -> BoxFuture<GateOutcome> {
        let plan = self.plan.clone();
        let done = self
            .passed
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .get(&index)
            .cloned();
        let records = self
            .deferred
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .get(&index)
            .cloned()
            .unwrap_or_default();
        let key_file = self.key_file.clone();
        let now = self.now;
        let decided = Box::pin(async move {
            if let Some(secrets) = done {
                return GateOutcome::Pass(secrets);
            }
            let job = &plan.jobs[index];
            let Some(rules) = job
                .environment
                .as_ref()
                .and_then(|e| plan.environments.iter().find(|r| &r.name == e))
            else {
                return GateOutcome::Pass(Vec::new());
            };
            if let Some(why) = gates::ref_refused(rules, &plan.event) {
                return GateOutcome::Refused(why);
            }
            if let Some(f) = gates::frozen(rules, now()) {
                return GateOutcome::Refused(f.reason(rules));
            }
            if let Some(ms) = rules.wait_ms.filter(|&ms| ms > 0) {
                note(&format!(
                    "waiting {} before deploying to `{}` (its wait timer, {})",
                    gates::human_ms(ms),
                    rules.name,
                    rules.at
                ));
                tokio::select! {
                    _ = tokio::time::sleep(Duration::from_millis(ms)) => {}
                    _ = cancel.wait_for(|c| *c) => return GateOutcome::Cancelled,
                }
                // A window may have begun during the wait.
                if let Some(f) = gates::frozen(rules, now()) {
                    return GateOutcome::Refused(f.reason(rules));
                }
            }
            if records.is_empty() {
                return GateOutcome::Pass(Vec::new());
            }
            let opened = tokio::task::spawn_blocking(move || {
                let key = crate::secrets::load_key(key_file.as_deref())?;
                records
                    .iter()
                    .map(|(name, rec)| Ok((name.clone(), crate::secrets::open(&key, name, rec)?)))
                    .collect::<crate::Result<Vec<_>>>()
            })
            .await;
            match opened {
                Ok(Ok(secrets)) => GateOutcome::Pass(secrets),
                Ok(Err(e)) => GateOutcome::Refused(format!("the environment's secrets: {e}")),
                Err(e) => GateOutcome::Refused(format!("the environment's secrets: {e}")),
            }
        });
        let passed = self.passed.clone();
        Box::pin(async move {
            let outcome = decided.await;
            if let GateOutcome::Pass(secrets) = &outcome {
                passed
                    .lock()
                    .unwrap_or_else(|p| p.into_inner())
                    .insert(index, secrets.clone());
            }
            outcome
        })
    }
}
