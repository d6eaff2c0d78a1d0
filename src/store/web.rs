//! Queries only the issue browser needs: the issue list with the `is:regressed` filter,
//! sparkline data for a page of issues at once, event navigation, per-project counters,
//! bulk triage and deleting an issue.
//!

use std::collections::HashMap;

use sqlx::FromRow;

use super::db::{Arg, IdRow};
use super::write::HOUR_MS;
use super::{found, IssueStatus};
use super::{Store, StoreError};
use crate::protocol::EventId;

/// The neighbours of an event within its issue, by arrival order.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct EventNeighbors {
    /// The next older event, if any.
    pub older: Option<EventId>,
    /// The next newer event, if any.
    pub newer: Option<EventId>,
    /// 1-based position counted from the newest event.
    pub position: i64,
}

/// Counters of one project, from the issue table's denormalized counts (cheap at any size).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct ProjectStats {
    /// Issues of the project.
    pub issues: i64,
    /// Events stored for those issues.
    pub events: i64,
    /// Issues currently unresolved.
    pub unresolved: i64,
}

#[derive(Debug, FromRow)]
struct IssueHourRow {
    issue_id: i64,
    hour_ms: i64,
    count: i64,
}

#[derive(Debug, FromRow)]
struct EventIdRow {
    event_id: String,
}

#[derive(Debug, FromRow)]
struct StatsRow {
    project_id: i64,
    issues: i64,
    events: i64,
    unresolved: i64,
}

fn push<'a>(args: &mut Vec<Arg<'a>>, value: impl Into<Arg<'a>>) -> String {
    args.push(value.into());
    format!("${}", args.len())
}

fn parse_event_id(s: &str) -> Result<EventId, StoreError> {
    s.parse()
        .map_err(|_| StoreError::Other(format!("corrupt event id {s:?}")))
}

impl Store {
    /// Hourly event counts of several issues at once (sparklines of a list page), from the
    /// hour containing `since_ms` on; per issue `(hour start epoch ms, count)`, oldest first.
    pub async fn hourly_for_issues(
        &self,
        issue_ids: &[i64],
        since_ms: i64,
    ) -> Result<HashMap<i64, Vec<(i64, i64)>>, StoreError> {
        let mut out: HashMap<i64, Vec<(i64, i64)>> = HashMap::new();
        if issue_ids.is_empty() {
            return Ok(out);
        }
        let mut args: Vec<Arg<'_>> = Vec::new();
        let since = push(&mut args, since_ms.div_euclid(HOUR_MS) * HOUR_MS);
        let ids: Vec<String> = issue_ids.iter().map(|id| push(&mut args, *id)).collect();
        let sql = format!(
            "select issue_id, hour_ms, count from issue_hourly \
             where issue_id in ({}) and hour_ms >= {since} order by issue_id, hour_ms",
            ids.join(", ")
        );
        for r in self.pool.fetch_all::<IssueHourRow>(&sql, args).await? {
            out.entry(r.issue_id)
                .or_default()
                .push((r.hour_ms, r.count));
        }
        Ok(out)
    }

    /// The older and newer neighbours of an event within its issue.
    /// Errors: [`StoreError::NotFound`] when the event is not stored.
    pub async fn event_neighbors(
        &self,
        project_id: i64,
        event_id: &EventId,
    ) -> Result<EventNeighbors, StoreError> {
        let pk_row = self
            .pool
            .fetch_one::<PkRow>(
                "select event_pk, issue_id from events where project_id = $1 and event_id = $2",
                vec![project_id.into(), event_id.simple().into()],
            )
            .await?;
        let older = self
            .pool
            .fetch_optional::<EventIdRow>(
                "select event_id from events where issue_id = $1 and event_pk < $2 \
                 order by event_pk desc limit 1",
                vec![pk_row.issue_id.into(), pk_row.event_pk.into()],
            )
            .await?;
        let newer = self
            .pool
            .fetch_optional::<EventIdRow>(
                "select event_id from events where issue_id = $1 and event_pk > $2 \
                 order by event_pk limit 1",
                vec![pk_row.issue_id.into(), pk_row.event_pk.into()],
            )
            .await?;
        // Counting newer rows walks the index from this event to the newest, so the cost
        // grows with how far back the user navigated, not with the issue's size.
        let position = self
            .pool
            .fetch_one::<IdRow>(
                "select count(*) + 1 as id from events where issue_id = $1 and event_pk > $2",
                vec![pk_row.issue_id.into(), pk_row.event_pk.into()],
            )
            .await?
            .id;
        Ok(EventNeighbors {
            older: older.map(|r| parse_event_id(&r.event_id)).transpose()?,
            newer: newer.map(|r| parse_event_id(&r.event_id)).transpose()?,
            position,
        })
    }

    /// Issue and event counters of every project that has issues.
    pub async fn project_stats(&self) -> Result<HashMap<i64, ProjectStats>, StoreError> {
        let rows = self
            .pool
            .fetch_all::<StatsRow>(
                "select project_id, count(*) as issues, \
                 cast(coalesce(sum(event_count), 0) as bigint) as events, \
                 cast(coalesce(sum(case when status = 'unresolved' then 1 else 0 end), 0) \
                   as bigint) as unresolved \
                 from issues group by project_id",
                vec![],
            )
            .await?;
        Ok(rows
            .into_iter()
            .map(|r| {
                (
                    r.project_id,
                    ProjectStats {
                        issues: r.issues,
                        events: r.events,
                        unresolved: r.unresolved,
                    },
                )
            })
            .collect())
    }

    /// Sets the triage state of several issues of one project (bulk actions); ids of other
    /// projects are ignored. Returns how many issues changed. Same rules as
    /// [`Store::set_issue_status`].
    pub async fn set_issues_status(
        &self,
        project_id: i64,
        issue_ids: &[i64],
        status: IssueStatus,
    ) -> Result<u64, StoreError> {
        let mut changed = 0;
        for &id in issue_ids {
            match self.issue(id).await {
                Ok(issue) if issue.project_id == project_id => {
                    self.set_issue_status(id, status).await?;
                    changed += 1;
                }
                Ok(_) | Err(StoreError::NotFound) => {}
                Err(e) => return Err(e),
            }
        }
        Ok(changed)
    }

    /// Deletes an issue with its events, counters, groupings and pending notifications, in
    /// one transaction. A later event with the same fingerprint creates a new issue.
    /// Errors: [`StoreError::NotFound`].
    pub async fn delete_issue(&self, issue_id: i64) -> Result<(), StoreError> {
        let mut tx = self.pool.begin_write().await?;
        // Notification history of the issue goes with it (its rows reference the outbox
        // rows and the issue); digests of other issues that this issue's deliveries carried
        // lose only the link to their carrier.
        const OUTBOX_OF_ISSUE: &str = "select outbox_id from outbox where issue_id = $1";
        let deliveries =
            format!("select delivery_id from notification_deliveries where outbox_id in ({OUTBOX_OF_ISSUE})");
        let statements = [
            format!("delete from notification_attempts where delivery_id in ({deliveries})"),
            format!(
                "update notification_deliveries set folded_into = null \
                 where folded_into in ({deliveries})"
            ),
            format!("delete from notification_deliveries where outbox_id in ({OUTBOX_OF_ISSUE})"),
            "delete from notification_triggers where issue_id = $1".to_owned(),
            "delete from outbox where issue_id = $1".to_owned(),
            "delete from issue_hourly where issue_id = $1".to_owned(),
            "delete from issue_tags where issue_id = $1".to_owned(),
            "delete from issue_users where issue_id = $1".to_owned(),
            "delete from groupings where issue_id = $1".to_owned(),
            "delete from pending_aggregates where event_pk in \
             (select event_pk from events where issue_id = $1)"
                .to_owned(),
            "delete from events where issue_id = $1".to_owned(),
        ];
        for sql in &statements {
            tx.execute(sql, vec![issue_id.into()]).await?;
        }
        let n = tx
            .execute(
                "delete from issues where issue_id = $1",
                vec![issue_id.into()],
            )
            .await?;
        found(n)?;
        tx.commit().await
    }
}

#[derive(Debug, FromRow)]
struct PkRow {
    event_pk: i64,
    issue_id: i64,
}
