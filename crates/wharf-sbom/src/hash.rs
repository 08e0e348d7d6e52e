//! Digests of files and bytes, streamed so an image's largest files are never held in
//! memory, and the name-based UUIDs that stand in for random ones.

use std::fs;
use std::io::Read;
use std::path::Path;

use sha1::Sha1;
use sha2::{Digest, Sha256};

use crate::error::{Error, Result};

/// Lower-case hex of a digest.
pub(crate) fn hex(bytes: &[u8]) -> String {
    use std::fmt::Write as _;
    bytes.iter().fold(String::with_capacity(64), |mut s, b| {
        let _ = write!(s, "{b:02x}");
        s
    })
}

/// (sha1, sha256) of `bytes`.
pub(crate) fn both_of_bytes(bytes: &[u8]) -> (String, String) {
    (hex(&Sha1::digest(bytes)), hex(&Sha256::digest(bytes)))
}

/// Hex sha256 of `bytes`.
pub(crate) fn sha256_of_bytes(bytes: &[u8]) -> String {
    hex(&Sha256::digest(bytes))
}

/// (sha1, sha256) of a file's content, read once.
pub(crate) fn both_of_file(path: &Path) -> Result<(String, String)> {
    let mut sha1 = Sha1::new();
    let mut sha256 = Sha256::new();
    stream(path, |chunk| {
        sha1.update(chunk);
        sha256.update(chunk);
    })?;
    Ok((hex(&sha1.finalize()), hex(&sha256.finalize())))
}

/// Hex sha256 of a file's content.
pub(crate) fn sha256_of_file(path: &Path) -> Result<String> {
    let mut sha256 = Sha256::new();
    stream(path, |chunk| sha256.update(chunk))?;
    Ok(hex(&sha256.finalize()))
}

fn stream(path: &Path, mut each: impl FnMut(&[u8])) -> Result<()> {
    let mut file = fs::File::open(path).map_err(|e| Error::io("opening", path, e))?;
    let mut buf = vec![0u8; 256 * 1024];
    loop {
        let n = file
            .read(&mut buf)
            .map_err(|e| Error::io("reading", path, e))?;
        if n == 0 {
            return Ok(());
        }
        each(&buf[..n]);
    }
}

/// A name-based (version 5, SHA-1) UUID in the URL namespace of RFC 9562, so the same
/// name always gives the same UUID and the output stays reproducible.
pub(crate) fn uuid_v5(name: &str) -> String {
    const URL_NAMESPACE: [u8; 16] = [
        0x6b, 0xa7, 0xb8, 0x11, 0x9d, 0xad, 0x11, 0xd1, 0x80, 0xb4, 0x00, 0xc0, 0x4f, 0xd4, 0x30,
        0xc8,
    ];
    let mut h = Sha1::new();
    h.update(URL_NAMESPACE);
    h.update(name.as_bytes());
    let mut b: [u8; 16] = h.finalize()[..16].try_into().expect("sha1 has 20 bytes");
    b[6] = (b[6] & 0x0f) | 0x50;
    b[8] = (b[8] & 0x3f) | 0x80;
    let x = hex(&b);
    format!(
        "{}-{}-{}-{}-{}",
        &x[..8],
        &x[8..12],
        &x[12..16],
        &x[16..20],
        &x[20..]
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn uuid_v5_matches_the_rfc_example() {
        // Python: uuid.uuid5(uuid.NAMESPACE_URL, "https://www.python.org/")
        assert_eq!(
            uuid_v5("https://www.python.org/"),
            "5406f80d-92e9-51cd-a176-77445955e733"
        );
    }

    #[test]
    fn digests_of_bytes() {
        assert_eq!(
            both_of_bytes(b"abc"),
            (
                "a9993e364706816aba3e25717850c26c9cd0d89d".to_owned(),
                "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad".to_owned()
            )
        );
    }
}
