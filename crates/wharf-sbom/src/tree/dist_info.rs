//! Python distributions installed in the tree: every `<dir>/<name>.dist-info/METADATA`
//! (name, version, licence, supplier, `Requires-Dist`) and its `RECORD` (the files it
//! installed, relative to `<dir>`). `Requires-Dist` entries without an `extra` marker
//! become edges to distributions installed in the same directory. (`.egg-info`
//! directories of legacy installs are not read.)

use super::{Found, Root, join_lexical};
use crate::error::Result;
use crate::model::{Package, PackageKind};
use crate::purl::{self, normalize_python_name};
use crate::python::metadata::CoreMetadata;

/// Every dist-info among `paths` (the tree's regular files).
pub(crate) fn collect<'a>(
    root: &Root,
    paths: impl Iterator<Item = &'a String>,
) -> Result<Vec<Found>> {
    let mut out = Vec::new();
    for path in paths {
        let Some(dist_info) = path.strip_suffix("/METADATA") else {
            continue;
        };
        if !dist_info.ends_with(".dist-info") {
            continue;
        }
        let site = dist_info.rsplit_once('/').map_or("", |(dir, _)| dir);
        let Some(text) = root.read(path)? else {
            continue;
        };
        let m = CoreMetadata::parse(&text, &root.display(path))?;
        let files = root
            .read(&format!("{dist_info}/RECORD"))?
            .map(|record| {
                record
                    .lines()
                    .filter_map(first_csv_field)
                    .filter_map(|f| join_lexical(site, &f))
                    .collect()
            })
            .unwrap_or_default();
        out.push(Found {
            package: Package {
                name: m.name.clone(),
                version: Some(m.version.clone()),
                kind: PackageKind::Python,
                purl: Some(purl::pypi(&m.name, Some(&m.version))),
                license: m.license(),
                supplier: m.supplier(),
                sha256: None,
            },
            files,
            group: format!("python:{site}"),
            names: vec![normalize_python_name(&m.name)],
            depends: m
                .requirements()
                .into_iter()
                .filter(|r| r.for_extras.is_empty())
                .map(|r| vec![r.name])
                .collect(),
        });
    }
    Ok(out)
}

/// The first field of a CSV line (`RECORD` quotes paths holding commas or quotes).
fn first_csv_field(line: &str) -> Option<String> {
    let Some(rest) = line.strip_prefix('"') else {
        let field = line.split(',').next()?;
        return (!field.is_empty()).then(|| field.to_owned());
    };
    let mut out = String::new();
    let mut chars = rest.chars().peekable();
    while let Some(c) = chars.next() {
        if c == '"' {
            if chars.peek() == Some(&'"') {
                chars.next();
                out.push('"');
            } else {
                return Some(out);
            }
        } else {
            out.push(c);
        }
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn record_fields() {
        assert_eq!(
            first_csv_field("a/b.py,sha256=x,3").as_deref(),
            Some("a/b.py")
        );
        assert_eq!(
            first_csv_field("\"a,\"\"b\"\".py\",,").as_deref(),
            Some("a,\"b\".py")
        );
        assert_eq!(first_csv_field(""), None);
    }
}
