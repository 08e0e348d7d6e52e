//! End-to-end checks of the package format: reproducibility, path safety, and that
//! verification catches every kind of tampering.

use std::fs;
use std::io::Write;
use std::os::unix::fs::{PermissionsExt, symlink};
use std::path::{Path, PathBuf};

use flate2::{Compression, GzBuilder};
use wharf_package::{Error, FileEntry, MANIFEST_NAME, Manifest, PackageRequest, create, verify};

fn fixture() -> tempfile::TempDir {
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path().join("root");
    fs::create_dir_all(root.join("bin")).unwrap();
    fs::create_dir_all(root.join("docs/deep")).unwrap();
    fs::write(root.join("bin/tool"), "#!/bin/sh\necho hi\n").unwrap();
    fs::set_permissions(root.join("bin/tool"), fs::Permissions::from_mode(0o755)).unwrap();
    fs::write(root.join("docs/readme.md"), "# readme\n").unwrap();
    fs::write(root.join("docs/deep/notes.txt"), "notes\n").unwrap();
    fs::write(root.join("top.txt"), "top\n").unwrap();
    dir
}

fn request(dir: &Path, paths: &[&str], output: &str) -> PackageRequest {
    PackageRequest {
        root: dir.join("root"),
        paths: paths.iter().map(|p| p.to_string()).collect(),
        output: dir.join(output),
        version: Some("1.2.3".into()),
        commit: Some("abc123".into()),
        run: Some(7),
        mtime: 1_700_000_000,
    }
}

const ALL: &[&str] = &["bin", "docs", "top.txt"];

#[test]
fn round_trip() {
    let dir = fixture();
    let built = create(&request(dir.path(), ALL, "pkg.tar.gz")).unwrap();
    let names: Vec<_> = built
        .manifest
        .files
        .iter()
        .map(|f| f.path.as_str())
        .collect();
    assert_eq!(
        names,
        [
            "bin/tool",
            "docs/deep/notes.txt",
            "docs/readme.md",
            "top.txt"
        ]
    );
    assert_eq!(built.size, fs::metadata(&built.path).unwrap().len());
    let verified = verify(&built.path).unwrap();
    assert_eq!(verified.manifest, built.manifest);
    assert_eq!(verified.sha256, built.sha256);
    assert_eq!(verified.manifest.version.as_deref(), Some("1.2.3"));
    // No temporary file is left beside the output.
    let left: Vec<_> = fs::read_dir(dir.path()).unwrap().collect();
    assert_eq!(left.len(), 2, "root and pkg.tar.gz only");
}

#[test]
fn archive_layout_is_normalised() {
    let dir = fixture();
    let built = create(&request(dir.path(), ALL, "pkg.tar.gz")).unwrap();
    let bytes = fs::read(&built.path).unwrap();
    assert_eq!(&bytes[4..8], &[0, 0, 0, 0], "gzip mtime is zero");
    assert_eq!(bytes[3] & 0x08, 0, "no file name in the gzip header");
    let gz = flate2::read::GzDecoder::new(&bytes[..]);
    let mut archive = tar::Archive::new(gz);
    let mut names = Vec::new();
    for entry in archive.entries().unwrap() {
        let entry = entry.unwrap();
        let h = entry.header();
        assert_eq!(h.uid().unwrap(), 0);
        assert_eq!(h.gid().unwrap(), 0);
        assert_eq!(h.username().unwrap(), Some(""));
        assert_eq!(h.mtime().unwrap(), 1_700_000_000);
        names.push(entry.path().unwrap().display().to_string());
    }
    assert_eq!(names[0], MANIFEST_NAME);
    assert_eq!(names.len(), 5);
}

#[test]
fn rebuild_is_byte_identical_after_touch_and_chmod() {
    let dir = fixture();
    let first = create(&request(dir.path(), ALL, "a.tar.gz")).unwrap();
    let root = dir.path().join("root");
    // Rewrite (new mtime) and change bits the normalisation drops.
    fs::write(root.join("top.txt"), "top\n").unwrap();
    fs::set_permissions(root.join("top.txt"), fs::Permissions::from_mode(0o600)).unwrap();
    fs::set_permissions(root.join("bin/tool"), fs::Permissions::from_mode(0o700)).unwrap();
    let second = create(&request(
        dir.path(),
        &["top.txt", "docs", "bin", "docs/readme.md"],
        "b.tar.gz",
    ))
    .unwrap();
    assert_eq!(first.sha256, second.sha256);
    assert_eq!(
        fs::read(&first.path).unwrap(),
        fs::read(&second.path).unwrap()
    );
}

#[test]
fn different_content_gives_different_digest() {
    let dir = fixture();
    let first = create(&request(dir.path(), ALL, "a.tar.gz")).unwrap();
    fs::write(dir.path().join("root/top.txt"), "changed\n").unwrap();
    let second = create(&request(dir.path(), ALL, "b.tar.gz")).unwrap();
    assert_ne!(first.sha256, second.sha256);
}

#[test]
fn modes_are_kept_normalised() {
    let dir = fixture();
    let built = create(&request(dir.path(), ALL, "pkg.tar.gz")).unwrap();
    let mode = |p: &str| {
        built
            .manifest
            .files
            .iter()
            .find(|f| f.path == p)
            .unwrap()
            .mode
    };
    assert_eq!(mode("bin/tool"), 0o755);
    assert_eq!(mode("top.txt"), 0o644);
}

#[test]
fn refuses_parent_dir_and_absolute_inputs() {
    let dir = fixture();
    let err = create(&request(dir.path(), &["docs/../../secret"], "p.tar.gz")).unwrap_err();
    assert!(
        matches!(err, Error::ParentDir { ref path } if path == "docs/../../secret"),
        "{err}"
    );
    assert!(err.to_string().contains("docs/../../secret"));
    let err = create(&request(dir.path(), &["/etc/passwd"], "p.tar.gz")).unwrap_err();
    assert!(matches!(err, Error::Absolute { .. }), "{err}");
    assert!(err.to_string().contains("/etc/passwd"));
    assert!(!dir.path().join("p.tar.gz").exists());
}

#[test]
fn refuses_symlinks_escaping_the_root() {
    let dir = fixture();
    fs::write(dir.path().join("outside.txt"), "secret").unwrap();
    symlink(dir.path().join("outside.txt"), dir.path().join("root/link")).unwrap();
    let err = create(&request(dir.path(), &["link"], "p.tar.gz")).unwrap_err();
    assert!(
        matches!(err, Error::Escapes { ref path, .. } if path == "link"),
        "{err}"
    );
    // The same link found while walking a directory.
    symlink(
        dir.path().join("outside.txt"),
        dir.path().join("root/docs/link"),
    )
    .unwrap();
    let err = create(&request(dir.path(), &["docs"], "p.tar.gz")).unwrap_err();
    assert!(
        matches!(err, Error::Escapes { ref path, .. } if path == "docs/link"),
        "{err}"
    );
}

#[test]
fn symlinks_inside_the_root_store_content() {
    let dir = fixture();
    symlink("top.txt", dir.path().join("root/alias")).unwrap();
    let built = create(&request(dir.path(), &["alias", "top.txt"], "p.tar.gz")).unwrap();
    let files = &built.manifest.files;
    assert_eq!(files[0].path, "alias");
    assert_eq!(files[0].sha256, files[1].sha256);
    verify(&built.path).unwrap();
}

#[test]
fn missing_input_is_named() {
    let dir = fixture();
    let err = create(&request(dir.path(), &["top.txt", "nope/gone"], "p.tar.gz")).unwrap_err();
    assert!(
        matches!(err, Error::Missing { ref path, .. } if path == "nope/gone"),
        "{err}"
    );
    assert!(err.to_string().contains("nope/gone"));
}

#[test]
fn large_file_is_streamed() {
    let dir = fixture();
    let mut f = fs::File::create(dir.path().join("root/big.bin")).unwrap();
    let block: Vec<u8> = (0..1024 * 1024)
        .map(|i: u32| (i.wrapping_mul(2_654_435_761) >> 24) as u8)
        .collect();
    for _ in 0..20 {
        f.write_all(&block).unwrap();
    }
    drop(f);
    let built = create(&request(dir.path(), &["big.bin"], "p.tar.gz")).unwrap();
    assert_eq!(built.manifest.files[0].size, 20 * 1024 * 1024);
    assert_eq!(verify(&built.path).unwrap().sha256, built.sha256);
}

/// Writes a package by hand: `manifest` first, then `files` as given.
fn hand_made(path: &Path, manifest: &Manifest, files: &[(&str, &[u8])]) {
    let out = fs::File::create(path).unwrap();
    let gz = GzBuilder::new().write(out, Compression::default());
    let mut tar = tar::Builder::new(gz);
    let mut json = serde_json::to_vec_pretty(manifest).unwrap();
    json.push(b'\n');
    let mut add = |name: &str, data: &[u8]| {
        let mut h = tar::Header::new_gnu();
        h.set_size(data.len() as u64);
        h.set_mode(0o644);
        tar.append_data(&mut h, name, data).unwrap();
    };
    add(MANIFEST_NAME, &json);
    for (name, data) in files {
        add(name, data);
    }
    tar.into_inner().unwrap().finish().unwrap();
}

fn one_file_manifest() -> (Manifest, PathBuf, tempfile::TempDir) {
    let dir = fixture();
    let built = create(&request(dir.path(), &["top.txt"], "p.tar.gz")).unwrap();
    (built.manifest, dir.path().join("forged.tar.gz"), dir)
}

#[test]
fn verify_detects_modified_entry() {
    let (manifest, path, _dir) = one_file_manifest();
    hand_made(&path, &manifest, &[("top.txt", b"pot\n")]);
    let err = verify(&path).unwrap_err();
    assert!(
        matches!(err, Error::Mismatch { ref file, .. } if file == "top.txt"),
        "{err}"
    );
    assert!(err.to_string().contains("sha256"), "{err}");
}

#[test]
fn verify_detects_missing_extra_and_duplicate_files() {
    let (manifest, path, _dir) = one_file_manifest();
    hand_made(&path, &manifest, &[]);
    let err = verify(&path).unwrap_err();
    assert!(
        matches!(err, Error::MissingFiles { ref files, .. } if files == &["top.txt"]),
        "{err}"
    );

    hand_made(
        &path,
        &manifest,
        &[("top.txt", b"top\n"), ("evil.sh", b"x")],
    );
    let err = verify(&path).unwrap_err();
    assert!(
        matches!(err, Error::ExtraFile { ref file, .. } if file == "evil.sh"),
        "{err}"
    );

    hand_made(
        &path,
        &manifest,
        &[("top.txt", b"top\n"), ("top.txt", b"top\n")],
    );
    let err = verify(&path).unwrap_err();
    assert!(
        matches!(err, Error::DuplicateFile { ref file, .. } if file == "top.txt"),
        "{err}"
    );

    // The untampered hand-made archive passes.
    hand_made(&path, &manifest, &[("top.txt", b"top\n")]);
    verify(&path).unwrap();
}

#[test]
fn verify_requires_manifest_first() {
    let (_, path, _dir) = one_file_manifest();
    let out = fs::File::create(&path).unwrap();
    let mut tar = tar::Builder::new(GzBuilder::new().write(out, Compression::default()));
    let mut h = tar::Header::new_gnu();
    h.set_size(1);
    tar.append_data(&mut h, "top.txt", &b"x"[..]).unwrap();
    tar.into_inner().unwrap().finish().unwrap();
    assert!(matches!(verify(&path), Err(Error::Manifest { .. })));
}

#[test]
fn verify_rejects_truncated_and_non_gzip_files() {
    let dir = fixture();
    fs::write(dir.path().join("root/big.bin"), vec![7u8; 1 << 20]).unwrap();
    let built = create(&request(dir.path(), &["big.bin", "top.txt"], "p.tar.gz")).unwrap();
    let bytes = fs::read(&built.path).unwrap();
    for cut in [10, bytes.len() / 2, bytes.len() - 4] {
        let path = dir.path().join("cut.tar.gz");
        fs::write(&path, &bytes[..cut]).unwrap();
        let err = verify(&path).unwrap_err();
        assert!(matches!(err, Error::Corrupt { .. }), "cut at {cut}: {err}");
    }
    let path = dir.path().join("plain.tar.gz");
    fs::write(&path, "this is not gzip at all").unwrap();
    assert!(matches!(verify(&path), Err(Error::Corrupt { .. })));
    fs::write(&path, "").unwrap();
    assert!(verify(&path).is_err());
    assert!(matches!(
        verify(&dir.path().join("absent")),
        Err(Error::Io { .. })
    ));
}

#[test]
fn verify_detects_wrong_mode() {
    let (mut manifest, path, _dir) = one_file_manifest();
    manifest.files[0] = FileEntry {
        mode: 0o755,
        ..manifest.files[0].clone()
    };
    hand_made(&path, &manifest, &[("top.txt", b"top\n")]);
    let err = verify(&path).unwrap_err();
    assert!(err.to_string().contains("mode"), "{err}");
}
