//! CycloneDX 1.6 JSON, written to pass the strict schema validation of
//! `cyclonedx-python-lib` (which bundles the 1.6 schema and its SPDX id list):
//!
//! - `bomFormat`, `specVersion` `1.6`, `serialNumber` `urn:uuid:…` derived from the
//!   content (a version-5 UUID, as the schema's pattern requires), `version` 1;
//! - `metadata`: `timestamp`, `tools.components` (the 1.5+ form), the subject as
//!   `component` (`library` for a wheel, `application` for a release package,
//!   `container` for an image), the caller's organisation as `supplier`;
//! - `components`: packages (`library`; the OS as `operating-system`), each with its
//!   purl as `bom-ref`, its files nested under it as `file` components with `SHA-1` and
//!   `SHA-256` hashes; files no package claims at the top level;
//! - `licenses` as `[{"license":{"id":…}}]` for a single SPDX id, `[{"expression":…}]`
//!   otherwise;
//! - `dependencies`: one entry for the subject and every package, `dependsOn` holding
//!   what it depends on and, for the subject, the packages it contains.

use std::collections::{BTreeMap, BTreeSet};

use serde::Serialize;

use crate::creation::Creation;
use crate::error::Result;
use crate::model::{File, Node, Package, PackageKind, Sbom, Subject, SubjectKind, Supplier};

/// The CycloneDX 1.6 JSON document of `sbom`, pretty-printed with a final newline.
/// Fails only when `sbom` or `creation` break a rule the format needs ([`Sbom::check`]).
pub fn to_cyclonedx_1_6(sbom: &Sbom, creation: &Creation) -> Result<String> {
    creation.check()?;
    let mut sbom = sbom.clone();
    sbom.normalize();
    sbom.check()?;
    let bom = bom(&sbom, creation);
    let mut out = serde_json::to_string_pretty(&bom).expect("the BOM always serialises");
    out.push('\n');
    Ok(out)
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct Bom {
    #[serde(rename = "$schema")]
    schema: &'static str,
    bom_format: &'static str,
    spec_version: &'static str,
    serial_number: String,
    version: u32,
    metadata: Metadata,
    components: Vec<Component>,
    dependencies: Vec<Dependency>,
}

#[derive(Serialize)]
struct Metadata {
    timestamp: String,
    tools: Tools,
    component: Component,
    #[serde(skip_serializing_if = "Option::is_none")]
    supplier: Option<Entity>,
}

#[derive(Serialize)]
struct Tools {
    components: Vec<Component>,
}

#[derive(Serialize)]
struct Component {
    #[serde(rename = "type")]
    ty: &'static str,
    #[serde(rename = "bom-ref", skip_serializing_if = "Option::is_none")]
    bom_ref: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    supplier: Option<Entity>,
    name: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    version: Option<String>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    hashes: Vec<Hash>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    licenses: Vec<serde_json::Value>,
    #[serde(skip_serializing_if = "Option::is_none")]
    purl: Option<String>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    components: Vec<Component>,
}

#[derive(Serialize)]
struct Entity {
    name: String,
}

#[derive(Serialize)]
struct Hash {
    alg: &'static str,
    content: String,
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct Dependency {
    #[serde(rename = "ref")]
    reference: String,
    depends_on: Vec<String>,
}

fn bom(sbom: &Sbom, creation: &Creation) -> Bom {
    let subject_ref = sbom.subject.purl();
    let mut owned: BTreeMap<&str, Vec<&File>> = BTreeMap::new();
    let mut loose = Vec::new();
    for f in &sbom.files {
        match &f.package {
            Some(owner) => owned.entry(owner).or_default().push(f),
            None => loose.push(file(f)),
        }
    }
    let mut components: Vec<Component> = sbom
        .packages
        .iter()
        .map(|p| {
            let mut c = package(p);
            c.components = owned
                .get(p.key().as_str())
                .map(|fs| fs.iter().map(|f| file(f)).collect())
                .unwrap_or_default();
            c
        })
        .collect();
    components.extend(loose);

    let mut graph: BTreeMap<String, BTreeSet<String>> = BTreeMap::new();
    graph.insert(subject_ref.clone(), BTreeSet::new());
    for p in &sbom.packages {
        graph.insert(p.key(), BTreeSet::new());
    }
    let node_ref = |n: &Node| match n {
        Node::Subject => subject_ref.clone(),
        Node::Package(key) => key.clone(),
    };
    for r in &sbom.relationships {
        graph
            .entry(node_ref(&r.from))
            .or_default()
            .insert(node_ref(&r.to));
    }
    let dependencies = graph
        .into_iter()
        .map(|(reference, to)| Dependency {
            reference,
            depends_on: to.into_iter().collect(),
        })
        .collect();

    Bom {
        schema: "http://cyclonedx.org/schema/bom-1.6.schema.json",
        bom_format: "CycloneDX",
        spec_version: "1.6",
        serial_number: format!("urn:uuid:{}", creation.uuid(sbom, "cyclonedx-1.6")),
        version: 1,
        metadata: Metadata {
            timestamp: creation.timestamp(),
            tools: Tools {
                components: vec![Component {
                    ty: "application",
                    bom_ref: None,
                    supplier: None,
                    name: creation.tool_name.clone(),
                    version: Some(creation.tool_version.clone()),
                    hashes: Vec::new(),
                    licenses: Vec::new(),
                    purl: None,
                    components: Vec::new(),
                }],
            },
            component: subject(&sbom.subject),
            supplier: creation.organization.as_deref().map(|o| Entity {
                name: Supplier::organization(o).name,
            }),
        },
        components,
        dependencies,
    }
}

fn subject(s: &Subject) -> Component {
    let ty = match s.kind {
        SubjectKind::Wheel { .. } => "library",
        SubjectKind::ReleasePackage { .. } => "application",
        SubjectKind::Image { .. } => "container",
    };
    let name = match &s.kind {
        SubjectKind::Image { repository, .. } => repository.clone(),
        _ => s.name.clone(),
    };
    Component {
        ty,
        bom_ref: Some(s.purl()),
        supplier: s.supplier.as_ref().map(entity),
        name,
        version: s.version.clone(),
        hashes: sha256(s.sha256.as_deref()),
        licenses: licenses(s.license.as_deref()),
        purl: Some(s.purl()),
        components: Vec::new(),
    }
}

fn package(p: &Package) -> Component {
    Component {
        ty: match p.kind {
            PackageKind::OperatingSystem => "operating-system",
            _ => "library",
        },
        bom_ref: Some(p.key()),
        supplier: p.supplier.as_ref().map(entity),
        name: p.name.clone(),
        version: p.version.clone(),
        hashes: sha256(p.sha256.as_deref()),
        licenses: licenses(p.license.as_deref()),
        purl: p.purl.clone(),
        components: Vec::new(),
    }
}

fn file(f: &File) -> Component {
    Component {
        ty: "file",
        bom_ref: Some(format!("file:{}", f.path)),
        supplier: None,
        name: f.path.clone(),
        version: None,
        hashes: vec![
            Hash {
                alg: "SHA-1",
                content: f.sha1.clone(),
            },
            Hash {
                alg: "SHA-256",
                content: f.sha256.clone(),
            },
        ],
        licenses: Vec::new(),
        purl: None,
        components: Vec::new(),
    }
}

fn entity(s: &Supplier) -> Entity {
    Entity {
        name: s.name.clone(),
    }
}

fn sha256(value: Option<&str>) -> Vec<Hash> {
    value
        .map(|v| Hash {
            alg: "SHA-256",
            content: v.to_owned(),
        })
        .into_iter()
        .collect()
}

/// A single listed licence id as `license.id`, anything else as an `expression`.
fn licenses(expr: Option<&str>) -> Vec<serde_json::Value> {
    let Some(expr) = expr else {
        return Vec::new();
    };
    let single = spdx::license_id(expr).is_some_and(|id| id.name == expr);
    if single {
        vec![serde_json::json!({ "license": { "id": expr } })]
    } else {
        vec![serde_json::json!({ "expression": expr })]
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn single_ids_and_expressions() {
        assert_eq!(
            licenses(Some("MIT")),
            vec![serde_json::json!({"license": {"id": "MIT"}})]
        );
        assert_eq!(
            licenses(Some("MIT OR Apache-2.0")),
            vec![serde_json::json!({"expression": "MIT OR Apache-2.0"})]
        );
        assert_eq!(
            licenses(Some("Apache-2.0+")),
            vec![serde_json::json!({"expression": "Apache-2.0+"})]
        );
        assert!(licenses(None).is_empty());
    }
}
