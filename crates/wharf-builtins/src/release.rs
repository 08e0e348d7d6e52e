//! `release:` — the run's release: its version (the tag that started the run, or the next
//! version planned from conventional commits), its notes (optionally inserted into a
//! changelog), an annotated tag, and a release record listing the digest of every
//! declared artifact, package, image and Python file the jobs before it produced (an
//! image by the references it was pushed to, when it was pushed).

use wharf_engine::BuiltinRequest;
use wharf_engine::logs::LogWriter;
use wharf_model::{EventKind, ForgeStep, Produced, ProducedKind, ReleaseRecord, ReleaseStep};
use wharf_release::{
    ForgeKind, ForgeRelease, ForgeToken, NotesOptions, PlanOptions, Repo, commit_url_base,
    parse_remote, render_notes,
};

use super::{resolve, say};

/// What the git part of a release decided.
struct Decided {
    version: String,
    tag: String,
    commit: String,
    notes: String,
    tagged: bool,
    /// The changelog's new text, when the step updated it.
    changelog: Option<String>,
}

/// Decides the release, tags it and writes its changelog, signs it; returns its record
/// (stored by the recorder from the run's events), or `None` when there is nothing to
/// release, with the files that prove it (kept with the run).
pub(super) async fn run(
    req: &BuiltinRequest,
    step: &ReleaseStep,
    log: &mut LogWriter,
    warnings: &mut Vec<String>,
) -> Result<(Option<ReleaseRecord>, Vec<Produced>), String> {
    let changelog = step
        .changelog
        .as_deref()
        .map(|c| resolve(req, "changelog", c))
        .transpose()?;
    // A release changes the project on purpose: the tag goes into its repository, and the
    // changelog into its files as well as into this job's workspace.
    let project = req.project.clone();
    let in_project = changelog.as_ref().and_then(|c| {
        let rel = c.strip_prefix(&req.workspace).ok()?;
        (req.project != req.workspace).then(|| req.project.join(rel))
    });
    let event = req.event.clone();
    let owned = step.clone();
    let decided =
        tokio::task::spawn_blocking(move || decide(&project, &event, &owned, changelog.as_deref()))
            .await
            .map_err(|e| format!("the release task failed: {e}"))??;
    let Some(d) = decided else {
        say(log, "nothing to release: no commits since the last release");
        return Ok((None, Vec::new()));
    };
    // A version is released once: the record of another commit under it stands.
    if let Some((_, commit)) = req
        .known_releases
        .iter()
        .find(|(v, c)| *v == d.version && *c != d.commit)
    {
        return Err(format!(
            "release {} was already recorded from commit {}; a version is released once",
            d.version,
            &commit[..commit.len().min(12)]
        ));
    }
    if let (Some(dest), Some(written)) = (in_project, &d.changelog) {
        std::fs::write(&dest, written)
            .map_err(|e| format!("cannot write {}: {e}", dest.display()))?;
        say(
            log,
            format!(
                "updated {} in the project (a release step changes the project on purpose)",
                dest.display()
            ),
        );
    }
    let mut items: Vec<Produced> = req
        .upstream_artifacts
        .iter()
        .map(|a| Produced {
            kind: ProducedKind::Artifact,
            name: a.path.clone(),
            digest: format!("sha256:{}", a.sha256),
            size: Some(a.size),
        })
        .collect();
    for p in &req.upstream_produced {
        // What proves a release (a policy gate's outcome) is not what it ships.
        if p.kind == ProducedKind::Evidence {
            items.retain(|i| !(i.kind == ProducedKind::Artifact && i.name == p.name));
            continue;
        }
        // A package is also an artifact, and so are the files of an image layout a job
        // passed on (to smoke-test the image before pushing it): list each once, as what
        // it is.
        let layout = (p.kind == ProducedKind::Image)
            .then(|| {
                p.name
                    .rsplit_once(':')
                    .map_or(p.name.as_str(), |(dir, _)| dir)
            })
            .map(|dir| format!("{}/", dir.trim_end_matches('/')));
        items.retain(|i| {
            let inside = |dir: &String| i.name.starts_with(dir.as_str());
            !(i.kind == ProducedKind::Artifact
                && ((p.kind == ProducedKind::Package && i.name == p.name)
                    || layout.as_ref().is_some_and(inside)))
        });
        // The same image built twice (tested, then pushed) is one item.
        if !items
            .iter()
            .any(|i| i.kind == p.kind && i.name == p.name && i.digest == p.digest)
        {
            items.push(p.clone());
        }
    }
    // An image built into a layout and pushed is named by where it was pushed: the
    // layout was a directory in a job's workspace, scratch space gone with it.
    let pushed: Vec<String> = items
        .iter()
        .filter(|i| i.kind == ProducedKind::PushedImage)
        .map(|i| i.digest.clone())
        .collect();
    items.retain(|i| !(i.kind == ProducedKind::Image && pushed.contains(&i.digest)));
    let mut record = ReleaseRecord {
        version: d.version.clone(),
        tag: d.tag.clone(),
        commit: d.commit.clone(),
        run: req.run,
        notes: d.notes.clone(),
        created_at: wharf_engine::now_ms(),
        items,
        evidence: Vec::new(),
    };
    say(
        log,
        format!(
            "released {} ({} {}, {} item{})",
            d.version,
            if d.tagged { "tagged" } else { "tag" },
            d.tag,
            record.items.len(),
            if record.items.len() == 1 { "" } else { "s" }
        ),
    );
    for i in &record.items {
        say(
            log,
            format!("  {} {} {}", i.kind.as_str(), i.name, i.digest),
        );
    }
    let kept = match &req.signing_key {
        Some(key) => super::evidence::prove(req, &mut record, key, log, warnings).await?,
        None => {
            let w = format!(
                "release {} is not signed: this run has no release key (`wharf keys create`)",
                record.version
            );
            say(log, format!("warning: {w}"));
            warnings.push(w);
            Vec::new()
        }
    };
    if let Some(forge) = &step.forge {
        publish(req, forge, &d, log).await?;
    }
    Ok((Some(record), kept))
}

/// Publishes the release (notes and assets) to the forge the step names.
async fn publish(
    req: &BuiltinRequest,
    forge: &ForgeStep,
    d: &Decided,
    log: &mut LogWriter,
) -> Result<(), String> {
    let kind = ForgeKind::from_name(&forge.kind)
        .ok_or_else(|| format!("unknown forge `{}`", forge.kind))?;
    let api_url = match (&forge.url, kind.default_api_url()) {
        (Some(u), _) => u.clone(),
        (None, Some(u)) => u.to_string(),
        (None, None) => return Err(format!("forge `{}` needs `url:`", forge.kind)),
    };
    let (owner, repo) = match &forge.repository {
        Some(r) => {
            let (o, n) = r
                .split_once('/')
                .ok_or_else(|| format!("repository `{r}` is not owner/name"))?;
            (o.to_string(), n.to_string())
        }
        None => {
            let origin = Repo::open(&req.project)
                .ok()
                .and_then(|r| r.origin_url())
                .ok_or("no `repository:` and no `origin` remote to take it from")?;
            let (_, o, n) = parse_remote(&origin)
                .ok_or("cannot read owner/name from the `origin` remote; set `repository:`")?;
            (o, n)
        }
    };
    let token = req
        .secret(&forge.token)
        .ok_or_else(|| format!("secret {} is not available to this job", forge.token))?;
    let assets = if forge.assets.is_empty() {
        Vec::new()
    } else {
        let found = wharf_engine::artifacts::collect(&req.cwd, &forge.assets, true)
            .map_err(|e| format!("forge assets: {e}"))?;
        for l in &found.left_out {
            say(log, format!("warning: forge assets: {l}"));
        }
        found.files.into_iter().map(|f| f.abs).collect()
    };
    let release = ForgeRelease {
        forge: kind,
        api_url,
        owner,
        repo,
        tag: d.tag.clone(),
        name: d.tag.clone(),
        body: d.notes.clone(),
        prerelease: d.version.contains('-'),
        draft: forge.draft,
        assets,
        token: ForgeToken::new(token.expose().to_string()),
        limits: None,
    };
    // Said as they happen: a retry shows while the forge is being waited for.
    let published = wharf_release::publish(&release, |p| say(log, p.to_string())).await;
    let published = published.map_err(|e| e.to_string())?;
    say(
        log,
        format!(
            "{} the {} release {} ({} asset{})",
            if published.created {
                "created"
            } else {
                "updated"
            },
            forge.kind,
            published.url,
            published.assets.len(),
            if published.assets.len() == 1 { "" } else { "s" }
        ),
    );
    Ok(())
}

fn decide(
    project: &std::path::Path,
    event: &wharf_model::Event,
    step: &ReleaseStep,
    changelog: Option<&std::path::Path>,
) -> Result<Option<Decided>, String> {
    let repo =
        Repo::open(project).map_err(|e| format!("{e} (a release is made from git history)"))?;
    let head = repo
        .resolve(event.sha.as_deref().unwrap_or("HEAD"))
        .or_else(|_| repo.resolve("HEAD"))
        .map_err(|e| e.to_string())?;
    let from_tag = event.kind == EventKind::Tag && event.version.is_some();
    let fixed = match (&event.version, from_tag) {
        (Some(v), true) => Some(
            v.parse::<semver::Version>()
                .map_err(|e| format!("the tag's version `{v}` is not semver: {e}"))?,
        ),
        _ => None,
    };
    let plan = wharf_release::plan(
        &repo,
        &PlanOptions {
            rev: head.clone(),
            pre: step.pre.clone(),
            version: fixed,
        },
    )
    .map_err(|e| e.to_string())?;
    let Some(version) = plan.next.as_ref().map(|v| v.to_string()) else {
        return Ok(None);
    };
    let notes = render_notes(
        &plan.commits,
        &NotesOptions {
            version: version.clone(),
            time: repo.commit_time(&head).ok(),
            link_base: repo.origin_url().as_deref().and_then(commit_url_base),
        },
    );
    let mut written = None;
    if let Some(path) = changelog {
        let existing = match std::fs::read_to_string(path) {
            Ok(t) => t,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => String::new(),
            Err(e) => return Err(format!("cannot read {}: {e}", path.display())),
        };
        if let Some(text) = wharf_release::insert_section(&existing, &version, &notes) {
            std::fs::write(path, &text)
                .map_err(|e| format!("cannot write {}: {e}", path.display()))?;
            written = Some(text);
        }
    }
    let (tag, tagged) = match (&event.tag, from_tag) {
        (Some(t), true) => (t.clone(), false),
        _ => {
            let tag = format!("v{version}");
            if !step.tag {
                (tag, false)
            } else if repo.tag_exists(&tag) {
                let at = repo.resolve(&tag).map_err(|e| e.to_string())?;
                if at != head {
                    return Err(format!(
                        "tag {tag} already exists on commit {}, not on the released commit {}",
                        &at[..12],
                        &head[..12]
                    ));
                }
                (tag, false)
            } else {
                repo.create_annotated_tag(&tag, &head, &notes)
                    .map_err(|e| e.to_string())?;
                (tag, true)
            }
        }
    };
    Ok(Some(Decided {
        version,
        tag,
        commit: head,
        notes,
        tagged,
        changelog: written,
    }))
}
