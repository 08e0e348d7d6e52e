//! The dashboard's pages and form actions.

use std::sync::Arc;

use axum::Form;
use axum::extract::{Path, Query, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode, Uri, header};
use axum::response::{IntoResponse, Redirect, Response};
use minijinja::{Value, context};
use wharf_model::{EventKind, JobRecord, RunRecord, RunStatus, StepStatus};

use super::session::{self, Missing, Session};
use super::{ansi, check_post, dag, error_page, html, user_ctx};
use crate::app::Shared;
use crate::error::{Error, Result};
use crate::live::{self, Follow, Position};
use crate::paths;
use crate::tokens::Role;

/// Runs per page of the runs list.
const PAGE: u32 = 25;

/// The most of a step's log a job page shows (its end); the whole log is a link away.
const SHOWN_LOG: u64 = 2 * 1024 * 1024;

/// `Millis` as `2026-12-06 16:34:45 UTC`.
pub(super) fn when(ms: Option<i64>) -> String {
    ms.and_then(chrono::DateTime::from_timestamp_millis)
        .map(|t| t.format("%Y-%m-%d %H:%M:%S UTC").to_string())
        .unwrap_or_default()
}

/// The time between two `Millis` as `1m 05s`; empty when either is missing.
pub(super) fn took(start: Option<i64>, end: Option<i64>) -> String {
    let (Some(a), Some(b)) = (start, end) else {
        return String::new();
    };
    let ms = (b - a).max(0);
    let s = ms / 1000;
    if s >= 3600 {
        format!("{}h {:02}m", s / 3600, (s % 3600) / 60)
    } else if s >= 60 {
        format!("{}m {:02}s", s / 60, s % 60)
    } else if s >= 10 {
        format!("{s}s")
    } else {
        format!("{}.{}s", s, (ms % 1000) / 100)
    }
}

/// One path segment, percent-encoded (job ids and artifact paths go into links).
pub(super) fn urlpart(text: String) -> String {
    crate::url_segment(&text)
}

/// The signed-in user, or the sign-in page's address to go to (back here after).
pub(super) async fn user(
    s: &Shared,
    headers: &HeaderMap,
    uri: &Uri,
) -> std::result::Result<Session, Response> {
    match session::current(s, headers).await {
        Ok(Ok(u)) => Ok(u),
        Ok(Err(why)) => {
            let next = uri
                .path_and_query()
                .map_or("/".to_string(), |p| p.as_str().to_string());
            let expired = if why == Missing::Expired {
                "&expired=1"
            } else {
                ""
            };
            Err(Redirect::to(&format!("/login?next={}{expired}", urlpart(next))).into_response())
        }
        Err(e) => Err(error_page(s, &e, None)),
    }
}

/// The 403 page when `u`'s role is below `role` (`what` needs it).
fn needs(s: &Shared, u: &Session, role: Role, what: &str) -> Option<Response> {
    (u.role < role).then(|| {
        let e = Error::Forbidden(format!(
            "{what} needs role {} or above; you are signed in as {} ({})",
            role.as_str(),
            u.name,
            u.role.as_str()
        ));
        error_page(s, &e, Some(u))
    })
}

pub(super) fn page(s: &Shared, u: &Session, name: &str, ctx: Value) -> Response {
    let ctx = context! { user => user_ctx(u), ..ctx };
    match s.pages.render(name, ctx) {
        Ok(body) => html(StatusCode::OK, body),
        Err(e) => error_page(s, &e, Some(u)),
    }
}

macro_rules! signed_in {
    ($s:expr, $headers:expr, $uri:expr) => {
        match user(&$s, &$headers, &$uri).await {
            Ok(u) => u,
            Err(r) => return r,
        }
    };
}

macro_rules! or_page {
    ($s:expr, $u:expr, $e:expr) => {
        match $e {
            Ok(v) => v,
            Err(e) => return error_page(&$s, &Error::from(e), Some(&$u)),
        }
    };
}

#[derive(serde::Deserialize)]
pub(crate) struct LoginQuery {
    next: Option<String>,
    expired: Option<String>,
}

/// Where to go after signing in: a path of this server only.
fn safe_next(next: Option<&str>) -> String {
    match next {
        Some(n) if n.starts_with('/') && !n.starts_with("//") && !n.contains('\\') => n.to_string(),
        _ => "/".to_string(),
    }
}

pub(crate) async fn login_form(
    State(s): State<Arc<Shared>>,
    Query(q): Query<LoginQuery>,
) -> Response {
    let ctx = context! {
        next => safe_next(q.next.as_deref()),
        expired => q.expired.is_some(),
    };
    match s.pages.render("login.html", ctx) {
        Ok(body) => html(StatusCode::OK, body),
        Err(e) => error_page(&s, &e, None),
    }
}

#[derive(serde::Deserialize)]
pub(crate) struct LoginForm {
    token: String,
    next: Option<String>,
}

pub(crate) async fn login(
    State(s): State<Arc<Shared>>,
    headers: HeaderMap,
    Form(f): Form<LoginForm>,
) -> Response {
    if !super::same_origin(&headers) {
        return error_page(
            &s,
            &Error::Forbidden("this sign-in was not sent from this dashboard".into()),
            None,
        );
    }
    let found = match s.db.authenticate(f.token.trim()).await {
        Ok(f) => f,
        Err(e) => return error_page(&s, &e, None),
    };
    let Some((id, _)) = found else {
        let ctx = context! {
            next => safe_next(f.next.as_deref()),
            failed => "unknown or revoked token",
        };
        return match s.pages.render("login.html", ctx) {
            Ok(body) => html(StatusCode::UNAUTHORIZED, body),
            Err(e) => error_page(&s, &e, None),
        };
    };
    let (cookie, _) = match session::create(&s, id).await {
        Ok(c) => c,
        Err(e) => return error_page(&s, &e, None),
    };
    let secure = if s.config.listen.ip().is_loopback() {
        ""
    } else {
        "; Secure"
    };
    let value = format!(
        "{}={cookie}; Path=/; HttpOnly; SameSite=Strict; Max-Age={}{secure}",
        session::COOKIE,
        s.config.session_ttl.as_secs()
    );
    let mut resp = Redirect::to(&safe_next(f.next.as_deref())).into_response();
    if let Ok(v) = HeaderValue::from_str(&value) {
        resp.headers_mut().insert(header::SET_COOKIE, v);
    }
    resp
}

#[derive(serde::Deserialize)]
pub(crate) struct CsrfForm {
    csrf: String,
}

pub(crate) async fn logout(
    State(s): State<Arc<Shared>>,
    headers: HeaderMap,
    Form(f): Form<CsrfForm>,
) -> Response {
    if let Err(r) = check_post(&s, &headers, &f.csrf, Role::Viewer).await {
        return r;
    }
    if let Some(c) = session::cookie(&headers)
        && let Err(e) = session::end(&s, &c).await
    {
        return error_page(&s, &e, None);
    }
    let mut resp = Redirect::to("/login").into_response();
    resp.headers_mut().insert(
        header::SET_COOKIE,
        HeaderValue::from_static("wharf_session=; Path=/; HttpOnly; SameSite=Strict; Max-Age=0"),
    );
    resp
}

pub(crate) async fn projects(
    State(s): State<Arc<Shared>>,
    headers: HeaderMap,
    uri: Uri,
) -> Response {
    let u = signed_in!(s, headers, uri);
    let list = or_page!(s, u, s.db.projects().await);
    let mut rows = Vec::new();
    for p in list {
        let store = or_page!(s, u, s.store(&p.name).await);
        let last = or_page!(s, u, store.list_runs(1).await).into_iter().next();
        rows.push(context! {
            name => p.name,
            forge => p.forge.as_str(),
            repo => p.repo,
            last => last.map(|r| summary_ctx(&r)),
        });
    }
    page(
        &s,
        &u,
        "projects.html",
        context! { title => "Projects", projects => rows },
    )
}

fn summary_ctx(r: &wharf_model::RunSummary) -> Value {
    let e = &r.event;
    context! {
        number => r.number,
        pipeline => r.pipeline.clone(),
        status => r.status.as_str(),
        event => e.kind.as_str(),
        reference => e.tag.clone().or_else(|| e.branch.clone()),
        sha => e.sha.clone(),
        message => e.message.clone(),
        actor => e.actor.clone(),
        started => when(Some(r.started_at)),
        took => took(Some(r.started_at), r.finished_at),
    }
}

#[derive(serde::Deserialize, Default)]
pub(crate) struct RunsQuery {
    pipeline: Option<String>,
    status: Option<String>,
    #[serde(rename = "ref")]
    reference: Option<String>,
    event: Option<String>,
    before: Option<u64>,
}

fn nonempty(v: Option<String>) -> Option<String> {
    v.filter(|t| !t.trim().is_empty())
}

pub(crate) async fn runs(
    State(s): State<Arc<Shared>>,
    headers: HeaderMap,
    uri: Uri,
    Path(project): Path<String>,
    Query(q): Query<RunsQuery>,
) -> Response {
    let u = signed_in!(s, headers, uri);
    let store = or_page!(s, u, crate::api::project_store(&s, &project).await);
    let status = match nonempty(q.status.clone()) {
        None => None,
        Some(t) => Some(or_page!(
            s,
            u,
            RunStatus::parse(&t)
                .ok_or_else(|| Error::invalid(format!("unknown status `{t}`"), None))
        )),
    };
    let event = match nonempty(q.event.clone()) {
        None => None,
        Some(t) => Some(or_page!(
            s,
            u,
            EventKind::ALL
                .into_iter()
                .find(|k| k.as_str() == t)
                .ok_or_else(|| Error::invalid(format!("unknown event `{t}`"), None))
        )),
    };
    let filter = wharf_store::RunFilter {
        pipeline: nonempty(q.pipeline.clone()),
        status,
        reference: nonempty(q.reference.clone()),
        event,
        before: q.before,
        limit: PAGE + 1,
    };
    let mut found = or_page!(s, u, store.find_runs(&filter).await);
    let more = found.len() > PAGE as usize;
    found.truncate(PAGE as usize);
    let older = more.then(|| {
        let last = found.last().map_or(0, |r| r.number);
        let mut params = vec![format!("before={last}")];
        for (k, v) in [
            ("pipeline", &q.pipeline),
            ("status", &q.status),
            ("ref", &q.reference),
            ("event", &q.event),
        ] {
            if let Some(v) = nonempty(v.clone()) {
                params.push(format!("{k}={}", urlpart(v)));
            }
        }
        params.join("&")
    });
    let runs: Vec<Value> = found.iter().map(summary_ctx).collect();
    page(
        &s,
        &u,
        "runs.html",
        context! {
            title => format!("{project}: runs"),
            project => project,
            runs => runs,
            older => older,
            filter => context! {
                pipeline => q.pipeline, status => q.status, reference => q.reference, event => q.event,
            },
            statuses => ["running", "success", "failed", "cancelled", "interrupted"],
            events => EventKind::ALL.iter().map(|k| k.as_str()).collect::<Vec<_>>(),
        },
    )
}

async fn run_record(s: &Shared, project: &str, run: u64) -> Result<RunRecord> {
    let store = crate::api::project_store(s, project).await?;
    store
        .get_run(run)
        .await?
        .ok_or_else(|| Error::NotFound(format!("project `{project}` has no run #{run}")))
}

fn job_href(project: &str, run: u64, job: &str) -> String {
    format!(
        "/projects/{}/runs/{run}/jobs/{}",
        urlpart(project.to_string()),
        urlpart(job.to_string())
    )
}

pub(crate) async fn run(
    State(s): State<Arc<Shared>>,
    headers: HeaderMap,
    uri: Uri,
    Path((project, run)): Path<(String, u64)>,
) -> Response {
    let u = signed_in!(s, headers, uri);
    let rec = or_page!(s, u, run_record(&s, &project, run).await);
    let nodes: Vec<dag::Node<'_>> = rec
        .jobs
        .iter()
        .map(|j| dag::Node {
            id: &j.id,
            needs: &j.needs,
            status: j.status.as_str(),
            href: job_href(&project, run, &j.id),
        })
        .collect();
    let graph = Value::from_safe_string(dag::svg(&nodes));
    let jobs: Vec<Value> = rec.jobs.iter().map(|j| job_ctx(&project, run, j)).collect();
    let mut failed_tests = Vec::new();
    for j in &rec.jobs {
        for r in &j.reports {
            for t in &r.failed_tests {
                failed_tests.push(context! {
                    job => j.id.clone(),
                    name => t.name.clone(),
                    classname => t.classname.clone(),
                    message => t.message.clone(),
                });
            }
        }
    }
    let artifacts: Vec<Value> = rec
        .jobs
        .iter()
        .flat_map(|j| &j.artifacts)
        .map(|a| {
            context! {
                job => a.job.clone(),
                path => a.path.clone(),
                size => a.size,
                sha256 => a.sha256.clone(),
                href => format!(
                    "/api/v1/projects/{}/runs/{run}/artifacts/{}?job={}",
                    urlpart(project.clone()),
                    a.path.split('/').map(|p| urlpart(p.to_string())).collect::<Vec<_>>().join("/"),
                    urlpart(a.job.clone()),
                ),
            }
        })
        .collect();
    let load_tests = load_tests(&s, &project, &rec).await;
    let store = or_page!(s, u, s.store(&project).await);
    // The list has no items: each release of this run is read whole.
    let mut releases = Vec::new();
    for r in or_page!(s, u, store.list_releases().await) {
        if r.run == run
            && let Some(whole) = or_page!(s, u, store.get_release(&r.version).await)
        {
            releases.push(Value::from(minijinja::value::Serde(&whole)));
        }
    }
    let running = rec.summary.finished_at.is_none();
    let gates: Vec<Value> = or_page!(s, u, store.list_gates(true).await)
        .into_iter()
        .filter(|g| g.run == run)
        .map(|g| {
            context! {
                id => g.id,
                job => g.job.clone(),
                environment => g.environment.clone(),
                required => g.required,
                approvals => g.approvals.iter().map(|(n, _)| n.clone()).collect::<Vec<_>>(),
                starter => g.starter.clone(),
            }
        })
        .collect();
    let ctx = context! {
        gates => gates,
        title => format!("{project} #{run}"),
        project => project,
        run => summary_ctx(&rec.summary),
        file => rec.file.clone(),
        graph => graph,
        jobs => jobs,
        failed_tests => failed_tests,
        artifacts => artifacts,
        releases => releases,
        load_tests => load_tests,
        warnings => rec.warnings.iter().map(|w| context! { job => w.job.clone(), message => w.message.clone() }).collect::<Vec<_>>(),
        running => running,
        can_cancel => running,
        can_rerun => !running && rec.summary.status != RunStatus::Success,
        inputs => rec.summary.event.inputs.clone(),
    };
    page(&s, &u, "run.html", ctx)
}

/// The largest load-test report read back for the run page.
const MAX_LOAD_REPORT: u64 = 8 << 20;

/// Each `load-test` step's kept report, with its latency histogram drawn again from the
/// report's figures (never the kept SVG: a step could have written anything there) and
/// shown as an image, so nothing in it runs in the page.
async fn load_tests(s: &Shared, project: &str, rec: &RunRecord) -> Vec<Value> {
    use base64::Engine;
    use wharf_runtime::verify::Blobs;
    let reports: Vec<wharf_model::ArtifactRecord> = rec
        .jobs
        .iter()
        .flat_map(|j| &j.artifacts)
        .filter(|a| {
            a.path.starts_with("load-test/")
                && a.path.ends_with("/report.json")
                && a.size <= MAX_LOAD_REPORT
        })
        .cloned()
        .collect();
    if reports.is_empty() {
        return Vec::new();
    }
    let blobs = wharf_runtime::verify::StoreBlobs(wharf_store::ArtifactStore::new(&paths::state(
        &s.config.data_dir,
        project,
    )));
    // Reading and drawing is blocking work: off the server's threads.
    let drawn = tokio::task::spawn_blocking(move || {
        reports
            .iter()
            .filter_map(|a| {
                let report: wharf_load::Report =
                    serde_json::from_slice(&blobs.read(&a.sha256)?).ok()?;
                let svg = base64::engine::general_purpose::STANDARD.encode(report.svg());
                Some(context! {
                    job => a.job.clone(),
                    path => a.path.clone(),
                    passed => report.passed,
                    summary => report.summary(),
                    svg => format!("data:image/svg+xml;base64,{svg}"),
                    width => 860,
                })
            })
            .collect::<Vec<Value>>()
    });
    drawn.await.unwrap_or_default()
}

fn job_ctx(project: &str, run: u64, j: &JobRecord) -> Value {
    context! {
        id => j.id.clone(),
        href => job_href(project, run, &j.id),
        status => j.status.as_str(),
        reason => j.reason.clone(),
        attempt => j.attempt,
        took => took(j.started_at, j.finished_at),
        steps => j.steps.iter().map(|st| context! {
            index => st.index,
            name => st.name.clone(),
            status => st.status.as_str(),
            exit_code => st.exit_code,
            took => took(st.started_at, st.finished_at),
        }).collect::<Vec<_>>(),
    }
}

/// A step's log as shown on the job page: its last [`SHOWN_LOG`] bytes as HTML, cut at a
/// character boundary; and how many bytes that covers from the start of the file.
async fn shown_log(path: &std::path::Path) -> Result<(String, u64, bool)> {
    use tokio::io::{AsyncReadExt as _, AsyncSeekExt as _};
    let mut file = match tokio::fs::File::open(path).await {
        Ok(f) => f,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
            return Ok((String::new(), 0, false));
        }
        Err(e) => return Err(Error::io("read the log", path)(e)),
    };
    let len = file
        .metadata()
        .await
        .map_err(Error::io("read the log", path))?
        .len();
    let from = len.saturating_sub(SHOWN_LOG);
    file.seek(std::io::SeekFrom::Start(from))
        .await
        .map_err(Error::io("read the log", path))?;
    let mut bytes = Vec::new();
    file.take(len - from)
        .read_to_end(&mut bytes)
        .await
        .map_err(Error::io("read the log", path))?;
    // A character the writer has not finished is left for the live stream.
    let end = match std::str::from_utf8(&bytes) {
        Ok(_) => bytes.len(),
        Err(e) if e.error_len().is_none() => e.valid_up_to(),
        Err(_) => bytes.len(),
    };
    let text = String::from_utf8_lossy(&bytes[..end]);
    Ok((ansi::to_html(&text), from + end as u64, from > 0))
}

pub(crate) async fn job(
    State(s): State<Arc<Shared>>,
    headers: HeaderMap,
    uri: Uri,
    Path((project, run, job)): Path<(String, u64, String)>,
) -> Response {
    let u = signed_in!(s, headers, uri);
    let rec = or_page!(s, u, run_record(&s, &project, run).await);
    let Some(j) = rec.jobs.iter().find(|j| j.id == job) else {
        return error_page(
            &s,
            &Error::NotFound(format!("run #{run} has no job `{job}`")),
            Some(&u),
        );
    };
    let state = paths::state(&s.config.data_dir, &project);
    // The page shows each step's log as it is now; the live stream goes on from where
    // the page ends, so nothing shows twice and nothing is missed.
    let mut steps = Vec::new();
    let mut from = Position::START;
    for st in &j.steps {
        let started = st.started_at.is_some() || st.status != StepStatus::Pending;
        let (log, shown_to, cut) = if started {
            let path = wharf_store::log_path(&state, run, &j.id, st.index).0;
            or_page!(s, u, shown_log(&path).await)
        } else {
            (String::new(), 0, false)
        };
        let ended = !matches!(st.status, StepStatus::Pending | StepStatus::Running);
        if started {
            from = if ended {
                Position {
                    step: st.index + 1,
                    sent: None,
                }
            } else {
                Position {
                    step: st.index,
                    sent: Some(shown_to),
                }
            };
        }
        steps.push(context! {
            index => st.index,
            name => st.name.clone(),
            status => st.status.as_str(),
            exit_code => st.exit_code,
            took => took(st.started_at, st.finished_at),
            started => started,
            log => Value::from_safe_string(log),
            cut => cut,
            raw => format!(
                "/api/v1/projects/{}/runs/{run}/jobs/{}/steps/{}/log",
                urlpart(project.clone()),
                urlpart(j.id.clone()),
                st.index
            ),
        });
    }
    let live = !j.status.is_terminal();
    let stream = format!(
        "/api/v1/projects/{}/runs/{run}/jobs/{}/stream?from={}",
        urlpart(project.clone()),
        urlpart(j.id.clone()),
        urlpart(from_id(from)),
    );
    let ctx = context! {
        title => format!("{project} #{run} {job}"),
        project => project.clone(),
        run => summary_ctx(&rec.summary),
        job => job_ctx(&project, run, j),
        steps => steps,
        live => live,
        stream => stream,
        run_href => format!("/projects/{}/runs/{run}", urlpart(project.clone())),
    };
    page(&s, &u, "job.html", ctx)
}

/// The stream's `?from=` for position `p` (`start` for the beginning).
fn from_id(p: Position) -> String {
    match p.sent {
        Some(n) => format!("{}:b:{n}", p.step),
        None if p.step == 0 => "start".into(),
        None => format!("{}:e", p.step - 1),
    }
}

#[derive(serde::Deserialize)]
pub(crate) struct StreamQuery {
    from: Option<String>,
}

/// `GET /api/v1/projects/{project}/runs/{run}/jobs/{job}/stream`: the job's live log as
/// Server-Sent Events (a bearer token, or the dashboard's session cookie).
pub(crate) async fn stream(
    State(s): State<Arc<Shared>>,
    headers: HeaderMap,
    Path((project, run, job)): Path<(String, u64, String)>,
    Query(q): Query<StreamQuery>,
) -> Result<Response> {
    session::allow_read(&s, &headers, Role::Viewer).await?;
    let rec = run_record(&s, &project, run).await?;
    if !rec.jobs.iter().any(|j| j.id == job) {
        return Err(Error::NotFound(format!("run #{run} has no job `{job}`")));
    }
    let resume = headers
        .get("last-event-id")
        .and_then(|v| v.to_str().ok())
        .map(str::to_string)
        .or(q.from);
    let from = match resume.as_deref() {
        None | Some("" | "start") => Position::START,
        Some(id) => Position::parse(id).ok_or_else(|| {
            Error::invalid(
                format!("`{id}` is not an event id of this stream"),
                Some("resume with the `id:` of the last event received (S:b:N or S:e), or start with `start`"),
            )
        })?,
    };
    if let Some(sent) = from.sent {
        let path = wharf_store::log_path(
            &paths::state(&s.config.data_dir, &project),
            run,
            &job,
            from.step,
        )
        .0;
        let len = tokio::fs::metadata(&path)
            .await
            .map(|m| m.len())
            .unwrap_or(0);
        if sent > len {
            return Err(Error::RangeBeyond(format!(
                "resume point `{}` is beyond the end of step {}'s log ({len} bytes)",
                resume.unwrap_or_default(),
                from.step
            )));
        }
    }
    let slot = live::admit(&s)?;
    let f = Follow {
        shared: s.clone(),
        state: paths::state(&s.config.data_dir, &project),
        range_url: format!(
            "/api/v1/projects/{}/runs/{run}/jobs/{}/steps/{{S}}/log",
            urlpart(project.clone()),
            urlpart(job.clone())
        ),
        project,
        run,
        job,
    };
    let mut resp = live::stream(f, from, slot).into_response();
    resp.headers_mut()
        .insert("x-accel-buffering", HeaderValue::from_static("no"));
    resp.headers_mut()
        .insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    Ok(resp)
}

/// What the run page's buttons ask for.
#[derive(Clone, Copy)]
enum RunAction {
    Cancel,
    Rerun,
}

/// A run page's button: the session's operator, its CSRF token, then the action, shared
/// with the API (and audited there); back to the run, or to the runs for a re-run.
async fn run_action(
    s: &Shared,
    peer: std::net::SocketAddr,
    headers: &HeaderMap,
    project: String,
    run: u64,
    csrf: &str,
    what: RunAction,
) -> Response {
    let u = match check_post(s, headers, csrf, Role::Operator).await {
        Ok(u) => u,
        Err(r) => return r,
    };
    let who = crate::api::actions::Who::session(&u, headers, peer);
    let done = match what {
        RunAction::Cancel => crate::api::actions::cancel(s, &who, &project, run).await,
        RunAction::Rerun => crate::api::actions::rerun(s, &who, &project, run)
            .await
            .map(|_| ()),
    };
    if let Err(e) = done {
        return error_page(s, &e, Some(&u));
    }
    let to = match what {
        RunAction::Cancel => format!("/projects/{}/runs/{run}", urlpart(project)),
        RunAction::Rerun => format!("/projects/{}", urlpart(project)),
    };
    Redirect::to(&to).into_response()
}

#[derive(serde::Deserialize)]
pub(crate) struct ApproveForm {
    csrf: String,
}

/// A run page's Approve button: the signed-in operator approves the gate as its token's
/// name, under the API's rules (audited there).
pub(crate) async fn approve(
    State(s): State<Arc<Shared>>,
    axum::extract::ConnectInfo(peer): axum::extract::ConnectInfo<std::net::SocketAddr>,
    headers: HeaderMap,
    Path((project, run, id)): Path<(String, u64, i64)>,
    Form(f): Form<ApproveForm>,
) -> Response {
    let u = match check_post(&s, &headers, &f.csrf, Role::Operator).await {
        Ok(u) => u,
        Err(r) => return r,
    };
    let store = or_page!(s, u, crate::api::project_store(&s, &project).await);
    let by = crate::audit::Actor::token(u.token_id, &u.name, u.role, peer);
    or_page!(
        s,
        u,
        crate::api::approve_gate(&s, &store, &project, id, &u.name, by).await
    );
    Redirect::to(&format!("/projects/{}/runs/{run}", urlpart(project))).into_response()
}

pub(crate) async fn cancel(
    State(s): State<Arc<Shared>>,
    axum::extract::ConnectInfo(peer): axum::extract::ConnectInfo<std::net::SocketAddr>,
    headers: HeaderMap,
    Path((project, run)): Path<(String, u64)>,
    Form(f): Form<CsrfForm>,
) -> Response {
    run_action(&s, peer, &headers, project, run, &f.csrf, RunAction::Cancel).await
}

pub(crate) async fn rerun(
    State(s): State<Arc<Shared>>,
    axum::extract::ConnectInfo(peer): axum::extract::ConnectInfo<std::net::SocketAddr>,
    headers: HeaderMap,
    Path((project, run)): Path<(String, u64)>,
    Form(f): Form<CsrfForm>,
) -> Response {
    run_action(&s, peer, &headers, project, run, &f.csrf, RunAction::Rerun).await
}

pub(crate) async fn trigger_form(
    State(s): State<Arc<Shared>>,
    headers: HeaderMap,
    uri: Uri,
    Path(project): Path<String>,
) -> Response {
    let u = signed_in!(s, headers, uri);
    if let Some(refused) = needs(&s, &u, Role::Operator, "starting a run") {
        return refused;
    }
    let form = or_page!(
        s,
        u,
        crate::api::actions::manual_inputs(&s, &project, None).await
    );
    page(
        &s,
        &u,
        "trigger.html",
        context! { title => format!("{project}: run"), project => project, form => Value::from(minijinja::value::Serde(&form)) },
    )
}

pub(crate) async fn trigger(
    State(s): State<Arc<Shared>>,
    axum::extract::ConnectInfo(peer): axum::extract::ConnectInfo<std::net::SocketAddr>,
    headers: HeaderMap,
    Path(project): Path<String>,
    Form(fields): Form<Vec<(String, String)>>,
) -> Response {
    let get = |k: &str| fields.iter().find(|(n, _)| n == k).map(|(_, v)| v.clone());
    let csrf = get("csrf").unwrap_or_default();
    let u = match check_post(&s, &headers, &csrf, Role::Operator).await {
        Ok(u) => u,
        Err(r) => return r,
    };
    let branch = nonempty(get("branch"));
    let inputs = fields
        .iter()
        .filter_map(|(k, v)| k.strip_prefix("input.").map(|k| (k.to_string(), v.clone())))
        .collect();
    let done = or_page!(
        s,
        u,
        crate::api::actions::trigger(
            &s,
            &crate::api::actions::Who::session(&u, &headers, peer),
            &project,
            branch,
            inputs
        )
        .await
    );
    let _ = done;
    Redirect::to(&format!("/projects/{}", urlpart(project))).into_response()
}

#[derive(serde::Deserialize, Default)]
pub(crate) struct AuditQuery {
    before: Option<i64>,
    action: Option<String>,
}

/// `/audit` (admins): the audit log, newest first, with the check of its chain on top.
pub(crate) async fn audit(
    State(s): State<Arc<Shared>>,
    headers: HeaderMap,
    uri: Uri,
    Query(q): Query<AuditQuery>,
) -> Response {
    let u = signed_in!(s, headers, uri);
    if let Some(refused) = needs(&s, &u, Role::Admin, "the audit log") {
        return refused;
    }
    let action = nonempty(q.action);
    let filter = crate::audit::Filter {
        before: q.before,
        limit: PAGE + 1,
        action: action.clone(),
    };
    let mut entries = or_page!(s, u, crate::audit::list(&s.db, &filter).await);
    let more = entries.len() > PAGE as usize;
    entries.truncate(PAGE as usize);
    let report = or_page!(s, u, crate::audit::verify(&s.db).await);
    let rows: Vec<Value> = entries
        .iter()
        .map(|e| {
            context! {
                seq => e.seq,
                when => when(Some(e.at)),
                actor => e.actor.clone(),
                role => e.role.clone(),
                source => e.source.clone(),
                action => e.action.clone(),
                target => e.target.clone(),
                detail => e.detail.to_string(),
            }
        })
        .collect();
    page(
        &s,
        &u,
        "audit.html",
        context! {
            title => "Audit log",
            entries => rows,
            older => more.then(|| entries.last().map_or(0, |e| e.seq)),
            action => action,
            actions => crate::audit::Action::ALL.iter().map(|a| a.as_str()).collect::<Vec<_>>(),
            report => context! { ok => report.ok, message => report.message },
        },
    )
}
