//! A deterministic stand-in for the `webhook` fuzz target that runs on stable with every
//! `cargo test`: mangled bodies (bytes flipped, cut, spliced; JSON nodes swapped for other
//! types) never make `verify` or `parse` panic, and whatever parses keeps the promises a
//! [`Hook`] makes (checked names, 40-hex lower-case ids).

use serde_json::{Value, json};
use wharf_forge::{ForgeKind, Hook};

use crate::support::{body, fixture, headers, parse_bytes};

/// xorshift64*: enough randomness to explore, and the same run every time.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_f491_4f6c_dd1d)
    }
    fn below(&mut self, n: usize) -> usize {
        (self.next() % n.max(1) as u64) as usize
    }
}

const INTERESTING: &[u8] = b"\"{}[]:,0-9e.\\\n\x00\xff\xc3 tnfu";

fn mangle_bytes(rng: &mut Rng, input: &[u8]) -> Vec<u8> {
    let mut out = input.to_vec();
    for _ in 0..=rng.below(4) {
        let at = rng.below(out.len() + 1);
        match rng.below(5) {
            0 => out.truncate(at),
            1 if at < out.len() => out[at] ^= 1 << rng.below(8),
            2 => out.insert(at, INTERESTING[rng.below(INTERESTING.len())]),
            3 if at < out.len() => {
                let end = (at + rng.below(64)).min(out.len());
                let piece = out[at..end].to_vec();
                let to = rng.below(out.len() + 1);
                out.splice(to..to, piece);
            }
            _ => {
                let end = (at + rng.below(16)).min(out.len());
                out.drain(at..end);
            }
        }
    }
    out
}

fn odd_value(rng: &mut Rng) -> Value {
    match rng.below(10) {
        0 => Value::Null,
        1 => json!(true),
        2 => json!(-1),
        3 => json!(1.5e300),
        4 => json!(u64::MAX),
        5 => json!(""),
        6 => json!("0000000000000000000000000000000000000000"),
        7 => json!("refs/heads/\u{1b}[31mred"),
        8 => json!([]),
        _ => json!({}),
    }
}

/// Replaces one node, found by a random walk, with a value of another type.
fn mangle_value(rng: &mut Rng, value: &mut Value) {
    let mut node = value;
    loop {
        let children = match node {
            Value::Object(map) => map.len(),
            Value::Array(items) => items.len(),
            _ => 0,
        };
        if children == 0 || rng.below(4) == 0 {
            *node = odd_value(rng);
            return;
        }
        let i = rng.below(children);
        node = match node {
            Value::Object(map) => map.values_mut().nth(i).unwrap(),
            Value::Array(items) => &mut items[i],
            _ => unreachable!(),
        };
    }
}

fn check_promises(hook: &Hook) {
    let name_ok = |n: &str| !n.is_empty() && n.len() <= 255 && !n.chars().any(char::is_control);
    let sha_ok =
        |s: &str| s.len() == 40 && s.bytes().all(|b| matches!(b, b'0'..=b'9' | b'a'..=b'f'));
    match hook {
        Hook::Push {
            branch,
            sha,
            before,
            ..
        } => assert!(name_ok(branch) && sha_ok(sha) && sha_ok(before), "{hook:?}"),
        Hook::Tag { tag, sha, .. } => assert!(name_ok(tag) && sha_ok(sha), "{hook:?}"),
        Hook::Deleted { reference } => assert!(
            reference.starts_with("refs/heads/") || reference.starts_with("refs/tags/"),
            "{hook:?}"
        ),
        Hook::PullRequest {
            sha,
            head_branch,
            base_branch,
            ..
        } => assert!(
            sha_ok(sha) && name_ok(head_branch) && name_ok(base_branch),
            "{hook:?}"
        ),
        Hook::Ping | Hook::Ignored { .. } => {}
    }
}

fn seeds() -> Vec<(ForgeKind, &'static str, Value)> {
    vec![
        (ForgeKind::Gitlab, "Push Hook", fixture("gitlab/push.json")),
        (
            ForgeKind::Gitlab,
            "Tag Push Hook",
            fixture("gitlab/tag_push.json"),
        ),
        (
            ForgeKind::Gitlab,
            "Merge Request Hook",
            fixture("gitlab/merge_request_update.json"),
        ),
        (ForgeKind::Gitea, "push", fixture("gitea/push.json")),
        (
            ForgeKind::Gitea,
            "pull_request",
            fixture("gitea/pull_request_synchronized.json"),
        ),
        // Gitea's payloads are GitHub's shapes: the same seeds exercise GitHub's reading.
        (ForgeKind::Github, "push", fixture("gitea/push.json")),
        (
            ForgeKind::Github,
            "pull_request",
            fixture("gitea/pull_request_synchronized.json"),
        ),
    ]
}

#[test]
fn mangled_bodies_never_panic_and_what_parses_keeps_its_promises() {
    let mut rng = Rng(0x5eed_0f3a_11ba_5500);
    let mut parsed = 0;
    for (forge, event, seed) in seeds() {
        let bytes = body(&seed);
        for _ in 0..400 {
            let mangled = mangle_bytes(&mut rng, &bytes);
            if let Ok(d) = parse_bytes(forge, event, &mangled) {
                check_promises(&d.hook);
                parsed += 1;
            }
            let mut value = seed.clone();
            mangle_value(&mut rng, &mut value);
            if let Ok(d) = parse_bytes(forge, event, &body(&value)) {
                check_promises(&d.hook);
                parsed += 1;
            }
        }
    }
    // Most value-level mutations leave a parseable payload: the promises were checked often.
    assert!(parsed > 1000, "only {parsed} mangled bodies parsed");
}

#[test]
fn mangled_signature_headers_never_panic_or_pass() {
    let mut rng = Rng(0xfeed_beef_1234_5678);
    let body = b"{\"ref\": \"refs/heads/main\"}";
    let names = [
        "X-Hub-Signature-256",
        "X-Hub-Signature",
        "X-Gitea-Signature",
        "X-Forgejo-Signature",
        "X-Gitlab-Token",
        "webhook-id",
        "webhook-timestamp",
        "webhook-signature",
    ];
    let base = b"sha256=757107ea0eb2509fc211221cce984b8a37570b6d7586c22c46f4379c8b043e17 v1,dGFn";
    for _ in 0..3000 {
        let mut pairs = Vec::new();
        for name in names {
            if rng.below(3) == 0 {
                let raw = mangle_bytes(&mut rng, base);
                if let Ok(text) = String::from_utf8(raw)
                    && http::HeaderValue::from_str(&text).is_ok()
                {
                    pairs.push((name, text));
                }
            }
        }
        let refs: Vec<(&str, &str)> = pairs.iter().map(|(k, v)| (*k, v.as_str())).collect();
        let h = headers(&refs);
        for forge in [ForgeKind::Github, ForgeKind::Gitlab, ForgeKind::Gitea] {
            assert!(
                wharf_forge::verify(forge, b"a secret nobody guessed", &h, body, 1_700_000_000)
                    .is_err(),
                "{forge:?} accepted {pairs:?}"
            );
        }
    }
}
