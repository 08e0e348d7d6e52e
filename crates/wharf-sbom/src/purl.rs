//! Package URLs (<https://github.com/package-url/purl-spec>) for the ecosystems wharf
//! meets, built in one place so every collector spells them the same way: lower-case
//! normalised names, percent-encoded versions (`:` too, as in the spec's OCI example),
//! qualifiers sorted by key.

/// `pkg:pypi/<name>@<version>`, the name normalised as PEP 503 says.
pub fn pypi(name: &str, version: Option<&str>) -> String {
    build("pypi", None, &normalize_python_name(name), version, &[])
}

/// `pkg:deb/<vendor>/<name>@<version>?arch=<arch>&distro=<distro>`, e.g.
/// `pkg:deb/debian/zlib1g@1%3A1.2.13.dfsg-1?arch=amd64&distro=debian-12`.
pub fn deb(vendor: &str, name: &str, version: &str, arch: &str, distro: Option<&str>) -> String {
    let mut q = vec![("arch", arch)];
    q.extend(distro.map(|d| ("distro", d)));
    build(
        "deb",
        Some(&vendor.to_ascii_lowercase()),
        name,
        Some(version),
        &q,
    )
}

/// `pkg:apk/<vendor>/<name>@<version>?arch=<arch>&distro=<distro>`.
pub fn apk(vendor: &str, name: &str, version: &str, arch: &str, distro: Option<&str>) -> String {
    let mut q = vec![("arch", arch)];
    q.extend(distro.map(|d| ("distro", d)));
    build(
        "apk",
        Some(&vendor.to_ascii_lowercase()),
        &name.to_ascii_lowercase(),
        Some(version),
        &q,
    )
}

/// `pkg:oci/<last segment>@sha256%3A<hex>?repository_url=<repository>`.
pub fn oci(repository: &str, manifest_digest_hex: &str) -> String {
    let name = repository.rsplit('/').next().unwrap_or(repository);
    let version = format!("sha256:{manifest_digest_hex}");
    build(
        "oci",
        None,
        &name.to_ascii_lowercase(),
        Some(&version),
        &[("repository_url", repository)],
    )
}

/// `pkg:generic/<name>@<version>`, for release packages.
pub fn generic(name: &str, version: Option<&str>) -> String {
    build("generic", None, name, version, &[])
}

/// A Python project name as PEP 503 compares them: lower case, runs of `-`, `_` and `.`
/// turned into one `-`.
pub fn normalize_python_name(name: &str) -> String {
    let mut out = String::with_capacity(name.len());
    let mut dash = false;
    for c in name.trim().chars() {
        if matches!(c, '-' | '_' | '.') {
            dash = true;
        } else {
            if dash && !out.is_empty() {
                out.push('-');
            }
            dash = false;
            out.extend(c.to_lowercase());
        }
    }
    out
}

/// Checks the shape SPDX validators require of a purl
/// (`^pkg:.+(\/.+)?\/.+(@.+)?(\?.+)?(#.+)?$`) and that it has no whitespace.
pub fn check(purl: &str) -> Result<(), String> {
    let rest = purl
        .strip_prefix("pkg:")
        .ok_or_else(|| format!("purl {purl:?} does not start with `pkg:`"))?;
    let (ty, path) = rest
        .split_once('/')
        .ok_or_else(|| format!("purl {purl:?} has no `/` after its type"))?;
    if ty.is_empty() || path.is_empty() || purl.chars().any(char::is_whitespace) {
        return Err(format!(
            "purl {purl:?} is not of the form pkg:type/name@version"
        ));
    }
    Ok(())
}

fn build(
    ty: &str,
    namespace: Option<&str>,
    name: &str,
    version: Option<&str>,
    qualifiers: &[(&str, &str)],
) -> String {
    let mut out = format!("pkg:{ty}/");
    if let Some(ns) = namespace {
        out.push_str(&encode(ns, ""));
        out.push('/');
    }
    out.push_str(&encode(name, ""));
    if let Some(v) = version {
        out.push('@');
        out.push_str(&encode(v, ""));
    }
    let mut qualifiers: Vec<_> = qualifiers.iter().filter(|(_, v)| !v.is_empty()).collect();
    qualifiers.sort();
    for (i, (k, v)) in qualifiers.into_iter().enumerate() {
        out.push(if i == 0 { '?' } else { '&' });
        out.push_str(k);
        out.push('=');
        out.push_str(&encode(v, "/:"));
    }
    out
}

/// Percent-encodes everything but RFC 3986 unreserved characters and `keep`.
fn encode(text: &str, keep: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for b in text.bytes() {
        if b.is_ascii_alphanumeric() || b"-._~".contains(&b) || keep.as_bytes().contains(&b) {
            out.push(b as char);
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn python_names_are_normalised() {
        assert_eq!(normalize_python_name("Foo__Bar.baz-"), "foo-bar-baz");
        assert_eq!(
            pypi("Flask_SQLAlchemy", Some("3.1.1")),
            "pkg:pypi/flask-sqlalchemy@3.1.1"
        );
        assert_eq!(pypi("x", Some("1.0+local")), "pkg:pypi/x@1.0%2Blocal");
    }

    #[test]
    fn os_package_purls_carry_arch_and_distro() {
        assert_eq!(
            deb(
                "debian",
                "zlib1g",
                "1:1.2.13.dfsg-1",
                "amd64",
                Some("debian-12")
            ),
            "pkg:deb/debian/zlib1g@1%3A1.2.13.dfsg-1?arch=amd64&distro=debian-12"
        );
        assert_eq!(
            apk("alpine", "musl", "1.2.4_git20230717-r4", "x86_64", None),
            "pkg:apk/alpine/musl@1.2.4_git20230717-r4?arch=x86_64"
        );
    }

    #[test]
    fn oci_purls_encode_the_digest_and_keep_the_repository() {
        assert_eq!(
            oci("127.0.0.1:5000/team/FlaskDemo", "ab12"),
            "pkg:oci/flaskdemo@sha256%3Aab12?repository_url=127.0.0.1:5000/team/FlaskDemo"
        );
    }

    #[test]
    fn check_wants_type_and_name() {
        check("pkg:generic/x@1").unwrap();
        assert!(check("pkg:generic").is_err());
        assert!(check("generic/x").is_err());
    }
}
