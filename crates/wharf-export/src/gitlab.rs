//! GitLab CI/CD: `.gitlab-ci.yml` with `workflow:rules` for the triggers and `needs` for
//! the graph. GitLab passes CI/CD variables (the secrets) to jobs by name.

use wharf_pipeline::Job;

use crate::common::{Cx, PlatformMatrix, glob_to_regex};
use crate::node::Node;

pub(crate) fn export(cx: &mut Cx<'_>) -> Node {
    let mut root = Node::map();
    let rules = rules(cx);
    if !rules.is_empty() {
        root.set("workflow", Node::map().with("rules", Node::Seq(rules)));
    }
    if let Some(inputs) = cx.p.triggers().and_then(|t| t.manual.as_ref()) {
        let mut vars = Node::map();
        for i in inputs {
            // Prefilled variables on "Run pipeline"; wharf reads WHARF_INPUT_* itself.
            let mut v = Node::map().with("value", i.default.clone().unwrap_or_default());
            if !i.options.is_empty() {
                v.set("options", i.options.clone());
            }
            if let Some(d) = &i.description {
                v.set("description", d.as_str());
            }
            vars.set(&format!("WHARF_INPUT_{}", i.name), v);
        }
        if !vars.is_empty() {
            root.set("variables", vars);
        }
    }
    let mut default = Node::map();
    if let Some(image) = cx.opts.job_image() {
        default.set("image", image);
    }
    default.set("before_script", vec![cx.install()]);
    root.set("default", default);
    if cx.opts.single_job {
        let env = cx.jobs().iter().find_map(|j| j.environment.clone());
        let mut n = Node::map().with("script", vec![cx.run_line(None)]);
        if let Some(e) = env {
            n.set("environment", e);
        }
        if cx.jobs().iter().any(|j| j.cache.is_some()) {
            // One platform job runs the whole pipeline: wharf's own cache does the work.
            n.set(
                "cache",
                Node::map()
                    .with("key", format!("wharf-{}", cx.p.name()))
                    .with("paths", vec![".wharf/cache/jobs".to_string()]),
            );
        }
        root.set(&format!("wharf-{}", cx.p.name()), n);
    } else {
        for j in cx.jobs() {
            let n = job(cx, j);
            root.set(&job_name(&j.name), n);
        }
    }
    cx.warn_environments("GitLab protected environments with deployment approval rules");
    root
}

fn rules(cx: &mut Cx<'_>) -> Vec<Node> {
    let mut rules = Vec::new();
    let Some(t) = cx.p.triggers() else {
        return rules;
    };
    let rule = |cond: String| Node::map().with("if", cond);
    if let Some(p) = &t.push {
        for g in p.branches.patterns() {
            let mut r = rule(format!(
                "$CI_PIPELINE_SOURCE == \"push\" && $CI_COMMIT_BRANCH =~ /{}/",
                glob_to_regex(g)
            ));
            if let Some(paths) = &p.paths {
                r.set("changes", paths.patterns().to_vec());
            }
            rules.push(r);
        }
    }
    if let Some(tags) = &t.tag {
        for g in tags.patterns() {
            rules.push(rule(format!("$CI_COMMIT_TAG =~ /{}/", glob_to_regex(g))));
        }
    }
    if let Some(pr) = &t.pull_request {
        for g in pr.branches.patterns() {
            rules.push(rule(format!(
                "$CI_PIPELINE_SOURCE == \"merge_request_event\" && $CI_MERGE_REQUEST_TARGET_BRANCH_NAME =~ /{}/",
                glob_to_regex(g)
            )));
        }
    }
    if !t.schedule.is_empty() {
        rules.push(rule("$CI_PIPELINE_SOURCE == \"schedule\"".to_string()));
        cx.warn(format!(
            "on.schedule ({}): GitLab schedules live in the project settings, not the file; nearest: CI/CD > Pipeline schedules with that cron (UTC)",
            t.schedule.join(", ")
        ));
    }
    if t.manual.is_some() {
        rules.push(rule(
            "$CI_PIPELINE_SOURCE == \"web\" || $CI_PIPELINE_SOURCE == \"api\"".to_string(),
        ));
    }
    if let Some(p) = &t.pipeline {
        cx.warn(format!(
            "on.pipeline (after `{}`): not mapped; nearest GitLab feature: a `trigger:` job in the upstream project",
            p.name
        ));
    }
    rules
}

fn job(cx: &mut Cx<'_>, j: &Job) -> Node {
    let mut n = Node::map();
    // Jobs listed in `needs` hand over their artifacts: include every upstream job that
    // leaves some, not only the direct needs.
    let mut needs = j.needs.clone();
    for src in cx.artifact_sources(j) {
        if !needs.contains(&src.name) {
            needs.push(src.name.clone());
        }
    }
    // A job that runs on failure (or always) must see every job before it: GitLab judges
    // `when:` by the jobs it needs, and never starts a job whose need did not run. So the
    // jobs before such a job start whatever came before them (`when: always`): where wharf
    // would skip one, its `wharf run --no-deps` records it skipped and ends at once, and
    // the failure still reaches the job that runs on it.
    let when = crate::condition::gitlab_when(j.condition.as_deref());
    if crate::condition::has_status(j.condition.as_deref()) {
        for a in cx.ancestors(j) {
            if !needs.contains(&a) {
                needs.push(a);
            }
        }
    }
    let before_status = cx.p.jobs().iter().any(|o| {
        crate::condition::has_status(o.condition.as_deref()) && cx.ancestors(o).contains(&j.name)
    });
    match when {
        Some(w) => n.set("when", w),
        None if before_status => n.set("when", "always"),
        None => {}
    }
    n.set(
        "needs",
        needs.iter().map(|n| job_name(n)).collect::<Vec<_>>(),
    );
    if let Some(m) = cx.platform_matrix(j, GITLAB_MATRIX_LIMIT) {
        n.set("parallel", Node::map().with("matrix", parallel_matrix(&m)));
    }
    n.set("script", vec![cx.run_line(Some(j))]);
    let paths = cx.artifact_paths(j);
    if !paths.is_empty() || !j.reports.is_empty() {
        // Uploaded whatever the job's end: the handoff carries a failed job's status to the
        // jobs that run on failure, and a failed test job's reports are what one reads.
        let mut artifacts = Node::map();
        if !paths.is_empty() {
            artifacts.set("paths", paths);
        }
        if !j.reports.is_empty() {
            // GitLab shows the failing tests in the merge request and pipeline views.
            artifacts.set("reports", Node::map().with("junit", j.reports.clone()));
        }
        artifacts.set("when", "always");
        n.set("artifacts", artifacts);
    }
    if let Some(e) = &j.environment {
        n.set("environment", e.as_str());
    }
    if let Some(c) = &j.cache {
        let mut key = Node::map().with("prefix", format!("wharf-{}-{}", cx.p.name(), j.name));
        if !c.key.is_empty() {
            if c.key.len() > 2 {
                cx.warn(format!(
                    "job `{}`: cache key of {} files: GitLab's `cache:key:files` takes two; the key uses the first two",
                    j.name,
                    c.key.len()
                ));
            }
            key.set("files", c.key.iter().take(2).cloned().collect::<Vec<_>>());
        }
        if !c.restore_keys.is_empty() {
            cx.warn(format!(
                "job `{}`: cache restore-keys are not mapped; nearest GitLab feature: `cache:fallback_keys` (whole keys, not prefixes)",
                j.name
            ));
        }
        n.set(
            "cache",
            Node::map().with("key", key).with("paths", c.paths.clone()),
        );
    }
    n
}

/// The most jobs one GitLab `parallel:matrix` may generate.
const GITLAB_MATRIX_LIMIT: usize = 200;

/// `parallel:matrix` entries: the axes (GitLab takes each entry's cross product), or with
/// `include`/`exclude` one entry per cell. The values reach wharf, which runs that cell, as
/// `WHARF_MATRIX_*` variables.
fn parallel_matrix(m: &PlatformMatrix) -> Node {
    let var = |k: &str| wharf_pipeline::matrix_env_var(k);
    if m.product {
        let mut entry = Node::map();
        for (k, values) in &m.axes {
            entry.set(&var(k), values.clone());
        }
        return Node::Seq(vec![entry]);
    }
    Node::Seq(
        m.cells
            .iter()
            .map(|c| {
                let mut entry = Node::map();
                for (k, v) in c {
                    entry.set(&var(k), v.as_str());
                }
                entry
            })
            .collect(),
    )
}

/// The GitLab job name for a wharf job: names GitLab reserves as top-level keywords
/// (`image`, `variables` …) would be read as settings, so they get a `-job` suffix.
fn job_name(name: &str) -> String {
    const RESERVED: [&str; 11] = [
        "image",
        "services",
        "stages",
        "types",
        "before_script",
        "after_script",
        "variables",
        "cache",
        "include",
        "default",
        "workflow",
    ];
    if RESERVED.contains(&name) {
        format!("{name}-job")
    } else {
        name.to_string()
    }
}
