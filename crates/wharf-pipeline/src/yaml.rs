//! Reading YAML safely, and turning the parser's errors into diagnostics.
//!
//! The parser runs with tight budgets (alias expansion, nesting depth, node count) so a
//! hostile file ("billion laughs", 100k nested brackets) fails in milliseconds. Its
//! errors carry a position; this module rewords them for pipeline authors and adds the
//! context a user needs ("in job `build`") and a "did you mean" for misspelt keys.

use serde_saphyr::budget::BudgetBreach;
use serde_saphyr::{Budget, DefaultMessageFormatter, Error, MessageFormatter, Options};

use crate::diagnostic::{Diagnostic, Diagnostics};
use crate::file::PipelineFile;
use crate::reporter::{Reporter, location_range};
use crate::suggest::did_you_mean;

/// How deep maps and lists may nest.
pub(crate) const MAX_DEPTH: usize = 32;
/// YAML nodes in a file: every key, value, list and map counts.
pub(crate) const MAX_NODES: usize = 100_000;
/// Parser events in a file: nodes, aliases, and the end of each list and map.
const MAX_EVENTS: usize = 400_000;
/// Aliases (`*name`) in a file.
const MAX_ALIASES: usize = 1_000;
/// Anchors (`&name`) in a file.
const MAX_ANCHORS: usize = 1_000;
/// Events that aliases may replay in all.
const MAX_REPLAYED_EVENTS: usize = 20_000;
/// Times one anchor may be replayed, counting aliases inside replayed anchors.
const MAX_EXPANSIONS_PER_ANCHOR: usize = 1_000;

/// Parser options: duplicate keys are errors, and every resource is bounded.
fn options() -> Options {
    let mut budget = Budget::default();
    budget.max_depth = MAX_DEPTH;
    budget.max_nodes = MAX_NODES;
    budget.max_events = MAX_EVENTS;
    budget.max_aliases = MAX_ALIASES;
    budget.max_anchors = MAX_ANCHORS;
    budget.max_documents = 1;
    let mut options = Options::default();
    options.budget = Some(budget);
    options.duplicate_keys = serde_saphyr::DuplicateKeyPolicy::Error;
    options.alias_limits.max_total_replayed_events = MAX_REPLAYED_EVENTS;
    options.alias_limits.max_alias_expansions_per_anchor = MAX_EXPANSIONS_PER_ANCHOR;
    options.with_snippet = false;
    options
}

/// At most this many unknown keys are reported for one file.
const MAX_UNKNOWN_KEYS: usize = 50;

/// Parses the text into the file types, or the problems that stopped it: every unknown
/// key of the file (the parser stops at the first; each one found is blanked out, its
/// value with it, and the text read again, positions unchanged), else the one structural
/// problem.
pub(crate) fn read(r: &Reporter) -> Result<PipelineFile, Diagnostics> {
    let parse = |text: &str| serde_saphyr::from_str_with_options::<PipelineFile>(text, options());
    let mut err = match parse(&r.source) {
        Ok(file) => return Ok(file),
        Err(e) => e,
    };
    let mut all = vec![translate(r, &err)];
    let mut text = r.source.to_string();
    let mut seen = Vec::new();
    while is_unknown_key(&err) && all.len() < MAX_UNKNOWN_KEYS {
        let Some(start) = err.location().map(|l| location_range(&text, &l).start) else {
            break;
        };
        if seen.contains(&start) || !blank_entry(&mut text, start) {
            break;
        }
        seen.push(start);
        match parse(&text) {
            // Only more unknown keys: what else the blanking changed is not the user's.
            Err(e) if is_unknown_key(&e) => {
                all.push(translate(r, &e));
                err = e;
            }
            _ => break,
        }
    }
    Err(Diagnostics(all))
}

fn is_unknown_key(e: &Error) -> bool {
    matches!(innermost(e), Error::SerdeUnknownField { .. })
}

/// The parser's error without its snippet and alias wrappings.
fn innermost(e: &Error) -> &Error {
    let mut inner = e;
    while let Error::WithSnippet { error, .. } | Error::AliasError { error, .. } = inner {
        inner = error;
    }
    inner
}

/// Replaces the mapping entry whose key starts at byte `start` (the key, its value, and
/// the more indented lines under it) with spaces, keeping every byte offset and line of
/// the text. False when there is nothing to blank.
fn blank_entry(text: &mut String, start: usize) -> bool {
    let bytes = text.as_bytes();
    if start >= bytes.len() {
        return false;
    }
    let line_start = bytes[..start]
        .iter()
        .rposition(|&b| b == b'\n')
        .map_or(0, |i| i + 1);
    let column = start - line_start;
    let line_end = |from: usize| {
        bytes[from..]
            .iter()
            .position(|&b| b == b'\n')
            .map_or(bytes.len(), |i| from + i)
    };
    let mut end = line_end(start);
    while end < bytes.len() {
        let next = end + 1;
        let next_end = line_end(next);
        let line = &bytes[next..next_end];
        let indent = line.iter().take_while(|&&b| b == b' ').count();
        let rest = &line[indent..];
        let blank = rest.iter().all(|&b| b == b' ' || b == b'\t' || b == b'\r');
        if blank || rest.first() == Some(&b'#') || indent > column {
            end = next_end;
        } else {
            break;
        }
    }
    // The indentation of the nearest line before the key's and after the entry that holds
    // something: a sibling key sits at the key's column.
    let content_indent = |line: &[u8]| {
        let indent = line.iter().take_while(|&&b| b == b' ').count();
        let rest = &line[indent..];
        let blank = rest.iter().all(|&b| b == b' ' || b == b'\t' || b == b'\r');
        (!blank && rest.first() != Some(&b'#')).then_some(indent)
    };
    let before = bytes[..line_start.saturating_sub(1)]
        .split(|&b| b == b'\n')
        .rev()
        .find_map(content_indent);
    let after = bytes[end.min(bytes.len())..]
        .split(|&b| b == b'\n')
        .find_map(content_indent);
    let alone =
        line_start == 0 || (before.is_none_or(|i| i < column) && after.is_none_or(|i| i < column));
    let mut spaces: String = text[start..end]
        .bytes()
        .map(|b| if b == b'\n' { '\n' } else { ' ' })
        .collect();
    if alone && spaces.len() >= 2 {
        // The mapping's only entry: leave it an empty mapping, not a null, so that reading
        // goes on to the next unknown key.
        spaces.replace_range(0..2, "{}");
    }
    text.replace_range(start..end, &spaces);
    true
}

fn translate(r: &Reporter, error: &Error) -> Diagnostic {
    let inner = innermost(error);
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
            let (title, hint) = over_limit(inner);
            r.at(span, title)
                .with_label(format!("the limit is reached here{context}"))
                .with_hint(hint)
        }
        _ => {
            let message = reword(&DefaultMessageFormatter.format_message(inner));
            // Inside a flow mapping (`{ insecure: x }`) the key is on the value's line.
            let inline = key_before(&r.source, span.start);
            let hint = inline
                .as_deref()
                .or(path.last().map(String::as_str))
                .filter(|_| !is_syntax_error(inner))
                .and_then(shape_hint);
            let title = match (path.last(), &inline) {
                (Some(outer), Some(key)) if key != outer && !is_syntax_error(inner) => {
                    format!(
                        "invalid value for `{key}` in `{outer}`{}",
                        describe(&path[..path.len() - 1])
                    )
                }
                _ => String::new(),
            };
            let title = if !title.is_empty() {
                title
            } else {
                match path.last() {
                    Some(key) if key != "-" && !is_syntax_error(inner) => {
                        format!(
                            "invalid value for `{key}`{}",
                            describe(&path[..path.len() - 1])
                        )
                    }
                    _ if is_syntax_error(inner) => "invalid YAML".to_string(),
                    _ => format!("invalid value{context}"),
                }
            };
            r.at(span, title).with_label(message).with_hint_opt(hint)
        }
    }
}

/// The parser limit `e` reports, named with its value, and how to stay under it. Each
/// limit says what it counts: a flat file of 40,000 small jobs goes over the node count, and
/// once read "too large or too deeply nested", which sent its author looking for nesting.
fn over_limit(e: &Error) -> (String, String) {
    const SPLIT: &str = "split the pipeline into several files under `.wharf/`";
    const SHARE: &str =
        "write the values out instead, or set a shared value once in `env:` or `defaults:`";
    match e {
        Error::Budget { breach, .. } => match breach {
            BudgetBreach::Depth { .. } => (
                format!("the file nests maps and lists more than {MAX_DEPTH} levels deep"),
                format!(
                    "pipeline files may nest {MAX_DEPTH} levels deep: flatten the deepest part"
                ),
            ),
            BudgetBreach::Nodes { .. } => (
                format!("the file has more than {MAX_NODES} YAML nodes"),
                format!(
                    "pipeline files may hold {MAX_NODES} nodes (every key, value, list and map counts; \
                     a job with one `run:` line takes 4, so about {} such jobs): {SPLIT}, or \
                     generate similar jobs with `matrix:`",
                    MAX_NODES / 4
                ),
            ),
            BudgetBreach::Events { .. } => (
                format!("the file has more than {MAX_EVENTS} YAML parser events"),
                format!(
                    "pipeline files may hold {MAX_EVENTS} parser events (every node, alias and \
                     end of a list or map counts): {SPLIT}"
                ),
            ),
            BudgetBreach::Aliases { .. } => (
                format!("the file uses more than {MAX_ALIASES} aliases (`*name`)"),
                format!("pipeline files may use {MAX_ALIASES} aliases: {SHARE}"),
            ),
            BudgetBreach::Anchors { .. } => (
                format!("the file defines more than {MAX_ANCHORS} anchors (`&name`)"),
                format!("pipeline files may define {MAX_ANCHORS} anchors: {SHARE}"),
            ),
            BudgetBreach::Documents { .. } => (
                "the file holds more than one YAML document".to_string(),
                "a pipeline file is one document: move what follows `---` into its own file \
                 under `.wharf/`"
                    .to_string(),
            ),
            BudgetBreach::AliasAnchorRatio { aliases, anchors } => (
                format!(
                    "the file uses {aliases} aliases for {anchors} anchor{}: more than 10 per anchor",
                    if *anchors == 1 { "" } else { "s" }
                ),
                format!(
                    "from 100 aliases on, each anchor may be used 10 times on average: {SHARE}"
                ),
            ),
            other => (
                "the file goes over a limit of the YAML parser".to_string(),
                format!("the parser reports: {other:?}; {SPLIT}"),
            ),
        },
        Error::AliasReplayLimitExceeded { .. } => (
            format!("aliases in the file expand to more than {MAX_REPLAYED_EVENTS} YAML events"),
            format!(
                "pipeline files may expand aliases to {MAX_REPLAYED_EVENTS} events in all: {SHARE}"
            ),
        ),
        Error::AliasExpansionLimitExceeded { .. } => (
            format!("an anchor is expanded more than {MAX_EXPANSIONS_PER_ANCHOR} times"),
            format!(
                "pipeline files may expand one anchor {MAX_EXPANSIONS_PER_ANCHOR} times, counting \
                 aliases inside other anchors: {SHARE}"
            ),
        ),
        Error::AliasReplayStackDepthExceeded { max_depth, .. } => (
            format!("aliases in the file nest more than {max_depth} deep"),
            format!("pipeline files may nest aliases inside anchors {max_depth} deep: {SHARE}"),
        ),
        other => (
            "the file goes over a limit of the YAML parser".to_string(),
            format!(
                "the parser reports: {}",
                DefaultMessageFormatter.format_message(other)
            ),
        ),
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

/// The parser's words for a value of the wrong shape, in the file's terms.
fn reword(message: &str) -> String {
    message
        .replace("expected sequence start", "expected a list")
        .replace(
            "expected mapping start",
            "expected a mapping (`key: value` lines)",
        )
        .replace("a sequence", "a list")
        .replace("a map", "a mapping")
}

/// What a key takes, with an example, for the keys whose shape people get wrong.
fn shape_hint(key: &str) -> Option<String> {
    let hint = match key {
        "insecure" => {
            "`insecure` takes a list of registry hosts reached over plain HTTP \
             (`insecure: [registry.internal:5000]`); loopback registries (127.0.0.1, \
             localhost) need none"
        }
        "needs" => {
            "`needs` takes a job name or a list of them (`needs: build`, `needs: [build, lint]`)"
        }
        "artifacts" => {
            "`artifacts` takes a list of paths or globs (`artifacts: [dist/*.whl]`), or \
             `{ paths: [...], when: on_success | on_failure | always }`"
        }
        "reports" => "`reports` takes a list of JUnit XML paths or globs (`reports: [junit.xml]`)",
        "tags" => {
            "`tags` takes a list of tags or references (`tags: [\"${{ version }}\", latest]`)"
        }
        "outputs" => "`outputs` takes a list of output names (`outputs: [version]`)",
        "secrets" => "`secrets` takes a list of secret names (`secrets: [PYPI_TOKEN]`)",
        "steps" => "`steps` takes a list of steps (`- run: make test`)",
        "env" => {
            "`env` takes a mapping of names to a string, number or boolean each (`env: { PORT: 8080 }`)"
        }
        "ports" => "`ports` takes a list of ports (`ports: [5432]`)",
        "matrix" => {
            "`matrix` takes a mapping of axes to lists (`matrix: { python: [\"3.11\", \"3.12\"] }`)"
        }
        "services" => {
            "`services` takes a mapping of names to services (`services: { db: { image: postgres:16 } }`)"
        }
        "cache" => "`cache` takes `{ key: [files...], paths: [...], restore-keys: [...] }`",
        "on" => {
            "`on` takes a mapping of events (`on: { push: { branches: [main] }, tag: [\"v*\"] }`)"
        }
        "branches" => "`branches` takes a list of globs (`branches: [main, \"release/*\"]`)",
        "paths" => "`paths` takes a list of globs (`paths: [\"src/**\"]`)",
        "entrypoint" | "cmd" => "takes a list of arguments (`cmd: [python, -m, app]`)",
        _ => return None,
    };
    Some(hint.to_string())
}

/// The key written just before byte `at` on its line (`{ insecure: 127.0.0.1 }` at the
/// value gives `insecure`), if the value follows `KEY:` there.
fn key_before(source: &str, at: usize) -> Option<String> {
    let line_start = source[..at.min(source.len())]
        .rfind('\n')
        .map_or(0, |i| i + 1);
    let before = source[line_start..at.min(source.len())].trim_end();
    let before = before.strip_suffix(':')?;
    let key: String = before
        .chars()
        .rev()
        .take_while(|c| c.is_alphanumeric() || *c == '-' || *c == '_')
        .collect::<Vec<_>>()
        .into_iter()
        .rev()
        .collect();
    (!key.is_empty()).then_some(key)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The first diagnostic of a file that must fail.
    fn first(text: &str) -> Diagnostic {
        crate::parse("wharf.yml", text)
            .expect_err("over a limit")
            .0
            .remove(0)
    }

    fn hint(d: &Diagnostic) -> &str {
        d.hint.as_deref().unwrap_or_default()
    }

    const HEAD: &str = "version: 1\njobs:\n";

    #[test]
    fn a_flat_file_of_40749_jobs_is_over_the_node_count_not_the_nesting() {
        let mut text = String::from(HEAD);
        for i in 0..40_749 {
            text.push_str(&format!("  j{i:05}:\n    run: echo\n"));
        }
        assert!(text.len() < crate::MAX_FILE_BYTES, "{}", text.len());
        let d = first(&text);
        assert_eq!(d.message, "the file has more than 100000 YAML nodes");
        let label = d.label.as_deref().unwrap_or_default();
        assert!(label.starts_with("the limit is reached here"), "{label}");
        assert!(label.ends_with("of job `j24998`"), "{label}");
        assert!(hint(&d).contains("about 25000 such jobs"), "{d}");
        assert!(!format!("{d} {}", hint(&d)).contains("nest"), "{d}");
    }

    #[test]
    fn aliases_anchors_and_documents_each_name_their_limit() {
        let aliases = format!(
            "{HEAD}  t:\n    run: x\n    env: {{ A: &a lol }}\n    artifacts: [{}]\n",
            vec!["*a"; 1_001].join(", ")
        );
        let d = first(&aliases);
        assert_eq!(d.message, "the file uses more than 1000 aliases (`*name`)");
        assert!(
            hint(&d).starts_with("pipeline files may use 1000 aliases"),
            "{d}"
        );

        let anchors: Vec<String> = (0..1_001).map(|i| format!("&a{i} x")).collect();
        let anchors = format!(
            "{HEAD}  t:\n    run: x\n    artifacts: [{}]\n",
            anchors.join(", ")
        );
        let d = first(&anchors);
        assert_eq!(
            d.message,
            "the file defines more than 1000 anchors (`&name`)"
        );
        assert!(
            hint(&d).starts_with("pipeline files may define 1000"),
            "{d}"
        );

        let two = format!("{HEAD}  t:\n    run: x\n---\n{HEAD}  u:\n    run: y\n");
        let d = first(&two);
        assert_eq!(d.message, "the file holds more than one YAML document");
        assert!(hint(&d).contains("`---`"), "{d}");

        let ratio = format!(
            "{HEAD}  t:\n    run: x\n    env: {{ A: &a lol }}\n    artifacts: [{}]\n",
            vec!["*a"; 120].join(", ")
        );
        let d = first(&ratio);
        assert_eq!(
            d.message,
            "the file uses 120 aliases for 1 anchor: more than 10 per anchor"
        );
    }

    #[test]
    fn alias_replays_name_their_limit() {
        let big: Vec<String> = (0..1_000).map(|i| format!("f{i}")).collect();
        let mut text = format!(
            "{HEAD}  j0:\n    run: x\n    artifacts: &big [{}]\n",
            big.join(", ")
        );
        for i in 1..25 {
            text.push_str(&format!("  j{i}:\n    run: x\n    artifacts: *big\n"));
        }
        let d = first(&text);
        assert_eq!(
            d.message,
            "aliases in the file expand to more than 20000 YAML events"
        );
        assert!(hint(&d).contains("20000 events in all"), "{d}");
    }

    #[test]
    fn limits_typed_parsing_stops_short_of_are_named_too() {
        // A value nested 33 deep, or one anchor expanded 1001 times (which takes 1001
        // aliases, over that limit first), is refused as a wrong type or an alias count
        // before the parser counts that far; the messages still name the limit.
        let location = serde_saphyr::Location::UNKNOWN;
        let deep = Error::Budget {
            breach: BudgetBreach::Depth { depth: 33 },
            location,
        };
        assert_eq!(
            over_limit(&deep).0,
            "the file nests maps and lists more than 32 levels deep"
        );
        let expanded = Error::AliasExpansionLimitExceeded {
            anchor_id: 0,
            expansions: 1_001,
            max_expansions_per_anchor: 1_000,
            location,
        };
        assert_eq!(
            over_limit(&expanded).0,
            "an anchor is expanded more than 1000 times"
        );
        let events = Error::Budget {
            breach: BudgetBreach::Events { events: 400_001 },
            location,
        };
        assert_eq!(
            over_limit(&events).0,
            "the file has more than 400000 YAML parser events"
        );
        let stack = Error::AliasReplayStackDepthExceeded {
            depth: 65,
            max_depth: 64,
            location,
        };
        assert_eq!(
            over_limit(&stack).0,
            "aliases in the file nest more than 64 deep"
        );
    }

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
