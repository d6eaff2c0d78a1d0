//! The read side: issue lists with keyset pagination, issue and event views, facets,
//! hourly counts, triage updates and the outbox.
//!
//! Cursors are opaque strings to clients: `"<sort>:<value>:<issue_id>"` for issue lists
//! (the last row of the page in the sort order, newest / largest first) and the last
//! `event_pk` for event lists. A cursor is only valid with the sort it was made for.

use sqlx::FromRow;

use super::db::Arg;
use super::write::HOUR_MS;
use super::{decode_payload, found, now_ms, Backend, IssueStatus, Store, StoreError};
use crate::protocol::{EventId, Level};

/// An issue: events grouped under one fingerprint, with triage state and counters.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct Issue {
    /// Issue id.
    pub id: i64,
    /// Owning project.
    pub project_id: i64,
    /// Title of the newest event (by event timestamp).
    pub title: String,
    /// Culprit of the newest event.
    pub culprit: Option<String>,
    /// Level name of the newest event (`"error"`, …).
    pub level: String,
    /// Triage state.
    pub status: IssueStatus,
    /// True once a new event reopened the resolved issue; cleared when it is resolved again.
    pub is_regression: bool,
    /// Earliest event timestamp, epoch ms.
    pub first_seen_ms: i64,
    /// Latest event timestamp, epoch ms.
    pub last_seen_ms: i64,
    /// Number of stored events.
    pub count: i64,
    /// Number of distinct user keys among them.
    pub user_count: i64,
    /// Release of the newest event that had one.
    pub last_release: Option<String>,
    /// Every environment seen, sorted.
    pub environments: Vec<String>,
    /// The grouping hash that created the issue (64 hex).
    pub fingerprint: String,
    /// Grouping kind of the event that created the issue.
    pub grouping_kind: String,
    /// When it was resolved, epoch ms; set exactly while `status` is `resolved`.
    pub resolved_ms: Option<i64>,
}

/// Sort order of [`Store::list_issues`]; always descending, ties broken by newer issue id.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum IssueSort {
    /// Most recently seen first.
    #[default]
    LastSeen,
    /// Newest issues first.
    FirstSeen,
    /// Most events first.
    Count,
    /// Most distinct users first.
    Users,
}

impl IssueSort {
    fn column(self) -> &'static str {
        match self {
            IssueSort::LastSeen => "i.last_seen_ms",
            IssueSort::FirstSeen => "i.first_seen_ms",
            IssueSort::Count => "i.event_count",
            IssueSort::Users => "i.user_count",
        }
    }

    fn cursor_tag(self) -> &'static str {
        match self {
            IssueSort::LastSeen => "ls",
            IssueSort::FirstSeen => "fs",
            IssueSort::Count => "c",
            IssueSort::Users => "u",
        }
    }

    fn value(self, issue: &Issue) -> i64 {
        match self {
            IssueSort::LastSeen => issue.last_seen_ms,
            IssueSort::FirstSeen => issue.first_seen_ms,
            IssueSort::Count => issue.count,
            IssueSort::Users => issue.user_count,
        }
    }
}

/// Filters and page of [`Store::list_issues`]. All filters combine with AND.
#[derive(Debug, Clone)]
pub struct IssueQuery {
    /// Project to list.
    pub project_id: i64,
    /// Only issues in this state.
    pub status: Option<IssueStatus>,
    /// Only issues whose (newest) level is this.
    pub level: Option<Level>,
    /// Only issues with at least one event of this release.
    pub release: Option<String>,
    /// Only issues with at least one event in this environment.
    pub environment: Option<String>,
    /// Case-insensitive substring of title or culprit (SQLite folds ASCII case only).
    pub query: Option<String>,
    /// Only issues with at least one event carrying each `(key, value)` tag.
    pub tags: Vec<(String, String)>,
    /// Only issues reopened by an event after they were resolved (`is:regressed`).
    pub regressed: bool,
    /// Order.
    pub sort: IssueSort,
    /// Page size; clamped to 1..=100.
    pub limit: usize,
    /// `next_cursor` of the previous page, for the same sort.
    pub cursor: Option<String>,
}

impl IssueQuery {
    /// All issues of a project, most recently seen first, 25 per page.
    pub fn new(project_id: i64) -> IssueQuery {
        IssueQuery {
            project_id,
            status: None,
            level: None,
            release: None,
            environment: None,
            query: None,
            tags: Vec::new(),
            regressed: false,
            sort: IssueSort::LastSeen,
            limit: 25,
            cursor: None,
        }
    }
}

/// One page of issues.
#[derive(Debug, Clone, serde::Serialize)]
pub struct IssuePage {
    /// The issues, in the requested order.
    pub issues: Vec<Issue>,
    /// Cursor of the next page; `None` on the last page.
    pub next_cursor: Option<String>,
}

/// The indexed columns of a stored event (no payload).
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct EventSummary {
    /// Event id.
    pub event_id: EventId,
    /// Owning project.
    pub project_id: i64,
    /// Issue the event belongs to.
    pub issue_id: i64,
    /// Event time, epoch ms.
    pub timestamp_ms: i64,
    /// Receive time, epoch ms.
    pub received_ms: i64,
    /// Level name.
    pub level: String,
    /// Platform name.
    pub platform: String,
    /// Display title.
    pub title: String,
    /// Culprit, if any.
    pub culprit: Option<String>,
    /// Release, if any.
    pub release: Option<String>,
    /// Environment, if any.
    pub environment: Option<String>,
}

/// One page of an issue's events, newest (last received) first.
#[derive(Debug, Clone, serde::Serialize)]
pub struct EventPage {
    /// The events.
    pub events: Vec<EventSummary>,
    /// Cursor of the next page; `None` on the last page.
    pub next_cursor: Option<String>,
}

/// A stored event with its grouping record and decoded payload.
#[derive(Debug, Clone, PartialEq, serde::Serialize)]
pub struct StoredEvent {
    /// Event id.
    pub event_id: EventId,
    /// Owning project.
    pub project_id: i64,
    /// Issue the event belongs to.
    pub issue_id: i64,
    /// Event time, epoch ms.
    pub timestamp_ms: i64,
    /// Receive time, epoch ms.
    pub received_ms: i64,
    /// Level name.
    pub level: String,
    /// Platform name.
    pub platform: String,
    /// Display title.
    pub title: String,
    /// Culprit, if any.
    pub culprit: Option<String>,
    /// Release, if any.
    pub release: Option<String>,
    /// Environment, if any.
    pub environment: Option<String>,
    /// Distinct-user identity, if any.
    pub user_key: Option<String>,
    /// Grouping rules version (`"v1"`).
    pub grouping_version: String,
    /// Grouping kind.
    pub grouping_kind: String,
    /// Grouping hash (64 hex).
    pub grouping_hash: String,
    /// Values that contributed to the hash.
    pub grouping_values: Vec<String>,
    /// The normalized event JSON.
    pub payload: serde_json::Value,
}

/// Why an outbox row was written.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "snake_case")]
pub enum OutboxKind {
    /// The event created a new issue.
    NewIssue,
    /// The event reopened a resolved issue.
    Regression,
}

/// A pending notification.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct OutboxEntry {
    /// Row id (increasing in commit order per writer).
    pub id: i64,
    /// What happened.
    pub kind: OutboxKind,
    /// Project of the issue.
    pub project_id: i64,
    /// The issue.
    pub issue_id: i64,
    /// The event that caused it.
    pub event_id: EventId,
    /// When it was written, epoch ms.
    pub created_ms: i64,
    /// Delivery state (`"pending"`).
    pub state: String,
    /// Delivery attempts so far.
    pub attempts: i64,
    /// Earliest next attempt, epoch ms.
    pub next_attempt_ms: i64,
    /// Error of the last failed attempt.
    pub last_error: Option<String>,
}

const ISSUE_COLUMNS: &str = "i.issue_id, i.project_id, i.title, i.culprit, i.level, i.status, \
    i.is_regression, i.first_seen_ms, i.last_seen_ms, i.event_count, i.user_count, \
    i.last_release, i.environments, i.fingerprint, i.grouping_kind, i.resolved_ms";

#[derive(Debug, FromRow)]
struct IssueRow {
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

impl TryFrom<IssueRow> for Issue {
    type Error = StoreError;

    fn try_from(r: IssueRow) -> Result<Self, StoreError> {
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

const SUMMARY_COLUMNS: &str = "event_pk, event_id, project_id, issue_id, timestamp_ms, \
    received_ms, level, platform, title, culprit, release, environment";

#[derive(Debug, FromRow)]
struct SummaryRow {
    event_pk: i64,
    event_id: String,
    project_id: i64,
    issue_id: i64,
    timestamp_ms: i64,
    received_ms: i64,
    level: String,
    platform: String,
    title: String,
    culprit: Option<String>,
    release: Option<String>,
    environment: Option<String>,
}

impl TryFrom<SummaryRow> for EventSummary {
    type Error = StoreError;

    fn try_from(r: SummaryRow) -> Result<Self, StoreError> {
        Ok(EventSummary {
            event_id: parse_event_id(&r.event_id)?,
            project_id: r.project_id,
            issue_id: r.issue_id,
            timestamp_ms: r.timestamp_ms,
            received_ms: r.received_ms,
            level: r.level,
            platform: r.platform,
            title: r.title,
            culprit: r.culprit,
            release: r.release,
            environment: r.environment,
        })
    }
}

#[derive(Debug, FromRow)]
struct FullEventRow {
    #[sqlx(flatten)]
    summary: SummaryRow,
    user_key: Option<String>,
    grouping_version: String,
    grouping_kind: String,
    grouping_hash: String,
    grouping_values: String,
    payload: Vec<u8>,
}

impl TryFrom<FullEventRow> for StoredEvent {
    type Error = StoreError;

    fn try_from(r: FullEventRow) -> Result<Self, StoreError> {
        let s = EventSummary::try_from(r.summary)?;
        let grouping_values = serde_json::from_str(&r.grouping_values)
            .map_err(|e| StoreError::Other(format!("corrupt grouping values: {e}")))?;
        Ok(StoredEvent {
            event_id: s.event_id,
            project_id: s.project_id,
            issue_id: s.issue_id,
            timestamp_ms: s.timestamp_ms,
            received_ms: s.received_ms,
            level: s.level,
            platform: s.platform,
            title: s.title,
            culprit: s.culprit,
            release: s.release,
            environment: s.environment,
            user_key: r.user_key,
            grouping_version: r.grouping_version,
            grouping_kind: r.grouping_kind,
            grouping_hash: r.grouping_hash,
            grouping_values,
            payload: decode_payload(&r.payload)?,
        })
    }
}

fn full_event_select() -> String {
    format!(
        "select {SUMMARY_COLUMNS}, user_key, grouping_version, grouping_kind, grouping_hash, \
         grouping_values, payload from events"
    )
}

#[derive(Debug, FromRow)]
struct FacetRow {
    key: String,
    value: String,
    count: i64,
}

#[derive(Debug, FromRow)]
struct HourRow {
    hour_ms: i64,
    count: i64,
}

#[derive(Debug, FromRow)]
struct CountsRow {
    events: i64,
    issues: i64,
}

#[derive(Debug, FromRow)]
struct OutboxRow {
    outbox_id: i64,
    kind: String,
    project_id: i64,
    issue_id: i64,
    event_id: String,
    created_ms: i64,
    state: String,
    attempts: i64,
    next_attempt_ms: i64,
    last_error: Option<String>,
}

fn parse_event_id(s: &str) -> Result<EventId, StoreError> {
    s.parse()
        .map_err(|_| StoreError::Other(format!("corrupt event id {s:?}")))
}

/// Appends an argument and returns its placeholder (`$n`).
fn arg<'a>(args: &mut Vec<Arg<'a>>, value: impl Into<Arg<'a>>) -> String {
    args.push(value.into());
    format!("${}", args.len())
}

/// Converts a page size to a bind value, clamped to 1..=100.
fn page_limit(limit: usize) -> i64 {
    i64::try_from(limit.clamp(1, 100)).unwrap_or(100)
}

fn parse_issue_cursor(cursor: &str, sort: IssueSort) -> Result<(i64, i64), StoreError> {
    let invalid = || StoreError::InvalidCursor(format!("{cursor:?} is not a cursor of this list"));
    let mut parts = cursor.split(':');
    let (Some(tag), Some(value), Some(id), None) =
        (parts.next(), parts.next(), parts.next(), parts.next())
    else {
        return Err(invalid());
    };
    if tag != sort.cursor_tag() {
        return Err(invalid());
    }
    let value = value.parse().map_err(|_| invalid())?;
    let id = id.parse().map_err(|_| invalid())?;
    Ok((value, id))
}

impl Store {
    /// One page of a project's issues, filtered and sorted by `q` (see [`IssueQuery`]).
    ///
    /// Keyset pagination on `(sort value, issue_id)`: pages neither repeat nor skip issues
    /// whose sort value does not change meanwhile. Errors: [`StoreError::InvalidCursor`] for
    /// a cursor not produced by this method with the same sort.
    pub async fn list_issues(&self, q: &IssueQuery) -> Result<IssuePage, StoreError> {
        let mut args: Vec<Arg<'_>> = Vec::new();
        let project = arg(&mut args, q.project_id);
        // With free text most rows are read anyway: `+` keeps SQLite off the sort index so it
        // scans the table in storage order and sorts the (few) matches, instead of visiting
        // every row in random order through the index.
        let project_column = if q.query.is_some() && self.backend() == Backend::Sqlite {
            "+i.project_id"
        } else {
            "i.project_id"
        };
        let mut sql =
            format!("select {ISSUE_COLUMNS} from issues i where {project_column} = {project}");
        if let Some(status) = q.status {
            sql += &format!(" and i.status = {}", arg(&mut args, status.as_str()));
        }
        if q.regressed {
            sql += " and i.is_regression = true";
        }
        if let Some(level) = q.level {
            sql += &format!(" and i.level = {}", arg(&mut args, level.as_str()));
        }
        let fixed = [("release", &q.release), ("environment", &q.environment)];
        let fixed = fixed
            .into_iter()
            .filter_map(|(k, v)| v.as_deref().map(|v| (k, v)));
        let free = q.tags.iter().map(|(k, v)| (k.as_str(), v.as_str()));
        for (key, value) in fixed.chain(free) {
            let key = arg(&mut args, key);
            let value = arg(&mut args, value);
            sql += &format!(
                " and exists (select 1 from issue_tags t where t.issue_id = i.issue_id \
                 and t.key = {key} and t.value = {value})"
            );
        }
        if let Some(text) = q.query.as_deref() {
            match self.backend() {
                // SQLite's LIKE folds ASCII case itself (like `lower()` there), without
                // allocating two lowered copies per row.
                Backend::Sqlite => {
                    let escaped = text
                        .replace('\\', "\\\\")
                        .replace('%', "\\%")
                        .replace('_', "\\_");
                    let p = arg(&mut args, format!("%{escaped}%"));
                    sql += &format!(
                        " and (i.title like {p} escape '\\' \
                         or coalesce(i.culprit, '') like {p} escape '\\')"
                    );
                }
                Backend::Postgres => {
                    let p = arg(&mut args, text);
                    sql += &format!(
                        " and (strpos(lower(i.title), lower({p})) > 0 \
                         or strpos(lower(coalesce(i.culprit, '')), lower({p})) > 0)"
                    );
                }
            }
        }
        let column = q.sort.column();
        if let Some(cursor) = q.cursor.as_deref() {
            let (value, id) = parse_issue_cursor(cursor, q.sort)?;
            let value = arg(&mut args, value);
            let id = arg(&mut args, id);
            sql += &format!(" and ({column}, i.issue_id) < ({value}, {id})");
        }
        let limit = page_limit(q.limit);
        sql += &format!(
            " order by {column} desc, i.issue_id desc limit {}",
            arg(&mut args, limit + 1)
        );
        let rows = self.pool.fetch_all::<IssueRow>(&sql, args).await?;
        let mut issues = rows
            .into_iter()
            .map(Issue::try_from)
            .collect::<Result<Vec<_>, _>>()?;
        let next_cursor = if issues.len() > limit.unsigned_abs() as usize {
            issues.truncate(limit.unsigned_abs() as usize);
            issues
                .last()
                .map(|last| format!("{}:{}:{}", q.sort.cursor_tag(), q.sort.value(last), last.id))
        } else {
            None
        };
        Ok(IssuePage {
            issues,
            next_cursor,
        })
    }

    /// One issue. Errors: [`StoreError::NotFound`].
    pub async fn issue(&self, issue_id: i64) -> Result<Issue, StoreError> {
        let sql = format!("select {ISSUE_COLUMNS} from issues i where i.issue_id = $1");
        self.pool
            .fetch_one::<IssueRow>(&sql, vec![issue_id.into()])
            .await?
            .try_into()
    }

    /// Sets the triage state and returns the updated issue.
    ///
    /// Resolving records `resolved_ms` (kept if it already was resolved) and clears
    /// `is_regression`; unresolving or ignoring clears `resolved_ms` and leaves
    /// `is_regression` alone (a manual reopen is not a regression). Does not write to the
    /// outbox. Errors: [`StoreError::NotFound`].
    pub async fn set_issue_status(
        &self,
        issue_id: i64,
        status: IssueStatus,
    ) -> Result<Issue, StoreError> {
        let n = match status {
            IssueStatus::Resolved => {
                self.pool
                    .execute(
                        "update issues set status = 'resolved', is_regression = false, \
                         resolved_ms = coalesce(resolved_ms, $2) where issue_id = $1",
                        vec![issue_id.into(), now_ms().into()],
                    )
                    .await?
            }
            IssueStatus::Unresolved | IssueStatus::Ignored => {
                self.pool
                    .execute(
                        "update issues set status = $2, resolved_ms = null where issue_id = $1",
                        vec![issue_id.into(), status.as_str().into()],
                    )
                    .await?
            }
        };
        found(n)?;
        self.issue(issue_id).await
    }

    /// One page of an issue's events, newest (last received) first; `cursor` is the previous
    /// page's `next_cursor`, `limit` is clamped to 1..=100. An unknown issue yields an empty
    /// page. Errors: [`StoreError::InvalidCursor`].
    pub async fn issue_events(
        &self,
        issue_id: i64,
        limit: usize,
        cursor: Option<&str>,
    ) -> Result<EventPage, StoreError> {
        let mut args: Vec<Arg<'_>> = Vec::new();
        let mut sql = format!(
            "select {SUMMARY_COLUMNS} from events where issue_id = {}",
            arg(&mut args, issue_id)
        );
        if let Some(cursor) = cursor {
            let pk: i64 = cursor.parse().ok().filter(|pk| *pk > 0).ok_or_else(|| {
                StoreError::InvalidCursor(format!("{cursor:?} is not an event cursor"))
            })?;
            sql += &format!(" and event_pk < {}", arg(&mut args, pk));
        }
        let limit = page_limit(limit);
        sql += &format!(
            " order by event_pk desc limit {}",
            arg(&mut args, limit + 1)
        );
        let mut rows = self.pool.fetch_all::<SummaryRow>(&sql, args).await?;
        let next_cursor = if rows.len() > limit.unsigned_abs() as usize {
            rows.truncate(limit.unsigned_abs() as usize);
            rows.last().map(|r| r.event_pk.to_string())
        } else {
            None
        };
        let events = rows
            .into_iter()
            .map(EventSummary::try_from)
            .collect::<Result<_, _>>()?;
        Ok(EventPage {
            events,
            next_cursor,
        })
    }

    /// One event with its payload. Errors: [`StoreError::NotFound`].
    pub async fn event(
        &self,
        project_id: i64,
        event_id: &EventId,
    ) -> Result<StoredEvent, StoreError> {
        let sql = format!(
            "{} where project_id = $1 and event_id = $2",
            full_event_select()
        );
        self.pool
            .fetch_one::<FullEventRow>(&sql, vec![project_id.into(), event_id.simple().into()])
            .await?
            .try_into()
    }

    /// The issue's most recently received event. Errors: [`StoreError::NotFound`] when the
    /// issue does not exist.
    pub async fn latest_event(&self, issue_id: i64) -> Result<StoredEvent, StoreError> {
        let sql = format!(
            "{} where issue_id = $1 order by event_pk desc limit 1",
            full_event_select()
        );
        self.pool
            .fetch_one::<FullEventRow>(&sql, vec![issue_id.into()])
            .await?
            .try_into()
    }

    /// Tag distribution of an issue: per key (sorted), its `top_n` most frequent values with
    /// their event counts, most frequent first. Keys include `level`, `release` and
    /// `environment`. An unknown issue yields an empty list.
    pub async fn issue_tag_facets(
        &self,
        issue_id: i64,
        top_n: usize,
    ) -> Result<Vec<(String, Vec<(String, i64)>)>, StoreError> {
        let top_n = i64::try_from(top_n).unwrap_or(i64::MAX);
        let rows = self
            .pool
            .fetch_all::<FacetRow>(
                "select key, value, count from (\
                   select key, value, count, row_number() over \
                     (partition by key order by count desc, value) as rn \
                   from issue_tags where issue_id = $1) ranked \
                 where rn <= $2 order by key, count desc, value",
                vec![issue_id.into(), top_n.into()],
            )
            .await?;
        let mut facets: Vec<(String, Vec<(String, i64)>)> = Vec::new();
        for row in rows {
            match facets.last_mut() {
                Some((key, values)) if *key == row.key => values.push((row.value, row.count)),
                _ => facets.push((row.key, vec![(row.value, row.count)])),
            }
        }
        Ok(facets)
    }

    /// Event counts per hour (`(hour start epoch ms, count)`, oldest first) from the hour
    /// containing `since_ms` on; hours without events are absent.
    pub async fn issue_hourly(
        &self,
        issue_id: i64,
        since_ms: i64,
    ) -> Result<Vec<(i64, i64)>, StoreError> {
        let rows = self
            .pool
            .fetch_all::<HourRow>(
                "select hour_ms, count from issue_hourly where issue_id = $1 and hour_ms >= $2 \
                 order by hour_ms",
                vec![
                    issue_id.into(),
                    (since_ms.div_euclid(HOUR_MS) * HOUR_MS).into(),
                ],
            )
            .await?;
        Ok(rows.into_iter().map(|r| (r.hour_ms, r.count)).collect())
    }

    /// `(events, issues)` stored, for one project or all. Counts rows, so it costs a scan of
    /// the events index: meant for dashboards and tests, not per-request paths.
    pub async fn counts(&self, project_id: Option<i64>) -> Result<(i64, i64), StoreError> {
        let (filter, args) = match project_id {
            Some(id) => (" where project_id = $1", vec![Arg::from(id)]),
            None => ("", vec![]),
        };
        let sql = format!(
            "select (select count(*) from events{filter}) as events, \
             (select count(*) from issues{filter}) as issues"
        );
        let row = self.pool.fetch_one::<CountsRow>(&sql, args).await?;
        Ok((row.events, row.issues))
    }

    /// Up to `limit` (clamped to 1..=1000) outbox rows in state `pending`, oldest first,
    /// without claiming them.
    pub async fn pending_outbox(&self, limit: usize) -> Result<Vec<OutboxEntry>, StoreError> {
        let limit = i64::try_from(limit.clamp(1, 1000)).unwrap_or(1000);
        let rows = self
            .pool
            .fetch_all::<OutboxRow>(
                "select outbox_id, kind, project_id, issue_id, event_id, created_ms, state, \
                 attempts, next_attempt_ms, last_error from outbox where state = 'pending' \
                 order by outbox_id limit $1",
                vec![limit.into()],
            )
            .await?;
        rows.into_iter()
            .map(|r| {
                let kind = match r.kind.as_str() {
                    "new_issue" => OutboxKind::NewIssue,
                    "regression" => OutboxKind::Regression,
                    other => {
                        return Err(StoreError::Other(format!("corrupt outbox kind {other:?}")))
                    }
                };
                Ok(OutboxEntry {
                    id: r.outbox_id,
                    kind,
                    project_id: r.project_id,
                    issue_id: r.issue_id,
                    event_id: parse_event_id(&r.event_id)?,
                    created_ms: r.created_ms,
                    state: r.state,
                    attempts: r.attempts,
                    next_attempt_ms: r.next_attempt_ms,
                    last_error: r.last_error,
                })
            })
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn issue_cursor_is_tied_to_its_sort() {
        assert_eq!(
            parse_issue_cursor("ls:1700:42", IssueSort::LastSeen).unwrap(),
            (1700, 42)
        );
        assert!(parse_issue_cursor("ls:1700:42", IssueSort::Count).is_err());
        assert!(parse_issue_cursor("ls:x:42", IssueSort::LastSeen).is_err());
        assert!(parse_issue_cursor("ls:1:2:3", IssueSort::LastSeen).is_err());
        assert!(parse_issue_cursor("", IssueSort::LastSeen).is_err());
    }
}
