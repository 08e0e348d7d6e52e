//! Blocking work over many items (files to copy, hash or restore) on every core.

use std::sync::Mutex;
use std::sync::atomic::{AtomicUsize, Ordering};

/// Below this many items one thread does the work: threads cost more than they save.
const MIN_ITEMS: usize = 64;

/// Items a worker takes at a time.
const CHUNK: usize = 16;

/// Runs `f` on every item, on up to 8 threads for long lists; stops at the first error and
/// returns it.
pub(crate) fn for_each<T: Sync, E: Send>(
    items: &[T],
    f: impl Fn(&T) -> Result<(), E> + Sync,
) -> Result<(), E> {
    let workers = if items.len() < MIN_ITEMS {
        1
    } else {
        std::thread::available_parallelism().map_or(1, |n| n.get().min(8))
    };
    let next = AtomicUsize::new(0);
    let failed: Mutex<Option<E>> = Mutex::new(None);
    let work = || {
        loop {
            let start = next.fetch_add(CHUNK, Ordering::Relaxed);
            if start >= items.len() {
                return;
            }
            for item in &items[start..(start + CHUNK).min(items.len())] {
                if let Err(e) = f(item) {
                    failed
                        .lock()
                        .unwrap_or_else(|p| p.into_inner())
                        .get_or_insert(e);
                    next.store(items.len(), Ordering::Relaxed);
                    return;
                }
            }
        }
    };
    if workers == 1 {
        work();
    } else {
        std::thread::scope(|s| {
            for _ in 1..workers {
                s.spawn(work);
            }
            work();
        });
    }
    match failed.into_inner().unwrap_or_else(|p| p.into_inner()) {
        Some(e) => Err(e),
        None => Ok(()),
    }
}
