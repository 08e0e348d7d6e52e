//! `wharf deploy`, `wharf rollback`, `wharf deployments`, `wharf environments` with a
//! script target: releases promoted by their recorded digests, `requires:`, outdated
//! refusals, the environment's lease, rollback, reconciliation after a killed deployer,
//! and the refusals of the pipeline keys.

use std::time::{Duration, Instant};

use wharf_test_support::registry::{Auth, Registry};

use crate::helper::{Project, alive};

/// A project that builds a small image, pushes it to `registry` and records a release,
/// with a script target that writes what it was given to `calls.log`.
fn project(registry: &Registry, environments: &str) -> Project {
    let image = format!("127.0.0.1:{}/demo/app", registry.port);
    let p = Project::new(&format!(
        r#"version: 1
jobs:
  image:
    steps:
      - run: mkdir -p app && git log -1 --format=%s > app/version.txt
      - build-image:
          layers: [{{ src: app/, dest: /app/ }}]
          image: {image}
          tags: [latest]
          push: true
  release:
    needs: [image]
    steps:
      - release: {{}}
environments:
{environments}
"#
    ));
    p.allow_settings(&["environment.production-without-approval"]);
    p.write(".gitignore", ".wharf/\napp/\ncalls.log\n");
    executable(
        &p,
        "deploy.sh",
        "#!/bin/sh\n\
         echo \"$WHARF_MODE $WHARF_ENVIRONMENT $WHARF_RELEASE w=$WHARF_WEIGHT s=$WHARF_STRATEGY d=$WHARF_IMAGE_DIGEST prev=$WHARF_PREVIOUS_RELEASE pd=$WHARF_PREVIOUS_IMAGE_DIGEST id=$WHARF_DEPLOYMENT_ID\" >> calls.log\n\
         if [ -f slow ]; then sleep \"$(cat slow)\"; fi\n\
         if [ -f fail-$WHARF_RELEASE ]; then echo \"cannot deploy $WHARF_RELEASE\" >&2; exit 3; fi\n",
    );
    p.git_init();
    p
}

/// Writes an executable file `name` into the project.
fn executable(p: &Project, name: &str, text: &str) {
    use std::os::unix::fs::PermissionsExt as _;
    p.write(name, text);
    let path = p.path().join(name);
    std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o755)).unwrap();
}

const TWO_ENVS: &str = "  staging:\n    target: { script: { run: [./deploy.sh] } }\n  production:\n    requires: [staging]\n    target: { script: { run: [./deploy.sh] } }";

/// Records release `version` from a new commit.
fn release(p: &Project, message: &str, version: &str) -> String {
    p.commit(message);
    let run = p.wharf(&["run", "--plain"]);
    assert_eq!(run.code(), 0, "{}", run.stderr());
    let rec = p
        .wharf(&["release", "show", version, "--json"])
        .expect(0)
        .json();
    rec["items"]
        .as_array()
        .unwrap()
        .iter()
        .find(|i| i["kind"] == "pushed-image")
        .map(|i| i["digest"].as_str().unwrap().to_string())
        .unwrap_or_else(|| panic!("no pushed image in {rec}"))
}

fn calls(p: &Project) -> Vec<String> {
    std::fs::read_to_string(p.path().join("calls.log"))
        .unwrap_or_default()
        .lines()
        .map(str::to_string)
        .collect()
}

#[test]
fn a_release_is_promoted_by_its_recorded_digest_and_a_moved_tag_changes_nothing() {
    let registry = Registry::start(Auth::None);
    let p = project(&registry, TWO_ENVS);
    let d1 = release(&p, "feat: first", "0.1.0");
    // Production requires staging.
    let refused = p
        .wharf(&["deploy", "0.1.0", "--env", "production"])
        .expect(2);
    assert!(
        refused.stderr().contains(
            "error: release 0.1.0 has not been deployed to `staging` successfully; `production` requires it (wharf.yml:"
        ) && refused.stderr().contains("hint: deploy it there first: `wharf deploy 0.1.0 --env staging`"),
        "{}",
        refused.stderr()
    );
    let staged = p
        .wharf(&["deploy", "0.1.0", "--env", "staging", "--json"])
        .expect(0)
        .json();
    assert_eq!(staged["status"], "succeeded");
    assert_eq!(staged["mode"], "deploy");
    // Move the tag: another image under `latest` in the registry.
    let other = Project::new("version: 1\njobs:\n  x:\n    run: 'true'\n");
    other.write("app/x.txt", "another image");
    other
        .wharf(&[
            "image",
            "build",
            "--layer",
            "app/:/app/",
            "--image",
            &format!("127.0.0.1:{}/demo/app", registry.port),
            "--tag",
            "latest",
            "--push",
        ])
        .expect(0);
    let prod = p
        .wharf(&["deploy", "0.1.0", "--env", "production", "--json"])
        .expect(0)
        .json();
    assert_eq!(prod["status"], "succeeded");
    let log = calls(&p);
    assert_eq!(log.len(), 2, "{log:?}");
    assert!(
        log[1].starts_with(&format!(
            "deploy production 0.1.0 w=100 s=direct d={d1} prev= pd= id="
        )),
        "{log:?}"
    );
    assert!(log[0].starts_with("deploy staging 0.1.0 w=100"), "{log:?}");
    // The history says what was deployed, by digest.
    let list = p.wharf(&["deployments", "--json"]).expect(0).json();
    let digests: Vec<&str> = list[0]["digests"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|i| i["kind"] == "pushed-image")
        .map(|i| i["digest"].as_str().unwrap())
        .collect();
    assert_eq!(digests, [d1.as_str()]);
    let table = p
        .wharf(&["deployments", "--env", "production"])
        .expect(0)
        .stdout();
    assert!(
        table.contains("production   0.1.0    deploy  direct    succeeded"),
        "{table}"
    );
    assert!(!table.contains("staging"), "{table}");
    let envs = p.wharf(&["environments", "--json"]).expect(0).json();
    assert_eq!(envs[1]["name"], "production");
    assert_eq!(envs[1]["release"], "0.1.0");
    assert_eq!(envs[1]["requires"][0], "staging");
}

#[test]
fn older_releases_are_refused_as_outdated_unless_rolled_back_and_rollback_goes_to_the_previous_good_one()
 {
    let registry = Registry::start(Auth::None);
    let p = project(&registry, TWO_ENVS);
    let d1 = release(&p, "feat: first", "0.1.0");
    let d2 = release(&p, "feat: second", "0.2.0");
    p.wharf(&["deploy", "0.1.0", "--env", "staging"]).expect(0);
    p.wharf(&["deploy", "0.2.0", "--env", "staging"]).expect(0);
    let old = p.wharf(&["deploy", "0.1.0", "--env", "staging"]).expect(2);
    assert!(
        old.stderr().contains(
            "error: release 0.1.0 is older than 0.2.0, which runs in staging: refused as outdated"
        ) && old
            .stderr()
            .contains("hint: to go back on purpose: `wharf rollback staging`"),
        "{}",
        old.stderr()
    );
    // The same release again is a redeploy.
    let again = p
        .wharf(&["deploy", "0.2.0", "--env", "staging", "--json"])
        .expect(0)
        .json();
    assert_eq!(again["mode"], "redeploy");
    // One command back to the previous good release, no version needed.
    let back = p.wharf(&["rollback", "staging", "--json"]).expect(0).json();
    assert_eq!(back["mode"], "rollback");
    assert_eq!(back["release"], "0.1.0");
    assert_eq!(back["previous"], "0.2.0");
    let log = calls(&p);
    let last = log.last().unwrap();
    assert!(
        last.starts_with(&format!(
            "rollback staging 0.1.0 w=100 s=direct d={d1} prev=0.2.0 pd={d2}"
        )),
        "{log:?}"
    );
    let envs = p.wharf(&["environments", "--json"]).expect(0).json();
    assert_eq!(envs[0]["release"], "0.1.0");
    // Nothing earlier to go back to in production.
    let none = p.wharf(&["rollback", "production"]).expect(2);
    assert!(
        none.stderr()
            .contains("error: nothing has been deployed to `production` successfully"),
        "{}",
        none.stderr()
    );
}

#[test]
fn a_failing_deploy_script_fails_the_deployment_and_calls_back_the_previous_release() {
    let registry = Registry::start(Auth::None);
    let p = project(&registry, TWO_ENVS);
    release(&p, "feat: first", "0.1.0");
    release(&p, "feat: second", "0.2.0");
    p.write("fail-0.1.0", "");
    let first = p
        .wharf(&["deploy", "0.1.0", "--env", "staging", "--json"])
        .expect(1);
    let rec = first.json();
    assert_eq!(rec["status"], "failed");
    assert!(
        rec["reason"]
            .as_str()
            .unwrap()
            .contains("run the deploy script `./deploy.sh`: it exited with exit status: 3"),
        "{rec}"
    );
    assert!(
        first.stderr().contains("| cannot deploy 0.1.0"),
        "{}",
        first.stderr()
    );
    std::fs::remove_file(p.path().join("fail-0.1.0")).unwrap();
    p.wharf(&["deploy", "0.1.0", "--env", "staging"]).expect(0);
    p.write("fail-0.2.0", "");
    let rec = p
        .wharf(&["deploy", "0.2.0", "--env", "staging", "--json"])
        .expect(1)
        .json();
    assert_eq!(rec["status"], "rolled_back", "{rec}");
    let log = calls(&p);
    assert!(
        log.last()
            .unwrap()
            .starts_with("rollback staging 0.1.0 w=100"),
        "{log:?}"
    );
    let envs = p.wharf(&["environments", "--json"]).expect(0).json();
    assert_eq!(envs[0]["release"], "0.1.0");
}

#[test]
fn one_deployment_per_environment_a_second_fails_with_the_holder_or_queues() {
    let registry = Registry::start(Auth::None);
    let p = project(&registry, TWO_ENVS);
    release(&p, "feat: first", "0.1.0");
    release(&p, "feat: second", "0.2.0");
    p.write("slow", "2");
    let first = p
        .cmd(&["deploy", "0.2.0", "--env", "staging"])
        .stdin(std::process::Stdio::null())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    // Wait until it holds the lease (its script runs).
    let t = Instant::now();
    while calls(&p).is_empty() {
        assert!(
            t.elapsed() < Duration::from_secs(20),
            "the first deployment never started"
        );
        std::thread::sleep(Duration::from_millis(50));
    }
    let second = p.wharf(&["deploy", "0.2.0", "--env", "staging"]).expect(2);
    assert!(
        second
            .stderr()
            .contains("error: environment staging is held by deployment 1 (")
            && second
                .stderr()
                .contains("hint: wait for it (`wharf deploy … --queue` waits by itself)"),
        "{}",
        second.stderr()
    );
    // Queued behind the newer release, an older one is refused as outdated once it runs.
    let queued = p
        .wharf(&["deploy", "0.1.0", "--env", "staging", "--queue"])
        .expect(2);
    assert!(
        queued.stderr().contains("queued behind deployment 1")
            && queued.stderr().contains("error: release 0.1.0 is older than 0.2.0, which runs in staging: refused as outdated"),
        "{}",
        queued.stderr()
    );
    let out = first.wait_with_output().unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    // A queued redeploy runs after the holder.
    std::fs::remove_file(p.path().join("slow")).unwrap();
    let list = p.wharf(&["deployments", "--json"]).expect(0).json();
    let statuses: Vec<&str> = list
        .as_array()
        .unwrap()
        .iter()
        .map(|d| d["status"].as_str().unwrap())
        .collect();
    assert_eq!(statuses, ["failed", "failed", "succeeded"], "{list}");
    assert!(
        list[1]["reason"]
            .as_str()
            .unwrap()
            .starts_with("environment staging is held by deployment 1"),
        "{list}"
    );
}

#[test]
fn a_killed_deployer_is_reconciled_by_the_next_command_and_the_environment_is_free_again() {
    let registry = Registry::start(Auth::None);
    let p = project(&registry, TWO_ENVS);
    release(&p, "feat: first", "0.1.0");
    p.write("slow", "30");
    let mut child = p
        .cmd(&["deploy", "0.1.0", "--env", "staging"])
        .stdin(std::process::Stdio::null())
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .spawn()
        .unwrap();
    let t = Instant::now();
    while calls(&p).is_empty() {
        assert!(
            t.elapsed() < Duration::from_secs(20),
            "the deployment never started"
        );
        std::thread::sleep(Duration::from_millis(50));
    }
    let pid = child.id();
    child.kill().unwrap();
    child.wait().unwrap();
    assert!(!alive(pid as i32));
    std::fs::remove_file(p.path().join("slow")).unwrap();
    let list = p.wharf(&["deployments", "--json"]).expect(0);
    let rec = &list.json()[0];
    assert_eq!(rec["status"], "interrupted", "{rec}");
    assert!(
        rec["reason"]
            .as_str()
            .unwrap()
            .contains(&format!("its deployer (pid {pid} on ")),
        "{rec}"
    );
    assert!(
        list.stderr()
            .contains("deployment 1: reconciled to interrupted"),
        "{}",
        list.stderr()
    );
    // No manual unlock: the next deployment just runs.
    p.wharf(&["deploy", "0.1.0", "--env", "staging"]).expect(0);
}

#[test]
fn deploy_commands_refuse_bad_requests_with_hints() {
    let registry = Registry::start(Auth::None);
    let p = project(&registry, TWO_ENVS);
    release(&p, "feat: first", "0.1.0");
    let cases: &[(&[&str], &str)] = &[
        (
            &["deploy", "9.9.9", "--env", "staging"],
            "error: no release 9.9.9 is recorded",
        ),
        (
            &["deploy", "0.1.0", "--env", "qa"],
            "error: no environment `qa` in the pipeline",
        ),
        (
            &["deploy", "0.1.0"],
            "error: name the environment: `--env ENVIRONMENT`",
        ),
        (
            &["deploy"],
            "error: name the release to deploy: `wharf deploy VERSION --env ENVIRONMENT`",
        ),
        (&["deploy", "resume", "7"], "error: no deployment 7"),
    ];
    for (args, want) in cases {
        let r = p.wharf(args).expect(2);
        assert!(r.stderr().contains(want), "{args:?}: {}", r.stderr());
    }
    p.wharf(&["deploy", "0.1.0", "--env", "staging"]).expect(0);
    let over = p.wharf(&["deploy", "abort", "1"]).expect(2);
    assert!(
        over.stderr()
            .contains("error: deployment 1 is over (succeeded): there is nothing to abort"),
        "{}",
        over.stderr()
    );
}

#[test]
fn deployment_keys_are_validated_with_their_position() {
    let cases: &[(&str, &str)] = &[
        (
            "  prod:\n    target: { docker: { proxy: 'http://127.0.0.1:1', port: 80 }, script: { run: [./d] } }",
            "`environments.prod.target` needs exactly one of `docker` and `script`",
        ),
        (
            "  prod:\n    strategy: { canary: { steps: [{ weight: 50 }, { weight: 10 }] } }\n    target: { script: { run: [./d] } }",
            "weight 10 does not rise above the step before (50)",
        ),
        (
            "  prod:\n    strategy: { canary: { steps: [{ weight: 10, pause: soon }] } }\n    target: { script: { run: [./d] } }",
            "invalid pause `soon`",
        ),
        (
            "  prod:\n    requires: [stagin]\n    target: { script: { run: [./d] } }\n  staging:\n    target: { script: { run: [./d] } }",
            "unknown environment `stagin`",
        ),
        (
            "  prod:\n    target: { script: { run: [./d] } }\n    analysis:\n      - { name: rate, success: 'result > 1' }",
            "analysis `rate` needs exactly one of `prometheus`, `http`, `script` and `load-test`",
        ),
        (
            "  prod:\n    target: { script: { run: [./d] } }\n    analysis:\n      - { name: rate, prometheus: { url: 'http://127.0.0.1:9', query: 'up' }, success: 'results > 1' }",
            "unknown name `results` in a condition",
        ),
        (
            "  prod:\n    target: { script: { run: [./d] } }\n    analysis:\n      - { name: rate, prometheus: { url: 'http://127.0.0.1:9', query: 'x{r=\"${{ version }}\"}' }, success: 'result > 1' }",
            "unknown name `version` in an analysis",
        ),
        (
            "  prod:\n    health: { path: /up }",
            "`environments.prod.health` needs a `target:`",
        ),
        (
            "  prod:\n    target: { docker: { proxy: 'http://127.0.0.1:1', port: 0 } }",
            "invalid port 0",
        ),
        (
            "  prod:\n    target: { docker: { proxy: 'http://127.0.0.1:1', port: 80 } }\n    health: { url: 'http://127.0.0.1:80/up' }",
            "a Docker target's health check takes `path:`, not `url:`",
        ),
        (
            "  prod:\n    target: { script: { run: [./d] } }\n    health: { path: /up }",
            "a script target's health check needs `url:`",
        ),
        (
            "  prod:\n    target: { script: { run: [./d] } }\n    rollback: sometimes",
            "rollback",
        ),
    ];
    for (envs, want) in cases {
        let p = Project::new(&format!(
            "version: 1\njobs:\n  a:\n    run: 'true'\nenvironments:\n{envs}\n"
        ));
        let r = p.wharf(&["validate"]).expect(2);
        assert!(r.stderr().contains(want), "{envs}\n---\n{}", r.stderr());
        assert!(r.stderr().contains("wharf.yml:"), "{}", r.stderr());
    }
}

#[test]
fn a_script_target_that_hangs_is_killed_at_its_timeout() {
    let registry = Registry::start(Auth::None);
    let p = project(
        &registry,
        "  staging:\n    target: { script: { run: [./deploy.sh], timeout: 1s } }",
    );
    release(&p, "feat: first", "0.1.0");
    p.write("slow", "30");
    let t = Instant::now();
    let rec = p
        .wharf(&["deploy", "0.1.0", "--env", "staging", "--json"])
        .expect(1)
        .json();
    assert!(t.elapsed() < Duration::from_secs(10), "{:?}", t.elapsed());
    assert_eq!(rec["status"], "failed");
    assert!(
        rec["reason"]
            .as_str()
            .unwrap()
            .contains("run the deploy script `./deploy.sh`: it ran longer than its timeout (1 s) and was killed"),
        "{rec}"
    );
}

/// A server on 127.0.0.1 answering every request with `body` (JSON).
fn json_server(body: &'static str) -> std::net::SocketAddr {
    use std::io::{Read, Write};
    let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = l.local_addr().unwrap();
    std::thread::spawn(move || {
        for s in l.incoming() {
            let Ok(mut s) = s else { continue };
            let mut buf = [0u8; 4096];
            let _ = s.read(&mut buf);
            let _ = write!(
                s,
                "HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
                body.len()
            );
        }
    });
    addr
}

#[test]
fn a_script_target_is_probed_at_its_health_url_and_rolled_back_by_its_analysis() {
    let registry = Registry::start(Auth::None);
    let dir = tempfile::tempdir().unwrap();
    wharf_test_support::app::write_app_rootfs(
        dir.path(),
        &wharf_test_support::app::AppKnobs::new("0.1.0"),
    );
    let app = wharf_test_support::app::run_app_on_host(dir.path());
    let metrics = json_server(r#"{"data": {"errors": 0.3}}"#);
    let p = project(
        &registry,
        &format!(
            "  staging:\n    target: {{ script: {{ run: [./deploy.sh] }} }}\n    health: {{ url: '{}', interval: 100ms, timeout: 5s }}\n    analysis:\n      - name: errors\n        http: {{ url: 'http://{metrics}/ratio?r=${{{{ release }}}}', json-path: data.errors }}\n        failure: result > 0.1\n        interval: 200ms\n        count: 3\n        failure-limit: 1\n        timeout: 2s",
            app.url(wharf_test_support::app::HEALTH_PATH)
        ),
    );
    release(&p, "feat: first", "0.1.0");
    release(&p, "feat: second", "0.2.0");
    // The first deployment has nothing to go back to: it fails its analysis and stays.
    let first = p
        .wharf(&["deploy", "0.1.0", "--env", "staging", "--json"])
        .expect(1)
        .json();
    assert_eq!(first["status"], "failed", "{first}");
    drop(app);
    // A health URL that never answers fails the deployment, and the script is called
    // back with the previous release.
    let rec = p
        .wharf(&["deploy", "0.2.0", "--env", "staging", "--json"])
        .expect(1)
        .json();
    assert_eq!(rec["status"], "failed", "{rec}");
    let reason = rec["reason"].as_str().unwrap();
    assert!(reason.starts_with("health: http://127.0.0.1:"), "{reason}");
    assert!(reason.contains("never answered 2xx within 5 s"), "{reason}");
}

/// Starts `wharf deploy VERSION` and waits until it pauses: its process, id and reason.
// The caller waits for the child it gets; a panic on the way fails the test anyway.
#[allow(clippy::zombie_processes)]
fn paused(p: &Project, version: &str) -> (std::process::Child, i64, String) {
    p.write(&format!("bad-{version}"), "");
    let mut child = p
        .cmd(&["deploy", version, "--env", "staging", "--json"])
        .stdin(std::process::Stdio::null())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    let t = Instant::now();
    loop {
        let list = p.wharf(&["deployments", "--json"]).expect(0).json();
        if list[0]["status"] == "paused" {
            let reason = list[0]["reason"].as_str().unwrap().to_string();
            return (child, list[0]["id"].as_i64().unwrap(), reason);
        }
        if t.elapsed() > Duration::from_secs(30) {
            let _ = child.kill();
            let _ = child.wait();
            panic!("never paused: {list}");
        }
        std::thread::sleep(Duration::from_millis(100));
    }
}

#[test]
fn a_manual_rollback_policy_pauses_for_resume_or_abort() {
    let registry = Registry::start(Auth::None);
    let p = project(
        &registry,
        "  staging:\n    target: { script: { run: [./deploy.sh] } }\n    rollback: manual\n    analysis:\n      - { name: smoke, script: [./check.sh], timeout: 5s }",
    );
    executable(
        &p,
        "check.sh",
        "#!/bin/sh\nif [ -f bad-$WHARF_RELEASE ]; then echo \"2 of 5 checks failed\"; exit 1; fi\n",
    );
    release(&p, "feat: first", "0.1.0");
    release(&p, "feat: second", "0.2.0");
    release(&p, "feat: third", "0.3.0");
    p.wharf(&["deploy", "0.1.0", "--env", "staging"]).expect(0);
    let (child, id, reason) = paused(&p, "0.2.0");
    assert!(reason.starts_with("paused: analysis smoke"), "{reason}");
    assert!(reason.contains("2 of 5 checks failed"), "{reason}");
    p.wharf(&["deploy", "resume", &id.to_string()]).expect(0);
    let out = child.wait_with_output().unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let rec: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(rec["status"], "succeeded", "{rec}");
    let (child, id, _) = paused(&p, "0.3.0");
    let aborted = p
        .wharf(&["deploy", "abort", &id.to_string(), "--json"])
        .expect(0)
        .json();
    assert_eq!(aborted["status"], "aborted", "{aborted}");
    let out = child.wait_with_output().unwrap();
    assert_eq!(out.status.code(), Some(1));
    let log = calls(&p);
    assert!(
        log.last()
            .unwrap()
            .starts_with("rollback staging 0.2.0 w=100"),
        "{log:?}"
    );
    let envs = p.wharf(&["environments", "--json"]).expect(0).json();
    assert_eq!(envs[0]["release"], "0.2.0");
}

#[test]
fn a_deployment_waits_for_approvals_and_its_requester_cannot_approve_it() {
    let registry = Registry::start(Auth::None);
    let p = project(
        &registry,
        "  production:\n    approval: { required: 2 }\n    tags: [\"v*\"]\n    target: { script: { run: [./deploy.sh] } }",
    );
    release(&p, "feat: first", "0.1.0");
    let child = p
        .cmd(&["deploy", "0.1.0", "--env", "production", "--json"])
        .env("USER", "carol")
        .stdin(std::process::Stdio::null())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    let t = Instant::now();
    let gate = loop {
        let list = p.wharf(&["approvals", "--json"]).expect(0).json();
        if let Some(g) = list.as_array().unwrap().first() {
            break g.clone();
        }
        assert!(t.elapsed() < Duration::from_secs(20), "no gate opened");
        std::thread::sleep(Duration::from_millis(100));
    };
    assert_eq!(gate["environment"], "production");
    assert_eq!(gate["job"], "deployment 1");
    let id = gate["id"].as_i64().unwrap().to_string();
    // Nothing reached the target before the approvals.
    assert!(calls(&p).is_empty());
    let approve = |user: &str| {
        p.cmd(&["approve", &id])
            .env("USER", user)
            .stdin(std::process::Stdio::null())
            .output()
            .unwrap()
    };
    let own = approve("carol");
    assert_eq!(own.status.code(), Some(2));
    assert!(
        String::from_utf8_lossy(&own.stderr).contains(&format!(
            "carol asked for this deployment and may not approve it: gate {id} (deployment 1 to `production`)"
        )),
        "{}",
        String::from_utf8_lossy(&own.stderr)
    );
    assert!(approve("dave").status.success());
    assert!(approve("dave").status.success()); // counted once
    std::thread::sleep(Duration::from_millis(500));
    assert!(calls(&p).is_empty(), "deployed with one approval of two");
    let erin = approve("erin");
    assert!(
        String::from_utf8_lossy(&erin.stdout).contains(&format!(
            "approved gate {id} (deployment 1 to `production`): 2 of 2 approvals; the deployment goes on now"
        )),
        "{}",
        String::from_utf8_lossy(&erin.stdout)
    );
    let out = child.wait_with_output().unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(
        String::from_utf8_lossy(&out.stderr).contains("approved by dave, erin"),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert_eq!(calls(&p).len(), 1);
}

#[test]
fn refs_and_freeze_windows_refuse_a_deployment_with_their_location() {
    let registry = Registry::start(Auth::None);
    let p = project(
        &registry,
        "  production:\n    tags: [\"release-*\"]\n    target: { script: { run: [./deploy.sh] } }\n  frozen:\n    freeze: [{ cron: \"* * * * *\", duration: 2m }]\n    target: { script: { run: [./deploy.sh] } }",
    );
    release(&p, "feat: first", "0.1.0");
    let r = p
        .wharf(&["deploy", "0.1.0", "--env", "production"])
        .expect(2);
    assert!(
        r.stderr()
            .contains("error: environment `production` (wharf.yml:")
            && r.stderr()
                .contains("takes tags release-*; release 0.1.0 is for tag `v0.1.0`"),
        "{}",
        r.stderr()
    );
    let r = p.wharf(&["deploy", "0.1.0", "--env", "frozen"]).expect(2);
    assert!(
        r.stderr()
            .contains("error: environment `frozen` (wharf.yml:")
            && r.stderr().contains("is frozen until"),
        "{}",
        r.stderr()
    );
    assert!(calls(&p).is_empty());
    let list = p.wharf(&["deployments", "--json"]).expect(0).json();
    assert_eq!(
        list.as_array().unwrap().len(),
        0,
        "refused before it was recorded: {list}"
    );
}

#[test]
fn two_deploys_launched_together_twenty_times_exactly_one_holds_the_lease() {
    let registry = Registry::start(Auth::None);
    let p = project(&registry, TWO_ENVS);
    release(&p, "feat: first", "0.1.0");
    p.write("slow", "1");
    let spawn = || {
        p.cmd(&["deploy", "0.1.0", "--env", "staging", "--json"])
            .stdin(std::process::Stdio::null())
            .stdout(std::process::Stdio::piped())
            .stderr(std::process::Stdio::piped())
            .spawn()
            .unwrap()
    };
    for trial in 0..20 {
        let (a, b) = (spawn(), spawn());
        let (a, b) = (a.wait_with_output().unwrap(), b.wait_with_output().unwrap());
        let mut codes = [a.status.code(), b.status.code()];
        codes.sort();
        assert_eq!(
            codes,
            [Some(0), Some(2)],
            "trial {trial}: {}\n{}",
            String::from_utf8_lossy(&a.stderr),
            String::from_utf8_lossy(&b.stderr)
        );
        let loser = if a.status.code() == Some(2) { &a } else { &b };
        assert!(
            String::from_utf8_lossy(&loser.stderr)
                .contains("error: environment staging is held by deployment "),
            "trial {trial}: {}",
            String::from_utf8_lossy(&loser.stderr)
        );
    }
    // Twenty calls of the script: never two at once (each wrote one line).
    assert_eq!(calls(&p).len(), 20);
    let list = p
        .wharf(&["deployments", "--limit", "100", "--json"])
        .expect(0)
        .json();
    let ok = list
        .as_array()
        .unwrap()
        .iter()
        .filter(|d| d["status"] == "succeeded")
        .count();
    assert_eq!(ok, 20, "{list}");
}

#[test]
fn a_script_target_gets_its_secrets_after_the_gates_and_its_output_is_masked() {
    use std::io::Write as _;
    const KEY: &str = "AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8=";
    let registry = Registry::start(Auth::None);
    let p = project(
        &registry,
        "  staging:\n    approval: { required: 1 }\n    target: { script: { run: [./secret.sh], secrets: [DEPLOY_TOKEN] } }",
    );
    executable(
        &p,
        "secret.sh",
        "#!/bin/sh\necho \"token is $DEPLOY_TOKEN\"\necho \"${#DEPLOY_TOKEN}\" > token-length\n",
    );
    release(&p, "feat: first", "0.1.0");
    let with_key = |args: &[&str], user: &str| {
        p.cmd(args)
            .env("WHARF_SECRET_KEY", KEY)
            .env("USER", user)
            .stdin(std::process::Stdio::piped())
            .stdout(std::process::Stdio::piped())
            .stderr(std::process::Stdio::piped())
            .spawn()
            .unwrap()
    };
    // Missing: refused by name once the gates passed, before any call.
    let mut set = with_key(
        &["secrets", "set", "DEPLOY_TOKEN", "--env", "staging"],
        "carol",
    );
    set.stdin
        .take()
        .unwrap()
        .write_all(b"prod-token-0123456789")
        .unwrap();
    assert!(set.wait_with_output().unwrap().status.success());
    let deploy = with_key(&["deploy", "0.1.0", "--env", "staging", "--json"], "carol");
    let t = Instant::now();
    let gate = loop {
        let list = p.wharf(&["approvals", "--json"]).expect(0).json();
        if let Some(g) = list.as_array().unwrap().first() {
            break g["id"].as_i64().unwrap();
        }
        assert!(t.elapsed() < Duration::from_secs(20), "no gate opened");
        std::thread::sleep(Duration::from_millis(100));
    };
    // Before the approval, the script never ran: the secret reached nothing.
    assert!(!p.path().join("token-length").exists());
    let ok = with_key(&["approve", &gate.to_string()], "dave")
        .wait_with_output()
        .unwrap();
    assert!(
        ok.status.success(),
        "{}",
        String::from_utf8_lossy(&ok.stderr)
    );
    let out = deploy.wait_with_output().unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "{stderr}");
    assert_eq!(p.read("token-length").trim(), "21");
    assert!(stderr.contains("| token is ***"), "{stderr}");
    assert!(!stderr.contains("prod-token-0123456789"), "{stderr}");
}

#[test]
fn a_script_target_missing_a_secret_is_refused_by_name() {
    let registry = Registry::start(Auth::None);
    let p = project(
        &registry,
        "  staging:\n    target: { script: { run: [./deploy.sh], secrets: [DEPLOY_TOKEN] } }",
    );
    release(&p, "feat: first", "0.1.0");
    let r = p.wharf(&["deploy", "0.1.0", "--env", "staging"]).expect(2);
    assert!(
        r.stderr()
            .contains("hint: store it with `wharf secrets set DEPLOY_TOKEN --env staging`"),
        "{}",
        r.stderr()
    );
    let rec = &p.wharf(&["deployments", "--json"]).expect(0).json()[0];
    assert_eq!(rec["status"], "failed");
    assert_eq!(
        rec["reason"],
        "the deploy script's secret is not in the secret store: DEPLOY_TOKEN"
    );
    assert!(calls(&p).is_empty());
}

#[test]
fn an_emergency_rollback_skips_the_gates_with_a_reason_kept_in_the_record() {
    let registry = Registry::start(Auth::None);
    let p = project(&registry, TWO_ENVS);
    release(&p, "feat: first", "0.1.0");
    release(&p, "feat: second", "0.2.0");
    p.wharf(&["deploy", "0.1.0", "--env", "staging"]).expect(0);
    p.wharf(&["deploy", "0.2.0", "--env", "staging"]).expect(0);
    // Now staging is frozen and needs an approval.
    let yml = p.read("wharf.yml").replace(
        "  staging:\n",
        "  staging:\n    approval: { required: 1 }\n    freeze: [{ cron: \"* * * * *\", duration: 2m }]\n",
    );
    p.write("wharf.yml", &yml);
    let frozen = p.wharf(&["rollback", "staging"]).expect(2);
    assert!(
        frozen.stderr().contains("is frozen until"),
        "{}",
        frozen.stderr()
    );
    let empty = p
        .wharf(&["rollback", "staging", "--override-gates", " "])
        .expect(2);
    assert!(
        empty
            .stderr()
            .contains("error: an override of the gates needs a reason"),
        "{}",
        empty.stderr()
    );
    let r = p
        .cmd(&[
            "rollback",
            "staging",
            "--override-gates",
            "checkout is down; INC-7",
            "--json",
        ])
        .env("USER", "oncall")
        .stdin(std::process::Stdio::null())
        .output()
        .unwrap();
    assert!(r.status.success(), "{}", String::from_utf8_lossy(&r.stderr));
    let rec: serde_json::Value = serde_json::from_slice(&r.stdout).unwrap();
    assert_eq!(rec["release"], "0.1.0");
    assert_eq!(rec["gates_override"], "oncall: checkout is down; INC-7");
    assert!(
        String::from_utf8_lossy(&r.stderr)
            .contains("the gates of staging are skipped by oncall: checkout is down; INC-7"),
        "{}",
        String::from_utf8_lossy(&r.stderr)
    );
    assert!(
        calls(&p)
            .last()
            .unwrap()
            .starts_with("rollback staging 0.1.0")
    );
    let not_for_deploys = p
        .wharf(&[
            "deploy",
            "0.2.0",
            "--env",
            "staging",
            "--override-gates",
            "x",
        ])
        .expect(2);
    assert!(
        not_for_deploys
            .stderr()
            .contains("unexpected argument '--override-gates'"),
        "{}",
        not_for_deploys.stderr()
    );
}
