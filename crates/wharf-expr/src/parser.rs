//! A recursive-descent parser from tokens to [`Expr`]. Everything that can be known
//! without a context is checked here (function names, arity, nesting depth), so a pipeline
//! file is rejected by `wharf validate` rather than half-way through a run.
//!
//! Precedence, loosest first: `||`, `&&`, `==` `!=`, `<` `<=` `>` `>=`, `!`, then
//! property access and calls. Binary operators are left-associative and parsed by loops,
//! so only parentheses, `!` and calls recurse; those count towards [`MAX_DEPTH`].

use crate::ast::{BinOp, Expr, Func, Kind, Node};
use crate::error::{Error, Result};
use crate::lexer::{Tok, Token, tokenize};
use crate::value::Value;
use crate::{MAX_DEPTH, MAX_EXPR_LEN};

/// Parses a bare expression such as `event == 'tag' && success()`, the form `if:` uses.
/// Error spans are byte offsets into `src`.
pub fn parse(src: &str) -> Result<Expr> {
    parse_at(src, 0)
}

/// Parses `src`, which sits at byte `base` of the text errors are reported against.
pub(crate) fn parse_at(src: &str, base: usize) -> Result<Expr> {
    if src.len() > MAX_EXPR_LEN {
        let mut cut = MAX_EXPR_LEN;
        while !src.is_char_boundary(cut) {
            cut -= 1;
        }
        return Err(Error::new(
            base + cut..base + src.len(),
            format!(
                "expression is too long ({} bytes; the limit is {MAX_EXPR_LEN})",
                src.len()
            ),
        )
        .with_hint("split it up, or compute the value in a step and pass it as an output"));
    }
    let tokens = tokenize(src, base)?;
    let mut parser = Parser {
        tokens,
        pos: 0,
        depth: 0,
    };
    if parser.peek().tok == Tok::Eof {
        return Err(Error::new(parser.peek().span.clone(), "empty expression")
            .with_hint("write a condition such as event == 'tag'"));
    }
    let root = parser.or(None)?;
    let next = parser.peek();
    if next.tok != Tok::Eof {
        return Err(Error::new(
            next.span.clone(),
            format!("unexpected {} after the expression", next.tok.describe()),
        )
        .with_hint("combine conditions with '&&' or '||'"));
    }
    Ok(Expr { root })
}

struct Parser {
    /// Always ends with `Eof`, which [`Parser::bump`] never moves past.
    tokens: Vec<Token>,
    pos: usize,
    depth: usize,
}

impl Parser {
    fn peek(&self) -> &Token {
        &self.tokens[self.pos]
    }

    fn bump(&mut self) -> Token {
        let token = self.tokens[self.pos].clone();
        if token.tok != Tok::Eof {
            self.pos += 1;
        }
        token
    }

    fn enter(&mut self, at: &Token) -> Result<()> {
        self.depth += 1;
        if self.depth > MAX_DEPTH {
            return Err(
                Error::new(at.span.clone(), "expression is nested too deeply").with_hint(format!(
                    "at most {MAX_DEPTH} levels of parentheses, '!' and function calls are allowed"
                )),
            );
        }
        Ok(())
    }

    fn leave(&mut self) {
        self.depth -= 1;
    }

    /// The error for a missing operand; `after` is the token that needed one.
    fn expected_operand(&self, after: Option<&Tok>) -> Error {
        let next = self.peek();
        let mut message = match after {
            Some(tok) => format!("expected an operand after '{}'", tok.symbol()),
            None => "expected an expression".to_owned(),
        };
        if next.tok != Tok::Eof {
            message.push_str(&format!(", found {}", next.tok.describe()));
        }
        Error::new(next.span.clone(), message)
    }

    /// Parses one level of left-associative binary operators.
    fn binary(
        &mut self,
        after: Option<&Tok>,
        op_of: fn(&Tok) -> Option<BinOp>,
        operand: fn(&mut Self, Option<&Tok>) -> Result<Node>,
    ) -> Result<Node> {
        let mut left = operand(self, after)?;
        while let Some(op) = op_of(&self.peek().tok) {
            let op_tok = self.bump().tok;
            let right = operand(self, Some(&op_tok))?;
            let span = left.span.start..right.span.end;
            left = Node {
                kind: Kind::Binary(op, Box::new(left), Box::new(right)),
                span,
            };
        }
        Ok(left)
    }

    fn or(&mut self, after: Option<&Tok>) -> Result<Node> {
        let op = |t: &Tok| (*t == Tok::Or).then_some(BinOp::Or);
        self.binary(after, op, Self::and)
    }

    fn and(&mut self, after: Option<&Tok>) -> Result<Node> {
        let op = |t: &Tok| (*t == Tok::And).then_some(BinOp::And);
        self.binary(after, op, Self::equality)
    }

    fn equality(&mut self, after: Option<&Tok>) -> Result<Node> {
        let op = |t: &Tok| match t {
            Tok::Eq => Some(BinOp::Eq),
            Tok::Ne => Some(BinOp::Ne),
            _ => None,
        };
        self.binary(after, op, Self::comparison)
    }

    fn comparison(&mut self, after: Option<&Tok>) -> Result<Node> {
        let op = |t: &Tok| match t {
            Tok::Lt => Some(BinOp::Lt),
            Tok::Le => Some(BinOp::Le),
            Tok::Gt => Some(BinOp::Gt),
            Tok::Ge => Some(BinOp::Ge),
            _ => None,
        };
        self.binary(after, op, Self::unary)
    }

    fn unary(&mut self, after: Option<&Tok>) -> Result<Node> {
        if self.peek().tok != Tok::Not {
            return self.primary(after);
        }
        let bang = self.bump();
        self.enter(&bang)?;
        let inner = self.unary(Some(&Tok::Not))?;
        self.leave();
        let span = bang.span.start..inner.span.end;
        Ok(Node {
            kind: Kind::Not(Box::new(inner)),
            span,
        })
    }

    fn primary(&mut self, after: Option<&Tok>) -> Result<Node> {
        let token = self.peek().clone();
        let literal = |value| {
            Ok(Node {
                kind: Kind::Literal(value),
                span: token.span.clone(),
            })
        };
        match &token.tok {
            Tok::Num(n) => {
                self.bump();
                literal(Value::Number(*n))
            }
            Tok::Str(s) => {
                self.bump();
                literal(Value::String(s.clone()))
            }
            Tok::Ident(name) if self.tokens[self.pos + 1].tok == Tok::LParen => self.call(name),
            Tok::Ident(name) if matches!(name.as_str(), "true" | "false" | "null") => {
                self.bump();
                literal(match name.as_str() {
                    "true" => Value::Bool(true),
                    "false" => Value::Bool(false),
                    _ => Value::Null,
                })
            }
            Tok::Ident(_) => self.path(),
            Tok::LParen => {
                let open = self.bump();
                self.enter(&open)?;
                let inner = self.or(Some(&Tok::LParen))?;
                self.leave();
                let close = self.close(&open, Tok::RParen, "in parentheses")?;
                Ok(Node {
                    kind: inner.kind,
                    span: open.span.start..close.span.end,
                })
            }
            _ => Err(self.expected_operand(after)),
        }
    }

    /// Expects the token closing `open`. At the end of input the error points at `open`
    /// ("unclosed"); otherwise at the token found in its place.
    fn close(&mut self, open: &Token, want: Tok, what: &str) -> Result<Token> {
        let next = self.peek();
        if next.tok == want {
            return Ok(self.bump());
        }
        if next.tok == Tok::Eof {
            return Err(Error::new(
                open.span.clone(),
                format!("unclosed '{}'", open.tok.symbol()),
            )
            .with_hint(format!("add '{}'", want.symbol())));
        }
        Err(Error::new(
            next.span.clone(),
            format!(
                "expected '{}' {what}, found {}",
                want.symbol(),
                next.tok.describe()
            ),
        ))
    }

    /// `name(.name | ['key'])*`
    fn path(&mut self) -> Result<Node> {
        let root = self.bump();
        let Tok::Ident(name) = root.tok else {
            unreachable!("path() starts at an identifier")
        };
        let mut path = vec![name];
        let mut end = root.span.end;
        loop {
            match self.peek().tok {
                Tok::Dot => {
                    let dot = self.bump();
                    let next = self.bump();
                    let Tok::Ident(name) = next.tok else {
                        let span = if next.tok == Tok::Eof {
                            dot.span
                        } else {
                            next.span
                        };
                        return Err(Error::new(span, "expected a property name after '.'"));
                    };
                    path.push(name);
                    end = next.span.end;
                }
                Tok::LBracket => {
                    let open = self.bump();
                    let key = self.bump();
                    let Tok::Str(name) = key.tok else {
                        let span = if key.tok == Tok::Eof {
                            open.span
                        } else {
                            key.span
                        };
                        return Err(Error::new(span, "expected a quoted key inside '[ ]'")
                            .with_hint("write x['key']; computed keys are not supported"));
                    };
                    path.push(name);
                    end = self.close(&open, Tok::RBracket, "after the key")?.span.end;
                }
                _ => break,
            }
        }
        Ok(Node {
            kind: Kind::Path(path),
            span: root.span.start..end,
        })
    }

    /// `name(args…)`, with the name checked against the built-ins and the arity checked.
    fn call(&mut self, name: &str) -> Result<Node> {
        let name_tok = self.bump();
        let func = Func::by_name(name).ok_or_else(|| unknown_function(name, &name_tok))?;
        let open = self.bump();
        self.enter(&open)?;
        let mut args = Vec::new();
        if self.peek().tok != Tok::RParen {
            let mut after = Tok::LParen;
            loop {
                args.push(self.or(Some(&after))?);
                if self.peek().tok != Tok::Comma {
                    break;
                }
                after = self.bump().tok;
            }
        }
        self.leave();
        let what = format!("after the arguments of '{name}'");
        let close = self.close(&open, Tok::RParen, &what)?;
        let span = name_tok.span.start..close.span.end;
        let want = func.params().len();
        if args.len() != want {
            let takes = match want {
                0 => "no arguments".to_owned(),
                1 => "1 argument".to_owned(),
                n => format!("{n} arguments"),
            };
            let given = if args.len() == 1 { "was" } else { "were" };
            return Err(Error::new(
                span,
                format!("'{name}' takes {takes} but {} {given} given", args.len()),
            )
            .with_hint(format!("call it as {}", func.signature())));
        }
        Ok(Node {
            kind: Kind::Call(func, args),
            span,
        })
    }
}

fn unknown_function(name: &str, at: &Token) -> Error {
    let error = Error::new(at.span.clone(), format!("unknown function '{name}'"));
    let closest = Func::ALL
        .iter()
        .map(|(_, known, _)| (edit_distance(name, known), *known))
        .min_by_key(|(distance, _)| *distance);
    match closest {
        Some((distance, known)) if distance <= 2 && distance < name.chars().count() => {
            error.with_hint(format!("did you mean '{known}'?"))
        }
        _ => {
            let all: Vec<String> = Func::ALL.iter().map(|(f, _, _)| f.signature()).collect();
            error.with_hint(format!("the functions are {}", all.join(", ")))
        }
    }
}

/// Levenshtein distance over characters, with a single rolling row.
fn edit_distance(a: &str, b: &str) -> usize {
    let b: Vec<char> = b.chars().collect();
    let mut row: Vec<usize> = (0..=b.len()).collect();
    for (i, ca) in a.chars().enumerate() {
        let mut diagonal = row[0];
        row[0] = i + 1;
        for (j, cb) in b.iter().enumerate() {
            let substitute = diagonal + usize::from(ca != *cb);
            diagonal = row[j + 1];
            row[j + 1] = substitute.min(row[j] + 1).min(diagonal + 1);
        }
    }
    row[b.len()]
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Renders the tree with explicit parentheses so precedence is visible.
    fn show(node: &Node) -> String {
        match &node.kind {
            Kind::Literal(Value::String(s)) => format!("'{s}'"),
            Kind::Literal(v) => format!("{v:?}"),
            Kind::Path(p) => p.join("."),
            Kind::Not(inner) => format!("!{}", show(inner)),
            Kind::Binary(op, l, r) => format!("({} {op:?} {})", show(l), show(r)),
            Kind::Call(f, args) => {
                let args: Vec<_> = args.iter().map(show).collect();
                format!("{}({})", f.name(), args.join(", "))
            }
        }
    }

    fn tree(src: &str) -> String {
        show(&parse(src).unwrap().root)
    }

    fn err(src: &str) -> (String, std::ops::Range<usize>) {
        let e = parse(src).unwrap_err();
        (e.message, e.span)
    }

    #[test]
    fn precedence() {
        assert_eq!(tree("a || b && c"), "(a Or (b And c))");
        assert_eq!(tree("a && b || c"), "((a And b) Or c)");
        assert_eq!(tree("a == b && c != d"), "((a Eq b) And (c Ne d))");
        assert_eq!(tree("a < b == c >= d"), "((a Lt b) Eq (c Ge d))");
        assert_eq!(tree("!a == b"), "(!a Eq b)");
        assert_eq!(tree("!(a == b)"), "!(a Eq b)");
        assert_eq!(tree("(a || b) && c"), "((a Or b) And c)");
        assert_eq!(tree("a || b || c"), "((a Or b) Or c)");
        assert_eq!(tree("a <= b > c"), "((a Le b) Gt c)");
    }

    #[test]
    fn literals_paths_and_calls() {
        assert_eq!(tree("true"), "Bool(true)");
        assert_eq!(tree("null"), "Null");
        assert_eq!(tree("-1.5"), "Number(-1.5)");
        assert_eq!(tree("'it''s'"), "'it's'");
        assert_eq!(tree("inputs.null"), "inputs.null");
        assert_eq!(tree("inputs['my-input'].x"), "inputs.my-input.x");
        assert_eq!(tree("contains(a.b, 'x')"), "contains(a.b, 'x')");
        assert_eq!(tree("!!success()"), "!!success()");
    }

    #[test]
    fn spans_of_nodes() {
        let expr = parse("  (a) && !b ").unwrap();
        assert_eq!(expr.root.span, 2..11);
        let Kind::Binary(_, left, right) = &expr.root.kind else {
            panic!()
        };
        assert_eq!((left.span.clone(), right.span.clone()), (2..5, 9..11));
    }

    #[test]
    fn missing_operands() {
        assert_eq!(err("a &&"), ("expected an operand after '&&'".into(), 4..4));
        assert_eq!(
            err("a &&   "),
            ("expected an operand after '&&'".into(), 4..4)
        );
        assert_eq!(
            err("a || )"),
            ("expected an operand after '||', found ')'".into(), 5..6)
        );
        assert_eq!(
            err("a == "),
            ("expected an operand after '=='".into(), 4..4)
        );
        assert_eq!(err("!"), ("expected an operand after '!'".into(), 1..1));
        assert_eq!(
            err("a < ,"),
            ("expected an operand after '<', found ','".into(), 4..5)
        );
        assert_eq!(
            err(") a"),
            ("expected an expression, found ')'".into(), 0..1)
        );
        assert_eq!(
            err("&& a"),
            ("expected an expression, found '&&'".into(), 0..2)
        );
        assert_eq!(
            err("contains(a,)"),
            ("expected an operand after ',', found ')'".into(), 11..12)
        );
    }

    #[test]
    fn empty_expression() {
        let e = parse("   ").unwrap_err();
        assert_eq!((e.message.as_str(), e.span), ("empty expression", 0..0));
        assert!(e.hint.is_some());
        assert_eq!(err("").1, 0..0);
    }

    #[test]
    fn trailing_tokens() {
        let e = parse("a b").unwrap_err();
        assert_eq!(
            (e.message.as_str(), e.span),
            ("unexpected 'b' after the expression", 2..3)
        );
        assert_eq!(
            e.hint.as_deref(),
            Some("combine conditions with '&&' or '||'")
        );
        assert_eq!(
            err("success().x"),
            ("unexpected '.' after the expression".into(), 9..10)
        );
        assert_eq!(
            err("a -1"),
            ("unexpected number -1 after the expression".into(), 2..4)
        );
        assert_eq!(
            err("(a))"),
            ("unexpected ')' after the expression".into(), 3..4)
        );
    }

    #[test]
    fn unclosed_groups() {
        let e = parse("x && (a || b").unwrap_err();
        assert_eq!((e.message.as_str(), e.span), ("unclosed '('", 5..6));
        assert_eq!(e.hint.as_deref(), Some("add ')'"));
        assert_eq!(
            err("(a b)"),
            ("expected ')' in parentheses, found 'b'".into(), 3..4)
        );
        assert_eq!(err("contains(a, b"), ("unclosed '('".into(), 8..9));
        assert_eq!(
            err("contains(a b)"),
            (
                "expected ')' after the arguments of 'contains', found 'b'".into(),
                11..12
            )
        );
        assert_eq!(err("x['k'"), ("unclosed '['".into(), 1..2));
        assert_eq!(
            err("x['k' y"),
            ("expected ']' after the key, found 'y'".into(), 6..7)
        );
    }

    #[test]
    fn bad_property_access() {
        assert_eq!(
            err("a."),
            ("expected a property name after '.'".into(), 1..2)
        );
        assert_eq!(
            err("a.'b'"),
            ("expected a property name after '.'".into(), 2..5)
        );
        assert_eq!(
            err("a.1"),
            ("expected a property name after '.'".into(), 2..3)
        );
        let e = parse("a[b]").unwrap_err();
        assert_eq!(
            (e.message.as_str(), e.span),
            ("expected a quoted key inside '[ ]'", 2..3)
        );
        assert!(e.hint.unwrap().contains("x['key']"));
        assert_eq!(
            err("a["),
            ("expected a quoted key inside '[ ]'".into(), 1..2)
        );
    }

    #[test]
    fn unknown_functions_suggest_a_close_name() {
        let e = parse("x && sucess()").unwrap_err();
        assert_eq!(
            (e.message.as_str(), e.span),
            ("unknown function 'sucess'", 5..11)
        );
        assert_eq!(e.hint.as_deref(), Some("did you mean 'success'?"));
        let e = parse("Contains(a, b)").unwrap_err();
        assert_eq!(e.hint.as_deref(), Some("did you mean 'contains'?"));
        let e = parse("startswith(a, b)").unwrap_err();
        assert_eq!(e.hint.as_deref(), Some("did you mean 'startsWith'?"));
        let e = parse("format('{0}', a)").unwrap_err();
        assert_eq!(
            (e.message.as_str(), e.span.clone()),
            ("unknown function 'format'", 0..6)
        );
        assert_eq!(
            e.hint.as_deref(),
            Some(
                "the functions are success(), failure(), always(), cancelled(), \
                 contains(haystack, needle), startsWith(s, prefix), endsWith(s, suffix)"
            )
        );
    }

    #[test]
    fn arity_is_checked_at_parse_time() {
        let e = parse("a && contains(a)").unwrap_err();
        assert_eq!(
            (e.message.as_str(), e.span),
            ("'contains' takes 2 arguments but 1 was given", 5..16)
        );
        assert_eq!(
            e.hint.as_deref(),
            Some("call it as contains(haystack, needle)")
        );
        let e = parse("success(true)").unwrap_err();
        assert_eq!(e.message, "'success' takes no arguments but 1 was given");
        assert_eq!(e.hint.as_deref(), Some("call it as success()"));
        assert_eq!(
            err("endsWith( )"),
            (
                "'endsWith' takes 2 arguments but 0 were given".into(),
                0..11
            )
        );
        assert_eq!(
            err("startsWith(a, b, c)").0,
            "'startsWith' takes 2 arguments but 3 were given"
        );
    }

    #[test]
    fn depth_limit() {
        let ok = format!("{}a{}", "(".repeat(MAX_DEPTH), ")".repeat(MAX_DEPTH));
        assert!(parse(&ok).is_ok());
        let deep = format!(
            "{}a{}",
            "(".repeat(MAX_DEPTH + 1),
            ")".repeat(MAX_DEPTH + 1)
        );
        let e = parse(&deep).unwrap_err();
        assert_eq!(e.message, "expression is nested too deeply");
        assert_eq!(
            e.span,
            MAX_DEPTH..MAX_DEPTH + 1,
            "points at the first '(' too many"
        );
        assert_eq!(parse(&"!".repeat(1000)).unwrap_err().span, 64..65);
        let calls = "contains(".repeat(100);
        assert_eq!(
            parse(&calls).unwrap_err().message,
            "expression is nested too deeply"
        );
    }

    #[test]
    fn hostile_input_is_rejected_without_overflowing() {
        let e = parse(&"(".repeat(10_000)).unwrap_err();
        assert_eq!(
            e.message,
            "expression is too long (10000 bytes; the limit is 4096)"
        );
        assert_eq!(e.span, 4096..10_000);
        // Exactly at the length limit, still deeper than allowed.
        let e = parse(&"(".repeat(MAX_EXPR_LEN)).unwrap_err();
        assert_eq!(e.message, "expression is nested too deeply");
        // The longest flat chain the limit allows parses (loops, not recursion).
        let chain = vec!["a"; MAX_EXPR_LEN.div_ceil(3)].join("||");
        assert_eq!(chain.len(), MAX_EXPR_LEN);
        assert!(parse(&chain).is_ok());
        // A multi-byte character straddling the limit still yields a valid span.
        let wide = format!("'{}'", "é".repeat(MAX_EXPR_LEN / 2));
        let e = parse(&wide).unwrap_err();
        assert!(wide.is_char_boundary(e.span.start));
    }

    #[test]
    fn levenshtein() {
        assert_eq!(edit_distance("", ""), 0);
        assert_eq!(edit_distance("abc", ""), 3);
        assert_eq!(edit_distance("sucess", "success"), 1);
        assert_eq!(edit_distance("kitten", "sitting"), 3);
        assert_eq!(edit_distance("always", "always"), 0);
    }
}
