//! The git test forge against a tiny HTTP receiver on 127.0.0.1: what each forge's hook
//! sends for branch pushes, tags, tag deletions and pull requests (headers exactly the
//! forge's set, signatures checked here with `hmac`/`sha2` over the bytes received,
//! payload fields from the real push), redelivery, a receiver that is down or answers an
//! error, cloning the repository, and the hook's refusal of non-loopback URLs.

use std::io::{BufRead, BufReader, Read, Write};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::process::{Command, Output};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;

use hmac::{Hmac, Mac};
use serde_json::Value;
use sha2::Sha256;
use wharf_test_support::forge::{Forge, Kind, Sent, hook_signature};

const SECRET: &str = "It's a Secret to Everybody";
const ZERO: &str = "0000000000000000000000000000000000000000";

/// A request the receiver got.
#[derive(Debug, Clone)]
struct Received {
    path: String,
    headers: Vec<(String, String)>,
    body: Vec<u8>,
}

/// A webhook endpoint on 127.0.0.1 that records every request and answers with a
/// configurable status and body (200 "ok" by default).
struct Receiver {
    addr: SocketAddr,
    requests: Arc<Mutex<Vec<Received>>>,
    answer: Arc<Mutex<(u16, String)>>,
    stop: Arc<AtomicBool>,
    thread: Option<JoinHandle<()>>,
}

impl Receiver {
    fn start() -> Receiver {
        let listener = TcpListener::bind("127.0.0.1:0").expect("bind 127.0.0.1:0");
        let addr = listener.local_addr().expect("local address");
        let requests = Arc::new(Mutex::new(Vec::new()));
        let answer = Arc::new(Mutex::new((200, "ok".to_owned())));
        let stop = Arc::new(AtomicBool::new(false));
        let (requests2, answer2, stop2) = (requests.clone(), answer.clone(), stop.clone());
        let thread = std::thread::spawn(move || {
            for stream in listener.incoming() {
                if stop2.load(Ordering::SeqCst) {
                    break;
                }
                if let Ok(stream) = stream {
                    serve(stream, &requests2, &answer2);
                }
            }
        });
        Receiver {
            addr,
            requests,
            answer,
            stop,
            thread: Some(thread),
        }
    }

    fn url(&self) -> String {
        format!("http://{}/hooks/forge", self.addr)
    }

    fn requests(&self) -> Vec<Received> {
        self.requests.lock().unwrap().clone()
    }

    fn answer_with(&self, status: u16, body: &str) {
        *self.answer.lock().unwrap() = (status, body.to_owned());
    }
}

impl Drop for Receiver {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::SeqCst);
        let _ = TcpStream::connect(self.addr);
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
    }
}

fn serve(stream: TcpStream, requests: &Mutex<Vec<Received>>, answer: &Mutex<(u16, String)>) {
    let mut reader = BufReader::new(stream.try_clone().expect("clone the stream"));
    let mut line = String::new();
    if reader.read_line(&mut line).unwrap_or(0) == 0 {
        return; // the wake-up connection of Drop
    }
    let path = line.split_whitespace().nth(1).unwrap_or("").to_owned();
    let mut headers = Vec::new();
    loop {
        let mut line = String::new();
        reader.read_line(&mut line).expect("a header line");
        let line = line.trim_end();
        if line.is_empty() {
            break;
        }
        let (name, value) = line.split_once(':').expect("name: value");
        headers.push((name.to_owned(), value.trim().to_owned()));
    }
    let length: usize = headers
        .iter()
        .find(|(n, _)| n.eq_ignore_ascii_case("content-length"))
        .map(|(_, v)| v.parse().expect("a number"))
        .unwrap_or(0);
    let mut body = vec![0; length];
    reader.read_exact(&mut body).expect("the body");
    requests.lock().unwrap().push(Received {
        path,
        headers,
        body,
    });
    let (status, text) = answer.lock().unwrap().clone();
    let mut stream = stream;
    let _ = write!(
        stream,
        "HTTP/1.1 {status} X\r\nContent-Type: text/plain\r\nContent-Length: {}\r\n\
         Connection: close\r\n\r\n{text}",
        text.len()
    );
}

fn hmac_sha256_hex(secret: &str, body: &[u8]) -> String {
    let mut mac = Hmac::<Sha256>::new_from_slice(secret.as_bytes()).expect("any key length");
    mac.update(body);
    hex(&mac.finalize().into_bytes())
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

fn is_hex(s: &str, len: usize) -> bool {
    s.len() == len && s.bytes().all(|b| b.is_ascii_hexdigit())
}

fn ok(out: Output, what: &str) -> Output {
    assert!(
        out.status.success(),
        "{what} failed ({}): {}{}",
        out.status,
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    out
}

fn push(forge: &Forge, refspec: &str) {
    ok(forge.push(refspec), &format!("git push origin {refspec}"));
}

/// The names of the headers each forge sends, in order.
fn header_names(kind: Kind) -> Vec<&'static str> {
    match kind {
        Kind::Github => vec![
            "User-Agent",
            "Content-Type",
            "X-GitHub-Delivery",
            "X-GitHub-Event",
            "X-GitHub-Hook-ID",
            "X-GitHub-Hook-Installation-Target-ID",
            "X-GitHub-Hook-Installation-Target-Type",
            "X-Hub-Signature",
            "X-Hub-Signature-256",
        ],
        Kind::Gitlab => vec![
            "Content-Type",
            "User-Agent",
            "Idempotency-Key",
            "X-Gitlab-Event",
            "X-Gitlab-Webhook-UUID",
            "X-Gitlab-Instance",
            "X-Gitlab-Token",
            "X-Gitlab-Event-UUID",
        ],
        Kind::Gitea => vec![
            "User-Agent",
            "Content-Type",
            "X-Gitea-Delivery",
            "X-Gitea-Event",
            "X-Gitea-Event-Type",
            "X-Gitea-Signature",
            "X-Gogs-Delivery",
            "X-Gogs-Event",
            "X-Gogs-Event-Type",
            "X-Gogs-Signature",
            "X-Hub-Signature",
            "X-Hub-Signature-256",
            "X-GitHub-Delivery",
            "X-GitHub-Event",
            "X-GitHub-Event-Type",
        ],
    }
}

/// Checks that the receiver got exactly what the log says was sent (same bytes, exactly
/// the forge's headers besides Host and Content-Length), and that it authenticates.
fn check_delivery(kind: Kind, sent: &Sent, got: &Received) {
    assert_eq!(got.path, "/hooks/forge");
    assert_eq!(got.body, sent.body, "the receiver got the logged bytes");
    assert_eq!(sent.status, Some(200), "{sent:?}");
    assert_eq!(sent.response_text(), "ok");
    let forge_headers: Vec<(String, String)> = got
        .headers
        .iter()
        .filter(|(n, _)| !["host", "content-length"].contains(&n.to_ascii_lowercase().as_str()))
        .cloned()
        .collect();
    assert_eq!(
        forge_headers, sent.headers,
        "headers on the wire = the log's"
    );
    let names: Vec<&str> = sent.headers.iter().map(|(n, _)| n.as_str()).collect();
    assert_eq!(names, header_names(kind), "exactly {kind:?}'s header set");
    assert_eq!(sent.header("content-type"), Some("application/json"));
    let length = got
        .headers
        .iter()
        .find(|(n, _)| n.eq_ignore_ascii_case("content-length"))
        .map(|(_, v)| v.as_str());
    assert_eq!(length, Some(got.body.len().to_string().as_str()));
    let signature = hmac_sha256_hex(SECRET, &got.body);
    let header = |name: &str| sent.header(name).unwrap_or_else(|| panic!("no {name}"));
    match kind {
        Kind::Github => {
            assert_eq!(header("X-Hub-Signature-256"), format!("sha256={signature}"));
            let sha1 = header("X-Hub-Signature")
                .strip_prefix("sha1=")
                .expect("sha1=");
            assert!(is_hex(sha1, 40), "{sha1}");
            assert!(header("User-Agent").starts_with("GitHub-Hookshot/"));
            assert_eq!(header("X-GitHub-Event"), sent.event);
            assert_eq!(header("X-GitHub-Delivery"), sent.delivery_id);
            assert_eq!(
                header("X-GitHub-Hook-Installation-Target-Type"),
                "repository"
            );
            let repo_id = sent.json()["repository"]["id"].to_string();
            assert_eq!(header("X-GitHub-Hook-Installation-Target-ID"), repo_id);
        }
        Kind::Gitlab => {
            assert_eq!(header("X-Gitlab-Token"), SECRET);
            assert!(header("User-Agent").starts_with("GitLab/17."));
            assert_eq!(header("X-Gitlab-Event"), sent.event);
            assert_eq!(header("Idempotency-Key"), sent.delivery_id);
            for name in [
                "Idempotency-Key",
                "X-Gitlab-Webhook-UUID",
                "X-Gitlab-Event-UUID",
            ] {
                assert_eq!(header(name).len(), 36, "{name} is a UUID");
            }
            assert!(header("X-Gitlab-Instance").starts_with("http://127.0.0.1:"));
        }
        Kind::Gitea => {
            assert_eq!(header("X-Gitea-Signature"), signature);
            assert_eq!(header("X-Gogs-Signature"), signature);
            assert_eq!(header("X-Hub-Signature-256"), format!("sha256={signature}"));
            let sha1 = header("X-Hub-Signature")
                .strip_prefix("sha1=")
                .expect("sha1=");
            assert!(is_hex(sha1, 40), "{sha1}");
            for name in ["X-Gitea-Delivery", "X-Gogs-Delivery", "X-GitHub-Delivery"] {
                assert_eq!(header(name), sent.delivery_id);
            }
            for name in ["X-Gitea-Event", "X-Gogs-Event", "X-GitHub-Event"] {
                assert_eq!(header(name), sent.event);
            }
            for name in [
                "X-Gitea-Event-Type",
                "X-Gogs-Event-Type",
                "X-GitHub-Event-Type",
            ] {
                assert_eq!(header(name), sent.event_type);
            }
        }
    }
}

/// Checks every delivery against what the receiver got, in order; returns them.
fn checked(kind: Kind, forge: &Forge, receiver: &Receiver) -> Vec<Sent> {
    let sent = forge.deliveries();
    let got = receiver.requests();
    assert_eq!(sent.len(), got.len(), "one request per logged delivery");
    for (s, g) in sent.iter().zip(&got) {
        check_delivery(kind, s, g);
    }
    sent
}

/// Deliveries from index `from` on, as (event, payload).
fn events(sent: &[Sent], from: usize) -> Vec<(String, Value)> {
    sent[from..]
        .iter()
        .map(|s| (s.event.clone(), s.json()))
        .collect()
}

fn start(kind: Kind) -> (Receiver, Forge) {
    let receiver = Receiver::start();
    let forge = Forge::start(kind, &receiver.url(), SECRET);
    (receiver, forge)
}

#[test]
fn the_hooks_signing_function_reproduces_githubs_published_vector() {
    assert_eq!(
        hook_signature("It's a Secret to Everybody", b"Hello, World!"),
        "sha256=757107ea0eb2509fc211221cce984b8a37570b6d7586c22c46f4379c8b043e17"
    );
    assert_eq!(
        hmac_sha256_hex("It's a Secret to Everybody", b"Hello, World!"),
        "757107ea0eb2509fc211221cce984b8a37570b6d7586c22c46f4379c8b043e17"
    );
}

#[test]
fn github_branch_push_sends_push_and_create_signed_over_the_bytes_sent() {
    let (receiver, forge) = start(Kind::Github);
    let first = forge.commit("README.md", "hello\n", "Initial commit");
    push(&forge, "main");
    let sent = checked(Kind::Github, &forge, &receiver);
    let got = events(&sent, 0);
    assert_eq!(
        got.iter().map(|(e, _)| e.as_str()).collect::<Vec<_>>(),
        ["push", "create"]
    );
    let push_event = &got[0].1;
    assert_eq!(push_event["ref"], "refs/heads/main");
    assert_eq!(push_event["before"], ZERO);
    assert_eq!(push_event["after"], first);
    assert_eq!(push_event["created"], true);
    assert_eq!(push_event["deleted"], false);
    assert_eq!(push_event["forced"], false);
    assert_eq!(push_event["head_commit"]["id"], first);
    assert_eq!(push_event["head_commit"]["message"], "Initial commit");
    assert_eq!(push_event["head_commit"]["added"][0], "README.md");
    assert_eq!(push_event["commits"].as_array().unwrap().len(), 1);
    let repo = &push_event["repository"];
    assert_eq!(repo["full_name"], "acme/app");
    assert_eq!(repo["name"], "app");
    assert_eq!(repo["clone_url"], forge.clone_url());
    assert_eq!(repo["default_branch"], "main");
    assert_eq!(push_event["pusher"]["name"], "tester");
    assert_eq!(push_event["sender"]["login"], "tester");
    assert_eq!(got[1].1["ref"], "main");
    assert_eq!(got[1].1["ref_type"], "branch");
    // Compact JSON, as GitHub sends it.
    assert!(sent[0].body.starts_with(b"{\"ref\":\"refs/heads/main\","));

    // An update: one push, the new commit only, not forced.
    let second = forge.commit("README.md", "hello again\n", "Second");
    push(&forge, "main");
    let sent = checked(Kind::Github, &forge, &receiver);
    let got = events(&sent, 2);
    assert_eq!(got.len(), 1);
    let update = &got[0].1;
    assert_eq!(update["before"], first);
    assert_eq!(update["after"], second);
    assert_eq!(update["created"], false);
    assert_eq!(update["forced"], false);
    assert_eq!(update["commits"][0]["id"], second);
    assert_eq!(update["commits"][0]["modified"][0], "README.md");
    assert_ne!(sent[0].delivery_id, sent[2].delivery_id);
}

#[test]
fn github_force_push_is_reported_as_forced() {
    let (receiver, forge) = start(Kind::Github);
    let first = forge.commit("a.txt", "a\n", "a");
    forge.commit("b.txt", "b\n", "b");
    push(&forge, "main");
    Command::new("git")
        .current_dir(forge.work_dir())
        .args(["reset", "-q", "--hard", &first])
        .status()
        .expect("git reset");
    let rewritten = forge.commit("c.txt", "c\n", "c");
    push(&forge, "+main");
    let sent = checked(Kind::Github, &forge, &receiver);
    let last = sent.last().unwrap().json();
    assert_eq!(last["after"], rewritten);
    assert_eq!(last["forced"], true);
}

#[test]
fn gitlab_branch_push_sends_a_push_hook_with_the_token() {
    let (receiver, forge) = start(Kind::Gitlab);
    let first = forge.commit("README.md", "hello\n", "Initial <commit> & more");
    push(&forge, "main");
    let sent = checked(Kind::Gitlab, &forge, &receiver);
    assert_eq!(sent.len(), 1, "GitLab sends one Push Hook per branch");
    assert_eq!(sent[0].event, "Push Hook");
    let p = sent[0].json();
    assert_eq!(p["object_kind"], "push");
    assert_eq!(p["event_name"], "push");
    assert_eq!(p["before"], ZERO);
    assert_eq!(p["after"], first);
    assert_eq!(p["checkout_sha"], first);
    assert_eq!(p["ref"], "refs/heads/main");
    assert_eq!(p["user_username"], "tester");
    assert_eq!(p["project"]["path_with_namespace"], "acme/app");
    assert_eq!(p["project"]["git_http_url"], forge.clone_url());
    assert_eq!(p["project_id"], p["project"]["id"]);
    assert_eq!(p["total_commits_count"], 1);
    assert_eq!(p["commits"][0]["id"], first);
    assert_eq!(p["commits"][0]["message"], "Initial <commit> & more\n");
    assert_eq!(p["commits"][0]["title"], "Initial <commit> & more");
    // Rails-style JSON: compact, with <, > and & escaped.
    let text = String::from_utf8(sent[0].body.clone()).unwrap();
    assert!(text.starts_with("{\"object_kind\":\"push\","));
    assert!(
        text.contains("Initial \\u003ccommit\\u003e \\u0026 more"),
        "{text}"
    );

    // Deleting a branch: a Push Hook whose `after` is zeros.
    ok(
        Command::new("git")
            .current_dir(forge.work_dir())
            .args(["branch", "gone"])
            .output()
            .unwrap(),
        "git branch",
    );
    push(&forge, "gone");
    push(&forge, ":gone");
    let sent = checked(Kind::Gitlab, &forge, &receiver);
    let deleted = sent.last().unwrap().json();
    assert_eq!(deleted["ref"], "refs/heads/gone");
    assert_eq!(deleted["after"], ZERO);
    assert_eq!(deleted["checkout_sha"], Value::Null);
    assert_eq!(deleted["total_commits_count"], 0);
}

#[test]
fn gitlab_lists_the_newest_twenty_commits_and_counts_them_all() {
    let (receiver, forge) = start(Kind::Gitlab);
    let mut shas = Vec::new();
    for i in 0..22 {
        shas.push(forge.commit("n.txt", &format!("{i}\n"), &format!("commit {i}")));
    }
    push(&forge, "main");
    let sent = checked(Kind::Gitlab, &forge, &receiver);
    let p = sent[0].json();
    assert_eq!(p["total_commits_count"], 22);
    let commits = p["commits"].as_array().unwrap();
    assert_eq!(commits.len(), 20);
    assert_eq!(
        commits[0]["id"], shas[2],
        "oldest of the newest twenty first"
    );
    assert_eq!(commits[19]["id"], shas[21]);
}

#[test]
fn gitea_branch_push_sends_create_and_push_signed_in_every_mirror() {
    let (receiver, forge) = start(Kind::Gitea);
    let first = forge.commit("README.md", "hello\n", "Initial commit");
    push(&forge, "main");
    let sent = checked(Kind::Gitea, &forge, &receiver);
    let got = events(&sent, 0);
    assert_eq!(
        got.iter().map(|(e, _)| e.as_str()).collect::<Vec<_>>(),
        ["create", "push"],
        "a new branch: create, then push (services/repository/push.go)"
    );
    assert_eq!(got[0].1["ref"], "main");
    assert_eq!(got[0].1["ref_type"], "branch");
    assert_eq!(got[0].1["sha"], first);
    let p = &got[1].1;
    assert_eq!(p["ref"], "refs/heads/main");
    assert_eq!(p["before"], ZERO);
    assert_eq!(p["after"], first);
    assert_eq!(p["head_commit"]["id"], first);
    assert_eq!(p["commits"][0]["id"], first);
    assert_eq!(p["commits"][0]["message"], "Initial commit\n");
    assert_eq!(p["total_commits"], 1);
    assert_eq!(p["repository"]["full_name"], "acme/app");
    assert_eq!(p["repository"]["clone_url"], forge.clone_url());
    assert_eq!(p["pusher"]["login"], "tester");
    assert_eq!(p["sender"]["username"], "tester");
    // json.MarshalIndent(p, "", "  ").
    assert!(
        sent[1]
            .body
            .starts_with(b"{\n  \"ref\": \"refs/heads/main\",\n")
    );

    let second = forge.commit("README.md", "again\n", "Second");
    push(&forge, "main");
    let sent = checked(Kind::Gitea, &forge, &receiver);
    let update = sent[2].json();
    assert_eq!(sent.len(), 3);
    assert_eq!(update["before"], first);
    assert_eq!(update["after"], second);
    assert_eq!(
        update["compare_url"],
        format!(
            "http://127.0.0.1:{}/acme/app/compare/{first}...{second}",
            forge.port()
        )
    );
}

/// Tag pushes and deletions, for one forge: (events of the annotated tag's push, of the
/// lightweight tag's push, of the deletion), plus the shas involved.
fn tag_round(kind: Kind) -> (Forge, Vec<Sent>, Vec<Sent>, Vec<Sent>, String) {
    let (receiver, forge) = start(kind);
    let commit = forge.commit("README.md", "hello\n", "Initial commit");
    push(&forge, "main");
    let n = forge.deliveries().len();
    forge.tag("v1.0.0", true);
    push(&forge, "v1.0.0");
    let m = forge.deliveries().len();
    forge.tag("v1.0.1", false);
    push(&forge, "v1.0.1");
    let k = forge.deliveries().len();
    push(&forge, ":refs/tags/v1.0.0");
    let sent = checked(kind, &forge, &receiver);
    (
        forge,
        sent[n..m].to_vec(),
        sent[m..k].to_vec(),
        sent[k..].to_vec(),
        commit,
    )
}

fn names(sent: &[Sent]) -> Vec<&str> {
    sent.iter().map(|s| s.event.as_str()).collect()
}

#[test]
fn github_tags_send_push_and_create_and_deletion_push_and_delete() {
    let (forge, annotated, light, deleted, commit) = tag_round(Kind::Github);
    let tag_object = forge.rev_parse("v1.0.0");
    assert_ne!(tag_object, commit);
    assert_eq!(names(&annotated), ["push", "create"]);
    let p = annotated[0].json();
    assert_eq!(p["ref"], "refs/tags/v1.0.0");
    assert_eq!(p["after"], tag_object);
    assert_eq!(p["created"], true);
    assert_eq!(p["head_commit"]["id"], commit);
    assert_eq!(p["base_ref"], "refs/heads/main");
    let c = annotated[1].json();
    assert_eq!(c["ref"], "v1.0.0");
    assert_eq!(c["ref_type"], "tag");
    assert_eq!(c["master_branch"], "main");

    assert_eq!(names(&light), ["push", "create"]);
    assert_eq!(light[0].json()["after"], commit);

    assert_eq!(names(&deleted), ["push", "delete"]);
    let d = deleted[0].json();
    assert_eq!(d["ref"], "refs/tags/v1.0.0");
    assert_eq!(d["before"], tag_object);
    assert_eq!(d["after"], ZERO);
    assert_eq!(d["deleted"], true);
    assert_eq!(d["head_commit"], Value::Null);
    assert_eq!(deleted[1].json()["ref"], "v1.0.0");
    assert_eq!(deleted[1].json()["ref_type"], "tag");
}

#[test]
fn gitlab_tags_send_tag_push_hooks() {
    let (forge, annotated, light, deleted, commit) = tag_round(Kind::Gitlab);
    let tag_object = forge.rev_parse("v1.0.0");
    assert_eq!(names(&annotated), ["Tag Push Hook"]);
    let p = annotated[0].json();
    assert_eq!(p["object_kind"], "tag_push");
    assert_eq!(p["ref"], "refs/tags/v1.0.0");
    assert_eq!(p["after"], tag_object);
    assert_eq!(p["checkout_sha"], commit);
    assert_eq!(p["message"], "v1.0.0\n");
    assert_eq!(names(&light), ["Tag Push Hook"]);
    assert_eq!(light[0].json()["checkout_sha"], commit);
    assert_eq!(light[0].json()["message"], Value::Null);
    assert_eq!(names(&deleted), ["Tag Push Hook"]);
    let d = deleted[0].json();
    assert_eq!(d["before"], tag_object);
    assert_eq!(d["after"], ZERO);
    assert_eq!(d["checkout_sha"], Value::Null);
}

#[test]
fn gitea_tags_send_push_and_create_and_deletion_push_and_delete() {
    let (forge, annotated, light, deleted, commit) = tag_round(Kind::Gitea);
    let tag_object = forge.rev_parse("v1.0.0");
    assert_eq!(names(&annotated), ["push", "create"]);
    let p = annotated[0].json();
    assert_eq!(p["ref"], "refs/tags/v1.0.0");
    assert_eq!(p["after"], tag_object);
    assert_eq!(p["head_commit"]["id"], commit);
    assert_eq!(p["commits"], Value::Array(vec![]));
    let c = annotated[1].json();
    assert_eq!(c["ref"], "v1.0.0");
    assert_eq!(c["ref_type"], "tag");
    assert_eq!(c["sha"], tag_object);
    assert_eq!(names(&light), ["push", "create"]);
    assert_eq!(names(&deleted), ["push", "delete"]);
    assert_eq!(deleted[0].json()["after"], ZERO);
    assert_eq!(deleted[1].json()["ref"], "v1.0.0");
    assert_eq!(deleted[1].json()["ref_type"], "tag");
    assert_eq!(deleted[1].json()["pusher_type"], "user");
}

/// Pushes main and a `feature` branch with one commit; returns (main, feature) shas.
fn two_branches(forge: &Forge) -> (String, String) {
    let main = forge.commit("README.md", "hello\n", "Initial commit");
    push(forge, "main");
    ok(
        Command::new("git")
            .current_dir(forge.work_dir())
            .args(["checkout", "-q", "-b", "feature"])
            .output()
            .unwrap(),
        "git checkout -b feature",
    );
    let feature = forge.commit("feature.txt", "new\n", "Add the feature");
    push(forge, "feature");
    (main, feature)
}

fn git_in(dir: &std::path::Path, args: &[&str]) -> String {
    let out = ok(
        Command::new("git")
            .env("GIT_CONFIG_GLOBAL", "/dev/null")
            .current_dir(dir)
            .args(args)
            .output()
            .unwrap(),
        &format!("git {args:?}"),
    );
    String::from_utf8(out.stdout).unwrap().trim().to_owned()
}

fn ls_remote(url: &str, reference: &str) -> String {
    let out = git_in(std::path::Path::new("/"), &["ls-remote", url, reference]);
    out.split_whitespace().next().unwrap_or_default().to_owned()
}

#[test]
fn github_pull_request_opened_synchronized_and_from_a_fork() {
    let (receiver, forge) = start(Kind::Github);
    let (main, feature) = two_branches(&forge);
    ok(
        forge.open_pull_request(1, "feature", "main", "opened", false),
        "open PR 1",
    );
    let pr_ref = git_in(forge.git_dir(), &["rev-parse", "refs/pull/1/head"]);
    assert_eq!(pr_ref, feature, "refs/pull/1/head in the bare repository");
    let sent = checked(Kind::Github, &forge, &receiver);
    let opened = sent.last().unwrap();
    assert_eq!(opened.event, "pull_request");
    let p = opened.json();
    assert_eq!(p["action"], "opened");
    assert_eq!(p["number"], 1);
    assert_eq!(p["pull_request"]["number"], 1);
    assert_eq!(p["pull_request"]["state"], "open");
    assert_eq!(p["pull_request"]["title"], "Add the feature");
    assert_eq!(p["pull_request"]["head"]["sha"], feature);
    assert_eq!(p["pull_request"]["head"]["ref"], "feature");
    assert_eq!(p["pull_request"]["base"]["ref"], "main");
    assert_eq!(p["pull_request"]["base"]["sha"], main);
    assert_eq!(
        p["pull_request"]["head"]["repo"]["id"],
        p["pull_request"]["base"]["repo"]["id"]
    );
    assert_eq!(p["repository"]["full_name"], "acme/app");
    assert!(p.get("installation").is_none());

    let newer = forge.commit("feature.txt", "newer\n", "Improve the feature");
    push(&forge, "feature");
    ok(
        forge.open_pull_request(1, "feature", "main", "synchronize", false),
        "synchronize PR 1",
    );
    let sent = checked(Kind::Github, &forge, &receiver);
    let p = sent.last().unwrap().json();
    assert_eq!(p["action"], "synchronize");
    assert_eq!(p["before"], feature);
    assert_eq!(p["after"], newer);
    assert_eq!(p["pull_request"]["head"]["sha"], newer);

    ok(
        forge.open_pull_request(2, "feature", "main", "opened", true),
        "open PR 2 from a fork",
    );
    let sent = checked(Kind::Github, &forge, &receiver);
    let p = sent.last().unwrap().json();
    let head_repo = &p["pull_request"]["head"]["repo"];
    let base_repo = &p["pull_request"]["base"]["repo"];
    assert_ne!(
        head_repo["id"], base_repo["id"],
        "a fork is another repository"
    );
    assert_eq!(head_repo["full_name"], "contributor/app");
    assert_eq!(head_repo["fork"], true);
    assert_eq!(head_repo["clone_url"], forge.fork_clone_url());
    assert_eq!(p["pull_request"]["head"]["label"], "contributor:feature");
    assert_eq!(p["sender"]["login"], "contributor");
    assert_eq!(
        ls_remote(&forge.fork_clone_url(), "refs/heads/feature"),
        newer,
        "the fork is a real repository holding the head"
    );
}

#[test]
fn gitlab_merge_request_opened_updated_and_from_a_fork() {
    let (receiver, forge) = start(Kind::Gitlab);
    let (_, feature) = two_branches(&forge);
    ok(
        forge.open_pull_request(1, "feature", "main", "open", false),
        "open MR 1",
    );
    assert_eq!(
        git_in(
            forge.git_dir(),
            &["rev-parse", "refs/merge-requests/1/head"]
        ),
        feature
    );
    let sent = checked(Kind::Gitlab, &forge, &receiver);
    let opened = sent.last().unwrap();
    assert_eq!(opened.event, "Merge Request Hook");
    let p = opened.json();
    assert_eq!(p["object_kind"], "merge_request");
    let a = &p["object_attributes"];
    assert_eq!(a["iid"], 1);
    assert_eq!(a["action"], "open");
    assert_eq!(a["state"], "opened");
    assert_eq!(a["source_branch"], "feature");
    assert_eq!(a["target_branch"], "main");
    assert_eq!(a["last_commit"]["id"], feature);
    assert_eq!(a["source_project_id"], a["target_project_id"]);
    assert!(a.get("oldrev").is_none());

    let newer = forge.commit("feature.txt", "newer\n", "Improve the feature");
    push(&forge, "feature");
    ok(
        forge.open_pull_request(1, "feature", "main", "update", false),
        "update MR 1",
    );
    let sent = checked(Kind::Gitlab, &forge, &receiver);
    let a = sent.last().unwrap().json()["object_attributes"].clone();
    assert_eq!(a["action"], "update");
    assert_eq!(a["state"], "opened");
    assert_eq!(a["oldrev"], feature);
    assert_eq!(a["last_commit"]["id"], newer);

    ok(
        forge.open_pull_request(2, "feature", "main", "open", true),
        "open MR 2 from a fork",
    );
    let sent = checked(Kind::Gitlab, &forge, &receiver);
    let a = sent.last().unwrap().json()["object_attributes"].clone();
    assert_ne!(a["source_project_id"], a["target_project_id"]);
    assert_eq!(a["source"]["path_with_namespace"], "contributor/app");
    assert_eq!(a["source"]["git_http_url"], forge.fork_clone_url());
    assert_eq!(ls_remote(&forge.fork_clone_url(), "feature"), newer);
}

#[test]
fn gitea_pull_request_opened_synchronized_and_from_a_fork() {
    let (receiver, forge) = start(Kind::Gitea);
    let (_, feature) = two_branches(&forge);
    ok(
        forge.open_pull_request(1, "feature", "main", "opened", false),
        "open PR 1",
    );
    assert_eq!(
        git_in(forge.git_dir(), &["rev-parse", "refs/pull/1/head"]),
        feature
    );
    let sent = checked(Kind::Gitea, &forge, &receiver);
    let opened = sent.last().unwrap();
    assert_eq!(opened.event, "pull_request");
    assert_eq!(opened.event_type, "pull_request");
    let p = opened.json();
    assert_eq!(p["action"], "opened");
    assert_eq!(p["number"], 1);
    assert_eq!(p["pull_request"]["head"]["sha"], feature);
    assert_eq!(p["pull_request"]["head"]["ref"], "feature");
    assert_eq!(p["pull_request"]["base"]["ref"], "main");
    assert_eq!(
        p["pull_request"]["head"]["repo"]["id"],
        p["pull_request"]["base"]["repo"]["id"]
    );

    let newer = forge.commit("feature.txt", "newer\n", "Improve the feature");
    push(&forge, "feature");
    ok(
        forge.open_pull_request(1, "feature", "main", "synchronized", false),
        "synchronize PR 1",
    );
    let sent = checked(Kind::Gitea, &forge, &receiver);
    let synced = sent.last().unwrap();
    assert_eq!(synced.event, "pull_request");
    assert_eq!(synced.event_type, "pull_request_sync");
    assert_eq!(synced.json()["action"], "synchronized");
    assert_eq!(synced.json()["pull_request"]["head"]["sha"], newer);

    ok(
        forge.open_pull_request(2, "feature", "main", "opened", true),
        "open PR 2 from a fork",
    );
    let sent = checked(Kind::Gitea, &forge, &receiver);
    let p = sent.last().unwrap().json();
    let head_repo = &p["pull_request"]["head"]["repo"];
    assert_ne!(head_repo["id"], p["pull_request"]["base"]["repo"]["id"]);
    assert_eq!(head_repo["full_name"], "contributor/app");
    assert_eq!(head_repo["fork"], true);
    assert_eq!(head_repo["parent"]["full_name"], "acme/app");
    assert_eq!(ls_remote(&forge.fork_clone_url(), "feature"), newer);
}

#[test]
fn redelivery_sends_the_same_bytes_with_the_id_each_forge_keeps() {
    for kind in [Kind::Github, Kind::Gitlab, Kind::Gitea] {
        let (receiver, forge) = start(kind);
        forge.commit("README.md", "hello\n", "Initial commit");
        push(&forge, "main");
        let original = forge.deliveries()[0].clone();
        let again = forge.redeliver(0);
        let sent = checked(kind, &forge, &receiver);
        assert_eq!(sent.last().unwrap(), &again);
        assert_eq!(again.redelivery_of, Some(0));
        assert_eq!(again.body, original.body, "{kind:?}: the same bytes");
        assert_eq!(again.event, original.event);
        match kind {
            // "If you request a redelivery, the X-GitHub-Delivery header will be the same".
            Kind::Github => assert_eq!(again.headers, original.headers),
            // The Idempotency-Key is kept; the per-request UUIDs are new.
            Kind::Gitlab => {
                assert_eq!(again.delivery_id, original.delivery_id);
                for name in ["X-Gitlab-Webhook-UUID", "X-Gitlab-Event-UUID"] {
                    assert_ne!(again.header(name), original.header(name));
                }
            }
            // Gitea's ReplayHookTask makes a new hook task with a new UUID.
            Kind::Gitea => {
                assert_ne!(again.delivery_id, original.delivery_id);
                assert_eq!(
                    again.header("X-Gitea-Signature"),
                    original.header("X-Gitea-Signature")
                );
            }
        }
    }
}

#[test]
fn a_down_receiver_does_not_fail_the_push_and_redelivery_reaches_the_new_url() {
    let down = {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        format!("http://{}/hooks/forge", listener.local_addr().unwrap())
    }; // closed again: connections are refused
    let forge = Forge::start(Kind::Github, &down, SECRET);
    let sha = forge.commit("README.md", "hello\n", "Initial commit");
    push(&forge, "main");
    assert_eq!(
        ls_remote(&forge.clone_url(), "refs/heads/main"),
        sha,
        "the push landed"
    );
    let failed = forge.deliveries();
    assert_eq!(
        failed.len(),
        2,
        "push and create, each tried once, no retry"
    );
    for sent in &failed {
        assert_eq!(sent.status, None);
        let error = sent.error.as_deref().unwrap_or_default();
        assert!(error.contains("Connection refused"), "{error}");
    }

    let receiver = Receiver::start();
    forge.set_hook_url(&receiver.url());
    let again = forge.redeliver(0);
    assert_eq!(again.status, Some(200));
    assert_eq!(again.url, receiver.url());
    assert_eq!(again.delivery_id, failed[0].delivery_id);
    assert_eq!(receiver.requests().len(), 1);
    check_delivery(Kind::Github, &again, &receiver.requests()[0]);
}

#[test]
fn an_error_answer_is_logged_with_its_status_and_body() {
    let (receiver, forge) = start(Kind::Gitea);
    receiver.answer_with(500, "boom");
    forge.commit("README.md", "hello\n", "Initial commit");
    push(&forge, "main");
    let sent = forge.deliveries();
    assert_eq!(sent.len(), 2);
    for s in &sent {
        assert_eq!(s.status, Some(500));
        assert_eq!(s.response_text(), "boom");
        assert_eq!(s.error, None);
    }
}

#[test]
fn clone_url_serves_the_pushed_history_over_git_protocol() {
    let (_receiver, forge) = start(Kind::Gitlab);
    let sha = forge.commit("src/lib.rs", "// hi\n", "Add lib");
    push(&forge, "main");
    let dir = tempfile::tempdir().unwrap();
    let target = dir.path().join("clone");
    git_in(
        dir.path(),
        &["clone", "-q", &forge.clone_url(), target.to_str().unwrap()],
    );
    assert_eq!(git_in(&target, &["rev-parse", "HEAD"]), sha);
    assert_eq!(
        std::fs::read_to_string(target.join("src/lib.rs")).unwrap(),
        "// hi\n"
    );
}

#[test]
fn the_hook_only_delivers_to_loopback() {
    let (_receiver, forge) = start(Kind::Gitea);
    let script = forge.hook_dir().join("post_receive.py");
    let check = |url: &str| {
        Command::new("python3")
            .arg(&script)
            .args(["--check-url", url])
            .output()
            .unwrap()
    };
    assert!(check("http://127.0.0.1:8080/hook").status.success());
    for url in [
        "http://10.0.0.1/hook",
        "http://example.com/hook",
        "https://127.0.0.1/hook",
        "http://localhost:8080/hook",
    ] {
        let out = check(url);
        assert!(!out.status.success(), "{url} accepted");
        assert!(String::from_utf8_lossy(&out.stderr).contains("refusing"));
    }
    let refused = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
        forge.set_hook_url("http://192.0.2.1/hook")
    }));
    assert!(refused.is_err(), "set_hook_url refuses other hosts");
}

#[test]
fn dropping_the_forge_stops_its_daemon() {
    let (_receiver, forge) = start(Kind::Github);
    let port = forge.port();
    assert!(TcpStream::connect(("127.0.0.1", port)).is_ok());
    drop(forge);
    assert!(
        TcpStream::connect(("127.0.0.1", port)).is_err(),
        "git-daemon still listens on {port}"
    );
}
