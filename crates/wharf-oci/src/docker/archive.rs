//! An image of an OCI layout as a `docker load` archive, so a job can run (`image:`) or
//! serve (`services:`) the image an earlier job built, before anything is pushed.
//!
//! Engines with the classic image store load a tar with a `manifest.json` (the
//! `docker save` format); since Engine 25 its `Config` and `Layers` may point into an OCI
//! layout's `blobs/sha256/`, which is what this writes: `manifest.json`, the config and the
//! layer blobs, nothing converted (the engine reads gzip layers as they are).

use std::path::Path;

use crate::inspect::{manifest_blobs, parse_json};
use crate::{Digest, OciLayout, Result};

/// A `docker load` tar of the image tagged `tag` (or the only one) in the layout at
/// `layout`, named `repo_tag` in the engine.
pub fn load_archive(layout: &Path, tag: Option<&str>, repo_tag: &str) -> Result<Vec<u8>> {
    let oci = OciLayout::open(layout)?;
    let desc = oci.resolve(tag)?;
    let digest = Digest::from_oci(desc.digest())?;
    let manifest = parse_json(&oci.read_blob(&digest)?, &digest)?;
    let blobs = manifest_blobs(&manifest)?;
    let path = |d: &Digest| format!("blobs/sha256/{}", d.hex());
    let docker_manifest = serde_json::json!([{
        "Config": path(&blobs[0].0),
        "RepoTags": [repo_tag],
        "Layers": blobs[1..].iter().map(|(d, _)| path(d)).collect::<Vec<_>>(),
    }]);
    let mut tar = tar::Builder::new(Vec::new());
    let mut add = |name: &str, bytes: &[u8]| -> std::io::Result<()> {
        let mut header = tar::Header::new_gnu();
        header.set_size(bytes.len() as u64);
        header.set_mode(0o644);
        header.set_cksum();
        tar.append_data(&mut header, name, bytes)
    };
    let io = |source: std::io::Error| crate::Error::Io {
        action: "cannot write a load archive of",
        path: layout.to_path_buf(),
        source,
    };
    add("manifest.json", docker_manifest.to_string().as_bytes()).map_err(io)?;
    for (d, _) in &blobs {
        add(&path(d), &oci.read_blob(d)?).map_err(io)?;
    }
    tar.into_inner().map_err(io)
}
