//! Commit statuses end to end: a push to the test forge runs on the real `wharf serve`,
//! which reports pending, then how each pipeline and job ended, to the test forge's
//! status API (a local stand-in enforcing GitHub's, GitLab's and Gitea's documented
//! request shapes and token).

use std::time::Duration;

use wharf_test_support::forge::{Forge, Kind, STATUS_TOKEN, Status, StatusApi};

use crate::server::Server;

const SECRET: &str = "webhook-secret-for-tests-1";

/// One pipeline, `ci`: a job that passes, one after it that fails (after, so that
/// fail-fast does not cancel the first), one skipped after that. Each sleeps a moment,
/// so that every pending state is delivered before the end replaces it.
const PIPELINE: &str = r#"version: 1
name: ci
on:
  push: { branches: ["**"] }
jobs:
  pass:
    run: sleep 1; echo ok
  fail:
    needs: [pass]
    run: sleep 1; exit 3
  after:
    needs: [fail]
    run: echo never
"#;

const CONTEXTS: [&str; 4] = [
    "wharf/ci",
    "wharf/ci/pass",
    "wharf/ci/fail",
    "wharf/ci/after",
];

/// A server with project `app` on `kind`'s test forge, reporting to `api` with `token`.
fn setup(kind: Kind, api: &StatusApi, token: &str, extra: &[&str]) -> (Server, Forge) {
    let mut s = Server::new();
    if !extra.is_empty() {
        s.kill9();
        s.start(extra);
    }
    let forge = Forge::start(kind, &s.hook("app"), SECRET);
    s.add_project("app", &forge, &[]);
    let api_url = api.api_url();
    s.admin(
        &[
            "project",
            "set",
            "app",
            "--status-api",
            &api_url,
            "--status-token-stdin",
        ],
        token,
    )
    .expect(0);
    (s, forge)
}

/// Pushes the pipeline; the sha and the run's number once its event has ended.
fn push(s: &Server, forge: &Forge) -> (String, u64) {
    let sha = forge.commit("wharf.yml", PIPELINE, "add the pipeline");
    assert!(forge.push("main").status.success());
    let sent = forge
        .deliveries()
        .into_iter()
        .find(|d| d.status == Some(202))
        .unwrap_or_else(|| panic!("no delivery queued: {:?}", forge.deliveries()));
    let answer: serde_json::Value = serde_json::from_slice(&sent.response).unwrap();
    let e = s.wait_event(answer["event"].as_i64().unwrap());
    assert_eq!(e["state"], "done", "{e}\n{}", s.log());
    (sha, e["runs"][0].as_u64().unwrap())
}

/// The forge's words: (pending, running, passed, failed, skipped).
fn words(kind: Kind) -> [&'static str; 5] {
    match kind {
        Kind::Gitlab => ["pending", "running", "success", "failed", "skipped"],
        _ => ["pending", "pending", "success", "failure", "success"],
    }
}

fn ended(kind: Kind, statuses: &[Status]) -> bool {
    let [_, _, _, failed, skipped] = words(kind);
    let last = |c: &str| statuses.iter().rev().find(|s| s.context == c);
    last("wharf/ci").is_some_and(|s| s.state == failed)
        && last("wharf/ci/after").is_some_and(|s| s.state == skipped)
        && last("wharf/ci/pass").is_some_and(|s| s.state != words(kind)[1])
        && last("wharf/ci/fail").is_some_and(|s| s.state == failed)
}

fn of<'a>(statuses: &'a [Status], context: &str) -> Vec<&'a Status> {
    statuses.iter().filter(|s| s.context == context).collect()
}

#[test]
fn each_forge_gets_pending_then_the_result_of_each_pipeline_and_job() {
    for kind in [Kind::Github, Kind::Gitlab, Kind::Gitea] {
        let api = StatusApi::start(kind);
        let public = "https://ci.example.test/wharf/";
        let extra: &[&str] = if kind == Kind::Github {
            &["--public-url", public]
        } else {
            &[]
        };
        let (s, forge) = setup(kind, &api, STATUS_TOKEN, extra);
        let (sha, run) = push(&s, &forge);
        let statuses = api.wait_for(Duration::from_secs(60), |st| ended(kind, st));
        let [pending, running, passed, failed, skipped] = words(kind);
        let base = if kind == Kind::Github {
            "https://ci.example.test/wharf".to_string()
        } else {
            s.url.clone()
        };
        let run_page = format!("{base}/projects/app/runs/{run}");
        for st in &statuses {
            assert_eq!(st.sha, sha, "{kind:?}: {st:?}");
            assert!(CONTEXTS.contains(&st.context.as_str()), "{kind:?}: {st:?}");
            assert!(st.description.chars().count() <= 140, "{st:?}");
            if kind == Kind::Gitlab {
                assert_eq!(st.reference.as_deref(), Some("main"), "{st:?}");
            }
        }
        let pipeline: Vec<(&str, &str)> = of(&statuses, "wharf/ci")
            .iter()
            .map(|s| (s.state.as_str(), s.target_url.as_str()))
            .collect();
        assert_eq!(
            pipeline,
            [(pending, run_page.as_str()), (failed, run_page.as_str())],
            "{kind:?}"
        );
        for (job, end) in [("pass", passed), ("fail", failed)] {
            let page = format!("{run_page}/jobs/{job}");
            let got: Vec<(&str, &str)> = of(&statuses, &format!("wharf/ci/{job}"))
                .iter()
                .map(|s| (s.state.as_str(), s.target_url.as_str()))
                .collect();
            assert_eq!(
                got,
                [(running, page.as_str()), (end, page.as_str())],
                "{kind:?}"
            );
        }
        let after = of(&statuses, "wharf/ci/after");
        assert_eq!(after.len(), 1, "{kind:?}: {after:?}");
        assert_eq!(after[0].state, skipped, "{kind:?}");
        assert!(after[0].description.starts_with("skipped"), "{after:?}");
        assert!(
            api.requests().iter().all(|r| r.status == 201),
            "{kind:?}: every request was taken: {:#?}",
            api.requests()
        );
    }
}

#[test]
fn a_failing_forge_gets_the_statuses_after_retries() {
    for kind in [Kind::Github, Kind::Gitlab, Kind::Gitea] {
        let api = StatusApi::start(kind);
        let (s, forge) = setup(kind, &api, STATUS_TOKEN, &[]);
        api.fail_next(2);
        let (_, _) = push(&s, &forge);
        api.wait_for(Duration::from_secs(60), |st| ended(kind, st));
        let codes: Vec<u16> = api.requests().iter().map(|r| r.status).collect();
        assert_eq!(&codes[..2], [500, 500], "{kind:?}: {codes:?}");
        assert!(codes[2..].iter().all(|c| *c == 201), "{kind:?}: {codes:?}");
        let log = s.log();
        assert!(
            log.contains("500 Internal Server Error (injected); attempt 1 of 10, retrying in"),
            "{kind:?}: the retry is logged:\n{log}"
        );
    }
}

#[test]
fn a_wrong_token_is_logged_and_the_run_goes_on() {
    let wrong = "wrong-status-token-value-77";
    for kind in [Kind::Github, Kind::Gitlab, Kind::Gitea] {
        let api = StatusApi::start(kind);
        let (s, forge) = setup(kind, &api, wrong, &[]);
        let (_, run) = push(&s, &forge);
        // the run's end is the last status refused
        let deadline = std::time::Instant::now() + Duration::from_secs(30);
        while !s.log().contains("commit status wharf/ci (failure)") {
            assert!(
                std::time::Instant::now() < deadline,
                "{kind:?}: {:?}\n{}",
                api.requests(),
                s.log()
            );
            std::thread::sleep(Duration::from_millis(50));
        }
        assert!(api.statuses().is_empty());
        assert!(
            api.requests().iter().all(|r| r.status == 401),
            "{kind:?}: {:?}",
            api.requests()
        );
        let log = s.log();
        assert!(
            log.contains("not delivered, not retried: 401"),
            "{kind:?}: the refusal is logged with the forge's message:\n{log}"
        );
        assert!(log.contains(&format!("run {run} (ci) failed")), "{log}");
        let listed = s
            .admin(&["project", "list", "--json"], "")
            .expect(0)
            .stdout();
        let v: serde_json::Value = serde_json::from_str(&listed).unwrap();
        assert_eq!(v[0]["statuses"]["api"], api.api_url(), "{listed}");
        assert_eq!(v[0]["statuses"]["repo"], "acme/app", "{listed}");
        for text in [&log, &listed] {
            assert!(!text.contains(wrong), "{kind:?}: the token leaked:\n{text}");
        }
        for file in ["server.db", "server.db-wal"] {
            let bytes = std::fs::read(s.data.path().join(file)).unwrap_or_default();
            assert!(
                !bytes.windows(wrong.len()).any(|w| w == wrong.as_bytes()),
                "{file}: the token is stored sealed"
            );
        }
    }
}

#[test]
fn a_project_without_settings_says_so_once() {
    let s = Server::new();
    let forge = Forge::start(Kind::Gitea, &s.hook("app"), SECRET);
    s.add_project("app", &forge, &[]);
    push(&s, &forge);
    let log = s.log();
    assert_eq!(
        log.matches("no status API set").count(),
        1,
        "said once, not per event:\n{log}"
    );
}

#[test]
fn bad_urls_are_refused_with_a_hint() {
    let s = Server::new();
    let out = s
        .admin(
            &[
                "project",
                "add",
                "app",
                "--repo",
                "https://github.com/acme/app.git",
                "--forge",
                "github",
                "--status-api",
                "not-a-url",
                "--status-token-stdin",
            ],
            "some-token",
        )
        .expect(2);
    let err = out.stderr();
    assert!(
        err.contains("error: --status-api `not-a-url` is not an http(s) URL"),
        "{err}"
    );
    assert!(err.contains("hint: write it in full"), "{err}");
    let listed = s
        .admin(&["project", "list", "--json"], "")
        .expect(0)
        .stdout();
    assert_eq!(listed.trim(), "[]", "nothing was added");
    // set: a repository the forge cannot take
    let forge = Forge::start(Kind::Github, &s.hook("app"), SECRET);
    s.add_project("app", &forge, &[]);
    let out = s
        .admin(
            &[
                "project",
                "set",
                "app",
                "--status-api",
                "https://api.github.com",
                "--status-repo",
                "just-one",
                "--status-token-stdin",
            ],
            "t",
        )
        .expect(2);
    assert!(
        out.stderr().contains("hint: write it as owner/name"),
        "{}",
        out.stderr()
    );

    let out = std::process::Command::new(crate::helper::bin())
        .args([
            "serve",
            "--listen",
            "127.0.0.1:0",
            "--public-url",
            "ftp://x",
            "--data-dir",
        ])
        .arg(s.data.path().join("other"))
        .output()
        .unwrap();
    let run = crate::helper::Run { out }.expect(2);
    let err = run.stderr();
    assert!(
        err.contains("error: --public-url `ftp://x` is not an http(s) URL: the scheme is `ftp`"),
        "{err}"
    );
    assert!(err.contains("hint:"), "{err}");
}

#[test]
fn the_api_sets_and_forgets_the_settings_without_showing_the_token() {
    use wharf_test_support::http;
    let s = Server::new();
    let admin = s.token("admin");
    let auth = format!("Bearer {admin}");
    let headers = [
        ("Authorization", auth.as_str()),
        ("Content-Type", "application/json"),
    ];
    let api = format!("{}/api/v1", s.url);
    let token = "api-given-status-token-31";
    let body = serde_json::json!({
        "name": "app", "repo": "https://gitlab.example/grp/sub/app.git", "forge": "gitlab",
        "status_api": "https://gitlab.example/api/v4", "status_token": token,
    });
    let a = http::request(
        "POST",
        &format!("{api}/projects"),
        &headers,
        body.to_string().as_bytes(),
    );
    assert_eq!(a.status, 201, "{}", a.text());
    assert_eq!(
        a.json()["statuses"]["repo"],
        "grp/sub/app",
        "from the clone URL"
    );
    let listed = http::get(&format!("{api}/projects"), Some(&admin));
    assert_eq!(
        listed.json()[0]["statuses"]["api"],
        "https://gitlab.example/api/v4"
    );
    // a change of repository keeps the token
    let a = http::request(
        "PUT",
        &format!("{api}/projects/app/statuses"),
        &headers,
        br#"{"repo": "1234"}"#,
    );
    assert_eq!(a.status, 200, "{}", a.text());
    assert_eq!(a.json()["statuses"]["repo"], "1234");
    let a = http::request(
        "PUT",
        &format!("{api}/projects/app/statuses"),
        &headers,
        br#"{"api": "ftp://x"}"#,
    );
    assert_eq!(a.status, 400, "{}", a.text());
    assert!(a.json()["hint"].is_string(), "{}", a.text());
    for text in [listed.text(), s.log()] {
        assert!(!text.contains(token), "the token leaked: {text}");
    }
    let a = http::request(
        "DELETE",
        &format!("{api}/projects/app/statuses"),
        &headers,
        b"",
    );
    assert_eq!(a.status, 204, "{}", a.text());
    let listed = http::get(&format!("{api}/projects"), Some(&admin)).json();
    assert!(listed[0]["statuses"].is_null(), "{listed}");
}

#[test]
fn statuses_wait_in_the_outbox_for_a_forge_that_is_down_across_a_restart() {
    let kind = Kind::Gitea;
    let api = StatusApi::start(kind);
    let (mut s, forge) = setup(kind, &api, STATUS_TOKEN, &[]);
    api.set_down(true);
    push(&s, &forge);
    let deadline = std::time::Instant::now() + Duration::from_secs(30);
    while !s.log().contains("commit status wharf/ci (failure)") {
        assert!(std::time::Instant::now() < deadline, "{}", s.log());
        std::thread::sleep(Duration::from_millis(50));
    }
    assert!(api.statuses().is_empty());
    assert!(api.requests().iter().all(|r| r.status == 0));
    // the server dies; the forge comes back; the next start delivers what was queued
    s.kill9();
    api.set_down(false);
    s.start(&[]);
    let statuses = api.wait_for(Duration::from_secs(60), |st| ended(kind, st));
    assert!(
        of(&statuses, "wharf/ci").len() == 1,
        "only the newest state of each context: {statuses:#?}"
    );
}
