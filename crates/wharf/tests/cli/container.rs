//! `image:` and `services:` through a real Docker Engine (.ci/run starts dockerd). Images
//! are the local busybox image the test support imports, or built with wharf's own builder
//! and pushed to a loopback registry: nothing is pulled from the internet.

use std::process::{Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use wharf_test_support::docker::{busybox_image, docker};
use wharf_test_support::registry::{Auth, Registry};

use crate::helper::Project;

/// Polls `done` every 50 ms until it holds; fails with `what` after `limit`.
fn wait_until(limit: Duration, what: &str, mut done: impl FnMut() -> bool) {
    let t = Instant::now();
    while !done() {
        assert!(t.elapsed() < limit, "{what}");
        std::thread::sleep(Duration::from_millis(50));
    }
}

/// Names of containers a wharf run with this pid left (`wharf-PID-…`).
fn containers_of(pid: u32) -> Vec<String> {
    let out = docker(&["ps", "-a", "--format", "{{.Names}}"]);
    String::from_utf8_lossy(&out.stdout)
        .lines()
        .filter(|n| n.starts_with(&format!("wharf-{pid}-")))
        .map(String::from)
        .collect()
}

fn run_json(p: &Project, code: i32) -> (Vec<serde_json::Value>, u32) {
    let child = p
        .cmd(&["run", "--json"])
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let pid = child.id();
    let out = child.wait_with_output().unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout).into_owned();
    assert_eq!(
        out.status.code(),
        Some(code),
        "{stdout}\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let events = stdout
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    (events, pid)
}

fn lines(events: &[serde_json::Value], job: &str) -> Vec<String> {
    events
        .iter()
        .filter(|e| e["type"] == "log" && e["job"] == job)
        .filter_map(|e| e["line"].as_str().map(String::from))
        .collect()
}

fn finished<'a>(events: &'a [serde_json::Value], job: &str) -> &'a serde_json::Value {
    events
        .iter()
        .find(|e| e["type"] == "job_finished" && e["job"] == job)
        .unwrap_or_else(|| panic!("no job_finished for {job}"))
}

#[test]
fn a_container_job_runs_inside_the_image_with_the_host_job_s_contract() {
    let image = busybox_image();
    let p = Project::new(&format!(
        r#"version: 1
fail-fast: false
jobs:
  inside:
    image: {image}
    outputs: [where]
    secrets: [TOKEN]
    steps:
      - run: |
          ls /
          echo "uid=$(busybox id -u)"
          echo "where=$PWD" >> "$WHARF_OUTPUT"
          echo "token=$TOKEN"
          echo made > made-inside.txt
      - run: exit 3
  slow:
    image: {image}
    timeout: 1s
    run: busybox sleep 30
"#
    ));
    let uid = host_uid();
    let r = p
        .cmd(&["run", "--json", "--secrets-from-env", "--kill-grace", "1"])
        .env("TOKEN", "s3cret-inside")
        .stdin(Stdio::null())
        .output()
        .unwrap();
    assert_eq!(r.status.code(), Some(1));
    let events: Vec<serde_json::Value> = String::from_utf8_lossy(&r.stdout)
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    let out = lines(&events, "inside");
    // The image's root, not the host's: busybox has no /usr.
    assert!(out.contains(&"bin".to_string()), "{out:?}");
    assert!(!out.contains(&"usr".to_string()), "{out:?}");
    assert!(
        out.contains(&format!("uid={uid}")),
        "steps run as the invoking user: {out:?}"
    );
    assert!(out.contains(&"token=***".to_string()), "{out:?}");
    let inside = finished(&events, "inside");
    assert_eq!(inside["exit_code"], 3);
    assert!(
        inside["outputs"]["where"]
            .as_str()
            .unwrap()
            .ends_with(".wharf/workspaces/1/inside")
    );
    // The failed job's workspace is kept: the file made in the container is there.
    assert_eq!(
        p.read(".wharf/workspaces/1/inside/made-inside.txt"),
        "made\n"
    );
    let slow = finished(&events, "slow");
    assert_eq!(slow["status"], "timed_out", "{slow}");
    assert!(!String::from_utf8_lossy(&r.stdout).contains("s3cret-inside"));
}

fn host_uid() -> String {
    let out = Command::new("id").arg("-u").output().unwrap();
    String::from_utf8_lossy(&out.stdout).trim().to_string()
}

#[test]
fn no_engine_stops_the_run_before_any_job_and_validate_still_passes() {
    let p = Project::new(
        "version: 1\njobs:\n  first:\n    run: touch ran\n  inside:\n    image: busybox:1\n    run: \"true\"\n",
    );
    p.wharf(&["validate"]).expect(0);
    let r = p
        .cmd(&["run", "--plain"])
        .env("DOCKER_HOST", "unix:///nonexistent/wharf-test/docker.sock")
        .stdin(Stdio::null())
        .output()
        .unwrap();
    let err = String::from_utf8_lossy(&r.stderr);
    assert_eq!(r.status.code(), Some(2), "{err}");
    assert!(
        err.contains("no Docker Engine reachable at unix:///nonexistent/wharf-test/docker.sock"),
        "{err}"
    );
    assert!(err.contains("hint: start dockerd"), "{err}");
    assert!(!p.path().join("ran").exists(), "no job ran");
}

#[test]
fn a_missing_image_fails_the_job_naming_it() {
    busybox_image();
    // Port 1 on loopback: nothing listens, so the pull fails at once (and stays local).
    let p = Project::new(
        "version: 1\njobs:\n  inside:\n    image: 127.0.0.1:1/wharf-test/nope:1\n    run: \"true\"\n",
    );
    let (events, pid) = run_json(&p, 1);
    let reason = finished(&events, "inside")["reason"]
        .as_str()
        .unwrap()
        .to_string();
    assert!(
        reason.starts_with("image `127.0.0.1:1/wharf-test/nope:1` is not available"),
        "{reason}"
    );
    assert!(containers_of(pid).is_empty());
}

/// `dir` as a root filesystem of Debian's static busybox and its `sh`.
fn busybox_rootfs(dir: &std::path::Path) -> std::path::PathBuf {
    std::fs::create_dir_all(dir.join("bin")).unwrap();
    std::fs::copy("/bin/busybox", dir.join("bin/busybox")).unwrap();
    std::os::unix::fs::symlink("busybox", dir.join("bin/sh")).unwrap();
    dir.to_path_buf()
}

/// A web server image (busybox httpd) in a loopback registry.
fn web_image(registry: &Registry, p: &Project) -> String {
    let rootfs = busybox_rootfs(&p.path().join("svc/rootfs"));
    p.write("svc/www/index.html", "hello from the service\n");
    let reference = format!("{}/wharf-test/web:1", registry.host());
    let out = p
        .cmd(&[
            "image",
            "build",
            "--layer",
            &format!("{}:/", rootfs.display()),
            "--layer",
            &format!("{}:/www", p.path().join("svc/www").display()),
            "--entrypoint",
            r#"["/bin/busybox","httpd","-f","-p","8080","-h","/www"]"#,
            "--tag",
            &reference,
            "--push",
        ])
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    std::fs::remove_dir_all(p.path().join("svc")).unwrap();
    reference
}

#[test]
fn services_are_healthy_before_the_first_step_reachable_and_removed() {
    let registry = Registry::start(Auth::None);
    let p = Project::new("version: 1\njobs:\n  a:\n    run: \"true\"\n");
    let web = web_image(&registry, &p);
    let image = busybox_image();
    std::fs::write(
        p.path().join("wharf.yml"),
        format!(
            r#"version: 1
jobs:
  from-host:
    services:
      web:
        image: {web}
        ports: [8080]
        env: {{ MODE: test }}
        health: {{ cmd: "test \"$MODE\" = test && busybox wget -q -O- http://127.0.0.1:8080/ >/dev/null", interval: 200ms, retries: 50 }}
    run: |
      echo "at $WHARF_SERVICE_WEB_HOST:$WHARF_SERVICE_WEB_PORT"
      curl -fsS "http://127.0.0.1:$WHARF_SERVICE_WEB_PORT/"
  from-container:
    image: {image}
    services:
      web:
        image: {web}
        ports: [8080]
        health: {{ cmd: "busybox wget -q -O- http://127.0.0.1:8080/ >/dev/null", interval: 200ms, retries: 50 }}
    run: |
      echo "at $WHARF_SERVICE_WEB_HOST:$WHARF_SERVICE_WEB_PORT"
      busybox wget -q -O- "http://web:8080/"
  never-healthy:
    services:
      web:
        image: {web}
        health: {{ cmd: "echo not yet; exit 1", interval: 100ms, retries: 3 }}
    run: echo "never runs"
"#
        ),
    )
    .unwrap();
    let (events, pid) = run_json(&p, 1);
    let host = lines(&events, "from-host");
    assert!(
        host.iter()
            .any(|l| l.starts_with("wharf: service `web` is up")),
        "{host:?}"
    );
    assert!(
        host.iter().any(|l| l.starts_with("at 127.0.0.1:")),
        "{host:?}"
    );
    assert!(
        host.contains(&"hello from the service".to_string()),
        "{host:?}"
    );
    let inside = lines(&events, "from-container");
    assert!(inside.contains(&"at web:8080".to_string()), "{inside:?}");
    assert!(
        inside.contains(&"hello from the service".to_string()),
        "{inside:?}"
    );
    let bad = finished(&events, "never-healthy");
    assert_eq!(
        bad["reason"],
        "service `web` never became healthy (3 checks of `echo not yet; exit 1`): last health output:"
    );
    let bad_lines = lines(&events, "never-healthy");
    assert!(
        bad_lines.contains(&"wharf: not yet".to_string()),
        "{bad_lines:?}"
    );
    assert!(!bad_lines.contains(&"never runs".to_string()));
    // Service logs are kept as artifacts of the run.
    let arts = p.wharf(&["artifacts", "--json"]).expect(0).json();
    let paths: Vec<&str> = arts
        .as_array()
        .unwrap()
        .iter()
        .filter_map(|a| a["path"].as_str())
        .collect();
    assert!(paths.contains(&"services/web.log"), "{paths:?}");
    assert!(containers_of(pid).is_empty(), "{:?}", containers_of(pid));
    let nets = docker(&["network", "ls", "--format", "{{.Name}}"]);
    assert!(
        !String::from_utf8_lossy(&nets.stdout).contains(&format!("wharf-{pid}-")),
        "networks left behind"
    );
}

#[test]
fn a_killed_wharf_leaves_no_container_behind() {
    let registry = Registry::start(Auth::None);
    let p = Project::new("version: 1\njobs:\n  a:\n    run: \"true\"\n");
    let web = web_image(&registry, &p);
    let image = busybox_image();
    std::fs::write(
        p.path().join("wharf.yml"),
        format!(
            "version: 1\njobs:\n  inside:\n    image: {image}\n    services:\n      web: {{ image: {web} }}\n    run: |\n      touch started\n      busybox sleep 60\n"
        ),
    )
    .unwrap();
    let mut child = p
        .cmd(&["run", "--plain"])
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let pid = child.id();
    wait_until(Duration::from_secs(30), "the step never started", || {
        p.path().join(".wharf/workspaces/1/inside/started").exists()
    });
    assert_eq!(containers_of(pid).len(), 2, "{:?}", containers_of(pid));
    child.kill().unwrap();
    child.wait().unwrap();
    // The job container ends with wharf's connection to it.
    wait_until(
        Duration::from_secs(20),
        "the job container outlived wharf",
        || containers_of(pid).len() <= 1,
    );
    // The service goes with the next run that uses containers.
    std::fs::write(
        p.path().join("wharf.yml"),
        format!("version: 1\njobs:\n  again:\n    image: {image}\n    run: \"true\"\n"),
    )
    .unwrap();
    let r = p.wharf(&["run", "--plain"]).expect(0);
    // (Other tests' killed wharfs may have left some too: at least this one's service.)
    assert!(
        r.stderr()
            .contains(" container(s) left by a wharf that was killed"),
        "{}",
        r.stderr()
    );
    assert!(containers_of(pid).is_empty(), "{:?}", containers_of(pid));
}

/// A byte-for-byte proxy in front of the Docker Engine's socket that can be cut.
struct EngineProxy {
    path: std::path::PathBuf,
    /// Its connections (wharf's end, then the engine's, for each), and whether it was cut
    /// (then it takes no new one): one lock, so no connection is made between the cut and
    /// the check.
    conns: Arc<Mutex<(Vec<std::os::unix::net::UnixStream>, bool)>>,
    _dir: tempfile::TempDir,
}

impl EngineProxy {
    fn start() -> EngineProxy {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("docker.sock");
        let listener = std::os::unix::net::UnixListener::bind(&path).unwrap();
        let conns: Arc<Mutex<(Vec<std::os::unix::net::UnixStream>, bool)>> = Arc::default();
        let keep = conns.clone();
        std::thread::spawn(move || {
            for client in listener.incoming() {
                let Ok(client) = client else { return };
                let mut list = keep.lock().unwrap();
                if list.1 {
                    // Cut: a reconnecting client finds nobody there.
                    let _ = client.shutdown(std::net::Shutdown::Both);
                    continue;
                }
                let Ok(engine) = std::os::unix::net::UnixStream::connect("/var/run/docker.sock")
                else {
                    return;
                };
                for (mut from, mut to) in [
                    (client.try_clone().unwrap(), engine.try_clone().unwrap()),
                    (engine.try_clone().unwrap(), client.try_clone().unwrap()),
                ] {
                    std::thread::spawn(move || {
                        let _ = std::io::copy(&mut from, &mut to);
                        let _ = to.shutdown(std::net::Shutdown::Write);
                    });
                }
                list.0.push(client);
                list.0.push(engine);
            }
        });
        EngineProxy {
            path,
            conns,
            _dir: dir,
        }
    }

    /// Closes every connection and takes no new one: to wharf, the engine is gone.
    fn cut(&self) {
        let mut list = self.conns.lock().unwrap();
        list.1 = true;
        let _ = std::fs::remove_file(&self.path);
        // wharf's ends first, all of them: no answer the engine gives as it notices (an
        // exit status on a wait call) reaches wharf after the cut.
        let conns: Vec<_> = list.0.drain(..).collect();
        for (i, c) in conns.iter().enumerate() {
            if i % 2 == 0 {
                let _ = c.shutdown(std::net::Shutdown::Both);
            }
        }
        for c in conns.iter().skip(1).step_by(2) {
            let _ = c.shutdown(std::net::Shutdown::Both);
        }
    }
}

#[test]
fn the_engine_going_away_mid_job_fails_the_step_and_leaves_no_container() {
    let image = busybox_image();
    let proxy = EngineProxy::start();
    let p = Project::new(&format!(
        "version: 1\njobs:\n  inside:\n    image: {image}\n    run: |\n      touch started\n      busybox sleep 60\n"
    ));
    let child = p
        .cmd(&["run", "--plain"])
        .env("DOCKER_HOST", format!("unix://{}", proxy.path.display()))
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let pid = child.id();
    wait_until(Duration::from_secs(30), "the step never started", || {
        p.path().join(".wharf/workspaces/1/inside/started").exists()
    });
    proxy.cut();
    let out = child.wait_with_output().unwrap();
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{err}");
    assert!(err.contains("the Docker Engine went away?"), "{err}");
    // Its stdin went with the connection: the container ended and the engine removed it.
    wait_until(
        Duration::from_secs(20),
        "a container was left behind",
        || containers_of(pid).is_empty(),
    );
}

#[test]
fn an_image_an_earlier_job_built_runs_as_job_and_service_before_any_push() {
    busybox_image();
    let p = Project::new(
        r#"version: 1
jobs:
  build:
    steps:
      - build-image:
          layers: [{ src: rootfs/, dest: / }, { src: www/, dest: /www/ }]
          entrypoint: ["/bin/busybox", "httpd", "-f", "-p", "8080", "-h", "/www"]
          output: out/web
    artifacts: [out/web/]
  use:
    needs: [build]
    image: oci-layout:out/web
    services:
      web:
        image: oci-layout:out/web:latest
        health: { cmd: "busybox wget -q -O- http://127.0.0.1:8080/", interval: 100ms, retries: 100 }
    run: busybox wget -q -O- http://web:8080/
"#,
    );
    busybox_rootfs(&p.path().join("rootfs"));
    p.write("www/index.html", "built, not pushed\n");
    let (events, _) = run_json(&p, 0);
    assert_eq!(lines(&events, "use").last().unwrap(), "built, not pushed");
}

#[test]
fn a_private_image_is_pulled_with_docker_s_credentials_for_its_registry() {
    use base64::Engine;
    let registry = Registry::start(Auth::Htpasswd {
        user: "ci",
        password: "pulls-need-this",
    });
    let host = registry.host();
    let p = Project::new("version: 1\njobs:\n  a:\n    run: \"true\"\n");
    // `docker login` as the builder and the pull read it (the test's DOCKER_CONFIG).
    let auth = base64::engine::general_purpose::STANDARD.encode("ci:pulls-need-this");
    p.write(
        ".no-docker-config/config.json",
        &serde_json::json!({ "auths": { &host: { "auth": auth } } }).to_string(),
    );
    let rootfs = busybox_rootfs(&p.path().join("rootfs"));
    for tag in ["1", "2"] {
        let out = p
            .cmd(&[
                "image",
                "build",
                "--layer",
                &format!("{}:/", rootfs.display()),
                "--tag",
                &format!("{host}/wharf-test/private:{tag}"),
                "--push",
            ])
            .output()
            .unwrap();
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
    }
    let pipeline = |tag: &str| {
        format!(
            "version: 1\njobs:\n  inside:\n    image: {host}/wharf-test/private:{tag}\n    run: busybox echo pulled\n"
        )
    };
    std::fs::write(p.path().join("wharf.yml"), pipeline("1")).unwrap();
    let (events, _) = run_json(&p, 0);
    assert_eq!(lines(&events, "inside"), ["pulled"]);
    // Without the login, the registry refuses the pull and the job says so.
    std::fs::remove_file(p.path().join(".no-docker-config/config.json")).unwrap();
    std::fs::write(p.path().join("wharf.yml"), pipeline("2")).unwrap();
    let (events, _) = run_json(&p, 1);
    let reason = finished(&events, "inside")["reason"]
        .as_str()
        .unwrap()
        .to_string();
    assert!(
        reason.starts_with(&format!(
            "image `{host}/wharf-test/private:2` is not available"
        )),
        "{reason}"
    );
}

#[test]
fn jobs_that_cannot_run_for_the_event_need_no_engine() {
    let p = Project::new(
        "version: 1\njobs:\n  host:\n    run: \"true\"\n  image:\n    if: event == 'tag'\n    image: busybox:1\n    run: \"true\"\n  smoke:\n    needs: [image]\n    services: { app: { image: busybox:1 } }\n    run: \"true\"\n",
    );
    let run = |args: &[&str]| {
        p.cmd(args)
            .env("DOCKER_HOST", "unix:///nonexistent/wharf-test/docker.sock")
            .stdin(Stdio::null())
            .output()
            .unwrap()
    };
    // A push: the tag-only job and the job needing it are skipped, so no engine is asked.
    let push = run(&["run", "--plain"]);
    assert_eq!(
        push.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&push.stderr)
    );
    // A tag: they would run, and the run stops before any job.
    p.tag("v1.0.0");
    let tag = run(&["run", "--plain", "--event", "tag", "--tag", "v1.0.0"]);
    assert_eq!(tag.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&tag.stderr).contains("no Docker Engine reachable"));
}
