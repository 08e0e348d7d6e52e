//! Python core metadata (`METADATA` of a wheel or an installed dist-info, or its JSON
//! form in pip's installation report) and `Requires-Dist` requirements: the few fields an
//! SBOM needs, read the same way whatever the source.

use std::path::Path;

use serde::{Deserialize, Serialize};

use crate::error::{Error, Result};
use crate::model::Supplier;
use crate::{license, purl};

/// The fields of core metadata this crate uses.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub(crate) struct CoreMetadata {
    pub name: String,
    pub version: String,
    pub license_expression: Option<String>,
    pub license: Option<String>,
    pub classifiers: Vec<String>,
    pub requires_dist: Vec<String>,
    pub author: Option<String>,
    pub author_email: Option<String>,
    pub maintainer: Option<String>,
    pub maintainer_email: Option<String>,
}

impl CoreMetadata {
    /// Parses the email-header form; the body (the long description) is ignored.
    pub fn parse(text: &str, path: &Path) -> Result<Self> {
        let mut m = Self::default();
        let mut last: Option<(String, String)> = None;
        let mut fields = Vec::new();
        for line in text.lines() {
            if line.is_empty() {
                break;
            }
            if line.starts_with([' ', '\t']) {
                if let Some((_, value)) = last.as_mut() {
                    value.push('\n');
                    value.push_str(line.trim());
                }
                continue;
            }
            fields.extend(last.take());
            if let Some((k, v)) = line.split_once(':') {
                last = Some((k.trim().to_ascii_lowercase(), v.trim().to_owned()));
            }
        }
        fields.extend(last);
        for (key, value) in fields {
            m.set(&key.replace('-', "_"), value);
        }
        m.require_name_and_version(path)
    }

    /// Reads the JSON form (PEP 566) pip writes into `--report` files.
    pub fn from_json(value: &serde_json::Value, path: &Path) -> Result<Self> {
        let mut m = Self::default();
        let Some(object) = value.as_object() else {
            return Err(Error::parse(
                path,
                None,
                "package metadata is not a JSON object",
            ));
        };
        for (key, v) in object {
            match v {
                serde_json::Value::String(s) => m.set(key, s.clone()),
                serde_json::Value::Array(items) => {
                    for s in items.iter().filter_map(|i| i.as_str()) {
                        m.set(key, s.to_owned());
                    }
                }
                _ => {}
            }
        }
        m.require_name_and_version(path)
    }

    fn set(&mut self, key: &str, value: String) {
        match key {
            "name" => self.name = value,
            "version" => self.version = value,
            "license_expression" => self.license_expression = Some(value),
            "license" => self.license = Some(value),
            "classifier" => self.classifiers.push(value),
            "requires_dist" => self.requires_dist.push(value),
            "author" => self.author = Some(value),
            "author_email" => self.author_email = Some(value),
            "maintainer" => self.maintainer = Some(value),
            "maintainer_email" => self.maintainer_email = Some(value),
            _ => {}
        }
    }

    fn require_name_and_version(self, path: &Path) -> Result<Self> {
        if self.name.trim().is_empty() || self.version.trim().is_empty() {
            return Err(Error::parse(
                path,
                None,
                "core metadata lacks a Name or a Version field",
            ));
        }
        Ok(self)
    }

    /// The licence, mapped as [`license::python`] says.
    pub fn license(&self) -> Option<String> {
        license::python(
            self.license_expression.as_deref(),
            self.license.as_deref(),
            &self.classifiers,
        )
    }

    /// The maintainer when there is one, else the author.
    pub fn supplier(&self) -> Option<Supplier> {
        let pick = |name: &Option<String>, email: &Option<String>| -> Option<Supplier> {
            let first_email = email.as_deref().and_then(|e| e.split(',').next());
            match (name.as_deref().map(str::trim), first_email) {
                (Some(n), Some(e)) if !n.is_empty() && !e.contains('<') => {
                    Supplier::person(&format!("{n} <{}>", e.trim()))
                }
                (_, Some(e)) => Supplier::person(e),
                (Some(n), None) => Supplier::person(n),
                (None, None) => None,
            }
        };
        pick(&self.maintainer, &self.maintainer_email)
            .or_else(|| pick(&self.author, &self.author_email))
    }

    /// `Requires-Dist` parsed; unparseable entries are skipped.
    pub fn requirements(&self) -> Vec<Requirement> {
        self.requires_dist
            .iter()
            .filter_map(|r| Requirement::parse(r))
            .collect()
    }
}

/// One `Requires-Dist` entry, reduced to what linking packages needs.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
pub struct Requirement {
    /// The required project, normalised (PEP 503).
    pub name: String,
    /// Extras requested of it (`name[a,b]`), normalised.
    pub extras: Vec<String>,
    /// The extras of the requiring package this requirement belongs to (from
    /// `extra == "…"` markers); empty when it always applies. Other markers are not
    /// evaluated: the resolved set already reflects them.
    pub for_extras: Vec<String>,
}

impl Requirement {
    /// A requirement on `name`, always applying, without extras.
    pub fn on(name: &str) -> Self {
        Self {
            name: purl::normalize_python_name(name),
            extras: Vec::new(),
            for_extras: Vec::new(),
        }
    }

    /// Parses a PEP 508 requirement string such as
    /// `requests[socks] (>=2.8) ; python_version < "3.9" and extra == "net"`.
    pub fn parse(text: &str) -> Option<Self> {
        let (spec, marker) = match text.split_once(';') {
            Some((s, m)) => (s, m),
            None => (text, ""),
        };
        let spec = spec.trim();
        let end = spec
            .find(|c: char| !(c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.')))
            .unwrap_or(spec.len());
        let name = &spec[..end];
        if name.is_empty() {
            return None;
        }
        let rest = spec[end..].trim_start();
        let extras = match rest.strip_prefix('[').and_then(|r| r.split_once(']')) {
            Some((list, _)) => list
                .split(',')
                .map(purl::normalize_python_name)
                .filter(|e| !e.is_empty())
                .collect(),
            None => Vec::new(),
        };
        Some(Self {
            name: purl::normalize_python_name(name),
            extras,
            for_extras: marker_extras(marker),
        })
    }
}

/// The values compared with `extra` in a marker (`extra == "x"` or `"x" == extra`).
fn marker_extras(marker: &str) -> Vec<String> {
    let mut found = Vec::new();
    let bytes = marker.as_bytes();
    let mut i = 0;
    while let Some(pos) = marker[i..].find("extra") {
        let start = i + pos;
        let end = start + "extra".len();
        i = end;
        let word_before =
            start > 0 && (bytes[start - 1].is_ascii_alphanumeric() || bytes[start - 1] == b'_');
        let word_after =
            end < bytes.len() && (bytes[end].is_ascii_alphanumeric() || bytes[end] == b'_');
        if word_before || word_after {
            continue;
        }
        let after = marker[end..].trim_start();
        if let Some(value) = after
            .strip_prefix("==")
            .and_then(|r| quoted(r.trim_start()))
        {
            found.push(purl::normalize_python_name(value));
            continue;
        }
        let before = marker[..start].trim_end();
        if let Some(before) = before.strip_suffix("==")
            && let Some(value) = quoted_backwards(before.trim_end())
        {
            found.push(purl::normalize_python_name(value));
        }
    }
    found.sort();
    found.dedup();
    found
}

fn quoted(text: &str) -> Option<&str> {
    let q = text.chars().next().filter(|c| *c == '"' || *c == '\'')?;
    let rest = &text[1..];
    rest.find(q).map(|end| &rest[..end])
}

fn quoted_backwards(text: &str) -> Option<&str> {
    let q = text.chars().last().filter(|c| *c == '"' || *c == '\'')?;
    let rest = &text[..text.len() - 1];
    rest.rfind(q).map(|start| &rest[start + 1..])
}

#[cfg(test)]
mod tests {
    use super::*;

    const METADATA: &str = concat!(
        "Metadata-Version: 2.1\n",
        "Name: Flask_Demo\n",
        "Version: 1.4.0\n",
        "Summary: demo\n",
        "Author: Someone Else\n",
        "Maintainer: Example Ops\n",
        "Maintainer-email: ops@example.org, other@example.org\n",
        "License: BSD 3-Clause License\n",
        "        \n",
        "        Copyright (c) 2010 Pallets\n",
        "Classifier: License :: OSI Approved :: BSD License\n",
        "Requires-Dist: Werkzeug (>=3.0.0)\n",
        "Requires-Dist: python-dotenv ; extra == 'dotenv'\n",
        "Requires-Dist: importlib_metadata>=3.6.0; python_version < \"3.10\"\n",
        "\n",
        "Name: not a field, the description\n",
    );

    #[test]
    fn email_header_metadata() {
        let m = CoreMetadata::parse(METADATA, Path::new("METADATA")).unwrap();
        assert_eq!(m.name, "Flask_Demo");
        assert_eq!(m.version, "1.4.0");
        assert_eq!(m.license(), Some("BSD-3-Clause".into()));
        let s = m.supplier().unwrap();
        assert_eq!(
            (s.name.as_str(), s.email.as_deref()),
            ("Example Ops", Some("ops@example.org"))
        );
        assert_eq!(
            m.requirements(),
            vec![
                Requirement::on("werkzeug"),
                Requirement {
                    name: "python-dotenv".into(),
                    extras: vec![],
                    for_extras: vec!["dotenv".into()]
                },
                Requirement::on("importlib-metadata"),
            ]
        );
    }

    #[test]
    fn json_metadata_from_a_pip_report() {
        let v = serde_json::json!({
            "metadata_version": "2.4", "name": "tiny_dep", "version": "1.0.2",
            "author_email": "Jane Doe <jane@example.org>",
            "classifier": ["License :: OSI Approved :: MIT License"],
            "requires_dist": ["a[x,Y_z]>=1"]
        });
        let m = CoreMetadata::from_json(&v, Path::new("r.json")).unwrap();
        assert_eq!(m.license(), Some("MIT".into()));
        assert_eq!(m.supplier().unwrap().name, "Jane Doe");
        assert_eq!(m.requirements()[0].extras, ["x", "y-z"]);
    }

    #[test]
    fn metadata_without_a_version_is_refused() {
        let e = CoreMetadata::parse("Name: x\n", Path::new("x/METADATA")).unwrap_err();
        assert!(e.to_string().contains("x/METADATA"), "{e}");
    }

    #[test]
    fn extras_in_markers_either_way_round() {
        assert_eq!(
            marker_extras(" extra == \"a\" or 'B_c' == extra"),
            ["a", "b-c"]
        );
        assert_eq!(
            marker_extras(" python_version < '3.9'"),
            Vec::<String>::new()
        );
        assert_eq!(marker_extras(" myextra == 'x'"), Vec::<String>::new());
    }
}
