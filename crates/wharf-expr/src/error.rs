//! The one error type of the crate: a message tied to a byte span, so the validator can
//! point at the exact token in the pipeline file and the engine can report the same text.

use std::fmt;
use std::ops::Range;

/// A parse or evaluation error, located by byte offsets into the parsed text.
///
/// For [`crate::parse`] the span is relative to the expression source; for
/// [`crate::parse_template`] it is relative to the whole template text.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Error {
    /// Byte offsets of the offending text; empty (`n..n`) when something is missing at `n`.
    pub span: Range<usize>,
    /// What went wrong, in lower case, e.g. `expected an operand after '&&'`.
    pub message: String,
    /// How to fix it, when there is something useful to say.
    pub hint: Option<String>,
}

/// The result type of this crate.
pub type Result<T> = std::result::Result<T, Error>;

impl Error {
    /// An error without a hint.
    pub fn new(span: Range<usize>, message: impl Into<String>) -> Self {
        Error {
            span,
            message: message.into(),
            hint: None,
        }
    }

    /// Adds a hint.
    pub fn with_hint(mut self, hint: impl Into<String>) -> Self {
        self.hint = Some(hint.into());
        self
    }
}

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.message)?;
        if let Some(hint) = &self.hint {
            write!(f, " (hint: {hint})")?;
        }
        Ok(())
    }
}

impl std::error::Error for Error {}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn display_includes_the_hint_when_present() {
        let plain = Error::new(1..2, "unterminated string");
        assert_eq!(plain.to_string(), "unterminated string");
        let hinted =
            Error::new(0..6, "unknown function 'sucess'").with_hint("did you mean 'success'?");
        assert_eq!(
            hinted.to_string(),
            "unknown function 'sucess' (hint: did you mean 'success'?)"
        );
    }
}
