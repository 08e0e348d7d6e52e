//! Licences as valid SPDX expressions, or nothing. SPDX validators parse every licence
//! field and reject unknown ids, and a guessed licence is worse than `NOASSERTION`, so
//! every source is mapped only where the mapping is unambiguous:
//!
//! - Python `License-Expression`: taken when it parses strictly;
//! - Python `License`: when it is an SPDX expression or one of a few common spellings
//!   ("Apache 2.0", "BSD 3-Clause", …), or its first line is one of those spellings;
//! - Python trove classifiers: only those naming one licence and version
//!   (`License :: OSI Approved :: MIT License` is MIT; `… :: BSD License` says which
//!   BSD no more than `… :: Apache Software License` says which Apache);
//! - Debian `copyright` files in the machine-readable DEP-5 format: the licences of every
//!   `Files:` paragraph except the packaging's own (`debian/*`), each short name mapped to
//!   SPDX (`GPL-2+` is `GPL-2.0-or-later`, `Expat` is `MIT`); one unmappable name
//!   (`BSD-variant`, `public-domain`, anything with an exception) and the package gets none.
//!
//! `LicenseRef-` ids are refused: they need extracted licence text the document does not
//! carry.

use std::collections::BTreeSet;

/// `expr` trimmed when it is a valid SPDX licence expression (strict: ids from the list
/// the `spdx` crate carries, case-sensitive, not deprecated, no `LicenseRef-`).
pub fn spdx_expression(expr: &str) -> Option<String> {
    let expr = expr.trim();
    if expr.is_empty() || expr.contains('\n') {
        return None;
    }
    let parsed = spdx::Expression::parse(expr).ok()?;
    let only_list_ids = parsed.requirements().all(|r| {
        let listed = match r.req.license {
            spdx::LicenseItem::Spdx { id, .. } => is_listed(id),
            spdx::LicenseItem::Other(_) => false,
        };
        listed && !matches!(r.req.addition, Some(spdx::AdditionItem::Other(_)))
    });
    only_list_ids.then(|| expr.to_owned())
}

/// Whether `id` is on the SPDX licence list proper. The `spdx` crate also knows
/// `NOASSERTION` and the bare GNU names (`GFDL-1.3-invariants`) it maps `+` onto; neither
/// is a licence identifier to SPDX validators.
fn is_listed(id: spdx::LicenseId) -> bool {
    let gnu_base = id.is_gnu() && !id.name.ends_with("-only") && !id.name.ends_with("-or-later");
    !gnu_base && !matches!(id.name, "NOASSERTION" | "NONE")
}

/// The licence of a Python distribution from its core metadata fields.
pub fn python(
    license_expression: Option<&str>,
    license: Option<&str>,
    classifiers: &[String],
) -> Option<String> {
    if let Some(expr) = license_expression {
        return spdx_expression(expr);
    }
    if let Some(found) = license.and_then(python_license_field) {
        return Some(found);
    }
    let mapped: BTreeSet<&str> = classifiers
        .iter()
        .filter_map(|c| classifier(c.trim()))
        .collect();
    // Two licence classifiers may mean "either" or "both": not ours to guess.
    match mapped.len() {
        1 => mapped.into_iter().next().map(str::to_owned),
        _ => None,
    }
}

fn python_license_field(text: &str) -> Option<String> {
    let text = text.trim();
    if let Some(expr) = spdx_expression(text) {
        return Some(expr);
    }
    let first = text.lines().next().unwrap_or("").trim();
    common_spelling(text)
        .or_else(|| common_spelling(first))
        .map(str::to_owned)
}

/// Free-text licence names seen in `License:` fields that name exactly one SPDX licence.
fn common_spelling(text: &str) -> Option<&'static str> {
    const NAMES: &[(&[&str], &str)] = &[
        (
            &["mit", "mit license", "the mit license", "mit licence"],
            "MIT",
        ),
        (
            &[
                "apache 2",
                "apache 2.0",
                "apache-2",
                "apache license 2.0",
                "apache license, version 2.0",
                "apache license version 2.0",
                "apache software license 2.0",
                "asl 2.0",
            ],
            "Apache-2.0",
        ),
        (
            &[
                "bsd 3-clause",
                "bsd 3-clause license",
                "bsd-3-clause license",
                "3-clause bsd",
                "3-clause bsd license",
                "new bsd",
                "new bsd license",
                "modified bsd license",
            ],
            "BSD-3-Clause",
        ),
        (
            &[
                "bsd 2-clause",
                "bsd 2-clause license",
                "2-clause bsd",
                "2-clause bsd license",
                "simplified bsd",
                "simplified bsd license",
            ],
            "BSD-2-Clause",
        ),
        (&["isc license", "isc licence"], "ISC"),
        (
            &["mpl 2.0", "mpl-2", "mozilla public license 2.0"],
            "MPL-2.0",
        ),
        (
            &["psf", "psf license", "python software foundation license"],
            "PSF-2.0",
        ),
        (&["gplv2"], "GPL-2.0-only"),
        (&["gplv2+"], "GPL-2.0-or-later"),
        (&["gplv3"], "GPL-3.0-only"),
        (&["gplv3+"], "GPL-3.0-or-later"),
        (&["lgplv3"], "LGPL-3.0-only"),
        (&["lgplv3+"], "LGPL-3.0-or-later"),
        (&["unlicense", "the unlicense"], "Unlicense"),
    ];
    let lower = text.to_ascii_lowercase();
    NAMES
        .iter()
        .find(|(names, _)| names.contains(&lower.as_str()))
        .map(|(_, id)| *id)
}

/// Trove classifiers that name one licence and one version.
fn classifier(c: &str) -> Option<&'static str> {
    let osi = |s: &str| format!("License :: OSI Approved :: {s}");
    const OSI: &[(&str, &str)] = &[
        ("MIT License", "MIT"),
        ("MIT No Attribution License (MIT-0)", "MIT-0"),
        ("ISC License (ISCL)", "ISC"),
        ("Mozilla Public License 1.1 (MPL 1.1)", "MPL-1.1"),
        ("Mozilla Public License 2.0 (MPL 2.0)", "MPL-2.0"),
        ("GNU General Public License v2 (GPLv2)", "GPL-2.0-only"),
        (
            "GNU General Public License v2 or later (GPLv2+)",
            "GPL-2.0-or-later",
        ),
        ("GNU General Public License v3 (GPLv3)", "GPL-3.0-only"),
        (
            "GNU General Public License v3 or later (GPLv3+)",
            "GPL-3.0-or-later",
        ),
        (
            "GNU Lesser General Public License v2 (LGPLv2)",
            "LGPL-2.0-only",
        ),
        (
            "GNU Lesser General Public License v2 or later (LGPLv2+)",
            "LGPL-2.0-or-later",
        ),
        (
            "GNU Lesser General Public License v3 (LGPLv3)",
            "LGPL-3.0-only",
        ),
        (
            "GNU Lesser General Public License v3 or later (LGPLv3+)",
            "LGPL-3.0-or-later",
        ),
        ("GNU Affero General Public License v3", "AGPL-3.0-only"),
        (
            "GNU Affero General Public License v3 or later (AGPLv3+)",
            "AGPL-3.0-or-later",
        ),
        ("Python Software Foundation License", "PSF-2.0"),
        ("The Unlicense (Unlicense)", "Unlicense"),
        ("Boost Software License 1.0 (BSL-1.0)", "BSL-1.0"),
        ("Eclipse Public License 2.0 (EPL-2.0)", "EPL-2.0"),
        ("European Union Public Licence 1.2 (EUPL 1.2)", "EUPL-1.2"),
        ("Universal Permissive License (UPL)", "UPL-1.0"),
        ("zlib/libpng License", "Zlib"),
    ];
    if c == "License :: CC0 1.0 Universal (CC0 1.0) Public Domain Dedication" {
        return Some("CC0-1.0");
    }
    OSI.iter()
        .find(|(name, _)| osi(name) == c)
        .map(|(_, id)| *id)
}

/// The licence of a Debian package from its `copyright` file; `None` unless the file is
/// machine-readable (DEP-5) and every upstream licence in it maps to SPDX.
pub fn debian_copyright(text: &str) -> Option<String> {
    let mut paragraphs = paragraphs(text);
    let header = paragraphs.next()?;
    let format = field(&header, "Format")?;
    if !format.contains("copyright-format/1.0") {
        return None;
    }
    let mut found = BTreeSet::new();
    for p in paragraphs {
        let Some(files) = field(&p, "Files") else {
            continue; // a stand-alone License paragraph: the text of a licence named elsewhere
        };
        if files.split_whitespace().all(|f| f.starts_with("debian/")) {
            continue;
        }
        let short = field(&p, "License")?;
        found.insert(debian_expression(short.lines().next()?.trim())?);
    }
    let joined = match found.len() {
        0 => return None,
        1 => found.into_iter().next()?,
        _ => found
            .into_iter()
            .map(|e| {
                if e.contains(" OR ") {
                    format!("({e})")
                } else {
                    e
                }
            })
            .collect::<Vec<_>>()
            .join(" AND "),
    };
    spdx_expression(&joined)
}

/// `GPL-2+ or Artistic-2.0` and the like; `None` on exceptions, commas and unknown names.
fn debian_expression(short: &str) -> Option<String> {
    let mut out = Vec::new();
    for (i, word) in short.split_whitespace().enumerate() {
        if i % 2 == 1 {
            match word.to_ascii_lowercase().as_str() {
                "or" => out.push("OR".to_owned()),
                "and" => out.push("AND".to_owned()),
                _ => return None,
            }
        } else {
            out.push(debian_short_name(word)?);
        }
    }
    (out.len() % 2 == 1).then(|| out.join(" "))
}

fn debian_short_name(name: &str) -> Option<String> {
    let fixed = match name {
        "Expat" => Some("MIT"),
        "BSD-2-clause" => Some("BSD-2-Clause"),
        "BSD-3-clause" => Some("BSD-3-Clause"),
        "BSD-4-clause" => Some("BSD-4-Clause"),
        "Apache-2" => Some("Apache-2.0"),
        "PSF-2" => Some("PSF-2.0"),
        "MPL-2" => Some("MPL-2.0"),
        _ => None,
    };
    if let Some(id) = fixed {
        return Some(id.to_owned());
    }
    if let Some(id) = gnu(name) {
        return Some(id);
    }
    let id = spdx::license_id(name)?;
    (id.name == name && !id.is_deprecated()).then(|| name.to_owned())
}

/// Debian's GNU names (`GPL-2`, `LGPL-2.1+`, `GFDL-NIV-1.3`) as SPDX ids.
fn gnu(name: &str) -> Option<String> {
    let (base, rest) = ["GFDL-NIV", "LGPL", "AGPL", "GPL", "GFDL"]
        .iter()
        .find_map(|b| Some((*b, name.strip_prefix(b)?.strip_prefix('-')?)))?;
    let (version, or_later) = match rest.strip_suffix('+') {
        Some(v) => (v, true),
        None => (rest, false),
    };
    if version.is_empty() || !version.bytes().all(|b| b.is_ascii_digit() || b == b'.') {
        return None;
    }
    let version = if version.contains('.') {
        version.to_owned()
    } else {
        format!("{version}.0")
    };
    let suffix = if or_later { "or-later" } else { "only" };
    let id = match base {
        "GFDL-NIV" => format!("GFDL-{version}-no-invariants-{suffix}"),
        _ => format!("{base}-{version}-{suffix}"),
    };
    let found = spdx::license_id(&id)?;
    (found.name == id && !found.is_deprecated()).then_some(id)
}

/// Paragraphs of a deb822 file (separated by lines that are empty or only whitespace),
/// comment lines dropped.
pub(crate) fn paragraphs(text: &str) -> impl Iterator<Item = Vec<(String, String)>> {
    let mut out = Vec::new();
    let mut current = String::new();
    for line in text.lines() {
        if line.trim().is_empty() {
            if !current.is_empty() {
                out.push(deb822_fields(&current));
                current.clear();
            }
        } else if !line.starts_with('#') {
            current.push_str(line);
            current.push('\n');
        }
    }
    if !current.is_empty() {
        out.push(deb822_fields(&current));
    }
    out.into_iter()
}

/// The fields of one deb822 paragraph; continuation lines are joined with `\n` and lose
/// their leading space, a lone ` .` becomes an empty line.
pub(crate) fn deb822_fields(paragraph: &str) -> Vec<(String, String)> {
    let mut fields: Vec<(String, String)> = Vec::new();
    for line in paragraph.lines() {
        if line.starts_with([' ', '\t']) {
            if let Some((_, value)) = fields.last_mut() {
                let cont = line.trim();
                value.push('\n');
                if cont != "." {
                    value.push_str(cont);
                }
            }
        } else if let Some((name, value)) = line.split_once(':') {
            fields.push((name.trim().to_owned(), value.trim().to_owned()));
        }
    }
    fields
}

/// The value of a field, names compared case-insensitively as deb822 says.
pub(crate) fn field<'a>(fields: &'a [(String, String)], name: &str) -> Option<&'a str> {
    fields
        .iter()
        .find(|(n, _)| n.eq_ignore_ascii_case(name))
        .map(|(_, v)| v.as_str())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn spdx_expressions_are_strict() {
        assert_eq!(
            spdx_expression(" MIT OR Apache-2.0 "),
            Some("MIT OR Apache-2.0".into())
        );
        assert_eq!(
            spdx_expression("GPL-3.0-or-later WITH Bison-exception-2.2"),
            Some("GPL-3.0-or-later WITH Bison-exception-2.2".into())
        );
        assert_eq!(spdx_expression("mit"), None);
        assert_eq!(spdx_expression("GPL-2.0"), None, "deprecated");
        assert_eq!(spdx_expression("Foo-1.0"), None);
        assert_eq!(spdx_expression("LicenseRef-Proprietary"), None);
        assert_eq!(spdx_expression("NOASSERTION"), None);
        assert_eq!(spdx_expression("GFDL-1.3-no-invariants"), None);
        assert_eq!(
            spdx_expression("GFDL-1.3-no-invariants-only").as_deref(),
            Some("GFDL-1.3-no-invariants-only")
        );
    }

    #[test]
    fn python_licences_in_order_of_trust() {
        let none: &[String] = &[];
        assert_eq!(
            python(Some("BSD-3-Clause"), Some("MIT"), none),
            Some("BSD-3-Clause".into())
        );
        assert_eq!(python(Some("nonsense"), Some("MIT"), none), None);
        assert_eq!(
            python(None, Some("Apache 2.0"), none),
            Some("Apache-2.0".into())
        );
        assert_eq!(
            python(
                None,
                Some("BSD 3-Clause License\n\nCopyright (c) 2010 Someone"),
                none
            ),
            Some("BSD-3-Clause".into())
        );
        let mit = vec!["License :: OSI Approved :: MIT License".to_owned()];
        assert_eq!(python(None, Some("see LICENSE"), &mit), Some("MIT".into()));
        let bsd = vec!["License :: OSI Approved :: BSD License".to_owned()];
        assert_eq!(python(None, None, &bsd), None);
        let two = vec![
            mit[0].clone(),
            "License :: OSI Approved :: ISC License (ISCL)".to_owned(),
        ];
        assert_eq!(python(None, None, &two), None);
    }

    #[test]
    fn debian_short_names_map_to_spdx() {
        assert_eq!(
            debian_expression("GPL-2+").as_deref(),
            Some("GPL-2.0-or-later")
        );
        assert_eq!(
            debian_expression("LGPL-2.1").as_deref(),
            Some("LGPL-2.1-only")
        );
        assert_eq!(
            debian_expression("GPL-2+ or Expat").as_deref(),
            Some("GPL-2.0-or-later OR MIT")
        );
        assert_eq!(
            debian_expression("GFDL-NIV-1.3+").as_deref(),
            Some("GFDL-1.3-no-invariants-or-later")
        );
        assert_eq!(debian_expression("Zlib").as_deref(), Some("Zlib"));
        assert_eq!(debian_expression("BSD-variant"), None);
        assert_eq!(debian_expression("GPL-3+ with Bison exception"), None);
    }

    #[test]
    fn dep5_files_combine_and_skip_the_packaging() {
        let text = "Format: https://www.debian.org/doc/packaging-manuals/copyright-format/1.0/\n\
                    Upstream-Name: x\n\nFiles: *\nCopyright: 2000 A\nLicense: Zlib\n\n\
                    Files: contrib/*\nCopyright: 2001 B\nLicense: BSD-3-clause\n \
                    Redistribution and use\n .\n more text\n\n\
                    Files: debian/*\nLicense: GPL-2+\n\nLicense: Zlib\n The text.\n";
        assert_eq!(
            debian_copyright(text).as_deref(),
            Some("BSD-3-Clause AND Zlib")
        );
        let free = "This package was debianized by someone.\n\nLicense: GPL\n";
        assert_eq!(debian_copyright(free), None);
    }

    #[test]
    fn deb822_continuations() {
        let f = deb822_fields("A: one\nB: two\n more\n .\n end\n");
        assert_eq!(field(&f, "b"), Some("two\nmore\n\nend"));
    }
}
