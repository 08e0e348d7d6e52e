//! Licences: the packages an SBOM lists, and whether each one's SPDX expression is
//! satisfied by the policy's allow-list (an `OR` by either side, an `AND` by both).
//!
//! Package licences are parsed in the `spdx` crate's lax mode, as cargo-deny does for
//! crates.io metadata: `/` means `OR`, deprecated ids (`GPL-2.0`) and a list of common
//! imprecise names (`Apache 2.0`, `MIT License`, `BSD`…) are mapped to SPDX ids. Anything
//! still unparsable counts as an unknown licence. The policy's own `allow` list and
//! exceptions are parsed strictly: a typo there is an error, not a guess.

use serde::{Deserialize, Serialize};
use spdx::{Expression, LicenseReq, Licensee, ParseMode};

/// A package with its declared licence, as wharf's SBOM lists it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Package {
    /// Name as the ecosystem spells it.
    pub name: String,
    /// Version, when known.
    pub version: Option<String>,
    /// Package URL, when known.
    pub purl: Option<String>,
    /// SPDX licence expression; `None`, empty, `NOASSERTION` and `NONE` mean unknown.
    pub license: Option<String>,
}

impl Package {
    /// `name version`, for tables and messages.
    pub fn describe(&self) -> String {
        match &self.version {
            Some(v) => format!("{} {v}", self.name),
            None => self.name.clone(),
        }
    }
}

/// A licence named by the policy: one SPDX licence (optionally `WITH` an exception) or a
/// `LicenseRef-…`; in a licence exception also `NOASSERTION`, which covers a package whose
/// licence is unknown.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LicenseName {
    text: String,
    licensee: Option<Licensee>,
}

impl LicenseName {
    /// Parses one policy licence strictly; on failure returns the identifier it probably
    /// means, if one is close.
    pub fn parse(text: &str, allow_noassertion: bool) -> Result<LicenseName, Option<String>> {
        let text = text.trim();
        if text == "NOASSERTION" || text == "NONE" {
            // The `spdx` crate lists NOASSERTION as a licence; for the policy it means
            // "unknown", which only an exception may accept.
            return match allow_noassertion && text == "NOASSERTION" {
                true => Ok(LicenseName {
                    text: text.to_string(),
                    licensee: None,
                }),
                false => Err(None),
            };
        }
        match Licensee::parse(text) {
            Ok(licensee) => Ok(LicenseName {
                text: text.to_string(),
                licensee: Some(licensee),
            }),
            Err(_) => Err(suggest(text)),
        }
    }

    /// The licence as written.
    pub fn as_str(&self) -> &str {
        &self.text
    }

    /// Whether this is `NOASSERTION` (covers unknown licences).
    pub fn is_noassertion(&self) -> bool {
        self.licensee.is_none()
    }

    fn satisfies(&self, req: &LicenseReq) -> bool {
        self.licensee.as_ref().is_some_and(|l| l.satisfies(req))
    }
}

/// The identifier a mistyped licence probably means: a case-insensitive match, else the
/// lax parser's reading of an imprecise name.
fn suggest(text: &str) -> Option<String> {
    if let Some(l) = spdx::identifiers::LICENSES
        .iter()
        .find(|l| l.name.eq_ignore_ascii_case(text))
    {
        return Some(l.name.to_string());
    }
    if let Some((id, len)) = spdx::imprecise_license_id(text)
        && len == text.len()
    {
        return Some(id.name.to_string());
    }
    let lax = Licensee::parse_mode(text, ParseMode::LAX).ok()?;
    Some(lax.to_string()).filter(|s| s != text)
}

/// Why a package's licence does not pass.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "problem", rename_all = "kebab-case")]
pub enum LicenseProblem {
    /// The expression is valid but not satisfied by the allow-list.
    NotAllowed {
        /// The licences in the expression that are not allowed.
        not_allowed: Vec<String>,
    },
    /// No licence, `NONE` or `NOASSERTION`.
    Unknown,
    /// The licence is not an SPDX expression, even read laxly.
    Unparsable {
        /// The parser's message.
        error: String,
    },
}

/// What the allow-list says about one package's licence.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Verdict {
    Allowed,
    Problem(LicenseProblem),
}

/// Parses a package's licence, `None` when it is unknown.
fn expression(license: Option<&str>) -> Result<Option<Expression>, String> {
    let Some(text) = license.map(str::trim) else {
        return Ok(None);
    };
    if text.is_empty() || text == "NOASSERTION" || text == "NONE" {
        return Ok(None);
    }
    Expression::parse_mode(text, ParseMode::LAX)
        .map(Some)
        .map_err(|e| e.to_string())
}

/// Judges a package licence against `allowed`.
pub(crate) fn judge(license: Option<&str>, allowed: &[&LicenseName]) -> Verdict {
    let expr = match expression(license) {
        Ok(Some(expr)) => expr,
        Ok(None) => return Verdict::Problem(LicenseProblem::Unknown),
        Err(error) => return Verdict::Problem(LicenseProblem::Unparsable { error }),
    };
    match expr.evaluate_with_failures(|req| allowed.iter().any(|a| a.satisfies(req))) {
        Ok(()) => Verdict::Allowed,
        Err(failures) => {
            let mut not_allowed: Vec<String> = failures.iter().map(|f| f.req.to_string()).collect();
            not_allowed.dedup();
            Verdict::Problem(LicenseProblem::NotAllowed { not_allowed })
        }
    }
}

/// Whether `name` satisfies any requirement of the package's licence expression (so an
/// exception naming it actually contributed).
pub(crate) fn mentions(license: Option<&str>, name: &LicenseName) -> bool {
    match expression(license) {
        Ok(Some(expr)) => expr.requirements().any(|r| name.satisfies(&r.req)),
        _ => false,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn names(list: &[&str]) -> Vec<LicenseName> {
        list.iter()
            .map(|l| LicenseName::parse(l, false).unwrap())
            .collect()
    }

    #[test]
    fn or_needs_one_side_and_needs_both() {
        let allow = names(&["MIT", "Apache-2.0"]);
        let allow: Vec<&LicenseName> = allow.iter().collect();
        assert_eq!(judge(Some("MIT OR GPL-3.0-only"), &allow), Verdict::Allowed);
        assert_eq!(
            judge(Some("MIT AND GPL-3.0-only"), &allow),
            Verdict::Problem(LicenseProblem::NotAllowed {
                not_allowed: vec!["GPL-3.0-only".into()]
            })
        );
        // Lax: `/` as OR and an imprecise name.
        assert_eq!(judge(Some("Apache 2.0"), &allow), Verdict::Allowed);
        assert_eq!(judge(Some("MIT/GPL-3.0"), &allow), Verdict::Allowed);
        assert_eq!(
            judge(Some("NOASSERTION"), &allow),
            Verdict::Problem(LicenseProblem::Unknown)
        );
        assert!(matches!(
            judge(Some("Some Custom Thing"), &allow),
            Verdict::Problem(LicenseProblem::Unparsable { .. })
        ));
    }

    #[test]
    fn policy_names_are_strict_with_suggestions() {
        assert_eq!(LicenseName::parse("mit", false), Err(Some("MIT".into())));
        assert_eq!(
            LicenseName::parse("Apache 2.0", false),
            Err(Some("Apache-2.0".into()))
        );
        assert_eq!(LicenseName::parse("Nonsense-1", false), Err(None));
        assert!(LicenseName::parse("NOASSERTION", false).is_err());
        assert!(
            LicenseName::parse("NOASSERTION", true)
                .unwrap()
                .is_noassertion()
        );
        assert!(LicenseName::parse("LicenseRef-Internal", false).is_ok());
    }
}
