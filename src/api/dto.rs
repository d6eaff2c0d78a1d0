//! JSON shapes of the read API.

use serde_json::{json, Value};

use crate::store::{EventSummary, Issue, StoredEvent};
use crate::timefmt::rfc3339_ms;

/// An issue: `id, project_id, title, culprit, level, status, first_seen, last_seen (RFC 3339),
/// count, user_count, is_regression, fingerprint (hex), last_release, environments,
/// grouping_kind, assignee` (the assignee's e-mail or null), `status_details` (`{}` or the
/// condition, `crate::triage::StatusDetails::wire`).
pub fn issue_json(i: &Issue) -> Value {
    json!({
        "id": i.id,
        "project_id": i.project_id,
        "title": i.title,
        "culprit": i.culprit,
        "level": i.level,
        "status": i.status,
        "first_seen": rfc3339_ms(i.first_seen_ms),
        "last_seen": rfc3339_ms(i.last_seen_ms),
        "count": i.count,
        "user_count": i.user_count,
        "is_regression": i.is_regression,
        "fingerprint": i.fingerprint,
        "last_release": i.last_release,
        "environments": i.environments,
        "grouping_kind": i.grouping_kind,
        "assignee": i.assignee.as_ref().map(|a| a.email.as_str()),
        "status_details": i.status_details.as_ref().map_or_else(|| json!({}), |d| d.wire()),
    })
}

/// One row of an issue's event list.
pub fn event_summary_json(e: &EventSummary) -> Value {
    json!({
        "event_id": e.event_id,
        "issue_id": e.issue_id,
        "timestamp": rfc3339_ms(e.timestamp_ms),
        "received": rfc3339_ms(e.received_ms),
        "level": e.level,
        "title": e.title,
        "release": e.release,
        "environment": e.environment,
    })
}

/// A full event: `{event_id, project_id, issue_id, grouping: {version, kind, hash, values},
/// event: <normalized event JSON>}`.
pub fn stored_event_json(e: &StoredEvent) -> Value {
    json!({
        "event_id": e.summary.event_id,
        "project_id": e.summary.project_id,
        "issue_id": e.summary.issue_id,
        "timestamp": rfc3339_ms(e.summary.timestamp_ms),
        "received": rfc3339_ms(e.summary.received_ms),
        "grouping": {
            "version": e.grouping_version,
            "kind": e.grouping_kind,
            "hash": e.grouping_hash,
            "values": e.grouping_values,
        },
        "event": e.payload,
    })
}
