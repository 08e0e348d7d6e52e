//! Documents attached to an image in its registry: SBOMs and provenance as OCI 1.1
//! artifacts whose `subject` is the image (found through the referrers API, or through
//! the `sha256-<hex>` fallback tag on registries without it, such as CNCF Distribution
//! and Debian's `docker-registry`), and image signatures in cosign's format (the
//! `sha256-<hex>.sig` tag, simple-signing payloads), which containers/image's
//! `sigstoreSigned` policy (skopeo, podman) enforces.
//!
//! The fallback index is read, extended and written back; two writers at the same moment
//! can lose one entry (the referrers tag schema has no lock, as its spec says), so a
//! release attaches its documents one after another.

use std::collections::BTreeMap;

use reqwest::{Method, StatusCode, header};
use serde_json::{Value, json};

use super::push::{push_blob, push_scope};
use super::{Body, ClientOptions, Reference, Session, error_text};
use crate::{Digest, Error, Result};

/// An OCI image manifest.
pub const OCI_MANIFEST: &str = "application/vnd.oci.image.manifest.v1+json";
/// An OCI image index.
pub const OCI_INDEX: &str = "application/vnd.oci.image.index.v1+json";
/// The empty descriptor's media type (an artifact's config).
pub const EMPTY_MEDIA_TYPE: &str = "application/vnd.oci.empty.v1+json";
/// A cosign simple-signing payload.
pub const SIMPLE_SIGNING: &str = "application/vnd.dev.cosign.simplesigning.v1+json";
/// The layer annotation holding a cosign signature (base64).
pub const COSIGN_SIGNATURE_ANNOTATION: &str = "dev.cosignproject.cosign/signature";

/// The manifests accepted when a manifest is read back.
const ACCEPT_MANIFESTS: &str = "application/vnd.oci.image.manifest.v1+json, application/vnd.oci.image.index.v1+json, application/vnd.docker.distribution.manifest.v2+json, application/vnd.docker.distribution.manifest.list.v2+json";

/// The image documents are attached to: its repository and manifest.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Subject {
    /// `host/name`, no tag.
    pub repository: Reference,
    /// The image manifest's digest.
    pub digest: Digest,
    /// The manifest's media type.
    pub media_type: String,
    /// The manifest's size in bytes.
    pub size: u64,
}

/// Where an attached document went.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Attached {
    /// The artifact manifest's digest.
    pub manifest: Digest,
    /// `host/name@sha256:…` of the artifact manifest.
    pub reference: String,
    /// How readers find it: `referrers` (the registry indexes it) or the fallback tag.
    pub found_by: String,
}

impl Subject {
    /// The image `repository@digest` as its registry describes it (media type and size,
    /// from a HEAD of the manifest).
    pub async fn resolve(reference: &Reference, options: &ClientOptions) -> Result<Subject> {
        let digest = reference.digest.clone().ok_or_else(|| {
            Error::Registry(format!("`{reference}` names no digest to attach to"))
        })?;
        let session = Session::for_host(&reference.host, options)?;
        let url = format!(
            "{}/v2/{}/manifests/{digest}",
            session.base(),
            reference.name
        );
        let resp = session
            .send(
                Method::HEAD,
                &url,
                &[format!("repository:{}:pull", reference.name)],
                &Body::Empty,
                &[(header::ACCEPT, ACCEPT_MANIFESTS.to_string())],
                &format!("manifest {}", digest.short()),
            )
            .await?;
        let resp = session.success(resp, &format!("HEAD {url}")).await?;
        let media_type = resp
            .headers()
            .get(header::CONTENT_TYPE)
            .and_then(|v| v.to_str().ok())
            .unwrap_or(OCI_MANIFEST)
            .to_string();
        let size = resp
            .headers()
            .get(header::CONTENT_LENGTH)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.parse().ok())
            .ok_or_else(|| Error::Registry(format!("HEAD {url}: no Content-Length")))?;
        Ok(Subject {
            repository: Reference {
                digest: None,
                tag: None,
                ..reference.clone()
            },
            digest,
            media_type,
            size,
        })
    }

    fn descriptor(&self) -> Value {
        json!({"mediaType": self.media_type, "digest": self.digest.as_str(), "size": self.size})
    }

    /// The referrers fallback tag: `sha256-<hex>`.
    pub fn fallback_tag(&self) -> String {
        format!("sha256-{}", self.digest.hex())
    }

    /// cosign's signature tag: `sha256-<hex>.sig`.
    pub fn signature_tag(&self) -> String {
        format!("sha256-{}.sig", self.digest.hex())
    }
}

/// Attaches `data` (of `media_type`) to `subject` as an OCI 1.1 artifact of
/// `artifact_type`, with `annotations` on its manifest; maintains the `sha256-<hex>`
/// fallback index when the registry does not index it itself.
pub async fn attach(
    subject: &Subject,
    artifact_type: &str,
    media_type: &str,
    data: &[u8],
    annotations: &BTreeMap<String, String>,
    options: &ClientOptions,
) -> Result<Attached> {
    let repo = &subject.repository;
    let session = Session::for_host(&repo.host, options)?;
    let config = b"{}";
    let config_digest = Digest::of(config);
    push_blob(
        &session,
        &repo.name,
        None,
        &Body::Bytes(config.to_vec()),
        &config_digest,
    )
    .await?;
    let data_digest = Digest::of(data);
    push_blob(
        &session,
        &repo.name,
        None,
        &Body::Bytes(data.to_vec()),
        &data_digest,
    )
    .await?;
    let mut manifest = json!({
        "schemaVersion": 2,
        "mediaType": OCI_MANIFEST,
        "artifactType": artifact_type,
        "config": {"mediaType": EMPTY_MEDIA_TYPE, "digest": config_digest.as_str(), "size": config.len(), "data": "e30="},
        "layers": [{"mediaType": media_type, "digest": data_digest.as_str(), "size": data.len()}],
        "subject": subject.descriptor(),
    });
    if !annotations.is_empty() {
        manifest["annotations"] = json!(annotations);
    }
    let bytes = serde_json::to_vec(&manifest).map_err(|e| Error::Json {
        what: "an artifact manifest".into(),
        source: e,
    })?;
    let digest = Digest::of(&bytes);
    let resp = put_manifest(&session, repo, digest.as_str(), OCI_MANIFEST, bytes.clone()).await?;
    let indexed = resp
        .headers()
        .get("oci-subject")
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v == subject.digest.as_str());
    let found_by = if indexed {
        "referrers".to_string()
    } else {
        let entry = json!({
            "mediaType": OCI_MANIFEST,
            "digest": digest.as_str(),
            "size": bytes.len(),
            "artifactType": artifact_type,
            "annotations": annotations,
        });
        add_to_fallback_index(&session, subject, entry).await?;
        format!("tag {}", subject.fallback_tag())
    };
    Ok(Attached {
        reference: format!("{}/{}@{digest}", repo.host, repo.name),
        manifest: digest,
        found_by,
    })
}

/// Every artifact attached to `subject`: the referrers API's answer, else the fallback
/// index's (empty when neither exists). Each is a descriptor (`digest`, `artifactType`,
/// `annotations`).
pub async fn referrers(subject: &Subject, options: &ClientOptions) -> Result<Vec<Value>> {
    let repo = &subject.repository;
    let session = Session::for_host(&repo.host, options)?;
    let url = format!(
        "{}/v2/{}/referrers/{}",
        session.base(),
        repo.name,
        subject.digest
    );
    let resp = session
        .send(
            Method::GET,
            &url,
            &[format!("repository:{}:pull", repo.name)],
            &Body::Empty,
            &[(header::ACCEPT, OCI_INDEX.to_string())],
            "the referrers",
        )
        .await?;
    if resp.status() == StatusCode::OK {
        let bytes = session.bytes(resp, &url, "the referrers").await?;
        let index: Value = serde_json::from_slice(&bytes).map_err(|e| Error::Json {
            what: format!("the referrers of {}", subject.digest),
            source: e,
        })?;
        return Ok(index["manifests"].as_array().cloned().unwrap_or_default());
    }
    let index = read_manifest(&session, repo, &subject.fallback_tag()).await?;
    Ok(index
        .and_then(|(v, _)| v["manifests"].as_array().cloned())
        .unwrap_or_default())
}

/// Fetches the manifest `digest` of `subject`'s repository and the first layer's bytes
/// (an attached document), verifying both digests.
pub async fn fetch_attached(
    subject: &Subject,
    digest: &Digest,
    options: &ClientOptions,
) -> Result<(Value, Vec<u8>)> {
    let repo = &subject.repository;
    let session = Session::for_host(&repo.host, options)?;
    let Some((manifest, bytes)) = read_manifest(&session, repo, digest.as_str()).await? else {
        return Err(Error::Registry(format!(
            "{}/{}@{digest}: no such manifest",
            repo.host, repo.name
        )));
    };
    if Digest::of(&bytes) != *digest {
        return Err(Error::DigestMismatch {
            expected: digest.to_string(),
            actual: Digest::of(&bytes).to_string(),
        });
    }
    let layer = Digest::parse(manifest["layers"][0]["digest"].as_str().unwrap_or(""))?;
    let data = read_blob(&session, repo, &layer).await?;
    Ok((manifest, data))
}

/// The simple-signing payload cosign signs for an image: its repository (`host/name`, the
/// identity a `matchRepository` policy checks) and manifest digest.
pub fn simple_signing_payload(repository: &str, digest: &Digest) -> Vec<u8> {
    let payload = json!({
        "critical": {
            "identity": {"docker-reference": repository},
            "image": {"docker-manifest-digest": digest.as_str()},
            "type": "cosign container image signature",
        },
        "optional": null,
    });
    // A map of strings always encodes.
    serde_json::to_vec(&payload).unwrap_or_default()
}

/// Adds a cosign signature of `subject` (`payload`, the simple-signing JSON, and its
/// base64 `signature`) to the `sha256-<hex>.sig` image, keeping the signatures already
/// there. Returns the signature image's reference.
pub async fn add_cosign_signature(
    subject: &Subject,
    payload: &[u8],
    signature: &str,
    options: &ClientOptions,
) -> Result<String> {
    let repo = &subject.repository;
    let session = Session::for_host(&repo.host, options)?;
    let tag = subject.signature_tag();
    let payload_digest = Digest::of(payload);
    push_blob(
        &session,
        &repo.name,
        None,
        &Body::Bytes(payload.to_vec()),
        &payload_digest,
    )
    .await?;
    let mut layers: Vec<Value> = match read_manifest(&session, repo, &tag).await? {
        Some((m, _)) => m["layers"].as_array().cloned().unwrap_or_default(),
        None => Vec::new(),
    };
    layers.retain(|l| {
        !(l["digest"] == payload_digest.as_str()
            && l["annotations"][COSIGN_SIGNATURE_ANNOTATION] == signature)
    });
    layers.push(json!({
        "mediaType": SIMPLE_SIGNING,
        "digest": payload_digest.as_str(),
        "size": payload.len(),
        "annotations": {COSIGN_SIGNATURE_ANNOTATION: signature},
    }));
    // The config cosign writes: an image config whose layers are the payloads.
    let diff_ids: Vec<&str> = layers.iter().filter_map(|l| l["digest"].as_str()).collect();
    let config = serde_json::to_vec(&json!({
        "architecture": "",
        "os": "",
        "config": {},
        "rootfs": {"type": "layers", "diff_ids": diff_ids},
    }))
    .map_err(|e| Error::Json {
        what: "a signature image's config".into(),
        source: e,
    })?;
    let config_digest = Digest::of(&config);
    push_blob(
        &session,
        &repo.name,
        None,
        &Body::Bytes(config.clone()),
        &config_digest,
    )
    .await?;
    let manifest = json!({
        "schemaVersion": 2,
        "mediaType": OCI_MANIFEST,
        "config": {"mediaType": "application/vnd.oci.image.config.v1+json", "digest": config_digest.as_str(), "size": config.len()},
        "layers": layers,
    });
    let bytes = serde_json::to_vec(&manifest).map_err(|e| Error::Json {
        what: "a signature manifest".into(),
        source: e,
    })?;
    put_manifest(&session, repo, &tag, OCI_MANIFEST, bytes).await?;
    Ok(format!("{}/{}:{tag}", repo.host, repo.name))
}

/// The cosign signatures of `subject`: (payload, base64 signature) of each layer of its
/// `sha256-<hex>.sig` image.
pub async fn cosign_signatures(
    subject: &Subject,
    options: &ClientOptions,
) -> Result<Vec<(Vec<u8>, String)>> {
    let repo = &subject.repository;
    let session = Session::for_host(&repo.host, options)?;
    let Some((manifest, _)) = read_manifest(&session, repo, &subject.signature_tag()).await? else {
        return Ok(Vec::new());
    };
    let mut out = Vec::new();
    for l in manifest["layers"].as_array().cloned().unwrap_or_default() {
        if l["mediaType"] != SIMPLE_SIGNING {
            continue;
        }
        let Some(sig) = l["annotations"][COSIGN_SIGNATURE_ANNOTATION].as_str() else {
            continue;
        };
        let digest = Digest::parse(l["digest"].as_str().unwrap_or(""))?;
        out.push((read_blob(&session, repo, &digest).await?, sig.to_string()));
    }
    Ok(out)
}

async fn add_to_fallback_index(session: &Session, subject: &Subject, entry: Value) -> Result<()> {
    let repo = &subject.repository;
    let tag = subject.fallback_tag();
    let mut index = match read_manifest(session, repo, &tag).await? {
        Some((v, _)) if v["mediaType"] == OCI_INDEX || v["manifests"].is_array() => v,
        Some(_) => {
            return Err(Error::Registry(format!(
                "{}/{}:{tag} is not an image index; cannot list referrers there",
                repo.host, repo.name
            )));
        }
        None => json!({"schemaVersion": 2, "mediaType": OCI_INDEX, "manifests": []}),
    };
    let list = index["manifests"]
        .as_array_mut()
        .ok_or_else(|| Error::Registry(format!("{tag}: the index has no manifests")))?;
    if !list.iter().any(|m| m["digest"] == entry["digest"]) {
        list.push(entry);
    }
    let bytes = serde_json::to_vec(&index).map_err(|e| Error::Json {
        what: "the referrers index".into(),
        source: e,
    })?;
    put_manifest(session, repo, &tag, OCI_INDEX, bytes).await?;
    Ok(())
}

async fn put_manifest(
    session: &Session,
    repo: &Reference,
    reference: &str,
    media_type: &str,
    bytes: Vec<u8>,
) -> Result<reqwest::Response> {
    let url = format!("{}/v2/{}/manifests/{reference}", session.base(), repo.name);
    let resp = session
        .send(
            Method::PUT,
            &url,
            &[push_scope(&repo.name)],
            &Body::Bytes(bytes),
            &[(header::CONTENT_TYPE, media_type.to_string())],
            &format!("manifest {}/{}:{reference}", repo.host, repo.name),
        )
        .await?;
    session.check_auth(&resp)?;
    if resp.status() != StatusCode::CREATED {
        return Err(Error::Registry(format!(
            "PUT {url}: {}",
            error_text(resp).await
        )));
    }
    Ok(resp)
}

/// The manifest `reference` (a tag or digest) names, parsed, with its bytes; `None` when
/// there is none.
async fn read_manifest(
    session: &Session,
    repo: &Reference,
    reference: &str,
) -> Result<Option<(Value, Vec<u8>)>> {
    let url = format!("{}/v2/{}/manifests/{reference}", session.base(), repo.name);
    let subject = format!("manifest {}/{}:{reference}", repo.host, repo.name);
    let resp = session
        .send(
            Method::GET,
            &url,
            &[push_scope(&repo.name)],
            &Body::Empty,
            &[(header::ACCEPT, ACCEPT_MANIFESTS.to_string())],
            &subject,
        )
        .await?;
    if resp.status() == StatusCode::NOT_FOUND {
        return Ok(None);
    }
    let resp = session.success(resp, &format!("GET {url}")).await?;
    let bytes = session.bytes(resp, &url, &subject).await?.to_vec();
    let value = serde_json::from_slice(&bytes).map_err(|e| Error::Json {
        what: subject,
        source: e,
    })?;
    Ok(Some((value, bytes)))
}

async fn read_blob(session: &Session, repo: &Reference, digest: &Digest) -> Result<Vec<u8>> {
    let url = format!("{}/v2/{}/blobs/{digest}", session.base(), repo.name);
    let subject = format!("blob {}", digest.short());
    let resp = session
        .send(
            Method::GET,
            &url,
            &[format!("repository:{}:pull", repo.name)],
            &Body::Empty,
            &[],
            &subject,
        )
        .await?;
    let resp = session.success(resp, &format!("GET {url}")).await?;
    let bytes = session.bytes(resp, &url, &subject).await?.to_vec();
    if Digest::of(&bytes) != *digest {
        return Err(Error::DigestMismatch {
            expected: digest.to_string(),
            actual: Digest::of(&bytes).to_string(),
        });
    }
    Ok(bytes)
}
