//! Items accepted and not stored: why, and telling the user once an hour.
//!
//! Every dropped item counts in `errata_items_dropped_total{type}`. The first one of a type in
//! a project also logs one INFO line naming the type, the project and what to do about it
//! ("attachment items are not stored yet: …"), then that type stays quiet in that project for an
//! hour of [`Clock`](crate::clock::Clock) time: a user whose attachments never show up can
//! find out why, and an SDK sending a session with every event cannot fill the log.

use std::borrow::Cow;
use std::collections::HashMap;
use std::sync::Mutex;

use crate::clock::HOUR_MS;

use super::ItemContext;

/// Why items of a type are dropped: the rest of the sentence "`<type>` items are …".
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Dropped {
    /// Completes "`<type>` items are …"; says what the user can do about it.
    pub why: &'static str,
}

pub(super) const ATTACHMENT: Dropped = Dropped {
    why: "not stored yet: events are stored without their attachments",
};
pub(super) const PERFORMANCE: Dropped = Dropped {
    why: "not stored: Errata does no performance monitoring; set traces_sample_rate to 0 \
          (tracesSampleRate in JavaScript) to stop sending them",
};
pub(super) const RELEASE_HEALTH: Dropped = Dropped {
    why: "not stored: Errata has no release health; turn off the SDK's session tracking \
          (auto_session_tracking=False in Python, autoSessionTracking: false in JavaScript) \
          to stop sending them",
};
pub(super) const CLIENT_REPORT: Dropped = Dropped {
    why: "not stored: they count what the SDK discarded itself; send_client_reports=False \
          (sendClientReports: false in JavaScript) stops them",
};
pub(super) const LOGS: Dropped = Dropped {
    why: "not stored: Errata does not collect logs; turn off the SDK's logs (enable_logs, \
          enableLogs) to stop sending them",
};
pub(super) const PROFILING: Dropped = Dropped {
    why: "not stored: Errata does no profiling; set profiles_sample_rate to 0 \
          (profilesSampleRate in JavaScript) to stop sending them",
};
pub(super) const REPLAY: Dropped = Dropped {
    why: "not stored: Errata does not store session replays; remove the Replay integration \
          to stop sending them",
};
pub(super) const METRICS: Dropped = Dropped {
    why: "not stored: Errata does not collect metrics; turn off the SDK's metrics to stop \
          sending them",
};
pub(super) const UNKNOWN: Dropped = Dropped {
    why: "not supported by this version of Errata and are dropped",
};

/// Counts a dropped item and logs it when its type has not been logged in this project for
/// an hour. `label` is the metric's `type` (the table's name, or `unknown`); `name` is the type
/// as sent, which the log line names.
pub(super) fn record(cx: &ItemContext<'_>, label: &'static str, name: &str, dropped: Dropped) {
    metrics::counter!("errata_items_dropped_total", "type" => label).increment(1);
    let item_type: Cow<'static, str> = if label == super::UNKNOWN.0 {
        Cow::Owned(printable(name))
    } else {
        Cow::Borrowed(label)
    };
    let now_ms = cx.app.clock.now_ms();
    if cx
        .app
        .items
        .notices
        .due(now_ms, cx.project_id, item_type.clone(), dropped)
    {
        tracing::info!(
            project_id = cx.project_id,
            item_type = %item_type,
            "{item_type} items are {} (said once an hour per project; \
             errata_items_dropped_total counts every one)",
            dropped.why
        );
    }
}

/// A client's type name made safe for one log line: at most 64 characters, anything but
/// letters, digits, `_`, `-` and `.` shown as `?`.
fn printable(name: &str) -> String {
    name.chars()
        .take(64)
        .map(|c| {
            if c.is_ascii_alphanumeric() || matches!(c, '_' | '-' | '.') {
                c
            } else {
                '?'
            }
        })
        .collect()
}

/// Most (project, type, reason) notices remembered at once. Past it, notices that are more
/// than an hour old are forgotten; if none are, new ones are not logged (still counted) until
/// some are: a client inventing type names cannot grow memory or flood the log.
const MAX_NOTICES: usize = 4096;

/// Key of a notice: project id, item type, reason.
type NoticeKey = (i64, Cow<'static, str>, &'static str);

/// When each (project, item type, reason) was last logged, epoch ms. Holds at most 4,096
/// notices (`MAX_NOTICES`).
#[derive(Debug, Default)]
pub struct DropNotices {
    logged_at: Mutex<HashMap<NoticeKey, i64>>,
}

impl DropNotices {
    /// True, and remembered as logged at `now_ms`, when this notice is due: never logged, or
    /// logged an hour or more before `now_ms`.
    pub fn due(
        &self,
        now_ms: i64,
        project_id: i64,
        item_type: Cow<'static, str>,
        dropped: Dropped,
    ) -> bool {
        let Ok(mut logged_at) = self.logged_at.lock() else {
            return false;
        };
        let key = (project_id, item_type, dropped.why);
        if let Some(at) = logged_at.get_mut(&key) {
            if now_ms.saturating_sub(*at) < HOUR_MS {
                return false;
            }
            *at = now_ms;
            return true;
        }
        if logged_at.len() >= MAX_NOTICES {
            logged_at.retain(|_, at| now_ms.saturating_sub(*at) < HOUR_MS);
            if logged_at.len() >= MAX_NOTICES {
                return false;
            }
        }
        logged_at.insert(key, now_ms);
        true
    }

    /// How many notices are remembered.
    pub fn len(&self) -> usize {
        self.logged_at.lock().map(|m| m.len()).unwrap_or(0)
    }

    /// True when no notice is remembered.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const T0: i64 = 1_700_000_000_000;

    #[test]
    fn once_per_project_type_and_hour() {
        let notices = DropNotices::default();
        let check_in = || Cow::Borrowed("check_in");
        assert!(notices.due(T0, 1, check_in(), ATTACHMENT));
        assert!(!notices.due(T0 + 1, 1, check_in(), ATTACHMENT));
        assert!(
            notices.due(T0 + 1, 2, check_in(), ATTACHMENT),
            "another project"
        );
        assert!(notices.due(T0 + 1, 1, Cow::Borrowed("span"), PERFORMANCE));
        assert!(!notices.due(T0 + HOUR_MS - 1, 1, check_in(), ATTACHMENT));
        assert!(notices.due(T0 + HOUR_MS, 1, check_in(), ATTACHMENT));
        assert!(!notices.due(T0 + HOUR_MS + 1, 1, check_in(), ATTACHMENT));
        // A clock set back does not log again before an hour has passed since the last line.
        assert!(!notices.due(T0, 1, check_in(), ATTACHMENT));
    }

    #[test]
    fn memory_is_bounded_and_old_notices_make_room() {
        let notices = DropNotices::default();
        for i in 0..MAX_NOTICES {
            let name = Cow::Owned(format!("made_up_{i}"));
            assert!(notices.due(T0, 1, name, UNKNOWN));
        }
        let late = || Cow::Borrowed("check_in");
        assert!(
            !notices.due(T0 + 1, 1, late(), ATTACHMENT),
            "full: not logged"
        );
        assert_eq!(notices.len(), MAX_NOTICES);
        assert!(
            notices.due(T0 + HOUR_MS, 1, late(), ATTACHMENT),
            "old ones forgotten"
        );
        assert_eq!(notices.len(), 1);
    }

    #[test]
    fn client_type_names_are_made_printable() {
        assert_eq!(printable("trace_metric"), "trace_metric");
        assert_eq!(printable("a\nb\u{1b}[31mc"), "a?b??31mc");
        assert_eq!(printable(&"x".repeat(500)).len(), 64);
    }
}
