//! Gitea and Forgejo: push and pull_request payloads shaped after Gitea's
//! `modules/structs` (tests/fixtures/gitea), with Gitea's and Forgejo's header sets.

use serde_json::{Value, json};
use wharf_forge::{ForgeKind, Hook, PrAction};

use crate::support::{body, fixture, headers, parse_as};

const AFTER: &str = "9a8b7c6d5e4f3a2b1c0d9e8f7a6b5c4d3e2f1a0b";
const HEAD: &str = "fe98dc76ba54fe98dc76ba54fe98dc76ba54fe98";
const ZERO: &str = "0000000000000000000000000000000000000000";
const MESSAGE: &str = "Wire the health check into the router\n\nSo the proxy can probe it.\n";

fn hook(event: &str, value: &Value) -> Hook {
    parse_as(ForgeKind::Gitea, event, value).unwrap().hook
}

#[test]
fn a_push_is_a_branch_push_by_the_pusher() {
    let value = fixture("gitea/push.json");
    let h = headers(&[
        ("X-Gitea-Event", "push"),
        ("X-Gitea-Event-Type", "push"),
        ("X-Gitea-Delivery", "2b1a9a4e-0a3d-4b7e-9f0c-5f7b1d6c8e21"),
        ("X-GitHub-Event", "push"),
        ("X-GitHub-Delivery", "2b1a9a4e-0a3d-4b7e-9f0c-5f7b1d6c8e21"),
        ("X-Gogs-Event", "push"),
    ]);
    let delivery = wharf_forge::parse(ForgeKind::Gitea, &h, &body(&value)).unwrap();
    assert_eq!(
        delivery.id.as_deref(),
        Some("2b1a9a4e-0a3d-4b7e-9f0c-5f7b1d6c8e21")
    );
    assert_eq!(delivery.event_type, "push");
    assert_eq!(
        delivery.hook,
        Hook::Push {
            branch: "main".into(),
            sha: AFTER.into(),
            before: "3f1c5b6e7d8a9b0c1d2e3f4a5b6c7d8e9f0a1b2c".into(),
            message: Some(MESSAGE.into()),
            actor: Some("dana".into()),
        }
    );
}

#[test]
fn forgejo_headers_come_first() {
    let value = fixture("gitea/push.json");
    let h = headers(&[
        ("X-Forgejo-Event", "push"),
        ("X-Forgejo-Delivery", "forgejo-id"),
        ("X-Gitea-Event", "create"),
        ("X-Gitea-Delivery", "gitea-id"),
        ("X-GitHub-Event", "delete"),
    ]);
    let delivery = wharf_forge::parse(ForgeKind::Gitea, &h, &body(&value)).unwrap();
    assert_eq!(delivery.id.as_deref(), Some("forgejo-id"));
    assert_eq!(delivery.event_type, "push");
    assert!(matches!(delivery.hook, Hook::Push { .. }));
    // Only GitHub's mirror headers: still understood.
    let h = headers(&[("X-GitHub-Event", "push"), ("X-GitHub-Delivery", "gh-id")]);
    let delivery = wharf_forge::parse(ForgeKind::Gitea, &h, &body(&value)).unwrap();
    assert_eq!(delivery.id.as_deref(), Some("gh-id"));
    let e = wharf_forge::parse(ForgeKind::Gitea, &headers(&[]), &body(&value)).unwrap_err();
    assert_eq!(
        e.to_string(),
        "missing X-Forgejo-Event header (is this a Gitea/Forgejo webhook delivery?)"
    );
}

#[test]
fn without_head_commit_the_message_is_the_commit_whose_id_is_after() {
    // The fixture lists commits newest first; matching by id does not care.
    let mut value = fixture("gitea/push.json");
    value["head_commit"] = Value::Null;
    let Hook::Push { message, .. } = hook("push", &value) else {
        panic!("not a push");
    };
    assert_eq!(message.as_deref(), Some(MESSAGE));
    value["commits"] = json!([]);
    let Hook::Push { message, .. } = hook("push", &value) else {
        panic!("not a push");
    };
    assert_eq!(message, None);
}

#[test]
fn the_actor_falls_back_from_pusher_login_to_username_to_sender() {
    let mut value = fixture("gitea/push.json");
    value["pusher"].as_object_mut().unwrap().remove("login");
    value["pusher"]["username"] = json!("dana-compat");
    let Hook::Push { actor, .. } = hook("push", &value) else {
        panic!("not a push");
    };
    assert_eq!(actor.as_deref(), Some("dana-compat"));
    value["pusher"] = Value::Null;
    value["sender"]["login"] = json!("sender-login");
    let Hook::Push { actor, .. } = hook("push", &value) else {
        panic!("not a push");
    };
    assert_eq!(actor.as_deref(), Some("sender-login"));
}

#[test]
fn a_tag_push_and_a_deletion() {
    let mut tag = fixture("gitea/push.json");
    tag["ref"] = json!("refs/tags/v1.4.0");
    tag["before"] = json!(ZERO);
    tag["commits"] = json!([]);
    assert_eq!(
        hook("push", &tag),
        Hook::Tag {
            tag: "v1.4.0".into(),
            sha: AFTER.into(),
            actor: Some("dana".into()),
        }
    );
    let mut gone = fixture("gitea/push.json");
    gone["before"] = json!(AFTER);
    gone["after"] = json!(ZERO);
    gone["commits"] = json!([]);
    gone["head_commit"] = Value::Null;
    assert_eq!(
        hook("push", &gone),
        Hook::Deleted {
            reference: "refs/heads/main".into()
        }
    );
    // Gitea also announces both as `create`/`delete`; the push is the one acted on.
    for event in ["create", "delete"] {
        let body = json!({"ref": "v1.4.0", "ref_type": "tag", "sha": AFTER});
        assert!(matches!(hook(event, &body), Hook::Ignored { .. }));
    }
}

#[test]
fn a_synchronized_pull_request_starts_a_run() {
    let value = fixture("gitea/pull_request_synchronized.json");
    assert_eq!(
        hook("pull_request", &value),
        Hook::PullRequest {
            number: 17,
            action: PrAction::Synchronized,
            sha: HEAD.into(),
            head_branch: "retry-push".into(),
            base_branch: "main".into(),
            fork: false,
            title: Some("Retry the registry push".into()),
            actor: Some("sam".into()),
        }
    );
}

#[test]
fn both_spellings_of_synchronize_and_the_other_starting_actions() {
    for (action, want) in [
        ("synchronized", PrAction::Synchronized),
        ("synchronize", PrAction::Synchronized),
        ("opened", PrAction::Opened),
        ("reopened", PrAction::Reopened),
    ] {
        let mut value = fixture("gitea/pull_request_synchronized.json");
        value["action"] = json!(action);
        let Hook::PullRequest { action: got, .. } = hook("pull_request", &value) else {
            panic!("{action} is not a pull request");
        };
        assert_eq!(got, want, "{action}");
    }
    for action in [
        "closed",
        "edited",
        "label_updated",
        "assigned",
        "milestoned",
        "review_requested",
    ] {
        let mut value = fixture("gitea/pull_request_synchronized.json");
        value["action"] = json!(action);
        assert_eq!(
            hook("pull_request", &value),
            Hook::Ignored {
                reason: format!("pull request action `{action}`")
            }
        );
    }
}

#[test]
fn a_pull_request_from_a_fork_is_marked() {
    let mut value = fixture("gitea/pull_request_synchronized.json");
    value["pull_request"]["head"]["repo_id"] = json!(6);
    value["pull_request"]["head"]["repo"]["id"] = json!(6);
    value["pull_request"]["head"]["repo"]["full_name"] = json!("outsider/shipyard");
    let Hook::PullRequest { fork, .. } = hook("pull_request", &value) else {
        panic!("not a pull request");
    };
    assert!(fork);
    // Only `repo_id` (no `repo` object), as older Gitea can send.
    let mut value = fixture("gitea/pull_request_synchronized.json");
    value["pull_request"]["head"]["repo"] = Value::Null;
    value["pull_request"]["base"]["repo"] = Value::Null;
    let Hook::PullRequest { fork, .. } = hook("pull_request", &value) else {
        panic!("not a pull request");
    };
    assert!(!fork);
    value["pull_request"]["head"]["repo_id"] = json!(6);
    let Hook::PullRequest { fork, .. } = hook("pull_request", &value) else {
        panic!("not a pull request");
    };
    assert!(fork);
}

#[test]
fn review_and_comment_events_are_ignored() {
    for event in [
        "pull_request_approved",
        "pull_request_rejected",
        "pull_request_comment",
        "issue_comment",
        "release",
    ] {
        let delivery = crate::support::parse_bytes(ForgeKind::Gitea, event, b"{}").unwrap();
        assert_eq!(
            delivery.hook,
            Hook::Ignored {
                reason: format!("event type `{event}`")
            }
        );
    }
}
