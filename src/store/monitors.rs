//! Cron monitors and their environments (`monitors`, `monitor_environments`): reads for the
//! pages and the API, creating and deleting monitors. Check-ins are in `checkins.rs`; the
//! writes that follow a check-in or the clock run in a [`MonitorTx`](super::MonitorTx).

use super::db::{parse_name, placeholders, Arg, Executor, IdRow};
use super::{Store, StoreError};
use crate::monitors::cron::{MonitorConfig, MonitorStatus, Schedule};

/// A monitor: a scheduled job of a project, by slug.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct Monitor {
    /// Row id.
    pub id: i64,
    /// Owning project.
    pub project_id: i64,
    /// Unique per project; what check-ins name.
    pub slug: String,
    /// Display name (the slug unless someone named it).
    pub name: String,
    /// Schedule, margin, runtime, time zone, thresholds.
    pub config: MonitorConfig,
    /// Paused by a person: check-ins are ignored and nothing is missed.
    pub is_paused: bool,
    /// Created, epoch ms.
    pub created_ms: i64,
    /// Last changed, epoch ms.
    pub updated_ms: i64,
}

/// One environment of a monitor, with its schedule state.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct MonitorEnvironment {
    /// Row id (the `source_id` of its incidents).
    pub id: i64,
    /// The monitor.
    pub monitor_id: i64,
    /// Environment name (`production`).
    pub environment: String,
    /// What the latest check-in said (`new` before the first).
    pub status: MonitorStatus,
    /// Start of the latest check-in, epoch ms.
    pub last_checkin_ms: Option<i64>,
    /// The next expected check-in, epoch ms (`None` before the first check-in).
    pub next_checkin_ms: Option<i64>,
    /// The next check-in is missed after this, epoch ms.
    pub next_checkin_latest_ms: Option<i64>,
    /// Start of the latest `ok` check-in, epoch ms.
    pub last_ok_ms: Option<i64>,
    /// Failures since the last `ok`.
    pub consecutive_failures: i64,
    /// `ok` check-ins since the last failure.
    pub consecutive_ok: i64,
    /// The open incident, while failing.
    pub incident_id: Option<i64>,
}

pub(super) const MONITOR_COLUMNS: &str = "monitor_id, project_id, slug, name, schedule, \
    checkin_margin, max_runtime, timezone, failure_issue_threshold, recovery_threshold, \
    is_paused, created_ms, updated_ms";

row! {
    pub(super) struct MonitorRow {
        monitor_id: i64,
        project_id: i64,
        slug: String,
        name: String,
        schedule: String,
        checkin_margin: i64,
        max_runtime: i64,
        timezone: String,
        failure_issue_threshold: i64,
        recovery_threshold: i64,
        is_paused: bool,
        created_ms: i64,
        updated_ms: i64,
    }

    try_into |r| {
        let corrupt = |what: &str, e: &dyn std::fmt::Display| {
            StoreError::Other(format!("corrupt {what} of monitor {}: {e}", r.monitor_id))
        };
        let schedule: Schedule =
            serde_json::from_str(&r.schedule).map_err(|e| corrupt("schedule", &e))?;
        let timezone = r.timezone.parse().map_err(|e| corrupt("timezone", &e))?;
        Ok(Monitor {
            id: r.monitor_id,
            project_id,
            config: MonitorConfig {
                schedule,
                checkin_margin: r.checkin_margin,
                max_runtime: r.max_runtime,
                timezone,
                failure_issue_threshold: r.failure_issue_threshold,
                recovery_threshold: r.recovery_threshold,
            },
            slug, name, is_paused, created_ms, updated_ms,
        })
    }
}

pub(super) const ENVIRONMENT_COLUMNS: &str = "monitor_environment_id, monitor_id, environment, \
    status, last_checkin_ms, next_checkin_ms, next_checkin_latest_ms, last_ok_ms, \
    consecutive_failures, consecutive_ok, incident_id";

row! {
    pub(super) struct EnvironmentRow {
        monitor_environment_id: i64,
        monitor_id: i64,
        environment: String,
        status: String,
        last_checkin_ms: Option<i64>,
        next_checkin_ms: Option<i64>,
        next_checkin_latest_ms: Option<i64>,
        last_ok_ms: Option<i64>,
        consecutive_failures: i64,
        consecutive_ok: i64,
        incident_id: Option<i64>,
    }

    try_into |r| {
        Ok(MonitorEnvironment {
            id: r.monitor_environment_id,
            monitor_id,
            status: parse_name(
                &MonitorStatus::ALL,
                MonitorStatus::as_str,
                &r.status,
                "monitor status",
            )?,
            environment, last_checkin_ms, next_checkin_ms, next_checkin_latest_ms, last_ok_ms,
            consecutive_failures, consecutive_ok, incident_id,
        })
    }
}

/// The bound arguments of a monitor's configuration, in the order of
/// `schedule, checkin_margin, max_runtime, timezone, failure_issue_threshold,
/// recovery_threshold`.
pub(super) fn config_args(config: &MonitorConfig) -> Result<Vec<Arg<'static>>, StoreError> {
    let schedule = serde_json::to_string(&config.schedule)
        .map_err(|e| StoreError::Other(format!("cannot encode schedule: {e}")))?;
    Ok(vec![
        schedule.into(),
        config.checkin_margin.into(),
        config.max_runtime.into(),
        config.timezone.name().into(),
        config.failure_issue_threshold.into(),
        config.recovery_threshold.into(),
    ])
}

impl Store {
    /// The monitors of a project, by slug.
    pub async fn monitors(&self, project_id: i64) -> Result<Vec<Monitor>, StoreError> {
        let sql =
            format!("select {MONITOR_COLUMNS} from monitors where project_id = $1 order by slug");
        self.db()
            .fetch_all::<MonitorRow>(&sql, vec![project_id.into()])
            .await?
            .into_iter()
            .map(Monitor::try_from)
            .collect()
    }

    /// One monitor. Errors: [`StoreError::NotFound`].
    pub async fn monitor(&self, monitor_id: i64) -> Result<Monitor, StoreError> {
        let sql = format!("select {MONITOR_COLUMNS} from monitors where monitor_id = $1");
        self.db()
            .fetch_one::<MonitorRow>(&sql, vec![monitor_id.into()])
            .await?
            .try_into()
    }

    /// The monitor `slug` of a project, if it exists.
    pub async fn monitor_by_slug(
        &self,
        project_id: i64,
        slug: &str,
    ) -> Result<Option<Monitor>, StoreError> {
        let sql =
            format!("select {MONITOR_COLUMNS} from monitors where project_id = $1 and slug = $2");
        self.db()
            .fetch_optional::<MonitorRow>(&sql, vec![project_id.into(), slug.into()])
            .await?
            .map(Monitor::try_from)
            .transpose()
    }

    /// The environments of the given monitors, by monitor and environment name.
    pub async fn monitor_environments(
        &self,
        monitor_ids: &[i64],
    ) -> Result<Vec<MonitorEnvironment>, StoreError> {
        if monitor_ids.is_empty() {
            return Ok(Vec::new());
        }
        let sql = format!(
            "select {ENVIRONMENT_COLUMNS} from monitor_environments where monitor_id in ({}) \
             order by monitor_id, environment",
            placeholders(1, monitor_ids.len())
        );
        let args = monitor_ids.iter().map(|&id| Arg::Int(id)).collect();
        self.db()
            .fetch_all::<EnvironmentRow>(&sql, args)
            .await?
            .into_iter()
            .map(MonitorEnvironment::try_from)
            .collect()
    }

    /// One monitor environment, if it exists.
    pub async fn monitor_environment(
        &self,
        id: i64,
    ) -> Result<Option<MonitorEnvironment>, StoreError> {
        let sql = format!(
            "select {ENVIRONMENT_COLUMNS} from monitor_environments \
             where monitor_environment_id = $1"
        );
        self.db()
            .fetch_optional::<EnvironmentRow>(&sql, vec![id.into()])
            .await?
            .map(MonitorEnvironment::try_from)
            .transpose()
    }

    /// Creates a monitor. Errors: [`StoreError::Conflict`] when the project already has the
    /// slug, [`StoreError::Other`] for an unknown project.
    pub async fn create_monitor(
        &self,
        project_id: i64,
        slug: &str,
        name: &str,
        config: &MonitorConfig,
        is_paused: bool,
        now: i64,
    ) -> Result<Monitor, StoreError> {
        if self.monitor_by_slug(project_id, slug).await?.is_some() {
            return Err(StoreError::Conflict(format!(
                "the project already has a monitor {slug:?}"
            )));
        }
        let mut args: Vec<Arg<'_>> = vec![project_id.into(), slug.into(), name.into()];
        args.extend(config_args(config)?);
        args.push(is_paused.into());
        args.push(now.into());
        let id = self
            .db()
            .fetch_one::<IdRow>(
                "insert into monitors (project_id, slug, name, schedule, checkin_margin, \
                 max_runtime, timezone, failure_issue_threshold, recovery_threshold, is_paused, \
                 created_ms, updated_ms) \
                 values ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $11) \
                 on conflict (project_id, slug) do nothing returning monitor_id as id",
                args,
            )
            .await
            .map_err(|e| match e {
                StoreError::NotFound => {
                    StoreError::Conflict(format!("the project already has a monitor {slug:?}"))
                }
                e => e,
            })?
            .id;
        self.monitor(id).await
    }

    /// Deletes a monitor with its environments, check-ins and incidents, in one
    /// transaction. Its issues stay (they are issues like any other); pending notifications
    /// of its incidents are skipped when their turn comes. Errors: [`StoreError::NotFound`].
    pub async fn delete_monitor(&self, monitor_id: i64) -> Result<(), StoreError> {
        let mut tx = self.pool.begin_write().await?;
        let statements = [
            "delete from monitor_checkins where monitor_id = $1",
            "delete from incidents where source = 'cron' and source_id in \
             (select monitor_environment_id from monitor_environments where monitor_id = $1)",
            "delete from monitor_environments where monitor_id = $1",
        ];
        for sql in statements {
            tx.execute(sql, vec![monitor_id.into()]).await?;
        }
        tx.execute_one(
            "delete from monitors where monitor_id = $1",
            vec![monitor_id.into()],
        )
        .await?;
        tx.commit().await
    }
}
