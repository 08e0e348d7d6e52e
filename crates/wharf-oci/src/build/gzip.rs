//! A gzip writer that can store incompressible stretches instead of compressing them.
//!
//! Deflate at any level spends as long on random bytes (already-compressed files: images,
//! archives, most binaries) as on text, and gains nothing; on the benchmark tree those
//! bytes took half the compression time and grew by 5 %. The layer writer therefore
//! switches this stream to stored blocks for file contents that look random and back
//! afterwards. The decision depends on the content alone, so the blob stays
//! reproducible, and the result is an ordinary gzip member any reader accepts.
//!
//! The header is fixed (no name, mtime 0, OS "unknown"), so the blob depends only on the
//! tar bytes and the switch points.

use std::io::{self, Write};

use flate2::{Compress, Crc, FlushCompress, Status};

/// The gzip header: magic, deflate, no flags, mtime 0, no extra flags, OS unknown.
const HEADER: [u8; 10] = [0x1f, 0x8b, 8, 0, 0, 0, 0, 0, 0, 0xff];

/// Most bytes one stored deflate block can hold.
const STORED_MAX: usize = 65_535;

/// A raw deflate stream wrapped in a gzip member, written to `out`.
///
/// Stored stretches are written as stored deflate blocks by this writer itself, between a
/// sync flush of the compressor (which leaves the stream byte-aligned) and a reset of it
/// (so that its later back-references never reach into bytes it did not see). Changing
/// the compressor's level mid-stream instead is not possible through flate2 with zlib-rs.
pub(crate) struct GzipWriter<W: Write> {
    out: W,
    deflate: Compress,
    crc: Crc,
    buf: Vec<u8>,
    /// `Some` while storing: the bytes of the stored block being filled.
    stored: Option<Vec<u8>>,
    /// Whether the compressor took input since it was last reset.
    dirty: bool,
}

impl<W: Write> GzipWriter<W> {
    /// Starts a member compressed at `level`.
    pub fn new(mut out: W, level: u32) -> io::Result<Self> {
        out.write_all(&HEADER)?;
        Ok(GzipWriter {
            out,
            deflate: Compress::new(flate2::Compression::new(level), false),
            crc: Crc::new(),
            buf: vec![0; 256 * 1024],
            stored: None,
            dirty: false,
        })
    }

    /// Stores what follows uncompressed (`true`) or compresses it again (`false`).
    pub fn set_stored(&mut self, stored: bool) -> io::Result<()> {
        match (stored, self.stored.is_some()) {
            (true, false) => {
                if self.dirty {
                    self.run(FlushCompress::Sync)?;
                }
                self.stored = Some(Vec::with_capacity(STORED_MAX));
            }
            (false, true) => {
                self.flush_stored()?;
                self.stored = None;
                self.deflate.reset();
                self.dirty = false;
            }
            _ => {}
        }
        Ok(())
    }

    /// Ends the member (deflate end, CRC-32, length) and returns the writer.
    pub fn finish(mut self) -> io::Result<W> {
        self.set_stored(false)?;
        self.run(FlushCompress::Finish)?;
        self.out.write_all(&self.crc.sum().to_le_bytes())?;
        self.out.write_all(&self.crc.amount().to_le_bytes())?;
        Ok(self.out)
    }

    /// Writes the pending stored block (not final: the compressor ends the stream).
    fn flush_stored(&mut self) -> io::Result<()> {
        let Some(block) = &mut self.stored else {
            return Ok(());
        };
        if block.is_empty() {
            return Ok(());
        }
        let len = block.len() as u16;
        let mut head = [0u8; 5];
        head[1..3].copy_from_slice(&len.to_le_bytes());
        head[3..5].copy_from_slice(&(!len).to_le_bytes());
        self.out.write_all(&head)?;
        self.out.write_all(block)?;
        block.clear();
        Ok(())
    }

    /// Drains the compressor with `flush` until it has nothing more to give.
    fn run(&mut self, flush: FlushCompress) -> io::Result<()> {
        loop {
            let before = self.deflate.total_out();
            let status = self
                .deflate
                .compress(&[], &mut self.buf, flush)
                .map_err(io::Error::other)?;
            let produced = (self.deflate.total_out() - before) as usize;
            self.out.write_all(&self.buf[..produced])?;
            let done = match flush {
                FlushCompress::Finish => status == Status::StreamEnd,
                _ => produced < self.buf.len(),
            };
            if done || (produced == 0 && status == Status::BufError) {
                return Ok(());
            }
        }
    }
}

impl<W: Write> Write for GzipWriter<W> {
    fn write(&mut self, data: &[u8]) -> io::Result<usize> {
        if data.is_empty() {
            return Ok(0);
        }
        if let Some(block) = &mut self.stored {
            let n = data.len().min(STORED_MAX - block.len());
            block.extend_from_slice(&data[..n]);
            self.crc.update(&data[..n]);
            if block.len() == STORED_MAX {
                self.flush_stored()?;
            }
            return Ok(n);
        }
        self.dirty = true;
        loop {
            let (in0, out0) = (self.deflate.total_in(), self.deflate.total_out());
            self.deflate
                .compress(data, &mut self.buf, FlushCompress::None)
                .map_err(io::Error::other)?;
            let consumed = (self.deflate.total_in() - in0) as usize;
            let produced = (self.deflate.total_out() - out0) as usize;
            self.out.write_all(&self.buf[..produced])?;
            if consumed > 0 {
                self.crc.update(&data[..consumed]);
                return Ok(consumed);
            }
        }
    }

    fn flush(&mut self) -> io::Result<()> {
        self.out.flush()
    }
}

/// Whether `sample` looks like random bytes: its byte entropy is above 7.5 bits, which
/// text, code and uncompressed binaries stay well below.
pub(crate) fn looks_incompressible(sample: &[u8]) -> bool {
    if sample.len() < 4096 {
        return false;
    }
    let mut counts = [0u32; 256];
    for &b in sample {
        counts[usize::from(b)] += 1;
    }
    let n = sample.len() as f64;
    let entropy: f64 = counts
        .iter()
        .filter(|&&c| c > 0)
        .map(|&c| {
            let p = f64::from(c) / n;
            -p * p.log2()
        })
        .sum();
    entropy > 7.5
}

#[cfg(test)]
mod tests {
    use std::io::Read;

    use super::*;

    #[test]
    fn switching_levels_still_gives_one_valid_gzip_member() {
        let mut w = GzipWriter::new(Vec::new(), 1).unwrap();
        let text = b"hello hello hello hello ".repeat(1000);
        let mut noise = Vec::new();
        let mut x = 0x2545_f491_4f6c_dd1du64;
        for _ in 0..100_000 {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            noise.push(x as u8);
        }
        assert!(looks_incompressible(&noise));
        assert!(!looks_incompressible(&text));
        w.write_all(&text).unwrap();
        w.set_stored(true).unwrap();
        w.write_all(&noise).unwrap();
        w.set_stored(false).unwrap();
        w.write_all(&text).unwrap();
        let gz = w.finish().unwrap();
        let mut back = Vec::new();
        flate2::read::GzDecoder::new(&gz[..])
            .read_to_end(&mut back)
            .unwrap();
        let expected = [&text[..], &noise[..], &text[..]].concat();
        assert!(back == expected, "round trip");
        assert!(gz.len() < noise.len() + 2000, "{}", gz.len());
    }
}
