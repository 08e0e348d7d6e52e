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

/// Every job's handoff: the files present (a matrix job's cells, one file each, merged
/// into one handoff: the job is as good as its worst cell); unreadable ones are skipped,
/// each with a warning through `warn`.
pub fn load(wharf_dir: &Path, warn: &dyn Fn(String)) -> Vec<Handoff> {
    let root = dir(wharf_dir);
    let mut paths = json_files(&root);
    if let Ok(entries) = std::fs::read_dir(&root) {
        for e in entries.filter_map(|e| e.ok()) {
            if e.file_type().is_ok_and(|t| t.is_dir()) {
                paths.extend(json_files(&e.path()));
            }
        }
    }
    paths.sort();
    let mut merged: Vec<Handoff> = Vec::new();
    for p in paths {
        let h = match std::fs::read(&p)
            .map_err(|e| e.to_string())
            .and_then(|b| serde_json::from_slice::<Handoff>(&b).map_err(|e| e.to_string()))
        {
            Ok(h) => h,
            Err(e) => {
                warn(format!("ignoring handoff file {}: {e}", p.display()));
                continue;
            }
        };
        match merged.iter_mut().find(|m| m.job == h.job) {
            Some(m) => {
                if m.status.counts_as_success() {
                    m.status = h.status;
                }
                m.outputs.extend(h.outputs);
                m.artifacts.extend(h.artifacts);
                m.produced.extend(h.produced);
            }
            None => merged.push(h),
        }
    }
    merged
}

fn json_files(dir: &Path) -> Vec<PathBuf> {
    let Ok(entries) = std::fs::read_dir(dir) else {
        return Vec::new();
    };
    entries
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| p.is_file() && p.extension().is_some_and(|x| x == "json"))
        .collect()
}

/// Where a job's handoff goes: `JOB.json`, or for one cell of a matrix job
/// `JOB/KEY=VALUE,….json`. Each cell of a platform's matrix runs in its own process and
/// leaves its own file, so the platform's artifacts carry them all side by side.
pub fn file_of(
    dir: &Path,
    job: &str,
    cell: &std::collections::BTreeMap<String, String>,
) -> PathBuf {
    if cell.is_empty() {
        return dir.join(format!("{job}.json"));
    }
    let pairs: Vec<String> = cell
        .iter()
        .map(|(k, v)| format!("{}={}", escape(k), escape(v)))
        .collect();
    dir.join(job).join(format!("{}.json", pairs.join(",")))
}

/// A matrix value as a file-name part: bytes outside `[A-Za-z0-9._-]` as `%XX`, so that no
/// two cells share a name and none is hidden, absolute or a path.
fn escape(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for b in s.bytes() {
        if b.is_ascii_alphanumeric() || b"_-".contains(&b) || (b == b'.' && !out.is_empty()) {
            out.push(b as char);
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

/// Writes one file per job of the run, one per cell for a matrix job.
pub fn write(wharf_dir: &Path, plan: &Plan, record: &RunRecord) -> std::io::Result<()> {
    let dir = dir(wharf_dir);
    std::fs::create_dir_all(&dir)?;
    for (pj, rec) in plan.jobs.iter().zip(&record.jobs) {
        // What the job hands on: its declared artifacts and release packages, not the
        // other files kept with the run (reports, service logs), which would otherwise
        // end up in a later job's release record.
        let packages: Vec<&str> = rec
            .produced
            .iter()
            .filter(|p| p.kind == ProducedKind::Package)
            .map(|p| p.name.as_str())
            .collect();
        let h = Handoff {
            job: pj.name.clone(),
            status: rec.status,
            outputs: rec.outputs.clone(),
            artifacts: rec
                .artifacts
                .iter()
                .filter(|a| {
                    wharf_engine::artifacts::declared(&pj.artifacts, &a.path)
                        || packages.contains(&a.path.as_str())
                })
                .cloned()
                .collect(),
            produced: rec.produced.clone(),
        };
        let path = file_of(&dir, &pj.name, &pj.matrix);
        let parent = path.parent().unwrap_or(&dir);
        std::fs::create_dir_all(parent)?;
        let tmp = parent.join(format!(
            ".{}.tmp",
            path.file_name().unwrap_or_default().to_string_lossy()
        ));
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
    use wharf_model::{Event, EventKind, JobStatus};

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

    #[test]
    fn each_matrix_cell_leaves_its_own_file_and_loading_merges_them() {
        let pipeline = wharf_pipeline::parse(
            "wharf.yml",
            "version: 1\njobs:\n  test:\n    matrix: { py: [\"3.11\", \"a/b c\"] }\n    run: \"true\"\n    outputs: [x]\n",
        )
        .unwrap();
        let plan = pipeline
            .plan_without_needs(&Event::new(EventKind::Push), &["test".to_string()])
            .unwrap();
        assert_eq!(plan.jobs.len(), 2);
        let dir = tempfile::tempdir().unwrap();
        // each cell in a process of its own, as on a platform's matrix
        for (i, status) in [(0, "success"), (1, "failed")] {
            let mut rec = record("test", &[], serde_json::json!([]));
            rec.jobs[0].status = serde_json::from_value(serde_json::json!(status)).unwrap();
            rec.jobs[0]
                .outputs
                .insert(format!("x{i}"), format!("from cell {i}"));
            let mut one = plan.clone();
            one.jobs = vec![plan.jobs[i].clone()];
            write(dir.path(), &one, &rec).unwrap();
        }
        let mut files: Vec<String> = std::fs::read_dir(dir.path().join("handoff/test"))
            .unwrap()
            .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
            .collect();
        files.sort();
        assert_eq!(files, ["py=3.11.json", "py=a%2Fb%20c.json"]);
        let handoffs = load(dir.path(), &|w| panic!("{w}"));
        assert_eq!(handoffs.len(), 1, "one handoff per job");
        assert_eq!(handoffs[0].status, JobStatus::Failed, "the worst cell's");
        assert_eq!(handoffs[0].outputs.len(), 2, "both cells' outputs");
    }
}
