//! The public API as the validator and the engine use it, against a context backed by a
//! JSON document (the shape the engine's run state serialises to).

use serde_json::json;
use wharf_expr::{Context, Reference, Segment, Status, Value, eval, parse, parse_template};

struct JsonCtx {
    doc: serde_json::Value,
    status: Status,
}

impl Context for JsonCtx {
    fn lookup(&self, path: &[String]) -> Option<Value> {
        let mut node = &self.doc;
        for key in path {
            node = node.get(key)?;
        }
        match node {
            serde_json::Value::Null => Some(Value::Null),
            serde_json::Value::Bool(b) => Some(Value::Bool(*b)),
            serde_json::Value::Number(n) => n.as_f64().map(Value::Number),
            serde_json::Value::String(s) => Some(Value::from(s.as_str())),
            serde_json::Value::Array(_) | serde_json::Value::Object(_) => None,
        }
    }

    fn status(&self) -> Status {
        self.status
    }
}

fn ctx() -> JsonCtx {
    JsonCtx {
        doc: json!({
            "event": "tag",
            "tag": "v1.4.0",
            "inputs": { "my-input": "production" },
            "matrix": { "os": "debian", "shard": 2 },
            "needs": { "build": { "outputs": { "url": "https://example.invalid/b/7" } } },
        }),
        status: Status {
            success: true,
            failure: false,
            cancelled: false,
        },
    }
}

#[test]
fn validator_view_of_a_condition() {
    let src = "event == 'tag' && startsWith(tag, 'v') && inputs['my-input'] != '' && success()";
    let expr = parse(src).unwrap();
    let refs: Vec<Vec<String>> = expr.references().into_iter().map(|r| r.path).collect();
    assert_eq!(
        refs,
        vec![vec!["event"], vec!["tag"], vec!["inputs", "my-input"]]
    );
    let funcs: Vec<String> = expr.functions().into_iter().map(|(name, _)| name).collect();
    assert_eq!(funcs, ["startsWith", "success"]);
    assert_eq!(eval(&expr, &ctx()).unwrap(), Value::Bool(true));
}

#[test]
fn engine_view_of_a_condition() {
    let mut ctx = ctx();
    let expr = parse("failure() || cancelled()").unwrap();
    assert!(!eval(&expr, &ctx).unwrap().is_truthy());
    ctx.status = Status {
        success: false,
        failure: true,
        cancelled: false,
    };
    assert!(eval(&expr, &ctx).unwrap().is_truthy());
}

#[test]
fn plan_time_matrix_substitution_then_run_time_render() {
    let text = "./test.sh --os ${{ matrix.os }} --shard ${{ matrix.shard }} --from ${{ needs.build.outputs.url }}";
    let template = parse_template(text).unwrap();
    let planned = template
        .substitute(&ctx(), &|r: &Reference| {
            r.path.first().is_some_and(|root| root == "matrix")
        })
        .unwrap();
    assert_eq!(
        planned,
        "./test.sh --os debian --shard 2 --from ${{ needs.build.outputs.url }}"
    );
    let rendered = parse_template(&planned).unwrap().render(&ctx()).unwrap();
    assert_eq!(
        rendered,
        "./test.sh --os debian --shard 2 --from https://example.invalid/b/7"
    );
    assert!(matches!(template.segments()[0], Segment::Literal(ref s) if s == "./test.sh --os "));
}

#[test]
fn errors_carry_spans_and_hints() {
    let text = "tag: ${{ version }}-${{ sucess() }}";
    let error = parse_template(text).unwrap_err();
    assert_eq!(&text[error.span.clone()], "sucess");
    assert_eq!(
        error.to_string(),
        "unknown function 'sucess' (hint: did you mean 'success'?)"
    );
    let boxed: Box<dyn std::error::Error> = Box::new(error);
    assert!(boxed.to_string().starts_with("unknown function"));
}
