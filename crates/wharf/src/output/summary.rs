//! The table printed when a run ends (every output mode but `--json`).

use console::style;
use wharf_model::{Produced, RunStatus};

use super::view::{RunView, duration, failed_test_text, mark, tests_text};

/// The summary table, as text (colored when `color`).
pub fn render(view: &RunView, color: bool) -> String {
    let paint = |s: &str, ok: Option<bool>| -> String {
        match (color, ok) {
            (true, Some(true)) => style(s).green().to_string(),
            (true, Some(false)) => style(s).red().to_string(),
            (true, None) => style(s).dim().to_string(),
            (false, _) => s.to_string(),
        }
    };
    let width = view
        .jobs
        .iter()
        .map(|j| j.id.len())
        .max()
        .unwrap_or(3)
        .max(3);
    let mut out = String::new();
    out.push_str(&format!(
        "\n  {:<width$}  {:<14}  {:>8}  {}\n",
        "JOB", "STATUS", "TIME", "NOTES"
    ));
    let end = view.finished.map(|(t, _)| t).unwrap_or(view.started);
    for j in &view.jobs {
        let ok = if j.status.counts_as_success() {
            Some(true)
        } else if j.status.fails_run() {
            Some(false)
        } else {
            None
        };
        let mut notes = Vec::new();
        if let Some(t) = j.tests {
            notes.push(tests_text(t));
        }
        if j.artifacts > 0 {
            notes.push(format!(
                "{} artifact{}",
                j.artifacts,
                if j.artifacts == 1 { "" } else { "s" }
            ));
        }
        for p in &j.produced {
            notes.push(produced_text(p));
        }
        if j.attempt > 1 {
            notes.push(format!("attempt {}", j.attempt));
        }
        if let Some(r) = &j.reason {
            notes.push(r.clone());
        }
        let time = j.elapsed(end).map(duration).unwrap_or_else(|| "-".into());
        let status = format!("{} {}", mark(j.status), j.status);
        out.push_str(&format!(
            "  {:<width$}  {}  {:>8}  {}\n",
            j.id,
            paint(&format!("{status:<14}"), ok),
            time,
            notes.join("; ")
        ));
    }
    out.push_str(&failed_tests(view, &paint));
    if !view.warnings.is_empty() {
        out.push('\n');
    }
    for (job, message) in &view.warnings {
        out.push_str(&format!(
            "{} [{job}] {message}\n",
            if color {
                style("warning:").yellow().to_string()
            } else {
                "warning:".to_string()
            }
        ));
    }
    let (status_text, ok) = match view.finished {
        Some((_, RunStatus::Success)) => ("succeeded", Some(true)),
        Some((_, RunStatus::Failed)) => ("failed", Some(false)),
        Some((_, RunStatus::Cancelled)) => ("was cancelled", Some(false)),
        Some((_, s)) => (s.as_str(), Some(false)),
        None => ("did not finish", Some(false)),
    };
    out.push_str(&format!(
        "\nrun #{} ({}) {} in {}\n",
        view.run,
        view.pipeline,
        paint(status_text, ok),
        duration(end - view.started)
    ));
    out
}

/// The most failed tests listed per job under the table.
const MAX_FAILED_SHOWN: usize = 20;

/// `failed tests:` and a line per failed test case (the rest of its message indented
/// below), at most [`MAX_FAILED_SHOWN`] per job; empty when no test failed.
fn failed_tests(view: &RunView, paint: &dyn Fn(&str, Option<bool>) -> String) -> String {
    let mut out = String::new();
    for j in &view.jobs {
        for t in j.failed_tests.iter().take(MAX_FAILED_SHOWN) {
            let (head, rest) = failed_test_text(t);
            out.push_str(&format!("  [{}] {}\n", j.id, paint(&head, Some(false))));
            for line in rest {
                out.push_str(&format!("      {line}\n"));
            }
        }
        let failed = j.tests.map_or(0, |[_, f, e, _]| f + e);
        let shown = j.failed_tests.len().min(MAX_FAILED_SHOWN) as u64;
        if failed > shown && shown > 0 {
            out.push_str(&format!(
                "  [{}] … and {} more in its reports (`wharf artifacts {}`)\n",
                j.id,
                failed - shown,
                view.run
            ));
        }
    }
    if out.is_empty() {
        return out;
    }
    format!("\nfailed tests:\n{out}")
}

/// `image 127.0.0.1:5000/demo:1.0 @ sha256:0123456789ab`, for the notes and `show`.
pub fn produced_text(p: &Produced) -> String {
    let short = p.digest.get(..19).unwrap_or(&p.digest);
    format!("{} {} @ {short}", p.kind.as_str(), p.name)
}
