//! `wharf show`: one run in detail.

use std::path::Path;

use crate::cli::ShowArgs;
use crate::commands::history;
use crate::exit::ExitStatus;
use crate::output::view::{duration, failed_test_text, mark, tests_text};

/// Step names longer than this end with `…` (the name is the first line of `run:`).
const STEP_NAME_WIDTH: usize = 60;

/// Runs `wharf show`.
pub async fn run(dir: &Path, args: ShowArgs) -> anyhow::Result<ExitStatus> {
    let rec = match crate::commands::remote::Remote::from_args(&args.remote)? {
        Some(remote) => remote.run(args.run).await?,
        None => {
            let Some((_, store)) = history::open(dir).await? else {
                return Err(history::no_runs());
            };
            history::find_run(&store, args.run).await?
        }
    };
    if args.json {
        outln!("{}", serde_json::to_string_pretty(&rec)?);
        return Ok(ExitStatus::Success);
    }
    let s = &rec.summary;
    outln!("run #{}  {}  ({})", s.number, s.status, rec.file);
    outln!("pipeline  {}", s.pipeline);
    let mut event = s.event.kind.to_string();
    for (k, v) in [
        ("branch", &s.event.branch),
        ("tag", &s.event.tag),
        ("sha", &s.event.sha),
    ] {
        if let Some(v) = v {
            event.push_str(&format!("  {k} {v}"));
        }
    }
    outln!("event     {event}");
    outln!(
        "started   {}{}",
        history::age(s.started_at),
        s.finished_at
            .map(|f| format!(", took {}", duration(f - s.started_at)))
            .unwrap_or_default()
    );
    for j in &rec.jobs {
        let time = match (j.started_at, j.finished_at) {
            (Some(a), Some(b)) => duration(b - a),
            _ => "-".into(),
        };
        outln!("\n{} {}  {}  {}", mark(j.status), j.id, j.status, time);
        if !j.needs.is_empty() {
            outln!("    needs: {}", j.needs.join(", "));
        }
        if let Some(r) = &j.reason {
            outln!("    reason: {r}");
        }
        if j.attempt > 1 {
            outln!("    attempts: {}", j.attempt);
        }
        for st in &j.steps {
            let code = st
                .exit_code
                .map(|c| format!(" (exit {c})"))
                .unwrap_or_default();
            outln!(
                "    step {}: {}  {}{code}",
                st.index + 1,
                crate::output::table::ellipsize(&st.name, STEP_NAME_WIDTH),
                st.status
            );
        }
        for r in &j.reports {
            outln!(
                "    tests: {} ({})",
                tests_text([r.tests, r.failures, r.errors, r.skipped]),
                r.path
            );
            for t in &r.failed_tests {
                let (head, rest) = failed_test_text(t);
                println!("      failed: {head}");
                for line in rest {
                    println!("          {line}");
                }
            }
            let more = (r.failures + r.errors).saturating_sub(r.failed_tests.len() as u64);
            if more > 0 && !r.failed_tests.is_empty() {
                println!("      … and {more} more in {}", r.path);
            }
        }
        for w in rec.warnings.iter().filter(|w| w.job == j.id) {
            println!("    warning: {}", w.message);
        }
        for a in &j.artifacts {
            outln!(
                "    artifact: {} ({} bytes, sha256:{})",
                a.path,
                a.size,
                &a.sha256[..12]
            );
        }
        for p in &j.produced {
            outln!(
                "    produced: {} {} ({})",
                p.kind.as_str(),
                p.name,
                p.digest
            );
        }
        for (k, v) in &j.outputs {
            outln!("    output: {k}={v}");
        }
    }
    Ok(ExitStatus::Success)
}
