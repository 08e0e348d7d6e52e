//! The dashboard: server-rendered HTML (templates and assets compiled into the binary, no
//! build step), usable with JavaScript off except for the live log. Everything shown that
//! a user or a forge controls (commit messages, branch and job names, log lines) is
//! escaped: templates escape by default, and the log and the job graph are escaped where
//! they are made ([`ansi`], [`dag`]).
//!
//! Sign-in exchanges an API token for a session cookie ([`session`]); every form carries
//! the session's CSRF token, and every POST also checks `Origin` when the browser sends it.

mod ansi;
mod dag;
mod environments;
mod pages;
mod releases;
pub(crate) mod session;

use std::sync::Arc;

use axum::Router;
use axum::extract::DefaultBodyLimit;
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use minijinja::Environment;

use crate::app::Shared;
use crate::error::{Error, Result};
use crate::tokens::Role;

pub(crate) use pages::stream;

/// The templates, parsed once.
pub(crate) struct Pages {
    env: Environment<'static>,
}

/// The templates, by name.
const TEMPLATES: &[(&str, &str)] = &[
    ("base.html", include_str!("../../templates/base.html")),
    ("login.html", include_str!("../../templates/login.html")),
    ("error.html", include_str!("../../templates/error.html")),
    (
        "projects.html",
        include_str!("../../templates/projects.html"),
    ),
    ("runs.html", include_str!("../../templates/runs.html")),
    ("run.html", include_str!("../../templates/run.html")),
    ("job.html", include_str!("../../templates/job.html")),
    ("trigger.html", include_str!("../../templates/trigger.html")),
    ("audit.html", include_str!("../../templates/audit.html")),
    (
        "environments.html",
        include_str!("../../templates/environments.html"),
    ),
    (
        "releases.html",
        include_str!("../../templates/releases.html"),
    ),
    ("release.html", include_str!("../../templates/release.html")),
];

/// The static files, by name: (bytes, content type).
const ASSETS: &[(&str, &str, &str)] = &[
    (
        "wharf.css",
        include_str!("../../assets/wharf.css"),
        "text/css; charset=utf-8",
    ),
    (
        "live.js",
        include_str!("../../assets/live.js"),
        "text/javascript; charset=utf-8",
    ),
    (
        "run-live.js",
        include_str!("../../assets/run-live.js"),
        "text/javascript; charset=utf-8",
    ),
];

impl Pages {
    /// Parses the templates (a broken one is a bug: the tests render every page).
    pub(crate) fn new() -> Result<Pages> {
        let mut env = Environment::new();
        for (name, text) in TEMPLATES {
            env.add_template(name, text)
                .map_err(|e| Error::invalid(format!("template {name}: {e}"), None))?;
        }
        env.add_filter("when", pages::when);
        env.add_filter("took", pages::took);
        env.add_filter("short", |s: String| s.chars().take(10).collect::<String>());
        env.add_filter("urlpart", pages::urlpart);
        Ok(Pages { env })
    }

    /// Renders `name` with `ctx`.
    pub(crate) fn render(&self, name: &str, ctx: minijinja::Value) -> Result<String> {
        self.env
            .get_template(name)
            .and_then(|t| t.render(ctx))
            .map_err(|e| Error::invalid(format!("rendering {name}: {e:#}"), None))
    }
}

/// The dashboard's routes (mounted at `/`).
pub(crate) fn routes() -> Router<Arc<Shared>> {
    Router::new()
        .route("/", get(pages::projects))
        .route("/login", get(pages::login_form).post(pages::login))
        .route("/logout", post(pages::logout))
        .route("/assets/{file}", get(asset))
        .route("/audit", get(pages::audit))
        .route("/projects/{project}", get(pages::runs))
        .route("/projects/{project}/runs/{run}", get(pages::run))
        .route("/projects/{project}/runs/{run}/jobs/{job}", get(pages::job))
        .route("/projects/{project}/runs/{run}/cancel", post(pages::cancel))
        .route(
            "/projects/{project}/runs/{run}/approvals/{id}",
            post(pages::approve),
        )
        .route("/projects/{project}/runs/{run}/rerun", post(pages::rerun))
        .route(
            "/projects/{project}/trigger",
            get(pages::trigger_form).post(pages::trigger),
        )
        .route("/projects/{project}/releases", get(releases::releases))
        .route(
            "/projects/{project}/releases/{version}",
            get(releases::release),
        )
        .route(
            "/projects/{project}/environments",
            get(environments::environments),
        )
        .route(
            "/projects/{project}/environments/{name}/deploy",
            post(environments::promote),
        )
        .route(
            "/projects/{project}/environments/{name}/rollback",
            post(environments::rollback),
        )
        .route(
            "/projects/{project}/deployments/{id}/resume",
            post(environments::resume),
        )
        .route(
            "/projects/{project}/deployments/{id}/abort",
            post(environments::abort),
        )
        .route(
            "/projects/{project}/deployments/{id}/approvals/{gate}",
            post(environments::approve),
        )
        // Forms are small; a token, a few inputs.
        .layer(DefaultBodyLimit::max(64 * 1024))
}

async fn asset(axum::extract::Path(file): axum::extract::Path<String>) -> Response {
    match ASSETS.iter().find(|(name, _, _)| *name == file) {
        Some((_, body, kind)) => (
            [
                (header::CONTENT_TYPE, HeaderValue::from_static(kind)),
                (
                    header::CACHE_CONTROL,
                    HeaderValue::from_static("public, max-age=300"),
                ),
            ],
            *body,
        )
            .into_response(),
        None => (StatusCode::NOT_FOUND, "no such file").into_response(),
    }
}

/// A page, with the headers every page gets.
fn html(status: StatusCode, body: String) -> Response {
    (
        status,
        [
            (
                header::CONTENT_TYPE,
                HeaderValue::from_static("text/html; charset=utf-8"),
            ),
            (
                header::CONTENT_SECURITY_POLICY,
                HeaderValue::from_static(
                    "default-src 'none'; style-src 'self'; script-src 'self'; img-src 'self' data:; connect-src 'self'; form-action 'self'; frame-ancestors 'none'; base-uri 'none'",
                ),
            ),
            (
                header::X_CONTENT_TYPE_OPTIONS,
                HeaderValue::from_static("nosniff"),
            ),
            (header::REFERRER_POLICY, HeaderValue::from_static("same-origin")),
            (header::CACHE_CONTROL, HeaderValue::from_static("no-store")),
        ],
        body,
    )
        .into_response()
}

/// An error as a page: its status, what went wrong, and a way back.
fn error_page(s: &Shared, e: &Error, user: Option<&session::Session>) -> Response {
    let status = e.status();
    let message = if status.is_server_error() && !matches!(e, Error::Busy(_)) {
        eprintln!("wharf serve: dashboard: {e}");
        "internal error; see the server's log".to_string()
    } else {
        e.to_string()
    };
    let hint = match e {
        Error::Invalid { hint, .. } | Error::Conflicting { hint, .. } => hint.clone(),
        _ => None,
    };
    let ctx = minijinja::context! {
        title => status.canonical_reason().unwrap_or("error"),
        status => status.as_u16(),
        message => message.clone(),
        hint => hint,
        user => user.map(user_ctx),
    };
    match s.pages.render("error.html", ctx) {
        Ok(body) => html(status, body),
        Err(_) => (status, message).into_response(),
    }
}

fn user_ctx(u: &session::Session) -> minijinja::Value {
    minijinja::context! {
        name => u.name.clone(),
        role => u.role.as_str(),
        csrf => u.csrf.clone(),
        operator => u.role >= Role::Operator,
        admin => u.role >= Role::Admin,
    }
}

/// Checks a form post: a session of at least `needed`, its CSRF token, and the `Origin`
/// (when the browser sends one) being this server.
async fn check_post(
    s: &Shared,
    headers: &HeaderMap,
    csrf: &str,
    needed: Role,
) -> std::result::Result<session::Session, Response> {
    let user = match session::current(s, headers).await {
        Ok(Ok(u)) => u,
        Ok(Err(_)) => {
            return Err(error_page(
                s,
                &Error::Unauthorized("your session expired; sign in again".into()),
                None,
            ));
        }
        Err(e) => return Err(error_page(s, &e, None)),
    };
    if !same_origin(headers) || !session::csrf_ok(&user, csrf) {
        return Err(error_page(
            s,
            &Error::Forbidden(
                "this form was not sent from this dashboard (its CSRF token or origin does not match); reload the page and try again".into(),
            ),
            Some(&user),
        ));
    }
    if user.role < needed {
        return Err(error_page(
            s,
            &Error::Forbidden(format!(
                "this needs role {} or above; you are signed in as {} ({})",
                needed.as_str(),
                user.name,
                user.role.as_str()
            )),
            Some(&user),
        ));
    }
    Ok(user)
}

/// Whether the request's `Origin` (if any) names the host it was sent to.
fn same_origin(headers: &HeaderMap) -> bool {
    let Some(origin) = headers.get(header::ORIGIN).and_then(|v| v.to_str().ok()) else {
        return true;
    };
    let Some(host) = headers.get(header::HOST).and_then(|v| v.to_str().ok()) else {
        return false;
    };
    origin
        .split_once("://")
        .is_some_and(|(_, rest)| rest.trim_end_matches('/') == host)
}
