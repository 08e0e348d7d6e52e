//! What an SBOM says, independent of SPDX and CycloneDX: one subject (the artifact the
//! document is about), the packages and files in it or needed by it, and the edges
//! between them. Collectors fill it; writers render it; both meet only here.

use std::collections::BTreeSet;

use serde::{Deserialize, Serialize};

use crate::error::{Error, Result};
use crate::{license, purl};

/// Everything one SBOM document describes.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Sbom {
    /// The artifact the document is about.
    pub subject: Subject,
    /// Packages found in the subject or needed by it.
    pub packages: Vec<Package>,
    /// Regular files of the subject, each with both digests.
    pub files: Vec<File>,
    /// Edges between the subject and packages.
    pub relationships: Vec<Relationship>,
}

/// The artifact an SBOM describes.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Subject {
    /// Name: the distribution name of a wheel, the release's name, the image's name.
    pub name: String,
    /// Version, when the artifact has one.
    pub version: Option<String>,
    /// Lower-case hex sha256 of the artifact (for an image: of its manifest).
    pub sha256: Option<String>,
    /// What kind of artifact it is.
    pub kind: SubjectKind,
    /// Who supplies it; `NOASSERTION` in SPDX when unknown.
    pub supplier: Option<Supplier>,
    /// Declared licence as a valid SPDX expression, when known.
    pub license: Option<String>,
}

/// The kinds of artifact wharf releases.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "kebab-case")]
pub enum SubjectKind {
    /// A Python wheel.
    Wheel {
        /// The wheel's file name, e.g. `flaskdemo-1.4.0-py3-none-any.whl`.
        file_name: String,
    },
    /// A release package (wharf-package's `.tar.gz`) or any other archive of files.
    ReleasePackage {
        /// The archive's file name, when there is one.
        file_name: Option<String>,
    },
    /// A container image, named by its manifest digest (what gets attested), not a tag.
    Image {
        /// Where it lives, e.g. `registry.example/flaskdemo`.
        repository: String,
        /// Lower-case hex sha256 of the image manifest, without `sha256:`.
        manifest_digest: String,
    },
}

/// One package: a Python distribution, an OS package, the operating system itself.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Package {
    /// Name as its ecosystem spells it (Python names as in their metadata).
    pub name: String,
    /// Version, when known.
    pub version: Option<String>,
    /// Ecosystem and ecosystem-specific facts.
    pub kind: PackageKind,
    /// Package URL, when the ecosystem has a purl type.
    pub purl: Option<String>,
    /// Declared licence as a valid SPDX expression, when known.
    pub license: Option<String>,
    /// Who supplies it, when known.
    pub supplier: Option<Supplier>,
    /// Lower-case hex sha256 of the package's artifact (wheel, .deb), when known.
    pub sha256: Option<String>,
}

/// The ecosystems this crate reads.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "kebab-case")]
pub enum PackageKind {
    /// A Python distribution (wheel, installed dist-info, locked package).
    Python,
    /// A Debian package from dpkg's database.
    Deb {
        /// dpkg architecture, e.g. `amd64` or `all`.
        architecture: String,
        /// Source package (`Source:` field), e.g. `busybox (1:1.35.0-4+deb12u1)`.
        source: Option<String>,
    },
    /// An Alpine package from apk's database.
    Apk {
        /// apk architecture, e.g. `x86_64`.
        architecture: String,
        /// Origin (source) package, `o:` field.
        origin: Option<String>,
    },
    /// The operating system of a root file system, from `os-release`.
    OperatingSystem,
}

impl PackageKind {
    /// Short name used in keys and SPDX ids: `python`, `deb`, `apk`, `os`.
    pub fn short_name(&self) -> &'static str {
        match self {
            Self::Python => "python",
            Self::Deb { .. } => "deb",
            Self::Apk { .. } => "apk",
            Self::OperatingSystem => "os",
        }
    }
}

impl Package {
    /// The package's identity within one SBOM: its purl, else `kind:name@version`.
    /// Relationships and file owners refer to packages by this key.
    pub fn key(&self) -> String {
        match &self.purl {
            Some(purl) => purl.clone(),
            None => format!(
                "{}:{}@{}",
                self.kind.short_name(),
                self.name,
                self.version.as_deref().unwrap_or("")
            ),
        }
    }
}

/// A regular file with both digests (SPDX requires SHA1 on every file).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct File {
    /// `/`-separated path relative to the subject's root, without a leading `./` or `/`.
    pub path: String,
    /// Lower-case hex SHA-1.
    pub sha1: String,
    /// Lower-case hex SHA-256.
    pub sha256: String,
    /// Key ([`Package::key`]) of the package that installed it, when one claims it.
    pub package: Option<String>,
}

/// One edge of the graph.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
pub struct Relationship {
    /// Where the edge starts.
    pub from: Node,
    /// What it means.
    pub kind: RelationshipKind,
    /// Where it ends.
    pub to: Node,
}

/// An end of a [`Relationship`].
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Node {
    /// The subject.
    Subject,
    /// A package, by [`Package::key`].
    Package(String),
}

/// The meanings of an edge.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum RelationshipKind {
    /// `from` needs `to` at run time (SPDX `DEPENDS_ON`, CycloneDX `dependsOn`).
    DependsOn,
    /// `to` is installed inside `from` (SPDX `CONTAINS`).
    Contains,
}

/// Who supplies a package (SPDX `supplier`, CycloneDX `supplier`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Supplier {
    /// A person or an organisation.
    pub kind: SupplierKind,
    /// The name, without parentheses (SPDX uses them around the e-mail).
    pub name: String,
    /// An e-mail address, when known.
    pub email: Option<String>,
}

/// SPDX's actor types for suppliers.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum SupplierKind {
    /// `Person:`.
    Person,
    /// `Organization:`.
    Organization,
}

impl Supplier {
    /// An organisation without e-mail.
    pub fn organization(name: &str) -> Self {
        Self {
            kind: SupplierKind::Organization,
            name: clean_actor(name),
            email: None,
        }
    }

    /// Parses `Name <email>` (or a bare name, or a bare address) into a person.
    /// `None` when nothing usable is left.
    pub fn person(text: &str) -> Option<Self> {
        let text = text.trim();
        let (name, email) = match (text.find('<'), text.rfind('>')) {
            (Some(open), Some(close)) if open < close => (
                text[..open].trim().trim_matches('"').trim(),
                Some(text[open + 1..close].trim()),
            ),
            _ if text.contains('@') && !text.contains(' ') => (text, Some(text)),
            _ => (text, None),
        };
        let email = email.filter(|e| !e.is_empty()).map(clean_actor);
        let name = match clean_actor(name) {
            n if n.is_empty() => email.clone()?,
            n => n,
        };
        Some(Self {
            kind: SupplierKind::Person,
            name,
            email,
        })
    }
}

/// Removes what SPDX's actor syntax cannot carry: parentheses and line breaks.
fn clean_actor(text: &str) -> String {
    text.chars()
        .map(|c| match c {
            '(' | ')' | '\n' | '\r' | '\t' => ' ',
            c => c,
        })
        .collect::<String>()
        .split_whitespace()
        .collect::<Vec<_>>()
        .join(" ")
}

impl Subject {
    /// The subject's package URL: `pkg:pypi/…` for a wheel, `pkg:oci/…` for an image,
    /// `pkg:generic/…` for a release package.
    pub fn purl(&self) -> String {
        match &self.kind {
            SubjectKind::Wheel { .. } => purl::pypi(&self.name, self.version.as_deref()),
            SubjectKind::ReleasePackage { .. } => {
                purl::generic(&self.name, self.version.as_deref())
            }
            SubjectKind::Image {
                repository,
                manifest_digest,
            } => purl::oci(repository, manifest_digest),
        }
    }

    /// A container image subject: named after the last segment of `repository`, its
    /// version and sha256 the manifest digest (`manifest_digest` with or without `sha256:`).
    pub fn image(repository: &str, manifest_digest: &str, supplier: Option<Supplier>) -> Self {
        let hex = manifest_digest.trim_start_matches("sha256:").to_owned();
        let name = repository
            .rsplit('/')
            .next()
            .unwrap_or(repository)
            .to_owned();
        Self {
            name,
            version: Some(format!("sha256:{hex}")),
            sha256: Some(hex.clone()),
            kind: SubjectKind::Image {
                repository: repository.to_owned(),
                manifest_digest: hex,
            },
            supplier,
            license: None,
        }
    }

    /// A release package subject.
    pub fn release_package(
        name: &str,
        version: Option<&str>,
        file_name: Option<&str>,
        sha256: Option<&str>,
        supplier: Option<Supplier>,
    ) -> Self {
        Self {
            name: name.to_owned(),
            version: version.map(str::to_owned),
            sha256: sha256.map(str::to_owned),
            kind: SubjectKind::ReleasePackage {
                file_name: file_name.map(str::to_owned),
            },
            supplier,
            license: None,
        }
    }
}

impl Sbom {
    /// An SBOM of `subject` with nothing in it yet.
    pub fn new(subject: Subject) -> Self {
        Self {
            subject,
            packages: Vec::new(),
            files: Vec::new(),
            relationships: Vec::new(),
        }
    }

    /// Sorts everything into its canonical order and drops duplicates: packages by key
    /// (the first of equal keys wins; a package with the subject's own purl is dropped),
    /// files by path, relationships by their ends. Writers work on a normalised copy, so
    /// the same content always gives the same bytes whatever order it was collected in.
    pub fn normalize(&mut self) {
        let subject_purl = self.subject.purl();
        let mut seen = BTreeSet::new();
        self.packages.retain(|p| {
            let key = p.key();
            key != subject_purl && seen.insert(key)
        });
        self.packages.sort_by_key(Package::key);
        let mut seen = BTreeSet::new();
        self.files.retain(|f| seen.insert(f.path.clone()));
        self.files.sort_by(|a, b| a.path.cmp(&b.path));
        self.relationships.retain(|r| r.from != r.to);
        self.relationships.sort();
        self.relationships.dedup();
    }

    /// Checks the rules the output formats rely on: digests are lower-case hex of the
    /// right length, licences are valid SPDX expressions without `LicenseRef-`, file
    /// paths are relative, and every relationship and file owner names a package here.
    pub fn check(&self) -> Result<()> {
        let s = &self.subject;
        check_hex(&format!("subject {}", s.name), s.sha256.as_deref(), 64)?;
        if let SubjectKind::Image {
            manifest_digest, ..
        } = &s.kind
        {
            check_hex("image manifest digest", Some(manifest_digest), 64)?;
        }
        check_license(&format!("subject {}", s.name), s.license.as_deref())?;
        if s.name.trim().is_empty() {
            return Err(Error::invalid("subject", "the name is empty"));
        }
        let mut keys = BTreeSet::new();
        for p in &self.packages {
            let what = format!("package {}", p.key());
            if p.name.trim().is_empty() {
                return Err(Error::invalid(what, "the name is empty"));
            }
            check_hex(&what, p.sha256.as_deref(), 64)?;
            check_license(&what, p.license.as_deref())?;
            if let Some(purl) = &p.purl {
                purl::check(purl).map_err(|reason| Error::invalid(&what, reason))?;
            }
            keys.insert(p.key());
        }
        for f in &self.files {
            let what = format!("file {:?}", f.path);
            check_hex(&what, Some(&f.sha1), 40)?;
            check_hex(&what, Some(&f.sha256), 64)?;
            if f.path.is_empty() || f.path.starts_with('/') || f.path.starts_with("./") {
                return Err(Error::invalid(
                    what,
                    "paths are relative, without a leading `/` or `./`",
                ));
            }
            if let Some(owner) = &f.package
                && !keys.contains(owner)
            {
                return Err(Error::invalid(
                    what,
                    format!("owned by {owner}, which is not a package of this SBOM"),
                ));
            }
        }
        for r in &self.relationships {
            for node in [&r.from, &r.to] {
                if let Node::Package(key) = node
                    && !keys.contains(key)
                {
                    return Err(Error::invalid(
                        format!("relationship {r:?}"),
                        format!("{key} is not a package of this SBOM"),
                    ));
                }
            }
        }
        Ok(())
    }
}

fn check_hex(what: &str, value: Option<&str>, len: usize) -> Result<()> {
    match value {
        Some(v) if v.len() != len || !v.bytes().all(|b| matches!(b, b'0'..=b'9' | b'a'..=b'f')) => {
            Err(Error::invalid(
                what,
                format!("digest {v:?} is not {len} lower-case hex digits"),
            ))
        }
        _ => Ok(()),
    }
}

fn check_license(what: &str, value: Option<&str>) -> Result<()> {
    match value {
        Some(expr) if license::spdx_expression(expr).as_deref() != Some(expr) => {
            Err(Error::invalid(
                what,
                format!("{expr:?} is not a valid SPDX licence expression"),
            ))
        }
        _ => Ok(()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn person_suppliers_are_parsed_from_name_and_address() {
        let p = Supplier::person("Armin Ronacher <armin@example.org>").unwrap();
        assert_eq!(p.name, "Armin Ronacher");
        assert_eq!(p.email.as_deref(), Some("armin@example.org"));
        let p = Supplier::person("ops@example.org").unwrap();
        assert_eq!(
            (p.name.as_str(), p.email.as_deref()),
            ("ops@example.org", Some("ops@example.org"))
        );
        let p = Supplier::person("The (Great) Team").unwrap();
        assert_eq!((p.name.as_str(), p.email), ("The Great Team", None));
        assert_eq!(Supplier::person("  "), None);
    }

    #[test]
    fn normalize_sorts_and_drops_duplicates_and_the_subject_itself() {
        let pkg = |name: &str| Package {
            name: name.into(),
            version: Some("1".into()),
            kind: PackageKind::Python,
            purl: Some(purl::pypi(name, Some("1"))),
            license: None,
            supplier: None,
            sha256: None,
        };
        let mut sbom = Sbom::new(Subject {
            name: "app".into(),
            version: Some("1".into()),
            sha256: None,
            kind: SubjectKind::Wheel {
                file_name: "app-1-py3-none-any.whl".into(),
            },
            supplier: None,
            license: None,
        });
        sbom.packages = vec![pkg("zeta"), pkg("app"), pkg("alpha"), pkg("zeta")];
        sbom.normalize();
        let keys: Vec<_> = sbom.packages.iter().map(Package::key).collect();
        assert_eq!(keys, ["pkg:pypi/alpha@1", "pkg:pypi/zeta@1"]);
    }

    #[test]
    fn check_refuses_bad_digests_licences_and_dangling_edges() {
        let mut sbom = Sbom::new(Subject::release_package("r", Some("1"), None, None, None));
        sbom.files.push(File {
            path: "a".into(),
            sha1: "00".into(),
            sha256: "0".repeat(64),
            package: None,
        });
        assert!(
            sbom.check()
                .unwrap_err()
                .to_string()
                .contains("40 lower-case hex")
        );
        sbom.files[0].sha1 = "0".repeat(40);
        sbom.check().unwrap();
        sbom.subject.license = Some("Foo-1.0".into());
        assert!(sbom.check().unwrap_err().to_string().contains("Foo-1.0"));
        sbom.subject.license = None;
        sbom.relationships.push(Relationship {
            from: Node::Subject,
            kind: RelationshipKind::DependsOn,
            to: Node::Package("pkg:pypi/x@1".into()),
        });
        assert!(
            sbom.check()
                .unwrap_err()
                .to_string()
                .contains("pkg:pypi/x@1")
        );
    }
}
