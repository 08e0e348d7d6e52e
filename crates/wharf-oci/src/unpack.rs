//! An image's root file system from its layout: each layer applied in order, with the OCI
//! whiteouts (`.wh.NAME` removes `NAME`, `.wh..wh..opq` empties its directory), so what is
//! left is what a container of the image would see. For reading (an SBOM of the image),
//! not for running: device nodes are skipped, owners and set-id bits are not kept, and no
//! entry is written outside the root (the tar crate's `unpack_in` refuses `..` and
//! absolute paths, and never writes through a symlink out of the root).

use std::fs;
use std::io::Read;
use std::path::{Component, Path, PathBuf};

use crate::{Digest, Error, OciLayout, Result};

/// A whiteout file's prefix.
const WHITEOUT: &str = ".wh.";
/// The opaque-directory whiteout.
const OPAQUE: &str = ".wh..wh..opq";

fn io(what: String) -> impl FnOnce(std::io::Error) -> Error {
    move |e| Error::Registry(format!("{what}: {e}"))
}

/// Unpacks the image tagged `tag` (or the only one) of the layout at `layout_dir` into
/// `dest` (created; it should be empty).
pub fn unpack(layout_dir: &Path, tag: Option<&str>, dest: &Path) -> Result<()> {
    let layout = OciLayout::open(layout_dir)?;
    let desc = layout.resolve(tag)?;
    let manifest_digest = Digest::from_oci(desc.digest())?;
    let manifest: serde_json::Value = serde_json::from_slice(&layout.read_blob(&manifest_digest)?)
        .map_err(|e| Error::Json {
            what: format!("the image manifest {manifest_digest}"),
            source: e,
        })?;
    fs::create_dir_all(dest).map_err(io(format!("creating {}", dest.display())))?;
    for layer in manifest["layers"].as_array().cloned().unwrap_or_default() {
        let digest = Digest::parse(layer["digest"].as_str().unwrap_or(""))?;
        let media = layer["mediaType"].as_str().unwrap_or("");
        let file = layout.open_blob(&digest)?;
        let reader: Box<dyn Read> = if media.ends_with("+zstd") {
            Box::new(
                zstd::stream::read::Decoder::new(file)
                    .map_err(io(format!("reading layer {}", digest.short())))?,
            )
        } else if media.ends_with("+gzip") || media.ends_with(".gzip") {
            Box::new(flate2::read::GzDecoder::new(file))
        } else {
            Box::new(file)
        };
        apply(reader, dest).map_err(|e| match e {
            Error::Registry(m) => Error::Registry(format!("layer {}: {m}", digest.short())),
            other => other,
        })?;
    }
    Ok(())
}

/// Applies one layer (a tar stream) onto `dest`.
fn apply(reader: impl Read, dest: &Path) -> Result<()> {
    let mut archive = tar::Archive::new(reader);
    archive.set_preserve_permissions(false);
    archive.set_preserve_ownerships(false);
    archive.set_unpack_xattrs(false);
    archive.set_overwrite(true);
    for entry in archive
        .entries()
        .map_err(io("reading the layer".to_string()))?
    {
        let mut entry = entry.map_err(io("reading the layer".to_string()))?;
        let path = entry
            .path()
            .map_err(io("reading an entry's path".to_string()))?
            .into_owned();
        let Some(rel) = relative(&path) else {
            continue;
        };
        let name = rel
            .file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .unwrap_or_default();
        if name == OPAQUE {
            if let Some(dir) = rel.parent() {
                empty_dir(&dest.join(dir))?;
            }
            continue;
        }
        if let Some(hidden) = name.strip_prefix(WHITEOUT) {
            let target = dest.join(rel.with_file_name(hidden));
            remove(&target)?;
            continue;
        }
        let kind = entry.header().entry_type();
        if kind.is_character_special() || kind.is_block_special() || kind.is_fifo() {
            continue;
        }
        // A file replacing a directory (or the reverse) of a lower layer.
        let target = dest.join(&rel);
        if let Ok(meta) = fs::symlink_metadata(&target)
            && (meta.is_dir() != kind.is_dir() || meta.file_type().is_symlink())
        {
            remove(&target)?;
        }
        entry
            .unpack_in(dest)
            .map_err(io(format!("unpacking {}", rel.display())))?;
    }
    Ok(())
}

/// `path` without a leading `/` or `./`; `None` for one that climbs out.
fn relative(path: &Path) -> Option<PathBuf> {
    let mut out = PathBuf::new();
    for c in path.components() {
        match c {
            Component::Normal(p) => out.push(p),
            Component::CurDir | Component::RootDir => {}
            Component::ParentDir | Component::Prefix(_) => return None,
        }
    }
    (!out.as_os_str().is_empty()).then_some(out)
}

fn remove(target: &Path) -> Result<()> {
    match fs::symlink_metadata(target) {
        Ok(m) if m.is_dir() => fs::remove_dir_all(target),
        Ok(_) => fs::remove_file(target),
        Err(_) => return Ok(()),
    }
    .map_err(io(format!("removing {}", target.display())))
}

fn empty_dir(dir: &Path) -> Result<()> {
    let Ok(list) = fs::read_dir(dir) else {
        return Ok(());
    };
    for e in list.flatten() {
        remove(&e.path())?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn layer(entries: &[(&str, Option<&[u8]>)]) -> Vec<u8> {
        let mut b = tar::Builder::new(Vec::new());
        for (path, data) in entries {
            let mut h = tar::Header::new_gnu();
            match data {
                Some(d) => {
                    h.set_entry_type(tar::EntryType::Regular);
                    h.set_size(d.len() as u64);
                    h.set_mode(0o644);
                    b.append_data(&mut h, path, *d).unwrap();
                }
                None => {
                    h.set_entry_type(tar::EntryType::Directory);
                    h.set_size(0);
                    h.set_mode(0o755);
                    b.append_data(&mut h, path, &[][..]).unwrap();
                }
            }
        }
        b.into_inner().unwrap()
    }

    #[test]
    fn layers_apply_in_order_with_whiteouts() {
        let dir = tempfile::tempdir().unwrap();
        let root = dir.path();
        apply(
            &layer(&[
                ("etc/", None),
                ("etc/a", Some(b"a")),
                ("etc/b", Some(b"b")),
                ("opt/", None),
                ("opt/x", Some(b"x")),
            ])[..],
            root,
        )
        .unwrap();
        apply(
            &layer(&[
                ("etc/.wh.a", Some(b"")),
                ("opt/.wh..wh..opq", Some(b"")),
                ("opt/y", Some(b"y")),
                ("etc/b", Some(b"B")),
            ])[..],
            root,
        )
        .unwrap();
        assert!(!root.join("etc/a").exists());
        assert_eq!(fs::read(root.join("etc/b")).unwrap(), b"B");
        assert!(!root.join("opt/x").exists());
        assert_eq!(fs::read(root.join("opt/y")).unwrap(), b"y");
    }

    #[test]
    fn nothing_lands_outside_the_root() {
        assert_eq!(relative(Path::new("../etc/passwd")), None);
        assert_eq!(
            relative(Path::new("/usr/bin/x")),
            Some(PathBuf::from("usr/bin/x"))
        );
        assert_eq!(relative(Path::new("./")), None);
    }
}
