//! Run-time values. The language is deliberately small: no arrays or objects, because
//! pipeline contexts only ever hand out scalars (a job output, an input, an env var).
//! The coercions here follow GitHub Actions so conditions read the way users expect.

use std::fmt;

/// The value of an expression.
#[derive(Debug, Clone, PartialEq)]
pub enum Value {
    /// Nothing: an unknown property or the literal `null`.
    Null,
    /// `true` or `false`.
    Bool(bool),
    /// Every number is a double, as in JSON.
    Number(f64),
    /// A string; the language has no separate character type.
    String(String),
}

impl Value {
    /// Whether the value counts as true in `if:`, `!`, `&&` and `||`: `false`, `null`, `0`,
    /// `NaN` and `''` are false, everything else is true.
    pub fn is_truthy(&self) -> bool {
        match self {
            Value::Null => false,
            Value::Bool(b) => *b,
            Value::Number(n) => *n != 0.0 && !n.is_nan(),
            Value::String(s) => !s.is_empty(),
        }
    }

    /// The text a template writes for the value: `null` is empty, whole numbers have no
    /// `.0`, and non-finite numbers read `NaN`, `Infinity`, `-Infinity`.
    pub fn to_display_string(&self) -> String {
        match self {
            Value::Null => String::new(),
            Value::Bool(b) => b.to_string(),
            Value::Number(n) => format_number(*n),
            Value::String(s) => s.clone(),
        }
    }

    /// The number the value stands for when compared with a value of another type:
    /// `null` is 0, `true` is 1, and a string is parsed (empty is 0, garbage is NaN).
    pub(crate) fn to_number(&self) -> f64 {
        match self {
            Value::Null => 0.0,
            Value::Bool(b) => f64::from(u8::from(*b)),
            Value::Number(n) => *n,
            Value::String(s) => parse_number(s),
        }
    }
}

/// Parses a string as a decimal number the way comparisons need it. Rust's own parser
/// would also accept `inf` and `NaN`, which must not compare equal to numbers.
fn parse_number(s: &str) -> f64 {
    let s = s.trim();
    if s.is_empty() {
        return 0.0;
    }
    let plausible = s.bytes().any(|b| b.is_ascii_digit())
        && s.bytes()
            .all(|b| b.is_ascii_digit() || b"+-.eE".contains(&b));
    if plausible {
        s.parse().unwrap_or(f64::NAN)
    } else {
        f64::NAN
    }
}

fn format_number(n: f64) -> String {
    if n.is_nan() {
        "NaN".to_owned()
    } else if n.is_infinite() {
        if n > 0.0 { "Infinity" } else { "-Infinity" }.to_owned()
    } else if n.fract() == 0.0 && n.abs() < 1e15 {
        // Integral and exactly representable as i64; this also turns -0 into "0".
        (n as i64).to_string()
    } else {
        n.to_string()
    }
}

impl fmt::Display for Value {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.to_display_string())
    }
}

impl From<&str> for Value {
    fn from(s: &str) -> Self {
        Value::String(s.to_owned())
    }
}

impl From<String> for Value {
    fn from(s: String) -> Self {
        Value::String(s)
    }
}

impl From<bool> for Value {
    fn from(b: bool) -> Self {
        Value::Bool(b)
    }
}

impl From<f64> for Value {
    fn from(n: f64) -> Self {
        Value::Number(n)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn truthiness() {
        assert!(!Value::Null.is_truthy());
        assert!(!Value::Bool(false).is_truthy());
        assert!(Value::Bool(true).is_truthy());
        assert!(!Value::Number(0.0).is_truthy());
        assert!(!Value::Number(-0.0).is_truthy());
        assert!(!Value::Number(f64::NAN).is_truthy());
        assert!(Value::Number(-2.5).is_truthy());
        assert!(!Value::from("").is_truthy());
        assert!(Value::from("0").is_truthy());
        assert!(Value::from("false").is_truthy());
    }

    #[test]
    fn display_strings() {
        assert_eq!(Value::Null.to_display_string(), "");
        assert_eq!(Value::Bool(true).to_display_string(), "true");
        assert_eq!(Value::Bool(false).to_display_string(), "false");
        assert_eq!(Value::Number(3.0).to_display_string(), "3");
        assert_eq!(Value::Number(-0.0).to_display_string(), "0");
        assert_eq!(Value::Number(-42.0).to_display_string(), "-42");
        assert_eq!(Value::Number(1.5).to_display_string(), "1.5");
        assert_eq!(Value::Number(f64::NAN).to_display_string(), "NaN");
        assert_eq!(
            Value::Number(f64::NEG_INFINITY).to_display_string(),
            "-Infinity"
        );
        assert_eq!(
            Value::Number(1e20).to_display_string(),
            "100000000000000000000"
        );
        assert_eq!(Value::from(String::from("x")).to_string(), "x");
    }

    #[test]
    fn numeric_coercion() {
        assert_eq!(Value::Null.to_number(), 0.0);
        assert_eq!(Value::Bool(true).to_number(), 1.0);
        assert_eq!(Value::Bool(false).to_number(), 0.0);
        assert_eq!(Value::from(" 12 ").to_number(), 12.0);
        assert_eq!(Value::from("-1.5e2").to_number(), -150.0);
        assert_eq!(Value::from("").to_number(), 0.0);
        assert!(Value::from("abc").to_number().is_nan());
        assert!(Value::from("inf").to_number().is_nan());
        assert!(Value::from("NaN").to_number().is_nan());
        assert!(Value::from("1.2.3").to_number().is_nan());
        assert!(Value::from("-").to_number().is_nan());
    }
}
