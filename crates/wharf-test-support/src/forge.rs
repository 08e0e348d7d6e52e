//! A local GitHub or Gitea/Forgejo release API, because no real forge is reachable from
//! tests. It is not a permissive mock: it enforces the documented REST contract (paths
//! and methods, the auth header's scheme and token, GitHub's `Accept` and API-version
//! headers, JSON bodies with `tag_name`, uploads through the `upload_url` template with a
//! `name` and a `Content-Length`, Gitea's multipart field `attachment`) and answers a
//! wrong request with the status the real API gives (401, 404, 411, 415, 422). It keeps
//! releases and assets in memory and logs every request, so tests can check what a
//! client did, not only what it returned.
//!
//! Plain std threads and a small HTTP/1.1 reader: one request per connection
//! (`Connection: close`), which every client handles.
//!
//! [`Forge`] is the other half of a forge: real git served by `git daemon`, whose
//! `post-receive` hook sends GitHub's, GitLab's or Gitea's webhook deliveries for each
//! push (see `forge/README.md` in this crate), and [`StatusApi`] its commit status API.

mod git;
mod status_api;
pub use git::{
    DEFAULT_BRANCH, DEFAULT_WEBHOOK_EXAMPLES, FORK_OWNER, Forge, Kind, Sent, USER_EMAIL,
    USER_LOGIN, USER_NAME, WEBHOOK_EXAMPLES_ENV, hook_signature,
};
pub use status_api::{STATUS_TOKEN, Status, StatusApi, StatusRequest};

use std::io::{BufReader, Write};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};
use std::thread::JoinHandle;

use serde_json::{Value, json};
use sha2::{Digest, Sha256};

use crate::wire::{
    Answer, Request, decode, hex, multipart_file, query_param, read_request, reason,
};

/// The token the fake forge accepts.
pub const TOKEN: &str = "wharf-fake-forge-token-3f9c2a";
/// The owner of the one repository the fake forge has.
pub const OWNER: &str = "acme";
/// The name of the one repository the fake forge has.
pub const REPO: &str = "app";

/// Which API the fake forge speaks.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FakeKind {
    /// GitHub's REST API (version 2022-11-28), uploads under `/uploads` the way
    /// `uploads.github.com` takes them.
    GitHub,
    /// Gitea's (and Forgejo's) `/api/v1`.
    Gitea,
}

/// A release as the fake forge holds it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FakeRelease {
    /// The release id.
    pub id: u64,
    /// Its tag.
    pub tag_name: String,
    /// Its title.
    pub name: String,
    /// Its notes.
    pub body: String,
    /// Draft flag.
    pub draft: bool,
    /// Pre-release flag.
    pub prerelease: bool,
    /// Its assets, in upload order.
    pub assets: Vec<FakeAsset>,
}

/// An uploaded asset.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FakeAsset {
    /// The asset id.
    pub id: u64,
    /// Its name.
    pub name: String,
    /// The bytes uploaded.
    pub content: Vec<u8>,
    /// The Content-Type it was uploaded with.
    pub content_type: String,
}

/// One request the fake forge answered.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LoggedRequest {
    /// `GET`, `POST`, ...
    pub method: String,
    /// The path and query, as sent.
    pub path: String,
    /// The status answered.
    pub status: u16,
}

#[derive(Debug, Default)]
struct State {
    releases: Vec<FakeRelease>,
    requests: Vec<LoggedRequest>,
    next_id: u64,
    fail_next: Vec<u16>,
    lose: Vec<(String, u16)>,
}

/// The running fake forge; stopped when dropped.
#[derive(Debug)]
pub struct FakeForge {
    kind: FakeKind,
    addr: SocketAddr,
    state: Arc<Mutex<State>>,
    stop: Arc<AtomicBool>,
    thread: Option<JoinHandle<()>>,
}

impl FakeForge {
    /// Starts a fake forge of `kind` on 127.0.0.1 and a free port, with one repository
    /// ([`OWNER`]/[`REPO`]) and one valid token ([`TOKEN`]).
    pub fn start(kind: FakeKind) -> Self {
        let listener = TcpListener::bind("127.0.0.1:0").expect("cannot bind 127.0.0.1:0");
        let addr = listener.local_addr().expect("local address");
        let state = Arc::new(Mutex::new(State {
            next_id: 1,
            ..State::default()
        }));
        let stop = Arc::new(AtomicBool::new(false));
        let (state2, stop2) = (state.clone(), stop.clone());
        let thread = std::thread::spawn(move || {
            for stream in listener.incoming() {
                if stop2.load(Ordering::SeqCst) {
                    break;
                }
                let Ok(stream) = stream else { continue };
                let state = state2.clone();
                std::thread::spawn(move || serve(kind, addr, stream, &state));
            }
        });
        Self {
            kind,
            addr,
            state,
            stop,
            thread: Some(thread),
        }
    }

    /// The URL a client is configured with: GitHub's API root, or the Gitea instance's
    /// base URL (the API is under `/api/v1`).
    pub fn api_url(&self) -> String {
        format!("http://{}", self.addr)
    }

    /// Its port on 127.0.0.1 (to put a proxy in front of it).
    pub fn port(&self) -> u16 {
        self.addr.port()
    }

    /// Which API this forge speaks.
    pub fn kind(&self) -> FakeKind {
        self.kind
    }

    /// The releases, oldest first.
    pub fn releases(&self) -> Vec<FakeRelease> {
        self.lock().releases.clone()
    }

    /// Every request answered so far, in order.
    pub fn requests(&self) -> Vec<LoggedRequest> {
        self.lock().requests.clone()
    }

    /// Forgets the request log (to look at one publish's requests alone).
    pub fn clear_requests(&self) {
        self.lock().requests.clear();
    }

    /// Answers the next `count` requests with `status` (a 5xx or 429 to test retries).
    pub fn fail_next(&self, status: u16, count: usize) {
        self.lock()
            .fail_next
            .extend(std::iter::repeat_n(status, count));
    }

    /// Carries out the next `method` request but answers it with `status`, the way a
    /// gateway error after the work was done looks to a client (to test that a retried
    /// create or upload does not duplicate).
    pub fn lose_answer(&self, method: &str, status: u16) {
        self.lock().lose.push((method.to_owned(), status));
    }

    fn lock(&self) -> MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(|e| e.into_inner())
    }
}

impl Drop for FakeForge {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::SeqCst);
        // Wakes the blocking accept so the thread sees the flag.
        let _ = TcpStream::connect(self.addr);
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
    }
}

fn serve(kind: FakeKind, addr: SocketAddr, stream: TcpStream, state: &Mutex<State>) {
    let mut reader = BufReader::new(match stream.try_clone() {
        Ok(s) => s,
        Err(_) => return,
    });
    let Some(request) = read_request(&mut reader) else {
        return;
    };
    let (status, body) = match request {
        Err(status) => (status, Some(json!({"message": "bad request"}))),
        Ok(ref request) => {
            let mut state = state.lock().unwrap_or_else(|e| e.into_inner());
            let answer = match state.fail_next.first().copied() {
                Some(status) => {
                    state.fail_next.remove(0);
                    (status, Some(json!({"message": "injected failure"})))
                }
                None => handle(kind, addr, request, &mut state),
            };
            let lost = state.lose.iter().position(|(m, _)| *m == request.method);
            let answer = match lost {
                Some(i) => (
                    state.lose.remove(i).1,
                    Some(json!({"message": "injected failure after the work was done"})),
                ),
                None => answer,
            };
            state.requests.push(LoggedRequest {
                method: request.method.clone(),
                path: request.target.clone(),
                status: answer.0,
            });
            answer
        }
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

fn handle(kind: FakeKind, addr: SocketAddr, req: &Request, state: &mut State) -> Answer {
    if let Some(refused) = check_headers(kind, req) {
        return refused;
    }
    let (path, query) = req.target.split_once('?').unwrap_or((&req.target, ""));
    let path = match kind {
        FakeKind::GitHub => path,
        FakeKind::Gitea => match path.strip_prefix("/api/v1") {
            Some(p) => p,
            None => return not_found(kind),
        },
    };
    let segments: Vec<String> = path.split('/').skip(1).map(decode).collect();
    let segments: Vec<&str> = segments.iter().map(String::as_str).collect();
    let (upload, segments) = match segments.as_slice() {
        ["uploads", rest @ ..] if kind == FakeKind::GitHub => (true, rest),
        rest => (false, rest),
    };
    let ["repos", owner, repo, rest @ ..] = segments else {
        return not_found(kind);
    };
    if (*owner, *repo) != (OWNER, REPO) {
        return not_found(kind);
    }
    let base = format!("http://{addr}");
    let id = |s: &str| s.parse::<u64>().ok();
    let method = req.method.as_str();
    match (kind, upload, method, rest) {
        (_, false, "GET", ["releases", "tags", tag]) => {
            match state
                .releases
                .iter()
                .find(|r| r.tag_name == *tag && !r.draft)
            {
                Some(r) => (200, Some(release_json(kind, &base, r))),
                None => not_found(kind),
            }
        }
        (_, false, "GET", ["releases"]) => {
            // Newest first, paginated as documented: GitHub `per_page` (default 30, at
            // most 100) and `page`; Gitea `limit` (default and at most 50) and `page`.
            let (size_param, default, max) = match kind {
                FakeKind::GitHub => ("per_page", 30, 100),
                FakeKind::Gitea => ("limit", 50, 50),
            };
            let size = query_param(query, size_param)
                .and_then(|v| v.parse::<usize>().ok())
                .unwrap_or(default)
                .clamp(1, max);
            let page = query_param(query, "page")
                .and_then(|v| v.parse::<usize>().ok())
                .unwrap_or(1)
                .max(1);
            let list = state
                .releases
                .iter()
                .rev()
                .skip((page - 1) * size)
                .take(size)
                .map(|r| release_json(kind, &base, r))
                .collect();
            (200, Some(Value::Array(list)))
        }
        (_, false, "POST", ["releases"]) => create_release(kind, &base, req, state),
        (_, false, "PATCH", ["releases", rid]) => match id(rid) {
            Some(rid) => edit_release(kind, &base, req, state, rid),
            None => not_found(kind),
        },
        (FakeKind::GitHub, true, "POST", ["releases", rid, "assets"]) => match id(rid) {
            Some(rid) => upload_github(query, req, state, rid),
            None => not_found(kind),
        },
        (FakeKind::GitHub, false, "DELETE", ["releases", "assets", aid]) => {
            delete_asset(kind, state, None, id(aid))
        }
        (FakeKind::Gitea, false, "POST", ["releases", rid, "assets"]) => match id(rid) {
            Some(rid) => upload_gitea(query, req, state, rid),
            None => not_found(kind),
        },
        (FakeKind::Gitea, false, "DELETE", ["releases", rid, "assets", aid]) => {
            delete_asset(kind, state, id(rid), id(aid))
        }
        _ => not_found(kind),
    }
}

/// The headers every request must carry; `Some` answer when one is wrong.
fn check_headers(kind: FakeKind, req: &Request) -> Option<Answer> {
    let auth = req.header("authorization").unwrap_or_default();
    match kind {
        FakeKind::GitHub => {
            if let Some(problem) = crate::wire::github_header_problem(req, true) {
                return Some(problem);
            }
            if auth != format!("Bearer {TOKEN}") {
                return Some((
                    401,
                    Some(
                        json!({"message": "Bad credentials", "documentation_url": "https://docs.github.com/rest", "status": "401"}),
                    ),
                ));
            }
        }
        FakeKind::Gitea => {
            if auth != format!("token {TOKEN}") {
                return Some((
                    401,
                    Some(
                        json!({"message": "invalid username, password or token", "url": "/api/swagger"}),
                    ),
                ));
            }
        }
    }
    None
}

fn not_found(kind: FakeKind) -> Answer {
    let body = match kind {
        FakeKind::GitHub => {
            json!({"message": "Not Found", "documentation_url": "https://docs.github.com/rest", "status": "404"})
        }
        FakeKind::Gitea => {
            json!({"errors": null, "message": "The target couldn't be found.", "url": "/api/swagger"})
        }
    };
    (404, Some(body))
}

fn validation(kind: FakeKind, resource: &str, code: &str, field: &str) -> Answer {
    let body = match kind {
        FakeKind::GitHub => json!({
            "message": "Validation Failed",
            "errors": [{"resource": resource, "code": code, "field": field}],
            "documentation_url": "https://docs.github.com/rest",
            "status": "422",
        }),
        FakeKind::Gitea => json!({"message": format!("[{field}]: {code}"), "url": "/api/swagger"}),
    };
    (422, Some(body))
}

/// The JSON object of a release body, checking the documented field types.
fn release_fields(kind: FakeKind, req: &Request) -> Result<serde_json::Map<String, Value>, Answer> {
    if !req
        .header("content-type")
        .unwrap_or_default()
        .starts_with("application/json")
    {
        return Err((
            415,
            Some(json!({"message": "Unsupported Media Type: expected application/json"})),
        ));
    }
    let Ok(Value::Object(fields)) = serde_json::from_slice(&req.body) else {
        return Err((400, Some(json!({"message": "Problems parsing JSON"}))));
    };
    for (field, ok) in [
        ("tag_name", Value::is_string as fn(&Value) -> bool),
        ("name", Value::is_string),
        ("body", Value::is_string),
        ("draft", Value::is_boolean),
        ("prerelease", Value::is_boolean),
    ] {
        if fields.get(field).is_some_and(|v| !ok(v)) {
            return Err(validation(kind, "Release", "invalid", field));
        }
    }
    Ok(fields)
}

fn create_release(kind: FakeKind, base: &str, req: &Request, state: &mut State) -> Answer {
    let fields = match release_fields(kind, req) {
        Ok(f) => f,
        Err(answer) => return answer,
    };
    let tag = fields
        .get("tag_name")
        .and_then(Value::as_str)
        .unwrap_or_default();
    if tag.is_empty() {
        return validation(kind, "Release", "missing_field", "tag_name");
    }
    if state.releases.iter().any(|r| r.tag_name == tag) {
        return match kind {
            FakeKind::GitHub => validation(kind, "Release", "already_exists", "tag_name"),
            FakeKind::Gitea => (
                409,
                Some(json!({"message": "Release is has no Tag", "url": "/api/swagger"})),
            ),
        };
    }
    let text = |f: &str| {
        fields
            .get(f)
            .and_then(Value::as_str)
            .unwrap_or_default()
            .to_owned()
    };
    let flag = |f: &str| fields.get(f).and_then(Value::as_bool).unwrap_or(false);
    let release = FakeRelease {
        id: state.next_id,
        tag_name: tag.to_owned(),
        name: text("name"),
        body: text("body"),
        draft: flag("draft"),
        prerelease: flag("prerelease"),
        assets: Vec::new(),
    };
    state.next_id += 1;
    let answer = release_json(kind, base, &release);
    state.releases.push(release);
    (201, Some(answer))
}

fn edit_release(kind: FakeKind, base: &str, req: &Request, state: &mut State, id: u64) -> Answer {
    let fields = match release_fields(kind, req) {
        Ok(f) => f,
        Err(answer) => return answer,
    };
    let Some(release) = state.releases.iter_mut().find(|r| r.id == id) else {
        return not_found(kind);
    };
    for (field, value) in &fields {
        match (field.as_str(), value) {
            ("tag_name", Value::String(s)) => release.tag_name = s.clone(),
            ("name", Value::String(s)) => release.name = s.clone(),
            ("body", Value::String(s)) => release.body = s.clone(),
            ("draft", Value::Bool(b)) => release.draft = *b,
            ("prerelease", Value::Bool(b)) => release.prerelease = *b,
            _ => {}
        }
    }
    (200, Some(release_json(kind, base, release)))
}

fn upload_github(query: &str, req: &Request, state: &mut State, id: u64) -> Answer {
    let kind = FakeKind::GitHub;
    let Some(name) = query_param(query, "name").filter(|n| !n.is_empty()) else {
        return validation(kind, "ReleaseAsset", "missing_field", "name");
    };
    let Some(content_type) = req.header("content-type") else {
        return (
            415,
            Some(json!({"message": "Content-Type header is required"})),
        );
    };
    let content_type = content_type.to_owned();
    let Some(release) = state.releases.iter_mut().find(|r| r.id == id) else {
        return not_found(kind);
    };
    if release.assets.iter().any(|a| a.name == name) {
        return validation(kind, "ReleaseAsset", "already_exists", "name");
    }
    let asset = FakeAsset {
        id: state.next_id,
        name,
        content: req.body.clone(),
        content_type,
    };
    state.next_id += 1;
    let answer = asset_json(kind, "", &asset);
    release.assets.push(asset);
    (201, Some(answer))
}

fn upload_gitea(query: &str, req: &Request, state: &mut State, id: u64) -> Answer {
    let kind = FakeKind::Gitea;
    let content_type = req.header("content-type").unwrap_or_default();
    let Some(boundary) = content_type
        .strip_prefix("multipart/form-data")
        .and_then(|rest| rest.split("boundary=").nth(1))
        .map(|b| {
            b.split(';')
                .next()
                .unwrap_or(b)
                .trim_matches('"')
                .to_owned()
        })
    else {
        return (
            400,
            Some(json!({"message": "expected multipart/form-data", "url": "/api/swagger"})),
        );
    };
    let Some((filename, part_type, content)) = multipart_file(&req.body, &boundary, "attachment")
    else {
        return (
            400,
            Some(
                json!({"message": "no file in the form field `attachment`", "url": "/api/swagger"}),
            ),
        );
    };
    let name = query_param(query, "name")
        .filter(|n| !n.is_empty())
        .unwrap_or(filename);
    let Some(release) = state.releases.iter_mut().find(|r| r.id == id) else {
        return not_found(kind);
    };
    let asset = FakeAsset {
        id: state.next_id,
        name,
        content,
        content_type: part_type,
    };
    state.next_id += 1;
    let answer = asset_json(kind, "", &asset);
    release.assets.push(asset);
    (201, Some(answer))
}

fn delete_asset(
    kind: FakeKind,
    state: &mut State,
    release: Option<u64>,
    asset: Option<u64>,
) -> Answer {
    let Some(asset) = asset else {
        return not_found(kind);
    };
    for r in &mut state.releases {
        if release.is_some_and(|id| id != r.id) {
            continue;
        }
        if let Some(i) = r.assets.iter().position(|a| a.id == asset) {
            r.assets.remove(i);
            return (204, None);
        }
    }
    not_found(kind)
}

fn release_json(kind: FakeKind, base: &str, r: &FakeRelease) -> Value {
    let api = match kind {
        FakeKind::GitHub => format!("{base}/repos/{OWNER}/{REPO}"),
        FakeKind::Gitea => format!("{base}/api/v1/repos/{OWNER}/{REPO}"),
    };
    let html_url = format!("{base}/{OWNER}/{REPO}/releases/tag/{}", r.tag_name);
    let assets: Vec<Value> = r.assets.iter().map(|a| asset_json(kind, base, a)).collect();
    let mut json = json!({
        "id": r.id,
        "url": format!("{api}/releases/{}", r.id),
        "html_url": html_url,
        "tarball_url": format!("{base}/{OWNER}/{REPO}/archive/{}.tar.gz", r.tag_name),
        "zipball_url": format!("{base}/{OWNER}/{REPO}/archive/{}.zip", r.tag_name),
        "tag_name": r.tag_name,
        "target_commitish": "main",
        "name": r.name,
        "body": r.body,
        "draft": r.draft,
        "prerelease": r.prerelease,
        "created_at": "2026-11-25T00:00:00Z",
        "published_at": "2026-11-25T00:00:00Z",
        "author": {"id": 1, "login": OWNER},
        "assets": assets,
    });
    json["upload_url"] = match kind {
        FakeKind::GitHub => {
            format!(
                "{base}/uploads/repos/{OWNER}/{REPO}/releases/{}/assets{{?name,label}}",
                r.id
            )
        }
        FakeKind::Gitea => format!("{api}/releases/{}/assets", r.id),
    }
    .into();
    if kind == FakeKind::GitHub {
        json["assets_url"] = format!("{api}/releases/{}/assets", r.id).into();
        json["node_id"] = format!("RE_{}", r.id).into();
    }
    json
}

fn asset_json(kind: FakeKind, base: &str, a: &FakeAsset) -> Value {
    let download = format!("{base}/{OWNER}/{REPO}/releases/download/{}", a.name);
    match kind {
        FakeKind::GitHub => json!({
            "id": a.id,
            "node_id": format!("RA_{}", a.id),
            "url": format!("{base}/repos/{OWNER}/{REPO}/releases/assets/{}", a.id),
            "browser_download_url": download,
            "name": a.name,
            "label": "",
            "state": "uploaded",
            "content_type": a.content_type,
            "size": a.content.len(),
            "digest": format!("sha256:{}", hex(&Sha256::digest(&a.content))),
            "download_count": 0,
            "created_at": "2026-11-25T00:00:00Z",
            "updated_at": "2026-11-25T00:00:00Z",
        }),
        FakeKind::Gitea => json!({
            "id": a.id,
            "name": a.name,
            "size": a.content.len(),
            "download_count": 0,
            "created_at": "2026-11-25T00:00:00Z",
            "uuid": format!("00000000-0000-0000-0000-{:012}", a.id),
            "browser_download_url": download,
        }),
    }
}
