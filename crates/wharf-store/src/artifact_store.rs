//! The content-addressed artifact store: `artifacts/sha256/ab/abcdef…` under the wharf
//! dir, one read-only file per distinct content.
//!
//! Addressing by content makes a stored artifact immutable (the name proves the bytes)
//! and stores identical files once, however many runs produce them. Files are streamed,
//! never read whole, and appear under their final name only complete (write to a temp
//! file, then rename), so a concurrent reader never sees half an object. The API is
//! blocking; async callers wrap it in `spawn_blocking`.

use std::fs::{self, File};
use std::io::{Read, Write};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};

use sha2::{Digest, Sha256};

use crate::error::{Error, Result, io};
use crate::hash::{BUFFER, hex, is_sha256_hex, sha256_file};

/// Mode of stored objects: nobody edits an object in place.
const OBJECT_MODE: u32 = 0o444;

/// The artifact store of one wharf dir.
#[derive(Debug, Clone)]
pub struct ArtifactStore {
    root: PathBuf,
}

impl ArtifactStore {
    /// The store under `wharf_dir/artifacts/`. Directories are created when first needed.
    pub fn new(wharf_dir: &Path) -> ArtifactStore {
        ArtifactStore {
            root: wharf_dir.join("artifacts"),
        }
    }

    /// Stores the file at `path`; returns its hex sha256 and size. Storing content that
    /// is already there keeps the existing object.
    pub fn put_file(&self, path: &Path) -> Result<(String, u64)> {
        let mut source = File::open(path).map_err(io("open the artifact", path))?;
        let tmp_dir = self.root.join("tmp");
        fs::create_dir_all(&tmp_dir).map_err(io("create the directory", &tmp_dir))?;
        let (mut out, tmp) = TempFile::create(&tmp_dir, "put")?;
        let mut hasher = Sha256::new();
        let mut buf = vec![0; BUFFER];
        let mut size = 0u64;
        loop {
            let n = match source.read(&mut buf) {
                Ok(0) => break,
                Ok(n) => n,
                Err(e) if e.kind() == std::io::ErrorKind::Interrupted => continue,
                Err(e) => return Err(io("read the artifact", path)(e)),
            };
            hasher.update(&buf[..n]);
            out.write_all(&buf[..n])
                .map_err(io("write the temporary file", &tmp.path))?;
            size += n as u64;
        }
        // The object must be whole on disk before a run record can point at it.
        out.sync_all()
            .map_err(io("write the temporary file", &tmp.path))?;
        drop(out);
        let sha256 = hex(&hasher.finalize());
        let object = self.object_path_unchecked(&sha256);
        // An existing object of another size is a leftover of a crash: replace it.
        if fs::metadata(&object).is_ok_and(|m| m.is_file() && m.len() == size) {
            return Ok((sha256, size)); // `tmp` is removed on drop.
        }
        let fan_out = object.parent().unwrap_or(&self.root);
        fs::create_dir_all(fan_out).map_err(io("create the directory", fan_out))?;
        set_mode(&tmp.path, OBJECT_MODE)?;
        tmp.persist(&object)?;
        Ok((sha256, size))
    }

    /// Where the object with hex digest `sha256` is (or would be) stored.
    pub fn object_path(&self, sha256: &str) -> Result<PathBuf> {
        if !is_sha256_hex(sha256) {
            return Err(Error::InvalidDigest(sha256.to_string()));
        }
        Ok(self.object_path_unchecked(sha256))
    }

    fn object_path_unchecked(&self, sha256: &str) -> PathBuf {
        self.root.join("sha256").join(&sha256[..2]).join(sha256)
    }

    /// Writes object `sha256` to `dest` with permission bits `mode`, creating parent
    /// directories. `dest` is replaced whole or not at all. When `dest` already has this
    /// content, only its mode is corrected.
    pub fn materialize(&self, sha256: &str, dest: &Path, mode: u32) -> Result<()> {
        let object = self.existing_object(sha256)?;
        let object_size = fs::metadata(&object)
            .map_err(io("read the artifact", &object))?
            .len();
        if fs::metadata(dest).is_ok_and(|m| m.is_file() && m.len() == object_size)
            && sha256_file(dest)?.0 == sha256
        {
            return set_mode(dest, mode);
        }
        let parent = match dest.parent() {
            Some(p) if !p.as_os_str().is_empty() => p,
            _ => Path::new("."),
        };
        fs::create_dir_all(parent).map_err(io("create the directory", parent))?;
        let (mut out, tmp) = TempFile::create(parent, ".wharf-artifact")?;
        let mut source = File::open(&object).map_err(io("read the artifact", &object))?;
        std::io::copy(&mut source, &mut out).map_err(io("write", &tmp.path))?;
        drop(out);
        set_mode(&tmp.path, mode)?;
        tmp.persist(dest)
    }

    /// Re-hashes object `sha256`: `false` when its content no longer matches its name.
    pub fn verify(&self, sha256: &str) -> Result<bool> {
        let object = self.existing_object(sha256)?;
        Ok(sha256_file(&object)?.0 == sha256)
    }

    /// The path of an object that must exist.
    fn existing_object(&self, sha256: &str) -> Result<PathBuf> {
        let object = self.object_path(sha256)?;
        if !object.is_file() {
            return Err(Error::MissingObject {
                sha256: sha256.to_string(),
                path: object,
            });
        }
        Ok(object)
    }
}

/// A temporary file that is removed on drop unless it was renamed into place.
struct TempFile {
    path: PathBuf,
    persisted: bool,
}

impl TempFile {
    /// Creates a fresh file in `dir`, named so that concurrent processes and threads
    /// never collide.
    fn create(dir: &Path, prefix: &str) -> Result<(File, TempFile)> {
        static NEXT: AtomicU64 = AtomicU64::new(0);
        loop {
            let n = NEXT.fetch_add(1, Ordering::Relaxed);
            let path = dir.join(format!("{prefix}-{}-{n}.tmp", std::process::id()));
            match File::options().write(true).create_new(true).open(&path) {
                Ok(file) => {
                    let tmp = TempFile {
                        path,
                        persisted: false,
                    };
                    return Ok((file, tmp));
                }
                // Left behind by a crashed process that had our pid: take the next name.
                Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => continue,
                Err(e) => return Err(io("create a temporary file in", dir)(e)),
            }
        }
    }

    /// Renames the file to `dest`, atomically replacing what was there.
    fn persist(mut self, dest: &Path) -> Result<()> {
        fs::rename(&self.path, dest).map_err(io("move the finished file to", dest))?;
        self.persisted = true;
        Ok(())
    }
}

impl Drop for TempFile {
    fn drop(&mut self) {
        if !self.persisted {
            // Best effort: a leftover in a tmp dir is harmless.
            let _ = fs::remove_file(&self.path);
        }
    }
}

/// Sets the permission bits of `path` (a no-op where files have none).
fn set_mode(path: &Path, mode: u32) -> Result<()> {
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        let wanted = mode & 0o7777;
        let current = fs::metadata(path).map_err(io("read the mode of", path))?;
        if current.permissions().mode() & 0o7777 != wanted {
            fs::set_permissions(path, fs::Permissions::from_mode(wanted))
                .map_err(io("set the mode of", path))?;
        }
    }
    #[cfg(not(unix))]
    let _ = (path, mode);
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn objects_fan_out_by_their_first_two_hex_digits() {
        let store = ArtifactStore::new(Path::new("/w"));
        let digest = "ab".repeat(32);
        assert_eq!(
            store.object_path(&digest).unwrap(),
            Path::new("/w/artifacts/sha256/ab").join(&digest)
        );
    }

    #[test]
    fn a_failed_write_leaves_no_temporary_file() {
        let dir = tempfile::tempdir().unwrap();
        let store = ArtifactStore::new(dir.path());
        let err = store.put_file(&dir.path().join("missing")).unwrap_err();
        assert!(matches!(err, Error::Io { .. }), "{err}");
        let (file, tmp) = TempFile::create(dir.path(), "x").unwrap();
        let path = tmp.path.clone();
        assert!(path.exists());
        drop((file, tmp));
        assert!(!path.exists());
    }
}
