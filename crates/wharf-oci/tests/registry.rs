//! The registry client under the network limits, against a real Debian docker-registry
//! behind the fault proxy of wharf-test-support: a registry that stops reading an upload
//! fails the push within the idle limit (and says which registry and blob), 503s and
//! resets are retried with a line for each retry, and no message shows an upload URL's
//! `_state` token.

use std::path::Path;
use std::time::{Duration, Instant};

use oci_spec::image::{Descriptor, MediaType};
use serde_json::json;
use wharf_net::Limits;
use wharf_oci::build::Platform;
use wharf_oci::registry::{ClientOptions, Pusher, Reference, inspect, push};
use wharf_oci::{Digest, OciLayout};
use wharf_test_support::faultproxy::{Fault, FaultProxy};
use wharf_test_support::registry::{Auth, Registry};

/// The idle limit of these tests.
const IDLE: Duration = Duration::from_secs(2);

fn options() -> ClientOptions {
    ClientOptions {
        limits: Some(Limits {
            connect: Duration::from_secs(2),
            idle: IDLE,
            total: Duration::from_secs(120),
        }),
        ..ClientOptions::default()
    }
}

/// Bytes that do not compress.
fn noise(len: usize) -> Vec<u8> {
    let mut x = 0x9e37_79b9_7f4a_7c15u64;
    (0..len)
        .map(|_| {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            x as u8
        })
        .collect()
}

/// A layout at `dir` holding image `t`: a small layer and one of `big` bytes (registries
/// do not look inside layers); returns the big layer's digest.
fn image(dir: &Path, big: usize) -> Digest {
    let layout = OciLayout::create(dir).unwrap();
    let small = layout.write_blob(b"small layer").unwrap();
    let big_bytes = noise(big);
    let large = layout.write_blob(&big_bytes).unwrap();
    let config = json!({
        "architecture": "amd64", "os": "linux", "config": {},
        "rootfs": {"type": "layers", "diff_ids": [small.to_string(), large.to_string()]},
    })
    .to_string();
    let config_digest = layout.write_blob(config.as_bytes()).unwrap();
    let layer = |d: &Digest, size: usize| {
        json!({"mediaType": "application/vnd.oci.image.layer.v1.tar+gzip",
               "digest": d.to_string(), "size": size})
    };
    let manifest = json!({
        "schemaVersion": 2,
        "mediaType": "application/vnd.oci.image.manifest.v1+json",
        "config": {"mediaType": "application/vnd.oci.image.config.v1+json",
                   "digest": config_digest.to_string(), "size": config.len()},
        "layers": [layer(&small, 11), layer(&large, big)],
    })
    .to_string();
    let manifest_digest = layout.write_blob(manifest.as_bytes()).unwrap();
    let desc = Descriptor::new(
        MediaType::ImageManifest,
        manifest.len() as u64,
        manifest_digest.to_oci(),
    );
    layout.set_tag("t", &desc).unwrap();
    large
}

fn reference(port: u16, name: &str) -> Reference {
    Reference::parse(&format!("127.0.0.1:{port}/{name}:1")).unwrap()
}

#[tokio::test]
async fn a_registry_that_stops_reading_an_upload_fails_the_push_within_the_idle_limit() {
    let registry = Registry::start(Auth::None);
    let proxy = FaultProxy::start(registry.port, Fault::StallUpload { after: 256 << 10 });
    let dir = tempfile::tempdir().unwrap();
    let big = image(dir.path(), 48 << 20);
    let started = Instant::now();
    let mut lines = Vec::new();
    let err = push(
        dir.path(),
        Some("t"),
        &[reference(proxy.port, "stall/app")],
        &options(),
        &mut |l| lines.push(l),
    )
    .await
    .unwrap_err()
    .to_string();
    let took = started.elapsed();
    eprintln!("registry push stalled, failed after {took:?}: {err}");
    assert!(took < IDLE + Duration::from_secs(5), "{took:?}");
    assert!(
        err.starts_with(&format!(
            "registry 127.0.0.1:{} stopped reading the upload of blob {} (48.0 MiB) for 2s (",
            proxy.port,
            big.short()
        )),
        "{err}"
    );
    assert!(err.contains("idle limit WHARF_NET_IDLE_TIMEOUT"), "{err}");
    // The upload went to a URL with the registry's `_state` token: never shown.
    assert!(!err.contains("_state"), "{err}");
    assert!(proxy.stalled() >= 1);
    assert!(
        lines.iter().all(|l| !l.starts_with("retrying")),
        "a stall is not retried: {lines:?}"
    );
    // No tag names a missing blob.
    let direct = reference(registry.port, "stall/app");
    assert!(
        inspect(&direct, &Platform::host(), &options())
            .await
            .is_err()
    );
}

#[tokio::test]
async fn an_early_upload_to_a_stalled_registry_fails_promptly() {
    let registry = Registry::start(Auth::None);
    let proxy = FaultProxy::start(registry.port, Fault::StallUpload { after: 256 << 10 });
    let dir = tempfile::tempdir().unwrap();
    let big = image(dir.path(), 48 << 20);
    let pusher = Pusher::new(
        dir.path(),
        &[reference(proxy.port, "early/app")],
        &options(),
    )
    .unwrap();
    let started = Instant::now();
    let err = pusher
        .blob(big.clone(), 48 << 20)
        .await
        .unwrap_err()
        .to_string();
    let took = started.elapsed();
    eprintln!("early upload, registry stopped reading: failed after {took:?}: {err}");
    assert!(took < IDLE + Duration::from_secs(5), "{took:?}");
    assert!(
        err.contains(&format!(
            "stopped reading the upload of blob {}",
            big.short()
        )),
        "{err}"
    );
}

#[tokio::test]
async fn unavailable_uploads_are_retried_and_each_retry_is_said() {
    let registry = Registry::start(Auth::None);
    let proxy = FaultProxy::start(
        registry.port,
        Fault::Unavailable {
            count: 2,
            matching: "PUT /v2/retry/app/blobs/uploads/",
        },
    );
    let dir = tempfile::tempdir().unwrap();
    image(dir.path(), 1 << 20);
    let mut lines = Vec::new();
    let pushed = push(
        dir.path(),
        Some("t"),
        &[reference(proxy.port, "retry/app")],
        &options(),
        &mut |l| lines.push(l),
    )
    .await
    .unwrap();
    assert_eq!(proxy.injected().len(), 2, "{:?}", proxy.injected());
    let retries: Vec<&String> = lines.iter().filter(|l| l.starts_with("retrying")).collect();
    assert_eq!(retries.len(), 2, "{lines:?}");
    for r in &retries {
        assert!(
            r.starts_with("retrying blob sha256:") && r.ends_with(" after 503"),
            "{r}"
        );
    }
    // Both failures may hit one blob or one each: the attempt numbers say which.
    let attempts: Vec<&str> = retries
        .iter()
        .map(|r| r.split(['(', ')']).nth(1).unwrap())
        .collect();
    assert!(
        attempts == ["2/5", "3/5"] || attempts == ["2/5", "2/5"],
        "{attempts:?}"
    );
    let direct = reference(registry.port, "retry/app");
    let info = inspect(&direct, &Platform::host(), &options())
        .await
        .unwrap();
    assert_eq!(info.digest, pushed[0].digest);
}

#[tokio::test]
async fn resets_are_retried_and_the_final_error_shows_no_upload_token() {
    let registry = Registry::start(Auth::None);
    let proxy = FaultProxy::start(
        registry.port,
        Fault::ResetRequests {
            count: usize::MAX,
            matching: "PUT /v2/reset/app/blobs/uploads/",
        },
    );
    let dir = tempfile::tempdir().unwrap();
    let big = image(dir.path(), 12 << 20);
    let mut lines = Vec::new();
    let err = push(
        dir.path(),
        Some("t"),
        &[reference(proxy.port, "reset/app")],
        &options(),
        &mut |l| lines.push(l),
    )
    .await
    .unwrap_err()
    .to_string();
    // Every upload was sent to a URL with `_state=` in its query.
    assert!(
        proxy.injected().iter().all(|l| l.contains("_state=")),
        "{:?}",
        proxy.injected()
    );
    assert!(!err.contains("_state"), "{err}");
    assert!(
        err.starts_with(&format!(
            "registry 127.0.0.1:{}: the upload of blob ",
            proxy.port
        )),
        "{err}"
    );
    let retries: Vec<&String> = lines
        .iter()
        .filter(|l| l.starts_with("retrying blob sha256:"))
        .collect();
    assert!(
        retries
            .iter()
            .any(|r| r.contains(&big.short()) && r.contains("(5/5) after connection ")),
        "{lines:?}"
    );
    assert!(lines.iter().all(|l| !l.contains("_state")), "{lines:?}");
}
