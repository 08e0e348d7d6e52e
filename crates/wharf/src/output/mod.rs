//! How a run is shown while it happens: a live terminal view, plain prefixed logs, or
//! JSON events. All three read the same event stream; only `--json` writes to stdout.

pub mod summary;
pub mod table;
pub mod view;

use std::collections::HashMap;
use std::io::{BufWriter, Stderr, Stdout, Write};
use std::time::Duration;

use console::style;
use indicatif::{MultiProgress, ProgressBar, ProgressDrawTarget, ProgressStyle};
use wharf_model::{JobStatus, RunEvent};

use view::{RunView, duration, mark};

/// A `log` event of `--json`, written from a [`RunEvent::Lines`] without copying.
#[derive(serde::Serialize)]
struct LogLine<'a> {
    #[serde(rename = "type")]
    kind: &'static str,
    job: &'a str,
    step: usize,
    stream: wharf_model::LogStream,
    line: &'a str,
}

/// Which renderer to use.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Mode {
    /// Spinners per running job; logs only of failed jobs.
    Live,
    /// `[job] line` logs on stderr.
    Plain,
    /// One JSON event per line on stdout.
    Json,
}

/// Renders events as they come.
pub enum Renderer {
    /// See [`Mode::Live`].
    Live(Live),
    /// See [`Mode::Plain`].
    Plain(BufWriter<Stderr>),
    /// See [`Mode::Json`].
    Json(BufWriter<Stdout>),
}

impl Renderer {
    /// A renderer for `mode`.
    pub fn new(mode: Mode) -> Renderer {
        match mode {
            Mode::Live => Renderer::Live(Live::new()),
            Mode::Plain => Renderer::Plain(BufWriter::with_capacity(64 * 1024, std::io::stderr())),
            Mode::Json => Renderer::Json(BufWriter::with_capacity(64 * 1024, std::io::stdout())),
        }
    }

    /// Shows one event; `view` already includes it, `job` is its job's index.
    pub fn event(&mut self, view: &RunView, job: Option<usize>, ev: &RunEvent) {
        match self {
            Renderer::Json(out) => {
                if let RunEvent::Lines {
                    job,
                    step,
                    stream,
                    text,
                } = ev
                {
                    // The public format stays one `log` event per line.
                    for line in text.split('\n') {
                        let _ = serde_json::to_writer(
                            &mut *out,
                            &LogLine {
                                kind: "log",
                                job,
                                step: *step,
                                stream: *stream,
                                line,
                            },
                        );
                        let _ = out.write_all(b"\n");
                    }
                } else {
                    let _ = serde_json::to_writer(&mut *out, ev);
                    let _ = out.write_all(b"\n");
                }
            }
            Renderer::Plain(out) => plain(out, view, job, ev),
            Renderer::Live(live) => live.event(view, job, ev),
        }
    }

    /// Flushes buffered output (called whenever the event queue is drained).
    pub fn flush(&mut self) {
        match self {
            Renderer::Json(out) => {
                let _ = out.flush();
            }
            Renderer::Plain(out) => {
                let _ = out.flush();
            }
            Renderer::Live(_) => {}
        }
    }

    /// Prints the summary at the end of a run.
    pub fn finish(&mut self, view: &RunView) {
        self.flush();
        match self {
            Renderer::Json(_) => {}
            Renderer::Plain(out) => {
                let _ = out.write_all(summary::render(view, false).as_bytes());
                let _ = out.flush();
            }
            Renderer::Live(live) => {
                live.mp.clear().ok();
                eprint!("{}", summary::render(view, true));
            }
        }
    }
}

fn plain(out: &mut BufWriter<Stderr>, view: &RunView, job: Option<usize>, ev: &RunEvent) {
    let Some(j) = job.map(|i| &view.jobs[i]) else {
        if let RunEvent::RunStarted {
            run,
            pipeline,
            event,
            ..
        } = ev
        {
            let _ = writeln!(out, "run #{run} of {pipeline} for a {} event", event.kind);
        }
        return;
    };
    let _ = match ev {
        RunEvent::JobStarted { attempt, .. } if *attempt > 1 => {
            writeln!(out, "[{}] started (attempt {attempt})", j.id)
        }
        RunEvent::JobStarted { .. } => writeln!(out, "[{}] started", j.id),
        RunEvent::StepStarted { name, .. } => writeln!(out, "[{}] $ {name}", j.id),
        RunEvent::Lines { text, .. } => {
            let prefix = format!("[{}] ", j.id);
            let bytes = text.as_bytes();
            let mut start = 0;
            for nl in memchr::memchr_iter(b'\n', bytes).chain(std::iter::once(bytes.len())) {
                let _ = out.write_all(prefix.as_bytes());
                let _ = out.write_all(&bytes[start..nl]);
                let _ = out.write_all(b"\n");
                start = nl + 1;
            }
            Ok(())
        }
        RunEvent::LinesSkipped { lines, bytes, .. } => writeln!(
            out,
            "[{}] … {lines} lines ({}) not shown: they came faster than this output was read; \
             `wharf logs {} {}` shows them",
            j.id,
            wharf_engine::cache::human(*bytes),
            view.run,
            j.id
        ),
        RunEvent::Warning { message, .. } => writeln!(out, "[{}] warning: {message}", j.id),
        RunEvent::JobFinished { status, .. } => {
            let time = j.elapsed(j.finished.unwrap_or(0)).map(duration);
            let mut text = format!("[{}] {} {status}", j.id, mark(*status));
            if let Some(t) = time {
                text.push_str(&format!(" in {t}"));
            }
            if let Some(r) = &j.reason {
                text.push_str(&format!(": {r}"));
            }
            writeln!(out, "{text}")
        }
        _ => Ok(()),
    };
}

/// The live terminal view.
pub struct Live {
    mp: MultiProgress,
    bars: HashMap<usize, ProgressBar>,
}

impl Live {
    fn new() -> Live {
        Live {
            mp: MultiProgress::with_draw_target(ProgressDrawTarget::stderr_with_hz(10)),
            bars: HashMap::new(),
        }
    }

    fn event(&mut self, view: &RunView, job: Option<usize>, ev: &RunEvent) {
        let Some(i) = job else {
            if let RunEvent::RunStarted {
                run,
                pipeline,
                event,
                ..
            } = ev
            {
                let _ = self.mp.println(format!(
                    "{} run #{run} of {pipeline} for a {} event",
                    style("wharf").bold(),
                    event.kind
                ));
            }
            return;
        };
        let j = &view.jobs[i];
        match ev {
            RunEvent::JobStarted { attempt, .. } => {
                let bar = self.mp.add(ProgressBar::new_spinner());
                bar.set_style(
                    ProgressStyle::with_template(
                        "{spinner:.cyan} {prefix:.bold} {elapsed:>4} {wide_msg:.dim}",
                    )
                    .expect("static template"),
                );
                let prefix = if *attempt > 1 {
                    format!("{} (attempt {attempt})", j.id)
                } else {
                    j.id.clone()
                };
                bar.set_prefix(prefix);
                bar.enable_steady_tick(Duration::from_millis(100));
                if let Some(old) = self.bars.insert(i, bar) {
                    old.finish_and_clear();
                }
            }
            RunEvent::JobWaiting { reason, .. } => {
                let bar = self.mp.add(ProgressBar::new_spinner());
                bar.set_style(
                    ProgressStyle::with_template(
                        "{spinner:.yellow} {prefix:.bold} {wide_msg:.dim}",
                    )
                    .expect("static template"),
                );
                bar.set_prefix(j.id.clone());
                bar.set_message(format!("waiting: {reason}"));
                bar.enable_steady_tick(Duration::from_millis(100));
                if let Some(old) = self.bars.insert(i, bar) {
                    old.finish_and_clear();
                }
            }
            RunEvent::Warning { message, .. } => {
                let _ = self.mp.println(format!(
                    "{} [{}] {message}",
                    style("warning:").yellow(),
                    j.id
                ));
            }
            RunEvent::StepStarted { name, step, .. } => {
                if let Some(bar) = self.bars.get(&i) {
                    bar.set_message(format!(
                        "[{}/{}] {}",
                        step + 1,
                        j.steps.len(),
                        table::ellipsize(name, 50)
                    ));
                }
            }
            RunEvent::JobFinished { status, .. } => {
                if let Some(bar) = self.bars.remove(&i) {
                    bar.finish_and_clear();
                }
                let colored = |s: String| match status {
                    s2 if s2.counts_as_success() => style(s).green().to_string(),
                    s2 if s2.fails_run() => style(s).red().to_string(),
                    _ => style(s).dim().to_string(),
                };
                let time = j
                    .elapsed(j.finished.unwrap_or(0))
                    .map(duration)
                    .unwrap_or_default();
                let mut line = format!(
                    "{} {} {}",
                    colored(mark(*status).to_string()),
                    style(&j.id).bold(),
                    style(time).dim()
                );
                if let Some(r) = &j.reason {
                    line.push_str(&format!("  {}", colored(r.clone())));
                }
                let _ = self.mp.println(line);
                if matches!(
                    status,
                    JobStatus::Failed | JobStatus::TimedOut | JobStatus::FailedAllowed
                ) {
                    for l in &j.tail {
                        let _ = self.mp.println(format!("    {} {l}", style("│").dim()));
                    }
                }
            }
            _ => {}
        }
    }
}
