//! Queries only the issue browser needs: the issue list with the `is:regressed` filter,
//! sparkline data for a page of issues at once, event navigation, per-project counters,
//! bulk triage and deleting an issue.
//!
//! [`Store::browse_issues`] answers the same filters, sort orders and cursors as
//! [`Store::list_issues`] (cursors are interchangeable) plus [`BrowseQuery::regressed`].

use std::collections::HashMap;

use sqlx::FromRow;

use super::db::{Arg, IdRow};
use super::write::HOUR_MS;
use super::{found, Backend, Issue, IssuePage, IssueQuery, IssueSort, IssueStatus};
use super::{Store, StoreError};
use crate::protocol::EventId;

/// [`IssueQuery`] plus the filters only the browser offers.
#[derive(Debug, Clone)]
pub struct BrowseQuery {
    /// The filters, sort and page shared with the read API.
    pub base: IssueQuery,
    /// Only issues reopened by a new event since they were resolved (`is:regressed`).
    pub regressed: bool,
}

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

const ISSUE_COLUMNS: &str = "i.issue_id, i.project_id, i.title, i.culprit, i.level, i.status, \
    i.is_regression, i.first_seen_ms, i.last_seen_ms, i.event_count, i.user_count, \
    i.last_release, i.environments, i.fingerprint, i.grouping_kind, i.resolved_ms";

#[derive(Debug, FromRow)]
struct BrowseRow {
    issue_id: i64,
    project_id: i64,
    title: String,
    culprit: Option<String>,
    level: String,
    status: String,
    is_regression: bool,
    first_seen_ms: i64,
    last_seen_ms: i64,
    event_count: i64,
    user_count: i64,
    last_release: Option<String>,
    environments: String,
    fingerprint: String,
    grouping_kind: String,
    resolved_ms: Option<i64>,
}

impl TryFrom<BrowseRow> for Issue {
    type Error = StoreError;

    fn try_from(r: BrowseRow) -> Result<Self, StoreError> {
        let environments = serde_json::from_str(&r.environments).map_err(|e| {
            StoreError::Other(format!("corrupt environments of issue {}: {e}", r.issue_id))
        })?;
        Ok(Issue {
            id: r.issue_id,
            project_id: r.project_id,
            title: r.title,
            culprit: r.culprit,
            level: r.level,
            status: IssueStatus::parse(&r.status)?,
            is_regression: r.is_regression,
            first_seen_ms: r.first_seen_ms,
            last_seen_ms: r.last_seen_ms,
            count: r.event_count,
            user_count: r.user_count,
            last_release: r.last_release,
            environments,
            fingerprint: r.fingerprint,
            grouping_kind: r.grouping_kind,
            resolved_ms: r.resolved_ms,
        })
    }
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

fn sort_parts(sort: IssueSort) -> (&'static str, &'static str) {
    match sort {
        IssueSort::LastSeen => ("i.last_seen_ms", "ls"),
        IssueSort::FirstSeen => ("i.first_seen_ms", "fs"),
        IssueSort::Count => ("i.event_count", "c"),
        IssueSort::Users => ("i.user_count", "u"),
    }
}

fn sort_value(sort: IssueSort, issue: &Issue) -> i64 {
    match sort {
        IssueSort::LastSeen => issue.last_seen_ms,
        IssueSort::FirstSeen => issue.first_seen_ms,
        IssueSort::Count => issue.count,
        IssueSort::Users => issue.user_count,
    }
}

/// Parses a `"<tag>:<value>:<issue_id>"` cursor of the given sort.
fn parse_cursor(cursor: &str, tag: &str) -> Result<(i64, i64), StoreError> {
    let invalid = || StoreError::InvalidCursor(format!("{cursor:?} is not a cursor of this list"));
    let mut parts = cursor.split(':');
    match (parts.next(), parts.next(), parts.next(), parts.next()) {
        (Some(t), Some(value), Some(id), None) if t == tag => Ok((
            value.parse().map_err(|_| invalid())?,
            id.parse().map_err(|_| invalid())?,
        )),
        _ => Err(invalid()),
    }
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
    /// One page of a project's issues filtered by `q` (see [`BrowseQuery`]), with keyset
    /// pagination like [`Store::list_issues`]. Errors: [`StoreError::InvalidCursor`].
    pub async fn browse_issues(&self, q: &BrowseQuery) -> Result<IssuePage, StoreError> {
        let b = &q.base;
        let mut args: Vec<Arg<'_>> = Vec::new();
        // With free text most rows are read anyway: `+` keeps SQLite off the sort index so it
        // scans the table in storage order and sorts the (few) matches, instead of visiting
        // every row in random order through the index.
        let project_column = if b.query.is_some() && self.backend() == Backend::Sqlite {
            "+i.project_id"
        } else {
            "i.project_id"
        };
        let mut sql = format!(
            "select {ISSUE_COLUMNS} from issues i where {project_column} = {}",
            push(&mut args, b.project_id)
        );
        if let Some(status) = b.status {
            sql += &format!(" and i.status = {}", push(&mut args, status.as_str()));
        }
        if q.regressed {
            sql += " and i.is_regression = true";
        }
        if let Some(level) = b.level {
            sql += &format!(" and i.level = {}", push(&mut args, level.as_str()));
        }
        let fixed = [("release", &b.release), ("environment", &b.environment)];
        let fixed = fixed
            .into_iter()
            .filter_map(|(k, v)| v.as_deref().map(|v| (k, v)));
        let free = b.tags.iter().map(|(k, v)| (k.as_str(), v.as_str()));
        for (key, value) in fixed.chain(free) {
            let key = push(&mut args, key);
            let value = push(&mut args, value);
            sql += &format!(
                " and exists (select 1 from issue_tags t where t.issue_id = i.issue_id \
                 and t.key = {key} and t.value = {value})"
            );
        }
        if let Some(text) = b.query.as_deref() {
            match self.backend() {
                // SQLite's LIKE folds ASCII case itself (like `lower()` there), without
                // allocating two lowered copies per row.
                Backend::Sqlite => {
                    let escaped = text
                        .replace('\\', "\\\\")
                        .replace('%', "\\%")
                        .replace('_', "\\_");
                    let p = push(&mut args, format!("%{escaped}%"));
                    sql += &format!(
                        " and (i.title like {p} escape '\\' \
                         or coalesce(i.culprit, '') like {p} escape '\\')"
                    );
                }
                Backend::Postgres => {
                    let p = push(&mut args, text);
                    sql += &format!(
                        " and (strpos(lower(i.title), lower({p})) > 0 \
                         or strpos(lower(coalesce(i.culprit, '')), lower({p})) > 0)"
                    );
                }
            }
        }
        let (column, tag) = sort_parts(b.sort);
        if let Some(cursor) = b.cursor.as_deref() {
            let (value, id) = parse_cursor(cursor, tag)?;
            let value = push(&mut args, value);
            let id = push(&mut args, id);
            sql += &format!(" and ({column}, i.issue_id) < ({value}, {id})");
        }
        let limit = b.limit.clamp(1, 100);
        sql += &format!(
            " order by {column} desc, i.issue_id desc limit {}",
            push(&mut args, i64::try_from(limit + 1).unwrap_or(101))
        );
        let rows = self.pool.fetch_all::<BrowseRow>(&sql, args).await?;
        let mut issues = rows
            .into_iter()
            .map(Issue::try_from)
            .collect::<Result<Vec<_>, _>>()?;
        let next_cursor = if issues.len() > limit {
            issues.truncate(limit);
            issues
                .last()
                .map(|last| format!("{tag}:{}:{}", sort_value(b.sort, last), last.id))
        } else {
            None
        };
        Ok(IssuePage {
            issues,
            next_cursor,
        })
    }

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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cursors_match_the_read_api_format() {
        assert_eq!(parse_cursor("c:12:7", "c").unwrap(), (12, 7));
        assert!(parse_cursor("ls:12:7", "c").is_err());
        assert!(parse_cursor("c:x:7", "c").is_err());
        assert!(parse_cursor("c:1:2:3", "c").is_err());
    }
}
