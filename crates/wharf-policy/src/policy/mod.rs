//! The policy file as typed values: what fails, what is allowed, and the exceptions with
//! their owners, approvers and dates. Parsing and validation live in `parse`.

mod parse;
mod problem;

use std::path::Path;

use chrono::NaiveDate;

use crate::error::{Error, Location, Result};
use crate::license::LicenseName;
use crate::package::PackageScope;
use crate::settings::InsecureSetting;
use crate::severity::Severity;

pub use problem::{Problem, ProblemKind};

/// The file name wharf looks for when the pipeline names no `policy:` file.
pub const DEFAULT_FILE: &str = "wharf.policy.toml";

/// Default `[exceptions] max-days`.
pub const DEFAULT_MAX_DAYS: u32 = 90;
/// Default `[exceptions] warn-days`.
pub const DEFAULT_WARN_DAYS: u32 = 14;
/// Default `[vulnerabilities] fail-on`.
pub const DEFAULT_FAIL_ON: [Severity; 3] = [Severity::Critical, Severity::High, Severity::Unknown];

/// A parsed, validated policy file.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Policy {
    /// The file's display name, used in every message.
    pub file: String,
    /// `sha256:<hex>` of the file's bytes, for provenance and the release record.
    pub digest: String,
    /// `[exceptions]`.
    pub rules: ExceptionRules,
    /// `[vulnerabilities] fail-on`: severities that fail the gate when a finding is not
    /// covered by an exception, sorted most severe first.
    pub fail_on: Vec<Severity>,
    /// `[licenses]`; `None` when the file has no such table (licences are not checked).
    pub licenses: Option<LicenseRules>,
    /// Every `[[exception]]`, in file order.
    pub exceptions: Vec<Exception>,
}

/// `[exceptions]`: the rules every exception must follow.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ExceptionRules {
    /// The longest an exception may last, `expires - created`, in days.
    pub max_days: u32,
    /// An exception with this many days left or fewer is reported as expiring.
    pub warn_days: u32,
    /// Who may approve; empty means anyone but the owner.
    pub approvers: Vec<String>,
}

/// `[licenses]`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LicenseRules {
    /// Allowed licences.
    pub allow: Vec<LicenseName>,
    /// What a package with an unknown licence does.
    pub unknown: UnknownLicenses,
}

/// `[licenses] unknown`: what a package without a (parsable) licence does.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum UnknownLicenses {
    /// It is a licence finding (the default).
    Fail,
    /// It passes.
    Allow,
}

/// One `[[exception]]`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Exception {
    /// Its id, unique in the file.
    pub id: String,
    /// What it covers.
    pub covers: Covers,
    /// Why the risk is acceptable.
    pub reason: String,
    /// Who is responsible for it.
    pub owner: String,
    /// Who approved it (never the owner).
    pub approved_by: String,
    /// When it was created.
    pub created: NaiveDate,
    /// The last day it applies.
    pub expires: NaiveDate,
    /// A tracker link, if given.
    pub ticket: Option<String>,
    /// Where its `[[exception]]` header is.
    pub location: Location,
}

/// What an exception covers, by kind.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Covers {
    /// `kind = "vulnerability"`: findings whose id or alias is `id`, optionally only in
    /// `package`.
    Vulnerability {
        /// CVE, GHSA, PYSEC… id (or any finding id, e.g. a Trivy misconfiguration).
        id: String,
        /// Package name or purl the exception is limited to.
        package: Option<PackageScope>,
    },
    /// `kind = "license"`: `license` counts as allowed for `package`.
    License {
        /// The licence allowed (or `NOASSERTION` for an unknown licence).
        license: LicenseName,
        /// The package (name or purl).
        package: PackageScope,
    },
    /// `kind = "setting"`: an insecure wharf setting is accepted.
    Setting {
        /// The setting key, one of [`crate::settings::KNOWN`].
        key: String,
        /// The registry, environment… it is limited to.
        subject: Option<String>,
    },
}

/// The three kinds of exception.
#[derive(
    Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, serde::Serialize, serde::Deserialize,
)]
#[serde(rename_all = "lowercase")]
pub enum ExceptionKind {
    /// Covers scanner findings.
    Vulnerability,
    /// Covers a package licence.
    License,
    /// Covers an insecure wharf setting.
    Setting,
}

impl ExceptionKind {
    /// The name used in the file's `kind`.
    pub fn as_str(self) -> &'static str {
        match self {
            ExceptionKind::Vulnerability => "vulnerability",
            ExceptionKind::License => "license",
            ExceptionKind::Setting => "setting",
        }
    }
}

impl Exception {
    /// Its kind.
    pub fn kind(&self) -> ExceptionKind {
        match self.covers {
            Covers::Vulnerability { .. } => ExceptionKind::Vulnerability,
            Covers::License { .. } => ExceptionKind::License,
            Covers::Setting { .. } => ExceptionKind::Setting,
        }
    }

    /// Whether it no longer applies on `today` (it applies through its `expires` day).
    pub fn is_expired(&self, today: NaiveDate) -> bool {
        today > self.expires
    }

    /// Days from `today` to `expires` (0 on the last day, negative once expired).
    pub fn days_left(&self, today: NaiveDate) -> i64 {
        (self.expires - today).num_days()
    }

    /// Whether it covers an insecure setting, expired or not.
    pub fn covers_setting(&self, setting: &InsecureSetting) -> bool {
        match &self.covers {
            Covers::Setting { key, subject } => {
                *key == setting.key
                    && subject
                        .as_ref()
                        .is_none_or(|s| setting.subject.as_ref() == Some(s))
            }
            _ => false,
        }
    }
}

/// Whether an insecure setting may stay, according to the policy's `setting` exceptions.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SettingCover<'p> {
    /// A valid exception covers it.
    Covered(&'p Exception),
    /// Only an expired exception covers it: refuse, naming the exception.
    Expired(&'p Exception),
    /// No exception covers it: refuse.
    Uncovered,
}

impl SettingCover<'_> {
    /// Why the setting is refused, or `None` when it is covered.
    pub fn refusal(&self, setting: &InsecureSetting) -> Option<String> {
        match self {
            SettingCover::Covered(_) => None,
            SettingCover::Expired(e) => Some(format!(
                "insecure setting {} is covered only by exception {}, which expired on {} \
                 (owner {}, approved by {}); renew or remove it",
                setting.describe(),
                e.id,
                e.expires,
                e.owner,
                e.approved_by
            )),
            SettingCover::Uncovered => Some(format!(
                "insecure setting {} needs a `setting` exception in the policy file",
                setting.describe()
            )),
        }
    }
}

impl Policy {
    /// Parses and validates a policy file's text; `file` names it in every message. Every
    /// problem found is returned, in file order, as [`Error::Policy`].
    pub fn parse(file: &str, text: &str) -> Result<Policy> {
        parse::parse(file, text)
    }

    /// Reads and parses the policy file at `path` (named by `path` in messages).
    pub fn read(path: &Path) -> Result<Policy> {
        let text = std::fs::read_to_string(path).map_err(|source| Error::Io {
            action: "reading the policy file",
            path: path.to_path_buf(),
            source,
        })?;
        Policy::parse(&path.display().to_string(), &text)
    }

    /// The exception with this id.
    pub fn exception(&self, id: &str) -> Option<&Exception> {
        self.exceptions.iter().find(|e| e.id == id)
    }

    /// Whether `setting` is covered on `today`: the check `validate` makes before it
    /// accepts a plain-HTTP registry, pull-request secrets, a shared workspace or an
    /// unapproved production environment.
    pub fn setting_cover(&self, setting: &InsecureSetting, today: NaiveDate) -> SettingCover<'_> {
        let mut expired = None;
        for e in self.exceptions.iter().filter(|e| e.covers_setting(setting)) {
            if e.is_expired(today) {
                expired.get_or_insert(e);
            } else {
                return SettingCover::Covered(e);
            }
        }
        expired.map_or(SettingCover::Uncovered, SettingCover::Expired)
    }
}
