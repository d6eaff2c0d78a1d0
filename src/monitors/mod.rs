//! Monitors: Errata watches scheduled work and tells admins when it stops or fails.
//!
//! * [`incident`]: what every kind of monitor shares: counting consecutive failures and
//!   successes against thresholds, incidents that open and resolve, the issue that shows a
//!   failing monitor, and the facts of the messages that tell admins.
//! * [`cron`]: cron monitors, Sentry-compatible: `check_in` envelope items and HTTP check-ins
//!   create and update monitors and record check-ins; the monitor clock (a maintenance job)
//!   records `missed` and `timeout` check-ins.
//!
//! * [`own_event`]: the issue event Errata stores for a failing monitor.
//! * [`uptime`]: uptime checks: HTTP requests the server makes every interval, each result
//!   stored, down and up as incidents, certificate-expiry warnings.
//!
//! Metrics: `errata_checkins_total{status}` (check-ins recorded, by status, on the server
//! that recorded them), `errata_monitors_failing` (monitor environments with an open
//! incident) and `errata_uptime_down` (uptime checks with an open incident), both read from
//! the database when `/metrics` is scraped, so every server agrees; the uptime runner's own
//! metrics are described in [`uptime`].

pub mod cron;
pub mod incident;
pub mod own_event;
pub mod uptime;

use crate::store::{NotificationItem, Store, StoreError, Trigger};

/// The facts of the message about an incident outbox row (`incident_opened` or
/// `incident_resolved`), in project `project`, linking under `base_url`; `None` when the
/// incident or what it watched is gone (the delivery is then skipped).
pub async fn incident_facts(
    store: &Store,
    item: &NotificationItem,
    project: &str,
    base_url: &str,
) -> Result<Option<incident::IncidentFacts>, StoreError> {
    let state = match item.trigger {
        Trigger::IncidentResolved => incident::IncidentState::Resolved,
        Trigger::CertificateExpiring => {
            return uptime::notice::certificate_facts(store, item, project, base_url).await
        }
        _ => incident::IncidentState::Opened,
    };
    let Some(found) = store
        .incident_by_event(item.project_id, &item.event_id)
        .await?
    else {
        return Ok(None);
    };
    match found.source {
        incident::IncidentSource::Cron => {
            cron::notice::facts(store, &found, state, project, base_url).await
        }
        incident::IncidentSource::Uptime => {
            uptime::notice::facts(store, &found, state, project, base_url).await
        }
    }
}

/// Sets the `errata_monitors_failing` gauge from the database (called by `/metrics`).
pub async fn refresh_gauges(store: &Store) -> Result<(), StoreError> {
    let failing = store
        .open_incident_count(incident::IncidentSource::Cron)
        .await?;
    metrics::gauge!("errata_monitors_failing").set(failing as f64);
    let down = store
        .open_incident_count(incident::IncidentSource::Uptime)
        .await?;
    metrics::gauge!("errata_uptime_down").set(down as f64);
    Ok(())
}

/// Describes the monitor metrics once.
pub fn describe_metrics() {
    metrics::describe_counter!(
        "errata_checkins_total",
        "cron monitor check-ins recorded, by status (in_progress, ok, error, unknown, missed, timeout)"
    );
    metrics::describe_gauge!(
        "errata_monitors_failing",
        "cron monitor environments with an open incident"
    );
    uptime::describe_metrics();
}
