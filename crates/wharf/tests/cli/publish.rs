//! `publish-python` and `wharf publish python` against a real pypiserver (installed by
//! .ci/run from PyPI) on 127.0.0.1, checked with a real `pip install`.

use std::io::Write;
use std::path::Path;
use std::process::{Command, Stdio};

use base64::Engine;
use sha2::{Digest, Sha256};

use wharf_test_support::pypi::PyPiServer;

use crate::helper::Project;

const TOKEN: &str = "pypi-test-token-4c1d9e";

/// Writes a pure-Python wheel `wharf_tiny-VERSION-py3-none-any.whl` whose module says `greeting`.
pub fn wheel(dir: &Path, version: &str, greeting: &str) -> std::path::PathBuf {
    let path = dir.join(format!("wharf_tiny-{version}-py3-none-any.whl"));
    let info = format!("wharf_tiny-{version}.dist-info");
    let files = [
        ("wharf_tiny/__init__.py".to_string(), format!("def hello():\n    return {greeting:?}\n")),
        (format!("{info}/METADATA"), format!("Metadata-Version: 2.1\nName: wharf-tiny\nVersion: {version}\nSummary: a tiny test package\n")),
        (format!("{info}/WHEEL"), "Wheel-Version: 1.0\nGenerator: wharf-tests\nRoot-Is-Purelib: true\nTag: py3-none-any\n".to_string()),
    ];
    let mut record = String::new();
    let mut zip = zip::ZipWriter::new(std::fs::File::create(&path).unwrap());
    let opts = zip::write::SimpleFileOptions::default();
    for (name, text) in &files {
        zip.start_file(name.as_str(), opts).unwrap();
        zip.write_all(text.as_bytes()).unwrap();
        let hash = base64::engine::general_purpose::URL_SAFE_NO_PAD
            .encode(Sha256::digest(text.as_bytes()));
        record.push_str(&format!("{name},sha256={hash},{}\n", text.len()));
    }
    record.push_str(&format!("{info}/RECORD,,\n"));
    zip.start_file(format!("{info}/RECORD"), opts).unwrap();
    zip.write_all(record.as_bytes()).unwrap();
    zip.finish().unwrap();
    path
}

#[test]
fn the_publish_step_uploads_pip_installs_and_reruns_are_noops() {
    let index = PyPiServer::start(TOKEN);
    let pipeline = format!(
        "version: 1\njobs:\n  publish:\n    secrets: [PYPI_TOKEN]\n    steps:\n      - publish-python: {{ repository: \"{}\", files: \"dist/*.whl\", token: PYPI_TOKEN }}\n",
        index.upload_url()
    );
    let p = Project::new(&pipeline);
    std::fs::create_dir(p.path().join("dist")).unwrap();
    wheel(&p.path().join("dist"), "1.0.0", "hello from the index");
    let run = |p: &Project| {
        p.cmd(&["run", "--plain", "--secrets-from-env"])
            .env("PYPI_TOKEN", TOKEN)
            .output()
            .unwrap()
    };
    let first = run(&p);
    let stderr = String::from_utf8_lossy(&first.stderr);
    assert!(first.status.success(), "{stderr}");
    assert!(
        stderr.contains("wharf_tiny-1.0.0-py3-none-any.whl: uploaded"),
        "{stderr}"
    );
    // pip installs it from the index, and it imports
    let venv = tempfile::tempdir().unwrap();
    assert!(
        Command::new("python3")
            .args(["-m", "venv"])
            .arg(venv.path())
            .status()
            .unwrap()
            .success()
    );
    let pip = Command::new(venv.path().join("bin/pip"))
        .args(["install", "-q", "--no-cache-dir", "--index-url"])
        .arg(index.simple_url())
        .arg("wharf-tiny==1.0.0")
        .output()
        .unwrap();
    assert!(
        pip.status.success(),
        "{}",
        String::from_utf8_lossy(&pip.stderr)
    );
    let py = Command::new(venv.path().join("bin/python"))
        .args(["-c", "import wharf_tiny; print(wharf_tiny.hello())"])
        .output()
        .unwrap();
    assert_eq!(
        String::from_utf8_lossy(&py.stdout),
        "hello from the index\n"
    );
    // the identical file again: skipped, success
    let again = run(&p);
    let stderr = String::from_utf8_lossy(&again.stderr);
    assert!(again.status.success(), "{stderr}");
    assert!(
        stderr.contains("already on the index with the same content, skipped"),
        "{stderr}"
    );
    // the same file name with other content: an error naming both digests
    wheel(&p.path().join("dist"), "1.0.0", "something else");
    let conflict = run(&p);
    let stderr = String::from_utf8_lossy(&conflict.stderr);
    assert_eq!(conflict.status.code(), Some(1), "{stderr}");
    assert!(
        stderr.contains("wharf_tiny-1.0.0-py3-none-any.whl is already on the index with other content (index sha256:"),
        "{stderr}"
    );
    assert!(!stderr.contains(TOKEN));
}

#[test]
fn wharf_publish_python_refuses_bad_tokens_and_files_that_are_not_packages() {
    let index = PyPiServer::start(TOKEN);
    let p = Project::new("version: 1\njobs:\n  a:\n    run: \"true\"\n");
    let key = p.path().join("secret.key");
    let secret = |name: &str, value: &str| {
        let mut c = p.cmd(&["secrets", "set", name]);
        c.env("WHARF_SECRET_KEY_FILE", &key)
            .stdin(Stdio::piped())
            .stderr(Stdio::null());
        let mut child = c.spawn().unwrap();
        child
            .stdin
            .take()
            .unwrap()
            .write_all(value.as_bytes())
            .unwrap();
        assert!(child.wait().unwrap().success());
    };
    secret("GOOD", TOKEN);
    secret("WRONG", "not-the-right-token-77");
    let whl = wheel(p.path(), "2.0.0", "v2");
    let publish = |secret: &str, file: &Path| {
        p.cmd(&[
            "publish",
            "python",
            "--repository",
            &index.upload_url(),
            "--token-secret",
            secret,
        ])
        .arg(file)
        .env("WHARF_SECRET_KEY_FILE", &key)
        .output()
        .unwrap()
    };
    let bad = publish("WRONG", &whl);
    let stderr = String::from_utf8_lossy(&bad.stderr);
    assert_eq!(bad.status.code(), Some(1), "{stderr}");
    assert!(
        stderr.contains("refused the upload of wharf_tiny-2.0.0-py3-none-any.whl"),
        "{stderr}"
    );
    assert!(
        stderr.contains("hint: check the token in the secret"),
        "{stderr}"
    );
    assert!(!stderr.contains("not-the-right-token-77"), "{stderr}");
    let good = publish("GOOD", &whl);
    assert!(
        good.status.success(),
        "{}",
        String::from_utf8_lossy(&good.stderr)
    );
    p.write("notes.txt", "not a package\n");
    let not_pkg = publish("GOOD", &p.path().join("notes.txt"));
    let stderr = String::from_utf8_lossy(&not_pkg.stderr);
    assert_eq!(not_pkg.status.code(), Some(1), "{stderr}");
    assert!(
        stderr.contains("notes.txt: not a wheel or sdist whose metadata can be read"),
        "{stderr}"
    );
    // A token never travels over plain HTTP to another machine (nothing is contacted).
    let plain = p
        .cmd(&[
            "publish",
            "python",
            "--repository",
            "http://pypi.internal.example/legacy/",
            "--token-secret",
            "GOOD",
        ])
        .arg(&whl)
        .env("WHARF_SECRET_KEY_FILE", &key)
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&plain.stderr);
    assert_eq!(plain.status.code(), Some(1), "{stderr}");
    assert!(
        stderr
            .contains("refusing to send the index token to `http://pypi.internal.example/legacy/`"),
        "{stderr}"
    );
}
