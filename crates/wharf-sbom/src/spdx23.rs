//! SPDX 2.3 JSON, written to pass `pyspdxtools` (spdx-tools 0.8) and not just the schema:
//!
//! - `dataLicense` `CC0-1.0`, id `SPDXRef-DOCUMENT`, a `documentNamespace` made of the
//!   caller's base URI, the subject and a UUID derived from the content (no `#`);
//! - the subject is a package the document `DESCRIBES`; it `CONTAINS` every file and
//!   every package found inside it, and `DEPENDS_ON` what it needs;
//! - every file carries SHA1 and SHA256; a package has `filesAnalyzed: true` exactly when
//!   it `CONTAINS` files (a package with `false` may not);
//! - ids match `^SPDXRef-[\da-zA-Z.-]+$` and are unique: readable where they can be
//!   (`SPDXRef-Package-deb-zlib1g-1-1.2.13.dfsg-1`), with a hash of the element's key
//!   appended when sanitising made two collide or a path is long;
//! - licences are valid SPDX expressions or `NOASSERTION`; every package has a `supplier`
//!   (NTIA), `NOASSERTION` when unknown; purls go in `externalRefs`.

use std::collections::{BTreeMap, BTreeSet};

use serde::Serialize;

use crate::creation::Creation;
use crate::error::Result;
use crate::hash;
use crate::model::{
    Node, Package, PackageKind, RelationshipKind, Sbom, Subject, SubjectKind, Supplier,
    SupplierKind,
};

/// The SPDX 2.3 JSON document of `sbom`, pretty-printed with a final newline. Fails only
/// when `sbom` or `creation` break a rule the format needs ([`Sbom::check`]).
pub fn to_spdx_2_3(sbom: &Sbom, creation: &Creation) -> Result<String> {
    creation.check()?;
    let mut sbom = sbom.clone();
    sbom.normalize();
    sbom.check()?;
    let doc = document(&sbom, creation);
    let mut out = serde_json::to_string_pretty(&doc).expect("the document always serialises");
    out.push('\n');
    Ok(out)
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct Document {
    spdx_version: &'static str,
    data_license: &'static str,
    #[serde(rename = "SPDXID")]
    spdx_id: &'static str,
    name: String,
    document_namespace: String,
    creation_info: CreationInfo,
    packages: Vec<SpdxPackage>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    files: Vec<SpdxFile>,
    relationships: Vec<SpdxRelationship>,
}

#[derive(Serialize)]
struct CreationInfo {
    created: String,
    creators: Vec<String>,
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct SpdxPackage {
    #[serde(rename = "SPDXID")]
    spdx_id: String,
    name: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    version_info: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    package_file_name: Option<String>,
    supplier: String,
    download_location: &'static str,
    files_analyzed: bool,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    checksums: Vec<Checksum>,
    license_concluded: &'static str,
    license_declared: String,
    copyright_text: &'static str,
    #[serde(skip_serializing_if = "Option::is_none")]
    source_info: Option<String>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    external_refs: Vec<ExternalRef>,
    #[serde(skip_serializing_if = "Option::is_none")]
    primary_package_purpose: Option<&'static str>,
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct SpdxFile {
    #[serde(rename = "SPDXID")]
    spdx_id: String,
    file_name: String,
    checksums: Vec<Checksum>,
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct Checksum {
    algorithm: &'static str,
    checksum_value: String,
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct ExternalRef {
    reference_category: &'static str,
    reference_type: &'static str,
    reference_locator: String,
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct SpdxRelationship {
    spdx_element_id: String,
    relationship_type: &'static str,
    related_spdx_element: String,
}

const NOASSERTION: &str = "NOASSERTION";

fn document(sbom: &Sbom, creation: &Creation) -> Document {
    let mut ids = Ids::default();
    let subject_id = ids.unique(
        &format!(
            "{}-{}",
            subject_id_prefix(&sbom.subject.kind),
            sbom.subject.name
        ),
        "subject",
    );
    let package_ids: BTreeMap<String, String> = sbom
        .packages
        .iter()
        .map(|p| {
            let readable = format!(
                "Package-{}-{}-{}",
                p.kind.short_name(),
                p.name,
                p.version.as_deref().unwrap_or("")
            );
            (p.key(), ids.unique(&readable, &p.key()))
        })
        .collect();
    let file_ids: Vec<String> = sbom
        .files
        .iter()
        .map(|f| ids.unique(&format!("File-{}", f.path), &f.path))
        .collect();
    let node_id = |n: &Node| match n {
        Node::Subject => subject_id.clone(),
        Node::Package(key) => package_ids[key].clone(),
    };
    let owners: BTreeSet<&str> = sbom
        .files
        .iter()
        .filter_map(|f| f.package.as_deref())
        .collect();

    let mut packages = vec![subject_package(
        &sbom.subject,
        subject_id.clone(),
        !sbom.files.is_empty(),
    )];
    packages.extend(sbom.packages.iter().map(|p| {
        let key = p.key();
        package(p, package_ids[&key].clone(), owners.contains(key.as_str()))
    }));

    let rel = |from: String, ty: &'static str, to: String| SpdxRelationship {
        spdx_element_id: from,
        relationship_type: ty,
        related_spdx_element: to,
    };
    let mut relationships = vec![rel(
        "SPDXRef-DOCUMENT".into(),
        "DESCRIBES",
        subject_id.clone(),
    )];
    relationships.extend(sbom.relationships.iter().map(|r| {
        let ty = match r.kind {
            RelationshipKind::DependsOn => "DEPENDS_ON",
            RelationshipKind::Contains => "CONTAINS",
        };
        rel(node_id(&r.from), ty, node_id(&r.to))
    }));
    for (f, id) in sbom.files.iter().zip(&file_ids) {
        relationships.push(rel(subject_id.clone(), "CONTAINS", id.clone()));
        if let Some(owner) = &f.package {
            relationships.push(rel(package_ids[owner].clone(), "CONTAINS", id.clone()));
        }
    }

    let files = sbom
        .files
        .iter()
        .zip(file_ids)
        .map(|(f, id)| SpdxFile {
            spdx_id: id,
            file_name: format!("./{}", f.path),
            checksums: vec![
                Checksum {
                    algorithm: "SHA1",
                    checksum_value: f.sha1.clone(),
                },
                Checksum {
                    algorithm: "SHA256",
                    checksum_value: f.sha256.clone(),
                },
            ],
        })
        .collect();

    let mut creators = vec![format!(
        "Tool: {}-{}",
        creation.tool_name, creation.tool_version
    )];
    creators.extend(
        creation
            .organization
            .as_deref()
            .map(|o| actor(&Supplier::organization(o))),
    );
    let uuid = creation.uuid(sbom, "spdx-2.3");
    let s = &sbom.subject;
    let slug = sanitize(&match &s.version {
        Some(v) => format!("{}-{v}", s.name),
        None => s.name.clone(),
    });
    Document {
        spdx_version: "SPDX-2.3",
        data_license: "CC0-1.0",
        spdx_id: "SPDXRef-DOCUMENT",
        name: document_name(s),
        document_namespace: format!(
            "{}/{slug}-{uuid}",
            creation.namespace_base.trim_end_matches('/')
        ),
        creation_info: CreationInfo {
            created: creation.timestamp(),
            creators,
        },
        packages,
        files,
        relationships,
    }
}

fn subject_id_prefix(kind: &SubjectKind) -> &'static str {
    match kind {
        SubjectKind::Wheel { .. } => "Wheel",
        SubjectKind::ReleasePackage { .. } => "ReleasePackage",
        SubjectKind::Image { .. } => "Image",
    }
}

fn document_name(s: &Subject) -> String {
    match &s.kind {
        SubjectKind::Wheel { file_name } => file_name.clone(),
        SubjectKind::ReleasePackage { file_name: Some(f) } => f.clone(),
        SubjectKind::ReleasePackage { file_name: None } => match &s.version {
            Some(v) => format!("{}-{v}", s.name),
            None => s.name.clone(),
        },
        SubjectKind::Image {
            repository,
            manifest_digest,
        } => format!("{repository}@sha256:{manifest_digest}"),
    }
}

fn subject_package(s: &Subject, id: String, has_files: bool) -> SpdxPackage {
    let (file_name, purpose) = match &s.kind {
        SubjectKind::Wheel { file_name } => (Some(file_name.clone()), "LIBRARY"),
        SubjectKind::ReleasePackage { file_name } => (file_name.clone(), "ARCHIVE"),
        SubjectKind::Image { .. } => (None, "CONTAINER"),
    };
    SpdxPackage {
        spdx_id: id,
        name: s.name.clone(),
        version_info: s.version.clone(),
        package_file_name: file_name,
        supplier: s
            .supplier
            .as_ref()
            .map_or_else(|| NOASSERTION.to_owned(), actor),
        download_location: NOASSERTION,
        files_analyzed: has_files,
        checksums: sha256(s.sha256.as_deref()),
        license_concluded: NOASSERTION,
        license_declared: s.license.clone().unwrap_or_else(|| NOASSERTION.to_owned()),
        copyright_text: NOASSERTION,
        source_info: None,
        external_refs: purl_ref(Some(s.purl())),
        primary_package_purpose: Some(purpose),
    }
}

fn package(p: &Package, id: String, owns_files: bool) -> SpdxPackage {
    let (source_info, purpose) = match &p.kind {
        PackageKind::Python => (None, Some("LIBRARY")),
        PackageKind::Deb { source, .. } => (
            source
                .as_ref()
                .map(|s| format!("built from Debian source package {s}")),
            None,
        ),
        PackageKind::Apk { origin, .. } => (
            origin
                .as_ref()
                .map(|o| format!("built from Alpine origin package {o}")),
            None,
        ),
        PackageKind::OperatingSystem => (None, Some("OPERATING-SYSTEM")),
    };
    SpdxPackage {
        spdx_id: id,
        name: p.name.clone(),
        version_info: p.version.clone(),
        package_file_name: None,
        supplier: p
            .supplier
            .as_ref()
            .map_or_else(|| NOASSERTION.to_owned(), actor),
        download_location: NOASSERTION,
        files_analyzed: owns_files,
        checksums: sha256(p.sha256.as_deref()),
        license_concluded: NOASSERTION,
        license_declared: p.license.clone().unwrap_or_else(|| NOASSERTION.to_owned()),
        copyright_text: NOASSERTION,
        source_info,
        external_refs: purl_ref(p.purl.clone()),
        primary_package_purpose: purpose,
    }
}

fn sha256(value: Option<&str>) -> Vec<Checksum> {
    value
        .map(|v| Checksum {
            algorithm: "SHA256",
            checksum_value: v.to_owned(),
        })
        .into_iter()
        .collect()
}

fn purl_ref(purl: Option<String>) -> Vec<ExternalRef> {
    purl.map(|p| ExternalRef {
        reference_category: "PACKAGE-MANAGER",
        reference_type: "purl",
        reference_locator: p,
    })
    .into_iter()
    .collect()
}

/// `Person: name (email)` / `Organization: name`.
fn actor(s: &Supplier) -> String {
    let kind = match s.kind {
        SupplierKind::Person => "Person",
        SupplierKind::Organization => "Organization",
    };
    match &s.email {
        Some(e) => format!("{kind}: {} ({e})", s.name),
        None => format!("{kind}: {}", s.name),
    }
}

/// Hands out unique SPDX ids.
#[derive(Default)]
struct Ids {
    taken: BTreeSet<String>,
}

impl Ids {
    /// `SPDXRef-<readable>` sanitised; when that is taken or longer than 100 characters,
    /// a truncated form plus the first 12 hex digits of sha256(`key`).
    fn unique(&mut self, readable: &str, key: &str) -> String {
        let plain = format!("SPDXRef-{}", sanitize(readable));
        if plain.len() <= 100 && self.taken.insert(plain.clone()) {
            return plain;
        }
        let digest = hash::sha256_of_bytes(key.as_bytes());
        let mut cut = plain;
        cut.truncate(80);
        let mut id = format!("{}-{}", cut.trim_end_matches('-'), &digest[..12]);
        let mut n = 2;
        while !self.taken.insert(id.clone()) {
            id = format!("{}-{}-{n}", cut.trim_end_matches('-'), &digest[..12]);
            n += 1;
        }
        id
    }
}

/// Only `[A-Za-z0-9.-]`, other runs turned into one `-`, no `-` at either end.
fn sanitize(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        if c.is_ascii_alphanumeric() || c == '.' {
            out.push(c);
        } else if !out.ends_with('-') {
            out.push('-');
        }
    }
    let out = out.trim_matches('-');
    if out.is_empty() {
        "x".to_owned()
    } else {
        out.to_owned()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ids_are_sanitised_unique_and_bounded() {
        let mut ids = Ids::default();
        assert_eq!(
            ids.unique("File-usr/bin/[", "usr/bin/["),
            "SPDXRef-File-usr-bin"
        );
        let second = ids.unique("File-usr/bin/]", "usr/bin/]");
        assert!(
            second.starts_with("SPDXRef-File-usr-bin-") && second.len() == 33,
            "{second}"
        );
        let long = ids.unique(&format!("File-{}", "a/".repeat(80)), "k");
        assert!(long.len() <= 93, "{long}");
        assert_eq!(sanitize("--a__b--"), "a-b");
        assert_eq!(sanitize("ü"), "x");
    }

    #[test]
    fn actors() {
        let p = Supplier::person("Jane <jane@example.org>").unwrap();
        assert_eq!(actor(&p), "Person: Jane (jane@example.org)");
        assert_eq!(
            actor(&Supplier::organization("Debian")),
            "Organization: Debian"
        );
    }
}
