//! The issue events of uptime checks, built as an SDK would send them and normalized by the
//! same code as every event, like a cron monitor's ([`crate::monitors::cron::event`]):
//!
//! * a **failure** (each failing result from the one that takes the check down until it is up
//!   again): level `error`, message "DOWN: https://… — 503 Service Unavailable", tags
//!   `uptime_check.id`, `uptime.error`, `url.host`; grouped by kind `uptime`, value
//!   `uptime:<id>` (one issue per check, whatever its URL becomes);
//! * a **certificate warning**: level `warning`, "TLS certificate of https://… expires on …";
//!   grouped by kind `uptime-certificate`, value `uptime:<id>` (one issue per check).
//!
//! Client fingerprints hash as kind `fingerprint`, so no SDK event joins these issues.

use serde_json::{json, Value};

use super::probe::CertInfo;
use super::ErrorClass;
use crate::grouping::Grouping;
use crate::monitors::own_event::own_event;
use crate::protocol::EventId;
use crate::store::{NewEvent, UptimeCheck};

/// The grouping kind of a down check's issue.
pub const GROUPING_KIND: &str = "uptime";
/// The grouping kind of a check's certificate issue.
pub const CERTIFICATE_GROUPING_KIND: &str = "uptime-certificate";

/// The grouping of check `check_id`'s issue of `kind`.
pub fn grouping(kind: &str, check_id: i64) -> Grouping {
    Grouping::of(kind.to_owned(), vec![format!("uptime:{check_id}")])
}

fn build(check: &UptimeCheck, raw: Value, at_ms: i64, kind: &str) -> NewEvent {
    own_event(
        check.project_id,
        raw,
        at_ms,
        format!("uptime check {}", check.config.name),
        grouping(kind, check.id),
    )
}

fn host(check: &UptimeCheck) -> String {
    url::Url::parse(&check.config.url)
        .ok()
        .and_then(|u| u.host_str().map(str::to_owned))
        .unwrap_or_default()
}

/// The event of a failing result: `message` is the whole sentence.
pub fn failure_event(
    check: &UptimeCheck,
    class: ErrorClass,
    status_code: Option<u16>,
    message: &str,
    at_ms: i64,
) -> NewEvent {
    let c = &check.config;
    let raw = json!({
        "event_id": EventId::new_random().simple(),
        "timestamp": at_ms as f64 / 1000.0,
        "level": "error",
        "platform": "other",
        "logger": "errata.uptime",
        "message": message,
        "tags": {
            "uptime_check.id": check.id.to_string(),
            "uptime.error": class.as_str(),
            "url.host": host(check),
        },
        "contexts": {
            "uptime_check": {
                "type": "uptime_check",
                "id": check.id,
                "name": c.name,
                "url": c.url,
                "method": c.method.as_str(),
                "expected_status": c.expected_status.to_string(),
                "status_code": status_code,
                "error": class.as_str(),
            },
        },
    });
    build(check, raw, at_ms, GROUPING_KIND)
}

/// The warning event of a certificate that expires soon.
pub fn certificate_event(
    check: &UptimeCheck,
    cert: &CertInfo,
    message: &str,
    at_ms: i64,
) -> NewEvent {
    let raw = json!({
        "event_id": EventId::new_random().simple(),
        "timestamp": at_ms as f64 / 1000.0,
        "level": "warning",
        "platform": "other",
        "logger": "errata.uptime",
        "message": message,
        "tags": {
            "uptime_check.id": check.id.to_string(),
            "url.host": host(check),
        },
        "contexts": {
            "certificate": {
                "type": "certificate",
                "subject": cert.subject,
                "sha256": cert.sha256,
                "not_after": crate::timefmt::rfc3339_ms(cert.not_after_ms),
            },
        },
    });
    build(check, raw, at_ms, CERTIFICATE_GROUPING_KIND)
}
