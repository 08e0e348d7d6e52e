//! The daemonless builder, read back with the tools a user would use on its layout:
//! skopeo (inspect, copy) and umoci (unpack), on images from scratch and on a busybox base.

use std::collections::BTreeMap;
use std::fs;
use std::os::unix::fs::{PermissionsExt, symlink};
use std::path::{Path, PathBuf};

use serde_json::Value;
use wharf_oci::build::{
    Base, BuildEvent, BuildRequest, Built, Compression, LayerOrigin, LayerSpec, build,
};
use wharf_oci::{Digest, OciLayout};
use wharf_test_support::{require_program, run_ok as run};

const T0: i64 = 1_700_000_000;

fn write(root: &Path, rel: &str, bytes: &[u8], mode: u32) {
    let path = root.join(rel);
    fs::create_dir_all(path.parent().unwrap()).unwrap();
    fs::write(&path, bytes).unwrap();
    fs::set_permissions(&path, fs::Permissions::from_mode(mode)).unwrap();
}

/// Deterministic bytes that gzip cannot shrink much.
fn noise(seed: u64, len: usize) -> Vec<u8> {
    let mut x = seed.wrapping_mul(0x9e37_79b9_7f4a_7c15) | 1;
    (0..len)
        .map(|_| {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            x as u8
        })
        .collect()
}

/// A small app tree: nested dirs, an executable, a setuid file, an in-tree symlink.
fn app_tree(root: &Path) {
    write(root, "index.html", b"<h1>hi</h1>\n", 0o644);
    write(root, "bin/run", b"#!/bin/sh\necho run\n", 0o755);
    write(root, "bin/suid", b"x", 0o4755);
    write(root, "lib/deep/data.bin", &noise(1, 10_000), 0o600);
    symlink("../index.html", root.join("lib/index-link")).unwrap();
    fs::create_dir_all(root.join("empty")).unwrap();
}

/// A tree big enough to be split into several sub-layers (~12 MiB in 48 files).
fn big_tree(root: &Path) {
    for i in 0..48u64 {
        write(
            root,
            &format!("d{}/f{i:02}", i % 5),
            &noise(i, 256 * 1024),
            0o644,
        );
    }
}

fn request(out: &Path, src: &Path) -> BuildRequest {
    let mut req = BuildRequest::new(out, "v1");
    req.layers.push(LayerSpec {
        src: src.to_owned(),
        dest: "/app/".into(),
    });
    req.created = T0;
    req
}

fn quiet(req: &BuildRequest) -> Built {
    build(req, &|_: BuildEvent<'_>| {}).unwrap()
}

fn inspect(layout: &Path, tag: &str, config: bool) -> Value {
    let r = format!("oci:{}:{tag}", layout.display());
    let args: Vec<&str> = if config {
        vec!["inspect", "--config", &r]
    } else {
        vec!["inspect", &r]
    };
    serde_json::from_str(&run("skopeo", &args)).unwrap()
}

fn unpack(layout: &Path, tag: &str, bundle: &Path) -> PathBuf {
    let image = format!("{}:{tag}", layout.display());
    run(
        "umoci",
        &[
            "unpack",
            "--rootless",
            "--image",
            &image,
            bundle.to_str().unwrap(),
        ],
    );
    bundle.join("rootfs")
}

fn mode(path: &Path) -> u32 {
    fs::symlink_metadata(path).unwrap().permissions().mode() & 0o7777
}

fn manifest(layout: &Path, tag: &str) -> Value {
    let l = OciLayout::open(layout).unwrap();
    let d = Digest::from_oci(l.resolve(Some(tag)).unwrap().digest()).unwrap();
    serde_json::from_slice(&l.read_blob(&d).unwrap()).unwrap()
}

#[test]
fn scratch_image_has_the_config_and_files_asked_for() {
    require_program("skopeo", "skopeo");
    require_program("umoci", "umoci");
    let dir = tempfile::tempdir().unwrap();
    let src = dir.path().join("src");
    app_tree(&src);
    write(dir.path(), "tool", b"#!/bin/sh\n", 0o755);
    let out = dir.path().join("oci");
    let mut req = request(&out, &src);
    req.layers.push(LayerSpec {
        src: dir.path().join("tool"),
        dest: "/usr/local/bin/".into(),
    });
    req.config.entrypoint = Some(vec!["/app/bin/run".into()]);
    req.config.cmd = Some(vec!["--serve".into()]);
    req.config.env = vec![("MODE".into(), "prod".into())];
    req.config.workdir = Some("/app".into());
    req.config.user = Some("1000:1000".into());
    req.config.exposed_ports = vec!["8080".into(), "53/udp".into()];
    req.config.labels = BTreeMap::from([
        ("org.opencontainers.image.revision".into(), "abc123".into()),
        ("org.opencontainers.image.version".into(), "1.2.3".into()),
        ("team".into(), "web".into()),
    ]);
    let mut events = std::sync::Mutex::new(Vec::new());
    let built = build(&req, &|e: BuildEvent<'_>| {
        events.lock().unwrap().push(format!("{e:?}"))
    })
    .unwrap();
    let events = events.get_mut().unwrap();
    assert!(
        events.iter().any(|e| e.starts_with("Scanned")),
        "{events:?}"
    );
    assert!(events.last().unwrap().starts_with("Finished"), "{events:?}");
    assert_eq!(built.layers.len(), 2);
    assert!(built.layers.iter().all(|l| l.origin == LayerOrigin::Built));

    let info = inspect(&out, "v1", false);
    assert_eq!(info["Digest"], built.manifest_digest.as_str());
    assert_eq!(info["Architecture"], "amd64");
    assert_eq!(info["Os"], "linux");
    assert_eq!(info["Labels"]["team"], "web");
    assert_eq!(info["Layers"].as_array().unwrap().len(), 2);
    let cfg = inspect(&out, "v1", true);
    assert_eq!(cfg["created"], "2023-11-14T22:13:20Z");
    let c = &cfg["config"];
    assert_eq!(c["Entrypoint"], serde_json::json!(["/app/bin/run"]));
    assert_eq!(c["Cmd"], serde_json::json!(["--serve"]));
    assert_eq!(c["Env"], serde_json::json!(["MODE=prod"]));
    assert_eq!(c["WorkingDir"], "/app");
    assert_eq!(c["User"], "1000:1000");
    assert_eq!(
        c["ExposedPorts"],
        serde_json::json!({"8080/tcp": {}, "53/udp": {}})
    );
    assert_eq!(cfg["history"].as_array().unwrap().len(), 2);
    assert_eq!(cfg["rootfs"]["diff_ids"].as_array().unwrap().len(), 2);
    let m = manifest(&out, "v1");
    assert_eq!(
        m["annotations"],
        serde_json::json!({
            "org.opencontainers.image.revision": "abc123",
            "org.opencontainers.image.version": "1.2.3",
        })
    );
    assert_eq!(
        m["layers"][0]["mediaType"],
        "application/vnd.oci.image.layer.v1.tar+gzip"
    );

    let rootfs = unpack(&out, "v1", &dir.path().join("bundle"));
    assert_eq!(
        fs::read(rootfs.join("app/index.html")).unwrap(),
        b"<h1>hi</h1>\n"
    );
    assert_eq!(mode(&rootfs.join("app/bin/run")), 0o755);
    assert_eq!(
        mode(&rootfs.join("app/bin/suid")),
        0o755,
        "setuid is dropped"
    );
    assert_eq!(mode(&rootfs.join("app/lib/deep/data.bin")), 0o600);
    assert_eq!(
        fs::read_link(rootfs.join("app/lib/index-link")).unwrap(),
        Path::new("../index.html")
    );
    assert!(rootfs.join("app/empty").is_dir());
    assert_eq!(mode(&rootfs.join("usr/local/bin/tool")), 0o755);
    let mtime = fs::metadata(rootfs.join("app/index.html")).unwrap();
    assert_eq!(
        mtime.modified().unwrap(),
        std::time::UNIX_EPOCH + std::time::Duration::from_secs(T0 as u64)
    );
}

/// A busybox base made by umoci (another tool's layout), then an app on top of it.
fn umoci_busybox_base(dir: &Path) -> PathBuf {
    let rootfs = dir.join("base-rootfs");
    fs::create_dir_all(rootfs.join("bin")).unwrap();
    fs::copy("/bin/busybox", rootfs.join("bin/busybox")).unwrap();
    symlink("busybox", rootfs.join("bin/sh")).unwrap();
    let base = dir.join("base");
    let image = format!("{}:base", base.display());
    run("umoci", &["init", "--layout", base.to_str().unwrap()]);
    run("umoci", &["new", "--image", &image]);
    run(
        "umoci",
        &[
            "insert",
            "--rootless",
            "--image",
            &image,
            rootfs.to_str().unwrap(),
            "/",
        ],
    );
    run(
        "umoci",
        &[
            "config",
            "--image",
            &image,
            "--config.env",
            "PATH=/bin",
            "--config.cmd",
            "/bin/sh",
        ],
    );
    base
}

#[test]
fn an_app_on_a_busybox_base_extends_its_config_and_survives_skopeo_copy() {
    require_program("skopeo", "skopeo");
    require_program("umoci", "umoci");
    let dir = tempfile::tempdir().unwrap();
    let base = umoci_busybox_base(dir.path());
    let src = dir.path().join("src");
    app_tree(&src);
    let out = dir.path().join("oci");
    let mut req = request(&out, &src);
    req.base = Base::Layout {
        path: base.clone(),
        tag: Some("base".into()),
    };
    req.config.env = vec![("APP".into(), "1".into())];
    let built = quiet(&req);
    assert_eq!(built.layers[0].origin, LayerOrigin::Base);
    assert_eq!(built.layers.len(), 2);

    let cfg = inspect(&out, "v1", true);
    let c = &cfg["config"];
    assert_eq!(c["Env"], serde_json::json!(["PATH=/bin", "APP=1"]));
    assert_eq!(c["Cmd"], serde_json::json!(["/bin/sh"]), "inherited");
    let base_cfg = inspect(&base, "base", true);
    let base_diff = &base_cfg["rootfs"]["diff_ids"][0];
    assert_eq!(&cfg["rootfs"]["diff_ids"][0], base_diff);
    assert_eq!(
        cfg["history"].as_array().unwrap().len(),
        base_cfg["history"].as_array().map_or(0, Vec::len) + 1
    );
    let base_digest = inspect(&base, "base", false)["Digest"].clone();
    assert_eq!(
        manifest(&out, "v1")["annotations"]["org.opencontainers.image.base.digest"],
        base_digest
    );

    let rootfs = unpack(&out, "v1", &dir.path().join("bundle"));
    assert_eq!(
        fs::read_link(rootfs.join("bin/sh")).unwrap(),
        Path::new("busybox")
    );
    assert!(rootfs.join("bin/busybox").is_file());
    assert!(rootfs.join("app/bin/run").is_file());

    let copy = dir.path().join("copy");
    run(
        "skopeo",
        &[
            "copy",
            "-q",
            &format!("oci:{}:v1", out.display()),
            &format!("oci:{}:v1", copy.display()),
        ],
    );
    assert_eq!(
        inspect(&copy, "v1", false)["Digest"],
        built.manifest_digest.as_str()
    );
}

#[test]
fn a_base_with_docker_media_types_is_accepted() {
    require_program("umoci", "umoci");
    let dir = tempfile::tempdir().unwrap();
    let base = umoci_busybox_base(dir.path());
    // Rewrite the base as a Docker v2 schema 2 manifest, as `docker save` tools write it.
    let layout = OciLayout::open(&base).unwrap();
    let mut m = manifest(&base, "base");
    m["mediaType"] = "application/vnd.docker.distribution.manifest.v2+json".into();
    m["config"]["mediaType"] = "application/vnd.docker.container.image.v1+json".into();
    m["layers"][0]["mediaType"] = "application/vnd.docker.image.rootfs.diff.tar.gzip".into();
    let bytes = serde_json::to_vec(&m).unwrap();
    let d = layout.write_blob(&bytes).unwrap();
    let desc = oci_spec::image::Descriptor::new(
        oci_spec::image::MediaType::Other(
            "application/vnd.docker.distribution.manifest.v2+json".into(),
        ),
        bytes.len() as u64,
        d.to_oci(),
    );
    layout.set_tag("docker", &desc).unwrap();

    let src = dir.path().join("src");
    app_tree(&src);
    let out = dir.path().join("oci");
    let mut req = request(&out, &src);
    req.base = Base::Layout {
        path: base,
        tag: Some("docker".into()),
    };
    let built = quiet(&req);
    assert_eq!(
        built.layers[0].descriptor.media_type().to_string(),
        "application/vnd.oci.image.layer.v1.tar+gzip"
    );
    unpack(&out, "v1", &dir.path().join("bundle"));
}

#[test]
fn builds_are_reproducible_across_directories_and_mtimes() {
    let dir = tempfile::tempdir().unwrap();
    let a = dir.path().join("a");
    app_tree(&a);
    big_tree(&a.join("big"));
    let first = quiet(&request(&dir.path().join("oci1"), &a));
    assert!(first.layers.len() > 1, "the big tree is split");

    // The same tree elsewhere, every file with a new mtime.
    let b = dir.path().join("elsewhere/b");
    fs::create_dir_all(b.parent().unwrap()).unwrap();
    run("cp", &["-a", a.to_str().unwrap(), b.to_str().unwrap()]);
    run(
        "sh",
        &[
            "-c",
            &format!("find {} -exec touch -h -d @12345 {{}} +", b.display()),
        ],
    );
    let second = quiet(&request(&dir.path().join("oci2"), &b));
    assert_eq!(second.manifest_digest, first.manifest_digest);
    assert_eq!(second.config_digest, first.config_digest);

    // Same output layout again: same digest, index still holds one image.
    let again = quiet(&request(&dir.path().join("oci1"), &a));
    assert_eq!(again.manifest_digest, first.manifest_digest);

    write(&b, "index.html", b"<h1>changed</h1>\n", 0o644);
    let third = quiet(&request(&dir.path().join("oci3"), &b));
    assert_ne!(third.manifest_digest, first.manifest_digest);

    let mut later = request(&dir.path().join("oci4"), &a);
    later.created = T0 + 1;
    let later_built = quiet(&later);
    assert_ne!(later_built.manifest_digest, first.manifest_digest);
    assert_ne!(later_built.layers[0].diff_id, first.layers[0].diff_id);

    // With a fixed mtime, a later commit time changes the config but no layer.
    let mut fixed = request(&dir.path().join("oci5"), &a);
    fixed.mtime = Some(T0);
    fixed.created = T0 + 1;
    let fixed_built = quiet(&fixed);
    assert_ne!(fixed_built.manifest_digest, first.manifest_digest);
    assert_eq!(fixed_built.layers, first.layers);
}

#[test]
fn the_cache_rebuilds_only_the_sub_layer_that_changed() {
    let dir = tempfile::tempdir().unwrap();
    let src = dir.path().join("src");
    big_tree(&src);
    let mut req = request(&dir.path().join("oci"), &src);
    req.cache_dir = Some(dir.path().join("cache"));
    let cold = quiet(&req);
    let parts = cold.layers.len();
    assert!(parts >= 4, "{parts} parts");
    assert!(cold.layers.iter().all(|l| l.origin == LayerOrigin::Built));

    let warm = quiet(&req);
    assert_eq!(warm.manifest_digest, cold.manifest_digest);
    assert!(warm.layers.iter().all(|l| l.origin == LayerOrigin::Reused));
    assert_eq!(warm.written_bytes, 0);

    write(&src, "d3/f08", b"new content", 0o644);
    let inc = quiet(&req);
    let built: Vec<_> = inc
        .layers
        .iter()
        .filter(|l| l.origin == LayerOrigin::Built)
        .collect();
    assert_eq!(built.len(), 1, "exactly one sub-layer is rebuilt");
    assert_eq!(inc.layers.len(), parts);
    assert_ne!(inc.manifest_digest, cold.manifest_digest);

    // A fresh output layout still reuses the cache (blobs are linked from it), and the
    // cache never changes the result: a cache-less build gives the same digest.
    let mut fresh = req.clone();
    fresh.output = dir.path().join("oci-fresh");
    let reused = quiet(&fresh);
    assert!(
        reused
            .layers
            .iter()
            .all(|l| l.origin == LayerOrigin::Reused)
    );
    fresh.cache_dir = None;
    fresh.output = dir.path().join("oci-nocache");
    assert_eq!(quiet(&fresh).manifest_digest, inc.manifest_digest);
    assert_eq!(reused.manifest_digest, inc.manifest_digest);

    // The sub-layers together hold exactly the tree (stored and deflated gzip alike).
    require_program("umoci", "umoci");
    let rootfs = unpack(&fresh.output, "v1", &dir.path().join("bundle"));
    let mut count = 0;
    for e in walkdir::WalkDir::new(&src).min_depth(1) {
        let e = e.unwrap();
        let rel = e.path().strip_prefix(&src).unwrap();
        let there = rootfs.join("app").join(rel);
        if e.file_type().is_file() {
            assert_eq!(
                fs::read(e.path()).unwrap(),
                fs::read(&there).unwrap(),
                "{rel:?}"
            );
            count += 1;
        } else {
            assert!(there.is_dir(), "{rel:?}");
        }
    }
    assert_eq!(count, 48);

    // Each blob's diff_id, computed in the same pass as its digest, is the sha256 of
    // what gunzip gives back.
    let layout = OciLayout::open(&fresh.output).unwrap();
    for l in &inc.layers {
        let blob = layout.blob_path(&Digest::from_oci(l.descriptor.digest()).unwrap());
        let sha = run(
            "sh",
            &["-c", &format!("gzip -dc {} | sha256sum", blob.display())],
        );
        assert_eq!(&sha[..64], l.diff_id.hex());
    }
    assert_eq!(
        walkdir::WalkDir::new(rootfs.join("app"))
            .into_iter()
            .count(),
        48 + 5 + 1
    );
}

#[test]
fn zstd_layers_have_the_zstd_media_type_and_decompress() {
    require_program("zstd", "zstd");
    let dir = tempfile::tempdir().unwrap();
    let src = dir.path().join("src");
    app_tree(&src);
    let out = dir.path().join("oci");
    let mut req = request(&out, &src);
    req.compression = Compression::Zstd;
    let built = quiet(&req);
    let layer = &built.layers[0];
    assert_eq!(
        layer.descriptor.media_type().to_string(),
        "application/vnd.oci.image.layer.v1.tar+zstd"
    );
    let blob = OciLayout::open(&out)
        .unwrap()
        .blob_path(&Digest::from_oci(layer.descriptor.digest()).unwrap());
    let listing = run(
        "sh",
        &["-c", &format!("zstd -dc {} | tar -tvf -", blob.display())],
    );
    assert!(listing.contains("app/index.html"), "{listing}");
    assert!(
        listing.contains("app/lib/index-link -> ../index.html"),
        "{listing}"
    );
    assert!(listing.contains("0/0"), "owned by root: {listing}");
    let sha = run(
        "sh",
        &["-c", &format!("zstd -dc {} | sha256sum", blob.display())],
    );
    assert_eq!(&sha[..64], layer.diff_id.hex());
}

#[test]
fn errors_name_the_problem() {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("oci");

    let missing = dir.path().join("nope");
    let err = build(&request(&out, &missing), &|_: BuildEvent<'_>| {})
        .unwrap_err()
        .to_string();
    assert!(
        err.contains("cannot read layer source") && err.contains("nope"),
        "{err}"
    );

    let src = dir.path().join("src");
    app_tree(&src);
    quiet(&request(&out, &src));
    let mut req = request(&dir.path().join("oci2"), &src);
    req.base = Base::Layout {
        path: out.clone(),
        tag: Some("missing".into()),
    };
    let err = build(&req, &|_: BuildEvent<'_>| {})
        .unwrap_err()
        .to_string();
    assert!(
        err.contains("no image tagged `missing` (tags: v1)"),
        "{err}"
    );

    symlink("../../../etc/passwd", src.join("lib/escape")).unwrap();
    let err = build(&request(&out, &src), &|_: BuildEvent<'_>| {})
        .unwrap_err()
        .to_string();
    assert!(
        err.contains("escape") && err.contains("points outside the layer source"),
        "{err}"
    );

    let mut req = request(&out, dir.path());
    req.layers[0].dest = "/app/../etc".into();
    let err = build(&req, &|_: BuildEvent<'_>| {})
        .unwrap_err()
        .to_string();
    assert!(err.contains("must not contain `..`"), "{err}");
}
