//! Checks every `${{ … }}` and `if:` expression against where it is used.
//!
//! This is where the security rule lives: `run:` is shell source, so its expressions may
//! only read `matrix.*` (values written in the file itself). Everything else a run knows
//! comes from outside (branch names, tags, inputs typed by a user, outputs of earlier
//! jobs, secrets) and must reach the script as an environment variable, never spliced
//! into its text. Errors point at the exact byte inside the YAML scalar.

use std::collections::HashMap;
use std::ops::Range;

use serde_saphyr::Location;
use wharf_expr::Reference;

use crate::reporter::Reporter;
use crate::suggest::did_you_mean;

/// Roots an expression may read.
pub const ROOTS: [&str; 11] = [
    "event", "branch", "tag", "sha", "version", "actor", "inputs", "matrix", "env", "needs",
    "secrets",
];

/// What a job's expressions can see.
pub(crate) struct Scope<'a> {
    /// The job's name, `None` for pipeline-level `env:`.
    pub job: Option<&'a str>,
    /// Jobs it needs.
    pub needs: &'a [String],
    /// Declared outputs of every job.
    pub outputs: &'a HashMap<String, Vec<String>>,
    /// Matrix keys, `None` without a matrix.
    pub matrix: Option<Vec<String>>,
    /// Declared secret names.
    pub secrets: &'a [String],
    /// Declared manual inputs, `None` when there is no `on.manual`.
    pub inputs: Option<&'a [String]>,
}

/// Where a template is used, which decides what it may read.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Site {
    /// `run:`: shell source; `matrix.*` only.
    Run,
    /// `env:` values: anything, evaluated when the job starts.
    Env,
    /// `name:` and `working-directory:`: resolved at plan time, `matrix.*` only.
    PlanTime(&'static str),
}

/// A YAML scalar holding an expression or template, with its place in the file.
pub(crate) struct Scalar<'a> {
    pub value: &'a str,
    pub location: &'a Location,
}

/// Checks a `${{ … }}` template.
pub(crate) fn check_template(r: &mut Reporter, scope: &Scope<'_>, s: Scalar<'_>, site: Site) {
    let map = OffsetMap::new(r, &s);
    match wharf_expr::parse_template(s.value) {
        Err(e) => report_syntax(r, &map, &e),
        Ok(t) => {
            for reference in t.references() {
                check_reference(r, scope, &map, &reference, site);
            }
        }
    }
}

/// Checks an `if:` condition (a bare expression, or one wrapped in `${{ }}`).
pub(crate) fn check_condition(r: &mut Reporter, scope: &Scope<'_>, s: Scalar<'_>) {
    let map = OffsetMap::new(r, &s);
    let (text, shift) = unwrap_condition(s.value);
    match wharf_expr::parse(text) {
        Err(mut e) => {
            e.span = e.span.start + shift..e.span.end + shift;
            report_syntax(r, &map, &e);
        }
        Ok(expr) => {
            for mut reference in expr.references() {
                reference.span = reference.span.start + shift..reference.span.end + shift;
                check_reference(r, scope, &map, &reference, Site::Env);
            }
        }
    }
}

/// `${{ x }}` as a whole condition means `x`; the offset of `x` in the text.
pub(crate) fn unwrap_condition(text: &str) -> (&str, usize) {
    let trimmed = text.trim();
    if let Some(inner) = trimmed
        .strip_prefix("${{")
        .and_then(|t| t.strip_suffix("}}"))
        && !inner.contains("${{")
    {
        let shift = text.len() - text.trim_start().len() + 3;
        return (inner, shift);
    }
    (text, 0)
}

fn report_syntax(r: &mut Reporter, map: &OffsetMap, e: &wharf_expr::Error) {
    let span = map.range(&e.span);
    let d = r
        .at(span, format!("invalid expression: {}", e.message))
        .with_label(e.message.clone())
        .with_hint_opt(e.hint.clone());
    r.push(d);
}

fn check_reference(
    r: &mut Reporter,
    scope: &Scope<'_>,
    map: &OffsetMap,
    reference: &Reference,
    site: Site,
) {
    let span = map.range(&reference.span);
    let path = &reference.path;
    let dotted = path.join(".");
    let Some(root) = path.first().map(String::as_str) else {
        return;
    };
    if !ROOTS.contains(&root) {
        let hint = did_you_mean(root, ROOTS).unwrap_or_else(|| {
            format!(
                "expressions can read {}",
                ROOTS.map(|r| format!("`{r}`")).join(", ")
            )
        });
        let d = r
            .at(span, format!("unknown name `{root}` in expression"))
            .with_label("unknown name")
            .with_hint(hint);
        r.push(d);
        return;
    }
    match site {
        Site::Run if root != "matrix" => {
            let d = r
                .at(span, format!("`{dotted}` may not be used in `run:`: it would splice outside data into shell source"))
                .with_label("outside data in shell source")
                .with_hint(env_var_hint(path));
            r.push(d);
            return;
        }
        Site::PlanTime(key) if root != "matrix" => {
            let d = r
                .at(span, format!("`{dotted}` may not be used in `{key}:`"))
                .with_label("not known when the run is planned")
                .with_hint(format!(
                    "`{key}:` can only use `matrix.*`; it is resolved before the run starts"
                ));
            r.push(d);
            return;
        }
        _ => {}
    }
    let problem: Option<(String, Option<String>)> = match root {
        "matrix" => match (&scope.matrix, path.get(1)) {
            (None, _) => Some((
                format!(
                    "`{dotted}`: {} has no `matrix:`",
                    scope
                        .job
                        .map_or("the pipeline".to_string(), |j| format!("job `{j}`"))
                ),
                None,
            )),
            (Some(_), None) => Some(("`matrix` needs an axis: `matrix.AXIS`".into(), None)),
            (Some(keys), Some(axis)) if !keys.contains(axis) => Some((
                format!("unknown matrix axis `{axis}`"),
                did_you_mean(axis, keys.iter().map(String::as_str)).or_else(|| {
                    Some(format!(
                        "the axes are {}",
                        keys.iter()
                            .map(|k| format!("`{k}`"))
                            .collect::<Vec<_>>()
                            .join(", ")
                    ))
                }),
            )),
            _ => None,
        },
        "needs" => check_needs(scope, path),
        "inputs" => match (scope.inputs, path.get(1)) {
            (_, None) => Some(("`inputs` needs a name: `inputs.NAME`".into(), None)),
            (None, Some(name)) => Some((
                format!("unknown input `{name}`"),
                Some("declare it under `on: { manual: { inputs: { … } } }`".into()),
            )),
            (Some(list), Some(name)) if !list.contains(name) => Some((
                format!("unknown input `{name}`"),
                did_you_mean(name, list.iter().map(String::as_str))
                    .or_else(|| Some("declare it under `on.manual.inputs`".into())),
            )),
            _ => None,
        },
        "secrets" => match (scope.job, path.get(1)) {
            (_, None) => Some(("`secrets` needs a name: `secrets.NAME`".into(), None)),
            (None, Some(_)) => Some((
                "secrets are only available inside a job".into(),
                Some("move this variable to the `env:` of a job that declares the secret".into()),
            )),
            (Some(job), Some(name)) if !scope.secrets.contains(name) => Some((
                format!("secret `{name}` is not declared by job `{job}`"),
                Some(format!("add `{name}` to the job's `secrets:` list")),
            )),
            _ => None,
        },
        _ => None,
    };
    if let Some((message, hint)) = problem {
        let d = r
            .at(span, message)
            .with_label("not available here")
            .with_hint_opt(hint);
        r.push(d);
    }
}

fn check_needs(scope: &Scope<'_>, path: &[String]) -> Option<(String, Option<String>)> {
    let Some(job) = scope.job else {
        return Some(("`needs` is only available inside a job".into(), None));
    };
    // `needs.JOB.result`: success, failure, cancelled or skipped, as in GitHub Actions.
    if let (Some(needed), Some("result"), None) =
        (path.get(1), path.get(2).map(String::as_str), path.get(3))
    {
        if !scope.needs.contains(needed) {
            return Some((
                format!("job `{job}` does not need `{needed}`"),
                Some(format!(
                    "add `{needed}` to `needs:` of job `{job}` to read its result"
                )),
            ));
        }
        return None;
    }
    let (Some(needed), Some("outputs"), Some(output), None) = (
        path.get(1),
        path.get(2).map(String::as_str),
        path.get(3),
        path.get(4),
    ) else {
        return Some((
            format!("`{}` is not an output or result reference", path.join(".")),
            Some("write `needs.JOB.outputs.NAME` or `needs.JOB.result`".into()),
        ));
    };
    if !scope.needs.contains(needed) {
        return Some((
            format!("job `{job}` does not need `{needed}`"),
            Some(format!(
                "add `{needed}` to `needs:` of job `{job}` to read its outputs"
            )),
        ));
    }
    let declared = scope.outputs.get(needed).map(Vec::as_slice).unwrap_or(&[]);
    if !declared.contains(output) {
        let hint = did_you_mean(output, declared.iter().map(String::as_str))
            .unwrap_or_else(|| format!("declare it in `outputs:` of job `{needed}`"));
        return Some((
            format!("job `{needed}` has no output `{output}`"),
            Some(hint),
        ));
    }
    None
}

/// How to get a value into a script safely.
fn env_var_hint(path: &[String]) -> String {
    let get = |i: usize| path.get(i).map_or("NAME", String::as_str);
    let var =
        |name: &str| format!("use the environment variable `\"${name}\"` in the script instead");
    match path[0].as_str() {
        "branch" | "tag" | "version" | "sha" | "event" | "actor" => {
            var(&format!("WHARF_{}", path[0].to_uppercase()))
        }
        "inputs" => var(&format!(
            "WHARF_INPUT_{}",
            get(1).to_uppercase().replace('-', "_")
        )),
        "env" => var(get(1)),
        "needs" => {
            let (job, output) = (get(1), path.get(3).map_or("NAME", String::as_str));
            format!(
                "map it into `env:` (e.g. `env: {{ {output}: ${{{{ needs.{job}.outputs.{output} }}}} }}`) and use `${output}`"
            )
        }
        "secrets" => format!(
            "declare `{0}` in the job's `secrets:` and use `${0}`",
            get(1)
        ),
        _ => "pass it through `env:` and use the environment variable".to_string(),
    }
}

/// Maps byte offsets in a scalar's value to byte offsets in the file.
///
/// A value differs from its source when it is quoted, escaped or a block scalar (indent
/// stripped). Each value character is matched to the next equal character of the source
/// text, which is exact for plain and block scalars and close for quoted ones.
struct OffsetMap {
    /// File offset of each value byte offset that starts a character, plus the end.
    offsets: Vec<(usize, usize)>,
    end: usize,
}

impl OffsetMap {
    fn new(r: &Reporter, s: &Scalar<'_>) -> OffsetMap {
        let raw_range = r.range(s.location);
        let raw = &r.source[raw_range.clone()];
        let mut offsets = Vec::with_capacity(s.value.len());
        let mut raw_chars = raw.char_indices().peekable();
        let mut last = raw_range.start;
        for (vi, vc) in s.value.char_indices() {
            let mut found = None;
            let mut probe = raw_chars.clone();
            for (ri, rc) in probe.by_ref() {
                if rc == vc {
                    found = Some(ri);
                    break;
                }
            }
            if let Some(ri) = found {
                raw_chars = probe;
                last = raw_range.start + ri;
            }
            offsets.push((vi, last));
        }
        let end = raw_chars
            .peek()
            .map_or(raw_range.end, |(ri, _)| raw_range.start + ri);
        OffsetMap {
            offsets,
            end: end.max(last),
        }
    }

    fn at(&self, value_offset: usize) -> usize {
        match self
            .offsets
            .binary_search_by_key(&value_offset, |(v, _)| *v)
        {
            Ok(i) => self.offsets[i].1,
            Err(i) if i >= self.offsets.len() => self.end,
            Err(i) => self.offsets[i].1,
        }
    }

    fn range(&self, value_span: &Range<usize>) -> Range<usize> {
        let start = self.at(value_span.start);
        let end = if value_span.end > value_span.start {
            self.at(value_span.end - 1) + 1
        } else {
            start
        };
        start..end.max(start)
    }
}
