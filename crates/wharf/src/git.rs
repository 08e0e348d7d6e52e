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

/// The checked-out branch (`None` when detached or not a repository).
pub fn branch(root: &Path) -> Option<String> {
    git(root, &["symbolic-ref", "--quiet", "--short", "HEAD"])
}

/// The full sha of HEAD.
pub fn head_sha(root: &Path) -> Option<String> {
    git(root, &["rev-parse", "--verify", "--quiet", "HEAD"])
}

/// A tag pointing at HEAD (the highest version-sorted one when several do).
pub fn tag_at_head(root: &Path) -> Option<String> {
    let tags = git(root, &["tag", "--points-at", "HEAD", "--sort=-v:refname"])?;
    tags.lines().next().map(str::to_string)
}
