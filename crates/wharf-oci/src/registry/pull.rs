//! Pulling an image into an OCI layout that serves as a digest-addressed cache: blobs the
//! layout has are never fetched again, and a reference pinned by digest whose blobs are
//! all there needs no network at all. [`inspect`] reads the same way, without the layers.

use std::io::Write;
use std::path::Path;
use std::time::Instant;

use futures_util::StreamExt;
use futures_util::stream::FuturesUnordered;
use oci_spec::image::{Descriptor, MediaType};
use reqwest::{Method, StatusCode, header};
use serde_json::Value;
use tokio::sync::mpsc::unbounded_channel;

use super::{Body, ClientOptions, Reference, Session};
use crate::build::Platform;
use crate::inspect::{
    DOCKER_LIST, DOCKER_MANIFEST, ImageInfo, OCI_INDEX, OCI_MANIFEST, image_in_layout, is_index,
    manifest_blobs, parse_json as parse, pick_platform,
};
use crate::{Digest, Error, OciLayout, Result};

/// What a pull left in the layout.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Pulled {
    /// The digest of what the reference names (an index or a manifest).
    pub digest: Digest,
    /// The tag it has in the layout (the reference as written). It names the image
    /// manifest for the platform, so a build on it never has to pick one.
    pub tag: String,
    /// Blobs fetched from the registry.
    pub fetched: usize,
    /// Blobs the layout had already.
    pub cached: usize,
}

/// Pulls `reference` (the manifest for `platform` when it names an index) into the layout
/// at `layout_dir`, created when missing, and tags its manifest there with the reference.
pub async fn pull(
    reference: &Reference,
    layout_dir: &Path,
    platform: &Platform,
    options: &ClientOptions,
    say: &mut (dyn FnMut(String) + Send),
) -> Result<Pulled> {
    let layout = OciLayout::create(layout_dir)?;
    let tag = reference.to_string();
    if let Some(pinned) = &reference.digest
        && let Some(pulled) = cached(&layout, pinned, &tag, platform)?
    {
        say(format!("{tag}: in the cache, nothing to fetch"));
        return Ok(pulled);
    }
    let (notes_tx, mut notes) = unbounded_channel();
    let session = Session::for_host(&reference.host, options)?.with_notes(notes_tx);
    let scopes = pull_scopes(reference);
    let started = Instant::now();
    let resolved = resolve(&session, reference, platform, &scopes).await;
    while let Ok(line) = notes.try_recv() {
        say(line);
    }
    let resolved = resolved?;
    layout.write_blob(&resolved.top_bytes)?;
    if let Some(child) = &resolved.child_bytes {
        layout.write_blob(child)?;
    }
    let wanted = manifest_blobs(&resolved.manifest)?;
    let missing: Vec<&Digest> = wanted
        .iter()
        .map(|(d, _)| d)
        .filter(|d| !layout.has_blob(d))
        .collect();
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
        // Retry lines are said as they happen; the first failure ends the pull, and
        // returning drops (cancels) the other downloads.
        tokio::select! {
            Some(line) = notes.recv() => say(line),
            done = running.next() => match done {
                Some(done) => done?,
                None => break,
            },
        }
    }
    while let Ok(line) = notes.try_recv() {
        say(line);
    }
    let manifest_size = resolved
        .child_bytes
        .as_ref()
        .unwrap_or(&resolved.top_bytes)
        .len() as u64;
    tag_manifest(
        &layout,
        &tag,
        &resolved.manifest_type,
        manifest_size,
        &resolved.manifest_digest,
    )?;
    say(format!(
        "pulled {tag} {}: {} blob(s) fetched, {cached} cached ({:.2}s)",
        resolved.top_digest,
        missing.len(),
        started.elapsed().as_secs_f64()
    ));
    Ok(Pulled {
        digest: resolved.top_digest,
        tag,
        fetched: missing.len(),
        cached,
    })
}

/// The manifest (for `platform`, when the reference names an index) and config of
/// `reference`, fetched and verified without its layers.
pub async fn inspect(
    reference: &Reference,
    platform: &Platform,
    options: &ClientOptions,
) -> Result<ImageInfo> {
    let session = Session::for_host(&reference.host, options)?;
    let scopes = pull_scopes(reference);
    let resolved = resolve(&session, reference, platform, &scopes).await?;
    let config_digest =
        Digest::parse(resolved.manifest["config"]["digest"].as_str().unwrap_or(""))?;
    let url = blob_url(&session, reference, &config_digest);
    let subject = format!("config {}", config_digest.short());
    let resp = session
        .send(Method::GET, &url, &scopes, &Body::Empty, &[], &subject)
        .await?;
    let resp = session.success(resp, &format!("GET {url}")).await?;
    let bytes = session.bytes(resp, &url, &subject).await?;
    let got = Digest::of(&bytes);
    if got != config_digest {
        return Err(Error::DigestMismatch {
            expected: config_digest.to_string(),
            actual: got.to_string(),
        });
    }
    Ok(ImageInfo {
        index: resolved
            .child_bytes
            .is_some()
            .then_some(resolved.top_digest),
        digest: resolved.manifest_digest,
        media_type: resolved.manifest_type,
        manifest: resolved.manifest,
        config: parse(&bytes, &config_digest)?,
        config_digest,
    })
}

fn pull_scopes(reference: &Reference) -> [String; 1] {
    [format!("repository:{}:pull", reference.name)]
}

fn blob_url(session: &Session, reference: &Reference, digest: &Digest) -> String {
    format!("{}/v2/{}/blobs/{digest}", session.base(), reference.name)
}

/// Points `tag` at the image manifest `digest` of the layout.
fn tag_manifest(
    layout: &OciLayout,
    tag: &str,
    media_type: &str,
    size: u64,
    digest: &Digest,
) -> Result<()> {
    let descriptor = Descriptor::new(MediaType::from(media_type), size, digest.to_oci());
    layout.set_tag(tag, &descriptor)
}

/// What a reference names, fetched and verified.
struct Resolved {
    /// The document the reference names (an index or a manifest).
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
            manifest_type: top_type,
            manifest: top,
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
        top_bytes,
        top_digest,
        child_bytes: Some(bytes),
    })
}

/// The pull of a pinned digest, answered from the layout when the manifest and every
/// blob it names are there; anything missing or unreadable means fetching again.
fn cached(
    layout: &OciLayout,
    pinned: &Digest,
    tag: &str,
    platform: &Platform,
) -> Result<Option<Pulled>> {
    let Ok(image) = image_in_layout(layout, pinned, platform) else {
        return Ok(None);
    };
    let blobs = manifest_blobs(&image.manifest)?;
    if !blobs.iter().all(|(d, _)| layout.has_blob(d)) {
        return Ok(None);
    }
    let size = std::fs::metadata(layout.blob_path(&image.digest))
        .map_err(|e| Error::io("cannot read", layout.blob_path(&image.digest), e))?
        .len();
    tag_manifest(layout, tag, &image.media_type, size, &image.digest)?;
    Ok(Some(Pulled {
        digest: pinned.clone(),
        tag: tag.to_string(),
        fetched: 0,
        cached: blobs.len(),
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
    let subject = match Digest::parse(what) {
        Ok(d) => format!("manifest {}", d.short()),
        Err(_) => format!("manifest {}/{}:{what}", reference.host, reference.name),
    };
    let resp = session
        .send(
            Method::GET,
            &url,
            scopes,
            &Body::Empty,
            &[(header::ACCEPT, accept)],
            &subject,
        )
        .await?;
    if resp.status() == StatusCode::NOT_FOUND {
        return Err(Error::Registry(format!(
            "{}/{}:{what} is not in the registry\n  hint: check the name and tag (`skopeo list-tags docker://{}/{}`)",
            reference.host, reference.name, reference.host, reference.name
        )));
    }
    let resp = session.success(resp, &format!("GET {url}")).await?;
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
    let bytes = session.bytes(resp, &url, &subject).await?.to_vec();
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

/// Downloads of one blob before the pull fails.
const DOWNLOADS: u32 = 3;

/// GETs blob `digest` into the layout, verifying it; a broken download is retried, a
/// stalled one is not.
async fn fetch_blob(
    session: &Session,
    reference: &Reference,
    layout: &OciLayout,
    digest: &Digest,
    scopes: &[String],
) -> Result<()> {
    let url = blob_url(session, reference, digest);
    let subject = format!("blob {}", digest.short());
    let exchange = session.exchange(&Method::GET, &url, &Body::Empty, &subject);
    let mut last = None;
    for attempt in 1..=DOWNLOADS {
        let resp = session
            .send(Method::GET, &url, scopes, &Body::Empty, &[], &subject)
            .await?;
        let resp = session.success(resp, &format!("GET {url}")).await?;
        let mut writer = layout.blob_writer()?;
        let mut stream = resp.bytes_stream();
        let mut broken = None;
        while let Some(chunk) = stream.next().await {
            match chunk {
                Ok(c) => writer
                    .write_all(&c)
                    .map_err(|e| Error::io("cannot write a blob in", layout.root(), e))?,
                Err(e) => {
                    broken = Some(exchange.error(&e, session.limits()));
                    break;
                }
            }
        }
        if let Some(e) = broken {
            // Dropped without commit: nothing is left behind.
            match e.retry_reason() {
                Some(reason) if attempt < DOWNLOADS => {
                    session.note_retry(&subject, attempt + 1, DOWNLOADS, reason);
                    last = Some(e);
                    continue;
                }
                _ => return Err(e.into()),
            }
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
    Err(match last {
        Some(e) => e.into(),
        None => Error::Registry(format!("GET {url}: the download kept failing")),
    })
}
