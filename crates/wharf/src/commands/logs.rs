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
            let rec = r.run(number).await?;
            if args.follow {
                return follow_remote(r, &rec, &args).await;
            }
            (rec, None)
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
    let jobs = wanted_jobs(&rec, args.job.as_ref())?;
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

/// The jobs of `rec` that `want` names (all without it); an error listing them when it
/// names none.
fn wanted_jobs<'a>(
    rec: &'a wharf_model::RunRecord,
    want: Option<&String>,
) -> anyhow::Result<Vec<&'a wharf_model::JobRecord>> {
    let jobs: Vec<_> = rec.jobs.iter().filter(|j| wanted(want, &j.id)).collect();
    if let Some(want) = want
        && jobs.is_empty()
    {
        let names: Vec<&str> = rec.jobs.iter().map(|j| j.id.as_str()).collect();
        return Err(
            UserError::invalid(format!("run #{} has no job `{want}`", rec.summary.number))
                .hint(format!("its jobs: {}", names.join(", ")))
                .into(),
        );
    }
    Ok(jobs)
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
        let jobs = wanted_jobs(&rec, args.job.as_ref())?;
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

/// One event of a job's live-log stream.
#[derive(Debug)]
struct Sse {
    kind: String,
    id: Option<String>,
    data: String,
}

/// Splits the events out of `buf` (what arrived so far), leaving an unfinished one in it.
fn sse_events(buf: &mut Vec<u8>) -> Vec<Sse> {
    let mut out = Vec::new();
    loop {
        let text = String::from_utf8_lossy(buf);
        let Some(end) = text.find("\n\n") else {
            return out;
        };
        let block = text[..end].to_string();
        let consumed = text[..end + 2].len();
        drop(text);
        buf.drain(..consumed);
        let mut ev = Sse {
            kind: "message".into(),
            id: None,
            data: String::new(),
        };
        let mut any = false;
        for line in block.lines() {
            let (field, value) = match line.split_once(':') {
                Some((f, v)) => (f, v.strip_prefix(' ').unwrap_or(v)),
                None => (line, ""),
            };
            match field {
                "event" => ev.kind = value.to_string(),
                "id" => ev.id = Some(value.to_string()),
                "data" => {
                    if any {
                        ev.data.push('\n');
                    }
                    ev.data.push_str(value);
                    any = true;
                }
                _ => {}
            }
        }
        if any {
            out.push(ev);
        }
    }
}

/// What a job's follower task hands to the printer.
enum Live {
    /// A step began.
    Step {
        job: String,
        step: usize,
        name: String,
    },
    /// Bytes of a step's log.
    Bytes {
        job: String,
        step: usize,
        bytes: Vec<u8>,
    },
    /// The job ended.
    End,
}

/// Follows job `job` of `run` on the server, resuming after a dropped connection from the
/// last event's id and reading far-behind ranges from the stored log.
async fn follow_job(
    remote: std::sync::Arc<crate::commands::remote::Remote>,
    run: u64,
    job: String,
    tx: tokio::sync::mpsc::UnboundedSender<Live>,
) -> anyhow::Result<()> {
    use base64::Engine as _;
    use futures_util::StreamExt as _;
    let mut from = "start".to_string();
    let mut names: HashMap<usize, String> = HashMap::new();
    let mut failures = 0u32;
    loop {
        let resp = match remote.stream(run, &job, &from).await {
            Ok(r) => r,
            Err(e) if failures < 5 => {
                failures += 1;
                eprintln!("warning: {e:#}; reconnecting");
                tokio::time::sleep(Duration::from_millis(500 * u64::from(failures))).await;
                continue;
            }
            Err(e) => return Err(e),
        };
        let mut body = resp.bytes_stream();
        let mut buf = Vec::new();
        let mut ended = false;
        while let Some(chunk) = body.next().await {
            let Ok(chunk) = chunk else { break };
            buf.extend_from_slice(&chunk);
            for ev in sse_events(&mut buf) {
                if let Some(id) = &ev.id {
                    from.clone_from(id);
                }
                let d: serde_json::Value = serde_json::from_str(&ev.data).unwrap_or_default();
                let step = d["step"].as_u64().unwrap_or(0) as usize;
                match ev.kind.as_str() {
                    "step" => {
                        let name = d["name"].as_str().unwrap_or_default().to_string();
                        names.insert(step, name.clone());
                        let _ = tx.send(Live::Step {
                            job: job.clone(),
                            step,
                            name,
                        });
                    }
                    "log" => {
                        let bytes = match (d["text"].as_str(), d["base64"].as_str()) {
                            (Some(t), _) => t.as_bytes().to_vec(),
                            (None, Some(b)) => base64::engine::general_purpose::STANDARD
                                .decode(b)
                                .unwrap_or_default(),
                            _ => Vec::new(),
                        };
                        let _ = tx.send(Live::Bytes {
                            job: job.clone(),
                            step,
                            bytes,
                        });
                    }
                    "behind" => {
                        // Far behind: the stored bytes, then the stream after them.
                        let (a, b) = (
                            d["from"].as_u64().unwrap_or(0),
                            d["to"].as_u64().unwrap_or(0),
                        );
                        let log = remote.log(run, &job, step).await?;
                        let part = log
                            .get(a as usize..(b as usize).min(log.len()))
                            .unwrap_or_default()
                            .to_vec();
                        let _ = tx.send(Live::Bytes {
                            job: job.clone(),
                            step,
                            bytes: part,
                        });
                        from = format!("{step}:b:{b}");
                    }
                    "end" => {
                        if let Some(e) = d["error"].as_str() {
                            eprintln!("warning: {job}: {e}");
                        }
                        ended = true;
                    }
                    _ => {}
                }
            }
            if ended {
                break;
            }
        }
        if ended {
            let _ = tx.send(Live::End);
            return Ok(());
        }
        failures = 0;
    }
}

/// `wharf logs -f --server`: each wanted job's live-log stream, printed as it comes (a
/// header when the output switches to another step), until every wanted job ended.
async fn follow_remote(
    remote: &crate::commands::remote::Remote,
    rec: &wharf_model::RunRecord,
    args: &LogsArgs,
) -> anyhow::Result<ExitStatus> {
    let jobs: Vec<String> = wanted_jobs(rec, args.job.as_ref())?
        .into_iter()
        .map(|j| j.id.clone())
        .collect();
    let remote = std::sync::Arc::new(remote.clone_for_follow());
    let (tx, mut rx) = tokio::sync::mpsc::unbounded_channel();
    let mut tasks = Vec::new();
    for j in &jobs {
        tasks.push(tokio::spawn(follow_job(
            remote.clone(),
            rec.summary.number,
            j.clone(),
            tx.clone(),
        )));
    }
    drop(tx);
    let stdout = std::io::stdout();
    let mut last: Option<(String, usize)> = None;
    let mut names: HashMap<(String, usize), String> = HashMap::new();
    let mut partial: HashMap<(String, usize), Vec<u8>> = HashMap::new();
    while let Some(item) = rx.recv().await {
        let mut out = stdout.lock();
        match item {
            Live::Step { job, step, name } => {
                names.insert((job, step), name);
            }
            Live::Bytes { job, step, bytes } => {
                let key = (job, step);
                if args.json {
                    let buf = partial.entry(key.clone()).or_default();
                    buf.extend_from_slice(&bytes);
                    let end = buf.iter().rposition(|&b| b == b'\n').map_or(0, |i| i + 1);
                    for line in buf[..end].split_inclusive(|&b| b == b'\n') {
                        let text = String::from_utf8_lossy(line);
                        let v = serde_json::json!({"job": key.0, "step": key.1, "line": text.trim_end_matches(['\n', '\r'])});
                        writeln!(out, "{v}")?;
                    }
                    buf.drain(..end);
                } else {
                    if last.as_ref() != Some(&key) {
                        let name = names.get(&key).cloned().unwrap_or_default();
                        writeln!(out, "==> {} / {name} <==", key.0)?;
                        last = Some(key);
                    }
                    out.write_all(&bytes)?;
                }
            }
            Live::End => {}
        }
        out.flush()?;
    }
    if args.json {
        let mut out = stdout.lock();
        for ((job, step), rest) in partial {
            if !rest.is_empty() {
                let text = String::from_utf8_lossy(&rest);
                writeln!(
                    out,
                    "{}",
                    serde_json::json!({"job": job, "step": step, "line": text})
                )?;
            }
        }
    }
    for t in tasks {
        t.await??;
    }
    Ok(ExitStatus::Success)
}

#[cfg(test)]
mod tests {
    use super::sse_events;

    #[test]
    fn events_are_split_at_blank_lines_and_keep_their_ids() {
        let mut buf =
            b"event: log\nid: 0:b:5\ndata: {\"text\":\"hello\"}\n\n: ping\n\nevent: end\nda"
                .to_vec();
        let evs = sse_events(&mut buf);
        assert_eq!(evs.len(), 1, "{evs:?}");
        assert_eq!(evs[0].kind, "log");
        assert_eq!(evs[0].id.as_deref(), Some("0:b:5"));
        assert_eq!(evs[0].data, "{\"text\":\"hello\"}");
        assert_eq!(buf, b"event: end\nda");
        buf.extend_from_slice(b"ta: {}\n\n");
        let evs = sse_events(&mut buf);
        assert_eq!(evs[0].kind, "end");
        assert!(buf.is_empty());
    }
}
