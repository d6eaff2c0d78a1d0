//! The timeline of an issue (`issue_activity`): status changes, assignments, merges,
//! regressions and comments, each with who did it and when.
//!
//! Rows are written in the transaction of what they record: triage writes
//! (`issues/triage.rs`, `issues/merge.rs`) add theirs, the ingest batch adds `regression`
//! and ignore-ended `set_status` rows by Errata (`batch/aggregate.rs`). Comments are rows of
//! kind `comment` whose Markdown source is `body`; only their author edits or deletes them
//! ([`Activity::authored_by`]). "First seen" is not stored: the API and the page add it from
//! the issue's `first_seen_ms` ([`Store::issue_activity`]).

use serde_json::{json, Value};

use super::db::{values_list, Arg, Executor};
use super::{Store, StoreError};
use crate::actor::{Actor, ActorKind};

/// Longest comment accepted, in bytes.
pub const MAX_COMMENT_BYTES: usize = 16 * 1024;

/// One entry of an issue's timeline.
#[derive(Debug, Clone, PartialEq, serde::Serialize)]
pub struct Activity {
    /// Row id (0 for the synthesized `first_seen`); a comment's id in the API.
    pub id: i64,
    /// The issue.
    pub issue_id: i64,
    /// `first_seen`, `set_status`, `assigned`, `unassigned`, `comment`, `merge`, `unmerge`,
    /// `regression`.
    pub kind: String,
    /// `user`, `token` or `errata`.
    pub actor_kind: String,
    /// The acting user, while they exist.
    pub user_id: Option<i64>,
    /// The user's e-mail, the token's name, or `Errata`.
    pub actor_name: String,
    /// What happened (per kind: `status`, `status_details`, `assignee`, `issue_ids`, …).
    pub data: Value,
    /// A comment's Markdown source.
    pub body: Option<String>,
    /// When, epoch ms.
    pub created_ms: i64,
    /// When a comment was last edited, epoch ms.
    pub edited_ms: Option<i64>,
}

impl Activity {
    /// True when `actor` wrote this comment: the same user, or any API token for a comment
    /// made with a token (tokens carry no identity yet).
    pub fn authored_by(&self, actor: &Actor) -> bool {
        match actor.kind {
            ActorKind::User => self.actor_kind == "user" && self.user_id == actor.id,
            ActorKind::Token => self.actor_kind == "token",
            ActorKind::Cli | ActorKind::System => false,
        }
    }
}

/// Errors of comment writes, for the API and pages to answer with.
#[derive(Debug, thiserror::Error)]
pub enum CommentError {
    /// Empty, or longer than [`MAX_COMMENT_BYTES`].
    #[error("a comment must have 1 to {MAX_COMMENT_BYTES} bytes of text")]
    BadText,
    /// Someone else's comment.
    #[error("only its author may change or delete a comment")]
    NotAuthor,
    /// The database failed, or no such comment on this issue ([`StoreError::NotFound`]).
    #[error(transparent)]
    Store(#[from] StoreError),
}

const ACTIVITY_COLUMNS: &str = "activity_id, issue_id, kind, actor_kind, user_id, actor_name, \
    data, body, created_ms, edited_ms";

row! {
    struct ActivityRow {
        activity_id: i64,
        issue_id: i64,
        kind: String,
        actor_kind: String,
        user_id: Option<i64>,
        actor_name: String,
        data: String,
        body: Option<String>,
        created_ms: i64,
        edited_ms: Option<i64>,
    }
}

impl From<ActivityRow> for Activity {
    fn from(r: ActivityRow) -> Self {
        Activity {
            id: r.activity_id,
            issue_id: r.issue_id,
            kind: r.kind,
            actor_kind: r.actor_kind,
            user_id: r.user_id,
            actor_name: r.actor_name,
            // Written by this module from a `Value`; anything else shows as empty data.
            data: serde_json::from_str(&r.data).unwrap_or_else(|_| json!({})),
            body: r.body,
            created_ms: r.created_ms,
            edited_ms: r.edited_ms,
        }
    }
}

/// One timeline row to write ([`insert_activity`]).
pub(super) struct NewActivity<'a> {
    pub issue_id: i64,
    pub kind: &'static str,
    pub actor: &'a Actor,
    pub data: Value,
    pub body: Option<&'a str>,
}

/// Writes `rows` at `now` (one statement per chunk of rows); returns the largest new id
/// (the id of the row, when there is one).
pub(super) async fn insert_activity(
    tx: &mut impl Executor,
    rows: &[NewActivity<'_>],
    now: i64,
) -> Result<i64, StoreError> {
    const COLUMNS: usize = 8;
    let mut last = 0;
    for chunk in super::db::chunks(rows) {
        let sql = format!(
            "insert into issue_activity (issue_id, kind, actor_kind, user_id, actor_name, \
             data, body, created_ms) values {} returning activity_id as id",
            values_list(chunk.len(), COLUMNS)
        );
        let mut args: Vec<Arg<'_>> = Vec::with_capacity(chunk.len() * COLUMNS);
        for r in chunk {
            args.extend([
                r.issue_id.into(),
                r.kind.into(),
                r.actor.timeline_kind().into(),
                r.actor.user_id().into(),
                r.actor.timeline_name().into_owned().into(),
                r.data.to_string().into(),
                r.body.into(),
                now.into(),
            ]);
        }
        let ids = tx.fetch_ids(&sql, args).await?;
        last = ids.into_iter().fold(last, i64::max);
    }
    Ok(last)
}

fn check_text(text: &str) -> Result<&str, CommentError> {
    let text = text.trim();
    if text.is_empty() || text.len() > MAX_COMMENT_BYTES {
        return Err(CommentError::BadText);
    }
    Ok(text)
}

impl Store {
    /// An issue's timeline, oldest first: the synthesized `first_seen` entry (by Errata, at
    /// the issue's `first_seen_ms`, with the release of its oldest stored event), then every
    /// stored entry. Errors: [`StoreError::NotFound`] for an unknown issue.
    pub async fn issue_activity(&self, issue_id: i64) -> Result<Vec<Activity>, StoreError> {
        let issue = self.issue(issue_id).await?;
        let first = self
            .db()
            .fetch_optional::<FirstEventRow>(
                "select event_id, release from events where issue_id = $1 \
                 order by event_pk limit 1",
                vec![issue_id.into()],
            )
            .await?;
        let mut out = vec![Activity {
            id: 0,
            issue_id,
            kind: "first_seen".to_owned(),
            actor_kind: Actor::system().timeline_kind().to_owned(),
            user_id: None,
            actor_name: Actor::system().timeline_name().into_owned(),
            data: json!({
                "release": first.as_ref().and_then(|f| f.release.clone()),
                "event_id": first.map(|f| f.event_id),
            }),
            body: None,
            created_ms: issue.first_seen_ms,
            edited_ms: None,
        }];
        let sql = format!(
            "select {ACTIVITY_COLUMNS} from issue_activity where issue_id = $1 \
             order by activity_id"
        );
        let rows = self
            .db()
            .fetch_all::<ActivityRow>(&sql, vec![issue_id.into()])
            .await?;
        out.extend(rows.into_iter().map(Activity::from));
        Ok(out)
    }

    /// Adds a comment by `actor` at `now`. Errors: [`CommentError::BadText`];
    /// [`StoreError::NotFound`] for an unknown issue.
    pub async fn add_comment(
        &self,
        issue_id: i64,
        actor: &Actor,
        text: &str,
        now: i64,
    ) -> Result<Activity, CommentError> {
        let text = check_text(text)?;
        self.issue(issue_id).await?;
        let mut tx = self.pool.begin_write().await?;
        let id = insert_activity(
            &mut tx,
            &[NewActivity {
                issue_id,
                kind: "comment",
                actor,
                data: json!({}),
                body: Some(text),
            }],
            now,
        )
        .await?;
        tx.commit().await?;
        Ok(self.comment(issue_id, id).await?)
    }

    /// One comment of an issue. Errors: [`StoreError::NotFound`].
    pub async fn comment(&self, issue_id: i64, comment_id: i64) -> Result<Activity, StoreError> {
        let sql = format!(
            "select {ACTIVITY_COLUMNS} from issue_activity \
             where activity_id = $1 and issue_id = $2 and kind = 'comment'"
        );
        self.db()
            .fetch_one::<ActivityRow>(&sql, vec![comment_id.into(), issue_id.into()])
            .await
            .map(Activity::from)
    }

    /// Replaces a comment's text, if `actor` wrote it. Errors: [`CommentError`].
    pub async fn edit_comment(
        &self,
        issue_id: i64,
        comment_id: i64,
        actor: &Actor,
        text: &str,
        now: i64,
    ) -> Result<Activity, CommentError> {
        let text = check_text(text)?;
        if !self.comment(issue_id, comment_id).await?.authored_by(actor) {
            return Err(CommentError::NotAuthor);
        }
        self.db()
            .execute_one(
                "update issue_activity set body = $2, edited_ms = $3 where activity_id = $1",
                vec![comment_id.into(), text.into(), now.into()],
            )
            .await?;
        Ok(self.comment(issue_id, comment_id).await?)
    }

    /// Deletes a comment, if `actor` wrote it. Errors: [`CommentError`].
    pub async fn delete_comment(
        &self,
        issue_id: i64,
        comment_id: i64,
        actor: &Actor,
    ) -> Result<(), CommentError> {
        if !self.comment(issue_id, comment_id).await?.authored_by(actor) {
            return Err(CommentError::NotAuthor);
        }
        self.db()
            .execute_one(
                "delete from issue_activity where activity_id = $1",
                vec![comment_id.into()],
            )
            .await?;
        Ok(())
    }
}

row! {
    struct FirstEventRow {
        event_id: String,
        release: Option<String>,
    }
}
