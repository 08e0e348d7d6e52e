//! Why a delivery was refused, in words the person who set up the webhook can act on.
//!
//! The server answers [`VerifyError`] with 401 and [`ParseError`] with 400 and puts the
//! message in the response body, where the forge's delivery log shows it. So no message
//! carries the secret or the signature wharf expected, and text taken from the delivery is
//! shown escaped and cut short.

/// A delivery whose authenticity could not be established: answered 401.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum VerifyError {
    /// wharf has no secret for the forge, so nothing could be verified.
    #[error(
        "no webhook secret is configured for {forge}; wharf refuses deliveries it cannot verify (set the same secret on the webhook and in wharf)"
    )]
    NoSecret {
        /// The forge's display name.
        forge: &'static str,
    },
    /// The header that carries the signature or token is absent.
    #[error("missing {header} header (is the webhook's secret set on {forge}?)")]
    Missing {
        /// The header wharf looked for.
        header: &'static str,
        /// The forge's display name.
        forge: &'static str,
    },
    /// GitHub sent only the SHA-1 signature, which wharf does not accept.
    #[error(
        "missing X-Hub-Signature-256 header: only the legacy SHA-1 X-Hub-Signature was sent, and wharf accepts only HMAC-SHA256"
    )]
    Sha1Only,
    /// Some, not all, of the Standard Webhooks headers.
    #[error(
        "missing {missing} header while {present} is present (GitLab signs with webhook-id, webhook-timestamp and webhook-signature together)"
    )]
    IncompleteSignature {
        /// A header that is absent.
        missing: &'static str,
        /// A header that is present.
        present: &'static str,
    },
    /// A signature, token or timestamp header that cannot be read.
    #[error("malformed {header} header: {reason}")]
    Malformed {
        /// The header.
        header: &'static str,
        /// What is wrong with it.
        reason: &'static str,
    },
    /// A well-formed signature computed with another secret or over other bytes.
    #[error(
        "{header} does not match the body (is wharf's secret the one set on the {forge} webhook?)"
    )]
    Mismatch {
        /// The header whose signature failed.
        header: &'static str,
        /// The forge's display name.
        forge: &'static str,
    },
    /// GitLab's plain token differs from wharf's secret.
    #[error(
        "X-Gitlab-Token does not match wharf's secret for GitLab (is it the webhook's secret token?)"
    )]
    TokenMismatch,
    /// A Standard Webhooks timestamp too far from the server's clock: a replay, or a clock
    /// that is wrong.
    #[error(
        "webhook-timestamp is more than 5 minutes off this server's clock ({skew_secs} s): a replayed delivery, or a clock to set right"
    )]
    Stale {
        /// How far off, in seconds.
        skew_secs: u64,
    },
    /// wharf's GitLab secret looks like a signing token but does not decode.
    #[error(
        "wharf's GitLab secret starts with `whsec_` but the rest is not base64 (copy the whole signing token from the webhook's settings)"
    )]
    BadSigningKey,
}

/// A verified delivery wharf cannot make sense of: answered 400.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ParseError {
    /// No event type header: probably not a webhook from this forge at all.
    #[error("missing {header} header (is this a {forge} webhook delivery?)")]
    MissingEvent {
        /// The header wharf looked for (the first, when it tries several).
        header: &'static str,
        /// The forge's display name.
        forge: &'static str,
    },
    /// A header that is repeated, not printable ASCII, or too long.
    #[error("malformed {header} header: {reason}")]
    Header {
        /// The header.
        header: &'static str,
        /// What is wrong with it.
        reason: &'static str,
    },
    /// The body is not the JSON the event type promises.
    #[error("the {event} payload is not valid JSON for that event: {detail}")]
    Json {
        /// The event type, as sent (quoted, escaped, cut short).
        event: String,
        /// serde_json's description, cut short.
        detail: String,
    },
    /// A field wharf needs is absent or null.
    #[error("the {event} payload has no `{field}`")]
    MissingField {
        /// The event type, as sent (quoted, escaped, cut short).
        event: String,
        /// The field, as a path (`pull_request.head.sha`).
        field: &'static str,
    },
    /// A commit id that is not 40 hex digits.
    #[error("`{field}` is not a 40-character hex commit id: {value}")]
    BadSha {
        /// The field, as a path.
        field: &'static str,
        /// What was sent (escaped, cut short).
        value: String,
    },
    /// A ref that is neither a branch nor a tag.
    #[error("ref {reference} is neither a branch (refs/heads/…) nor a tag (refs/tags/…)")]
    BadRef {
        /// The ref, as sent (escaped, cut short).
        reference: String,
    },
    /// A branch or tag name wharf will not carry: empty, too long or with control
    /// characters.
    #[error("{kind} name {name} is refused: {reason}")]
    BadName {
        /// `branch` or `tag`.
        kind: &'static str,
        /// The name, as sent (escaped, cut short).
        name: String,
        /// Why.
        reason: &'static str,
    },
}

/// Outside text as it may appear in a message: quoted with control characters escaped, and
/// cut at 100 characters so that a hostile payload cannot fill the forge's delivery log.
pub(crate) fn shown(text: &str) -> String {
    const MAX: usize = 100;
    let mut out = String::from("`");
    for (i, c) in text.chars().enumerate() {
        if i == MAX {
            out.push('…');
            break;
        }
        out.extend(c.escape_debug());
    }
    out.push('`');
    out
}

/// serde_json's message, cut short: it quotes the offending value, which can be large.
pub(crate) fn json_detail(e: &serde_json::Error) -> String {
    const MAX: usize = 200;
    let text = e.to_string();
    match text.char_indices().nth(MAX) {
        Some((at, _)) => format!("{}…", &text[..at]),
        None => text,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn shown_escapes_control_characters_and_cuts_long_text() {
        assert_eq!(shown("a\nb\0"), "`a\\nb\\0`");
        let long = "x".repeat(500);
        let s = shown(&long);
        assert_eq!(s.chars().count(), 100 + 3);
        assert!(s.ends_with("…`"));
    }

    #[test]
    fn json_detail_is_cut_short() {
        let big = format!("{{\"number\": \"{}\"}}", "9".repeat(10_000));
        #[derive(serde::Deserialize, Debug)]
        #[allow(dead_code)]
        struct N {
            number: u64,
        }
        let e = serde_json::from_str::<N>(&big).unwrap_err();
        let d = json_detail(&e);
        assert!(d.chars().count() <= 201, "{d}");
        assert!(d.starts_with("invalid type: string"), "{d}");
    }
}
