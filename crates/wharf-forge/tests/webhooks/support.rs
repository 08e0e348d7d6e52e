//! Helpers: fixtures, header maps and signatures computed the way each forge does.

use std::path::PathBuf;

use base64::Engine as _;
use hmac::{Hmac, Mac};
use http::{HeaderMap, HeaderName, HeaderValue};
use serde_json::Value;
use sha2::Sha256;
use wharf_forge::{Delivery, ForgeKind, ParseError};

/// A header map from name/value pairs (names in any case).
pub fn headers(pairs: &[(&str, &str)]) -> HeaderMap {
    let mut h = HeaderMap::new();
    for (k, v) in pairs {
        h.append(
            HeaderName::from_bytes(k.as_bytes()).unwrap(),
            HeaderValue::from_str(v).unwrap(),
        );
    }
    h
}

/// Hex HMAC-SHA256, as GitHub and Gitea sign.
pub fn hmac_hex(secret: &[u8], body: &[u8]) -> String {
    let mut mac = Hmac::<Sha256>::new_from_slice(secret).unwrap();
    mac.update(body);
    mac.finalize()
        .into_bytes()
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}

/// A Standard Webhooks `v1,<base64>` signature.
pub fn standard_signature(key: &[u8], id: &str, ts: i64, body: &[u8]) -> String {
    let mut mac = Hmac::<Sha256>::new_from_slice(key).unwrap();
    mac.update(format!("{id}.{ts}.").as_bytes());
    mac.update(body);
    let tag = mac.finalize().into_bytes();
    format!(
        "v1,{}",
        base64::engine::general_purpose::STANDARD.encode(tag)
    )
}

/// A fixture under tests/fixtures, as JSON.
pub fn fixture(path: &str) -> Value {
    let full = PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("tests/fixtures")
        .join(path);
    let text = std::fs::read_to_string(&full)
        .unwrap_or_else(|e| panic!("cannot read {}: {e}", full.display()));
    serde_json::from_str(&text).unwrap_or_else(|e| panic!("{}: {e}", full.display()))
}

/// `value` as a body.
pub fn body(value: &Value) -> Vec<u8> {
    serde_json::to_vec(value).unwrap()
}

/// Parses `value` as a delivery of `event` from `forge`, with that forge's headers.
pub fn parse_as(forge: ForgeKind, event: &str, value: &Value) -> Result<Delivery, ParseError> {
    parse_bytes(forge, event, &body(value))
}

/// Parses raw bytes as a delivery of `event` from `forge`.
pub fn parse_bytes(forge: ForgeKind, event: &str, body: &[u8]) -> Result<Delivery, ParseError> {
    let header = match forge {
        ForgeKind::Github => "X-GitHub-Event",
        ForgeKind::Gitlab => "X-Gitlab-Event",
        ForgeKind::Gitea => "X-Gitea-Event",
    };
    wharf_forge::parse(forge, &headers(&[(header, event)]), body)
}
