//! Deliveries that cannot be acted on say why, in one line the forge's delivery log shows.

use serde_json::json;
use wharf_forge::{ForgeKind, Hook};

use crate::support::{fixture, headers, parse_as, parse_bytes};

#[test]
fn a_body_that_is_not_json_is_named_with_the_event() {
    for body in [&b""[..], b"not json", b"{\"ref\": ", b"\xff\xfe"] {
        let e = parse_bytes(ForgeKind::Github, "push", body).unwrap_err();
        assert!(
            e.to_string()
                .starts_with("the `push` payload is not valid JSON for that event: "),
            "{e}"
        );
    }
    let e = parse_bytes(ForgeKind::Gitlab, "Push Hook", b"true").unwrap_err();
    assert_eq!(
        e.to_string(),
        "the `Push Hook` payload is not valid JSON for that event: invalid type: boolean `true`, expected struct Push at line 1 column 4"
    );
}

#[test]
fn a_push_without_ref_or_after_is_refused() {
    let mut value = fixture("gitea/push.json");
    value.as_object_mut().unwrap().remove("after");
    assert_eq!(
        parse_as(ForgeKind::Gitea, "push", &value)
            .unwrap_err()
            .to_string(),
        "the `push` payload has no `after`"
    );
    let mut value = fixture("gitlab/push.json");
    value["ref"] = serde_json::Value::Null;
    assert_eq!(
        parse_as(ForgeKind::Gitlab, "Push Hook", &value)
            .unwrap_err()
            .to_string(),
        "the `Push Hook` payload has no `ref`"
    );
}

#[test]
fn a_sha_that_is_not_40_hex_digits_is_refused() {
    for (after, shown) in [
        ("9a8b7c6d", "`9a8b7c6d`"),
        (
            "zz8b7c6d5e4f3a2b1c0d9e8f7a6b5c4d3e2f1a0b",
            "`zz8b7c6d5e4f3a2b1c0d9e8f7a6b5c4d3e2f1a0b`",
        ),
        ("", "``"),
    ] {
        let mut value = fixture("gitea/push.json");
        value["after"] = json!(after);
        assert_eq!(
            parse_as(ForgeKind::Gitea, "push", &value)
                .unwrap_err()
                .to_string(),
            format!("`after` is not a 40-character hex commit id: {shown}")
        );
    }
    let mut value = fixture("gitea/pull_request_synchronized.json");
    value["pull_request"]["head"]["sha"] = json!("HEAD");
    assert_eq!(
        parse_as(ForgeKind::Gitea, "pull_request", &value)
            .unwrap_err()
            .to_string(),
        "`pull_request.head.sha` is not a 40-character hex commit id: `HEAD`"
    );
    let mut value = fixture("gitlab/tag_push.json");
    value["checkout_sha"] = json!("v1.4.0");
    assert_eq!(
        parse_as(ForgeKind::Gitlab, "Tag Push Hook", &value)
            .unwrap_err()
            .to_string(),
        "`checkout_sha` is not a 40-character hex commit id: `v1.4.0`"
    );
}

#[test]
fn a_ref_that_is_neither_branch_nor_tag_is_refused() {
    for reference in ["refs/notes/commits", "refs/pull/3/head", "main", ""] {
        let mut value = fixture("gitea/push.json");
        value["ref"] = json!(reference);
        assert_eq!(
            parse_as(ForgeKind::Gitea, "push", &value)
                .unwrap_err()
                .to_string(),
            format!("ref `{reference}` is neither a branch (refs/heads/…) nor a tag (refs/tags/…)")
        );
    }
}

#[test]
fn a_pull_request_without_its_number_or_action_is_refused() {
    let mut value = fixture("gitea/pull_request_synchronized.json");
    value.as_object_mut().unwrap().remove("number");
    value["pull_request"]
        .as_object_mut()
        .unwrap()
        .remove("number");
    assert_eq!(
        parse_as(ForgeKind::Gitea, "pull_request", &value)
            .unwrap_err()
            .to_string(),
        "the `pull_request` payload has no `number`"
    );
    let e = parse_as(ForgeKind::Github, "pull_request", &json!({"number": 1})).unwrap_err();
    assert_eq!(e.to_string(), "the `pull_request` payload has no `action`");
}

#[test]
fn event_type_headers_are_checked() {
    let e = wharf_forge::parse(ForgeKind::Github, &headers(&[]), b"{}").unwrap_err();
    assert_eq!(
        e.to_string(),
        "missing X-GitHub-Event header (is this a GitHub webhook delivery?)"
    );
    let h = headers(&[("X-GitHub-Event", "push"), ("X-GitHub-Event", "ping")]);
    let e = wharf_forge::parse(ForgeKind::Github, &h, b"{}").unwrap_err();
    assert_eq!(
        e.to_string(),
        "malformed X-GitHub-Event header: sent more than once"
    );
    let mut h = http::HeaderMap::new();
    h.insert(
        "x-github-event",
        http::HeaderValue::from_bytes(b"p\xc3\xbcsh").unwrap(),
    );
    let e = wharf_forge::parse(ForgeKind::Github, &h, b"{}").unwrap_err();
    assert_eq!(
        e.to_string(),
        "malformed X-GitHub-Event header: not printable ASCII"
    );
}

#[test]
fn an_unknown_event_type_is_ignored_whatever_the_body() {
    for body in [&b""[..], b"\x00\x01", b"{\"ref\": 1}"] {
        let d = parse_bytes(ForgeKind::Github, "star", body).unwrap();
        assert_eq!(
            d.hook,
            Hook::Ignored {
                reason: "event type `star`".into()
            }
        );
    }
    // The reason quotes the type safely, whatever it is.
    let d = parse_bytes(ForgeKind::Github, "we`ird", b"").unwrap();
    assert_eq!(
        d.hook,
        Hook::Ignored {
            reason: "event type `we`ird`".into()
        }
    );
}

#[test]
fn ping_needs_no_body() {
    let d = parse_bytes(ForgeKind::Github, "ping", b"").unwrap();
    assert_eq!(d.hook, Hook::Ping);
}
