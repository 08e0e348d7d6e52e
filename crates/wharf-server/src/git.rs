//! The `git` binary, as every mainstream runner uses it for network operations: a mirror
//! of each project's repository, fetched for every event, and a worktree per event at the
//! event's commit (pipelines as code: the commit decides which pipelines run and how).
//!
//! Outside input never reaches git's command line: refs from webhooks are not passed at
//! all, only a commit id checked to be 40 hex digits.

use std::path::Path;
use std::process::Stdio;

use tokio::process::Command;

use crate::error::{Error, Result};

/// Runs `git args…` (in `dir` when given), with no terminal prompts; its stdout.
async fn git(dir: Option<&Path>, args: &[&str], what: &str) -> Result<String> {
    let mut cmd = Command::new("git");
    if let Some(d) = dir {
        cmd.arg("-C").arg(d);
    }
    let out = cmd
        .args(args)
        .env("GIT_TERMINAL_PROMPT", "0")
        .env("GIT_ASKPASS", "true")
        .stdin(Stdio::null())
        .output()
        .await
        .map_err(|e| Error::Git {
            what: what.to_string(),
            detail: format!("could not start git: {e}"),
        })?;
    if !out.status.success() {
        return Err(Error::Git {
            what: what.to_string(),
            detail: String::from_utf8_lossy(&out.stderr).trim().to_string(),
        });
    }
    Ok(String::from_utf8_lossy(&out.stdout).into_owned())
}

/// Whether `s` is a full commit id.
pub fn is_sha(s: &str) -> bool {
    s.len() == 40 && s.bytes().all(|b| b.is_ascii_hexdigit())
}

/// Makes `mirror` a mirror of `url` (cloning it the first time) with every ref the remote
/// has, pull request heads included.
pub async fn fetch(url: &str, mirror: &Path) -> Result<()> {
    if mirror.exists() && !mirror.join("HEAD").is_file() {
        // Not a repository (a clone cut short by a crash before it was moved in place
        // cannot be one, but a hand-made directory can): clone afresh rather than stay
        // stuck on it.
        tokio::fs::remove_dir_all(mirror)
            .await
            .map_err(Error::io("remove the broken mirror", mirror))?;
    }
    if mirror.join("HEAD").is_file() {
        git(
            Some(mirror),
            &["fetch", "--quiet", "--prune", "--force", "origin"],
            "fetch",
        )
        .await?;
    } else {
        if let Some(parent) = mirror.parent() {
            tokio::fs::create_dir_all(parent)
                .await
                .map_err(Error::io("create", parent))?;
        }
        // A clone a killed server left half-made is removed first; the lock around the
        // mirror keeps two clones from meeting here.
        let tmp = mirror.with_extension("tmp");
        let _ = tokio::fs::remove_dir_all(&tmp).await;
        let tmp_s = tmp.to_string_lossy().into_owned();
        git(
            None,
            &["clone", "--quiet", "--mirror", "--", url, &tmp_s],
            "clone",
        )
        .await?;
        tokio::fs::rename(&tmp, mirror)
            .await
            .map_err(Error::io("move the new clone to", mirror))?;
    }
    Ok(())
}

/// Checks out commit `sha` of `mirror` (a commit id [`peel`] returned) into a new
/// worktree at `dir`.
pub async fn worktree(mirror: &Path, sha: &str, dir: &Path) -> Result<()> {
    if !is_sha(sha) {
        return Err(Error::invalid(format!("`{sha}` is not a commit id"), None));
    }
    let d = dir.to_string_lossy().into_owned();
    git(
        Some(mirror),
        &[
            "worktree", "add", "--quiet", "--detach", "--force", "--", &d, sha,
        ],
        "check out the event's commit",
    )
    .await?;
    Ok(())
}

/// Removes a worktree made by [`worktree`] (and forgets worktrees whose directory is gone).
pub async fn remove_worktree(mirror: &Path, dir: &Path) {
    let d = dir.to_string_lossy().into_owned();
    let _ = git(
        Some(mirror),
        &["worktree", "remove", "--force", "--", &d],
        "remove a worktree",
    )
    .await;
    let _ = tokio::fs::remove_dir_all(dir).await;
    let _ = git(Some(mirror), &["worktree", "prune"], "prune worktrees").await;
}

/// The files changed between two commits (for `on.push.paths`); `None` when `before` is
/// not known (a new branch) or not in the repository.
pub async fn changed(mirror: &Path, before: &str, after: &str) -> Option<Vec<String>> {
    if !is_sha(before) || !is_sha(after) || before.bytes().all(|b| b == b'0') {
        return None;
    }
    let range = format!("{before}..{after}");
    let out = git(Some(mirror), &["diff", "--name-only", "-z", &range], "diff")
        .await
        .ok()?;
    Some(
        out.split('\0')
            .filter(|s| !s.is_empty())
            .map(str::to_string)
            .collect(),
    )
}

/// The branches and tags of `url` (`git ls-remote`): full ref names and the commits they
/// point at (an annotated tag's commit, not the tag object).
pub async fn remote_refs(url: &str) -> Result<Vec<(String, String)>> {
    let out = git(
        None,
        &["ls-remote", "--", url, "refs/heads/*", "refs/tags/*"],
        "list the remote's refs",
    )
    .await?;
    let mut refs: Vec<(String, String)> = Vec::new();
    for line in out.lines() {
        let Some((sha, name)) = line.split_once('\t') else {
            continue;
        };
        if !is_sha(sha) {
            continue;
        }
        match name.strip_suffix("^{}") {
            // The peeled commit of an annotated tag, listed after the tag object.
            Some(tag) => {
                if let Some(r) = refs.iter_mut().find(|(n, _)| n == tag) {
                    r.1 = sha.to_string();
                }
            }
            None => refs.push((name.to_string(), sha.to_string())),
        }
    }
    Ok(refs)
}

/// The commit `sha` names (itself, or the commit an annotated tag object points at).
pub async fn peel(mirror: &Path, sha: &str) -> Result<String> {
    if !is_sha(sha) {
        return Err(Error::invalid(format!("`{sha}` is not a commit id"), None));
    }
    let spec = format!("{sha}^{{commit}}");
    let out = git(
        Some(mirror),
        &[
            "rev-parse",
            "--verify",
            "--quiet",
            "--end-of-options",
            &spec,
        ],
        "find the event's commit",
    )
    .await
    .map_err(|_| {
        Error::invalid(
            format!("commit {sha} is not in the repository"),
            Some("the forge sent a commit the server cannot fetch; was it force-pushed away?"),
        )
    })?;
    Ok(out.trim().to_string())
}

/// The default branch of `mirror` (what its `HEAD` names), if any.
pub async fn default_branch(mirror: &Path) -> Option<String> {
    let out = git(
        Some(mirror),
        &["symbolic-ref", "--quiet", "--short", "HEAD"],
        "read HEAD",
    )
    .await
    .ok()?;
    let b = out.trim();
    (!b.is_empty()).then(|| b.to_string())
}

/// The commit branch `branch` of `mirror` points at.
pub async fn branch_commit(mirror: &Path, branch: &str) -> Result<String> {
    let spec = format!("refs/heads/{branch}^{{commit}}");
    let out = git(
        Some(mirror),
        &[
            "rev-parse",
            "--verify",
            "--quiet",
            "--end-of-options",
            &spec,
        ],
        "find the branch",
    )
    .await
    .map_err(|_| Error::invalid(format!("the repository has no branch `{branch}`"), None))?;
    Ok(out.trim().to_string())
}

/// The pipeline files at `rev` of `mirror` (`wharf.yml`, `.wharf/*.yml`), written under
/// `dir` so they load as a project.
pub async fn pipeline_files(mirror: &Path, rev: &str, dir: &Path) -> Result<()> {
    let listing = git(
        Some(mirror),
        &[
            "ls-tree",
            "--name-only",
            "--end-of-options",
            rev,
            "--",
            "wharf.yml",
            ".wharf/",
        ],
        "list the pipeline files",
    )
    .await?;
    for name in listing.lines() {
        let wanted = name == wharf_pipeline::ROOT_FILE
            || (name.starts_with(".wharf/") && !name[7..].contains('/'));
        if !wanted {
            continue;
        }
        let spec = format!("{rev}:{name}");
        let text = git(
            Some(mirror),
            &["show", "--end-of-options", &spec],
            "read a pipeline file",
        )
        .await?;
        let path = dir.join(name);
        if let Some(parent) = path.parent() {
            tokio::fs::create_dir_all(parent)
                .await
                .map_err(Error::io("create", parent))?;
        }
        tokio::fs::write(&path, text)
            .await
            .map_err(Error::io("write", &path))?;
    }
    Ok(())
}
