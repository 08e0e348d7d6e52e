//! Gates before a deployment: what the engine asks before a job with `environment:`
//! starts. The front end's runtime decides (protection rules, approvals) and, only once
//! the gates passed, hands over the job's secrets, decrypted then and not before.

use tokio::sync::watch;
use wharf_secrets::secret::SecretString;

use crate::executor::BoxFuture;

/// What a gate decided.
pub enum GateOutcome {
    /// Go on, with the job's declared secrets (resolved for its environment now).
    Pass(Vec<(String, SecretString)>),
    /// The job fails without running, for this reason (secrets never decrypted).
    Refused(String),
    /// The run was cancelled while the gate waited.
    Cancelled,
}

/// Says something about the gate in the job's output (a wait, an approval asked for).
pub type GateNote = Box<dyn Fn(&str) + Send + Sync>;

/// Decides whether a job may deploy.
pub trait Gate: Send + Sync + 'static {
    /// Called when job `index` of the plan (one with `environment:`) is about to start,
    /// for its first attempt; `cancel` turns true when the run is cancelled.
    fn pass(
        &self,
        index: usize,
        note: GateNote,
        cancel: watch::Receiver<bool>,
    ) -> BoxFuture<GateOutcome>;
}
