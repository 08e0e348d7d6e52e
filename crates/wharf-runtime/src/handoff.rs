//! Handoff files: what a job leaves for the jobs after it when each runs in its own
//! process (`wharf run JOB --no-deps`, one platform job per wharf job in exported CI
//! files). `.wharf/handoff/JOB.json` holds its status, outputs, artifacts and products;
//! the platform's artifact mechanism carries it to the next job, whose run reads it so
//! `needs.JOB.outputs.*`, `WHARF_IMAGE_DIGEST` and release records work as in one run.

use std::path::{Path, PathBuf};

use wharf_model::{Handoff, Plan, ProducedKind, RunRecord};

/// The handoff directory under `.wharf`.
pub fn dir(wharf_dir: &Path) -> PathBuf {
    wharf_dir.join("handoff")
}

/// Every handoff file present; unreadable ones are skipped, each with a warning through
/// `warn`.
pub fn load(wharf_dir: &Path, warn: &dyn Fn(String)) -> Vec<Handoff> {
    let Ok(entries) = std::fs::read_dir(dir(wharf_dir)) else {
        return Vec::new();
    };
    let mut paths: Vec<PathBuf> = entries
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| p.extension().is_some_and(|x| x == "json"))
        .collect();
    paths.sort();
    paths
        .into_iter()
        .filter_map(|p| {
            match std::fs::read(&p)
                .map_err(|e| e.to_string())
                .and_then(|b| serde_json::from_slice::<Handoff>(&b).map_err(|e| e.to_string()))
            {
                Ok(h) => Some(h),
                Err(e) => {
                    warn(format!("ignoring handoff file {}: {e}", p.display()));
                    None
                }
            }
        })
        .collect()
}

/// Writes one file per job of the run (matrix cells merged under the job's name).
pub fn write(wharf_dir: &Path, plan: &Plan, record: &RunRecord) -> std::io::Result<()> {
    let dir = dir(wharf_dir);
    std::fs::create_dir_all(&dir)?;
    let mut by_name: Vec<Handoff> = Vec::new();
    for (pj, rec) in plan.jobs.iter().zip(&record.jobs) {
        match by_name.iter_mut().find(|h| h.job == pj.name) {
            // Another cell of a matrix job: the job is as good as its worst cell.
            Some(h) if h.status.counts_as_success() => h.status = rec.status,
            Some(_) => {}
            None => by_name.push(Handoff {
                job: pj.name.clone(),
                status: rec.status,
                outputs: Default::default(),
                artifacts: Vec::new(),
                produced: Vec::new(),
            }),
        }
        let h = by_name
            .iter_mut()
            .find(|h| h.job == pj.name)
            .expect("added above");
        h.outputs.extend(rec.outputs.clone());
        // What the job hands on: its declared artifacts and release packages, not the
        // other files kept with the run (reports, service logs), which would otherwise
        // end up in a later job's release record.
        let packages: Vec<&str> = rec
            .produced
            .iter()
            .filter(|p| p.kind == ProducedKind::Package)
            .map(|p| p.name.as_str())
            .collect();
        h.artifacts.extend(
            rec.artifacts
                .iter()
                .filter(|a| {
                    wharf_engine::artifacts::declared(&pj.artifacts, &a.path)
                        || packages.contains(&a.path.as_str())
                })
                .cloned(),
        );
        h.produced.extend(rec.produced.clone());
    }
    for h in by_name {
        let path = dir.join(format!("{}.json", h.job));
        let tmp = dir.join(format!(".{}.json.tmp", h.job));
        std::fs::write(
            &tmp,
            serde_json::to_vec_pretty(&h).map_err(std::io::Error::other)?,
        )?;
        std::fs::rename(tmp, path)?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use wharf_model::{Event, EventKind};

    use super::*;

    /// A record of one run of `job`, built from JSON so that fields the record gains with
    /// a default do not break the test.
    fn record(job: &str, artifacts: &[&str], produced: serde_json::Value) -> RunRecord {
        let artifacts: Vec<serde_json::Value> = artifacts
            .iter()
            .map(|p| {
                serde_json::json!({ "job": job, "path": p, "sha256": "00", "size": 1, "mode": 420 })
            })
            .collect();
        serde_json::from_value(serde_json::json!({
            "number": 1, "pipeline": "p", "status": "success", "started_at": 0,
            "finished_at": 1, "file": "wharf.yml",
            "event": serde_json::to_value(Event::new(EventKind::Push)).unwrap(),
            "jobs": [{
                "id": job, "needs": [], "status": "success", "exit_code": 0, "reason": null,
                "attempt": 1, "started_at": 0, "finished_at": 1, "steps": [], "outputs": {},
                "artifacts": artifacts, "reports": [], "produced": produced,
            }],
        }))
        .expect("a run record")
    }

    #[test]
    fn a_handoff_lists_only_the_artifacts_the_job_declares() {
        let pipeline = wharf_pipeline::parse(
            "wharf.yml",
            "version: 1\njobs:\n  check:\n    run: \"true\"\n    artifacts: [dist/*.whl, site/]\n    reports: [reports/junit.xml]\n",
        )
        .unwrap();
        let plan = pipeline
            .plan_without_needs(&Event::new(EventKind::Push), &["check".to_string()])
            .unwrap();
        let rec = record(
            "check",
            &[
                "dist/app.whl",
                "site/index.html",
                "out/app.tar.gz",
                "reports/junit.xml",
                "services/db.log",
            ],
            serde_json::json!([{ "kind": "package", "name": "out/app.tar.gz", "digest": "sha256:00", "size": 1 }]),
        );
        let dir = tempfile::tempdir().unwrap();
        write(dir.path(), &plan, &rec).unwrap();
        let handoffs = load(dir.path(), &|w| panic!("{w}"));
        let paths: Vec<&str> = handoffs[0]
            .artifacts
            .iter()
            .map(|a| a.path.as_str())
            .collect();
        assert_eq!(paths, ["dist/app.whl", "site/index.html", "out/app.tar.gz"]);
    }
}
