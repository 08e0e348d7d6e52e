//! `/projects/{project}/approvals`: the approval gates of deployment jobs, and approving
//! one as the token's name (operators; recorded in the audit log). The rules are the
//! store's: each approver counts once, whoever started the run may not approve it unless
//! the environment allows it.

use std::net::SocketAddr;
use std::sync::Arc;

use axum::Json;
use axum::extract::{ConnectInfo, Path, Query, State};
use axum::http::{HeaderMap, StatusCode};
use wharf_store::{Approval, ApprovalGate};

use super::{allow, caller, project_store};
use crate::app::Shared;
use crate::audit::{Action, Change};
use crate::error::{Error, Result};
use crate::tokens::Role;

#[derive(serde::Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct ListQuery {
    all: Option<bool>,
}

/// `GET …/approvals[?all=true]`: the gates waiting (or every gate), newest first.
pub(super) async fn list(
    State(s): State<Arc<Shared>>,
    headers: HeaderMap,
    Path(project): Path<String>,
    Query(q): Query<ListQuery>,
) -> Result<Json<Vec<ApprovalGate>>> {
    allow(&s, &headers, Role::Viewer).await?;
    let store = project_store(&s, &project).await?;
    Ok(Json(store.list_gates(!q.all.unwrap_or(false)).await?))
}

/// `POST …/approvals/{id}`: approves gate `id` as the token's name.
pub(super) async fn approve(
    State(s): State<Arc<Shared>>,
    ConnectInfo(peer): ConnectInfo<SocketAddr>,
    headers: HeaderMap,
    Path((project, id)): Path<(String, i64)>,
) -> Result<(StatusCode, Json<serde_json::Value>)> {
    let c = caller(&s, &headers, Role::Operator).await?;
    let store = project_store(&s, &project).await?;
    let answer = approve_gate(
        &s,
        &store,
        &project,
        id,
        &c.name,
        crate::audit::Actor::token(c.id, &c.name, c.role, peer),
    )
    .await?;
    Ok((StatusCode::OK, Json(answer)))
}

/// Approves gate `id` of `project` as `approver`, recording it in the audit log; what
/// happened, or the refusal as an error.
pub(crate) async fn approve_gate(
    s: &Shared,
    store: &wharf_store::Store,
    project: &str,
    id: i64,
    approver: &str,
    by: crate::audit::Actor,
) -> Result<serde_json::Value> {
    let gate = store.get_gate(id).await?;
    let what = gate.as_ref().map_or(String::new(), |g| {
        format!(" (run #{}, job `{}` to `{}`)", g.run, g.job, g.environment)
    });
    let outcome = store.approve(id, approver, crate::now()).await?;
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
            return Err(Error::Forbidden(format!(
                "{approver} started this run and may not approve it: gate {id}{what}; someone else approves, or the environment sets `self-approval: true`"
            )));
        }
        Approval::Closed(state) => {
            return Err(Error::Conflict(format!(
                "gate {id}{what} is not waiting: it is {state}"
            )));
        }
        Approval::NotFound => {
            return Err(Error::NotFound(format!("no approval gate {id}")));
        }
    };
    if counted {
        let change = Change::new(
            Action::DeployApprove,
            format!("{project}#{id}"),
            serde_json::json!({
                "gate": id,
                "run": gate.as_ref().map(|g| g.run),
                "job": gate.as_ref().map(|g| g.job.clone()),
                "environment": gate.as_ref().map(|g| g.environment.clone()),
                "approvals": approvals,
                "required": required,
            }),
        );
        crate::audit::record(&s.db, &by, change).await?;
    }
    let outcome = if !counted {
        format!(
            "{approver} had already approved gate {id}{what}: each approver counts once ({approvals} of {required})"
        )
    } else if approvals >= required {
        format!(
            "approved gate {id}{what}: {approvals} of {required} approvals; the job deploys now"
        )
    } else {
        format!(
            "approval counted for gate {id}{what}: {approvals} of {required}; it waits for {} more",
            required - approvals
        )
    };
    Ok(serde_json::json!({
        "gate": id,
        "approvals": approvals,
        "required": required,
        "approved": approvals >= required,
        "outcome": outcome,
    }))
}
