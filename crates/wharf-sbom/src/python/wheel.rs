//! A wheel as an SBOM subject: its `METADATA` (name, version, licence, supplier,
//! `Requires-Dist`) and the sha256 of the file, plus the resolved dependencies linked to
//! it by name.

use std::fs;
use std::io::Read;
use std::path::Path;

use super::graph::link;
use super::metadata::CoreMetadata;
use super::resolved::Resolved;
use crate::error::{Error, Result};
use crate::hash;
use crate::model::{Sbom, Subject, SubjectKind};
use crate::purl::normalize_python_name;

/// Larger `METADATA` members are refused rather than read (a zip can claim any size).
const MAX_METADATA: u64 = 16 * 1024 * 1024;

/// The SBOM of the wheel at `path` and of `resolved`, the dependencies it was resolved
/// with (pass `&Resolved::default()` for the wheel alone). Packages and `DEPENDS_ON`
/// edges are chosen as the [`Resolved`] docs say; a package named like the wheel itself
/// is not repeated.
pub fn from_wheel(path: &Path, resolved: &Resolved) -> Result<Sbom> {
    let metadata = read_metadata(path)?;
    let sha256 = hash::sha256_of_file(path)?;
    let file_name = path
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default();
    let subject = Subject {
        name: metadata.name.clone(),
        version: Some(metadata.version.clone()),
        sha256: Some(sha256),
        kind: SubjectKind::Wheel { file_name },
        supplier: metadata.supplier(),
        license: metadata.license(),
    };
    let (packages, relationships) = link(&metadata.name, &metadata.requirements(), resolved);
    let mut sbom = Sbom {
        subject,
        packages,
        files: Vec::new(),
        relationships,
    };
    sbom.normalize();
    Ok(sbom)
}

/// The `METADATA` of the wheel's own `.dist-info` directory.
pub(crate) fn read_metadata(path: &Path) -> Result<CoreMetadata> {
    let file = fs::File::open(path).map_err(|e| Error::io("opening", path, e))?;
    let zip_err = |source| Error::Zip {
        path: path.to_owned(),
        source,
    };
    let mut archive = zip::ZipArchive::new(file).map_err(zip_err)?;
    let mut candidates = Vec::new();
    for name in archive.file_names() {
        let name = name.map_err(zip_err)?;
        let is_metadata = name
            .strip_suffix("/METADATA")
            .is_some_and(|dir| dir.ends_with(".dist-info") && !dir.contains('/'));
        if is_metadata {
            candidates.push(name.into_owned());
        }
    }
    // The file name starts with the distribution name; prefer its dist-info when a wheel
    // (wrongly) carries several.
    let stem = path
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default();
    let dist = normalize_python_name(stem.split('-').next().unwrap_or(""));
    let member = match candidates.as_slice() {
        [] => {
            return Err(Error::parse(
                path,
                None,
                "not a wheel: no top-level *.dist-info/METADATA",
            ));
        }
        [one] => one.clone(),
        many => many
            .iter()
            .find(|m| normalize_python_name(m.split('-').next().unwrap_or("")) == dist)
            .cloned()
            .ok_or_else(|| {
                Error::parse(
                    path,
                    None,
                    format!("several dist-info directories: {many:?}"),
                )
            })?,
    };
    let member_path = path.join(&member);
    let entry = archive.by_name(&member).map_err(zip_err)?;
    let mut text = String::new();
    entry
        .take(MAX_METADATA)
        .read_to_string(&mut text)
        .map_err(|e| Error::io("reading", &member_path, e))?;
    CoreMetadata::parse(&text, &member_path)
}
