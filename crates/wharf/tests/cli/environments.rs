//! Environments' protection rules before a deployment job (`environment:`), enforced by
//! `wharf run` exactly as by the server: allowed refs, freeze windows, the wait timer, and
//! secrets decrypted only once the gates passed.

use std::io::Write;
use std::process::Stdio;
use std::time::Instant;

use crate::helper::{Project, Run};

const KEY: &str = "AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8=";

fn with_key(p: &Project, args: &[&str], key: &str, stdin: &str) -> Run {
    let mut child = p
        .cmd(args)
        .env("WHARF_SECRET_KEY", key)
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
    Run {
        out: child.wait_with_output().unwrap(),
    }
}

fn pipeline(rules: &str) -> String {
    format!(
        "version: 1\njobs:\n  build:\n    run: echo built\n  deploy:\n    needs: [build]\n    environment: production\n    secrets: [DEPLOY_TOKEN]\n    run: echo \"deploying with ${{#DEPLOY_TOKEN}}-char token $DEPLOY_TOKEN\"\nenvironments:\n  production:\n{rules}"
    )
}

/// A project on branch `main` with the secret stored for `production`.
fn project(rules: &str) -> Project {
    let p = Project::new(&pipeline(rules));
    p.allow_settings(&["environment.production-without-approval"]);
    p.write(".gitignore", ".wharf/\n");
    p.git_init();
    with_key(
        &p,
        &["secrets", "set", "DEPLOY_TOKEN", "--env", "production"],
        KEY,
        "prod-token-0123456789",
    )
    .expect(0);
    p
}

#[test]
fn a_ref_outside_the_environments_globs_is_refused_with_its_location() {
    let p = project("    branches: [release/*]\n    tags: [\"v*\"]\n");
    let run = with_key(&p, &["run", "--plain"], KEY, "").expect(1);
    let out = format!("{}{}", run.stdout(), run.stderr());
    assert!(
        out.contains("environment `production` (wharf.yml:11:3) takes branches release/* and tags v*; this run is for branch `main`"),
        "{out}"
    );
    assert!(!out.contains("deploying with"), "{out}");
    // The same on a branch the globs take: it deploys, with its secret, masked.
    p.git(&["checkout", "-q", "-b", "release/2.x"]);
    let ok = with_key(&p, &["run", "--plain"], KEY, "").expect(0);
    let out = format!("{}{}", ok.stdout(), ok.stderr());
    assert!(out.contains("deploying with 21-char token ***"), "{out}");
    assert!(!out.contains("prod-token-0123456789"), "{out}");
}

#[test]
fn a_freeze_window_refuses_the_deployment_until_it_ends() {
    // Every minute, for an hour: always frozen.
    let p = project(
        "    freeze:\n      - { cron: \"* * * * *\", duration: 1h, timezone: Europe/Berlin }\n",
    );
    let run = with_key(&p, &["run", "--plain"], KEY, "").expect(1);
    let out = format!("{}{}", run.stdout(), run.stderr());
    assert!(
        out.contains("environment `production` (wharf.yml:11:3) is frozen until "),
        "{out}"
    );
    assert!(
        out.contains("(freeze `* * * * *` for 1h in Europe/Berlin)"),
        "{out}"
    );
    // The job that needs no environment ran.
    let show = p.wharf(&["show", "--json"]).expect(0).json();
    let status = |job: &str| {
        show["jobs"]
            .as_array()
            .unwrap()
            .iter()
            .find(|j| j["id"] == job)
            .unwrap()["status"]
            .clone()
    };
    assert_eq!(status("build"), "success");
    assert_eq!(status("deploy"), "failed");
}

#[test]
fn the_wait_timer_is_honoured_before_the_job_starts() {
    let p = project("    wait: 2s\n");
    let started = Instant::now();
    let run = with_key(&p, &["run", "--plain"], KEY, "").expect(0);
    let took = started.elapsed();
    assert!(took.as_millis() >= 2000, "took {took:?}");
    let out = format!("{}{}", run.stdout(), run.stderr());
    assert!(
        out.contains(
            "waiting 2s before deploying to `production` (its wait timer, wharf.yml:11:3)"
        ),
        "{out}"
    );
    assert!(out.contains("deploying with 21-char token ***"), "{out}");
}

#[test]
fn an_environments_secrets_are_not_decrypted_before_its_gates_pass() {
    // With a wrong key, a secret opened before the gates would stop the run with a
    // decryption error; a gate that refuses first means nothing was decrypted.
    let p = project("    branches: [release/*]\n");
    let wrong = "AQECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8=";
    let run = with_key(&p, &["run", "--plain"], wrong, "").expect(1);
    let out = format!("{}{}", run.stdout(), run.stderr());
    assert!(out.contains("takes branches release/*"), "{out}");
    assert!(!out.to_lowercase().contains("decrypt"), "{out}");
    // And once the gates pass, the same wrong key fails that job, at that moment.
    p.git(&["checkout", "-q", "-b", "release/1"]);
    let run = with_key(&p, &["run", "--plain"], wrong, "").expect(1);
    let out = format!("{}{}", run.stdout(), run.stderr());
    assert!(
        out.contains("the environment's secrets: secret DEPLOY_TOKEN"),
        "{out}"
    );
}

#[test]
fn bad_rules_are_refused_by_validate_with_their_location() {
    for (rules, says) in [
        (
            "    freeze:\n      - { cron: \"0 18 * * FRI\", duration: 62h, timezone: Mars/Olympus }\n",
            "unknown time zone `Mars/Olympus`",
        ),
        (
            "    freeze:\n      - { cron: \"61 * * * *\", duration: 1h }\n",
            "invalid cron schedule `61 * * * *`",
        ),
        (
            "    freeze:\n      - { cron: \"0 18 * * FRI\", duration: soon }\n",
            "invalid duration `soon`",
        ),
        ("    wait: forever\n", "invalid duration `forever`"),
        ("    branches: [\"[main\"]\n", "invalid glob `[main`"),
        (
            "    freeze:\n      - { cron: \"0 18 * * FRI\", length: 1h }\n",
            "unknown key `length`",
        ),
    ] {
        let p = Project::new(&pipeline(rules));
        let v = p.wharf(&["validate"]).expect(2);
        assert!(v.stderr().contains(says), "{rules}\n{}", v.stderr());
        assert!(v.stderr().contains("wharf.yml:"), "located: {}", v.stderr());
    }
}

/// A project whose pipeline takes manual runs, on a server as `app`, with the secret
/// stored there for `production`.
fn served(rules: &str) -> (Project, crate::server::Server) {
    let p = project(rules);
    std::fs::write(
        p.path().join("wharf.yml"),
        pipeline(rules).replace("version: 1\n", "version: 1\non: { manual: {} }\n"),
    )
    .unwrap();
    p.git(&[
        "-c",
        "user.name=t",
        "-c",
        "user.email=t@x",
        "commit",
        "-qam",
        "manual",
    ]);
    let s = crate::server::Server::new();
    s.add_local_project("app", p.path());
    s.admin(
        &[
            "secrets",
            "--project",
            "app",
            "set",
            "DEPLOY_TOKEN",
            "--env",
            "production",
        ],
        "server-prod-token-42",
    )
    .expect(0);
    (p, s)
}

#[test]
fn the_server_enforces_the_same_gates() {
    use wharf_test_support::http;
    let (_p, s) = served("    branches: [release/*]\n");
    let op = s.token("operator");
    let a = http::send_json(
        "POST",
        &format!("{}/api/v1/projects/app/trigger", s.url),
        Some(&op),
        &serde_json::json!({}),
    );
    assert_eq!(a.status, 202, "{}", a.text());
    let event = a.json()["event"].as_i64().unwrap();
    let e = s.wait_event(event);
    let run = e["runs"][0]
        .as_u64()
        .unwrap_or_else(|| panic!("{e}\n{}", s.log()));
    let rec = http::get(
        &format!("{}/api/v1/projects/app/runs/{run}", s.url),
        Some(&op),
    )
    .json();
    let deploy = rec["jobs"]
        .as_array()
        .unwrap()
        .iter()
        .find(|j| j["id"] == "deploy")
        .unwrap()
        .clone();
    assert_eq!(deploy["status"], "failed", "{rec}");
    assert_eq!(
        deploy["reason"],
        "environment `production` (wharf.yml:12:3) takes branches release/*; this run is for branch `main`"
    );
    // The decision is in the server's audit log, as the server's own.
    let admin = s.token("admin");
    // Written by a task of its own: give it a moment.
    let deadline = Instant::now() + std::time::Duration::from_secs(10);
    let audit = loop {
        let a = http::get(
            &format!("{}/api/v1/audit?action=deploy.gate", s.url),
            Some(&admin),
        )
        .json();
        if !a.as_array().unwrap().is_empty() || Instant::now() > deadline {
            break a;
        }
        std::thread::sleep(std::time::Duration::from_millis(50));
    };
    let e = &audit.as_array().unwrap()[0];
    assert_eq!(e["actor"], "wharf", "{audit}");
    assert_eq!(e["target"], format!("app#{run}/deploy"));
    assert_eq!(e["detail"]["outcome"], "refused");
    assert!(
        e["detail"]["detail"]
            .as_str()
            .unwrap()
            .contains("takes branches release/*"),
        "{e}"
    );
}

/// `wharf approve|approvals` in `p` as user `user`.
fn as_user(p: &Project, user: &str, args: &[&str]) -> Run {
    let out = p
        .cmd(args)
        .env("USER", user)
        .stdin(Stdio::null())
        .output()
        .unwrap();
    Run { out }
}

/// Waits until a gate waits; its id.
fn waiting_gate(p: &Project, child: &mut std::process::Child) -> i64 {
    let deadline = Instant::now() + std::time::Duration::from_secs(30);
    loop {
        let list = as_user(p, "someone", &["approvals", "--json"]);
        if list.code() == 0
            && let Some(id) = list
                .json()
                .as_array()
                .and_then(|a| a.first())
                .and_then(|g| g["id"].as_i64())
        {
            return id;
        }
        assert!(
            child.try_wait().unwrap().is_none(),
            "the run ended before asking for approvals"
        );
        assert!(Instant::now() < deadline, "no gate appeared");
        std::thread::sleep(std::time::Duration::from_millis(100));
    }
}

#[test]
fn approvals_count_each_person_once_and_never_the_runs_starter() {
    let p = project("    approval: { required: 2 }\n");
    let mut run = p
        .cmd(&["run", "--plain"])
        .env("WHARF_SECRET_KEY", KEY)
        .env("USER", "alice")
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let id = waiting_gate(&p, &mut run);
    // The job is `waiting`, not running, and says for what (GitHub's "Waiting").
    let shown = p.wharf(&["show", "--json"]).expect(0).json();
    let deploy = shown["jobs"]
        .as_array()
        .unwrap()
        .iter()
        .find(|j| j["id"] == "deploy")
        .unwrap()
        .clone();
    assert_eq!(deploy["status"], "waiting", "{shown}");
    assert!(deploy["started_at"].is_null(), "{deploy}");
    assert!(
        deploy["reason"]
            .as_str()
            .unwrap()
            .starts_with("waiting for 2 approvals to deploy to `production`"),
        "{deploy}"
    );
    let text = p.wharf(&["show"]).expect(0).stdout();
    assert!(text.contains("deploy  waiting"), "{text}");
    let list = as_user(&p, "bob", &["approvals"]).expect(0).stdout();
    assert!(
        list.contains("deploy") && list.contains("production") && list.contains("0/2"),
        "{list}"
    );
    assert!(list.contains("alice"), "who started it: {list}");
    // The starter may not approve.
    let own = as_user(&p, "alice", &["approve", &id.to_string()]).expect(2);
    assert!(
        own.stderr().contains(&format!(
            "alice started this run and may not approve it: gate {id}"
        )),
        "{}",
        own.stderr()
    );
    assert!(
        own.stderr().contains("self-approval: true"),
        "{}",
        own.stderr()
    );
    // One approver counts once.
    let bob = as_user(&p, "bob", &["approve", &id.to_string()]).expect(0);
    assert!(
        bob.stdout().contains("1 of 2; it waits for 1 more"),
        "{}",
        bob.stdout()
    );
    let again = as_user(&p, "bob", &["approve", &id.to_string()]).expect(0);
    assert!(
        again.stdout().contains("bob had already approved gate"),
        "{}",
        again.stdout()
    );
    assert!(again.stdout().contains("(1 of 2)"), "{}", again.stdout());
    // Nothing deployed yet, and the secret was not decrypted: the job still waits.
    std::thread::sleep(std::time::Duration::from_millis(600));
    assert!(
        run.try_wait().unwrap().is_none(),
        "deployed with one approval of two"
    );
    let carol = as_user(&p, "carol", &["approve", &id.to_string()]).expect(0);
    assert!(
        carol
            .stdout()
            .contains("2 of 2 approvals; the job deploys now"),
        "{}",
        carol.stdout()
    );
    let out = run.wait_with_output().unwrap();
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(out.status.success(), "{text}");
    assert!(text.contains(&format!("waiting for 2 approvals to deploy to `production` (wharf.yml:11:3): `wharf approve {id}`; alice, who started the run, may not approve it")), "{text}");
    assert!(
        text.contains("approved to deploy to `production` by bob, carol"),
        "{text}"
    );
    assert!(text.contains("deploying with 21-char token ***"), "{text}");
    // A decided gate takes no more approvals; an unknown one is named.
    let late = as_user(&p, "dave", &["approve", &id.to_string()]).expect(2);
    assert!(
        late.stderr().contains("is not waiting: it is approved"),
        "{}",
        late.stderr()
    );
    let none = as_user(&p, "dave", &["approve", "999"]).expect(2);
    assert!(
        none.stderr().contains("no approval gate 999"),
        "{}",
        none.stderr()
    );
    let all = as_user(&p, "dave", &["approvals", "--all", "--json"])
        .expect(0)
        .json();
    assert_eq!(all[0]["state"], "approved");
    // It started once approved: its time counts from then, its reason is gone.
    let shown = p.wharf(&["show", "--json"]).expect(0).json();
    let deploy = shown["jobs"]
        .as_array()
        .unwrap()
        .iter()
        .find(|j| j["id"] == "deploy")
        .unwrap()
        .clone();
    assert_eq!(deploy["status"], "success", "{deploy}");
    assert!(deploy["reason"].is_null(), "{deploy}");
    assert!(
        deploy["started_at"].as_i64().unwrap() >= all[0]["approvals"][1][1].as_i64().unwrap(),
        "{deploy} {all}"
    );
    assert_eq!(all[0]["approvals"].as_array().unwrap().len(), 2);
}

#[test]
fn the_server_takes_approvals_from_its_api_and_audits_them() {
    use wharf_test_support::http;
    let (_p, s) = served("    approval: { required: 1 }\n");
    let starter = s.token("operator");
    let other = s.token("admin");
    let viewer = s.token("viewer");
    let a = http::send_json(
        "POST",
        &format!("{}/api/v1/projects/app/trigger", s.url),
        Some(&starter),
        &serde_json::json!({}),
    );
    assert_eq!(a.status, 202, "{}", a.text());
    let list_url = format!("{}/api/v1/projects/app/approvals", s.url);
    let deadline = Instant::now() + std::time::Duration::from_secs(60);
    let id = loop {
        let l = http::get(&list_url, Some(&viewer));
        assert_eq!(l.status, 200, "{}", l.text());
        if let Some(id) = l.json()[0]["id"].as_i64() {
            break id;
        }
        assert!(Instant::now() < deadline, "no gate:\n{}", s.log());
        std::thread::sleep(std::time::Duration::from_millis(100));
    };
    let approve = |token: &str| {
        http::send_json(
            "POST",
            &format!("{list_url}/{id}"),
            Some(token),
            &serde_json::json!({}),
        )
    };
    let v = approve(&viewer);
    assert_eq!(v.status, 403, "{}", v.text());
    let own = approve(&starter);
    assert_eq!(own.status, 403, "{}", own.text());
    assert!(
        own.text()
            .contains("operator started this run and may not approve it"),
        "{}",
        own.text()
    );
    // The run page shows the wait; an operator approves with its button.
    let run = http::get(&list_url, Some(&viewer)).json()[0]["run"]
        .as_u64()
        .unwrap();
    let run_path = format!("/projects/app/runs/{run}");
    let vcookie = crate::dashboard::sign_in(&s, &viewer);
    let seen = crate::dashboard::page(&s, &vcookie, &run_path).text();
    assert!(seen.contains("Waiting for approval"), "{seen}");
    assert!(
        seen.contains(r#"class="node s-waiting""#),
        "the graph shows the job waiting: {seen}"
    );
    let api = http::get(
        &format!("{}/api/v1/projects/app/runs/{run}", s.url),
        Some(&viewer),
    )
    .json();
    let job = api["jobs"]
        .as_array()
        .unwrap()
        .iter()
        .find(|j| j["id"] == "deploy")
        .unwrap()
        .clone();
    assert_eq!(job["status"], "waiting", "{api}");
    assert!(
        !seen.contains("Approve as"),
        "a viewer gets no button: {seen}"
    );
    let cookie = crate::dashboard::sign_in(&s, &other);
    let token = crate::dashboard::csrf(&s, &cookie, &run_path);
    let ok = crate::dashboard::post_form(
        &s,
        &cookie,
        &format!("{run_path}/approvals/{id}"),
        &format!("csrf={token}"),
        None,
    );
    assert_eq!(ok.status, 303, "{}", ok.text());
    // The run goes on and deploys.
    let deadline = Instant::now() + std::time::Duration::from_secs(60);
    loop {
        let runs = http::get(
            &format!("{}/api/v1/projects/app/runs", s.url),
            Some(&viewer),
        )
        .json();
        if runs[0]["status"] == "success" {
            break;
        }
        assert!(Instant::now() < deadline, "{runs}\n{}", s.log());
        std::thread::sleep(std::time::Duration::from_millis(100));
    }
    // The gate's decisions are in the audit log, as the server's own (waiting, approved,
    // passed); the approval too, with who and from where.
    let gates = http::get(
        &format!("{}/api/v1/audit?action=deploy.gate", s.url),
        Some(&other),
    )
    .json();
    let outcomes: Vec<&str> = gates
        .as_array()
        .unwrap()
        .iter()
        .rev()
        .map(|e| e["detail"]["outcome"].as_str().unwrap())
        .collect();
    assert_eq!(outcomes, ["waiting", "approved", "passed"], "{gates}");
    let audit = http::get(
        &format!("{}/api/v1/audit?action=deploy.approve", s.url),
        Some(&other),
    )
    .json();
    let e = &audit.as_array().unwrap()[0];
    assert_eq!(e["action"], "deploy.approve", "{audit}");
    assert_eq!(e["target"], format!("app#{id}"));
    assert!(e["actor"].as_str().unwrap().contains("(admin)"), "{e}");
    assert!(
        e["source"].as_str().unwrap().starts_with("127.0.0.1:"),
        "{e}"
    );
    // `wharf approvals --server` reads the same.
    let out = std::process::Command::new(crate::helper::bin())
        .args([
            "approvals",
            "--all",
            "--server",
            &s.url,
            "--project",
            "app",
            "--json",
        ])
        .env("WHARF_TOKEN", &viewer)
        .output()
        .unwrap();
    assert!(out.status.success(), "{out:?}");
    let all: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(all[0]["state"], "approved");
}
