//! `/projects/{project}/approvals`: the approval gates of deployment jobs, and approving
//! one as the token's name (operators; recorded in the audit log). The rules are the
//! store's: each approver counts once, whoever started the run may not approve it unless
//! the environment allows it.

use std::net::SocketAddr;
use std::sync::Arc;

use axum::Json;
use axum::extract::{ConnectInfo, Path, Query, State};
use axum::http::{HeaderMap, StatusCode};
use wharf_store::ApprovalGate;

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
    use wharf_runtime::approvals::{self, Refused};
    let done = approvals::approve(store, id, approver, crate::now())
        .await
        .map_err(|e| Error::invalid(e.to_string(), None))?;
    let a = match done {
        Ok(a) => a,
        Err(Refused::SelfApproval(m)) => {
            return Err(Error::Forbidden(format!(
                "{m}; {}",
                approvals::SELF_APPROVAL_HINT
            )));
        }
        Err(Refused::Closed(m)) => return Err(Error::Conflict(m)),
        Err(Refused::NotFound(m)) => return Err(Error::NotFound(m)),
    };
    if a.counted {
        let g = a.gate.as_ref();
        let change = Change::new(
            Action::DeployApprove,
            format!("{project}#{id}"),
            serde_json::json!({
                "gate": id,
                "run": g.map(|g| g.run),
                "job": g.map(|g| g.job.clone()),
                "environment": g.map(|g| g.environment.clone()),
                "approvals": a.approvals,
                "required": a.required,
            }),
        );
        crate::audit::record(&s.db, &by, change).await?;
    }
    Ok(serde_json::json!({
        "gate": id,
        "approvals": a.approvals,
        "required": a.required,
        "approved": a.approvals >= a.required,
        "outcome": a.said,
    }))
}
