//! From the file as written to a [`Pipeline`]: every rule that spans more than one value.
//!
//! Checks keep going after a problem, so one pass reports everything it can; the caller
//! sorts the diagnostics by position.

use std::collections::HashMap;
use std::path::Path;

use serde_saphyr::Spanned;
use wharf_model::{ArtifactsWhen, RetryPolicy, StepAction};

use crate::builtin;
use crate::duration::duration_ms;
use crate::exprs::{Scalar as ExprScalar, Scope, Site, check_condition, check_template};
use crate::file::{EnvFile, JobFile, PipelineFile, StepFile, WorkspaceFile};
use crate::matrix::matrix_from_file;
use crate::pipeline::{Cache, Defaults, Environment, Job, Pipeline, Step};
use crate::reporter::Reporter;
use crate::suggest::did_you_mean;
use crate::triggers::{globs_from_file, triggers_from_file};

/// The most retries a job may ask for.
const MAX_RETRY: i64 = 10;

/// `[A-Za-z_][A-Za-z0-9_-]*`: input, output and matrix axis names.
pub(crate) fn is_identifier(s: &str) -> bool {
    let mut chars = s.chars();
    chars
        .next()
        .is_some_and(|c| c.is_ascii_alphabetic() || c == '_')
        && chars.all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '-')
}

/// `[A-Za-z0-9_-]+`: job names.
/// Letters, digits, `_` and `-` (job, service, environment and metric names).
pub(crate) fn is_name(s: &str) -> bool {
    is_job_name(s)
}

fn is_job_name(s: &str) -> bool {
    !s.is_empty()
        && s.chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '-')
}

/// `[A-Za-z_][A-Za-z0-9_]*`: environment variable names.
pub(crate) fn is_env_name(s: &str) -> bool {
    let mut chars = s.chars();
    chars
        .next()
        .is_some_and(|c| c.is_ascii_alphabetic() || c == '_')
        && chars.all(|c| c.is_ascii_alphanumeric() || c == '_')
}

/// `[A-Z_][A-Z0-9_]*`: secret names.
pub(crate) fn is_secret_name(s: &str) -> bool {
    let mut chars = s.chars();
    chars
        .next()
        .is_some_and(|c| c.is_ascii_uppercase() || c == '_')
        && chars.all(|c| c.is_ascii_uppercase() || c.is_ascii_digit() || c == '_')
}

/// Validates `file`, reporting into `r`; the result is meaningful only if nothing was
/// reported.
pub(crate) fn validate(r: &mut Reporter, file: &PipelineFile) -> Pipeline {
    if file.version.value != 1 {
        let d = r
            .at(
                r.span(&file.version),
                format!("unsupported version `{}`", file.version.value),
            )
            .with_label("only version 1 exists")
            .with_hint("write `version: 1`");
        r.push(d);
    }
    let name = match &file.name {
        Some(n) => {
            if n.value.trim().is_empty() {
                r.error(r.span(n), "the pipeline name is empty", "empty name");
            }
            n.value.clone()
        }
        None => Path::new(&r.file)
            .file_stem()
            .and_then(|s| s.to_str())
            .unwrap_or("wharf")
            .to_string(),
    };
    let triggers = file.on.as_ref().map(|on| triggers_from_file(r, on));
    let input_names: Option<Vec<String>> = triggers
        .as_ref()
        .and_then(|t| t.manual.as_ref())
        .map(|inputs| inputs.iter().map(|i| i.name.clone()).collect());

    let defaults = file
        .defaults
        .as_ref()
        .map_or_else(Defaults::default, |d| Defaults {
            timeout_ms: d.timeout.as_ref().and_then(|t| duration(r, t)),
            shell: d.shell.as_ref().map(|s| s.value.clone()),
            working_directory: d.working_directory.as_ref().map(|w| w.value.clone()),
        });

    let environments = environments(r, file);
    insecure_pipeline_settings(r, file, &name, &environments);

    let jobs_file = &file.jobs.value.0;
    if jobs_file.is_empty() {
        r.error(r.span(&file.jobs), "`jobs` is empty", "no jobs");
    }
    let names: Vec<&str> = jobs_file.iter().map(|(k, _)| k.value.as_str()).collect();
    let outputs: HashMap<String, Vec<String>> = jobs_file
        .iter()
        .map(|(k, j)| {
            (
                k.value.clone(),
                j.outputs
                    .iter()
                    .flatten()
                    .map(|o| o.value.clone())
                    .collect(),
            )
        })
        .collect();

    let pipeline_scope = Scope {
        job: None,
        needs: &[],
        outputs: &outputs,
        matrix: None,
        secrets: &[],
        inputs: input_names.as_deref(),
    };
    let env = env_map(r, &pipeline_scope, &file.env);

    let mut jobs = Vec::new();
    for (key, job) in jobs_file {
        let ctx = JobContext {
            names: &names,
            outputs: &outputs,
            inputs: input_names.as_deref(),
            defaults: &defaults,
            environments: file.environments.as_ref().map(|e| e.value.keys().collect()),
            workspace: file.workspace.as_ref().map(|w| w.value),
        };
        jobs.push(validate_job(r, &ctx, key, job));
    }
    crate::dag::report_cycles(r, jobs_file);

    Pipeline {
        name,
        name_span: file.name.as_ref().map(|n| r.span(n)),
        file: r.file.clone(),
        source: r.source.clone(),
        triggers,
        env,
        defaults,
        fail_fast: file.fail_fast.unwrap_or(true),
        jobs,
        environments,
        insecure: std::mem::take(&mut r.insecure),
    }
}

/// Notes the pipeline-level insecure settings: `workspace: shared`, secrets for pull
/// requests, and an environment named `production` that needs no approval.
fn insecure_pipeline_settings(
    r: &mut Reporter,
    file: &PipelineFile,
    pipeline: &str,
    environments: &[Environment],
) {
    use wharf_policy::settings;
    if let Some(w) = file
        .workspace
        .as_ref()
        .filter(|w| w.value == WorkspaceFile::Shared)
    {
        r.insecure(settings::SHARED_WORKSPACE, pipeline, r.span(w));
    }
    let pr_secrets = file
        .on
        .as_ref()
        .and_then(|on| on.pull_request.value.as_ref())
        .and_then(|pr| pr.secrets.as_ref())
        .filter(|s| s.value);
    if let Some(s) = pr_secrets {
        r.insecure(settings::PULL_REQUEST_SECRETS, pipeline, r.span(s));
    }
    for (name, _) in file.environments.iter().flat_map(|e| e.value.0.iter()) {
        let unapproved = environments
            .iter()
            .any(|e| e.name == name.value && e.rules.approvals == 0);
        if is_production(&name.value) && unapproved {
            r.insecure(settings::UNAPPROVED_PRODUCTION, &name.value, r.span(name));
        }
    }
}

/// `production`, in any case: the environment name the unapproved-production setting is
/// about.
fn is_production(name: &str) -> bool {
    name.eq_ignore_ascii_case("production")
}

struct JobContext<'a> {
    names: &'a [&'a str],
    outputs: &'a HashMap<String, Vec<String>>,
    inputs: Option<&'a [String]>,
    defaults: &'a Defaults,
    environments: Option<Vec<&'a str>>,
    workspace: Option<WorkspaceFile>,
}

fn validate_job(
    r: &mut Reporter,
    ctx: &JobContext<'_>,
    key: &Spanned<String>,
    job: &JobFile,
) -> Job {
    let name = key.value.clone();
    let key_span = r.span(key);
    if !is_job_name(&name) {
        r.error(
            key_span.clone(),
            format!("invalid job name `{name}`"),
            "use letters, digits, `_` and `-`",
        );
    }
    let mut needs = Vec::new();
    let listed = job
        .needs
        .as_ref()
        .map(crate::scalar::Names::spanned)
        .unwrap_or_default();
    for need in &listed {
        if need.value == name {
            let d = r
                .at(r.span(need), format!("job `{name}` needs itself"))
                .with_label("a job cannot need itself")
                .with_hint("remove it from `needs:`");
            r.push(d);
        } else if !ctx.names.contains(&need.value.as_str()) {
            let hint = did_you_mean(&need.value, ctx.names.iter().copied()).unwrap_or_else(|| {
                format!(
                    "the jobs are {}",
                    ctx.names
                        .iter()
                        .map(|n| format!("`{n}`"))
                        .collect::<Vec<_>>()
                        .join(", ")
                )
            });
            let d = r
                .at(
                    r.span(need),
                    format!("job `{name}` needs `{}`, which does not exist", need.value),
                )
                .with_label("unknown job")
                .with_hint(hint);
            r.push(d);
        } else if needs.contains(&need.value) {
            r.error(
                r.span(need),
                format!("job `{name}` lists `{}` twice in `needs`", need.value),
                "duplicate",
            );
        } else {
            needs.push(need.value.clone());
        }
    }
    let mut secrets = Vec::new();
    for s in job.secrets.iter().flatten() {
        if !is_secret_name(&s.value) {
            let d = r
                .at(r.span(s), format!("invalid secret name `{}`", s.value))
                .with_label("not a secret name")
                .with_hint("secret names are upper case: `[A-Z_][A-Z0-9_]*`");
            r.push(d);
        }
        secrets.push(s.value.clone());
    }
    let mut outputs = Vec::new();
    for o in job.outputs.iter().flatten() {
        if !is_identifier(&o.value) {
            r.error(
                r.span(o),
                format!("invalid output name `{}`", o.value),
                "use letters, digits, `_` and `-`, starting with a letter or `_`",
            );
        } else if outputs.contains(&o.value) {
            r.error(
                r.span(o),
                format!("output `{}` is declared twice", o.value),
                "duplicate",
            );
        }
        outputs.push(o.value.clone());
    }
    let matrix = job.matrix.as_ref().and_then(|m| matrix_from_file(r, m));
    let matrix_keys = match (&job.matrix, &matrix) {
        (None, _) => None,
        (Some(_), Some(m)) => Some(m.keys().into_iter().map(String::from).collect()),
        // An invalid matrix was reported; accept any axis to avoid follow-up noise.
        (Some(m), None) => Some(m.value.axes.iter().map(|(k, _)| k.value.clone()).collect()),
    };
    let scope = Scope {
        job: Some(&name),
        needs: &needs,
        outputs: ctx.outputs,
        matrix: matrix_keys,
        secrets: &secrets,
        inputs: ctx.inputs,
    };
    if let Some(c) = &job.condition {
        check_condition(
            r,
            &scope,
            ExprScalar {
                value: &c.value,
                location: &c.referenced,
            },
        );
    }
    if let Some(wd) = &job.working_directory {
        check_template(
            r,
            &scope,
            ExprScalar {
                value: &wd.value,
                location: &wd.referenced,
            },
            Site::PlanTime("working-directory"),
        );
    }
    let env = env_map(r, &scope, &job.env);
    let steps = match (&job.run, &job.steps) {
        (Some(run), None) => {
            check_template(
                r,
                &scope,
                ExprScalar {
                    value: &run.value,
                    location: &run.referenced,
                },
                Site::Run,
            );
            vec![Step {
                name: None,
                action: StepAction::Run {
                    run: run.value.clone(),
                    shell: shell(ctx.defaults, None),
                },
                env: Vec::new(),
                working_directory: None,
                timeout_ms: None,
                continue_on_error: false,
                condition: None,
            }]
        }
        (None, Some(steps)) => {
            if steps.is_empty() {
                r.error(
                    key_span.clone(),
                    format!("job `{name}` has an empty `steps` list"),
                    "no steps",
                );
            }
            steps
                .iter()
                .map(|s| validate_step(r, &scope, ctx.defaults, s))
                .collect()
        }
        (Some(run), Some(_)) => {
            let d = r
                .at(
                    r.span(run),
                    format!("job `{name}` has both `run` and `steps`"),
                )
                .with_label("`run` is shorthand for a single step")
                .with_hint("keep one: move this command into `steps:` as `- run: …`");
            r.push(d);
            Vec::new()
        }
        (None, None) => {
            let d = r
                .at(key_span.clone(), format!("job `{name}` has nothing to run"))
                .with_label("no `run` or `steps`")
                .with_hint("add `run: COMMAND` or a `steps:` list");
            r.push(d);
            Vec::new()
        }
    };
    let retry = match &job.retry {
        None => RetryPolicy::default(),
        Some(retry) => {
            if !(0..=MAX_RETRY).contains(&retry.value.max) {
                r.error(
                    r.span(retry),
                    format!(
                        "`retry` must be between 0 and {MAX_RETRY}, not {}",
                        retry.value.max
                    ),
                    "out of range",
                );
            }
            RetryPolicy {
                max: u32::try_from(retry.value.max.clamp(0, MAX_RETRY)).unwrap_or(0),
                on_timeout: retry.value.on_timeout,
            }
        }
    };
    if let Some(w) = job
        .workspace
        .as_ref()
        .filter(|w| w.value == WorkspaceFile::Shared)
    {
        r.insecure(wharf_policy::settings::SHARED_WORKSPACE, &name, r.span(w));
    }
    // A job deploying to `production` with no `environments:` at all: nothing asks for an
    // approval. (A declared `production` is judged where it is declared.)
    if let (Some(env_name), None) = (&job.environment, &ctx.environments)
        && is_production(&env_name.value)
    {
        r.insecure(
            wharf_policy::settings::UNAPPROVED_PRODUCTION,
            &env_name.value,
            r.span(env_name),
        );
    }
    if let (Some(env_name), Some(known)) = (&job.environment, &ctx.environments)
        && !known.contains(&env_name.value.as_str())
    {
        let hint = did_you_mean(&env_name.value, known.iter().copied())
            .unwrap_or_else(|| "declare it under `environments:`".to_string());
        let d = r
            .at(
                r.span(env_name),
                format!("unknown environment `{}`", env_name.value),
            )
            .with_label("not under `environments:`")
            .with_hint(hint);
        r.push(d);
    }
    if let Some(i) = &job.image {
        check_template(
            r,
            &scope,
            ExprScalar {
                value: &i.value,
                location: &i.referenced,
            },
            Site::Env,
        );
    }
    let services = job
        .services
        .iter()
        .flat_map(|s| s.value.0.iter())
        .map(|(name, svc)| service(r, &scope, name, svc))
        .collect();
    let cache = job.cache.as_ref().map(|c| cache(r, c));
    let (artifacts, artifacts_when) = job
        .artifacts
        .as_ref()
        .map(|a| artifacts_from_file(r, &name, a))
        .unwrap_or_default();
    inside_workspace(r, &artifacts, "artifact");
    globs_from_file(r, &artifacts);
    let reports = job.reports.iter().flatten().cloned().collect::<Vec<_>>();
    inside_workspace(r, &reports, "report");
    globs_from_file(r, &reports);
    Job {
        name,
        needs,
        condition: job.condition.as_ref().map(|c| condition_text(&c.value)),
        steps,
        env,
        secrets,
        matrix,
        timeout_ms: job
            .timeout
            .as_ref()
            .and_then(|t| duration(r, t))
            .or(ctx.defaults.timeout_ms),
        retry,
        continue_on_error: job.continue_on_error.unwrap_or(false),
        working_directory: job
            .working_directory
            .as_ref()
            .map(|w| w.value.clone())
            .or_else(|| ctx.defaults.working_directory.clone()),
        image: job.image.as_ref().map(|i| i.value.clone()),
        artifacts: artifacts.into_iter().map(|a| a.value).collect(),
        artifacts_when,
        reports: reports.into_iter().map(|a| a.value).collect(),
        cache,
        outputs,
        environment: job.environment.as_ref().map(|e| e.value.clone()),
        services,
        workspace: job
            .workspace
            .as_ref()
            .map(|w| w.value)
            .or(ctx.workspace)
            .map(Into::into)
            .unwrap_or_default(),
    }
}

fn validate_step(
    r: &mut Reporter,
    scope: &Scope<'_>,
    defaults: &Defaults,
    spanned: &Spanned<StepFile>,
) -> Step {
    let step = &spanned.value;
    let action = step_action(r, scope, defaults, spanned);
    if let Some(n) = &step.name {
        check_template(
            r,
            scope,
            ExprScalar {
                value: &n.value,
                location: &n.referenced,
            },
            Site::PlanTime("name"),
        );
    }
    if let Some(wd) = &step.working_directory {
        check_template(
            r,
            scope,
            ExprScalar {
                value: &wd.value,
                location: &wd.referenced,
            },
            Site::PlanTime("working-directory"),
        );
    }
    if let Some(c) = &step.condition {
        check_condition(
            r,
            scope,
            ExprScalar {
                value: &c.value,
                location: &c.referenced,
            },
        );
    }
    Step {
        name: step.name.as_ref().map(|n| n.value.clone()),
        action,
        env: env_map(r, scope, &step.env),
        working_directory: step.working_directory.as_ref().map(|w| w.value.clone()),
        timeout_ms: step.timeout.as_ref().and_then(|t| duration(r, t)),
        continue_on_error: step.continue_on_error.unwrap_or(false),
        condition: step.condition.as_ref().map(|c| condition_text(&c.value)),
    }
}

/// What a step does: its `run:` or its one built-in key.
fn step_action(
    r: &mut Reporter,
    scope: &Scope<'_>,
    defaults: &Defaults,
    spanned: &Spanned<StepFile>,
) -> StepAction {
    let step = &spanned.value;
    let mut kinds: Vec<&'static str> = Vec::new();
    let mut action = None;
    if let Some(run) = &step.run {
        kinds.push("run");
        check_template(
            r,
            scope,
            ExprScalar {
                value: &run.value,
                location: &run.referenced,
            },
            Site::Run,
        );
        action = Some(StepAction::Run {
            run: run.value.clone(),
            shell: shell(defaults, step.shell.as_ref().map(|s| s.value.as_str())),
        });
    }
    if let Some(p) = &step.package {
        kinds.push("package");
        action = Some(StepAction::Builtin(builtin::package(r, scope, p)));
    }
    if let Some(b) = &step.build_image {
        kinds.push("build-image");
        action = Some(StepAction::Builtin(builtin::build_image(r, scope, b)));
    }
    if let Some(p) = &step.publish_python {
        kinds.push("publish-python");
        action = Some(StepAction::Builtin(builtin::publish_python(r, scope, p)));
    }
    if let Some(p) = &step.release {
        kinds.push("release");
        action = Some(StepAction::Builtin(builtin::release(r, scope, p)));
    }
    if let Some(p) = &step.policy {
        kinds.push("policy");
        action = Some(StepAction::Builtin(builtin::policy(r, scope, p)));
    }
    if let Some(l) = &step.load_test {
        kinds.push("load-test");
        action = Some(StepAction::Builtin(builtin::load_test(r, scope, l)));
    }
    if kinds.len() > 1 {
        let d = r
            .at(
                r.span(spanned),
                format!("a step has both {}", join_keys(&kinds)),
            )
            .with_label("one step does one thing")
            .with_hint("split it into separate steps");
        r.push(d);
    }
    if kinds.iter().any(|k| *k != "run") && step.shell.is_some() {
        let d = r
            .at(r.span(spanned), "`shell:` only applies to `run:` steps")
            .with_label("this is a built-in step")
            .with_hint("remove `shell:`");
        r.push(d);
    }
    action.unwrap_or_else(|| {
        let d = r
            .at(r.span(spanned), "a step needs `run:` or a built-in step")
            .with_label("nothing to do")
            .with_hint(
                "add `run: COMMAND`, or one of `package`, `build-image`, `publish-python`, `release`, `policy` or `load-test`",
            );
        r.push(d);
        StepAction::Run {
            run: String::new(),
            shell: String::new(),
        }
    })
}

fn join_keys(keys: &[&str]) -> String {
    keys.iter()
        .map(|k| format!("`{k}`"))
        .collect::<Vec<_>>()
        .join(" and ")
}

fn shell(defaults: &Defaults, own: Option<&str>) -> String {
    own.or(defaults.shell.as_deref())
        .unwrap_or("bash")
        .to_string()
}

fn env_map(r: &mut Reporter, scope: &Scope<'_>, env: &EnvFile) -> Vec<(String, String)> {
    let mut out = Vec::new();
    for (key, value) in &env.0 {
        if !is_env_name(&key.value) {
            r.error(
                r.span(key),
                format!("invalid environment variable name `{}`", key.value),
                "use letters, digits and `_`, not starting with a digit",
            );
        } else if key.value.starts_with("WHARF_") {
            let d = r
                .at(r.span(key), format!("`{}` is reserved", key.value))
                .with_label("`WHARF_*` variables are set by wharf")
                .with_hint("choose another name");
            r.push(d);
        }
        check_template(
            r,
            scope,
            ExprScalar {
                value: &value.value.0,
                location: &value.referenced,
            },
            Site::Env,
        );
        out.push((key.value.clone(), value.value.0.clone()));
    }
    out
}

pub(crate) fn duration(r: &mut Reporter, text: &Spanned<String>) -> Option<u64> {
    let ms = duration_ms(&text.value);
    if ms.is_none() {
        let d = r
            .at(r.span(text), format!("invalid duration `{}`", text.value))
            .with_label("not a duration")
            .with_hint("write a number and a unit: `500ms`, `30s`, `10m`, `2h`, `1h30m`");
        r.push(d);
    }
    ms
}

/// Most health checks a service may take.
const MAX_HEALTH_RETRIES: u64 = 1000;

fn service(
    r: &mut Reporter,
    scope: &Scope<'_>,
    name: &Spanned<String>,
    svc: &crate::file::ServiceFile,
) -> wharf_model::ServicePlan {
    if !is_job_name(&name.value) {
        r.error(
            r.span(name),
            format!("invalid service name `{}`", name.value),
            "use letters, digits, `_` and `-`: it is the service's host name",
        );
    }
    check_template(
        r,
        scope,
        ExprScalar {
            value: &svc.image.value,
            location: &svc.image.referenced,
        },
        Site::Env,
    );
    let env = env_map(r, scope, &svc.env).into_iter().collect();
    let mut ports = Vec::new();
    for p in svc.ports.iter().flatten() {
        let text = p.value.0.trim();
        let parsed = match text.split_once(':') {
            Some((host, container)) => host.parse::<u16>().ok().zip(container.parse::<u16>().ok()),
            None => text.parse::<u16>().ok().map(|c| (0, c)),
        };
        match parsed {
            Some((host, container)) if container > 0 => ports.push((container, host)),
            _ => {
                let d = r
                    .at(r.span(p), format!("invalid port `{text}`"))
                    .with_label("not a port")
                    .with_hint("write the service's port (`5432`: published on a free port of 127.0.0.1) or `HOST:SERVICE` (`15432:5432`)");
                r.push(d);
            }
        }
    }
    let health = svc.health.as_ref().map(|h| {
        let retries = h.value.retries.as_ref().map_or(30, |n| {
            if !(1..=MAX_HEALTH_RETRIES).contains(&n.value) {
                r.error(
                    r.span(n),
                    format!(
                        "`retries` must be between 1 and {MAX_HEALTH_RETRIES}, not {}",
                        n.value
                    ),
                    "out of range",
                );
            }
            n.value.clamp(1, MAX_HEALTH_RETRIES) as u32
        });
        wharf_model::HealthPlan {
            cmd: h.value.cmd.value.clone(),
            interval_ms: h
                .value
                .interval
                .as_ref()
                .and_then(|i| duration(r, i))
                .unwrap_or(1000),
            retries,
        }
    });
    wharf_model::ServicePlan {
        name: name.value.clone(),
        image: svc.image.value.clone(),
        env,
        ports,
        health,
    }
}

/// `artifacts:`: its globs and when they are kept. The map form needs `paths:`, and `when:`
/// one of GitLab's three words.
fn artifacts_from_file(
    r: &mut Reporter,
    job: &str,
    a: &Spanned<crate::file::ArtifactsFile>,
) -> (Vec<Spanned<String>>, ArtifactsWhen) {
    let file = &a.value;
    if file.no_paths || (file.when.is_some() && file.paths.is_empty()) {
        let when = file.when.as_ref().map_or("always", |w| w.value.as_str());
        let d = r
            .at(
                r.span(a),
                format!("`artifacts` of job `{job}` has no `paths`"),
            )
            .with_label("nothing to keep")
            .with_hint(format!(
                "name the files to keep: `artifacts: {{ paths: [junit.xml, test.log], when: {when} }}`"
            ));
        r.push(d);
    }
    let when = match &file.when {
        None => ArtifactsWhen::default(),
        Some(w) => ArtifactsWhen::parse(&w.value).unwrap_or_else(|| {
            let words = ArtifactsWhen::ALL.map(ArtifactsWhen::as_str);
            let mut hint = did_you_mean(&w.value, words.iter().copied())
                .map(|d| format!("{d} "))
                .unwrap_or_default();
            hint.push_str(&format!(
                "`when` is one of {}: keep the artifacts after a success (the default), a failure, or either",
                words.map(|w| format!("`{w}`")).join(", ")
            ));
            let d = r
                .at(r.span(w), format!("invalid `when` `{}` for artifacts", w.value))
                .with_label("not `on_success`, `on_failure` or `always`")
                .with_hint(hint);
            r.push(d);
            ArtifactsWhen::default()
        }),
    };
    (file.paths.clone(), when)
}

/// Refuses paths that would leave the workspace: absolute, or with a `..` component.
fn inside_workspace(r: &mut Reporter, list: &[Spanned<String>], what: &str) {
    for p in list {
        let path = Path::new(&p.value);
        let why = if path.is_absolute() {
            "an absolute path"
        } else if path
            .components()
            .any(|c| matches!(c, std::path::Component::ParentDir))
        {
            "a path with `..`"
        } else {
            continue;
        };
        let d = r
            .at(
                r.span(p),
                format!("{what} path `{}` leaves the workspace", p.value),
            )
            .with_label(why)
            .with_hint(format!(
                "{what} paths are relative to the job's workspace, e.g. `{}`",
                match what {
                    "cache" => ".venv",
                    "cache key" => "poetry.lock",
                    "report" => "reports/junit.xml",
                    _ => "dist/*.whl",
                }
            ));
        r.push(d);
    }
}

/// `cache:`: paths inside the workspace, valid globs, restore keys that are leading parts
/// of the key.
fn cache(r: &mut Reporter, c: &Spanned<crate::file::CacheFile>) -> Cache {
    let file = &c.value;
    if file.paths.is_empty() {
        let d = r
            .at(r.span(c), "`cache` has no `paths`")
            .with_label("nothing to save or restore")
            .with_hint("name the directories to keep, e.g. `paths: [.nox]`");
        r.push(d);
    }
    inside_workspace(r, &file.paths, "cache");
    inside_workspace(r, &file.key, "cache key");
    globs_from_file(r, &file.key);
    globs_from_file(r, &file.paths);
    let key: Vec<String> = file.key.iter().map(|k| k.value.clone()).collect();
    for rk in &file.restore_keys {
        if !key.starts_with(&rk.value) {
            let d = r
                .at(
                    r.span(rk),
                    format!(
                        "restore key [{}] is not a leading part of the cache key",
                        rk.value.join(", ")
                    ),
                )
                .with_label("not a prefix of `key`")
                .with_hint(format!(
                    "a restore key repeats the first files of `key` ([{}]); `[]` takes any earlier entry of this job",
                    key.join(", ")
                ));
            r.push(d);
        }
    }
    Cache {
        key,
        paths: file.paths.iter().map(|p| p.value.clone()).collect(),
        restore_keys: file.restore_keys.iter().map(|k| k.value.clone()).collect(),
    }
}

/// What to do instead of deployment rules, until deployments land.
fn environments(r: &mut Reporter, file: &PipelineFile) -> Vec<Environment> {
    let mut out = Vec::new();
    for (name, env) in file.environments.iter().flat_map(|e| e.value.0.iter()) {
        if !is_job_name(&name.value) {
            r.error(
                r.span(name),
                format!("invalid environment name `{}`", name.value),
                "use letters, digits, `_` and `-`",
            );
        }
        let deploy = crate::deploy::config(r, &name.value, env);
        let start = r.span(name).start;
        let (line, column) = crate::diagnostic::line_column(&r.source, start);
        let globs = |r: &mut Reporter, list: &Option<Vec<Spanned<String>>>| {
            let list = list.as_deref().unwrap_or_default();
            crate::triggers::globs_from_file(r, list);
            list.iter().map(|g| g.value.clone()).collect::<Vec<_>>()
        };
        let branches = globs(r, &env.branches);
        let tags = globs(r, &env.tags);
        let mut freeze = Vec::new();
        for w in env.freeze.iter().flatten() {
            let cron_ok = crate::triggers::check_cron(r, &w.cron);
            let length = duration(r, &w.duration);
            let timezone = match &w.timezone {
                None => "UTC".to_string(),
                Some(tz) if crate::gates::known_timezone(&tz.value) => tz.value.clone(),
                Some(tz) => {
                    let d = r
                        .at(r.span(tz), format!("unknown time zone `{}`", tz.value))
                        .with_label("not an IANA time zone")
                        .with_hint("use a name from the tz database, such as `Europe/Berlin`, `America/New_York` or `UTC`");
                    r.push(d);
                    continue;
                }
            };
            if let (true, Some(duration_ms)) = (cron_ok, length) {
                freeze.push(wharf_model::FreezeWindow {
                    cron: w.cron.value.clone(),
                    duration_ms,
                    timezone,
                });
            }
        }
        let wait_ms = env.wait.as_ref().and_then(|w| duration(r, w));
        out.push(Environment {
            rules: wharf_model::EnvironmentRules {
                name: name.value.clone(),
                at: format!("{}:{line}:{column}", r.file),
                branches,
                tags,
                freeze,
                wait_ms,
                approvals: env
                    .approval
                    .as_ref()
                    .and_then(|a| a.value.required)
                    .unwrap_or(0),
                self_approval: env
                    .approval
                    .as_ref()
                    .and_then(|a| a.value.self_approval)
                    .unwrap_or(false),
                deploy,
            },
            name: name.value.clone(),
        });
    }
    let names: Vec<&str> = out.iter().map(|e| e.name.as_str()).collect();
    for (name, env) in file.environments.iter().flat_map(|e| e.value.0.iter()) {
        for req in env.requires.iter().flatten() {
            if req.value == name.value {
                r.error(
                    r.span(req),
                    format!("environment `{}` requires itself", name.value),
                    "name the environment a release must reach first, e.g. `requires: [staging]`",
                );
            } else if !names.contains(&req.value.as_str()) {
                let d = r
                    .at(r.span(req), format!("unknown environment `{}`", req.value))
                    .with_label("not under `environments:`")
                    .with_hint_opt(crate::suggest::did_you_mean(
                        &req.value,
                        names.iter().copied(),
                    ));
                r.push(d);
            }
        }
    }
    out
}

/// An `if:` as the engine evaluates it: `${{ x }}` around the whole condition means `x`,
/// as in GitHub Actions.
fn condition_text(raw: &str) -> String {
    crate::exprs::unwrap_condition(raw).0.trim().to_string()
}
