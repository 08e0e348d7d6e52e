//! The audit log end to end: every audited action, through the API and the admin CLI,
//! lands as an entry with who, role and where from; `wharf audit` lists it and
//! `wharf audit verify` checks it, and names the entry someone changed or deleted in
//! `server.db` behind the server's back.

use std::path::Path;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use wharf_test_support::forge::{Forge, Kind};
use wharf_test_support::http;

use crate::helper::{Run, bin};
use crate::server::Server;

/// A manual pipeline that fails at once, or sleeps first with `mode=slow` (to be
/// cancelled).
const PIPELINE: &str = r#"version: 1
on:
  manual: { inputs: { mode: { default: fail, options: [fail, slow] } } }
jobs:
  work:
    run: |
      if [ "$WHARF_INPUT_MODE" = slow ]; then sleep 60; fi
      exit 1
"#;

/// `wharf ARGS…` with `WHARF_TOKEN` set to `token` (or unset).
fn wharf(args: &[&str], token: Option<&str>) -> Run {
    let mut c = Command::new(bin());
    c.args(args)
        .env_remove("WHARF_TOKEN")
        .env_remove("WHARF_SERVER")
        .env_remove("WHARF_SECRET_KEY")
        .stdin(Stdio::null());
    if let Some(t) = token {
        c.env("WHARF_TOKEN", t);
    }
    Run {
        out: c.output().unwrap(),
    }
}

/// `wharf audit ARGS… --data-dir D`.
fn audit_local(data: &Path, args: &[&str]) -> Run {
    let mut all = vec!["audit"];
    all.extend_from_slice(args);
    all.extend_from_slice(&["--data-dir", data.to_str().unwrap()]);
    wharf(&all, None)
}

/// Every entry, oldest first, as `wharf audit --json` lists them.
fn entries(data: &Path) -> Vec<serde_json::Value> {
    let mut all = audit_local(data, &["--json", "--limit", "1000"])
        .expect(0)
        .json()
        .as_array()
        .unwrap()
        .clone();
    all.reverse();
    all
}

/// The entry of `action` on `target`, or a panic listing them all.
fn entry<'a>(all: &'a [serde_json::Value], action: &str, target: &str) -> &'a serde_json::Value {
    all.iter()
        .find(|e| e["action"] == action && e["target"] == target)
        .unwrap_or_else(|| {
            panic!(
                "no {action} of {target} in:\n{}",
                serde_json::to_string_pretty(all).unwrap()
            )
        })
}

fn from_api(e: &serde_json::Value, token_name: &str, role: &str) {
    assert_eq!(
        e["actor"].as_str().unwrap().split_once(' ').unwrap().1,
        format!("({token_name})"),
        "{e}"
    );
    assert!(e["actor"].as_str().unwrap().starts_with("token:"), "{e}");
    assert_eq!(e["role"], role, "{e}");
    let source = e["source"].as_str().unwrap();
    let port = source
        .strip_prefix("127.0.0.1:")
        .unwrap_or_else(|| panic!("{e}"));
    assert!(port.parse::<u16>().unwrap() > 0, "{e}");
}

fn from_cli(e: &serde_json::Value) {
    assert!(e["actor"].as_str().unwrap().starts_with("local:"), "{e}");
    assert_eq!(e["role"], "admin", "{e}");
    assert_eq!(e["source"], "cli", "{e}");
}

/// Waits for a run of `app` to show as running through the API; its number.
fn wait_running(s: &Server, token: &str) -> u64 {
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        let a = http::get(
            &format!("{}/api/v1/projects/app/runs?status=running", s.url),
            Some(token),
        );
        if a.status == 200
            && let Some(n) = a.json()[0]["number"].as_u64()
        {
            return n;
        }
        assert!(Instant::now() < deadline, "no run started:\n{}", s.log());
        std::thread::sleep(Duration::from_millis(100));
    }
}

#[test]
fn every_audited_action_is_recorded_with_who_and_where_and_listed() {
    let s = Server::new();
    let data = s.data.path();
    let forge = Forge::start(Kind::Github, &s.hook("app"), "webhook-secret-for-tests-1");
    forge.commit("wharf.yml", PIPELINE, "add the pipeline");
    assert!(forge.push("main").status.success());
    let api = format!("{}/api/v1", s.url);

    // the admin CLI on the data directory
    s.add_project("app", &forge, &[]);
    let admin = s.token("admin");
    let operator = s.token("operator");
    let viewer = s.token("viewer");
    s.admin(
        &["secrets", "--project", "app", "set", "CLI_TOKEN"],
        "cli-secret-value-1",
    )
    .expect(0);
    s.admin(&["secrets", "--project", "app", "rm", "CLI_TOKEN"], "")
        .expect(0);
    s.add_project("old", &forge, &[]);
    s.admin(&["project", "remove", "old"], "").expect(0);
    let doomed = s
        .admin(
            &["token", "create", "doomed", "--role", "viewer", "--json"],
            "",
        )
        .expect(0)
        .json()["id"]
        .as_i64()
        .unwrap();
    s.admin(&["token", "revoke", &doomed.to_string()], "")
        .expect(0);

    // the API
    let made = http::send_json(
        "POST",
        &format!("{api}/tokens"),
        Some(&admin),
        &serde_json::json!({ "name": "ci", "role": "viewer" }),
    );
    assert_eq!(made.status, 201, "{}", made.text());
    let ci = made.json()["id"].as_i64().unwrap();
    let a = http::request(
        "DELETE",
        &format!("{api}/tokens/{ci}"),
        &[("Authorization", &format!("Bearer {admin}"))],
        b"",
    );
    assert_eq!(a.status, 204, "{}", a.text());
    let secret_url = format!("{api}/projects/app/secrets/API_TOKEN");
    let body = serde_json::json!({ "value": "api-secret-value-1", "environment": "production" });
    assert_eq!(
        http::send_json("PUT", &secret_url, Some(&admin), &body).status,
        204
    );
    let a = http::request(
        "DELETE",
        &format!("{secret_url}?environment=production"),
        &[("Authorization", &format!("Bearer {admin}"))],
        b"",
    );
    assert_eq!(a.status, 204, "{}", a.text());
    let body = serde_json::json!({ "name": "web", "repo": forge.clone_url(), "forge": "github" });
    let a = http::send_json("POST", &format!("{api}/projects"), Some(&admin), &body);
    assert_eq!(a.status, 201, "{}", a.text());
    let a = http::request(
        "DELETE",
        &format!("{api}/projects/web"),
        &[("Authorization", &format!("Bearer {admin}"))],
        b"",
    );
    assert_eq!(a.status, 204, "{}", a.text());

    // runs: a failed one re-run, a slow one cancelled
    let trigger = |mode: &str| {
        let a = http::send_json(
            "POST",
            &format!("{api}/projects/app/trigger"),
            Some(&operator),
            &serde_json::json!({ "inputs": { "mode": mode } }),
        );
        assert_eq!(a.status, 202, "{}", a.text());
        a.json()["event"].as_i64().unwrap()
    };
    let failed = s.wait_event(trigger("fail"));
    let run = failed["runs"][0].as_u64().unwrap();
    let a = http::send_json(
        "POST",
        &format!("{api}/projects/app/runs/{run}/rerun"),
        Some(&operator),
        &serde_json::json!({}),
    );
    assert_eq!(a.status, 202, "{}", a.text());
    let rerun_event = a.json()["event"].as_i64().unwrap();
    s.wait_event(rerun_event);
    let slow_event = trigger("slow");
    let slow_run = wait_running(&s, &viewer);
    // The store shows the run as running a moment before its cancel handle exists: 409
    // until then.
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        let a = http::send_json(
            "POST",
            &format!("{api}/projects/app/runs/{slow_run}/cancel"),
            Some(&operator),
            &serde_json::json!({}),
        );
        if a.status == 202 {
            break;
        }
        assert_eq!(a.status, 409, "{}", a.text());
        assert!(Instant::now() < deadline, "{}", a.text());
        std::thread::sleep(Duration::from_millis(50));
    }
    s.wait_event(slow_event);

    // refused or failed actions record nothing
    let before = entries(data).len();
    let a = http::request(
        "DELETE",
        &format!("{api}/tokens/9999"),
        &[("Authorization", &format!("Bearer {admin}"))],
        b"",
    );
    assert_eq!(a.status, 404);
    let a = http::send_json(
        "POST",
        &format!("{api}/projects/app/runs/{slow_run}/cancel"),
        Some(&operator),
        &serde_json::json!({}),
    );
    assert_eq!(a.status, 409, "{}", a.text());
    let a = http::send_json(
        "POST",
        &format!("{api}/tokens"),
        Some(&operator),
        &serde_json::json!({ "name": "sneaky", "role": "admin" }),
    );
    assert_eq!(a.status, 403);
    s.admin(&["token", "revoke", "9999"], "").expect(2);
    s.admin(&["secrets", "--project", "app", "rm", "NOPE"], "")
        .expect(2);
    assert_eq!(
        entries(data).len(),
        before,
        "nothing recorded for what did not happen"
    );

    // each action, with who, role and where from
    let all = entries(data);
    let seqs: Vec<i64> = all.iter().map(|e| e["seq"].as_i64().unwrap()).collect();
    assert_eq!(seqs, (1..=all.len() as i64).collect::<Vec<_>>());
    let e = entry(&all, "project.add", "app");
    from_cli(e);
    assert_eq!(e["detail"]["forge"], "github");
    from_cli(entry(&all, "token.create", "1"));
    assert_eq!(entry(&all, "token.create", "1")["detail"]["role"], "admin");
    let e = entry(&all, "secret.set", "app/CLI_TOKEN");
    from_cli(e);
    from_cli(entry(&all, "secret.remove", "app/CLI_TOKEN"));
    from_cli(entry(&all, "project.add", "old"));
    from_cli(entry(&all, "project.remove", "old"));
    from_cli(entry(&all, "token.revoke", &doomed.to_string()));
    let e = entry(&all, "token.create", &ci.to_string());
    from_api(e, "admin", "admin");
    assert_eq!(
        e["detail"],
        serde_json::json!({ "name": "ci", "role": "viewer" })
    );
    from_api(
        entry(&all, "token.revoke", &ci.to_string()),
        "admin",
        "admin",
    );
    let e = entry(&all, "secret.set", "app/API_TOKEN");
    from_api(e, "admin", "admin");
    assert_eq!(e["detail"]["environment"], "production");
    from_api(
        entry(&all, "secret.remove", "app/API_TOKEN"),
        "admin",
        "admin",
    );
    from_api(entry(&all, "project.add", "web"), "admin", "admin");
    from_api(entry(&all, "project.remove", "web"), "admin", "admin");
    let e = entry(&all, "run.trigger", "app");
    from_api(e, "operator", "operator");
    assert_eq!(e["detail"]["inputs"]["mode"], "fail");
    assert_eq!(e["detail"]["branch"], "main");
    let e = entry(&all, "run.rerun", &format!("app#{run}"));
    from_api(e, "operator", "operator");
    assert_eq!(e["detail"]["event"], rerun_event);
    from_api(
        entry(&all, "run.cancel", &format!("app#{slow_run}")),
        "operator",
        "operator",
    );
    let text = serde_json::to_string(&all).unwrap();
    for value in [
        "cli-secret-value-1",
        "api-secret-value-1",
        "webhook-secret-for-tests-1",
    ] {
        assert!(
            !text.contains(value),
            "a secret's value in the log: {value}"
        );
    }

    // listed as a table, locally and through the API
    let out = audit_local(data, &[]).expect(0).stdout();
    let header = out.lines().next().unwrap();
    for column in ["SEQ", "WHEN (UTC)", "WHO", "FROM", "ACTION", "TARGET"] {
        assert!(header.contains(column), "{out}");
    }
    assert!(
        out.contains("run.cancel") && out.contains("127.0.0.1:"),
        "{out}"
    );
    let out = wharf(&["audit", "--server", &s.url, "--limit", "3"], Some(&admin)).expect(0);
    assert_eq!(
        out.stdout().lines().count(),
        4,
        "a header and 3 entries:\n{}",
        out.stdout()
    );
    assert!(
        out.stderr().contains("wharf audit --before"),
        "{}",
        out.stderr()
    );
    let listed = wharf(
        &["audit", "--server", &s.url, "--json", "--action", "secret"],
        Some(&admin),
    )
    .expect(0)
    .json();
    let actions: Vec<&str> = listed
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["action"].as_str().unwrap())
        .collect();
    assert_eq!(
        actions,
        ["secret.remove", "secret.set", "secret.remove", "secret.set"]
    );
    let page = http::get(&format!("{api}/audit?limit=2&before=3"), Some(&admin)).json();
    assert_eq!(page[0]["seq"], 2);
    assert_eq!(page[1]["seq"], 1);

    // verified, both ways
    let out = audit_local(data, &["verify"]).expect(0).stdout();
    let last = &all.last().unwrap()["hash"];
    assert_eq!(
        out.trim(),
        format!(
            "audit log intact: {} entries, last hash {}",
            all.len(),
            last.as_str().unwrap()
        )
    );
    let report = wharf(
        &["audit", "verify", "--server", &s.url, "--json"],
        Some(&admin),
    )
    .expect(0)
    .json();
    assert_eq!(report["ok"], true);
    assert_eq!(report["entries"], all.len());

    // an admin's only
    for token in [&viewer, &operator] {
        for path in ["audit", "audit/verify"] {
            let a = http::get(&format!("{api}/{path}"), Some(token));
            assert_eq!(a.status, 403, "{path}: {}", a.text());
        }
        let out = wharf(&["audit", "verify", "--server", &s.url], Some(token)).expect(2);
        assert!(out.stderr().contains("403"), "{}", out.stderr());
    }
    assert_eq!(http::get(&format!("{api}/audit"), None).status, 401);
}

/// Runs `statements` on `db` with sqlx, as someone with the file would.
fn tamper(db: &Path, statements: &[&'static str]) {
    tamper_with(db, statements, &[]);
}

/// [`tamper`], the last statement with `binds`.
fn tamper_with(db: &Path, statements: &[&'static str], binds: &[String]) {
    use sqlx::Connection;
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    rt.block_on(async {
        let options = sqlx::sqlite::SqliteConnectOptions::new().filename(db);
        let mut c = sqlx::SqliteConnection::connect_with(&options)
            .await
            .unwrap();
        for s in [
            "DROP TRIGGER IF EXISTS audit_no_update",
            "DROP TRIGGER IF EXISTS audit_no_delete",
        ] {
            sqlx::query(s).execute(&mut c).await.unwrap();
        }
        for (i, s) in statements.iter().enumerate() {
            let mut q = sqlx::query(*s);
            if i + 1 == statements.len() {
                for b in binds {
                    q = q.bind(b);
                }
            }
            q.execute(&mut c).await.unwrap();
        }
        c.close().await.unwrap();
    });
}

/// A copy of the stopped server's database in a new data directory.
fn copy_of(data: &Path) -> tempfile::TempDir {
    let copy = tempfile::tempdir().unwrap();
    for f in ["server.db", "server.db-wal"] {
        if data.join(f).exists() {
            std::fs::copy(data.join(f), copy.path().join(f)).unwrap();
        }
    }
    copy
}

/// `wharf audit verify` on a tampered copy: exit 1 and this message.
fn verify_fails(data: &Path, message: &str) {
    let out = audit_local(data, &["verify"]).expect(1);
    assert!(out.stderr().contains(message), "{}", out.stderr());
    assert!(out.stderr().contains("hint:"), "{}", out.stderr());
    assert_eq!(out.stdout(), "");
}

#[test]
fn concurrent_appends_chain_and_tampering_is_named() {
    let mut s = Server::new();
    let admin = s.token("admin");
    let api = format!("{}/api/v1", s.url);
    let threads: Vec<_> = (0..20)
        .map(|i| {
            let (api, admin) = (api.clone(), admin.clone());
            std::thread::spawn(move || {
                http::send_json(
                    "POST",
                    &format!("{api}/tokens"),
                    Some(&admin),
                    &serde_json::json!({ "name": format!("t{i}"), "role": "viewer" }),
                )
                .status
            })
        })
        .collect();
    for t in threads {
        assert_eq!(t.join().unwrap(), 201);
    }
    let report = http::get(&format!("{api}/audit/verify"), Some(&admin)).json();
    assert_eq!(report["ok"], true, "{report}");
    assert_eq!(report["entries"], 21, "{report}");
    s.kill9();
    let data = s.data.path();
    audit_local(data, &["verify"]).expect(0);

    // (a) one entry's target edited
    let copy = copy_of(data);
    tamper(
        &copy.path().join("server.db"),
        &["UPDATE audit SET target = '99' WHERE seq = 7"],
    );
    verify_fails(
        copy.path(),
        "entry 7 was changed: its hash does not match its contents",
    );
    let report = audit_local(copy.path(), &["verify", "--json"])
        .expect(1)
        .json();
    assert_eq!(report["ok"], false);
    assert_eq!(report["broken"]["kind"], "changed");
    assert_eq!(report["broken"]["seq"], 7);

    // (b) a middle entry deleted
    let copy = copy_of(data);
    tamper(
        &copy.path().join("server.db"),
        &["DELETE FROM audit WHERE seq = 12"],
    );
    verify_fails(
        copy.path(),
        "entry 12 is missing (entries jump from 11 to 13)",
    );

    // (c) the last entry deleted: the chain alone cannot tell, the head can
    let copy = copy_of(data);
    tamper(
        &copy.path().join("server.db"),
        &["DELETE FROM audit WHERE seq = 21"],
    );
    verify_fails(
        copy.path(),
        "entry 21 is missing (the log ends at entry 20, but its head records 21)",
    );

    // (d) an entry rewritten with its hash recomputed: the next one no longer follows it
    let copy = copy_of(data);
    let all = entries(copy.path());
    let e = &all[4];
    assert_eq!(e["seq"], 5);
    let field = |k: &str| e[k].as_str().unwrap().to_string();
    let forged = wharf_server::audit::entry_hash(
        5,
        e["at"].as_i64().unwrap(),
        &field("actor"),
        &field("role"),
        &field("action"),
        "99",
        &e["detail"].to_string(),
        &field("source"),
        &field("prev_hash"),
    );
    tamper_with(
        &copy.path().join("server.db"),
        &["UPDATE audit SET target = '99', hash = ? WHERE seq = 5"],
        &[forged],
    );
    verify_fails(copy.path(), "entry 6 does not follow entry 5 (prev_hash ");

    // the server itself reports a break, and keeps the gap visible as it appends
    tamper(
        &data.join("server.db"),
        &["DELETE FROM audit WHERE seq = 3"],
    );
    s.start(&[]);
    let report = http::get(&format!("{}/api/v1/audit/verify", s.url), Some(&admin)).json();
    assert_eq!(report["ok"], false, "{report}");
    assert_eq!(report["broken"]["seq"], 3, "{report}");
    let out = wharf(&["audit", "verify", "--server", &s.url], Some(&admin)).expect(1);
    assert!(
        out.stderr()
            .contains("entry 3 is missing (entries jump from 2 to 4)"),
        "{}",
        out.stderr()
    );
}
