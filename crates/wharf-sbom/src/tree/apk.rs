//! Alpine packages from apk's database, `lib/apk/db/installed`: one paragraph per
//! package with one-letter keys — `P:` name, `V:` version, `A:` architecture,
//! `L:` licence (taken when it is a valid SPDX expression), `o:` origin, `F:` a
//! directory and the `R:` files in it after it, `D:` dependencies and `p:` provides,
//! matched to each other for edges.

use super::{Found, OsRelease, Root};
use crate::error::{Error, Result};
use crate::license;
use crate::model::{Package, PackageKind, Supplier};
use crate::purl;

const DB: &str = "lib/apk/db/installed";

/// Every installed Alpine package of the tree.
pub(crate) fn collect(root: &Root, os: Option<&OsRelease>) -> Result<Vec<Found>> {
    let Some(text) = root.read(DB)? else {
        return Ok(Vec::new());
    };
    let alpine = os.filter(|o| o.is_like("alpine"));
    let vendor = alpine.map_or("alpine".to_owned(), |o| o.id.clone());
    let distro = alpine.and_then(OsRelease::distro);
    let supplier = alpine.map_or_else(
        || Supplier::organization("Alpine Linux"),
        OsRelease::supplier,
    );
    let mut out = Vec::new();
    for (start, lines) in paragraphs(&text) {
        let mut entry = Entry::default();
        for (line_no, line) in lines {
            let Some((key, value)) = line.split_once(':') else {
                return Err(Error::parse(
                    root.display(DB),
                    Some(line_no),
                    format!("{line:?} is not a `key:value` line"),
                ));
            };
            entry.set(key, value);
        }
        let (Some(name), Some(version)) = (entry.name.take(), entry.version.take()) else {
            return Err(Error::parse(
                root.display(DB),
                Some(start),
                "package entry without P: (name) or V: (version)",
            ));
        };
        let arch = entry.arch.take().unwrap_or_default();
        let mut names = vec![name.clone()];
        names.extend(entry.provides.iter().map(|p| constraint_free(p)));
        out.push(Found {
            package: Package {
                purl: Some(purl::apk(
                    &vendor,
                    &name,
                    &version,
                    &arch,
                    distro.as_deref(),
                )),
                name,
                version: Some(version),
                kind: PackageKind::Apk {
                    architecture: arch,
                    origin: entry.origin,
                },
                license: entry.license.as_deref().and_then(license::spdx_expression),
                supplier: Some(supplier.clone()),
                sha256: None,
            },
            files: entry.files,
            group: "apk".to_owned(),
            names,
            depends: entry
                .depends
                .iter()
                .filter(|d| !d.starts_with('!'))
                .map(|d| vec![constraint_free(d)])
                .collect(),
        });
    }
    Ok(out)
}

#[derive(Default)]
struct Entry {
    name: Option<String>,
    version: Option<String>,
    arch: Option<String>,
    license: Option<String>,
    origin: Option<String>,
    dir: String,
    files: Vec<String>,
    depends: Vec<String>,
    provides: Vec<String>,
}

impl Entry {
    fn set(&mut self, key: &str, value: &str) {
        let owned = || Some(value.to_owned());
        match key {
            "P" => self.name = owned(),
            "V" => self.version = owned(),
            "A" => self.arch = owned(),
            "L" => self.license = owned(),
            "o" => self.origin = owned(),
            "F" => self.dir = value.to_owned(),
            "R" if self.dir.is_empty() => self.files.push(value.to_owned()),
            "R" => self.files.push(format!("{}/{value}", self.dir)),
            "D" => self.depends = value.split_whitespace().map(str::to_owned).collect(),
            "p" => self.provides = value.split_whitespace().map(str::to_owned).collect(),
            _ => {}
        }
    }
}

/// `so:libc.musl-x86_64.so.1=1` or `busybox>=1.36` without its version constraint.
fn constraint_free(dep: &str) -> String {
    let end = dep.find(['=', '<', '>', '~']).unwrap_or(dep.len());
    dep[..end].to_owned()
}

/// Non-empty paragraphs with their first line number and numbered lines.
fn paragraphs(text: &str) -> Vec<(usize, Vec<(usize, &str)>)> {
    let mut out: Vec<(usize, Vec<(usize, &str)>)> = Vec::new();
    let mut current: Vec<(usize, &str)> = Vec::new();
    for (i, line) in text.lines().enumerate() {
        if line.trim().is_empty() {
            if !current.is_empty() {
                out.push((current[0].0, std::mem::take(&mut current)));
            }
        } else {
            current.push((i + 1, line));
        }
    }
    if !current.is_empty() {
        out.push((current[0].0, current));
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::fs;

    fn tree(db: &str) -> tempfile::TempDir {
        let dir = tempfile::tempdir().unwrap();
        fs::create_dir_all(dir.path().join("lib/apk/db")).unwrap();
        fs::write(dir.path().join(DB), db).unwrap();
        dir
    }

    #[test]
    fn alpine_packages_with_files_in_their_directories() {
        let dir = tree(
            "C:Q1x=\nP:musl\nV:1.2.5-r0\nA:aarch64\nL:MIT\no:musl\np:so:libc.musl-aarch64.so.1=1\n\
             F:lib\nR:ld-musl-aarch64.so.1\nZ:Q1y=\n\nP:x\nV:1\nA:aarch64\nL:custom:Proprietary\n\
             D:!conflict so:libc.musl-aarch64.so.1\nR:toplevel\n",
        );
        let os = OsRelease::parse("ID=alpine\nVERSION_ID=3.20.3\nNAME=\"Alpine Linux\"\n");
        let found = collect(&Root::new(dir.path()), Some(&os)).unwrap();
        assert_eq!(
            found[0].package.purl.as_deref(),
            Some("pkg:apk/alpine/musl@1.2.5-r0?arch=aarch64&distro=alpine-3.20.3")
        );
        assert_eq!(found[0].package.license.as_deref(), Some("MIT"));
        assert_eq!(found[0].files, ["lib/ld-musl-aarch64.so.1"]);
        assert_eq!(found[0].names, ["musl", "so:libc.musl-aarch64.so.1"]);
        assert_eq!(found[1].package.license, None, "custom:… is not SPDX");
        assert_eq!(found[1].files, ["toplevel"]);
        assert_eq!(
            found[1].depends,
            [vec!["so:libc.musl-aarch64.so.1".to_owned()]]
        );
    }

    #[test]
    fn a_malformed_database_names_its_line() {
        let dir = tree("P:a\nV:1\n\nP:b\nno colon here\n");
        let e = collect(&Root::new(dir.path()), None)
            .err()
            .unwrap()
            .to_string();
        assert!(
            e.ends_with("lib/apk/db/installed:5: \"no colon here\" is not a `key:value` line"),
            "{e}"
        );
        let dir = tree("V:1\n");
        let e = collect(&Root::new(dir.path()), None)
            .err()
            .unwrap()
            .to_string();
        assert!(e.contains("installed:1: package entry without P:"), "{e}");
    }

    #[test]
    fn constraints_are_dropped() {
        assert_eq!(constraint_free("busybox=1.36.1-r15"), "busybox");
        assert_eq!(
            constraint_free("so:libc.musl-x86_64.so.1"),
            "so:libc.musl-x86_64.so.1"
        );
    }
}
