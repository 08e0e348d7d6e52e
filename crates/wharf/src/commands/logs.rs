//! `wharf logs`: the stored logs of a run, step by step.

use std::io::{BufRead, Write};
use std::path::Path;

use crate::cli::LogsArgs;
use crate::commands::history;
use crate::exit::{ExitStatus, UserError};

/// Runs `wharf logs`.
pub async fn run(dir: &Path, args: LogsArgs) -> anyhow::Result<ExitStatus> {
    let Some((wharf_dir, store)) = history::open(dir).await? else {
        return Err(history::no_runs());
    };
    let number = match args.run.as_deref() {
        None | Some("latest") => None,
        Some(n) => Some(n.trim_start_matches('#').parse::<u64>().map_err(|_| {
            UserError::invalid(format!("`{n}` is not a run number"))
                .hint("e.g. `wharf logs 3` or `wharf logs latest build`")
        })?),
    };
    let rec = history::find_run(&store, number).await?;
    let jobs: Vec<_> = rec
        .jobs
        .iter()
        .filter(|j| {
            args.job
                .as_ref()
                .is_none_or(|want| &j.id == want || j.id.starts_with(&format!("{want} (")))
        })
        .collect();
    if let Some(want) = &args.job
        && jobs.is_empty()
    {
        let names: Vec<&str> = rec.jobs.iter().map(|j| j.id.as_str()).collect();
        return Err(
            UserError::invalid(format!("run #{} has no job `{want}`", rec.summary.number))
                .hint(format!("its jobs: {}", names.join(", ")))
                .into(),
        );
    }
    let stdout = std::io::stdout();
    let mut out = stdout.lock();
    for j in jobs {
        for st in &j.steps {
            let Some(rel) = &st.log else { continue };
            let path = wharf_dir.join(rel);
            let file = match std::fs::File::open(&path) {
                Ok(f) => f,
                // A step that printed nothing has no log file.
                Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
                    if !args.json {
                        writeln!(out, "==> {} / {} <==\n(no output)", j.id, st.name)?;
                    }
                    continue;
                }
                Err(e) => {
                    eprintln!(
                        "warning: cannot read the log of {} step {} ({}): {e}",
                        j.id,
                        st.index + 1,
                        path.display()
                    );
                    continue;
                }
            };
            if !args.json {
                writeln!(out, "==> {} / {} <==", j.id, st.name)?;
            }
            let mut reader = std::io::BufReader::new(file);
            let mut line = Vec::new();
            while reader.read_until(b'\n', &mut line)? > 0 {
                if args.json {
                    let text = String::from_utf8_lossy(&line);
                    let v = serde_json::json!({"job": j.id, "step": st.index, "line": text.trim_end_matches(['\n', '\r'])});
                    writeln!(out, "{v}")?;
                } else {
                    out.write_all(&line)?;
                    if !line.ends_with(b"\n") {
                        out.write_all(b"\n")?;
                    }
                }
                line.clear();
            }
        }
    }
    Ok(ExitStatus::Success)
}
