//! Approving a deployment job's gate, and what that did in words: one place for
//! `wharf approve` (locally) and the server's API and dashboard, each of which only maps a
//! refusal to its exit code or HTTP status.

use wharf_model::Millis;
use wharf_store::{Approval, ApprovalGate, Store};

use crate::error::{Error, Result};

/// An approval that counted (or had already).
#[derive(Debug, Clone)]
pub struct Approved {
    /// The gate, as it was before.
    pub gate: Option<ApprovalGate>,
    /// Its approvals now.
    pub approvals: u32,
    /// Approvals it needs.
    pub required: u32,
    /// False when this approver had already approved (each counts once).
    pub counted: bool,
    /// What happened, in a sentence.
    pub said: String,
}

/// Why an approval was refused, with the sentence that says so.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Refused {
    /// The approver started the run, and the environment does not allow that.
    SelfApproval(String),
    /// The gate is not waiting any more.
    Closed(String),
    /// No such gate.
    NotFound(String),
}

/// Approves gate `id` of `store` as `approver`.
pub async fn approve(
    store: &Store,
    id: i64,
    approver: &str,
    at: Millis,
) -> Result<std::result::Result<Approved, Refused>> {
    let gate = store
        .get_gate(id)
        .await
        .map_err(Error::store("reading an approval gate"))?;
    let outcome = store
        .approve(id, approver, at)
        .await
        .map_err(Error::store("approving"))?;
    // Run 0 holds the gates of `wharf deploy`s (job `deployment N`).
    let deployment = gate.as_ref().is_some_and(|g| g.run == 0);
    let what = gate.as_ref().map_or(String::new(), |g| {
        if deployment {
            format!(" ({} to `{}`)", g.job, g.environment)
        } else {
            format!(" (run #{}, job `{}` to `{}`)", g.run, g.job, g.environment)
        }
    });
    let (started, goes_on) = if deployment {
        ("asked for this deployment", "the deployment goes on now")
    } else {
        ("started this run", "the job deploys now")
    };
    let (approvals, required, counted) = match outcome {
        Approval::Counted {
            approvals,
            required,
        } => (approvals, required, true),
        Approval::AlreadyCounted {
            approvals,
            required,
        } => (approvals, required, false),
        Approval::SelfApproval => {
            return Ok(Err(Refused::SelfApproval(format!(
                "{approver} {started} and may not approve it: gate {id}{what}"
            ))));
        }
        Approval::Closed(state) => {
            return Ok(Err(Refused::Closed(format!(
                "gate {id}{what} is not waiting: it is {state}"
            ))));
        }
        Approval::NotFound => {
            return Ok(Err(Refused::NotFound(format!("no approval gate {id}"))));
        }
    };
    let said = if !counted {
        format!(
            "{approver} had already approved gate {id}{what}: each approver counts once ({approvals} of {required})"
        )
    } else if approvals >= required {
        format!("approved gate {id}{what}: {approvals} of {required} approvals; {goes_on}")
    } else {
        format!(
            "approval counted for gate {id}{what}: {approvals} of {required}; it waits for {} more",
            required - approvals
        )
    };
    Ok(Ok(Approved {
        gate,
        approvals,
        required,
        counted,
        said,
    }))
}

/// What a refused approver should do instead.
pub const SELF_APPROVAL_HINT: &str = "someone else approves; or set `self-approval: true` under the environment's `approval:` to allow it";
