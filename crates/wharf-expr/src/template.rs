//! Strings with `${{ … }}` holes, as used in `run:`, `env:`, image tags and the like.
//! Parsing happens once, at validation, with every span relative to the whole string;
//! rendering and the plan-time partial substitution ([`Template::substitute`]) reuse it.
//!
//! There is no escape syntax: every `${{` opens an expression, including the one in
//! `$${{`, whose first `$` stays literal text. To write a literal `${{`, use an
//! expression that produces it: `${{ '${{' }}`. Inside an expression, `}}` closes it
//! unless it is inside a quoted string, so `${{ '}}' }}` renders `}}`.

use std::ops::Range;

use crate::MAX_TEMPLATE_LEN;
use crate::ast::{Expr, Reference};
use crate::error::{Error, Result};
use crate::eval::{Context, eval};
use crate::parser::parse_at;

/// A parsed template: literal text and expressions, in order.
#[derive(Debug, Clone, PartialEq)]
pub struct Template {
    text: String,
    segments: Vec<Segment>,
}

/// One piece of a [`Template`].
#[derive(Debug, Clone, PartialEq)]
pub enum Segment {
    /// Text written out unchanged; never empty.
    Literal(String),
    /// A `${{ … }}` hole.
    Expr {
        /// The expression inside; its spans (and its references') are relative to the
        /// template text, not to the expression.
        expr: Expr,
        /// Byte offsets of the whole `${{ … }}` in the template text.
        span: Range<usize>,
    },
}

/// Parses `text` into a [`Template`]. Error spans are byte offsets into `text`.
pub fn parse_template(text: &str) -> Result<Template> {
    if text.len() > MAX_TEMPLATE_LEN {
        return Err(Error::new(
            0..0,
            format!(
                "text is too long ({} bytes; the limit is {MAX_TEMPLATE_LEN})",
                text.len()
            ),
        )
        .with_hint("move large content into a file in the repository"));
    }
    let mut segments = Vec::new();
    let mut pos = 0;
    while let Some(found) = text[pos..].find("${{") {
        let open = pos + found;
        if open > pos {
            segments.push(Segment::Literal(text[pos..open].to_owned()));
        }
        let start = open + 3;
        let close = find_close(text, start).map_err(|in_string| {
            let hint = if in_string {
                "a string inside it is not closed, so its '}}' is part of the string"
            } else {
                "close it with '}}'"
            };
            Error::new(open..start, "unterminated '${{'").with_hint(hint)
        })?;
        let span = open..close + 2;
        let inner = &text[start..close];
        if inner.trim().is_empty() {
            return Err(Error::new(span, "empty '${{ }}'")
                .with_hint("put an expression inside, e.g. ${{ env.NAME }}"));
        }
        segments.push(Segment::Expr {
            expr: parse_at(inner, start)?,
            span,
        });
        pos = close + 2;
    }
    if pos < text.len() {
        segments.push(Segment::Literal(text[pos..].to_owned()));
    }
    Ok(Template {
        text: text.to_owned(),
        segments,
    })
}

/// Finds the `}}` that ends the expression starting at `from`, skipping quoted strings.
/// On failure, tells whether the text ended inside a string.
fn find_close(text: &str, from: usize) -> std::result::Result<usize, bool> {
    let bytes = text.as_bytes();
    let mut in_string = false;
    for i in from..bytes.len() {
        match bytes[i] {
            // `''` inside a string toggles twice, which is exactly right.
            b'\'' => in_string = !in_string,
            b'}' if !in_string && bytes.get(i + 1) == Some(&b'}') => return Ok(i),
            _ => {}
        }
    }
    Err(in_string)
}

impl Template {
    /// The pieces, in order.
    pub fn segments(&self) -> &[Segment] {
        &self.segments
    }

    /// The text the template was parsed from.
    pub fn source(&self) -> &str {
        &self.text
    }

    /// Whether the text has no `${{ … }}`, so it renders as itself.
    pub fn is_literal(&self) -> bool {
        !self
            .segments
            .iter()
            .any(|s| matches!(s, Segment::Expr { .. }))
    }

    /// Every property path used, in source order, with spans relative to the template text.
    pub fn references(&self) -> Vec<Reference> {
        self.exprs()
            .flat_map(|(expr, _)| expr.references())
            .collect()
    }

    /// Evaluates every expression and joins the pieces; `null` renders as nothing.
    pub fn render(&self, ctx: &dyn Context) -> Result<String> {
        self.substitute(ctx, &|_| true)
    }

    /// Renders the expressions whose every reference satisfies `only` and writes every
    /// other `${{ … }}` back verbatim, e.g. to fill in `matrix.*` at plan time and leave
    /// the rest for run time. Expressions without references are always rendered.
    pub fn substitute(
        &self,
        ctx: &dyn Context,
        only: &dyn Fn(&Reference) -> bool,
    ) -> Result<String> {
        let mut out = String::with_capacity(self.text.len());
        for segment in &self.segments {
            match segment {
                Segment::Literal(text) => out.push_str(text),
                Segment::Expr { expr, span } => {
                    if expr.references().iter().all(only) {
                        out.push_str(&eval(expr, ctx)?.to_display_string());
                    } else {
                        out.push_str(&self.text[span.clone()]);
                    }
                }
            }
        }
        Ok(out)
    }

    fn exprs(&self) -> impl Iterator<Item = (&Expr, &Range<usize>)> {
        self.segments.iter().filter_map(|s| match s {
            Segment::Expr { expr, span } => Some((expr, span)),
            Segment::Literal(_) => None,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{Status, Value};

    struct Ctx;

    impl Context for Ctx {
        fn lookup(&self, path: &[String]) -> Option<Value> {
            let value = match path.join(".").as_str() {
                "env.REGISTRY" => Value::from("registry.local:5000"),
                "version" => Value::from("1.2.3"),
                "matrix.os" => Value::from("linux"),
                "matrix.py" => Value::Number(3.0),
                "needs.build.outputs.url" => Value::from("https://x"),
                _ => return None,
            };
            Some(value)
        }
        fn status(&self) -> Status {
            Status {
                success: true,
                failure: false,
                cancelled: false,
            }
        }
    }

    fn render(text: &str) -> String {
        parse_template(text).unwrap().render(&Ctx).unwrap()
    }

    fn err(text: &str) -> Error {
        parse_template(text).unwrap_err()
    }

    #[test]
    fn literal_text() {
        let t = parse_template("plain $ {{ text }} $").unwrap();
        assert!(t.is_literal());
        assert_eq!(
            t.segments(),
            [Segment::Literal("plain $ {{ text }} $".into())]
        );
        assert_eq!(t.render(&Ctx).unwrap(), "plain $ {{ text }} $");
        let empty = parse_template("").unwrap();
        assert!(empty.is_literal() && empty.segments().is_empty());
        assert_eq!(empty.render(&Ctx).unwrap(), "");
    }

    #[test]
    fn multiple_expressions() {
        let text = "${{ env.REGISTRY }}/demo:${{version}}";
        let t = parse_template(text).unwrap();
        assert!(!t.is_literal());
        assert_eq!(t.segments().len(), 3);
        let spans: Vec<_> = t.exprs().map(|(_, span)| span.clone()).collect();
        assert_eq!(spans, vec![0..19, 25..37]);
        assert_eq!(&text[25..37], "${{version}}");
        assert_eq!(t.render(&Ctx).unwrap(), "registry.local:5000/demo:1.2.3");
        assert_eq!(t.source(), text);
    }

    #[test]
    fn rendering_values() {
        assert_eq!(render("py${{ matrix.py }}"), "py3");
        assert_eq!(render("[${{ nothing }}]"), "[]");
        assert_eq!(render("${{ 1.5 }} ${{ true }} ${{ null }}!"), "1.5 true !");
        assert_eq!(render("${{ success() && 'ok' }}"), "ok");
        assert_eq!(render("${{ '}}' }}x"), "}}x");
        assert_eq!(render("${{ 'it''s }}' }}"), "it's }}");
        assert_eq!(render("${{ a }}}"), "}");
        assert_eq!(render("é${{ version }}ü"), "é1.2.3ü");
    }

    #[test]
    fn dollar_before_an_expression_stays_literal() {
        assert_eq!(render("$${{ version }}"), "$1.2.3");
        assert_eq!(render("${{ '${{' }} x }}"), "${{ x }}");
    }

    #[test]
    fn references_are_relative_to_the_template() {
        let text =
            "deploy ${{ needs.build.outputs.url }} on ${{ matrix.os == 'linux' && inputs['x'] }}";
        let refs = parse_template(text).unwrap().references();
        let got: Vec<_> = refs
            .iter()
            .map(|r| (r.path.join("."), &text[r.span.clone()]))
            .collect();
        assert_eq!(
            got,
            vec![
                (
                    "needs.build.outputs.url".to_owned(),
                    "needs.build.outputs.url"
                ),
                ("matrix.os".to_owned(), "matrix.os"),
                ("inputs.x".to_owned(), "inputs['x']"),
            ]
        );
        assert_eq!(refs[0].span, 11..34);
    }

    #[test]
    fn substitute_only_matching_expressions() {
        let text = "pytest --os ${{ matrix.os }} --url ${{ needs.build.outputs.url }} \
                    ${{ matrix.os == 'linux' && env.REGISTRY }} -n ${{ 4 }}";
        let t = parse_template(text).unwrap();
        let matrix_only = |r: &Reference| r.path[0] == "matrix";
        assert_eq!(
            t.substitute(&Ctx, &matrix_only).unwrap(),
            "pytest --os linux --url ${{ needs.build.outputs.url }} \
             ${{ matrix.os == 'linux' && env.REGISTRY }} -n 4"
        );
        assert_eq!(
            t.substitute(&Ctx, &|_| false).unwrap(),
            text.replace("${{ 4 }}", "4")
        );
    }

    #[test]
    fn unterminated_expression_points_at_its_opening() {
        let e = err("a ${{ b }} c ${{ d ");
        assert_eq!(
            (e.message.as_str(), e.span.clone()),
            ("unterminated '${{'", 13..16)
        );
        assert_eq!(e.hint.as_deref(), Some("close it with '}}'"));
        let e = err("${{ 'x }}");
        assert_eq!(e.span, 0..3);
        assert!(e.hint.unwrap().contains("string inside it is not closed"));
        assert_eq!(err("${{ a }").span, 0..3);
    }

    #[test]
    fn empty_expression() {
        let e = err("x ${{   }} y");
        assert_eq!((e.message.as_str(), e.span), ("empty '${{ }}'", 2..10));
        assert_eq!(err("${{}}").span, 0..5);
    }

    #[test]
    fn expression_errors_are_relative_to_the_template() {
        let e = err("tag: ${{ version && }}");
        assert_eq!(
            (e.message.as_str(), e.span),
            ("expected an operand after '&&'", 19..19)
        );
        let e = err("ok ${{ a }} ${{ sucess() }}");
        assert_eq!(
            (e.message.as_str(), e.span.clone()),
            ("unknown function 'sucess'", 16..22)
        );
        assert_eq!(e.hint.as_deref(), Some("did you mean 'success'?"));
        let e = err("${{ a }} ${{ 'open }}");
        assert_eq!(
            e.span,
            9..12,
            "the string swallows '}}', so the second '${{' is open"
        );
        let e = err("${{ a } ${{ b }}");
        assert_eq!(
            (e.message.as_str(), e.span),
            ("unexpected character '}'", 6..7)
        );
    }

    #[test]
    fn size_limits() {
        let big = "x".repeat(MAX_TEMPLATE_LEN + 1);
        assert!(err(&big).message.starts_with("text is too long"));
        let fits = "x".repeat(MAX_TEMPLATE_LEN);
        assert!(parse_template(&fits).unwrap().is_literal());
        let long_expr = format!("ab ${{{{ '{}' }}}}", "y".repeat(crate::MAX_EXPR_LEN));
        let e = err(&long_expr);
        assert!(e.message.starts_with("expression is too long"));
        assert_eq!(e.span.start, 6 + crate::MAX_EXPR_LEN);
        let deep = format!("${{{{ {}a }}}}", "(".repeat(1000));
        assert_eq!(err(&deep).message, "expression is nested too deeply");
    }
}
