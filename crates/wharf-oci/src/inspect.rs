//! What an image is, without its layers: the manifest (the one for a platform when the
//! reference names an index) and the config, from an OCI layout
//! ([`inspect_layout`]) or a registry ([`crate::registry::inspect`]).

use std::path::Path;

use serde_json::Value;

use crate::build::Platform;
use crate::{Digest, Error, OciLayout, Result};

pub(crate) const OCI_INDEX: &str = "application/vnd.oci.image.index.v1+json";
pub(crate) const DOCKER_LIST: &str = "application/vnd.docker.distribution.manifest.list.v2+json";
pub(crate) const OCI_MANIFEST: &str = "application/vnd.oci.image.manifest.v1+json";
pub(crate) const DOCKER_MANIFEST: &str = "application/vnd.docker.distribution.manifest.v2+json";

/// An image's manifest and config.
#[derive(Debug, Clone, PartialEq)]
pub struct ImageInfo {
    /// The manifest's digest.
    pub digest: Digest,
    /// The index the manifest was picked from, when the reference named one.
    pub index: Option<Digest>,
    /// The manifest's media type.
    pub media_type: String,
    /// The manifest.
    pub manifest: Value,
    /// The config blob's digest.
    pub config_digest: Digest,
    /// The config (`architecture`, `os`, `config.Entrypoint`, `rootfs`, `history`, ...).
    pub config: Value,
}

/// One layer as the manifest lists it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LayerInfo {
    /// The blob's digest.
    pub digest: String,
    /// Its size in bytes (compressed).
    pub size: u64,
    /// Its media type.
    pub media_type: String,
}

impl ImageInfo {
    /// The layers, in order.
    pub fn layers(&self) -> Vec<LayerInfo> {
        self.manifest["layers"]
            .as_array()
            .into_iter()
            .flatten()
            .map(|l| LayerInfo {
                digest: l["digest"].as_str().unwrap_or("").to_string(),
                size: l["size"].as_u64().unwrap_or(0),
                media_type: l["mediaType"].as_str().unwrap_or("").to_string(),
            })
            .collect()
    }

    /// `os/architecture[/variant]` from the config.
    pub fn platform(&self) -> String {
        let mut p = format!(
            "{}/{}",
            self.config["os"].as_str().unwrap_or("?"),
            self.config["architecture"].as_str().unwrap_or("?")
        );
        if let Some(v) = self.config["variant"].as_str() {
            p.push('/');
            p.push_str(v);
        }
        p
    }
}

/// Whether a document of media type `media` is an index (or a Docker manifest list).
pub(crate) fn is_index(media: &str, doc: &Value) -> bool {
    media == OCI_INDEX
        || media == DOCKER_LIST
        || (doc.get("manifests").is_some() && doc.get("layers").is_none())
}

/// The manifest of an index for `platform`; `what` names the index in the error.
pub(crate) fn pick_platform(index: &Value, platform: &Platform, what: &str) -> Result<Digest> {
    let mut seen = Vec::new();
    for m in index["manifests"].as_array().into_iter().flatten() {
        let os = m.pointer("/platform/os").and_then(Value::as_str);
        let arch = m.pointer("/platform/architecture").and_then(Value::as_str);
        let variant = m.pointer("/platform/variant").and_then(Value::as_str);
        if os == Some(platform.os.as_str())
            && arch == Some(platform.architecture.as_str())
            && (platform.variant.is_none() || variant == platform.variant.as_deref())
        {
            return Digest::parse(m["digest"].as_str().unwrap_or(""));
        }
        seen.push(format!("{}/{}", os.unwrap_or("?"), arch.unwrap_or("?")));
    }
    Err(Error::Invalid(format!(
        "{what} has no image for {}/{} (it has: {})",
        platform.os,
        platform.architecture,
        if seen.is_empty() {
            "none".to_string()
        } else {
            seen.join(", ")
        }
    )))
}

/// Parses a JSON document stored under `digest`.
pub(crate) fn parse_json(bytes: &[u8], digest: &Digest) -> Result<Value> {
    serde_json::from_slice(bytes).map_err(|e| Error::Json {
        what: format!("document {digest}"),
        source: e,
    })
}

/// The config and layer blobs a manifest names, with their sizes, config first.
pub(crate) fn manifest_blobs(manifest: &Value) -> Result<Vec<(Digest, u64)>> {
    std::iter::once(&manifest["config"])
        .chain(manifest["layers"].as_array().into_iter().flatten())
        .map(|d| {
            Ok((
                Digest::parse(d["digest"].as_str().unwrap_or(""))?,
                d["size"].as_u64().unwrap_or(0),
            ))
        })
        .collect()
}

/// The image tagged `tag` (or the only one) in the layout at `path`.
pub fn inspect_layout(path: &Path, tag: Option<&str>, platform: &Platform) -> Result<ImageInfo> {
    let layout = OciLayout::open(path)?;
    let desc = layout.resolve(tag)?;
    image_in_layout(&layout, &Digest::from_oci(desc.digest())?, platform)
}

/// The image whose manifest (or index, followed to `platform`'s manifest) is blob `top`
/// of `layout`.
pub(crate) fn image_in_layout(
    layout: &OciLayout,
    top: &Digest,
    platform: &Platform,
) -> Result<ImageInfo> {
    let media_of = |doc: &Value| {
        doc["mediaType"]
            .as_str()
            .unwrap_or(OCI_MANIFEST)
            .to_string()
    };
    let doc = parse_json(&layout.read_blob(top)?, top)?;
    let (index, digest, manifest) = if is_index(&media_of(&doc), &doc) {
        let child = pick_platform(&doc, platform, &layout.root().display().to_string())?;
        let manifest = parse_json(&layout.read_blob(&child)?, &child)?;
        (Some(top.clone()), child, manifest)
    } else {
        (None, top.clone(), doc)
    };
    let config_digest = Digest::parse(manifest["config"]["digest"].as_str().unwrap_or(""))?;
    let config = parse_json(&layout.read_blob(&config_digest)?, &config_digest)?;
    Ok(ImageInfo {
        digest,
        index,
        media_type: media_of(&manifest),
        manifest,
        config_digest,
        config,
    })
}
