//! Issues (`issues`, `groupings`): events grouped under one fingerprint, with triage state
//! and the denormalized counters the ingest batch keeps (`batch/aggregate.rs`, with the
//! distinct users in `issue_users`). `groupings` maps `(project_id, grouping_version, hash)`
//! to an issue; several rows per issue are allowed, so merges and future grouping versions
//! are inserts. Issues are created by the batch; this module reads one, changes its triage
//! state and deletes it. Lists and search are in `list.rs`, tag facets and hourly counts in
//! `stats.rs`, assignment and conditional status changes with their timeline in
//! `triage.rs`, merge and unmerge in `merge.rs`.

mod list;
mod merge;
mod stats;
mod triage;

use super::db::{parse_name, Executor, IdRow};
use super::Backend;
use super::{now_ms, Store, StoreError};

pub use list::{AssigneeFilter, IssuePage, IssueQuery, IssueSort};
pub use merge::{GroupingHash, MergeError, REGROUPING_LOCK_TIMEOUT_MS};
pub(super) use triage::project_releases;

use crate::triage::StatusDetails;

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
    /// Number of events received (pruning keeps counting the events it deleted).
    pub count: i64,
    /// Number of distinct user keys among the events received; with an age rule, among
    /// those seen within it (`store/retention/idle_users.rs`).
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
    /// The user who owns it.
    pub assignee: Option<Assignee>,
    /// The condition of its resolve or ignore, if it has one.
    pub status_details: Option<StatusDetails>,
}

/// The user an issue is assigned to.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct Assignee {
    /// User id.
    pub id: i64,
    /// Their e-mail.
    pub email: String,
}

/// Triage state of an issue.
///
/// `resolved_ms` is set exactly while an issue is `resolved`. `is_regression` is set when an
/// event reopens a resolved issue and cleared only by resolving it again (a manual reopen or
/// ignore leaves it as it was).
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum IssueStatus {
    /// Open (new or regressed).
    Unresolved,
    /// Marked fixed; a new event reopens it as a regression.
    Resolved,
    /// Muted: events are counted, nothing reopens or notifies.
    Ignored,
}

impl IssueStatus {
    /// The stored and wire name (`"unresolved"`, `"resolved"`, `"ignored"`).
    pub fn as_str(self) -> &'static str {
        match self {
            IssueStatus::Unresolved => "unresolved",
            IssueStatus::Resolved => "resolved",
            IssueStatus::Ignored => "ignored",
        }
    }

    fn parse(s: &str) -> Result<IssueStatus, StoreError> {
        let all = [
            IssueStatus::Unresolved,
            IssueStatus::Resolved,
            IssueStatus::Ignored,
        ];
        parse_name(&all, IssueStatus::as_str, s, "issue status")
    }
}

/// The columns of [`IssueRow`] (table alias `i`).
const ISSUE_COLUMNS: &str = "i.issue_id, i.project_id, i.title, i.culprit, i.level, i.status, \
    i.is_regression, i.first_seen_ms, i.last_seen_ms, i.event_count, i.user_count, \
    i.last_release, i.environments, i.fingerprint, i.grouping_kind, i.resolved_ms, \
    i.assignee_id, (select u.email from users u where u.user_id = i.assignee_id) \
    as assignee_email, i.status_details";

row! {
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
        assignee_id: Option<i64>,
        assignee_email: Option<String>,
        status_details: Option<String>,
    }

    try_into |r| {
        Ok(Issue {
            id: r.issue_id,
            project_id, title, culprit, level,
            status: IssueStatus::parse(&r.status)?,
            is_regression, first_seen_ms, last_seen_ms,
            count: r.event_count,
            user_count, last_release,
            environments: serde_json::from_str(&r.environments).map_err(|e| {
                StoreError::Other(format!("corrupt environments of issue {}: {e}", r.issue_id))
            })?,
            fingerprint, grouping_kind, resolved_ms,
            assignee: match (r.assignee_id, r.assignee_email) {
                (Some(id), Some(email)) => Some(Assignee { id, email }),
                _ => None,
            },
            status_details: parse_details(r.issue_id, r.status_details.as_deref()),
        })
    }
}

/// The stored condition of an issue; one that does not parse (written by a newer version)
/// is logged and read as none, so the issue still shows and ingests.
pub(in crate::store) fn parse_details(
    issue_id: i64,
    stored: Option<&str>,
) -> Option<StatusDetails> {
    let stored = stored?;
    match StatusDetails::from_stored(stored) {
        Ok(d) => Some(d),
        Err(e) => {
            tracing::warn!(issue_id, error = %e, "unreadable status_details, ignored");
            None
        }
    }
}

impl Store {
    /// One issue. Errors: [`StoreError::NotFound`].
    pub async fn issue(&self, issue_id: i64) -> Result<Issue, StoreError> {
        let sql = format!("select {ISSUE_COLUMNS} from issues i where i.issue_id = $1");
        self.db()
            .fetch_one::<IssueRow>(&sql, vec![issue_id.into()])
            .await?
            .try_into()
    }

    /// Sets the triage state and returns the updated issue, without a condition and
    /// without a timeline entry (see [`Store::change_status`] for those).
    ///
    /// Resolving records `resolved_ms` (kept if it already was resolved) and clears
    /// `is_regression`; unresolving or ignoring clears `resolved_ms` and leaves
    /// `is_regression` alone (a manual reopen is not a regression). Any condition is
    /// cleared. Does not write to the outbox. Errors: [`StoreError::NotFound`].
    pub async fn set_issue_status(
        &self,
        issue_id: i64,
        status: IssueStatus,
    ) -> Result<Issue, StoreError> {
        let (sql, args) = match status {
            IssueStatus::Resolved => (
                "update issues set status = 'resolved', is_regression = false, \
                 resolved_ms = coalesce(resolved_ms, $2), status_details = null, \
                 ignore_until_ms = null where issue_id = $1",
                vec![issue_id.into(), now_ms().into()],
            ),
            IssueStatus::Unresolved | IssueStatus::Ignored => (
                "update issues set status = $2, resolved_ms = null, status_details = null, \
                 ignore_until_ms = null where issue_id = $1",
                vec![issue_id.into(), status.as_str().into()],
            ),
        };
        self.db().execute_one(sql, args).await?;
        self.issue(issue_id).await
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

    /// Deletes an issue with its events, counters, groupings, feedback and pending
    /// notifications, in one transaction. A later event with the same fingerprint creates a new issue.
    /// Errors: [`StoreError::NotFound`].
    pub async fn delete_issue(&self, issue_id: i64) -> Result<(), StoreError> {
        let mut tx = self.pool.begin_write().await?;
        delete_issue_rows(&mut tx, issue_id).await?;
        tx.commit().await
    }
}

/// The suffix that locks the rows a `select` reads until the transaction ends: `for update` on
/// PostgreSQL; nothing on SQLite, whose write transaction already excludes every other writer.
pub(super) fn locking(backend: Backend) -> &'static str {
    match backend {
        Backend::Postgres => " for update",
        Backend::Sqlite => "",
    }
}

/// Deletes an issue with its events, counters, groupings and notification history inside
/// `tx` (the caller commits). Errors: [`StoreError::NotFound`] when there is no such issue.
pub(in crate::store) async fn delete_issue_rows(
    tx: &mut impl Executor,
    issue_id: i64,
) -> Result<(), StoreError> {
    // The issue's row locked first: on PostgreSQL a concurrent notification fan-out's
    // `notification_triggers` row (whose foreign-key check only takes a key share lock) could
    // otherwise be inserted after the dependents below are deleted and make the issue's own
    // delete fail; now it waits for this transaction and then fails itself (the issue is gone).
    // A missing issue is found here, before a dozen deletes that would each find nothing.
    let lock = format!(
        "select issue_id as id from issues where issue_id = $1{}",
        locking(tx.backend())
    );
    tx.fetch_optional::<IdRow>(&lock, vec![issue_id.into()])
        .await?
        .ok_or(StoreError::NotFound)?;
    // Notification history of the issue goes with it (its rows reference the outbox
    // rows and the issue); digests of other issues that this issue's deliveries carried
    // lose only the link to their carrier.
    const OUTBOX_OF_ISSUE: &str = "select outbox_id from outbox where issue_id = $1";
    let deliveries = format!(
        "select delivery_id from notification_deliveries \
         where outbox_id in ({OUTBOX_OF_ISSUE})"
    );
    let statements = [
        format!("delete from notification_attempts where delivery_id in ({deliveries})"),
        format!(
            "update notification_deliveries set folded_into = null \
             where folded_into in ({deliveries})"
        ),
        format!("delete from notification_deliveries where outbox_id in ({OUTBOX_OF_ISSUE})"),
        "delete from notification_triggers where issue_id = $1".to_owned(),
        "delete from user_feedback where issue_id = $1".to_owned(),
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
    tx.execute_one(
        "delete from issues where issue_id = $1",
        vec![issue_id.into()],
    )
    .await
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn status_names_round_trip() {
        for s in [
            IssueStatus::Unresolved,
            IssueStatus::Resolved,
            IssueStatus::Ignored,
        ] {
            assert_eq!(IssueStatus::parse(s.as_str()).unwrap(), s);
        }
    }
}
