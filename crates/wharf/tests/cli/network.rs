//! The network limits end to end (issue 12): `wharf image build --push`, `wharf image
//! push` and `wharf publish python` against the real docker-registry and pypiserver
//! behind the fault proxy of wharf-test-support. A stalled peer fails the command within
//! the idle limit (2 s here, set through `WHARF_NET_IDLE_TIMEOUT`) + 5 s, with exit code
//! 1 and a message naming the host and what was being sent; retries show as they
//! happen, in the step's output too; a bad limit is a usage error.
//!
//! The time-to-failure figures these tests print go in docs/benchmarks.md.

use std::process::Stdio;
use std::time::{Duration, Instant};

use wharf_test_support::faultproxy::{Fault, FaultProxy};
use wharf_test_support::pypi::PyPiServer;
use wharf_test_support::registry::{Auth, Registry};

use crate::helper::{Project, Run};

/// The idle limit of these tests, as the variable takes it and as a duration.
const IDLE: (&str, Duration) = ("2s", Duration::from_secs(2));

/// The most a stall may take to fail the command, after the idle limit.
const SLACK: Duration = Duration::from_secs(5);

/// Bytes that gzip cannot shrink.
fn noise(len: usize) -> Vec<u8> {
    let mut x = 0x2545_f491_4f6c_dd1du64;
    (0..len)
        .map(|_| {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            x as u8
        })
        .collect()
}

/// A project whose `app/` holds `big` files of 24 MiB of noise (each a blob far bigger
/// than the socket buffers, so that a registry that stops reading is met mid-upload) and
/// a few small files (other sub-layers, uploaded while the big ones are compressed).
fn big_app(big: usize) -> Project {
    let p = Project::new("version: 1\njobs:\n  a:\n    run: \"true\"\n");
    std::fs::create_dir_all(p.path().join("app/small")).unwrap();
    let bytes = noise(24 << 20);
    for i in 0..big {
        let mut b = bytes.clone();
        b[0] = i as u8;
        std::fs::write(p.path().join(format!("app/big{i}.bin")), b).unwrap();
    }
    for i in 0..4 {
        p.write(&format!("app/small/{i}.txt"), &format!("file {i}\n"));
    }
    p
}

fn run(mut c: std::process::Command) -> (Run, Duration) {
    let started = Instant::now();
    let out = c.stdin(Stdio::null()).output().unwrap();
    (Run { out }, started.elapsed())
}

#[test]
fn image_build_push_to_a_registry_that_stops_reading_fails_while_building() {
    // Three big sub-layers on two cores: the first two go up while the third is still
    // being compressed, for longer than the idle limit (1 s here). The stalled upload
    // must fail the command then, not after the build.
    let idle = ("1s", Duration::from_secs(1));
    let registry = Registry::start(Auth::None);
    let proxy = FaultProxy::start(registry.port, Fault::StallUpload { after: 256 << 10 });
    // The build alone (a fresh project: no cache), to bound the push's run.
    let (build, build_only) = run(big_app(3).cmd(&["image", "build", "--layer", "app:/app"]));
    build.expect(0);

    let p = big_app(3);
    let reference = format!("{}/stall/app:1", proxy.host());
    let mut c = p.cmd(&[
        "image", "build", "--layer", "app:/app", "--tag", &reference, "--push",
    ]);
    c.env("WHARF_NET_IDLE_TIMEOUT", idle.0);
    let (push, took) = run(c);
    let stderr = push.stderr();
    eprintln!(
        "image build --push, registry stopped reading: failed after {took:?} (the build alone: {build_only:?})"
    );
    push.expect(1);
    assert!(
        took < build_only + idle.1 + SLACK,
        "{took:?} (build alone {build_only:?})"
    );
    assert!(
        !stderr.contains("\nmanifest sha256:"),
        "the build went on to the end: {stderr}"
    );
    assert!(
        stderr.contains(&format!(
            "error: registry {} stopped reading the upload of blob sha256:",
            proxy.host()
        )),
        "{stderr}"
    );
    assert!(
        stderr.contains("(24.0 MiB) for 1s (")
            && stderr.contains("idle limit WHARF_NET_IDLE_TIMEOUT)"),
        "{stderr}"
    );
    assert!(!stderr.contains("_state"), "{stderr}");
    assert!(proxy.stalled() >= 1);
    // Nothing was tagged.
    let inspect = p.wharf(&[
        "image",
        "inspect",
        &format!("127.0.0.1:{}/stall/app:1", registry.port),
    ]);
    assert_eq!(inspect.code(), 1, "{}", inspect.stderr());
}

#[test]
fn image_push_to_a_registry_that_stops_reading_fails_within_the_idle_limit() {
    let registry = Registry::start(Auth::None);
    let proxy = FaultProxy::start(registry.port, Fault::StallUpload { after: 256 << 10 });
    let p = big_app(1);
    p.wharf(&["image", "build", "--layer", "app:/app", "-o", "layout"])
        .expect(0);
    let reference = format!("{}/stall/pushed:1", proxy.host());
    let mut c = p.cmd(&["image", "push", "layout", &reference]);
    c.env("WHARF_NET_IDLE_TIMEOUT", IDLE.0);
    let (push, took) = run(c);
    eprintln!("image push, registry stopped reading: failed after {took:?}");
    let stderr = push.stderr();
    push.expect(1);
    assert!(took < IDLE.1 + SLACK, "{took:?}");
    assert!(
        stderr.contains(&format!(
            "error: registry {} stopped reading the upload of blob sha256:",
            proxy.host()
        )) && stderr.contains("(24.0 MiB) for 2s ("),
        "{stderr}"
    );
    assert!(!stderr.contains("_state"), "{stderr}");

    // A limit that is not a duration is a usage error, before anything is sent.
    let mut c = p.cmd(&["image", "push", "layout", &reference]);
    c.env("WHARF_NET_IDLE_TIMEOUT", "soon");
    let connections = proxy.connections();
    let (bad, _) = run(c);
    assert!(
        bad.stderr()
            .contains("error: WHARF_NET_IDLE_TIMEOUT `soon` is not a valid limit"),
        "{}",
        bad.stderr()
    );
    bad.expect(2);
    assert_eq!(proxy.connections(), connections);
}

#[test]
fn registry_retries_show_in_the_step_output_as_they_happen() {
    let registry = Registry::start(Auth::None);
    let proxy = FaultProxy::start(
        registry.port,
        Fault::Unavailable {
            count: 2,
            matching: "/blobs/uploads/",
        },
    );
    let pipeline = format!(
        "version: 1\njobs:\n  image:\n    steps:\n      - build-image:\n          layers: [{{ src: app/, dest: /app/ }}]\n          image: {}/retry/app\n          push: true\n",
        proxy.host()
    );
    let p = Project::new(&pipeline);
    p.write("app/hello.txt", "hello\n");
    p.git_init();
    let run = p.wharf(&["run", "--plain"]).expect(0);
    let stderr = run.stderr();
    let retries: Vec<&str> = stderr
        .lines()
        .filter(|l| l.contains("retrying blob sha256:"))
        .collect();
    assert_eq!(retries.len(), 2, "{stderr}");
    assert!(
        retries
            .iter()
            .all(|l| l.starts_with("[image] retrying blob sha256:") && l.ends_with(" after 503")),
        "{stderr}"
    );
    assert_eq!(proxy.injected().len(), 2);
}

const TOKEN: &str = "pypi-net-cli-token-5e2f";

/// A wheel of `wharf-tiny` in the project's `dist/`.
fn wheel(p: &Project, version: &str) -> std::path::PathBuf {
    std::fs::create_dir_all(p.path().join("dist")).unwrap();
    crate::publish::wheel(&p.path().join("dist"), version, "hi")
}

#[test]
fn publish_python_to_an_index_that_never_answers_fails_within_the_idle_limit() {
    let index = PyPiServer::start(TOKEN);
    let proxy = FaultProxy::start(index.port, Fault::NeverAnswer);
    let p = Project::new("version: 1\njobs:\n  a:\n    run: \"true\"\n");
    let whl = wheel(&p, "1.0.0");
    let mut c = p.cmd(&[
        "publish",
        "python",
        "--repository",
        &format!("http://{}/", proxy.host()),
    ]);
    c.arg(&whl).env("WHARF_NET_IDLE_TIMEOUT", IDLE.0);
    let (publish, took) = run(c);
    eprintln!("publish python, index never answered: failed after {took:?}");
    let stderr = publish.stderr();
    publish.expect(1);
    assert!(took < IDLE.1 + SLACK, "{took:?}");
    assert!(took >= IDLE.1, "{took:?}");
    assert!(
        stderr.contains(&format!(
            "error: index {} did not answer the request for the page of wharf-tiny for 2s (idle limit WHARF_NET_IDLE_TIMEOUT)",
            proxy.host()
        )),
        "{stderr}"
    );
}

#[test]
fn index_retries_show_in_the_step_output_and_the_upload_lands() {
    let index = PyPiServer::start(TOKEN);
    let proxy = FaultProxy::start(
        index.port,
        Fault::Unavailable {
            count: 2,
            matching: "",
        },
    );
    let pipeline = format!(
        "version: 1\njobs:\n  publish:\n    secrets: [PYPI_TOKEN]\n    steps:\n      - publish-python: {{ repository: \"http://{}/\", files: \"dist/*.whl\", token: PYPI_TOKEN }}\n",
        proxy.host()
    );
    let p = Project::new(&pipeline);
    wheel(&p, "3.0.0");
    let out = p
        .cmd(&["run", "--plain", "--secrets-from-env"])
        .env("PYPI_TOKEN", TOKEN)
        .stdin(Stdio::null())
        .output()
        .unwrap();
    let run = Run { out }.expect(0);
    let stderr = run.stderr();
    let lines: Vec<&str> = stderr
        .lines()
        .filter(|l| l.contains("retrying") || l.contains(": uploaded"))
        .collect();
    assert_eq!(
        lines[..2],
        [
            "[publish] retrying index page of wharf-tiny (2/5) after 503",
            "[publish] retrying index page of wharf-tiny (3/5) after 503",
        ],
        "{stderr}"
    );
    assert!(
        lines[2].starts_with("[publish] wharf_tiny-3.0.0-py3-none-any.whl: uploaded"),
        "{stderr}"
    );
    assert!(
        index
            .packages()
            .join("wharf_tiny-3.0.0-py3-none-any.whl")
            .is_file()
    );
}
