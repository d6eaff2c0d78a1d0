//! Errata's own issue events: a cron monitor's failure or an uptime check going down is
//! stored as an event of the monitor's project, through the same writer as an SDK's.

use serde_json::Value;

use crate::grouping::Grouping;
use crate::ingest::items::new_event;
use crate::normalize::{self, NormalizeContext};
use crate::store::NewEvent;

/// The writer's row for event `raw` of `project_id`, made by Errata at `at_ms` (epoch ms):
/// normalized as an SDK's event would be (its timestamp is the server's, so unbounded),
/// with `culprit` and `grouping` chosen by the caller and no user.
pub fn own_event(
    project_id: i64,
    raw: Value,
    at_ms: i64,
    culprit: String,
    grouping: Grouping,
) -> NewEvent {
    let n = normalize::normalize(
        raw,
        &NormalizeContext {
            received_ms: at_ms,
            envelope_event_id: None,
            client_ip: None,
            timestamp_bounds: normalize::TimestampBounds::UNBOUNDED,
        },
    );
    // Without the project's dictionary: these events are rare, and read back like any other.
    let mut event = new_event(project_id, n, grouping, None);
    event.fields.culprit = Some(culprit);
    event.fields.user_key = None;
    event
}
