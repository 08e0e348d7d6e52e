//! `wharf package create|verify` through the binary.

use std::os::unix::fs::PermissionsExt;

use crate::helper::Project;

fn project() -> Project {
    let p = Project::new("version: 1\njobs:\n  a:\n    run: \"true\"\n");
    p.write("dist/app.whl", "wheel bytes\n");
    p.write("bin/run.sh", "#!/bin/sh\necho run\n");
    std::fs::set_permissions(
        p.path().join("bin/run.sh"),
        std::fs::Permissions::from_mode(0o755),
    )
    .unwrap();
    p
}

#[test]
fn packages_are_reproducible_verified_and_stored() {
    let p = project();
    let build = |out: &str| {
        p.cmd(&[
            "package",
            "create",
            "dist",
            "bin/run.sh",
            "-o",
            out,
            "--release-version",
            "1.2.3",
            "--json",
        ])
        .env("SOURCE_DATE_EPOCH", "1700000000")
        .output()
        .unwrap()
    };
    let first = build("pkg-a.tar.gz");
    assert!(
        first.status.success(),
        "{}",
        String::from_utf8_lossy(&first.stderr)
    );
    let a: serde_json::Value = serde_json::from_slice(&first.stdout).unwrap();
    assert_eq!(a["manifest"]["version"], "1.2.3");
    assert_eq!(a["manifest"]["files"].as_array().unwrap().len(), 2);
    let stored = a["stored_at"].as_str().unwrap();
    assert!(
        std::path::Path::new(stored).is_file(),
        "stored content-addressed"
    );
    // touching the files changes nothing: same bytes, same digest
    std::thread::sleep(std::time::Duration::from_millis(1100));
    p.write("dist/app.whl", "wheel bytes\n");
    // into a directory that does not exist yet
    let second = build("release/new/pkg-b.tar.gz");
    assert!(
        second.status.success(),
        "{}",
        String::from_utf8_lossy(&second.stderr)
    );
    let b: serde_json::Value = serde_json::from_slice(&second.stdout).unwrap();
    assert_eq!(a["sha256"], b["sha256"]);
    assert_eq!(
        std::fs::read(p.path().join("pkg-a.tar.gz")).unwrap(),
        std::fs::read(p.path().join("release/new/pkg-b.tar.gz")).unwrap()
    );

    let ok = p
        .wharf(&["package", "verify", "pkg-a.tar.gz", "--json"])
        .expect(0)
        .json();
    assert_eq!(ok["valid"], true);
    assert_eq!(ok["sha256"], a["sha256"]);
    let exe = ok["manifest"]["files"]
        .as_array()
        .unwrap()
        .iter()
        .find(|f| f["path"] == "bin/run.sh")
        .unwrap()
        .clone();
    assert_eq!(exe["mode"].as_u64().unwrap() & 0o777, 0o755);

    // a damaged package fails the check (exit 1) and says why
    let bytes = std::fs::read(p.path().join("pkg-a.tar.gz")).unwrap();
    std::fs::write(p.path().join("broken.tar.gz"), &bytes[..bytes.len() / 2]).unwrap();
    let r = p.wharf(&["package", "verify", "broken.tar.gz"]).expect(1);
    assert!(r.stderr().contains("broken.tar.gz"), "{}", r.stderr());
}

#[test]
fn paths_outside_the_directory_and_missing_ones_are_refused() {
    let p = project();
    let r = p
        .wharf(&["package", "create", "../x", "-o", "out.tar.gz"])
        .expect(2);
    assert!(r.stderr().contains("../x"), "{}", r.stderr());
    let r = p
        .wharf(&["package", "create", "nope", "-o", "out.tar.gz"])
        .expect(2);
    assert!(r.stderr().contains("nope"), "{}", r.stderr());
    assert!(
        !p.path().join("out.tar.gz").exists(),
        "no half-written package"
    );
    p.wharf(&["package", "verify", "missing.tar.gz"]).expect(2);
}

#[test]
fn the_package_step_records_the_package_and_passes_it_on() {
    let p = Project::new(
        r#"version: 1
workspace: shared
env: { SOURCE_DATE_EPOCH: "1700000000" }
jobs:
  pack:
    steps:
      - package: { paths: [dist, bin/run.sh], output: "out/app-${{ version }}.tar.gz" }
  clean:
    needs: [pack]
    run: rm out/app-2.0.0.tar.gz
  check:
    needs: [clean]
    run: test -s out/app-2.0.0.tar.gz
"#,
    );
    p.allow_settings(&["workspace.shared"]);
    p.write("dist/app.whl", "wheel bytes\n");
    p.write("bin/run.sh", "#!/bin/sh\necho run\n");
    p.git_init();
    p.tag("v2.0.0");
    let run = p
        .wharf(&["run", "--plain", "--event", "tag", "--tag", "v2.0.0"])
        .expect(0);
    assert!(
        run.stderr()
            .contains("packaged 2 files into out/app-2.0.0.tar.gz"),
        "{}",
        run.stderr()
    );
    let show = p.wharf(&["show", "1", "--json"]).expect(0).json();
    let produced = &show["jobs"][0]["produced"][0];
    assert_eq!(produced["kind"], "package");
    assert_eq!(produced["name"], "out/app-2.0.0.tar.gz");
    assert_eq!(
        show["jobs"][0]["artifacts"][0]["path"],
        "out/app-2.0.0.tar.gz"
    );
    // restored for `check` from the artifact store, and it verifies
    p.wharf(&["package", "verify", "out/app-2.0.0.tar.gz"])
        .expect(0);
    let digest = produced["digest"].as_str().unwrap();
    let sha = format!(
        "sha256:{}",
        show["jobs"][0]["artifacts"][0]["sha256"].as_str().unwrap()
    );
    assert_eq!(digest, sha);
}

#[test]
fn the_package_step_refuses_paths_outside_the_workspace() {
    let p = Project::new(
        "version: 1\njobs:\n  pack:\n    steps:\n      - package: { paths: [../etc], output: /tmp/x.tar.gz }\n",
    );
    let run = p.wharf(&["run", "--plain"]).expect(1);
    assert!(
        run.stderr().contains(
            "`paths: ../etc` must be a path inside the workspace (no leading `/`, no `..`)"
        ),
        "{}",
        run.stderr()
    );
}
