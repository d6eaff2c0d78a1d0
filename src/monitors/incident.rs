//! Incidents: a period during which something Errata watches is failing. Not specific to cron
//! monitors: a monitor environment is one source, an uptime check will be another.
//!
//! * **Counting** ([`Tally`]): each result of the watched thing is a success or a failure.
//!   After `failures` consecutive failures an incident *opens*; while it is open, after
//!   `recoveries` consecutive successes it *resolves*. A failure resets the success count and
//!   the other way round, so a flapping job that never reaches either threshold changes
//!   nothing.
//! * **Storage** (`incidents`, `src/store/incidents.rs`): one row per incident with its source
//!   (`cron` + the monitor environment's id), when it opened and resolved, the failure that
//!   opened it in words, the last success before it, and the issue and event that show it.
//!   A partial unique index allows one open incident per source, so opening is exactly-once
//!   even with several servers.
//! * **Issue**: the failure that opens an incident, and every later failure while it is open,
//!   is recorded as an error event grouped per source (for cron: per monitor and environment),
//!   through the normal event path, so a failing job shows in the issue list, search and
//!   regressions. Resolving the incident resolves the issue; the next incident then reopens it
//!   as a regression.
//! * **Notifications**: opening writes an `incident_opened` outbox row and resolving an
//!   `incident_resolved` one, in the same transaction, so they go through the same channels,
//!   retries, storm control and dead letters as issue notifications. The issue's own
//!   `new_issue`/`regression` rows for these events are marked `skipped` in that transaction:
//!   admins hear about a failing job once, from the incident message, which says more (what
//!   was missed, the schedule, the last good run) than an issue message could. Ignoring the
//!   issue silences its incidents' messages too (the fan-out skips ignored issues).
//!
//! The messages themselves are [`IncidentFacts`], made by the source ([`super::cron`]) and
//! rendered by every channel kind (`src/notify/channel/`).

use std::fmt::Write as _;

use serde::Serialize;

use crate::store::{MonitorTx, NewEvent, NewIncident, StoreError};

/// The outbox kind of an opened incident.
pub const OPENED_KIND: &str = "incident_opened";
/// The outbox kind of a resolved incident.
pub const RESOLVED_KIND: &str = "incident_resolved";

/// What an incident is about.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum IncidentSource {
    /// A cron monitor's environment (`source_id` = `monitor_environments.monitor_environment_id`).
    Cron,
    /// An uptime check (`source_id` = `uptime_checks.uptime_check_id`).
    Uptime,
}

impl IncidentSource {
    /// Every source.
    pub const ALL: [IncidentSource; 2] = [IncidentSource::Cron, IncidentSource::Uptime];

    /// The stored name.
    pub fn as_str(self) -> &'static str {
        match self {
            IncidentSource::Cron => "cron",
            IncidentSource::Uptime => "uptime",
        }
    }
}

/// How many results in a row open and resolve an incident (each at least 1).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Thresholds {
    /// Consecutive failures that open an incident.
    pub failures: i64,
    /// Consecutive successes that resolve it.
    pub recoveries: i64,
}

/// The consecutive-result counters of one watched thing.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Tally {
    /// Failures since the last success.
    pub failures: i64,
    /// Successes since the last failure.
    pub successes: i64,
}

/// What a result does to the incident.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Step {
    /// Nothing changes.
    Stay,
    /// An incident opens now.
    Open,
    /// A failure while the incident is open (it stays open).
    StillFailing,
    /// The open incident resolves now.
    Resolve,
}

impl Tally {
    /// Counts one result (`failed`) given whether an incident is open, and says what it does.
    pub fn record(&mut self, failed: bool, open: bool, thresholds: Thresholds) -> Step {
        if failed {
            self.failures = self.failures.saturating_add(1);
            self.successes = 0;
            if open {
                Step::StillFailing
            } else if self.failures >= thresholds.failures.max(1) {
                Step::Open
            } else {
                Step::Stay
            }
        } else {
            self.successes = self.successes.saturating_add(1);
            self.failures = 0;
            if open && self.successes >= thresholds.recoveries.max(1) {
                Step::Resolve
            } else {
                Step::Stay
            }
        }
    }
}

/// What failed or recovered, as [`apply`] takes it.
#[derive(Debug, Clone, Copy)]
pub struct Watched {
    /// Its project.
    pub project_id: i64,
    /// Its kind.
    pub source: IncidentSource,
    /// Its row id.
    pub source_id: i64,
    /// Its open incident, if any.
    pub incident_id: Option<i64>,
    /// Its last success, epoch ms.
    pub last_ok_ms: Option<i64>,
}

/// A failure to record on the watched thing's issue: the event (built by the source) and
/// what went wrong in words (the incident's `reason` when it opens one).
#[derive(Debug)]
pub struct Failure {
    /// The issue event.
    pub event: NewEvent,
    /// "missed its check-in due 02:00 Europe/Berlin".
    pub reason: String,
}

/// Carries out `step` in `tx` at `now` (see the module docs): [`Step::Open`] opens an
/// incident with `failure`'s event as its issue and an `incident_opened` outbox row;
/// [`Step::StillFailing`] records `failure`'s event on the open incident's issue;
/// [`Step::Resolve`] resolves the incident and its issue with an `incident_resolved` row.
/// Returns the open incident afterwards (`None` once resolved) and the id of the event
/// recorded, if any. A failing step without a `failure` records nothing.
pub async fn apply(
    tx: &mut MonitorTx,
    step: Step,
    watched: &Watched,
    failure: Option<Failure>,
    now: i64,
) -> Result<(Option<i64>, Option<String>), StoreError> {
    match (step, failure) {
        (Step::Stay, _) | (Step::Open | Step::StillFailing, None) => {
            Ok((watched.incident_id, None))
        }
        (Step::Open | Step::StillFailing, Some(f)) => {
            let event_id = f.event.fields.event_id.simple();
            let incident_id = match step {
                Step::Open => {
                    tx.open_incident(&NewIncident {
                        project_id: watched.project_id,
                        source: watched.source,
                        source_id: watched.source_id,
                        opened_ms: now,
                        reason: &f.reason,
                        last_ok_ms: watched.last_ok_ms,
                        event_id: &event_id,
                    })
                    .await?
                }
                _ => watched.incident_id,
            };
            let outcome = tx.record_event(f.event, now).await?;
            if let Some(id) = incident_id {
                // A deleted issue gets a new one with the next failure: follow it.
                if tx.incident(id).await?.issue_id != Some(outcome.issue_id) {
                    tx.set_incident_issue(id, outcome.issue_id).await?;
                }
                if step == Step::Open {
                    let incident = tx.incident(id).await?;
                    tx.notify_incident(OPENED_KIND, &incident, now).await?;
                }
            }
            Ok((incident_id, Some(event_id)))
        }
        (Step::Resolve, _) => {
            if let Some(id) = watched.incident_id {
                if tx.resolve_incident(id, now).await? {
                    let incident = tx.incident(id).await?;
                    if let Some(issue_id) = incident.issue_id {
                        tx.resolve_issue(issue_id, now).await?;
                        tx.notify_incident(RESOLVED_KIND, &incident, now).await?;
                    }
                }
            }
            Ok((None, None))
        }
    }
}

/// Whether a message says an incident opened or resolved, or warns about something that
/// still works (an uptime check's certificate about to expire).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum IncidentState {
    /// It started failing.
    Opened,
    /// It recovered.
    Resolved,
    /// It works, but will not for long.
    Warning,
}

/// Everything a notification about an incident says, made by its source and rendered by the
/// channel kinds.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct IncidentFacts {
    /// Opened, resolved or a warning.
    pub state: IncidentState,
    /// What the source calls the state in subjects and headers: `FAILING`/`RECOVERED` (cron
    /// monitors), `DOWN`/`UP`/`CERTIFICATE EXPIRING` (uptime checks).
    pub label: &'static str,
    /// What [`IncidentFacts::link`] opens, for link texts: `monitor`, `check`.
    pub what: &'static str,
    /// Project name.
    pub project: String,
    /// The whole story in one sentence: "Cron monitor `nightly-backup` (production) missed
    /// its check-in due 02:00 Europe/Berlin" / "… is OK again after 2 h 5 min".
    pub summary: String,
    /// Labelled facts in display order (`Schedule`, `Failing since`, `Last good run`, …).
    pub fields: Vec<(String, String)>,
    /// The watched thing's page.
    pub link: String,
    /// The issue that shows the incident, if any.
    pub issue_link: Option<String>,
}

impl IncidentFacts {
    /// `FAILING`, `RECOVERED`, `DOWN`, …: the label in subjects and headers.
    pub fn label(&self) -> &'static str {
        self.label
    }

    /// `[checkout] FAILING: Cron monitor nightly-backup (production) missed …`, on one line.
    pub fn subject(&self) -> String {
        let line = |s: &str| s.split(['\r', '\n']).collect::<Vec<_>>().join(" ");
        format!(
            "[{}] {}: {}",
            line(&self.project),
            self.label(),
            line(&self.summary).replace('`', "")
        )
    }
}

/// A duration in words for messages: `45 s`, `7 min 12 s`, `2 h 5 min`, `3 days 4 h`.
pub fn duration_words(ms: i64) -> String {
    let secs = ms.max(0) / 1000;
    let (days, hours, mins, s) = (secs / 86_400, secs / 3600 % 24, secs / 60 % 60, secs % 60);
    let mut out = String::new();
    if days > 0 {
        let _ = write!(out, "{days} day{}", if days == 1 { "" } else { "s" });
        if hours > 0 {
            let _ = write!(out, " {hours} h");
        }
    } else if hours > 0 {
        let _ = write!(out, "{hours} h");
        if mins > 0 {
            let _ = write!(out, " {mins} min");
        }
    } else if mins > 0 {
        let _ = write!(out, "{mins} min");
        if s > 0 {
            let _ = write!(out, " {s} s");
        }
    } else {
        let _ = write!(out, "{s} s");
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    const TWO_AND_TWO: Thresholds = Thresholds {
        failures: 2,
        recoveries: 2,
    };

    #[test]
    fn thresholds_open_and_resolve() {
        let mut t = Tally::default();
        assert_eq!(t.record(true, false, TWO_AND_TWO), Step::Stay);
        assert_eq!(t.record(false, false, TWO_AND_TWO), Step::Stay, "reset");
        assert_eq!(t.record(true, false, TWO_AND_TWO), Step::Stay);
        assert_eq!(t.record(true, false, TWO_AND_TWO), Step::Open);
        assert_eq!(t.record(true, true, TWO_AND_TWO), Step::StillFailing);
        assert_eq!(t.record(false, true, TWO_AND_TWO), Step::Stay);
        assert_eq!(
            t.record(true, true, TWO_AND_TWO),
            Step::StillFailing,
            "flap"
        );
        assert_eq!(t.record(false, true, TWO_AND_TWO), Step::Stay);
        assert_eq!(t.record(false, true, TWO_AND_TWO), Step::Resolve);
        assert_eq!(
            t,
            Tally {
                failures: 0,
                successes: 2
            }
        );
        let once = Thresholds {
            failures: 1,
            recoveries: 1,
        };
        let mut t = Tally::default();
        assert_eq!(t.record(true, false, once), Step::Open);
        assert_eq!(t.record(false, true, once), Step::Resolve);
    }

    #[test]
    fn durations_read_like_people_write_them() {
        assert_eq!(duration_words(45_000), "45 s");
        assert_eq!(duration_words(432_000), "7 min 12 s");
        assert_eq!(duration_words(7_500_000), "2 h 5 min");
        assert_eq!(duration_words(3 * 86_400_000 + 4 * 3_600_000), "3 days 4 h");
        assert_eq!(duration_words(-5), "0 s");
    }

    #[test]
    fn subjects_are_one_line() {
        let f = IncidentFacts {
            state: IncidentState::Opened,
            label: "FAILING",
            what: "monitor",
            project: "shop\nx".into(),
            summary: "Cron monitor `nightly` (production) missed\r\nits check-in".into(),
            fields: vec![],
            link: "http://e/monitors/1".into(),
            issue_link: None,
        };
        assert_eq!(
            f.subject(),
            "[shop x] FAILING: Cron monitor nightly (production) missed  its check-in"
        );
    }
}
