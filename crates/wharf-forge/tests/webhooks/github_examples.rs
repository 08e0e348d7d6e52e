//! GitHub's published example payloads (the npm package `@octokit/webhooks-examples`):
//! every push, pull request and ping means what its fields say, and every example of every
//! event type parses.

use std::path::PathBuf;

use serde_json::Value;
use wharf_forge::{ForgeKind, Hook, PrAction};

use crate::support::{headers, hmac_hex, parse_as};

/// Where the package is: `WHARF_WEBHOOK_EXAMPLES`, else where `.ci/run` puts npm packages.
fn package_dir() -> PathBuf {
    let dir = std::env::var_os("WHARF_WEBHOOK_EXAMPLES")
        .map(PathBuf::from)
        .unwrap_or_else(|| {
            PathBuf::from("/opt/wharf-ci/npm/node_modules/@octokit/webhooks-examples")
        });
    assert!(
        dir.join("api.github.com/index.json").is_file(),
        "GitHub's example payloads are not installed at {}; .ci/run installs them \
         (npm install @octokit/webhooks-examples@7.6.1 in /opt/wharf-ci/npm), or point \
         WHARF_WEBHOOK_EXAMPLES at the package",
        dir.display()
    );
    dir
}

/// `(event type, examples)` from one of the package's index files.
fn load(relative: &str) -> Vec<(String, Vec<Value>)> {
    let path = package_dir().join(relative);
    let text = std::fs::read_to_string(&path).unwrap();
    let index: Vec<Value> = serde_json::from_str(&text).unwrap();
    index
        .into_iter()
        .map(|entry| {
            let name = entry["name"].as_str().expect("an event name").to_string();
            let examples = entry["examples"].as_array().expect("examples").clone();
            (name, examples)
        })
        .collect()
}

fn examples_of(event: &str) -> Vec<Value> {
    let examples = load("api.github.com/index.json")
        .into_iter()
        .find(|(name, _)| name == event)
        .map(|(_, examples)| examples)
        .unwrap_or_default();
    assert!(!examples.is_empty(), "no `{event}` examples in the package");
    examples
}

fn hook(event: &str, example: &Value) -> Hook {
    parse_as(ForgeKind::Github, event, example)
        .unwrap_or_else(|e| panic!("a `{event}` example fails: {e}"))
        .hook
}

#[test]
fn every_push_example_is_a_push_a_tag_or_a_deletion() {
    let (mut pushes, mut tags, mut deletions) = (0, 0, 0);
    for example in examples_of("push") {
        let reference = example["ref"].as_str().unwrap();
        let after = example["after"].as_str().unwrap();
        let deleted = example["deleted"].as_bool().unwrap_or(false) || after.starts_with("0000");
        match hook("push", &example) {
            Hook::Deleted { reference: r } => {
                assert!(deleted, "{reference}");
                assert_eq!(r, reference);
                deletions += 1;
            }
            Hook::Push {
                branch,
                sha,
                before,
                message,
                actor,
            } => {
                assert!(!deleted);
                assert_eq!(Some(branch.as_str()), reference.strip_prefix("refs/heads/"));
                assert_eq!(sha, after);
                assert_eq!(before, example["before"].as_str().unwrap());
                assert_eq!(
                    message.as_deref(),
                    example["head_commit"]["message"].as_str()
                );
                assert_eq!(actor.as_deref(), example["pusher"]["name"].as_str());
                pushes += 1;
            }
            Hook::Tag { tag, sha, actor } => {
                assert!(!deleted);
                assert_eq!(Some(tag.as_str()), reference.strip_prefix("refs/tags/"));
                assert_eq!(sha, after);
                assert_eq!(actor.as_deref(), example["pusher"]["name"].as_str());
                tags += 1;
            }
            other => panic!("a push example parsed to {other:?}"),
        }
    }
    // The package has all three kinds; if it ever lost one, this test would check less.
    assert!(
        pushes > 0 && tags > 0 && deletions > 0,
        "{pushes} {tags} {deletions}"
    );
}

#[test]
fn pull_request_examples_start_runs_only_when_opened_synchronized_or_reopened() {
    let mut seen = Vec::new();
    for example in examples_of("pull_request") {
        let action = example["action"].as_str().unwrap().to_string();
        let pr = &example["pull_request"];
        let expected = match action.as_str() {
            "opened" => Some(PrAction::Opened),
            "synchronize" => Some(PrAction::Synchronized),
            "reopened" => Some(PrAction::Reopened),
            _ => None,
        };
        match (hook("pull_request", &example), expected) {
            (
                Hook::PullRequest {
                    number,
                    action: got,
                    sha,
                    head_branch,
                    base_branch,
                    fork,
                    title,
                    actor,
                },
                Some(want),
            ) => {
                assert_eq!(got, want);
                assert_eq!(number, example["number"].as_u64().unwrap());
                assert_eq!(sha, pr["head"]["sha"].as_str().unwrap());
                assert_eq!(head_branch, pr["head"]["ref"].as_str().unwrap());
                assert_eq!(base_branch, pr["base"]["ref"].as_str().unwrap());
                assert_eq!(
                    fork,
                    pr["head"]["repo"]["id"] != pr["base"]["repo"]["id"]
                        || pr["head"]["repo"].is_null()
                );
                assert_eq!(title.as_deref(), pr["title"].as_str());
                assert_eq!(actor.as_deref(), example["sender"]["login"].as_str());
                seen.push(want);
            }
            (Hook::Ignored { reason }, None) => {
                assert_eq!(reason, format!("pull request action `{action}`"));
            }
            (hook, want) => panic!("`{action}` parsed to {hook:?}, expected {want:?}"),
        }
    }
    for want in [PrAction::Opened, PrAction::Synchronized, PrAction::Reopened] {
        assert!(seen.contains(&want), "no {want:?} example was checked");
    }
}

#[test]
fn ping_examples_are_pings() {
    for example in examples_of("ping") {
        assert_eq!(hook("ping", &example), Hook::Ping);
    }
}

#[test]
fn create_and_delete_examples_are_ignored() {
    for event in ["create", "delete"] {
        for example in examples_of(event) {
            let Hook::Ignored { reason } = hook(event, &example) else {
                panic!("a `{event}` example was not ignored");
            };
            assert_eq!(
                reason,
                format!("event type `{event}` (the push reports the same change)")
            );
        }
    }
}

#[test]
fn every_example_of_every_event_type_parses() {
    let mut files = vec!["api.github.com/index.json".to_string()];
    for entry in std::fs::read_dir(package_dir()).unwrap() {
        let name = entry.unwrap().file_name().into_string().unwrap();
        if name.starts_with("ghes-") {
            files.push(format!("{name}/index.json"));
        }
    }
    let mut count = 0;
    for file in &files {
        for (event, examples) in load(file) {
            for example in &examples {
                let delivery = parse_as(ForgeKind::Github, &event, example)
                    .unwrap_or_else(|e| panic!("{file}: a `{event}` example fails: {e}"));
                assert_eq!(delivery.event_type, event);
                if !["push", "pull_request", "ping", "create", "delete"].contains(&event.as_str()) {
                    assert_eq!(
                        delivery.hook,
                        Hook::Ignored {
                            reason: format!("event type `{event}`")
                        }
                    );
                }
                count += 1;
            }
        }
    }
    // api.github.com alone has 329 examples in 7.6.1; far fewer means the files changed.
    assert!(count >= 300, "only {count} examples in {files:?}");
}

#[test]
fn push_examples_verify_when_signed_and_carry_their_delivery_id() {
    let secret = b"examples-secret";
    for example in examples_of("push") {
        let body = serde_json::to_vec_pretty(&example).unwrap();
        let sig = format!("sha256={}", hmac_hex(secret, &body));
        let h = headers(&[
            ("X-GitHub-Event", "push"),
            ("X-GitHub-Delivery", "72d3162e-cc78-11e3-81ab-4c9367dc0958"),
            ("X-Hub-Signature-256", &sig),
        ]);
        wharf_forge::verify(ForgeKind::Github, secret, &h, &body, 0).unwrap();
        let delivery = wharf_forge::parse(ForgeKind::Github, &h, &body).unwrap();
        assert_eq!(
            delivery.id.as_deref(),
            Some("72d3162e-cc78-11e3-81ab-4c9367dc0958")
        );
    }
}
