//! Conditions over a measurement's `result`, with Argo Rollouts' rules, and the words
//! a failed one reads as (`success-rate 0.80 < 0.99`).

use wharf_expr::{Context, Status, Value};
use wharf_model::AnalysisMetric;

use super::Phase;

/// Judges `result` by the metric's conditions, as Argo's `EvaluateResult` does: the
/// failure condition holding is a failure (even if the success condition holds too);
/// with a success condition only, it holding is a success and not holding a failure;
/// with a failure condition only, it not holding is a success; with both, neither
/// holding is inconclusive; with **no condition the measurement is successful** (Argo:
/// "always return success unless there is an error").
///
/// A condition sees only `result`, must give `true` or `false` (Argo compiles it with
/// `AsBool`), and any other outcome, or a parse error, makes the measurement an error.
pub fn evaluate<'a>(metric: &'a AnalysisMetric, result: &Value) -> (Phase, String) {
    let name = &metric.name;
    let check = |kind: &str, cond: Option<&'a str>| -> Result<Option<(&'a str, bool)>, String> {
        cond.map(|src| condition(kind, src, result).map(|holds| (src, holds)))
            .transpose()
    };
    let (success, failure) = match (
        check("success", metric.success.as_deref()),
        check("failure", metric.failure.as_deref()),
    ) {
        (Ok(s), Ok(f)) => (s, f),
        (Err(e), _) | (_, Err(e)) => return (Phase::Error, e),
    };
    match (success, failure) {
        (None, None) => (
            Phase::Successful,
            format!("{name} {} (no condition)", show(result)),
        ),
        (_, Some((src, true))) => (Phase::Failed, explain(name, src, result, true)),
        (Some((src, true)), _) => (Phase::Successful, explain(name, src, result, true)),
        (Some((src, false)), None) => (Phase::Failed, explain(name, src, result, false)),
        (None, Some((src, false))) => (Phase::Successful, explain(name, src, result, false)),
        (Some((s, false)), Some((f, false))) => (
            Phase::Inconclusive,
            format!("{name} {}: neither `{s}` nor `{f}` holds", show(result)),
        ),
    }
}

/// What conditions can see: `result`, nothing else.
struct ResultCtx<'a>(&'a Value);

impl Context for ResultCtx<'_> {
    fn lookup(&self, path: &[String]) -> Option<Value> {
        (path == ["result"]).then(|| self.0.clone())
    }
    fn status(&self) -> Status {
        Status::default()
    }
}

/// Whether condition `src` holds for `result`.
fn condition(kind: &str, src: &str, result: &Value) -> Result<bool, String> {
    let what = format!("the {kind} condition `{src}`");
    let expr = wharf_expr::parse(src).map_err(|e| format!("{what}: {e}"))?;
    if let Some(r) = expr.references().into_iter().find(|r| r.path != ["result"]) {
        return Err(format!(
            "{what} uses `{}`; a condition sees only `result`",
            r.path.join(".")
        ));
    }
    if let Some((f, _)) = expr
        .functions()
        .into_iter()
        .find(|(f, _)| matches!(f.as_str(), "success" | "failure" | "cancelled" | "always"))
    {
        return Err(format!("{what} calls {f}(), which means nothing here"));
    }
    match wharf_expr::eval(&expr, &ResultCtx(result)) {
        Ok(Value::Bool(holds)) => Ok(holds),
        Ok(other) => Err(format!(
            "{what} gave {} for {}, not true or false",
            show(&other),
            show(result)
        )),
        Err(e) => Err(format!("{what}: {e}")),
    }
}

/// A condition that held (`holds`) or did not, said about `result`: `success-rate 0.80
/// < 0.99` for the simple form `result OP LITERAL` (the operator negated when it did
/// not hold), else `success-rate 0.80: `…` is false`.
fn explain(name: &str, src: &str, result: &Value, holds: bool) -> String {
    if let Some((op, literal)) = simple_form(src) {
        let op = if holds { op } else { negate(op) };
        return format!(
            "{name} {} {op} {literal}",
            show_against(result, op, &literal)
        );
    }
    format!("{name} {}: `{src}` is {holds}", show(result))
}

/// `result OP LITERAL` (or `LITERAL OP result`, turned around): the operator and the
/// literal as wharf writes it back.
fn simple_form(src: &str) -> Option<(&'static str, String)> {
    let expr = wharf_expr::parse(src).ok()?;
    // Every operation comes back parenthesised, so one comparison is `(a OP b)`.
    let text = expr.rewrite(&|p: &[String]| Some(p.join(".")))?;
    let inner = text.strip_prefix('(')?.strip_suffix(')')?;
    let mut parts = inner.split(' ');
    let (left, op, right) = (parts.next()?, parts.next()?, parts.next()?);
    if parts.next().is_some() || inner.contains(['(', ')']) {
        return None;
    }
    let op = ["==", "!=", "<=", ">=", "<", ">"]
        .into_iter()
        .find(|o| *o == op)?;
    let is_literal =
        |s: &str| s != "result" && wharf_expr::parse(s).is_ok_and(|e| e.references().is_empty());
    match (left, right) {
        ("result", lit) if is_literal(lit) => Some((op, lit.to_string())),
        (lit, "result") if is_literal(lit) => Some((flip(op), lit.to_string())),
        _ => None,
    }
}

fn negate(op: &str) -> &'static str {
    match op {
        "==" => "!=",
        "!=" => "==",
        "<" => ">=",
        "<=" => ">",
        ">" => "<=",
        _ => "<",
    }
}

fn flip(op: &'static str) -> &'static str {
    match op {
        "<" => ">",
        "<=" => ">=",
        ">" => "<",
        ">=" => "<=",
        same => same,
    }
}

/// A value for messages: a fraction with 2 decimals, a whole number without, a string
/// quoted.
fn show(v: &Value) -> String {
    match v {
        Value::Number(n) if n.is_finite() && n.fract() != 0.0 => format!("{n:.2}"),
        Value::String(s) => format!("'{s}'"),
        other => other.to_display_string(),
    }
}

/// [`show`], with as many more decimals as it takes for `value OP literal` to read true
/// (`0.9899` against `0.99` is `0.9899 < 0.99`, not `0.99 < 0.99`).
fn show_against(v: &Value, op: &str, literal: &str) -> String {
    let (Value::Number(n), Ok(lit)) = (v, literal.parse::<f64>()) else {
        return show(v);
    };
    if !n.is_finite() || n.fract() == 0.0 {
        return show(v);
    }
    let reads_true = |shown: f64| match op {
        "==" => shown == lit,
        "!=" => shown != lit,
        "<" => shown < lit,
        "<=" => shown <= lit,
        ">" => shown > lit,
        _ => shown >= lit,
    };
    (2..=8)
        .map(|decimals| format!("{n:.decimals$}"))
        .find(|s| s.parse().is_ok_and(reads_true))
        .unwrap_or_else(|| n.to_string())
}
