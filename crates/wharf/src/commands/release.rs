//! `wharf release plan|notes`: the next version and its notes, from git tags and
//! conventional commits (wharf-release does the work; this module talks to the user).

use std::path::Path;

use wharf_release::{NotesOptions, PlanOptions, ReleasePlan, Repo, commit_url_base, render_notes};

use crate::cli::{ReleaseCommand, ReleaseNotesArgs, ReleasePlanArgs, ReleaseShowArgs};
use crate::commands::history;
use crate::exit::{ExitStatus, UserError};

/// Runs `wharf release …`.
pub async fn run(dir: &Path, cmd: ReleaseCommand) -> anyhow::Result<ExitStatus> {
    match cmd {
        ReleaseCommand::Plan(args) => run_plan(dir, args),
        ReleaseCommand::Notes(args) => run_notes(dir, args),
        ReleaseCommand::Show(args) => run_show(dir, args).await,
        ReleaseCommand::Verify(args) => run_verify(dir, args).await,
    }
}

/// Release `arg` (a leading `v` accepted) of the project around `dir`, with the project's
/// state directory and store; a clear error when there is none.
async fn find_release(
    dir: &Path,
    arg: &str,
) -> anyhow::Result<(
    std::path::PathBuf,
    wharf_store::Store,
    wharf_model::ReleaseRecord,
)> {
    let version = arg.strip_prefix('v').unwrap_or(arg);
    let not_found = || -> anyhow::Error {
        UserError::invalid(format!("there is no release {version}"))
            .hint("`wharf releases` lists the recorded releases")
            .into()
    };
    let Some((state, store)) = history::open(dir).await? else {
        return Err(not_found());
    };
    let rec = store.get_release(version).await?.ok_or_else(not_found)?;
    Ok((state, store, rec))
}

async fn run_verify(dir: &Path, args: ReleaseShowArgs) -> anyhow::Result<ExitStatus> {
    let (state, store, rec) = find_release(dir, &args.release).await?;
    let keys: Vec<String> = store
        .signing_keys()
        .await?
        .into_iter()
        .map(|k| k.public_pem)
        .collect();
    let blobs = wharf_runtime::verify::StoreBlobs(wharf_store::ArtifactStore::new(&state));
    let checks = wharf_runtime::verify::verify(&rec, &keys, &blobs).await;
    let ok = checks.iter().all(|c| c.ok);
    if args.json {
        outln!(
            "{}",
            serde_json::to_string_pretty(
                &serde_json::json!({"version": rec.version, "ok": ok, "checks": checks})
            )?
        );
    } else {
        for c in &checks {
            outln!("{} {}  {}", if c.ok { "✓" } else { "✗" }, c.what, c.detail);
        }
        outln!(
            "\nrelease {}: {}",
            rec.version,
            if ok {
                "verified".to_string()
            } else {
                format!(
                    "{} check(s) failed",
                    checks.iter().filter(|c| !c.ok).count()
                )
            }
        );
    }
    Ok(if ok {
        ExitStatus::Success
    } else {
        ExitStatus::Failure
    })
}

async fn run_show(dir: &Path, args: ReleaseShowArgs) -> anyhow::Result<ExitStatus> {
    let (state, _, rec) = find_release(dir, &args.release).await?;
    // The policy gate it passed, read back from the artifact store by its digest.
    let blobs = wharf_runtime::verify::StoreBlobs(wharf_store::ArtifactStore::new(&state));
    let gate = wharf_runtime::verify::gate(&rec, &blobs);
    if args.json {
        let mut value = serde_json::to_value(&rec)?;
        if let Some(g) = &gate {
            value["policy"] = serde_json::to_value(g)?;
        }
        outln!("{}", serde_json::to_string(&value)?);
        return Ok(ExitStatus::Success);
    }
    outln!(
        "release {}  tag {}  commit {}  run #{}  {}",
        rec.version,
        rec.tag,
        &rec.commit[..rec.commit.len().min(12)],
        rec.run,
        history::age(rec.created_at)
    );
    for i in &rec.items {
        let size = i.size.map(|s| format!(" ({s} bytes)")).unwrap_or_default();
        outln!(
            "  {:<12} {}{size}\n               {}",
            i.kind.as_str(),
            i.name,
            i.digest
        );
    }
    if let Some(g) = &gate {
        risk(g);
    }
    if rec.evidence.is_empty() {
        outln!("\nnot signed (no provenance recorded): `wharf keys create`, then release again");
    } else {
        outln!(
            "\nwhat proves it (`wharf release verify {}` checks it):",
            rec.version
        );
        for e in &rec.evidence {
            let about = if e.subject.is_empty() {
                String::new()
            } else {
                format!(" of {}", e.subject)
            };
            let at = e
                .attached
                .as_deref()
                .filter(|a| *a != e.name)
                .map(|a| format!("\n               attached as {a}"))
                .unwrap_or_default();
            outln!(
                "  {:<12} {}{about}\n               {}{at}",
                e.kind.as_str(),
                e.name,
                e.digest
            );
        }
    }
    outln!();
    out!("{}", rec.notes);
    Ok(ExitStatus::Success)
}

/// The release's risk, as its policy gate decided it: the exceptions it shipped with first
/// (expired since, or expiring within the policy's warning window, in red), then the open
/// findings by severity.
fn risk(g: &wharf_policy::Outcome) {
    let today = chrono::DateTime::from_timestamp_millis(wharf_engine::now_ms())
        .map(|t| t.date_naive())
        .unwrap_or(g.date);
    outln!(
        "\nrisk (policy {} {}, applied {}):",
        g.policy.file,
        &g.policy.digest[..g.policy.digest.len().min(19)],
        g.date
    );
    if g.applied.is_empty() {
        outln!("  no exception applied");
    }
    for a in &g.applied {
        let standing = a.standing(today, g.policy.warn_days);
        let text = standing.describe(a.expires);
        let when = match standing {
            wharf_policy::Standing::Expired(_) => console::style(text).red().bold().to_string(),
            wharf_policy::Standing::Expiring(_) => console::style(text).red().to_string(),
            wharf_policy::Standing::Valid(_) => text,
        };
        outln!(
            "  exception {} ({}) {when}\n    owner {}, approved by {}: {}\n    covers {}",
            a.id,
            a.kind.as_str(),
            a.owner,
            a.approved_by,
            a.reason,
            a.matched.join(", ")
        );
    }
    let open = g.open_by_severity();
    if open.is_empty() {
        outln!("  no open finding");
    }
    for (f, _) in open {
        outln!(
            "  {:<9} {}  {}",
            f.finding.severity.as_str(),
            f.finding.id,
            f.finding.describe()
        );
    }
}

fn open(dir: &Path) -> anyhow::Result<Repo> {
    let repo = Repo::open(dir).map_err(|e| {
        UserError::invalid(e.to_string())
            .hint("releases are planned from git history: run inside a git repository")
    })?;
    if !repo.has_commits() {
        return Err(UserError::invalid("the repository has no commits yet").into());
    }
    Ok(repo)
}

fn make_plan(repo: &Repo, pre: Option<String>) -> anyhow::Result<ReleasePlan> {
    let plan = wharf_release::plan(
        repo,
        &PlanOptions {
            pre,
            ..Default::default()
        },
    )
    .map_err(|e| UserError::invalid(e.to_string()))?;
    if plan.shallow && plan.current.is_none() {
        eprintln!(
            "warning: this is a shallow clone and no release tag is reachable in it\n  hint: fetch the history and tags first: git fetch --unshallow --tags"
        );
    }
    Ok(plan)
}

fn run_plan(dir: &Path, args: ReleasePlanArgs) -> anyhow::Result<ExitStatus> {
    let repo = open(dir)?;
    let plan = make_plan(&repo, args.pre)?;
    if args.json {
        let deciding: Vec<&str> = plan.deciding().map(|c| c.sha.as_str()).collect();
        let mut value = serde_json::to_value(&plan)?;
        value["deciding"] = serde_json::json!(deciding);
        outln!("{value}");
        return Ok(ExitStatus::Success);
    }
    let current = plan
        .current
        .as_ref()
        .map(|c| c.version.to_string())
        .unwrap_or_else(|| "none".into());
    match &plan.next {
        Some(next) => outln!("{current} -> {next} ({} bump)", bump_name(plan.bump)),
        None => outln!("{current}: nothing to release (no commits since {current})"),
    }
    let deciding: Vec<_> = plan.deciding().collect();
    if !deciding.is_empty() {
        outln!("decided by:");
        for c in deciding {
            outln!("  {} {}", &c.sha[..7], c.summary);
        }
    } else if plan.next.is_some() {
        outln!(
            "decided by: {} commit(s) that are not feat, fix or breaking (a patch release)",
            plan.commits.len()
        );
    }
    Ok(ExitStatus::Success)
}

fn run_notes(dir: &Path, args: ReleaseNotesArgs) -> anyhow::Result<ExitStatus> {
    let repo = open(dir)?;
    let plan = make_plan(&repo, args.pre.clone())?;
    let commits = match &args.since {
        None => plan.commits.clone(),
        Some(tag) => {
            let since = repo.resolve(tag).map_err(|e| {
                UserError::invalid(e.to_string())
                    .hint("name a tag or commit that exists, e.g. --since v1.2.0")
            })?;
            repo.commits(Some(&since), &plan.head)
                .map_err(|e| UserError::invalid(e.to_string()))?
                .iter()
                .map(wharf_release::classify)
                .collect()
        }
    };
    let version = match (args.release_version, &plan.next) {
        (Some(v), _) => v,
        (None, Some(n)) => n.to_string(),
        (None, None) => {
            return Err(UserError::invalid(
                "nothing to release: no commits since the last release",
            )
            .hint("pass --since TAG to list older changes, or --release-version V")
            .into());
        }
    };
    let notes = render_notes(
        &commits,
        &NotesOptions {
            version: version.clone(),
            time: repo.commit_time(&plan.head).ok(),
            link_base: repo.origin_url().as_deref().and_then(commit_url_base),
        },
    );
    let mut written = None;
    if let Some(file) = &args.write {
        let path = if file.is_absolute() {
            file.clone()
        } else {
            dir.join(file)
        };
        let existing = match std::fs::read_to_string(&path) {
            Ok(t) => t,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => String::new(),
            Err(e) => {
                return Err(
                    UserError::invalid(format!("cannot read {}: {e}", path.display())).into(),
                );
            }
        };
        written = Some(
            match wharf_release::insert_section(&existing, &version, &notes) {
                Some(text) => {
                    std::fs::write(&path, text).map_err(|e| {
                        UserError::invalid(format!("cannot write {}: {e}", path.display()))
                    })?;
                    eprintln!("added {version} to {}", path.display());
                    true
                }
                None => {
                    eprintln!("{} already has {version}: unchanged", path.display());
                    false
                }
            },
        );
    }
    if args.json {
        outln!(
            "{}",
            serde_json::json!({ "version": version, "notes": notes, "commits": commits, "changelog_updated": written })
        );
    } else if args.write.is_none() {
        out!("{notes}");
    }
    Ok(ExitStatus::Success)
}

fn bump_name(b: wharf_release::Bump) -> &'static str {
    match b {
        wharf_release::Bump::None => "no",
        wharf_release::Bump::Patch => "patch",
        wharf_release::Bump::Minor => "minor",
        wharf_release::Bump::Major => "major",
    }
}
