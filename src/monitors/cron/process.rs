//! Recording check-ins: one [`MonitorTx`] per check-in that creates or updates the monitor,
//! stores or finishes the check-in, moves its environment's schedule on, and settles the
//! result against the incident thresholds ([`settle`], shared with the monitor clock).
//!
//! Rules (Sentry's, sentry-protocol-more.md 1):
//! * A check-in with `monitor_config` creates the monitor or replaces its configuration; one
//!   without it for an unknown slug records nothing ([`RecordError::UnknownMonitor`]).
//! * A check-in for a paused monitor records nothing ([`Recorded::Paused`]).
//! * `check_in_id` names the check-in: a known `in_progress` one is finished by `ok`/`error`
//!   (duration as sent, else the time since it started) or extended by another `in_progress`
//!   (its time-out moves to now + `max_runtime`); a finished one is not changed
//!   ([`Recorded::AlreadyFinished`]). All zeros means the environment's latest
//!   `in_progress` check-in. An unknown id is a new check-in; a finished one with a duration
//!   started that long ago.
//! * A new check-in moves the environment's schedule on: the next expected time is the first
//!   scheduled time after its start (see [`super::schedule`]), missed after the margin.
//! * `ok`, `error`, `missed` and `timeout` count towards incidents ([`settle`]).

use super::checkin::{CheckIn, CheckInStatus};
use super::event::{failure_event, Failure};
use super::schedule::local_time;
use super::status::MonitorStatus;
use crate::clock::MINUTE_MS;
use crate::monitors::incident::{self, IncidentSource, Step, Tally, Thresholds, Watched};
use crate::store::{
    CheckInChange, Monitor, MonitorEnvironment, MonitorTx, NewCheckIn, Store, StoreError,
};

/// What became of a check-in.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Recorded {
    /// Stored: a new check-in, or an update of a running one.
    Stored {
        /// The check-in id (32 hex).
        guid: String,
        /// The monitor.
        monitor_id: i64,
    },
    /// The monitor is paused: nothing was recorded (a `monitor_config` was still applied).
    Paused {
        /// The check-in id it would have had.
        guid: String,
    },
    /// The check-in it names is already finished: nothing changed.
    AlreadyFinished {
        /// Its id.
        guid: String,
    },
}

impl Recorded {
    /// The check-in id (32 hex).
    pub fn guid(&self) -> &str {
        match self {
            Recorded::Stored { guid, .. }
            | Recorded::Paused { guid }
            | Recorded::AlreadyFinished { guid } => guid,
        }
    }
}

/// Why a check-in was not recorded.
#[derive(Debug, thiserror::Error)]
pub enum RecordError {
    /// No monitor of that slug, and no `monitor_config` to create it (404).
    #[error(
        "no monitor {0:?} in this project: send a monitor_config with the check-in (the SDKs' \
         monitor decorators do), or create the monitor on the project's Monitors page or with \
         POST /api/v1/projects/{{project_id}}/monitors"
    )]
    UnknownMonitor(String),
    /// The database failed.
    #[error(transparent)]
    Store(#[from] StoreError),
}

/// Records one check-in of project `project_id` at `now` (epoch ms).
pub async fn record(
    store: &Store,
    project_id: i64,
    checkin: &CheckIn,
    now: i64,
) -> Result<Recorded, RecordError> {
    let mut tx = store.begin_monitor_tx().await?;
    let slug = &checkin.monitor_slug;
    let monitor = match &checkin.monitor_config {
        Some(config) => tx.upsert_monitor(project_id, slug, config, now).await?,
        None => tx
            .monitor_by_slug(project_id, slug)
            .await?
            .ok_or_else(|| RecordError::UnknownMonitor(slug.clone()))?,
    };
    let requested = checkin.check_in_id.map(|id| id.simple().to_string());
    let new_guid = || {
        requested
            .clone()
            .unwrap_or_else(|| uuid::Uuid::new_v4().simple().to_string())
    };
    if monitor.is_paused {
        tx.commit().await?;
        return Ok(Recorded::Paused { guid: new_guid() });
    }
    // The environment of a check-in that already exists is its own, whatever this one says.
    let known = match &requested {
        Some(guid) => tx.checkin_by_guid(monitor.id, guid).await?,
        None => None,
    };
    let env_name = known
        .as_ref()
        .map_or(checkin.environment.as_str(), |c| c.environment.as_str());
    let mut env = tx.lock_environment(monitor.id, env_name, now).await?;
    let existing = match &requested {
        Some(guid) => tx.checkin_by_guid(monitor.id, guid).await?,
        None => tx.latest_in_progress(env.id).await?,
    };
    let runtime_ms = monitor.config.max_runtime.saturating_mul(MINUTE_MS);
    let recorded = match existing {
        Some(c) if c.fields.status.is_final() => Recorded::AlreadyFinished {
            guid: c.fields.guid,
        },
        Some(c) if checkin.status == CheckInStatus::InProgress => {
            let change = CheckInChange {
                status: CheckInStatus::InProgress,
                updated_ms: now,
                duration_ms: None,
                timeout_at_ms: Some(now.saturating_add(runtime_ms)),
                release: checkin.release.as_deref(),
            };
            tx.update_running_checkin(c.id, &change).await?;
            Recorded::Stored {
                guid: c.fields.guid,
                monitor_id: monitor.id,
            }
        }
        Some(c) => {
            let duration = checkin
                .duration_ms
                .unwrap_or(now.saturating_sub(c.fields.started_ms))
                .max(0);
            let change = CheckInChange {
                status: checkin.status,
                updated_ms: now,
                duration_ms: Some(duration),
                timeout_at_ms: None,
                release: checkin.release.as_deref(),
            };
            if tx.update_running_checkin(c.id, &change).await? {
                count(checkin.status);
                let result = JobResult {
                    checkin_id: c.id,
                    guid: &c.fields.guid,
                    status: checkin.status,
                    started_ms: c.fields.started_ms,
                    release: checkin.release.as_deref().or(c.fields.release.as_deref()),
                    reason: None,
                };
                settle(&mut tx, &monitor, &mut env, &result, now).await?;
            }
            Recorded::Stored {
                guid: c.fields.guid,
                monitor_id: monitor.id,
            }
        }
        None => {
            let guid = new_guid();
            let running = checkin.status == CheckInStatus::InProgress;
            let started_ms = match checkin.duration_ms {
                Some(d) if !running => now.saturating_sub(d),
                _ => now,
            };
            let inserted = tx
                .insert_checkin(&NewCheckIn {
                    monitor_id: monitor.id,
                    monitor_environment_id: env.id,
                    guid: &guid,
                    status: checkin.status,
                    started_ms,
                    updated_ms: now,
                    duration_ms: checkin.duration_ms.filter(|_| !running),
                    timeout_at_ms: running.then(|| now.saturating_add(runtime_ms)),
                    expected_ms: env.next_checkin_ms,
                    release: checkin.release.as_deref(),
                    trace_id: checkin.trace_id.as_deref(),
                })
                .await?;
            let Some(checkin_id) = inserted else {
                return Ok(Recorded::AlreadyFinished { guid });
            };
            count(checkin.status);
            env.last_checkin_ms = Some(env.last_checkin_ms.unwrap_or(i64::MIN).max(started_ms));
            expect_next(&monitor, &mut env, started_ms);
            let result = JobResult {
                checkin_id,
                guid: &guid,
                status: checkin.status,
                started_ms,
                release: checkin.release.as_deref(),
                reason: None,
            };
            settle(&mut tx, &monitor, &mut env, &result, now).await?;
            Recorded::Stored {
                guid,
                monitor_id: monitor.id,
            }
        }
    };
    tx.save_environment(&env).await?;
    tx.commit().await?;
    Ok(recorded)
}

/// Counts a recorded check-in in `errata_checkins_total{status}`.
pub(super) fn count(status: CheckInStatus) {
    metrics::counter!("errata_checkins_total", "status" => status.as_str()).increment(1);
}

/// Moves an environment's expectation to the first scheduled time after `after_ms`. A
/// schedule that has no next time (a stored crontab that no longer parses) stops expecting.
pub(super) fn expect_next(monitor: &Monitor, env: &mut MonitorEnvironment, after_ms: i64) {
    let config = &monitor.config;
    match config.schedule.next_after(after_ms, config.timezone) {
        Ok(next) => {
            env.next_checkin_ms = Some(next);
            env.next_checkin_latest_ms =
                Some(next.saturating_add(config.checkin_margin.saturating_mul(MINUTE_MS)));
        }
        Err(e) => {
            tracing::error!(monitor_id = monitor.id, error = %e, "monitor schedule has no next time; nothing is expected");
            env.next_checkin_ms = None;
            env.next_checkin_latest_ms = None;
        }
    }
}

/// One result of a monitor environment, as [`settle`] takes it.
#[derive(Debug, Clone, Copy)]
pub(super) struct JobResult<'a> {
    /// The check-in's row.
    pub checkin_id: i64,
    /// Its id (32 hex).
    pub guid: &'a str,
    /// Its status.
    pub status: CheckInStatus,
    /// When it started (missed: was expected), epoch ms.
    pub started_ms: i64,
    /// Its release.
    pub release: Option<&'a str>,
    /// What went wrong in words, when the caller knows better than [`reason`].
    pub reason: Option<&'a str>,
}

/// What went wrong, as the rest of "Cron monitor `x` (env) …".
pub(super) fn reason(
    monitor: &Monitor,
    status: CheckInStatus,
    expected_ms: i64,
    now: i64,
) -> String {
    match status {
        CheckInStatus::Missed => format!(
            "missed its check-in due {}",
            local_time(expected_ms, monitor.config.timezone, now)
        ),
        CheckInStatus::Timeout => format!(
            "timed out: still running after {} min (its max runtime)",
            monitor.config.max_runtime
        ),
        _ => "reported an error".to_owned(),
    }
}

/// "Cron monitor `nightly-backup` (production)".
pub fn subject(slug: &str, environment: &str) -> String {
    format!("Cron monitor `{slug}` ({environment})")
}

/// Applies one result to the environment: its status (unless a newer check-in decides it),
/// the last good run, the consecutive counters, and the incident: opened (with its issue
/// event and an `incident_opened` outbox row), another failure recorded on its issue, or
/// resolved (its issue resolved, an `incident_resolved` outbox row). `in_progress` and
/// `unknown` only set the status. The caller saves the environment.
pub(super) async fn settle(
    tx: &mut MonitorTx,
    monitor: &Monitor,
    env: &mut MonitorEnvironment,
    result: &JobResult<'_>,
    now: i64,
) -> Result<(), StoreError> {
    let newer = tx
        .has_newer_checkin(env.id, result.checkin_id, result.started_ms)
        .await?;
    if !newer {
        if let Some(status) = MonitorStatus::after(result.status) {
            env.status = status;
        }
    }
    let failed = result.status.is_failure();
    if !failed && result.status != CheckInStatus::Ok {
        return Ok(());
    }
    if !failed {
        env.last_ok_ms = Some(env.last_ok_ms.unwrap_or(i64::MIN).max(result.started_ms));
    }
    let mut tally = Tally {
        failures: env.consecutive_failures,
        successes: env.consecutive_ok,
    };
    let thresholds = Thresholds {
        failures: monitor.config.failure_issue_threshold,
        recoveries: monitor.config.recovery_threshold,
    };
    let step = tally.record(failed, env.incident_id.is_some(), thresholds);
    env.consecutive_failures = tally.failures;
    env.consecutive_ok = tally.successes;
    let failure = matches!(step, Step::Open | Step::StillFailing).then(|| {
        let why = match result.reason {
            Some(r) => r.to_owned(),
            None => reason(monitor, result.status, result.started_ms, now),
        };
        let summary = format!("{} {why}", subject(&monitor.slug, &env.environment));
        let event = failure_event(&Failure {
            monitor,
            environment: &env.environment,
            status: result.status,
            guid: result.guid,
            summary: &summary,
            release: result.release,
            at_ms: now,
        });
        incident::Failure { event, reason: why }
    });
    let watched = Watched {
        project_id: monitor.project_id,
        source: IncidentSource::Cron,
        source_id: env.id,
        incident_id: env.incident_id,
        last_ok_ms: env.last_ok_ms,
    };
    let (incident_id, event_id) = incident::apply(tx, step, &watched, failure, now).await?;
    if let Some(event_id) = event_id {
        tx.set_checkin_event(result.checkin_id, &event_id).await?;
    }
    match (env.incident_id, incident_id) {
        (None, Some(id)) => {
            tracing::info!(monitor_id = monitor.id, environment = %env.environment, incident_id = id, "monitor is failing");
        }
        (Some(id), None) => {
            tracing::info!(monitor_id = monitor.id, environment = %env.environment, incident_id = id, "monitor recovered");
        }
        _ => {}
    }
    env.incident_id = incident_id;
    Ok(())
}
