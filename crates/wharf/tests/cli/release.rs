//! `wharf release plan|notes` on real git repositories.

use crate::helper::Project;

fn project() -> Project {
    let p = Project::new("version: 1\njobs:\n  a:\n    run: \"true\"\n");
    p.git_init();
    p.git(&["tag", "-a", "-m", "first", "v1.4.2"]);
    p.commit("fix(cli): exit 2 on bad input")
        .commit("feat: add --json")
        .commit("Tidy up");
    p.git(&[
        "remote",
        "add",
        "origin",
        "https://github.com/acme/demo.git",
    ]);
    p
}

#[test]
fn plan_prints_current_next_and_the_deciding_commits() {
    let p = project();
    let run = p.wharf(&["release", "plan"]).expect(0);
    assert!(
        run.stdout()
            .starts_with("1.4.2 -> 1.5.0 (minor bump)\ndecided by:\n  "),
        "{}",
        run.stdout()
    );
    assert!(run.stdout().contains(" feat: add --json\n"));
    let json = p.wharf(&["release", "plan", "--json"]).expect(0).json();
    assert_eq!(json["current"]["name"], "v1.4.2");
    assert_eq!(json["next"], "1.5.0");
    assert_eq!(json["bump"], "minor");
    assert_eq!(json["commits"].as_array().unwrap().len(), 3);
    assert_eq!(json["deciding"].as_array().unwrap().len(), 1);
    let pre = p
        .wharf(&["release", "plan", "--pre", "rc", "--json"])
        .expect(0)
        .json();
    assert_eq!(pre["next"], "1.5.0-rc.1");
}

#[test]
fn notes_group_link_and_write_the_changelog_once() {
    let p = project();
    let notes = p.wharf(&["release", "notes"]).expect(0).stdout();
    assert!(
        notes.starts_with("## 1.5.0 (2025-11-24)\n\n### Features\n\n- add --json (["),
        "{notes}"
    );
    assert!(
        notes.contains("### Fixes\n\n- **cli:** exit 2 on bad input (["),
        "{notes}"
    );
    assert!(
        notes.contains("](https://github.com/acme/demo/commit/"),
        "{notes}"
    );
    assert!(notes.contains("### Other\n\n- Tidy up (["), "{notes}");
    p.write("CHANGELOG.md", "# Changelog\n\n## 1.4.2\n\n- old\n");
    let first = p.wharf(&["release", "notes", "--write"]).expect(0);
    assert!(
        first.stderr().contains("added 1.5.0 to"),
        "{}",
        first.stderr()
    );
    let text = p.read("CHANGELOG.md");
    assert!(
        text.starts_with("# Changelog\n\n## 1.5.0 (2025-11-24)\n"),
        "{text}"
    );
    assert!(text.ends_with("## 1.4.2\n\n- old\n"), "{text}");
    let second = p.wharf(&["release", "notes", "--write"]).expect(0);
    assert!(second.stderr().contains("already has 1.5.0: unchanged"));
    assert_eq!(p.read("CHANGELOG.md"), text, "idempotent");
}

#[test]
fn notes_since_a_tag_and_bad_input() {
    let p = project();
    p.git(&["tag", "v1.5.0"]);
    let none = p.wharf(&["release", "notes"]).expect(2);
    assert!(
        none.stderr()
            .contains("error: nothing to release: no commits since the last release"),
        "{}",
        none.stderr()
    );
    let since = p
        .wharf(&[
            "release",
            "notes",
            "--since",
            "v1.4.2",
            "--release-version",
            "1.5.0",
        ])
        .expect(0);
    assert!(
        since.stdout().starts_with("## 1.5.0 (2025-11-24)\n"),
        "{}",
        since.stdout()
    );
    assert_eq!(since.stdout().matches("\n- ").count(), 3);
    let bad = p
        .wharf(&["release", "notes", "--since", "v0.0.0-nope"])
        .expect(2);
    assert!(
        bad.stderr()
            .contains("error: `v0.0.0-nope` does not name a commit"),
        "{}",
        bad.stderr()
    );
    assert!(
        bad.stderr()
            .contains("hint: name a tag or commit that exists")
    );
    let pre = p.wharf(&["release", "plan", "--pre", "rc.1"]).expect(2);
    assert!(
        pre.stderr()
            .contains("may only use letters, digits and `-`"),
        "{}",
        pre.stderr()
    );
}

#[test]
fn outside_git_is_a_usage_error() {
    let p = Project::new("version: 1\njobs:\n  a:\n    run: \"true\"\n");
    let run = p.wharf(&["release", "plan"]).expect(2);
    assert!(
        run.stderr().contains("is not in a git repository"),
        "{}",
        run.stderr()
    );
    assert!(
        run.stderr()
            .contains("hint: releases are planned from git history")
    );
}
