//! The resolved dependencies of a Python project, from whichever record the job has:
//! the environment it installed into (every dist-info of a venv's `site-packages`, with
//! each one's `Requires-Dist`), a PEP 751 `pylock.toml`, pip's `--report` JSON, or a
//! `requirements.txt` pinned with `==` (and, optionally, `--hash=sha256:`). Sources can be
//! merged: the environment knows the dependency edges, a lock knows the artifacts' hashes.
//!
//! What each source can say:
//!
//! | source            | versions | edges (`Requires-Dist`) | artifact sha256                  | licence, supplier |
//! |-------------------|----------|-------------------------|----------------------------------|-------------------|
//! | environment       | yes      | yes                     | no (installed files only)        | yes               |
//! | pip `--report`    | yes      | yes                     | yes (the artifact pip chose)     | yes               |
//! | `pylock.toml`     | yes      | when `dependencies` set | when the package has one artifact | no               |
//! | `requirements.txt`| yes      | no                      | when the line has one `--hash`   | no                |

use std::collections::BTreeMap;
use std::fs;
use std::path::{Path, PathBuf};

use serde::Deserialize;

use super::metadata::{CoreMetadata, Requirement};
use crate::error::{Error, Result};
use crate::model::Supplier;
use crate::purl::normalize_python_name;

/// A resolved set of Python packages, at most one per normalised name.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Resolved {
    /// The packages, in the order their sources listed them.
    pub packages: Vec<ResolvedPackage>,
}

/// One resolved package.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ResolvedPackage {
    /// Name as the source spells it.
    pub name: String,
    /// Version; a `pylock.toml` may omit it for directory and VCS packages.
    pub version: Option<String>,
    /// Licence as a valid SPDX expression, when the source carries metadata.
    pub license: Option<String>,
    /// Maintainer or author, when the source carries metadata.
    pub supplier: Option<Supplier>,
    /// Lower-case hex sha256 of the artifact installed, when the source pins exactly one.
    pub sha256: Option<String>,
    /// Its requirements; `None` when the source does not record them (then the set is
    /// taken whole rather than walked from the project's requirements).
    pub requires: Option<Vec<Requirement>>,
}

impl ResolvedPackage {
    fn from_metadata(m: &CoreMetadata, sha256: Option<String>) -> Self {
        Self {
            name: m.name.clone(),
            version: Some(m.version.clone()),
            license: m.license(),
            supplier: m.supplier(),
            sha256,
            requires: Some(m.requirements()),
        }
    }

    fn bare(name: &str, version: Option<String>, sha256: Option<String>) -> Self {
        Self {
            name: name.to_owned(),
            version,
            license: None,
            supplier: None,
            sha256,
            requires: None,
        }
    }
}

impl Resolved {
    /// Every `*.dist-info` directly inside each `site-packages` directory; when a project
    /// is in several, the first directory wins (as on `sys.path`).
    pub fn from_site_packages<P: AsRef<Path>>(dirs: &[P]) -> Result<Self> {
        let mut out = Self::default();
        for dir in dirs {
            let dir = dir.as_ref();
            let mut names = Vec::new();
            for entry in fs::read_dir(dir).map_err(|e| Error::io("listing", dir, e))? {
                let entry = entry.map_err(|e| Error::io("listing", dir, e))?;
                let name = entry.file_name().to_string_lossy().into_owned();
                if name.ends_with(".dist-info") && entry.path().is_dir() {
                    names.push(name);
                }
            }
            names.sort();
            for name in names {
                let path = dir.join(&name).join("METADATA");
                let text = fs::read_to_string(&path).map_err(|e| Error::io("reading", &path, e))?;
                let m = CoreMetadata::parse(&text, &path)?;
                out.add_if_new(ResolvedPackage::from_metadata(&m, None));
            }
        }
        Ok(out)
    }

    /// The `site-packages` directories of a virtual environment
    /// (`lib/python3*/site-packages`, `lib64/…`, or `Lib/site-packages`).
    pub fn from_venv(venv: &Path) -> Result<Self> {
        let mut dirs = Vec::new();
        for lib in ["lib", "lib64"] {
            let lib = venv.join(lib);
            let Ok(entries) = fs::read_dir(&lib) else {
                continue;
            };
            let mut found: Vec<PathBuf> = entries
                .filter_map(|e| e.ok())
                .filter(|e| e.file_name().to_string_lossy().starts_with("python"))
                .map(|e| e.path().join("site-packages"))
                .filter(|p| p.is_dir())
                .collect();
            found.sort();
            dirs.extend(found);
        }
        let windows = venv.join("Lib").join("site-packages");
        if windows.is_dir() {
            dirs.push(windows);
        }
        if dirs.is_empty() {
            return Err(Error::parse(
                venv,
                None,
                "no site-packages directory (lib/python*/site-packages) in this environment",
            ));
        }
        Self::from_site_packages(&dirs)
    }

    /// pip's installation report (`pip install --report FILE`, format version 1).
    pub fn from_pip_report(path: &Path) -> Result<Self> {
        #[derive(Deserialize)]
        struct Report {
            version: String,
            install: Vec<Item>,
        }
        #[derive(Deserialize)]
        struct Item {
            metadata: serde_json::Value,
            download_info: Option<DownloadInfo>,
        }
        #[derive(Deserialize)]
        struct DownloadInfo {
            archive_info: Option<ArchiveInfo>,
        }
        #[derive(Deserialize)]
        struct ArchiveInfo {
            hashes: Option<BTreeMap<String, String>>,
            hash: Option<String>,
        }
        let text = fs::read_to_string(path).map_err(|e| Error::io("reading", path, e))?;
        let report: Report = serde_json::from_str(&text)
            .map_err(|e| Error::parse(path, Some(e.line()), e.to_string()))?;
        if report.version != "1" {
            return Err(Error::parse(
                path,
                None,
                format!(
                    "pip report version {:?}; this reader knows version \"1\"",
                    report.version
                ),
            ));
        }
        let mut out = Self::default();
        for item in report.install {
            let m = CoreMetadata::from_json(&item.metadata, path)?;
            let sha256 = item
                .download_info
                .and_then(|d| d.archive_info)
                .and_then(|a| {
                    a.hashes
                        .and_then(|h| h.get("sha256").cloned())
                        .or_else(|| a.hash?.strip_prefix("sha256=").map(str::to_owned))
                })
                .filter(|h| is_sha256(h));
            out.add_if_new(ResolvedPackage::from_metadata(&m, sha256));
        }
        Ok(out)
    }

    /// A PEP 751 lock file (`pylock.toml`, lock-version 1.x). Packages' markers are not
    /// evaluated: every package in the lock is taken.
    pub fn from_pylock(path: &Path) -> Result<Self> {
        #[derive(Deserialize)]
        #[serde(rename_all = "kebab-case")]
        struct Lock {
            lock_version: String,
            #[serde(default)]
            packages: Vec<Pkg>,
        }
        #[derive(Deserialize)]
        struct Pkg {
            name: String,
            version: Option<String>,
            dependencies: Option<Vec<Dep>>,
            sdist: Option<Artifact>,
            #[serde(default)]
            wheels: Vec<Artifact>,
            archive: Option<Artifact>,
        }
        #[derive(Deserialize)]
        struct Dep {
            name: Option<String>,
        }
        #[derive(Deserialize)]
        struct Artifact {
            #[serde(default)]
            hashes: BTreeMap<String, String>,
        }
        let text = fs::read_to_string(path).map_err(|e| Error::io("reading", path, e))?;
        let lock: Lock = toml::from_str(&text).map_err(|e| {
            let line = e.span().map(|s| text[..s.start].lines().count().max(1));
            Error::parse(path, line, e.message().to_owned())
        })?;
        if !lock.lock_version.starts_with("1.") && lock.lock_version != "1" {
            return Err(Error::parse(
                path,
                None,
                format!(
                    "lock-version {:?}; this reader knows 1.x",
                    lock.lock_version
                ),
            ));
        }
        let mut out = Self::default();
        for p in lock.packages {
            let artifacts: Vec<&Artifact> = p
                .sdist
                .iter()
                .chain(&p.wheels)
                .chain(p.archive.iter())
                .collect();
            let sha256 = match artifacts.as_slice() {
                [one] => one.hashes.get("sha256").cloned().filter(|h| is_sha256(h)),
                _ => None,
            };
            let mut pkg = ResolvedPackage::bare(&p.name, p.version, sha256);
            pkg.requires = p.dependencies.map(|deps| {
                deps.iter()
                    .filter_map(|d| d.name.as_deref())
                    .map(Requirement::on)
                    .collect()
            });
            out.add_if_new(pkg);
        }
        Ok(out)
    }

    /// A requirements file whose every requirement is pinned with `==` (or `===`), as
    /// `pip freeze`, `uv export` or `pip-compile` write them. Continuation lines, comments,
    /// environment markers and `--hash=sha256:…` options are understood; other options
    /// (`--index-url`, …) are ignored; `-r`, `-c` and `-e` lines and unpinned
    /// requirements are errors, since the file would not be a resolved set.
    pub fn from_requirements(path: &Path) -> Result<Self> {
        let text = fs::read_to_string(path).map_err(|e| Error::io("reading", path, e))?;
        let mut out = Self::default();
        for (line_no, line) in logical_lines(&text) {
            let line = strip_comment(&line);
            let line = line.trim();
            if line.is_empty() {
                continue;
            }
            let first = line.split_whitespace().next().unwrap_or("");
            if [
                "-r",
                "--requirement",
                "-c",
                "--constraint",
                "-e",
                "--editable",
            ]
            .iter()
            .any(|o| first == *o || first.starts_with(&format!("{o}=")))
            {
                return Err(Error::parse(
                    path,
                    Some(line_no),
                    format!("{first} is not followed; give the fully resolved set in one file"),
                ));
            }
            if first.starts_with('-') {
                continue;
            }
            let (spec, hashes) = split_hashes(line);
            let spec = spec.split(';').next().unwrap_or("").trim();
            let unpinned = || Error::Unpinned {
                path: path.to_owned(),
                line: line_no,
                requirement: spec.to_owned(),
            };
            let (name, version) = spec.split_once("==").ok_or_else(unpinned)?;
            let version = version.trim_start_matches('=').trim();
            let name = name.split('[').next().unwrap_or("").trim();
            if name.is_empty()
                || name.contains(['@', '<', '>', '!', '~', ' '])
                || version.is_empty()
                || version.contains([',', '*', ' '])
            {
                return Err(unpinned());
            }
            let sha256 = match hashes.as_slice() {
                [one] => Some(one.clone()),
                _ => None,
            };
            out.add_if_new(ResolvedPackage::bare(
                name,
                Some(version.to_owned()),
                sha256,
            ));
        }
        Ok(out)
    }

    /// This set completed by `other`: a package in both keeps this set's facts and takes
    /// what it lacks (sha256, licence, supplier, requirements) from `other`; a package only
    /// in `other` is added. Different versions of one package are an error.
    pub fn merge(mut self, other: Resolved) -> Result<Self> {
        for theirs in other.packages {
            let key = normalize_python_name(&theirs.name);
            match self
                .packages
                .iter_mut()
                .find(|p| normalize_python_name(&p.name) == key)
            {
                Some(ours) => {
                    match (&ours.version, &theirs.version) {
                        (Some(a), Some(b)) if a != b => {
                            return Err(Error::VersionConflict {
                                name: key,
                                first: a.clone(),
                                second: b.clone(),
                            });
                        }
                        (None, Some(_)) => ours.version = theirs.version,
                        _ => {}
                    }
                    ours.sha256 = ours.sha256.take().or(theirs.sha256);
                    ours.license = ours.license.take().or(theirs.license);
                    ours.supplier = ours.supplier.take().or(theirs.supplier);
                    ours.requires = ours.requires.take().or(theirs.requires);
                }
                None => self.packages.push(theirs),
            }
        }
        Ok(self)
    }

    fn add_if_new(&mut self, pkg: ResolvedPackage) {
        let key = normalize_python_name(&pkg.name);
        if !self
            .packages
            .iter()
            .any(|p| normalize_python_name(&p.name) == key)
        {
            self.packages.push(pkg);
        }
    }
}

fn is_sha256(h: &str) -> bool {
    h.len() == 64 && h.bytes().all(|b| matches!(b, b'0'..=b'9' | b'a'..=b'f'))
}

/// Lines joined across trailing backslashes, each with the number of its first line.
fn logical_lines(text: &str) -> Vec<(usize, String)> {
    let mut out: Vec<(usize, String)> = Vec::new();
    let mut pending: Option<(usize, String)> = None;
    for (i, raw) in text.lines().enumerate() {
        let (start, mut acc) = pending.take().unwrap_or((i + 1, String::new()));
        match raw.trim_end().strip_suffix('\\') {
            Some(part) => {
                acc.push_str(part);
                acc.push(' ');
                pending = Some((start, acc));
            }
            None => {
                acc.push_str(raw);
                out.push((start, acc));
            }
        }
    }
    out.extend(pending);
    out
}

/// Drops a `#` comment: at the start of a line or after whitespace (as pip does).
fn strip_comment(line: &str) -> String {
    let bytes = line.as_bytes();
    for (i, b) in bytes.iter().enumerate() {
        if *b == b'#' && (i == 0 || bytes[i - 1].is_ascii_whitespace()) {
            return line[..i].to_owned();
        }
    }
    line.to_owned()
}

/// The requirement part of a line and the sha256 values of its `--hash` options.
fn split_hashes(line: &str) -> (String, Vec<String>) {
    let mut spec = Vec::new();
    let mut hashes = Vec::new();
    let mut words = line.split_whitespace();
    while let Some(word) = words.next() {
        let value = if word == "--hash" {
            words.next()
        } else {
            word.strip_prefix("--hash=")
        };
        match value {
            Some(v) => hashes.extend(
                v.strip_prefix("sha256:")
                    .filter(|h| is_sha256(h))
                    .map(str::to_owned),
            ),
            None if word.starts_with("--") => {}
            None => spec.push(word),
        }
    }
    (spec.join(" "), hashes)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn write(dir: &Path, name: &str, text: &str) -> PathBuf {
        let p = dir.join(name);
        fs::create_dir_all(p.parent().unwrap()).unwrap();
        fs::write(&p, text).unwrap();
        p
    }

    const H1: &str = "e6ef7331712700be72da99fec0dd955d7d49c2e8aabb7265904bf2d30f44d8bf";
    const H2: &str = "1135f14f44fb2e177b8b8cf2a14676f433a025ef7550f3bd3cfb81c36d4849d4";

    #[test]
    fn requirements_with_hashes_markers_and_continuations() {
        let dir = tempfile::tempdir().unwrap();
        let text = format!(
            "# generated\n--index-url https://pypi.example/simple\n\
             Tiny_Dep==1.0.2 \\\n    --hash=sha256:{H1}\n\
             other-dep[fast]==2.1.0 ; python_version >= \"3.8\" \\\n    --hash=sha256:{H1} \\\n    --hash=sha256:{H2}\n\
             plain==3 # pinned\n"
        );
        let r = Resolved::from_requirements(&write(dir.path(), "r.txt", &text)).unwrap();
        let got: Vec<_> = r
            .packages
            .iter()
            .map(|p| (p.name.as_str(), p.version.as_deref(), p.sha256.as_deref()))
            .collect();
        assert_eq!(
            got,
            [
                ("Tiny_Dep", Some("1.0.2"), Some(H1)),
                ("other-dep", Some("2.1.0"), None),
                ("plain", Some("3"), None)
            ]
        );
        assert!(r.packages.iter().all(|p| p.requires.is_none()));
    }

    #[test]
    fn unpinned_requirements_are_refused_with_their_line() {
        let dir = tempfile::tempdir().unwrap();
        let p = write(dir.path(), "r.txt", "a==1\nflask>=3\n");
        match Resolved::from_requirements(&p).unwrap_err() {
            Error::Unpinned {
                line, requirement, ..
            } => {
                assert_eq!((line, requirement.as_str()), (2, "flask>=3"));
            }
            e => panic!("{e}"),
        }
        let p = write(dir.path(), "r2.txt", "-r base.txt\n");
        assert!(
            Resolved::from_requirements(&p)
                .unwrap_err()
                .to_string()
                .contains("r2.txt:1")
        );
    }

    /// The example of PEP 751 ("Example" section), trimmed to its packages' essentials.
    #[test]
    fn pylock_packages_hashes_and_dependencies() {
        let dir = tempfile::tempdir().unwrap();
        let text = format!(
            r#"lock-version = '1.0'
environments = ["sys_platform == 'win32'", "sys_platform == 'linux'"]
requires-python = '== 3.12'
created-by = 'mousebender'

[[packages]]
name = 'attrs'
version = '25.1.0'
requires-python = '>= 3.8'

    [[packages.wheels]]
    name = 'attrs-25.1.0-py3-none-any.whl'
    upload-time = 2025-01-25T11:30:10.164985+00:00
    url = 'https://files.pythonhosted.org/packages/fc/30/d4986a882011f9df997a55e6becd864812ccfcd821d64aac8570ee39f719/attrs-25.1.0-py3-none-any.whl'
    size = 63152
    hashes = {{sha256 = '{H1}'}}

[[packages]]
name = 'cattrs'
version = '24.1.2'
requires-python = '>= 3.8'
dependencies = [
    {{name = 'attrs'}},
]

    [[packages.wheels]]
    name = 'cattrs-24.1.2-py3-none-any.whl'
    hashes = {{sha256 = '{H2}'}}

    [[packages.wheels]]
    name = 'cattrs-24.1.2-cp312-win_amd64.whl'
    hashes = {{sha256 = '{H1}'}}
"#
        );
        let r = Resolved::from_pylock(&write(dir.path(), "pylock.toml", &text)).unwrap();
        assert_eq!(r.packages.len(), 2);
        assert_eq!(r.packages[0].sha256.as_deref(), Some(H1));
        assert_eq!(r.packages[0].requires, None);
        assert_eq!(
            r.packages[1].sha256, None,
            "two wheels: which one is not known"
        );
        assert_eq!(r.packages[1].requires, Some(vec![Requirement::on("attrs")]));
        let bad = write(
            dir.path(),
            "bad.toml",
            "lock-version = '1.0'\n[[packages]]\nversion = 1\n",
        );
        assert!(
            Resolved::from_pylock(&bad)
                .unwrap_err()
                .to_string()
                .contains("bad.toml")
        );
    }

    #[test]
    fn merge_fills_gaps_and_refuses_version_conflicts() {
        let env = Resolved {
            packages: vec![ResolvedPackage {
                requires: Some(vec![]),
                license: Some("MIT".into()),
                ..ResolvedPackage::bare("Tiny_Dep", Some("1.0.2".into()), None)
            }],
        };
        let lock = Resolved {
            packages: vec![
                ResolvedPackage::bare("tiny-dep", Some("1.0.2".into()), Some(H1.into())),
                ResolvedPackage::bare("extra", Some("1".into()), None),
            ],
        };
        let m = env.clone().merge(lock).unwrap();
        assert_eq!(m.packages.len(), 2);
        assert_eq!(m.packages[0].sha256.as_deref(), Some(H1));
        assert_eq!(m.packages[0].license.as_deref(), Some("MIT"));
        let other = Resolved {
            packages: vec![ResolvedPackage::bare("tiny.dep", Some("2".into()), None)],
        };
        assert!(matches!(
            env.merge(other),
            Err(Error::VersionConflict { .. })
        ));
    }

    #[test]
    fn pip_report_takes_the_chosen_artifact_hash() {
        let dir = tempfile::tempdir().unwrap();
        let report = serde_json::json!({
            "version": "1", "pip_version": "26.3",
            "install": [{
                "download_info": {"url": "file:///w/a.whl", "archive_info": {"hash": format!("sha256={H1}")}},
                "metadata": {"name": "a", "version": "1", "license_expression": "MIT", "requires_dist": ["b"]}
            }, {
                "download_info": {"url": "file:///src/b", "dir_info": {}},
                "metadata": {"name": "b", "version": "2"}
            }]
        });
        let p = write(dir.path(), "report.json", &report.to_string());
        let r = Resolved::from_pip_report(&p).unwrap();
        assert_eq!(r.packages[0].sha256.as_deref(), Some(H1));
        assert_eq!(r.packages[0].license.as_deref(), Some("MIT"));
        assert_eq!(r.packages[0].requires, Some(vec![Requirement::on("b")]));
        assert_eq!(r.packages[1].sha256, None);
    }
}
