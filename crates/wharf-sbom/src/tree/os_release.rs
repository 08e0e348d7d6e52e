//! The operating system of a root file system, from `os-release` (the shell-like
//! `KEY=value` file every current distribution ships).

use super::Root;
use crate::error::Result;
use crate::model::{Package, PackageKind, Supplier};

/// The fields of `os-release` an SBOM uses.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct OsRelease {
    /// `ID`, e.g. `debian`, `alpine` (defaults to `linux` as the spec says).
    pub id: String,
    /// `ID_LIKE`, split on spaces.
    pub id_like: Vec<String>,
    /// `VERSION_ID`, e.g. `12`, `3.20.0`.
    pub version_id: Option<String>,
    /// `NAME`, e.g. `Debian GNU/Linux`.
    pub name: Option<String>,
}

impl OsRelease {
    /// `etc/os-release`, else `usr/lib/os-release`; `None` when neither exists.
    pub fn read(root: &Root) -> Result<Option<Self>> {
        for path in ["etc/os-release", "usr/lib/os-release"] {
            if let Some(text) = root.read(path)? {
                return Ok(Some(Self::parse(&text)));
            }
        }
        Ok(None)
    }

    pub fn parse(text: &str) -> Self {
        let mut id = None;
        let mut id_like = Vec::new();
        let mut version_id = None;
        let mut name = None;
        for line in text.lines() {
            let Some((key, value)) = line.trim().split_once('=') else {
                continue;
            };
            let value = unquote(value.trim());
            match key.trim() {
                "ID" => id = Some(value),
                "ID_LIKE" => id_like = value.split_whitespace().map(str::to_owned).collect(),
                "VERSION_ID" => version_id = Some(value),
                "NAME" => name = Some(value),
                _ => {}
            }
        }
        Self {
            id: id
                .filter(|i| !i.is_empty())
                .unwrap_or_else(|| "linux".to_owned()),
            id_like,
            version_id: version_id.filter(|v| !v.is_empty()),
            name: name.filter(|n| !n.is_empty()),
        }
    }

    /// Whether this is `family` or derives from it (`ID_LIKE`).
    pub fn is_like(&self, family: &str) -> bool {
        self.id == family || self.id_like.iter().any(|l| l == family)
    }

    /// The purl `distro` qualifier: `<id>-<version_id>`.
    pub fn distro(&self) -> Option<String> {
        self.version_id.as_ref().map(|v| format!("{}-{v}", self.id))
    }

    /// The distribution as the supplier of its packages.
    pub fn supplier(&self) -> Supplier {
        Supplier::organization(self.name.as_deref().unwrap_or(&self.id))
    }

    /// The operating-system component.
    pub fn package(&self) -> Package {
        Package {
            name: self.id.clone(),
            version: self.version_id.clone(),
            kind: PackageKind::OperatingSystem,
            purl: None,
            license: None,
            supplier: Some(self.supplier()),
            sha256: None,
        }
    }
}

/// Shell-style quoting as os-release uses it: `"…"` with `\` escapes, or `'…'`.
fn unquote(value: &str) -> String {
    if let Some(inner) = value.strip_prefix('\'').and_then(|v| v.strip_suffix('\'')) {
        return inner.to_owned();
    }
    let Some(inner) = value.strip_prefix('"').and_then(|v| v.strip_suffix('"')) else {
        return value.to_owned();
    };
    let mut out = String::with_capacity(inner.len());
    let mut chars = inner.chars();
    while let Some(c) = chars.next() {
        if c == '\\' {
            out.extend(chars.next());
        } else {
            out.push(c);
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn debian_os_release() {
        let os = OsRelease::parse(
            "PRETTY_NAME=\"Debian GNU/Linux 12 (bookworm)\"\nNAME=\"Debian GNU/Linux\"\n\
             VERSION_ID=\"12\"\nID=debian\nHOME_URL=\"https://www.debian.org/\"\n",
        );
        assert_eq!(
            os,
            OsRelease {
                id: "debian".into(),
                id_like: vec![],
                version_id: Some("12".into()),
                name: Some("Debian GNU/Linux".into()),
            }
        );
        assert_eq!(os.distro().as_deref(), Some("debian-12"));
        let ubuntu = OsRelease::parse("ID=ubuntu\nID_LIKE=debian\nNAME='Ubuntu'\n");
        assert!(ubuntu.is_like("debian"));
        assert_eq!(ubuntu.name.as_deref(), Some("Ubuntu"));
        assert_eq!(OsRelease::parse("").id, "linux");
    }
}
