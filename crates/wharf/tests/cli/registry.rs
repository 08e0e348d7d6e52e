//! Pushes to and pulls from a real Debian docker-registry on 127.0.0.1 (anonymous,
//! htpasswd, and bearer tokens from a token server), also through a fault-injecting proxy,
//! checked with skopeo and a Docker Engine.

use std::io::{Read, Write};
use std::net::{Shutdown, TcpListener, TcpStream};
use std::process::{Command, Stdio};
use std::sync::{Arc, Mutex};

use sha2::{Digest as _, Sha256};
use wharf_test_support::registry::{Auth, Registry};

use crate::helper::Project;

/// What the proxy does to the n-th request of a kind.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
enum Fault {
    /// Forward it.
    Pass,
    /// Answer 500 without forwarding.
    Fail500,
    /// Read half the body, then drop the connection.
    Reset,
    /// Answer 429 with Retry-After: 1.
    TooMany,
}

/// A one-request-per-connection HTTP proxy in front of the registry that injects faults:
/// `plan(method, path, n)` decides for the n-th (0-based) request with that method.
struct FaultProxy {
    port: u16,
    seen: Arc<Mutex<Vec<(String, String, Fault)>>>,
}

impl FaultProxy {
    fn start(
        upstream: u16,
        plan: impl Fn(&str, &str, usize) -> Fault + Send + Sync + 'static,
    ) -> FaultProxy {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let port = listener.local_addr().unwrap().port();
        let seen: Arc<Mutex<Vec<(String, String, Fault)>>> = Arc::default();
        let plan = Arc::new(plan);
        let counts: Arc<Mutex<std::collections::HashMap<String, usize>>> = Arc::default();
        let log = seen.clone();
        std::thread::spawn(move || {
            for conn in listener.incoming().flatten() {
                let (plan, counts, log) = (plan.clone(), counts.clone(), log.clone());
                std::thread::spawn(move || {
                    let _ = handle(conn, upstream, &*plan, &counts, &log);
                });
            }
        });
        FaultProxy { port, seen }
    }
}

fn handle(
    mut client: TcpStream,
    upstream: u16,
    plan: &(dyn Fn(&str, &str, usize) -> Fault + Send + Sync),
    counts: &Mutex<std::collections::HashMap<String, usize>>,
    log: &Mutex<Vec<(String, String, Fault)>>,
) -> std::io::Result<()> {
    // The request head, byte by byte up to the blank line.
    let mut head = Vec::new();
    let mut byte = [0u8; 1];
    while !head.ends_with(b"\r\n\r\n") {
        if client.read(&mut byte)? == 0 {
            return Ok(());
        }
        head.push(byte[0]);
    }
    let text = String::from_utf8_lossy(&head).to_string();
    let mut words = text.split_whitespace();
    let (method, path) = (
        words.next().unwrap_or("").to_string(),
        words.next().unwrap_or("").to_string(),
    );
    let length: usize = text
        .lines()
        .find_map(|l| {
            l.to_ascii_lowercase()
                .strip_prefix("content-length:")
                .map(|v| v.trim().parse().unwrap_or(0))
        })
        .unwrap_or(0);
    let n = {
        let mut c = counts.lock().unwrap();
        let n = c.entry(method.clone()).or_insert(0);
        *n += 1;
        *n - 1
    };
    let fault = plan(&method, &path, n);
    log.lock()
        .unwrap()
        .push((method.clone(), path.clone(), fault));
    let mut body = vec![0u8; length];
    match fault {
        Fault::Reset => {
            let half = length / 2;
            client.read_exact(&mut body[..half])?;
            let _ = client.shutdown(Shutdown::Both);
            return Ok(());
        }
        Fault::Fail500 | Fault::TooMany => {
            client.read_exact(&mut body)?;
            let answer = if fault == Fault::Fail500 {
                "HTTP/1.1 500 Internal Server Error\r\nContent-Length: 0\r\nConnection: close\r\n\r\n"
            } else {
                "HTTP/1.1 429 Too Many Requests\r\nRetry-After: 1\r\nContent-Length: 0\r\nConnection: close\r\n\r\n"
            };
            client.write_all(answer.as_bytes())?;
            return Ok(());
        }
        Fault::Pass => {}
    }
    client.read_exact(&mut body)?;
    let mut up = TcpStream::connect(("127.0.0.1", upstream))?;
    // One request per connection: ask the registry to close, then copy its answer back.
    let head = text
        .replacen("\r\n\r\n", "\r\nConnection: close\r\n\r\n", 1)
        .replace("Connection: keep-alive\r\n", "");
    up.write_all(head.as_bytes())?;
    up.write_all(&body)?;
    let mut answer = Vec::new();
    up.read_to_end(&mut answer)?;
    client.write_all(&answer)?;
    Ok(())
}

fn project(image: &str, extra: &str) -> Project {
    let pipeline = format!(
        r#"version: 1
workspace: shared
jobs:
  image:
    {extra}
    steps:
      - build-image:
          layers: [{{ src: rootfs/, dest: / }}, {{ src: app/, dest: /app/ }}]
          entrypoint: [/bin/sh, -c, "cat /app/hello.txt"]
          image: {image}
          push: true
      - run: echo "digest=$WHARF_IMAGE_DIGEST"
"#
    );
    let p = Project::new(&pipeline);
    p.allow_settings(&["workspace.shared"]);
    p.write("app/hello.txt", "hello from the registry\n");
    p.write("app/big.bin", &"x".repeat(3 << 20));
    p.write(".gitignore", ".wharf/\nrootfs/\n");
    let script = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../../examples/python-app/scripts/base-rootfs.sh");
    assert!(
        Command::new(script)
            .arg(p.path().join("rootfs"))
            .status()
            .unwrap()
            .success()
    );
    p.git_init();
    p
}

/// `wharf run` with the pipeline's REGISTRY_PASSWORD secret taken from the environment.
fn run_with_password(p: &Project, password: &str) -> std::process::Output {
    p.cmd(&["run", "--plain", "--secrets-from-env"])
        .env("REGISTRY_PASSWORD", password)
        .stdin(Stdio::null())
        .output()
        .unwrap()
}

fn inspect(reference: &str, creds: Option<&str>) -> Option<serde_json::Value> {
    let mut c = Command::new("skopeo");
    c.args(["inspect", "--tls-verify=false"]);
    if let Some(c2) = creds {
        c.args(["--creds", c2]);
    }
    let out = c.arg(format!("docker://{reference}")).output().unwrap();
    out.status
        .success()
        .then(|| serde_json::from_slice(&out.stdout).unwrap())
}

fn digest_of(stderr: &str) -> String {
    stderr
        .lines()
        .find_map(|l| l.strip_prefix("[image] digest="))
        .unwrap_or_else(|| panic!("{stderr}"))
        .to_string()
}

#[test]
fn build_image_pushes_every_tag_and_an_unchanged_push_uploads_nothing() {
    let reg = Registry::start(Auth::None);
    let image = format!("127.0.0.1:{}/wharf-test/hello", reg.port);
    let p = project(&image, "");
    p.tag("v1.2.3");
    let run = p
        .wharf(&["run", "--plain", "--event", "tag", "--tag", "v1.2.3"])
        .expect(0);
    let digest = digest_of(&run.stderr());
    // new layers go to the registry while the others are still being built
    assert!(
        run.stderr()
            .contains("sent (or found there) while building"),
        "{}",
        run.stderr()
    );
    let short = &p.git(&["rev-parse", "HEAD"])[..7];
    for tag in ["1.2.3", "latest", short] {
        let got = inspect(&format!("{image}:{tag}"), None)
            .unwrap_or_else(|| panic!("{tag} was not pushed"));
        assert_eq!(got["Digest"], digest.as_str(), "{tag}");
    }
    // skopeo copies it out of the registry, every blob verified, the manifest unchanged
    let copy = tempfile::tempdir().unwrap();
    let out = Command::new("skopeo")
        .args(["copy", "-q", "--src-tls-verify=false"])
        .arg(format!("docker://{image}:1.2.3"))
        .arg(format!("oci:{}:copied", copy.path().display()))
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let index: serde_json::Value =
        serde_json::from_slice(&std::fs::read(copy.path().join("index.json")).unwrap()).unwrap();
    assert_eq!(index["manifests"][0]["digest"], digest.as_str());
    // wharf image inspect: the registry's view and the layout's agree
    let remote = p
        .wharf(&["image", "inspect", &format!("{image}:1.2.3"), "--json"])
        .expect(0)
        .json();
    assert_eq!(remote["digest"], digest.as_str());
    assert_eq!(remote["platform"], "linux/amd64");
    assert_eq!(
        remote["config"]["Labels"]["org.opencontainers.image.revision"],
        p.git(&["rev-parse", "HEAD"]).as_str()
    );
    assert_eq!(
        remote["layers"].as_array().unwrap().len(),
        inspect(&format!("{image}:1.2.3"), None).unwrap()["Layers"]
            .as_array()
            .unwrap()
            .len()
    );
    let local = p
        .wharf(&[
            "image",
            "inspect",
            "oci-layout:.wharf/images/image:1.2.3",
            "--json",
        ])
        .expect(0)
        .json();
    assert_eq!(local["digest"], remote["digest"]);
    let text = p
        .wharf(&["image", "inspect", &format!("{image}:1.2.3")])
        .expect(0)
        .stdout();
    assert!(
        text.contains(&format!("  digest      {digest}"))
            && text.contains(r#"  entrypoint  ["/bin/sh","-c","cat /app/hello.txt"]"#),
        "{text}"
    );
    let missing = p
        .wharf(&["image", "inspect", &format!("{image}:9.9.9")])
        .expect(1);
    assert!(
        missing.stderr().contains("is not in the registry"),
        "{}",
        missing.stderr()
    );
    let bad = p.wharf(&["image", "inspect", "Not/A/Ref"]).expect(2);
    assert!(
        bad.stderr().contains("does not name a registry"),
        "{}",
        bad.stderr()
    );
    let again = p
        .wharf(&["run", "--plain", "--event", "tag", "--tag", "v1.2.3"])
        .expect(0);
    // unchanged: one manifest request per repository, no blob is even checked
    assert!(
        again
            .stderr()
            .contains("/wharf-test/hello: has this image already")
            && !again.stderr().contains("blob(s) uploaded"),
        "{}",
        again.stderr()
    );
    let show = p.wharf(&["show", "--json"]).expect(0).json();
    let pushed: Vec<&str> = show["jobs"][0]["produced"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|i| i["kind"] == "pushed-image")
        .map(|i| i["name"].as_str().unwrap())
        .collect();
    assert_eq!(pushed.len(), 3, "{pushed:?}");
    // a real engine pulls and runs it (docker treats 127.0.0.0/8 registries as insecure)
    let reference = format!("{image}:1.2.3");
    let pull = Command::new("docker")
        .args(["pull", "-q", &reference])
        .output()
        .unwrap();
    assert!(
        pull.status.success(),
        "{}",
        String::from_utf8_lossy(&pull.stderr)
    );
    let out = Command::new("docker")
        .args(["run", "--rm", &reference])
        .output()
        .unwrap();
    let _ = Command::new("docker")
        .args(["rmi", "-f", &reference])
        .output();
    assert_eq!(
        String::from_utf8_lossy(&out.stdout),
        "hello from the registry\n"
    );
}

#[test]
fn basic_auth_with_a_secret_and_a_clear_error_for_a_wrong_one() {
    let reg = Registry::start(Auth::Htpasswd {
        user: "ci",
        password: "registry-pass-42",
    });
    let image = format!("127.0.0.1:{}/private/app", reg.port);
    let p = project(&image, "secrets: [REGISTRY_PASSWORD]");
    let wharf_yml = p.read("wharf.yml").replace(
        "push: true",
        "push: true\n          username: ci\n          password: REGISTRY_PASSWORD",
    );
    p.write("wharf.yml", &wharf_yml);
    let run = |password: &str| run_with_password(&p, password);
    let bad = run("wrong-password-99");
    let stderr = String::from_utf8_lossy(&bad.stderr);
    assert_eq!(bad.status.code(), Some(1), "{stderr}");
    assert!(stderr.contains("refused the credentials"), "{stderr}");
    assert!(!stderr.contains("wrong-password-99"), "{stderr}");
    let good = run("registry-pass-42");
    let stderr = String::from_utf8_lossy(&good.stderr);
    assert!(good.status.success(), "{stderr}");
    let digest = digest_of(&stderr);
    let got = inspect(&format!("{image}:latest"), Some("ci:registry-pass-42")).expect("pushed");
    assert_eq!(got["Digest"], digest.as_str());
}

#[test]
fn faults_on_the_way_are_retried_and_a_broken_push_leaves_no_tag() {
    let reg = Registry::start(Auth::None);
    // 429 on the first HEAD, 500 on the first blob PUT, a reset in the middle of the second.
    let proxy = FaultProxy::start(reg.port, |method, _, n| match (method, n) {
        ("HEAD", 0) => Fault::TooMany,
        ("PUT", 0) => Fault::Fail500,
        ("PUT", 1) => Fault::Reset,
        _ => Fault::Pass,
    });
    let image = format!("127.0.0.1:{}/faults/app", proxy.port);
    let p = project(&image, "");
    let run = p.wharf(&["run", "--plain"]).expect(0);
    let digest = digest_of(&run.stderr());
    // Each retry is said in the step's output as it happens.
    for reason in ["429", "500"] {
        assert!(
            run.stderr()
                .lines()
                .any(|l| l.starts_with("[image] retrying ")
                    && l.contains(" (2/5) after ")
                    && l.ends_with(reason)),
            "{reason}: {}",
            run.stderr()
        );
    }
    let direct = format!("127.0.0.1:{}/faults/app:latest", reg.port);
    assert_eq!(
        inspect(&direct, None).expect("pushed")["Digest"],
        digest.as_str()
    );
    let faults: Vec<Fault> = proxy
        .seen
        .lock()
        .unwrap()
        .iter()
        .map(|(_, _, f)| *f)
        .collect();
    for f in [Fault::TooMany, Fault::Fail500, Fault::Reset] {
        assert!(faults.contains(&f), "{f:?} was injected: {faults:?}");
    }

    // Every blob upload fails: the push fails and no tag names a missing blob.
    let reg2 = Registry::start(Auth::None);
    let always = FaultProxy::start(reg2.port, |method, path, _| {
        if method == "PUT" && path.contains("/blobs/uploads/") {
            Fault::Fail500
        } else {
            Fault::Pass
        }
    });
    let image = format!("127.0.0.1:{}/broken/app", always.port);
    let p = project(&image, "");
    let run = p.wharf(&["run", "--plain"]).expect(1);
    assert!(
        run.stderr().contains("uploading sha256:"),
        "{}",
        run.stderr()
    );
    let manifests = always
        .seen
        .lock()
        .unwrap()
        .iter()
        .filter(|(m, p, _)| m == "PUT" && p.contains("/manifests/"))
        .count();
    assert_eq!(
        manifests, 0,
        "the manifest goes last, and never after a failed blob"
    );
    assert!(inspect(&format!("127.0.0.1:{}/broken/app:latest", reg2.port), None).is_none());
}

/// Writes `config.json` in `dir` as `docker login` leaves it: an `auths` entry under `key`
/// with `auth` (base64 of `user_password`) and the `extra` fields.
fn docker_login(dir: &std::path::Path, key: &str, user_password: &str, extra: serde_json::Value) {
    use base64::Engine;
    let mut entry = serde_json::json!({"auth": base64::engine::general_purpose::STANDARD.encode(user_password)});
    for (k, v) in extra.as_object().into_iter().flatten() {
        entry[k] = v.clone();
    }
    let config = serde_json::json!({"auths": {key: entry}});
    std::fs::write(dir.join("config.json"), config.to_string()).unwrap();
}

/// `wharf image build --layer LAYER --tag REFERENCE --push`, stdin closed.
fn build_and_push(p: &Project, layer: &str, reference: &str) -> Command {
    let mut c = p.cmd(&[
        "image", "build", "--layer", layer, "--tag", reference, "--push",
    ]);
    c.stdin(Stdio::null());
    c
}

/// Pushes a busybox base built from `rootfs/` to `reference` with `wharf image build`.
fn push_base(p: &Project, reference: &str) -> String {
    let run = p
        .wharf(&[
            "image",
            "build",
            "--layer",
            "rootfs:/",
            "--tag",
            reference,
            "--push",
            "-o",
            ".wharf/images/base",
        ])
        .expect(0);
    inspect(reference, None).expect("the base was pushed")["Digest"]
        .as_str()
        .unwrap_or_else(|| panic!("{}", run.stderr()))
        .to_string()
}

#[test]
fn a_registry_base_is_pulled_cached_by_digest_and_its_layers_mounted() {
    let reg = Registry::start(Auth::None);
    let host = format!("127.0.0.1:{}", reg.port);
    let p = project(&format!("{host}/team/app"), "");
    let base_digest = push_base(&p, &format!("{host}/team/base:1"));
    let pipeline = |from: &str, push: bool| {
        p.write(
            "wharf.yml",
            &format!(
                r#"version: 1
workspace: shared
jobs:
  image:
    steps:
      - build-image:
          from: {from}
          layers: [{{ src: app/, dest: /app/ }}]
          entrypoint: [/bin/sh, -c, "cat /app/hello.txt"]
          image: {host}/team/app
          push: {push}
"#
            ),
        );
    };
    // A tag: the manifest is fetched, the blobs land in the cache, the layers are mounted
    // from the base's repository, and the image runs.
    pipeline(&format!("{host}/team/base:1"), true);
    let run = p.wharf(&["run", "--plain"]).expect(0);
    let err = run.stderr();
    assert!(
        err.contains(&format!("pulled {host}/team/base:1 {base_digest}")),
        "{err}"
    );
    assert!(err.contains("mounted from team/base"), "{err}");
    let pushed = format!("{host}/team/app:latest");
    let got = inspect(&pushed, None).expect("pushed");
    assert_eq!(
        got["Layers"].as_array().unwrap().first(),
        inspect(&format!("{host}/team/base:1"), None).unwrap()["Layers"]
            .as_array()
            .unwrap()
            .first()
    );
    let out = Command::new("docker")
        .args(["run", "--rm", &pushed])
        .output()
        .unwrap();
    assert_eq!(
        String::from_utf8_lossy(&out.stdout),
        "hello from the registry\n",
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );

    // The same tag again: the manifest is asked for, nothing else is fetched.
    let again = p.wharf(&["run", "--plain"]).expect(0);
    assert!(
        again.stderr().contains("0 blob(s) fetched"),
        "{}",
        again.stderr()
    );

    // A multi-platform index: this machine's manifest is picked, and the cache's tag
    // names that manifest, so the build never has to pick again.
    let raw = Command::new("skopeo")
        .args(["inspect", "--raw", "--tls-verify=false"])
        .arg(format!("docker://{host}/team/base:1"))
        .output()
        .unwrap()
        .stdout;
    let entry = |arch: &str| {
        serde_json::json!({
            "mediaType": "application/vnd.oci.image.manifest.v1+json",
            "digest": base_digest, "size": raw.len(),
            "platform": {"os": "linux", "architecture": arch},
        })
    };
    let index = serde_json::json!({
        "schemaVersion": 2,
        "mediaType": "application/vnd.oci.image.index.v1+json",
        "manifests": [entry("s390x"), entry("amd64")],
    })
    .to_string();
    let put = Command::new("curl")
        .args(["-sf", "-X", "PUT", "-H"])
        .arg("Content-Type: application/vnd.oci.image.index.v1+json")
        .args(["--data-binary", &index])
        .arg(format!("http://{host}/v2/team/base/manifests/multi"))
        .status()
        .unwrap();
    assert!(put.success());
    let index_digest = format!("sha256:{:x}", Sha256::digest(index.as_bytes()));
    pipeline(&format!("{host}/team/base:multi"), false);
    let multi = p.wharf(&["run", "--plain"]).expect(0);
    assert!(
        multi
            .stderr()
            .contains(&format!("pulled {host}/team/base:multi {index_digest}")),
        "{}",
        multi.stderr()
    );
    let cached = p
        .wharf(&[
            "image",
            "inspect",
            &format!("oci-layout:.wharf/cache/bases:{host}/team/base:multi"),
            "--json",
        ])
        .expect(0)
        .json();
    assert_eq!(
        (cached["digest"].as_str(), cached["index"].as_str()),
        (Some(base_digest.as_str()), None),
        "the cache's tag names the platform's manifest"
    );
    let remote = p
        .wharf(&[
            "image",
            "inspect",
            &format!("{host}/team/base:multi"),
            "--json",
        ])
        .expect(0)
        .json();
    assert_eq!(remote["index"], index_digest.as_str());
    assert_eq!(remote["digest"], base_digest.as_str());

    // Pinned by digest, the cache answers without the registry.
    drop(reg);
    let pinned = format!("{host}/team/base@{base_digest}");
    pipeline(&pinned, false);
    let offline = p.wharf(&["run", "--plain"]).expect(0);
    assert!(
        offline.stderr().contains("in the cache, nothing to fetch"),
        "{}",
        offline.stderr()
    );
    // A tag needs the registry, and says which base could not be pulled.
    pipeline(&format!("{host}/team/base:1"), false);
    let down = p.wharf(&["run", "--plain"]).expect(1);
    assert!(
        down.stderr()
            .contains(&format!("pulling the base {host}/team/base:1")),
        "{}",
        down.stderr()
    );
}

#[test]
fn an_unknown_base_is_a_clear_error() {
    let reg = Registry::start(Auth::None);
    let host = format!("127.0.0.1:{}", reg.port);
    let p = project(&format!("{host}/team/app"), "");
    let run = p
        .wharf(&[
            "image",
            "build",
            "--from",
            &format!("{host}/team/nothing:9"),
            "--layer",
            "app:/app",
        ])
        .expect(1);
    assert!(
        run.stderr()
            .contains(&format!("{host}/team/nothing:9 is not in the registry")),
        "{}",
        run.stderr()
    );
    let run = p
        .wharf(&[
            "image",
            "build",
            "--from",
            "Team/Base",
            "--layer",
            "app:/app",
        ])
        .expect(1);
    assert!(
        run.stderr().contains("does not name a registry"),
        "{}",
        run.stderr()
    );
}

#[test]
fn credentials_from_docker_config_json_and_a_credential_helper() {
    let reg = Registry::start(Auth::Htpasswd {
        user: "ci",
        password: "registry-pass-42",
    });
    let host = format!("127.0.0.1:{}", reg.port);
    let p = project(&format!("{host}/private/app"), "");
    let push = |config: Option<&std::path::Path>, path: Option<String>| {
        let mut c = build_and_push(&p, "app:/app", &format!("{host}/private/app:cfg"));
        if let Some(dir) = config {
            c.env("DOCKER_CONFIG", dir);
        }
        if let Some(path) = path {
            c.env("PATH", path);
        }
        let out = c.output().unwrap();
        (
            out.status.code(),
            String::from_utf8_lossy(&out.stderr).to_string(),
        )
    };
    // No login anywhere: a hint names both ways to give credentials.
    let (code, err) = push(None, None);
    assert_eq!(code, Some(1), "{err}");
    assert!(
        err.contains("asks for credentials") && err.contains("docker login"),
        "{err}"
    );

    // `docker login` wrote an `auths` entry.
    let config = tempfile::tempdir().unwrap();
    docker_login(
        config.path(),
        &format!("http://{host}"),
        "ci:registry-pass-42",
        serde_json::json!({}),
    );
    let (code, err) = push(Some(config.path()), None);
    assert_eq!(code, Some(0), "{err}");
    assert!(!err.contains("registry-pass-42"), "{err}");
    assert!(
        inspect(
            &format!("{host}/private/app:cfg"),
            Some("ci:registry-pass-42")
        )
        .is_some()
    );

    // A credential helper, given the host on stdin.
    let bin = tempfile::tempdir().unwrap();
    let helper = bin.path().join("docker-credential-wharftest");
    std::fs::write(
        &helper,
        format!(
            "#!/bin/sh\n[ \"$1\" = get ] || exit 2\nread host\n[ \"$host\" = \"{host}\" ] || {{ echo 'credentials not found in native keychain'; exit 1; }}\necho '{{\"ServerURL\":\"{host}\",\"Username\":\"ci\",\"Secret\":\"registry-pass-42\"}}'\n"
        ),
    )
    .unwrap();
    use std::os::unix::fs::PermissionsExt;
    std::fs::set_permissions(&helper, std::fs::Permissions::from_mode(0o755)).unwrap();
    std::fs::write(
        config.path().join("config.json"),
        format!(r#"{{"credHelpers": {{"{host}": "wharftest"}}}}"#),
    )
    .unwrap();
    let path = format!(
        "{}:{}",
        bin.path().display(),
        std::env::var("PATH").unwrap_or_default()
    );
    let (code, err) = push(Some(config.path()), Some(path.clone()));
    assert_eq!(code, Some(0), "{err}");
    // A helper that is not installed is named.
    std::fs::write(
        config.path().join("config.json"),
        r#"{"credsStore": "wharf-absent"}"#,
    )
    .unwrap();
    let (code, err) = push(Some(config.path()), Some(path));
    assert_eq!(code, Some(1), "{err}");
    assert!(err.contains("docker-credential-wharf-absent"), "{err}");
}

#[test]
fn bearer_tokens_from_a_token_server_for_push_pull_and_mount() {
    let reg = Registry::start(Auth::Token {
        user: "ci",
        password: "token-pass-7",
    });
    let host = reg.host();
    let p = project(&format!("{host}/team/app"), "");

    // The base goes in with credentials from docker's config.json.
    let config = tempfile::tempdir().unwrap();
    docker_login(
        config.path(),
        &host,
        "ci:token-pass-7",
        serde_json::json!({}),
    );
    let base = build_and_push(&p, "rootfs:/", &format!("{host}/team/base:1"))
        .args(["-o", ".wharf/images/base"])
        .env("DOCKER_CONFIG", config.path())
        .output()
        .unwrap();
    assert!(
        base.status.success(),
        "{}\n{}",
        String::from_utf8_lossy(&base.stderr),
        reg.log()
    );

    // The app, from that base, with the step's user and password secret.
    p.write(
        "wharf.yml",
        &format!(
            r#"version: 1
workspace: shared
jobs:
  image:
    secrets: [REGISTRY_PASSWORD]
    steps:
      - build-image:
          from: {host}/team/base:1
          layers: [{{ src: app/, dest: /app/ }}]
          entrypoint: [/bin/sh, -c, "cat /app/hello.txt"]
          image: {host}/team/app
          push: true
          username: ci
          password: REGISTRY_PASSWORD
"#
        ),
    );
    let run = |password: &str| run_with_password(&p, password);
    let bad = run("not-the-password-3");
    let stderr = String::from_utf8_lossy(&bad.stderr);
    assert_eq!(bad.status.code(), Some(1), "{stderr}");
    assert!(stderr.contains("refused a token (401"), "{stderr}");
    assert!(!stderr.contains("not-the-password-3"), "{stderr}");

    let good = run("token-pass-7");
    let stderr = String::from_utf8_lossy(&good.stderr);
    assert!(good.status.success(), "{stderr}\n{}", reg.log());
    assert!(stderr.contains("mounted from team/base"), "{stderr}");
    // What the token server was asked for: the push scope of the app, the pull scope of
    // the base to mount from, for the account, always with the registry's service.
    let granted: Vec<_> = reg
        .token_requests()
        .into_iter()
        .filter(|t| t.granted)
        .collect();
    assert!(
        granted
            .iter()
            .all(|t| t.service == wharf_test_support::registry::TOKEN_SERVICE
                && t.account.as_deref() == Some("ci")),
        "{granted:?}"
    );
    assert!(
        granted
            .iter()
            .any(|t| t.scopes == ["repository:team/app:pull,push", "repository:team/base:pull"]),
        "{granted:?}"
    );
    // skopeo, doing the token dance itself, sees the image.
    let got = inspect(&format!("{host}/team/app:latest"), Some("ci:token-pass-7"))
        .expect("the image is in the registry");
    assert!(got["Digest"].as_str().unwrap().starts_with("sha256:"));
}

#[test]
fn an_identity_token_from_docker_config_json_is_exchanged_with_the_oauth2_grant() {
    let reg = Registry::start(Auth::Token {
        user: "ci",
        password: "identity-token-5",
    });
    let host = reg.host();
    let p = project(&format!("{host}/team/app"), "");
    let config = tempfile::tempdir().unwrap();
    let login = |token: &str| {
        // As `az acr login` leaves it: the user in `auth`, no password, an identity token.
        docker_login(
            config.path(),
            &host,
            "00000000-0000-0000-0000-000000000000:",
            serde_json::json!({"identitytoken": token}),
        );
        build_and_push(&p, "app:/app", &format!("{host}/team/app:id"))
            .env("DOCKER_CONFIG", config.path())
            .output()
            .unwrap()
    };
    let bad = login("an-expired-token");
    let stderr = String::from_utf8_lossy(&bad.stderr);
    assert_eq!(bad.status.code(), Some(1), "{stderr}");
    assert!(stderr.contains("refused a token (401"), "{stderr}");
    assert!(!stderr.contains("an-expired-token"), "{stderr}");
    let good = login("identity-token-5");
    assert!(
        good.status.success(),
        "{}\n{}",
        String::from_utf8_lossy(&good.stderr),
        reg.log()
    );
    let grants: Vec<(Option<String>, bool)> = reg
        .token_requests()
        .into_iter()
        .map(|t| (t.grant, t.granted))
        .collect();
    assert!(
        grants.contains(&(Some("refresh_token".to_string()), true))
            && grants
                .iter()
                .all(|(g, _)| g.as_deref() == Some("refresh_token")),
        "only the OAuth2 grant was used: {grants:?}"
    );
    assert!(inspect(&format!("{host}/team/app:id"), Some("ci:identity-token-5")).is_some());
}

/// A tag that renders empty on a branch run (`${{ version }}`) does not let `latest` be
/// pushed alone: the image is built, nothing is pushed, and the log says why. `push:`
/// takes an expression, so the same file pushes from tag runs only.
#[test]
fn an_empty_version_tag_pushes_nothing_and_push_takes_an_expression() {
    let reg = Registry::start(Auth::None);
    let image = format!("127.0.0.1:{}/wharf-test/guarded", reg.port);
    let p = Project::new(&format!(
        r#"version: 1
workspace: shared
jobs:
  image:
    steps:
      - build-image:
          layers: [{{ src: app/, dest: /app/ }}]
          image: {image}
          tags: ["${{{{ version }}}}", latest]
          push: true
  guarded:
    steps:
      - build-image:
          layers: [{{ src: app/, dest: /app/ }}]
          image: {image}-guarded
          tags: ["${{{{ version }}}}", latest]
          push: ${{{{ event == 'tag' }}}}
"#
    ));
    p.allow_settings(&["workspace.shared"]);
    p.write("app/hello.txt", "hello\n");
    p.git_init();
    let branch = p.wharf(&["run", "--plain"]).expect(0);
    let err = branch.stderr();
    assert!(
        err.contains("warning: not pushed: `tags:` entry 1 is empty in this run")
            && err.contains("pushing latest alone would move it to a build no version names"),
        "{err}"
    );
    // …and the run's summary and record carry it as a warning.
    let summary = &err[err.find("JOB").unwrap_or(0)..];
    assert!(summary.contains("warning: [image] not pushed"), "{summary}");
    let show = p.wharf(&["show", "--json"]).expect(0).stdout();
    assert!(
        show.contains("not pushed: `tags:` entry 1 is empty"),
        "{show}"
    );
    for name in [&image, &format!("{image}-guarded")] {
        let r = p
            .wharf(&["image", "inspect", &format!("{name}:latest")])
            .expect(1);
        assert!(
            r.stderr().contains("is not in the registry"),
            "{}",
            r.stderr()
        );
    }
    // A tag run pushes both tags of both images.
    p.tag("v1.0.0");
    p.wharf(&["run", "--plain", "--event", "tag", "--tag", "v1.0.0"])
        .expect(0);
    for name in [&image, &format!("{image}-guarded")] {
        for tag in ["1.0.0", "latest"] {
            p.wharf(&["image", "inspect", &format!("{name}:{tag}")])
                .expect(0);
        }
    }
    // Neither true, false nor an expression: refused before any run.
    p.write(
        "wharf.yml",
        &format!("version: 1\njobs:\n  i:\n    steps:\n      - build-image:\n          layers: [{{ src: app/, dest: /app/ }}]\n          image: {image}\n          push: yes-please\n"),
    );
    let err = p.wharf(&["validate"]).expect(2).stderr();
    assert!(
        err.contains("`push: yes-please` is neither true, false nor an expression"),
        "{err}"
    );
}
