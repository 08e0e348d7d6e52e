//! Documents and signatures attached to an image in Debian's `docker-registry` (CNCF
//! Distribution 2.8, which has no referrers API), read back by wharf and by Debian's
//! skopeo: the fallback index, and a cosign-format signature that skopeo's
//! `sigstoreSigned` policy enforces.

use std::collections::BTreeMap;
use std::path::Path;

use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use wharf_oci::build::{BuildEvent, BuildRequest, LayerSpec, build};
use wharf_oci::registry::attach::{self, Subject};
use wharf_oci::registry::{ClientOptions, Reference, push};
use wharf_secrets::signing::ReleaseKey;
use wharf_test_support::registry::{Auth, Registry};
use wharf_test_support::require_program;

/// Builds a one-file image and pushes it to `127.0.0.1:PORT/NAME:1`; its digest reference.
async fn pushed(dir: &Path, port: u16, name: &str, text: &str) -> Reference {
    let src = dir.join(format!("src-{name}"));
    std::fs::create_dir_all(&src).unwrap();
    std::fs::write(src.join("hello.txt"), text).unwrap();
    let out = dir.join(format!("layout-{name}"));
    let mut req = BuildRequest::new(&out, "v1");
    req.layers.push(LayerSpec {
        src,
        dest: "/".into(),
    });
    req.created = 1_700_000_000;
    build(&req, &|_: BuildEvent<'_>| {}).unwrap();
    let r = Reference::parse(&format!("127.0.0.1:{port}/{name}:1")).unwrap();
    let done = push(
        &out,
        Some("v1"),
        &[r],
        &ClientOptions::default(),
        &mut |_| {},
    )
    .await
    .unwrap();
    Reference::parse(&format!("127.0.0.1:{port}/{name}@{}", done[0].digest)).unwrap()
}

fn skopeo(args: &[&str]) -> std::process::Output {
    std::process::Command::new("skopeo")
        .args(args)
        .output()
        .unwrap()
}

#[tokio::test]
async fn documents_attach_through_the_fallback_tag_and_read_back() {
    require_program("skopeo", "Debian's skopeo");
    let registry = Registry::start(Auth::None);
    let dir = tempfile::tempdir().unwrap();
    let image = pushed(dir.path(), registry.port, "app", "one").await;
    let options = ClientOptions::default();
    let subject = Subject::resolve(&image, &options).await.unwrap();
    assert_eq!(subject.media_type, attach::OCI_MANIFEST);
    let spdx = br#"{"spdxVersion":"SPDX-2.3"}"#;
    let cdx = br#"{"bomFormat":"CycloneDX"}"#;
    let mut notes = BTreeMap::new();
    notes.insert("org.wharf.release".to_string(), "1.0.0".to_string());
    let a = attach::attach(
        &subject,
        "text/spdx+json",
        "text/spdx+json",
        spdx,
        &notes,
        &options,
    )
    .await
    .unwrap();
    // Debian's registry has no referrers API: the fallback tag lists it.
    assert_eq!(a.found_by, format!("tag sha256-{}", subject.digest.hex()));
    let b = attach::attach(
        &subject,
        "application/vnd.cyclonedx+json",
        "application/vnd.cyclonedx+json",
        cdx,
        &BTreeMap::new(),
        &options,
    )
    .await
    .unwrap();
    // Attaching the same document again adds nothing.
    attach::attach(
        &subject,
        "text/spdx+json",
        "text/spdx+json",
        spdx,
        &notes,
        &options,
    )
    .await
    .unwrap();
    let found = attach::referrers(&subject, &options).await.unwrap();
    let types: Vec<&str> = found
        .iter()
        .map(|d| d["artifactType"].as_str().unwrap())
        .collect();
    assert_eq!(types, ["text/spdx+json", "application/vnd.cyclonedx+json"]);
    assert_eq!(found[0]["annotations"]["org.wharf.release"], "1.0.0");
    let (manifest, data) = attach::fetch_attached(&subject, &a.manifest, &options)
        .await
        .unwrap();
    assert_eq!(data, spdx);
    assert_eq!(manifest["subject"]["digest"], subject.digest.as_str());
    assert_eq!(
        attach::fetch_attached(&subject, &b.manifest, &options)
            .await
            .unwrap()
            .1,
        cdx
    );
    // As skopeo reads it: the tag is an index of the artifacts, each with its subject.
    let raw = skopeo(&[
        "inspect",
        "--raw",
        "--tls-verify=false",
        &format!(
            "docker://127.0.0.1:{}/app:sha256-{}",
            registry.port,
            subject.digest.hex()
        ),
    ]);
    assert!(raw.status.success(), "{raw:?}");
    let index: serde_json::Value = serde_json::from_slice(&raw.stdout).unwrap();
    assert_eq!(index["mediaType"], attach::OCI_INDEX);
    assert_eq!(index["manifests"].as_array().unwrap().len(), 2, "{index}");
    let art = skopeo(&[
        "inspect",
        "--raw",
        "--tls-verify=false",
        &format!("docker://127.0.0.1:{}/app@{}", registry.port, a.manifest),
    ]);
    let art: serde_json::Value = serde_json::from_slice(&art.stdout).unwrap();
    assert_eq!(art["subject"]["digest"], subject.digest.as_str(), "{art}");
    assert_eq!(art["artifactType"], "text/spdx+json");
}

/// Debian 12's skopeo and podman are built with sigstore verification patched out
/// ("Debian-local change: sigstore disabled"), so no containers/image policy can enforce
/// the signature on this machine; the signature image is read back as containers/image
/// reads it (the `.sig` tag's layers, their payloads and annotations) and the signature
/// checked against the public key.
#[tokio::test]
async fn a_cosign_signature_is_stored_as_containers_image_reads_it() {
    let registry = Registry::start(Auth::None);
    let dir = tempfile::tempdir().unwrap();
    let signed = pushed(dir.path(), registry.port, "signed", "signed").await;
    let options = ClientOptions::default();
    let key = ReleaseKey::generate().unwrap();
    let subject = Subject::resolve(&signed, &options).await.unwrap();
    let repo = format!("127.0.0.1:{}/signed", registry.port);
    let payload = attach::simple_signing_payload(&repo, &subject.digest);
    let parsed: serde_json::Value = serde_json::from_slice(&payload).unwrap();
    assert_eq!(
        parsed,
        serde_json::json!({"critical": {"identity": {"docker-reference": repo}, "image": {"docker-manifest-digest": subject.digest.as_str()}, "type": "cosign container image signature"}, "optional": null})
    );
    let sig = STANDARD.encode(key.sign(&payload).unwrap());
    let at = attach::add_cosign_signature(&subject, &payload, &sig, &options)
        .await
        .unwrap();
    assert_eq!(at, format!("{repo}:sha256-{}.sig", subject.digest.hex()));
    // A second signature (a rotated key) is added beside the first; the same one again
    // is not repeated.
    let other = ReleaseKey::generate().unwrap();
    let sig2 = STANDARD.encode(other.sign(&payload).unwrap());
    attach::add_cosign_signature(&subject, &payload, &sig2, &options)
        .await
        .unwrap();
    attach::add_cosign_signature(&subject, &payload, &sig, &options)
        .await
        .unwrap();
    let sigs = attach::cosign_signatures(&subject, &options).await.unwrap();
    assert_eq!(sigs.len(), 2);
    let verifies = |k: &ReleaseKey, (p, s): &(Vec<u8>, String)| {
        k.public().verify(p, &STANDARD.decode(s).unwrap())
    };
    assert!(sigs.iter().any(|s| verifies(&key, s)));
    assert!(sigs.iter().any(|s| verifies(&other, s)));
    // As skopeo sees the tag: an OCI image manifest of simple-signing layers.
    require_program("skopeo", "Debian's skopeo");
    let raw = skopeo(&[
        "inspect",
        "--raw",
        "--tls-verify=false",
        &format!("docker://{at}"),
    ]);
    assert!(raw.status.success(), "{raw:?}");
    let m: serde_json::Value = serde_json::from_slice(&raw.stdout).unwrap();
    assert_eq!(m["mediaType"], attach::OCI_MANIFEST);
    for l in m["layers"].as_array().unwrap() {
        assert_eq!(l["mediaType"], attach::SIMPLE_SIGNING);
        assert!(l["annotations"][attach::COSIGN_SIGNATURE_ANNOTATION].is_string());
    }
}
