//! Reading a verified delivery: the event type and delivery id from the headers, then the
//! body by event type. Only the few event types that start runs have their bodies read at
//! all; any other is acknowledged as [`Hook::Ignored`] without touching the body, so a
//! forge adding fields or events never breaks wharf.

use http::HeaderMap;
use serde::de::DeserializeOwned;

use crate::delivery::{Delivery, ForgeKind, Hook};
use crate::error::{ParseError, json_detail};
use crate::headers::single;
use crate::verify::display_name;
use crate::{gitea, github, gitlab};

/// The longest event type or delivery id wharf keeps, in bytes: real ones are a few words
/// or a UUID, and both end up in logs and the database.
const MAX_HEADER_BYTES: usize = 255;

/// Parses a verified delivery.
///
/// Call [`verify`](crate::verify) first: this trusts that the body came from the forge, and
/// checks only that it makes sense. An event type wharf does not act on gives
/// [`Hook::Ignored`], not an error, so the forge's delivery log stays green.
pub fn parse(forge: ForgeKind, headers: &HeaderMap, body: &[u8]) -> Result<Delivery, ParseError> {
    let event_type = event_type(forge, headers)?;
    let id = delivery_id(forge, headers)?;
    let hook: Hook = match forge {
        ForgeKind::Github => github::hook(&event_type, body)?,
        ForgeKind::Gitlab => gitlab::hook(&event_type, body)?,
        ForgeKind::Gitea => gitea::hook(&event_type, body)?,
    };
    Ok(Delivery {
        id,
        event_type,
        hook,
    })
}

/// Deserializes `body` as the payload of `event` (already shown).
pub(crate) fn json<T: DeserializeOwned>(event: &str, body: &[u8]) -> Result<T, ParseError> {
    serde_json::from_slice(body).map_err(|e| ParseError::Json {
        event: event.to_owned(),
        detail: json_detail(&e),
    })
}

fn event_type(forge: ForgeKind, headers: &HeaderMap) -> Result<String, ParseError> {
    // Forgejo sends its own header and Gitea's, Gitea its own and GitHub's: the most
    // specific one present wins.
    let names: &[&'static str] = match forge {
        ForgeKind::Github => &["X-GitHub-Event"],
        ForgeKind::Gitlab => &["X-Gitlab-Event"],
        ForgeKind::Gitea => &["X-Forgejo-Event", "X-Gitea-Event", "X-GitHub-Event"],
    };
    match first(headers, names)? {
        Some(value) => Ok(value.to_owned()),
        None => Err(ParseError::MissingEvent {
            header: names[0],
            forge: display_name(forge),
        }),
    }
}

fn delivery_id(forge: ForgeKind, headers: &HeaderMap) -> Result<Option<String>, ParseError> {
    // GitLab's Idempotency-Key stays the same across retries; X-Gitlab-Event-UUID is the
    // older name for the event (older GitLab sends only that).
    let names: &[&'static str] = match forge {
        ForgeKind::Github => &["X-GitHub-Delivery"],
        ForgeKind::Gitlab => &["Idempotency-Key", "X-Gitlab-Event-UUID"],
        ForgeKind::Gitea => &[
            "X-Forgejo-Delivery",
            "X-Gitea-Delivery",
            "X-GitHub-Delivery",
        ],
    };
    Ok(first(headers, names)?.map(str::to_owned))
}

/// The first of `names` present with a non-empty value, checked for length.
fn first<'a>(
    headers: &'a HeaderMap,
    names: &[&'static str],
) -> Result<Option<&'a str>, ParseError> {
    for &name in names {
        let value = single(headers, name).map_err(|p| ParseError::Header {
            header: name,
            reason: p.reason(),
        })?;
        let Some(value) = value.map(str::trim).filter(|v| !v.is_empty()) else {
            continue;
        };
        if value.len() > MAX_HEADER_BYTES {
            return Err(ParseError::Header {
                header: name,
                reason: "longer than 255 bytes",
            });
        }
        return Ok(Some(value));
    }
    Ok(None)
}

#[cfg(test)]
mod tests {
    use super::*;
    use http::HeaderValue;

    fn headers(pairs: &[(&'static str, &str)]) -> HeaderMap {
        let mut h = HeaderMap::new();
        for (k, v) in pairs {
            h.append(*k, HeaderValue::from_str(v).unwrap());
        }
        h
    }

    #[test]
    fn the_most_specific_event_header_wins() {
        let h = headers(&[
            ("x-github-event", "push"),
            ("x-gitea-event", "pull_request"),
            ("x-forgejo-event", "create"),
        ]);
        assert_eq!(event_type(ForgeKind::Gitea, &h).unwrap(), "create");
        let h = headers(&[("x-github-event", "push")]);
        assert_eq!(event_type(ForgeKind::Gitea, &h).unwrap(), "push");
    }

    #[test]
    fn a_missing_event_header_names_the_header() {
        let e = event_type(ForgeKind::Gitlab, &HeaderMap::new()).unwrap_err();
        assert_eq!(
            e.to_string(),
            "missing X-Gitlab-Event header (is this a GitLab webhook delivery?)"
        );
    }

    #[test]
    fn delivery_ids_fall_back_in_order() {
        let h = headers(&[
            ("x-gitlab-event-uuid", "event-uuid"),
            ("idempotency-key", "idem"),
        ]);
        assert_eq!(
            delivery_id(ForgeKind::Gitlab, &h).unwrap().as_deref(),
            Some("idem")
        );
        let h = headers(&[
            ("x-gitlab-event-uuid", "event-uuid"),
            ("idempotency-key", ""),
        ]);
        assert_eq!(
            delivery_id(ForgeKind::Gitlab, &h).unwrap().as_deref(),
            Some("event-uuid")
        );
        assert_eq!(
            delivery_id(ForgeKind::Github, &HeaderMap::new()).unwrap(),
            None
        );
        let h = headers(&[("x-github-delivery", &"x".repeat(256))]);
        assert_eq!(
            delivery_id(ForgeKind::Github, &h).unwrap_err().to_string(),
            "malformed X-GitHub-Delivery header: longer than 255 bytes"
        );
    }
}
