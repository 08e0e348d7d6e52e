//! Deployments on `wharf serve`: the API (`environments`, `deployments`, deploy, rollback,
//! resume, abort) with its roles, refusals and audit entries; `wharf deploy|rollback|
//! deployments|environments --server`; the dashboard's Environments page and its forms;
//! and a server killed mid-deployment. The releases are recorded by the server's own
//! runs; the environments deploy with a script target (no Docker needed).

use std::path::Path;
use std::time::{Duration, Instant};

use wharf_test_support::http;

use crate::dashboard::{csrf, page, post_form, sign_in};
use crate::helper::{Project, Run, bin};
use crate::server::Server;

/// What the environments declare; `ARG` is the deploy script's argument (markup, to see
/// it escaped).
const ENVIRONMENTS: &str = r#"environments:
  staging:
    target: { script: { run: [./deploy.sh, "<script>alert('arg')</script>"] } }
  production:
    requires: [staging]
    approval: { required: 1 }
    target: { script: { run: [./deploy.sh, x] } }
  canary:
    target: { script: { run: [./deploy.sh, x] } }
    strategy: { canary: { steps: [{ weight: 50, pause: manual }] } }
"#;

/// A project whose manual runs record a release, and whose deploy script logs each call to
/// `calls.log` in `ctl` (and sleeps `ctl/slow` seconds, fails for `ctl/fail-VERSION`).
fn project(ctl: &Path) -> Project {
    let p = Project::new(&format!(
        "version: 1\non: {{ manual: {{}} }}\njobs:\n  build:\n    run: mkdir -p dist && date +%s%N > dist/stamp.txt\n    artifacts: [dist/stamp.txt]\n  release:\n    needs: [build]\n    steps:\n      - release: {{}}\n{ENVIRONMENTS}"
    ));
    let c = ctl.display();
    p.write(".gitignore", ".wharf/\ndist/\n");
    p.write(
        "deploy.sh",
        &format!(
            "#!/bin/sh\n\
             echo \"$WHARF_MODE $WHARF_ENVIRONMENT $WHARF_RELEASE w=$WHARF_WEIGHT prev=$WHARF_PREVIOUS_RELEASE id=$WHARF_DEPLOYMENT_ID\" >> {c}/calls.log\n\
             if [ -f {c}/slow ]; then sleep \"$(cat {c}/slow)\"; fi\n\
             if [ -f {c}/fail-$WHARF_RELEASE ]; then echo \"cannot deploy $WHARF_RELEASE\" >&2; exit 3; fi\n"
        ),
    );
    std::process::Command::new("chmod")
        .arg("+x")
        .arg(p.path().join("deploy.sh"))
        .status()
        .unwrap();
    p.git_init();
    p.tag("v0.1.0");
    p
}

/// Commits `message`, runs the project on the server, and tags the release it recorded in
/// the repository too (the server's mirror follows the repository's tags).
fn release(p: &Project, s: &Server, token: &str, message: &str, version: &str) {
    p.commit(message);
    let a = http::send_json(
        "POST",
        &format!("{}/api/v1/projects/app/trigger", s.url),
        Some(token),
        &serde_json::json!({}),
    );
    assert_eq!(a.status, 202, "{}", a.text());
    let e = s.wait_event(a.json()["event"].as_i64().unwrap());
    let run = e["runs"][0].as_u64().unwrap();
    let rec = http::get(
        &format!("{}/api/v1/projects/app/runs/{run}", s.url),
        Some(token),
    )
    .json();
    assert_eq!(rec["status"], "success", "{rec}\n{}", s.log());
    let rel = http::get(
        &format!("{}/api/v1/projects/app/releases", s.url),
        Some(token),
    )
    .json();
    assert_eq!(rel[0]["version"], version, "{rel}");
    assert!(!rel[0]["items"].as_array().unwrap().is_empty(), "{rel}");
    p.tag(&format!("v{version}"));
}

/// A server with project `app` and two releases, 0.2.0 and 0.3.0; its operator, viewer and
/// admin tokens.
struct Setup {
    ctl: tempfile::TempDir,
    p: Project,
    s: Server,
    op: String,
    viewer: String,
    admin: String,
}

fn setup() -> Setup {
    let ctl = tempfile::tempdir().unwrap();
    let p = project(ctl.path());
    let s = Server::new();
    s.add_local_project("app", p.path());
    let (op, viewer, admin) = (s.token("operator"), s.token("viewer"), s.token("admin"));
    release(&p, &s, &op, "feat: one", "0.2.0");
    release(&p, &s, &op, "feat: two", "0.3.0");
    Setup {
        ctl,
        p,
        s,
        op,
        viewer,
        admin,
    }
}

impl Setup {
    fn api(&self, path: &str) -> String {
        format!("{}/api/v1/projects/app/{path}", self.s.url)
    }

    fn post(&self, token: &str, path: &str, body: serde_json::Value) -> http::Answer {
        http::send_json("POST", &self.api(path), Some(token), &body)
    }

    fn deploy(&self, token: &str, release: &str, env: &str) -> http::Answer {
        self.post(
            token,
            "deployments",
            serde_json::json!({ "release": release, "environment": env }),
        )
    }

    /// Waits until deployment `id` is `status`; its record.
    fn wait(&self, id: i64, status: &str) -> serde_json::Value {
        let deadline = Instant::now() + Duration::from_secs(60);
        loop {
            let d = http::get(&self.api(&format!("deployments/{id}")), Some(&self.viewer));
            assert_eq!(d.status, 200, "{}", d.text());
            let d = d.json();
            if d["status"] == status {
                return d;
            }
            assert!(
                Instant::now() < deadline,
                "deployment {id} is not {status}: {d}\n{}",
                self.s.log()
            );
            std::thread::sleep(Duration::from_millis(50));
        }
    }

    fn calls(&self) -> Vec<String> {
        std::fs::read_to_string(self.ctl.path().join("calls.log"))
            .unwrap_or_default()
            .lines()
            .map(str::to_string)
            .collect()
    }

    /// `wharf ARGS… --server URL --project app` as `token`.
    fn cli(&self, token: &str, args: &[&str]) -> Run {
        let out = std::process::Command::new(bin())
            .args(args)
            .args(["--server", &self.s.url, "--project", "app"])
            .env("WHARF_TOKEN", token)
            .current_dir(self.ctl.path())
            .stdin(std::process::Stdio::null())
            .output()
            .unwrap();
        Run { out }
    }
}

impl Setup {
    /// `wharf ARGS… --server …` started as `token`, and its stderr line by line as it
    /// comes.
    fn follow(
        &self,
        token: &str,
        args: &[&str],
    ) -> (std::process::Child, std::sync::mpsc::Receiver<String>) {
        let mut child = std::process::Command::new(bin())
            .args(args)
            .args(["--server", &self.s.url, "--project", "app"])
            .env("WHARF_TOKEN", token)
            .stdin(std::process::Stdio::null())
            .stdout(std::process::Stdio::piped())
            .stderr(std::process::Stdio::piped())
            .spawn()
            .unwrap();
        let (tx, rx) = std::sync::mpsc::channel::<String>();
        let stderr = child.stderr.take().unwrap();
        std::thread::spawn(move || {
            for line in std::io::BufRead::lines(std::io::BufReader::new(stderr)) {
                let _ = tx.send(line.unwrap_or_default());
            }
        });
        (child, rx)
    }
}

fn assert_refused(a: &http::Answer, status: u16, error: &str, hint: &str) {
    assert_eq!(a.status, status, "{}", a.text());
    let v = a.json();
    assert!(
        v["error"].as_str().unwrap_or("").contains(error),
        "{error}: {v}"
    );
    assert!(
        v["hint"].as_str().unwrap_or("").contains(hint),
        "{hint}: {v}"
    );
}

#[test]
fn the_api_deploys_refuses_rolls_back_and_audits_by_role() {
    let t = setup();
    // What `wharf environments --json` shows, for a viewer.
    let envs = http::get(&t.api("environments"), Some(&t.viewer));
    assert_eq!(envs.status, 200, "{}", envs.text());
    let envs = envs.json();
    let names: Vec<&str> = envs
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["name"].as_str().unwrap())
        .collect();
    assert_eq!(names, ["staging", "production", "canary"], "{envs}");
    assert_eq!(envs[0]["target"]["script"]["run"][0], "./deploy.sh");
    assert_eq!(envs[1]["requires"][0], "staging");
    assert_eq!(envs[1]["approvals"], 1);
    assert_eq!(envs[2]["strategy"], "canary");
    assert!(envs[0]["release"].is_null(), "{envs}");
    // A viewer may read, never deploy.
    let v = t.deploy(&t.viewer, "0.2.0", "staging");
    assert_eq!(v.status, 403, "{}", v.text());
    // Refused before anything is recorded, with the CLI's words.
    assert_refused(
        &t.deploy(&t.op, "9.9.9", "staging"),
        400,
        "no release 9.9.9 is recorded",
        "`wharf releases` lists the recorded releases",
    );
    assert_refused(
        &t.deploy(&t.op, "0.2.0", "qa"),
        400,
        "no environment `qa` in the pipeline",
        "the pipeline declares: staging, production, canary",
    );
    assert_refused(
        &t.deploy(&t.op, "0.2.0", "production"),
        400,
        "release 0.2.0 has not been deployed to `staging` successfully; `production` requires it (wharf.yml:",
        "deploy it there first: `wharf deploy 0.2.0 --env staging`",
    );
    let none = http::get(&t.api("deployments"), Some(&t.viewer)).json();
    assert_eq!(none, serde_json::json!([]), "refusals record nothing");
    // Deployed by the server, as the token's name; answered once recorded.
    let a = t.deploy(&t.op, "0.2.0", "staging");
    assert_eq!(a.status, 202, "{}", a.text());
    let first = a.json();
    assert_eq!(first["actor"], "operator", "{first}");
    assert_eq!(first["release"], "0.2.0");
    let id1 = first["id"].as_i64().unwrap();
    t.wait(id1, "succeeded");
    let id2 = t.deploy(&t.op, "0.3.0", "staging").json()["id"]
        .as_i64()
        .unwrap();
    t.wait(id2, "succeeded");
    assert_refused(
        &t.deploy(&t.op, "0.2.0", "staging"),
        409,
        "release 0.2.0 is older than 0.3.0, which runs in staging: refused as outdated",
        "to go back on purpose: `wharf rollback staging`",
    );
    // Back to the previous good release.
    let v = t.post(
        &t.viewer,
        "environments/staging/rollback",
        serde_json::json!({}),
    );
    assert_eq!(v.status, 403, "{}", v.text());
    let back = t.post(
        &t.op,
        "environments/staging/rollback",
        serde_json::json!({}),
    );
    assert_eq!(back.status, 202, "{}", back.text());
    let back = back.json();
    assert_eq!(
        (&back["mode"], &back["release"], &back["previous"]),
        (
            &serde_json::json!("rollback"),
            &serde_json::json!("0.2.0"),
            &serde_json::json!("0.3.0")
        ),
        "{back}"
    );
    let id3 = back["id"].as_i64().unwrap();
    t.wait(id3, "succeeded");
    let calls = t.calls();
    assert_eq!(calls.len(), 3, "{calls:?}");
    assert!(
        calls[0].starts_with("deploy staging 0.2.0 w=100 prev= id="),
        "{calls:?}"
    );
    assert!(
        calls[1].starts_with("deploy staging 0.3.0 w=100 prev=0.2.0"),
        "{calls:?}"
    );
    assert!(
        calls[2].starts_with("rollback staging 0.2.0 w=100 prev=0.3.0"),
        "{calls:?}"
    );
    // The history, newest first, filtered and limited.
    let list = http::get(&t.api("deployments?env=staging&limit=2"), Some(&t.viewer)).json();
    let ids: Vec<i64> = list
        .as_array()
        .unwrap()
        .iter()
        .map(|d| d["id"].as_i64().unwrap())
        .collect();
    assert_eq!(ids, [id3, id2], "{list}");
    assert_eq!(
        list[0]["digests"][0]["kind"], "artifact",
        "recorded by digest: {list}"
    );
    let missing = http::get(&t.api("deployments/999"), Some(&t.viewer));
    assert_eq!(missing.status, 404, "{}", missing.text());
    let envs = http::get(&t.api("environments"), Some(&t.viewer)).json();
    assert_eq!(envs[0]["release"], "0.2.0", "{envs}");
    assert_eq!(envs[0]["deployment"], id3, "{envs}");
    // One deployment per environment: the second is refused, naming the holder.
    std::fs::write(t.ctl.path().join("slow"), "3").unwrap();
    let slow = t.deploy(&t.op, "0.3.0", "staging");
    assert_eq!(slow.status, 202, "{}", slow.text());
    let slow = slow.json();
    assert_eq!(slow["status"], "running", "it has the lease: {slow}");
    let held = t.deploy(&t.admin, "0.3.0", "staging");
    assert_refused(
        &held,
        409,
        &format!(
            "environment staging is held by deployment {} (operator, pid ",
            slow["id"]
        ),
        "`wharf deploy … --queue` waits by itself",
    );
    let envs = http::get(&t.api("environments"), Some(&t.viewer)).json();
    assert_eq!(envs[0]["lease"]["deployment"], slow["id"], "{envs}");
    std::fs::remove_file(t.ctl.path().join("slow")).unwrap();
    t.wait(slow["id"].as_i64().unwrap(), "succeeded");
    // Resume and abort answer for what has ended, too.
    let over = t.post(
        &t.op,
        &format!("deployments/{id1}/abort"),
        serde_json::json!({}),
    );
    assert_eq!(over.status, 409, "{}", over.text());
    assert!(
        over.text().contains(&format!(
            "deployment {id1} is over (succeeded): there is nothing to abort"
        )),
        "{}",
        over.text()
    );
    // Each deployment asked for is in the audit log: who, from where, what.
    let audit = http::get(
        &format!("{}/api/v1/audit?action=deploy", t.s.url),
        Some(&t.admin),
    )
    .json();
    let entries: Vec<(String, i64)> = audit
        .as_array()
        .unwrap()
        .iter()
        .rev()
        .filter(|e| e["action"] != "deploy.gate")
        .map(|e| {
            (
                e["action"].as_str().unwrap().to_string(),
                e["detail"]["deployment"].as_i64().unwrap_or(0),
            )
        })
        .collect();
    let held_id = slow["id"].as_i64().unwrap() + 1;
    assert_eq!(
        entries,
        [
            ("deploy.create".to_string(), id1),
            ("deploy.create".to_string(), id2),
            ("deploy.rollback".to_string(), id3),
            ("deploy.create".to_string(), slow["id"].as_i64().unwrap()),
            ("deploy.create".to_string(), held_id),
        ],
        "{audit}"
    );
    // Every decision at the gates is there too, as the server's own: the refusals
    // (nothing recorded, so no deployment) and each deployment that passed.
    let gates: Vec<(String, i64, String)> = audit
        .as_array()
        .unwrap()
        .iter()
        .rev()
        .filter(|e| e["action"] == "deploy.gate")
        .map(|e| {
            assert!(e["actor"].as_str().unwrap().starts_with("wharf"), "{e}");
            (
                e["detail"]["outcome"].as_str().unwrap().to_string(),
                e["detail"]["deployment"].as_i64().unwrap_or(0),
                e["detail"]["detail"].as_str().unwrap().to_string(),
            )
        })
        .collect();
    let outcomes: Vec<(&str, i64)> = gates.iter().map(|g| (g.0.as_str(), g.1)).collect();
    assert_eq!(
        outcomes,
        [
            ("refused", 0),
            ("refused", 0),
            ("passed", id1),
            ("passed", id2),
            ("refused", 0),
            ("passed", id3),
            ("passed", slow["id"].as_i64().unwrap()),
            ("passed", held_id),
        ],
        "{audit}"
    );
    assert!(
        gates[0].2.contains("no release 9.9.9 is recorded"),
        "{gates:?}"
    );
    assert!(gates[1].2.contains("`production` requires it"), "{gates:?}");
    assert!(gates[4].2.contains("refused as outdated"), "{gates:?}");
    let e = audit
        .as_array()
        .unwrap()
        .iter()
        .rfind(|e| e["action"] != "deploy.gate")
        .unwrap();
    assert_eq!(e["target"], "app/staging", "{e}");
    assert_eq!(e["detail"]["release"], "0.2.0", "{e}");
    assert_eq!(e["detail"]["via"], "api", "{e}");
    assert!(e["actor"].as_str().unwrap().contains("(operator)"), "{e}");
    assert!(
        e["source"].as_str().unwrap().starts_with("127.0.0.1:"),
        "{e}"
    );
    // The held one is recorded as failed, as `wharf deploy` records it.
    let h = t.wait(held_id, "failed");
    assert!(
        h["reason"]
            .as_str()
            .unwrap()
            .contains("is held by deployment"),
        "{h}"
    );
}

#[test]
fn the_cli_deploys_on_a_server_and_exits_as_the_local_command() {
    let t = setup();
    // Refused: exit 2 with the server's words and hint.
    let r = t
        .cli(&t.op, &["deploy", "0.2.0", "--env", "production"])
        .expect(2);
    assert!(
        r.stderr()
            .contains("has not been deployed to `staging` successfully")
            && r.stderr()
                .contains("hint: deploy it there first: `wharf deploy 0.2.0 --env staging`"),
        "{}",
        r.stderr()
    );
    // Followed to its end: exit 0, the record on stdout.
    let ok = t
        .cli(&t.op, &["deploy", "0.2.0", "--env", "staging"])
        .expect(0);
    assert!(
        ok.stdout()
            .starts_with("deployment 1 of 0.2.0 to staging: succeeded"),
        "{}",
        ok.stdout()
    );
    assert!(
        ok.stderr()
            .contains("deployment 1: deploy 0.2.0 to staging (direct), run by the server"),
        "{}",
        ok.stderr()
    );
    // Waiting for an approval: it says which gate, and goes on once someone else gives it.
    let (prod, said) = t.follow(&t.op, &["deploy", "0.2.0", "--env", "production"]);
    let mut lines = Vec::new();
    let gate: i64 = loop {
        let line = said
            .recv_timeout(Duration::from_secs(60))
            .unwrap_or_else(|_| panic!("{lines:?}\n{}", t.s.log()));
        if let Some(rest) =
            line.strip_prefix("deployment 2: waiting for 1 approval (`wharf approve ")
        {
            break rest.split(' ').next().unwrap().parse().unwrap();
        }
        lines.push(line);
    };
    assert_eq!(
        lines,
        [
            "deployment 2: deploy 0.2.0 to production (direct), run by the server",
            "deployment 2: waiting (gates)"
        ]
    );
    let approved = t.cli(&t.admin, &["approve", &gate.to_string()]).expect(0);
    assert!(
        approved.stdout().contains(&format!(
            "approved gate {gate} (deployment 2 to `production`): 1 of 1 approvals; the deployment goes on now"
        )),
        "{}",
        approved.stdout()
    );
    let out = prod.wait_with_output().unwrap();
    assert!(out.status.success(), "{out:?}");
    assert!(
        String::from_utf8_lossy(&out.stdout)
            .starts_with("deployment 2 of 0.2.0 to production: succeeded"),
        "{out:?}"
    );
    let json = t
        .cli(&t.op, &["deploy", "0.3.0", "--env", "staging", "--json"])
        .expect(0)
        .json();
    assert_eq!(json["status"], "succeeded", "{json}");
    assert_eq!(json["actor"], "operator", "{json}");
    // A failing deploy script: exit 1, and why.
    std::fs::write(t.ctl.path().join("fail-0.2.0"), "").unwrap();
    let failed = t.cli(&t.op, &["rollback", "staging"]).expect(1);
    assert!(
        failed.stdout().contains("to staging: rolled_back: run the deploy script `./deploy.sh <script>alert('arg')</script>`: it exited with"),
        "{}\n{}",
        failed.stdout(),
        failed.stderr()
    );
    std::fs::remove_file(t.ctl.path().join("fail-0.2.0")).unwrap();
    let outdated = t
        .cli(&t.op, &["deploy", "0.2.0", "--env", "staging"])
        .expect(2);
    assert!(
        outdated.stderr().contains("409 Conflict")
            && outdated.stderr().contains("refused as outdated")
            && outdated.stderr().contains("hint: to go back on purpose"),
        "{}",
        outdated.stderr()
    );
    let back = t.cli(&t.op, &["rollback", "staging"]).expect(0);
    assert!(
        back.stdout().contains("of 0.2.0 to staging: succeeded"),
        "{}",
        back.stdout()
    );
    // A viewer reads the same as the API says.
    let envs = t
        .cli(&t.viewer, &["environments", "--json"])
        .expect(0)
        .json();
    let api = http::get(&t.api("environments"), Some(&t.viewer)).json();
    assert_eq!(envs, api);
    let table = squeezed(&t.cli(&t.viewer, &["environments"]).expect(0).stdout());
    assert!(
        table.contains(
            "production script (./deploy.sh x) direct 0.2.0 1 approval, requires staging"
        ),
        "{table}"
    );
    assert!(
        table.contains("staging script (./deploy.sh <script>alert('arg')</script>) direct 0.2.0"),
        "{table}"
    );
    let list = squeezed(
        &t.cli(&t.viewer, &["deployments", "--env", "staging"])
            .expect(0)
            .stdout(),
    );
    assert!(
        list.contains("5 staging 0.2.0 rollback direct succeeded operator"),
        "{list}"
    );
    assert!(
        list.contains("4 staging 0.2.0 rollback direct rolled_back operator"),
        "{list}"
    );
    let denied = t
        .cli(&t.viewer, &["deploy", "0.3.0", "--env", "canary"])
        .expect(2);
    assert!(
        denied.stderr().contains("403 Forbidden"),
        "{}",
        denied.stderr()
    );
    // A canary paused by hand: resumed, then another aborted, from the CLI.
    t.cli(&t.op, &["deploy", "0.2.0", "--env", "canary"])
        .expect(0);
    let (follow, said) = t.follow(&t.op, &["deploy", "0.3.0", "--env", "canary"]);
    let mut lines = Vec::new();
    let id = loop {
        let line = said
            .recv_timeout(Duration::from_secs(60))
            .unwrap_or_else(|_| panic!("{lines:?}\n{}", t.s.log()));
        if let Some(rest) = line.strip_prefix("deployment ")
            && line.contains(": paused (canary): ")
        {
            let id: i64 = rest.split(':').next().unwrap().parse().unwrap();
            assert_eq!(
                line,
                format!(
                    "deployment {id}: paused (canary): paused: until `wharf deploy resume`; `wharf deploy resume {id}` or `wharf deploy abort {id}`"
                )
            );
            break id;
        }
        lines.push(line);
    };
    let resumed = t
        .cli(&t.op, &["deploy", "resume", &id.to_string()])
        .expect(0);
    assert!(
        resumed.stdout().starts_with(&format!("deployment {id}: ")),
        "{}",
        resumed.stdout()
    );
    let out = follow.wait_with_output().unwrap();
    assert!(out.status.success(), "{out:?}");
    assert!(
        String::from_utf8_lossy(&out.stdout).contains("of 0.3.0 to canary: succeeded"),
        "{out:?}"
    );
    // Back to 0.2.0; 0.3.0 again, aborted while paused: traffic goes back to 0.2.0.
    t.cli(&t.op, &["rollback", "canary"]).expect(0);
    let a = t.deploy(&t.op, "0.3.0", "canary");
    assert_eq!(a.status, 202, "{}", a.text());
    let id = a.json()["id"].as_i64().unwrap();
    t.wait(id, "paused");
    let aborted = t
        .cli(&t.op, &["deploy", "abort", &id.to_string(), "--json"])
        .expect(0)
        .json();
    assert_eq!(aborted["status"], "aborted", "{aborted}");
    let last = t.calls().last().cloned().unwrap();
    assert!(
        last.starts_with("rollback canary 0.2.0 w=100 prev=0.3.0"),
        "{last}"
    );
}

/// Waits until the newest deployment to `env` is `status`; its record.
fn wait_status(t: &Setup, env: &str, status: &str) -> serde_json::Value {
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        let l = http::get(
            &t.api(&format!("deployments?env={env}&limit=1")),
            Some(&t.viewer),
        )
        .json();
        if l[0]["status"] == status {
            return l[0].clone();
        }
        assert!(Instant::now() < deadline, "{l}\n{}", t.s.log());
        std::thread::sleep(Duration::from_millis(50));
    }
}

#[test]
fn the_environments_page_shows_the_history_and_its_buttons_need_an_operator_and_csrf() {
    let t = setup();
    // An operator whose name is markup.
    let hostile =
        t.s.admin(
            &[
                "token",
                "create",
                "<img src=x onerror=alert(1)>",
                "--role",
                "operator",
                "--json",
            ],
            "",
        )
        .expect(0)
        .json()["token"]
            .as_str()
            .unwrap()
            .to_string();
    std::fs::write(t.ctl.path().join("fail-0.2.0"), "").unwrap();
    let failed = t.deploy(&hostile, "0.2.0", "staging").json();
    let failed_id = failed["id"].as_i64().unwrap();
    t.wait(failed_id, "failed");
    std::fs::remove_file(t.ctl.path().join("fail-0.2.0")).unwrap();
    let path = "/projects/app/environments";
    // The project's page links to it.
    let vcookie = sign_in(&t.s, &t.viewer);
    let runs = page(&t.s, &vcookie, "/projects/app").text();
    assert!(
        runs.contains("href=\"/projects/app/environments\""),
        "{runs}"
    );
    let seen = page(&t.s, &vcookie, path);
    assert_eq!(seen.status, 200, "{}", seen.text());
    assert!(
        seen.header("content-security-policy")
            .unwrap()
            .contains("default-src 'none'")
    );
    let html = seen.text();
    for want in [
        "<h2>staging</h2>",
        "<h2>production</h2>",
        "1 approval, requires staging",
        // escaped: the token's name, the script's argument in the target and the reason
        "&lt;img src=x onerror=alert(1)&gt;",
        ".&#x2f;deploy.sh &lt;script&gt;alert(&#x27;arg&#x27;)&lt;&#x2f;script&gt;",
        "badge s-failed",
    ] {
        assert!(html.contains(want), "{want}: {html}");
    }
    assert!(!html.contains("<img src=x"), "{html}");
    assert!(!html.contains("<script>alert"), "{html}");
    assert!(
        !html.contains("Promote"),
        "a viewer gets no buttons: {html}"
    );
    assert_eq!(
        html.matches("<form").count(),
        1,
        "a viewer's one form signs out: {html}"
    );
    // An operator promotes from the page: a CSRF token on every form.
    let cookie = sign_in(&t.s, &t.op);
    let html = page(&t.s, &cookie, path).text();
    assert_eq!(html.matches("<form class=\"promote\"").count(), 3, "{html}");
    every_form_has_its_token(&html);
    assert!(
        html.contains("<option value=\"0.3.0\">0.3.0</option>"),
        "{html}"
    );
    let token = csrf(&t.s, &cookie, path);
    // Without the token, or from another origin: refused, nothing deployed.
    let bare = post_form(
        &t.s,
        &cookie,
        "/projects/app/environments/staging/deploy",
        "release=0.2.0",
        None,
    );
    assert_eq!(
        bare.status,
        422,
        "a form without its token is not taken: {}",
        bare.text()
    );
    let forged = post_form(
        &t.s,
        &cookie,
        "/projects/app/environments/staging/deploy",
        "csrf=nope&release=0.2.0",
        None,
    );
    assert_eq!(forged.status, 403, "{}", forged.text());
    let cross = post_form(
        &t.s,
        &cookie,
        "/projects/app/environments/staging/deploy",
        &format!("csrf={token}&release=0.2.0"),
        Some("http://evil.example"),
    );
    assert_eq!(cross.status, 403, "{}", cross.text());
    let vtoken = csrf(&t.s, &vcookie, "/projects/app");
    let as_viewer = post_form(
        &t.s,
        &vcookie,
        "/projects/app/environments/staging/deploy",
        &format!("csrf={vtoken}&release=0.2.0"),
        None,
    );
    assert_eq!(as_viewer.status, 403, "{}", as_viewer.text());
    let list = http::get(&t.api("deployments"), Some(&t.viewer)).json();
    assert_eq!(list.as_array().unwrap().len(), 1, "{list}");
    let ok = post_form(
        &t.s,
        &cookie,
        "/projects/app/environments/staging/deploy",
        &format!("csrf={token}&release=0.2.0"),
        None,
    );
    assert_eq!(ok.status, 303, "{}", ok.text());
    assert_eq!(ok.header("location"), Some(path));
    let promoted = wait_status(&t, "staging", "succeeded");
    assert_eq!(promoted["actor"], "operator");
    // Production waits for an approval: the page shows it, and whoever asked may not give it.
    let ok = post_form(
        &t.s,
        &cookie,
        "/projects/app/environments/production/deploy",
        &format!("csrf={token}&release=0.2.0"),
        None,
    );
    assert_eq!(ok.status, 303, "{}", ok.text());
    let waiting = wait_status(&t, "production", "waiting");
    let id = waiting["id"].as_i64().unwrap();
    let html = page(&t.s, &cookie, path).text();
    assert!(
        html.contains("<strong>Waiting for approval</strong>"),
        "{html}"
    );
    every_form_has_its_token(&html);
    let gate = http::get(&t.api("approvals"), Some(&t.viewer)).json()[0]["id"]
        .as_i64()
        .unwrap();
    let approve = format!("/projects/app/deployments/{id}/approvals/{gate}");
    assert!(html.contains(&format!("action=\"{approve}\"")), "{html}");
    let own = post_form(&t.s, &cookie, &approve, &format!("csrf={token}"), None);
    assert_eq!(own.status, 403, "{}", own.text());
    assert!(own.text().contains("may not approve it"), "{}", own.text());
    let acookie = sign_in(&t.s, &t.admin);
    let atoken = csrf(&t.s, &acookie, path);
    let no_csrf = post_form(&t.s, &acookie, &approve, "csrf=", None);
    assert_eq!(no_csrf.status, 403, "{}", no_csrf.text());
    let ok = post_form(&t.s, &acookie, &approve, &format!("csrf={atoken}"), None);
    assert_eq!(ok.status, 303, "{}", ok.text());
    t.wait(id, "succeeded");
    // A paused canary: Resume and Abort buttons.
    t.deploy(&t.op, "0.2.0", "canary");
    wait_status(&t, "canary", "succeeded");
    let id = t.deploy(&t.op, "0.3.0", "canary").json()["id"]
        .as_i64()
        .unwrap();
    t.wait(id, "paused");
    let html = page(&t.s, &cookie, path).text();
    let resume = format!("/projects/app/deployments/{id}/resume");
    assert!(html.contains(&format!("action=\"{resume}\"")), "{html}");
    every_form_has_its_token(&html);
    assert!(
        html.contains(&format!("action=\"/projects/app/deployments/{id}/abort\"")),
        "{html}"
    );
    let ok = post_form(&t.s, &cookie, &resume, &format!("csrf={token}"), None);
    assert_eq!(ok.status, 303, "{}", ok.text());
    t.wait(id, "succeeded");
    // Rollback from the page.
    let ok = post_form(
        &t.s,
        &cookie,
        "/projects/app/environments/canary/rollback",
        &format!("csrf={token}"),
        None,
    );
    assert_eq!(ok.status, 303, "{}", ok.text());
    let back = wait_status(&t, "canary", "succeeded");
    assert_eq!(
        (back["mode"].as_str(), back["release"].as_str()),
        (Some("rollback"), Some("0.2.0"))
    );
    // The page's actions are audited as the dashboard's.
    let audit = http::get(
        &format!("{}/api/v1/audit?action=deploy", t.s.url),
        Some(&t.admin),
    )
    .json();
    let vias: Vec<(&str, &str)> = audit
        .as_array()
        .unwrap()
        .iter()
        .map(|e| {
            (
                e["action"].as_str().unwrap(),
                e["detail"]["via"].as_str().unwrap_or("-"),
            )
        })
        .collect();
    for want in [
        ("deploy.rollback", "dashboard"),
        ("deploy.resume", "dashboard"),
        ("deploy.approve", "-"),
    ] {
        assert!(vias.contains(&want), "{want:?}: {audit}");
    }
    // The production deployment's gates, as the server decided them, in order.
    let production: Vec<&str> = audit
        .as_array()
        .unwrap()
        .iter()
        .rev()
        .filter(|e| e["action"] == "deploy.gate" && e["detail"]["environment"] == "production")
        .map(|e| e["detail"]["outcome"].as_str().unwrap())
        .collect();
    assert_eq!(production, ["waiting", "approved", "passed"], "{audit}");
}

/// Each form of `html` posts and carries the session's CSRF token.
fn every_form_has_its_token(html: &str) {
    let forms: Vec<&str> = html
        .split("<form")
        .skip(1)
        .map(|f| &f[..f.find("</form>").unwrap()])
        .collect();
    assert!(!forms.is_empty(), "{html}");
    for f in forms {
        assert!(f.contains("method=\"post\""), "{f}");
        assert!(
            f.contains("<input type=\"hidden\" name=\"csrf\" value=\""),
            "{f}"
        );
    }
}

/// `text`'s lines with their runs of spaces made one (table columns' widths vary).
fn squeezed(text: &str) -> String {
    text.lines()
        .map(|l| l.split_whitespace().collect::<Vec<_>>().join(" "))
        .collect::<Vec<_>>()
        .join("\n")
}

#[test]
fn a_server_killed_mid_deployment_reconciles_it_when_it_starts_again() {
    let mut t = setup();
    std::fs::write(t.ctl.path().join("slow"), "4").unwrap();
    let a = t.deploy(&t.op, "0.2.0", "staging");
    assert_eq!(a.status, 202, "{}", a.text());
    let id = a.json()["id"].as_i64().unwrap();
    // Its deploy script is running.
    let deadline = Instant::now() + Duration::from_secs(30);
    while t.calls().is_empty() {
        assert!(Instant::now() < deadline, "{}", t.s.log());
        std::thread::sleep(Duration::from_millis(50));
    }
    let data = t.s.data.path().join("projects/app/deploys");
    assert_eq!(std::fs::read_dir(&data).unwrap().count(), 1, "its checkout");
    t.s.kill9();
    std::fs::remove_file(t.ctl.path().join("slow")).unwrap();
    t.s.start(&[]);
    let rec = http::get(&t.api(&format!("deployments/{id}")), Some(&t.viewer)).json();
    assert_eq!(rec["status"], "interrupted", "{rec}\n{}", t.s.log());
    assert!(
        rec["reason"]
            .as_str()
            .unwrap()
            .contains("its deployer (pid "),
        "{rec}"
    );
    assert!(
        t.s.log()
            .contains(&format!("deployment {id}: reconciled to interrupted")),
        "{}",
        t.s.log()
    );
    assert_eq!(
        std::fs::read_dir(&data).unwrap().count(),
        0,
        "no checkout left"
    );
    // The lease is free again: the next deployment just runs.
    let envs = http::get(&t.api("environments"), Some(&t.viewer)).json();
    assert!(envs[0]["lease"].is_null(), "{envs}");
    let next = t.deploy(&t.op, "0.2.0", "staging").json()["id"]
        .as_i64()
        .unwrap();
    t.wait(next, "succeeded");
    let _ = &t.p;
}

#[test]
fn an_emergency_rollback_skips_the_gates_only_for_an_admin_with_a_reason() {
    let t = setup();
    // production needs staging first and an approval: deploy 0.2.0 then 0.3.0 there.
    for v in ["0.2.0", "0.3.0"] {
        let a = t.deploy(&t.op, v, "staging");
        assert_eq!(a.status, 202, "{}", a.text());
        t.wait(a.json()["id"].as_i64().unwrap(), "succeeded");
    }
    for v in ["0.2.0", "0.3.0"] {
        let a = t.deploy(&t.op, v, "production");
        assert_eq!(a.status, 202, "{}", a.text());
        let id = a.json()["id"].as_i64().unwrap();
        let gates = http::get(&t.api("approvals"), Some(&t.viewer)).json();
        let gate = gates[0]["id"].as_i64().unwrap();
        let ok = t.post(
            &t.admin,
            &format!("approvals/{gate}"),
            serde_json::json!({}),
        );
        assert_eq!(ok.status, 200, "{}", ok.text());
        t.wait(id, "succeeded");
    }
    let body = serde_json::json!({ "override_gates": "checkout is down; INC-7" });
    // An operator may roll back through the gates, not around them.
    let refused = t.post(&t.op, "environments/production/rollback", body.clone());
    assert_eq!(refused.status, 403, "{}", refused.text());
    let a = t.post(&t.admin, "environments/production/rollback", body);
    assert_eq!(a.status, 202, "{}", a.text());
    let rec = t.wait(a.json()["id"].as_i64().unwrap(), "succeeded");
    assert_eq!(rec["release"], "0.2.0");
    assert_eq!(rec["mode"], "rollback");
    assert_eq!(
        rec["gates_override"], "admin: checkout is down; INC-7",
        "{rec}"
    );
    let audit = http::get(
        &format!("{}/api/v1/audit?action=deploy", t.s.url),
        Some(&t.admin),
    )
    .json();
    let entry = audit["entries"]
        .as_array()
        .or(audit.as_array())
        .unwrap()
        .iter()
        .find(|e| e["action"] == "deploy.rollback")
        .cloned()
        .unwrap_or_else(|| panic!("{audit}"));
    assert!(
        entry.to_string().contains("checkout is down; INC-7"),
        "{entry}"
    );
}
