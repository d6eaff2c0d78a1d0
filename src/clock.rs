//! The one clock of the server, and its time constants.
//!
//! Everything driven by time (schedules, missed check-ins, retention, rate windows,
//! notification backoff) reads "now" from a [`Clock`] handed to it, never from the system
//! directly, so that tests can move time forward by days in microseconds: a
//! [`Clock::manual`] clock only moves when a test calls [`Clock::advance`] or
//! [`Clock::set_ms`], and [`Clock::sleep`] on it wakes as soon as the test moves it past
//! the deadline. Time is epoch milliseconds (`i64`), the unit of every stored timestamp.

use std::sync::atomic::{AtomicI64, Ordering};
use std::sync::Arc;
use std::time::Duration;

use tokio::sync::watch;

/// One second, in milliseconds.
pub const SECOND_MS: i64 = 1_000;
/// One minute, in milliseconds.
pub const MINUTE_MS: i64 = 60 * SECOND_MS;
/// One hour, in milliseconds.
pub const HOUR_MS: i64 = 60 * MINUTE_MS;
/// One day (24 hours), in milliseconds.
pub const DAY_MS: i64 = 24 * HOUR_MS;

/// A source of "now". Cheap to clone; clones of a manual clock share its time.
#[derive(Clone, Debug, Default)]
pub struct Clock {
    manual: Option<Arc<Manual>>,
}

#[derive(Debug)]
struct Manual {
    now_ms: AtomicI64,
    /// Bumped on every change so that sleepers re-check their deadline.
    changed: watch::Sender<i64>,
}

impl Clock {
    /// The system's wall clock (the default).
    pub fn system() -> Clock {
        Clock { manual: None }
    }

    /// A clock that stands still at `start_ms` (epoch ms) until moved by
    /// [`Clock::advance`] or [`Clock::set_ms`]. For tests.
    pub fn manual(start_ms: i64) -> Clock {
        let (changed, _) = watch::channel(start_ms);
        Clock {
            manual: Some(Arc::new(Manual {
                now_ms: AtomicI64::new(start_ms),
                changed,
            })),
        }
    }

    /// True for a [`Clock::manual`] clock.
    pub fn is_manual(&self) -> bool {
        self.manual.is_some()
    }

    /// Now, epoch milliseconds.
    pub fn now_ms(&self) -> i64 {
        match &self.manual {
            Some(m) => m.now_ms.load(Ordering::SeqCst),
            None => system_now_ms(),
        }
    }

    /// Moves a manual clock forward by `by` and wakes its sleepers; no effect on the
    /// system clock.
    pub fn advance(&self, by: Duration) {
        let ms = i64::try_from(by.as_millis()).unwrap_or(i64::MAX);
        if let Some(m) = &self.manual {
            let now = m.now_ms.fetch_add(ms, Ordering::SeqCst).saturating_add(ms);
            m.changed.send_replace(now);
        }
    }

    /// Sets a manual clock to `ms` (epoch ms, may go backwards) and wakes its sleepers; no
    /// effect on the system clock.
    pub fn set_ms(&self, ms: i64) {
        if let Some(m) = &self.manual {
            m.now_ms.store(ms, Ordering::SeqCst);
            m.changed.send_replace(ms);
        }
    }

    /// Waits until this clock reads at least `deadline_ms`. On the system clock this is a
    /// timer; on a manual clock it returns as soon as the clock is moved past the deadline
    /// (and never otherwise).
    pub async fn sleep_until(&self, deadline_ms: i64) {
        match &self.manual {
            None => {
                let wait = deadline_ms.saturating_sub(system_now_ms()).max(0);
                tokio::time::sleep(Duration::from_millis(wait as u64)).await;
            }
            Some(m) => {
                let mut rx = m.changed.subscribe();
                while m.now_ms.load(Ordering::SeqCst) < deadline_ms {
                    if rx.changed().await.is_err() {
                        // The clock is gone with every handle but ours: it can never move.
                        std::future::pending::<()>().await;
                    }
                }
            }
        }
    }

    /// Waits for `d` of this clock's time (see [`Clock::sleep_until`]).
    pub async fn sleep(&self, d: Duration) {
        let ms = i64::try_from(d.as_millis()).unwrap_or(i64::MAX);
        self.sleep_until(self.now_ms().saturating_add(ms)).await;
    }
}

/// The system's wall clock, epoch milliseconds. Only for code that has no [`Clock`] to ask
/// (the moment an event is received, log lines); anything scheduled takes a [`Clock`].
pub fn system_now_ms() -> i64 {
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap_or_default();
    i64::try_from(now.as_millis()).unwrap_or(i64::MAX)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn system_clock_reads_the_wall_clock() {
        let c = Clock::system();
        let a = system_now_ms();
        let b = c.now_ms();
        assert!((b - a).abs() < 5 * SECOND_MS);
        c.advance(Duration::from_secs(3600));
        assert!(
            c.now_ms() - a < 5 * SECOND_MS,
            "advance moves only manual clocks"
        );
    }

    #[test]
    fn manual_clock_moves_only_when_told() {
        let c = Clock::manual(1_000);
        let shared = c.clone();
        assert_eq!(c.now_ms(), 1_000);
        shared.advance(Duration::from_secs(2));
        assert_eq!(c.now_ms(), 3_000);
        c.set_ms(DAY_MS);
        assert_eq!(shared.now_ms(), DAY_MS);
    }

    #[tokio::test]
    async fn manual_sleep_wakes_when_time_passes_the_deadline() {
        let c = Clock::manual(0);
        let sleeper = {
            let c = c.clone();
            tokio::spawn(async move { c.sleep_until(60 * SECOND_MS).await })
        };
        c.advance(Duration::from_secs(30));
        tokio::task::yield_now().await;
        assert!(!sleeper.is_finished());
        c.advance(Duration::from_secs(30));
        tokio::time::timeout(Duration::from_secs(5), sleeper)
            .await
            .expect("sleeper woke")
            .expect("joined");
    }
}
