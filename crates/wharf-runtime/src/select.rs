//! Which pipelines an event starts, and their plans: the same selection for `wharf run`, a
//! webhook and a schedule.

use std::collections::BTreeMap;

use wharf_model::{Event, Handoff, JobStatus, Plan, RunRecord};
use wharf_pipeline::Pipeline;

use crate::error::{Error, Result};

/// What to run of the pipelines an event starts.
#[derive(Debug, Clone, Default)]
pub struct Selection {
    /// Only these jobs and what they need (all when empty).
    pub jobs: Vec<String>,
    /// Only the named jobs, as if the jobs they need had succeeded (`--no-deps`).
    pub no_deps: bool,
    /// Values layered over each pipeline's `env:` for this run, literally.
    pub env: Vec<(String, String)>,
    /// `WHARF_MATRIX_*` values a CI platform's matrix gave this process (`--from-ci`): a
    /// wanted matrix job runs only the cell they name, as one cell of the platform's matrix.
    pub matrix_env: BTreeMap<String, String>,
}

/// The plans of the pipelines `event` starts, in project order. No plan at all is not an
/// error: the event starts nothing.
pub fn select(pipelines: &[Pipeline], event: &Event, sel: &Selection) -> Result<Vec<Plan>> {
    // A wanted job is a job's name, or one matrix cell by the id wharf displays for it
    // (`test (python=3.12)`): then the job is planned, and only that cell kept.
    let mut names: Vec<String> = Vec::new();
    let mut cells: Vec<(String, String)> = Vec::new();
    for wanted in &sel.jobs {
        let known = |name: &str| pipelines.iter().any(|p| p.job_names().contains(&name));
        if known(wanted) {
            match platform_cell(pipelines, wanted, &sel.matrix_env)? {
                Some(id) => cells.push((wanted.clone(), id)),
                None => names.push(wanted.clone()),
            }
        } else if let Some((base, _)) = wanted.split_once(" (")
            && wanted.ends_with(')')
            && known(base)
        {
            cells.push((base.to_string(), wanted.clone()));
        } else {
            let all: Vec<&str> = pipelines.iter().flat_map(|p| p.job_names()).collect();
            return Err(Error::invalid(
                format!("no job named `{wanted}`"),
                format!("jobs: {}", all.join(", ")),
            ));
        }
    }
    let wanted_names: Vec<String> = names
        .iter()
        .cloned()
        .chain(cells.iter().map(|(base, _)| base.clone()))
        .collect();
    let mut plans = Vec::new();
    for p in pipelines {
        if !p.matches(event) {
            continue;
        }
        let job_names = p.job_names();
        let mut only: Vec<String> = wanted_names
            .iter()
            .filter(|j| job_names.contains(&j.as_str()))
            .cloned()
            .collect();
        only.dedup();
        if !sel.jobs.is_empty() && only.is_empty() {
            continue;
        }
        let mut ev = event.clone();
        p.resolve_inputs(&mut ev).map_err(|m| Error::Invalid {
            message: format!("pipeline `{}`: {m}", p.name()),
            hint: None,
        })?;
        let planned = if sel.no_deps {
            p.plan_without_needs(&ev, &only)
        } else {
            p.plan(&ev, &only)
        };
        let mut plan = planned.map_err(|diagnostics| Error::Plan {
            pipeline: p.name().to_string(),
            diagnostics,
        })?;
        let mine: Vec<&(String, String)> = cells
            .iter()
            .filter(|(base, _)| job_names.contains(&base.as_str()))
            .collect();
        if !mine.is_empty() {
            let mut keep = Vec::new();
            for (base, id) in &mine {
                match plan.jobs.iter().position(|j| &j.id == id) {
                    Some(i) => keep.push(i),
                    None => {
                        let ids: Vec<&str> = plan
                            .jobs
                            .iter()
                            .filter(|j| &j.name == base)
                            .map(|j| j.id.as_str())
                            .collect();
                        return Err(Error::invalid(
                            format!("job `{base}` has no matrix cell `{id}`"),
                            format!("its cells: {}", ids.join(", ")),
                        ));
                    }
                }
            }
            keep.extend(
                plan.jobs
                    .iter()
                    .enumerate()
                    .filter(|(_, j)| names.contains(&j.name))
                    .map(|(i, _)| i),
            );
            plan.retain_with_needs(&keep);
        }
        for (k, v) in &sel.env {
            plan.env.insert(k.clone(), v.clone());
        }
        plans.push(plan);
    }
    Ok(plans)
}

/// The id of the cell of matrix job `name` that `matrix_env` names, when it has a matrix
/// and the platform gave values.
fn platform_cell(
    pipelines: &[Pipeline],
    name: &str,
    matrix_env: &BTreeMap<String, String>,
) -> Result<Option<String>> {
    if matrix_env.is_empty() {
        return Ok(None);
    }
    let Some(matrix) = pipelines
        .iter()
        .flat_map(|p| p.jobs())
        .find(|j| j.name == name)
        .and_then(|j| j.matrix.as_ref())
    else {
        return Ok(None);
    };
    let keys = matrix.keys();
    let value_of = |var: &str| matrix_env.get(var).cloned();
    let cells = matrix.cells();
    match cells
        .iter()
        .find(|c| wharf_pipeline::cell_matches(&keys, c, &value_of))
    {
        Some(c) => Ok(Some(wharf_pipeline::cell_id(name, c))),
        None => {
            let given: Vec<String> = keys
                .iter()
                .map(|k| {
                    let var = wharf_pipeline::matrix_env_var(k);
                    format!("{var}={}", matrix_env.get(&var).map_or("", String::as_str))
                })
                .collect();
            let ids: Vec<String> = cells
                .iter()
                .map(|c| wharf_pipeline::cell_id(name, c))
                .collect();
            Err(Error::invalid(
                format!(
                    "job `{name}` has no matrix cell for {} (from the CI platform's matrix)",
                    given.join(", ")
                ),
                format!(
                    "its cells: {}; export the pipeline again when its matrix changed",
                    ids.join(", ")
                ),
            ))
        }
    }
}

/// What `wharf run --rerun-failed` runs: the plan of the earlier run's pipeline for its
/// event, cut to the jobs that did not succeed and every job after them, and what the jobs
/// it keeps reuse of the earlier run's other jobs.
#[derive(Debug, Clone)]
pub struct Rerun {
    /// The plan to run.
    pub plan: Plan,
    /// The earlier run's jobs reused (by name), with their results, outputs and artifacts.
    pub reused: Vec<Handoff>,
    /// The ids of the jobs run again because they did not succeed.
    pub failed: Vec<String>,
}

/// Plans a re-run of the jobs of `previous` that failed, timed out, were cancelled or
/// interrupted, and of every job that needs them, directly or not (as GitHub Actions'
/// "re-run failed jobs"); the jobs they need that succeeded are not run again: their
/// results, outputs and artifacts are reused. `None` when every job succeeded or was
/// skipped on purpose.
pub fn rerun_failed(pipelines: &[Pipeline], previous: &RunRecord) -> Result<Option<Rerun>> {
    let number = previous.summary.number;
    if previous.summary.finished_at.is_none() {
        return Err(Error::invalid(
            format!("run #{number} has not finished"),
            "wait for it (`wharf logs -f` follows it), then re-run its failed jobs",
        ));
    }
    let pipeline = pipelines
        .iter()
        .find(|p| p.name() == previous.summary.pipeline)
        .ok_or_else(|| {
            Error::invalid(
                format!(
                    "run #{number} ran pipeline `{}`, which the project no longer has",
                    previous.summary.pipeline
                ),
                "re-run it with `wharf run` instead",
            )
        })?;
    let again = |s: JobStatus| {
        matches!(
            s,
            JobStatus::Failed | JobStatus::TimedOut | JobStatus::Cancelled | JobStatus::Interrupted
        )
    };
    let failed: Vec<String> = previous
        .jobs
        .iter()
        .filter(|j| again(j.status))
        .map(|j| j.id.clone())
        .collect();
    if failed.is_empty() {
        return Ok(None);
    }
    let mut plan = pipeline
        .plan(&previous.summary.event, &[])
        .map_err(|diagnostics| Error::Plan {
            pipeline: pipeline.name().to_string(),
            diagnostics,
        })?;
    // The failed jobs and everything after them.
    let n = plan.jobs.len();
    let mut keep = vec![false; n];
    for (i, j) in plan.jobs.iter().enumerate() {
        keep[i] = failed.contains(&j.id);
    }
    if !keep.iter().any(|k| *k) {
        return Err(Error::invalid(
            format!(
                "the failed jobs of run #{number} ({}) are not in its pipeline any more",
                failed.join(", ")
            ),
            "re-run the pipeline with `wharf run`",
        ));
    }
    loop {
        let mut grew = false;
        for i in 0..n {
            if !keep[i] && plan.jobs[i].needs.iter().any(|&d| keep[d]) {
                keep[i] = true;
                grew = true;
            }
        }
        if !grew {
            break;
        }
    }
    // Each kept job's ancestors outside the cut are reused, by name.
    let mut reused_names: Vec<String> = Vec::new();
    let mut external: Vec<Vec<String>> = vec![Vec::new(); n];
    for i in (0..n).filter(|&i| keep[i]) {
        let mut stack = plan.jobs[i].needs.clone();
        let mut seen = vec![false; n];
        while let Some(d) = stack.pop() {
            if seen[d] {
                continue;
            }
            seen[d] = true;
            if keep[d] {
                continue;
            }
            let name = plan.jobs[d].name.clone();
            if !external[i].contains(&name) {
                external[i].push(name.clone());
            }
            if !reused_names.contains(&name) {
                reused_names.push(name);
            }
            stack.extend(plan.jobs[d].needs.iter().copied());
        }
    }
    reused_names.sort_by_key(|name| plan.jobs.iter().position(|j| &j.name == name));
    for (i, mut names) in external.into_iter().enumerate() {
        names.sort_by_key(|name| plan.jobs.iter().position(|j| &j.name == name));
        plan.jobs[i].external_needs.extend(names);
    }
    let kept: Vec<usize> = (0..n).filter(|&i| keep[i]).collect();
    // Cut the needs to reused jobs, then the reused jobs themselves.
    for &i in &kept {
        let needs: Vec<usize> = plan.jobs[i]
            .needs
            .iter()
            .copied()
            .filter(|&d| keep[d])
            .collect();
        plan.jobs[i].needs = needs;
    }
    plan.retain_with_needs(&kept);
    let reused = reused_names
        .iter()
        .map(|name| {
            let cells: Vec<_> = previous
                .jobs
                .iter()
                .filter(|j| job_name(&j.id) == name)
                .collect();
            Handoff {
                job: name.clone(),
                status: cells
                    .iter()
                    .map(|j| j.status)
                    .find(|s| !s.counts_as_success())
                    .unwrap_or(JobStatus::Success),
                outputs: cells.iter().flat_map(|j| j.outputs.clone()).collect(),
                artifacts: cells.iter().flat_map(|j| j.artifacts.clone()).collect(),
                produced: cells.iter().flat_map(|j| j.produced.clone()).collect(),
            }
        })
        .collect();
    Ok(Some(Rerun {
        plan,
        reused,
        failed,
    }))
}

/// The job name of a job id: `test (python=3.12)` is a cell of `test`.
fn job_name(id: &str) -> &str {
    id.split_once(" (").map_or(id, |(name, _)| name)
}

/// Whether job `i` cannot run for this event: its `if:` reads only the event (no status
/// function, no `needs`, no `env`) and is false. Such a job needs no secrets and no engine,
/// so a push run of a pipeline whose publish job runs only on tags asks for neither.
fn skipped_for_event(plan: &Plan, i: usize) -> bool {
    let Some(source) = plan.jobs[i].condition.as_deref() else {
        return false;
    };
    let Ok(expr) = wharf_expr::parse(source) else {
        return false;
    };
    let event_only = expr.references().iter().all(|r| {
        matches!(
            r.path.first().map(String::as_str),
            Some("event" | "branch" | "tag" | "version" | "sha" | "actor" | "inputs")
        )
    });
    let dynamic = expr
        .functions()
        .iter()
        .any(|(f, _)| matches!(f.as_str(), "success" | "failure" | "always" | "cancelled"));
    if !event_only || dynamic {
        return false;
    }
    let ctx = EventOnly(&plan.event);
    wharf_expr::eval(&expr, &ctx).is_ok_and(|v| !v.is_truthy())
}

/// Which jobs of `plan` cannot run for its event, known before the run: those
/// [`skipped_for_event`], and those with the default `if:` that need one of them (a skipped
/// need skips its dependants). They need no secrets and no Docker Engine.
pub(crate) fn statically_skipped(plan: &Plan) -> Vec<bool> {
    let mut skipped: Vec<bool> = (0..plan.jobs.len())
        .map(|i| skipped_for_event(plan, i))
        .collect();
    loop {
        let mut changed = false;
        for (i, job) in plan.jobs.iter().enumerate() {
            if !skipped[i] && job.condition.is_none() && job.needs.iter().any(|&n| skipped[n]) {
                skipped[i] = true;
                changed = true;
            }
        }
        if !changed {
            return skipped;
        }
    }
}

/// The expression context of the event alone.
struct EventOnly<'a>(&'a wharf_model::Event);

impl wharf_expr::Context for EventOnly<'_> {
    fn lookup(&self, path: &[String]) -> Option<wharf_expr::Value> {
        wharf_engine::event_lookup(self.0, path)
    }

    fn status(&self) -> wharf_expr::Status {
        wharf_expr::Status {
            success: true,
            failure: false,
            cancelled: false,
        }
    }
}
