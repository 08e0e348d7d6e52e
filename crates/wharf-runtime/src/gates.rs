//! The gates before a deployment job, as `wharf run` and the server both enforce them:
//! the environment's allowed refs, its freeze windows, its approvals (a gate in the store
//! that `wharf approve` and the server's API count), its wait timer, the freeze windows
//! again; then the job's secrets, decrypted only now. Each refusal is the job's failure
//! reason, located at the environment's declaration.

use std::collections::HashMap;
use std::path::PathBuf;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use tokio::sync::watch;
use wharf_engine::{BoxFuture, Gate, GateNote, GateOutcome};
use wharf_model::{Plan, RunEvent};
use wharf_pipeline::gates;
use wharf_store::ApprovalStore;

/// How often a job waiting for approvals looks at its gate.
const APPROVAL_POLL: Duration = Duration::from_millis(250);

/// A job's secrets: name and value.
type Secrets = Vec<(String, wharf_secrets::secret::SecretString)>;

/// Gates for one plan's deployment jobs.
pub(crate) struct EnvironmentGates<S> {
    pub plan: Arc<Plan>,
    /// Where approval gates are kept.
    pub store: S,
    /// The run's number.
    pub run: u64,
    /// The run's events (a job waiting for approvals says so as a warning of the run).
    pub events: tokio::sync::mpsc::UnboundedSender<RunEvent>,
    /// Each deployment job's stored secret records, not yet decrypted.
    pub deferred: Mutex<HashMap<usize, Vec<(String, wharf_store::SecretRecord)>>>,
    /// The key file that opens them (the server's), or the user's when `None`.
    pub key_file: Option<PathBuf>,
    /// What a job that passed its gates got (a retried attempt passes again at once).
    pub passed: Arc<Mutex<HashMap<usize, Secrets>>>,
    /// The clock, in milliseconds since the epoch (tests choose it).
    pub now: fn() -> i64,
    /// Told of every decision (the server's audit log).
    pub log: Option<crate::GateLog>,
}

impl<S: ApprovalStore> Gate for EnvironmentGates<S> {
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
        let (store, run, events) = (self.store.clone(), self.run, self.events.clone());
        let log = self.log.clone();
        let decided = Box::pin(async move {
            if let Some(secrets) = done {
                return GateOutcome::Pass(secrets);
            }
            let job = &plan.jobs[index];
            // Each decision is in the audit log before it is acted on.
            let tell = |outcome: &'static str, detail: String| -> BoxFuture<()> {
                match (&log, &job.environment) {
                    (Some(l), Some(env)) => (l.0)(crate::GateDecision {
                        run,
                        job: job.id.clone(),
                        environment: env.clone(),
                        outcome,
                        detail,
                    }),
                    _ => Box::pin(std::future::ready(())),
                }
            };
            let Some(rules) = job
                .environment
                .as_ref()
                .and_then(|e| plan.environments.iter().find(|r| &r.name == e))
            else {
                return GateOutcome::Pass(Vec::new());
            };
            let refuse = |why: String| async {
                tell("refused", why.clone()).await;
                GateOutcome::Refused(why)
            };
            if let Some(why) = gates::ref_refused(rules, &plan.event) {
                return refuse(why).await;
            }
            if let Some(f) = gates::frozen(rules, now()) {
                return refuse(f.reason(rules)).await;
            }
            if rules.approvals > 0 {
                let starter = plan.event.actor.as_deref();
                let id = match store
                    .open_gate(&wharf_store::NewGate {
                        run,
                        job: &job.id,
                        environment: &rules.name,
                        required: rules.approvals,
                        starter,
                        self_approval: rules.self_approval,
                        at: now(),
                    })
                    .await
                {
                    Ok(id) => id,
                    Err(e) => return GateOutcome::Refused(format!("approval gate: {e}")),
                };
                let who = if rules.self_approval {
                    String::new()
                } else {
                    match starter {
                        Some(s) => format!("; {s}, who started the run, may not approve it"),
                        None => String::new(),
                    }
                };
                let message = format!(
                    "waiting for {} approval{} to deploy to `{}` ({}): `wharf approve {id}`{who}",
                    rules.approvals,
                    if rules.approvals == 1 { "" } else { "s" },
                    rules.name,
                    rules.at,
                );
                note(&message);
                tell(
                    "waiting",
                    format!("approval gate {id}: {} needed", rules.approvals),
                )
                .await;
                let _ = events.send(RunEvent::JobWaiting {
                    job: job.id.clone(),
                    reason: message.clone(),
                    at: now(),
                });
                let _ = events.send(RunEvent::Warning {
                    job: job.id.clone(),
                    step: None,
                    message,
                });
                loop {
                    match store.get_gate(id).await {
                        Ok(Some(g)) if g.state == "approved" => {
                            let names: Vec<&str> =
                                g.approvals.iter().map(|(n, _)| n.as_str()).collect();
                            note(&format!(
                                "approved to deploy to `{}` by {}",
                                rules.name,
                                names.join(", ")
                            ));
                            tell(
                                "approved",
                                format!("approval gate {id}: by {}", names.join(", ")),
                            )
                            .await;
                            break;
                        }
                        Ok(Some(g)) if g.state != "waiting" => {
                            return refuse(format!(
                                "the approval gate {id} of `{}` is {}",
                                rules.name, g.state
                            ))
                            .await;
                        }
                        Ok(_) => {}
                        Err(e) => return refuse(format!("approval gate: {e}")).await,
                    }
                    let cancelled = tokio::select! {
                        _ = tokio::time::sleep(APPROVAL_POLL) => false,
                        _ = cancel.wait_for(|c| *c) => true,
                    };
                    if cancelled {
                        let _ = store.close_gate(id, "cancelled", now()).await;
                        tell(
                            "cancelled",
                            format!("approval gate {id}: the run was cancelled"),
                        )
                        .await;
                        return GateOutcome::Cancelled;
                    }
                }
                // A window may have begun while the job waited.
                if let Some(f) = gates::frozen(rules, now()) {
                    return refuse(f.reason(rules)).await;
                }
            }
            if let Some(ms) = rules.wait_ms.filter(|&ms| ms > 0) {
                let message = format!(
                    "waiting {} before deploying to `{}` (its wait timer, {})",
                    gates::human_ms(ms),
                    rules.name,
                    rules.at
                );
                note(&message);
                let _ = events.send(RunEvent::JobWaiting {
                    job: job.id.clone(),
                    reason: message,
                    at: now(),
                });
                let cancelled = tokio::select! {
                    _ = tokio::time::sleep(Duration::from_millis(ms)) => false,
                    _ = cancel.wait_for(|c| *c) => true,
                };
                if cancelled {
                    tell("cancelled", "during the wait timer".to_string()).await;
                    return GateOutcome::Cancelled;
                }
                // A window may have begun during the wait.
                if let Some(f) = gates::frozen(rules, now()) {
                    return refuse(f.reason(rules)).await;
                }
            }
            if records.is_empty() {
                tell("passed", String::new()).await;
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
                Ok(Ok(secrets)) => {
                    tell("passed", format!("{} secret(s) opened", secrets.len())).await;
                    GateOutcome::Pass(secrets)
                }
                Ok(Err(e)) => refuse(format!("the environment's secrets: {e}")).await,
                Err(e) => refuse(format!("the environment's secrets: {e}")).await,
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
