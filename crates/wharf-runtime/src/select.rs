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
