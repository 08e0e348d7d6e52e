//! The policy gate: scanner reports, SBOM licences and wharf's own insecure settings,
//! judged against a policy file whose exceptions are justified, owned, approved by someone
//! else, and expire.
//!
//! Scanners cannot run here, and wharf does not scan: the project's own scanners (Trivy,
//! Grype, OSV-Scanner, pip-audit…) write reports, the `policy` step reads them with
//! [`parse_report`], reads the licences from wharf's SBOM as [`Package`]s, and calls
//! [`evaluate`] with the day to judge on. The [`Outcome`] says what fails and why, goes into
//! the release record as JSON, and renders as a table ([`Outcome::render_text`]).
//! `validate` asks [`Policy::setting_cover`] whether an insecure setting may stay.
//!
//! # The policy file
//!
//! `wharf.policy.toml` at the project root, or the file a pipeline's `policy:` names. Every
//! table is optional; unknown keys are refused. Every problem is reported at once, each at
//! `file:line:column` of the offending key or value (a missing field at its
//! `[[exception]]` header), most with a hint; only a TOML syntax error stops validation
//! there ([`Error::Policy`], [`ProblemKind`]).
//!
//! ```toml
//! [exceptions]
//! max-days = 90          # expires - created may be at most this (default 90)
//! warn-days = 14         # an exception with this many days left or fewer is "expiring" (default 14)
//! approvers = ["sec-lead", "cto"]   # who may approve; absent or empty: anyone but the owner
//!
//! [vulnerabilities]
//! fail-on = ["critical", "high"]    # default ["critical", "high", "unknown"]
//!
//! [licenses]             # absent: licences are not checked
//! allow = ["MIT", "Apache-2.0", "BSD-3-Clause"]
//! unknown = "fail"       # "fail" (default) | "allow": no licence, NONE, NOASSERTION, unparsable
//!
//! [[exception]]
//! id = "EXC-0007"
//! kind = "vulnerability"
//! vulnerability = "CVE-2024-6345"
//! package = "pkg:pypi/setuptools@68.0.0"
//! reason = "setuptools is only in the build stage; runtime never imports package_index"
//! owner = "team-web"
//! approved-by = "sec-lead"
//! created = 2026-11-01
//! expires = 2027-01-31
//! ticket = "https://tracker.example/SEC-412"
//! ```
//!
//! `[exceptions]`
//! - `max-days` (integer ≥ 1, default 90): the longest an exception may last,
//!   `expires - created`, in days.
//! - `warn-days` (integer ≥ 0, default 14): an applied exception with this many days left or
//!   fewer is reported as expiring.
//! - `approvers` (strings): who may approve exceptions; when absent or empty, anyone but
//!   the owner may.
//!
//! `[vulnerabilities]`
//! - `fail-on` (strings): severities — `critical`, `high`, `medium`, `low`, `unknown`, any
//!   case — that fail the gate when a finding is not covered by an exception. Findings of
//!   other severities are reported as open but do not fail. The default includes `unknown`
//!   because pip-audit gives no severity at all: its findings would otherwise never fail.
//!   An empty list fails on no severity.
//!
//! `[licenses]`
//! - `allow` (strings): SPDX licence identifiers (`MIT`, `Apache-2.0 WITH LLVM-exception`,
//!   `LicenseRef-…`), checked strictly against the SPDX list the `spdx` crate carries; a
//!   package's licence expression passes when the allowed licences satisfy it (`OR`: either
//!   side, `AND`: both). Package licences themselves are read laxly (see [`license`]).
//! - `unknown` (`"fail"` or `"allow"`, default `"fail"`): whether a package with no licence,
//!   `NONE`, `NOASSERTION` or a licence that is not an SPDX expression is a finding.
//!
//! `[[exception]]`, one per exception. Every exception has:
//! - `id` (string, unique in the file), `kind` (`vulnerability`, `license` or `setting`);
//! - `reason` (non-empty), `owner`, `approved-by` (not the owner, ASCII case-insensitive;
//!   on `approvers` when that list is given);
//! - `created`, `expires` (TOML dates, unquoted: `2027-01-31`): `expires` after `created`
//!   and at most `max-days` later. The exception applies through its `expires` day;
//! - optionally `ticket` (string).
//!
//! and, by kind (a key of another kind is an error):
//! - `vulnerability`: `vulnerability` (required): matches a finding whose id or any alias
//!   (CVE, GHSA, PYSEC, DSA… as the report lists them) is this, case-insensitively;
//!   `package` (optional) limits it to a package name (any version; PyPI names compared
//!   as PEP 503 says) or a purl (`pkg:pypi/setuptools@68.0.0`: that version only, so a
//!   bump ends the exception; qualifiers are ignored). Any report finding can be covered
//!   this way, including Trivy misconfiguration and secret rule ids.
//! - `license`: `license` (required): one SPDX licence allowed for this package, or
//!   `NOASSERTION` to accept that the package's licence is unknown; `package` (required).
//!   Needs a `[licenses]` table.
//! - `setting`: `setting` (required): one of [`settings::KNOWN`] (`registry.plain-http`,
//!   `secrets.pull-requests`, `workspace.shared`,
//!   `environment.production-without-approval`); `subject` (optional) limits it to one
//!   registry, environment… as the pipeline validation reports it.
//!
//! # The gate
//!
//! [`evaluate`] fails ([`Outcome::passed`] is false) when any of these is non-empty, each
//! naming what to fix:
//! - findings not covered by a valid exception whose severity is in `fail-on`;
//! - licence findings (not allowed, or unknown when `unknown = "fail"`) not covered;
//! - insecure settings not covered;
//! - **expired** exceptions that still match something, named with owner, approver and
//!   expiry (what they matched stays open too) — expiry never silently re-enables a
//!   finding;
//! - **unused** exceptions, named with their location: they matched nothing (an exception
//!   of a kind whose input was not given — no SBOM, no settings — is not judged unused).
//!
//! Applied exceptions are listed with what they matched and the days left, expiring ones
//! marked. The policy file's digest ([`Policy::digest`], `sha256:<hex>`) goes into the
//! outcome for provenance.

mod digest;
mod error;
mod gate;
pub mod license;
mod package;
mod policy;
pub mod render;
pub mod report;
pub mod settings;
mod severity;

/// The date type of `today`, `created` and `expires` (re-exported so callers need not
/// depend on chrono to call [`evaluate`]).
pub use chrono::NaiveDate;
pub use digest::sha256;
pub use error::{Error, Location, Result};
pub use gate::{
    AppliedException, ExpiredException, LicenseFinding, OpenFinding, OpenSetting, Outcome,
    PolicyRef, Standing, UnusedException, evaluate,
};
pub use license::{LicenseName, LicenseProblem, Package};
pub use package::{PackageScope, Purl};
pub use policy::{
    Covers, DEFAULT_FAIL_ON, DEFAULT_FILE, DEFAULT_MAX_DAYS, DEFAULT_WARN_DAYS, Exception,
    ExceptionKind, ExceptionRules, LicenseRules, Policy, Problem, ProblemKind, SettingCover,
    UnknownLicenses,
};
pub use report::{
    Finding, FindingKind, Report, ReportFormat, detect_format, parse_report, read_report,
};
pub use settings::InsecureSetting;
pub use severity::Severity;
