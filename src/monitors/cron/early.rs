//! Finishing check-ins that overtook the check-in creating their monitor.
//!
//! The SDKs' monitor wrappers (`Sentry.withMonitor`, `sentry_sdk.monitor`) send the job's
//! `in_progress` check-in with the `monitor_config` and its `ok`/`error` check-in without it,
//! as two requests that may be in flight at once. For a job that fails at once on its first
//! run, the `error` can reach the server first, when the monitor does not exist yet; dropping
//! it (as Sentry does) would leave the job's only check-in `in_progress` until it times out.
//! So such a check-in (a finished status and its own `check_in_id`) is held here for
//! [`HOLD_MS`], and applied right after a check-in with a `monitor_config` creates that
//! check-in. Held check-ins live in this server's memory only: with several servers the two
//! requests may meet different servers, and then it is dropped as before.

use std::collections::HashMap;
use std::sync::Mutex;

use super::CheckIn;

/// How long a finishing check-in waits for its monitor, ms.
pub const HOLD_MS: i64 = 60_000;
/// At most this many check-ins are held at once (per server); beyond it, new ones are dropped.
pub const MAX_HELD: usize = 1_000;

/// Finishing check-ins waiting for the check-in that creates their monitor, keyed by project
/// and check-in id (32 hex).
#[derive(Debug, Default)]
pub struct EarlyFinishes {
    held: Mutex<HashMap<(i64, String), (CheckIn, i64)>>,
}

impl EarlyFinishes {
    /// Holds `checkin` of `project_id`, received at `now` (epoch ms), if it can wait: it
    /// finishes a check-in it names by id, and there is room. False when it cannot (the caller
    /// drops it).
    pub fn hold(&self, project_id: i64, checkin: &CheckIn, now: i64) -> bool {
        let Some(id) = checkin.check_in_id else {
            return false;
        };
        if !checkin.status.is_final() {
            return false;
        }
        let mut held = self.lock();
        let expired = held.len();
        held.retain(|_, (_, at)| now.saturating_sub(*at) < HOLD_MS);
        let expired = expired - held.len();
        if expired > 0 {
            metrics::counter!("errata_items_dropped_total", "type" => "check_in")
                .increment(expired as u64);
        }
        if held.len() >= MAX_HELD {
            return false;
        }
        held.insert(
            (project_id, id.simple().to_string()),
            (checkin.clone(), now),
        );
        true
    }

    /// The check-in held for `guid` (32 hex) of `project_id`, if one came less than
    /// [`HOLD_MS`] before `now`; it is no longer held.
    pub fn take(&self, project_id: i64, guid: &str, now: i64) -> Option<CheckIn> {
        let (checkin, at) = self.lock().remove(&(project_id, guid.to_owned()))?;
        (now.saturating_sub(at) < HOLD_MS).then_some(checkin)
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<(i64, String), (CheckIn, i64)>> {
        // A panic while holding the lock leaves a consistent map: recover it.
        self.held.lock().unwrap_or_else(|e| e.into_inner())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn checkin(status: &str, id: Option<&str>) -> CheckIn {
        let mut v = serde_json::json!({"monitor_slug": "job", "status": status});
        if let Some(id) = id {
            v["check_in_id"] = id.into();
        }
        CheckIn::from_json(&v).expect("valid")
    }

    const ID: &str = "0123456789abcdef0123456789abcdef";

    #[test]
    fn a_finished_check_in_with_an_id_is_held_until_taken_or_expired() {
        let early = EarlyFinishes::default();
        assert!(early.hold(1, &checkin("error", Some(ID)), 1_000));
        assert_eq!(early.take(2, ID, 1_000), None, "another project's");
        assert_eq!(
            early.take(1, ID, 2_000).map(|c| c.monitor_slug),
            Some("job".into())
        );
        assert_eq!(early.take(1, ID, 2_000), None, "taken once");

        assert!(early.hold(1, &checkin("ok", Some(ID)), 1_000));
        assert_eq!(early.take(1, ID, 1_000 + HOLD_MS), None, "expired");
    }

    #[test]
    fn running_or_anonymous_check_ins_are_not_held_nor_more_than_the_bound() {
        let early = EarlyFinishes::default();
        assert!(!early.hold(1, &checkin("in_progress", Some(ID)), 0));
        assert!(!early.hold(1, &checkin("error", None), 0));
        for i in 0..MAX_HELD {
            let id = format!("{:032x}", i + 1);
            assert!(early.hold(1, &checkin("ok", Some(&id)), 0));
        }
        assert!(!early.hold(1, &checkin("ok", Some(ID)), 1));
        assert!(
            early.hold(1, &checkin("ok", Some(ID)), HOLD_MS),
            "the old ones expired"
        );
    }
}
