//! Authenticity first: a delivery is checked against the shared secret over its raw bytes
//! before anything parses it, so a forged body never reaches the JSON parser, let alone a
//! run.
//!
//! - GitHub: `X-Hub-Signature-256: sha256=<hex HMAC-SHA256(secret, body)>`. The legacy
//!   SHA-1 `X-Hub-Signature` alone is refused: SHA-1 is what we would be trusting.
//! - Gitea/Forgejo: `X-Forgejo-Signature`, else `X-Gitea-Signature` (bare hex), else
//!   `X-Hub-Signature-256`. The first one present decides: a good Gitea signature never
//!   rescues a bad Forgejo one, or an attacker who can add headers could pick the check.
//! - GitLab: Standard Webhooks (`webhook-id`, `webhook-timestamp`, `webhook-signature`)
//!   when present, which also bounds replays by time; else the plain `X-Gitlab-Token`.
//!
//! Every comparison is constant-time (hmac's `verify_slice`, subtle's `ct_eq`), so timing
//! does not reveal how much of a guess was right.

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD as BASE64;
use hmac::{Hmac, Mac};
use http::HeaderMap;
use sha2::Sha256;
use subtle::ConstantTimeEq;

use crate::delivery::ForgeKind;
use crate::error::VerifyError;
use crate::headers::single;

type HmacSha256 = Hmac<Sha256>;

/// How far a Standard Webhooks timestamp may be from the server's clock, either way.
const MAX_SKEW_SECS: u64 = 300;

const HUB_256: &str = "X-Hub-Signature-256";
const HUB_SHA1: &str = "X-Hub-Signature";
const FORGEJO_SIG: &str = "X-Forgejo-Signature";
const GITEA_SIG: &str = "X-Gitea-Signature";
const GITLAB_TOKEN: &str = "X-Gitlab-Token";
const SW_ID: &str = "webhook-id";
const SW_TIMESTAMP: &str = "webhook-timestamp";
const SW_SIGNATURE: &str = "webhook-signature";

/// Checks a delivery's authenticity before anything reads the body.
///
/// `secret` is the webhook's shared secret as configured in wharf (for GitLab with Standard
/// Webhooks, the `whsec_…` signing token); `body` the raw bytes as received; `now_unix` the
/// server's clock, which only GitLab's signed timestamps are held against. An empty secret
/// verifies nothing, so it is refused.
pub fn verify(
    forge: ForgeKind,
    secret: &[u8],
    headers: &HeaderMap,
    body: &[u8],
    now_unix: i64,
) -> Result<(), VerifyError> {
    if secret.is_empty() {
        return Err(VerifyError::NoSecret {
            forge: display_name(forge),
        });
    }
    match forge {
        ForgeKind::Github => github(secret, headers, body),
        ForgeKind::Gitea => gitea(secret, headers, body),
        ForgeKind::Gitlab => gitlab(secret, headers, body, now_unix),
    }
}

/// The forge's name as its users know it, for messages.
pub(crate) fn display_name(forge: ForgeKind) -> &'static str {
    match forge {
        ForgeKind::Github => "GitHub",
        ForgeKind::Gitlab => "GitLab",
        ForgeKind::Gitea => "Gitea/Forgejo",
    }
}

fn github(secret: &[u8], headers: &HeaderMap, body: &[u8]) -> Result<(), VerifyError> {
    match header(headers, HUB_256)? {
        Some(value) => check_prefixed_hex(secret, body, HUB_256, value, "GitHub"),
        // Saying why beats a bare "missing": the webhook has a secret, but the sender only
        // signs with SHA-1 (an old GitHub Enterprise Server, or something imitating one).
        None if headers.contains_key(HUB_SHA1) => Err(VerifyError::Sha1Only),
        None => Err(VerifyError::Missing {
            header: HUB_256,
            forge: "GitHub",
        }),
    }
}

fn gitea(secret: &[u8], headers: &HeaderMap, body: &[u8]) -> Result<(), VerifyError> {
    const FORGE: &str = "Gitea/Forgejo";
    if let Some(value) = header(headers, FORGEJO_SIG)? {
        return check_bare_hex(secret, body, FORGEJO_SIG, value, FORGE);
    }
    if let Some(value) = header(headers, GITEA_SIG)? {
        return check_bare_hex(secret, body, GITEA_SIG, value, FORGE);
    }
    if let Some(value) = header(headers, HUB_256)? {
        return check_prefixed_hex(secret, body, HUB_256, value, FORGE);
    }
    Err(VerifyError::Missing {
        header: GITEA_SIG,
        forge: FORGE,
    })
}

fn gitlab(
    secret: &[u8],
    headers: &HeaderMap,
    body: &[u8],
    now_unix: i64,
) -> Result<(), VerifyError> {
    let id = header(headers, SW_ID)?;
    let timestamp = header(headers, SW_TIMESTAMP)?;
    let signature = header(headers, SW_SIGNATURE)?;
    match (id, timestamp, signature) {
        (None, None, None) => gitlab_token(secret, headers),
        (Some(id), Some(timestamp), Some(signature)) => {
            standard_webhooks(secret, id, timestamp, signature, body, now_unix)
        }
        // A partial set is not something GitLab sends; falling back to the token here would
        // let whoever strips one header choose the weaker check.
        (id, timestamp, signature) => {
            let named = [
                (SW_ID, id.is_some()),
                (SW_TIMESTAMP, timestamp.is_some()),
                (SW_SIGNATURE, signature.is_some()),
            ];
            let pick = |want: bool| {
                named
                    .iter()
                    .find(|(_, present)| *present == want)
                    .map_or(SW_SIGNATURE, |(name, _)| *name)
            };
            Err(VerifyError::IncompleteSignature {
                missing: pick(false),
                present: pick(true),
            })
        }
    }
}

fn gitlab_token(secret: &[u8], headers: &HeaderMap) -> Result<(), VerifyError> {
    let Some(token) = header(headers, GITLAB_TOKEN)? else {
        return Err(VerifyError::Missing {
            header: GITLAB_TOKEN,
            forge: "GitLab",
        });
    };
    // ct_eq on slices of different lengths is false without looking at the bytes; the
    // length of the secret is all that can leak.
    if bool::from(token.as_bytes().ct_eq(secret)) {
        Ok(())
    } else {
        Err(VerifyError::TokenMismatch)
    }
}

/// <https://www.standardwebhooks.com/>: `v1,<base64 HMAC-SHA256(key, "{id}.{ts}.{body}")>`,
/// several space-separated; any v1 that matches will do (senders list more than one while
/// rotating keys).
fn standard_webhooks(
    secret: &[u8],
    id: &str,
    timestamp: &str,
    signature: &str,
    body: &[u8],
    now_unix: i64,
) -> Result<(), VerifyError> {
    let ts = parse_timestamp(timestamp)?;
    let key = signing_key(secret)?;
    let mut mac = hmac(&key);
    mac.update(id.as_bytes());
    mac.update(b".");
    mac.update(timestamp.as_bytes());
    mac.update(b".");
    mac.update(body);

    let mut readable = 0;
    let mut matched = false;
    for entry in signature.split(' ').filter(|e| !e.is_empty()) {
        // Other versions (v1a is asymmetric) are not ours to check; skip them.
        let Some(encoded) = entry.strip_prefix("v1,") else {
            continue;
        };
        let Ok(tag) = BASE64.decode(encoded) else {
            continue;
        };
        readable += 1;
        // No early exit: every candidate costs the same whichever one matches.
        matched |= mac.clone().verify_slice(&tag).is_ok();
    }
    if readable == 0 {
        return Err(VerifyError::Malformed {
            header: SW_SIGNATURE,
            reason: "no `v1,<base64>` signature in it",
        });
    }
    if !matched {
        return Err(VerifyError::Mismatch {
            header: SW_SIGNATURE,
            forge: "GitLab",
        });
    }
    // Checked after the signature, so that "stale" is only ever said of a delivery GitLab
    // really signed: a replay, or a clock that is off.
    let skew_secs = now_unix.abs_diff(ts);
    if skew_secs > MAX_SKEW_SECS {
        return Err(VerifyError::Stale { skew_secs });
    }
    Ok(())
}

fn parse_timestamp(timestamp: &str) -> Result<i64, VerifyError> {
    let malformed = VerifyError::Malformed {
        header: SW_TIMESTAMP,
        reason: "not a whole number of seconds since 1970",
    };
    // Digits only: i64's parser would also take a sign.
    if timestamp.is_empty() || !timestamp.bytes().all(|b| b.is_ascii_digit()) {
        return Err(malformed);
    }
    timestamp.parse().map_err(|_| malformed)
}

/// A `whsec_` secret is the base64 of the key (Standard Webhooks' convention, and what
/// GitLab's API hands out); any other secret is used as it is.
fn signing_key(secret: &[u8]) -> Result<Vec<u8>, VerifyError> {
    match secret.strip_prefix(b"whsec_") {
        Some(encoded) => BASE64
            .decode(encoded)
            .ok()
            .filter(|key| !key.is_empty())
            .ok_or(VerifyError::BadSigningKey),
        None => Ok(secret.to_vec()),
    }
}

/// `sha256=<64 hex>`, GitHub's form.
fn check_prefixed_hex(
    secret: &[u8],
    body: &[u8],
    name: &'static str,
    value: &str,
    forge: &'static str,
) -> Result<(), VerifyError> {
    let Some(hex) = value.strip_prefix("sha256=") else {
        return Err(VerifyError::Malformed {
            header: name,
            reason: "expected `sha256=` followed by 64 hex digits",
        });
    };
    let tag = decode_hex_32(hex).ok_or(VerifyError::Malformed {
        header: name,
        reason: "expected `sha256=` followed by 64 hex digits",
    })?;
    check_tag(secret, body, &tag, name, forge)
}

/// 64 bare hex digits, Gitea's and Forgejo's form.
fn check_bare_hex(
    secret: &[u8],
    body: &[u8],
    name: &'static str,
    value: &str,
    forge: &'static str,
) -> Result<(), VerifyError> {
    let tag = decode_hex_32(value).ok_or(VerifyError::Malformed {
        header: name,
        reason: "expected 64 hex digits",
    })?;
    check_tag(secret, body, &tag, name, forge)
}

fn check_tag(
    secret: &[u8],
    body: &[u8],
    tag: &[u8],
    name: &'static str,
    forge: &'static str,
) -> Result<(), VerifyError> {
    let mut mac = hmac(secret);
    mac.update(body);
    mac.verify_slice(tag).map_err(|_| VerifyError::Mismatch {
        header: name,
        forge,
    })
}

fn hmac(key: &[u8]) -> HmacSha256 {
    // HMAC hashes long keys and pads short ones: every length is valid.
    HmacSha256::new_from_slice(key).expect("HMAC takes a key of any length")
}

fn header<'a>(headers: &'a HeaderMap, name: &'static str) -> Result<Option<&'a str>, VerifyError> {
    single(headers, name).map_err(|p| VerifyError::Malformed {
        header: name,
        reason: p.reason(),
    })
}

/// Exactly 64 hex digits (either case) as 32 bytes.
fn decode_hex_32(hex: &str) -> Option<[u8; 32]> {
    let bytes = hex.as_bytes();
    if bytes.len() != 64 {
        return None;
    }
    let mut out = [0u8; 32];
    for (slot, pair) in out.iter_mut().zip(bytes.chunks_exact(2)) {
        *slot = (nibble(pair[0])? << 4) | nibble(pair[1])?;
    }
    Some(out)
}

fn nibble(b: u8) -> Option<u8> {
    match b {
        b'0'..=b'9' => Some(b - b'0'),
        b'a'..=b'f' => Some(b - b'a' + 10),
        b'A'..=b'F' => Some(b - b'A' + 10),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hex_decoding_takes_exactly_64_digits_of_either_case() {
        let lower = "757107ea0eb2509fc211221cce984b8a37570b6d7586c22c46f4379c8b043e17";
        let upper = lower.to_ascii_uppercase();
        assert_eq!(decode_hex_32(lower), decode_hex_32(&upper));
        assert_eq!(decode_hex_32(lower).unwrap()[0], 0x75);
        assert_eq!(decode_hex_32(&lower[..62]), None);
        assert_eq!(decode_hex_32(&format!("{}zz", &lower[..62])), None);
        // A multi-byte character must not be split into "digits".
        assert_eq!(decode_hex_32(&format!("{}é", &lower[..62])), None);
    }

    #[test]
    fn timestamps_are_digits_only() {
        assert_eq!(parse_timestamp("1700000000"), Ok(1_700_000_000));
        for bad in ["", "+1", "-1", "1.5", " 1", "99999999999999999999"] {
            assert!(parse_timestamp(bad).is_err(), "{bad:?}");
        }
    }

    #[test]
    fn signing_keys_decode_after_whsec() {
        assert_eq!(signing_key(b"whsec_aGVsbG8=").unwrap(), b"hello");
        assert_eq!(signing_key(b"plain").unwrap(), b"plain");
        assert_eq!(signing_key(b"whsec_!!"), Err(VerifyError::BadSigningKey));
        assert_eq!(signing_key(b"whsec_"), Err(VerifyError::BadSigningKey));
    }
}
