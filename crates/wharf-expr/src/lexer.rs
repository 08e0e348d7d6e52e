//! Turns expression source into tokens with byte spans. Kept apart from the parser so
//! that character-level mistakes (a stray `=`, double quotes, an open string) get their
//! own precise messages before any grammar is involved.

use std::ops::Range;

use crate::error::{Error, Result};

/// One kind of token. Keywords (`true`, `false`, `null`) arrive as identifiers: they are
/// only keywords where an operand is expected, so `inputs.null` stays a property path.
#[derive(Debug, Clone, PartialEq)]
pub(crate) enum Tok {
    Ident(String),
    Str(String),
    Num(f64),
    LParen,
    RParen,
    LBracket,
    RBracket,
    Dot,
    Comma,
    Not,
    Lt,
    Le,
    Gt,
    Ge,
    Eq,
    Ne,
    And,
    Or,
    Eof,
}

impl Tok {
    /// How the token is named in an error message.
    pub(crate) fn describe(&self) -> String {
        match self {
            Tok::Ident(name) => format!("'{name}'"),
            Tok::Str(s) => format!("string '{}'", s.replace('\'', "''")),
            Tok::Num(n) => format!("number {}", crate::Value::Number(*n)),
            Tok::Eof => "the end of the expression".to_owned(),
            other => format!("'{}'", other.symbol()),
        }
    }

    /// The source text of a punctuation token.
    pub(crate) fn symbol(&self) -> &'static str {
        match self {
            Tok::LParen => "(",
            Tok::RParen => ")",
            Tok::LBracket => "[",
            Tok::RBracket => "]",
            Tok::Dot => ".",
            Tok::Comma => ",",
            Tok::Not => "!",
            Tok::Lt => "<",
            Tok::Le => "<=",
            Tok::Gt => ">",
            Tok::Ge => ">=",
            Tok::Eq => "==",
            Tok::Ne => "!=",
            Tok::And => "&&",
            Tok::Or => "||",
            Tok::Ident(_) | Tok::Str(_) | Tok::Num(_) | Tok::Eof => "",
        }
    }
}

/// A token and where it is, already shifted by the lexer's base offset.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct Token {
    pub(crate) tok: Tok,
    pub(crate) span: Range<usize>,
}

fn is_ident_start(c: char) -> bool {
    c.is_ascii_alphabetic() || c == '_'
}

fn is_ident_char(c: char) -> bool {
    c.is_ascii_alphanumeric() || c == '_' || c == '-'
}

/// Splits `src` into tokens ending with [`Tok::Eof`]. Every span is offset by `base`, the
/// position of `src` inside the text the caller reports errors against. The `Eof` span is
/// empty and sits right after the last token, so "expected … after '&&'" points there
/// rather than past trailing whitespace.
pub(crate) fn tokenize(src: &str, base: usize) -> Result<Vec<Token>> {
    let mut tokens = Vec::new();
    let mut chars = src.char_indices().peekable();
    let at = |start: usize, end: usize| base + start..base + end;
    while let Some((start, c)) = chars.next() {
        let next = chars.peek().map(|&(_, c)| c);
        let (tok, len) = match (c, next) {
            (c, _) if c.is_whitespace() => continue,
            ('(', _) => (Tok::LParen, 1),
            (')', _) => (Tok::RParen, 1),
            ('[', _) => (Tok::LBracket, 1),
            (']', _) => (Tok::RBracket, 1),
            ('.', _) => (Tok::Dot, 1),
            (',', _) => (Tok::Comma, 1),
            ('<', Some('=')) => (Tok::Le, 2),
            ('<', _) => (Tok::Lt, 1),
            ('>', Some('=')) => (Tok::Ge, 2),
            ('>', _) => (Tok::Gt, 1),
            ('!', Some('=')) => (Tok::Ne, 2),
            ('!', _) => (Tok::Not, 1),
            ('=', Some('=')) => (Tok::Eq, 2),
            ('&', Some('&')) => (Tok::And, 2),
            ('|', Some('|')) => (Tok::Or, 2),
            ('=', _) => {
                return Err(Error::new(at(start, start + 1), "'=' is not an operator")
                    .with_hint("use '==' to compare"));
            }
            ('&', _) => {
                return Err(Error::new(at(start, start + 1), "'&' is not an operator")
                    .with_hint("use '&&' for \"and\""));
            }
            ('|', _) => {
                return Err(Error::new(at(start, start + 1), "'|' is not an operator")
                    .with_hint("use '||' for \"or\""));
            }
            ('\'', _) => {
                let (text, end) = string(src, start).ok_or_else(|| {
                    Error::new(at(start, src.trim_end().len()), "unterminated string")
                        .with_hint("close it with ' (write '' for a quote inside)")
                })?;
                tokens.push(Token {
                    tok: Tok::Str(text),
                    span: at(start, end),
                });
                skip_to(&mut chars, end);
                continue;
            }
            ('"', _) => {
                return Err(
                    Error::new(at(start, start + 1), "strings use single quotes")
                        .with_hint("write 'text' instead of \"text\""),
                );
            }
            (c, _)
                if c.is_ascii_digit() || (c == '-' && next.is_some_and(|n| n.is_ascii_digit())) =>
            {
                let end = word_end(src, start + 1);
                let word = &src[start..end];
                let n = number(word).ok_or_else(|| {
                    Error::new(at(start, end), format!("invalid number '{word}'"))
                })?;
                tokens.push(Token {
                    tok: Tok::Num(n),
                    span: at(start, end),
                });
                skip_to(&mut chars, end);
                continue;
            }
            (c, _) if is_ident_start(c) => {
                let end = src[start..]
                    .find(|c: char| !is_ident_char(c))
                    .map_or(src.len(), |i| start + i);
                let tok = Tok::Ident(src[start..end].to_owned());
                tokens.push(Token {
                    tok,
                    span: at(start, end),
                });
                skip_to(&mut chars, end);
                continue;
            }
            (c, _) => {
                return Err(Error::new(
                    at(start, start + c.len_utf8()),
                    format!("unexpected character '{c}'"),
                ));
            }
        };
        tokens.push(Token {
            tok,
            span: at(start, start + len),
        });
        if len == 2 {
            chars.next();
        }
    }
    let end = tokens.last().map_or(0, |t| t.span.end - base);
    tokens.push(Token {
        tok: Tok::Eof,
        span: at(end, end),
    });
    Ok(tokens)
}

fn skip_to(chars: &mut std::iter::Peekable<std::str::CharIndices<'_>>, end: usize) {
    while chars.next_if(|&(i, _)| i < end).is_some() {}
}

/// Reads the string literal opening at `start`; returns its text and the end offset.
fn string(src: &str, start: usize) -> Option<(String, usize)> {
    let mut text = String::new();
    let mut rest = &src[start + 1..];
    let mut pos = start + 1;
    loop {
        let quote = rest.find('\'')?;
        text.push_str(&rest[..quote]);
        pos += quote + 1;
        rest = &rest[quote + 1..];
        if rest.starts_with('\'') {
            text.push('\'');
            pos += 1;
            rest = &rest[1..];
        } else {
            return Some((text, pos));
        }
    }
}

/// The end of a run of characters that could belong to a number, so `12abc` or `1.2.3`
/// is reported whole instead of as a number followed by something puzzling.
fn word_end(src: &str, from: usize) -> usize {
    let mut prev = ' ';
    for (i, c) in src[from..].char_indices() {
        let sign_of_exponent = (c == '+' || c == '-') && matches!(prev, 'e' | 'E');
        if !(is_ident_char(c) || c == '.' || sign_of_exponent) {
            return from + i;
        }
        prev = c;
    }
    src.len()
}

/// Validates `-?digits(.digits)?([eE][+-]?digits)?` and converts it.
fn number(word: &str) -> Option<f64> {
    let digits = |s: &str| -> usize { s.bytes().take_while(u8::is_ascii_digit).count() };
    let mut rest = word.strip_prefix('-').unwrap_or(word);
    let whole = digits(rest);
    if whole == 0 {
        return None;
    }
    rest = &rest[whole..];
    if let Some(frac) = rest.strip_prefix('.') {
        let n = digits(frac);
        if n == 0 {
            return None;
        }
        rest = &frac[n..];
    }
    if let Some(exp) = rest.strip_prefix(['e', 'E']) {
        let exp = exp.strip_prefix(['+', '-']).unwrap_or(exp);
        let n = digits(exp);
        if n == 0 {
            return None;
        }
        rest = &exp[n..];
    }
    if rest.is_empty() {
        word.parse().ok()
    } else {
        None
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn toks(src: &str) -> Vec<Tok> {
        tokenize(src, 0)
            .unwrap()
            .into_iter()
            .map(|t| t.tok)
            .collect()
    }

    fn err(src: &str) -> Error {
        tokenize(src, 0).unwrap_err()
    }

    #[test]
    fn operators_and_punctuation() {
        use Tok::*;
        assert_eq!(
            toks("( ) [ ] . , ! < <= > >= == != && ||"),
            vec![
                LParen, RParen, LBracket, RBracket, Dot, Comma, Not, Lt, Le, Gt, Ge, Eq, Ne, And,
                Or, Eof
            ]
        );
        assert_eq!(toks("!a"), vec![Not, Ident("a".into()), Eof]);
    }

    #[test]
    fn identifiers_allow_dashes_and_underscores() {
        assert_eq!(
            toks("deploy-prod _x a1"),
            vec![
                Tok::Ident("deploy-prod".into()),
                Tok::Ident("_x".into()),
                Tok::Ident("a1".into()),
                Tok::Eof
            ]
        );
    }

    #[test]
    fn strings_with_escaped_quotes() {
        assert_eq!(toks("'it''s'"), vec![Tok::Str("it's".into()), Tok::Eof]);
        assert_eq!(toks("''"), vec![Tok::Str(String::new()), Tok::Eof]);
        assert_eq!(
            toks("'héllo' x"),
            vec![Tok::Str("héllo".into()), Tok::Ident("x".into()), Tok::Eof]
        );
        let spans: Vec<_> = tokenize("'a''b' x", 0)
            .unwrap()
            .into_iter()
            .map(|t| t.span)
            .collect();
        assert_eq!(spans, vec![0..6, 7..8, 8..8]);
    }

    #[test]
    fn numbers() {
        assert_eq!(toks("42"), vec![Tok::Num(42.0), Tok::Eof]);
        assert_eq!(toks("-3.25"), vec![Tok::Num(-3.25), Tok::Eof]);
        assert_eq!(toks("1e3"), vec![Tok::Num(1000.0), Tok::Eof]);
        assert_eq!(toks("2.5E-1"), vec![Tok::Num(0.25), Tok::Eof]);
        assert_eq!(
            toks("a==-1"),
            vec![Tok::Ident("a".into()), Tok::Eq, Tok::Num(-1.0), Tok::Eof]
        );
    }

    #[test]
    fn spans_are_offset_by_base_and_eof_follows_the_last_token() {
        let tokens = tokenize(" a && b  ", 10).unwrap();
        let spans: Vec<_> = tokens.iter().map(|t| t.span.clone()).collect();
        assert_eq!(spans, vec![11..12, 13..15, 16..17, 17..17]);
        assert_eq!(tokenize("   ", 5).unwrap()[0].span, 5..5);
    }

    #[test]
    fn unterminated_string() {
        let e = err("a == 'oops  ");
        assert_eq!(e.message, "unterminated string");
        assert_eq!(e.span, 5..10);
        assert_eq!(err("'it''s").span, 0..6);
    }

    #[test]
    fn invalid_numbers_are_reported_whole() {
        let e = err("x == 12abc");
        assert_eq!(
            (e.message.as_str(), e.span),
            ("invalid number '12abc'", 5..10)
        );
        assert_eq!(err("1.2.3").span, 0..5);
        assert_eq!(err("1.").message, "invalid number '1.'");
        assert_eq!(err("1e").message, "invalid number '1e'");
    }

    #[test]
    fn single_operator_characters_have_hints() {
        let e = err("a = b");
        assert_eq!(
            (e.message.as_str(), e.span.clone()),
            ("'=' is not an operator", 2..3)
        );
        assert_eq!(e.hint.as_deref(), Some("use '==' to compare"));
        assert_eq!(err("a & b").span, 2..3);
        assert_eq!(err("a | b").hint.as_deref(), Some("use '||' for \"or\""));
    }

    #[test]
    fn unexpected_characters() {
        let e = err("a + b");
        assert_eq!(
            (e.message.as_str(), e.span),
            ("unexpected character '+'", 2..3)
        );
        let e = err("a → b");
        assert_eq!(e.span, 2..5, "span covers the whole UTF-8 character");
        assert_eq!(err("-x").message, "unexpected character '-'");
        let e = err("\"x\"");
        assert_eq!(
            (e.message.as_str(), e.span),
            ("strings use single quotes", 0..1)
        );
    }
}
