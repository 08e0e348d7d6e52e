//! Refs, names and commit ids from a payload, checked before they become an event.
//!
//! Branch and tag names are outside input that ends up in logs, the dashboard, run
//! records and job environments. They are kept exactly as sent (`$(rm -rf /)` and
//! `${{ secrets.X }}` are legal git names, and the server never pastes a name into shell
//! source or an expression), but control characters, which git itself refuses and which
//! could forge log lines or terminal escapes, are refused here, as are absurd lengths.

use crate::error::{ParseError, shown};

/// The longest branch or tag name wharf carries, in bytes (a common filesystem's limit on
/// one path component, and far beyond any real name).
pub(crate) const MAX_NAME_BYTES: usize = 255;

/// A ref a push names.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Ref {
    /// `refs/heads/<name>`.
    Branch(String),
    /// `refs/tags/<name>`.
    Tag(String),
}

/// Splits a full ref into a branch or a tag with a checked name.
pub(crate) fn parse_ref(reference: &str) -> Result<Ref, ParseError> {
    if let Some(name) = reference.strip_prefix("refs/heads/") {
        check_name("branch", name)?;
        Ok(Ref::Branch(name.to_owned()))
    } else if let Some(name) = reference.strip_prefix("refs/tags/") {
        check_name("tag", name)?;
        Ok(Ref::Tag(name.to_owned()))
    } else {
        Err(ParseError::BadRef {
            reference: shown(reference),
        })
    }
}

/// Refuses a name wharf will not carry; `kind` is `branch` or `tag`, for the message.
pub(crate) fn check_name(kind: &'static str, name: &str) -> Result<(), ParseError> {
    let reason = if name.is_empty() {
        "it is empty"
    } else if name.len() > MAX_NAME_BYTES {
        "it is longer than 255 bytes"
    } else if name.chars().any(char::is_control) {
        "it contains a control character (NUL, newline, escape…)"
    } else {
        return Ok(());
    };
    Err(ParseError::BadName {
        kind,
        name: shown(name),
        reason,
    })
}

/// A commit id: 40 hex digits, returned in lower case so that ids compare as text.
pub(crate) fn check_sha(field: &'static str, sha: &str) -> Result<String, ParseError> {
    if sha.len() == 40 && sha.bytes().all(|b| b.is_ascii_hexdigit()) {
        Ok(sha.to_ascii_lowercase())
    } else {
        Err(ParseError::BadSha {
            field,
            value: shown(sha),
        })
    }
}

/// The all-zeros id forges send as `after` when a ref is deleted (and as `before` when it
/// is created).
pub(crate) fn is_zero(sha: &str) -> bool {
    !sha.is_empty() && sha.bytes().all(|b| b == b'0')
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn refs_split_into_branches_and_tags() {
        assert_eq!(
            parse_ref("refs/heads/feature/x"),
            Ok(Ref::Branch("feature/x".into()))
        );
        assert_eq!(parse_ref("refs/tags/v1.0"), Ok(Ref::Tag("v1.0".into())));
        let e = parse_ref("refs/notes/commits").unwrap_err();
        assert_eq!(
            e.to_string(),
            "ref `refs/notes/commits` is neither a branch (refs/heads/…) nor a tag (refs/tags/…)"
        );
        assert!(parse_ref("main").is_err());
    }

    #[test]
    fn names_keep_shell_text_but_not_control_characters() {
        for name in [
            "$(rm -rf /)",
            "`id`",
            "${{ secrets.X }}",
            "a;b|c&d",
            "ünï/cødé",
        ] {
            assert_eq!(
                parse_ref(&format!("refs/heads/{name}")),
                Ok(Ref::Branch(name.into()))
            );
        }
        let e = parse_ref("refs/heads/a\nb").unwrap_err();
        assert_eq!(
            e.to_string(),
            "branch name `a\\nb` is refused: it contains a control character (NUL, newline, escape…)"
        );
        for bad in ["a\0b", "a\x1b[31m", "tab\there", "del\x7f", "c1\u{85}"] {
            assert!(parse_ref(&format!("refs/tags/{bad}")).is_err(), "{bad:?}");
        }
        let e = parse_ref("refs/tags/").unwrap_err();
        assert_eq!(e.to_string(), "tag name `` is refused: it is empty");
    }

    #[test]
    fn names_up_to_255_bytes_pass() {
        let ok = "é".repeat(127) + "x"; // 255 bytes
        assert!(check_name("branch", &ok).is_ok());
        let e = check_name("branch", &(ok + "x")).unwrap_err();
        assert!(
            e.to_string().ends_with("it is longer than 255 bytes"),
            "{e}"
        );
    }

    #[test]
    fn shas_are_40_hex_digits() {
        let sha = "6113728F27AE82C7B1A177C8D03F9E96E0ADF246";
        assert_eq!(check_sha("after", sha), Ok(sha.to_ascii_lowercase()));
        let e = check_sha("after", "abc").unwrap_err();
        assert_eq!(
            e.to_string(),
            "`after` is not a 40-character hex commit id: `abc`"
        );
        assert!(check_sha("after", &"g".repeat(40)).is_err());
        // SHA-256 repositories are not supported yet: refused, not truncated.
        assert!(check_sha("after", &"a".repeat(64)).is_err());
        assert!(is_zero("0000000000000000000000000000000000000000"));
        assert!(!is_zero(""));
        assert!(!is_zero(sha));
    }
}
