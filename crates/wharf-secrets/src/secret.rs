//! A secret value in memory: it cannot be printed by accident and is wiped when dropped.
//!
//! Every place that holds a secret (the decrypted store, a step's environment, the
//! masker's needles) holds a [`SecretString`], so a `{:?}` in a log line or an error shows
//! `***`, and the bytes do not linger in freed memory. Reading the value takes an explicit
//! [`SecretString::expose`], which is easy to find in review. It deliberately has no
//! `Serialize`: writing a secret anywhere goes through [`crate::crypto::seal`].

use std::fmt;

use zeroize::Zeroizing;

/// What `Debug` and `Display` print instead of a secret.
const REDACTED: &str = "***";

/// A secret string: redacted in `Debug` and `Display`, zeroized on drop (clones too).
#[derive(Clone)]
pub struct SecretString(Zeroizing<String>);

impl SecretString {
    /// Takes ownership of `s`; its buffer is wiped when the secret is dropped.
    ///
    /// Only `s`'s own buffer is covered: copies made before (a `String` that grew, a line
    /// read into another buffer) are the caller's to wipe.
    pub fn new(s: String) -> Self {
        SecretString(Zeroizing::new(s))
    }

    /// The value itself. Every call is a place where the secret leaves this type's care.
    pub fn expose(&self) -> &str {
        &self.0
    }

    /// The value's length in bytes (not a secret: ciphertexts show it anyway).
    pub fn len(&self) -> usize {
        self.0.len()
    }

    /// Whether the value is the empty string.
    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }
}

impl fmt::Debug for SecretString {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(REDACTED)
    }
}

impl fmt::Display for SecretString {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(REDACTED)
    }
}

/// Whether `name` can name a secret: an environment variable name (upper-case letters,
/// digits and `_`, not starting with a digit) outside wharf's own `WHARF_` names.
pub fn valid_name(name: &str) -> bool {
    name.chars()
        .next()
        .is_some_and(|c| c.is_ascii_uppercase() || c == '_')
        && name
            .chars()
            .all(|c| c.is_ascii_uppercase() || c.is_ascii_digit() || c == '_')
        && !name.starts_with("WHARF_")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn debug_and_display_never_show_the_value() {
        let secret = SecretString::new("hunter2-value".to_string());
        for shown in [
            format!("{secret:?}"),
            format!("{secret}"),
            format!("{secret:#?}"),
            format!("{secret:>20}"),
            format!("{:?}", Some(secret.clone())),
        ] {
            assert!(!shown.contains("hunter2"), "{shown}");
            assert!(shown.contains("***"), "{shown}");
        }
    }

    #[test]
    fn exposes_the_value_and_its_length() {
        let secret = SecretString::new("abc".to_string());
        assert_eq!(secret.expose(), "abc");
        assert_eq!(secret.len(), 3);
        assert!(!secret.is_empty());
        assert_eq!(secret.clone().expose(), "abc");
        assert!(SecretString::new(String::new()).is_empty());
    }
}
