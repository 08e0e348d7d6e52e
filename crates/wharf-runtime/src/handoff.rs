//! Handoff files: what a job leaves for the jobs after it when each runs in its own
//! process (`wharf run JOB --no-deps`, one platform job per wharf job in exported CI
//! files). `.wharf/handoff/JOB.json` holds its status, outputs, artifacts and products;
//! the platform's artifact mechanism carries it to the next job, whose run reads it so
//! `needs.JOB.outputs.*`, `WHARF_IMAGE_DIGEST` and release records work as in one run.

use std::path::{Path, PathBuf};

use wharf_model::{Handoff, Plan, RunRecord};

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
        h.artifacts.extend(rec.artifacts.clone());
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
