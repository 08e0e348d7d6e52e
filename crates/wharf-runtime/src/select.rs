//! Which pipelines an event starts, and their plans: the same selection for `wharf run`, a
//! webhook and a schedule.

use wharf_model::{Event, Plan};
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
}

/// The plans of the pipelines `event` starts, in project order. No plan at all is not an
/// error: the event starts nothing.
pub fn select(pipelines: &[Pipeline], event: &Event, sel: &Selection) -> Result<Vec<Plan>> {
    for wanted in &sel.jobs {
        if !pipelines
            .iter()
            .any(|p| p.job_names().contains(&wanted.as_str()))
        {
            let all: Vec<&str> = pipelines.iter().flat_map(|p| p.job_names()).collect();
            return Err(Error::invalid(
                format!("no job named `{wanted}`"),
                format!("jobs: {}", all.join(", ")),
            ));
        }
    }
    let mut plans = Vec::new();
    for p in pipelines {
        if !p.matches(event) {
            continue;
        }
        let names = p.job_names();
        let only: Vec<String> = sel
            .jobs
            .iter()
            .filter(|j| names.contains(&j.as_str()))
            .cloned()
            .collect();
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
        for (k, v) in &sel.env {
            plan.env.insert(k.clone(), v.clone());
        }
        plans.push(plan);
    }
    Ok(plans)
}
