//! A storage outage as ingestion sees it (issue #24, items 10 and 11): the requests refused
//! with 503 because the database cannot take events (disk full, database file lost, WAL over
//! its limit, database down), and the first event stored again.
//!
//! It logs a change of state once (ERROR when refusals start, with the cause; INFO when an
//! event is stored again, with how long and how many), and while the outage lasts a WARN
//! summary at most once a minute (count and last cause), instead of a line per refused
//! request. `/readyz` asks [`Outage::recent`] whether storage failed lately.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Mutex;

use crate::clock::{Clock, MINUTE_MS};

/// The outage state of one server.
#[derive(Debug)]
pub struct Outage {
    clock: Clock,
    /// Mirrors `state.since` being set, so that the common case (no outage) takes no lock.
    failing: AtomicBool,
    state: Mutex<State>,
}

#[derive(Debug, Default)]
struct State {
    /// When the outage began (epoch ms); `None` while storage works.
    since: Option<i64>,
    last_failure: i64,
    last_summary: i64,
    refused: u64,
    refused_since_summary: u64,
    last_cause: String,
}

impl Outage {
    /// No outage, on `clock`.
    pub fn new(clock: Clock) -> Outage {
        Outage {
            clock,
            failing: AtomicBool::new(false),
            state: Mutex::new(State::default()),
        }
    }

    /// A request was refused (503) because of `cause`.
    pub fn refused(&self, cause: &dyn std::fmt::Display) {
        let now = self.clock.now_ms();
        let mut s = self.lock();
        s.last_failure = now;
        s.last_cause = cause.to_string();
        s.refused += 1;
        s.refused_since_summary += 1;
        let Some(since) = s.since else {
            s.since = Some(now);
            s.last_summary = now;
            s.refused = 1;
            s.refused_since_summary = 0;
            self.failing.store(true, Ordering::Release);
            tracing::error!(
                cause = %s.last_cause,
                "storage unavailable: ingestion answers 503 with Retry-After until an event can be stored again"
            );
            return;
        };
        if now - s.last_summary >= MINUTE_MS {
            tracing::warn!(
                refused = s.refused_since_summary,
                outage_secs = (now - since) / 1000,
                last_cause = %s.last_cause,
                "storage still unavailable: requests refused in the last minute"
            );
            s.last_summary = now;
            s.refused_since_summary = 0;
        }
    }

    /// An event was stored: ends an outage, if one was going on.
    pub fn stored(&self) {
        if !self.failing.load(Ordering::Acquire) {
            return;
        }
        let now = self.clock.now_ms();
        let mut s = self.lock();
        if let Some(since) = s.since.take() {
            self.failing.store(false, Ordering::Release);
            tracing::info!(
                outage_secs = (now - since) / 1000,
                refused = s.refused,
                "storage available again: events are stored"
            );
        }
    }

    /// The cause of the latest refusal when storage is failing and refused a request within
    /// the last `window_ms`; `None` otherwise.
    pub fn recent(&self, window_ms: i64) -> Option<String> {
        if !self.failing.load(Ordering::Acquire) {
            return None;
        }
        let s = self.lock();
        (s.since.is_some() && self.clock.now_ms() - s.last_failure < window_ms)
            .then(|| s.last_cause.clone())
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, State> {
        self.state
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::clock::SECOND_MS;
    use std::time::Duration;

    #[test]
    fn an_outage_is_recent_until_a_quiet_window_or_a_stored_event() {
        let clock = Clock::manual(1_000_000);
        let outage = Outage::new(clock.clone());
        assert_eq!(outage.recent(30 * SECOND_MS), None);
        outage.refused(&"disk full");
        outage.refused(&"disk still full");
        assert_eq!(
            outage.recent(30 * SECOND_MS).as_deref(),
            Some("disk still full")
        );
        clock.advance(Duration::from_secs(31));
        assert_eq!(outage.recent(30 * SECOND_MS), None, "no refusal lately");
        outage.refused(&"disk full");
        assert!(outage.recent(30 * SECOND_MS).is_some());
        outage.stored();
        assert_eq!(outage.recent(30 * SECOND_MS), None);
    }
}
