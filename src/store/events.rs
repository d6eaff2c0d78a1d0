//! Stored events (`events`): one row per event, the normalized JSON zstd-compressed in
//! `event_payloads` under the same `event_pk` (`payload.rs`). Events are written only by the ingest batch (`batch/`); this
//! module reads them: an issue's event list, one event, the latest one, neighbours.
//!
//! Event lists page by `event_pk` (arrival order): the cursor is the last `event_pk` of the
//! page, as a decimal string.

use super::db::{arg, next_page, page_limit, Arg, Executor, IdRow, MaxRow};
use super::{Store, StoreError};
use crate::protocol::EventId;

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
    /// The indexed columns, as in event lists.
    #[serde(flatten)]
    pub summary: EventSummary,
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

/// The grouping values of the `events` row in scope: stored once per grouping
/// (`groupings.grouping_values`), the same for every event of the hash. Null for a grouping
/// stored before it had the column whose events were all gone at the upgrade.
const GROUPING_VALUES: &str = "(select g.grouping_values from groupings g \
    where g.project_id = events.project_id and g.grouping_version = events.grouping_version \
    and g.hash = events.grouping_hash) as grouping_values";

/// The payload of the `events` row in scope, as a column: it lives in `event_payloads`, so
/// that the events table holds only small rows (scanned and indexed densely) and the payloads
/// fill their own pages in arrival order.
pub(in crate::store) const PAYLOAD: &str =
    "(select p.payload from event_payloads p where p.event_pk = events.event_pk) as payload";

pub(super) const SUMMARY_COLUMNS: &str = "event_pk, event_id, project_id, issue_id, timestamp_ms, \
    received_ms, level, platform, title, culprit, release, environment";

row! {
    pub(super) struct SummaryRow {
        pub(super) event_pk: i64,
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

    try_into |r| {
        Ok(EventSummary {
            event_id: parse_event_id(&r.event_id)?,
            project_id, issue_id, timestamp_ms, received_ms, level, platform, title, culprit,
            release, environment,
        })
    }
}

row! {
    struct FullEventRow {
        #[sqlx(flatten)]
        summary: SummaryRow,
        user_key: Option<String>,
        grouping_version: String,
        grouping_kind: String,
        grouping_hash: String,
        grouping_values: Option<String>,
        payload: Vec<u8>,
    }
}

impl Store {
    /// An event row with its payload decoded (loading the dictionary it names, if needed).
    async fn stored_event(&self, r: FullEventRow) -> Result<StoredEvent, StoreError> {
        let payload = self.decode_stored(&mut self.db(), &r.payload).await?;
        let grouping_values = match r.grouping_values {
            Some(values) => serde_json::from_str(&values)
                .map_err(|e| StoreError::Other(format!("corrupt grouping values: {e}")))?,
            None => regrouped_values(&payload, &r.grouping_hash),
        };
        Ok(StoredEvent {
            summary: EventSummary::try_from(r.summary)?,
            user_key: r.user_key,
            grouping_version: r.grouping_version,
            grouping_kind: r.grouping_kind,
            grouping_hash: r.grouping_hash,
            grouping_values,
            payload,
        })
    }
}

/// The grouping values of a stored event whose grouping row has none (stored before
/// migration 0019 with no event left to take them from): grouped again from the payload, if
/// that still gives its hash; else none.
fn regrouped_values(payload: &serde_json::Value, hash: &str) -> Vec<String> {
    let grouping = crate::grouping::group(&crate::event::EventView::new(payload));
    if grouping.hash == hash {
        grouping.values
    } else {
        Vec::new()
    }
}

fn full_event_select() -> String {
    format!(
        "select {SUMMARY_COLUMNS}, user_key, grouping_version, grouping_kind, grouping_hash, \
         {GROUPING_VALUES}, {PAYLOAD} from events"
    )
}

row! {
    struct EventIdRow {
        event_id: String,
    }
}

row! {
    struct PkRow {
        event_pk: i64,
        issue_id: i64,
    }
}

/// Parses a stored event id (32 lowercase hex); anything else is corrupt data.
pub(super) fn parse_event_id(s: &str) -> Result<EventId, StoreError> {
    s.parse()
        .map_err(|_| StoreError::Other(format!("corrupt event id {s:?}")))
}

impl Store {
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
        let mut rows = self.db().fetch_all::<SummaryRow>(&sql, args).await?;
        let next_cursor = next_page(&mut rows, limit).map(|r| r.event_pk.to_string());
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
        let row = self
            .db()
            .fetch_one::<FullEventRow>(&sql, vec![project_id.into(), event_id.simple().into()])
            .await?;
        self.stored_event(row).await
    }

    /// The issue's most recently received event. Errors: [`StoreError::NotFound`] when the
    /// issue does not exist.
    pub async fn latest_event(&self, issue_id: i64) -> Result<StoredEvent, StoreError> {
        let sql = format!(
            "{} where issue_id = $1 order by event_pk desc limit 1",
            full_event_select()
        );
        let row = self
            .db()
            .fetch_one::<FullEventRow>(&sql, vec![issue_id.into()])
            .await?;
        self.stored_event(row).await
    }

    /// The older and newer neighbours of an event within its issue.
    /// Errors: [`StoreError::NotFound`] when the event is not stored.
    pub async fn event_neighbors(
        &self,
        project_id: i64,
        event_id: &EventId,
    ) -> Result<EventNeighbors, StoreError> {
        let pk_row = self
            .db()
            .fetch_one::<PkRow>(
                "select event_pk, issue_id from events where project_id = $1 and event_id = $2",
                vec![project_id.into(), event_id.simple().into()],
            )
            .await?;
        let around = || vec![pk_row.issue_id.into(), pk_row.event_pk.into()];
        let older = self
            .db()
            .fetch_optional::<EventIdRow>(
                "select event_id from events where issue_id = $1 and event_pk < $2 \
                 order by event_pk desc limit 1",
                around(),
            )
            .await?;
        let newer = self
            .db()
            .fetch_optional::<EventIdRow>(
                "select event_id from events where issue_id = $1 and event_pk > $2 \
                 order by event_pk limit 1",
                around(),
            )
            .await?;
        // Counting newer rows walks the index from this event to the newest, so the cost
        // grows with how far back the user navigated, not with the issue's size.
        let position = self
            .db()
            .fetch_one::<IdRow>(
                "select count(*) + 1 as id from events where issue_id = $1 and event_pk > $2",
                around(),
            )
            .await?
            .id;
        Ok(EventNeighbors {
            older: older.map(|r| parse_event_id(&r.event_id)).transpose()?,
            newer: newer.map(|r| parse_event_id(&r.event_id)).transpose()?,
            position,
        })
    }

    /// The newest `event_pk`: where frequency evaluation starts.
    pub async fn max_event_pk(&self) -> Result<i64, StoreError> {
        let row = self
            .db()
            .fetch_one::<MaxRow>("select max(event_pk) as value from events", vec![])
            .await?;
        Ok(row.value.unwrap_or(0))
    }
}
