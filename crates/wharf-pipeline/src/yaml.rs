//! Reading YAML safely, and turning the parser's errors into diagnostics.
//!
//! The parser runs with tight budgets (alias expansion, nesting depth, node count) so a
//! hostile file ("billion laughs", 100k nested brackets) fails in milliseconds. Its
//! errors carry a position; this module rewords them for pipeline authors and adds the
//! context a user needs ("in job `build`") and a "did you mean" for misspelt keys.

use serde_saphyr::{Budget, DefaultMessageFormatter, Error, MessageFormatter, Options};

use crate::diagnostic::{Diagnostic, Diagnostics};
use crate::file::PipelineFile;
use crate::reporter::{Reporter, location_range};
use crate::suggest::did_you_mean;

/// Parser options: duplicate keys are errors, and every resource is bounded.
fn options() -> Options {
    let mut budget = Budget::default();
    budget.max_depth = 32;
    budget.max_nodes = 100_000;
    budget.max_events = 400_000;
    budget.max_aliases = 1_000;
    budget.max_anchors = 1_000;
    budget.max_documents = 1;
    let mut options = Options::default();
    options.budget = Some(budget);
    options.duplicate_keys = serde_saphyr::DuplicateKeyPolicy::Error;
    options.alias_limits.max_total_replayed_events = 20_000;
    options.alias_limits.max_alias_expansions_per_anchor = 1_000;
    options.with_snippet = false;
    options
}

/// Parses the text into the file types, or the one structural problem that stopped it.
pub(crate) fn read(r: &Reporter) -> Result<PipelineFile, Diagnostics> {
    serde_saphyr::from_str_with_options::<PipelineFile>(&r.source, options())
        .map_err(|e| Diagnostics::from(translate(r, &e)))
}

fn translate(r: &Reporter, error: &Error) -> Diagnostic {
    let mut inner = error;
    while let Error::WithSnippet { error, .. } | Error::AliasError { error, .. } = inner {
        inner = error;
    }
    let span = error
        .location()
        .map(|l| location_range(&r.source, &l))
        .unwrap_or(0..0);
    let path = yaml_path(&r.source, span.start);
    let context = describe(&path);
    match inner {
        Error::SerdeUnknownField {
            field, expected, ..
        } => {
            let hint = did_you_mean(field, expected.iter().copied()).or_else(|| {
                if expected.contains(&"shell") {
                    Some(format!(
                        "a step is `run:` or one built-in step ({}), with optional {}",
                        list(crate::builtin::BUILTIN_KEYS.iter()),
                        list(expected.iter().filter(|k| {
                            **k != "run" && !crate::builtin::BUILTIN_KEYS.contains(k)
                        }))
                    ))
                } else {
                    Some(format!("expected one of {}", list(expected.iter())))
                }
            });
            r.at(span, format!("unknown key `{field}`{context}"))
                .with_label("unknown key")
                .with_hint_opt(hint)
        }
        Error::SerdeMissingField { field, .. } => {
            let hint = match *field {
                "version" => Some("start the file with `version: 1`".to_string()),
                "jobs" => Some("add `jobs:` with at least one job".to_string()),
                _ => None,
            };
            r.at(span, format!("missing key `{field}`{context}"))
                .with_label(format!("`{field}` is missing in this mapping"))
                .with_hint_opt(hint)
        }
        Error::DuplicateMappingKey { key, .. } => {
            let key = key.clone().unwrap_or_else(|| "?".to_string());
            let what = if path.len() == 1 && path[0] == "jobs" {
                format!("duplicate job `{key}`")
            } else {
                format!("duplicate key `{key}`{context}")
            };
            r.at(span, what)
                .with_label("already defined above")
                .with_hint("each key may appear once in a mapping")
        }
        Error::Budget { .. }
        | Error::AliasReplayLimitExceeded { .. }
        | Error::AliasExpansionLimitExceeded { .. }
        | Error::AliasReplayStackDepthExceeded { .. }
        | Error::AliasReplayCounterOverflow { .. } => {
            let message = DefaultMessageFormatter.format_message(inner).into_owned();
            r.at(span, "the file is too large or too deeply nested to read")
                .with_label(message)
                .with_hint("pipeline files may not expand aliases exponentially or nest deeper than 32 levels")
        }
        _ => {
            let message = DefaultMessageFormatter.format_message(inner).into_owned();
            let title = match path.last() {
                Some(key) if key != "-" && !is_syntax_error(inner) => {
                    format!(
                        "invalid value for `{key}`{}",
                        describe(&path[..path.len() - 1])
                    )
                }
                _ if is_syntax_error(inner) => "invalid YAML".to_string(),
                _ => format!("invalid value{context}"),
            };
            r.at(span, title).with_label(message)
        }
    }
}

fn is_syntax_error(e: &Error) -> bool {
    !matches!(
        e,
        Error::SerdeInvalidType { .. }
            | Error::SerdeInvalidValue { .. }
            | Error::SerdeInvalidLength { .. }
            | Error::SerdeUnknownVariant { .. }
            | Error::Message { .. }
            | Error::InvalidScalar { .. }
            | Error::Unexpected { .. }
            | Error::NullIntoString { .. }
            | Error::InvalidBooleanStrict { .. }
    )
}

fn list<'a>(items: impl Iterator<Item = &'a &'static str>) -> String {
    items
        .map(|k| format!("`{k}`"))
        .collect::<Vec<_>>()
        .join(", ")
}

/// " in job `build`", " in a step of job `build`", " in `on.push`", or "" at the top.
fn describe(path: &[String]) -> String {
    let keys: Vec<&str> = path.iter().map(String::as_str).collect();
    match keys.as_slice() {
        [] => String::new(),
        ["jobs"] => " in `jobs`".to_string(),
        ["jobs", job] => format!(" in job `{job}`"),
        ["jobs", job, "steps", "-", ..] => format!(" in a step of job `{job}`"),
        ["jobs", job, rest @ ..] => format!(" in `{}` of job `{job}`", rest.join(".")),
        other => {
            let dotted: Vec<&str> = other.iter().copied().filter(|k| *k != "-").collect();
            format!(" in `{}`", dotted.join("."))
        }
    }
}

/// The keys leading to byte `offset` in a block-style YAML document, from indentation:
/// `["jobs", "build", "steps", "-"]` (`-` stands for a sequence item). Flow-style parts
/// are not followed; the result is then shorter, which only makes messages vaguer.
pub(crate) fn yaml_path(source: &str, offset: usize) -> Vec<String> {
    let offset = offset.min(source.len());
    let line_start = source[..offset].rfind('\n').map_or(0, |i| i + 1);
    let mut indent = offset - line_start;
    let mut path = Vec::new();
    let this_line = &source[line_start..offset];
    let mut lines: Vec<&str> = source[..line_start].lines().collect();
    lines.push(this_line);
    for line in lines.iter().rev() {
        let trimmed = line.trim_start_matches(' ');
        if trimmed.is_empty() || trimmed.starts_with('#') {
            continue;
        }
        let mut at = line.len() - trimmed.len();
        let mut rest = trimmed;
        let mut dashes = Vec::new();
        while let Some(after) = rest
            .strip_prefix("- ")
            .or_else(|| rest.strip_prefix('-').filter(|a| a.is_empty()))
        {
            dashes.push(at);
            let skipped = after.len() - after.trim_start_matches(' ').len();
            at += rest.len() - after.len() + skipped;
            rest = after.trim_start_matches(' ');
        }
        if at < indent
            && let Some(key) = key_of(rest)
        {
            path.push(key);
            indent = at;
        }
        for &dash in dashes.iter().rev() {
            if dash < indent {
                path.push("-".to_string());
                indent = dash;
            }
        }
        if indent == 0 {
            break;
        }
    }
    path.reverse();
    path
}

/// The key of a `key: value` line, unquoted.
fn key_of(text: &str) -> Option<String> {
    let (key, _) = text.split_once(':')?;
    let key = key.trim();
    let key = key
        .strip_prefix('"')
        .and_then(|k| k.strip_suffix('"'))
        .or_else(|| key.strip_prefix('\'').and_then(|k| k.strip_suffix('\'')))
        .unwrap_or(key);
    (!key.is_empty() && !key.contains(['{', '[', '#'])).then(|| key.to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn paths_from_indentation() {
        let src = "version: 1\njobs:\n  build:\n    steps:\n      - run: x\n        shel: y\n    nedds: [a]\n";
        let at = |needle: &str| src.find(needle).unwrap_or(0);
        assert_eq!(yaml_path(src, at("shel")), ["jobs", "build", "steps", "-"]);
        assert_eq!(yaml_path(src, at("nedds")), ["jobs", "build"]);
        assert_eq!(
            yaml_path(src, at("x\n")),
            ["jobs", "build", "steps", "-", "run"]
        );
        assert_eq!(yaml_path(src, at("jobs")), Vec::<String>::new());
        assert_eq!(
            describe(&yaml_path(src, at("shel"))),
            " in a step of job `build`"
        );
    }
}
