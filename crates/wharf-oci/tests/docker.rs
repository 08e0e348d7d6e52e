//! Dockerfile builds against the real Docker Engine (started by `.ci/run`), read back
//! with the tools a user would use on the resulting layout: skopeo and umoci.

use std::fs;
use std::path::Path;

use wharf_oci::docker::{DockerBuildRequest, DockerError, docker_build};
use wharf_oci::{Digest, Error};
use wharf_test_support::docker::{busybox_image, docker, docker_ok};
use wharf_test_support::{require_program, run_ok as run};

fn write(root: &Path, rel: &str, text: &str) {
    let path = root.join(rel);
    fs::create_dir_all(path.parent().unwrap()).unwrap();
    fs::write(path, text).unwrap();
}

/// Builds `dockerfile` (at `Dockerfile` in a fresh context) and returns the error.
async fn failing_build(dockerfile: &str) -> (DockerError, Vec<String>) {
    let dir = tempfile::tempdir().unwrap();
    write(dir.path(), "ctx/Dockerfile", dockerfile);
    let req = DockerBuildRequest::new(dir.path().join("ctx"), dir.path().join("oci"), "latest");
    let mut lines = Vec::new();
    match docker_build(&req, |l| lines.push(l.to_owned())).await {
        Err(Error::Docker(e)) => (e, lines),
        other => panic!("expected a build failure, got {other:?}"),
    }
}

#[tokio::test]
async fn a_dockerfile_build_lands_in_an_oci_layout_that_skopeo_and_umoci_read() {
    require_program("skopeo", "skopeo");
    require_program("umoci", "umoci");
    let base = busybox_image();
    let dir = tempfile::tempdir().unwrap();
    let ctx = dir.path().join("ctx");
    write(&ctx, "hello.txt", "hello from wharf\n");
    // Several upload chunks and a layer of some size, in incompressible bytes.
    let data: Vec<u8> = (0u64..3 << 20)
        .scan(0x2545_f491_4f6c_dd1d_u64, |x, _| {
            *x ^= *x << 13;
            *x ^= *x >> 7;
            *x ^= *x << 17;
            Some(*x as u8)
        })
        .collect();
    fs::write(ctx.join("data.bin"), &data).unwrap();
    write(&ctx, "secret.env", "TOKEN=not-for-the-image\n");
    write(&ctx, "notes/todo.md", "left out\n");
    write(&ctx, ".dockerignore", "*.env\nnotes\n");
    // Two stages: `target` stops at the first, so the failing second one never runs.
    write(
        &ctx,
        "docker/app.Dockerfile",
        &format!(
            "FROM {base} AS app\n\
             ARG GREETING=unset\n\
             COPY hello.txt /app/hello.txt\n\
             COPY data.bin /app/data.bin\n\
             COPY . /ctx/\n\
             RUN echo \"$GREETING\" > /app/greeting && ls -a /ctx > /app/ctx-list\n\
             CMD [\"cat\", \"/app/hello.txt\"]\n\
             \n\
             FROM app AS broken\n\
             RUN false\n"
        ),
    );
    let layout_dir = dir.path().join("oci");
    let engine_tag = "wharf-test-dockerfile-build:latest";
    let mut req = DockerBuildRequest::new(&ctx, &layout_dir, "v1");
    req.dockerfile = "docker/app.Dockerfile".into();
    req.build_args.insert("GREETING".into(), "hi there".into());
    req.target = Some("app".into());
    req.labels.insert(
        "org.opencontainers.image.title".into(),
        "wharf docker test".into(),
    );
    req.engine_tag = Some(engine_tag.into());
    let mut lines = Vec::new();
    let built = docker_build(&req, |l| lines.push(l.to_owned()))
        .await
        .unwrap();

    assert!(
        lines.iter().any(|l| l.starts_with("Step 1/")),
        "build output is relayed: {lines:?}"
    );
    assert!(
        !lines.iter().any(|l| l.contains("RUN false")),
        "the target stage is honoured: {lines:?}"
    );
    let engine_id = docker_ok(&["image", "inspect", "--format", "{{.Id}}", engine_tag]);
    assert_eq!(built.image_id.as_str(), engine_id);
    assert_eq!(
        built.config, built.image_id,
        "the config digest is the engine's image id"
    );
    assert_eq!(
        built.layout.read_blob(&built.config).unwrap().len() as u64,
        {
            let manifest: serde_json::Value = serde_json::from_slice(
                &built
                    .layout
                    .read_blob(&Digest::from_oci(built.manifest.digest()).unwrap())
                    .unwrap(),
            )
            .unwrap();
            manifest["config"]["size"].as_u64().unwrap()
        }
    );

    let reference = format!("oci:{}:v1", layout_dir.display());
    let inspect: serde_json::Value =
        serde_json::from_str(&run("skopeo", &["inspect", &reference])).unwrap();
    assert_eq!(
        inspect["Digest"].as_str(),
        Some(built.manifest.digest().to_string().as_str())
    );
    assert_eq!(
        inspect["Labels"]["org.opencontainers.image.title"],
        "wharf docker test"
    );
    let layers: Vec<&str> = inspect["Layers"]
        .as_array()
        .unwrap()
        .iter()
        .map(|l| l.as_str().unwrap())
        .collect();
    let ours: Vec<&str> = built.layers.iter().map(|l| l.digest.as_str()).collect();
    assert_eq!(layers, ours);
    assert!(
        built.layers.len() >= 5,
        "base + three COPY + RUN: {:?}",
        built.layers
    );

    let bundle = dir.path().join("bundle");
    run(
        "umoci",
        &[
            "unpack",
            "--rootless",
            "--image",
            &format!("{}:v1", layout_dir.display()),
            bundle.to_str().unwrap(),
        ],
    );
    let rootfs = bundle.join("rootfs");
    assert_eq!(
        fs::read_to_string(rootfs.join("app/hello.txt")).unwrap(),
        "hello from wharf\n"
    );
    assert_eq!(
        fs::read_to_string(rootfs.join("app/greeting")).unwrap(),
        "hi there\n"
    );
    let listed = fs::read_to_string(rootfs.join("app/ctx-list")).unwrap();
    let listed: Vec<&str> = listed.lines().collect();
    for present in [".dockerignore", "docker", "hello.txt"] {
        assert!(
            listed.contains(&present),
            "{present} is in the context: {listed:?}"
        );
    }
    for absent in ["secret.env", "notes"] {
        assert!(
            !listed.contains(&absent),
            "{absent} is .dockerignored: {listed:?}"
        );
    }
    assert!(
        rootfs.join("bin/busybox").is_file(),
        "the base layer is there"
    );
    assert!(
        fs::read(rootfs.join("app/data.bin")).unwrap() == data,
        "data.bin arrives intact"
    );
    let runtime: serde_json::Value =
        serde_json::from_str(&fs::read_to_string(bundle.join("config.json")).unwrap()).unwrap();
    assert_eq!(
        runtime["process"]["args"],
        serde_json::json!(["cat", "/app/hello.txt"])
    );

    // Building again is served from the engine's cache and retags the same image.
    let again = docker_build(&req, |_| {}).await.unwrap();
    assert_eq!(
        again.manifest.digest(),
        built.manifest.digest(),
        "same image, same gzip bytes, same manifest"
    );
    let _ = docker(&["image", "rm", engine_tag]);
}

#[tokio::test]
async fn a_failing_run_reports_the_engine_error_and_the_last_output_lines() {
    let base = busybox_image();
    let (err, lines) =
        failing_build(&format!("FROM {base}\nRUN echo about to fail && exit 3\n")).await;
    let DockerError::BuildFailed {
        message,
        last_lines,
    } = &err
    else {
        panic!("{err:?}")
    };
    assert!(message.contains("returned a non-zero code: 3"), "{message}");
    assert!(
        last_lines.iter().any(|l| l == "about to fail"),
        "{last_lines:?}"
    );
    assert!(
        lines.iter().any(|l| l == "about to fail"),
        "progress saw it too: {lines:?}"
    );
    let text = err.to_string();
    assert!(text.starts_with("docker build failed: "), "{text}");
    assert!(
        text.contains("\nlast output:\n") && text.contains("\n  about to fail"),
        "{text}"
    );
}

#[tokio::test]
async fn a_bad_dockerfile_reports_the_parse_error() {
    busybox_image();
    let (err, _) = failing_build("FROMM wharf-test-busybox:1\n").await;
    let text = err.to_string();
    assert!(text.starts_with("docker build failed: "), "{text}");
    assert!(text.contains("unknown instruction: FROMM"), "{text}");
}

#[tokio::test]
async fn a_missing_dockerfile_is_reported_before_the_engine_is_asked() {
    let dir = tempfile::tempdir().unwrap();
    write(dir.path(), "ctx/Dockerfile", "FROM scratch\n");
    let mut req = DockerBuildRequest::new(dir.path().join("ctx"), dir.path().join("oci"), "latest");
    req.dockerfile = "build/Dockerfile.release".into();
    // No engine there: the Dockerfile check must come first.
    req.host = Some("unix:///nonexistent/wharf-test/docker.sock".into());
    let err = docker_build(&req, |_| {}).await.unwrap_err().to_string();
    let expected = format!(
        "no Dockerfile at {}",
        dir.path().join("ctx/build/Dockerfile.release").display()
    );
    assert!(err.starts_with(&expected), "{err}");
    assert!(
        err.contains("hint: `dockerfile:` is relative to the build context"),
        "{err}"
    );
}

#[tokio::test]
async fn no_engine_is_a_clear_error_with_a_hint() {
    let dir = tempfile::tempdir().unwrap();
    write(dir.path(), "ctx/Dockerfile", "FROM scratch\n");
    let mut req = DockerBuildRequest::new(dir.path().join("ctx"), dir.path().join("oci"), "latest");
    req.host = Some("unix:///nonexistent/wharf-test/docker.sock".into());
    let err = docker_build(&req, |_| {}).await.unwrap_err().to_string();
    assert!(
        err.starts_with(
            "no Docker Engine reachable at unix:///nonexistent/wharf-test/docker.sock: "
        ),
        "{err}"
    );
    assert!(
        err.ends_with(
            "hint: start dockerd or use build-image without `dockerfile:` (the daemonless builder)"
        ),
        "{err}"
    );
    assert!(
        !dir.path().join("oci").exists(),
        "no layout is created for a build that never ran"
    );
}

#[tokio::test]
async fn a_context_that_cannot_be_sent_is_reported_rather_than_the_failed_upload() {
    let base = busybox_image();
    let dir = tempfile::tempdir().unwrap();
    write(
        dir.path(),
        "ctx/Dockerfile",
        &format!("FROM {base}\nCOPY . /ctx/\n"),
    );
    // Read while the context is being streamed: the upload breaks off mid-request.
    write(dir.path(), "ctx/.dockerignore", "target\n[unclosed\n");
    let req = DockerBuildRequest::new(dir.path().join("ctx"), dir.path().join("oci"), "latest");
    let err = docker_build(&req, |_| {}).await.unwrap_err().to_string();
    assert!(err.starts_with(".dockerignore line 2: "), "{err}");
}

/// The engine's unix socket, as `DOCKER_HOST` or the default names it.
fn engine_socket() -> String {
    let host = wharf_oci::docker::default_docker_host();
    host.strip_prefix("unix://")
        .unwrap_or_else(|| panic!("these tests expect the engine on a unix socket, not {host}"))
        .to_owned()
}

#[tokio::test]
async fn a_tcp_docker_host_is_spoken_to_over_plain_http() {
    let base = busybox_image();
    // dockerd listens on its socket only; a relay on 127.0.0.1 stands in for `-H tcp://`.
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let port = listener.local_addr().unwrap().port();
    let socket = engine_socket();
    let connections = std::sync::Arc::new(std::sync::atomic::AtomicUsize::new(0));
    let counted = connections.clone();
    let relay = tokio::spawn(async move {
        loop {
            let (mut tcp, _) = listener.accept().await.unwrap();
            counted.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
            let mut unix = tokio::net::UnixStream::connect(&socket).await.unwrap();
            tokio::spawn(async move {
                let _ = tokio::io::copy_bidirectional(&mut tcp, &mut unix).await;
            });
        }
    });
    let dir = tempfile::tempdir().unwrap();
    write(
        dir.path(),
        "ctx/Dockerfile",
        &format!("FROM {base}\nCMD [\"true\"]\n"),
    );
    let mut req = DockerBuildRequest::new(dir.path().join("ctx"), dir.path().join("oci"), "tcp");
    req.host = Some(format!("tcp://127.0.0.1:{port}"));
    let built = docker_build(&req, |_| {}).await.unwrap();
    relay.abort();
    assert!(
        connections.load(std::sync::atomic::Ordering::Relaxed) > 0,
        "the relay was used"
    );
    let base_id = docker_ok(&["image", "inspect", "--format", "{{.Id}}", base]);
    assert_ne!(built.image_id.as_str(), base_id, "CMD makes a new config");
    assert_eq!(
        built.layers.len(),
        1,
        "and no new layer: {:?}",
        built.layers
    );
    assert_eq!(built.layout.resolve(Some("tcp")).unwrap(), built.manifest);
    let _ = docker(&["image", "rm", built.image_id.as_str()]);
}
