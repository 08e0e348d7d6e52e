//! Drawing a plan's DAG for people: plain text, Graphviz DOT and Mermaid.
//!
//! Every format lists jobs in plan order, so the output is stable and diffable.

use std::fmt::Write;

use wharf_model::Plan;

/// One line per job: its id, then `<- ` and the jobs it needs.
pub fn text(plan: &Plan) -> String {
    let mut out = String::new();
    for job in &plan.jobs {
        out.push_str(&job.id);
        if !job.needs.is_empty() {
            let _ = write!(out, " <- {}", need_ids(plan, job).join(", "));
        }
        if let Some(c) = &job.condition {
            let _ = write!(out, "  (if: {c})");
        }
        out.push('\n');
    }
    out
}

/// A Graphviz `digraph`, edges from a needed job to the job that needs it.
pub fn dot(plan: &Plan) -> String {
    let mut out = format!(
        "digraph {} {{\n  rankdir=LR;\n  node [shape=box];\n",
        dot_quote(&plan.pipeline)
    );
    for (i, job) in plan.jobs.iter().enumerate() {
        let label = match &job.condition {
            Some(c) => format!("{}\nif: {c}", job.id),
            None => job.id.clone(),
        };
        let _ = writeln!(out, "  j{i} [label={}];", dot_quote(&label));
    }
    for (i, job) in plan.jobs.iter().enumerate() {
        for need in &job.needs {
            let _ = writeln!(out, "  j{need} -> j{i};");
        }
    }
    out.push_str("}\n");
    out
}

/// A Mermaid `flowchart`, edges from a needed job to the job that needs it.
pub fn mermaid(plan: &Plan) -> String {
    let mut out = String::from("flowchart LR\n");
    for (i, job) in plan.jobs.iter().enumerate() {
        let label = match &job.condition {
            Some(c) => format!("{}<br/>if: {}", mermaid_escape(&job.id), mermaid_escape(c)),
            None => mermaid_escape(&job.id),
        };
        let _ = writeln!(out, "  j{i}[\"{label}\"]");
    }
    for (i, job) in plan.jobs.iter().enumerate() {
        for need in &job.needs {
            let _ = writeln!(out, "  j{need} --> j{i}");
        }
    }
    out
}

/// The jobs as data: id, key in the file, the ids they need and their `if:`.
pub fn json(plan: &Plan) -> serde_json::Value {
    let jobs: Vec<serde_json::Value> = plan
        .jobs
        .iter()
        .map(|job| {
            serde_json::json!({
                "id": job.id,
                "name": job.name,
                "needs": need_ids(plan, job),
                "if": job.condition,
            })
        })
        .collect();
    serde_json::json!({ "pipeline": plan.pipeline, "file": plan.file, "jobs": jobs })
}

/// The ids of the jobs `job` needs.
fn need_ids<'a>(plan: &'a Plan, job: &wharf_model::PlannedJob) -> Vec<&'a str> {
    job.needs
        .iter()
        .filter_map(|&i| plan.jobs.get(i))
        .map(|j| j.id.as_str())
        .collect()
}

fn dot_quote(text: &str) -> String {
    let mut out = String::from("\"");
    for c in text.chars() {
        match c {
            '"' | '\\' => {
                out.push('\\');
                out.push(c);
            }
            '\n' => out.push_str("\\n"),
            _ => out.push(c),
        }
    }
    out.push('"');
    out
}

fn mermaid_escape(text: &str) -> String {
    text.replace('"', "#quot;").replace('\n', " ")
}

#[cfg(test)]
mod tests {
    use super::*;
    use wharf_model::{Event, EventKind};

    fn plan() -> Plan {
        let text = "version: 1\nname: demo\njobs:\n  test:\n    matrix: { os: [linux, mac] }\n    run: make test\n  ship:\n    needs: [test]\n    run: make ship\n  notify:\n    needs: [ship]\n    if: failure()\n    run: echo failed\n";
        let p = crate::parse("wharf.yml", text).expect("valid");
        p.plan(&Event::new(EventKind::Push), &[]).expect("plan")
    }

    #[test]
    fn formats() {
        let p = plan();
        assert_eq!(
            text(&p),
            "test (os=linux)\ntest (os=mac)\nship <- test (os=linux), test (os=mac)\nnotify <- ship  (if: failure())\n"
        );
        assert_eq!(
            dot(&p),
            "digraph \"demo\" {\n  rankdir=LR;\n  node [shape=box];\n  j0 [label=\"test (os=linux)\"];\n  j1 [label=\"test (os=mac)\"];\n  j2 [label=\"ship\"];\n  j3 [label=\"notify\\nif: failure()\"];\n  j0 -> j2;\n  j1 -> j2;\n  j2 -> j3;\n}\n"
        );
        assert_eq!(
            mermaid(&p),
            "flowchart LR\n  j0[\"test (os=linux)\"]\n  j1[\"test (os=mac)\"]\n  j2[\"ship\"]\n  j3[\"notify<br/>if: failure()\"]\n  j0 --> j2\n  j1 --> j2\n  j2 --> j3\n"
        );
        let j = json(&p);
        assert_eq!(j["jobs"][3]["id"], "notify");
        assert_eq!(j["jobs"][3]["needs"], serde_json::json!(["ship"]));
        assert_eq!(j["jobs"][3]["if"], "failure()");
        assert_eq!(j["jobs"][0]["if"], serde_json::Value::Null);
    }
}
