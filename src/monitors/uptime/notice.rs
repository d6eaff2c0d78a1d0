//! What the messages about an uptime check say:
//!
//! * down: "DOWN: https://shop.example.com/healthz — 503 Service Unavailable (2 checks, since
//!   14:03:12 UTC)", with the check's name, URL, expected status, since when and the last
//!   success;
//! * up: "UP: https://shop.example.com/healthz is up again after 7 min 12 s", with the cause;
//! * certificate: "CERTIFICATE EXPIRING: TLS certificate of https://… expires in 3 days
//!   (2026-01-13 00:00:00 UTC)", once per certificate.
//!
//! Times are UTC (a check has no time zone of its own).

use time::macros::format_description;
use time::OffsetDateTime;

use crate::clock::DAY_MS;
use crate::monitors::incident::{duration_words, IncidentFacts, IncidentState};
use crate::notify::message::issue_link;
use crate::store::{Incident, NotificationItem, Store, StoreError};

fn at(ms: i64) -> OffsetDateTime {
    OffsetDateTime::from_unix_timestamp_nanos(i128::from(ms) * 1_000_000)
        .unwrap_or(OffsetDateTime::UNIX_EPOCH)
}

/// `14:03:12 UTC`.
pub fn clock_time(ms: i64) -> String {
    let f = format_description!("[hour]:[minute]:[second] UTC");
    at(ms).format(&f).unwrap_or_default()
}

/// `2026-01-10 14:03:12 UTC`.
pub fn date_time(ms: i64) -> String {
    let f = format_description!("[year]-[month]-[day] [hour]:[minute]:[second] UTC");
    at(ms).format(&f).unwrap_or_default()
}

/// "TLS certificate of https://… expires in 3 days (2026-01-13 00:00:00 UTC)" at `now`.
pub fn certificate_sentence(url: &str, not_after_ms: i64, now: i64) -> String {
    let left = not_after_ms.saturating_sub(now);
    if left <= 0 {
        return format!(
            "TLS certificate of {url} expired on {}",
            date_time(not_after_ms)
        );
    }
    let days = left / DAY_MS;
    let when = match days {
        0 => "within a day".to_owned(),
        1 => "in 1 day".to_owned(),
        n => format!("in {n} days"),
    };
    format!(
        "TLS certificate of {url} expires {when} ({})",
        date_time(not_after_ms)
    )
}

fn check_link(base_url: &str, check_id: i64) -> String {
    format!("{}/uptime/{check_id}", base_url.trim_end_matches('/'))
}

/// The facts of a message about `incident` (an uptime one) in `state`, for project
/// `project`, linking under `base_url`; `None` when its check is gone.
pub async fn facts(
    store: &Store,
    incident: &Incident,
    state: IncidentState,
    project: &str,
    base_url: &str,
) -> Result<Option<IncidentFacts>, StoreError> {
    let check = match store.uptime_check(incident.source_id).await {
        Ok(c) => c,
        Err(StoreError::NotFound) => return Ok(None),
        Err(e) => return Err(e),
    };
    let url = &check.config.url;
    let (failures, first) = store
        .uptime_failures_between(check.id, incident.last_ok_ms, incident.opened_ms)
        .await?;
    let since = first.unwrap_or(incident.opened_ms);
    let checks = match failures.max(1) {
        1 => "1 check".to_owned(),
        n => format!("{n} checks"),
    };
    let (label, summary) = match (state, incident.resolved_ms) {
        (IncidentState::Resolved, Some(resolved)) => (
            "UP",
            format!(
                "{url} is up again after {}",
                duration_words(resolved.saturating_sub(since))
            ),
        ),
        _ => (
            "DOWN",
            format!(
                "{url} — {} ({checks}, since {})",
                incident.reason,
                clock_time(since)
            ),
        ),
    };
    let mut fields = vec![
        ("Project".to_owned(), project.to_owned()),
        ("Check".to_owned(), check.config.name.clone()),
        ("URL".to_owned(), url.clone()),
        ("Down since".to_owned(), date_time(since)),
    ];
    if let (IncidentState::Resolved, Some(resolved)) = (state, incident.resolved_ms) {
        fields.push(("Up again".to_owned(), date_time(resolved)));
        fields.push(("Cause".to_owned(), incident.reason.clone()));
    } else {
        fields.push((
            "Expected".to_owned(),
            check.config.expected_status.to_string(),
        ));
    }
    fields.push((
        "Last success".to_owned(),
        incident
            .last_ok_ms
            .map_or_else(|| "never".to_owned(), date_time),
    ));
    Ok(Some(IncidentFacts {
        state,
        label,
        what: "check",
        project: project.to_owned(),
        summary,
        fields,
        link: check_link(base_url, check.id),
        issue_link: incident.issue_id.map(|id| issue_link(base_url, id)),
    }))
}

/// The facts of a `certificate_expiring` outbox row's message; `None` when its check or
/// certificate is gone.
pub async fn certificate_facts(
    store: &Store,
    item: &NotificationItem,
    project: &str,
    base_url: &str,
) -> Result<Option<IncidentFacts>, StoreError> {
    let Some(cert) = store
        .uptime_certificate_by_event(item.project_id, &item.event_id)
        .await?
    else {
        return Ok(None);
    };
    let check = match store.uptime_check(cert.check_id).await {
        Ok(c) => c,
        Err(StoreError::NotFound) => return Ok(None),
        Err(e) => return Err(e),
    };
    let warned = cert.warned_ms.unwrap_or(item.created_ms);
    Ok(Some(IncidentFacts {
        state: IncidentState::Warning,
        label: "CERTIFICATE EXPIRING",
        what: "check",
        project: project.to_owned(),
        summary: certificate_sentence(&check.config.url, cert.not_after_ms, warned),
        fields: vec![
            ("Project".to_owned(), project.to_owned()),
            ("Check".to_owned(), check.config.name.clone()),
            ("URL".to_owned(), check.config.url.clone()),
            ("Subject".to_owned(), cert.subject.clone()),
            ("Expires".to_owned(), date_time(cert.not_after_ms)),
            ("SHA-256".to_owned(), cert.sha256.clone()),
        ],
        link: check_link(base_url, check.id),
        issue_link: Some(issue_link(base_url, item.issue_id)),
    }))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn certificate_sentences_count_days() {
        let now = 1_768_003_200_000; // 2026-01-10T00:00:00Z
        assert_eq!(
            certificate_sentence("https://a.example/", now + 3 * DAY_MS + 5, now),
            "TLS certificate of https://a.example/ expires in 3 days (2026-01-13 00:00:00 UTC)"
        );
        assert!(certificate_sentence("https://a/", now - 1, now).contains("expired on"));
        assert!(certificate_sentence("https://a/", now + 60_000, now).contains("within a day"));
        assert_eq!(
            clock_time(now + 14 * 3_600_000 + 3 * 60_000 + 12_000),
            "14:03:12 UTC"
        );
    }
}
