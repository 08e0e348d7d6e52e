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

/// Forgets the worktrees whose directory is gone.
pub async fn prune_worktrees(mirror: &Path) {
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
    rev_parse(mirror, &format!("{sha}^{{commit}}"))
        .await
        .ok_or_else(|| {
            Error::invalid(
                format!("commit {sha} is not in the repository"),
                Some("the forge sent a commit the server cannot fetch; was it force-pushed away?"),
            )
        })
}

/// The commit `spec` names in `mirror`, if any (`git rev-parse --verify`).
async fn rev_parse(mirror: &Path, spec: &str) -> Option<String> {
    let out = git(
        Some(mirror),
        &["rev-parse", "--verify", "--quiet", "--end-of-options", spec],
        "resolve a commit",
    )
    .await
    .ok()?;
    Some(out.trim().to_string())
}

/// The default branch of `mirror`: what its `HEAD` names when that branch exists, else
/// its only branch (a bare repository made by `git init` names `master` whatever was
/// pushed).
pub async fn default_branch(mirror: &Path) -> Option<String> {
    let head = git(
        Some(mirror),
        &["symbolic-ref", "--quiet", "--short", "HEAD"],
        "read HEAD",
    )
    .await
    .ok()
    .map(|o| o.trim().to_string())
    .filter(|b| !b.is_empty());
    let branches = branches(mirror).await;
    match head {
        Some(b) if branches.contains(&b) => Some(b),
        _ if branches.len() == 1 => branches.into_iter().next(),
        _ => None,
    }
}

/// The branches of `mirror`.
pub async fn branches(mirror: &Path) -> Vec<String> {
    git(
        Some(mirror),
        &["for-each-ref", "--format=%(refname:short)", "refs/heads/"],
        "list branches",
    )
    .await
    .map(|o| o.lines().map(str::to_string).collect())
    .unwrap_or_default()
}

/// The commit branch `branch` of `mirror` points at.
pub async fn branch_commit(mirror: &Path, branch: &str) -> Result<String> {
    rev_parse(mirror, &format!("refs/heads/{branch}^{{commit}}"))
        .await
        .ok_or_else(|| Error::invalid(format!("the repository has no branch `{branch}`"), None))
}

/// The pipeline files at `rev` of `mirror` (`wharf.yml`, `.wharf/*.yml`) and the policy
/// files their insecure settings are judged by, written under `dir` so they load as a
/// project.
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
        write_under(dir, name, text).await?;
    }
    // The policy files: wharf.policy.toml, and any a pipeline's `policy` step names.
    let mut policies = vec![wharf_pipeline::DEFAULT_POLICY_FILE.to_string()];
    for name in listing.lines() {
        let Ok(text) = tokio::fs::read_to_string(dir.join(name)).await else {
            continue;
        };
        if let Ok(p) = wharf_pipeline::parse(name, &text) {
            let file = p.policy_file();
            if !policies.contains(&file) {
                policies.push(file);
            }
        }
    }
    for name in policies {
        let spec = format!("{rev}:{name}");
        // Absent at this commit: validation then says which exception is missing.
        let Ok(text) = git(
            Some(mirror),
            &["show", "--end-of-options", &spec],
            "read a policy file",
        )
        .await
        else {
            continue;
        };
        write_under(dir, &name, text).await?;
    }
    Ok(())
}

/// Writes `text` to `dir/name`, making its directories.
async fn write_under(dir: &Path, name: &str, text: String) -> Result<()> {
    let path = dir.join(name);
    if let Some(parent) = path.parent() {
        tokio::fs::create_dir_all(parent)
            .await
            .map_err(Error::io("create", parent))?;
    }
    tokio::fs::write(&path, text)
        .await
        .map_err(Error::io("write", &path))
}

/// The subject line of commit `sha` (at most 200 characters), if it can be read.
pub async fn subject(mirror: &Path, sha: &str) -> Option<String> {
    let out = git(
        Some(mirror),
        &["log", "-1", "--format=%s", "--end-of-options", sha],
        "read a commit's subject",
    )
    .await
    .ok()?;
    let line = out.trim();
    (!line.is_empty()).then(|| line.chars().take(200).collect())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn run(dir: &Path, args: &[&str]) {
        let ok = std::process::Command::new("git")
            .args(args)
            .current_dir(dir)
            .env("GIT_AUTHOR_NAME", "t")
            .env("GIT_AUTHOR_EMAIL", "t@example.invalid")
            .env("GIT_COMMITTER_NAME", "t")
            .env("GIT_COMMITTER_EMAIL", "t@example.invalid")
            .output()
            .unwrap();
        assert!(
            ok.status.success(),
            "git {args:?}: {}",
            String::from_utf8_lossy(&ok.stderr)
        );
    }

    #[tokio::test]
    async fn the_default_branch_is_heads_or_the_only_one() {
        let dir = tempfile::tempdir().unwrap();
        let d = dir.path();
        // a bare repository whose HEAD names `master`, with only `main` pushed to it
        run(
            d,
            &[
                "init",
                "--quiet",
                "--bare",
                "--initial-branch=master",
                "origin.git",
            ],
        );
        run(d, &["init", "--quiet", "--initial-branch=main", "work"]);
        let work = d.join("work");
        std::fs::write(work.join("f"), "x").unwrap();
        run(&work, &["add", "f"]);
        run(&work, &["commit", "--quiet", "-m", "x"]);
        run(&work, &["push", "--quiet", "../origin.git", "main"]);
        let mirror = d.join("mirror.git");
        fetch(&d.join("origin.git").to_string_lossy(), &mirror)
            .await
            .unwrap();
        assert_eq!(default_branch(&mirror).await.as_deref(), Some("main"));
        // two branches, HEAD naming neither: none to choose
        run(&work, &["push", "--quiet", "../origin.git", "main:other"]);
        fetch(&d.join("origin.git").to_string_lossy(), &mirror)
            .await
            .unwrap();
        assert_eq!(default_branch(&mirror).await, None);
        assert_eq!(branches(&mirror).await, ["main", "other"]);
        // HEAD naming a branch that exists wins
        run(
            &d.join("origin.git"),
            &["symbolic-ref", "HEAD", "refs/heads/other"],
        );
        let fresh = d.join("fresh.git");
        fetch(&d.join("origin.git").to_string_lossy(), &fresh)
            .await
            .unwrap();
        assert_eq!(default_branch(&fresh).await.as_deref(), Some("other"));
    }
}
