//! The test forge's commit status API: a local stand-in for GitHub's, GitLab's and
//! Gitea's, on 127.0.0.1, because no real forge is reachable from tests (and none can be
//! installed here: `research/server.md` §4). It is not a permissive mock: it enforces
//! each forge's documented contract and answers a wrong request the way the real API
//! does, so a client that passes here sends what the real one takes:
//!
//! - GitHub (<https://docs.github.com/en/rest/commits/statuses#create-a-commit-status>):
//!   `POST /repos/{owner}/{repo}/statuses/{sha}`; a `User-Agent` (403 without);
//!   `Accept: application/vnd.github+json` (415 otherwise); `X-GitHub-Api-Version`, when
//!   sent, `2022-11-28` (400); `Authorization: Bearer TOKEN` or `token TOKEN` (401 "Bad
//!   credentials"); a JSON body (400) whose `state` is one of `error`, `failure`,
//!   `pending`, `success`, whose `description` is at most 140 characters, and at most
//!   1000 statuses per sha and context (422 "Validation Failed").
//! - GitLab (<https://docs.gitlab.com/api/commits/#set-the-pipeline-status-of-a-commit>):
//!   `POST /api/v4/projects/{id}/statuses/{sha}`, the id numeric or the URL-encoded path
//!   (`acme%2Fapp`: a raw `/` routes nowhere, 404); `PRIVATE-TOKEN: TOKEN` or
//!   `Authorization: Bearer TOKEN` (401 "401 Unauthorized"); a JSON or form body (415
//!   otherwise) whose `state` is one of `pending`, `running`, `success`, `failed`,
//!   `canceled`, `skipped` (400 "state does not have a valid value"); `name` or `context`
//!   (default `default`); and GitLab's transitions: a status still pending or running
//!   takes no second `pending` or `running` ("Cannot transition status via :enqueue from
//!   :pending", 400).
//! - Gitea and Forgejo (<https://gitea.com/api/swagger#/repository/repoCreateStatus>):
//!   `POST /api/v1/repos/{owner}/{repo}/statuses/{sha}`; `Authorization: token TOKEN` (or
//!   `Bearer`; 401); a JSON body (415) whose `state` is one of `pending`, `success`,
//!   `error`, `failure`, `warning` (422).
//!
//! Every forge: the one repository [`OWNER`]/[`REPO`] (404 for others), a 40-hex sha
//! (422; GitLab 404 "Commit Not Found"), and 201 with the status created. Accepted
//! statuses are kept in order for the test to read; every request is logged with its
//! answer. [`StatusApi::fail_next`] answers the next requests 500, and
//! [`StatusApi::set_down`] closes connections without answering, to test retries.

use std::collections::HashMap;
use std::io::{BufReader, Write};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use serde_json::{Value, json};

use super::{Kind, OWNER, REPO};
use crate::wire::{Answer, Request, decode, query_params, read_request, reason};

/// The API token the status API accepts.
pub const STATUS_TOKEN: &str = "wharf-status-token-5be07c91d2";

/// GitHub's limit on a status description.
const GITHUB_MAX_DESCRIPTION: usize = 140;

/// GitHub's limit on statuses per sha and context.
const GITHUB_MAX_PER_CONTEXT: usize = 1000;

/// A status the API accepted.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Status {
    /// The commit.
    pub sha: String,
    /// The context (GitLab: `name`, else `context`, else `default`).
    pub context: String,
    /// The state, in the forge's word.
    pub state: String,
    /// The link.
    pub target_url: String,
    /// The description.
    pub description: String,
    /// GitLab's `ref`, when sent.
    pub reference: Option<String>,
}

/// One request the API answered.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StatusRequest {
    /// The method.
    pub method: String,
    /// The path and query, as sent.
    pub target: String,
    /// The status answered (0: the connection was closed without an answer).
    pub status: u16,
    /// The error message answered, if any.
    pub error: Option<String>,
}

#[derive(Debug, Default)]
struct State {
    statuses: Vec<Status>,
    requests: Vec<StatusRequest>,
    fail_next: usize,
    down: bool,
}

/// The running status API; stopped when dropped.
#[derive(Debug)]
pub struct StatusApi {
    kind: Kind,
    addr: SocketAddr,
    state: Arc<Mutex<State>>,
    stop: Arc<AtomicBool>,
    thread: Option<JoinHandle<()>>,
}

impl StatusApi {
    /// Starts `kind`'s status API on 127.0.0.1 and a free port.
    pub fn start(kind: Kind) -> StatusApi {
        let listener = TcpListener::bind("127.0.0.1:0").expect("cannot bind 127.0.0.1:0");
        let addr = listener.local_addr().expect("local address");
        let state = Arc::new(Mutex::new(State::default()));
        let stop = Arc::new(AtomicBool::new(false));
        let (state2, stop2) = (state.clone(), stop.clone());
        let thread = std::thread::spawn(move || {
            for stream in listener.incoming() {
                if stop2.load(Ordering::SeqCst) {
                    break;
                }
                let Ok(stream) = stream else { continue };
                let state = state2.clone();
                std::thread::spawn(move || serve(kind, stream, &state));
            }
        });
        StatusApi {
            kind,
            addr,
            state,
            stop,
            thread: Some(thread),
        }
    }

    /// The API root a client is configured with: `http://127.0.0.1:PORT` (GitHub),
    /// `…/api/v4` (GitLab), `…/api/v1` (Gitea).
    pub fn api_url(&self) -> String {
        match self.kind {
            Kind::Github => format!("http://{}", self.addr),
            Kind::Gitlab => format!("http://{}/api/v4", self.addr),
            Kind::Gitea => format!("http://{}/api/v1", self.addr),
        }
    }

    /// The statuses accepted so far, in order.
    pub fn statuses(&self) -> Vec<Status> {
        self.lock().statuses.clone()
    }

    /// Every request answered so far, in order.
    pub fn requests(&self) -> Vec<StatusRequest> {
        self.lock().requests.clone()
    }

    /// Answers the next `count` requests 500.
    pub fn fail_next(&self, count: usize) {
        self.lock().fail_next += count;
    }

    /// Closes every connection without an answer while `down`.
    pub fn set_down(&self, down: bool) {
        self.lock().down = down;
    }

    /// Waits until `done` holds for the accepted statuses (or panics after `timeout`,
    /// with the requests seen); returns them.
    pub fn wait_for(&self, timeout: Duration, done: impl Fn(&[Status]) -> bool) -> Vec<Status> {
        let deadline = Instant::now() + timeout;
        loop {
            let statuses = self.statuses();
            if done(&statuses) {
                return statuses;
            }
            assert!(
                Instant::now() < deadline,
                "the status API did not get what was expected within {timeout:?}; statuses: {statuses:#?}\nrequests: {:#?}",
                self.requests()
            );
            std::thread::sleep(Duration::from_millis(50));
        }
    }

    fn lock(&self) -> MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(|e| e.into_inner())
    }
}

impl Drop for StatusApi {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::SeqCst);
        let _ = TcpStream::connect(self.addr);
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
    }
}

fn serve(kind: Kind, stream: TcpStream, state: &Mutex<State>) {
    let mut reader = BufReader::new(match stream.try_clone() {
        Ok(s) => s,
        Err(_) => return,
    });
    let Some(request) = read_request(&mut reader) else {
        return;
    };
    let (status, body) = {
        let mut state = state.lock().unwrap_or_else(|e| e.into_inner());
        let (method, target) = match &request {
            Ok(r) => (r.method.clone(), r.target.clone()),
            Err(_) => (String::new(), String::new()),
        };
        if state.down {
            state.requests.push(StatusRequest {
                method,
                target,
                status: 0,
                error: Some("down: closed without an answer".into()),
            });
            let _ = stream.shutdown(std::net::Shutdown::Both);
            return;
        }
        let answer = match &request {
            Err(status) => (*status, Some(json!({"message": "bad request"}))),
            Ok(_) if state.fail_next > 0 => {
                state.fail_next -= 1;
                (
                    500,
                    Some(json!({"message": "Internal Server Error (injected)"})),
                )
            }
            Ok(r) => handle(kind, r, &mut state),
        };
        let error =
            (answer.0 >= 300).then(|| answer.1.as_ref().map(|b| b.to_string()).unwrap_or_default());
        state.requests.push(StatusRequest {
            method,
            target,
            status: answer.0,
            error,
        });
        answer
    };
    let body = body.map(|b| b.to_string()).unwrap_or_default();
    let mut stream = stream;
    let _ = write!(
        stream,
        "HTTP/1.1 {status} {}\r\nContent-Type: application/json; charset=utf-8\r\n\
         Content-Length: {}\r\nConnection: close\r\n\r\n{body}",
        reason(status),
        body.len()
    );
    let _ = stream.flush();
}

fn handle(kind: Kind, req: &Request, state: &mut State) -> Answer {
    let path = req.target.split('?').next().unwrap_or_default();
    // Segments split on a raw `/` only: GitLab's `acme%2Fapp` stays one.
    let raw: Vec<&str> = path.split('/').skip(1).collect();
    let (repo_ok, sha) = match (kind, raw.as_slice()) {
        (Kind::Github, ["repos", owner, repo, "statuses", sha]) => (
            (decode(owner), decode(repo)) == (OWNER.into(), REPO.into()),
            decode(sha),
        ),
        (Kind::Gitea, ["api", "v1", "repos", owner, repo, "statuses", sha]) => (
            (decode(owner), decode(repo)) == (OWNER.into(), REPO.into()),
            decode(sha),
        ),
        (Kind::Gitlab, ["api", "v4", "projects", id, "statuses", sha]) => {
            let id = decode(id);
            (id == format!("{OWNER}/{REPO}") || id == "1", decode(sha))
        }
        _ => return not_found(kind),
    };
    if let Some(refused) = check_auth(kind, req) {
        return refused;
    }
    if req.method != "POST" {
        return not_found(kind);
    }
    if !repo_ok {
        return not_found(kind);
    }
    if sha.len() != 40 || !sha.bytes().all(|b| b.is_ascii_hexdigit()) {
        return match kind {
            Kind::Gitlab => (404, Some(json!({"message": "404 Commit Not Found"}))),
            _ => validation(kind, "sha", &format!("No commit found for SHA: {sha}")),
        };
    }
    let fields = match body_fields(kind, req) {
        Ok(f) => f,
        Err(answer) => return answer,
    };
    let text = |k: &str| fields.get(k).and_then(Value::as_str).map(str::to_string);
    let state_word = text("state").unwrap_or_default();
    let allowed: &[&str] = match kind {
        Kind::Github => &["error", "failure", "pending", "success"],
        Kind::Gitlab => &[
            "pending", "running", "success", "failed", "canceled", "skipped",
        ],
        Kind::Gitea => &["pending", "success", "error", "failure", "warning"],
    };
    if !allowed.contains(&state_word.as_str()) {
        return match kind {
            Kind::Gitlab => (
                400,
                Some(json!({"error": "state does not have a valid value"})),
            ),
            _ => validation(kind, "state", &format!("state `{state_word}` is not valid")),
        };
    }
    let description = text("description").unwrap_or_default();
    if kind == Kind::Github && description.chars().count() > GITHUB_MAX_DESCRIPTION {
        return validation(
            kind,
            "description",
            "description is too long (maximum is 140 characters)",
        );
    }
    let context = match kind {
        Kind::Gitlab => text("name").or_else(|| text("context")),
        _ => text("context"),
    }
    .unwrap_or_else(|| "default".into());
    let status = Status {
        sha: sha.clone(),
        context: context.clone(),
        state: state_word.clone(),
        target_url: text("target_url").unwrap_or_default(),
        description,
        reference: text("ref"),
    };
    let same: Vec<&Status> = state
        .statuses
        .iter()
        .filter(|s| s.sha == sha && s.context == context)
        .collect();
    match kind {
        Kind::Github if same.len() >= GITHUB_MAX_PER_CONTEXT => {
            return validation(
                kind,
                "StatusContext",
                "This SHA and context has reached the maximum number of statuses.",
            );
        }
        Kind::Gitlab => {
            let current = same
                .iter()
                .rev()
                .find(|s| s.reference == status.reference)
                .map(|s| s.state.as_str());
            if let Some(refused) = gitlab_transition(current, &state_word) {
                return refused;
            }
        }
        _ => {}
    }
    let answer = match kind {
        Kind::Gitlab => json!({
            "id": state.statuses.len() + 1,
            "sha": status.sha,
            "ref": status.reference,
            "status": status.state,
            "name": status.context,
            "target_url": status.target_url,
            "description": status.description,
            "allow_failure": false,
        }),
        _ => json!({
            "id": state.statuses.len() + 1,
            "state": status.state,
            "context": status.context,
            "target_url": status.target_url,
            "description": status.description,
            "created_at": "2026-11-25T00:00:00Z",
        }),
    };
    state.statuses.push(status);
    (201, Some(answer))
}

/// GitLab refuses a second `pending` or `running` for a status still in that state (or a
/// `pending` for a running one): its state machine has no such transition.
fn gitlab_transition(current: Option<&str>, new: &str) -> Option<Answer> {
    let event = match new {
        "pending" => "enqueue",
        "running" => "run",
        _ => return None,
    };
    let refused = matches!(
        (current, new),
        (Some("pending"), "pending") | (Some("running"), "pending" | "running")
    );
    refused.then(|| {
        let from = current.unwrap_or_default();
        (
            400,
            Some(json!({
                "message": format!("Cannot transition status via :{event} from :{from} (Reason(s): Status cannot transition via \"{event}\")")
            })),
        )
    })
}

/// `None` when the credentials hold.
fn check_auth(kind: Kind, req: &Request) -> Option<Answer> {
    let auth = req.header("authorization").unwrap_or_default();
    match kind {
        Kind::Github => {
            if let Some(problem) = crate::wire::github_header_problem(req, false) {
                return Some(problem);
            }
            let ok = [
                format!("Bearer {STATUS_TOKEN}"),
                format!("token {STATUS_TOKEN}"),
            ];
            (!ok.iter().any(|o| o == auth)).then(|| {
                (
                    401,
                    Some(
                        json!({"message": "Bad credentials", "documentation_url": "https://docs.github.com/rest", "status": "401"}),
                    ),
                )
            })
        }
        Kind::Gitlab => {
            let ok = req.header("private-token") == Some(STATUS_TOKEN)
                || auth == format!("Bearer {STATUS_TOKEN}");
            (!ok).then(|| (401, Some(json!({"message": "401 Unauthorized"}))))
        }
        Kind::Gitea => {
            let ok = [
                format!("token {STATUS_TOKEN}"),
                format!("Bearer {STATUS_TOKEN}"),
            ];
            (!ok.iter().any(|o| o == auth)).then(|| {
                (
                    401,
                    Some(json!({"message": "token is required", "url": "/api/swagger"})),
                )
            })
        }
    }
}

/// The body's fields: JSON for every forge, or a form for GitLab.
fn body_fields(kind: Kind, req: &Request) -> Result<HashMap<String, Value>, Answer> {
    let content_type = req.header("content-type").unwrap_or_default();
    if content_type.starts_with("application/json") {
        return match serde_json::from_slice::<Value>(&req.body) {
            Ok(Value::Object(map)) => Ok(map.into_iter().collect()),
            _ => Err(match kind {
                Kind::Github => (400, Some(json!({"message": "Problems parsing JSON"}))),
                Kind::Gitlab => (400, Some(json!({"error": "body is not valid JSON"}))),
                Kind::Gitea => (
                    422,
                    Some(json!({"message": "body is not valid JSON", "url": "/api/swagger"})),
                ),
            }),
        };
    }
    if kind == Kind::Gitlab && content_type.starts_with("application/x-www-form-urlencoded") {
        let text = String::from_utf8_lossy(&req.body);
        return Ok(query_params(&text)
            .into_iter()
            .map(|(k, v)| (k, Value::String(v)))
            .collect());
    }
    Err((
        415,
        Some(
            json!({"message": format!("Unsupported Media Type `{content_type}`: expected application/json")}),
        ),
    ))
}

fn not_found(kind: Kind) -> Answer {
    let body = match kind {
        Kind::Github => {
            json!({"message": "Not Found", "documentation_url": "https://docs.github.com/rest", "status": "404"})
        }
        Kind::Gitlab => json!({"message": "404 Project Not Found"}),
        Kind::Gitea => json!({"message": "The target couldn't be found.", "url": "/api/swagger"}),
    };
    (404, Some(body))
}

fn validation(kind: Kind, field: &str, message: &str) -> Answer {
    let body = match kind {
        Kind::Github => json!({
            "message": "Validation Failed",
            "errors": [{"resource": "Status", "code": "custom", "field": field, "message": message}],
            "documentation_url": "https://docs.github.com/rest/commits/statuses#create-a-commit-status",
            "status": "422",
        }),
        _ => json!({"message": format!("[{field}]: {message}"), "url": "/api/swagger"}),
    };
    (422, Some(body))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn post(api: &StatusApi, path: &str, headers: &[(&str, &str)], body: &str) -> (u16, String) {
        let a = crate::http::request(
            "POST",
            &format!("http://{}{path}", api.addr),
            headers,
            body.as_bytes(),
        );
        (a.status, a.text())
    }

    const SHA: &str = "0123456789abcdef0123456789abcdef01234567";

    #[test]
    fn github_takes_the_documented_request_only() {
        let api = StatusApi::start(Kind::Github);
        let path = format!("/repos/acme/app/statuses/{SHA}");
        let bearer = format!("Bearer {STATUS_TOKEN}");
        let good = [
            ("User-Agent", "t"),
            ("Accept", "application/vnd.github+json"),
            ("Authorization", bearer.as_str()),
            ("Content-Type", "application/json"),
        ];
        let body =
            r#"{"state":"pending","context":"wharf/ci","target_url":"http://x","description":"d"}"#;
        assert_eq!(post(&api, &path, &good, body).0, 201);
        let mut wrong = good;
        wrong[2] = ("Authorization", "Bearer nope");
        assert_eq!(post(&api, &path, &wrong, body).0, 401);
        let (status, text) = post(&api, &path, &good, r#"{"state":"running"}"#);
        assert_eq!(status, 422, "{text}");
        let long = format!(
            r#"{{"state":"success","description":"{}"}}"#,
            "x".repeat(141)
        );
        assert_eq!(post(&api, &path, &good, &long).0, 422);
        assert_eq!(
            post(&api, "/repos/acme/other/statuses/0", &good, body).0,
            404
        );
        api.fail_next(1);
        assert_eq!(post(&api, &path, &good, body).0, 500);
        assert_eq!(api.statuses().len(), 1);
        assert_eq!(api.statuses()[0].context, "wharf/ci");
    }

    #[test]
    fn gitlab_wants_the_encoded_path_and_valid_transitions() {
        let api = StatusApi::start(Kind::Gitlab);
        let good = [
            ("PRIVATE-TOKEN", STATUS_TOKEN),
            ("Content-Type", "application/json"),
        ];
        let path = format!("/api/v4/projects/acme%2Fapp/statuses/{SHA}");
        let running = r#"{"state":"running","name":"wharf/ci/a","ref":"main"}"#;
        assert_eq!(post(&api, &path, &good, running).0, 201);
        let (status, text) = post(&api, &path, &good, running);
        assert_eq!(status, 400, "{text}");
        assert!(text.contains("Cannot transition status via :run from :running"));
        assert_eq!(
            post(
                &api,
                &path,
                &good,
                r#"{"state":"success","name":"wharf/ci/a","ref":"main"}"#
            )
            .0,
            201
        );
        assert_eq!(post(&api, &path, &good, r#"{"state":"error"}"#).0, 400);
        let raw = format!("/api/v4/projects/acme/app/statuses/{SHA}");
        assert_eq!(post(&api, &raw, &good, running).0, 404);
        let wrong = [
            ("PRIVATE-TOKEN", "nope"),
            ("Content-Type", "application/json"),
        ];
        assert_eq!(post(&api, &path, &wrong, running).0, 401);
        let form = [
            ("PRIVATE-TOKEN", STATUS_TOKEN),
            ("Content-Type", "application/x-www-form-urlencoded"),
        ];
        assert_eq!(
            post(&api, &path, &form, "state=skipped&name=wharf%2Fci%2Fb").0,
            201
        );
        assert_eq!(api.statuses().last().unwrap().context, "wharf/ci/b");
    }

    #[test]
    fn gitea_wants_its_token_scheme_and_states() {
        let api = StatusApi::start(Kind::Gitea);
        let token = format!("token {STATUS_TOKEN}");
        let good = [
            ("Authorization", token.as_str()),
            ("Content-Type", "application/json"),
        ];
        let path = format!("/api/v1/repos/acme/app/statuses/{SHA}");
        assert_eq!(post(&api, &path, &good, r#"{"state":"warning"}"#).0, 201);
        assert_eq!(post(&api, &path, &good, r#"{"state":"skipped"}"#).0, 422);
        let form = [
            ("Authorization", token.as_str()),
            ("Content-Type", "text/plain"),
        ];
        assert_eq!(post(&api, &path, &form, r#"{"state":"success"}"#).0, 415);
        assert_eq!(
            post(&api, &path, &[("Content-Type", "application/json")], "{}").0,
            401
        );
        api.set_down(true);
        let a = std::net::TcpStream::connect(api.addr).map(|mut s| {
            let _ = s.write_all(b"POST / HTTP/1.1\r\nContent-Length: 0\r\n\r\n");
            let mut out = Vec::new();
            let _ = std::io::Read::read_to_end(&mut s, &mut out);
            out
        });
        assert!(a.unwrap().is_empty(), "no answer while down");
    }
}
