//! Event defaults from the local git checkout (branch, HEAD, a tag at HEAD).

use std::path::Path;
use std::process::Command;

/// Runs `git -C root ARGS`; the trimmed stdout when it succeeds and prints something.
fn git(root: &Path, args: &[&str]) -> Option<String> {
    let out = Command::new("git")
        .arg("-C")
        .arg(root)
        .args(args)
        .stderr(std::process::Stdio::null())
        .output()
        .ok()?;
    let text = String::from_utf8(out.stdout).ok()?.trim().to_string();
    (out.status.success() && !text.is_empty()).then_some(text)
}

/// HEAD's full sha and the checked-out branch (`None` when detached or not a
/// repository), from one git process: it runs before every `wharf run`.
pub fn head(root: &Path) -> (Option<String>, Option<String>) {
    // Outside any repository, asking git costs a process for nothing.
    if std::env::var_os("GIT_DIR").is_none() && !root.ancestors().any(|d| d.join(".git").exists()) {
        return (None, None);
    }
    if let Some(out) = git(root, &["rev-parse", "HEAD", "--abbrev-ref", "HEAD"]) {
        let mut lines = out.lines();
        let sha = lines.next().map(str::to_string);
        let branch = lines.next().filter(|b| *b != "HEAD").map(str::to_string);
        return (sha, branch);
    }
    // No commit yet: there is still a branch to report.
    (
        None,
        git(root, &["symbolic-ref", "--quiet", "--short", "HEAD"]),
    )
}

/// A tag pointing at HEAD (the highest version-sorted one when several do).
pub fn tag_at_head(root: &Path) -> Option<String> {
    let tags = git(root, &["tag", "--points-at", "HEAD", "--sort=-v:refname"])?;
    tags.lines().next().map(str::to_string)
}

/// The files changed between `base` (by its merge base with HEAD) and the working tree:
/// committed, staged, unstaged and untracked files that are not ignored, sorted. `None`
/// when `base` does not name a commit.
pub fn changed_since(root: &Path, base: &str) -> Option<Vec<String>> {
    let merge_base = git(root, &["merge-base", base, "HEAD"])?;
    let mut files: Vec<String> = Vec::new();
    files.extend(
        git(
            root,
            &["diff", "--relative", "--name-only", "-z", &merge_base],
        )
        .unwrap_or_default()
        .split('\0')
        .filter(|f| !f.is_empty())
        .map(str::to_string),
    );
    files.extend(
        git(root, &["ls-files", "-z", "--others", "--exclude-standard"])
            .unwrap_or_default()
            .split('\0')
            .filter(|f| !f.is_empty())
            .map(str::to_string),
    );
    files.sort();
    files.dedup();
    Some(files)
}

/// The upstream of the checked-out branch (`origin/main`), if it has one.
pub fn upstream(root: &Path) -> Option<String> {
    git(
        root,
        &[
            "rev-parse",
            "--abbrev-ref",
            "--symbolic-full-name",
            "@{upstream}",
        ],
    )
}

/// The commit tag `tag` points at (through an annotated tag object), or `None` when the
/// repository has no such tag (or `root` is in no repository).
pub fn tag_commit(root: &Path, tag: &str) -> Option<String> {
    git(
        root,
        &[
            "rev-parse",
            "-q",
            "--verify",
            &format!("refs/tags/{tag}^{{commit}}"),
        ],
    )
}

/// The committer time of HEAD, in seconds since the epoch (reproducible archive mtimes).
pub fn head_time(root: &Path) -> Option<u64> {
    git(root, &["log", "-1", "--format=%ct", "HEAD"])?
        .parse()
        .ok()
}
