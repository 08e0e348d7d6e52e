//! Versions and notes planned from real git repositories made in temporary directories.

use std::path::Path;
use std::process::Command;

use wharf_release::{Bump, NotesOptions, PlanOptions, Repo, commit_url_base, plan, render_notes};

struct Git {
    dir: tempfile::TempDir,
    n: usize,
}

impl Git {
    fn new() -> Git {
        let g = Git {
            dir: tempfile::tempdir().unwrap(),
            n: 0,
        };
        g.run(&["init", "-q", "-b", "main"]);
        g
    }

    fn path(&self) -> &Path {
        self.dir.path()
    }

    fn run(&self, args: &[&str]) -> String {
        let out = Command::new("git")
            .current_dir(self.path())
            .args(args)
            .env("GIT_AUTHOR_NAME", "t")
            .env("GIT_AUTHOR_EMAIL", "t@example.invalid")
            .env("GIT_COMMITTER_NAME", "t")
            .env("GIT_COMMITTER_EMAIL", "t@example.invalid")
            .env("GIT_COMMITTER_DATE", "1764000000 +0000")
            .env("GIT_AUTHOR_DATE", "1764000000 +0000")
            .output()
            .unwrap();
        assert!(
            out.status.success(),
            "git {args:?}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        String::from_utf8_lossy(&out.stdout).trim().to_string()
    }

    fn commit(&mut self, message: &str) -> &mut Git {
        self.n += 1;
        std::fs::write(self.path().join(format!("f{}", self.n)), message).unwrap();
        self.run(&["add", "-A"]);
        self.run(&["commit", "-q", "-m", message]);
        self
    }

    fn tag(&mut self, name: &str) -> &mut Git {
        self.run(&["tag", "-a", "-m", name, name]);
        self
    }

    fn plan(&self) -> wharf_release::ReleasePlan {
        plan(&Repo::open(self.path()).unwrap(), &PlanOptions::default()).unwrap()
    }

    fn plan_pre(&self, pre: &str) -> wharf_release::ReleasePlan {
        let opts = PlanOptions {
            pre: Some(pre.into()),
            ..Default::default()
        };
        plan(&Repo::open(self.path()).unwrap(), &opts).unwrap()
    }
}

fn next(p: &wharf_release::ReleasePlan) -> Option<String> {
    p.next.as_ref().map(|v| v.to_string())
}

#[test]
fn a_repository_without_tags_starts_at_0_1_0() {
    let mut g = Git::new();
    g.commit("feat: first").commit("fix: second");
    let p = g.plan();
    assert_eq!(
        (p.current.clone(), next(&p), p.bump),
        (None, Some("0.1.0".into()), Bump::Minor)
    );
    assert_eq!(p.commits.len(), 2);
    assert!(!p.shallow);
}

#[test]
fn conventional_commits_decide_the_bump() {
    for (messages, expected, bump) in [
        (&["fix: a", "docs: b"][..], "1.2.4", Bump::Patch),
        (&["perf: a"][..], "1.2.4", Bump::Patch),
        (&["fix: a", "feat(ui): b"][..], "1.3.0", Bump::Minor),
        (&["feat!: a", "fix: b"][..], "2.0.0", Bump::Major),
        (
            &["fix: a\n\nBREAKING CHANGE: config moved"][..],
            "2.0.0",
            Bump::Major,
        ),
        (&["Update README", "wip"][..], "1.2.4", Bump::Patch),
    ] {
        let mut g = Git::new();
        g.commit("chore: init").tag("v1.2.3");
        for m in messages {
            g.commit(m);
        }
        let p = g.plan();
        assert_eq!(p.current.as_ref().unwrap().name, "v1.2.3");
        assert_eq!(
            (next(&p).as_deref(), p.bump),
            (Some(expected), bump),
            "{messages:?}"
        );
        assert_eq!(
            p.commits.len(),
            messages.len(),
            "only commits since the tag"
        );
        assert!(p.deciding().all(|c| c.bump == bump));
    }
}

#[test]
fn nothing_since_the_last_release_means_no_next_version() {
    let mut g = Git::new();
    g.commit("feat: a").tag("1.0.0");
    let p = g.plan();
    assert_eq!(p.current.unwrap().name, "1.0.0", "tags without a `v` count");
    assert_eq!((p.next, p.bump), (None, Bump::None));
}

#[test]
fn below_1_0_a_breaking_change_bumps_the_minor() {
    let mut g = Git::new();
    g.commit("feat: a").tag("v0.4.1").commit("feat!: break it");
    assert_eq!(next(&g.plan()).as_deref(), Some("0.5.0"));
}

#[test]
fn non_semver_tags_and_tags_on_other_branches_are_ignored() {
    let mut g = Git::new();
    g.commit("feat: a").tag("v1.0.0");
    g.run(&["checkout", "-q", "-b", "side"]);
    g.commit("feat: side work").tag("v9.0.0");
    g.run(&["checkout", "-q", "main"]);
    g.commit("fix: b")
        .tag("release-2026")
        .tag("latest")
        .commit("fix: c");
    let p = g.plan();
    assert_eq!(p.current.as_ref().unwrap().name, "v1.0.0");
    assert_eq!(next(&p).as_deref(), Some("1.0.1"));
    assert_eq!(p.commits.len(), 2);
}

#[test]
fn merged_branches_count_but_merge_commits_do_not() {
    let mut g = Git::new();
    g.commit("chore: init").tag("v1.0.0");
    g.run(&["checkout", "-q", "-b", "feature"]);
    g.commit("feat: from the branch");
    g.run(&["checkout", "-q", "main"]);
    g.commit("fix: on main");
    g.run(&[
        "merge",
        "-q",
        "--no-ff",
        "-m",
        "Merge branch 'feature'",
        "feature",
    ]);
    let p = g.plan();
    assert_eq!(next(&p).as_deref(), Some("1.1.0"));
    let summaries: Vec<&str> = p.commits.iter().map(|c| c.summary.as_str()).collect();
    assert!(
        summaries.contains(&"feat: from the branch"),
        "{summaries:?}"
    );
    assert!(
        !summaries.iter().any(|s| s.starts_with("Merge")),
        "{summaries:?}"
    );
}

#[test]
fn pre_releases_count_up_and_are_promoted() {
    let mut g = Git::new();
    g.commit("chore: init")
        .tag("v1.0.0")
        .commit("feat: x")
        .tag("v1.1.0-rc.1")
        .commit("fix: y");
    let p = g.plan_pre("rc");
    assert_eq!(next(&p).as_deref(), Some("1.1.0-rc.2"));
    assert_eq!(
        p.current.as_ref().unwrap().name,
        "v1.0.0",
        "the last stable release"
    );
    assert_eq!(
        next(&g.plan()).as_deref(),
        Some("1.1.0"),
        "without --pre: the release itself"
    );
    assert_eq!(next(&g.plan_pre("beta")).as_deref(), Some("1.1.0-beta.1"));
    let bad = plan(
        &Repo::open(g.path()).unwrap(),
        &PlanOptions {
            pre: Some("rc.1".into()),
            ..Default::default()
        },
    );
    assert!(
        bad.unwrap_err()
            .to_string()
            .contains("may only use letters, digits and `-`")
    );
}

#[test]
fn a_shallow_clone_says_so() {
    let mut g = Git::new();
    g.commit("feat: a")
        .tag("v1.0.0")
        .commit("fix: b")
        .commit("fix: c");
    let clone = tempfile::tempdir().unwrap();
    let url = format!("file://{}", g.path().display());
    let st = Command::new("git")
        .args(["clone", "-q", "--depth", "1", &url])
        .arg(clone.path().join("c"))
        .status()
        .unwrap();
    assert!(st.success());
    let p = plan(
        &Repo::open(&clone.path().join("c")).unwrap(),
        &PlanOptions::default(),
    )
    .unwrap();
    assert!(p.shallow);
    assert_eq!(p.current, None, "the tag is outside the shallow history");
}

#[test]
fn notes_for_a_plan_link_to_the_forge() {
    let mut g = Git::new();
    g.commit("chore: init")
        .tag("v1.0.0")
        .commit("feat(api): add /version")
        .commit("Tidy up");
    g.run(&["remote", "add", "origin", "git@github.com:acme/app.git"]);
    let repo = Repo::open(g.path()).unwrap();
    let p = g.plan();
    let notes = render_notes(
        &p.commits,
        &NotesOptions {
            version: next(&p).unwrap(),
            time: Some(repo.commit_time("HEAD").unwrap()),
            link_base: repo.origin_url().as_deref().and_then(commit_url_base),
        },
    );
    let feat = &p.commits[1].sha;
    assert!(
        notes.starts_with("## 1.1.0 (2025-11-24)\n\n### Features\n\n"),
        "{notes}"
    );
    assert!(
        notes.contains(&format!(
            "- **api:** add /version ([{}](https://github.com/acme/app/commit/{feat}))",
            &feat[..7]
        )),
        "{notes}"
    );
    assert!(notes.contains("### Other\n\n- Tidy up ("), "{notes}");
}

#[test]
fn outside_a_repository_is_a_clear_error() {
    let dir = tempfile::tempdir().unwrap();
    let err = Repo::open(dir.path()).unwrap_err().to_string();
    assert!(err.ends_with("is not in a git repository"), "{err}");
}

#[test]
fn a_decided_version_lists_the_changes_since_the_release_before_it() {
    let mut g = Git::new();
    g.commit("chore: init")
        .tag("v0.1.0")
        .commit("feat: a")
        .commit("fix: b")
        .tag("v0.2.0");
    let opts = PlanOptions {
        version: Some("0.2.0".parse().unwrap()),
        ..Default::default()
    };
    let p = plan(&Repo::open(g.path()).unwrap(), &opts).unwrap();
    assert_eq!(p.current.unwrap().name, "v0.1.0");
    assert_eq!(
        next(&plan(&Repo::open(g.path()).unwrap(), &opts).unwrap()).as_deref(),
        Some("0.2.0")
    );
    assert_eq!(p.commits.len(), 2);
}
