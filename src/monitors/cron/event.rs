//! The issue event of a failing monitor: one error event per failure (error, missed, timeout)
//! from the one that opens an incident until it resolves, grouped per monitor and environment.
//!
//! The event is built as an SDK would send it and normalized by the same code, so it reads
//! like any other event on the issue page (message, environment, release, tags
//! `monitor.slug`, `monitor.id`, `check_in.status`, and a `monitor` context with the
//! configuration). Its grouping is not computed from the payload: kind `monitor`, values
//! `monitor:<id>` and `environment:<name>`. A client event cannot produce the `monitor` kind
//! (client fingerprints hash as `fingerprint`), so no SDK event joins a monitor's issue, and
//! renaming a monitor keeps its issue.

use serde_json::json;

use super::checkin::CheckInStatus;
use crate::grouping::Grouping;
use crate::monitors::own_event::own_event;
use crate::protocol::EventId;
use crate::store::{Monitor, NewEvent};

/// The grouping kind of monitor issues.
pub const GROUPING_KIND: &str = "monitor";

/// What a failure event says.
#[derive(Debug, Clone, Copy)]
pub struct Failure<'a> {
    /// The monitor.
    pub monitor: &'a Monitor,
    /// The environment's name.
    pub environment: &'a str,
    /// error, missed or timeout.
    pub status: CheckInStatus,
    /// The check-in id (32 hex).
    pub guid: &'a str,
    /// The whole sentence: "Cron monitor `nightly` (production) missed its check-in due …".
    pub summary: &'a str,
    /// The check-in's release, if any.
    pub release: Option<&'a str>,
    /// When it happened, epoch ms.
    pub at_ms: i64,
}

/// The grouping of a monitor environment's issue.
pub fn grouping(monitor_id: i64, environment: &str) -> Grouping {
    let values = vec![
        format!("monitor:{monitor_id}"),
        format!("environment:{environment}"),
    ];
    Grouping::of(GROUPING_KIND.to_owned(), values)
}

/// The event recording `f`, with a fresh event id.
pub fn failure_event(f: &Failure<'_>) -> NewEvent {
    let m = f.monitor;
    let raw = json!({
        "event_id": EventId::new_random().simple(),
        "timestamp": f.at_ms as f64 / 1000.0,
        "level": "error",
        "platform": "other",
        "logger": "errata.monitors",
        "message": f.summary.replace('`', ""),
        "environment": f.environment,
        "release": f.release,
        "tags": {
            "monitor.slug": m.slug,
            "monitor.id": m.id.to_string(),
            "check_in.status": f.status.as_str(),
        },
        "contexts": {
            "monitor": {
                "type": "monitor",
                "id": m.id,
                "slug": m.slug,
                "name": m.name,
                "config": m.config,
            },
            "check_in": {
                "type": "check_in",
                "id": f.guid,
                "status": f.status.as_str(),
            },
        },
    });
    own_event(
        m.project_id,
        raw,
        f.at_ms,
        format!("monitor {}", m.slug),
        grouping(m.id, f.environment),
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::grouping;
    use crate::monitors::cron::{MonitorConfig, Schedule};

    #[test]
    fn failure_events_group_per_monitor_and_environment() {
        let monitor = Monitor {
            id: 7,
            project_id: 1,
            slug: "nightly-backup".into(),
            name: "Nightly <b>backup</b>".into(),
            config: MonitorConfig::with_schedule(Schedule::crontab("0 2 * * *").unwrap()),
            is_paused: false,
            created_ms: 0,
            updated_ms: 0,
        };
        let f = Failure {
            monitor: &monitor,
            environment: "production",
            status: CheckInStatus::Missed,
            guid: "0123456789abcdef0123456789abcdef",
            summary: "Cron monitor `nightly-backup` (production) missed its check-in due 02:00 UTC",
            release: Some("app@1"),
            at_ms: 1_767_232_860_000,
        };
        let e = failure_event(&f);
        assert_eq!(
            e.fields.title,
            "Cron monitor nightly-backup (production) missed its check-in due 02:00 UTC"
        );
        assert_eq!(e.fields.level.as_str(), "error");
        assert_eq!(e.fields.environment.as_deref(), Some("production"));
        assert_eq!(e.grouping.kind, "monitor");
        assert!(e
            .fields
            .tags
            .contains(&("monitor.slug".into(), "nightly-backup".into())));
        let other = failure_event(&Failure {
            status: CheckInStatus::Error,
            summary: "Cron monitor `nightly-backup` (production) reported an error",
            ..f
        });
        assert_eq!(
            other.grouping.hash, e.grouping.hash,
            "one issue per environment"
        );
        assert_ne!(other.fields.event_id, e.fields.event_id);
        let staging = grouping(7, "staging");
        assert_ne!(staging.hash, e.grouping.hash);
        let client_like = grouping::hash("fingerprint", &e.grouping.values);
        assert_ne!(
            client_like, e.grouping.hash,
            "no client fingerprint reaches it"
        );
    }
}
