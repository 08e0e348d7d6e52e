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

const RELEASE_PIPELINE: &str = r#"version: 1
jobs:
  build:
    run: mkdir -p dist && echo wheel > dist/app.whl
    artifacts: [dist/*.whl]
  pack:
    needs: [build]
    steps:
      - package: { paths: [dist], output: "out/app.tar.gz" }
  release:
    needs: [pack]
    steps:
      - release: { changelog: CHANGELOG.md }
"#;

fn release_project() -> Project {
    let p = Project::new(RELEASE_PIPELINE);
    p.write(".gitignore", ".wharf/\ndist/\nout/\n");
    p.git_init();
    p.git(&["tag", "-a", "-m", "first", "v1.4.2"]);
    p.commit("feat: add --json").commit("fix: exit codes");
    p
}

#[test]
fn the_release_step_tags_records_and_writes_the_changelog() {
    let p = release_project();
    let run = p.wharf(&["run", "--plain"]).expect(0);
    assert!(
        run.stderr()
            .contains("released 1.5.0 (tagged v1.5.0, 2 items)"),
        "{}",
        run.stderr()
    );
    let tag = p.git(&["cat-file", "-p", "v1.5.0"]);
    assert!(
        tag.contains("\n## 1.5.0 (2025-11-24)\n\n### Features\n\n- add --json ("),
        "{tag}"
    );
    assert_eq!(
        p.git(&["rev-parse", "v1.5.0^{commit}"]),
        p.git(&["rev-parse", "HEAD"])
    );
    let rec = p
        .wharf(&["release", "show", "v1.5.0", "--json"])
        .expect(0)
        .json();
    assert_eq!(rec["tag"], "v1.5.0");
    assert_eq!(rec["run"], 1);
    let kinds: Vec<(&str, &str)> = rec["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|i| (i["kind"].as_str().unwrap(), i["name"].as_str().unwrap()))
        .collect();
    assert_eq!(
        kinds,
        [("artifact", "dist/app.whl"), ("package", "out/app.tar.gz")]
    );
    for i in rec["items"].as_array().unwrap() {
        assert!(i["digest"].as_str().unwrap().starts_with("sha256:"));
    }
    let changelog = p.read("CHANGELOG.md");
    assert!(
        changelog.starts_with("# Changelog\n\n## 1.5.0 (2025-11-24)\n"),
        "{changelog}"
    );
    // a second run of the same commit: the tag is there already, nothing to release
    let again = p.wharf(&["run", "--plain"]).expect(0);
    assert!(
        again.stderr().contains("nothing to release"),
        "{}",
        again.stderr()
    );
    assert_eq!(p.read("CHANGELOG.md"), changelog);
    let list = p.wharf(&["releases", "--json"]).expect(0).json();
    assert_eq!(list.as_array().unwrap().len(), 1);
    // Each release whole, with what it ships, as `release show` gives it.
    assert_eq!(list[0]["items"], rec["items"], "{list}");
    assert!(
        p.wharf(&["releases"])
            .expect(0)
            .stdout()
            .contains("VERSION  TAG     COMMIT")
            && p.wharf(&["releases"])
                .expect(0)
                .stdout()
                .contains("1.5.0    v1.5.0")
    );
}

#[test]
fn a_tag_run_releases_that_version_with_the_changes_since_the_previous_one() {
    let p = release_project();
    p.git(&["tag", "-a", "-m", "v1.5.0", "v1.5.0"]);
    let run = p
        .wharf(&["run", "--plain", "--event", "tag", "--tag", "v1.5.0"])
        .expect(0);
    assert!(
        run.stderr()
            .contains("released 1.5.0 (tag v1.5.0, 2 items)"),
        "{}",
        run.stderr()
    );
    let rec = p
        .wharf(&["release", "show", "1.5.0", "--json"])
        .expect(0)
        .json();
    let notes = rec["notes"].as_str().unwrap();
    assert!(
        notes.contains("- add --json (") && notes.contains("- exit codes ("),
        "{notes}"
    );
}

#[test]
fn a_release_tag_on_another_commit_is_an_error_and_unknown_releases_are_named() {
    let p = release_project();
    // the version the plan asks for is taken by a commit on another branch
    p.git(&["checkout", "-q", "-b", "side"]);
    p.commit("feat: elsewhere");
    p.git(&["tag", "-a", "-m", "x", "v1.5.0"]);
    p.git(&["checkout", "-q", "main"]);
    let run = p.wharf(&["run", "--plain"]).expect(1);
    assert!(
        run.stderr().contains("tag v1.5.0 already exists on commit"),
        "{}",
        run.stderr()
    );
    let show = p.wharf(&["release", "show", "3.0.0"]).expect(2);
    assert!(show.stderr().contains("error: there is no release 3.0.0"));
    assert!(
        show.stderr()
            .contains("hint: `wharf releases` lists the recorded releases")
    );
}

#[test]
fn the_release_step_publishes_to_a_forge_and_updates_it_on_a_rerun() {
    use wharf_test_support::forge::{FakeForge, FakeKind, OWNER, REPO, TOKEN};
    let forge = FakeForge::start(FakeKind::GitHub);
    let pipeline = format!(
        r#"version: 1
jobs:
  build:
    run: mkdir -p dist && echo wheel > dist/app.whl
    artifacts: [dist/*.whl]
  release:
    needs: [build]
    secrets: [FORGE_TOKEN]
    steps:
      - release:
          forge: {{ kind: github, url: "{}", repository: {OWNER}/{REPO}, token: FORGE_TOKEN, assets: [dist/*.whl] }}
"#,
        forge.api_url()
    );
    let p = Project::new(&pipeline);
    p.write(".gitignore", ".wharf/\ndist/\n");
    p.git_init();
    p.commit("feat: first feature");
    p.git(&["tag", "-a", "-m", "v0.1.0", "v0.1.0"]);
    let run = |p: &Project| {
        p.cmd(&[
            "run",
            "--plain",
            "--event",
            "tag",
            "--tag",
            "v0.1.0",
            "--secrets-from-env",
        ])
        .env("FORGE_TOKEN", TOKEN)
        .output()
        .unwrap()
    };
    let first = run(&p);
    let stderr = String::from_utf8_lossy(&first.stderr);
    assert!(first.status.success(), "{stderr}");
    assert!(stderr.contains("created the github release"), "{stderr}");
    assert!(!stderr.contains(TOKEN), "{stderr}");
    let releases = forge.releases();
    assert_eq!(releases.len(), 1);
    assert_eq!(releases[0].tag_name, "v0.1.0");
    assert!(
        releases[0]
            .body
            .contains("### Features\n\n- first feature ("),
        "{}",
        releases[0].body
    );
    assert_eq!(releases[0].assets.len(), 1);
    assert_eq!(releases[0].assets[0].name, "app.whl");
    assert_eq!(releases[0].assets[0].content, b"wheel\n");
    // a re-run updates the same release, uploads nothing new
    let second = run(&p);
    let stderr = String::from_utf8_lossy(&second.stderr);
    assert!(second.status.success(), "{stderr}");
    assert!(stderr.contains("updated the github release"), "{stderr}");
    assert_eq!(forge.releases().len(), 1, "never a duplicate");
    assert_eq!(forge.releases()[0].assets.len(), 1);
    // a wrong token fails the step with the forge's hint, never the token
    let bad = p
        .cmd(&[
            "run",
            "--plain",
            "--event",
            "tag",
            "--tag",
            "v0.1.0",
            "--secrets-from-env",
        ])
        .env("FORGE_TOKEN", "not-the-token-123")
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&bad.stderr);
    assert_eq!(bad.status.code(), Some(1), "{stderr}");
    assert!(stderr.contains("401"), "{stderr}");
    assert!(!stderr.contains("not-the-token-123"), "{stderr}");
}

#[test]
fn a_release_step_with_tag_false_records_without_tagging() {
    let p = Project::new(&RELEASE_PIPELINE.replace(
        "- release: { changelog: CHANGELOG.md }",
        "- release: { changelog: CHANGELOG.md, tag: false }",
    ));
    p.write(".gitignore", ".wharf/\ndist/\nout/\n");
    p.git_init();
    p.git(&["tag", "-a", "-m", "first", "v1.4.2"]);
    p.commit("feat: add --json");
    let run = p.wharf(&["run", "--plain"]).expect(0);
    assert!(
        run.stderr()
            .contains("released 1.5.0 (tag v1.5.0, 2 items)"),
        "{}",
        run.stderr()
    );
    assert_eq!(p.git(&["tag", "--list"]), "v1.4.2", "no tag was created");
    let rec = p
        .wharf(&["release", "show", "1.5.0", "--json"])
        .expect(0)
        .json();
    assert_eq!(rec["tag"], "v1.5.0");
}

#[test]
fn notes_keep_every_commit_type_under_its_own_heading() {
    let p = Project::new("version: 1\njobs:\n  a:\n    run: \"true\"\n");
    p.git_init();
    p.git(&["tag", "-a", "-m", "first", "v1.4.2"]);
    for message in [
        "docs: describe the install pin",
        "ci: run the export check",
        "build: bump the toolchain",
        "perf: stream the layer",
        "refactor: split export.rs",
        "security(auth): rotate the signing key",
        "Tidy up",
    ] {
        p.commit(message);
    }
    let notes = p.wharf(&["release", "notes"]).expect(0).stdout();
    let headings: Vec<&str> = notes
        .lines()
        .filter_map(|l| l.strip_prefix("### "))
        .collect();
    assert_eq!(
        headings,
        [
            "Performance",
            "Documentation",
            "Refactoring",
            "Build system",
            "Continuous integration",
            "Other"
        ],
        "{notes}"
    );
    for line in [
        "### Documentation\n\n- describe the install pin (",
        "### Continuous integration\n\n- run the export check (",
        "### Build system\n\n- bump the toolchain (",
        "### Performance\n\n- stream the layer (",
        "### Refactoring\n\n- split export.rs (",
        // a type without a heading of its own keeps its type
        "### Other\n\n- security(auth): rotate the signing key (",
    ] {
        assert!(notes.contains(line), "{line}\n---\n{notes}");
    }
    assert!(notes.contains("\n- Tidy up ("), "{notes}");
    let plan = p.wharf(&["release", "plan", "--json"]).expect(0).json();
    let groups: Vec<&str> = plan["commits"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| c["group"].as_str().unwrap())
        .collect();
    assert_eq!(
        groups,
        [
            "other",
            "other",
            "refactoring",
            "performance",
            "build",
            "ci",
            "documentation"
        ]
    );
}

#[test]
fn the_release_record_lists_declared_artifacts_and_pushed_images_not_the_layout() {
    use wharf_test_support::registry::{Auth, Registry};
    let registry = Registry::start(Auth::None);
    let image = format!("127.0.0.1:{}/demo/app", registry.port);
    let p = Project::new(&format!(
        r#"version: 1
jobs:
  build:
    run: mkdir -p dist app build/lib && echo wheel > dist/app.whl && echo hi > app/hello.txt && echo tmp > build/lib/x.py
    artifacts: [dist/*.whl, app/]
  image:
    needs: [build]
    steps:
      - build-image:
          layers: [{{ src: app/, dest: /app/ }}]
          image: {image}
          output: build/app-image
          push: true
    # handed on whole, as a job that smoke-tests the layout would need it
    artifacts: [build/app-image/]
  release:
    needs: [image]
    steps:
      - release: {{ tag: false }}
"#
    ));
    p.write(".gitignore", ".wharf/\ndist/\napp/\nbuild/\n");
    p.git_init();
    p.commit("feat: first");
    let run = p.wharf(&["run", "--plain"]).expect(0);
    let rec = p
        .wharf(&["release", "show", "0.1.0", "--json"])
        .expect(0)
        .json();
    let items: Vec<(String, String)> = rec["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|i| {
            (
                i["kind"].as_str().unwrap().to_string(),
                i["name"].as_str().unwrap().to_string(),
            )
        })
        .collect();
    let kinds: Vec<&str> = items.iter().map(|(k, _)| k.as_str()).collect();
    assert_eq!(
        &kinds[..2],
        ["artifact", "artifact"],
        "{items:?}\n{}",
        run.stderr()
    );
    assert_eq!(items[0].1, "dist/app.whl");
    assert_eq!(items[1].1, "app/hello.txt");
    // the image by where it was pushed; not the layout in the job's workspace, nor its files
    assert!(kinds[2..].iter().all(|k| *k == "pushed-image"), "{items:?}");
    assert!(
        items.iter().any(|(_, n)| *n == format!("{image}:latest")),
        "{items:?}"
    );
    assert!(
        !items.iter().any(|(_, n)| n.starts_with("build/")),
        "{items:?}"
    );
}
