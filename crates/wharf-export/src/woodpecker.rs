//! Woodpecker CI: one workflow file, steps with `depends_on` for the graph. Steps share
//! the workspace, so artifacts need no transfer.

use wharf_pipeline::Job;

use crate::common::Cx;
use crate::node::Node;

const DEFAULT_IMAGE: &str = "rust:1-bookworm";

pub(crate) fn export(cx: &mut Cx<'_>) -> Node {
    let mut root = Node::map();
    let when = when(cx);
    if !when.is_empty() {
        root.set("when", Node::Seq(when));
    }
    let mut steps = Node::map();
    if cx.opts.single_job {
        let n = step(cx, None, &[], &cx.all_secrets());
        steps.set(&format!("wharf-{}", cx.p.name()), n);
    } else {
        for j in cx.jobs() {
            let n = step(cx, Some(j), &j.needs, &j.secrets);
            steps.set(&j.name, n);
        }
    }
    root.set("steps", steps);
    cx.warn_environments("Woodpecker's `deployment` event and the repository's approval settings");
    cx.warn_caches("a cache plugin step, or a volume on a trusted repository");
    cx.warn_matrices("a workflow-level `matrix:` in a workflow of its own");
    root
}

fn when(cx: &mut Cx<'_>) -> Vec<Node> {
    let mut out = Vec::new();
    let Some(t) = cx.p.triggers() else {
        return out;
    };
    if let Some(p) = &t.push {
        let mut w = Node::map()
            .with("event", "push")
            .with("branch", p.branches.patterns().to_vec());
        if let Some(paths) = &p.paths {
            w.set("path", paths.patterns().to_vec());
        }
        out.push(w);
    }
    if let Some(tags) = &t.tag {
        let refs: Vec<String> = tags
            .patterns()
            .iter()
            .map(|g| format!("refs/tags/{g}"))
            .collect();
        out.push(Node::map().with("event", "tag").with("ref", refs));
    }
    if let Some(pr) = &t.pull_request {
        out.push(
            Node::map()
                .with("event", "pull_request")
                .with("branch", pr.branches.patterns().to_vec()),
        );
    }
    if !t.schedule.is_empty() {
        out.push(Node::map().with("event", "cron"));
        cx.warn(format!(
            "on.schedule ({}): Woodpecker crons are set in the repository settings (or `woodpecker-cli cron add`), not the file",
            t.schedule.join(", ")
        ));
    }
    if let Some(inputs) = &t.manual {
        out.push(Node::map().with("event", "manual"));
        if !inputs.is_empty() {
            let names: Vec<String> = inputs
                .iter()
                .map(|i| format!("WHARF_INPUT_{}", i.name))
                .collect();
            cx.warn(format!(
                "on.manual inputs: Woodpecker cannot declare them; nearest: pass {} as variables when starting the pipeline",
                names.join(", ")
            ));
        }
    }
    if let Some(p) = &t.pipeline {
        cx.warn(format!("on.pipeline (after `{}`): Woodpecker has no pipeline-after-pipeline trigger; nearest: `depends_on` between workflows of one repository", p.name));
    }
    out
}

fn step(cx: &Cx<'_>, j: Option<&Job>, needs: &[String], secrets: &[String]) -> Node {
    let image = cx.opts.job_image().unwrap_or(DEFAULT_IMAGE).to_string();
    let mut n = Node::map().with("image", image);
    n.set("commands", vec![cx.install(), cx.run_line(j)]);
    if !secrets.is_empty() {
        let mut env = Node::map();
        for s in secrets {
            env.set(s, Node::map().with("from_secret", s.to_lowercase()));
        }
        n.set("environment", env);
    }
    // `depends_on: []` starts a step at once instead of after the previous one.
    n.set("depends_on", needs.to_vec());
    n
}
