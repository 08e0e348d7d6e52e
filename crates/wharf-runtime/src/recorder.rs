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

/// How long the recorder gathers events before writing them in one transaction. A crash
/// loses at most this much of the run's record (its logs are already on disk, and the run
/// is marked interrupted on the next start); per-event transactions would cost more than
/// a whole step.
const RECORD_WINDOW: Duration = Duration::from_millis(100);

/// How long the display waits between batches of events when output is light.
const DISPLAY_BATCH: Duration = Duration::from_millis(5);

/// Below this many events in a batch, output counts as light.
const LIGHT_BATCH: usize = 256;

/// Shows events as they come and records them in the store in time-windowed batches.
pub(crate) async fn consume<S: RunStore>(
    mut rx: mpsc::UnboundedReceiver<RunEvent>,
    store: S,
    run: u64,
    mut observer: Box<dyn Observer>,
    engine_done: Arc<tokio::sync::Notify>,
    text_pool: Arc<wharf_engine::logs::TextPool>,
) {
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
                if let Err(e) = store.renew_lease(run, until).await && !warned {
                    warned = true;
                    observer.warn(&format!("could not renew run #{run}'s lease: {e}"));
                }
            }
            ev = rx.recv() => {
                let Some(first) = ev else { break };
                let mut next = Some(first);
                let mut n = 0;
                let mut ended = false;
                while let Some(ev) = next.take() {
                    ended |= matches!(ev, RunEvent::RunFinished { .. });
                    observer.event(&ev);
                    match ev {
                        // Shown; the buffer goes back to the engine.
                        RunEvent::Lines { text, .. } => text_pool.give(text),
                        ev => pending.push(ev),
                    }
                    n += 1;
                    if n < 65_536 {
                        next = rx.try_recv().ok();
                    }
                }
                observer.flush();
                if !pending.is_empty() && flush_at.is_none() {
                    flush_at = Some(tokio::time::Instant::now() + RECORD_WINDOW);
                }
                // Let events pile up a little: waking this task for every event of every
                // job costs the engine a cross-thread hand-off each time, and 5 ms is
                // below what a person watching can notice. Never after the last event.
                // Only when output is light: under a flood of log lines the batches are
                // large anyway, and sleeping would let the queue grow without bound.
                if !ended && n < LIGHT_BATCH {
                    tokio::select! {
                        _ = tokio::time::sleep(DISPLAY_BATCH) => {}
                        _ = engine_done.notified() => {}
                    }
                }
            }
            _ = tokio::time::sleep_until(flush_at.unwrap_or_else(tokio::time::Instant::now)), if flush_at.is_some() => {
                record(&store, run, &mut pending, &mut warned, &mut *observer).await;
                flush_at = None;
            }
        }
    }
    record(&store, run, &mut pending, &mut warned, &mut *observer).await;
    observer.finish();
}

async fn record<S: RunStore>(
    store: &S,
    run: u64,
    pending: &mut Vec<RunEvent>,
    warned: &mut bool,
    observer: &mut dyn Observer,
) {
    if pending.is_empty() {
        return;
    }
    if let Err(e) = store.record(run, pending).await
        && !*warned
    {
        *warned = true;
        observer.warn(&format!("could not record run #{run} in the history: {e}"));
    }
    pending.clear();
}
