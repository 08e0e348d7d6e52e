//! The few git reads and writes a release needs, through the `git` binary.

use std::path::{Path, PathBuf};
use std::process::Command;

use crate::{Error, Result};

/// A repository on disk.
#[derive(Debug, Clone)]
pub struct Repo {
    root: PathBuf,
}

/// A tag and the commit it points to (peeled, for annotated tags).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TagRef {
    /// The tag's name, e.g. `v1.2.3`.
    pub name: String,
    /// The full sha of the commit it names.
    pub commit: String,
}

/// One commit.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Commit {
    /// Full sha.
    pub sha: String,
    /// The whole message (summary, body, footers).
    pub message: String,
    /// Committer time, seconds since the epoch.
    pub time: i64,
}

impl Commit {
    /// The first line of the message.
    pub fn summary(&self) -> &str {
        self.message.lines().next().unwrap_or("")
    }

    /// The first 7 characters of the sha.
    pub fn short_sha(&self) -> &str {
        &self.sha[..self.sha.len().min(7)]
    }
}

impl Repo {
    /// The repository containing `dir`.
    pub fn open(dir: &Path) -> Result<Repo> {
        let out = run(dir, &["rev-parse", "--show-toplevel"]).map_err(|e| match e {
            Error::Git { .. } => Error::NotARepo(dir.to_path_buf()),
            other => other,
        })?;
        Ok(Repo {
            root: PathBuf::from(out.trim()),
        })
    }

    /// The work tree's root.
    pub fn root(&self) -> &Path {
        &self.root
    }

    fn git(&self, args: &[&str]) -> Result<String> {
        run(&self.root, args)
    }

    /// The full sha of `rev`.
    pub fn resolve(&self, rev: &str) -> Result<String> {
        let arg = format!("{rev}^{{commit}}");
        Ok(self
            .git(&["rev-parse", "--verify", "--quiet", &arg])
            .map_err(|_| {
                Error::Invalid(format!(
                    "`{rev}` does not name a commit in {}",
                    self.root.display()
                ))
            })?
            .trim()
            .to_string())
    }

    /// Whether HEAD points at a commit (a new repository has none).
    pub fn has_commits(&self) -> bool {
        self.git(&["rev-parse", "--verify", "--quiet", "HEAD^{commit}"])
            .is_ok()
    }

    /// Whether the clone is shallow (its history, and so its tags, may be cut off).
    pub fn is_shallow(&self) -> bool {
        self.git(&["rev-parse", "--is-shallow-repository"])
            .is_ok_and(|o| o.trim() == "true")
    }

    /// Every tag whose commit is reachable from `rev`.
    pub fn tags_merged_into(&self, rev: &str) -> Result<Vec<TagRef>> {
        let merged = format!("--merged={rev}");
        let out = self.git(&[
            "for-each-ref",
            &merged,
            "--format=%(refname:strip=2)%00%(objectname)%00%(*objectname)",
            "refs/tags",
        ])?;
        Ok(out
            .lines()
            .filter_map(|line| {
                let mut parts = line.split('\0');
                let name = parts.next()?.to_string();
                let object = parts.next()?;
                let peeled = parts.next().filter(|p| !p.is_empty()).unwrap_or(object);
                Some(TagRef {
                    name,
                    commit: peeled.to_string(),
                })
            })
            .collect())
    }

    /// Commits reachable from `until` but not from `since`, newest first, merges left out
    /// (their branches' own commits are listed).
    pub fn commits(&self, since: Option<&str>, until: &str) -> Result<Vec<Commit>> {
        let range = match since {
            Some(s) => format!("{s}..{until}"),
            None => until.to_string(),
        };
        let out = self.git(&[
            "log",
            "--no-merges",
            "--format=%H%x00%ct%x00%B%x1e",
            &range,
            "--",
        ])?;
        Ok(out
            .split('\u{1e}')
            .filter_map(|rec| {
                let rec = rec.trim_start_matches('\n');
                let mut parts = rec.splitn(3, '\0');
                let sha = parts.next()?.trim().to_string();
                if sha.is_empty() {
                    return None;
                }
                let time = parts.next()?.trim().parse().unwrap_or(0);
                let message = parts.next().unwrap_or("").trim_end().to_string();
                Some(Commit { sha, message, time })
            })
            .collect())
    }

    /// The commit time of `rev`, seconds since the epoch.
    pub fn commit_time(&self, rev: &str) -> Result<i64> {
        let out = self.git(&["log", "-1", "--format=%ct", rev, "--"])?;
        out.trim()
            .parse()
            .map_err(|_| Error::Invalid(format!("no commit time for `{rev}`")))
    }

    /// The URL of remote `origin`, if there is one.
    pub fn origin_url(&self) -> Option<String> {
        self.git(&["remote", "get-url", "origin"])
            .ok()
            .map(|s| s.trim().to_string())
    }

    /// Whether a tag of this name exists.
    pub fn tag_exists(&self, name: &str) -> bool {
        let r = format!("refs/tags/{name}");
        self.git(&["rev-parse", "--verify", "--quiet", &r]).is_ok()
    }

    /// Creates the annotated tag `name` on `commit` with `message`.
    pub fn create_annotated_tag(&self, name: &str, commit: &str, message: &str) -> Result<()> {
        // verbatim: the notes' Markdown headings start with `#`, which git's default
        // cleanup would strip as comments.
        self.git(&[
            "tag",
            "--annotate",
            "--cleanup=verbatim",
            "--message",
            message,
            "--",
            name,
            commit,
        ])?;
        Ok(())
    }
}

fn run(dir: &Path, args: &[&str]) -> Result<String> {
    let out = Command::new("git")
        .current_dir(dir)
        .args(args)
        // Fixed, parseable output whatever the user's configuration says.
        .env("LC_ALL", "C")
        .env("GIT_TERMINAL_PROMPT", "0")
        .output()
        .map_err(|source| Error::Spawn {
            dir: dir.to_path_buf(),
            source,
        })?;
    if !out.status.success() {
        return Err(Error::Git {
            args: args.join(" "),
            stderr: String::from_utf8_lossy(&out.stderr).trim().to_string(),
        });
    }
    Ok(String::from_utf8_lossy(&out.stdout).into_owned())
}
