//! `wharf serve` end to end: the real binary as the server, the test forge (a bare git
//! repository served by `git daemon`, whose post-receive hook sends each forge's signed
//! deliveries) as GitHub, GitLab and Gitea, and the API over HTTP on 127.0.0.1.

use std::io::Write;
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use wharf_test_support::forge::{Forge, Kind};
use wharf_test_support::http;

use crate::helper::{bin, settings_policy};

const SECRET: &str = "webhook-secret-for-tests-1";

/// A `wharf serve` on a free port with its own data directory.
pub struct Server {
    pub data: tempfile::TempDir,
    child: Option<Child>,
    pub url: String,
    log: PathBuf,
}

impl Server {
    pub fn new() -> Server {
        let data = tempfile::tempdir().unwrap();
        let log = data.path().join("serve.log");
        let mut s = Server {
            data,
            child: None,
            url: String::new(),
            log,
        };
        s.start(&[]);
        s
    }

    /// Starts (or restarts) the server, waiting until it listens.
    pub fn start(&mut self, extra: &[&str]) {
        let info = self.data.path().join("serve.json");
        let _ = std::fs::remove_file(&info);
        let log = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(&self.log)
            .unwrap();
        let child = Command::new(bin())
            .args(["serve", "--listen", "127.0.0.1:0", "--data-dir"])
            .arg(self.data.path())
            .args(extra)
            .env_remove("WHARF_SECRET_KEY")
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(log)
            .spawn()
            .unwrap();
        self.child = Some(child);
        let deadline = Instant::now() + Duration::from_secs(30);
        loop {
            if let Ok(text) = std::fs::read_to_string(&info)
                && let Ok(v) = serde_json::from_str::<serde_json::Value>(&text)
            {
                self.url = v["url"].as_str().unwrap().to_string();
                return;
            }
            assert!(
                Instant::now() < deadline,
                "the server did not start:\n{}",
                self.log()
            );
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    /// What the server printed.
    pub fn log(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap_or_default()
    }

    /// `kill -9`.
    pub fn kill9(&mut self) {
        if let Some(mut c) = self.child.take() {
            let _ = c.kill();
            let _ = c.wait();
        }
    }

    /// `wharf server --data-dir D ARGS…` with `stdin`.
    pub fn admin(&self, args: &[&str], stdin: &str) -> crate::helper::Run {
        let mut child = Command::new(bin())
            .arg("server")
            .arg("--data-dir")
            .arg(self.data.path())
            .args(args)
            .env_remove("WHARF_SECRET_KEY")
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap();
        child
            .stdin
            .take()
            .unwrap()
            .write_all(stdin.as_bytes())
            .unwrap();
        crate::helper::Run {
            out: child.wait_with_output().unwrap(),
        }
    }

    /// Registers project `name` for `forge`'s repository, with the test's webhook secret.
    pub fn add_project(&self, name: &str, forge: &Forge, extra: &[&str]) {
        let kind = match forge.kind() {
            Kind::Github => "github",
            Kind::Gitlab => "gitlab",
            Kind::Gitea => "gitea",
        };
        let url = forge.clone_url();
        let mut args = vec![
            "project",
            "add",
            name,
            "--repo",
            &url,
            "--forge",
            kind,
            "--webhook-secret-stdin",
        ];
        args.extend_from_slice(extra);
        self.admin(&args, SECRET).expect(0);
    }

    /// Registers project `name` for the repository at `dir` (a path git clones).
    pub fn add_local_project(&self, name: &str, dir: &std::path::Path) {
        let repo = dir.display().to_string();
        let args = [
            "project",
            "add",
            name,
            "--repo",
            &repo,
            "--forge",
            "github",
            "--webhook-secret-stdin",
        ];
        self.admin(&args, SECRET).expect(0);
    }

    /// A token with `role`.
    pub fn token(&self, role: &str) -> String {
        let out = self
            .admin(&["token", "create", role, "--role", role, "--json"], "")
            .expect(0);
        out.json()["token"].as_str().unwrap().to_string()
    }

    /// The events of the queue (newest first), as `wharf server events --json` lists them.
    pub fn events(&self) -> Vec<serde_json::Value> {
        let out = self
            .admin(&["events", "--json", "--limit", "100"], "")
            .expect(0);
        out.json().as_array().unwrap().clone()
    }

    /// Waits until event `id` has ended; its row.
    pub fn wait_event(&self, id: i64) -> serde_json::Value {
        let deadline = Instant::now() + Duration::from_secs(90);
        loop {
            if let Some(e) = self.events().into_iter().find(|e| e["id"] == id)
                && !matches!(e["state"].as_str(), Some("queued" | "running"))
            {
                return e;
            }
            assert!(
                Instant::now() < deadline,
                "event {id} did not end:\n{}",
                self.log()
            );
            std::thread::sleep(Duration::from_millis(100));
        }
    }

    /// The hook URL of project `name`.
    pub fn hook(&self, name: &str) -> String {
        format!("{}/hooks/{name}", self.url)
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        self.kill9();
    }
}

/// A pipeline that says which commit, branch and event it ran for, and uses a secret.
const PIPELINE: &str = r#"version: 1
on:
  push: { branches: ["**"] }
  tag: ["v*"]
  pull_request: { branches: [main], secrets: true }
  manual: { inputs: { target: { default: staging, options: [staging, production] } } }
jobs:
  hello:
    secrets: [DEPLOY_TOKEN]
    run: |
      echo "ran $WHARF_EVENT at $(git rev-parse HEAD) branch=[$WHARF_BRANCH] tag=[$WHARF_TAG] input=[$WHARF_INPUT_TARGET]"
      echo "token=[${DEPLOY_TOKEN:-none}]"
      mkdir -p out && echo "artifact of $(git rev-parse --short HEAD)" > out/report.txt
    artifacts: [out/report.txt]
"#;

/// The id of the event a delivery queued (from the server's answer).
fn queued(sent: &wharf_test_support::forge::Sent) -> i64 {
    assert_eq!(
        sent.status,
        Some(202),
        "{} {}",
        sent.event,
        sent.response_text()
    );
    let answer: serde_json::Value = serde_json::from_slice(&sent.response).unwrap();
    answer["event"].as_i64().unwrap()
}

/// The log of run `run`'s job `job` step 0, through the API.
fn step_log(s: &Server, token: &str, project: &str, run: u64, job: &str) -> String {
    let a = http::get(
        &format!(
            "{}/api/v1/projects/{project}/runs/{run}/jobs/{job}/steps/0/log",
            s.url
        ),
        Some(token),
    );
    assert_eq!(a.status, 200, "{}", a.text());
    a.text()
}

fn setup(kind: Kind) -> (Server, Forge, String) {
    let s = Server::new();
    let forge = Forge::start(kind, &s.hook("app"), SECRET);
    s.add_project("app", &forge, &[]);
    s.admin(
        &["secrets", "--project", "app", "set", "DEPLOY_TOKEN"],
        "deploy-token-value-42",
    )
    .expect(0);
    let token = s.token("viewer");
    (s, forge, token)
}

#[test]
fn pushes_tags_and_pull_requests_from_each_forge_start_runs() {
    for kind in [Kind::Github, Kind::Gitlab, Kind::Gitea] {
        let (s, forge, token) = setup(kind);
        forge.commit(
            "wharf.policy.toml",
            &settings_policy(&["secrets.pull-requests"]),
            "the policy",
        );
        let sha = forge.commit("wharf.yml", PIPELINE, "add the pipeline");
        assert!(forge.push("main").status.success());
        let push = forge
            .deliveries()
            .into_iter()
            .find(|d| d.status == Some(202))
            .unwrap_or_else(|| panic!("{kind:?}: no delivery queued: {:?}", forge.deliveries()));
        let e = s.wait_event(queued(&push));
        assert_eq!(e["state"], "done", "{kind:?}: {e}\n{}", s.log());
        let run = e["runs"][0].as_u64().unwrap();
        let log = step_log(&s, &token, "app", run, "hello");
        assert!(
            log.contains(&format!("ran push at {sha} branch=[main]")),
            "{kind:?}: the run checked out the pushed commit:\n{log}"
        );
        assert!(
            log.contains("token=[***]"),
            "{kind:?}: the secret, masked:\n{log}"
        );

        // a tag
        forge.tag("v1.2.0", true);
        assert!(forge.push("v1.2.0").status.success());
        let tag = forge
            .deliveries()
            .into_iter()
            .rev()
            .find(|d| d.status == Some(202))
            .unwrap();
        let e = s.wait_event(queued(&tag));
        assert_eq!(e["state"], "done", "{kind:?}: {e}");
        assert_eq!(e["event"]["kind"], "tag");
        assert_eq!(e["event"]["version"], "1.2.0");
        assert_eq!(
            e["event"]["sha"],
            sha.as_str(),
            "the tag's commit, not the tag object"
        );

        // a pull request from a branch of the repository, then from a fork
        forge.commit("feature.txt", "x\n", "a feature");
        assert!(forge.push("HEAD:refs/heads/feature").status.success());
        for (number, fork) in [(1, false), (2, true)] {
            let out = forge.open_pull_request(number, "feature", "main", pr_opened(kind), fork);
            assert!(
                out.status.success(),
                "{}",
                String::from_utf8_lossy(&out.stderr)
            );
            let pr = forge.deliveries().into_iter().last().unwrap();
            let e = s.wait_event(queued(&pr));
            assert_eq!(e["state"], "done", "{kind:?}: {e}\n{}", s.log());
            assert_eq!(e["event"]["kind"], "pull_request");
            let run = e["runs"][0].as_u64().unwrap();
            let log = step_log(&s, &token, "app", run, "hello");
            let want = if fork { "token=[none]" } else { "token=[***]" };
            assert!(log.contains(want), "{kind:?} fork={fork}: {log}");
        }
    }
}

fn pr_opened(kind: Kind) -> &'static str {
    match kind {
        Kind::Gitlab => "open",
        _ => "opened",
    }
}

/// `sha256=<hex HMAC-SHA256(secret, body)>`, as GitHub signs.
fn github_signature(secret: &str, body: &[u8]) -> String {
    use hmac::Mac;
    let mut mac = hmac::Hmac::<sha2::Sha256>::new_from_slice(secret.as_bytes()).unwrap();
    mac.update(body);
    let hex: String = mac
        .finalize()
        .into_bytes()
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect();
    format!("sha256={hex}")
}

/// One GitHub push delivery of `sha` per branch (delivery ids `PREFIX-N`), each queued;
/// the events' ids.
fn push_branches(s: &Server, prefix: &str, branches: &[&str], sha: &str) -> Vec<i64> {
    branches
        .iter()
        .enumerate()
        .map(|(i, b)| {
            let a = github_push(s, &format!("{prefix}-{i}"), b, sha, SECRET);
            assert_eq!(a.status, 202, "{}", a.text());
            a.json()["event"].as_i64().unwrap()
        })
        .collect()
}

/// Waits for each event and checks it ended `done`.
fn all_done(s: &Server, ids: &[i64]) {
    for &id in ids {
        let e = s.wait_event(id);
        assert_eq!(e["state"], "done", "{e}\n{}", s.log());
    }
}

/// A GitHub push delivery of `sha` to `branch`, signed with `secret`.
fn github_push(s: &Server, id: &str, branch: &str, sha: &str, secret: &str) -> http::Answer {
    let body = serde_json::json!({
        "ref": format!("refs/heads/{branch}"),
        "before": "0".repeat(40),
        "after": sha,
        "repository": { "full_name": "acme/app" },
        "pusher": { "name": "alice" },
        "sender": { "login": "alice" },
        "head_commit": { "id": sha, "message": "m" },
    })
    .to_string();
    let sig = github_signature(secret, body.as_bytes());
    http::request(
        "POST",
        &s.hook("app"),
        &[
            ("X-GitHub-Event", "push"),
            ("X-GitHub-Delivery", id),
            ("X-Hub-Signature-256", &sig),
            ("Content-Type", "application/json"),
        ],
        body.as_bytes(),
    )
}

#[test]
fn bad_deliveries_get_their_status_and_start_nothing() {
    let s = Server::new();
    // deliveries go nowhere: this test sends them itself
    let forge = Forge::start(Kind::Github, "http://127.0.0.1:9/none", SECRET);
    s.add_project("app", &forge, &[]);
    forge.commit(
        "wharf.policy.toml",
        &settings_policy(&["secrets.pull-requests"]),
        "the policy",
    );
    let sha = forge.commit("wharf.yml", PIPELINE, "add the pipeline");
    assert!(forge.push("main").status.success());
    let body =
        serde_json::json!({ "ref": "refs/heads/main", "before": "0".repeat(40), "after": sha })
            .to_string();
    let hook = s.hook("app");
    let send = |headers: &[(&str, &str)], body: &[u8]| http::request("POST", &hook, headers, body);
    let error = |a: &http::Answer| a.json()["error"].as_str().unwrap_or_default().to_string();

    // a forged signature (another secret)
    let forged = github_signature("not-the-secret", body.as_bytes());
    let a = send(
        &[
            ("X-GitHub-Event", "push"),
            ("X-GitHub-Delivery", "d1"),
            ("X-Hub-Signature-256", &forged),
        ],
        body.as_bytes(),
    );
    assert_eq!(a.status, 401, "{}", a.text());
    assert!(error(&a).contains("does not match"), "{}", a.text());
    // no signature at all
    let a = send(
        &[("X-GitHub-Event", "push"), ("X-GitHub-Delivery", "d2")],
        body.as_bytes(),
    );
    assert_eq!(a.status, 401, "{}", a.text());
    assert!(
        error(&a).contains("missing X-Hub-Signature-256"),
        "{}",
        a.text()
    );
    // a good signature over a body with one byte flipped
    let good = github_signature(SECRET, body.as_bytes());
    let mut flipped = body.clone().into_bytes();
    flipped[10] ^= 1;
    let a = send(
        &[
            ("X-GitHub-Event", "push"),
            ("X-GitHub-Delivery", "d3"),
            ("X-Hub-Signature-256", &good),
        ],
        &flipped,
    );
    assert_eq!(a.status, 401, "{}", a.text());
    // malformed JSON, correctly signed
    let junk = b"{\"ref\": ";
    let sig = github_signature(SECRET, junk);
    let a = send(
        &[
            ("X-GitHub-Event", "push"),
            ("X-GitHub-Delivery", "d4"),
            ("X-Hub-Signature-256", &sig),
        ],
        junk,
    );
    assert_eq!(a.status, 400, "{}", a.text());
    assert!(!error(&a).is_empty(), "{}", a.text());
    // 30 MiB
    let big = vec![b' '; 30 << 20];
    let a = send(
        &[
            ("X-GitHub-Event", "push"),
            ("X-GitHub-Delivery", "d5"),
            ("X-Hub-Signature-256", &good),
        ],
        &big,
    );
    assert_eq!(a.status, 413, "{}", a.text());
    assert!(error(&a).contains("body over"), "{}", a.text());
    // a project nobody registered
    let a = http::request(
        "POST",
        &s.hook("nobody"),
        &[("X-GitHub-Event", "push"), ("X-Hub-Signature-256", &good)],
        body.as_bytes(),
    );
    assert_eq!(a.status, 404, "{}", a.text());
    assert!(
        error(&a).contains("no project named `nobody`"),
        "{}",
        a.text()
    );
    // an event type wharf does not act on: 2xx, recorded, nothing queued
    let issue = b"{\"action\": \"opened\"}";
    let sig = github_signature(SECRET, issue);
    let a = send(
        &[
            ("X-GitHub-Event", "issues"),
            ("X-GitHub-Delivery", "d6"),
            ("X-Hub-Signature-256", &sig),
        ],
        issue,
    );
    assert_eq!(a.status, 200, "{}", a.text());
    assert!(
        a.json()["outcome"].as_str().unwrap().contains("ignored"),
        "{}",
        a.text()
    );
    assert!(
        s.events().is_empty(),
        "nothing was queued: {:?}",
        s.events()
    );

    // the real delivery, then a replay of it: one event
    let a = github_push(&s, "d7", "main", &sha, SECRET);
    assert_eq!(a.status, 202, "{}", a.text());
    let again = github_push(&s, "d7", "main", &sha, SECRET);
    assert_eq!(again.status, 200, "{}", again.text());
    assert_eq!(again.json()["duplicate"], true, "{}", again.text());
    assert_eq!(s.events().len(), 1);
    s.wait_event(a.json()["event"].as_i64().unwrap());
}

/// A branch named like shell code and like an expression reaches the job as data.
#[test]
fn a_hostile_branch_name_is_data_not_code() {
    let s = Server::new();
    let forge = Forge::start(Kind::Github, &s.hook("app"), SECRET);
    s.add_project("app", &forge, &[]);
    let marker = std::env::temp_dir().join(format!("wharf-pwned-{}", std::process::id()));
    let _ = std::fs::remove_file(&marker);
    let branch = format!(
        "x-$(touch${{IFS}}{})-${{{{secrets.DEPLOY_TOKEN}}}}-`id`",
        marker.display()
    );
    forge.commit(
        "wharf.policy.toml",
        &settings_policy(&["secrets.pull-requests"]),
        "the policy",
    );
    forge.commit(
        "wharf.yml",
        PIPELINE
            .replace("secrets: [DEPLOY_TOKEN]\n    ", "")
            .as_str(),
        "p",
    );
    assert!(
        forge
            .push(&format!("HEAD:refs/heads/{branch}"))
            .status
            .success(),
        "git took the branch name"
    );
    let d = forge
        .deliveries()
        .into_iter()
        .find(|d| d.status == Some(202))
        .unwrap();
    let e = s.wait_event(queued(&d));
    assert_eq!(e["state"], "done", "{e}\n{}", s.log());
    assert_eq!(e["event"]["branch"], branch.as_str());
    let token = s.token("viewer");
    let log = step_log(&s, &token, "app", e["runs"][0].as_u64().unwrap(), "hello");
    assert!(log.contains(&format!("branch=[{branch}]")), "{log}");
    assert!(!marker.exists(), "the branch name ran as a command");
}

/// A thousand deliveries of one push at once (different delivery ids, as when a forge
/// retries after timeouts): every one answered 2xx, one event.
#[test]
fn a_burst_of_deliveries_queues_one_event_per_push() {
    let s = Server::new();
    let forge = Forge::start(Kind::Github, "http://127.0.0.1:9/none", SECRET);
    s.add_project("app", &forge, &[]);
    let sha = forge.commit(
        "wharf.yml",
        "version: 1\non: { push: {} }\njobs:\n  a:\n    run: \"true\"\n",
        "p",
    );
    assert!(forge.push("main").status.success());
    let statuses: Vec<u16> = std::thread::scope(|scope| {
        let handles: Vec<_> = (0..8)
            .map(|t| {
                let s = &s;
                let sha = &sha;
                scope.spawn(move || {
                    (0..125)
                        .map(|i| {
                            github_push(s, &format!("burst-{t}-{i}"), "main", sha, SECRET).status
                        })
                        .collect::<Vec<u16>>()
                })
            })
            .collect();
        handles
            .into_iter()
            .flat_map(|h| h.join().unwrap())
            .collect()
    });
    assert_eq!(statuses.len(), 1000);
    assert!(
        statuses.iter().all(|s| *s == 200 || *s == 202),
        "{statuses:?}"
    );
    assert_eq!(statuses.iter().filter(|s| **s == 202).count(), 1);
    assert_eq!(s.events().len(), 1);
}

/// A client that sends its body one byte a second is cut off (408) while the server
/// keeps answering others.
#[test]
fn a_slow_client_is_cut_off_and_the_server_keeps_serving() {
    use std::io::Read;
    let mut s = Server::new();
    s.kill9();
    s.start(&["--body-timeout", "2"]);
    let forge = Forge::start(Kind::Github, "http://127.0.0.1:9/none", SECRET);
    s.add_project("app", &forge, &[]);
    let host = s.url.trim_start_matches("http://").to_string();
    let mut slow = std::net::TcpStream::connect(&host).unwrap();
    write!(
        slow,
        "POST /hooks/app HTTP/1.1\r\nHost: {host}\r\nX-GitHub-Event: push\r\nContent-Length: 100\r\n\r\n"
    )
    .unwrap();
    let started = Instant::now();
    let trickle = std::thread::spawn(move || {
        for _ in 0..30 {
            if slow.write_all(b"x").is_err() {
                break;
            }
            std::thread::sleep(Duration::from_secs(1));
            let _ = slow.set_read_timeout(Some(Duration::from_millis(1)));
            let mut buf = [0u8; 512];
            if let Ok(n) = slow.read(&mut buf)
                && n > 0
            {
                return (
                    String::from_utf8_lossy(&buf[..n]).into_owned(),
                    started.elapsed(),
                );
            }
        }
        (String::new(), started.elapsed())
    });
    // one that trickles its headers is cut off too (after 10 s)
    let mut slow_headers = std::net::TcpStream::connect(&host).unwrap();
    let header_trickle = std::thread::spawn(move || {
        let started = Instant::now();
        for b in b"POST /hooks/app HTTP/1.1\r\nHost: x\r\nX-Slow: aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa"
            .iter()
        {
            if slow_headers.write_all(&[*b]).is_err() {
                break;
            }
            let _ = slow_headers.set_read_timeout(Some(Duration::from_secs(1)));
            let mut buf = [0u8; 64];
            if let Ok(0) = slow_headers.read(&mut buf) {
                return Some(started.elapsed());
            }
        }
        None
    });
    // meanwhile others are served
    let health = http::get(&format!("{}/api/v1/health", s.url), None);
    assert_eq!(health.status, 200);
    let (answer, after) = trickle.join().unwrap();
    assert!(answer.starts_with("HTTP/1.1 408"), "{answer:?}");
    assert!(after < Duration::from_secs(10), "cut off after {after:?}");
    let closed = header_trickle.join().unwrap();
    assert!(
        closed.is_some_and(|d| d < Duration::from_secs(20)),
        "a client trickling its headers was not cut off: {closed:?}"
    );
    assert_eq!(
        http::get(&format!("{}/api/v1/health", s.url), None).status,
        200
    );
}

#[test]
fn the_api_answers_by_role_and_serves_runs_logs_and_artifacts() {
    let (s, forge, viewer) = setup(Kind::Github);
    let operator = s.token("operator");
    let admin = s.token("admin");
    let api = format!("{}/api/v1", s.url);
    forge.commit(
        "wharf.policy.toml",
        &settings_policy(&["secrets.pull-requests"]),
        "the policy",
    );
    forge.commit("wharf.yml", PIPELINE, "add the pipeline");
    assert!(forge.push("main").status.success());
    let d = forge
        .deliveries()
        .into_iter()
        .find(|d| d.status == Some(202))
        .unwrap();
    let e = s.wait_event(queued(&d));
    let run = e["runs"][0].as_u64().unwrap();

    // no token, a bad one, a revoked one
    let a = http::get(&format!("{api}/projects"), None);
    assert_eq!(a.status, 401, "{}", a.text());
    assert!(
        a.json()["error"]
            .as_str()
            .unwrap()
            .contains("Authorization"),
        "{}",
        a.text()
    );
    let a = http::get(&format!("{api}/projects"), Some("wharf_0000"));
    assert_eq!(a.status, 401);
    let gone = s.token("viewer");
    let id = s.admin(&["token", "list", "--json"], "").expect(0).json()[0]["id"]
        .as_i64()
        .unwrap();
    s.admin(&["token", "revoke", &id.to_string()], "").expect(0);
    let a = http::get(&format!("{api}/projects"), Some(&gone));
    assert_eq!(a.status, 401, "a revoked token");
    assert!(
        a.json()["error"].as_str().unwrap().contains("revoked"),
        "{}",
        a.text()
    );

    // a viewer reads, and may not cancel
    let a = http::get(&format!("{api}/projects"), Some(&viewer));
    assert_eq!(a.status, 200);
    assert_eq!(a.json()[0]["name"], "app");
    let a = http::send_json(
        "POST",
        &format!("{api}/projects/app/runs/{run}/cancel"),
        Some(&viewer),
        &serde_json::json!({}),
    );
    assert_eq!(a.status, 403, "{}", a.text());
    assert!(
        a.json()["error"]
            .as_str()
            .unwrap()
            .contains("role operator"),
        "{}",
        a.text()
    );
    // an operator may, but the run ended
    let a = http::send_json(
        "POST",
        &format!("{api}/projects/app/runs/{run}/cancel"),
        Some(&operator),
        &serde_json::json!({}),
    );
    assert_eq!(a.status, 409, "{}", a.text());

    // runs: list with filters, one run
    let a = http::get(
        &format!("{api}/projects/app/runs?status=success&ref=main"),
        Some(&viewer),
    );
    assert_eq!(a.status, 200, "{}", a.text());
    assert_eq!(a.json()[0]["number"], run);
    let a = http::get(
        &format!("{api}/projects/app/runs?status=bogus"),
        Some(&viewer),
    );
    assert_eq!(a.status, 400, "{}", a.text());
    let a = http::get(
        &format!("{api}/projects/app/runs?before={run}"),
        Some(&viewer),
    );
    assert_eq!(
        a.json().as_array().unwrap().len(),
        0,
        "the next page is empty"
    );
    let rec = http::get(&format!("{api}/projects/app/runs/{run}"), Some(&viewer)).json();
    assert_eq!(rec["jobs"][0]["status"], "success");

    // a log by byte range
    let log = format!("{api}/projects/app/runs/{run}/jobs/hello/steps/0/log");
    let whole = http::get(&log, Some(&viewer));
    let a = http::request(
        "GET",
        &log,
        &[
            ("Authorization", &format!("Bearer {viewer}")),
            ("Range", "bytes=0-7"),
        ],
        b"",
    );
    assert_eq!(a.status, 206, "{}", a.text());
    assert_eq!(a.body, whole.body[..8]);
    assert_eq!(
        a.header("content-range").unwrap(),
        format!("bytes 0-7/{}", whole.body.len())
    );
    let a = http::request(
        "GET",
        &log,
        &[
            ("Authorization", &format!("Bearer {viewer}")),
            ("Range", "bytes=99999-"),
        ],
        b"",
    );
    assert_eq!(a.status, 416);

    // an artifact, byte for byte, and paths that try to leave the store
    let list = http::get(
        &format!("{api}/projects/app/runs/{run}/artifacts"),
        Some(&viewer),
    )
    .json();
    let art = &list[0];
    assert_eq!(art["path"], "out/report.txt");
    let a = http::get(
        &format!("{api}/projects/app/runs/{run}/artifacts/out/report.txt"),
        Some(&viewer),
    );
    assert_eq!(a.status, 200, "{}", a.text());
    let digest: String = {
        use sha2::Digest;
        sha2::Sha256::digest(&a.body)
            .iter()
            .map(|b| format!("{b:02x}"))
            .collect()
    };
    assert_eq!(digest, art["sha256"].as_str().unwrap());
    for evil in [
        "../../server.db",
        "..%2F..%2Fserver.db",
        "%2E%2E/%2E%2E/secret.key",
        "/etc/passwd",
    ] {
        let a = http::get(
            &format!("{api}/projects/app/runs/{run}/artifacts/{evil}"),
            Some(&viewer),
        );
        assert!(
            a.status == 404 || a.status == 400,
            "{evil}: {} {}",
            a.status,
            a.text()
        );
        assert!(!a.text().contains("SQLite"), "{evil}");
    }

    // secrets: names for viewers, values never; set needs admin
    let a = http::get(&format!("{api}/projects/app/secrets"), Some(&viewer));
    assert_eq!(a.json()[0]["name"], "DEPLOY_TOKEN");
    assert!(!a.text().contains("deploy-token-value-42"));
    let url = format!("{api}/projects/app/secrets/OTHER_TOKEN");
    let body = serde_json::json!({ "value": "another-secret-value" });
    assert_eq!(
        http::send_json("PUT", &url, Some(&operator), &body).status,
        403
    );
    assert_eq!(
        http::send_json("PUT", &url, Some(&admin), &body).status,
        204
    );
    let a = http::send_json(
        "PUT",
        &format!("{api}/projects/app/secrets/bad-name"),
        Some(&admin),
        &body,
    );
    assert_eq!(a.status, 400, "{}", a.text());

    // a manual run with inputs; a bad input is refused before anything is queued
    let a = http::send_json(
        "POST",
        &format!("{api}/projects/app/trigger"),
        Some(&operator),
        &serde_json::json!({ "inputs": { "target": "production" } }),
    );
    assert_eq!(a.status, 202, "{}", a.text());
    let e = s.wait_event(a.json()["event"].as_i64().unwrap());
    assert_eq!(e["state"], "done", "{e}");
    let run2 = e["runs"][0].as_u64().unwrap();
    assert!(step_log(&s, &viewer, "app", run2, "hello").contains("ran manual at"));
    assert!(step_log(&s, &viewer, "app", run2, "hello").contains("input=[production]"));
    let a = http::send_json(
        "POST",
        &format!("{api}/projects/app/trigger"),
        Some(&operator),
        &serde_json::json!({ "inputs": { "target": "moon" } }),
    );
    assert_eq!(a.status, 400, "{}", a.text());
    assert!(
        a.json()["error"].as_str().unwrap().contains("moon"),
        "{}",
        a.text()
    );
    let a = http::send_json(
        "POST",
        &format!("{api}/projects/app/trigger"),
        Some(&operator),
        &serde_json::json!({ "branch": "nope" }),
    );
    assert_eq!(a.status, 400, "{}", a.text());

    // tokens are an admin's business
    assert_eq!(
        http::get(&format!("{api}/tokens"), Some(&operator)).status,
        403
    );
    let a = http::send_json(
        "POST",
        &format!("{api}/tokens"),
        Some(&admin),
        &serde_json::json!({ "name": "ci", "role": "viewer" }),
    );
    assert_eq!(a.status, 201, "{}", a.text());
    let made = a.json()["token"].as_str().unwrap().to_string();
    assert_eq!(
        http::get(&format!("{api}/projects"), Some(&made)).status,
        200
    );
    let listed = http::get(&format!("{api}/tokens"), Some(&admin)).text();
    assert!(!listed.contains(&made), "tokens are never listed");
}

/// Every route the server has is in its OpenAPI document, and every path and method
/// of the document is a route.
#[test]
fn the_openapi_document_matches_the_routes() {
    let s = Server::new();
    let doc = http::get(&format!("{}/api/v1/openapi.json", s.url), None).json();
    let mut documented: Vec<String> = Vec::new();
    for (path, ops) in doc["paths"].as_object().unwrap() {
        for method in ops.as_object().unwrap().keys() {
            documented.push(format!("{} {path}", method.to_uppercase()));
        }
    }
    documented.sort();
    let source = include_str!("../../../wharf-server/src/api/mod.rs");
    let mut routed: Vec<String> = vec!["POST /hooks/{project}".to_string()];
    let mut rest = source;
    while let Some(i) = rest.find(".route(") {
        rest = &rest[i + ".route(".len()..];
        // the call's arguments, up to its closing parenthesis
        let mut depth = 1;
        let end = rest
            .char_indices()
            .find(|&(_, c)| {
                depth += match c {
                    '(' => 1,
                    ')' => -1,
                    _ => 0,
                };
                depth == 0
            })
            .unwrap()
            .0;
        let call = &rest[..end];
        let path = call.split('"').nth(1).unwrap();
        let handlers = &call[call.rfind('"').unwrap()..];
        for (name, method) in [
            ("get(", "GET"),
            ("post(", "POST"),
            ("put(", "PUT"),
            ("delete(", "DELETE"),
        ] {
            let called = handlers
                .match_indices(name)
                .any(|(j, _)| !handlers[..j].ends_with(|c: char| c.is_alphanumeric() || c == '_'));
            if called {
                routed.push(format!("{method} /api/v1{path}"));
            }
        }
    }
    routed.sort();
    let routed: Vec<String> = routed
        .into_iter()
        .map(|r| r.replace("{*path}", "{path}"))
        .collect();
    assert_eq!(documented, routed);
    // and each documented route answers (not 404/405) for an unauthenticated call
    for r in &documented {
        let (method, path) = r.split_once(' ').unwrap();
        let path = path
            .replace("{project}", "app")
            .replace("{run}", "1")
            .replace("{job}", "j")
            .replace("{step}", "0")
            .replace("{path}", "a")
            .replace("{name}", "N")
            .replace("{id}", "1");
        let a = http::request(
            method,
            &format!("{}{path}", s.url),
            &[("Content-Type", "application/json")],
            b"{}",
        );
        assert!(a.status != 405, "{r}: {}", a.status);
        if !path.starts_with("/hooks") {
            assert!(
                a.status != 404 || path.ends_with("health"),
                "{r}: {} {}",
                a.status,
                a.text()
            );
        }
    }
}

/// Without webhooks, `--poll` finds new commits and tags and runs them as pushes and tags.
#[test]
fn polling_turns_new_commits_and_tags_into_events() {
    let s = Server::new();
    // the forge's deliveries go nowhere: only polling can see the pushes
    let forge = Forge::start(Kind::Gitea, "http://127.0.0.1:9/none", SECRET);
    forge.commit(
        "wharf.policy.toml",
        &settings_policy(&["secrets.pull-requests"]),
        "the policy",
    );
    forge.commit(
        "wharf.yml",
        PIPELINE
            .replace("secrets: [DEPLOY_TOKEN]\n    ", "")
            .as_str(),
        "p",
    );
    assert!(forge.push("main").status.success());
    s.add_project("app", &forge, &["--poll", "1s"]);
    // the first poll only records what is there
    std::thread::sleep(Duration::from_millis(2500));
    assert!(
        s.events().is_empty(),
        "registering runs nothing: {:?}",
        s.events()
    );
    let sha = forge.commit("more.txt", "more\n", "more");
    assert!(forge.push("main").status.success());
    forge.tag("v2.0.0", false);
    assert!(forge.push("v2.0.0").status.success());
    let deadline = Instant::now() + Duration::from_secs(30);
    let events = loop {
        let ev = s.events();
        if ev.len() >= 2 {
            break ev;
        }
        assert!(Instant::now() < deadline, "{:?}\n{}", ev, s.log());
        std::thread::sleep(Duration::from_millis(200));
    };
    for e in &events {
        assert_eq!(e["source"], "poll");
        assert_eq!(e["event"]["sha"], sha.as_str());
        let done = s.wait_event(e["id"].as_i64().unwrap());
        assert_eq!(done["state"], "done", "{done}");
    }
    let kinds: Vec<&str> = events
        .iter()
        .map(|e| e["event"]["kind"].as_str().unwrap())
        .collect();
    assert!(
        kinds.contains(&"push") && kinds.contains(&"tag"),
        "{kinds:?}"
    );
    std::thread::sleep(Duration::from_millis(2000));
    assert_eq!(s.events().len(), 2, "nothing new, nothing queued");
}

/// `on.pipeline` starts a pipeline of the same commit when another one ended as named.
#[test]
fn a_pipeline_starts_when_the_one_it_follows_ends() {
    let s = Server::new();
    let forge = Forge::start(Kind::Github, &s.hook("app"), SECRET);
    s.add_project("app", &forge, &[]);
    forge.commit(
        "wharf.yml",
        "version: 1\nname: build\non: { push: {} }\njobs:\n  b:\n    run: echo built\n",
        "build",
    );
    forge.commit(
        ".wharf/deploy.yml",
        "version: 1\nname: deploy\non: { pipeline: { name: build, status: success } }\njobs:\n  d:\n    run: echo \"deploying after $WHARF_EVENT\"\n",
        "deploy",
    );
    forge.commit(
        ".wharf/alert.yml",
        "version: 1\nname: alert\non: { pipeline: { name: build, status: failure } }\njobs:\n  a:\n    run: echo alert\n",
        "alert",
    );
    assert!(forge.push("main").status.success());
    let d = forge
        .deliveries()
        .into_iter()
        .find(|d| d.status == Some(202))
        .unwrap();
    s.wait_event(queued(&d));
    let deadline = Instant::now() + Duration::from_secs(30);
    let follow = loop {
        if let Some(e) = s.events().into_iter().find(|e| e["source"] == "pipeline") {
            break s.wait_event(e["id"].as_i64().unwrap());
        }
        assert!(Instant::now() < deadline, "{}", s.log());
        std::thread::sleep(Duration::from_millis(100));
    };
    assert_eq!(follow["state"], "done", "{follow}");
    assert_eq!(follow["event"]["upstream"]["pipeline"], "build");
    assert_eq!(
        follow["runs"].as_array().unwrap().len(),
        1,
        "deploy ran, alert did not"
    );
    let token = s.token("viewer");
    let run = follow["runs"][0].as_u64().unwrap();
    let rec = http::get(
        &format!("{}/api/v1/projects/app/runs/{run}", s.url),
        Some(&token),
    )
    .json();
    assert_eq!(rec["pipeline"], "deploy");
    assert!(step_log(&s, &token, "app", run, "d").contains("deploying after pipeline"));
}

/// `kill -9` of the server while a job runs: the job's processes are stopped (the
/// watchdog), and on restart the run is recorded interrupted and its unfinished jobs run
/// again as a new attempt, reusing the job that had finished.
#[test]
fn a_server_killed_mid_run_recovers_and_retries_the_unfinished_jobs() {
    let mut s = Server::new();
    let forge = Forge::start(Kind::Github, &s.hook("app"), SECRET);
    s.add_project("app", &forge, &[]);
    let marker_dir = tempfile::tempdir().unwrap();
    let m = marker_dir.path().display().to_string();
    forge.commit(
        "wharf.yml",
        &format!(
            "version: 1\non: {{ push: {{}} }}\njobs:\n  first:\n    run: echo once >> {m}/first\n  slow:\n    needs: [first]\n    run: |\n      echo started >> {m}/slow\n      if [ ! -e {m}/go ]; then sleep 60; fi\n      echo finished >> {m}/slow\n"
        ),
        "p",
    );
    assert!(forge.push("main").status.success());
    let d = forge
        .deliveries()
        .into_iter()
        .find(|d| d.status == Some(202))
        .unwrap();
    let id = queued(&d);
    let slow = marker_dir.path().join("slow");
    let deadline = Instant::now() + Duration::from_secs(30);
    while !slow.exists() {
        assert!(Instant::now() < deadline, "{}", s.log());
        std::thread::sleep(Duration::from_millis(50));
    }
    // `first`'s result is written as it ends, but `slow` may start before that write is
    // done: kill only once the store has it, so that it is the job that had finished.
    let token = s.token("viewer");
    let run = loop {
        if let Some(r) = s
            .events()
            .into_iter()
            .find(|e| e["id"] == id)
            .and_then(|e| e["runs"][0].as_u64())
        {
            break r;
        }
        assert!(Instant::now() < deadline, "{}", s.log());
        std::thread::sleep(Duration::from_millis(50));
    };
    loop {
        let rec = http::get(
            &format!("{}/api/v1/projects/app/runs/{run}", s.url),
            Some(&token),
        )
        .json();
        let first = rec["jobs"].as_array().and_then(|jobs| {
            jobs.iter()
                .find(|j| j["id"] == "first")
                .map(|j| j["status"].clone())
        });
        if first.as_ref().is_some_and(|st| st == "success") {
            break;
        }
        assert!(Instant::now() < deadline, "{rec}\n{}", s.log());
        std::thread::sleep(Duration::from_millis(50));
    }
    s.kill9();
    // the step's `sleep` is stopped by the watchdog, not left running
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        let alive = Command::new("pgrep")
            .args(["-f", "sleep 60"])
            .output()
            .unwrap();
        let ours = String::from_utf8_lossy(&alive.stdout).lines().count();
        if ours == 0 {
            break;
        }
        assert!(Instant::now() < deadline, "the step outlived the server");
        std::thread::sleep(Duration::from_millis(100));
    }
    std::fs::write(marker_dir.path().join("go"), "").unwrap();
    s.start(&[]);
    let events = s.events();
    let first = events.iter().find(|e| e["id"] == id).unwrap();
    assert_eq!(first["state"], "interrupted", "{first}");
    let retry = events
        .iter()
        .find(|e| e["source"] == "retry")
        .unwrap_or_else(|| panic!("no retry: {events:?}\n{}", s.log()));
    assert_eq!(retry["attempt"], 2);
    let done = s.wait_event(retry["id"].as_i64().unwrap());
    assert_eq!(done["state"], "done", "{done}\n{}", s.log());
    let old = first["runs"][0].as_u64().unwrap();
    assert_eq!(old, run);
    let rec = http::get(
        &format!("{}/api/v1/projects/app/runs/{old}", s.url),
        Some(&token),
    )
    .json();
    assert_eq!(rec["status"], "interrupted", "no run stays running: {rec}");
    let new = done["runs"][0].as_u64().unwrap();
    let rec = http::get(
        &format!("{}/api/v1/projects/app/runs/{new}", s.url),
        Some(&token),
    )
    .json();
    assert_eq!(rec["status"], "success", "{rec}");
    assert_eq!(
        std::fs::read_to_string(marker_dir.path().join("first")).unwrap(),
        "once\n",
        "the finished job was reused, not run twice"
    );
    assert_eq!(
        std::fs::read_to_string(&slow).unwrap(),
        "started\nstarted\nfinished\n"
    );
}

/// `wharf runs|show|logs|artifacts --server URL --project NAME` read a server's history
/// (token from WHARF_TOKEN); `wharf trigger` starts a manual run there.
#[test]
fn the_cli_reads_a_servers_history_and_triggers_runs() {
    let (s, forge, viewer) = setup(Kind::Gitlab);
    let operator = s.token("operator");
    forge.commit(
        "wharf.policy.toml",
        &settings_policy(&["secrets.pull-requests"]),
        "the policy",
    );
    forge.commit("wharf.yml", PIPELINE, "add the pipeline");
    assert!(forge.push("main").status.success());
    let d = forge
        .deliveries()
        .into_iter()
        .find(|d| d.status == Some(202))
        .unwrap();
    let e = s.wait_event(queued(&d));
    let run = e["runs"][0].as_u64().unwrap();
    let cli = |args: &[&str], token: Option<&str>| {
        let mut c = Command::new(bin());
        c.args(args)
            .args(["--server", &s.url, "--project", "app"])
            .env_remove("WHARF_TOKEN")
            .stdin(Stdio::null());
        if let Some(t) = token {
            c.env("WHARF_TOKEN", t);
        }
        crate::helper::Run {
            out: c.output().unwrap(),
        }
    };
    let out = cli(&["runs"], Some(&viewer)).expect(0);
    assert!(out.stdout().contains("success"), "{}", out.stdout());
    let shown = cli(&["show", "--json"], Some(&viewer)).expect(0).json();
    assert_eq!(shown["number"], run);
    let logs = cli(&["logs"], Some(&viewer)).expect(0).stdout();
    assert!(
        logs.contains("==> hello /") && logs.contains("ran push at"),
        "{logs}"
    );
    let arts = cli(&["artifacts", "--json"], Some(&viewer))
        .expect(0)
        .json();
    assert_eq!(arts[0]["path"], "out/report.txt");
    let out = cli(&["runs"], None).expect(2);
    assert!(out.stderr().contains("401"), "{}", out.stderr());
    assert!(out.stderr().contains("WHARF_TOKEN"), "{}", out.stderr());
    // a viewer may not trigger; an operator may
    let out = cli(&["trigger", "-i", "target=production"], Some(&viewer)).expect(2);
    assert!(out.stderr().contains("403"), "{}", out.stderr());
    let answer = cli(
        &["trigger", "-i", "target=production", "--json"],
        Some(&operator),
    )
    .expect(0)
    .json();
    let done = s.wait_event(answer["event"].as_i64().unwrap());
    assert_eq!(done["state"], "done", "{done}");
    let out = cli(&["trigger", "-i", "target=moon"], Some(&operator)).expect(2);
    assert!(out.stderr().contains("moon"), "{}", out.stderr());
}

/// The administration commands refuse bad input with what is wrong and a hint, exit 2.
#[test]
fn bad_administration_input_is_refused_with_a_hint() {
    let s = Server::new();
    let forge = Forge::start(Kind::Github, "http://127.0.0.1:9/none", SECRET);
    let url = forge.clone_url();
    let add = |name: &str, extra: &[&str]| {
        let mut args = vec![
            "project",
            "add",
            name,
            "--repo",
            url.as_str(),
            "--forge",
            "github",
        ];
        args.extend_from_slice(extra);
        s.admin(&args, "")
    };
    let out = add("bad name!", &[]).expect(2);
    assert!(
        out.stderr().contains("`bad name!` is not a project name"),
        "{}",
        out.stderr()
    );
    assert!(out.stderr().contains("letters, digits"), "{}", out.stderr());
    let out = add("app", &["--poll", "5 parsecs"]).expect(2);
    assert!(
        out.stderr()
            .contains("--poll `5 parsecs` is not a duration"),
        "{}",
        out.stderr()
    );
    let out = add("app", &[]).expect(0);
    assert_eq!(
        out.stdout().trim().len(),
        64,
        "the generated secret, once: {}",
        out.stdout()
    );
    let out = add("app", &[]).expect(2);
    assert!(
        out.stderr().contains("a project named `app` exists"),
        "{}",
        out.stderr()
    );
    let out = s
        .admin(
            &["project", "add", "x", "--repo", "r", "--forge", "bitbucket"],
            "",
        )
        .expect(2);
    assert!(
        out.stderr().contains("invalid value 'bitbucket'"),
        "{}",
        out.stderr()
    );
    let out = s.admin(&["token", "revoke", "999"], "").expect(2);
    assert!(
        out.stderr().contains("no live token 999"),
        "{}",
        out.stderr()
    );
    let out = s
        .admin(
            &["secrets", "--project", "nope", "set", "TOKEN"],
            "value-1234567890",
        )
        .expect(2);
    assert!(
        out.stderr().contains("no project named `nope`"),
        "{}",
        out.stderr()
    );
    let out = s.admin(&["project", "remove", "nope"], "").expect(2);
    assert!(
        out.stderr().contains("no project named `nope`"),
        "{}",
        out.stderr()
    );
    let listed = s.admin(&["project", "list", "--json"], "").expect(0).json();
    assert_eq!(listed[0]["name"], "app");
    // a second server on the same data directory is refused (it would retry the first
    // one's running events as a dead server's)
    let second = Command::new(bin())
        .args(["serve", "--listen", "127.0.0.1:0", "--data-dir"])
        .arg(s.data.path())
        .stdin(Stdio::null())
        .output()
        .unwrap();
    let err = String::from_utf8_lossy(&second.stderr);
    assert_eq!(second.status.code(), Some(2), "{err}");
    assert!(
        err.contains("another `wharf serve` is using the data directory"),
        "{err}"
    );
    assert!(err.contains("its own --data-dir"), "{err}");
    assert!(!listed.to_string().contains("secret"), "{listed}");
}

/// A new project's first deliveries, arriving as the server starts (while its scheduler
/// makes the first clone too): every one runs; one git operation on the mirror at a time.
#[test]
fn the_first_deliveries_of_a_new_project_all_run() {
    for _ in 0..3 {
        let mut s = Server::new();
        s.kill9();
        let forge = Forge::start(Kind::Github, "http://127.0.0.1:9/none", SECRET);
        let sha = forge.commit(
            "wharf.yml",
            "version: 1\non: { push: {} }\njobs:\n  a:\n    run: \"true\"\n",
            "p",
        );
        assert!(forge.push("main").status.success());
        assert!(forge.push("main:refs/heads/other").status.success());
        s.add_project("app", &forge, &[]);
        s.start(&[]);
        let ids = push_branches(&s, "first", &["main", "other"], &sha);
        all_done(&s, &ids);
    }
}

/// Many events of one project at once (`--max-runs 4`): each gets its own worktree while
/// others are made and removed, and every one runs.
#[test]
fn concurrent_events_of_one_project_all_run() {
    let mut s = Server::new();
    s.kill9();
    s.start(&["--max-runs", "4"]);
    let forge = Forge::start(Kind::Github, "http://127.0.0.1:9/none", SECRET);
    s.add_project("app", &forge, &[]);
    let sha = forge.commit(
        "wharf.yml",
        "version: 1\non: { push: {} }\njobs:\n  a:\n    run: \"true\"\n",
        "p",
    );
    assert!(forge.push("main").status.success());
    let branches: Vec<String> = (0..40).map(|i| format!("b{i}")).collect();
    let branches: Vec<&str> = branches.iter().map(String::as_str).collect();
    let ids = push_branches(&s, "many", &branches, &sha);
    all_done(&s, &ids);
}

/// A deployment a crash interrupted runs again only as its own `retry:` allows: without
/// one, the retry event fails saying so; with `retry: 1`, it runs again.
#[test]
fn an_interrupted_deployment_runs_again_only_as_its_retry_allows() {
    for retry in ["", "    retry: 1\n"] {
        let mut s = Server::new();
        let forge = Forge::start(Kind::Github, &s.hook("app"), SECRET);
        s.add_project("app", &forge, &[]);
        let markers = tempfile::tempdir().unwrap();
        let m = markers.path().display().to_string();
        forge.commit(
            "wharf.policy.toml",
            &settings_policy(&["environment.production-without-approval"]),
            "the policy",
        );
        forge.commit(
            "wharf.yml",
            &format!(
                "version: 1\non: {{ push: {{}} }}\nenvironments:\n  production: {{}}\njobs:\n  deploy:\n    environment: production\n{retry}    run: |\n      echo started >> {m}/deploy\n      if [ ! -e {m}/go ]; then sleep 60; fi\n"
            ),
            "p",
        );
        assert!(forge.push("main").status.success());
        let started = markers.path().join("deploy");
        let deadline = Instant::now() + Duration::from_secs(30);
        while !started.exists() {
            assert!(Instant::now() < deadline, "{}", s.log());
            std::thread::sleep(Duration::from_millis(50));
        }
        s.kill9();
        std::fs::write(markers.path().join("go"), "").unwrap();
        s.start(&[]);
        let retried = s
            .events()
            .into_iter()
            .find(|e| e["source"] == "retry")
            .unwrap_or_else(|| panic!("no retry event:\n{}", s.log()));
        let e = s.wait_event(retried["id"].as_i64().unwrap());
        if retry.is_empty() {
            assert_eq!(e["state"], "failed", "{e}");
            assert!(
                e["error"]
                    .as_str()
                    .unwrap()
                    .contains("job `deploy` (environment production) was interrupted by the server's stop; it is not run again"),
                "{e}"
            );
            assert_eq!(std::fs::read_to_string(&started).unwrap(), "started\n");
        } else {
            assert_eq!(e["state"], "done", "{e}\n{}", s.log());
            assert_eq!(
                std::fs::read_to_string(&started).unwrap(),
                "started\nstarted\n"
            );
        }
    }
}
