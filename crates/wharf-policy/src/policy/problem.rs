//! Every way a policy file can be wrong, each a distinct variant so callers and tests can
//! tell them apart, each located at the key or value that is wrong and most with a hint.

use std::fmt;

use crate::error::Location;
use chrono::NaiveDate;

/// One problem in a policy file, at the offending key or value.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Problem {
    /// Where: the key or value that is wrong, or the `[[exception]]` header for a missing
    /// field.
    pub location: Location,
    /// What is wrong.
    pub kind: ProblemKind,
}

impl Problem {
    /// How to fix it, when we can tell.
    pub fn hint(&self) -> Option<String> {
        self.kind.hint()
    }

    /// `file:line:col: message`, then `  hint: …` on a second line when there is one.
    pub fn render(&self) -> String {
        match self.hint() {
            Some(hint) => format!("{self}\n  hint: {hint}"),
            None => self.to_string(),
        }
    }
}

impl fmt::Display for Problem {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}: {}", self.location, self.kind)
    }
}

/// What is wrong with a policy file. `exception` fields name the exception by its `id`, or
/// by its position (`#3`) when it has none.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ProblemKind {
    /// The text is not valid TOML.
    #[error("invalid TOML: {message}")]
    Syntax {
        /// The TOML parser's message.
        message: String,
    },
    /// A key this format does not have.
    #[error("unknown key `{key}` in {table}")]
    UnknownKey {
        /// The key as written.
        key: String,
        /// Where it was, e.g. `[exceptions]` or `exception EXC-0007`.
        table: String,
        /// The closest key that exists, if one is close.
        suggestion: Option<String>,
        /// Every key allowed there.
        expected: Vec<&'static str>,
    },
    /// A value of the wrong TOML type.
    #[error("`{key}` must be {expected}, not {found}")]
    WrongType {
        /// The key.
        key: String,
        /// What it must be, e.g. "a string".
        expected: &'static str,
        /// The TOML type found.
        found: &'static str,
    },
    /// A value of the right type that is not allowed.
    #[error("`{key}` = {value}: {reason}")]
    InvalidValue {
        /// The key.
        key: String,
        /// The value as written.
        value: String,
        /// Why it is refused.
        reason: String,
        /// How to fix it.
        help: Option<String>,
    },
    /// A date that is not a plain TOML date.
    #[error("`{key}` must be a date like 2027-01-31, not {found}")]
    InvalidDate {
        /// The key.
        key: String,
        /// What was written instead.
        found: String,
    },
    /// A required exception field is absent.
    #[error("exception {exception} has no `{field}`")]
    MissingField {
        /// The exception.
        exception: String,
        /// The missing key.
        field: &'static str,
    },
    /// A required exception field is empty or only whitespace.
    #[error("exception {exception} has an empty `{field}`")]
    EmptyField {
        /// The exception.
        exception: String,
        /// The empty key.
        field: &'static str,
    },
    /// `kind` is not one of the three kinds.
    #[error("exception {exception} has unknown kind `{kind}`")]
    UnknownKind {
        /// The exception.
        exception: String,
        /// The kind as written.
        kind: String,
    },
    /// A key of another kind of exception.
    #[error("`{field}` does not belong to a {kind} exception ({exception})")]
    FieldNotForKind {
        /// The exception.
        exception: String,
        /// The key.
        field: String,
        /// The exception's kind.
        kind: &'static str,
        /// The kind the key belongs to.
        belongs_to: &'static str,
    },
    /// The approver is the owner.
    #[error("exception {exception} is approved by its own owner `{person}`")]
    ApproverIsOwner {
        /// The exception.
        exception: String,
        /// Owner and approver.
        person: String,
    },
    /// The approver is not on `[exceptions] approvers`.
    #[error(
        "exception {exception} is approved by `{approver}`, who is not in [exceptions] approvers"
    )]
    ApproverNotListed {
        /// The exception.
        exception: String,
        /// The approver as written.
        approver: String,
        /// Who may approve.
        approvers: Vec<String>,
    },
    /// `expires` is on or before `created`.
    #[error("exception {exception} expires on {expires}, not after it was created ({created})")]
    ExpiresBeforeCreated {
        /// The exception.
        exception: String,
        /// Its creation date.
        created: NaiveDate,
        /// Its expiry date.
        expires: NaiveDate,
    },
    /// `expires - created` exceeds `max-days`.
    #[error(
        "exception {exception} lasts {days} days ({created} to {expires}), more than max-days = {max_days}"
    )]
    SpanTooLong {
        /// The exception.
        exception: String,
        /// Its creation date.
        created: NaiveDate,
        /// Its expiry date.
        expires: NaiveDate,
        /// `expires - created` in days.
        days: i64,
        /// The policy's maximum.
        max_days: u32,
    },
    /// Two exceptions share an id.
    #[error("exception id `{id}` is used twice (first at {first})")]
    DuplicateId {
        /// The id.
        id: String,
        /// Where it was first used.
        first: Location,
    },
    /// A licence that is not an SPDX identifier.
    #[error("`{value}` is not an SPDX licence identifier")]
    UnknownLicense {
        /// The value as written.
        value: String,
        /// The identifier it probably means.
        suggestion: Option<String>,
    },
    /// A severity that is not one of the five.
    #[error("unknown severity `{value}`")]
    UnknownSeverity {
        /// The value as written.
        value: String,
    },
    /// A `setting` exception for a setting wharf does not know.
    #[error("exception {exception} names unknown setting `{setting}`")]
    UnknownSetting {
        /// The exception.
        exception: String,
        /// The setting as written.
        setting: String,
    },
    /// A licence exception in a policy that does not check licences.
    #[error("exception {exception} is a licence exception, but the policy has no [licenses] table")]
    LicensesNotChecked {
        /// The exception.
        exception: String,
    },
}

impl ProblemKind {
    /// How to fix it, when we can tell.
    pub fn hint(&self) -> Option<String> {
        Some(match self {
            ProblemKind::Syntax { .. } => return None,
            ProblemKind::UnknownKey {
                suggestion: Some(s),
                ..
            } => format!("did you mean `{s}`?"),
            ProblemKind::UnknownKey { expected, .. } => {
                format!("expected one of: {}", expected.join(", "))
            }
            ProblemKind::WrongType { .. } => return None,
            ProblemKind::InvalidValue { help, .. } => return help.clone(),
            ProblemKind::InvalidDate { .. } => {
                "write a TOML date without quotes or time, e.g. `expires = 2027-01-31`".into()
            }
            ProblemKind::MissingField { field, .. } => match *field {
                "vulnerability" => "name the CVE, GHSA, PYSEC… id the exception covers".into(),
                "license" => "name the SPDX licence the exception allows, e.g. `MPL-2.0`".into(),
                "package" => "name the package (or its purl) the licence exception is for".into(),
                "setting" => format!(
                    "name the insecure setting: {}",
                    crate::settings::KNOWN
                        .iter()
                        .map(|(k, _)| *k)
                        .collect::<Vec<_>>()
                        .join(", ")
                ),
                _ => "every exception needs id, kind, reason, owner, approved-by, created and \
                      expires"
                    .into(),
            },
            ProblemKind::EmptyField { field, .. } => match *field {
                "reason" => "say why the risk is acceptable, so the approver and later readers \
                             can judge it"
                    .into(),
                _ => format!("give `{field}` a value"),
            },
            ProblemKind::UnknownKind { .. } => {
                "kind is one of: vulnerability, license, setting".into()
            }
            ProblemKind::FieldNotForKind {
                field, belongs_to, ..
            } => format!("`{field}` is for {belongs_to} exceptions; remove it"),
            ProblemKind::ApproverIsOwner { .. } => {
                "an exception needs a second person: set `approved-by` to someone other than \
                 the owner"
                    .into()
            }
            ProblemKind::ApproverNotListed { approvers, .. } => {
                format!("approvers are: {}", approvers.join(", "))
            }
            ProblemKind::ExpiresBeforeCreated { .. } => {
                "`expires` must be a later date than `created`".into()
            }
            ProblemKind::SpanTooLong { max_days, .. } => format!(
                "let it expire at most {max_days} days after `created` and renew it then, or \
                 raise [exceptions] max-days"
            ),
            ProblemKind::DuplicateId { .. } => "give each exception its own id".into(),
            ProblemKind::UnknownLicense {
                suggestion: Some(s),
                ..
            } => format!("did you mean `{s}`?"),
            ProblemKind::UnknownLicense { .. } => {
                "use an identifier from https://spdx.org/licenses/ (or a LicenseRef-…), one per \
                 entry"
                    .into()
            }
            ProblemKind::UnknownSeverity { .. } => {
                "severities are: critical, high, medium, low, unknown".into()
            }
            ProblemKind::UnknownSetting { .. } => format!(
                "settings are: {}",
                crate::settings::KNOWN
                    .iter()
                    .map(|(k, _)| *k)
                    .collect::<Vec<_>>()
                    .join(", ")
            ),
            ProblemKind::LicensesNotChecked { .. } => {
                "add a [licenses] table with `allow = [...]`, or remove the exception".into()
            }
        })
    }
}
