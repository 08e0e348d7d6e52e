//! Writes a package: hashes the inputs (streaming), then writes the manifest and the
//! files into a normalised tar.gz through a temporary file that is renamed into place,
//! so `output` never holds a half-written package.

use std::fs::{self, File, OpenOptions};
use std::io::{BufWriter, Read, Write};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};

use flate2::{Compression, GzBuilder};

use crate::error::{Error, Result, io_err};
use crate::hashing::{HashingReader, HashingWriter, hash_reader};
use crate::inputs::{self, Input};
use crate::{Built, FORMAT, FileEntry, MANIFEST_NAME, Manifest, PackageRequest};

/// Builds the package described by `req` at `req.output`.
///
/// Every file is read twice (once to hash it for the manifest, which comes first, and
/// once to add it) with bounded memory; if it changed in between, [`Error::Changed`].
pub fn create(req: &PackageRequest) -> Result<Built> {
    let inputs = inputs::collect(&req.root, &req.paths)?;
    let files = inputs.iter().map(describe).collect::<Result<Vec<_>>>()?;
    let manifest = Manifest {
        format: FORMAT,
        version: req.version.clone(),
        commit: req.commit.clone(),
        run: req.run,
        files,
    };
    let mut json = serde_json::to_vec_pretty(&manifest).map_err(Error::Encode)?;
    json.push(b'\n');

    let (temp, file) = TempOutput::create(&req.output)?;
    let writer = HashingWriter::new(BufWriter::new(file));
    let gz = GzBuilder::new().mtime(0).write(writer, Compression::new(6));
    let mut tar = tar::Builder::new(gz);
    append(
        &mut tar,
        MANIFEST_NAME,
        0o644,
        json.len() as u64,
        req.mtime,
        &json[..],
    )
    .map_err(io_err("writing", &temp.path))?;
    for (input, entry) in inputs.iter().zip(&manifest.files) {
        add_file(&mut tar, input, entry, req.mtime, &temp.path)?;
    }
    let (buffered, size, sha256) = tar
        .into_inner()
        .and_then(|gz| gz.finish())
        .map_err(io_err("writing", &temp.path))?
        .finish();
    let file = buffered
        .into_inner()
        .map_err(|e| io_err("writing", &temp.path)(e.into_error()))?;
    file.sync_all().map_err(io_err("syncing", &temp.path))?;
    drop(file);
    temp.persist(&req.output)?;
    Ok(Built {
        path: req.output.clone(),
        sha256,
        size,
        manifest,
    })
}

/// Hashes one input for the manifest.
fn describe(input: &Input) -> Result<FileEntry> {
    let file = File::open(&input.source).map_err(io_err("opening", &input.source))?;
    let meta = file
        .metadata()
        .map_err(io_err("reading metadata of", &input.source))?;
    let (size, sha256) = hash_reader(file).map_err(io_err("reading", &input.source))?;
    Ok(FileEntry {
        path: input.name.clone(),
        mode: normalised_mode(&meta),
        size,
        sha256,
    })
}

/// Any executable bit gives `0o755`, else `0o644`: owner-only, group/other write and
/// setuid/setgid/sticky differences never change the package.
fn normalised_mode(meta: &fs::Metadata) -> u32 {
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        if meta.permissions().mode() & 0o111 != 0 {
            return 0o755;
        }
    }
    #[cfg(not(unix))]
    let _ = meta;
    0o644
}

fn add_file<W: Write>(
    tar: &mut tar::Builder<W>,
    input: &Input,
    entry: &FileEntry,
    mtime: u64,
    temp: &Path,
) -> Result<()> {
    let file = File::open(&input.source).map_err(io_err("opening", &input.source))?;
    let mut reader = HashingReader::new(file);
    append(
        tar,
        &entry.path,
        entry.mode,
        entry.size,
        mtime,
        (&mut reader).take(entry.size),
    )
    .map_err(io_err("writing", temp))?;
    // A file that grew would still match on its first `size` bytes: look for more.
    let grew = reader
        .get_mut()
        .read(&mut [0u8; 1])
        .map_err(io_err("reading", &input.source))?
        > 0;
    let (size, sha256) = reader.finish();
    if grew || size != entry.size || sha256 != entry.sha256 {
        return Err(Error::Changed {
            path: input.source.clone(),
        });
    }
    Ok(())
}

/// Appends one regular file with a fully normalised header.
fn append<W: Write>(
    tar: &mut tar::Builder<W>,
    name: &str,
    mode: u32,
    size: u64,
    mtime: u64,
    data: impl Read,
) -> std::io::Result<()> {
    let mut header = tar::Header::new_gnu();
    header.set_entry_type(tar::EntryType::Regular);
    header.set_size(size);
    header.set_mode(mode);
    header.set_uid(0);
    header.set_gid(0);
    header.set_mtime(mtime);
    tar.append_data(&mut header, name, data)
}

/// A temporary file beside the output, removed unless [`TempOutput::persist`] renames it.
struct TempOutput {
    path: PathBuf,
    persisted: bool,
}

impl TempOutput {
    /// Creates the file; only a file this call created is ever removed.
    fn create(output: &Path) -> Result<(Self, File)> {
        static COUNTER: AtomicU64 = AtomicU64::new(0);
        let name =
            output
                .file_name()
                .and_then(|n| n.to_str())
                .ok_or_else(|| Error::InvalidPath {
                    path: output.display().to_string(),
                    reason: "the output needs a UTF-8 file name",
                })?;
        // The output's directory is made as needed (`-o dist/app-1.2.3.tar.gz` in a
        // fresh checkout).
        if let Some(dir) = output.parent().filter(|d| !d.as_os_str().is_empty()) {
            fs::create_dir_all(dir).map_err(io_err("creating", dir))?;
        }
        let unique = COUNTER.fetch_add(1, Ordering::Relaxed);
        let temp_name = format!(".{name}.{}.{unique}.tmp", std::process::id());
        let path = output.with_file_name(temp_name);
        let file = OpenOptions::new()
            .write(true)
            .create_new(true)
            .open(&path)
            .map_err(io_err("creating", &path))?;
        let temp = Self {
            path,
            persisted: false,
        };
        Ok((temp, file))
    }

    fn persist(mut self, output: &Path) -> Result<()> {
        fs::rename(&self.path, output).map_err(io_err("renaming into place", output))?;
        self.persisted = true;
        Ok(())
    }
}

impl Drop for TempOutput {
    fn drop(&mut self) {
        if !self.persisted {
            let _ = fs::remove_file(&self.path);
        }
    }
}
