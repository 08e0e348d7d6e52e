//! Debian packages from dpkg's database: `var/lib/dpkg/status` (every paragraph whose
//! `Status` ends in `installed`) and the files each package installed from
//! `var/lib/dpkg/info/<name>[:<arch>].list`; also distroless images' `status.d/<name>`
//! paragraphs with their `<name>.md5sums`. The licence comes from
//! `usr/share/doc/<name>/copyright` when it is machine-readable (see [`crate::license`]).
//! `Depends` and `Pre-Depends` become edges (the first installed alternative, through
//! `Provides` too).

use super::{Found, OsRelease, Root};
use crate::error::Result;
use crate::license::{self, field};
use crate::model::{Package, PackageKind, Supplier};
use crate::purl;

/// Every installed Debian package of the tree.
pub(crate) fn collect(root: &Root, os: Option<&OsRelease>) -> Result<Vec<Found>> {
    let debian = os.filter(|o| o.is_like("debian"));
    let ctx = Context {
        vendor: debian.map_or("debian".to_owned(), |o| o.id.clone()),
        distro: debian.and_then(OsRelease::distro),
        supplier: debian.map_or_else(|| Supplier::organization("Debian"), OsRelease::supplier),
    };
    let mut out = Vec::new();
    if let Some(status) = root.read("var/lib/dpkg/status")? {
        for p in license::paragraphs(&status) {
            if let Some(found) = package(root, &ctx, &p, Lists::Info)? {
                out.push(found);
            }
        }
    }
    for name in root.list("var/lib/dpkg/status.d")? {
        if name.ends_with(".md5sums") {
            continue;
        }
        let Some(text) = root.read(&format!("var/lib/dpkg/status.d/{name}"))? else {
            continue;
        };
        for p in license::paragraphs(&text) {
            if let Some(found) = package(root, &ctx, &p, Lists::StatusD(&name))? {
                out.push(found);
            }
        }
    }
    Ok(out)
}

struct Context {
    vendor: String,
    distro: Option<String>,
    supplier: Supplier,
}

/// Where the list of a package's files is.
enum Lists<'a> {
    /// `var/lib/dpkg/info/<name>[:<arch>].list`, one absolute path a line.
    Info,
    /// `var/lib/dpkg/status.d/<file>.md5sums`, `<md5>  <relative path>` lines.
    StatusD(&'a str),
}

fn package(
    root: &Root,
    ctx: &Context,
    p: &[(String, String)],
    lists: Lists<'_>,
) -> Result<Option<Found>> {
    let (Some(name), Some(version)) = (field(p, "Package"), field(p, "Version")) else {
        return Ok(None);
    };
    let installed =
        field(p, "Status").is_none_or(|s| s.split_whitespace().nth(2) == Some("installed"));
    if !installed {
        return Ok(None);
    }
    let arch = field(p, "Architecture").unwrap_or("");
    let files = match lists {
        Lists::Info => {
            let with_arch = root.read(&format!("var/lib/dpkg/info/{name}:{arch}.list"))?;
            let list = match with_arch {
                Some(l) => Some(l),
                None => root.read(&format!("var/lib/dpkg/info/{name}.list"))?,
            };
            list.map(|l| l.lines().map(str::to_owned).collect())
                .unwrap_or_default()
        }
        Lists::StatusD(file) => root
            .read(&format!("var/lib/dpkg/status.d/{file}.md5sums"))?
            .map(|l| {
                l.lines()
                    .filter_map(|line| line.split_once("  ").map(|(_, path)| path.to_owned()))
                    .collect()
            })
            .unwrap_or_default(),
    };
    let license = root
        .read(&format!("usr/share/doc/{name}/copyright"))?
        .and_then(|text| license::debian_copyright(&text));
    let mut names = vec![name.to_owned()];
    names.extend(
        field(p, "Provides")
            .map(relation_names)
            .unwrap_or_default()
            .into_iter()
            .flatten(),
    );
    let depends = ["Pre-Depends", "Depends"]
        .iter()
        .filter_map(|f| field(p, f))
        .flat_map(relation_names)
        .collect();
    Ok(Some(Found {
        package: Package {
            name: name.to_owned(),
            version: Some(version.to_owned()),
            kind: PackageKind::Deb {
                architecture: arch.to_owned(),
                source: field(p, "Source").map(str::to_owned),
            },
            purl: Some(purl::deb(
                &ctx.vendor,
                name,
                version,
                arch,
                ctx.distro.as_deref(),
            )),
            license,
            supplier: Some(ctx.supplier.clone()),
            sha256: None,
        },
        files,
        group: "deb".to_owned(),
        names,
        depends,
    }))
}

/// `a (>= 1), b:any | c` as `[[a], [b, c]]`.
fn relation_names(value: &str) -> Vec<Vec<String>> {
    value
        .split(',')
        .map(|group| {
            group
                .split('|')
                .filter_map(|alt| {
                    let alt = alt.trim();
                    let end = alt.find([' ', '(', ':', '[', '\n']).unwrap_or(alt.len());
                    (end > 0).then(|| alt[..end].to_owned())
                })
                .collect::<Vec<_>>()
        })
        .filter(|g| !g.is_empty())
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::fs;

    fn write(root: &std::path::Path, path: &str, text: &str) {
        let p = root.join(path);
        fs::create_dir_all(p.parent().unwrap()).unwrap();
        fs::write(p, text).unwrap();
    }

    #[test]
    fn only_installed_packages_and_distroless_status_d() {
        let dir = tempfile::tempdir().unwrap();
        let d = dir.path();
        write(
            d,
            "var/lib/dpkg/status",
            "Package: gone\nStatus: deinstall ok config-files\nVersion: 1\nArchitecture: all\n\n\
             Package: here\nStatus: install ok installed\nVersion: 2\nArchitecture: all\n\
             Provides: virtual\n",
        );
        write(d, "var/lib/dpkg/info/here.list", "/.\n/usr\n/usr/here\n");
        write(
            d,
            "var/lib/dpkg/status.d/base",
            "Package: base-files\nVersion: 12.4+deb12u11\nArchitecture: amd64\n\
             Depends: virtual\n",
        );
        write(
            d,
            "var/lib/dpkg/status.d/base.md5sums",
            "0123  etc/debian_version\n",
        );
        let os = OsRelease::parse("ID=ubuntu\nID_LIKE=debian\nVERSION_ID=24.04\nNAME=Ubuntu\n");
        let found = collect(&Root::new(d), Some(&os)).unwrap();
        let got: Vec<_> = found
            .iter()
            .map(|f| {
                (
                    f.package.purl.clone().unwrap(),
                    f.files.clone(),
                    f.names.clone(),
                    f.depends.clone(),
                )
            })
            .collect();
        assert_eq!(
            got,
            [
                (
                    "pkg:deb/ubuntu/here@2?arch=all&distro=ubuntu-24.04".to_owned(),
                    vec!["/.".to_owned(), "/usr".into(), "/usr/here".into()],
                    vec!["here".to_owned(), "virtual".into()],
                    vec![],
                ),
                (
                    "pkg:deb/ubuntu/base-files@12.4%2Bdeb12u11?arch=amd64&distro=ubuntu-24.04"
                        .to_owned(),
                    vec!["etc/debian_version".to_owned()],
                    vec!["base-files".to_owned()],
                    vec![vec!["virtual".to_owned()]],
                ),
            ]
        );
        assert_eq!(
            found[0].package.supplier,
            Some(Supplier::organization("Ubuntu"))
        );
    }

    #[test]
    fn relations() {
        assert_eq!(
            relation_names("libc6 (>= 2.14), debconf (>= 0.5) | debconf-2.0, python3:any"),
            vec![
                vec!["libc6".to_owned()],
                vec!["debconf".into(), "debconf-2.0".into()],
                vec!["python3".into()]
            ]
        );
    }
}
