//! `build-image` and `wharf image build` through the binary, checked with skopeo and,
//! where the image runs, a real Docker Engine (.ci/run starts dockerd).

use std::process::Command;

use crate::helper::Project;

/// A project with a busybox root filesystem (Debian's busybox-static) and an app file.
fn project(pipeline: &str) -> Project {
    let p = Project::new(pipeline);
    p.allow_settings(&["workspace.shared"]);
    p.write("app/hello.txt", "hello from the image\n");
    p.write(".gitignore", ".wharf/\nrootfs/\n");
    let script = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../../examples/python-app/scripts/base-rootfs.sh");
    let st = Command::new(script)
        .arg(p.path().join("rootfs"))
        .status()
        .unwrap();
    assert!(
        st.success(),
        "busybox-static is needed (.ci/run installs it)"
    );
    p.git_init();
    p
}

fn skopeo_inspect(layout_ref: &str) -> serde_json::Value {
    let out = Command::new("skopeo")
        .args(["inspect", layout_ref])
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "skopeo inspect {layout_ref}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    serde_json::from_slice(&out.stdout).unwrap()
}

const PIPELINE: &str = r#"version: 1
workspace: shared
env: { SOURCE_DATE_EPOCH: "1700000000" }
jobs:
  image:
    steps:
      - build-image:
          layers: [{ src: rootfs/, dest: / }, { src: app/, dest: /app/ }]
          entrypoint: [/bin/sh, -c, "cat /app/hello.txt"]
          labels: { org.example.team: web }
          output: out/image
      - run: echo "digest=$WHARF_IMAGE_DIGEST"
  after:
    needs: [image]
    run: echo "after=$WHARF_IMAGE_DIGEST"
"#;

#[test]
fn the_build_image_step_builds_a_reproducible_image_that_runs() {
    let p = project(PIPELINE);
    p.tag("v1.2.3");
    let run = p
        .wharf(&["run", "--plain", "--event", "tag", "--tag", "v1.2.3"])
        .expect(0);
    let stderr = run.stderr();
    let digest = stderr
        .lines()
        .find_map(|l| l.strip_prefix("[image] digest="))
        .unwrap_or_else(|| panic!("{stderr}"))
        .to_string();
    assert!(digest.starts_with("sha256:"), "{stderr}");
    assert!(
        stderr.contains(&format!("[after] after={digest}")),
        "later jobs get it too:\n{stderr}"
    );
    let inspect = skopeo_inspect(&format!(
        "oci:{}:1.2.3",
        p.path().join("out/image").display()
    ));
    assert_eq!(inspect["Digest"], digest);
    assert_eq!(
        inspect["Labels"]["org.opencontainers.image.version"],
        "1.2.3"
    );
    assert_eq!(inspect["Labels"]["org.example.team"], "web");
    assert_eq!(
        inspect["Labels"]["org.opencontainers.image.created"],
        "2023-11-14T22:13:20Z"
    );
    assert_eq!(
        inspect["Labels"]["org.opencontainers.image.revision"],
        p.git(&["rev-parse", "HEAD"])
    );
    // the same inputs give the same image, even after touching the files
    std::thread::sleep(std::time::Duration::from_millis(1100));
    p.write("app/hello.txt", "hello from the image\n");
    std::fs::remove_dir_all(p.path().join("out")).unwrap();
    std::fs::remove_dir_all(p.path().join(".wharf/cache")).unwrap();
    let again = p
        .wharf(&["run", "--plain", "--event", "tag", "--tag", "v1.2.3"])
        .expect(0);
    assert!(
        again.stderr().contains(&format!("[image] digest={digest}")),
        "{}",
        again.stderr()
    );
    let show = p.wharf(&["show", "--json"]).expect(0).json();
    assert_eq!(show["jobs"][0]["produced"][0]["kind"], "image");
    assert_eq!(show["jobs"][0]["produced"][0]["digest"], digest.as_str());
    // and it runs in a real engine
    let tag = format!("wharf-test-image:{}", &digest[7..19]);
    let copy = Command::new("skopeo")
        .args(["copy", "-q"])
        .arg(format!(
            "oci:{}:1.2.3",
            p.path().join("out/image").display()
        ))
        .arg(format!("docker-daemon:{tag}"))
        .status()
        .unwrap();
    assert!(
        copy.success(),
        "skopeo copy to the Docker Engine (is dockerd running?)"
    );
    let out = Command::new("docker")
        .args(["run", "--rm", &tag])
        .output()
        .unwrap();
    let _ = Command::new("docker").args(["rmi", "-f", &tag]).output();
    assert_eq!(
        String::from_utf8_lossy(&out.stdout),
        "hello from the image\n"
    );
}

#[test]
fn wharf_image_build_on_the_command_line_and_its_errors() {
    let p = project("version: 1\njobs:\n  a:\n    run: \"true\"\n");
    let run = p
        .cmd(&[
            "image",
            "build",
            "--layer",
            "rootfs/:/",
            "--layer",
            "app/:/app/",
            "--cmd",
            r#"["/bin/cat","/app/hello.txt"]"#,
            "--output",
            "img",
            "--release-version",
            "2.0.0",
            "--json",
        ])
        .env("SOURCE_DATE_EPOCH", "1700000000")
        .output()
        .unwrap();
    assert!(
        run.status.success(),
        "{}",
        String::from_utf8_lossy(&run.stderr)
    );
    let produced: serde_json::Value = serde_json::from_slice(&run.stdout).unwrap();
    assert_eq!(produced[0]["kind"], "image");
    let inspect = skopeo_inspect(&format!("oci:{}:2.0.0", p.path().join("img").display()));
    assert_eq!(inspect["Digest"], produced[0]["digest"]);
    for (args, code, message) in [
        (&["image", "build"][..], 2, "error: nothing to build"),
        (
            &["image", "build", "--layer", "app"][..],
            2,
            "error: --layer `app` is not SRC:DEST",
        ),
        (
            &["image", "build", "--layer", "app:app"][..],
            2,
            "the destination must be absolute",
        ),
        (
            &["image", "build", "--layer", "app:/app", "--cmd", "[1,"][..],
            2,
            "is not a JSON array of strings",
        ),
        (
            &["image", "build", "--layer", "missing/:/x/"][..],
            1,
            "missing",
        ),
    ] {
        let r = p.wharf(args).expect(code);
        assert!(r.stderr().contains(message), "{args:?}: {}", r.stderr());
    }
}

#[test]
fn the_build_image_step_sets_cmd_user_and_workdir_in_the_config() {
    let p = Project::new(
        r#"version: 1
workspace: shared
jobs:
  build:
    steps:
      - build-image:
          layers: [{ src: www/, dest: /srv/ }]
          cmd: [httpd, -f]
          user: "1000:1000"
          workdir: /srv
          output: out/cfg
"#,
    );
    p.allow_settings(&["workspace.shared"]);
    p.write("www/index.html", "hi\n");
    p.wharf(&["run", "--plain"]).expect(0);
    let image = p
        .wharf(&["image", "inspect", "oci-layout:out/cfg", "--json"])
        .expect(0)
        .json();
    let config = &image["config"];
    assert_eq!(config["Cmd"], serde_json::json!(["httpd", "-f"]));
    assert_eq!(config["User"], "1000:1000");
    assert_eq!(config["WorkingDir"], "/srv");
}
