//! `wharf deploy` with the Docker target: the release's image (built by wharf's own
//! builder from Debian's busybox, pushed to a loopback registry) runs in a container on
//! the local engine behind a real `wharf proxy` process, under load from a client that
//! records every answer's status and `X-Release`.

use std::net::SocketAddr;
use std::time::{Duration, Instant};

use wharf_test_support::app::{AppKnobs, HEALTH_PATH, SLOW_PATH, write_app_rootfs};
use wharf_test_support::docker::{docker, require_engine};
use wharf_test_support::faultproxy::{Fault, FaultProxy};
use wharf_test_support::load::{self, LoadSpec};
use wharf_test_support::registry::{Auth, Registry};

use crate::helper::Project;
use crate::proxy::ProxyProcess;

/// A project whose releases are the test app's image, with a proxy and a registry.
pub(crate) struct DockerProject {
    pub p: Project,
    pub proxy: ProxyProcess,
    pub image: String,
    /// Between the engine and the registry when made [`DockerProject::behind_fault`].
    pub fault: Option<FaultProxy>,
    _registry: Registry,
    _state: tempfile::TempDir,
}

impl DockerProject {
    /// `environments` is the YAML under `environments:`; `{proxy}` (the proxy's control
    /// API), `{listen}` (where it serves) and `{image}` are replaced.
    pub(crate) fn new(environments: &str) -> DockerProject {
        Self::build(environments, false)
    }

    /// As [`DockerProject::new`], with the registry reached through a fault proxy (which
    /// passes until told otherwise), so a test can make the engine's pull slow.
    pub(crate) fn behind_fault(environments: &str) -> DockerProject {
        Self::build(environments, true)
    }

    fn build(environments: &str, behind_fault: bool) -> DockerProject {
        require_engine();
        let registry = Registry::start(Auth::None);
        let fault = behind_fault.then(|| FaultProxy::start(registry.port, Fault::Pass));
        let state = tempfile::tempdir().unwrap();
        let proxy = ProxyProcess::start(
            &state.path().join("proxy.json"),
            "127.0.0.1:0",
            "127.0.0.1:0",
        );
        let port = fault.as_ref().map_or(registry.port, |f| f.port);
        let image = format!("127.0.0.1:{port}/deploy/app");
        let envs = environments
            .replace("{proxy}", &format!("http://{}", proxy.admin))
            .replace("{listen}", &format!("http://{}", proxy.listen))
            .replace("{image}", &image);
        let p = Project::new(&format!(
            r#"version: 1
jobs:
  image:
    steps:
      - build-image:
          from: scratch
          layers: [{{ src: app-rootfs/, dest: / }}]
          entrypoint: ["/start"]
          ports: ["8080"]
          image: {image}
          push: true
  release:
    needs: [image]
    steps:
      - release: {{}}
environments:
{envs}
"#
        ));
        p.allow_settings(&["environment.production-without-approval"]);
        p.write(".gitignore", ".wharf/\n");
        p.git_init();
        DockerProject {
            p,
            proxy,
            image,
            fault,
            _registry: registry,
            _state: state,
        }
    }

    /// Records release `version` of the app with `knobs` (its release name is the version).
    pub(crate) fn release(&self, message: &str, version: &str, knobs: impl FnOnce(&mut AppKnobs)) {
        let mut k = AppKnobs::new(version);
        knobs(&mut k);
        let dir = self.p.path().join("app-rootfs");
        let _ = std::fs::remove_dir_all(&dir);
        write_app_rootfs(&dir, &k);
        self.p.commit(message);
        let run = self.p.wharf(&["run", "--plain"]);
        assert_eq!(run.code(), 0, "{}", run.stderr());
        self.p.wharf(&["release", "show", version]).expect(0);
    }

    pub(crate) fn listen(&self) -> SocketAddr {
        self.proxy.listen.parse().unwrap()
    }

    /// The proxy's control API, where it also serves `/metrics`.
    pub(crate) fn admin(&self) -> SocketAddr {
        self.proxy.admin.parse().unwrap()
    }

    /// The containers of `environment` this project's deployments started (other tests
    /// run theirs at the same time): (name, running).
    pub(crate) fn containers(&self, environment: &str) -> Vec<(String, bool)> {
        let out = docker(&[
            "ps",
            "-a",
            "--filter",
            &format!("label=org.wharf.deploy.environment={environment}"),
            "--format",
            "{{.Names}} {{.State}} {{.Image}}",
        ]);
        String::from_utf8_lossy(&out.stdout)
            .lines()
            .filter_map(|l| {
                let mut f = l.split(' ');
                let (n, s, i) = (f.next()?, f.next()?, f.next()?);
                i.starts_with(&self.image)
                    .then(|| (n.to_string(), s == "running"))
            })
            .collect()
    }

    pub(crate) fn deploy(&self, args: &[&str]) -> crate::helper::Run {
        self.p.wharf_in(self.p.path(), args, 120)
    }
}

impl Drop for DockerProject {
    fn drop(&mut self) {
        // Every container a deployment of this project started (their names hold the
        // environment; the label holds it too).
        let out = docker(&[
            "ps",
            "-aq",
            "--filter",
            "label=org.wharf.deploy.environment",
        ]);
        for id in String::from_utf8_lossy(&out.stdout).lines() {
            let inspect = docker(&[
                "inspect",
                "--format",
                "{{index .Config.Labels \"org.wharf.deploy.environment\"}} {{.Config.Image}}",
                id,
            ]);
            if String::from_utf8_lossy(&inspect.stdout).contains(&self.image) {
                docker(&["rm", "-f", id]);
            }
        }
    }
}

const DIRECT_AND_BLUE_GREEN: &str = r#"  staging:
    target: { docker: { proxy: "{proxy}", port: 8080, service: staging, hosts: [staging.test], image: "{image}", env: { GREETING: hello } } }
    strategy: { direct: {} }
    health: { path: /up/, interval: 100ms, timeout: 10s }
  production:
    requires: [staging]
    target: { docker: { proxy: "{proxy}", port: 8080, service: web } }
    strategy: { blue-green: { pause: 1s, preview-host: next.test } }
    health: { path: /up/, interval: 100ms, timeout: 10s }"#;

#[test]
fn docker_deploys_switch_with_no_failed_request_and_roll_back_in_one_command() {
    let d = DockerProject::new(DIRECT_AND_BLUE_GREEN);
    d.release("feat: first", "0.1.0", |_| {});
    d.release("feat: second", "0.2.0", |_| {});
    d.deploy(&["deploy", "0.1.0", "--env", "staging"]).expect(0);
    d.deploy(&["deploy", "0.1.0", "--env", "production"])
        .expect(0);
    let addr = d.listen();
    // The container got the target's environment.
    let envs = docker(&[
        "inspect",
        "--format",
        "{{json .Config.Env}}",
        &d.containers("staging")[0].0,
    ]);
    assert!(String::from_utf8_lossy(&envs.stdout).contains("GREETING=hello"));
    let spec = |path: &str, rate: Option<u32>, conns: usize| LoadSpec {
        addr,
        host: Some("app.test".into()),
        path: path.into(),
        connections: conns,
        rate_per_sec: rate,
        headers: Vec::new(),
    };
    let steady = load::start(spec("/", Some(200), 8));
    let long = load::long_requests(addr, Some("app.test"), &format!("{SLOW_PATH}?2"), 4);
    std::thread::sleep(Duration::from_millis(500));
    // Alternate releases: a blue/green deploy, then rollbacks and redeploys.
    d.deploy(&["deploy", "0.1.0", "--env", "staging"]).expect(0);
    d.deploy(&["deploy", "0.2.0", "--env", "staging"]).expect(0);
    let bg = d
        .deploy(&["deploy", "0.2.0", "--env", "production", "--json"])
        .expect(0);
    assert!(
        bg.stderr().contains("is healthy on the preview address"),
        "{}",
        bg.stderr()
    );
    let t = Instant::now();
    let back = d
        .deploy(&["rollback", "production", "--json"])
        .expect(0)
        .json();
    let rollback_took = t.elapsed();
    assert_eq!(back["release"], "0.1.0");
    assert_eq!(back["mode"], "rollback");
    let at = steady.now_ms();
    std::thread::sleep(Duration::from_millis(1500));
    d.deploy(&["deploy", "0.2.0", "--env", "production"])
        .expect(0);
    // Eight more switches, alternating: ten in all after the first release.
    for _ in 0..4 {
        d.deploy(&["rollback", "production"]).expect(0);
        d.deploy(&["deploy", "0.2.0", "--env", "production"])
            .expect(0);
    }
    std::thread::sleep(Duration::from_millis(500));
    let report = steady.stop();
    let long = long.stop();
    let failures: Vec<String> = report
        .failures()
        .iter()
        .take(5)
        .chain(report.failures().iter().rev().take(5))
        .map(|s| format!("{} ms: {} {}", s.at_ms, s.status, s.release))
        .collect();
    assert_eq!(
        report.failed,
        0,
        "{}\nfailures: {failures:?}\nrollback at {at} ms",
        report.summary()
    );
    assert_eq!(long.failed, 0, "{}", long.summary());
    assert!(long.requests >= 4, "{}", long.summary());
    assert!(
        report.count("0.1.0") > 0 && report.count("0.2.0") > 0,
        "{}",
        report.summary()
    );
    // After the rollback command returned, no request reached 0.2.0 until it was deployed again.
    let after: Vec<_> = report
        .samples
        .iter()
        .filter(|s| s.at_ms > at + 100 && s.at_ms < at + 1400)
        .collect();
    assert!(
        !after.is_empty() && after.iter().all(|s| s.release == "0.1.0"),
        "{}",
        report.summary()
    );
    assert!(rollback_took < Duration::from_secs(10), "{rollback_took:?}");
    // The running container is the release's image by its recorded digest, not a tag.
    let rec =
        d.p.wharf(&["release", "show", "0.2.0", "--json"])
            .expect(0)
            .json();
    let digest = rec["items"]
        .as_array()
        .unwrap()
        .iter()
        .find(|i| i["kind"] == "pushed-image")
        .map(|i| i["digest"].as_str().unwrap().to_string())
        .unwrap();
    let running: Vec<String> = d
        .containers("production")
        .into_iter()
        .filter(|c| c.1)
        .map(|c| {
            let out = docker(&["inspect", "--format", "{{.Config.Image}}", &c.0]);
            String::from_utf8_lossy(&out.stdout).trim().to_string()
        })
        .collect();
    assert_eq!(running, [format!("{}@{digest}", d.image)]);
    // The previous release's container is kept, stopped; nothing else is left.
    let mut prod = d.containers("production");
    prod.sort();
    assert_eq!(prod.len(), 2, "{prod:?}");
    assert_eq!(prod.iter().filter(|c| c.1).count(), 1, "{prod:?}");
    let list =
        d.p.wharf(&["deployments", "--env", "production", "--json"])
            .expect(0)
            .json();
    let rows: Vec<(String, String, String)> = list
        .as_array()
        .unwrap()
        .iter()
        .map(|r| {
            (
                r["release"].as_str().unwrap().to_string(),
                r["mode"].as_str().unwrap().to_string(),
                r["status"].as_str().unwrap().to_string(),
            )
        })
        .collect();
    assert_eq!(rows.len(), 12, "{rows:?}");
    assert!(rows.iter().all(|r| r.2 == "succeeded"), "{rows:?}");
    for (i, r) in rows[..11].iter().enumerate() {
        let want = if i % 2 == 0 {
            ("0.2.0", "deploy")
        } else {
            ("0.1.0", "rollback")
        };
        assert_eq!((r.0.as_str(), r.1.as_str()), want, "{rows:?}");
    }
    assert_eq!(rows[11].0, "0.1.0");
}

#[test]
fn a_release_that_never_gets_healthy_gets_no_traffic() {
    let d = DockerProject::new(
        r#"  production:
    target: { docker: { proxy: "{proxy}", port: 8080, service: web } }
    health: { path: /up/, interval: 100ms, timeout: 5s, for: 3s }"#,
    );
    d.release("feat: first", "0.1.0", |_| {});
    d.release("feat: broken", "0.2.0", |k| k.health_status = 500);
    d.release("feat: silent", "0.3.0", |k| k.listen = false);
    d.release("feat: crashy", "0.4.0", |k| k.crash_after_ms = Some(2000));
    d.deploy(&["deploy", "0.1.0", "--env", "production"])
        .expect(0);
    let steady = load::start(LoadSpec {
        addr: d.listen(),
        host: Some("app.test".into()),
        path: "/".into(),
        connections: 8,
        rate_per_sec: Some(200),
        headers: Vec::new(),
    });
    // Docker's port forwarder accepts the connection of a container that never listens
    // and closes it: a connection error rather than a refusal.
    for (version, probe) in [
        ("0.2.0", "HTTP 500"),
        ("0.3.0", "GET http://127.0.0.1:"),
        // Healthy for 2 s, then gone: `for: 3s` keeps it from ever getting a request.
        ("0.4.0", "never answered 2xx for 3 s in a row within 5 s"),
    ] {
        let t = Instant::now();
        let r = d
            .deploy(&["deploy", version, "--env", "production", "--json"])
            .expect(1);
        let took = t.elapsed();
        let rec = r.json();
        assert_eq!(rec["status"], "failed", "{rec}");
        let reason = rec["reason"].as_str().unwrap();
        assert!(
            reason.starts_with("health: ") && reason.contains(probe),
            "{reason}"
        );
        // Within the health timeout (5 s) + 2 s, and the container's start.
        assert!(took < Duration::from_secs(8), "{took:?}");
    }
    let report = steady.stop();
    assert_eq!(report.failed, 0, "{}", report.summary());
    assert_eq!(
        report.count("0.2.0") + report.count("0.3.0") + report.count("0.4.0"),
        0,
        "{}",
        report.summary()
    );
    // The broken releases' containers are gone.
    let left = d.containers("production");
    assert_eq!(left.len(), 1, "{left:?}");
    let _ = HEALTH_PATH;
}

/// Waits until the newest deployment is in `phase`, and returns its id.
fn wait_for_phase(d: &DockerProject, phase: &str) -> i64 {
    let t = Instant::now();
    loop {
        let list = d.p.wharf(&["deployments", "--json"]).expect(0).json();
        if list[0]["phase"] == phase && list[0]["status"] == "running" {
            return list[0]["id"].as_i64().unwrap();
        }
        assert!(
            t.elapsed() < Duration::from_secs(60),
            "never reached {phase}: {list}"
        );
        std::thread::sleep(Duration::from_millis(100));
    }
}

#[test]
fn a_deployer_killed_mid_deployment_is_reconciled_with_no_failed_request() {
    let d = DockerProject::new(
        r#"  production:
    target: { docker: { proxy: "{proxy}", port: 8080, service: web } }
    health: { path: /up/, interval: 100ms, timeout: 60s }
    analysis:
      - { name: soak, script: [./soak.sh], timeout: 2m }"#,
    );
    d.p.write(
        "soak.sh",
        "#!/bin/sh\nwhile [ -f soak ]; do sleep 0.1; done\n",
    );
    std::process::Command::new("chmod")
        .args(["+x"])
        .arg(d.p.path().join("soak.sh"))
        .status()
        .unwrap();
    d.release("feat: first", "0.1.0", |_| {});
    d.release("feat: slow", "0.2.0", |k| k.slow_start_ms = 30_000);
    d.release("feat: third", "0.3.0", |_| {});
    d.deploy(&["deploy", "0.1.0", "--env", "production"])
        .expect(0);
    let steady = load::start(LoadSpec {
        addr: d.listen(),
        host: Some("app.test".into()),
        path: "/".into(),
        connections: 8,
        rate_per_sec: Some(200),
        headers: Vec::new(),
    });
    // Killed while the proxy health-gates a slow release: traffic never moved.
    let rec = kill_when(&d, "0.2.0", || {
        wait_for_phase(&d, "health");
    });
    assert_eq!(rec["status"], "interrupted", "{rec}");
    assert!(
        rec["reason"]
            .as_str()
            .unwrap()
            .contains("traffic never moved"),
        "{rec}"
    );
    // Killed mid-analysis, after the switch: not verified, so back to 0.1.0.
    d.p.write("soak", "");
    let rec = kill_when(&d, "0.3.0", || {
        wait_for_phase(&d, "analysis");
    });
    assert_eq!(rec["status"], "rolled_back", "{rec}");
    assert!(
        rec["reason"]
            .as_str()
            .unwrap()
            .contains("traffic went back to 0.1.0"),
        "{rec}"
    );
    std::fs::remove_file(d.p.path().join("soak")).unwrap();
    std::thread::sleep(Duration::from_millis(500));
    let report = steady.stop();
    assert_eq!(report.failed, 0, "{}", report.summary());
    assert_eq!(report.count("0.2.0"), 0, "{}", report.summary());
    let last = report.samples.last().unwrap();
    assert_eq!(last.release, "0.1.0", "{}", report.summary());
    // No orphan container: only 0.1.0's runs; the next deployment needs no unlock.
    let left = d.containers("production");
    assert_eq!(left.len(), 1, "{left:?}");
    d.deploy(&["deploy", "0.3.0", "--env", "production"])
        .expect(0);
}

/// The release the proxy's service `web` sends its traffic to.
fn primary(d: &DockerProject) -> String {
    let a = wharf_test_support::http::get(&format!("http://{}/services/web", d.admin()), None);
    a.json()["primary"]["release"]
        .as_str()
        .unwrap_or_default()
        .to_string()
}

/// Runs `wharf deploy VERSION` in the background, kills it (SIGKILL) once `at` says so,
/// starts nothing for 5 s, then lists the deployments (which reconciles) and returns the
/// killed one's record.
fn kill_when(d: &DockerProject, version: &str, at: impl FnOnce()) -> serde_json::Value {
    let mut child =
        d.p.cmd(&["deploy", version, "--env", "production"])
            .stdin(std::process::Stdio::null())
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::null())
            .spawn()
            .unwrap();
    at();
    child.kill().unwrap();
    child.wait().unwrap();
    std::thread::sleep(Duration::from_secs(5));
    let t = Instant::now();
    let list = d.p.wharf(&["deployments", "--json"]).expect(0).json();
    assert!(t.elapsed() < Duration::from_secs(10), "{:?}", t.elapsed());
    assert_eq!(list[0]["release"], version, "{list}");
    list[0].clone()
}

#[test]
fn a_deployer_killed_at_pull_at_container_creation_or_after_the_switch_is_reconciled() {
    let d = DockerProject::behind_fault(
        r#"  production:
    target: { docker: { proxy: "{proxy}", port: 8080, service: web } }
    health: { path: /up/, interval: 100ms, timeout: 60s }"#,
    );
    d.release("feat: first", "0.1.0", |_| {});
    d.release("feat: second", "0.2.0", |_| {});
    d.release("feat: slow", "0.3.0", |k| k.slow_start_ms = 5_000);
    d.release("feat: fourth", "0.4.0", |_| {});
    d.deploy(&["deploy", "0.1.0", "--env", "production"])
        .expect(0);
    let steady = load::start(LoadSpec {
        addr: d.listen(),
        host: Some("app.test".into()),
        path: "/".into(),
        connections: 8,
        rate_per_sec: Some(200),
        headers: Vec::new(),
    });
    let fault = d.fault.as_ref().unwrap();

    // Killed while the engine pulls 0.2.0 from a registry that answers slowly.
    fault.set(Fault::Delay(Duration::from_millis(500)));
    let rec = kill_when(&d, "0.2.0", || {
        wait_for_phase(&d, "pull");
        std::thread::sleep(Duration::from_millis(300));
    });
    fault.set(Fault::Pass);
    assert_eq!(rec["status"], "interrupted", "{rec}");
    let reason = rec["reason"].as_str().unwrap();
    assert!(reason.contains("during pull; traffic never moved"), "{rec}");

    // Killed the moment the engine creates 0.3.0's container (as the engine's own event
    // stream says): its name was recorded first, so the reconciliation removes it.
    let mut events = std::process::Command::new("docker")
        .args([
            "events",
            "--filter",
            "event=create",
            "--filter",
            "label=org.wharf.deploy.environment=production",
            "--format",
            "{{.Actor.Attributes.image}}",
        ])
        .stdout(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    std::thread::sleep(Duration::from_millis(500));
    let mut lines = std::io::BufRead::lines(std::io::BufReader::new(events.stdout.take().unwrap()));
    let rec = kill_when(&d, "0.3.0", || {
        for line in lines.by_ref() {
            if line.unwrap().starts_with(&d.image) {
                return;
            }
        }
        panic!("the engine's events ended");
    });
    events.kill().unwrap();
    events.wait().unwrap();
    assert_eq!(rec["status"], "interrupted", "{rec}");
    let reason = rec["reason"].as_str().unwrap();
    assert!(reason.contains("traffic never moved"), "{rec}");
    assert_eq!(primary(&d), "0.1.0");
    // Only 0.1.0's container is left.
    let left = d.containers("production");
    assert_eq!(left, vec![(left[0].0.clone(), true)], "{left:?}");

    // Killed the moment the proxy switched to 0.4.0, with no analysis left to run: its
    // health gate passed and it has all the traffic, so it is resumed, not undone.
    let rec = kill_when(&d, "0.4.0", || {
        let t = Instant::now();
        while primary(&d) != "0.4.0" {
            assert!(t.elapsed() < Duration::from_secs(60), "never switched");
            std::thread::sleep(Duration::from_millis(2));
        }
    });
    assert_eq!(rec["status"], "succeeded", "{rec}");
    let reason = rec["reason"].as_str().unwrap();
    assert!(reason.starts_with("resumed: "), "{rec}");
    assert_eq!(primary(&d), "0.4.0");

    std::thread::sleep(Duration::from_millis(500));
    let report = steady.stop();
    assert_eq!(report.failed, 0, "{}", report.summary());
    assert_eq!(report.count("0.2.0"), 0, "{}", report.summary());
    assert_eq!(report.count("0.3.0"), 0, "{}", report.summary());
    assert_eq!(
        report.samples.last().unwrap().release,
        "0.4.0",
        "{}",
        report.summary()
    );
    // No orphan: 0.4.0 runs, 0.1.0 is kept stopped for a switch back, nothing else.
    let mut left = d.containers("production");
    left.sort();
    assert_eq!(left.len(), 2, "{left:?}");
    assert_eq!(left.iter().filter(|c| c.1).count(), 1, "{left:?}");
    d.deploy(&["rollback", "production"]).expect(0);
    assert_eq!(primary(&d), "0.1.0");
}

/// A blue/green release load-tested on its preview before it is promoted: thresholds met,
/// it is promoted; one missed, it is rolled back, the threshold named.
#[test]
fn a_load_test_on_the_preview_decides_a_blue_green_promotion() {
    let d = DockerProject::new(
        r#"  production:
    target: { docker: { proxy: "{proxy}", port: 8080, service: web } }
    strategy: { blue-green: { pause: 1s, preview-host: next.test } }
    health: { path: /up/, interval: 100ms, timeout: 10s }
    analysis:
      - name: preview-load
        load-test:
          url: "{listen}/"
          headers: { X-Wharf-Preview: "1", X-Release: "${{ release }}" }
          connections: 2
          duration: 1s
          thresholds: { p99: 2s, error-rate: 0 }"#,
    );
    d.release("feat: first", "0.1.0", |_| {});
    d.release("feat: second", "0.2.0", |_| {});
    d.release("feat: third", "0.3.0", |_| {});
    let yml = d.p.read("wharf.yml");
    d.deploy(&["deploy", "0.1.0", "--env", "production"])
        .expect(0);
    let requests = |release: &str| -> f64 {
        let a = wharf_test_support::http::get(&format!("http://{}/metrics", d.admin()), None);
        a.text()
            .lines()
            .filter(|l| {
                l.starts_with("wharf_proxy_requests_total{")
                    && l.contains(&format!("release=\"{release}\""))
            })
            .filter_map(|l| l.rsplit(' ').next()?.parse::<f64>().ok())
            .sum()
    };
    let out = d.deploy(&["deploy", "0.2.0", "--env", "production", "--json"]);
    let said = out.stderr();
    assert_eq!(out.code(), 0, "{said}");
    assert!(said.contains("preview-load: thresholds met: GET"), "{said}");
    let rec = out.json();
    assert_eq!(rec["status"], "succeeded", "{rec}");
    // The load went to the preview: the new release answered it.
    assert!(requests("0.2.0") > 100.0, "{}", requests("0.2.0"));

    // A threshold no release can meet: rolled back, the threshold named.
    d.p.write(
        "wharf.yml",
        &yml.replace("error-rate: 0 }", "error-rate: 0, throughput: 1000000000 }"),
    );
    let out = d.deploy(&["deploy", "0.3.0", "--env", "production", "--json"]);
    let said = out.stderr();
    assert_eq!(out.code(), 1, "{said}");
    let rec = out.json();
    assert_eq!(rec["status"], "rolled_back", "{rec}");
    let reason = rec["reason"].as_str().unwrap();
    assert!(
        reason.contains("preview-load") && reason.contains("throughput"),
        "{reason}"
    );
    assert!(reason.contains("requests/s: FAILED"), "{reason}");
    // validate refuses a condition on a load test: its thresholds are the verdict.
    d.p.write(
        "wharf.yml",
        &yml.replace(
            "error-rate: 0 }",
            "error-rate: 0 }\n        success: result == 1",
        ),
    );
    let v = d.p.wharf(&["validate"]).expect(2);
    assert!(
        v.stderr()
            .contains("a load test's measurement is its thresholds: it takes no condition"),
        "{}",
        v.stderr()
    );
}
