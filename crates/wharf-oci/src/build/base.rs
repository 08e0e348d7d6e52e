//! Reading the base image from an OCI layout and bringing its layers into the output.
//!
//! Layouts come from many tools (skopeo, umoci, our own pull), so this is tolerant: the
//! manifest may be OCI or Docker v2 schema 2, the tag may name an index (a platform is
//! picked), and the config is kept as untyped JSON so fields wharf does not know survive.
//! Docker layer media types are rewritten to their OCI equals (same bytes, same digest),
//! so that the new manifest is a consistent OCI manifest.

use std::path::Path;

use oci_spec::image::Descriptor;
use serde_json::Value;

use super::cache::link_or_copy;
use super::{BuiltLayer, LayerOrigin, Platform};
use crate::inspect::{DOCKER_MANIFEST, OCI_MANIFEST, is_index, pick_platform};
use crate::{Digest, Error, OciLayout, Result};

/// The parts of the base image the build extends.
#[derive(Debug, Clone)]
pub(crate) struct BaseImage {
    /// The base manifest's digest (recorded as an annotation).
    pub manifest: Digest,
    /// The config, as JSON.
    pub config: Value,
    /// The base layers, already present in the output layout.
    pub layers: Vec<BuiltLayer>,
}

/// Reads the image `tag` of the layout at `path` and links its layers into `output`.
pub(crate) fn load(
    path: &Path,
    tag: Option<&str>,
    platform: &Platform,
    output: &OciLayout,
) -> Result<BaseImage> {
    let layout = OciLayout::open(path)?;
    let desc = layout.resolve(tag)?;
    let mut digest = Digest::from_oci(desc.digest())?;
    let mut manifest = read_json(&layout, &digest)?;
    if is_index(desc.media_type().as_ref(), &manifest) {
        let what = format!("the base index in {}", layout.root().display());
        digest = pick_platform(&manifest, platform, &what)?;
        manifest = read_json(&layout, &digest)?;
    }
    let invalid = |reason: String| Error::InvalidLayout {
        path: path.to_owned(),
        reason,
    };
    match manifest.get("mediaType").and_then(Value::as_str) {
        None | Some(OCI_MANIFEST | DOCKER_MANIFEST) => {}
        Some(other) => {
            return Err(invalid(format!(
                "base manifest {digest} has media type `{other}`, not an image manifest"
            )));
        }
    }
    if manifest.get("schemaVersion").and_then(Value::as_u64) != Some(2) {
        return Err(invalid(format!(
            "base manifest {digest} is not schema version 2"
        )));
    }
    let config_digest = manifest
        .pointer("/config/digest")
        .and_then(Value::as_str)
        .ok_or_else(|| invalid(format!("base manifest {digest} has no config digest")))
        .and_then(Digest::parse)?;
    let config = read_json(&layout, &config_digest)?;
    let diff_ids: Vec<&str> = config
        .pointer("/rootfs/diff_ids")
        .and_then(Value::as_array)
        .map(|a| a.iter().filter_map(Value::as_str).collect())
        .unwrap_or_default();
    let layer_values = manifest
        .get("layers")
        .and_then(Value::as_array)
        .cloned()
        .unwrap_or_default();
    if layer_values.len() != diff_ids.len() {
        return Err(invalid(format!(
            "base image {digest} has {} layers but {} diff_ids in its config",
            layer_values.len(),
            diff_ids.len()
        )));
    }
    let mut layers = Vec::with_capacity(layer_values.len());
    for (mut v, diff_id) in layer_values.into_iter().zip(diff_ids) {
        if let Some(mt) = v.get("mediaType").and_then(Value::as_str) {
            let oci = oci_layer_type(mt).to_owned();
            v["mediaType"] = Value::String(oci);
        }
        let descriptor: Descriptor = serde_json::from_value(v).map_err(|e| Error::Json {
            what: format!("a layer of base manifest {digest}"),
            source: e,
        })?;
        let blob = Digest::from_oci(descriptor.digest())?;
        if !output.has_blob(&blob) {
            if !layout.has_blob(&blob) {
                return Err(invalid(format!(
                    "base layer {blob} is missing from the layout"
                )));
            }
            link_or_copy(&layout.blob_path(&blob), &output.blob_path(&blob))?;
        }
        layers.push(BuiltLayer {
            descriptor,
            diff_id: Digest::parse(diff_id)?,
            origin: LayerOrigin::Base,
        });
    }
    Ok(BaseImage {
        manifest: digest,
        config,
        layers,
    })
}

fn read_json(layout: &OciLayout, digest: &Digest) -> Result<Value> {
    serde_json::from_slice(&layout.read_blob(digest)?).map_err(|e| Error::Json {
        what: format!("blob {digest} in {}", layout.root().display()),
        source: e,
    })
}

/// The OCI media type for a Docker layer media type (the bytes are the same).
fn oci_layer_type(mt: &str) -> &str {
    match mt {
        "application/vnd.docker.image.rootfs.diff.tar.gzip" => {
            "application/vnd.oci.image.layer.v1.tar+gzip"
        }
        "application/vnd.docker.image.rootfs.diff.tar" => "application/vnd.oci.image.layer.v1.tar",
        "application/vnd.docker.image.rootfs.diff.tar.zstd" => {
            "application/vnd.oci.image.layer.v1.tar+zstd"
        }
        "application/vnd.docker.image.rootfs.foreign.diff.tar.gzip" => {
            "application/vnd.oci.image.layer.nondistributable.v1.tar+gzip"
        }
        other => other,
    }
}
