//! `/api/v1`: JSON over HTTP, bearer tokens with roles, described by the OpenAPI document
//! the server serves at `/api/v1/openapi.json` (a test checks it against the routes).
//!
//! One file per route group; every handler states the role it needs first thing, and
//! every error becomes its status and JSON body in one place ([`crate::Error`]).

pub(crate) mod actions;
mod approvals;
pub(crate) use approvals::approve_gate;
mod audit;
mod deployments;
mod files;
mod projects;
mod runs;
mod secrets;
mod statuses;
mod tokens;

use std::sync::Arc;

use axum::Router;
use axum::http::HeaderMap;
use axum::routing::{delete, get, post, put};

use crate::app::Shared;
use crate::error::{Error, Result};
use crate::tokens::Role;

/// The OpenAPI document.
pub(crate) const OPENAPI: &str = include_str!("../../openapi.json");

/// The API's routes, relative to `/api/v1`.
pub(crate) fn routes() -> Router<Arc<Shared>> {
    Router::new()
        .route("/health", get(health))
        .route("/openapi.json", get(openapi))
        .route("/projects", get(projects::list).post(projects::add))
        .route("/projects/{project}", delete(projects::remove))
        .route("/projects/{project}/events", get(projects::events))
        .route("/projects/{project}/trigger", post(runs::trigger))
        .route("/projects/{project}/runs", get(runs::list))
        .route("/projects/{project}/runs/{run}", get(runs::get))
        .route("/projects/{project}/runs/{run}/jobs", get(runs::jobs))
        .route("/projects/{project}/runs/{run}/jobs/{job}", get(runs::job))
        .route("/projects/{project}/runs/{run}/cancel", post(runs::cancel))
        .route("/projects/{project}/runs/{run}/rerun", post(runs::rerun))
        .route(
            "/projects/{project}/runs/{run}/jobs/{job}/steps/{step}/log",
            get(files::log),
        )
        .route(
            "/projects/{project}/runs/{run}/jobs/{job}/stream",
            get(crate::ui::stream),
        )
        .route(
            "/projects/{project}/runs/{run}/artifacts",
            get(files::artifacts),
        )
        .route(
            "/projects/{project}/runs/{run}/artifacts/{*path}",
            get(files::artifact),
        )
        .route("/projects/{project}/releases", get(runs::releases))
        .route("/projects/{project}/releases/{version}", get(runs::release))
        .route("/projects/{project}/approvals", get(approvals::list))
        .route(
            "/projects/{project}/approvals/{id}",
            post(approvals::approve),
        )
        .route(
            "/projects/{project}/environments",
            get(deployments::environments),
        )
        .route(
            "/projects/{project}/environments/{name}/rollback",
            post(deployments::rollback),
        )
        .route(
            "/projects/{project}/deployments",
            get(deployments::list).post(deployments::create),
        )
        .route(
            "/projects/{project}/deployments/{id}",
            get(deployments::get),
        )
        .route(
            "/projects/{project}/deployments/{id}/resume",
            post(deployments::resume),
        )
        .route(
            "/projects/{project}/deployments/{id}/abort",
            post(deployments::abort),
        )
        .route("/projects/{project}/secrets", get(secrets::list))
        .route(
            "/projects/{project}/secrets/{name}",
            put(secrets::set).delete(secrets::remove),
        )
        .route(
            "/projects/{project}/statuses",
            put(statuses::set).delete(statuses::remove),
        )
        .route("/tokens", get(tokens::list).post(tokens::create))
        .route("/tokens/{id}", delete(tokens::revoke))
        .route("/audit", get(audit::list))
        .route("/audit/verify", get(audit::verify))
}

async fn health() -> axum::Json<serde_json::Value> {
    axum::Json(serde_json::json!({ "status": "ok" }))
}

async fn openapi() -> ([(axum::http::HeaderName, &'static str); 1], &'static str) {
    (
        [(axum::http::header::CONTENT_TYPE, "application/json")],
        OPENAPI,
    )
}

/// Checks the request's bearer token allows `needed`; its role.
pub(crate) async fn allow(s: &Shared, headers: &HeaderMap, needed: Role) -> Result<Role> {
    Ok(caller(s, headers, needed).await?.role)
}

/// Checks the request's bearer token allows `needed`, and says who is calling from `peer`
/// (for the audit log).
pub(crate) async fn actor(
    s: &Shared,
    headers: &HeaderMap,
    needed: Role,
    peer: std::net::SocketAddr,
) -> Result<crate::audit::Actor> {
    let c = caller(s, headers, needed).await?;
    Ok(crate::audit::Actor::token(c.id, &c.name, c.role, peer))
}

/// Checks the request's bearer token allows `needed`; who it is.
pub(crate) async fn caller(
    s: &Shared,
    headers: &HeaderMap,
    needed: Role,
) -> Result<crate::tokens::Caller> {
    let value = headers
        .get(axum::http::header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .ok_or_else(|| Error::Unauthorized("missing `Authorization: Bearer TOKEN`".into()))?;
    let token = value.strip_prefix("Bearer ").ok_or_else(|| {
        Error::Unauthorized("the Authorization header is not `Bearer TOKEN`".into())
    })?;
    let caller =
        s.db.identify(token.trim())
            .await?
            .ok_or_else(|| Error::Unauthorized("unknown or revoked token".into()))?;
    let role = caller.role;
    if role < needed {
        return Err(Error::Forbidden(format!(
            "this needs a token with role {} or above; yours is {}",
            needed.as_str(),
            role.as_str()
        )));
    }
    Ok(caller)
}

/// The run store of a registered project.
pub(crate) async fn project_store(s: &Shared, name: &str) -> Result<wharf_store::Store> {
    if s.db.project(name).await?.is_none() {
        return Err(Error::NotFound(format!("no project named `{name}`")));
    }
    s.store(name).await
}
