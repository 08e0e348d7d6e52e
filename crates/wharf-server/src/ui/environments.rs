//! The Environments page of a project: each environment with its target, rules, the
//! release running there and who holds it, its deployment history, and for operators the
//! buttons `wharf deploy`, `rollback`, `approve` and `deploy resume|abort` are (each a
//! form with the session's CSRF token, done by the same code as the API, and audited
//! there).

use std::sync::Arc;

use axum::Form;
use axum::extract::{ConnectInfo, Path, State};
use axum::http::{HeaderMap, Uri};
use axum::response::{IntoResponse, Redirect, Response};
use minijinja::{Value, context};
use wharf_model::{DeployStatus, DeploymentRecord, ProducedKind};
use wharf_store::ApprovalGate;

use super::pages::{page, urlpart, user, when};
use super::{check_post, error_page};
use crate::api::actions::Who;
use crate::app::Shared;
use crate::deploys::{self, Ask, Want};
use crate::error::Error;
use crate::tokens::Role;

/// Deployments shown per environment.
const HISTORY: u32 = 25;

/// `sha256:0123456789ab` of the deployment's image (else its first item), and the whole
/// digest.
fn digest(d: &DeploymentRecord) -> (String, String) {
    d.digests
        .iter()
        .find(|p| p.kind == ProducedKind::PushedImage)
        .or_else(|| d.digests.first())
        .map(|p| {
            let hex = p.digest.trim_start_matches("sha256:");
            (
                format!("sha256:{}", &hex[..hex.len().min(12)]),
                p.digest.clone(),
            )
        })
        .unwrap_or_default()
}

fn deployment_ctx(d: &DeploymentRecord, gates: &[ApprovalGate]) -> Value {
    let job = format!("deployment {}", d.id);
    let gate = gates
        .iter()
        .find(|g| g.run == 0 && g.job == job && g.state == "waiting")
        .map(|g| {
            context! {
                id => g.id,
                required => g.required,
                approvals => g.approvals.iter().map(|(n, _)| n.clone()).collect::<Vec<_>>(),
                starter => g.starter.clone(),
            }
        });
    let (short, full) = digest(d);
    let over = d.status.is_final();
    context! {
        id => d.id,
        release => d.release.clone(),
        previous => d.previous.clone(),
        mode => d.mode.as_str(),
        strategy => d.strategy.clone(),
        status => d.status.as_str(),
        phase => d.phase.clone(),
        weight => d.weight,
        reason => d.reason.clone(),
        actor => d.actor.clone(),
        when => when(Some(d.created_at)),
        digest => short,
        digest_full => full,
        over => over,
        gate => gate,
        can_resume => d.status == DeployStatus::Paused,
        can_abort => !over,
    }
}

async fn body(s: &Shared, project: &str) -> crate::error::Result<Value> {
    let store = crate::api::project_store(s, project).await?;
    let states = deploys::environments(s, project).await?;
    let gates = store.list_gates(true).await?;
    let mut environments = Vec::new();
    for e in &states {
        let history: Vec<Value> = store
            .list_deployments(Some(&e.name), HISTORY)
            .await?
            .iter()
            .map(|d| deployment_ctx(d, &gates))
            .collect();
        environments.push(context! {
            name => e.name.clone(),
            at => e.at.clone(),
            target => e.target_text(),
            deployable => e.target.is_some(),
            strategy => e.strategy.clone(),
            rules => e.rules(),
            release => e.release.clone(),
            deployment => e.deployment,
            since => e.since.map(|t| when(Some(t))),
            lease => e.lease.as_ref().map(|l| context! {
                deployment => l.deployment,
                actor => l.actor.clone(),
                since => when(Some(l.taken_at)),
            }),
            history => history,
        });
    }
    let releases: Vec<String> = store
        .list_releases()
        .await?
        .into_iter()
        .map(|r| r.version)
        .collect();
    Ok(context! {
        title => format!("{project}: environments"),
        project => project,
        environments => environments,
        releases => releases,
    })
}

/// `GET /projects/{project}/environments`.
pub(crate) async fn environments(
    State(s): State<Arc<Shared>>,
    headers: HeaderMap,
    uri: Uri,
    Path(project): Path<String>,
) -> Response {
    let u = match user(&s, &headers, &uri).await {
        Ok(u) => u,
        Err(r) => return r,
    };
    match body(&s, &project).await {
        Ok(ctx) => page(&s, &u, "environments.html", ctx),
        Err(e) => error_page(&s, &e, Some(&u)),
    }
}

#[derive(serde::Deserialize)]
pub(crate) struct CsrfForm {
    csrf: String,
}

#[derive(serde::Deserialize)]
pub(crate) struct PromoteForm {
    csrf: String,
    release: String,
}

/// What the page's buttons ask for.
enum Button {
    Promote {
        environment: String,
        release: String,
    },
    Rollback {
        environment: String,
    },
    Ask(i64, Ask),
    Approve(i64, i64),
}

/// A button of the page: an operator's session, its CSRF token and this origin, then the
/// same action as the API's; back to the page, or the error's page.
async fn press(
    s: &Arc<Shared>,
    peer: std::net::SocketAddr,
    headers: &HeaderMap,
    project: String,
    csrf: &str,
    button: Button,
) -> Response {
    let u = match check_post(s, headers, csrf, Role::Operator).await {
        Ok(u) => u,
        Err(r) => return r,
    };
    let who = Who::session(&u, headers, peer);
    let done: crate::error::Result<()> = match button {
        Button::Promote {
            environment,
            release,
        } => {
            let want = Want {
                release: Some(release),
                environment,
                rollback: false,
                queue: false,
                override_gates: None,
            };
            deploys::start(s, &who, &project, want).await.map(|_| ())
        }
        Button::Rollback { environment } => {
            let want = Want {
                release: None,
                environment,
                rollback: true,
                queue: false,
                override_gates: None,
            };
            deploys::start(s, &who, &project, want).await.map(|_| ())
        }
        Button::Ask(id, what) => deploys::ask(s, &who, &project, id, what).await.map(|_| ()),
        Button::Approve(id, gate) => approve_deployment(s, &who, &project, id, gate).await,
    };
    match done {
        Ok(()) => {
            Redirect::to(&format!("/projects/{}/environments", urlpart(project))).into_response()
        }
        Err(e) => error_page(s, &e, Some(&u)),
    }
}

/// Approves gate `gate`, which must be deployment `id`'s, as `who`.
async fn approve_deployment(
    s: &Shared,
    who: &Who,
    project: &str,
    id: i64,
    gate: i64,
) -> crate::error::Result<()> {
    let store = crate::api::project_store(s, project).await?;
    let job = format!("deployment {id}");
    match store.get_gate(gate).await? {
        Some(g) if g.run == 0 && g.job == job => {}
        _ => {
            return Err(Error::NotFound(format!(
                "deployment {id} has no approval gate {gate}"
            )));
        }
    }
    crate::api::approve_gate(s, &store, project, gate, &who.name, who.audited()).await?;
    Ok(())
}

/// Promote: deploys the chosen release to the environment.
pub(crate) async fn promote(
    State(s): State<Arc<Shared>>,
    ConnectInfo(peer): ConnectInfo<std::net::SocketAddr>,
    headers: HeaderMap,
    Path((project, environment)): Path<(String, String)>,
    Form(f): Form<PromoteForm>,
) -> Response {
    let b = Button::Promote {
        environment,
        release: f.release,
    };
    press(&s, peer, &headers, project, &f.csrf, b).await
}

/// Rollback: back to the environment's previous good release.
pub(crate) async fn rollback(
    State(s): State<Arc<Shared>>,
    ConnectInfo(peer): ConnectInfo<std::net::SocketAddr>,
    headers: HeaderMap,
    Path((project, environment)): Path<(String, String)>,
    Form(f): Form<CsrfForm>,
) -> Response {
    let b = Button::Rollback { environment };
    press(&s, peer, &headers, project, &f.csrf, b).await
}

/// Resume, on a paused deployment.
pub(crate) async fn resume(
    State(s): State<Arc<Shared>>,
    ConnectInfo(peer): ConnectInfo<std::net::SocketAddr>,
    headers: HeaderMap,
    Path((project, id)): Path<(String, i64)>,
    Form(f): Form<CsrfForm>,
) -> Response {
    let b = Button::Ask(id, Ask::Resume);
    press(&s, peer, &headers, project, &f.csrf, b).await
}

/// Abort, on a deployment that has not ended.
pub(crate) async fn abort(
    State(s): State<Arc<Shared>>,
    ConnectInfo(peer): ConnectInfo<std::net::SocketAddr>,
    headers: HeaderMap,
    Path((project, id)): Path<(String, i64)>,
    Form(f): Form<CsrfForm>,
) -> Response {
    let b = Button::Ask(id, Ask::Abort);
    press(&s, peer, &headers, project, &f.csrf, b).await
}

/// Approve, on a deployment waiting for approvals: as the signed-in operator's token name.
pub(crate) async fn approve(
    State(s): State<Arc<Shared>>,
    ConnectInfo(peer): ConnectInfo<std::net::SocketAddr>,
    headers: HeaderMap,
    Path((project, id, gate)): Path<(String, i64, i64)>,
    Form(f): Form<CsrfForm>,
) -> Response {
    let b = Button::Approve(id, gate);
    press(&s, peer, &headers, project, &f.csrf, b).await
}
