//! Writing one (sub-)layer: a normalised tar, compressed, streamed straight into a blob of
//! the output layout, with both digests computed in the same pass.
//!
//! Normalised means: GNU headers (long names and link targets get GNU long-name records,
//! no PAX records), owner and group 0 with empty names, the build's time as mtime, no
//! atime/ctime, permission bits from the file without setuid/setgid/sticky. The tar
//! bytes are therefore a function of the entry list and the build time alone, and so is
//! the compressed blob (the gzip writer's choices depend on the content only).

use std::fs::File;
use std::io::{self, Read, Write};

use sha2::{Digest as _, Sha256};

use super::Compression;
use super::gzip::{GzipWriter, looks_incompressible};
use super::scan::{Entry, Kind};
use crate::layout::BlobWriter;
use crate::{Digest, Error, OciLayout, Result};

/// zlib-rs level for gzip layers (random-looking file contents are stored instead, see
/// [`super::gzip`]). Measured on the 150 MiB benchmark tree, 2 cores, cold build:
/// level 1 (zlib-rs' "quick" deflate) 0.61 s / 115.6 MiB, level 2 0.74 s / 101.0 MiB,
/// level 3 0.78 s / 98.5 MiB. Level 2 keeps most of the speed while compressing text
/// nearly as well as gzip -6, which keeps one-file rebuilds well under 2 MB to upload.
pub(crate) const GZIP_LEVEL: u32 = 2;

/// Bytes of each file sampled to decide whether gzip should store it uncompressed.
const SAMPLE_BYTES: u64 = 16 * 1024;

/// zstd level for zstd layers: the library's default, already faster than gzip level 1.
const ZSTD_LEVEL: i32 = 3;

/// A layer blob stored in the output layout.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct LayerBlob {
    /// Digest of the compressed blob.
    pub digest: Digest,
    /// Size of the compressed blob.
    pub size: u64,
    /// Digest of the uncompressed tar.
    pub diff_id: Digest,
}

/// The compressor between the tar stream and the blob file.
enum Encoder {
    Gzip(GzipWriter<BlobWriter>),
    Zstd(zstd::stream::write::Encoder<'static, BlobWriter>),
}

impl Write for Encoder {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        match self {
            Encoder::Gzip(w) => w.write(buf),
            Encoder::Zstd(w) => w.write(buf),
        }
    }

    fn flush(&mut self) -> io::Result<()> {
        match self {
            Encoder::Gzip(w) => w.flush(),
            Encoder::Zstd(w) => w.flush(),
        }
    }
}

impl Encoder {
    fn finish(self) -> io::Result<BlobWriter> {
        match self {
            Encoder::Gzip(w) => w.finish(),
            Encoder::Zstd(w) => w.finish(),
        }
    }
}

/// Writes the layer of `entries` (sorted, parents first) into `layout`.
pub(crate) fn write_layer(
    layout: &OciLayout,
    entries: &[&Entry],
    mtime: i64,
    compression: Compression,
) -> Result<LayerBlob> {
    let blob = layout.blob_writer()?;
    let encoder = match compression {
        Compression::Gzip => Encoder::Gzip(
            GzipWriter::new(blob, GZIP_LEVEL)
                .map_err(|e| Error::io("cannot write a layer in", layout.root(), e))?,
        ),
        Compression::Zstd => Encoder::Zstd(
            zstd::stream::write::Encoder::new(blob, ZSTD_LEVEL)
                .map_err(|e| Error::io("cannot start zstd in", layout.root(), e))?,
        ),
    };
    let mut tar = tar::Builder::new(DiffWriter {
        inner: encoder,
        sha: Sha256::new(),
    });
    let mtime = u64::try_from(mtime).unwrap_or(0);
    let write_err = |e: io::Error| Error::io("cannot write a layer in", layout.root(), e);
    for e in entries {
        let mut h = tar::Header::new_gnu();
        h.set_mode(e.mode);
        h.set_uid(0);
        h.set_gid(0);
        h.set_mtime(mtime);
        match &e.kind {
            Kind::Dir => {
                h.set_entry_type(tar::EntryType::Directory);
                h.set_size(0);
                tar.append_data(&mut h, format!("{}/", e.path), io::empty())
                    .map_err(write_err)?;
            }
            Kind::Symlink { target } => {
                h.set_entry_type(tar::EntryType::Symlink);
                h.set_size(0);
                tar.append_link(&mut h, &e.path, target)
                    .map_err(write_err)?;
            }
            Kind::File { src, size } => {
                h.set_entry_type(tar::EntryType::Regular);
                h.set_size(*size);
                let mut file = File::open(src).map_err(|e| Error::io("cannot read", src, e))?;
                let mut head = Vec::new();
                (&mut file)
                    .take(SAMPLE_BYTES.min(*size))
                    .read_to_end(&mut head)
                    .map_err(|e| Error::io("cannot read", src, e))?;
                if let Encoder::Gzip(gz) = &mut tar.get_mut().inner {
                    gz.set_stored(looks_incompressible(&head))
                        .map_err(write_err)?;
                }
                let mut counted = Counted {
                    inner: io::Cursor::new(head).chain(file).take(*size),
                    n: 0,
                };
                tar.append_data(&mut h, &e.path, &mut counted)
                    .map_err(|e| Error::io("cannot read", src, e))?;
                if counted.n != *size {
                    return Err(Error::Invalid(format!(
                        "{}: the file changed while the layer was being built",
                        src.display()
                    )));
                }
            }
        }
    }
    let diff = tar.into_inner().map_err(write_err)?;
    let diff_id = Digest::from_sha256(diff.sha.finalize().into());
    let blob = diff.inner.finish().map_err(write_err)?;
    let (digest, size) = blob.commit()?;
    Ok(LayerBlob {
        digest,
        size,
        diff_id,
    })
}

/// Hashes the uncompressed tar on its way to the compressor (the diff_id), and gives
/// the layer writer access to the compressor between entries.
struct DiffWriter {
    inner: Encoder,
    sha: Sha256,
}

impl Write for DiffWriter {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        let n = self.inner.write(buf)?;
        self.sha.update(&buf[..n]);
        Ok(n)
    }

    fn flush(&mut self) -> io::Result<()> {
        self.inner.flush()
    }
}

/// Counts the bytes read, to catch a file that shrank after it was scanned.
struct Counted<R> {
    inner: R,
    n: u64,
}

impl<R: Read> Read for Counted<R> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let n = self.inner.read(buf)?;
        self.n += n as u64;
        Ok(n)
    }
}
