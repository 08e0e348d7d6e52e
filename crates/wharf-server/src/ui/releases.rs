//! A project's releases: the list, and each release's page — what it ships, by digest; its
//! risk as its policy gate decided it (the exceptions it shipped with first, those expired
//! since or expiring within the policy's warning window marked, then the open findings by
//! severity); and what proves it (SBOMs, provenance, signatures, the public key), each by
//! digest, the kept documents a link away. What `wharf release show` prints, on the web.

use std::sync::Arc;

use axum::extract::{Path, State};
use axum::http::{HeaderMap, Uri};
use axum::response::Response;
use minijinja::{Value, context};
use wharf_model::{ArtifactRecord, ReleaseRecord, RunRecord};
use wharf_policy::{Outcome, Standing};
use wharf_runtime::verify::{StoreBlobs, gate};

use super::error_page;
use super::pages::{page, urlpart, user, when};
use crate::app::Shared;
use crate::error::{Error, Result};
use crate::paths;

/// `GET /projects/{project}/releases`.
pub(crate) async fn releases(
    State(s): State<Arc<Shared>>,
    headers: HeaderMap,
    uri: Uri,
    Path(project): Path<String>,
) -> Response {
    let u = match user(&s, &headers, &uri).await {
        Ok(u) => u,
        Err(r) => return r,
    };
    match list(&s, &project).await {
        Ok(ctx) => page(&s, &u, "releases.html", ctx),
        Err(e) => error_page(&s, &e, Some(&u)),
    }
}

/// `GET /projects/{project}/releases/{version}`.
pub(crate) async fn release(
    State(s): State<Arc<Shared>>,
    headers: HeaderMap,
    uri: Uri,
    Path((project, version)): Path<(String, String)>,
) -> Response {
    let u = match user(&s, &headers, &uri).await {
        Ok(u) => u,
        Err(r) => return r,
    };
    match one(&s, &project, &version).await {
        Ok(ctx) => page(&s, &u, "release.html", ctx),
        Err(e) => error_page(&s, &e, Some(&u)),
    }
}

/// The address of release `version`'s page (its segments percent-encoded: safe in an
/// attribute as it is).
pub(crate) fn href(project: &str, version: &str) -> String {
    format!(
        "/projects/{}/releases/{}",
        urlpart(project.to_string()),
        urlpart(version.to_string())
    )
}

async fn list(s: &Shared, project: &str) -> Result<Value> {
    let store = crate::api::project_store(s, project).await?;
    let mut releases = Vec::new();
    for r in store.list_releases().await? {
        releases.push(context! {
            version => r.version.clone(),
            tag => r.tag.clone(),
            run => r.run,
            commit => r.commit.chars().take(12).collect::<String>(),
            when => when(Some(r.created_at)),
            href => Value::from_safe_string(href(project, &r.version)),
        });
    }
    Ok(context! {
        title => format!("{project}: releases"),
        project => project,
        releases => releases,
    })
}

async fn one(s: &Shared, project: &str, version: &str) -> Result<Value> {
    let store = crate::api::project_store(s, project).await?;
    let rec = store
        .get_release(version)
        .await?
        .ok_or_else(|| Error::NotFound(format!("project `{project}` has no release {version}")))?;
    // The kept documents are artifacts of the run that made the release.
    let run = store.get_run(rec.run).await?;
    let blobs = StoreBlobs(wharf_store::ArtifactStore::new(&paths::state(
        &s.config.data_dir,
        project,
    )));
    let outcome = gate(&rec, &blobs);
    let today = chrono::DateTime::from_timestamp_millis(wharf_engine::now_ms())
        .map(|t| t.date_naive())
        .unwrap_or_default();
    Ok(context! {
        title => format!("{project} {}", rec.version),
        project => project,
        release => summary(&rec, run.as_ref()),
        items => rec.items.iter().map(|i| context! {
            kind => i.kind.as_str(),
            name => i.name.clone(),
            size => i.size,
            digest => i.digest.clone(),
            href => download(project, run.as_ref(), &i.name, &i.digest).map(Value::from_safe_string),
        }).collect::<Vec<_>>(),
        risk => outcome.as_ref().map(|o| risk(o, today)),
        evidence => rec.evidence.iter().map(|e| context! {
            kind => e.kind.as_str(),
            name => e.name.clone(),
            subject => e.subject.clone(),
            digest => e.digest.clone(),
            attached => e.attached.clone().filter(|a| *a != e.name),
            href => download(project, run.as_ref(), &e.name, &e.digest).map(Value::from_safe_string),
        }).collect::<Vec<_>>(),
        notes => rec.notes.clone(),
    })
}

fn summary(rec: &ReleaseRecord, run: Option<&RunRecord>) -> Value {
    context! {
        version => rec.version.clone(),
        tag => rec.tag.clone(),
        commit => rec.commit.clone(),
        run => rec.run,
        run_exists => run.is_some(),
        when => when(Some(rec.created_at)),
    }
}

/// The artifact API's address of the run's artifact `name` with `digest`, if the run kept
/// one (a pushed image or an uploaded Python file has none); every part of it that varies
/// is percent-encoded, so it is safe in an attribute as it is.
fn download(project: &str, run: Option<&RunRecord>, name: &str, digest: &str) -> Option<String> {
    let hex = digest.strip_prefix("sha256:").unwrap_or(digest);
    let run = run?;
    let a: &ArtifactRecord = run
        .jobs
        .iter()
        .flat_map(|j| &j.artifacts)
        .find(|a| a.path == name && a.sha256 == hex)?;
    Some(format!(
        "/api/v1/projects/{}/runs/{}/artifacts/{}?job={}",
        urlpart(project.to_string()),
        run.summary.number,
        a.path
            .split('/')
            .map(|p| urlpart(p.to_string()))
            .collect::<Vec<_>>()
            .join("/"),
        urlpart(a.job.clone()),
    ))
}

/// The gate's outcome as the page shows it: exceptions first, with where each stands
/// today, then every open finding by severity, the most severe first.
fn risk(o: &Outcome, today: chrono::NaiveDate) -> Value {
    let exceptions: Vec<Value> = o
        .applied
        .iter()
        .map(|a| {
            let standing = a.standing(today, o.policy.warn_days);
            context! {
                id => a.id.clone(),
                kind => a.kind.as_str(),
                standing => match standing {
                    Standing::Expired(_) => "expired",
                    Standing::Expiring(_) => "expiring",
                    Standing::Valid(_) => "valid",
                },
                alarm => standing.is_alarming(),
                when => standing.describe(a.expires),
                owner => a.owner.clone(),
                approved_by => a.approved_by.clone(),
                reason => a.reason.clone(),
                ticket => a.ticket.clone(),
                matched => a.matched.clone(),
            }
        })
        .collect();
    let findings: Vec<Value> = o
        .open_by_severity()
        .iter()
        .map(|(f, failing)| {
            context! {
                severity => f.finding.severity.as_str(),
                id => f.finding.id.clone(),
                what => f.finding.describe(),
                failing => *failing,
            }
        })
        .collect();
    let licenses: Vec<Value> = o
        .licenses
        .iter()
        .map(|l| {
            context! {
                package => l.package.name.clone(),
                version => l.package.version.clone(),
                problem => l.describe_problem(),
            }
        })
        .collect();
    context! {
        file => o.policy.file.clone(),
        digest => o.policy.digest.clone(),
        date => o.date.to_string(),
        warn_days => o.policy.warn_days,
        passed => o.passed(),
        exceptions => exceptions,
        findings => findings,
        licenses => licenses,
    }
}
