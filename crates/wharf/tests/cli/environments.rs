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

#[test]
fn the_server_enforces_the_same_gates() {
    use wharf_test_support::http;
    let p = project("    branches: [release/*]\n");
    let s = crate::server::Server::new();
    let repo = p.path().display().to_string();
    s.admin(
        &[
            "project",
            "add",
            "app",
            "--repo",
            &repo,
            "--forge",
            "github",
            "--webhook-secret-stdin",
        ],
        "webhook-secret-for-tests-1",
    )
    .expect(0);
    std::fs::write(
        p.path().join("wharf.yml"),
        pipeline("    branches: [release/*]\n")
            .replace("version: 1\n", "version: 1\non: { manual: {} }\n"),
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
}
