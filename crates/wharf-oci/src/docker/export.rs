//! Turns an image the engine built into an OCI image in an [`OciLayout`], so the push
//! path (which only reads layouts) ships Dockerfile builds exactly like daemonless ones.
//!
//! The engine hands images out as a `docker save` tar (`GET /images/{id}/get`): a
//! `manifest.json` naming the config and the layer tars. Engines up to 24 lay those out as
//! `<id>/layer.tar` (repeated layers as symlinks to the first copy); newer ones as an OCI
//! layout inside the tar (`blobs/sha256/<hex>`). Both are read through `manifest.json`.
//! The tar is spooled to a temporary file beside the layout (layers can be large, and
//! `manifest.json` may come last), then each layer is gzip-compressed straight into its
//! blob while its uncompressed sha256 is checked against the config's `rootfs.diff_ids`,
//! several layers at once on several cores. The config is stored byte for byte, so its
//! digest stays the engine's image id.

use std::collections::HashMap;
use std::fs::File;
use std::io::{self, BufRead, BufReader, Read, Seek, SeekFrom, Write};
use std::path::{Component, Path};
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};

use bollard::Docker;
use flate2::Compression;
use flate2::write::{GzEncoder, MultiGzDecoder};
use futures_util::StreamExt;
use oci_spec::image::{Arch, Descriptor, ImageManifestBuilder, MediaType, Os, PlatformBuilder};
use serde::Deserialize;
use tokio::io::AsyncWriteExt;

use super::{DockerError, ImageLayer};
use crate::{Digest, DigestWriter, Error, OciLayout, Result};

/// Largest `manifest.json` or config we read into memory; real ones are kilobytes.
const MAX_JSON: u64 = 64 * 1024 * 1024;

/// What [`convert`] wrote into the layout.
#[derive(Debug)]
pub(crate) struct Exported {
    pub(crate) manifest: Descriptor,
    pub(crate) config: Digest,
    pub(crate) layers: Vec<ImageLayer>,
}

/// Saves `image_id` from the engine and converts it into `layout` under `tag`.
pub(crate) async fn export(
    docker: &Docker,
    image_id: &Digest,
    layout: &OciLayout,
    tag: &str,
) -> Result<Exported> {
    let spool = tempfile::Builder::new()
        .prefix(".tmp-docker-save-")
        .tempfile_in(layout.root())
        .map_err(|e| Error::io("cannot create a temporary file in", layout.root(), e))?;
    let spool_path = spool.path().to_owned();
    let std_file = spool
        .reopen()
        .map_err(|e| Error::io("cannot open", &spool_path, e))?;
    let mut file =
        tokio::io::BufWriter::with_capacity(256 * 1024, tokio::fs::File::from_std(std_file));
    let mut saved = docker.export_image(image_id.as_str());
    while let Some(chunk) = saved.next().await {
        let chunk = chunk.map_err(|source| DockerError::Engine {
            action: "cannot export the built image",
            source,
        })?;
        file.write_all(&chunk)
            .await
            .map_err(|e| Error::io("cannot write", &spool_path, e))?;
    }
    file.flush()
        .await
        .map_err(|e| Error::io("cannot write", &spool_path, e))?;
    drop(file);
    let (layout, image_id, tag) = (layout.clone(), image_id.clone(), tag.to_owned());
    tokio::task::spawn_blocking(move || {
        let exported = convert(spool.path(), &layout, &image_id, &tag);
        drop(spool);
        exported
    })
    .await
    .map_err(|e| Error::Invalid(format!("the image conversion stopped: {e}")))?
}

/// One image of a `docker save` `manifest.json`.
#[derive(Deserialize)]
struct SaveManifest {
    #[serde(rename = "Config")]
    config: String,
    #[serde(rename = "Layers", default)]
    layers: Vec<String>,
}

/// The parts of an image config the conversion needs.
#[derive(Deserialize)]
struct ConfigHead {
    architecture: Option<String>,
    os: Option<String>,
    variant: Option<String>,
    rootfs: RootFs,
}

#[derive(Deserialize)]
struct RootFs {
    #[serde(default)]
    diff_ids: Vec<String>,
}

/// Where an entry's bytes sit in the spooled tar.
#[derive(Debug, Clone)]
struct Entry {
    offset: u64,
    size: u64,
    /// For symlinks and hard links: the archive path they point to.
    link: Option<String>,
}

/// Converts the `docker save` tar at `save` into an OCI image in `layout`, tagged `tag`.
pub(crate) fn convert(
    save: &Path,
    layout: &OciLayout,
    image_id: &Digest,
    tag: &str,
) -> Result<Exported> {
    let entries = index(save)?;
    let manifest_json = read_small(save, &entries, "manifest.json")?;
    let manifests: Vec<SaveManifest> =
        serde_json::from_slice(&manifest_json).map_err(|e| Error::Json {
            what: "manifest.json of the saved image".into(),
            source: e,
        })?;
    let [saved] = manifests.as_slice() else {
        return Err(bad(format!(
            "manifest.json lists {} images, expected one",
            manifests.len()
        )));
    };
    let config = read_small(save, &entries, &saved.config)?;
    let config_digest = Digest::of(&config);
    // Engines with the containerd image store name images by their manifest (or index)
    // digest, which their OCI-shaped save carries as a blob; the classic store names them
    // by the config digest.
    let id_is_a_saved_manifest = entries.contains_key(&format!("blobs/sha256/{}", image_id.hex()));
    if &config_digest != image_id && !id_is_a_saved_manifest {
        return Err(bad(format!(
            "its config hashes to {config_digest}, but the engine reports image id {image_id}"
        )));
    }
    let head: ConfigHead = serde_json::from_slice(&config).map_err(|e| Error::Json {
        what: format!("image config {image_id}"),
        source: e,
    })?;
    if head.rootfs.diff_ids.len() != saved.layers.len() {
        return Err(bad(format!(
            "the config lists {} layers (rootfs.diff_ids), manifest.json {}",
            head.rootfs.diff_ids.len(),
            saved.layers.len()
        )));
    }
    let diff_ids = head
        .rootfs
        .diff_ids
        .iter()
        .map(|d| Digest::parse(d))
        .collect::<Result<Vec<_>>>()?;
    let sources = saved
        .layers
        .iter()
        .map(|name| resolve(&entries, name))
        .collect::<Result<Vec<_>>>()?;
    let layers = compress_all(save, layout, &sources, &diff_ids)?;

    let config_stored = layout.write_blob(&config)?;
    debug_assert_eq!(config_stored, config_digest);
    let layer_descriptors: Vec<Descriptor> = layers
        .iter()
        .map(|l| Descriptor::new(MediaType::ImageLayerGzip, l.size, l.digest.to_oci()))
        .collect();
    let manifest = ImageManifestBuilder::default()
        .schema_version(2u32)
        .media_type(MediaType::ImageManifest)
        .config(Descriptor::new(
            MediaType::ImageConfig,
            config.len() as u64,
            config_digest.to_oci(),
        ))
        .layers(layer_descriptors)
        .build()
        .map_err(|e| Error::Invalid(format!("cannot build the image manifest: {e}")))?;
    let manifest_json = serde_json::to_vec(&manifest).map_err(|e| Error::Json {
        what: "image manifest".into(),
        source: e,
    })?;
    let manifest_digest = layout.write_blob(&manifest_json)?;
    let mut descriptor = Descriptor::new(
        MediaType::ImageManifest,
        manifest_json.len() as u64,
        manifest_digest.to_oci(),
    );
    if let (Some(arch), Some(os)) = (&head.architecture, &head.os) {
        let mut platform = PlatformBuilder::default()
            .architecture(Arch::from(arch.as_str()))
            .os(Os::from(os.as_str()));
        if let Some(variant) = &head.variant {
            platform = platform.variant(variant.clone());
        }
        descriptor.set_platform(platform.build().ok());
    }
    layout.set_tag(tag, &descriptor)?;
    // As the index holds it, with its ref.name annotation.
    let manifest = layout.resolve(Some(tag))?;
    Ok(Exported {
        manifest,
        config: config_digest,
        layers,
    })
}

fn bad(reason: String) -> Error {
    DockerError::Export { reason }.into()
}

/// Lists the spooled tar's entries without reading their contents.
fn index(save: &Path) -> Result<HashMap<String, Entry>> {
    let read_err = |e| Error::io("cannot read the saved image", save, e);
    let file = File::open(save).map_err(read_err)?;
    let mut archive = tar::Archive::new(BufReader::new(file));
    let mut entries = HashMap::new();
    for entry in archive.entries_with_seek().map_err(read_err)? {
        let entry = entry.map_err(read_err)?;
        let name = normalize(&entry.path().map_err(read_err)?);
        let header = entry.header();
        let link = match header.entry_type() {
            tar::EntryType::Symlink => {
                let target = entry.link_name().map_err(read_err)?.unwrap_or_default();
                // Relative to the link's own directory.
                let dir = Path::new(&name)
                    .parent()
                    .unwrap_or(Path::new(""))
                    .to_owned();
                Some(normalize(&dir.join(target)))
            }
            tar::EntryType::Link => Some(normalize(
                &entry.link_name().map_err(read_err)?.unwrap_or_default(),
            )),
            _ => None,
        };
        entries.insert(
            name,
            Entry {
                offset: entry.raw_file_position(),
                size: entry.size(),
                link,
            },
        );
    }
    Ok(entries)
}

/// A tar path without `./`, with `..` applied, `/`-separated.
fn normalize(path: &Path) -> String {
    let mut parts: Vec<String> = Vec::new();
    for c in path.components() {
        match c {
            Component::Normal(p) => parts.push(p.to_string_lossy().into_owned()),
            Component::ParentDir => {
                parts.pop();
            }
            _ => {}
        }
    }
    parts.join("/")
}

/// The regular-file entry `name` stands for, following links.
fn resolve(entries: &HashMap<String, Entry>, name: &str) -> Result<Entry> {
    let mut name = normalize(Path::new(name));
    // A few hops at most in real saves; the bound stops a link cycle.
    for _ in 0..16 {
        let entry = entries
            .get(&name)
            .ok_or_else(|| bad(format!("it has no `{name}`")))?;
        match &entry.link {
            Some(target) => name = target.clone(),
            None => return Ok(entry.clone()),
        }
    }
    Err(bad(format!("`{name}` is a link cycle")))
}

fn open_entry(save: &Path, entry: &Entry) -> Result<io::Take<File>> {
    let read_err = |e| Error::io("cannot read the saved image", save, e);
    let mut file = File::open(save).map_err(read_err)?;
    file.seek(SeekFrom::Start(entry.offset)).map_err(read_err)?;
    Ok(file.take(entry.size))
}

fn read_small(save: &Path, entries: &HashMap<String, Entry>, name: &str) -> Result<Vec<u8>> {
    let entry = resolve(entries, name)?;
    if entry.size > MAX_JSON {
        return Err(bad(format!(
            "`{name}` is {} bytes, too large for a JSON document",
            entry.size
        )));
    }
    let mut bytes = Vec::with_capacity(entry.size as usize);
    open_entry(save, &entry)?
        .read_to_end(&mut bytes)
        .map_err(|e| Error::io("cannot read the saved image", save, e))?;
    Ok(bytes)
}

/// Compresses every layer, spreading them over the available cores.
fn compress_all(
    save: &Path,
    layout: &OciLayout,
    sources: &[Entry],
    diff_ids: &[Digest],
) -> Result<Vec<ImageLayer>> {
    let cores = std::thread::available_parallelism().map_or(1, |n| n.get());
    let workers = cores.min(sources.len()).max(1);
    // Largest first, so that one big layer (often the base) does not start last and
    // leave the other cores idle at the end.
    let mut order: Vec<usize> = (0..sources.len()).collect();
    order.sort_by_key(|&i| std::cmp::Reverse(sources[i].size));
    let next = AtomicUsize::new(0);
    let failed = AtomicBool::new(false);
    let mut done: Vec<(usize, Result<ImageLayer>)> = std::thread::scope(|scope| {
        let handles: Vec<_> = (0..workers)
            .map(|_| {
                scope.spawn(|| {
                    let mut mine = Vec::new();
                    while !failed.load(Ordering::Relaxed) {
                        let Some(&i) = order.get(next.fetch_add(1, Ordering::Relaxed)) else {
                            break;
                        };
                        let result = open_entry(save, &sources[i])
                            .and_then(|r| compress_layer(r, layout, &diff_ids[i], i));
                        failed.fetch_or(result.is_err(), Ordering::Relaxed);
                        mine.push((i, result));
                    }
                    mine
                })
            })
            .collect();
        handles
            .into_iter()
            .flat_map(|h| h.join().expect("a layer worker panicked"))
            .collect()
    });
    done.sort_by_key(|(i, _)| *i);
    done.into_iter().map(|(_, r)| r).collect()
}

/// Stores one layer as a gzip blob, checking its uncompressed digest against `diff_id`.
fn compress_layer(
    raw: impl Read,
    layout: &OciLayout,
    diff_id: &Digest,
    index: usize,
) -> Result<ImageLayer> {
    let blobs = layout.root().join("blobs");
    let io_err = |e| Error::io("cannot store a layer in", &blobs, e);
    let mut reader = BufReader::with_capacity(256 * 1024, raw);
    let head = reader
        .fill_buf()
        .map_err(|e| Error::io("cannot read a layer of", layout.root(), e))?;
    let (actual, blob) = if head.starts_with(&[0x1f, 0x8b]) {
        // Newer engines may keep layers compressed: store them as they are, and
        // decompress only to check the diff_id.
        let mut check = MultiGzDecoder::new(DigestWriter::new(io::sink()));
        let mut tee = Tee {
            a: layout.blob_writer()?,
            b: &mut check,
        };
        io::copy(&mut reader, &mut tee).map_err(io_err)?;
        let blob = tee.a;
        let (actual, _, _) = check.finish().map_err(io_err)?.finish();
        (actual, blob)
    } else if head.starts_with(&[0x28, 0xb5, 0x2f, 0xfd]) {
        return Err(bad(format!(
            "layer {} is zstd-compressed, which wharf does not convert yet",
            index + 1
        )));
    } else {
        let mut w = DigestWriter::new(GzEncoder::new(
            layout.blob_writer()?,
            Compression::default(),
        ));
        io::copy(&mut reader, &mut w).map_err(io_err)?;
        let (actual, _, gz) = w.finish();
        (actual, gz.finish().map_err(io_err)?)
    };
    if &actual != diff_id {
        // Dropped uncommitted: a wrong layer leaves no blob behind.
        return Err(DockerError::DiffIdMismatch {
            layer: index + 1,
            expected: diff_id.clone(),
            actual,
        }
        .into());
    }
    let (digest, size) = blob.commit()?;
    Ok(ImageLayer {
        digest,
        size,
        diff_id: actual,
    })
}

/// Writes everything to both writers.
struct Tee<A, B> {
    a: A,
    b: B,
}

impl<A: Write, B: Write> Write for Tee<A, B> {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        let n = self.a.write(buf)?;
        self.b.write_all(&buf[..n])?;
        Ok(n)
    }

    fn flush(&mut self) -> io::Result<()> {
        self.a.flush()?;
        self.b.flush()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A layer tar holding one file.
    fn layer(name: &str, body: &[u8]) -> Vec<u8> {
        let mut b = tar::Builder::new(Vec::new());
        let mut h = tar::Header::new_gnu();
        h.set_size(body.len() as u64);
        h.set_mode(0o644);
        b.append_data(&mut h, name, body).unwrap();
        b.into_inner().unwrap()
    }

    fn add(b: &mut tar::Builder<Vec<u8>>, name: &str, body: &[u8]) {
        let mut h = tar::Header::new_gnu();
        h.set_size(body.len() as u64);
        h.set_mode(0o644);
        b.append_data(&mut h, name, body).unwrap();
    }

    /// A legacy (engine 20.10) save of an image whose second and third layers are equal,
    /// stored as a symlink like the engine does; manifest.json last, as the engine does.
    fn legacy_save(config: &[u8], layers: &[Vec<u8>]) -> Vec<u8> {
        let mut b = tar::Builder::new(Vec::new());
        let mut names = Vec::new();
        for (i, l) in layers.iter().enumerate() {
            let name = format!("l{i}/layer.tar");
            if i == 2 {
                let mut h = tar::Header::new_gnu();
                h.set_entry_type(tar::EntryType::Symlink);
                h.set_size(0);
                b.append_link(&mut h, &name, "../l1/layer.tar").unwrap();
            } else {
                add(&mut b, &name, l);
            }
            names.push(name);
        }
        let config_name = format!("{}.json", Digest::of(config).hex());
        add(&mut b, &config_name, config);
        let manifest =
            serde_json::json!([{ "Config": config_name, "RepoTags": null, "Layers": names }]);
        add(&mut b, "manifest.json", manifest.to_string().as_bytes());
        b.into_inner().unwrap()
    }

    fn config_for(layers: &[Vec<u8>]) -> Vec<u8> {
        let diff_ids: Vec<String> = layers.iter().map(|l| Digest::of(l).to_string()).collect();
        serde_json::json!({
            "architecture": "amd64", "os": "linux",
            "config": { "Cmd": ["sh"] },
            "rootfs": { "type": "layers", "diff_ids": diff_ids },
        })
        .to_string()
        .into_bytes()
    }

    #[test]
    fn a_legacy_save_becomes_a_tagged_gzip_image() {
        let dir = tempfile::tempdir().unwrap();
        let layers = vec![
            layer("a", b"first"),
            layer("b", b"second"),
            layer("b", b"second"),
        ];
        let config = config_for(&layers);
        let save = dir.path().join("save.tar");
        std::fs::write(&save, legacy_save(&config, &layers)).unwrap();
        let layout = OciLayout::create(dir.path().join("oci")).unwrap();
        let id = Digest::of(&config);
        let out = convert(&save, &layout, &id, "v1").unwrap();
        assert_eq!(out.config, id);
        assert_eq!(
            layout.read_blob(&id).unwrap(),
            config,
            "the config is stored byte for byte"
        );
        assert_eq!(out.layers.len(), 3);
        for (l, raw) in out.layers.iter().zip(&layers) {
            assert_eq!(l.diff_id, Digest::of(raw));
            let mut unzipped = Vec::new();
            flate2::read::GzDecoder::new(layout.open_blob(&l.digest).unwrap())
                .read_to_end(&mut unzipped)
                .unwrap();
            assert_eq!(&unzipped, raw);
        }
        let resolved = layout.resolve(Some("v1")).unwrap();
        assert_eq!(resolved, out.manifest);
        assert_eq!(
            resolved.platform().as_ref().map(|p| p.os().to_string()),
            Some("linux".to_owned())
        );
        let manifest: oci_spec::image::ImageManifest = serde_json::from_slice(
            &layout
                .read_blob(&Digest::from_oci(resolved.digest()).unwrap())
                .unwrap(),
        )
        .unwrap();
        assert_eq!(manifest.config().digest().to_string(), id.as_str());
        assert_eq!(
            manifest.layers()[2].media_type(),
            &MediaType::ImageLayerGzip
        );
    }

    #[test]
    fn gzip_layers_of_newer_engines_are_kept_as_they_are() {
        let dir = tempfile::tempdir().unwrap();
        let raw = layer("a", b"content");
        let mut gz = GzEncoder::new(Vec::new(), Compression::fast());
        gz.write_all(&raw).unwrap();
        let gz = gz.finish().unwrap();
        let config = config_for(std::slice::from_ref(&raw));
        let mut b = tar::Builder::new(Vec::new());
        add(
            &mut b,
            &format!("blobs/sha256/{}", Digest::of(&gz).hex()),
            &gz,
        );
        add(
            &mut b,
            &format!("blobs/sha256/{}", Digest::of(&config).hex()),
            &config,
        );
        // What the engine's own manifest says does not matter, only that it is saved.
        let engine_manifest = br#"{"schemaVersion":2}"#;
        let engine_manifest_name = format!("blobs/sha256/{}", Digest::of(engine_manifest).hex());
        add(&mut b, &engine_manifest_name, engine_manifest);
        let manifest = serde_json::json!([{
            "Config": format!("blobs/sha256/{}", Digest::of(&config).hex()),
            "Layers": [format!("blobs/sha256/{}", Digest::of(&gz).hex())],
        }]);
        add(&mut b, "manifest.json", manifest.to_string().as_bytes());
        let save = dir.path().join("save.tar");
        std::fs::write(&save, b.into_inner().unwrap()).unwrap();
        let layout = OciLayout::create(dir.path().join("oci")).unwrap();
        // The containerd image store's id: a manifest the save carries.
        let out = convert(&save, &layout, &Digest::of(engine_manifest), "t").unwrap();
        assert_eq!(out.config, Digest::of(&config));
        assert_eq!(out.layers[0].digest, Digest::of(&gz));
        assert_eq!(out.layers[0].diff_id, Digest::of(&raw));
    }

    #[test]
    fn a_layer_that_does_not_match_its_diff_id_is_refused() {
        let dir = tempfile::tempdir().unwrap();
        let layers = vec![
            layer("a", b"first"),
            layer("b", b"second"),
            layer("b", b"second"),
        ];
        let config = config_for(&[layers[0].clone(), layer("x", b"other"), layers[2].clone()]);
        let save = dir.path().join("save.tar");
        std::fs::write(&save, legacy_save(&config, &layers)).unwrap();
        let layout = OciLayout::create(dir.path().join("oci")).unwrap();
        let err = convert(&save, &layout, &Digest::of(&config), "v1")
            .unwrap_err()
            .to_string();
        assert!(
            err.contains("layer 2 of the saved image hashes to"),
            "{err}"
        );
        assert!(layout.resolve(Some("v1")).is_err(), "nothing is tagged");
        let err = convert(&save, &layout, &Digest::of(b"x"), "v1")
            .unwrap_err()
            .to_string();
        assert!(err.contains("but the engine reports image id"), "{err}");
    }
}
