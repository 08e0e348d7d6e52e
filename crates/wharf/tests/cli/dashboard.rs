//! The dashboard and the live logs of `wharf serve`: pages over HTTP (sign-in, escaping,
//! CSRF, roles, sessions), the Server-Sent Events stream of a job's log (resume without a
//! gap or a duplicate, far-behind followers, the followers' cap), `wharf logs -f
//! --server`, and the whole dashboard in a real browser (Debian's Chromium, headless,
//! driven by playwright-core).

use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpStream;
use std::path::Path;
use std::process::Command;
use std::time::{Duration, Instant};

use wharf_test_support::http;

use crate::helper::bin;
use crate::server::Server;

/// A repository in `dir` with `pipeline` as `wharf.yml`, committed with `message`.
fn repo(dir: &Path, pipeline: &str, message: &str) {
    std::fs::create_dir_all(dir).unwrap();
    let git = |args: &[&str]| {
        let out = Command::new("git")
            .args(["-c", "user.name=t", "-c", "user.email=t@example.invalid"])
            .args(args)
            .current_dir(dir)
            .output()
            .unwrap();
        assert!(out.status.success(), "git {args:?}: {out:?}");
    };
    if !dir.join(".git").exists() {
        git(&["init", "-q", "-b", "main"]);
    }
    std::fs::write(dir.join("wharf.yml"), pipeline).unwrap();
    git(&["add", "-A"]);
    git(&["commit", "-q", "--allow-empty", "-m", message]);
}

/// A server with project `app` on the repository at `dir`, and an operator and a viewer
/// token.
fn serve(dir: &Path, extra: &[&str]) -> (Server, String, String) {
    let mut s = Server::new();
    if !extra.is_empty() {
        s.kill9();
        s.start(extra);
    }
    s.add_local_project("app", dir);
    let op = s.token("operator");
    let viewer = s.token("viewer");
    (s, op, viewer)
}

/// Starts a manual run; waits until it has a number.
fn trigger(s: &Server, token: &str) -> u64 {
    trigger_with(s, token, &serde_json::json!({}))
}

/// Starts a manual run with `body` (`{"branch": …}`); waits until it has a number.
fn trigger_with(s: &Server, token: &str, body: &serde_json::Value) -> u64 {
    let a = http::send_json(
        "POST",
        &format!("{}/api/v1/projects/app/trigger", s.url),
        Some(token),
        body,
    );
    assert_eq!(a.status, 202, "{}", a.text());
    let event = a.json()["event"].as_i64().unwrap();
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        if let Some(e) = s.events().into_iter().find(|e| e["id"] == event)
            && let Some(run) = e["runs"].as_array().and_then(|r| r.first())
        {
            return run.as_u64().unwrap();
        }
        assert!(Instant::now() < deadline, "no run started:\n{}", s.log());
        std::thread::sleep(Duration::from_millis(50));
    }
}

/// Waits until run `run` has ended; its record.
fn finished(s: &Server, token: &str, run: u64) -> serde_json::Value {
    let deadline = Instant::now() + Duration::from_secs(90);
    loop {
        let a = http::get(
            &format!("{}/api/v1/projects/app/runs/{run}", s.url),
            Some(token),
        );
        let v = a.json();
        if !v["finished_at"].is_null() {
            return v;
        }
        assert!(
            Instant::now() < deadline,
            "run {run} did not end:\n{}",
            s.log()
        );
        std::thread::sleep(Duration::from_millis(100));
    }
}

/// Signs in with `token`; the session cookie (`wharf_session=…`).
pub(crate) fn sign_in(s: &Server, token: &str) -> String {
    let body = format!("token={token}&next=%2Fprojects%2Fapp");
    let a = http::request(
        "POST",
        &format!("{}/login", s.url),
        &[("content-type", "application/x-www-form-urlencoded")],
        body.as_bytes(),
    );
    assert_eq!(a.status, 303, "{}", a.text());
    assert_eq!(a.header("location"), Some("/projects/app"));
    let cookie = a.header("set-cookie").unwrap().to_string();
    for attr in ["HttpOnly", "SameSite=Strict", "Path=/"] {
        assert!(cookie.contains(attr), "{cookie}");
    }
    cookie.split(';').next().unwrap().to_string()
}

pub(crate) fn page(s: &Server, cookie: &str, path: &str) -> http::Answer {
    http::request(
        "GET",
        &format!("{}{path}", s.url),
        &[("cookie", cookie)],
        b"",
    )
}

/// The CSRF token of the page at `path`.
pub(crate) fn csrf(s: &Server, cookie: &str, path: &str) -> String {
    let text = page(s, cookie, path).text();
    let at = text
        .find("name=\"csrf\" value=\"")
        .expect("a form with a CSRF token")
        + 19;
    text[at..at + text[at..].find('"').unwrap()].to_string()
}

pub(crate) fn post_form(
    s: &Server,
    cookie: &str,
    path: &str,
    body: &str,
    origin: Option<&str>,
) -> http::Answer {
    let mut headers = vec![
        ("cookie", cookie),
        ("content-type", "application/x-www-form-urlencoded"),
    ];
    if let Some(o) = origin {
        headers.push(("origin", o));
    }
    http::request(
        "POST",
        &format!("{}{path}", s.url),
        &headers,
        body.as_bytes(),
    )
}

/// A pipeline whose commit message, branch-like input, job name (a matrix value) and log
/// are all hostile markup.
const HOSTILE: &str = r#"version: 1
fail-fast: false
on: { manual: { inputs: { target: { default: staging, options: [staging, production] } } } }
jobs:
  build:
    run: |
      mkdir -p dist && printf 'the artifact\n' > dist/app.txt
      echo '<script>alert("log")</script>'
    artifacts: [dist/app.txt]
  test:
    needs: [build]
    matrix: { py: ["<img src=x onerror=alert(2)>"] }
    run: |
      cat > report.xml <<'X'
      <testsuite name="s" tests="1" failures="1"><testcase classname="shop.cart" name="test_&lt;b&gt;total"><failure message="assert 41 == 42">boom</failure></testcase></testsuite>
      X
      exit 1
    reports: [report.xml]
"#;

#[test]
fn pages_escape_what_users_control_and_forms_need_their_session_token_and_role() {
    let tmp = tempfile::tempdir().unwrap();
    repo(
        &tmp.path().join("repo"),
        HOSTILE,
        "<script>alert(1)</script> in a commit",
    );
    let (s, op, viewer) = serve(&tmp.path().join("repo"), &[]);
    let run = trigger(&s, &op);
    finished(&s, &op, run);
    // A branch whose name is markup (git allows `<` and `>` in branch names).
    let evil_branch = "fix<img/src=x/onerror=alert(3)>";
    let out = Command::new("git")
        .args(["branch", evil_branch])
        .current_dir(tmp.path().join("repo"))
        .output()
        .unwrap();
    assert!(out.status.success(), "{out:?}");
    let evil_run = trigger_with(&s, &op, &serde_json::json!({ "branch": evil_branch }));
    finished(&s, &op, evil_run);

    // Signed out: every page leads to the sign-in form, and comes back after it.
    let a = http::get(&format!("{}/projects/app/runs/{run}", s.url), None);
    assert_eq!(a.status, 303);
    assert_eq!(
        a.header("location"),
        Some(format!("/login?next=%2Fprojects%2Fapp%2Fruns%2F{run}").as_str())
    );
    // A wrong token: the form again, 401, no cookie.
    let bad = http::request(
        "POST",
        &format!("{}/login", s.url),
        &[("content-type", "application/x-www-form-urlencoded")],
        b"token=wharf_0000&next=/",
    );
    assert_eq!(bad.status, 401);
    assert!(
        bad.text().contains("unknown or revoked token"),
        "{}",
        bad.text()
    );
    assert!(bad.header("set-cookie").is_none());
    // `next` can only be a path of this server.
    let evil = http::request(
        "POST",
        &format!("{}/login", s.url),
        &[("content-type", "application/x-www-form-urlencoded")],
        format!("token={op}&next=//evil.example/x").as_bytes(),
    );
    assert_eq!(evil.header("location"), Some("/"));

    let cookie = sign_in(&s, &op);
    let runs = page(&s, &cookie, "/projects/app");
    assert_eq!(runs.status, 200);
    let csp = runs.header("content-security-policy").unwrap();
    assert!(csp.contains("script-src 'self'"), "{csp}");
    let html = runs.text();
    assert!(
        html.contains("&lt;script&gt;alert(1)&lt;&#x2f;script&gt; in a commit"),
        "{html}"
    );
    assert!(!html.contains("<script>alert"), "{html}");
    assert!(!html.contains("<img"), "{html}");
    assert!(
        html.contains("fix&lt;img&#x2f;src=x&#x2f;onerror=alert(3)&gt;"),
        "the branch, escaped:\n{html}"
    );
    // The filter form keeps what was typed, escaped.
    let filtered = page(
        &s,
        &cookie,
        "/projects/app?ref=%22%3E%3Cscript%3Ex%3C%2Fscript%3E",
    )
    .text();
    assert!(!filtered.contains("\"><script>x"), "{filtered}");

    let run_page = page(&s, &cookie, &format!("/projects/app/runs/{run}")).text();
    for raw in ["<script>alert", "<img src=x", "<b>total"] {
        assert!(
            !run_page.contains(raw),
            "`{raw}` is not escaped:\n{run_page}"
        );
    }
    assert!(
        run_page.contains("test_&lt;b&gt;total"),
        "the failing test by name:\n{run_page}"
    );
    assert!(run_page.contains("assert 41 == 42"));
    assert!(run_page.contains("<svg class=\"dag\""));
    assert!(run_page.contains("class=\"node s-failed\""));
    assert!(run_page.contains("dist&#x2f;app.txt"), "{run_page}");
    let job_id = "test (py=<img src=x onerror=alert(2)>)";
    let job_path = format!(
        "/projects/app/runs/{run}/jobs/{}",
        job_id
            .bytes()
            .map(|b| if b.is_ascii_alphanumeric() {
                (b as char).to_string()
            } else {
                format!("%{b:02X}")
            })
            .collect::<String>()
    );
    let job_page = page(&s, &cookie, &job_path);
    assert_eq!(job_page.status, 200, "{}", job_page.text());
    assert!(
        !job_page.text().contains("<img src=x"),
        "{}",
        job_page.text()
    );
    let build_page = page(&s, &cookie, &format!("/projects/app/runs/{run}/jobs/build")).text();
    assert!(
        build_page.contains("&lt;script&gt;alert(&quot;log&quot;)&lt;&#x2f;script&gt;")
            || build_page.contains("&lt;script&gt;alert(&quot;log&quot;)&lt;/script&gt;"),
        "{build_page}"
    );

    // A form without the session's CSRF token, or from another origin, is refused.
    let token = csrf(&s, &cookie, &format!("/projects/app/runs/{run}"));
    let path = format!("/projects/app/runs/{run}/rerun");
    let no_token = post_form(&s, &cookie, &path, "csrf=forged", None);
    assert_eq!(no_token.status, 403);
    assert!(
        no_token
            .text()
            .contains("CSRF token or origin does not match"),
        "{}",
        no_token.text()
    );
    let elsewhere = post_form(
        &s,
        &cookie,
        &path,
        &format!("csrf={token}"),
        Some("http://evil.example"),
    );
    assert_eq!(elsewhere.status, 403);
    // Every form: cancel, a manual run, signing out.
    for form in [
        format!("/projects/app/runs/{run}/cancel"),
        "/projects/app/trigger".to_string(),
        "/logout".to_string(),
    ] {
        let forged = post_form(&s, &cookie, &form, "csrf=forged&branch=main", None);
        assert_eq!(forged.status, 403, "{form}: {}", forged.text());
        assert!(
            forged
                .text()
                .contains("CSRF token or origin does not match"),
            "{form}"
        );
    }
    // A sign-in posted from another site is refused too.
    let login_elsewhere = http::request(
        "POST",
        &format!("{}/login", s.url),
        &[
            ("content-type", "application/x-www-form-urlencoded"),
            ("origin", "http://evil.example"),
        ],
        format!("token={op}").as_bytes(),
    );
    assert_eq!(login_elsewhere.status, 403);
    assert!(login_elsewhere.header("set-cookie").is_none());
    // A viewer pressing an operator's button: 403 with a message.
    let vcookie = sign_in(&s, &viewer);
    let vtoken = csrf(&s, &vcookie, "/projects/app");
    let as_viewer = post_form(&s, &vcookie, &path, &format!("csrf={vtoken}"), None);
    assert_eq!(as_viewer.status, 403);
    assert!(
        as_viewer
            .text()
            .contains("this needs role operator or above; you are signed in as viewer (viewer)"),
        "{}",
        as_viewer.text()
    );
    assert!(
        !page(&s, &vcookie, &format!("/projects/app/runs/{run}"))
            .text()
            .contains("id=\"rerun\"")
    );
    // The operator, with the token and this origin: the re-run is queued.
    let ok = post_form(&s, &cookie, &path, &format!("csrf={token}"), Some(&s.url));
    assert_eq!(ok.status, 303, "{}", ok.text());

    // A manual run from the form: the pipeline's inputs as fields, the choice kept.
    let form = page(&s, &cookie, "/projects/app/trigger").text();
    assert!(form.contains("name=\"input.target\""), "{form}");
    assert!(
        form.contains("<option selected>staging</option><option>production</option>"),
        "{form}"
    );
    let ftoken = csrf(&s, &cookie, "/projects/app/trigger");
    let started = post_form(
        &s,
        &cookie,
        "/projects/app/trigger",
        &format!("csrf={ftoken}&branch=main&input.target=production"),
        None,
    );
    assert_eq!(started.status, 303, "{}", started.text());
    let queued = s.events();
    let newest = &queued[0];
    assert_eq!(
        newest["event"]["inputs"]["target"], "production",
        "{newest}"
    );
    assert_eq!(newest["event"]["actor"], "operator");
    // An input outside its options is refused with the pipeline's message.
    let bad = post_form(
        &s,
        &cookie,
        "/projects/app/trigger",
        &format!("csrf={ftoken}&branch=main&input.target=moon"),
        None,
    );
    assert_eq!(bad.status, 400, "{}", bad.text());
    assert!(bad.text().contains("moon"), "{}", bad.text());
    // A viewer gets no form.
    let vform = page(&s, &vcookie, "/projects/app/trigger");
    assert_eq!(vform.status, 403);

    // The audit log, for admins: the dashboard's re-run is in it, and the chain holds.
    let admin = sign_in(&s, &s.token("admin"));
    let audit = page(&s, &admin, "/audit").text();
    assert!(audit.contains("audit log intact"), "{audit}");
    assert!(audit.contains("run.rerun"), "{audit}");
    assert!(
        audit.contains("&quot;via&quot;:&quot;dashboard&quot;"),
        "{audit}"
    );
    let as_op = page(&s, &cookie, "/audit");
    assert_eq!(as_op.status, 403);
    assert!(
        as_op
            .text()
            .contains("the audit log needs role admin or above"),
        "{}",
        as_op.text()
    );

    // Path traversal in an artifact download finds nothing: paths are looked up, not joined.
    for evil in [
        "../../../etc/passwd",
        "%2e%2e/%2e%2e/server.db",
        "dist/../../key",
    ] {
        let a = http::request(
            "GET",
            &format!("{}/api/v1/projects/app/runs/{run}/artifacts/{evil}", s.url),
            &[("cookie", &cookie)],
            b"",
        );
        assert_eq!(a.status, 404, "{evil}: {}", a.text());
    }
    // The artifact itself downloads with the session, byte for byte.
    let art = page(
        &s,
        &cookie,
        &format!("/api/v1/projects/app/runs/{run}/artifacts/dist/app.txt?job=build"),
    );
    assert_eq!(art.status, 200);
    assert_eq!(art.body, b"the artifact\n");

    // An expired session: back to the sign-in form, told why.
    let db = s.data.path().join("server.db");
    let out = Command::new("python3")
        .args(["-c", "import sqlite3,sys; c=sqlite3.connect(sys.argv[1]); c.execute('UPDATE sessions SET expires_at = 0'); c.commit()"])
        .arg(&db)
        .output()
        .unwrap();
    assert!(out.status.success(), "{out:?}");
    let expired = page(&s, &cookie, "/projects/app");
    assert_eq!(expired.status, 303);
    assert_eq!(
        expired.header("location"),
        Some("/login?next=%2Fprojects%2Fapp&expired=1")
    );
    assert!(
        page(&s, "", "/login?expired=1")
            .text()
            .contains("Your session expired")
    );
    let post = post_form(&s, &cookie, &path, &format!("csrf={token}"), None);
    assert_eq!(post.status, 401);
    assert!(
        post.text().contains("your session expired; sign in again"),
        "{}",
        post.text()
    );
}

/// One event of an SSE stream.
#[derive(Debug, Clone)]
struct Event {
    kind: String,
    id: Option<String>,
    data: serde_json::Value,
}

/// An open SSE response, read event by event (HTTP/1.1 chunked).
struct Stream {
    r: BufReader<TcpStream>,
    status: u16,
    pending: Vec<u8>,
    chunk_left: usize,
    done: bool,
}

impl Stream {
    fn open(url: &str, auth: &str, last_id: Option<&str>) -> Stream {
        let rest = url.strip_prefix("http://").unwrap();
        let (host, path) = rest.split_at(rest.find('/').unwrap());
        let mut tcp = TcpStream::connect(host).unwrap();
        tcp.set_read_timeout(Some(Duration::from_secs(60))).unwrap();
        let mut req =
            format!("GET {path} HTTP/1.1\r\nHost: {host}\r\nAccept: text/event-stream\r\n");
        if auth.starts_with("wharf_session=") {
            req.push_str(&format!("Cookie: {auth}\r\n"));
        } else {
            req.push_str(&format!("Authorization: Bearer {auth}\r\n"));
        }
        if let Some(id) = last_id {
            req.push_str(&format!("Last-Event-ID: {id}\r\n"));
        }
        req.push_str("\r\n");
        tcp.write_all(req.as_bytes()).unwrap();
        let mut r = BufReader::new(tcp);
        let mut line = String::new();
        r.read_line(&mut line).unwrap();
        let status = line.split(' ').nth(1).unwrap_or("0").parse().unwrap();
        let mut chunked = false;
        loop {
            line.clear();
            r.read_line(&mut line).unwrap();
            if line.trim().is_empty() {
                break;
            }
            if line
                .to_ascii_lowercase()
                .starts_with("transfer-encoding: chunked")
            {
                chunked = true;
            }
        }
        assert!(chunked || status != 200, "an SSE response is chunked");
        Stream {
            r,
            status,
            pending: Vec::new(),
            chunk_left: 0,
            done: false,
        }
    }

    /// More body bytes; false at the end.
    fn fill(&mut self) -> bool {
        if self.done {
            return false;
        }
        if self.chunk_left == 0 {
            let mut line = String::new();
            if self.r.read_line(&mut line).unwrap_or(0) == 0 {
                self.done = true;
                return false;
            }
            if line.trim().is_empty() {
                line.clear();
                self.r.read_line(&mut line).unwrap_or(0);
            }
            self.chunk_left = usize::from_str_radix(line.trim(), 16).unwrap_or(0);
            if self.chunk_left == 0 {
                self.done = true;
                return false;
            }
        }
        let mut buf = vec![0u8; self.chunk_left.min(65536)];
        let n = self.r.read(&mut buf).unwrap_or(0);
        if n == 0 {
            self.done = true;
            return false;
        }
        self.chunk_left -= n;
        self.pending.extend_from_slice(&buf[..n]);
        true
    }

    /// The next event (comments skipped), or None at the end of the stream.
    fn next(&mut self) -> Option<Event> {
        loop {
            if let Some(end) = self.pending.windows(2).position(|w| w == b"\n\n") {
                let block: Vec<u8> = self.pending.drain(..end + 2).collect();
                let text = String::from_utf8(block).unwrap();
                let mut ev = Event {
                    kind: "message".into(),
                    id: None,
                    data: serde_json::Value::Null,
                };
                let mut data = None;
                for line in text.lines() {
                    if let Some(v) = line.strip_prefix("event: ") {
                        ev.kind = v.to_string();
                    } else if let Some(v) = line.strip_prefix("id: ") {
                        ev.id = Some(v.to_string());
                    } else if let Some(v) = line.strip_prefix("data: ") {
                        data = Some(v.to_string());
                    }
                }
                let Some(d) = data else { continue };
                ev.data = serde_json::from_str(&d).unwrap_or(serde_json::Value::String(d));
                return Some(ev);
            }
            if !self.fill() {
                return None;
            }
        }
    }
}

/// The bytes of step `step` in `events`' `log` events.
fn bytes_of(events: &[Event], step: u64) -> Vec<u8> {
    use base64::Engine as _;
    let mut out = Vec::new();
    for e in events
        .iter()
        .filter(|e| e.kind == "log" && e.data["step"] == step)
    {
        match (e.data["text"].as_str(), e.data["base64"].as_str()) {
            (Some(t), _) => out.extend_from_slice(t.as_bytes()),
            (None, Some(b)) => {
                out.extend(base64::engine::general_purpose::STANDARD.decode(b).unwrap())
            }
            _ => panic!("a log event without bytes: {e:?}"),
        }
    }
    out
}

/// A job that talks for a while: 300 lines, multi-byte characters and colours included,
/// then a second step.
const TALKER: &str = r#"version: 1
on: { manual: {} }
jobs:
  talk:
    steps:
      - name: lines
        run: |
          i=0
          while [ $i -lt 300 ]; do
            printf '\033[33mline %03d\033[0m héllo wörld 🚢 %s\n' $i "$(printf 'x%.0s' $(seq 1 $((i % 17))))"
            i=$((i + 1))
            [ $((i % 10)) -eq 0 ] && sleep 0.05
          done
      - name: after
        run: echo "second step"
"#;

#[test]
fn a_follower_that_reconnects_with_last_event_id_misses_nothing_and_repeats_nothing() {
    let tmp = tempfile::tempdir().unwrap();
    repo(&tmp.path().join("repo"), TALKER, "talk");
    let (s, op, viewer) = serve(&tmp.path().join("repo"), &[]);
    let run = trigger(&s, &op);
    let url = format!("{}/api/v1/projects/app/runs/{run}/jobs/talk/stream", s.url);

    // A follows the whole job in one connection.
    let whole = std::thread::spawn({
        let (url, viewer) = (url.clone(), viewer.clone());
        move || {
            let mut st = Stream::open(&url, &viewer, None);
            assert_eq!(st.status, 200);
            let mut evs = Vec::new();
            while let Some(e) = st.next() {
                evs.push(e);
            }
            evs
        }
    });
    // B drops its connection three times mid-stream and resumes from its last id.
    let mut got: Vec<Event> = Vec::new();
    let mut last: Option<String> = None;
    for round in 0.. {
        let mut st = Stream::open(&url, &viewer, last.as_deref());
        assert_eq!(st.status, 200, "round {round}");
        let mut n = 0;
        let mut ended = false;
        while let Some(e) = st.next() {
            if let Some(id) = &e.id {
                last = Some(id.clone());
            }
            ended = e.kind == "end";
            got.push(e);
            n += 1;
            if round < 3 && n == 4 {
                break;
            }
        }
        if ended {
            break;
        }
    }
    let whole = whole.join().unwrap();
    finished(&s, &op, run);

    for (name, evs) in [("one connection", &whole), ("reconnecting", &got)] {
        let kinds: Vec<&str> = evs
            .iter()
            .map(|e| e.kind.as_str())
            .filter(|k| *k != "log")
            .collect();
        assert_eq!(
            kinds,
            ["step", "step-end", "step", "step-end", "end"],
            "{name}: {evs:?}"
        );
        assert_eq!(evs.last().unwrap().data["status"], "success");
        for step in [0u64, 1] {
            let stored = http::get(
                &format!(
                    "{}/api/v1/projects/app/runs/{run}/jobs/talk/steps/{step}/log",
                    s.url
                ),
                Some(&viewer),
            );
            assert_eq!(
                bytes_of(evs, step),
                stored.body,
                "{name}: step {step} differs from the stored log"
            );
        }
        // Offsets run on without a gap or an overlap.
        let mut at = 0;
        for e in evs
            .iter()
            .filter(|e| e.kind == "log" && e.data["step"] == 0)
        {
            assert_eq!(e.data["offset"], at, "{name}");
            at += e.data["text"].as_str().map_or(0, str::len) as u64;
        }
    }
    let stored = http::get(
        &format!(
            "{}/api/v1/projects/app/runs/{run}/jobs/talk/steps/0/log",
            s.url
        ),
        Some(&viewer),
    );
    assert!(String::from_utf8_lossy(&stored.body).contains("line 299"));

    // `wharf logs -f --server` reads the same stream: the same bytes, under headers.
    let out = Command::new(bin())
        .args([
            "logs",
            &run.to_string(),
            "-f",
            "--server",
            &s.url,
            "--project",
            "app",
        ])
        .env("WHARF_TOKEN", &viewer)
        .output()
        .unwrap();
    assert!(out.status.success(), "{out:?}");
    let text = String::from_utf8(out.stdout).unwrap();
    assert!(text.starts_with("==> talk / lines <==\n"), "{text}");
    assert!(text.contains(&String::from_utf8_lossy(&stored.body).to_string()));
    assert!(
        text.ends_with("==> talk / after <==\nsecond step\n"),
        "{text}"
    );

    // A resume point the stream never gave, or past the end of the log: refused.
    let bad = http::request(
        "GET",
        &format!("{url}?from=banana"),
        &[("authorization", &format!("Bearer {viewer}"))],
        b"",
    );
    assert_eq!(bad.status, 400);
    assert!(
        bad.text()
            .contains("`banana` is not an event id of this stream"),
        "{}",
        bad.text()
    );
    let beyond = http::request(
        "GET",
        &format!("{url}?from=0:b:99999999"),
        &[("authorization", &format!("Bearer {viewer}"))],
        b"",
    );
    assert_eq!(beyond.status, 416, "{}", beyond.text());
    assert!(
        beyond.text().contains("beyond the end of step 0's log"),
        "{}",
        beyond.text()
    );
    // No token, no stream.
    let none = http::get(&url, None);
    assert_eq!(none.status, 401);
}

#[test]
fn a_follower_far_behind_is_sent_to_the_stored_log_and_resumes_after_it() {
    let tmp = tempfile::tempdir().unwrap();
    // 12 MiB of output, well past the 8 MiB a follower may lag.
    let pipeline = "version: 1\non: { manual: {} }\njobs:\n  big:\n    run: head -c 9000000 /dev/zero | tr '\\0' 'a' | fold -w 99\n";
    repo(&tmp.path().join("repo"), pipeline, "big");
    let (s, op, viewer) = serve(&tmp.path().join("repo"), &[]);
    let run = trigger(&s, &op);
    finished(&s, &op, run);
    let url = format!("{}/api/v1/projects/app/runs/{run}/jobs/big/stream", s.url);
    let mut st = Stream::open(&url, &viewer, None);
    let step = st.next().unwrap();
    assert_eq!(step.kind, "step");
    let behind = st.next().unwrap();
    assert_eq!(behind.kind, "behind", "{behind:?}");
    assert!(st.next().is_none(), "the stream ends after `behind`");
    let (from, to) = (
        behind.data["from"].as_u64().unwrap(),
        behind.data["to"].as_u64().unwrap(),
    );
    assert_eq!(from, 0);
    let range = http::request(
        "GET",
        &format!(
            "{}{}",
            s.url,
            behind.data["url"].as_str().unwrap().replace("{S}", "0")
        ),
        &[
            ("authorization", &format!("Bearer {viewer}")),
            ("range", &format!("bytes={from}-{}", to - 1)),
        ],
        b"",
    );
    assert_eq!(range.status, 206);
    assert_eq!(range.body.len() as u64, to - from);
    let mut rest = Stream::open(&format!("{url}?from=0:b:{to}"), &viewer, None);
    let mut evs = Vec::new();
    while let Some(e) = rest.next() {
        evs.push(e);
    }
    let kinds: Vec<&str> = evs.iter().map(|e| e.kind.as_str()).collect();
    assert_eq!(kinds.last(), Some(&"end"), "{kinds:?}");
    let mut all = range.body.clone();
    all.extend(bytes_of(&evs, 0));
    let stored = http::get(
        &format!(
            "{}/api/v1/projects/app/runs/{run}/jobs/big/steps/0/log",
            s.url
        ),
        Some(&viewer),
    );
    assert_eq!(all.len(), stored.body.len());
    assert!(
        all == stored.body,
        "the range plus the stream differ from the stored log"
    );
}

#[test]
fn a_thousand_followers_at_once_meet_the_cap_and_the_server_keeps_serving() {
    let tmp = tempfile::tempdir().unwrap();
    let pipeline = "version: 1\non: { manual: {} }\njobs:\n  wait:\n    run: sleep 30\n";
    repo(&tmp.path().join("repo"), pipeline, "wait");
    let (s, op, viewer) = serve(&tmp.path().join("repo"), &["--max-followers", "100"]);
    let run = trigger(&s, &op);
    let host = s.url.strip_prefix("http://").unwrap().to_string();
    let req = format!(
        "GET /api/v1/projects/app/runs/{run}/jobs/wait/stream HTTP/1.1\r\nHost: {host}\r\nAuthorization: Bearer {viewer}\r\n\r\n"
    );
    // All connected and asking before any answer is read.
    let mut conns: Vec<TcpStream> = (0..1000)
        .map(|_| {
            let mut c = TcpStream::connect(&host).unwrap();
            c.write_all(req.as_bytes()).unwrap();
            c
        })
        .collect();
    let (mut streaming, mut refused) = (0, 0);
    for c in &mut conns {
        c.set_read_timeout(Some(Duration::from_secs(30))).unwrap();
        let mut head = [0u8; 12];
        c.read_exact(&mut head).unwrap();
        match &head[9..12] {
            b"200" => streaming += 1,
            b"503" => refused += 1,
            other => panic!("status {}", String::from_utf8_lossy(other)),
        }
    }
    assert_eq!(streaming, 100, "the cap");
    assert_eq!(refused, 900);
    // The refusal says why and when to come back.
    let one = http::get(
        &format!("{}/api/v1/projects/app/runs/{run}/jobs/wait/stream", s.url),
        Some(&viewer),
    );
    assert_eq!(one.status, 503);
    assert_eq!(one.header("retry-after"), Some("5"));
    assert!(
        one.text()
            .contains("this server already streams 100 live logs, its --max-followers"),
        "{}",
        one.text()
    );
    // Everything else still answers.
    let health = http::get(&format!("{}/api/v1/health", s.url), None);
    assert_eq!(health.status, 200);
    let runs = http::get(
        &format!("{}/api/v1/projects/app/runs", s.url),
        Some(&viewer),
    );
    assert_eq!(runs.status, 200);
    // Followers that leave give their places back.
    drop(conns);
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        let mut st = Stream::open(
            &format!("{}/api/v1/projects/app/runs/{run}/jobs/wait/stream", s.url),
            &viewer,
            None,
        );
        if st.status == 200 {
            assert_eq!(st.next().unwrap().kind, "step");
            break;
        }
        assert!(Instant::now() < deadline, "the places were not given back");
        std::thread::sleep(Duration::from_millis(200));
    }
    let cancel = http::send_json(
        "POST",
        &format!("{}/api/v1/projects/app/runs/{run}/cancel", s.url),
        Some(&op),
        &serde_json::json!({}),
    );
    assert_eq!(cancel.status, 202, "{}", cancel.text());
}

/// The live job of the browser test: waits for a file, then prints a coloured line, then
/// waits to be cancelled; `later` ends once another file is there.
fn browser_pipeline(go: &Path) -> String {
    format!(
        r#"version: 1
fail-fast: false
on: {{ manual: {{}} }}
jobs:
  build:
    run: |
      mkdir -p dist && printf 'wharf artifact\n' > dist/app.txt
    artifacts: [dist/app.txt]
  test:
    needs: [build]
    run: |
      cat > report.xml <<'X'
      <testsuite name="s" tests="2" failures="1"><testcase classname="shop.cart" name="test_total"><failure message="assert 41 == 42">boom</failure></testcase><testcase classname="shop.cart" name="test_empty"/></testsuite>
      X
      exit 1
    reports: [report.xml]
  live:
    run: |
      echo "waiting for the go file"
      while [ ! -f '{go}' ]; do sleep 0.05; done
      printf '\033[32mLIVE-LINE-42\033[0m\n'
      sleep 600
  later:
    run: |
      while [ ! -f '{go}.later' ]; do sleep 0.05; done
"#,
        go = go.display()
    )
}

#[test]
fn the_dashboard_in_a_real_browser() {
    let core = "/opt/wharf-ci/npm/node_modules/playwright-core";
    if !Path::new(core).exists() || !Path::new("/usr/bin/chromium").exists() {
        assert!(
            std::env::var_os("CI").is_none(),
            "playwright-core ({core}) and /usr/bin/chromium are needed; .ci/run installs them"
        );
        eprintln!("skipped: no playwright-core or chromium here (.ci/run installs them)");
        return;
    }
    let tmp = tempfile::tempdir().unwrap();
    let go = tmp.path().join("go");
    repo(
        &tmp.path().join("repo"),
        &browser_pipeline(&go),
        "<script>alert(1)</script> from the browser test",
    );
    let (s, op, _) = serve(&tmp.path().join("repo"), &[]);
    let run = trigger(&s, &op);
    let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/browser/dashboard.cjs");
    // WHARF_SCREENSHOTS=docs/images refreshes the README's screenshots.
    let shots = std::env::var("WHARF_SCREENSHOTS").ok().map(|d| {
        std::fs::canonicalize(Path::new(env!("CARGO_MANIFEST_DIR")).join("../..").join(d)).unwrap()
    });
    let mut cmd = Command::new("node");
    cmd.arg(&script)
        .env("PLAYWRIGHT_CORE", core)
        .env("WHARF_URL", &s.url)
        .env("WHARF_TOKEN", &op)
        .env("WHARF_PROJECT", "app")
        .env("WHARF_RUN", run.to_string())
        .env("WHARF_GO_FILE", &go)
        .env("WHARF_ARTIFACT_SHA256", {
            use sha2::Digest as _;
            sha2::Sha256::digest(b"wharf artifact\n")
                .iter()
                .map(|b| format!("{b:02x}"))
                .collect::<String>()
        });
    if let Some(d) = &shots {
        cmd.env("WHARF_SCREENSHOTS", d);
    }
    let out = cmd.output().unwrap();
    let said = format!(
        "{}{}\nserver log:\n{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr),
        s.log()
    );
    assert!(out.status.success(), "{said}");
    assert!(said.contains("ok: all"), "{said}");
    let rec = finished(&s, &op, run);
    assert_eq!(rec["status"], "cancelled", "{said}");
}

#[test]
fn a_run_page_shows_the_release_it_made_with_its_items() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("repo");
    let pipeline = r#"version: 1
on: { manual: {} }
jobs:
  build:
    run: mkdir -p dist && echo wheel > dist/app.whl
    artifacts: [dist/*.whl]
  pack:
    needs: [build]
    steps:
      - package: { paths: [dist], output: "out/app.tar.gz" }
  release:
    needs: [pack]
    steps:
      - release: { changelog: CHANGELOG.md }
"#;
    std::fs::create_dir_all(&dir).unwrap();
    std::fs::write(dir.join(".gitignore"), ".wharf/\ndist/\nout/\n").unwrap();
    repo(&dir, pipeline, "chore: start");
    let out = Command::new("git")
        .args(["-c", "user.name=t", "-c", "user.email=t@example.invalid"])
        .args(["tag", "-a", "-m", "first", "v1.4.2"])
        .current_dir(&dir)
        .output()
        .unwrap();
    assert!(out.status.success(), "{out:?}");
    std::fs::write(dir.join("feature.txt"), "new\n").unwrap();
    repo(&dir, pipeline, "feat: add --json");
    let (s, op, viewer) = serve(&dir, &[]);
    let run = trigger(&s, &op);
    let rec = finished(&s, &op, run);
    assert_eq!(rec["status"], "success", "{rec}\n{}", s.log());
    let cookie = sign_in(&s, &viewer);
    let html = page(&s, &cookie, &format!("/projects/app/runs/{run}")).text();
    let at = html.find("<h2>Release</h2>").expect("a release section");
    let section = &html[at..];
    assert!(
        section.contains("releases/1.5.0\">1.5.0</a> <code>v1.5.0</code>"),
        "{section}"
    );
    assert!(
        section.contains("package: <code>out&#x2f;app.tar.gz</code>"),
        "{section}"
    );
    assert!(
        section.contains("artifact: <code>dist&#x2f;app.whl</code>"),
        "{section}"
    );
    assert!(section.contains("- add --json ("), "{section}");
}

#[test]
fn the_release_page_shows_its_risk_and_evidence_and_the_run_page_its_load_test() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("repo");
    let port = crate::load_test::server();
    let pipeline = format!(
        r#"version: 1
on: {{ manual: {{}} }}
jobs:
  build:
    steps:
      - run: mkdir -p dist && echo wheel > dist/app.whl
      - package: {{ paths: [dist], output: out/app.tar.gz }}
    artifacts: [dist/*.whl]
  scan:
    steps:
      - policy: {{ reports: [reports/trivy.json] }}
  load:
    steps:
      - load-test:
          url: "http://127.0.0.1:{port}/"
          connections: 2
          duration: 1s
          warm-up: 200ms
          thresholds: {{ p99: 2s, error-rate: 0 }}
  release:
    needs: [build, scan, load]
    steps:
      - release: {{}}
"#
    );
    std::fs::create_dir_all(dir.join("reports")).unwrap();
    std::fs::write(dir.join(".gitignore"), ".wharf/\ndist/\nout/\n").unwrap();
    std::fs::write(
        dir.join("reports/trivy.json"),
        include_str!("../../../wharf-policy/tests/reports/trivy/pip.json"),
    )
    .unwrap();
    // The HIGH finding is excepted (5 days left: within the default 14-day window), the
    // MEDIUM one stays open below `fail-on`.
    std::fs::write(
        dir.join("wharf.policy.toml"),
        format!(
            "[vulnerabilities]\nfail-on = [\"critical\", \"high\"]\n\n[[exception]]\nid = \"EXC-0042\"\nkind = \"vulnerability\"\nvulnerability = \"CVE-2019-14806\"\npackage = \"Werkzeug\"\nreason = \"the debugger is never on <script>alert(1)</script>\"\nowner = \"team-web\"\napproved-by = \"sec-lead\"\ncreated = {}\nexpires = {}\n",
            crate::helper::day(-20),
            crate::helper::day(5)
        ),
    )
    .unwrap();
    repo(&dir, &pipeline, "feat: first");
    let (s, op, viewer) = serve(&dir, &[]);
    let run = trigger(&s, &op);
    let rec = finished(&s, &op, run);
    assert_eq!(rec["status"], "success", "{rec}\n{}", s.log());
    let cookie = sign_in(&s, &viewer);

    // The run page: the load test's summary and its histogram, drawn again as an image.
    let html = page(&s, &cookie, &format!("/projects/app/runs/{run}")).text();
    let at = html
        .find("<h2>Load tests</h2>")
        .expect("a load-test section");
    let section = &html[at..];
    assert!(
        section.contains("load-test&#x2f;1&#x2f;report.json"),
        "{section}"
    );
    assert!(section.contains("closed loop, 2 connections"), "{section}");
    // (Attribute values are escaped: `/` as `&#x2f;`, which the browser reads back.)
    let src = section
        .find("src=\"data:image&#x2f;svg+xml;base64,")
        .unwrap()
        + 5;
    let uri = section[src..src + section[src..].find('"').unwrap()].replace("&#x2f;", "/");
    let svg = {
        use base64::Engine;
        let b64 = uri.rsplit(',').next().unwrap();
        String::from_utf8(
            base64::engine::general_purpose::STANDARD
                .decode(b64)
                .unwrap(),
        )
        .unwrap()
    };
    assert!(svg.contains("<svg") && svg.contains("p99"), "{svg}");
    // The run's release links to its page.
    assert!(
        html.contains("href=\"/projects/app/releases/0.1.0\""),
        "{html}"
    );

    // The releases list, then the release page.
    let list = page(&s, &cookie, "/projects/app/releases").text();
    assert!(
        list.contains("href=\"/projects/app/releases/0.1.0\""),
        "{list}"
    );
    let html = page(&s, &cookie, "/projects/app/releases/0.1.0").text();
    let risk = &html[html.find("<h2>Risk</h2>").expect("a risk section")..];
    let shipped = html.find("<h2>What it ships</h2>").unwrap();
    let proves = html.find("<h2>What proves it</h2>").unwrap();
    // Exceptions first, then the open findings, then the items and the evidence.
    let exc = html
        .find("id=\"exception-EXC-0042\"")
        .expect("the exception");
    let medium = html.find("CVE-2020-28724").expect("the open finding");
    assert!(
        exc < medium && medium < shipped && shipped < proves,
        "{html}"
    );
    assert!(
        risk.contains("<tr id=\"exception-EXC-0042\" class=\"expiring alarm\">"),
        "the expiring exception is marked: {risk}"
    );
    assert!(
        risk.contains(&format!("expires {} (in 5 days)", crate::helper::day(5))),
        "{risk}"
    );
    assert!(
        risk.contains("team-web") && risk.contains("sec-lead"),
        "{risk}"
    );
    // What users wrote is escaped.
    assert!(!html.contains("<script>alert(1)"), "{html}");
    assert!(
        risk.contains("&lt;script&gt;alert(1)&lt;&#x2f;script&gt;"),
        "{risk}"
    );
    assert!(
        risk.contains("Policy <code>wharf.policy.toml</code>"),
        "{risk}"
    );
    // The evidence, by digest, the kept documents downloadable.
    let evidence = &html[proves..];
    for kind in [
        "provenance",
        "public-key",
        "sbom-spdx",
        "sbom-cyclonedx",
        "policy",
    ] {
        assert!(
            evidence.contains(&format!("<tr class=\"ev-{kind}\">")),
            "{kind}: {evidence}"
        );
    }
    let href = evidence
        .find("href=\"/api/v1/projects/app/runs/")
        .expect("a download link");
    let link = &evidence[href + 6..];
    let link = &link[..link.find('"').unwrap()];
    let a = http::get(
        &format!("{}{}", s.url, link.replace("&amp;", "&")),
        Some(&viewer),
    );
    assert_eq!(a.status, 200, "{link}: {}", a.text());
    // The API gives the same, as `release show --json` does.
    let api = http::get(
        &format!("{}/api/v1/projects/app/releases/0.1.0", s.url),
        Some(&viewer),
    );
    assert_eq!(api.status, 200, "{}", api.text());
    let v = api.json();
    assert_eq!(v["version"], "0.1.0");
    assert_eq!(v["policy"]["applied"][0]["id"], "EXC-0042", "{v}");
    assert_eq!(v["policy"]["open"][0]["id"], "CVE-2020-28724", "{v}");
    assert!(
        v["evidence"]
            .as_array()
            .unwrap()
            .iter()
            .any(|e| e["kind"] == "provenance"),
        "{v}"
    );
    let none = http::get(
        &format!("{}/api/v1/projects/app/releases/9.9.9", s.url),
        Some(&viewer),
    );
    assert_eq!(none.status, 404, "{}", none.text());
    // An unknown release is a 404 page.
    let missing = page(&s, &cookie, "/projects/app/releases/9.9.9");
    assert_eq!(missing.status, 404);
    assert!(
        missing.text().contains("has no release 9.9.9"),
        "{}",
        missing.text()
    );

    // In a real browser: the histogram decodes under the page's CSP, the expiring
    // exception is red.
    let core = "/opt/wharf-ci/npm/node_modules/playwright-core";
    if !Path::new(core).exists() || !Path::new("/usr/bin/chromium").exists() {
        assert!(
            std::env::var_os("CI").is_none(),
            "playwright-core ({core}) and /usr/bin/chromium are needed; .ci/run installs them"
        );
        eprintln!("browser part skipped: no playwright-core or chromium here");
        return;
    }
    let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/browser/release.cjs");
    let mut cmd = Command::new("node");
    cmd.arg(&script)
        .env("PLAYWRIGHT_CORE", core)
        .env("WHARF_URL", &s.url)
        .env("WHARF_TOKEN", &viewer)
        .env("WHARF_PROJECT", "app")
        .env("WHARF_RUN", run.to_string())
        .env("WHARF_VERSION", "0.1.0")
        .env("WHARF_EXCEPTION", "EXC-0042");
    if let Ok(d) = std::env::var("WHARF_SCREENSHOTS") {
        cmd.env(
            "WHARF_SCREENSHOTS",
            std::fs::canonicalize(Path::new(env!("CARGO_MANIFEST_DIR")).join("../..").join(d))
                .unwrap(),
        );
    }
    let out = cmd.output().unwrap();
    let said = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(out.status.success() && said.contains("ok: all"), "{said}");
}
