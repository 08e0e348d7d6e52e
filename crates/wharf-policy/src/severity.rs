//! One severity scale for every scanner, so `fail-on` means the same whichever tool found
//! the problem.

use std::fmt;

use serde::{Deserialize, Serialize};

/// How bad a finding is, on the scale Trivy and Grype share. Ordered from least to most
/// severe, so `Critical` is the greatest.
#[derive(
    Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize, Default,
)]
#[serde(rename_all = "lowercase")]
pub enum Severity {
    /// The scanner gave no severity (pip-audit never does) or one this crate cannot read.
    #[default]
    Unknown,
    /// Low (Grype's `Negligible` is counted here too).
    Low,
    /// Medium (GitHub's `moderate`).
    Medium,
    /// High.
    High,
    /// Critical.
    Critical,
}

impl Severity {
    /// Every severity, most severe first (the order tables are sorted in).
    pub const ALL: [Severity; 5] = [
        Severity::Critical,
        Severity::High,
        Severity::Medium,
        Severity::Low,
        Severity::Unknown,
    ];

    /// The lower-case name used in policy files and JSON.
    pub fn as_str(self) -> &'static str {
        match self {
            Severity::Unknown => "unknown",
            Severity::Low => "low",
            Severity::Medium => "medium",
            Severity::High => "high",
            Severity::Critical => "critical",
        }
    }

    /// Parses a severity as a policy file writes it: one of the five names, any case.
    pub fn parse(name: &str) -> Option<Severity> {
        Severity::ALL
            .into_iter()
            .find(|s| s.as_str().eq_ignore_ascii_case(name.trim()))
    }

    /// Reads a severity as scanners write it (`HIGH`, `High`, `moderate`, `Negligible`);
    /// anything else is `Unknown`.
    pub fn from_scanner(name: &str) -> Severity {
        let name = name.trim();
        if name.eq_ignore_ascii_case("negligible") {
            Severity::Low
        } else if name.eq_ignore_ascii_case("moderate") {
            Severity::Medium
        } else {
            Severity::parse(name).unwrap_or(Severity::Unknown)
        }
    }

    /// Bands a CVSS base score the way GitHub code scanning reads SARIF
    /// `security-severity`: 9.0 and up critical, 7.0 high, 4.0 medium, above 0 low.
    pub fn from_cvss(score: f64) -> Severity {
        if !score.is_finite() || score <= 0.0 {
            Severity::Unknown
        } else if score >= 9.0 {
            Severity::Critical
        } else if score >= 7.0 {
            Severity::High
        } else if score >= 4.0 {
            Severity::Medium
        } else {
            Severity::Low
        }
    }
}

impl fmt::Display for Severity {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_policy_and_scanner_spellings() {
        assert_eq!(Severity::parse("HIGH"), Some(Severity::High));
        assert_eq!(Severity::parse("severe"), None);
        assert_eq!(Severity::from_scanner("Negligible"), Severity::Low);
        assert_eq!(Severity::from_scanner("moderate"), Severity::Medium);
        assert_eq!(Severity::from_scanner("whatever"), Severity::Unknown);
    }

    #[test]
    fn bands_cvss_scores() {
        assert_eq!(Severity::from_cvss(9.8), Severity::Critical);
        assert_eq!(Severity::from_cvss(7.5), Severity::High);
        assert_eq!(Severity::from_cvss(6.9), Severity::Medium);
        assert_eq!(Severity::from_cvss(0.1), Severity::Low);
        assert_eq!(Severity::from_cvss(0.0), Severity::Unknown);
        assert_eq!(Severity::from_cvss(f64::NAN), Severity::Unknown);
        assert!(Severity::Critical > Severity::High && Severity::Low > Severity::Unknown);
    }
}
