//! What `${{ … }}` expressions and `if:` conditions see at run time.

use std::collections::{BTreeMap, HashMap};

use wharf_expr::{Context, Status, Value};
use wharf_model::{Event, JobStatus, Plan, PlannedJob};

/// The expression context of one job.
pub struct JobContext<'a> {
    /// The plan (for the event).
    pub plan: &'a Plan,
    /// The job.
    pub job: &'a PlannedJob,
    /// Outputs of finished jobs, by job *name* (matrix cells merged in plan order).
    pub outputs: &'a HashMap<String, BTreeMap<String, String>>,
    /// Final statuses of finished jobs, by job name.
    pub results: &'a HashMap<String, JobStatus>,
    /// `env.*`: the environment layered so far.
    pub env: &'a BTreeMap<String, String>,
    /// What `success()`, `failure()` and `cancelled()` answer.
    pub status: Status,
}

/// What the event alone answers: `event`, `branch`, `tag`, `version`, `sha`, `actor`
/// and `inputs.NAME` (`None` for every other path).
pub fn event_lookup(e: &Event, path: &[String]) -> Option<Value> {
    let opt = |v: &Option<String>| Some(v.clone().map(Value::from).unwrap_or(Value::Null));
    match path {
        [root] => match root.as_str() {
            "event" => Some(Value::from(e.kind.as_str())),
            "branch" => opt(&e.branch),
            "tag" => opt(&e.tag),
            "version" => opt(&e.version),
            "sha" => opt(&e.sha),
            "actor" => opt(&e.actor),
            _ => None,
        },
        [root, key] if root == "inputs" => e.inputs.get(key).map(|v| Value::from(v.as_str())),
        _ => None,
    }
}

impl Context for JobContext<'_> {
    fn lookup(&self, path: &[String]) -> Option<Value> {
        if let Some(v) = event_lookup(&self.plan.event, path) {
            return Some(v);
        }
        match path {
            [root, key] => match root.as_str() {
                "matrix" => self.job.matrix.get(key).map(|v| Value::from(v.as_str())),
                "env" => self.env.get(key).map(|v| Value::from(v.as_str())),
                _ => None,
            },
            [root, job, what] if root == "needs" && what == "result" && self.needs(job) => {
                self.results.get(job).map(|s| Value::from(s.as_str()))
            }
            [root, job, what, name] if root == "needs" && what == "outputs" && self.needs(job) => {
                self.outputs
                    .get(job)
                    .and_then(|o| o.get(name))
                    .map(|v| Value::from(v.as_str()))
            }
            _ => None,
        }
    }

    fn status(&self) -> Status {
        Status {
            success: self.status.success,
            failure: self.status.failure,
            cancelled: self.status.cancelled,
        }
    }
}

impl JobContext<'_> {
    fn needs(&self, name: &str) -> bool {
        self.job
            .needs
            .iter()
            .any(|&i| self.plan.jobs[i].name == name)
            || self.job.external_needs.iter().any(|n| n == name)
    }
}

/// Evaluates a condition the way GitHub Actions does: without any status function in it
/// (`success()`, `failure()`, `always()`, `cancelled()`), it is implicitly
/// `success() && (condition)`.
pub fn condition_holds(source: Option<&str>, ctx: &dyn Context) -> Result<bool, String> {
    let status = ctx.status();
    let Some(source) = source else {
        return Ok(status.success && !status.cancelled);
    };
    let expr = wharf_expr::parse(source).map_err(|e| format!("if: {}: {e}", source))?;
    let has_status_fn = expr
        .functions()
        .iter()
        .any(|(f, _)| matches!(f.as_str(), "success" | "failure" | "always" | "cancelled"));
    let implicit_success = status.success && !status.cancelled;
    if !has_status_fn && !implicit_success {
        return Ok(false);
    }
    let value = wharf_expr::eval(&expr, ctx).map_err(|e| format!("if: {}: {e}", source))?;
    Ok(value.is_truthy())
}
