//! The event list of one issue with the issue list's search terms (free text, `level:`,
//! `release:`, `environment:`, tags), newest first, for the issue's Events page and
//! `GET /api/v1/issues/{id}/events?query=…`.
//!
//! Level, release, environment and text (a substring of the title) are SQL filters on the
//! `events` row. Tags live only in the compressed payload, so a tag filter decodes each
//! candidate: a page reads at most [`SCAN_BUDGET`] events, and when the budget runs out
//! before the page is full it ends early with a cursor to go on from (a sparse tag in a
//! large issue then takes several pages, none of them slow).

use serde_json::Value;

use super::db::{arg, like_contains, Arg, Executor};
use super::events::{SummaryRow, PAYLOAD, SUMMARY_COLUMNS};
use super::{Backend, EventSummary, Store, StoreError};

/// Most events a tag-filtered page decodes.
pub const SCAN_BUDGET: usize = 2_000;

/// What to keep of an issue's events; all filters combine with AND.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct EventFilter {
    /// Case-insensitive substring of the title.
    pub text: Option<String>,
    /// Level name.
    pub level: Option<String>,
    /// Release.
    pub release: Option<String>,
    /// Environment.
    pub environment: Option<String>,
    /// `(key, value)` tags the event must carry.
    pub tags: Vec<(String, String)>,
}

/// One event of the list, with what the page shows of its payload.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct EventListItem {
    /// The indexed columns.
    pub summary: EventSummary,
    /// The user: e-mail, else username, id or IP address.
    pub user: Option<String>,
    /// The message (log entry or `message`), else the last exception's value.
    pub message: Option<String>,
    /// The event's tags, in payload order.
    pub tags: Vec<(String, String)>,
}

/// One page of [`Store::search_issue_events`].
#[derive(Debug, Clone, serde::Serialize)]
pub struct EventListPage {
    /// The events, newest (last received) first.
    pub events: Vec<EventListItem>,
    /// Cursor of the next page; `None` when every event was read.
    pub next_cursor: Option<String>,
}

row! {
    struct ListRow {
        #[sqlx(flatten)]
        summary: SummaryRow,
        payload: Vec<u8>,
    }
}

fn text_of(v: Option<&Value>) -> Option<String> {
    v.and_then(Value::as_str)
        .map(str::trim)
        .filter(|s| !s.is_empty())
        .map(str::to_owned)
}

fn user_of(payload: &Value) -> Option<String> {
    let user = payload.get("user")?;
    ["email", "username", "id", "ip_address"]
        .iter()
        .find_map(|k| match user.get(*k) {
            Some(Value::Number(n)) => Some(n.to_string()),
            other => text_of(other),
        })
}

fn message_of(payload: &Value) -> Option<String> {
    let log = payload.get("logentry");
    text_of(log.and_then(|l| l.get("formatted")))
        .or_else(|| text_of(log.and_then(|l| l.get("message"))))
        .or_else(|| text_of(payload.get("message")))
        .or_else(|| {
            let values = payload.get("exception")?.get("values")?.as_array()?;
            values.iter().rev().find_map(|e| text_of(e.get("value")))
        })
}

fn tags_of(payload: &Value) -> Vec<(String, String)> {
    payload
        .get("tags")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
        .filter_map(|p| {
            Some((
                p.get(0)?.as_str()?.to_owned(),
                p.get(1)?.as_str()?.to_owned(),
            ))
        })
        .collect()
}

impl Store {
    /// One page of `issue_id`'s events that match `filter`, newest first; `limit` is clamped
    /// to 1..=100, `cursor` is the previous page's `next_cursor`. An unknown issue yields an
    /// empty page. Errors: [`StoreError::InvalidCursor`].
    pub async fn search_issue_events(
        &self,
        issue_id: i64,
        filter: &EventFilter,
        limit: usize,
        cursor: Option<&str>,
    ) -> Result<EventListPage, StoreError> {
        let limit = limit.clamp(1, 100);
        let mut before = match cursor {
            None => i64::MAX,
            Some(c) => c.parse().ok().filter(|pk| *pk > 0).ok_or_else(|| {
                StoreError::InvalidCursor(format!("{c:?} is not an event cursor"))
            })?,
        };
        let chunk = if filter.tags.is_empty() {
            limit + 1
        } else {
            (limit * 4).clamp(50, 500)
        };
        let mut events = Vec::with_capacity(limit);
        let mut last_kept = 0_i64;
        let mut scanned = 0;
        loop {
            let mut args: Vec<Arg<'_>> = Vec::new();
            let mut sql = format!(
                "select {SUMMARY_COLUMNS}, {PAYLOAD} from events \
                 where issue_id = {} and event_pk < {}",
                arg(&mut args, issue_id),
                arg(&mut args, before)
            );
            let fixed = [
                ("level", &filter.level),
                ("release", &filter.release),
                ("environment", &filter.environment),
            ];
            for (column, value) in fixed {
                if let Some(v) = value {
                    sql += &format!(" and {column} = {}", arg(&mut args, v.as_str()));
                }
            }
            if let Some(text) = &filter.text {
                sql += &match self.backend() {
                    Backend::Sqlite => {
                        let p = arg(&mut args, like_contains(text));
                        format!(" and title like {p} escape '\\'")
                    }
                    Backend::Postgres => {
                        let p = arg(&mut args, text.as_str());
                        format!(" and strpos(lower(title), lower({p})) > 0")
                    }
                };
            }
            sql += &format!(" order by event_pk desc limit {chunk}");
            let rows: Vec<ListRow> = self.db().fetch_all(&sql, args).await?;
            let exhausted = rows.len() < chunk;
            for r in rows {
                scanned += 1;
                let pk = r.summary.event_pk;
                before = pk;
                let payload = self.decode_stored(&mut self.db(), &r.payload).await?;
                let tags = tags_of(&payload);
                let wanted = filter
                    .tags
                    .iter()
                    .all(|t| tags.iter().any(|(k, v)| *k == t.0 && *v == t.1));
                if !wanted {
                    continue;
                }
                if events.len() == limit {
                    // One more match: the page is full and has a successor.
                    return Ok(EventListPage {
                        events,
                        next_cursor: Some(last_kept.to_string()),
                    });
                }
                last_kept = pk;
                events.push(EventListItem {
                    summary: EventSummary::try_from(r.summary)?,
                    user: user_of(&payload),
                    message: message_of(&payload),
                    tags,
                });
            }
            if exhausted {
                return Ok(EventListPage {
                    events,
                    next_cursor: None,
                });
            }
            if scanned >= SCAN_BUDGET {
                // Out of budget: the next page goes on from the last event read.
                return Ok(EventListPage {
                    events,
                    next_cursor: Some(before.to_string()),
                });
            }
        }
    }
}
