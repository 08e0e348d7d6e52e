//! What a job attempt leaves once its steps ran: its JUnit reports and its artifacts.
//!
//! Reports are read and kept whether the job passed or failed: a red test job is exactly
//! when its `junit.xml` matters (GitLab's `artifacts:reports` are uploaded either way, and
//! GitHub users write `if: always()` on the upload step for that reason). Each report is
//! parsed into the run record (counts and the failed cases) and stored as an artifact of
//! the run, not passed on to later jobs (as a service's log). A report glob that matched
//! nothing, or a report that is not JUnit, is a warning, never a failure.
//!
//! Declared artifacts are kept as `artifacts: { when }` says, in GitLab's words: after a
//! success (the default, and the list form), after a failure, or always. After a success
//! a glob that matches nothing fails the job, as before; after a failure it is a warning,
//! since the job's own failure is the news. Artifacts a failed job kept are passed to the
//! jobs after it that still run (`if: failure()` or `always()`).

use std::path::Path;

use wharf_model::{ArtifactRecord, ProducedKind, RunEvent};

use crate::artifacts::{self, Collected};
use crate::job::{JobRun, JobTask, mask, warn};
use crate::junit;
use crate::scheduler::Outcome;

/// Parses and keeps the job's reports, then keeps its artifacts; a success whose
/// artifacts cannot be kept becomes a failure.
pub(crate) async fn reports_and_artifacts(t: &JobTask, workspace: &Path, run: &mut JobRun) {
    let reports = reports(t, workspace).await;
    artifacts(t, workspace, run).await;
    // A report the job also declares as an artifact is stored once.
    let left: Vec<artifacts::Found> = reports
        .into_iter()
        .filter(|f| !run.artifacts.iter().any(|a| a.path == f.rel))
        .collect();
    if left.is_empty() {
        return;
    }
    let names: Vec<String> = left.iter().map(|f| f.rel.clone()).collect();
    match store(t, left).await {
        Ok(list) => list.iter().for_each(|a| stored(t, a)),
        Err(e) => warn(
            t,
            None,
            &format!("reports {} were not kept: {e}", names.join(", ")),
        ),
    }
}

/// Finds and parses the job's reports (sending what they say and any warning); returns
/// the files, to be kept.
async fn reports(t: &JobTask, workspace: &Path) -> Vec<artifacts::Found> {
    let job = &t.spec.plan.jobs[t.spec.index];
    if job.reports.is_empty() {
        return Vec::new();
    }
    let (ws, pats) = (workspace.to_path_buf(), job.reports.clone());
    let done = tokio::task::spawn_blocking(move || {
        let found = artifacts::collect(&ws, &pats, false)?;
        let parsed: Vec<_> = found
            .files
            .iter()
            .map(|f| junit::parse_file(&f.abs))
            .collect();
        Ok::<_, artifacts::Error>((found, parsed))
    })
    .await
    .map_err(|e| e.to_string())
    .and_then(|r| r.map_err(|e| e.to_string()));
    let (found, parsed) = match done {
        Ok(x) => x,
        Err(e) => {
            warn(t, None, &format!("reports: {e}"));
            return Vec::new();
        }
    };
    warn_unmatched(t, "reports", &found);
    for (f, report) in found.files.iter().zip(parsed) {
        match report {
            Ok(r) => {
                let failed_tests = r
                    .failed
                    .into_iter()
                    .map(|mut c| {
                        c.name = mask(t, &c.name);
                        c.classname = mask(t, &c.classname);
                        c.message = mask(t, &c.message);
                        c
                    })
                    .collect();
                let _ = t.events.send(RunEvent::ReportParsed {
                    job: job.id.clone(),
                    path: f.rel.clone(),
                    tests: r.counts.tests,
                    failures: r.counts.failures,
                    errors: r.counts.errors,
                    skipped: r.counts.skipped,
                    failed_tests,
                });
            }
            Err(e) => warn(t, None, &format!("report `{}`: {e}", f.rel)),
        }
    }
    found.files
}

/// Keeps the job's declared artifacts (and its release packages) as `when` and the
/// outcome say, into `run.artifacts`.
async fn artifacts(t: &JobTask, workspace: &Path, run: &mut JobRun) {
    let job = &t.spec.plan.jobs[t.spec.index];
    let succeeded = run.outcome == Outcome::Success;
    let mut pats = if job.artifacts_when.keeps(succeeded) {
        job.artifacts.clone()
    } else {
        Vec::new()
    };
    // Release packages are kept like declared artifacts, so later jobs receive them, and
    // so are the documents that prove a release or say why a step failed (a load test's
    // report), whatever the job's outcome.
    pats.extend(
        run.produced
            .iter()
            .filter(|p| {
                p.kind == ProducedKind::Evidence || (succeeded && p.kind == ProducedKind::Package)
            })
            .map(|p| globset::escape(&p.name)),
    );
    if pats.is_empty() {
        return;
    }
    let (objects, ws, id) = (t.store.clone(), workspace.to_path_buf(), job.id.clone());
    let done = tokio::task::spawn_blocking(move || {
        let found = artifacts::collect(&ws, &pats, succeeded)?;
        let list = artifacts::store_all(&*objects, &id, &found.files)?;
        Ok::<_, artifacts::Error>((list, found))
    })
    .await
    .map_err(|e| e.to_string())
    .and_then(|r| r.map_err(|e| e.to_string()));
    match done {
        Ok((list, found)) => {
            warn_unmatched(t, "artifacts", &found);
            list.iter().for_each(|a| stored(t, a));
            run.artifacts = list;
        }
        Err(e) if succeeded => {
            run.outcome = Outcome::Failed;
            run.reason = Some(format!("artifacts: {e}"));
        }
        // The job failed already: that is its reason, this is a footnote.
        Err(e) => warn(
            t,
            None,
            &format!("artifacts of the failed job not kept: {e}"),
        ),
    }
}

/// Warns about each match left out and each glob that matched nothing.
fn warn_unmatched(t: &JobTask, what: &str, found: &Collected) {
    for l in &found.left_out {
        warn(t, None, &format!("{what}: {l}"));
    }
    for p in &found.unmatched {
        warn(t, None, &format!("{what}: `{p}` matched no file"));
    }
}

/// Stores `files` as artifacts of the run (not passed on to later jobs).
async fn store(t: &JobTask, files: Vec<artifacts::Found>) -> Result<Vec<ArtifactRecord>, String> {
    let (objects, id) = (t.store.clone(), t.spec.plan.jobs[t.spec.index].id.clone());
    tokio::task::spawn_blocking(move || artifacts::store_all(&*objects, &id, &files))
        .await
        .map_err(|e| e.to_string())
        .and_then(|r| r.map_err(|e| e.to_string()))
}

fn stored(t: &JobTask, a: &ArtifactRecord) {
    let _ = t.events.send(RunEvent::ArtifactStored {
        job: a.job.clone(),
        path: a.path.clone(),
        sha256: a.sha256.clone(),
        size: a.size,
        mode: a.mode,
    });
}
