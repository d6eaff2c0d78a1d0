//! Check-ins of cron monitors (`monitor_checkins`): the history pages, the recent strip and
//! average duration of the monitors page, and what the monitor clock finds due.

use super::db::{arg, next_page, page_limit, parse_name, Arg, Executor};
use super::{Store, StoreError};
use crate::monitors::cron::CheckInStatus;

/// What a check-in says: the columns a [`NewCheckIn`](super::NewCheckIn) inserts
/// (`S = &str`) and a [`StoredCheckIn`] reads back (`S = String`), as changed since.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct CheckInFields<S> {
    /// The monitor.
    pub monitor_id: i64,
    /// Its environment's row.
    pub monitor_environment_id: i64,
    /// The check-in id (32 hex, unique per monitor): the client's, or derived for a missed
    /// check-in.
    pub guid: S,
    /// Status.
    pub status: CheckInStatus,
    /// When the job started (a missed check-in: when it was expected), epoch ms.
    pub started_ms: i64,
    /// Last change, epoch ms.
    pub updated_ms: i64,
    /// How long the job ran, ms (a finished check-in).
    pub duration_ms: Option<i64>,
    /// An `in_progress` check-in times out after this, epoch ms.
    pub timeout_at_ms: Option<i64>,
    /// The scheduled time this check-in answered, epoch ms.
    pub expected_ms: Option<i64>,
    /// Release, if sent.
    pub release: Option<S>,
    /// Trace id, if sent.
    pub trace_id: Option<S>,
}

/// One stored check-in.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct StoredCheckIn {
    /// Row id.
    pub id: i64,
    /// Its columns.
    #[serde(flatten)]
    pub fields: CheckInFields<String>,
    /// The environment's name.
    pub environment: String,
    /// The issue event recorded for this failure, if any.
    pub event_id: Option<String>,
}

/// A page of check-ins, newest first.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CheckInPage {
    /// The check-ins.
    pub checkins: Vec<StoredCheckIn>,
    /// Cursor of the next (older) page; `None` on the last.
    pub next_cursor: Option<String>,
}

pub(super) const CHECKIN_COLUMNS: &str = "c.checkin_id, c.guid, c.monitor_id, \
    c.monitor_environment_id, e.environment, c.status, c.started_ms, c.updated_ms, \
    c.duration_ms, c.timeout_at_ms, c.expected_ms, c.release, c.trace_id, c.event_id";

/// `from` clause that [`CHECKIN_COLUMNS`] reads.
pub(super) const CHECKIN_FROM: &str = "monitor_checkins c join monitor_environments e \
    on e.monitor_environment_id = c.monitor_environment_id";

row! {
    pub(super) struct CheckInRow {
        checkin_id: i64,
        guid: String,
        monitor_id: i64,
        monitor_environment_id: i64,
        environment: String,
        status: String,
        started_ms: i64,
        updated_ms: i64,
        duration_ms: Option<i64>,
        timeout_at_ms: Option<i64>,
        expected_ms: Option<i64>,
        release: Option<String>,
        trace_id: Option<String>,
        event_id: Option<String>,
    }

    try_into |r| {
        Ok(StoredCheckIn {
            id: r.checkin_id,
            fields: CheckInFields {
                status: parse_name(
                    &CheckInStatus::ALL,
                    CheckInStatus::as_str,
                    &r.status,
                    "check-in status",
                )?,
                guid: r.guid,
                monitor_id: r.monitor_id,
                monitor_environment_id: r.monitor_environment_id,
                started_ms: r.started_ms,
                updated_ms: r.updated_ms,
                duration_ms: r.duration_ms,
                timeout_at_ms: r.timeout_at_ms,
                expected_ms: r.expected_ms,
                release: r.release,
                trace_id: r.trace_id,
            },
            environment, event_id,
        })
    }
}

row! {
    struct DurationRow {
        monitor_id: i64,
        average_ms: Option<i64>,
    }
}

/// A batch size as a bind value, clamped to 1..=1000.
fn batch_limit(limit: usize) -> i64 {
    i64::try_from(limit.clamp(1, 1000)).unwrap_or(1000)
}

fn rows(rows: Vec<CheckInRow>) -> Result<Vec<StoredCheckIn>, StoreError> {
    rows.into_iter().map(StoredCheckIn::try_from).collect()
}

impl Store {
    /// A page of a monitor's check-ins, newest first (by start, then id), optionally of one
    /// environment; `limit` is clamped to 1..=100. Errors: [`StoreError::InvalidCursor`].
    pub async fn monitor_checkins(
        &self,
        monitor_id: i64,
        environment: Option<&str>,
        limit: usize,
        cursor: Option<&str>,
    ) -> Result<CheckInPage, StoreError> {
        let mut args: Vec<Arg<'_>> = Vec::new();
        let mut sql = format!(
            "select {CHECKIN_COLUMNS} from {CHECKIN_FROM} where c.monitor_id = {}",
            arg(&mut args, monitor_id)
        );
        if let Some(env) = environment {
            sql += &format!(" and e.environment = {}", arg(&mut args, env));
        }
        if let Some(cursor) = cursor {
            let (started, id) = cursor
                .split_once('.')
                .and_then(|(a, b)| Some((a.parse::<i64>().ok()?, b.parse::<i64>().ok()?)))
                .ok_or_else(|| {
                    StoreError::InvalidCursor(format!("{cursor:?} is not a check-in cursor"))
                })?;
            let (s, i) = (arg(&mut args, started), arg(&mut args, id));
            sql += &format!(
                " and (c.started_ms < {s} or (c.started_ms = {s} and c.checkin_id < {i}))"
            );
        }
        let limit = page_limit(limit);
        sql += &format!(
            " order by c.started_ms desc, c.checkin_id desc limit {}",
            arg(&mut args, limit + 1)
        );
        let mut found = self.db().fetch_all::<CheckInRow>(&sql, args).await?;
        let next_cursor =
            next_page(&mut found, limit).map(|r| format!("{}.{}", r.started_ms, r.checkin_id));
        Ok(CheckInPage {
            checkins: rows(found)?,
            next_cursor,
        })
    }

    /// The `per_monitor` newest check-ins of each monitor of a project, newest first per
    /// monitor (the monitors page's strip).
    pub async fn recent_checkins(
        &self,
        project_id: i64,
        per_monitor: usize,
    ) -> Result<Vec<StoredCheckIn>, StoreError> {
        let names = CHECKIN_COLUMNS
            .replace("c.", "")
            .replace("e.environment", "environment");
        let sql = format!(
            "select {names} from (select {CHECKIN_COLUMNS}, row_number() over \
             (partition by c.monitor_id order by c.started_ms desc, c.checkin_id desc) as pos \
             from {CHECKIN_FROM} join monitors m on m.monitor_id = c.monitor_id \
             where m.project_id = $1) recent where pos <= $2 \
             order by monitor_id, started_ms desc, checkin_id desc"
        );
        let per = i64::try_from(per_monitor).unwrap_or(100);
        rows(
            self.db()
                .fetch_all::<CheckInRow>(&sql, vec![project_id.into(), per.into()])
                .await?,
        )
    }

    /// Average duration (ms) of each monitor's last `window` finished check-ins that have a
    /// duration, for the monitors of a project: `(monitor_id, average)`.
    pub async fn average_durations(
        &self,
        project_id: i64,
        window: usize,
    ) -> Result<Vec<(i64, i64)>, StoreError> {
        let sql = "select monitor_id, cast(avg(duration_ms) as bigint) as average_ms from \
             (select c.monitor_id, c.duration_ms, row_number() over (partition by c.monitor_id \
             order by c.started_ms desc, c.checkin_id desc) as pos from monitor_checkins c \
             join monitors m on m.monitor_id = c.monitor_id where m.project_id = $1 \
             and c.duration_ms is not null and c.status in ('ok', 'error')) recent \
             where pos <= $2 group by monitor_id";
        let window = i64::try_from(window).unwrap_or(100);
        let found = self
            .db()
            .fetch_all::<DurationRow>(sql, vec![project_id.into(), window.into()])
            .await?;
        Ok(found
            .into_iter()
            .filter_map(|r| Some((r.monitor_id, r.average_ms?)))
            .collect())
    }

    /// Environments of unpaused monitors whose next check-in is missed at `now` (at most
    /// `limit`, most overdue first): the monitor clock's work.
    pub async fn overdue_environments(
        &self,
        now: i64,
        limit: usize,
    ) -> Result<Vec<i64>, StoreError> {
        self.db()
            .fetch_ids(
                "select e.monitor_environment_id as id from monitor_environments e \
                 join monitors m on m.monitor_id = e.monitor_id \
                 where e.next_checkin_latest_ms <= $1 and not m.is_paused \
                 order by e.next_checkin_latest_ms limit $2",
                vec![now.into(), batch_limit(limit).into()],
            )
            .await
    }

    /// `in_progress` check-ins of unpaused monitors that ran past their time-out at `now`
    /// (at most `limit`, oldest first).
    pub async fn timed_out_checkins(&self, now: i64, limit: usize) -> Result<Vec<i64>, StoreError> {
        self.db()
            .fetch_ids(
                "select c.checkin_id as id from monitor_checkins c \
                 join monitors m on m.monitor_id = c.monitor_id \
                 where c.status = 'in_progress' and c.timeout_at_ms <= $1 and not m.is_paused \
                 order by c.timeout_at_ms limit $2",
                vec![now.into(), batch_limit(limit).into()],
            )
            .await
    }
}
