//! Uploads to a real pypiserver (installed by .ci/run from PyPI) behind the fault proxy
//! of wharf-test-support: an index that never answers fails the upload within the idle
//! limit and says which index and file, and 503s are retried with a line for each.

use std::io::Write;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use base64::Engine;
use sha2::{Digest, Sha256};
use wharf_net::Limits;
use wharf_publish::python::{PublishRequest, publish};
use wharf_secrets::secret::SecretString;
use wharf_test_support::faultproxy::{Fault, FaultProxy};
use wharf_test_support::pypi::PyPiServer;

const TOKEN: &str = "pypi-net-test-token-81ab";

/// The idle limit of these tests.
const IDLE: Duration = Duration::from_secs(2);

/// A pure-Python wheel `wharf_net_tiny-VERSION-py3-none-any.whl` in `dir`.
fn wheel(dir: &Path, version: &str) -> PathBuf {
    let path = dir.join(format!("wharf_net_tiny-{version}-py3-none-any.whl"));
    let info = format!("wharf_net_tiny-{version}.dist-info");
    let files = [
        ("wharf_net_tiny/__init__.py".to_string(), "X = 1\n".to_string()),
        (
            format!("{info}/METADATA"),
            format!("Metadata-Version: 2.1\nName: wharf-net-tiny\nVersion: {version}\n"),
        ),
        (
            format!("{info}/WHEEL"),
            "Wheel-Version: 1.0\nGenerator: wharf-tests\nRoot-Is-Purelib: true\nTag: py3-none-any\n"
                .to_string(),
        ),
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

fn request(port: u16, file: PathBuf) -> PublishRequest {
    PublishRequest {
        repository: format!("http://127.0.0.1:{port}/"),
        index_url: None,
        files: vec![file],
        username: None,
        token: Some(SecretString::new(TOKEN.into())),
        limits: Some(Limits {
            connect: Duration::from_secs(2),
            idle: IDLE,
            total: Duration::from_secs(60),
        }),
    }
}

#[tokio::test]
async fn an_index_that_never_answers_fails_the_upload_within_the_idle_limit() {
    let index = PyPiServer::start(TOKEN);
    let proxy = FaultProxy::start(index.port, Fault::NeverAnswer);
    let dir = tempfile::tempdir().unwrap();
    let req = request(proxy.port, wheel(dir.path(), "1.0.0"));
    let started = Instant::now();
    let mut lines = Vec::new();
    let err = publish(&req, &mut |l| lines.push(l))
        .await
        .unwrap_err()
        .to_string();
    let took = started.elapsed();
    eprintln!("index never answered, failed after {took:?}: {err}");
    assert!(took < IDLE + Duration::from_secs(5), "{took:?}");
    assert!(took >= IDLE, "{took:?}");
    assert!(
        err.starts_with(&format!(
            "index 127.0.0.1:{} did not answer the request for the page of wharf-net-tiny for 2s (idle limit WHARF_NET_IDLE_TIMEOUT)",
            proxy.port
        )),
        "{err}"
    );
    assert!(lines.is_empty(), "a stall is not retried: {lines:?}");
    assert!(!err.contains(TOKEN));
}

#[tokio::test]
async fn an_index_that_never_answers_the_upload_itself_fails_within_the_idle_limit() {
    let index = PyPiServer::start(TOKEN);
    // The index page is read from the real index; only the upload goes to the proxy.
    let proxy = FaultProxy::start(index.port, Fault::NeverAnswer);
    let dir = tempfile::tempdir().unwrap();
    let mut req = request(proxy.port, wheel(dir.path(), "1.0.1"));
    req.index_url = Some(index.simple_url());
    let started = Instant::now();
    let err = publish(&req, &mut |_| {}).await.unwrap_err().to_string();
    let took = started.elapsed();
    eprintln!("index never answered the upload, failed after {took:?}: {err}");
    assert!(took < IDLE + Duration::from_secs(5), "{took:?}");
    assert!(
        err.starts_with(&format!(
            "index 127.0.0.1:{} did not answer the upload of wharf_net_tiny-1.0.1-py3-none-any.whl (",
            proxy.port
        )),
        "{err}"
    );
    assert!(!err.contains(TOKEN));
}

#[tokio::test]
async fn unavailable_answers_are_retried_each_retry_said_and_the_upload_lands() {
    let index = PyPiServer::start(TOKEN);
    let proxy = FaultProxy::start(
        index.port,
        Fault::Unavailable {
            count: 2,
            matching: "",
        },
    );
    let dir = tempfile::tempdir().unwrap();
    let req = request(proxy.port, wheel(dir.path(), "2.0.0"));
    let mut lines = Vec::new();
    let published = publish(&req, &mut |l| lines.push(l)).await.unwrap();
    assert!(published[0].uploaded);
    assert_eq!(proxy.injected().len(), 2);
    assert_eq!(
        lines[..2],
        [
            "retrying index page of wharf-net-tiny (2/5) after 503",
            "retrying index page of wharf-net-tiny (3/5) after 503",
        ],
        "{lines:?}"
    );
    assert!(
        lines[2].starts_with("wharf_net_tiny-2.0.0-py3-none-any.whl: uploaded"),
        "{lines:?}"
    );
    assert!(
        index
            .packages()
            .join("wharf_net_tiny-2.0.0-py3-none-any.whl")
            .is_file()
    );

    // The upload itself refused twice, then taken.
    let proxy = FaultProxy::start(
        index.port,
        Fault::Unavailable {
            count: 2,
            matching: "POST ",
        },
    );
    let req = request(proxy.port, wheel(dir.path(), "2.0.1"));
    let mut lines = Vec::new();
    publish(&req, &mut |l| lines.push(l)).await.unwrap();
    assert_eq!(
        lines[..2],
        [
            "retrying upload of wharf_net_tiny-2.0.1-py3-none-any.whl (2/5) after 503",
            "retrying upload of wharf_net_tiny-2.0.1-py3-none-any.whl (3/5) after 503",
        ],
        "{lines:?}"
    );
}
