//! `wharf logs`: the stored logs of a run, step by step.

use std::collections::HashMap;
use std::io::{BufRead, Read, Seek, Write};
use std::path::Path;
use std::time::Duration;

use crate::cli::LogsArgs;
use crate::commands::history;
use crate::exit::{ExitStatus, UserError};

/// Runs `wharf logs`.
pub async fn run(dir: &Path, args: LogsArgs) -> anyhow::Result<ExitStatus> {
    let number = match args.run.as_deref() {
        None | Some("latest") => None,
        Some(n) => Some(n.trim_start_matches('#').parse::<u64>().map_err(|_| {
            UserError::invalid(format!("`{n}` is not a run number"))
                .hint("e.g. `wharf logs 3` or `wharf logs latest build`")
        })?),
    };
    // Where the record and the logs come from: the project's history, or a server.
    let remote = crate::commands::remote::Remote::from_args(&args.remote)?;
    let (rec, wharf_dir) = match &remote {
        Some(r) => {
            if args.follow {
                return Err(UserError::invalid("--follow is not available with --server yet")
                    .hint("print the log once the run ended; live logs from a server come with its log stream")
                    .into());
            }
            (r.run(number).await?, None)
        }
        None => {
            let Some((wharf_dir, store)) = history::open(dir).await? else {
                return Err(history::no_runs());
            };
            let rec = history::find_run(&store, number).await?;
            if args.follow {
                return follow(&wharf_dir, store, rec.summary.number, &args).await;
            }
            (rec, Some(wharf_dir))
        }
    };
    let jobs: Vec<_> = rec
        .jobs
        .iter()
        .filter(|j| wanted(args.job.as_ref(), &j.id))
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
            let log: Box<dyn BufRead> = match (&remote, &wharf_dir) {
                (Some(r), _) => Box::new(std::io::Cursor::new(
                    r.log(rec.summary.number, &j.id, st.index).await?,
                )),
                (None, dir) => {
                    let path = dir.as_deref().unwrap_or(Path::new(".")).join(rel);
                    match std::fs::File::open(&path) {
                        Ok(f) => Box::new(std::io::BufReader::new(f)),
                        // A step that printed nothing has no log file.
                        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
                            Box::new(std::io::empty())
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
                    }
                }
            };
            print_step(&mut out, &j.id, st, log, args.json)?;
        }
    }
    Ok(ExitStatus::Success)
}

/// Prints one step's log: a `==> JOB / STEP <==` header and its lines, or one JSON object
/// per line with `--json`.
fn print_step(
    out: &mut impl Write,
    job: &str,
    st: &wharf_model::StepRecord,
    mut log: impl BufRead,
    json: bool,
) -> anyhow::Result<()> {
    if !json {
        writeln!(out, "==> {job} / {} <==", st.name)?;
    }
    let mut line = Vec::new();
    let mut any = false;
    while log.read_until(b'\n', &mut line)? > 0 {
        any = true;
        if json {
            let text = String::from_utf8_lossy(&line);
            let v = serde_json::json!({"job": job, "step": st.index, "line": text.trim_end_matches(['\n', '\r'])});
            writeln!(out, "{v}")?;
        } else {
            out.write_all(&line)?;
            if !line.ends_with(b"\n") {
                out.write_all(b"\n")?;
            }
        }
        line.clear();
    }
    if !any && !json {
        writeln!(out, "(no output)")?;
    }
    Ok(())
}

/// Whether job `id` is the one `want` names (a matrix job's name covers its cells).
fn wanted(want: Option<&String>, id: &str) -> bool {
    want.is_none_or(|w| id == w || id.starts_with(&format!("{w} (")))
}

/// `wharf logs -f`: prints what the steps of run `number` (or of the wanted job) write as
/// they write it, reading their log files from where it left off every 250 ms, until the
/// run (or the job) has ended and everything it wrote is out. A run whose wharf died is
/// ended by the store's recovery, which a reopened store runs every two seconds.
async fn follow(
    wharf_dir: &Path,
    mut store: wharf_store::Store,
    number: u64,
    args: &LogsArgs,
) -> anyhow::Result<ExitStatus> {
    let stdout = std::io::stdout();
    let mut offsets: HashMap<(String, usize), u64> = HashMap::new();
    // Per step, the start of a line not ended yet (`--json` prints whole lines).
    let mut partial: HashMap<(String, usize), Vec<u8>> = HashMap::new();
    let mut last: Option<(String, usize)> = None;
    let mut polls = 0u32;
    loop {
        let rec = history::find_run(&store, Some(number)).await?;
        let jobs: Vec<_> = rec
            .jobs
            .iter()
            .filter(|j| wanted(args.job.as_ref(), &j.id))
            .collect();
        if let Some(want) = &args.job
            && jobs.is_empty()
        {
            let names: Vec<&str> = rec.jobs.iter().map(|j| j.id.as_str()).collect();
            return Err(
                UserError::invalid(format!("run #{number} has no job `{want}`"))
                    .hint(format!("its jobs: {}", names.join(", ")))
                    .into(),
            );
        }
        // Decided before reading: what a finished step wrote is all in its file by then.
        let done = rec.summary.finished_at.is_some()
            || (args.job.is_some() && jobs.iter().all(|j| j.finished_at.is_some()));
        let mut out = stdout.lock();
        for j in &jobs {
            for st in &j.steps {
                let Some(rel) = &st.log else { continue };
                let key = (j.id.clone(), st.index);
                let offset = offsets.get(&key).copied().unwrap_or(0);
                let Ok(mut file) = std::fs::File::open(wharf_dir.join(rel)) else {
                    continue;
                };
                file.seek(std::io::SeekFrom::Start(offset))?;
                let mut new = Vec::new();
                file.read_to_end(&mut new)?;
                let unfinished = partial.get(&key).is_some_and(|b| !b.is_empty());
                if new.is_empty() && !(args.json && done && unfinished) {
                    continue;
                }
                offsets.insert(key.clone(), offset + new.len() as u64);
                if args.json {
                    let buf = partial.entry(key.clone()).or_default();
                    buf.extend_from_slice(&new);
                    // Whole lines now; the rest once it ends (or the run does).
                    let end = if done {
                        buf.len()
                    } else {
                        buf.iter().rposition(|&b| b == b'\n').map_or(0, |i| i + 1)
                    };
                    for line in buf[..end].split_inclusive(|&b| b == b'\n') {
                        let text = String::from_utf8_lossy(line);
                        let v = serde_json::json!({
                            "job": j.id,
                            "step": st.index,
                            "line": text.trim_end_matches(['\n', '\r']),
                        });
                        writeln!(out, "{v}")?;
                    }
                    buf.drain(..end);
                    continue;
                }
                if last.as_ref() != Some(&key) {
                    writeln!(out, "==> {} / {} <==", j.id, st.name)?;
                    last = Some(key);
                }
                out.write_all(&new)?;
            }
        }
        out.flush()?;
        drop(out);
        if done {
            break;
        }
        tokio::time::sleep(Duration::from_millis(250)).await;
        polls += 1;
        if polls.is_multiple_of(8) {
            store = wharf_store::Store::open(wharf_dir).await?;
        }
    }
    Ok(ExitStatus::Success)
}
