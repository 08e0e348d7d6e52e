//! Bitbucket Pipelines: pipelines per branch, tag and pull-request pattern, plus custom
//! (manual) ones. Bitbucket has no job graph: jobs run in dependency levels, the jobs of
//! one level in a `parallel` group, which keeps every `needs` order.

use wharf_pipeline::Job;

use crate::common::Cx;
use crate::node::Node;

const DEFAULT_IMAGE: &str = "rust:1-bookworm";

pub(crate) fn export(cx: &mut Cx<'_>) -> Node {
    let image = cx.opts.job_image().unwrap_or(DEFAULT_IMAGE).to_string();
    let mut root = Node::map().with("image", image);
    let steps = steps(cx, None);
    let mut pipelines = Node::map();
    match cx.p.triggers() {
        None => pipelines.set("default", steps.clone()),
        Some(t) => {
            if let Some(p) = &t.push {
                let mut branches = Node::map();
                for g in p.branches.patterns() {
                    branches.set(g, steps.clone());
                }
                pipelines.set("branches", branches);
                if p.paths.is_some() {
                    cx.warn("on.push.paths: not mapped; nearest Bitbucket feature: `condition: changesets: includePaths` on each step");
                }
            }
            if let Some(tags) = &t.tag {
                let mut n = Node::map();
                for g in tags.patterns() {
                    n.set(g, steps.clone());
                }
                pipelines.set("tags", n);
            }
            if t.pull_request.is_some() {
                // Bitbucket matches pull requests by *source* branch.
                pipelines.set("pull-requests", Node::map().with("**", steps.clone()));
                cx.warn("on.pull_request.branches: Bitbucket filters pull requests by source branch, not target; wharf checks the target itself (it skips runs whose target does not match)");
            }
            let mut custom = Node::map();
            if let Some(inputs) = &t.manual {
                let mut list = Vec::new();
                if !inputs.is_empty() {
                    let vars: Vec<Node> = inputs
                        .iter()
                        .map(|i| {
                            let mut v = Node::map().with("name", format!("WHARF_INPUT_{}", i.name));
                            if let Some(d) = &i.default {
                                v.set("default", d.as_str());
                            }
                            if !i.options.is_empty() {
                                v.set("allowed-values", i.options.clone());
                            }
                            v
                        })
                        .collect();
                    list.push(Node::map().with("variables", Node::Seq(vars)));
                }
                if let Node::Seq(s) = self::steps(cx, Some("manual")) {
                    list.extend(s);
                }
                custom.set("wharf-manual", Node::Seq(list));
            }
            if !t.schedule.is_empty() {
                custom.set("wharf-schedule", self::steps(cx, Some("schedule")));
                cx.warn(format!(
                    "on.schedule ({}): Bitbucket schedules are set in Repository settings; nearest: a schedule running the custom pipeline `wharf-schedule`",
                    t.schedule.join(", ")
                ));
            }
            if !custom.is_empty() {
                pipelines.set("custom", custom);
            }
            if let Some(p) = &t.pipeline {
                cx.warn(format!("on.pipeline (after `{}`): Bitbucket has no pipeline-after-pipeline trigger; nearest: trigger this repository's pipeline through the API from the upstream one", p.name));
            }
        }
    }
    root.set("pipelines", pipelines);
    cx.warn_environments("Bitbucket deployment environments with deployment permissions");
    cx.warn_caches("Bitbucket `caches:` with a custom cache definition");
    cx.warn_matrices("one step per cell in a `parallel` group");
    root
}

/// The step list; `event` forces the event for custom pipelines (no variable tells them).
fn steps(cx: &Cx<'_>, event: Option<&str>) -> Node {
    let prefix = event
        .map(|e| format!("WHARF_EVENT={e} "))
        .unwrap_or_default();
    if cx.opts.single_job {
        return Node::Seq(vec![step(cx, None, &prefix)]);
    }
    let mut out = Vec::new();
    for level in levels(cx.jobs()) {
        let mut group: Vec<Node> = level.iter().map(|j| step(cx, Some(j), &prefix)).collect();
        if group.len() == 1 {
            out.push(group.remove(0));
        } else {
            out.push(Node::map().with("parallel", Node::Seq(group)));
        }
    }
    Node::Seq(out)
}

fn step(cx: &Cx<'_>, j: Option<&Job>, prefix: &str) -> Node {
    let name = j.map_or_else(|| format!("wharf {}", cx.p.name()), |j| j.name.clone());
    let mut s = Node::map().with("name", name);
    s.set(
        "script",
        vec![cx.install(), format!("{prefix}{}", cx.run_line(j))],
    );
    if let Some(j) = j {
        // Bitbucket's artifacts are globs: a directory is everything under it.
        let paths: Vec<String> = cx
            .artifact_paths(j)
            .into_iter()
            .map(|p| {
                if p.ends_with('/') {
                    format!("{p}**")
                } else {
                    p
                }
            })
            .collect();
        if !paths.is_empty() {
            s.set("artifacts", paths);
        }
    }
    Node::map().with("step", s)
}

/// Jobs grouped by depth in the graph: every job comes after all it needs.
fn levels(jobs: &[Job]) -> Vec<Vec<&Job>> {
    let mut depth: Vec<Option<usize>> = vec![None; jobs.len()];
    let index = |name: &str| jobs.iter().position(|j| j.name == name);
    // The pipeline is validated acyclic, so this settles in at most `jobs.len()` passes.
    for _ in 0..jobs.len() {
        for (i, j) in jobs.iter().enumerate() {
            let d = j
                .needs
                .iter()
                .map(|n| index(n).and_then(|k| depth[k]).map(|d| d + 1))
                .try_fold(0, |acc, d| d.map(|d| acc.max(d)));
            if let Some(d) = d {
                depth[i] = Some(d);
            }
        }
    }
    let max = depth.iter().flatten().copied().max().unwrap_or(0);
    (0..=max)
        .map(|d| {
            jobs.iter()
                .enumerate()
                .filter(|(i, _)| depth[*i] == Some(d))
                .map(|(_, j)| j)
                .collect()
        })
        .filter(|l: &Vec<&Job>| !l.is_empty())
        .collect()
}
