//! The parsed form of an expression and the read-only questions the validator asks of
//! it (which properties, which functions), so it never needs to walk the tree itself.

use std::ops::Range;

use crate::value::Value;

/// A parsed expression, ready to inspect or to [`crate::eval`].
///
/// Spans inside are byte offsets into the text that was parsed: the expression source for
/// [`crate::parse`], the whole template text for expressions from [`crate::parse_template`].
#[derive(Debug, Clone, PartialEq)]
pub struct Expr {
    pub(crate) root: Node,
}

/// A property path used by an expression, e.g. `needs.build.outputs.url`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Reference {
    /// The segments: `inputs['my-input']` gives `["inputs", "my-input"]`.
    pub path: Vec<String>,
    /// Byte offsets of the whole path, from the root name to the last segment or `]`.
    pub span: Range<usize>,
}

#[derive(Debug, Clone, PartialEq)]
pub(crate) struct Node {
    pub(crate) kind: Kind,
    pub(crate) span: Range<usize>,
}

#[derive(Debug, Clone, PartialEq)]
pub(crate) enum Kind {
    Literal(Value),
    Path(Vec<String>),
    Not(Box<Node>),
    Binary(BinOp, Box<Node>, Box<Node>),
    Call(Func, Vec<Node>),
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum BinOp {
    Or,
    And,
    Eq,
    Ne,
    Lt,
    Le,
    Gt,
    Ge,
}

/// The built-in functions. The set is closed, so arity is checked while parsing.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Func {
    Success,
    Failure,
    Always,
    Cancelled,
    Contains,
    StartsWith,
    EndsWith,
}

impl Func {
    /// Every function with its parameter names, in the order hints list them.
    pub(crate) const ALL: [(Func, &'static str, &'static [&'static str]); 7] = [
        (Func::Success, "success", &[]),
        (Func::Failure, "failure", &[]),
        (Func::Always, "always", &[]),
        (Func::Cancelled, "cancelled", &[]),
        (Func::Contains, "contains", &["haystack", "needle"]),
        (Func::StartsWith, "startsWith", &["s", "prefix"]),
        (Func::EndsWith, "endsWith", &["s", "suffix"]),
    ];

    pub(crate) fn by_name(name: &str) -> Option<Func> {
        Func::ALL
            .iter()
            .find(|(_, n, _)| *n == name)
            .map(|(f, _, _)| *f)
    }

    fn entry(self) -> &'static (Func, &'static str, &'static [&'static str]) {
        Func::ALL
            .iter()
            .find(|(f, _, _)| *f == self)
            .expect("every Func is listed in ALL")
    }

    pub(crate) fn name(self) -> &'static str {
        self.entry().1
    }

    pub(crate) fn params(self) -> &'static [&'static str] {
        self.entry().2
    }

    /// How the function is called, e.g. `contains(haystack, needle)`.
    pub(crate) fn signature(self) -> String {
        format!("{}({})", self.name(), self.params().join(", "))
    }
}

impl Node {
    /// Visits the tree in source order (an operator's left side before its right side).
    fn walk(&self, visit: &mut dyn FnMut(&Node)) {
        visit(self);
        match &self.kind {
            Kind::Literal(_) | Kind::Path(_) => {}
            Kind::Not(inner) => inner.walk(visit),
            Kind::Binary(_, left, right) => {
                left.walk(visit);
                right.walk(visit);
            }
            Kind::Call(_, args) => args.iter().for_each(|arg| arg.walk(visit)),
        }
    }
}

impl Expr {
    /// Every property path the expression reads, in source order, duplicates included.
    pub fn references(&self) -> Vec<Reference> {
        let mut out = Vec::new();
        self.root.walk(&mut |node| {
            if let Kind::Path(path) = &node.kind {
                out.push(Reference {
                    path: path.clone(),
                    span: node.span.clone(),
                });
            }
        });
        out
    }

    /// Every function the expression calls, in source order, with the span of the whole
    /// call (name through closing parenthesis).
    pub fn functions(&self) -> Vec<(String, Range<usize>)> {
        let mut out = Vec::new();
        self.root.walk(&mut |node| {
            if let Kind::Call(func, _) = &node.kind {
                out.push((func.name().to_owned(), node.span.clone()));
            }
        });
        out
    }

    /// The byte span of the whole expression, without surrounding whitespace.
    pub fn span(&self) -> Range<usize> {
        self.root.span.clone()
    }

    /// The expression written out again in the syntax GitHub Actions shares with it
    /// (operators, functions, `'…'` strings), each property path replaced by what `path`
    /// gives for it (already an expression); `None` when `path` has no replacement for
    /// one. Every operation is parenthesised, so precedence never changes the meaning.
    pub fn rewrite(&self, path: &dyn Fn(&[String]) -> Option<String>) -> Option<String> {
        self.root.rewrite(path)
    }
}

impl Node {
    fn rewrite(&self, path: &dyn Fn(&[String]) -> Option<String>) -> Option<String> {
        Some(match &self.kind {
            Kind::Literal(Value::Null) => "null".to_string(),
            Kind::Literal(Value::Bool(b)) => b.to_string(),
            Kind::Literal(Value::Number(n)) => n.to_string(),
            Kind::Literal(Value::String(s)) => format!("'{}'", s.replace('\'', "''")),
            Kind::Path(p) => path(p)?,
            Kind::Not(inner) => format!("!({})", inner.rewrite(path)?),
            Kind::Binary(op, left, right) => {
                let op = match op {
                    BinOp::Or => "||",
                    BinOp::And => "&&",
                    BinOp::Eq => "==",
                    BinOp::Ne => "!=",
                    BinOp::Lt => "<",
                    BinOp::Le => "<=",
                    BinOp::Gt => ">",
                    BinOp::Ge => ">=",
                };
                format!("({} {op} {})", left.rewrite(path)?, right.rewrite(path)?)
            }
            Kind::Call(func, args) => {
                let args: Option<Vec<String>> = args.iter().map(|a| a.rewrite(path)).collect();
                format!("{}({})", func.name(), args?.join(", "))
            }
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::parse;

    #[test]
    fn rewrite_keeps_meaning_and_maps_paths() {
        let e = parse("!cancelled() && (event == 'tag' || branch == 'it''s') && x").unwrap();
        let map = |p: &[String]| match p[0].as_str() {
            "event" => Some("github.event_name".to_string()),
            "branch" => Some("github.ref_name".to_string()),
            _ => None,
        };
        assert_eq!(e.rewrite(&map), None, "x has no replacement");
        let e = parse("!cancelled() && (event == 'tag' || branch == 'it''s')").unwrap();
        assert_eq!(
            e.rewrite(&map).unwrap(),
            "(!(cancelled()) && ((github.event_name == 'tag') || (github.ref_name == 'it''s')))"
        );
    }

    #[test]
    fn references_in_source_order_with_spans() {
        let src = "needs.build.outputs.url != '' && inputs['my-input'] == matrix.os";
        let refs = parse(src).unwrap().references();
        let got: Vec<_> = refs
            .iter()
            .map(|r| (r.path.join("/"), &src[r.span.clone()]))
            .collect();
        assert_eq!(
            got,
            vec![
                (
                    "needs/build/outputs/url".to_owned(),
                    "needs.build.outputs.url"
                ),
                ("inputs/my-input".to_owned(), "inputs['my-input']"),
                ("matrix/os".to_owned(), "matrix.os"),
            ]
        );
    }

    #[test]
    fn references_inside_calls_and_negations() {
        let refs = parse("!contains(branch, tag) || x").unwrap().references();
        let paths: Vec<_> = refs.into_iter().map(|r| (r.path, r.span)).collect();
        assert_eq!(
            paths,
            vec![
                (vec!["branch".to_owned()], 10..16),
                (vec!["tag".to_owned()], 18..21),
                (vec!["x".to_owned()], 26..27),
            ]
        );
    }

    #[test]
    fn functions_with_call_spans() {
        let src = "success() && startsWith(tag, 'v')";
        let funcs = parse(src).unwrap().functions();
        assert_eq!(
            funcs,
            vec![
                ("success".to_owned(), 0..9),
                ("startsWith".to_owned(), 13..33)
            ]
        );
        assert_eq!(&src[13..33], "startsWith(tag, 'v')");
    }

    #[test]
    fn literals_reference_nothing() {
        let expr = parse(" 'a' == true ").unwrap();
        assert!(expr.references().is_empty());
        assert!(expr.functions().is_empty());
        assert_eq!(expr.span(), 1..12);
    }

    #[test]
    fn signatures() {
        assert_eq!(Func::Contains.signature(), "contains(haystack, needle)");
        assert_eq!(Func::Always.signature(), "always()");
        assert_eq!(Func::by_name("endsWith"), Some(Func::EndsWith));
        assert_eq!(Func::by_name("EndsWith"), None);
    }
}
