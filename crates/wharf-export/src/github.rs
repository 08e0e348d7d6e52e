//! GitHub Actions: one workflow per pipeline.

use wharf_model::{Builtin, StepAction};
use wharf_pipeline::Job;

use crate::common::{Cx, PlatformMatrix};
use crate::node::Node;

pub(crate) fn export(cx: &mut Cx<'_>) -> Node {
    let mut root = Node::map().with("name", format!("wharf {}", cx.p.name()));
    root.set("on", triggers(cx));
    root.set("permissions", Node::map().with("contents", "read"));
    let mut jobs = Node::map();
    if cx.opts.single_job {
        let all: Vec<&Job> = cx.jobs().iter().collect();
        jobs.set(cx.p.name(), job(cx, None, &all));
    } else {
        for j in cx.jobs() {
            jobs.set(&j.name, job(cx, Some(j), &[j]));
        }
    }
    root.set("jobs", jobs);
    cx.warn_environments("GitHub environment protection rules (required reviewers, wait timer) in the repository settings");
    root
}

fn triggers(cx: &mut Cx<'_>) -> Node {
    let mut on = Node::map();
    let Some(t) = cx.p.triggers() else {
        // No `on:` means every event; these are the ones GitHub can start.
        return on
            .with("push", Node::map())
            .with("pull_request", Node::map())
            .with("workflow_dispatch", Node::map());
    };
    if t.push.is_some() || t.tag.is_some() {
        let mut push = Node::map();
        if let Some(p) = &t.push {
            push.set("branches", p.branches.patterns().to_vec());
            if let Some(paths) = &p.paths {
                push.set("paths", paths.patterns().to_vec());
                if t.tag.is_some() {
                    cx.warn("on.push.paths: GitHub applies `paths` to tag pushes too; wharf does not (nearest: a separate workflow for tags)");
                }
            }
        }
        if let Some(tags) = &t.tag {
            push.set("tags", tags.patterns().to_vec());
        }
        on.set("push", push);
    }
    if let Some(pr) = &t.pull_request {
        on.set(
            "pull_request",
            Node::map().with("branches", pr.branches.patterns().to_vec()),
        );
    }
    if !t.schedule.is_empty() {
        let crons: Vec<Node> = t
            .schedule
            .iter()
            .map(|c| Node::map().with("cron", c.as_str()))
            .collect();
        on.set("schedule", Node::Seq(crons));
    }
    if let Some(inputs) = &t.manual {
        let mut ins = Node::map();
        for i in inputs {
            let mut n = Node::map();
            if let Some(d) = &i.description {
                n.set("description", d.as_str());
            }
            n.set("required", i.required);
            if let Some(d) = &i.default {
                n.set("default", d.as_str());
            }
            if !i.options.is_empty() {
                n.set("type", "choice");
                n.set("options", i.options.clone());
            } else {
                n.set("type", "string");
            }
            ins.set(&i.name, n);
        }
        let mut dispatch = Node::map();
        if !ins.is_empty() {
            dispatch.set("inputs", ins);
        }
        on.set("workflow_dispatch", dispatch);
    }
    if let Some(p) = &t.pipeline {
        cx.warn(format!(
            "on.pipeline (after `{}`): not mapped; nearest GitHub feature: a `workflow_run` trigger on that workflow",
            p.name
        ));
    }
    on
}

/// The most jobs one GitHub matrix may generate.
const GITHUB_MATRIX_LIMIT: usize = 256;

fn job(cx: &mut Cx<'_>, one: Option<&Job>, covered: &[&Job]) -> Node {
    let mut n = Node::map();
    let matrix = one.and_then(|j| cx.platform_matrix(j, GITHUB_MATRIX_LIMIT));
    if let (Some(j), Some(m)) = (one, &matrix)
        && m.product
    {
        // The name wharf shows for the cell.
        let pairs: Vec<String> = m
            .keys
            .iter()
            .map(|k| format!("{k}=${{{{ matrix.{k} }}}}"))
            .collect();
        n.set("name", format!("{} ({})", j.name, pairs.join(", ")));
    }
    n.set("runs-on", "ubuntu-latest");
    if let Some(m) = &matrix {
        n.set("strategy", strategy(cx, m));
    }
    if let Some(image) = cx.opts.install.as_ref().and_then(|i| i.image_ref()) {
        // The pinned image carries wharf: the job's steps run in it.
        n.set("container", image);
    }
    if let Some(j) = one {
        if !j.needs.is_empty() {
            n.set("needs", j.needs.clone());
        }
        // The job's `if:` on GitHub, so a skipped job starts no runner and a `failure()`
        // job runs after an ancestor failed (GitHub's status functions judge the chain).
        if let Some(c) = crate::condition::github_if(j.condition.as_deref()) {
            n.set("if", format!("${{{{ {c} }}}}"));
        }
        if let Some(e) = &j.environment {
            n.set("environment", e.as_str());
        }
    } else if let Some(e) = covered.iter().find_map(|j| j.environment.as_ref()) {
        n.set("environment", e.as_str());
    }
    let releases = covered.iter().any(|j| {
        j.steps
            .iter()
            .any(|s| matches!(&s.action, StepAction::Builtin(Builtin::Release(_))))
    });
    if releases {
        // The release step pushes its tag.
        n.set("permissions", Node::map().with("contents", "write"));
    }
    let mut env = Node::map();
    let secrets: Vec<String> = match one {
        Some(j) => j.secrets.clone(),
        None => cx.all_secrets(),
    };
    for s in &secrets {
        env.set(s, format!("${{{{ secrets.{s} }}}}"));
    }
    if let Some(m) = &matrix {
        // Each cell's values reach wharf, which runs that cell, as environment values.
        for k in &m.keys {
            env.set(
                &wharf_pipeline::matrix_env_var(k),
                format!("${{{{ matrix.{k} }}}}"),
            );
        }
    }
    if let Some(inputs) = cx.p.triggers().and_then(|t| t.manual.as_ref()) {
        for i in inputs {
            // Inputs reach wharf as environment values, never as shell source.
            env.set(
                &format!("WHARF_INPUT_{}", i.name),
                format!("${{{{ inputs.{} }}}}", i.name),
            );
        }
    }
    if !env.is_empty() {
        n.set("env", env);
    }
    let mut steps = vec![
        Node::map()
            .with("uses", "actions/checkout@v4")
            .with("with", Node::map().with("fetch-depth", 0i64)),
    ];
    if let Some(j) = one {
        for src in cx.artifact_sources(j) {
            let with = if src.matrix.is_some() {
                // Every cell's artifact, side by side (their handoffs are one file each).
                Node::map()
                    .with("pattern", format!("wharf-{}.*", src.name))
                    .with("merge-multiple", true)
            } else {
                Node::map().with("name", format!("wharf-{}", src.name))
            };
            steps.push(
                Node::map()
                    .with("uses", "actions/download-artifact@v4")
                    .with("with", with.with("path", ".")),
            );
        }
    }
    match one {
        Some(j) => {
            if let Some(step) = cache_step(cx, j) {
                steps.push(step);
            }
        }
        None if covered.iter().any(|j| j.cache.is_some()) => {
            // One platform job runs the whole pipeline: wharf's own cache does the work,
            // kept between workflow runs in GitHub's cache.
            let base = format!("wharf-{}-${{{{ runner.os }}}}-", cx.p.name());
            steps.push(
                Node::map().with("uses", "actions/cache@v4").with(
                    "with",
                    Node::map()
                        .with("path", ".wharf/cache/jobs")
                        .with("key", format!("{base}${{{{ github.run_id }}}}"))
                        .with("restore-keys", format!("{base}\n")),
                ),
            );
        }
        None => {}
    }
    steps.push(
        Node::map()
            .with("name", "Install wharf")
            .with("run", cx.install()),
    );
    steps.push(
        Node::map()
            .with(
                "name",
                format!("wharf run {}", one.map_or(cx.p.name(), |j| j.name.as_str())),
            )
            .with("run", cx.run_line(one)),
    );
    if let Some(j) = one {
        let paths = cx.artifact_paths(j);
        if !paths.is_empty() {
            // The pipeline file sits at the root, so the artifact keeps workspace paths
            // (upload-artifact roots it at the paths' common ancestor).
            let mut list = vec![cx.p.file().to_string()];
            list.extend(paths);
            // Uploaded whatever the job's end: the handoff carries a failed job's status
            // to the jobs that run on failure (wharf itself fails a job whose declared
            // artifacts are missing).
            steps.push(
                Node::map()
                    .with("if", "${{ always() }}")
                    .with("uses", "actions/upload-artifact@v4")
                    .with(
                        "with",
                        Node::map()
                            .with("name", artifact_name(j))
                            .with("path", list.join("\n") + "\n")
                            .with("if-no-files-found", "warn"),
                    ),
            );
        }
    }
    n.set("steps", Node::Seq(steps));
    n
}

/// The name of a job's artifact: one per cell of a matrix job (artifact names are unique
/// in a workflow run; no job name has a `.`).
fn artifact_name(j: &Job) -> String {
    if j.matrix.is_some() {
        format!("wharf-{}.${{{{ strategy.job-index }}}}", j.name)
    } else {
        format!("wharf-{}", j.name)
    }
}

/// `strategy:` for a matrix job: the axes as they are, or (with `include`/`exclude`, whose
/// GitHub meaning differs from wharf's) the list of wharf's cells; `fail-fast` as the
/// pipeline's.
fn strategy(cx: &Cx<'_>, m: &PlatformMatrix) -> Node {
    let mut matrix = Node::map();
    if m.product {
        for (k, values) in &m.axes {
            matrix.set(k, values.clone());
        }
    } else {
        let cells: Vec<Node> = m
            .cells
            .iter()
            .map(|c| {
                let mut cell = Node::map();
                for (k, v) in c {
                    cell.set(k, v.as_str());
                }
                cell
            })
            .collect();
        matrix.set("include", Node::Seq(cells));
    }
    Node::map()
        .with("fail-fast", cx.p.fail_fast())
        .with("matrix", matrix)
}

/// `actions/cache` for a job's `cache:`: the same paths, a key with the same parts (one
/// `hashFiles` per key glob), and each restore key as the key's prefix up to its globs.
fn cache_step(cx: &Cx<'_>, j: &Job) -> Option<Node> {
    let c = j.cache.as_ref()?;
    let os = "${{ runner.os }}";
    let hash = |g: &str| format!("${{{{ hashFiles('{}') }}}}", g.replace('\'', "''"));
    let key = cx.cache_key(j, None, os, hash);
    let mut with = Node::map()
        .with("path", c.paths.join("\n") + "\n")
        .with("key", key);
    if !c.restore_keys.is_empty() {
        let restore: Vec<String> = c
            .restore_keys
            .iter()
            .map(|r| cx.cache_key(j, Some(r.len()), os, hash) + "-")
            .collect();
        with.set("restore-keys", restore.join("\n") + "\n");
    }
    Some(
        Node::map()
            .with("uses", "actions/cache@v4")
            .with("with", with),
    )
}
