//! Compiling a validated pipeline for one event into a [`Plan`].
//!
//! Here the matrix is expanded, `needs` become indices, and the trusted `matrix.*` values
//! are substituted into `run`, `name`, `env` and `working-directory`. Everything else in
//! `env:` stays a template for the engine to evaluate when the job starts.

use std::collections::BTreeMap;

use wharf_expr::{Context, Status, Value};
use wharf_model::{Event, Plan, PlannedJob, PlannedStep, StepAction};

use crate::diagnostic::{Diagnostic, Diagnostics};
use crate::matrix::{Cell, cell_id};
use crate::pipeline::{Job, Pipeline};
use crate::suggest::did_you_mean;

/// The longest default step name, in characters.
const STEP_NAME_CHARS: usize = 60;

/// See [`Pipeline::plan`].
pub(crate) fn plan(
    p: &Pipeline,
    event: &Event,
    only_jobs: &[String],
    with_needs: bool,
) -> Result<Plan, Diagnostics> {
    let selected = select(p, only_jobs, with_needs)?;
    let mut jobs: Vec<PlannedJob> = Vec::new();
    let mut cells_of: BTreeMap<&str, Vec<usize>> = BTreeMap::new();
    let mut errors = Vec::new();
    for job in p
        .jobs
        .iter()
        .filter(|j| selected.contains(&j.name.as_str()))
    {
        let cells: Vec<Cell> = match &job.matrix {
            Some(m) => m.cells(),
            None => vec![Vec::new()],
        };
        for cell in cells {
            let needs = job
                .needs
                .iter()
                .flat_map(|n| cells_of.get(n.as_str()).cloned().unwrap_or_default())
                .collect();
            match planned_job(job, &cell, needs, p) {
                Ok(mut planned) => {
                    planned.external_needs = job
                        .needs
                        .iter()
                        .filter(|n| !selected.contains(&n.as_str()))
                        .cloned()
                        .collect();
                    cells_of
                        .entry(job.name.as_str())
                        .or_default()
                        .push(jobs.len());
                    jobs.push(planned);
                }
                Err(message) => errors.push(Diagnostic::whole_file(&p.file, message)),
            }
        }
    }
    if !errors.is_empty() {
        return Err(Diagnostics(errors));
    }
    Ok(Plan {
        pipeline: p.name.clone(),
        file: p.file.clone(),
        event: event.clone(),
        env: Pipeline::env_map(&p.env),
        fail_fast: p.fail_fast,
        pull_request_secrets: p
            .triggers
            .as_ref()
            .and_then(|t| t.pull_request.as_ref())
            .is_some_and(|pr| pr.secrets),
        environments: p
            .environments
            .iter()
            .filter(|e| {
                jobs.iter()
                    .any(|j| j.environment.as_deref() == Some(e.name.as_str()))
            })
            .map(|e| e.rules.clone())
            .collect(),
        jobs,
    })
}

/// The requested jobs and everything they need, transitively; every job when empty.
fn select<'a>(
    p: &'a Pipeline,
    only_jobs: &[String],
    with_needs: bool,
) -> Result<Vec<&'a str>, Diagnostics> {
    if only_jobs.is_empty() {
        return Ok(p.job_names());
    }
    let names = p.job_names();
    let mut errors = Vec::new();
    let mut selected: Vec<&str> = Vec::new();
    let mut queue: Vec<&str> = Vec::new();
    for wanted in only_jobs {
        match names.iter().find(|n| **n == wanted.as_str()) {
            Some(n) => queue.push(n),
            None => {
                let hint = did_you_mean(wanted, names.iter().copied())
                    .unwrap_or_else(|| format!("the jobs are {}", names.join(", ")));
                errors.push(
                    Diagnostic::whole_file(
                        &p.file,
                        format!("pipeline `{}` has no job `{wanted}`", p.name),
                    )
                    .with_hint(hint),
                );
            }
        }
    }
    if !errors.is_empty() {
        return Err(Diagnostics(errors));
    }
    while let Some(name) = queue.pop() {
        if selected.contains(&name) {
            continue;
        }
        selected.push(name);
        if !with_needs {
            continue;
        }
        if let Some(job) = p.jobs.iter().find(|j| j.name == name) {
            queue.extend(job.needs.iter().map(String::as_str));
        }
    }
    Ok(selected)
}

/// Plan-time context: only the cell's matrix values are known.
struct MatrixContext<'a>(&'a Cell);

impl Context for MatrixContext<'_> {
    fn lookup(&self, path: &[String]) -> Option<Value> {
        match path {
            [root, key] if root == "matrix" => self
                .0
                .iter()
                .find(|(k, _)| k == key)
                .map(|(_, v)| Value::String(v.clone())),
            _ => None,
        }
    }

    fn status(&self) -> Status {
        Status {
            success: true,
            failure: false,
            cancelled: false,
        }
    }
}

/// Substitutes `matrix.*` into `text`, leaving other expressions for run time.
fn substitute(text: &str, cell: &Cell) -> Result<String, String> {
    let template = wharf_expr::parse_template(text).map_err(|e| e.message)?;
    if template.is_literal() {
        return Ok(text.to_string());
    }
    template
        .substitute(&MatrixContext(cell), &|r| {
            r.path.first().is_some_and(|p| p == "matrix")
        })
        .map_err(|e| e.message)
}

fn env(pairs: &[(String, String)], cell: &Cell) -> Result<BTreeMap<String, String>, String> {
    pairs
        .iter()
        .map(|(k, v)| Ok((k.clone(), substitute(v, cell)?)))
        .collect()
}

fn opt(text: &Option<String>, cell: &Cell) -> Result<Option<String>, String> {
    text.as_deref().map(|t| substitute(t, cell)).transpose()
}

fn planned_job(
    job: &Job,
    cell: &Cell,
    needs: Vec<usize>,
    _p: &Pipeline,
) -> Result<PlannedJob, String> {
    let mut steps = Vec::new();
    for step in &job.steps {
        // Built-in parameters are data, not shell source: the engine evaluates their
        // templates with the whole run-time context when the step starts.
        let action = match &step.action {
            StepAction::Run { run, shell } => StepAction::Run {
                run: substitute(run, cell)?,
                shell: shell.clone(),
            },
            builtin @ StepAction::Builtin(_) => builtin.clone(),
        };
        let name = match (&step.name, &action) {
            (Some(n), _) => substitute(n, cell)?,
            (None, StepAction::Run { run, .. }) => default_step_name(run),
            (None, StepAction::Builtin(b)) => {
                let d = b.describe();
                if d.contains("${{") {
                    b.key().to_string()
                } else {
                    d
                }
            }
        };
        steps.push(PlannedStep {
            name,
            action,
            env: env(&step.env, cell)?,
            working_directory: opt(&step.working_directory, cell)?,
            timeout_ms: step.timeout_ms,
            continue_on_error: step.continue_on_error,
            condition: step.condition.clone(),
        });
    }
    Ok(PlannedJob {
        id: cell_id(&job.name, cell),
        name: job.name.clone(),
        matrix: cell.iter().cloned().collect(),
        needs,
        condition: job.condition.clone(),
        steps,
        env: env(&job.env, cell)?,
        secrets: job.secrets.clone(),
        timeout_ms: job.timeout_ms,
        retry: job.retry,
        continue_on_error: job.continue_on_error,
        working_directory: opt(&job.working_directory, cell)?,
        artifacts: job.artifacts.clone(),
        artifacts_when: job.artifacts_when,
        reports: job.reports.clone(),
        outputs: job.outputs.clone(),
        environment: job.environment.clone(),
        workspace: job.workspace,
        image: job.image.clone(),
        services: job.services.clone(),
        cache: job.cache.as_ref().map(|c| wharf_model::CachePlan {
            key: c.key.clone(),
            paths: c.paths.clone(),
            restore_keys: c.restore_keys.clone(),
        }),
        external_needs: Vec::new(),
    })
}

/// The first non-empty line of the script, at most 60 characters.
fn default_step_name(run: &str) -> String {
    let line = run
        .lines()
        .map(str::trim)
        .find(|l| !l.is_empty())
        .unwrap_or("");
    line.chars().take(STEP_NAME_CHARS).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    use wharf_model::EventKind;

    const TEXT: &str = "version: 1\njobs:\n  lint:\n    run: make lint\n  test:\n    matrix: { os: [linux, mac] }\n    run: make test\n  package:\n    needs: [test]\n    run: make package\n  ship:\n    needs: [package, lint]\n    run: make ship\n  docs:\n    run: make docs\n";

    fn ids(only: &[&str]) -> Result<Vec<String>, Diagnostics> {
        let p = crate::parse("wharf.yml", TEXT)?;
        let only: Vec<String> = only.iter().map(|s| s.to_string()).collect();
        let plan = p.plan(&Event::new(EventKind::Push), &only)?;
        Ok(plan
            .jobs
            .into_iter()
            .map(|j| format!("{}{:?}", j.id, j.needs))
            .collect())
    }

    #[test]
    fn selects_jobs_with_their_transitive_needs_in_source_order() {
        assert_eq!(
            ids(&["package"]).expect("plan"),
            ["test (os=linux)[]", "test (os=mac)[]", "package[0, 1]"]
        );
        assert_eq!(
            ids(&["ship"]).expect("plan"),
            [
                "lint[]",
                "test (os=linux)[]",
                "test (os=mac)[]",
                "package[1, 2]",
                "ship[3, 0]"
            ]
        );
        assert_eq!(ids(&[]).expect("plan").len(), 6);
    }

    #[test]
    fn unknown_job_names_suggest_the_closest() {
        let err = ids(&["pakage", "zzz"]).expect_err("unknown jobs");
        assert_eq!(err.0.len(), 2);
        assert_eq!(err.0[0].message, "pipeline `wharf` has no job `pakage`");
        assert_eq!(err.0[0].hint.as_deref(), Some("did you mean `package`?"));
        assert_eq!(
            err.0[1].hint.as_deref(),
            Some("the jobs are lint, test, package, ship, docs")
        );
        assert!(
            err.render(false)
                .starts_with("error: pipeline `wharf` has no job `pakage`")
        );
    }

    #[test]
    fn step_names_are_first_lines() {
        assert_eq!(default_step_name("\n  make test\nmake lint"), "make test");
        assert_eq!(default_step_name(&"x".repeat(100)).len(), 60);
        assert_eq!(default_step_name(""), "");
    }
}
