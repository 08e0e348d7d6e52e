//! What a local event needs from the project's git checkout before anything is planned:
//! the files a push changed (for `on.push.paths`), and a tag event's tag on the commit it
//! runs. The CLI builds its events with these; the server's poller will too.

use std::path::Path;

use wharf_model::Event;

use crate::error::{Error, Result};

/// The files changed since `base` (by its merge base with HEAD), plus uncommitted ones,
/// with the base used: `base`, else the branch's upstream, else `None` (no base to judge
/// path filters by). A `base` given that names no shared commit is an error.
pub fn changes_since(root: &Path, base: Option<&str>) -> Result<Option<(String, Vec<String>)>> {
    let (base, given) = match base {
        Some(b) => (b.to_string(), true),
        None => match wharf_builtins::git::upstream(root) {
            Some(u) => (u, false),
            None => return Ok(None),
        },
    };
    match wharf_builtins::git::changed_since(root, &base) {
        Some(files) => Ok(Some((base, files))),
        None if given => Err(Error::invalid(
            format!("--base {base}: not a commit this repository shares history with"),
            "name a branch, tag or commit, e.g. --base origin/main (git fetch first)",
        )),
        None => Ok(None),
    }
}

/// A tag event releases what the tag names: `tag` must exist and point at `sha` (HEAD,
/// or the commit the user named). A typo would otherwise push images and record a release
/// for a version no commit carries. A tag not made yet is allowed when the user named the
/// commit (`sha_given`: a rehearsal); then the warning to show comes back.
pub fn check_tag(
    root: &Path,
    tag: &str,
    sha: Option<&str>,
    sha_given: bool,
) -> Result<Option<String>> {
    let commit = sha.unwrap_or_default();
    let Some(points_at) = wharf_builtins::git::tag_commit(root, tag) else {
        if sha_given {
            return Ok(Some(format!(
                "this repository has no tag `{tag}`: running as if it pointed at --sha {commit}"
            )));
        }
        let known = wharf_builtins::git::tag_at_head(root)
            .map(|t| format!("; the tag at HEAD is `{t}`"))
            .unwrap_or_default();
        return Err(Error::invalid(
            format!("--event tag --tag {tag}: this repository has no tag `{tag}`{known}"),
            format!(
                "create it on the commit to release first (git tag -a {tag} -m {tag}), or \
                 name the commit with --sha to rehearse the release before tagging"
            ),
        ));
    };
    if commit.is_empty() || !points_at.starts_with(commit) {
        let short = |s: &str| s.chars().take(12).collect::<String>();
        return Err(Error::invalid(
            format!(
                "--event tag --tag {tag}: `{tag}` points at {}, not at {} ({})",
                short(&points_at),
                if sha_given { "--sha" } else { "HEAD" },
                if commit.is_empty() {
                    "no commit".to_string()
                } else {
                    short(commit)
                }
            ),
            format!(
                "check out the tagged commit first (git checkout {tag}); the run uses the \
                 working tree, so it must be the tag's"
            ),
        ));
    }
    Ok(None)
}

/// What comes after a run of pipeline `name` (for `event`) ended with `status`: the
/// `on.pipeline` event that starts the project's pipelines waiting for it, at the same
/// commit. `Ok(None)` when none waits (or the run was cancelled or interrupted);
/// `Err(why)` when every waiting pipeline already ran in this chain (a cycle). `wharf run`
/// and the server both follow it, so a chain runs the same on a laptop as on the server.
pub fn followers(
    pipelines: &[wharf_pipeline::Pipeline],
    event: &Event,
    name: &str,
    run: u64,
    status: wharf_model::RunStatus,
) -> std::result::Result<Option<Event>, String> {
    use wharf_model::RunStatus;
    if matches!(status, RunStatus::Cancelled | RunStatus::Interrupted) {
        return Ok(None);
    }
    let mut chain = event
        .upstream
        .as_ref()
        .map(|u| u.chain.clone())
        .unwrap_or_default();
    chain.push(name.to_string());
    let mut next = Event::new(wharf_model::EventKind::Pipeline);
    next.branch = event.branch.clone();
    next.sha = event.sha.clone();
    next.tag = event.tag.clone();
    next.version = event.version.clone();
    next.actor = event.actor.clone();
    next.upstream = Some(Box::new(wharf_model::Upstream {
        pipeline: name.to_string(),
        run,
        success: status == RunStatus::Success,
        chain: chain.clone(),
    }));
    if pipelines.iter().any(|p| p.matches(&next)) {
        return Ok(Some(next));
    }
    // Only pipelines already in the chain wait for this one: a cycle, stopped here.
    let mut outside = next.clone();
    outside.upstream.as_mut().expect("set above").chain = vec![name.to_string()];
    let cycle: Vec<&str> = pipelines
        .iter()
        .filter(|p| p.matches(&outside) && chain.iter().any(|c| c == p.name()))
        .map(|p| p.name())
        .collect();
    if cycle.is_empty() {
        Ok(None)
    } else {
        Err(format!(
            "not starting {} after {name}: already in this chain ({})",
            cycle.join(", "),
            chain.join(" -> ")
        ))
    }
}
