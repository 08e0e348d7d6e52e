//! Which package an exception is about: a name, or a package URL whose version pins it, so
//! that a dependency bump silently ends the exception instead of silently extending it.

use std::fmt;

use serde::{Deserialize, Serialize};

/// The parts of a package URL (`pkg:type/namespace/name@version?qualifiers#subpath`) that
/// identify a package; qualifiers and subpath are ignored when matching.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Purl {
    /// Package type, e.g. `pypi`, `npm`, `apk`.
    pub ty: String,
    /// Namespace, e.g. `alpine` or an npm scope, percent-decoded.
    pub namespace: Option<String>,
    /// Name, percent-decoded.
    pub name: String,
    /// Version, percent-decoded.
    pub version: Option<String>,
}

impl Purl {
    /// Parses a package URL; `None` when it is not one (no `pkg:` prefix, no type or name).
    pub fn parse(text: &str) -> Option<Purl> {
        let rest = text.trim().strip_prefix("pkg:")?.trim_start_matches('/');
        let rest = rest.split('#').next().unwrap_or_default();
        let rest = rest.split('?').next().unwrap_or_default();
        let last_slash = rest.rfind('/');
        let (path, version) = match rest.rfind('@') {
            Some(at) if last_slash.is_none_or(|s| at > s) => (&rest[..at], Some(&rest[at + 1..])),
            _ => (rest, None),
        };
        let (ty, path) = path.split_once('/')?;
        let (namespace, name) = match path.rfind('/') {
            Some(i) => (Some(decode(&path[..i])), decode(&path[i + 1..])),
            None => (None, decode(path)),
        };
        if ty.is_empty() || name.is_empty() {
            return None;
        }
        Some(Purl {
            ty: ty.to_ascii_lowercase(),
            namespace: namespace.filter(|n| !n.is_empty()),
            name,
            version: version.map(decode).filter(|v| !v.is_empty()),
        })
    }

    /// Whether two purls name the same package (and, when `self` has a version, the same
    /// version).
    fn covers(&self, other: &Purl) -> bool {
        self.ty == other.ty
            && match (&self.namespace, &other.namespace) {
                (None, None) => true,
                (Some(a), Some(b)) => a.eq_ignore_ascii_case(b),
                _ => false,
            }
            && same_name(&self.ty, &self.name, &other.name)
            && self
                .version
                .as_ref()
                .is_none_or(|v| other.version.as_ref() == Some(v))
    }
}

/// Decodes `%XX` escapes; malformed escapes are kept as written.
fn decode(text: &str) -> String {
    let bytes = text.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        let hex = |b: u8| (b as char).to_digit(16);
        if bytes[i] == b'%'
            && let (Some(h), Some(l)) = (
                bytes.get(i + 1).and_then(|&b| hex(b)),
                bytes.get(i + 2).and_then(|&b| hex(b)),
            )
        {
            out.push((h * 16 + l) as u8);
            i += 3;
            continue;
        }
        out.push(bytes[i]);
        i += 1;
    }
    String::from_utf8_lossy(&out).into_owned()
}

/// Package names compare case-insensitively; PyPI names also treat runs of `-`, `_` and
/// `.` as equal (PEP 503), since scanners report `Werkzeug` where the purl says `werkzeug`.
pub(crate) fn same_name(ty: &str, a: &str, b: &str) -> bool {
    if ty == "pypi" {
        pep503(a) == pep503(b)
    } else {
        a.eq_ignore_ascii_case(b)
    }
}

fn pep503(name: &str) -> String {
    let mut out = String::with_capacity(name.len());
    let mut sep = false;
    for c in name.chars() {
        if matches!(c, '-' | '_' | '.') {
            sep = true;
        } else {
            if sep && !out.is_empty() {
                out.push('-');
            }
            sep = false;
            out.extend(c.to_lowercase());
        }
    }
    out
}

/// An exception's `package`: a plain name (any version) or a purl (that version only, when
/// it has one).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(into = "String", try_from = "String")]
pub struct PackageScope {
    text: String,
    purl: Option<Purl>,
}

impl PackageScope {
    /// Parses `package` as written in the policy file.
    pub fn parse(text: &str) -> Result<PackageScope, String> {
        let trimmed = text.trim();
        if trimmed.is_empty() {
            return Err("a package name or purl cannot be empty".into());
        }
        if trimmed.starts_with("pkg:") {
            let purl = Purl::parse(trimmed).ok_or_else(|| {
                "not a valid package URL (expected pkg:type/name@version)".to_string()
            })?;
            return Ok(PackageScope {
                text: trimmed.to_string(),
                purl: Some(purl),
            });
        }
        Ok(PackageScope {
            text: trimmed.to_string(),
            purl: None,
        })
    }

    /// The scope as written.
    pub fn as_str(&self) -> &str {
        &self.text
    }

    /// The purl, when the scope is one.
    pub fn purl(&self) -> Option<&Purl> {
        self.purl.as_ref()
    }

    /// Whether a package (as a finding or an SBOM entry describes it) is in scope. A purl
    /// scope is compared with the package's purl, or with its name and version when it has
    /// none; a name scope with the package's name (or its purl's name).
    pub fn matches(&self, name: Option<&str>, version: Option<&str>, purl: Option<&str>) -> bool {
        let theirs = purl.and_then(Purl::parse);
        match (&self.purl, theirs) {
            (Some(mine), Some(theirs)) => mine.covers(&theirs),
            (Some(mine), None) => {
                name.is_some_and(|n| same_name(&mine.ty, &mine.name, n))
                    && mine.version.as_deref().is_none_or(|v| version == Some(v))
            }
            (None, theirs) => {
                let ty = theirs.as_ref().map_or("", |p| p.ty.as_str());
                let name = name.or(theirs.as_ref().map(|p| p.name.as_str()));
                name.is_some_and(|n| same_name(ty, &self.text, n))
            }
        }
    }
}

impl fmt::Display for PackageScope {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.text)
    }
}

impl From<PackageScope> for String {
    fn from(scope: PackageScope) -> String {
        scope.text
    }
}

impl TryFrom<String> for PackageScope {
    type Error = String;
    fn try_from(text: String) -> Result<PackageScope, String> {
        PackageScope::parse(&text)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_purls() {
        let p =
            Purl::parse("pkg:apk/alpine/libcrypto1.1@1.1.1c-r0?arch=x86_64&distro=3.10.2").unwrap();
        assert_eq!(p.ty, "apk");
        assert_eq!(p.namespace.as_deref(), Some("alpine"));
        assert_eq!(p.name, "libcrypto1.1");
        assert_eq!(p.version.as_deref(), Some("1.1.1c-r0"));
        let scoped = Purl::parse("pkg:npm/%40babel/core@7.0.0").unwrap();
        assert_eq!(scoped.namespace.as_deref(), Some("@babel"));
        let unversioned = Purl::parse("pkg:npm/@babel/core").unwrap();
        assert_eq!(unversioned.name, "core");
        assert_eq!(unversioned.version, None);
        assert_eq!(Purl::parse("pkg:pypi/"), None);
        assert_eq!(Purl::parse("pypi/flask"), None);
        assert_eq!(
            Purl::parse("pkg:deb/x@1%3A2.0%").unwrap().version.unwrap(),
            "1:2.0%"
        );
    }

    #[test]
    fn scopes_match_by_name_or_exact_purl() {
        let name = PackageScope::parse("werkzeug").unwrap();
        assert!(name.matches(
            Some("Werkzeug"),
            Some("0.11"),
            Some("pkg:pypi/werkzeug@0.11")
        ));
        assert!(!name.matches(Some("flask"), None, None));

        let purl = PackageScope::parse("pkg:pypi/werkzeug@0.11").unwrap();
        assert!(purl.matches(
            Some("Werkzeug"),
            Some("0.11"),
            Some("pkg:pypi/werkzeug@0.11")
        ));
        assert!(!purl.matches(
            Some("Werkzeug"),
            Some("0.12"),
            Some("pkg:pypi/werkzeug@0.12")
        ));
        // No purl on the finding: name and version decide.
        assert!(purl.matches(Some("Werkzeug"), Some("0.11"), None));
        assert!(!purl.matches(Some("Werkzeug"), Some("0.12"), None));

        let any_version = PackageScope::parse("pkg:pypi/zope.interface").unwrap();
        assert!(any_version.matches(None, None, Some("pkg:pypi/zope-interface@5.0")));
        assert!(PackageScope::parse("pkg:").is_err());
        assert!(PackageScope::parse("  ").is_err());
    }
}
