//! The build cache: a sub-layer whose inputs look unchanged is not tarred or compressed
//! again; its blob is taken from the output layout, or linked in from the cache's own
//! blob store.
//!
//! The key is a fingerprint of everything the blob depends on plus stat fields that
//! change whenever a file's content may have: path, type, mode, size, mtime and ctime in
//! nanoseconds, inode and device, link target, the tar mtime and the compression. A
//! copied or re-checked-out tree therefore misses the cache and is rebuilt, to the same
//! digest. The cache only ever saves work; it never changes what is built.
//!
//! Layout of the directory: `parts/<key>.json` (`{digest, size, diff_id}`) and `blobs/`,
//! an OCI layout holding hard links to the blobs built (nothing is kept when the cache is
//! on another filesystem than the output). Nothing is ever evicted: delete the directory
//! to reclaim space.

use std::fs;
use std::io::Write;
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};
use sha2::{Digest as _, Sha256};

use super::Compression;
use super::layer::{GZIP_LEVEL, LayerBlob};
use super::scan::{Entry, Kind};
use crate::{Digest, Error, OciLayout, Result};

/// Bumped whenever the tar or compression format changes, invalidating old entries.
const FORMAT: &str = "wharf-part-v2";

/// An open cache directory.
pub(crate) struct Cache {
    parts: PathBuf,
    blobs: OciLayout,
}

#[derive(Serialize, Deserialize)]
struct Record {
    digest: String,
    size: u64,
    diff_id: String,
}

impl Cache {
    /// Opens (creating) the cache at `dir`.
    pub fn open(dir: &Path) -> Result<Self> {
        let parts = dir.join("parts");
        fs::create_dir_all(&parts).map_err(|e| Error::io("cannot create", &parts, e))?;
        Ok(Cache {
            parts,
            blobs: OciLayout::create(dir.join("blobs"))?,
        })
    }

    /// The blob built earlier for `key`, made present in `output`; `None` on a miss or
    /// when the blob is gone from both places.
    pub fn lookup(&self, key: &str, output: &OciLayout) -> Result<Option<LayerBlob>> {
        let path = self.parts.join(format!("{key}.json"));
        let Ok(bytes) = fs::read(&path) else {
            return Ok(None);
        };
        // A damaged record is a miss, not an error: the cache only saves work.
        let Ok(rec) = serde_json::from_slice::<Record>(&bytes) else {
            return Ok(None);
        };
        let (Ok(digest), Ok(diff_id)) = (Digest::parse(&rec.digest), Digest::parse(&rec.diff_id))
        else {
            return Ok(None);
        };
        let blob = LayerBlob {
            digest,
            size: rec.size,
            diff_id,
        };
        if has_blob_of_size(output, &blob) {
            return Ok(Some(blob));
        }
        if has_blob_of_size(&self.blobs, &blob) {
            link_or_copy(
                &self.blobs.blob_path(&blob.digest),
                &output.blob_path(&blob.digest),
            )?;
            return Ok(Some(blob));
        }
        Ok(None)
    }

    /// Records `blob` (already in `output`) under `key`.
    pub fn store(&self, key: &str, blob: &LayerBlob, output: &OciLayout) -> Result<()> {
        let kept = self.blobs.blob_path(&blob.digest);
        if !kept.exists() {
            // Best effort: across filesystems the cache keeps only the record.
            let _ = fs::hard_link(output.blob_path(&blob.digest), &kept);
        }
        let rec = Record {
            digest: blob.digest.to_string(),
            size: blob.size,
            diff_id: blob.diff_id.to_string(),
        };
        let bytes = serde_json::to_vec(&rec).map_err(|e| Error::Json {
            what: "a build cache record".into(),
            source: e,
        })?;
        let path = self.parts.join(format!("{key}.json"));
        let mut tmp = tempfile::NamedTempFile::new_in(&self.parts)
            .map_err(|e| Error::io("cannot write in", &self.parts, e))?;
        tmp.write_all(&bytes)
            .map_err(|e| Error::io("cannot write", &path, e))?;
        tmp.persist(&path)
            .map_err(|e| Error::io("cannot replace", &path, e.error))?;
        Ok(())
    }
}

/// The cache key of a sub-layer.
pub(crate) fn fingerprint(entries: &[&Entry], mtime: i64, compression: Compression) -> String {
    let mut h = Sha256::new();
    let level = match compression {
        Compression::Gzip => format!("gzip-{GZIP_LEVEL}"),
        Compression::Zstd => "zstd".to_owned(),
    };
    h.update(format!("{FORMAT}\0{level}\0{mtime}\0").as_bytes());
    for e in entries {
        let s = &e.stamp;
        let (kind, extra) = match &e.kind {
            Kind::Dir => ("d", String::new()),
            Kind::File { src, size } => ("f", format!("{size}\0{}", src.display())),
            Kind::Symlink { target } => ("l", target.display().to_string()),
        };
        h.update(
            format!(
                "{}\0{kind}\0{extra}\0{:o}\0{}\0{}\0{}\0{}\n",
                e.path, e.mode, s.mtime_ns, s.ctime_ns, s.ino, s.dev
            )
            .as_bytes(),
        );
    }
    Digest::from_sha256(h.finalize().into()).hex().to_owned()
}

fn has_blob_of_size(layout: &OciLayout, blob: &LayerBlob) -> bool {
    fs::metadata(layout.blob_path(&blob.digest)).is_ok_and(|m| m.is_file() && m.len() == blob.size)
}

/// Hard-links `from` to `to`, copying when they are on different filesystems.
pub(crate) fn link_or_copy(from: &Path, to: &Path) -> Result<()> {
    if to.exists() {
        return Ok(());
    }
    if fs::hard_link(from, to).is_ok() {
        return Ok(());
    }
    let tmp = to.with_extension("tmp-copy");
    fs::copy(from, &tmp).map_err(|e| Error::io("cannot copy blob", from, e))?;
    fs::rename(&tmp, to).map_err(|e| Error::io("cannot store blob", to, e))?;
    Ok(())
}
