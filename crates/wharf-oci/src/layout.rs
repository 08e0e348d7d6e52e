//! The OCI image layout on disk (image-spec `image-layout.md`): `oci-layout`, `index.json`
//! and `blobs/sha256/<hex>`. The builder writes one, push reads one, pull fills one.
//!
//! Blobs are written to a temporary file beside their final place and renamed once their
//! digest is known, so a crash never leaves a blob under a wrong name; `index.json` is
//! replaced atomically the same way.

use std::fs::{self, File};
use std::io::{BufWriter, Read, Write};
use std::path::{Path, PathBuf};

use oci_spec::image::{ANNOTATION_REF_NAME, Descriptor, ImageIndex, ImageIndexBuilder, MediaType};

use crate::{Digest, DigestWriter, Error, Result};

const LAYOUT_FILE: &str = "oci-layout";
const LAYOUT_JSON: &str = "{\"imageLayoutVersion\":\"1.0.0\"}";
/// Held while `index.json` is rewritten (other tools ignore files they do not know).
const LOCK_FILE: &str = ".wharf-index.lock";

/// An OCI image layout directory.
#[derive(Debug, Clone)]
pub struct OciLayout {
    root: PathBuf,
}

impl OciLayout {
    /// Opens the layout at `root`, creating an empty one (no images) when the directory is
    /// missing or empty.
    pub fn create(root: impl Into<PathBuf>) -> Result<Self> {
        let root = root.into();
        let layout = OciLayout { root };
        if layout.root.join(LAYOUT_FILE).exists() {
            return Self::open(layout.root);
        }
        let blobs = layout.root.join("blobs/sha256");
        fs::create_dir_all(&blobs).map_err(|e| Error::io("cannot create", &blobs, e))?;
        // Two processes may create the same layout (parallel jobs pulling bases into one
        // cache): only the first writes the empty index, or the second would wipe a tag
        // the first has set since.
        let _lock = layout.lock()?;
        if !layout.root.join(LAYOUT_FILE).exists() {
            layout.write_index(&empty_index())?;
            layout.write_atomic(LAYOUT_FILE, LAYOUT_JSON.as_bytes())?;
        }
        Ok(layout)
    }

    /// An exclusive lock on the layout's index (held until the file is dropped), so that
    /// concurrent writers of one layout never lose each other's tags.
    fn lock(&self) -> Result<fs::File> {
        let path = self.root.join(LOCK_FILE);
        let file = fs::OpenOptions::new()
            .create(true)
            .truncate(false)
            .write(true)
            .open(&path)
            .map_err(|e| Error::io("cannot open", &path, e))?;
        file.lock()
            .map_err(|e| Error::io("cannot lock", &path, e))?;
        Ok(file)
    }

    /// Opens an existing layout, checking its `oci-layout` marker.
    pub fn open(root: impl Into<PathBuf>) -> Result<Self> {
        let root = root.into();
        let marker = root.join(LAYOUT_FILE);
        let text = fs::read_to_string(&marker).map_err(|e| Error::InvalidLayout {
            path: root.clone(),
            reason: format!("not an OCI image layout (cannot read {LAYOUT_FILE}: {e})"),
        })?;
        let version: serde_json::Value = serde_json::from_str(&text).map_err(|e| Error::Json {
            what: marker.display().to_string(),
            source: e,
        })?;
        if version.get("imageLayoutVersion").and_then(|v| v.as_str()) != Some("1.0.0") {
            return Err(Error::InvalidLayout {
                path: root,
                reason: format!("unsupported {LAYOUT_FILE} {}", text.trim()),
            });
        }
        Ok(OciLayout { root })
    }

    /// The layout's root directory.
    pub fn root(&self) -> &Path {
        &self.root
    }

    /// Where the blob with `digest` lives (whether or not it exists).
    pub fn blob_path(&self, digest: &Digest) -> PathBuf {
        self.root.join("blobs/sha256").join(digest.hex())
    }

    /// Whether the layout holds the blob.
    pub fn has_blob(&self, digest: &Digest) -> bool {
        self.blob_path(digest).is_file()
    }

    /// Opens a blob for streaming reads.
    pub fn open_blob(&self, digest: &Digest) -> Result<File> {
        let path = self.blob_path(digest);
        File::open(&path).map_err(|e| Error::io("cannot open blob", path, e))
    }

    /// Reads a whole (small) blob, checking its digest: manifests, configs, indexes.
    pub fn read_blob(&self, digest: &Digest) -> Result<Vec<u8>> {
        let mut bytes = Vec::new();
        let path = self.blob_path(digest);
        self.open_blob(digest)?
            .read_to_end(&mut bytes)
            .map_err(|e| Error::io("cannot read blob", path, e))?;
        let actual = Digest::of(&bytes);
        if &actual != digest {
            return Err(Error::DigestMismatch {
                expected: digest.to_string(),
                actual: actual.to_string(),
            });
        }
        Ok(bytes)
    }

    /// Stores `bytes` as a blob, returning its digest (a no-op when already present).
    pub fn write_blob(&self, bytes: &[u8]) -> Result<Digest> {
        let mut w = self.blob_writer()?;
        w.write_all(bytes)
            .map_err(|e| Error::io("cannot write blob", self.root.join("blobs"), e))?;
        Ok(w.commit()?.0)
    }

    /// A streaming writer for a new blob; [`BlobWriter::commit`] names it by its digest.
    pub fn blob_writer(&self) -> Result<BlobWriter> {
        let dir = self.root.join("blobs/sha256");
        let tmp = tempfile::Builder::new()
            .prefix(".tmp-")
            .tempfile_in(&dir)
            .map_err(|e| Error::io("cannot create a blob in", &dir, e))?;
        Ok(BlobWriter {
            layout: self.clone(),
            inner: DigestWriter::new(BufWriter::with_capacity(256 * 1024, tmp)),
        })
    }

    /// Reads and parses `index.json`.
    pub fn index(&self) -> Result<ImageIndex> {
        let path = self.root.join("index.json");
        let text = fs::read(&path).map_err(|e| Error::io("cannot read", &path, e))?;
        serde_json::from_slice(&text).map_err(|e| Error::Json {
            what: path.display().to_string(),
            source: e,
        })
    }

    /// Writes `index.json` atomically.
    pub fn write_index(&self, index: &ImageIndex) -> Result<()> {
        let bytes = serde_json::to_vec(index).map_err(|e| Error::Json {
            what: "index.json".into(),
            source: e,
        })?;
        self.write_atomic("index.json", &bytes)
    }

    /// The manifest descriptor for `tag` (the `org.opencontainers.image.ref.name`
    /// annotation); with no tag, the only manifest in the index.
    pub fn resolve(&self, tag: Option<&str>) -> Result<Descriptor> {
        let index = self.index()?;
        let manifests = index.manifests();
        let found = match tag {
            Some(tag) => manifests.iter().find(|d| ref_name(d) == Some(tag)),
            None if manifests.len() == 1 => manifests.first(),
            None => None,
        };
        found.cloned().ok_or_else(|| {
            let tags: Vec<&str> = manifests.iter().filter_map(ref_name).collect();
            Error::InvalidLayout {
                path: self.root.clone(),
                reason: match tag {
                    Some(tag) => format!("no image tagged `{tag}` (tags: {})", list_or_none(&tags)),
                    None => format!(
                        "{} images in the layout; name one with :TAG (tags: {})",
                        manifests.len(),
                        list_or_none(&tags)
                    ),
                },
            }
        })
    }

    /// Points `tag` at `manifest` in `index.json`, replacing an earlier image of that tag.
    pub fn set_tag(&self, tag: &str, manifest: &Descriptor) -> Result<()> {
        let _lock = self.lock()?;
        let mut index = self.index()?;
        let mut d = manifest.clone();
        let mut annotations = d.annotations().clone().unwrap_or_default();
        annotations.insert(ANNOTATION_REF_NAME.to_owned(), tag.to_owned());
        d.set_annotations(Some(annotations));
        let mut manifests: Vec<Descriptor> = index
            .manifests()
            .iter()
            .filter(|m| ref_name(m) != Some(tag))
            .cloned()
            .collect();
        manifests.push(d);
        index.set_manifests(manifests);
        self.write_index(&index)
    }

    fn write_atomic(&self, name: &str, bytes: &[u8]) -> Result<()> {
        let path = self.root.join(name);
        let mut tmp = tempfile::NamedTempFile::new_in(&self.root)
            .map_err(|e| Error::io("cannot write in", &self.root, e))?;
        tmp.write_all(bytes)
            .map_err(|e| Error::io("cannot write", &path, e))?;
        tmp.persist(&path)
            .map_err(|e| Error::io("cannot replace", &path, e.error))?;
        Ok(())
    }
}

/// A blob being written; dropped without [`commit`](Self::commit), it leaves nothing behind.
pub struct BlobWriter {
    layout: OciLayout,
    inner: DigestWriter<BufWriter<tempfile::NamedTempFile>>,
}

impl BlobWriter {
    /// Flushes, names the blob by its digest and returns the digest and size.
    pub fn commit(self) -> Result<(Digest, u64)> {
        let (digest, size, buf) = self.inner.finish();
        let dir = self.layout.root.join("blobs/sha256");
        let tmp = buf
            .into_inner()
            .map_err(|e| Error::io("cannot write a blob in", &dir, e.into_error()))?;
        let path = self.layout.blob_path(&digest);
        if !path.exists() {
            tmp.persist(&path)
                .map_err(|e| Error::io("cannot store blob", &path, e.error))?;
        }
        Ok((digest, size))
    }
}

impl Write for BlobWriter {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.inner.write(buf)
    }

    fn flush(&mut self) -> std::io::Result<()> {
        self.inner.flush()
    }
}

/// Splits `DIR[:TAG]` (relative paths under `base`) into the layout directory and the tag.
/// The directory is the first prefix before a `:` that holds an OCI layout, so tags may
/// contain `:` and `/` (the base cache tags images with their full reference); when none
/// does, the last `:` not followed by a `/` separates the tag, as skopeo and umoci read it.
pub fn split_layout_ref(text: &str, base: &Path) -> (PathBuf, Option<String>) {
    for (i, _) in text.match_indices(':') {
        let dir = base.join(&text[..i]);
        if i > 0 && dir.join(LAYOUT_FILE).is_file() {
            return (dir, Some(text[i + 1..].to_owned()));
        }
    }
    match text.rsplit_once(':') {
        Some((dir, tag)) if !dir.is_empty() && !tag.contains('/') => {
            (base.join(dir), (!tag.is_empty()).then(|| tag.to_owned()))
        }
        _ => (base.join(text), None),
    }
}

/// A descriptor's `org.opencontainers.image.ref.name`.
pub fn ref_name(d: &Descriptor) -> Option<&str> {
    d.annotations()
        .as_ref()?
        .get(ANNOTATION_REF_NAME)
        .map(String::as_str)
}

fn list_or_none(tags: &[&str]) -> String {
    if tags.is_empty() {
        "none".to_owned()
    } else {
        tags.join(", ")
    }
}

fn empty_index() -> ImageIndex {
    ImageIndexBuilder::default()
        .schema_version(2u32)
        .media_type(MediaType::ImageIndex)
        .manifests(Vec::<Descriptor>::new())
        .build()
        .expect("an empty index has every required field")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn layout_references_split_at_the_layout_directory() {
        let dir = tempfile::tempdir().unwrap();
        OciLayout::create(dir.path().join("cache")).unwrap();
        let base = dir.path();
        assert_eq!(
            split_layout_ref("cache:127.0.0.1:5000/team/base:1", base),
            (
                base.join("cache"),
                Some("127.0.0.1:5000/team/base:1".into())
            )
        );
        assert_eq!(split_layout_ref("cache", base), (base.join("cache"), None));
        // not (yet) a layout: the last `:` without a `/` after it
        assert_eq!(
            split_layout_ref("out/img:1.2.3", base),
            (base.join("out/img"), Some("1.2.3".into()))
        );
        assert_eq!(split_layout_ref("a:b/c", base), (base.join("a:b/c"), None));
    }

    #[test]
    fn concurrent_writers_of_one_layout_keep_every_tag() {
        let dir = tempfile::tempdir().unwrap();
        let root = dir.path().join("cache");
        let threads: Vec<_> = (0..16)
            .map(|i| {
                let root = root.clone();
                std::thread::spawn(move || {
                    // Each creates (or opens) the layout, then tags its own image.
                    let layout = OciLayout::create(&root).unwrap();
                    let d = layout
                        .write_blob(format!("{{\"n\":{i}}}").as_bytes())
                        .unwrap();
                    let desc = Descriptor::new(MediaType::ImageManifest, 8, d.to_oci());
                    layout.set_tag(&format!("t{i}"), &desc).unwrap();
                })
            })
            .collect();
        for t in threads {
            t.join().unwrap();
        }
        let layout = OciLayout::open(&root).unwrap();
        assert_eq!(layout.index().unwrap().manifests().len(), 16);
        for i in 0..16 {
            layout.resolve(Some(&format!("t{i}"))).unwrap();
        }
    }

    #[test]
    fn blobs_are_named_by_digest_and_tags_replace_each_other() {
        let dir = tempfile::tempdir().unwrap();
        let layout = OciLayout::create(dir.path().join("img")).unwrap();
        let d = layout.write_blob(b"{}").unwrap();
        assert_eq!(d, Digest::of(b"{}"));
        assert_eq!(layout.read_blob(&d).unwrap(), b"{}");
        let desc = Descriptor::new(MediaType::ImageManifest, 2, d.to_oci());
        layout.set_tag("v1", &desc).unwrap();
        layout.set_tag("v1", &desc).unwrap();
        layout.set_tag("latest", &desc).unwrap();
        let reopened = OciLayout::open(layout.root()).unwrap();
        assert_eq!(reopened.index().unwrap().manifests().len(), 2);
        assert_eq!(
            reopened.resolve(Some("v1")).unwrap().digest().to_string(),
            d.as_str()
        );
        let err = reopened.resolve(Some("v2")).unwrap_err().to_string();
        assert!(
            err.contains("no image tagged `v2` (tags: v1, latest)"),
            "{err}"
        );
        let err = reopened.resolve(None).unwrap_err().to_string();
        assert!(err.contains("2 images in the layout"), "{err}");
    }

    #[test]
    fn a_damaged_blob_is_reported() {
        let dir = tempfile::tempdir().unwrap();
        let layout = OciLayout::create(dir.path()).unwrap();
        let d = layout.write_blob(b"original").unwrap();
        fs::write(layout.blob_path(&d), b"tampered").unwrap();
        assert!(matches!(
            layout.read_blob(&d),
            Err(Error::DigestMismatch { .. })
        ));
    }

    #[test]
    fn open_refuses_a_plain_directory() {
        let dir = tempfile::tempdir().unwrap();
        let err = OciLayout::open(dir.path()).unwrap_err().to_string();
        assert!(err.contains("not an OCI image layout"), "{err}");
    }
}
