//! Pulling an image into an OCI layout that serves as a digest-addressed cache: blobs the
//! layout has are never fetched again, and a reference pinned by digest whose blobs are
//! all there needs no network at all.

use std::io::Write;
use std::path::Path;
use std::time::Instant;

use futures_util::StreamExt;
use futures_util::stream::FuturesUnordered;
use oci_spec::image::{Descriptor, MediaType};
use reqwest::{Method, StatusCode, header};
use serde_json::Value;

use super::{Body, ClientOptions, Reference, Session, docker_config, error_text};
use crate::build::Platform;
use crate::inspect::{
    DOCKER_LIST, DOCKER_MANIFEST, ImageInfo, OCI_INDEX, OCI_MANIFEST, is_index,
    parse_json as parse, pick_platform,
};
use crate::{Digest, Error, OciLayout, Result};

/// What a pull left in the layout.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Pulled {
    /// The digest of what the reference names (an index or a manifest).
    pub digest: Digest,
    /// The tag it has in the layout (the reference as written).
    pub tag: String,
    /// Blobs fetched from the registry.
    pub fetched: usize,
    /// Blobs the layout had already.
    pub cached: usize,
}

/// Pulls `reference` (the manifest for `platform` when it names an index) into the layout
/// at `layout_dir`, created when missing, and tags it there with the reference.
pub async fn pull(
    reference: &Reference,
    layout_dir: &Path,
    platform: &Platform,
    options: &ClientOptions,
    say: &mut (dyn FnMut(String) + Send),
) -> Result<Pulled> {
    let layout = if layout_dir.join("oci-layout").exists() {
        OciLayout::open(layout_dir)?
    } else {
        OciLayout::create(layout_dir)?
    };
    let tag = reference.to_string();
    if let Some(pinned) = &reference.digest
        && let Some(pulled) = cached(&layout, pinned, &tag, platform)?
    {
        say(format!("{tag}: in the cache, nothing to fetch"));
        return Ok(pulled);
    }
    let (session, scopes) = pull_session(reference, options)?;
    let started = Instant::now();
    let resolved = resolve(&session, reference, platform, &scopes).await?;
    layout.write_blob(&resolved.top_bytes)?;
    if let Some(bytes) = &resolved.child_bytes {
        layout.write_blob(bytes)?;
    }
    let (top_type, top_bytes, top_digest, manifest) = (
        resolved.top_type,
        resolved.top_bytes,
        resolved.top_digest,
        resolved.manifest,
    );

    let mut wanted = Vec::new();
    for d in std::iter::once(&manifest["config"])
        .chain(manifest["layers"].as_array().into_iter().flatten())
    {
        wanted.push(Digest::parse(d["digest"].as_str().unwrap_or(""))?);
    }
    let missing: Vec<&Digest> = wanted.iter().filter(|d| !layout.has_blob(d)).collect();
    let cached = wanted.len() - missing.len();
    let mut queue = missing.iter();
    let mut running = FuturesUnordered::new();
    loop {
        while running.len() < 8 {
            match queue.next() {
                Some(d) => running.push(fetch_blob(&session, reference, &layout, d, &scopes)),
                None => break,
            }
        }
        match running.next().await {
            Some(done) => done?,
            None => break,
        }
    }
    let descriptor = Descriptor::new(
        MediaType::from(top_type.as_str()),
        top_bytes.len() as u64,
        top_digest.to_oci(),
    );
    layout.set_tag(&tag, &descriptor)?;
    say(format!(
        "pulled {tag} {top_digest}: {} blob(s) fetched, {cached} cached ({:.2}s)",
        missing.len(),
        started.elapsed().as_secs_f64()
    ));
    Ok(Pulled {
        digest: top_digest,
        tag,
        fetched: missing.len(),
        cached,
    })
}

/// A session for reading `reference`, and the scope to ask a token for.
fn pull_session(reference: &Reference, options: &ClientOptions) -> Result<(Session, [String; 1])> {
    let credentials = match &options.credentials {
        Some(c) => Some(c.clone()),
        None => docker_config::lookup(&reference.host)?,
    };
    let session = Session::new(&reference.host, &options.insecure, credentials)?;
    Ok((session, [format!("repository:{}:pull", reference.name)]))
}

/// What a reference names, fetched and verified.
struct Resolved {
    /// The document the reference names (an index or a manifest).
    top_type: String,
    top_bytes: Vec<u8>,
    top_digest: Digest,
    /// The platform's manifest's bytes, when the top document is an index.
    child_bytes: Option<Vec<u8>>,
    /// The image manifest (the top document, or the platform's from the index).
    manifest: Value,
    manifest_digest: Digest,
    manifest_type: String,
}

/// Fetches what `reference` names; an index is followed to `platform`'s manifest. A
/// pinned digest must match what the registry sends.
async fn resolve(
    session: &Session,
    reference: &Reference,
    platform: &Platform,
    scopes: &[String],
) -> Result<Resolved> {
    let (top_type, top_bytes, top_digest) =
        fetch_manifest(session, reference, &reference.manifest_ref(), scopes).await?;
    if let Some(pinned) = &reference.digest
        && pinned != &top_digest
    {
        return Err(Error::Registry(format!(
            "{reference}: the registry sent a manifest with digest {top_digest}"
        )));
    }
    let top: Value = parse(&top_bytes, &top_digest)?;
    if !is_index(&top_type, &top) {
        return Ok(Resolved {
            manifest_digest: top_digest.clone(),
            manifest_type: top_type.clone(),
            manifest: top,
            top_type,
            top_bytes,
            top_digest,
            child_bytes: None,
        });
    }
    let child = pick_platform(&top, platform, &reference.to_string())?;
    let (manifest_type, bytes, digest) =
        fetch_manifest(session, reference, child.as_str(), scopes).await?;
    if digest != child {
        return Err(Error::Registry(format!(
            "{reference}: asked for manifest {child}, got {digest}"
        )));
    }
    Ok(Resolved {
        manifest: parse(&bytes, &digest)?,
        manifest_digest: digest,
        manifest_type,
        top_type,
        top_bytes,
        top_digest,
        child_bytes: Some(bytes),
    })
}

/// The pull of a pinned digest, answered from the layout when every blob is there.
fn cached(
    layout: &OciLayout,
    pinned: &Digest,
    tag: &str,
    platform: &Platform,
) -> Result<Option<Pulled>> {
    if !layout.has_blob(pinned) {
        return Ok(None);
    }
    let bytes = layout.read_blob(pinned)?;
    let top: Value = parse(&bytes, pinned)?;
    let media = top["mediaType"]
        .as_str()
        .unwrap_or(OCI_MANIFEST)
        .to_string();
    let manifest = if is_index(&media, &top) {
        let child = pick_platform(&top, platform, tag)?;
        if !layout.has_blob(&child) {
            return Ok(None);
        }
        parse(&layout.read_blob(&child)?, &child)?
    } else {
        top
    };
    let mut count = 0;
    for d in std::iter::once(&manifest["config"])
        .chain(manifest["layers"].as_array().into_iter().flatten())
    {
        if !layout.has_blob(&Digest::parse(d["digest"].as_str().unwrap_or(""))?) {
            return Ok(None);
        }
        count += 1;
    }
    let descriptor = Descriptor::new(
        MediaType::from(media.as_str()),
        bytes.len() as u64,
        pinned.to_oci(),
    );
    layout.set_tag(tag, &descriptor)?;
    Ok(Some(Pulled {
        digest: pinned.clone(),
        tag: tag.to_string(),
        fetched: 0,
        cached: count,
    }))
}

/// GETs a manifest or index; returns its media type, bytes and digest (checked against
/// the registry's `Docker-Content-Digest`).
async fn fetch_manifest(
    session: &Session,
    reference: &Reference,
    what: &str,
    scopes: &[String],
) -> Result<(String, Vec<u8>, Digest)> {
    let url = format!("{}/v2/{}/manifests/{what}", session.base(), reference.name);
    let accept = [OCI_INDEX, OCI_MANIFEST, DOCKER_LIST, DOCKER_MANIFEST].join(", ");
    let resp = session
        .send(
            Method::GET,
            &url,
            scopes,
            &Body::Empty,
            &[(header::ACCEPT, accept)],
        )
        .await?;
    session.check_auth(&resp)?;
    if resp.status() == StatusCode::NOT_FOUND {
        return Err(Error::Registry(format!(
            "{}/{}:{what} is not in the registry\n  hint: check the name and tag (`skopeo list-tags docker://{}/{}`)",
            reference.host, reference.name, reference.host, reference.name
        )));
    }
    if !resp.status().is_success() {
        return Err(Error::Registry(format!(
            "GET {url}: {}",
            error_text(resp).await
        )));
    }
    let media = resp
        .headers()
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .map(|v| v.split(';').next().unwrap_or(v).trim().to_string());
    let claimed = resp
        .headers()
        .get("docker-content-digest")
        .and_then(|v| v.to_str().ok())
        .map(str::to_string);
    let bytes = resp
        .bytes()
        .await
        .map_err(|e| Error::Registry(format!("GET {url}: {e}")))?
        .to_vec();
    let digest = Digest::of(&bytes);
    if let Some(claimed) = claimed
        && claimed != digest.as_str()
    {
        return Err(Error::Registry(format!(
            "GET {url}: the registry says {claimed}, the bytes hash to {digest}"
        )));
    }
    let doc: Value = parse(&bytes, &digest)?;
    let media = doc["mediaType"]
        .as_str()
        .map(str::to_string)
        .or(media)
        .unwrap_or_else(|| OCI_MANIFEST.to_string());
    Ok((media, bytes, digest))
}

/// GETs blob `digest` into the layout, verifying it; a broken download is retried.
async fn fetch_blob(
    session: &Session,
    reference: &Reference,
    layout: &OciLayout,
    digest: &Digest,
    scopes: &[String],
) -> Result<()> {
    let url = format!("{}/v2/{}/blobs/{digest}", session.base(), reference.name);
    let mut last = String::new();
    for _ in 0..3 {
        let resp = session
            .send(Method::GET, &url, scopes, &Body::Empty, &[])
            .await?;
        session.check_auth(&resp)?;
        if !resp.status().is_success() {
            return Err(Error::Registry(format!(
                "GET {url}: {}",
                error_text(resp).await
            )));
        }
        let mut writer = layout.blob_writer()?;
        let mut stream = resp.bytes_stream();
        let mut broken = None;
        while let Some(chunk) = stream.next().await {
            match chunk {
                Ok(c) => writer
                    .write_all(&c)
                    .map_err(|e| Error::io("cannot write a blob in", layout.root(), e))?,
                Err(e) => {
                    broken = Some(e.to_string());
                    break;
                }
            }
        }
        if let Some(e) = broken {
            // Dropped without commit: nothing is left behind.
            last = e;
            continue;
        }
        let (got, _) = writer.commit()?;
        if &got != digest {
            let _ = std::fs::remove_file(layout.blob_path(&got));
            return Err(Error::DigestMismatch {
                expected: digest.to_string(),
                actual: got.to_string(),
            });
        }
        return Ok(());
    }
    Err(Error::Registry(format!("GET {url}: {last}")))
}

/// The manifest (for `platform`, when the reference names an index) and config of
/// `reference`, fetched and verified without its layers.
pub async fn inspect(
    reference: &Reference,
    platform: &Platform,
    options: &ClientOptions,
) -> Result<ImageInfo> {
    let (session, scopes) = pull_session(reference, options)?;
    let resolved = resolve(&session, reference, platform, &scopes).await?;
    let index = resolved
        .child_bytes
        .is_some()
        .then(|| resolved.top_digest.clone());
    let (digest, media_type, manifest) = (
        resolved.manifest_digest,
        resolved.manifest_type,
        resolved.manifest,
    );
    let config_digest = Digest::parse(manifest["config"]["digest"].as_str().unwrap_or(""))?;
    let url = format!(
        "{}/v2/{}/blobs/{config_digest}",
        session.base(),
        reference.name
    );
    let resp = session
        .send(Method::GET, &url, &scopes, &Body::Empty, &[])
        .await?;
    session.check_auth(&resp)?;
    if !resp.status().is_success() {
        return Err(Error::Registry(format!(
            "GET {url}: {}",
            error_text(resp).await
        )));
    }
    let bytes = resp
        .bytes()
        .await
        .map_err(|e| Error::Registry(format!("GET {url}: {e}")))?;
    let got = Digest::of(&bytes);
    if got != config_digest {
        return Err(Error::DigestMismatch {
            expected: config_digest.to_string(),
            actual: got.to_string(),
        });
    }
    let config = parse(&bytes, &config_digest)?;
    Ok(ImageInfo {
        digest,
        index,
        media_type,
        manifest,
        config_digest,
        config,
    })
}
