//! The gate: findings, licences and insecure settings against the policy on a given day.
//! Pure: the caller reads the files and passes `today`, so tests fix the date.

use chrono::NaiveDate;
use serde::{Deserialize, Serialize};

use crate::error::Location;
use crate::license::{self, LicenseName, LicenseProblem, Package, Verdict};
use crate::policy::{Covers, Exception, ExceptionKind, Policy, UnknownLicenses};
use crate::report::Finding;
use crate::settings::InsecureSetting;
use crate::severity::Severity;

/// Serialises dates as `YYYY-MM-DD` (chrono's serde feature is not enabled here).
mod date {
    use chrono::NaiveDate;
    use serde::{Deserialize, Deserializer, Serializer};

    pub fn serialize<S: Serializer>(date: &NaiveDate, s: S) -> Result<S::Ok, S::Error> {
        s.collect_str(&date.format("%Y-%m-%d"))
    }

    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<NaiveDate, D::Error> {
        let text = String::deserialize(d)?;
        NaiveDate::parse_from_str(&text, "%Y-%m-%d").map_err(serde::de::Error::custom)
    }
}

/// What the gate decided, for the step's output and the release record.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Outcome {
    /// The day the policy was applied.
    #[serde(with = "date")]
    pub date: NaiveDate,
    /// The policy file and its digest.
    pub policy: PolicyRef,
    /// The severities that fail.
    pub fail_on: Vec<Severity>,
    /// Findings no valid exception covers whose severity is in `fail_on`: each fails.
    pub failing: Vec<OpenFinding>,
    /// Findings no valid exception covers, below `fail_on`: reported, not failing.
    pub open: Vec<OpenFinding>,
    /// Packages whose licence is not allowed (or unknown, when unknown licences fail) and
    /// no valid exception covers: each fails.
    pub licenses: Vec<LicenseFinding>,
    /// Insecure settings no valid exception covers: each fails.
    pub settings: Vec<OpenSetting>,
    /// Valid exceptions that matched something.
    pub applied: Vec<AppliedException>,
    /// Expired exceptions that still match something: each fails, naming the exception.
    pub expired: Vec<ExpiredException>,
    /// Exceptions that matched nothing: each fails, so stale entries are removed.
    pub unused: Vec<UnusedException>,
}

/// The policy file an outcome was decided by.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PolicyRef {
    /// Its display name.
    pub file: String,
    /// `sha256:<hex>` of its bytes.
    pub digest: String,
    /// Its `warn-days`: an exception with this many days left or fewer is expiring
    /// (outcomes written before it was recorded read as the default).
    #[serde(default = "default_warn_days")]
    pub warn_days: u32,
}

fn default_warn_days() -> u32 {
    crate::policy::DEFAULT_WARN_DAYS
}

/// Where an applied exception stands on a given day.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Standing {
    /// Past its `expires` day by this many days.
    Expired(i64),
    /// Valid, with this many days left, within the warning window.
    Expiring(i64),
    /// Valid, with this many days left.
    Valid(i64),
}

impl Standing {
    /// Whether it needs attention (expired or expiring): shown in red.
    pub fn is_alarming(self) -> bool {
        !matches!(self, Standing::Valid(_))
    }

    /// `EXPIRED 2027-01-05 (3 days ago)`, `expires 2027-01-05 (in 9 days)`.
    pub fn describe(self, expires: NaiveDate) -> String {
        match self {
            Standing::Expired(ago) => format!("EXPIRED {expires} ({ago} days ago)"),
            Standing::Expiring(left) | Standing::Valid(left) => {
                format!("expires {expires} (in {left} days)")
            }
        }
    }
}

impl AppliedException {
    /// Where it stands on `today`, with the policy's warning window `warn_days`.
    pub fn standing(&self, today: NaiveDate, warn_days: u32) -> Standing {
        let left = (self.expires - today).num_days();
        if left < 0 {
            Standing::Expired(-left)
        } else if left <= i64::from(warn_days) {
            Standing::Expiring(left)
        } else {
            Standing::Valid(left)
        }
    }
}

/// A finding no valid exception covers.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct OpenFinding {
    /// The finding.
    #[serde(flatten)]
    pub finding: Finding,
    /// The exception that would cover it had it not expired.
    pub expired_exception: Option<String>,
}

/// A package licence the policy does not allow.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct LicenseFinding {
    /// The package.
    pub package: Package,
    /// Why it fails.
    pub problem: LicenseProblem,
    /// The exception that would cover it had it not expired.
    pub expired_exception: Option<String>,
}

impl LicenseFinding {
    /// `not allowed: GPL-3.0-only`, `no licence`, `not an SPDX expression`.
    pub fn describe_problem(&self) -> String {
        match &self.problem {
            LicenseProblem::NotAllowed { not_allowed } => {
                format!("not allowed: {}", not_allowed.join(", "))
            }
            LicenseProblem::Unknown => "unknown licence".into(),
            LicenseProblem::Unparsable { .. } => "not an SPDX expression".into(),
        }
    }
}

/// An insecure setting no valid exception covers.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct OpenSetting {
    /// The setting.
    #[serde(flatten)]
    pub setting: InsecureSetting,
    /// The exception that would cover it had it not expired.
    pub expired_exception: Option<String>,
}

/// A valid exception and what it covered.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct AppliedException {
    /// Its id.
    pub id: String,
    /// Its kind.
    pub kind: ExceptionKind,
    /// What it matched: findings, packages or settings, described.
    pub matched: Vec<String>,
    /// Why it was granted.
    pub reason: String,
    /// Its owner.
    pub owner: String,
    /// Its approver.
    pub approved_by: String,
    /// Its ticket, if any.
    pub ticket: Option<String>,
    /// When it was created.
    #[serde(with = "date")]
    pub created: NaiveDate,
    /// Its last day.
    #[serde(with = "date")]
    pub expires: NaiveDate,
    /// Days left (0 on the last day).
    pub days_left: i64,
    /// Whether it has `warn-days` or fewer left.
    pub expiring: bool,
}

/// An expired exception that still matches something.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ExpiredException {
    /// Its id.
    pub id: String,
    /// Its kind.
    pub kind: ExceptionKind,
    /// What it still matches.
    pub matched: Vec<String>,
    /// Its owner.
    pub owner: String,
    /// Its approver.
    pub approved_by: String,
    /// Its last valid day.
    #[serde(with = "date")]
    pub expires: NaiveDate,
    /// Where it is in the policy file.
    pub location: Location,
}

/// An exception that matched nothing.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct UnusedException {
    /// Its id.
    pub id: String,
    /// Its kind.
    pub kind: ExceptionKind,
    /// Where it is in the policy file.
    pub location: Location,
    /// Whether it has expired too.
    pub expired: bool,
}

impl Outcome {
    /// Every open finding, the most severe first, each with whether it failed the gate
    /// (a severity in `fail-on`) — the order a release shows its risk in.
    pub fn open_by_severity(&self) -> Vec<(&OpenFinding, bool)> {
        let mut open: Vec<(&OpenFinding, bool)> = self
            .failing
            .iter()
            .map(|f| (f, true))
            .chain(self.open.iter().map(|f| (f, false)))
            .collect();
        open.sort_by_key(|(f, _)| std::cmp::Reverse(f.finding.severity));
        open
    }

    /// Whether the gate passes: nothing failing, no licence or setting finding, no expired
    /// exception still in use, no unused exception.
    pub fn passed(&self) -> bool {
        self.failing.is_empty()
            && self.licenses.is_empty()
            && self.settings.is_empty()
            && self.expired.is_empty()
            && self.unused.is_empty()
    }

    /// Applied exceptions with `warn-days` or fewer left.
    pub fn expiring(&self) -> impl Iterator<Item = &AppliedException> {
        self.applied.iter().filter(|a| a.expiring)
    }

    /// One sentence per reason the gate fails, in a stable order (empty when it passes).
    pub fn failures(&self) -> Vec<String> {
        let mut out = Vec::new();
        for e in &self.expired {
            out.push(format!(
                "exception {} expired on {} (owner {}, approved by {}) and still matches {}; \
                 renew it with a new approval or fix the finding",
                e.id,
                e.expires,
                e.owner,
                e.approved_by,
                e.matched.join("; ")
            ));
        }
        for u in &self.unused {
            let expired = if u.expired { ", and has expired" } else { "" };
            out.push(format!(
                "exception {} ({}) matched nothing{expired}; remove it from the policy file",
                u.id, u.location
            ));
        }
        for f in &self.failing {
            out.push(format!(
                "{} {} has no valid exception",
                f.finding.severity,
                f.finding.describe()
            ));
        }
        for l in &self.licenses {
            let license = l.package.license.as_deref().unwrap_or("no licence");
            out.push(format!(
                "licence of {} ({license}) is {}",
                l.package.describe(),
                l.describe_problem()
            ));
        }
        for s in &self.settings {
            out.push(format!(
                "insecure setting {} has no valid `setting` exception",
                s.setting.describe()
            ));
        }
        out
    }

    /// The plain-text report the policy step prints; see [`crate::render`].
    pub fn render_text(&self) -> String {
        crate::render::text(self)
    }
}

/// What each exception matched, with whether it was valid.
struct Usage<'p> {
    exceptions: &'p [Exception],
    today: NaiveDate,
    matched: Vec<Vec<String>>,
}

impl<'p> Usage<'p> {
    fn new(policy: &'p Policy, today: NaiveDate) -> Usage<'p> {
        Usage {
            exceptions: &policy.exceptions,
            today,
            matched: vec![Vec::new(); policy.exceptions.len()],
        }
    }

    /// Records `what` against every matching exception; returns whether a valid one
    /// covered it, and otherwise the first expired one that would have.
    fn apply(&mut self, matching: &[usize], what: &str) -> Result<(), Option<String>> {
        let mut expired = None;
        let mut covered = false;
        for &i in matching {
            if !self.matched[i].iter().any(|m| m == what) {
                self.matched[i].push(what.to_string());
            }
            if self.exceptions[i].is_expired(self.today) {
                expired.get_or_insert_with(|| self.exceptions[i].id.clone());
            } else {
                covered = true;
            }
        }
        if covered { Ok(()) } else { Err(expired) }
    }
}

/// Applies `policy` on `today` to the findings of every report, the SBOM's packages and
/// the project's insecure settings.
///
/// `packages` is `None` when no SBOM was read: licences are then not judged and licence
/// exceptions are not reported unused; likewise `settings` is `None` when the caller did
/// not look for insecure settings.
pub fn evaluate(
    policy: &Policy,
    findings: &[Finding],
    packages: Option<&[Package]>,
    settings: Option<&[InsecureSetting]>,
    today: NaiveDate,
) -> Outcome {
    let mut usage = Usage::new(policy, today);
    let (mut failing, mut open) = (Vec::new(), Vec::new());
    for finding in findings {
        let matching: Vec<usize> = indices(policy, |e| match &e.covers {
            Covers::Vulnerability { id, package } => {
                finding.is_known_as(id)
                    && package.as_ref().is_none_or(|p| {
                        p.matches(
                            finding.package.as_deref(),
                            finding.version.as_deref(),
                            finding.purl.as_deref(),
                        )
                    })
            }
            _ => false,
        });
        if let Err(expired_exception) = usage.apply(&matching, &finding.describe()) {
            let open_finding = OpenFinding {
                finding: finding.clone(),
                expired_exception,
            };
            if policy.fail_on.contains(&finding.severity) {
                failing.push(open_finding);
            } else {
                open.push(open_finding);
            }
        }
    }
    for list in [&mut failing, &mut open] {
        list.sort_by(|a, b| {
            let (a, b) = (&a.finding, &b.finding);
            b.severity.cmp(&a.severity).then_with(|| {
                (&a.id, &a.package, &a.version, &a.tool)
                    .cmp(&(&b.id, &b.package, &b.version, &b.tool))
            })
        });
    }

    let licenses = match (&policy.licenses, packages) {
        (Some(_), Some(packages)) => judge_licenses(policy, packages, &mut usage),
        _ => Vec::new(),
    };

    let mut open_settings = Vec::new();
    for setting in settings.unwrap_or_default() {
        let matching = indices(policy, |e| e.covers_setting(setting));
        if let Err(expired_exception) = usage.apply(&matching, &setting.describe()) {
            open_settings.push(OpenSetting {
                setting: setting.clone(),
                expired_exception,
            });
        }
    }

    let judged = |kind: ExceptionKind| match kind {
        ExceptionKind::Vulnerability => true,
        ExceptionKind::License => packages.is_some() && policy.licenses.is_some(),
        ExceptionKind::Setting => settings.is_some(),
    };
    let (mut applied, mut expired, mut unused) = (Vec::new(), Vec::new(), Vec::new());
    for (e, matched) in policy.exceptions.iter().zip(usage.matched) {
        if matched.is_empty() {
            if judged(e.kind()) {
                unused.push(UnusedException {
                    id: e.id.clone(),
                    kind: e.kind(),
                    location: e.location.clone(),
                    expired: e.is_expired(today),
                });
            }
        } else if e.is_expired(today) {
            expired.push(ExpiredException {
                id: e.id.clone(),
                kind: e.kind(),
                matched,
                owner: e.owner.clone(),
                approved_by: e.approved_by.clone(),
                expires: e.expires,
                location: e.location.clone(),
            });
        } else {
            let days_left = e.days_left(today);
            applied.push(AppliedException {
                id: e.id.clone(),
                kind: e.kind(),
                matched,
                reason: e.reason.clone(),
                owner: e.owner.clone(),
                approved_by: e.approved_by.clone(),
                ticket: e.ticket.clone(),
                created: e.created,
                expires: e.expires,
                days_left,
                expiring: days_left <= i64::from(policy.rules.warn_days),
            });
        }
    }

    Outcome {
        date: today,
        policy: PolicyRef {
            file: policy.file.clone(),
            digest: policy.digest.clone(),
            warn_days: policy.rules.warn_days,
        },
        fail_on: policy.fail_on.clone(),
        failing,
        open,
        licenses,
        settings: open_settings,
        applied,
        expired,
        unused,
    }
}

fn indices(policy: &Policy, mut pred: impl FnMut(&Exception) -> bool) -> Vec<usize> {
    policy
        .exceptions
        .iter()
        .enumerate()
        .filter(|(_, e)| pred(e))
        .map(|(i, _)| i)
        .collect()
}

fn judge_licenses(
    policy: &Policy,
    packages: &[Package],
    usage: &mut Usage<'_>,
) -> Vec<LicenseFinding> {
    let Some(rules) = &policy.licenses else {
        return Vec::new();
    };
    let allow: Vec<&LicenseName> = rules.allow.iter().collect();
    let mut out = Vec::new();
    for package in packages {
        let license = package.license.as_deref();
        let problem = match license::judge(license, &allow) {
            Verdict::Allowed => continue,
            Verdict::Problem(p) => p,
        };
        let unknown = !matches!(problem, LicenseProblem::NotAllowed { .. });
        if unknown && rules.unknown == UnknownLicenses::Allow {
            continue;
        }
        let matching = indices(policy, |e| match &e.covers {
            Covers::License {
                license: name,
                package: scope,
            } => {
                scope.matches(
                    Some(&package.name),
                    package.version.as_deref(),
                    package.purl.as_deref(),
                ) && if unknown {
                    name.is_noassertion()
                } else {
                    license::mentions(license, name)
                }
            }
            _ => false,
        });
        let what = format!(
            "{} ({})",
            package.describe(),
            license.unwrap_or("no licence")
        );
        // With the valid exceptions' licences allowed too, what still fails?
        let valid: Vec<&LicenseName> = matching
            .iter()
            .map(|&i| &policy.exceptions[i])
            .filter(|e| !e.is_expired(usage.today))
            .filter_map(|e| match &e.covers {
                Covers::License { license, .. } => Some(license),
                _ => None,
            })
            .collect();
        let remaining = if unknown {
            (valid.is_empty()).then_some(problem)
        } else {
            let widened: Vec<&LicenseName> = allow.iter().copied().chain(valid).collect();
            match license::judge(license, &widened) {
                Verdict::Allowed => None,
                Verdict::Problem(p) => Some(p),
            }
        };
        let expired_exception = usage.apply(&matching, &what).err().flatten();
        if let Some(problem) = remaining {
            out.push(LicenseFinding {
                package: package.clone(),
                problem,
                expired_exception,
            });
        }
    }
    out
}
