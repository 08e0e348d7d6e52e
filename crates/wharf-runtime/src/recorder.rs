//! The consumer of a run's events: each goes to the front end's [`Observer`] as it comes
//! (to show it) and to the store in time-windowed batches (to keep it).

use std::sync::Arc;
use std::time::Duration;

use tokio::sync::mpsc;
use wharf_model::RunEvent;
use wharf_store::RunStore;

/// What a front end does with a run's events: show them. Called in order, on one task;
/// it must not block for long (the terminal, a JSON line, a server's SSE fan-out).
pub trait Observer: Send + 'static {
    /// One event, as it happens.
    fn event(&mut self, ev: &RunEvent);
    /// After a batch of events: a good moment to flush output.
    fn flush(&mut self) {}
    /// After the run's last event.
    fn finish(&mut self) {}
    /// A problem of the runtime itself that the user should hear about (the history could
    /// not be written).
    fn warn(&mut self, text: &str);
}

/// How long the recorder gathers events that show no result (a job or step started)
/// before writing them in one transaction. An event that shows a result (a step or job
/// finished, an artifact stored, a release, the run's end) is written at once, and shown
/// only once written: a result on screen is a result in the store, even if wharf is killed
/// the next moment. Per-event transactions would cost more than a whole step, so the
/// results that arrive together share one.
const RECORD_WINDOW: Duration = Duration::from_millis(100);

/// How long the recorder waits between batches of events when output is light.
const DISPLAY_BATCH: Duration = Duration::from_millis(5);

/// Below this many events in a batch, output counts as light.
const LIGHT_BATCH: usize = 256;

/// The display thread's nice value (Linux sets it per thread).
const DISPLAY_NICE: i32 = 10;

/// What the recorder hands the display thread.
enum Show {
    Events(Vec<RunEvent>),
    Warn(String),
}

/// Records a run's events in the store and has them shown by `observer`, on a thread of
/// its own: a display that blocks (a slow terminal, a paused pipe) never holds up the
/// record, and the lines it has not shown yet are capped by `text_pool`'s budget.
pub(crate) async fn consume<S: RunStore>(
    mut rx: mpsc::UnboundedReceiver<RunEvent>,
    store: S,
    run: u64,
    observer: Box<dyn Observer>,
    engine_done: Arc<tokio::sync::Notify>,
    text_pool: Arc<wharf_engine::logs::TextPool>,
) {
    let (show, shown) = std::sync::mpsc::channel::<Show>();
    // A thread of its own, not one of the runtime's blocking pool: its priority is
    // lowered below, and a pool thread would keep that for whatever it runs next.
    let display = std::thread::Builder::new()
        .name("wharf-display".into())
        .spawn(move || display(observer, shown, &text_pool));
    // To be written in the next transaction.
    let mut pending: Vec<RunEvent> = Vec::with_capacity(256);
    let mut flush_at: Option<tokio::time::Instant> = None;
    let mut warned = false;
    let mut renew = tokio::time::interval_at(
        tokio::time::Instant::now() + wharf_store::lease::RENEW_EVERY,
        wharf_store::lease::RENEW_EVERY,
    );
    loop {
        tokio::select! {
            _ = renew.tick() => {
                // The run is ours for another lease: recovery on another host leaves it.
                let until = wharf_engine::now_ms() + wharf_store::lease::LEASE_MS;
                if let Err(e) = store.renew_lease(run, until).await
                    && !warned
                {
                    warned = true;
                    let _ = show.send(Show::Warn(format!("could not renew run #{run}'s lease: {e}")));
                }
            }
            ev = rx.recv() => {
                let Some(first) = ev else { break };
                // Shown at once, and shown only after this batch's transaction: a result
                // and everything after it (the display keeps the engine's order).
                let mut ready = Vec::new();
                let mut held = Vec::new();
                let mut next = Some(first);
                let mut n = 0;
                let mut ended = false;
                while let Some(ev) = next.take() {
                    ended |= matches!(ev, RunEvent::RunFinished { .. });
                    let result = shows_result(&ev);
                    if is_recorded(&ev) {
                        pending.push(ev.clone());
                    }
                    if result || !held.is_empty() {
                        held.push(ev);
                    } else {
                        ready.push(ev);
                    }
                    n += 1;
                    if n < 65_536 {
                        next = rx.try_recv().ok();
                    }
                }
                if !ready.is_empty() {
                    let _ = show.send(Show::Events(ready));
                }
                if !held.is_empty() {
                    record(&store, run, &mut pending, &mut warned, &show).await;
                    flush_at = None;
                    let _ = show.send(Show::Events(held));
                } else if !pending.is_empty() && flush_at.is_none() {
                    flush_at = Some(tokio::time::Instant::now() + RECORD_WINDOW);
                }
                // Let events pile up a little: waking this task for every event of every
                // job costs the engine a cross-thread hand-off each time, and 5 ms is
                // below what a person watching can notice. Never after the last event.
                // Only when output is light: under a flood of log lines the batches are
                // large anyway.
                if !ended && n < LIGHT_BATCH {
                    tokio::select! {
                        _ = tokio::time::sleep(DISPLAY_BATCH) => {}
                        _ = engine_done.notified() => {}
                    }
                }
            }
            _ = tokio::time::sleep_until(flush_at.unwrap_or_else(tokio::time::Instant::now)), if flush_at.is_some() => {
                record(&store, run, &mut pending, &mut warned, &show).await;
                flush_at = None;
            }
        }
    }
    record(&store, run, &mut pending, &mut warned, &show).await;
    drop(show);
    if let Ok(display) = display {
        let _ = tokio::task::spawn_blocking(move || display.join()).await;
    }
}

/// Whether the store keeps anything of `ev` (lines live in log files; the run's start
/// was written when the run was created).
fn is_recorded(ev: &RunEvent) -> bool {
    !matches!(
        ev,
        RunEvent::Lines { .. } | RunEvent::LinesSkipped { .. } | RunEvent::RunStarted { .. }
    )
}

/// Whether `ev` shows an outcome someone may act on: it is written before it is shown.
fn shows_result(ev: &RunEvent) -> bool {
    is_recorded(ev)
        && !matches!(
            ev,
            RunEvent::JobStarted { .. } | RunEvent::StepStarted { .. }
        )
}

/// The display thread: shows what the recorder hands over, flushing whenever it has
/// caught up, and gives each shown text back to the pool (and its budget).
fn display(
    mut observer: Box<dyn Observer>,
    shown: std::sync::mpsc::Receiver<Show>,
    pool: &wharf_engine::logs::TextPool,
) {
    // Below the steps and the log writer when the cores are busy: a display that falls
    // behind skips lines (and says so), the log file never waits for it.
    let _ = rustix::process::setpriority_process(Some(rustix::thread::gettid()), DISPLAY_NICE);
    let handle = |item: Show, observer: &mut Box<dyn Observer>| match item {
        Show::Warn(text) => observer.warn(&text),
        Show::Events(events) => {
            for ev in events {
                observer.event(&ev);
                if let RunEvent::Lines { text, .. } = ev {
                    pool.shown(text);
                }
            }
        }
    };
    while let Ok(first) = shown.recv() {
        handle(first, &mut observer);
        while let Ok(more) = shown.try_recv() {
            handle(more, &mut observer);
        }
        observer.flush();
    }
    observer.finish();
}

async fn record<S: RunStore>(
    store: &S,
    run: u64,
    pending: &mut Vec<RunEvent>,
    warned: &mut bool,
    show: &std::sync::mpsc::Sender<Show>,
) {
    if pending.is_empty() {
        return;
    }
    if let Err(e) = store.record(run, pending).await
        && !*warned
    {
        *warned = true;
        let _ = show.send(Show::Warn(format!(
            "could not record run #{run} in the history: {e}"
        )));
    }
    pending.clear();
}
