//! [`MonitorTx`]: the write transaction of a check-in, a missed or timed-out check-in from the
//! monitor clock, or a change to a monitor. Everything one of them changes commits together:
//! the check-in, its environment's schedule and counters, an incident opened or resolved, the
//! issue event of a failure (through the ingest batch's own code, `batch/`) and the outbox rows
//! that tell admins. The policy (what to change) is `src/monitors/cron`; the SQL is here.
//!
//! Locks: a transaction takes the monitor row first (only when it changes it), then the
//! environment row (`for update` on PostgreSQL; SQLite's `BEGIN IMMEDIATE` serializes
//! writers), then check-ins and issues, so concurrent check-ins of one environment and the
//! clock queue behind each other instead of deadlocking, and each decision is made on the
//! row as committed by the one before.

use super::batch::{insert_batch, Encoded};
use super::checkins::{CheckInFields, CheckInRow, CHECKIN_COLUMNS, CHECKIN_FROM};
use super::db::{Arg, Executor, IdRow, Tx};
use super::incidents::{IncidentRow, INCIDENT_COLUMNS};
use super::monitors::{
    config_args, EnvironmentRow, MonitorRow, ENVIRONMENT_COLUMNS, MONITOR_COLUMNS,
};
use super::{
    Aggregates, Backend, Incident, InsertOutcome, Monitor, MonitorEnvironment, NewEvent, Store,
    StoreError, StoredCheckIn,
};
use crate::monitors::cron::{CheckInStatus, MonitorConfig};
use crate::monitors::incident::IncidentSource;

/// A check-in to insert: the columns of a [`StoredCheckIn`] it starts with.
pub type NewCheckIn<'a> = CheckInFields<&'a str>;

/// What finishing or extending a running check-in changes.
#[derive(Debug, Clone, Copy)]
pub struct CheckInChange<'a> {
    /// The new status.
    pub status: CheckInStatus,
    /// Now, epoch ms.
    pub updated_ms: i64,
    /// Duration, ms.
    pub duration_ms: Option<i64>,
    /// Time-out (still running) or `None`.
    pub timeout_at_ms: Option<i64>,
    /// Release, when the update names one.
    pub release: Option<&'a str>,
}

/// An incident to open.
#[derive(Debug, Clone)]
pub struct NewIncident<'a> {
    /// Project of what failed.
    pub project_id: i64,
    /// What failed.
    pub source: IncidentSource,
    /// Its row id.
    pub source_id: i64,
    /// Now, epoch ms.
    pub opened_ms: i64,
    /// The failure, in words.
    pub reason: &'a str,
    /// Last success before it, epoch ms.
    pub last_ok_ms: Option<i64>,
    /// The event that records the failure (32 hex).
    pub event_id: &'a str,
}

/// An open write transaction for monitors. Dropped without [`MonitorTx::commit`] it rolls
/// back.
pub struct MonitorTx {
    pub(super) tx: Tx,
}

const CHECKIN_INSERT: &str = "insert into monitor_checkins (monitor_id, monitor_environment_id, \
    guid, status, started_ms, updated_ms, duration_ms, timeout_at_ms, expected_ms, release, \
    trace_id, event_id) values ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, null) \
    on conflict (monitor_id, guid) do nothing returning checkin_id as id";

impl Store {
    /// Starts a [`MonitorTx`].
    pub async fn begin_monitor_tx(&self) -> Result<MonitorTx, StoreError> {
        Ok(MonitorTx {
            tx: self.pool.begin_write().await?,
        })
    }
}

impl MonitorTx {
    pub(super) fn for_update(&self) -> &'static str {
        match self.tx.backend() {
            Backend::Postgres => " for update",
            Backend::Sqlite => "",
        }
    }

    /// Commits everything.
    pub async fn commit(self) -> Result<(), StoreError> {
        self.tx.commit().await
    }

    /// Creates the monitor `slug` with `config`, or replaces the configuration of the
    /// existing one (a check-in's `monitor_config`); name and pause are kept. Locks the row.
    pub async fn upsert_monitor(
        &mut self,
        project_id: i64,
        slug: &str,
        config: &MonitorConfig,
        now: i64,
    ) -> Result<Monitor, StoreError> {
        let mut args: Vec<Arg<'_>> = vec![project_id.into(), slug.into()];
        args.extend(config_args(config)?);
        args.push(now.into());
        let sql = format!(
            "insert into monitors (project_id, slug, name, schedule, checkin_margin, \
             max_runtime, timezone, failure_issue_threshold, recovery_threshold, is_paused, \
             created_ms, updated_ms) values ($1, $2, $2, $3, $4, $5, $6, $7, $8, false, $9, $9) \
             on conflict (project_id, slug) do update set schedule = excluded.schedule, \
             checkin_margin = excluded.checkin_margin, max_runtime = excluded.max_runtime, \
             timezone = excluded.timezone, \
             failure_issue_threshold = excluded.failure_issue_threshold, \
             recovery_threshold = excluded.recovery_threshold, updated_ms = excluded.updated_ms \
             returning {MONITOR_COLUMNS}"
        );
        self.tx
            .fetch_one::<MonitorRow>(&sql, args)
            .await?
            .try_into()
    }

    /// The monitor `slug` of a project, if it exists.
    pub async fn monitor_by_slug(
        &mut self,
        project_id: i64,
        slug: &str,
    ) -> Result<Option<Monitor>, StoreError> {
        let sql =
            format!("select {MONITOR_COLUMNS} from monitors where project_id = $1 and slug = $2");
        self.tx
            .fetch_optional::<MonitorRow>(&sql, vec![project_id.into(), slug.into()])
            .await?
            .map(Monitor::try_from)
            .transpose()
    }

    /// One monitor, locked when `lock`. Errors: [`StoreError::NotFound`].
    pub async fn monitor(&mut self, monitor_id: i64, lock: bool) -> Result<Monitor, StoreError> {
        let sql = format!(
            "select {MONITOR_COLUMNS} from monitors where monitor_id = $1{}",
            if lock { self.for_update() } else { "" }
        );
        self.tx
            .fetch_one::<MonitorRow>(&sql, vec![monitor_id.into()])
            .await?
            .try_into()
    }

    /// Saves a monitor's slug, name, configuration and pause (an edit by a person).
    /// Errors: [`StoreError::Conflict`] when the project has another monitor of the slug.
    pub async fn update_monitor(&mut self, monitor: &Monitor, now: i64) -> Result<(), StoreError> {
        let mut args: Vec<Arg<'_>> = vec![monitor.id.into(), monitor.name.as_str().into()];
        args.extend(config_args(&monitor.config)?);
        args.push(monitor.is_paused.into());
        args.push(now.into());
        args.push(monitor.slug.as_str().into());
        self.tx
            .execute_one(
                "update monitors set name = $2, schedule = $3, checkin_margin = $4, \
                 max_runtime = $5, timezone = $6, failure_issue_threshold = $7, \
                 recovery_threshold = $8, is_paused = $9, updated_ms = $10, slug = $11 \
                 where monitor_id = $1",
                args,
            )
            .await
    }

    /// The environment `environment` of a monitor, created (status `new`) if missing, and
    /// locked.
    pub async fn lock_environment(
        &mut self,
        monitor_id: i64,
        environment: &str,
        now: i64,
    ) -> Result<MonitorEnvironment, StoreError> {
        self.tx
            .execute(
                "insert into monitor_environments (monitor_id, environment, status, \
                 consecutive_failures, consecutive_ok, created_ms) \
                 values ($1, $2, 'new', 0, 0, $3) on conflict (monitor_id, environment) do nothing",
                vec![monitor_id.into(), environment.into(), now.into()],
            )
            .await?;
        let sql = format!(
            "select {ENVIRONMENT_COLUMNS} from monitor_environments \
             where monitor_id = $1 and environment = $2{}",
            self.for_update()
        );
        self.tx
            .fetch_one::<EnvironmentRow>(&sql, vec![monitor_id.into(), environment.into()])
            .await?
            .try_into()
    }

    /// An environment by id, locked; `None` when it is gone.
    pub async fn lock_environment_by_id(
        &mut self,
        id: i64,
    ) -> Result<Option<MonitorEnvironment>, StoreError> {
        let sql = format!(
            "select {ENVIRONMENT_COLUMNS} from monitor_environments \
             where monitor_environment_id = $1{}",
            self.for_update()
        );
        self.tx
            .fetch_optional::<EnvironmentRow>(&sql, vec![id.into()])
            .await?
            .map(MonitorEnvironment::try_from)
            .transpose()
    }

    /// The environments of a monitor, locked.
    pub async fn lock_environments(
        &mut self,
        monitor_id: i64,
    ) -> Result<Vec<MonitorEnvironment>, StoreError> {
        let sql = format!(
            "select {ENVIRONMENT_COLUMNS} from monitor_environments where monitor_id = $1 \
             order by monitor_environment_id{}",
            self.for_update()
        );
        self.tx
            .fetch_all::<EnvironmentRow>(&sql, vec![monitor_id.into()])
            .await?
            .into_iter()
            .map(MonitorEnvironment::try_from)
            .collect()
    }

    /// Writes an environment's status, schedule, counters and open incident.
    pub async fn save_environment(&mut self, env: &MonitorEnvironment) -> Result<(), StoreError> {
        self.tx
            .execute_one(
                "update monitor_environments set status = $2, last_checkin_ms = $3, \
                 next_checkin_ms = $4, next_checkin_latest_ms = $5, last_ok_ms = $6, \
                 consecutive_failures = $7, consecutive_ok = $8, incident_id = $9 \
                 where monitor_environment_id = $1",
                vec![
                    env.id.into(),
                    env.status.as_str().into(),
                    env.last_checkin_ms.into(),
                    env.next_checkin_ms.into(),
                    env.next_checkin_latest_ms.into(),
                    env.last_ok_ms.into(),
                    env.consecutive_failures.into(),
                    env.consecutive_ok.into(),
                    env.incident_id.into(),
                ],
            )
            .await
    }

    async fn checkin_where(
        &mut self,
        clause: &str,
        args: Vec<Arg<'_>>,
    ) -> Result<Option<StoredCheckIn>, StoreError> {
        let sql = format!("select {CHECKIN_COLUMNS} from {CHECKIN_FROM} where {clause}");
        self.tx
            .fetch_optional::<CheckInRow>(&sql, args)
            .await?
            .map(StoredCheckIn::try_from)
            .transpose()
    }

    /// The check-in `guid` of a monitor, if any.
    pub async fn checkin_by_guid(
        &mut self,
        monitor_id: i64,
        guid: &str,
    ) -> Result<Option<StoredCheckIn>, StoreError> {
        self.checkin_where(
            "c.monitor_id = $1 and c.guid = $2",
            vec![monitor_id.into(), guid.into()],
        )
        .await
    }

    /// A check-in by row id, if any.
    pub async fn checkin(&mut self, id: i64) -> Result<Option<StoredCheckIn>, StoreError> {
        self.checkin_where("c.checkin_id = $1", vec![id.into()])
            .await
    }

    /// The newest `in_progress` check-in of an environment, if any.
    pub async fn latest_in_progress(
        &mut self,
        monitor_environment_id: i64,
    ) -> Result<Option<StoredCheckIn>, StoreError> {
        self.checkin_where(
            "c.monitor_environment_id = $1 and c.status = 'in_progress' \
             order by c.started_ms desc, c.checkin_id desc limit 1",
            vec![monitor_environment_id.into()],
        )
        .await
    }

    /// True when the environment has a check-in that started after `started_ms` (so a
    /// check-in of `started_ms` no longer decides its status).
    pub async fn has_newer_checkin(
        &mut self,
        monitor_environment_id: i64,
        checkin_id: i64,
        started_ms: i64,
    ) -> Result<bool, StoreError> {
        let found = self
            .tx
            .fetch_optional::<IdRow>(
                "select checkin_id as id from monitor_checkins \
                 where monitor_environment_id = $1 and checkin_id <> $2 and started_ms > $3 \
                 and status <> 'missed' limit 1",
                vec![
                    monitor_environment_id.into(),
                    checkin_id.into(),
                    started_ms.into(),
                ],
            )
            .await?;
        Ok(found.is_some())
    }

    /// Inserts a check-in; `None` when the monitor already has its `guid` (nothing written).
    pub async fn insert_checkin(&mut self, c: &NewCheckIn<'_>) -> Result<Option<i64>, StoreError> {
        let found = self
            .tx
            .fetch_optional::<IdRow>(
                CHECKIN_INSERT,
                vec![
                    c.monitor_id.into(),
                    c.monitor_environment_id.into(),
                    c.guid.into(),
                    c.status.as_str().into(),
                    c.started_ms.into(),
                    c.updated_ms.into(),
                    c.duration_ms.into(),
                    c.timeout_at_ms.into(),
                    c.expected_ms.into(),
                    c.release.into(),
                    c.trace_id.into(),
                ],
            )
            .await?;
        Ok(found.map(|r| r.id))
    }

    /// Changes a check-in's status, duration and time-out (and release, when given), if it
    /// is still `in_progress`; false when it no longer was (another transaction finished it
    /// first).
    pub async fn update_running_checkin(
        &mut self,
        id: i64,
        change: &CheckInChange<'_>,
    ) -> Result<bool, StoreError> {
        let n = self
            .tx
            .execute(
                "update monitor_checkins set status = $2, updated_ms = $3, duration_ms = $4, \
                 timeout_at_ms = $5, release = coalesce($6, release) \
                 where checkin_id = $1 and status = 'in_progress'",
                vec![
                    id.into(),
                    change.status.as_str().into(),
                    change.updated_ms.into(),
                    change.duration_ms.into(),
                    change.timeout_at_ms.into(),
                    change.release.into(),
                ],
            )
            .await?;
        Ok(n > 0)
    }

    /// Links a check-in to the issue event recorded for it.
    pub async fn set_checkin_event(&mut self, id: i64, event_id: &str) -> Result<(), StoreError> {
        self.tx
            .execute_one(
                "update monitor_checkins set event_id = $2 where checkin_id = $1",
                vec![id.into(), event_id.into()],
            )
            .await
    }

    /// Opens an incident; `None` when one is already open for the source (nothing written).
    pub async fn open_incident(&mut self, i: &NewIncident<'_>) -> Result<Option<i64>, StoreError> {
        let found = self
            .tx
            .fetch_optional::<IdRow>(
                "insert into incidents (project_id, source, source_id, opened_ms, resolved_ms, \
                 reason, last_ok_ms, issue_id, event_id) \
                 values ($1, $2, $3, $4, null, $5, $6, null, $7) \
                 on conflict (source, source_id) where resolved_ms is null do nothing \
                 returning incident_id as id",
                vec![
                    i.project_id.into(),
                    i.source.as_str().into(),
                    i.source_id.into(),
                    i.opened_ms.into(),
                    i.reason.into(),
                    i.last_ok_ms.into(),
                    i.event_id.into(),
                ],
            )
            .await?;
        Ok(found.map(|r| r.id))
    }

    /// An incident. Errors: [`StoreError::NotFound`].
    pub async fn incident(&mut self, id: i64) -> Result<Incident, StoreError> {
        let sql = format!("select {INCIDENT_COLUMNS} from incidents where incident_id = $1");
        self.tx
            .fetch_one::<IncidentRow>(&sql, vec![id.into()])
            .await?
            .try_into()
    }

    /// Records the issue that shows an incident.
    pub async fn set_incident_issue(&mut self, id: i64, issue_id: i64) -> Result<(), StoreError> {
        self.tx
            .execute_one(
                "update incidents set issue_id = $2 where incident_id = $1",
                vec![id.into(), issue_id.into()],
            )
            .await
    }

    /// Resolves an open incident at `now`; false when it was not open.
    pub async fn resolve_incident(&mut self, id: i64, now: i64) -> Result<bool, StoreError> {
        let n = self
            .tx
            .execute(
                "update incidents set resolved_ms = $2 where incident_id = $1 \
                 and resolved_ms is null",
                vec![id.into(), now.into()],
            )
            .await?;
        Ok(n > 0)
    }

    /// Stores the issue event of a failure through the ingest batch's code (creating or
    /// reopening its issue), and marks that issue's own `new_issue`/`regression` outbox row
    /// skipped: the incident's message tells admins instead (see
    /// [`crate::monitors::incident`]).
    pub async fn record_event(
        &mut self,
        event: NewEvent,
        now: i64,
    ) -> Result<InsertOutcome, StoreError> {
        let events = [event];
        let encoded = Encoded::of(&events, Aggregates::Inline)?;
        let outcome = insert_batch(&mut self.tx, &events, &encoded, now, Aggregates::Inline)
            .await?
            .pop()
            .ok_or_else(|| StoreError::Other("the batch returned no outcome".into()))?;
        self.tx
            .execute(
                "update outbox set state = 'skipped' where issue_id = $1 and event_id = $2 \
                 and state = 'pending' and kind in ('new_issue', 'regression')",
                vec![outcome.issue_id.into(), outcome.event_id.simple().into()],
            )
            .await?;
        Ok(outcome)
    }

    /// Resolves an issue (an incident recovered); a no-op unless it is unresolved.
    pub async fn resolve_issue(&mut self, issue_id: i64, now: i64) -> Result<(), StoreError> {
        self.tx
            .execute(
                "update issues set status = 'resolved', is_regression = false, \
                 resolved_ms = $2 where issue_id = $1 and status = 'unresolved'",
                vec![issue_id.into(), now.into()],
            )
            .await?;
        Ok(())
    }

    /// Writes the outbox row (`kind` = `incident_opened` or `incident_resolved`) that tells
    /// admins about an incident: it carries the incident's issue and opening event. Nothing
    /// is written when that issue was deleted meanwhile (its messages went with it).
    pub async fn notify_incident(
        &mut self,
        kind: &str,
        incident: &Incident,
        now: i64,
    ) -> Result<(), StoreError> {
        let Some(issue_id) = incident.issue_id else {
            return Err(StoreError::Other(format!(
                "incident {} has no issue to notify about",
                incident.id
            )));
        };
        self.tx
            .execute(
                "insert into outbox (kind, project_id, issue_id, event_id, created_ms, state, \
                 attempts, next_attempt_ms, last_error) \
                 select $1, $2, issue_id, $4, $5, 'pending', 0, $5, null from issues \
                 where issue_id = $3",
                vec![
                    kind.into(),
                    incident.project_id.into(),
                    issue_id.into(),
                    incident.event_id.as_str().into(),
                    now.into(),
                ],
            )
            .await?;
        Ok(())
    }
}
