//! CPU-heavy steps of ingestion (decompressing, framing a large envelope, parsing and
//! normalizing a large event) run on tokio's blocking pool, never on the async workers that
//! also answer `/healthz` and everyone else's small requests; and at most one fewer at once
//! than there are cores (at least one).
//!
//! The blocking pool alone is not enough: it grows to hundreds of threads, and hundreds of
//! decoders or parsers sharing two cores leave the async workers a sliver of them and hold
//! a decoder's window (up to 16 MiB for brotli) each. With a bounded number of slots, the
//! rest wait in line (first come, first served), holding only what the budget already
//! charged them.
//!
//! One core is left out because heavy steps never run out of work while large events keep
//! coming, and the async workers, which parse and process every small event inline, would
//! otherwise share all cores with them: on two cores, under 2,000 senders of 800 KB events,
//! one slot instead of two let ordinary 12 KB events through at 0.50-0.59 of their rate alone
//! instead of 0.27-0.32, for a quarter to a third less throughput of large events
//! (bench/README.md).

use std::sync::Arc;

use tokio::sync::Semaphore;

use super::error::IngestError;

/// Memory that processing an event takes beside its JSON, as a multiple of the JSON's size: the
/// `Value` tree, the normalized event and the re-serialized payload before compression.
pub const WORKING_COPIES: usize = 3;

/// Slots for heavy steps: one fewer than the cores (at least one).
#[derive(Debug)]
pub struct Heavy {
    slots: Arc<Semaphore>,
    max: usize,
}

impl Heavy {
    /// One slot fewer than the cores the process may use, at least one.
    pub fn new() -> Heavy {
        let cores = std::thread::available_parallelism().map_or(2, |n| n.get());
        Heavy::with_slots(slots_for(cores))
    }

    /// `slots` heavy steps at once (at least one).
    pub fn with_slots(slots: usize) -> Heavy {
        Heavy {
            slots: Arc::new(Semaphore::new(slots.max(1))),
            max: slots.max(1),
        }
    }

    /// How many heavy steps run at once.
    pub fn slots(&self) -> usize {
        self.max
    }

    /// Runs `work` on the blocking pool once a slot is free; the slot is held until `work`
    /// returns, even if the request that asked for it is gone. Errors: 500 if `work` panicked.
    pub async fn run<T, F>(&self, what: &'static str, work: F) -> Result<T, IngestError>
    where
        T: Send + 'static,
        F: FnOnce() -> T + Send + 'static,
    {
        let slot = self
            .slots
            .clone()
            .acquire_owned()
            .await
            .map_err(|_| IngestError::Internal(format!("{what}: no slots")))?;
        tokio::task::spawn_blocking(move || {
            let _slot = slot;
            work()
        })
        .await
        .map_err(|e| IngestError::Internal(format!("{what} task failed: {e}")))
    }
}

/// Slots for `cores` cores: all but one, which stays with the async workers.
fn slots_for(cores: usize) -> usize {
    cores.saturating_sub(1).max(1)
}

impl Default for Heavy {
    fn default() -> Heavy {
        Heavy::new()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::atomic::{AtomicUsize, Ordering};

    #[test]
    fn one_core_is_left_to_the_async_workers() {
        assert_eq!(slots_for(1), 1);
        assert_eq!(slots_for(2), 1);
        assert_eq!(slots_for(8), 7);
    }

    #[tokio::test]
    async fn no_more_steps_run_at_once_than_there_are_slots() {
        let heavy = Arc::new(Heavy::with_slots(2));
        let running = Arc::new(AtomicUsize::new(0));
        let most = Arc::new(AtomicUsize::new(0));
        let mut tasks = Vec::new();
        for _ in 0..8 {
            let (heavy, running, most) = (heavy.clone(), running.clone(), most.clone());
            tasks.push(tokio::spawn(async move {
                heavy
                    .run("test", move || {
                        let now = running.fetch_add(1, Ordering::SeqCst) + 1;
                        most.fetch_max(now, Ordering::SeqCst);
                        std::thread::sleep(std::time::Duration::from_millis(20));
                        running.fetch_sub(1, Ordering::SeqCst);
                    })
                    .await
            }));
        }
        for t in tasks {
            t.await.unwrap().unwrap();
        }
        assert_eq!(most.load(Ordering::SeqCst), 2);
    }
}
