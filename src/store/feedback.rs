//! User feedback (`user_feedback`): what the people who hit an error wrote, with the event
//! and issue it is about.
//!
//! Rows come from the `feedback` and `user_report` envelope items
//! (`ingest/items/feedback.rs`). A report is identified per project by its `report_id` (the
//! `feedback` item's own event id, or the event id a `user_report` is about): an SDK retry
//! or a second report for one event replaces the first, keeping its date.
//!
//! **Linking.** Feedback names an event; its issue is that event's. When the event is
//! already stored, [`Store::save_feedback`] links it in the same statement. When the
//! feedback comes first (SDKs send the two in separate requests, in either order), it waits
//! unlinked until [`Store::link_feedback`] (the `feedback_links` job, every few seconds)
//! finds the event. The ingest hot path is not touched. If the issue goes away (a merge
//! that deletes it, retention), `issue_id` becomes null and the job links the feedback to
//! wherever its event is now; code that moves events between issues without deleting any
//! calls [`Store::relink_feedback`]. Deleting an issue from the issue page deletes its
//! feedback with its events.

use std::collections::HashMap;

use super::db::{arg, next_page, page_limit, parse_name, placeholders, Arg, Executor, IdRow};
use super::{Store, StoreError};
use crate::protocol::EventId;

/// Which item a report came in.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FeedbackKind {
    /// A `feedback` item (`captureFeedback`, the feedback widget).
    Feedback,
    /// A legacy `user_report` item (older SDKs, the crash-report dialog).
    UserReport,
}

impl FeedbackKind {
    /// The stored name: the item type.
    pub fn as_str(self) -> &'static str {
        match self {
            FeedbackKind::Feedback => "feedback",
            FeedbackKind::UserReport => "user_report",
        }
    }
}

/// Feedback to store.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NewFeedback {
    /// The project it came to.
    pub project_id: i64,
    /// Identifies the report within the project (see the module docs).
    pub report_id: EventId,
    /// Which item it came in.
    pub kind: FeedbackKind,
    /// The event it is about, if the SDK named one.
    pub event_id: Option<EventId>,
    /// The name the user gave (may be empty).
    pub name: String,
    /// The e-mail address the user gave (may be empty; not checked).
    pub email: String,
    /// What they wrote.
    pub message: String,
    /// The page it was written on (the widget sends it).
    pub url: Option<String>,
    /// When it was received, epoch ms.
    pub created_ms: i64,
}

/// Stored feedback.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Feedback {
    /// Feedback id.
    pub id: i64,
    /// The project it came to.
    pub project_id: i64,
    /// Which item it came in.
    pub kind: FeedbackKind,
    /// The event it is about (32 hex), if named.
    pub event_id: Option<String>,
    /// The event's issue, once the event is stored.
    pub issue_id: Option<i64>,
    /// The name given (may be empty).
    pub name: String,
    /// The e-mail address given (may be empty).
    pub email: String,
    /// What they wrote.
    pub message: String,
    /// The page it was written on.
    pub url: Option<String>,
    /// When it was first received, epoch ms.
    pub created_ms: i64,
}

/// Which feedback [`Store::list_feedback`] lists: a project's or an issue's, newest first.
#[derive(Debug, Clone, Default)]
pub struct FeedbackQuery {
    /// Only this project's.
    pub project_id: Option<i64>,
    /// Only this issue's.
    pub issue_id: Option<i64>,
    /// Page size; clamped to 1..=100.
    pub limit: usize,
    /// `next_cursor` of the previous page.
    pub cursor: Option<String>,
}

/// One page of feedback, newest first.
#[derive(Debug, Clone)]
pub struct FeedbackPage {
    /// The feedback, newest first.
    pub feedback: Vec<Feedback>,
    /// Cursor of the next (older) page; `None` on the last page.
    pub next_cursor: Option<String>,
}

const FEEDBACK_COLUMNS: &str = "feedback_id, project_id, kind, event_id, issue_id, name, email, \
    message, url, created_ms";

row! {
    struct FeedbackRow {
        feedback_id: i64,
        project_id: i64,
        kind: String,
        event_id: Option<String>,
        issue_id: Option<i64>,
        name: String,
        email: String,
        message: String,
        url: Option<String>,
        created_ms: i64,
    }

    try_into |r| {
        let kinds = [FeedbackKind::Feedback, FeedbackKind::UserReport];
        Ok(Feedback {
            id: r.feedback_id,
            project_id,
            kind: parse_name(&kinds, FeedbackKind::as_str, &r.kind, "feedback kind")?,
            event_id, issue_id, name, email, message, url, created_ms,
        })
    }
}

row! {
    struct CountRow {
        issue_id: i64,
        n: i64,
    }
}

/// The issue of the event a feedback row names (correlated with the row being written).
const ISSUE_OF_EVENT: &str = "select e.issue_id from events e \
    where e.project_id = user_feedback.project_id and e.event_id = user_feedback.event_id";

impl Store {
    /// Stores feedback, or replaces the stored report with the same `report_id` (keeping
    /// its date), linked to its event's issue when that event is stored. Returns the row.
    pub async fn save_feedback(&self, f: &NewFeedback) -> Result<Feedback, StoreError> {
        let event_id = f.event_id.as_ref().map(EventId::simple);
        let sql = format!(
            "insert into user_feedback (project_id, report_id, kind, event_id, issue_id, \
             name, email, message, url, created_ms) \
             values ($1, $2, $3, $4, (select e.issue_id from events e \
             where e.project_id = $1 and e.event_id = $4), $5, $6, $7, $8, $9) \
             on conflict (project_id, report_id) do update set kind = excluded.kind, \
             event_id = excluded.event_id, issue_id = excluded.issue_id, \
             name = excluded.name, email = excluded.email, message = excluded.message, \
             url = excluded.url \
             returning {FEEDBACK_COLUMNS}"
        );
        self.db()
            .fetch_one::<FeedbackRow>(
                &sql,
                vec![
                    f.project_id.into(),
                    f.report_id.simple().into(),
                    f.kind.as_str().into(),
                    event_id.into(),
                    f.name.as_str().into(),
                    f.email.as_str().into(),
                    f.message.as_str().into(),
                    f.url.as_deref().into(),
                    f.created_ms.into(),
                ],
            )
            .await?
            .try_into()
    }

    /// Links unlinked feedback received since `since_ms` whose event is now stored; returns
    /// how many rows it linked. Reads only unlinked rows (a partial index), and writes only
    /// when one of them can be linked: on SQLite an update takes the write lock even when it
    /// changes nothing, and the ingest writer should not wait for that every few seconds.
    pub async fn link_feedback(&self, since_ms: i64) -> Result<u64, StoreError> {
        const LINKABLE: &str = "issue_id is null and event_id is not null and created_ms >= $1 \
             and exists (select 1 from events e \
             where e.project_id = user_feedback.project_id and e.event_id = user_feedback.event_id)";
        let any = self
            .db()
            .fetch_optional::<IdRow>(
                &format!("select feedback_id as id from user_feedback where {LINKABLE} limit 1"),
                vec![since_ms.into()],
            )
            .await?;
        if any.is_none() {
            return Ok(0);
        }
        let sql =
            format!("update user_feedback set issue_id = ({ISSUE_OF_EVENT}) where {LINKABLE}");
        self.db().execute(&sql, vec![since_ms.into()]).await
    }

    /// Points the feedback of these issues at the issues their events are in now (after
    /// events moved between issues); returns how many rows changed.
    pub async fn relink_feedback(&self, issue_ids: &[i64]) -> Result<u64, StoreError> {
        if issue_ids.is_empty() {
            return Ok(0);
        }
        let args: Vec<Arg<'_>> = issue_ids.iter().map(|&id| id.into()).collect();
        let sql = format!(
            "update user_feedback set issue_id = ({ISSUE_OF_EVENT}) \
             where issue_id in ({}) and event_id is not null",
            placeholders(1, issue_ids.len())
        );
        self.db().execute(&sql, args).await
    }

    /// One page of a project's or an issue's feedback, newest first (cursor: the last
    /// row's id). Errors: [`StoreError::InvalidCursor`].
    pub async fn list_feedback(&self, q: &FeedbackQuery) -> Result<FeedbackPage, StoreError> {
        let mut args: Vec<Arg<'_>> = Vec::new();
        let mut sql = format!("select {FEEDBACK_COLUMNS} from user_feedback where 1 = 1");
        if let Some(p) = q.project_id {
            sql += &format!(" and project_id = {}", arg(&mut args, p));
        }
        if let Some(i) = q.issue_id {
            sql += &format!(" and issue_id = {}", arg(&mut args, i));
        }
        if let Some(cursor) = q.cursor.as_deref() {
            let before: i64 = cursor.parse().map_err(|_| {
                StoreError::InvalidCursor(format!("{cursor:?} is not a cursor of this list"))
            })?;
            sql += &format!(" and feedback_id < {}", arg(&mut args, before));
        }
        let limit = page_limit(q.limit);
        sql += &format!(
            " order by feedback_id desc limit {}",
            arg(&mut args, limit + 1)
        );
        let rows = self.db().fetch_all::<FeedbackRow>(&sql, args).await?;
        let mut feedback = rows
            .into_iter()
            .map(Feedback::try_from)
            .collect::<Result<Vec<_>, _>>()?;
        let next_cursor = next_page(&mut feedback, limit).map(|last| last.id.to_string());
        Ok(FeedbackPage {
            feedback,
            next_cursor,
        })
    }

    /// How much feedback each of these issues has (issues without any are left out).
    pub async fn feedback_counts(
        &self,
        issue_ids: &[i64],
    ) -> Result<HashMap<i64, i64>, StoreError> {
        if issue_ids.is_empty() {
            return Ok(HashMap::new());
        }
        let args: Vec<Arg<'_>> = issue_ids.iter().map(|&id| id.into()).collect();
        let sql = format!(
            "select issue_id, count(*) as n from user_feedback \
             where issue_id in ({}) group by issue_id",
            placeholders(1, issue_ids.len())
        );
        let rows = self.db().fetch_all::<CountRow>(&sql, args).await?;
        Ok(rows.into_iter().map(|r| (r.issue_id, r.n)).collect())
    }
}
