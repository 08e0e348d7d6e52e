//! Checks a package against its own manifest in one pass over the file, so a package
//! fetched from a store can be trusted (or rejected with the exact difference) before
//! it is deployed.

use std::collections::{BTreeMap, BTreeSet};
use std::fs::File;
use std::io::{self, BufReader, Read};
use std::path::{Path, PathBuf};

use flate2::read::GzDecoder;

use crate::error::{Error, Result, io_err};
use crate::hashing::{HashingReader, hash_reader};
use crate::{FORMAT, MANIFEST_NAME, Manifest, Verified};

/// A manifest larger than this is refused rather than read into memory.
const MAX_MANIFEST: u64 = 64 * 1024 * 1024;

/// Reads the package at `path` once and checks that its first entry is the manifest
/// and that the archive holds exactly the manifest's files, each with the listed
/// mode, size and sha256. Returns the manifest and the sha256 of the whole file.
pub fn verify(path: &Path) -> Result<Verified> {
    let file = File::open(path).map_err(io_err("opening", path))?;
    let mut reader = HashingReader::new(BufReader::new(file));
    let manifest = {
        let mut archive = tar::Archive::new(GzDecoder::new(&mut reader));
        let manifest = check_entries(path, &mut archive)?;
        // Read the rest of the gzip stream so its checksum and length are checked too.
        io::copy(&mut archive.into_inner(), &mut io::sink()).map_err(corrupt(path))?;
        manifest
    };
    io::copy(&mut reader, &mut io::sink()).map_err(io_err("reading", path))?;
    let (_, sha256) = reader.finish();
    Ok(Verified { manifest, sha256 })
}

fn check_entries<R: Read>(package: &Path, archive: &mut tar::Archive<R>) -> Result<Manifest> {
    let mut entries = archive.entries().map_err(corrupt(package))?;
    let manifest_err = |reason: String| Error::Manifest {
        package: package.to_path_buf(),
        reason,
    };
    let mut first = match entries.next() {
        None => return Err(manifest_err("the archive is empty".into())),
        Some(entry) => entry.map_err(corrupt(package))?,
    };
    let name = entry_name(package, &first)?;
    if name != MANIFEST_NAME || first.header().entry_type() != tar::EntryType::Regular {
        return Err(manifest_err(format!(
            "the first entry is {name:?}, expected the file {MANIFEST_NAME}"
        )));
    }
    let mut json = Vec::new();
    (&mut first)
        .take(MAX_MANIFEST + 1)
        .read_to_end(&mut json)
        .map_err(corrupt(package))?;
    if json.len() as u64 > MAX_MANIFEST {
        return Err(manifest_err(format!("larger than {MAX_MANIFEST} bytes")));
    }
    let manifest: Manifest = serde_json::from_slice(&json)
        .map_err(|e| manifest_err(format!("not valid manifest JSON: {e}")))?;
    if manifest.format != FORMAT {
        return Err(manifest_err(format!(
            "format {} is not supported (expected {FORMAT})",
            manifest.format
        )));
    }
    let mut expected = BTreeMap::new();
    for file in &manifest.files {
        if expected.insert(file.path.as_str(), file).is_some() {
            return Err(manifest_err(format!("{} is listed twice", file.path)));
        }
    }

    let mut seen = BTreeSet::new();
    for entry in entries {
        let mut entry = entry.map_err(corrupt(package))?;
        let name = entry_name(package, &entry)?;
        let mismatch = |what: String| Error::Mismatch {
            package: package.to_path_buf(),
            file: name.clone(),
            what,
        };
        let Some(want) = expected.get(name.as_str()) else {
            return Err(if name == MANIFEST_NAME {
                Error::DuplicateFile {
                    package: package.to_path_buf(),
                    file: name,
                }
            } else {
                Error::ExtraFile {
                    package: package.to_path_buf(),
                    file: name,
                }
            });
        };
        if !seen.insert(name.clone()) {
            return Err(Error::DuplicateFile {
                package: package.to_path_buf(),
                file: name,
            });
        }
        let kind = entry.header().entry_type();
        if kind != tar::EntryType::Regular {
            return Err(mismatch(format!("is a {kind:?} entry, not a regular file")));
        }
        let mode = entry.header().mode().map_err(corrupt(package))? & 0o7777;
        if mode != want.mode {
            return Err(mismatch(format!(
                "mode is {mode:o}, the manifest says {:o}",
                want.mode
            )));
        }
        let (size, sha256) = hash_reader(&mut entry).map_err(corrupt(package))?;
        if size != want.size {
            return Err(mismatch(format!(
                "size is {size} bytes, the manifest says {}",
                want.size
            )));
        }
        if sha256 != want.sha256 {
            return Err(mismatch(format!(
                "sha256 is {sha256}, the manifest says {}",
                want.sha256
            )));
        }
    }
    let missing: Vec<String> = expected
        .keys()
        .filter(|name| !seen.contains(**name))
        .map(|name| name.to_string())
        .collect();
    if !missing.is_empty() {
        return Err(Error::MissingFiles {
            package: package.to_path_buf(),
            files: missing,
        });
    }
    Ok(manifest)
}

fn entry_name<R: Read>(package: &Path, entry: &tar::Entry<'_, R>) -> Result<String> {
    String::from_utf8(entry.path_bytes().into_owned()).map_err(|_| Error::Corrupt {
        package: package.to_path_buf(),
        reason: "an entry name is not valid UTF-8".into(),
    })
}

fn corrupt(package: &Path) -> impl Fn(io::Error) -> Error + '_ {
    move |e| Error::Corrupt {
        package: PathBuf::from(package),
        reason: e.to_string(),
    }
}
