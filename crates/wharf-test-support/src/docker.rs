//! The Docker Engine for tests of Dockerfile builds, and a base image they can build on
//! with no registry in reach.
//!
//! Tests do not start dockerd: it needs root and outlives a test, so `.ci/run` starts it
//! once. [`require_engine`] panics with that hint when no engine answers, rather than
//! letting the tests skip. The base image, [`BUSYBOX_IMAGE`], is imported from Debian's
//! static busybox (`busybox-static`): a shell and the usual tools in one file.

use std::path::Path;
use std::process::{Command, Output};
use std::sync::OnceLock;

/// The base image the tests' Dockerfiles start `FROM`.
pub const BUSYBOX_IMAGE: &str = "wharf-test-busybox:1";

/// Where Debian's `busybox-static` installs the binary.
const BUSYBOX_BINARY: &str = "/bin/busybox";

/// Runs the `docker` CLI and returns its output, whatever the exit status.
pub fn docker(args: &[&str]) -> Output {
    Command::new("docker")
        .args(args)
        .output()
        .unwrap_or_else(|e| panic!("cannot run `docker {}`: {e}", args.join(" ")))
}

/// Runs the `docker` CLI, panicking with its stderr when it fails; returns stdout, trimmed.
pub fn docker_ok(args: &[&str]) -> String {
    crate::run_ok("docker", args).trim().to_owned()
}

/// Panics with a hint unless a Docker Engine answers (at `DOCKER_HOST` or the default
/// socket, as the `docker` CLI resolves it).
pub fn require_engine() {
    static CHECKED: OnceLock<()> = OnceLock::new();
    CHECKED.get_or_init(|| {
        crate::require_program("docker", "docker.io");
        let out = docker(&["version", "--format", "{{.Server.Version}}"]);
        assert!(
            out.status.success(),
            "no Docker Engine answers ({}): {}\nhint: start dockerd first (`.ci/run` does: \
             `dockerd >/tmp/dockerd.log 2>&1 &`)",
            std::env::var("DOCKER_HOST")
                .unwrap_or_else(|_| "unix:///var/run/docker.sock".to_owned()),
            String::from_utf8_lossy(&out.stderr).trim()
        );
    });
}

/// Makes sure the engine has [`BUSYBOX_IMAGE`], importing it when missing, and returns
/// its name. Idempotent, and safe to call from several tests at once.
pub fn busybox_image() -> &'static str {
    static IMPORTED: OnceLock<()> = OnceLock::new();
    IMPORTED.get_or_init(|| {
        require_engine();
        if docker(&["image", "inspect", BUSYBOX_IMAGE])
            .status
            .success()
        {
            return;
        }
        assert!(
            Path::new(BUSYBOX_BINARY).is_file(),
            "{BUSYBOX_BINARY} is missing; install busybox-static (.ci/run does)"
        );
        let dir = tempfile::tempdir().expect("cannot create a temporary directory");
        let root = dir.path().join("rootfs");
        std::fs::create_dir_all(root.join("bin")).unwrap();
        std::fs::create_dir_all(root.join("tmp")).unwrap();
        std::fs::copy(BUSYBOX_BINARY, root.join("bin/busybox")).unwrap();
        // The applets the tests' RUN lines use; busybox picks the applet by argv[0].
        for applet in [
            "sh", "cat", "echo", "ls", "mkdir", "touch", "false", "true", "test",
        ] {
            std::os::unix::fs::symlink("busybox", root.join("bin").join(applet)).unwrap();
        }
        let tarball = dir.path().join("rootfs.tar");
        let status = Command::new("tar")
            .arg("-C")
            .arg(&root)
            .arg("-cf")
            .arg(&tarball)
            .arg(".")
            .status()
            .expect("cannot run tar");
        assert!(
            status.success(),
            "tar of the busybox rootfs failed: {status}"
        );
        docker_ok(&[
            "import",
            "--change",
            "ENV PATH=/bin",
            "--change",
            "CMD [\"sh\"]",
            tarball.to_str().unwrap(),
            BUSYBOX_IMAGE,
        ]);
    });
    BUSYBOX_IMAGE
}
