//! Evaluates a parsed [`Expr`] against a [`Context`]. The context is a trait so the engine
//! can answer from live run state and tests can answer from a map, and so this crate never
//! learns what `needs` or `matrix` mean.
//!
//! Semantics follow GitHub Actions with two deliberate differences: string comparison and
//! the string functions are case-sensitive, and strings order by bytes.

use std::cmp::Ordering;

use crate::ast::{BinOp, Expr, Func, Kind, Node};
use crate::error::Result;
use crate::value::Value;

/// What an expression can see at run time.
pub trait Context {
    /// The value at a property path such as `["needs", "build", "outputs", "url"]`.
    /// `None` means unknown; the expression then sees `null`.
    fn lookup(&self, path: &[String]) -> Option<Value>;

    /// The state of the run so far, for `success()`, `failure()` and `cancelled()`.
    fn status(&self) -> Status;
}

/// The outcome of the jobs a condition depends on.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Status {
    /// Every job needed so far succeeded; the answer of `success()`.
    pub success: bool,
    /// Some job needed so far failed; the answer of `failure()`.
    pub failure: bool,
    /// The run was cancelled; the answer of `cancelled()`.
    pub cancelled: bool,
}

/// Evaluates `expr`. `&&` and `||` short-circuit and return the operand that decided,
/// so `inputs.target || 'staging'` picks a default.
///
/// Every error the language can have is caught by [`crate::parse`], so this currently
/// always succeeds; the `Result` leaves room for run-time checks without an API change.
pub fn eval(expr: &Expr, ctx: &dyn Context) -> Result<Value> {
    Ok(eval_node(&expr.root, ctx))
}

fn eval_node(node: &Node, ctx: &dyn Context) -> Value {
    match &node.kind {
        Kind::Literal(value) => value.clone(),
        Kind::Path(path) => ctx.lookup(path).unwrap_or(Value::Null),
        Kind::Not(inner) => Value::Bool(!eval_node(inner, ctx).is_truthy()),
        Kind::Binary(BinOp::And, left, right) => {
            let left = eval_node(left, ctx);
            if left.is_truthy() {
                eval_node(right, ctx)
            } else {
                left
            }
        }
        Kind::Binary(BinOp::Or, left, right) => {
            let left = eval_node(left, ctx);
            if left.is_truthy() {
                left
            } else {
                eval_node(right, ctx)
            }
        }
        Kind::Binary(op, left, right) => {
            let (left, right) = (eval_node(left, ctx), eval_node(right, ctx));
            Value::Bool(compare(*op, &left, &right))
        }
        Kind::Call(func, args) => {
            let args: Vec<Value> = args.iter().map(|arg| eval_node(arg, ctx)).collect();
            call(*func, &args, ctx)
        }
    }
}

/// Values of the same type compare directly; otherwise both sides become numbers
/// (`null` 0, `true` 1, strings parsed, unparsable strings NaN, which equals nothing).
fn compare(op: BinOp, left: &Value, right: &Value) -> bool {
    let equal = match (left, right) {
        (Value::Null, Value::Null) => true,
        (Value::Bool(a), Value::Bool(b)) => a == b,
        (Value::String(a), Value::String(b)) => a == b,
        _ => left.to_number() == right.to_number(),
    };
    let order = || match (left, right) {
        (Value::String(a), Value::String(b)) => Some(a.cmp(b)),
        _ => left.to_number().partial_cmp(&right.to_number()),
    };
    match op {
        BinOp::Eq => equal,
        BinOp::Ne => !equal,
        BinOp::Lt => order() == Some(Ordering::Less),
        BinOp::Le => matches!(order(), Some(Ordering::Less | Ordering::Equal)),
        BinOp::Gt => order() == Some(Ordering::Greater),
        BinOp::Ge => matches!(order(), Some(Ordering::Greater | Ordering::Equal)),
        BinOp::And | BinOp::Or => unreachable!("short-circuit operators are handled apart"),
    }
}

/// Arity was checked by the parser, so `args` has exactly the declared length.
fn call(func: Func, args: &[Value], ctx: &dyn Context) -> Value {
    let text = |i: usize| args[i].to_display_string();
    let result = match func {
        Func::Success => ctx.status().success,
        Func::Failure => ctx.status().failure,
        Func::Cancelled => ctx.status().cancelled,
        Func::Always => true,
        Func::Contains => text(0).contains(&text(1)),
        Func::StartsWith => text(0).starts_with(&text(1)),
        Func::EndsWith => text(0).ends_with(&text(1)),
    };
    Value::Bool(result)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::parse;
    use std::cell::RefCell;
    use std::collections::HashMap;

    /// A map-backed context that also records every lookup, to prove short-circuiting.
    #[derive(Default)]
    struct MapCtx {
        values: HashMap<String, Value>,
        status: Status,
        seen: RefCell<Vec<String>>,
    }

    impl MapCtx {
        fn with(pairs: &[(&str, Value)]) -> Self {
            let values = pairs
                .iter()
                .map(|(k, v)| ((*k).to_owned(), v.clone()))
                .collect();
            MapCtx {
                values,
                status: Status {
                    success: true,
                    ..Status::default()
                },
                ..Default::default()
            }
        }
    }

    impl Context for MapCtx {
        fn lookup(&self, path: &[String]) -> Option<Value> {
            let key = path.join(".");
            self.seen.borrow_mut().push(key.clone());
            self.values.get(&key).cloned()
        }
        fn status(&self) -> Status {
            self.status
        }
    }

    fn run(src: &str, ctx: &MapCtx) -> Value {
        eval(&parse(src).unwrap(), ctx).unwrap()
    }

    fn check(src: &str) -> Value {
        run(src, &MapCtx::with(&[]))
    }

    #[test]
    fn logical_operators_return_the_deciding_operand() {
        let ctx = MapCtx::with(&[("inputs.target", "prod".into())]);
        assert_eq!(run("inputs.target || 'staging'", &ctx), Value::from("prod"));
        assert_eq!(
            run("inputs.missing || 'staging'", &ctx),
            Value::from("staging")
        );
        assert_eq!(run("inputs.target && 'yes'", &ctx), Value::from("yes"));
        assert_eq!(run("inputs.missing && 'yes'", &ctx), Value::Null);
        assert_eq!(check("0 || ''"), Value::from(""));
        assert_eq!(check("'' && 0"), Value::from(""));
        assert_eq!(check("1 && 2 && 3"), Value::Number(3.0));
    }

    #[test]
    fn short_circuit_skips_the_other_side() {
        let ctx = MapCtx::with(&[("a", true.into())]);
        run("a || b", &ctx);
        run("!a && c", &ctx);
        assert_eq!(*ctx.seen.borrow(), vec!["a", "a"]);
    }

    #[test]
    fn precedence_in_values() {
        assert_eq!(check("true || false && false"), Value::Bool(true));
        assert_eq!(check("(true || false) && false"), Value::Bool(false));
        assert_eq!(check("!false == true"), Value::Bool(true));
        assert_eq!(check("1 < 2 == 2 < 3"), Value::Bool(true));
    }

    #[test]
    fn equality_of_same_types() {
        assert_eq!(check("'tag' == 'tag'"), Value::Bool(true));
        assert_eq!(
            check("'Tag' == 'tag'"),
            Value::Bool(false),
            "case-sensitive"
        );
        assert_eq!(check("1.0 == 1"), Value::Bool(true));
        assert_eq!(check("null == null"), Value::Bool(true));
        assert_eq!(check("true != false"), Value::Bool(true));
        assert_eq!(check("unknown == null"), Value::Bool(true));
    }

    #[test]
    fn equality_across_types_coerces_to_numbers() {
        assert_eq!(check("'42' == 42"), Value::Bool(true));
        assert_eq!(check("' 42 ' == 42"), Value::Bool(true));
        assert_eq!(
            check("'abc' == 0"),
            Value::Bool(false),
            "NaN equals nothing"
        );
        assert_eq!(check("'abc' != 0"), Value::Bool(true));
        assert_eq!(check("true == 1"), Value::Bool(true));
        assert_eq!(check("true == '1'"), Value::Bool(true));
        assert_eq!(check("false == 0"), Value::Bool(true));
        assert_eq!(check("true == 'true'"), Value::Bool(false));
        assert_eq!(check("null == 0"), Value::Bool(true));
        assert_eq!(check("null == ''"), Value::Bool(true));
        assert_eq!(check("null == 'x'"), Value::Bool(false));
    }

    #[test]
    fn ordering() {
        assert_eq!(check("1 < 2"), Value::Bool(true));
        assert_eq!(check("2 <= 2"), Value::Bool(true));
        assert_eq!(check("3 > 2.5"), Value::Bool(true));
        assert_eq!(check("-1 >= 0"), Value::Bool(false));
        assert_eq!(check("'a' < 'b'"), Value::Bool(true));
        assert_eq!(check("'B' < 'a'"), Value::Bool(true), "byte order");
        assert_eq!(check("'10' > 9"), Value::Bool(true));
        assert_eq!(check("true > false"), Value::Bool(true));
        assert_eq!(check("null <= null"), Value::Bool(true));
        for op in ["<", "<=", ">", ">="] {
            assert_eq!(check(&format!("'abc' {op} 1")), Value::Bool(false), "{op}");
        }
    }

    #[test]
    fn not_uses_truthiness() {
        assert_eq!(check("!''"), Value::Bool(true));
        assert_eq!(check("!'x'"), Value::Bool(false));
        assert_eq!(check("!0"), Value::Bool(true));
        assert_eq!(check("!!null"), Value::Bool(false));
    }

    #[test]
    fn status_functions() {
        let mut ctx = MapCtx::with(&[]);
        assert_eq!(run("success()", &ctx), Value::Bool(true));
        assert_eq!(run("failure() || cancelled()", &ctx), Value::Bool(false));
        ctx.status = Status {
            success: false,
            failure: true,
            cancelled: false,
        };
        assert_eq!(run("failure()", &ctx), Value::Bool(true));
        assert_eq!(run("success()", &ctx), Value::Bool(false));
        ctx.status = Status {
            success: false,
            failure: false,
            cancelled: true,
        };
        assert_eq!(run("cancelled()", &ctx), Value::Bool(true));
        assert_eq!(run("always()", &ctx), Value::Bool(true));
    }

    #[test]
    fn string_functions() {
        let ctx = MapCtx::with(&[("branch", "release/1.2".into()), ("n", Value::Number(12.0))]);
        assert_eq!(
            run("startsWith(branch, 'release/')", &ctx),
            Value::Bool(true)
        );
        assert_eq!(run("endsWith(branch, '.2')", &ctx), Value::Bool(true));
        assert_eq!(run("contains(branch, 'se/1')", &ctx), Value::Bool(true));
        assert_eq!(
            run("contains(branch, 'SE')", &ctx),
            Value::Bool(false),
            "case-sensitive"
        );
        assert_eq!(
            run("contains(n, 2)", &ctx),
            Value::Bool(true),
            "numbers as text"
        );
        assert_eq!(run("startsWith(missing, '')", &ctx), Value::Bool(true));
        assert_eq!(run("contains(true, 'ru')", &ctx), Value::Bool(true));
    }

    #[test]
    fn deepest_and_longest_expressions_evaluate() {
        let nested = format!(
            "{}1{}",
            "(".repeat(crate::MAX_DEPTH),
            ")".repeat(crate::MAX_DEPTH)
        );
        assert_eq!(check(&nested), Value::Number(1.0));
        let chain = vec!["0"; crate::MAX_EXPR_LEN.div_ceil(3)].join("||");
        assert_eq!(check(&chain), Value::Number(0.0));
        let chain = vec!["1"; crate::MAX_EXPR_LEN / 2].join("<");
        assert!(matches!(check(&chain), Value::Bool(_)));
    }
}
