//! Who made a document and when, given by the caller so the output depends on nothing
//! else (no clock, no random UUID): the same SBOM and the same `Creation` always give
//! the same bytes.

use crate::error::{Error, Result};
use crate::hash;
use crate::model::Sbom;

/// Where SPDX document namespaces live unless the caller says otherwise. A namespace
/// only has to be a unique absolute URI; it need not resolve.
pub const DEFAULT_NAMESPACE_BASE: &str = "https://wharf.invalid/spdx";

/// The creation facts of a document.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Creation {
    /// Creation time in seconds since the Unix epoch (e.g. `SOURCE_DATE_EPOCH` or the
    /// release time), written as `YYYY-MM-DDThh:mm:ssZ`.
    pub created: u64,
    /// The generating tool's name, e.g. `wharf`.
    pub tool_name: String,
    /// The generating tool's version.
    pub tool_version: String,
    /// The organisation running it, added to SPDX `creators` and CycloneDX
    /// `metadata.supplier` when given.
    pub organization: Option<String>,
    /// Absolute `http(s)` URI without `#` under which SPDX document namespaces are made.
    pub namespace_base: String,
}

impl Creation {
    /// `wharf <tool_version>` at `created`, no organisation, [`DEFAULT_NAMESPACE_BASE`].
    pub fn new(created: u64, tool_version: &str) -> Self {
        Self {
            created,
            tool_name: "wharf".to_owned(),
            tool_version: tool_version.to_owned(),
            organization: None,
            namespace_base: DEFAULT_NAMESPACE_BASE.to_owned(),
        }
    }

    pub(crate) fn check(&self) -> Result<()> {
        let base = &self.namespace_base;
        let scheme_ok = base
            .strip_prefix("https://")
            .or_else(|| base.strip_prefix("http://"))
            .is_some_and(|rest| !rest.is_empty());
        if !scheme_ok || base.contains(['#', ' ', '?']) {
            return Err(Error::invalid(
                "namespace base",
                format!("{base:?} is not an absolute http(s) URI without `#`, `?` or spaces"),
            ));
        }
        if self.tool_name.trim().is_empty() || self.tool_version.trim().is_empty() {
            return Err(Error::invalid(
                "creation",
                "the tool name and version are required",
            ));
        }
        if self.created > 253_402_300_799 {
            return Err(Error::invalid(
                "creation",
                "the time is after the year 9999",
            ));
        }
        Ok(())
    }

    /// `YYYY-MM-DDThh:mm:ssZ`.
    pub(crate) fn timestamp(&self) -> String {
        let secs = self.created;
        let days = (secs / 86_400) as i64;
        let rem = secs % 86_400;
        let (y, m, d) = civil_from_days(days);
        format!(
            "{y:04}-{m:02}-{d:02}T{:02}:{:02}:{:02}Z",
            rem / 3600,
            rem % 3600 / 60,
            rem % 60
        )
    }

    /// A UUID derived from the (normalised) SBOM, these creation facts and `format`.
    pub(crate) fn uuid(&self, sbom: &Sbom, format: &str) -> String {
        let content = serde_json::to_vec(sbom).expect("the model always serialises");
        let name = format!(
            "{}/{format}/{}/{}/{}/{}/{}",
            self.namespace_base,
            hash::sha256_of_bytes(&content),
            self.created,
            self.tool_name,
            self.tool_version,
            self.organization.as_deref().unwrap_or("")
        );
        hash::uuid_v5(&name)
    }
}

/// Days since 1970-01-01 to a proleptic Gregorian date (Howard Hinnant's algorithm).
fn civil_from_days(z: i64) -> (i64, u32, u32) {
    let z = z + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let y = yoe + era * 400;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = (doy - (153 * mp + 2) / 5 + 1) as u32;
    let m = if mp < 10 { mp + 3 } else { mp - 9 } as u32;
    (if m <= 2 { y + 1 } else { y }, m, d)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn timestamps() {
        assert_eq!(Creation::new(0, "1").timestamp(), "1970-01-01T00:00:00Z");
        // date -u -d @1796551200
        assert_eq!(
            Creation::new(1_796_551_200, "1").timestamp(),
            "2026-12-06T10:00:00Z"
        );
        assert_eq!(
            Creation::new(951_782_400, "1").timestamp(),
            "2000-02-29T00:00:00Z"
        );
    }

    #[test]
    fn namespace_base_must_be_an_absolute_uri() {
        let mut c = Creation::new(0, "1");
        c.check().unwrap();
        c.namespace_base = "wharf/spdx".into();
        assert!(c.check().is_err());
        c.namespace_base = "https://x.example/a#b".into();
        assert!(c.check().is_err());
    }
}
