//! Public status pages (`status_pages`): one per project, off until enabled, found by slug;
//! and the daily tallies their bars are drawn from (uptime results and cron check-ins per
//! UTC day).

use super::db::{Arg, Executor};
use super::{Store, StoreError};
use crate::clock::DAY_MS;

/// A project's status page settings.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct StatusPage {
    /// The project.
    pub project_id: i64,
    /// `/status/{slug}`.
    pub slug: String,
    /// The page's heading.
    pub title: String,
    /// Shown to anyone when true; 404 otherwise.
    pub enabled: bool,
    /// The cron monitors shown (the checks shown are those marked `is_public`).
    pub monitor_ids: Vec<i64>,
}

/// One UTC day of results: how many, and how many were good.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct DayTally {
    /// Start of the day, epoch ms.
    pub day_ms: i64,
    /// Results that day.
    pub total: i64,
    /// Of those, good (up, or an `ok` check-in).
    pub good: i64,
}

row! {
    struct StatusPageRow {
        project_id: i64,
        slug: String,
        title: String,
        enabled: bool,
        monitor_ids: String,
    }

    try_into |r| {
        Ok(StatusPage {
            monitor_ids: serde_json::from_str(&r.monitor_ids).map_err(|e| {
                StoreError::Other(format!(
                    "corrupt monitor_ids of status page {}: {e}",
                    r.slug
                ))
            })?,
            project_id, slug, title, enabled,
        })
    }
}

row! {
    struct DayRow {
        day: i64,
        total: i64,
        good: Option<i64>,
    }
}

const COLUMNS: &str = "project_id, slug, title, enabled, monitor_ids";

fn tallies(rows: Vec<DayRow>) -> Vec<DayTally> {
    rows.into_iter()
        .map(|r| DayTally {
            day_ms: r.day * DAY_MS,
            total: r.total,
            good: r.good.unwrap_or(0),
        })
        .collect()
}

impl Store {
    /// A project's status page, if it has one.
    pub async fn status_page(&self, project_id: i64) -> Result<Option<StatusPage>, StoreError> {
        let sql = format!("select {COLUMNS} from status_pages where project_id = $1");
        self.db()
            .fetch_optional::<StatusPageRow>(&sql, vec![project_id.into()])
            .await?
            .map(StatusPage::try_from)
            .transpose()
    }

    /// The status page of `slug`, if any (enabled or not).
    pub async fn status_page_by_slug(&self, slug: &str) -> Result<Option<StatusPage>, StoreError> {
        let sql = format!("select {COLUMNS} from status_pages where slug = $1");
        self.db()
            .fetch_optional::<StatusPageRow>(&sql, vec![slug.into()])
            .await?
            .map(StatusPage::try_from)
            .transpose()
    }

    /// Creates or replaces a project's status page. Errors: [`StoreError::Conflict`] when
    /// another project has the slug.
    pub async fn save_status_page(&self, page: &StatusPage, now: i64) -> Result<(), StoreError> {
        if let Some(other) = self.status_page_by_slug(&page.slug).await? {
            if other.project_id != page.project_id {
                return Err(StoreError::Conflict(format!(
                    "the status page slug {:?} is taken",
                    page.slug
                )));
            }
        }
        let ids = serde_json::to_string(&page.monitor_ids)
            .map_err(|e| StoreError::Other(format!("cannot encode monitor ids: {e}")))?;
        let args: Vec<Arg<'_>> = vec![
            page.project_id.into(),
            page.slug.as_str().into(),
            page.title.as_str().into(),
            page.enabled.into(),
            ids.into(),
            now.into(),
        ];
        self.db()
            .execute(
                "insert into status_pages (project_id, slug, title, enabled, monitor_ids, \
                 updated_ms) values ($1, $2, $3, $4, $5, $6) on conflict (project_id) do update \
                 set slug = excluded.slug, title = excluded.title, enabled = excluded.enabled, \
                 monitor_ids = excluded.monitor_ids, updated_ms = excluded.updated_ms",
                args,
            )
            .await?;
        Ok(())
    }

    /// Per UTC day since `since_ms`: a check's results and how many were up, oldest first
    /// (days without results left out).
    pub async fn uptime_days(
        &self,
        check_id: i64,
        since_ms: i64,
    ) -> Result<Vec<DayTally>, StoreError> {
        let rows = self
            .db()
            .fetch_all::<DayRow>(
                "select checked_ms / 86400000 as day, count(*) as total, \
                 sum(case when ok then 1 else 0 end) as good from uptime_results \
                 where uptime_check_id = $1 and checked_ms >= $2 group by checked_ms / 86400000 \
                 order by day",
                vec![check_id.into(), since_ms.into()],
            )
            .await?;
        Ok(tallies(rows))
    }

    /// Per UTC day since `since_ms`: a monitor's finished check-ins and how many were `ok`,
    /// oldest first.
    pub async fn checkin_days(
        &self,
        monitor_id: i64,
        since_ms: i64,
    ) -> Result<Vec<DayTally>, StoreError> {
        let rows = self
            .db()
            .fetch_all::<DayRow>(
                "select started_ms / 86400000 as day, count(*) as total, \
                 sum(case when status = 'ok' then 1 else 0 end) as good from monitor_checkins \
                 where monitor_id = $1 and started_ms >= $2 \
                 and status in ('ok', 'error', 'missed', 'timeout') \
                 group by started_ms / 86400000 order by day",
                vec![monitor_id.into(), since_ms.into()],
            )
            .await?;
        Ok(tallies(rows))
    }
}
