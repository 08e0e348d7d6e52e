//! Fuzzes webhook deliveries: a forge, an event type and a set of signature headers chosen
//! by the first bytes, then an arbitrary header value and body. `verify` and `parse` must
//! never panic; `verify` must never accept (nobody can sign without the secret); and
//! whatever parses keeps the promises a `Hook` makes (checked names, 40-hex ids).
//!
//! Input: `[forge, event, header flags] header-value \n body`.

#![no_main]

use http::{HeaderMap, HeaderName, HeaderValue};
use libfuzzer_sys::fuzz_target;
use wharf_forge::{ForgeKind, Hook};

const FORGES: [ForgeKind; 3] = [ForgeKind::Github, ForgeKind::Gitlab, ForgeKind::Gitea];

/// The event types each forge's parser reads a body for, plus ones it ignores.
const EVENTS: [&[&str]; 3] = [
    &["push", "pull_request", "ping", "create", "delete", "issues"],
    &[
        "Push Hook",
        "Tag Push Hook",
        "Merge Request Hook",
        "Note Hook",
    ],
    &["push", "pull_request", "create", "delete", "release"],
];

const EVENT_HEADERS: [&str; 3] = ["x-github-event", "x-gitlab-event", "x-gitea-event"];

/// Headers that `verify` reads, each included when its bit is set.
const SIGNATURE_HEADERS: [&str; 8] = [
    "x-hub-signature-256",
    "x-hub-signature",
    "x-gitea-signature",
    "x-forgejo-signature",
    "x-gitlab-token",
    "webhook-id",
    "webhook-timestamp",
    "webhook-signature",
];

fuzz_target!(|data: &[u8]| {
    let [forge, event, flags, rest @ ..] = data else {
        return;
    };
    let f = usize::from(*forge) % FORGES.len();
    let events = EVENTS[f];
    let event = events[usize::from(*event) % events.len()];
    let (value, body) = match rest.iter().position(|&b| b == b'\n') {
        Some(at) => (&rest[..at], &rest[at + 1..]),
        None => (&b""[..], rest),
    };

    let mut headers = HeaderMap::new();
    headers.insert(
        HeaderName::from_static(EVENT_HEADERS[f]),
        HeaderValue::from_static(event),
    );
    if let Ok(value) = HeaderValue::from_bytes(value) {
        for (bit, name) in SIGNATURE_HEADERS.iter().enumerate() {
            if flags & (1u8 << bit) != 0 {
                headers.insert(HeaderName::from_static(name), value.clone());
            }
        }
    }

    let forge = FORGES[f];
    assert!(
        wharf_forge::verify(
            forge,
            b"a secret nobody guessed",
            &headers,
            body,
            1_700_000_000
        )
        .is_err()
    );
    if let Ok(delivery) = wharf_forge::parse(forge, &headers, body) {
        check(&delivery.hook);
    }
});

fn check(hook: &Hook) {
    let name = |n: &str| !n.is_empty() && n.len() <= 255 && !n.chars().any(char::is_control);
    let sha = |s: &str| s.len() == 40 && s.bytes().all(|b| matches!(b, b'0'..=b'9' | b'a'..=b'f'));
    match hook {
        Hook::Push {
            branch,
            sha: s,
            before,
            ..
        } => assert!(name(branch) && sha(s) && sha(before)),
        Hook::Tag { tag, sha: s, .. } => assert!(name(tag) && sha(s)),
        Hook::Deleted { reference } => {
            assert!(reference.starts_with("refs/heads/") || reference.starts_with("refs/tags/"))
        }
        Hook::PullRequest {
            sha: s,
            head_branch,
            base_branch,
            ..
        } => assert!(sha(s) && name(head_branch) && name(base_branch)),
        Hook::Ping | Hook::Ignored { .. } => {}
    }
}
