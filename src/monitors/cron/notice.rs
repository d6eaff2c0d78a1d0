//! What a notification about a cron monitor's incident says: "Cron monitor `nightly-backup`
//! (production) missed its check-in due 02:00 Europe/Berlin", the schedule, when it started
//! failing, the last good run and links to the monitor and its issue; then "… is OK again
//! after 2 h 5 min".

use super::process::subject;
use super::schedule::local_datetime;
use crate::monitors::incident::{duration_words, IncidentFacts, IncidentState};
use crate::store::{Incident, Store, StoreError};

/// The facts of a message about `incident` (a cron one) in `state`, for project `project`,
/// linking under `base_url`; `None` when its monitor is gone.
pub async fn facts(
    store: &Store,
    incident: &Incident,
    state: IncidentState,
    project: &str,
    base_url: &str,
) -> Result<Option<IncidentFacts>, StoreError> {
    let Some(env) = store.monitor_environment(incident.source_id).await? else {
        return Ok(None);
    };
    let monitor = match store.monitor(env.monitor_id).await {
        Ok(m) => m,
        Err(StoreError::NotFound) => return Ok(None),
        Err(e) => return Err(e),
    };
    let zone = monitor.config.timezone;
    let at = |ms: i64| local_datetime(ms, zone);
    let who = subject(&monitor.slug, &env.environment);
    let summary = match (state, incident.resolved_ms) {
        (IncidentState::Resolved, Some(resolved)) => format!(
            "{who} is OK again after {} of failure",
            duration_words(resolved.saturating_sub(incident.opened_ms))
        ),
        _ => format!("{who} {}", incident.reason),
    };
    let mut fields = vec![
        ("Project".to_owned(), project.to_owned()),
        ("Monitor".to_owned(), monitor.name.clone()),
        ("Environment".to_owned(), env.environment.clone()),
        (
            "Schedule".to_owned(),
            monitor.config.schedule.describe(zone),
        ),
        ("Failing since".to_owned(), at(incident.opened_ms)),
    ];
    if let (IncidentState::Resolved, Some(resolved)) = (state, incident.resolved_ms) {
        fields.push(("Recovered".to_owned(), at(resolved)));
        fields.push(("Cause".to_owned(), incident.reason.clone()));
    }
    fields.push((
        "Last good run".to_owned(),
        incident.last_ok_ms.map_or_else(|| "never".to_owned(), at),
    ));
    let base = base_url.trim_end_matches('/');
    Ok(Some(IncidentFacts {
        state,
        label: match state {
            IncidentState::Resolved => "RECOVERED",
            _ => "FAILING",
        },
        what: "monitor",
        project: project.to_owned(),
        summary,
        fields,
        link: format!("{base}/monitors/{}", monitor.id),
        issue_link: incident
            .issue_id
            .map(|id| crate::notify::message::issue_link(base, id)),
    }))
}
