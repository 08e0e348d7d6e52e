//! Walks the TOML document by hand (not through serde) so that every problem is collected,
//! not only the first, and each is located at the exact key or value from toml's spans.

use std::collections::HashMap;
use std::ops::Range;

use chrono::NaiveDate;
use toml::Spanned;
use toml::de::{DeTable, DeValue};

use super::{
    Covers, DEFAULT_FAIL_ON, DEFAULT_MAX_DAYS, DEFAULT_WARN_DAYS, Exception, ExceptionKind,
    ExceptionRules, LicenseRules, Policy, Problem, ProblemKind, UnknownLicenses,
};
use crate::error::{Error, Location, Result};
use crate::license::LicenseName;
use crate::package::PackageScope;
use crate::settings;
use crate::severity::Severity;

type Value<'i> = Spanned<DeValue<'i>>;

const TOP_KEYS: &[&str] = &["exceptions", "vulnerabilities", "licenses", "exception"];
const RULE_KEYS: &[&str] = &["max-days", "warn-days", "approvers"];
const VULNERABILITY_KEYS: &[&str] = &["fail-on"];
const LICENSE_KEYS: &[&str] = &["allow", "unknown"];
const EXCEPTION_KEYS: &[&str] = &[
    "id",
    "kind",
    "reason",
    "owner",
    "approved-by",
    "created",
    "expires",
    "ticket",
    "vulnerability",
    "package",
    "license",
    "setting",
    "subject",
];
/// Longest `max-days` / `warn-days` accepted: a hundred years is no limit at all, but keeps
/// date arithmetic far from overflow.
const MAX_DAYS_LIMIT: i64 = 36_500;

/// The keys only some kinds take, with the kinds that take them (for the message).
fn kinds_taking(key: &str) -> Option<(&'static [ExceptionKind], &'static str)> {
    use ExceptionKind::*;
    Some(match key {
        "vulnerability" => (&[Vulnerability], "vulnerability"),
        "package" => (&[Vulnerability, License], "vulnerability and license"),
        "license" => (&[License], "license"),
        "setting" | "subject" => (&[Setting], "setting"),
        _ => return None,
    })
}

pub(super) fn parse(file: &str, text: &str) -> Result<Policy> {
    let mut doc = Doc {
        file,
        text,
        problems: Vec::new(),
    };
    let (root, errors) = DeTable::parse_recoverable(text);
    if !errors.is_empty() {
        for e in errors {
            let span = e.span().unwrap_or(0..0);
            let message = e.message().trim().to_string();
            doc.push(span, ProblemKind::Syntax { message });
        }
        return Err(doc.into_error());
    }
    let root = root.get_ref();
    doc.check_keys(root, TOP_KEYS, "the policy file");

    let rules = match doc.table(root, "exceptions") {
        Some(t) => doc.rules(t),
        None => ExceptionRules {
            max_days: DEFAULT_MAX_DAYS,
            warn_days: DEFAULT_WARN_DAYS,
            approvers: Vec::new(),
        },
    };
    let fail_on = match doc.table(root, "vulnerabilities") {
        Some(t) => doc.fail_on(t),
        None => DEFAULT_FAIL_ON.to_vec(),
    };
    let licenses = doc.table(root, "licenses").map(|t| doc.licenses(t));
    let exceptions = doc.exceptions(root, &rules, licenses.is_some());

    if !doc.problems.is_empty() {
        return Err(doc.into_error());
    }
    Ok(Policy {
        file: file.to_string(),
        digest: crate::digest::sha256(text.as_bytes()),
        rules,
        fail_on,
        licenses,
        exceptions,
    })
}

struct Doc<'a> {
    file: &'a str,
    text: &'a str,
    problems: Vec<Problem>,
}

/// What every exception is checked against.
struct Context<'r> {
    rules: &'r ExceptionRules,
    licenses_checked: bool,
}

fn get<'t, 'i>(table: &'t DeTable<'i>, key: &str) -> Option<&'t Value<'i>> {
    table
        .iter()
        .find(|(k, _)| k.get_ref() == key)
        .map(|(_, v)| v)
}

impl Doc<'_> {
    fn location(&self, span: &Range<usize>) -> Location {
        Location::at(self.file, self.text, span.start)
    }

    fn push(&mut self, span: Range<usize>, kind: ProblemKind) {
        let location = self.location(&span);
        self.problems.push(Problem { location, kind });
    }

    fn into_error(mut self) -> Error {
        self.problems
            .sort_by_key(|p| (p.location.line, p.location.column));
        Error::Policy {
            file: self.file.to_string(),
            problems: self.problems,
        }
    }

    /// The source text of a value, for messages.
    fn source(&self, span: &Range<usize>) -> String {
        self.text.get(span.clone()).unwrap_or_default().to_string()
    }

    fn check_keys(&mut self, table: &DeTable<'_>, allowed: &'static [&'static str], what: &str) {
        for (key, _) in table.iter() {
            let name = key.get_ref();
            if !allowed.contains(&name.as_ref()) {
                self.push(
                    key.span(),
                    ProblemKind::UnknownKey {
                        key: name.to_string(),
                        table: what.to_string(),
                        suggestion: suggest_key(name, allowed),
                        expected: allowed.to_vec(),
                    },
                );
            }
        }
    }

    fn wrong_type(&mut self, key: &str, value: &Value<'_>, expected: &'static str) {
        self.push(
            value.span(),
            ProblemKind::WrongType {
                key: key.to_string(),
                expected,
                found: value.get_ref().type_str(),
            },
        );
    }

    fn table<'t, 'i>(&mut self, root: &'t DeTable<'i>, key: &str) -> Option<&'t DeTable<'i>> {
        let value = get(root, key)?;
        match value.get_ref() {
            DeValue::Table(t) => Some(t),
            _ => {
                self.wrong_type(key, value, "a table");
                None
            }
        }
    }

    fn string(&mut self, key: &str, value: &Value<'_>) -> Option<String> {
        match value.get_ref() {
            DeValue::String(s) => Some(s.to_string()),
            _ => {
                self.wrong_type(key, value, "a string");
                None
            }
        }
    }

    fn strings(&mut self, key: &str, value: &Value<'_>) -> Vec<(String, Range<usize>)> {
        let DeValue::Array(items) = value.get_ref() else {
            self.wrong_type(key, value, "an array of strings");
            return Vec::new();
        };
        let mut out = Vec::new();
        for item in items.iter() {
            match item.get_ref() {
                DeValue::String(s) => out.push((s.to_string(), item.span())),
                _ => self.wrong_type(key, item, "an array of strings"),
            }
        }
        out
    }

    fn days(&mut self, table: &DeTable<'_>, key: &str, min: i64, default: u32) -> u32 {
        let Some(value) = get(table, key) else {
            return default;
        };
        let DeValue::Integer(i) = value.get_ref() else {
            self.wrong_type(key, value, "an integer");
            return default;
        };
        match i64::from_str_radix(i.as_str(), i.radix()) {
            Ok(n) if (min..=MAX_DAYS_LIMIT).contains(&n) => n as u32,
            _ => {
                self.push(
                    value.span(),
                    ProblemKind::InvalidValue {
                        key: key.to_string(),
                        value: self.source(&value.span()),
                        reason: format!(
                            "must be a whole number of days from {min} to {MAX_DAYS_LIMIT}"
                        ),
                        help: None,
                    },
                );
                default
            }
        }
    }

    fn date(&mut self, key: &str, value: &Value<'_>) -> Option<NaiveDate> {
        let found = match value.get_ref() {
            DeValue::Datetime(dt) => match (dt.date, dt.time, dt.offset) {
                (Some(d), None, None) => {
                    let date = NaiveDate::from_ymd_opt(
                        i32::from(d.year),
                        u32::from(d.month),
                        u32::from(d.day),
                    );
                    if date.is_some() {
                        return date;
                    }
                    self.source(&value.span())
                }
                _ => self.source(&value.span()),
            },
            DeValue::String(_) => format!("the string {}", self.source(&value.span())),
            other => format!("a {}", other.type_str()),
        };
        self.push(
            value.span(),
            ProblemKind::InvalidDate {
                key: key.to_string(),
                found,
            },
        );
        None
    }

    fn rules(&mut self, table: &DeTable<'_>) -> ExceptionRules {
        self.check_keys(table, RULE_KEYS, "[exceptions]");
        let max_days = self.days(table, "max-days", 1, DEFAULT_MAX_DAYS);
        let warn_days = self.days(table, "warn-days", 0, DEFAULT_WARN_DAYS);
        let mut approvers = Vec::new();
        if let Some(value) = get(table, "approvers") {
            for (name, span) in self.strings("approvers", value) {
                if name.trim().is_empty() {
                    self.push(
                        span,
                        ProblemKind::InvalidValue {
                            key: "approvers".into(),
                            value: "\"\"".into(),
                            reason: "an approver cannot be empty".into(),
                            help: None,
                        },
                    );
                } else {
                    approvers.push(name.trim().to_string());
                }
            }
        }
        ExceptionRules {
            max_days,
            warn_days,
            approvers,
        }
    }

    fn fail_on(&mut self, table: &DeTable<'_>) -> Vec<Severity> {
        self.check_keys(table, VULNERABILITY_KEYS, "[vulnerabilities]");
        let Some(value) = get(table, "fail-on") else {
            return DEFAULT_FAIL_ON.to_vec();
        };
        let mut out = Vec::new();
        for (name, span) in self.strings("fail-on", value) {
            match Severity::parse(&name) {
                Some(s) => out.push(s),
                None => self.push(span, ProblemKind::UnknownSeverity { value: name }),
            }
        }
        out.sort_by(|a, b| b.cmp(a));
        out.dedup();
        out
    }

    fn licenses(&mut self, table: &DeTable<'_>) -> LicenseRules {
        self.check_keys(table, LICENSE_KEYS, "[licenses]");
        let mut allow = Vec::new();
        if let Some(value) = get(table, "allow") {
            for (name, span) in self.strings("allow", value) {
                if matches!(name.trim(), "NOASSERTION" | "NONE") {
                    self.push(
                        span.clone(),
                        ProblemKind::InvalidValue {
                            key: "allow".into(),
                            value: self.source(&span),
                            reason: "is not a licence".into(),
                            help: Some(
                                "to let packages without a known licence pass, set \
                                 `unknown = \"allow\"`"
                                    .into(),
                            ),
                        },
                    );
                    continue;
                }
                match LicenseName::parse(&name, false) {
                    Ok(l) => allow.push(l),
                    Err(suggestion) => self.push(
                        span,
                        ProblemKind::UnknownLicense {
                            value: name,
                            suggestion,
                        },
                    ),
                }
            }
        }
        let mut unknown = UnknownLicenses::Fail;
        if let Some(value) = get(table, "unknown") {
            match self.string("unknown", value).as_deref() {
                Some("fail") | None => {}
                Some("allow") => unknown = UnknownLicenses::Allow,
                Some(_) => self.push(
                    value.span(),
                    ProblemKind::InvalidValue {
                        key: "unknown".into(),
                        value: self.source(&value.span()),
                        reason: "must be \"fail\" or \"allow\"".into(),
                        help: Some(
                            "\"fail\" makes a package without a known licence a finding".into(),
                        ),
                    },
                ),
            }
        }
        LicenseRules { allow, unknown }
    }

    fn exceptions(
        &mut self,
        root: &DeTable<'_>,
        rules: &ExceptionRules,
        licenses_checked: bool,
    ) -> Vec<Exception> {
        let Some(value) = get(root, "exception") else {
            return Vec::new();
        };
        let DeValue::Array(items) = value.get_ref() else {
            self.wrong_type("exception", value, "an array of tables ([[exception]])");
            return Vec::new();
        };
        let context = Context {
            rules,
            licenses_checked,
        };
        let mut out = Vec::new();
        let mut seen: HashMap<String, Location> = HashMap::new();
        for (index, item) in items.iter().enumerate() {
            let DeValue::Table(table) = item.get_ref() else {
                self.wrong_type("exception", item, "a table ([[exception]])");
                continue;
            };
            if let Some(id) = get(table, "id")
                && let DeValue::String(s) = id.get_ref()
                && !s.trim().is_empty()
            {
                let location = self.location(&id.span());
                if let Some(first) = seen.get(s.trim()) {
                    self.push(
                        id.span(),
                        ProblemKind::DuplicateId {
                            id: s.trim().to_string(),
                            first: first.clone(),
                        },
                    );
                } else {
                    seen.insert(s.trim().to_string(), location);
                }
            }
            if let Some(e) = self.exception(index, item.span(), table, &context) {
                out.push(e);
            }
        }
        out
    }

    /// A required, non-empty string field of an exception.
    fn required(
        &mut self,
        table: &DeTable<'_>,
        header: &Range<usize>,
        label: &str,
        field: &'static str,
    ) -> Option<(String, Range<usize>)> {
        let value = self.present(table, header, label, field)?;
        let s = self.string(field, value)?;
        if s.trim().is_empty() {
            self.push(
                value.span(),
                ProblemKind::EmptyField {
                    exception: label.to_string(),
                    field,
                },
            );
            return None;
        }
        Some((s.trim().to_string(), value.span()))
    }

    fn required_date(
        &mut self,
        table: &DeTable<'_>,
        header: &Range<usize>,
        label: &str,
        field: &'static str,
    ) -> Option<(NaiveDate, Range<usize>)> {
        let value = self.present(table, header, label, field)?;
        self.date(field, value).map(|d| (d, value.span()))
    }

    /// A required field of an exception, or a missing-field problem at its header.
    fn present<'t, 'v>(
        &mut self,
        table: &'t DeTable<'v>,
        header: &Range<usize>,
        label: &str,
        field: &'static str,
    ) -> Option<&'t Value<'v>> {
        let value = get(table, field);
        if value.is_none() {
            self.push(
                header.clone(),
                ProblemKind::MissingField {
                    exception: label.to_string(),
                    field,
                },
            );
        }
        value
    }

    fn optional(&mut self, table: &DeTable<'_>, field: &str) -> Option<(String, Range<usize>)> {
        let value = get(table, field)?;
        self.string(field, value).map(|s| (s, value.span()))
    }

    fn exception(
        &mut self,
        index: usize,
        header: Range<usize>,
        table: &DeTable<'_>,
        context: &Context<'_>,
    ) -> Option<Exception> {
        let label = match get(table, "id").map(|v| v.get_ref()) {
            Some(DeValue::String(s)) if !s.trim().is_empty() => s.trim().to_string(),
            _ => format!("#{}", index + 1),
        };
        let before = self.problems.len();
        self.check_keys(table, EXCEPTION_KEYS, &format!("exception {label}"));

        let id = self.required(table, &header, &label, "id");
        let kind = self.required(table, &header, &label, "kind");
        let kind = kind.and_then(|(k, span)| self.kind(&label, &k, span));
        let reason = self.required(table, &header, &label, "reason");
        let owner = self.required(table, &header, &label, "owner");
        let approved_by = self.required(table, &header, &label, "approved-by");
        let created = self.required_date(table, &header, &label, "created");
        let expires = self.required_date(table, &header, &label, "expires");
        let ticket = self.optional(table, "ticket").map(|(t, _)| t);
        let covers =
            kind.and_then(|(kind, span)| self.covers(table, &header, &label, kind, span, context));

        if let (Some((owner, _)), Some((approver, span))) = (&owner, &approved_by) {
            self.approver(&label, owner, approver, span, context.rules);
        }
        if let (Some((created, _)), Some((expires, span))) = (&created, &expires) {
            self.span(&label, *created, *expires, span, context.rules.max_days);
        }

        if self.problems.len() != before {
            return None;
        }
        Some(Exception {
            id: id?.0,
            covers: covers?,
            reason: reason?.0,
            owner: owner?.0,
            approved_by: approved_by?.0,
            created: created?.0,
            expires: expires?.0,
            ticket,
            location: self.location(&header),
        })
    }

    fn kind(
        &mut self,
        label: &str,
        kind: &str,
        span: Range<usize>,
    ) -> Option<(ExceptionKind, Range<usize>)> {
        let parsed = match kind {
            "vulnerability" => ExceptionKind::Vulnerability,
            "license" => ExceptionKind::License,
            "setting" => ExceptionKind::Setting,
            _ => {
                self.push(
                    span,
                    ProblemKind::UnknownKind {
                        exception: label.to_string(),
                        kind: kind.to_string(),
                    },
                );
                return None;
            }
        };
        Some((parsed, span))
    }

    /// The kind's own fields, refusing the fields of other kinds.
    fn covers(
        &mut self,
        table: &DeTable<'_>,
        header: &Range<usize>,
        label: &str,
        kind: ExceptionKind,
        kind_span: Range<usize>,
        context: &Context<'_>,
    ) -> Option<Covers> {
        for (key, _) in table.iter() {
            if let Some((kinds, belongs_to)) = kinds_taking(key.get_ref())
                && !kinds.contains(&kind)
            {
                self.push(
                    key.span(),
                    ProblemKind::FieldNotForKind {
                        exception: label.to_string(),
                        field: key.get_ref().to_string(),
                        kind: kind.as_str(),
                        belongs_to,
                    },
                );
            }
        }
        match kind {
            ExceptionKind::Vulnerability => {
                let id = self.required(table, header, label, "vulnerability");
                let package = match self.optional(table, "package") {
                    Some((p, span)) => Some(self.package(&p, span)?),
                    None => None,
                };
                Some(Covers::Vulnerability { id: id?.0, package })
            }
            ExceptionKind::License => {
                if !context.licenses_checked {
                    self.push(
                        kind_span,
                        ProblemKind::LicensesNotChecked {
                            exception: label.to_string(),
                        },
                    );
                }
                let license = self.required(table, header, label, "license");
                let license = license.and_then(|(l, span)| match LicenseName::parse(&l, true) {
                    Ok(l) => Some(l),
                    Err(suggestion) => {
                        self.push(
                            span,
                            ProblemKind::UnknownLicense {
                                value: l,
                                suggestion,
                            },
                        );
                        None
                    }
                });
                let package = self.required(table, header, label, "package");
                let package = package.and_then(|(p, span)| self.package(&p, span));
                Some(Covers::License {
                    license: license?,
                    package: package?,
                })
            }
            ExceptionKind::Setting => {
                let key = self.required(table, header, label, "setting");
                let subject = self.optional(table, "subject").map(|(s, _)| s);
                let (key, span) = key?;
                if !settings::is_known(&key) {
                    self.push(
                        span,
                        ProblemKind::UnknownSetting {
                            exception: label.to_string(),
                            setting: key,
                        },
                    );
                    return None;
                }
                Some(Covers::Setting { key, subject })
            }
        }
    }

    fn package(&mut self, text: &str, span: Range<usize>) -> Option<PackageScope> {
        match PackageScope::parse(text) {
            Ok(p) => Some(p),
            Err(reason) => {
                self.push(
                    span.clone(),
                    ProblemKind::InvalidValue {
                        key: "package".into(),
                        value: self.source(&span),
                        reason,
                        help: Some(
                            "write a package name, or a purl such as \
                             pkg:pypi/setuptools@68.0.0"
                                .into(),
                        ),
                    },
                );
                None
            }
        }
    }

    fn approver(
        &mut self,
        label: &str,
        owner: &str,
        approver: &str,
        span: &Range<usize>,
        rules: &ExceptionRules,
    ) {
        if approver.eq_ignore_ascii_case(owner) {
            self.push(
                span.clone(),
                ProblemKind::ApproverIsOwner {
                    exception: label.to_string(),
                    person: approver.to_string(),
                },
            );
        } else if !rules.approvers.is_empty()
            && !rules
                .approvers
                .iter()
                .any(|a| a.eq_ignore_ascii_case(approver))
        {
            self.push(
                span.clone(),
                ProblemKind::ApproverNotListed {
                    exception: label.to_string(),
                    approver: approver.to_string(),
                    approvers: rules.approvers.clone(),
                },
            );
        }
    }

    fn span(
        &mut self,
        label: &str,
        created: NaiveDate,
        expires: NaiveDate,
        span: &Range<usize>,
        max_days: u32,
    ) {
        let days = (expires - created).num_days();
        if days <= 0 {
            self.push(
                span.clone(),
                ProblemKind::ExpiresBeforeCreated {
                    exception: label.to_string(),
                    created,
                    expires,
                },
            );
        } else if days > i64::from(max_days) {
            self.push(
                span.clone(),
                ProblemKind::SpanTooLong {
                    exception: label.to_string(),
                    created,
                    expires,
                    days,
                    max_days,
                },
            );
        }
    }
}

/// The allowed key a mistyped one probably means: the same with `-` for `_`, or one at
/// most two edits away.
fn suggest_key(key: &str, allowed: &[&str]) -> Option<String> {
    let dashed = key.replace('_', "-").to_ascii_lowercase();
    if allowed.contains(&dashed.as_str()) {
        return Some(dashed);
    }
    allowed
        .iter()
        .map(|a| (edit_distance(&dashed, a), *a))
        .filter(|(d, _)| *d <= 2)
        .min()
        .map(|(_, a)| a.to_string())
}

fn edit_distance(a: &str, b: &str) -> usize {
    let b: Vec<char> = b.chars().collect();
    let mut prev: Vec<usize> = (0..=b.len()).collect();
    for (i, ca) in a.chars().enumerate() {
        let mut cur = vec![i + 1];
        for (j, cb) in b.iter().enumerate() {
            let cost = usize::from(ca != *cb);
            cur.push((prev[j] + cost).min(prev[j + 1] + 1).min(cur[j] + 1));
        }
        prev = cur;
    }
    prev[b.len()]
}
