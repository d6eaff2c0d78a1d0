//! Per-project rate limits (spike protection): at most N events per minute, counted in
//! fixed windows of the server's clock (a minute starts at each whole minute).
//!
//! Counted in this server's memory, so the check costs a lock and a map update per event.
//! With several servers on one PostgreSQL database each counts its own share: a limit of N
//! lets up to N events per minute through each server (documented in the README).

use std::collections::HashMap;
use std::sync::Mutex;

use crate::clock::{MINUTE_MS, SECOND_MS};

/// The event counts of the current window, per project.
#[derive(Debug, Default)]
pub struct RateWindows {
    counts: Mutex<HashMap<i64, (i64, u64)>>,
}

impl RateWindows {
    /// Counts one event of `project_id` against `limit` per minute at `now_ms`. `Err` holds
    /// the seconds until the window ends (at least 1), for `Retry-After`; a refused event is
    /// not counted.
    pub fn admit(&self, project_id: i64, limit: u64, now_ms: i64) -> Result<(), u64> {
        let window = now_ms.div_euclid(MINUTE_MS);
        let Ok(mut counts) = self.counts.lock() else {
            return Ok(());
        };
        let entry = counts.entry(project_id).or_insert((window, 0));
        if entry.0 != window {
            *entry = (window, 0);
        }
        if entry.1 >= limit {
            let left_ms = (window + 1) * MINUTE_MS - now_ms;
            let secs = (left_ms + SECOND_MS - 1) / SECOND_MS;
            return Err(secs.max(1).unsigned_abs());
        }
        entry.1 += 1;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_window_admits_the_limit_then_refuses_until_the_next_minute() {
        let w = RateWindows::default();
        let t = 100 * MINUTE_MS + 15 * SECOND_MS;
        assert_eq!(w.admit(1, 2, t), Ok(()));
        assert_eq!(w.admit(1, 2, t), Ok(()));
        assert_eq!(w.admit(1, 2, t), Err(45));
        assert_eq!(w.admit(1, 2, t + 44_500), Err(1));
        assert_eq!(w.admit(2, 2, t), Ok(()), "other projects count apart");
        assert_eq!(w.admit(1, 2, 101 * MINUTE_MS), Ok(()));
        assert_eq!(w.admit(1, 0, t), Err(45), "a limit of 0 refuses everything");
    }
}
