//! A release package's files as an SBOM: each file given by its path and either its
//! bytes, its place on disk, or digests already computed. SPDX needs SHA-1 as well as
//! SHA-256, so a manifest holding only sha256s is not enough on its own.

use std::collections::BTreeMap;
use std::path::PathBuf;

use crate::error::{Error, Result};
use crate::hash;
use crate::model::{File, Sbom, Subject};

/// One file of a release package.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FileInput {
    /// `/`-separated path inside the package; a leading `./` is dropped, `..`, empty
    /// segments and absolute paths are refused.
    pub path: String,
    /// Where its digests come from.
    pub content: FileContent,
}

/// The content of a [`FileInput`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum FileContent {
    /// The bytes themselves.
    Bytes(Vec<u8>),
    /// A file on disk, read (streamed) once.
    Disk(PathBuf),
    /// Digests computed elsewhere, lower-case hex.
    Digests {
        /// SHA-1.
        sha1: String,
        /// SHA-256.
        sha256: String,
    },
}

/// The SBOM of `subject` made of `files`. The same path twice is an error.
pub fn from_files(subject: Subject, files: impl IntoIterator<Item = FileInput>) -> Result<Sbom> {
    let mut out: BTreeMap<String, File> = BTreeMap::new();
    for input in files {
        let path = clean_path(&input.path)?;
        let (sha1, sha256) = match input.content {
            FileContent::Bytes(bytes) => hash::both_of_bytes(&bytes),
            FileContent::Disk(disk) => hash::both_of_file(&disk)?,
            FileContent::Digests { sha1, sha256 } => (sha1, sha256),
        };
        if out.contains_key(&path) {
            return Err(Error::invalid(format!("file {path:?}"), "listed twice"));
        }
        out.insert(
            path.clone(),
            File {
                path,
                sha1,
                sha256,
                package: None,
            },
        );
    }
    let mut sbom = Sbom::new(subject);
    sbom.files = out.into_values().collect();
    sbom.normalize();
    sbom.check()?;
    Ok(sbom)
}

fn clean_path(path: &str) -> Result<String> {
    let trimmed = path.strip_prefix("./").unwrap_or(path);
    let bad = trimmed.is_empty()
        || trimmed.starts_with('/')
        || trimmed.contains('\\')
        || trimmed
            .split('/')
            .any(|s| s.is_empty() || s == "." || s == "..");
    if bad {
        return Err(Error::invalid(
            format!("file {path:?}"),
            "paths are relative, `/`-separated, without empty, `.` or `..` segments",
        ));
    }
    Ok(trimmed.to_owned())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn subject() -> Subject {
        Subject::release_package("demo", Some("1.0.0"), Some("demo-1.0.0.tar.gz"), None, None)
    }

    #[test]
    fn files_from_bytes_disk_and_digests() {
        let dir = tempfile::tempdir().unwrap();
        let disk = dir.path().join("b");
        std::fs::write(&disk, "abc").unwrap();
        let sbom = from_files(
            subject(),
            [
                FileInput {
                    path: "./z/c".into(),
                    content: FileContent::Digests {
                        sha1: "1".repeat(40),
                        sha256: "2".repeat(64),
                    },
                },
                FileInput {
                    path: "a".into(),
                    content: FileContent::Bytes(b"abc".to_vec()),
                },
                FileInput {
                    path: "b".into(),
                    content: FileContent::Disk(disk),
                },
            ],
        )
        .unwrap();
        let got: Vec<_> = sbom
            .files
            .iter()
            .map(|f| (f.path.as_str(), &f.sha1[..8], &f.sha256[..8]))
            .collect();
        assert_eq!(
            got,
            [
                ("a", "a9993e36", "ba7816bf"),
                ("b", "a9993e36", "ba7816bf"),
                ("z/c", "11111111", "22222222")
            ]
        );
    }

    #[test]
    fn bad_paths_and_digests_and_duplicates_are_refused() {
        for path in ["/etc/x", "a/../b", "a//b", ""] {
            let input = FileInput {
                path: path.into(),
                content: FileContent::Bytes(vec![]),
            };
            assert!(from_files(subject(), [input]).is_err(), "{path}");
        }
        let bad = FileInput {
            path: "a".into(),
            content: FileContent::Digests {
                sha1: "x".into(),
                sha256: "2".repeat(64),
            },
        };
        assert!(
            from_files(subject(), [bad])
                .unwrap_err()
                .to_string()
                .contains("hex")
        );
        let a = FileInput {
            path: "a".into(),
            content: FileContent::Bytes(vec![]),
        };
        assert!(
            from_files(subject(), [a.clone(), a])
                .unwrap_err()
                .to_string()
                .contains("twice")
        );
    }
}
