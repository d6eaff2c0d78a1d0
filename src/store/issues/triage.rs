//! Triage writes with their timeline: status changes with an optional condition (resolve
//! in a release, ignore until a count, a number of users, a moment or a regression),
//! assignment (and the assignee's `assigned` notification), the end of ignores for a
//! duration, and the reads that go with them (a project's latest release, a user's issues,
//! where a merged issue went).
//!
//! Each write is one transaction: the issue row (locked on PostgreSQL, so the ingest batch,
//! which locks the same rows in id order, sees the change before or after, never half of
//! it), its `issue_activity` row and any `outbox` row.

use serde_json::json;

use super::{parse_details, Issue, IssueRow, IssueStatus, ISSUE_COLUMNS};
use crate::store::activity::{insert_activity, NewActivity};
use crate::store::db::{skip_locked, Executor, IdRow};
use crate::store::outbox::{insert_outbox, insert_outbox_for};
use crate::store::{Backend, Store, StoreError};
use crate::triage::release::latest;
use crate::triage::{Actor, Condition, StatusDetails};

/// The outbox's event id when a notification has no event (an issue whose events were all
/// pruned): the nil UUID, which the worker finds no event for.
const NO_EVENT: &str = "00000000000000000000000000000000";

/// Issues whose ignore for a duration ends, handled per [`Store::expire_ignores`] call.
const EXPIRY_BATCH: i64 = 500;

row! {
    struct LockedIssue {
        project_id: i64,
        event_count: i64,
        user_count: i64,
        assignee_id: Option<i64>,
    }
}

row! {
    struct ReleaseRow {
        release: String,
        first_seen: i64,
    }
}

row! {
    struct ExpiredRow {
        issue_id: i64,
        project_id: i64,
        status_details: Option<String>,
        event_id: String,
    }
}

row! {
    struct EmailRow {
        email: String,
    }
}

/// `for no key update` on PostgreSQL: the lock the ingest batch takes on the issues it
/// updates; nothing on SQLite, whose write transaction already excludes other writers.
fn row_lock(backend: Backend) -> &'static str {
    match backend {
        Backend::Postgres => " for no key update",
        Backend::Sqlite => "",
    }
}

async fn lock_issue(tx: &mut impl Executor, issue_id: i64) -> Result<LockedIssue, StoreError> {
    let sql = format!(
        "select project_id, event_count, user_count, assignee_id from issues \
         where issue_id = $1{}",
        row_lock(tx.backend())
    );
    tx.fetch_one(&sql, vec![issue_id.into()]).await
}

/// Every release of a project with its first-seen time (its earliest event), from the
/// `release` tag counts of its issues.
pub(in crate::store) async fn project_releases(
    tx: &mut impl Executor,
    project_id: i64,
    only: Option<&[&str]>,
) -> Result<Vec<(String, i64)>, StoreError> {
    let mut args = vec![project_id.into()];
    let mut sql = "select t.value as release, min(t.first_seen_ms) as first_seen \
                   from issue_tags t join issues i on i.issue_id = t.issue_id \
                   where i.project_id = $1 and t.key = 'release'"
        .to_owned();
    if let Some(only) = only {
        if only.is_empty() {
            return Ok(Vec::new());
        }
        sql += &format!(
            " and t.value in ({})",
            crate::store::db::placeholders(2, only.len())
        );
        args.extend(only.iter().map(|&r| r.into()));
    }
    sql += " group by t.value";
    let rows = tx.fetch_all::<ReleaseRow>(&sql, args).await?;
    Ok(rows
        .into_iter()
        .map(|r| (r.release, r.first_seen))
        .collect())
}

row! {
    struct EventIdRow {
        event_id: String,
    }
}

/// The id of the issue's newest stored event, for an outbox row.
async fn latest_event_id(tx: &mut impl Executor, issue_id: i64) -> Result<String, StoreError> {
    Ok(tx
        .fetch_optional::<EventIdRow>(
            "select event_id from events where issue_id = $1 order by event_pk desc limit 1",
            vec![issue_id.into()],
        )
        .await?
        .map_or_else(|| NO_EVENT.to_owned(), |r| r.event_id))
}

/// An `outbox` row for one user (`user_id`), e.g. `assigned`, about the issue's newest event.
async fn insert_user_outbox(
    tx: &mut impl Executor,
    kind: &str,
    project_id: i64,
    issue_id: i64,
    user_id: i64,
    now: i64,
) -> Result<(), StoreError> {
    let event_id = latest_event_id(tx, issue_id).await?;
    let user = Some(user_id);
    insert_outbox_for(tx, kind, project_id, issue_id, &event_id, user, now).await
}

impl Store {
    /// Sets an issue's status with an optional `condition` (which must go with `status`,
    /// see [`Condition::status`]) on behalf of `actor` at `now`, and records a `set_status`
    /// timeline entry (`data`: `status`, `status_details`). The condition is stored with the
    /// issue's counters now ([`Condition::details`]); "in the next release" records the
    /// project's latest release ([`Store::latest_release`]). Resolving clears
    /// `is_regression`; any other status clears `resolved_ms`. Errors:
    /// [`StoreError::NotFound`]; [`StoreError::Conflict`] for a condition that does not go
    /// with the status.
    pub async fn change_status(
        &self,
        issue_id: i64,
        status: IssueStatus,
        condition: Option<Condition>,
        actor: &Actor,
        now: i64,
    ) -> Result<Issue, StoreError> {
        if let Some(c) = &condition {
            if c.status() != status {
                return Err(StoreError::Conflict(format!(
                    "{} goes with status {}",
                    c.key(),
                    c.status().as_str()
                )));
            }
        }
        let mut tx = self.pool.begin_write().await?;
        let issue = lock_issue(&mut tx, issue_id).await?;
        let details = match condition {
            None => None,
            Some(c) => {
                let latest_release = if c == Condition::InNextRelease {
                    let releases = project_releases(&mut tx, issue.project_id, None).await?;
                    latest(&releases).map(str::to_owned)
                } else {
                    None
                };
                Some(c.details(latest_release, issue.event_count, issue.user_count, now))
            }
        };
        let stored = details.as_ref().map(StatusDetails::to_stored);
        let until = details.as_ref().and_then(StatusDetails::ignore_until_ms);
        let mut args = vec![
            issue_id.into(),
            status.as_str().into(),
            stored.into(),
            until.into(),
        ];
        let sql = match status {
            IssueStatus::Resolved => {
                args.push(now.into());
                "update issues set status = $2, is_regression = false, \
                 resolved_ms = coalesce(resolved_ms, $5), status_details = $3, \
                 ignore_until_ms = $4 where issue_id = $1"
            }
            IssueStatus::Unresolved | IssueStatus::Ignored => {
                "update issues set status = $2, resolved_ms = null, status_details = $3, \
                 ignore_until_ms = $4 where issue_id = $1"
            }
        };
        if status == IssueStatus::Resolved {
            // PagerDuty hears of it in this transaction (`store::resolutions`).
            crate::store::resolutions::notify_resolved(&mut tx, issue_id, issue.project_id, now)
                .await?;
        }
        tx.execute_one(sql, args).await?;
        let data = json!({
            "status": status.as_str(),
            "status_details": details.as_ref().map_or_else(|| json!({}), StatusDetails::wire),
        });
        insert_activity(
            &mut tx,
            &[NewActivity {
                issue_id,
                kind: "set_status",
                actor,
                data,
                body: None,
            }],
            now,
        )
        .await?;
        tx.commit().await?;
        self.issue(issue_id).await
    }

    /// [`Store::change_status`] for several issues of one project (bulk actions); ids of
    /// other projects or unknown ids are skipped. Returns how many issues changed.
    pub async fn change_statuses(
        &self,
        project_id: i64,
        issue_ids: &[i64],
        status: IssueStatus,
        condition: Option<Condition>,
        actor: &Actor,
        now: i64,
    ) -> Result<u64, StoreError> {
        let mut changed = 0;
        for &id in issue_ids {
            match self.issue(id).await {
                Ok(issue) if issue.project_id == project_id => {
                    self.change_status(id, status, condition.clone(), actor, now)
                        .await?;
                    changed += 1;
                }
                Ok(_) | Err(StoreError::NotFound) => {}
                Err(e) => return Err(e),
            }
        }
        Ok(changed)
    }

    /// Assigns an issue to `assignee` (a user id) or to nobody, on behalf of `actor` at
    /// `now`: an `assigned` / `unassigned` timeline entry (`data.assignee`: the e-mail), and,
    /// when someone else assigned it, an `assigned` notification for the assignee. Assigning
    /// the current assignee again changes nothing. Errors: [`StoreError::NotFound`] for an
    /// unknown issue or user.
    pub async fn assign_issue(
        &self,
        issue_id: i64,
        assignee: Option<i64>,
        actor: &Actor,
        now: i64,
    ) -> Result<Issue, StoreError> {
        let mut tx = self.pool.begin_write().await?;
        let issue = lock_issue(&mut tx, issue_id).await?;
        if issue.assignee_id == assignee {
            drop(tx);
            return self.issue(issue_id).await;
        }
        let email_of = |id: i64| {
            (
                "select email from users where user_id = $1",
                vec![crate::store::db::Arg::from(id)],
            )
        };
        let (kind, email) = match assignee.or(issue.assignee_id) {
            Some(id) => {
                let (sql, args) = email_of(id);
                let email = tx.fetch_optional::<EmailRow>(sql, args).await?;
                match (assignee, email) {
                    (Some(_), None) => return Err(StoreError::NotFound),
                    (Some(_), Some(e)) => ("assigned", Some(e.email)),
                    (None, e) => ("unassigned", e.map(|e| e.email)),
                }
            }
            None => ("unassigned", None),
        };
        if let Some(id) = assignee {
            if !crate::store::teams::may_see(&mut tx, id, issue.project_id).await? {
                return Err(StoreError::Conflict(
                    "that user does not see this project (not in one of its teams)".into(),
                ));
            }
        }
        tx.execute_one(
            "update issues set assignee_id = $2 where issue_id = $1",
            vec![issue_id.into(), assignee.into()],
        )
        .await?;
        let data = match kind {
            "assigned" => json!({ "assignee": email, "assignee_id": assignee }),
            _ => json!({ "previous": email }),
        };
        insert_activity(
            &mut tx,
            &[NewActivity {
                issue_id,
                kind,
                actor,
                data,
                body: None,
            }],
            now,
        )
        .await?;
        if let Some(user_id) = assignee.filter(|&id| actor.user_id() != Some(id)) {
            insert_user_outbox(
                &mut tx,
                "assigned",
                issue.project_id,
                issue_id,
                user_id,
                now,
            )
            .await?;
        }
        tx.commit().await?;
        self.issue(issue_id).await
    }

    /// The project's latest release (see [`crate::triage::release::latest`]), from the
    /// releases its issues' events carried.
    pub async fn latest_release(&self, project_id: i64) -> Result<Option<String>, StoreError> {
        let mut db = self.db();
        let releases = project_releases(&mut db, project_id, None).await?;
        Ok(latest(&releases).map(str::to_owned))
    }

    /// Ends every ignore for a duration whose time is up at `now` (epoch ms): the issue is
    /// unresolved again, with a `set_status` timeline entry by Errata and an `unignored`
    /// notification. Handles at most a few hundred issues per call and returns how many;
    /// call again while it returns that many. Several servers may call it at once (rows
    /// another transaction holds are skipped on PostgreSQL).
    pub async fn expire_ignores(&self, now: i64) -> Result<usize, StoreError> {
        let mut tx = self.pool.begin_write().await?;
        let sql = format!(
            "select i.issue_id, i.project_id, i.status_details, coalesce((select e.event_id \
             from events e where e.issue_id = i.issue_id order by e.event_pk desc limit 1), \
             '{NO_EVENT}') as event_id from issues i \
             where i.ignore_until_ms <= $1 and i.status = 'ignored' \
             order by i.issue_id limit {EXPIRY_BATCH}{}",
            skip_locked(tx.backend(), "i")
        );
        let rows = tx.fetch_all::<ExpiredRow>(&sql, vec![now.into()]).await?;
        let errata = Actor::system();
        let mut entries = Vec::with_capacity(rows.len());
        for r in &rows {
            tx.execute(
                "update issues set status = 'unresolved', status_details = null, \
                 ignore_until_ms = null where issue_id = $1",
                vec![r.issue_id.into()],
            )
            .await?;
            insert_outbox(
                &mut tx,
                "unignored",
                r.project_id,
                r.issue_id,
                &r.event_id,
                now,
            )
            .await?;
            let was = parse_details(r.issue_id, r.status_details.as_deref());
            entries.push(NewActivity {
                issue_id: r.issue_id,
                kind: "set_status",
                actor: &errata,
                data: json!({
                    "status": "unresolved",
                    "reason": "ignore_duration_minutes",
                    "was": was.as_ref().map(StatusDetails::wire),
                }),
                body: None,
            });
        }
        insert_activity(&mut tx, &entries, now).await?;
        tx.commit().await?;
        Ok(rows.len())
    }

    /// Up to `limit` (clamped to 1..=100) unresolved issues assigned to `user_id`, of every
    /// project, most recently seen first.
    pub async fn assigned_issues(
        &self,
        user_id: i64,
        limit: usize,
    ) -> Result<Vec<Issue>, StoreError> {
        let limit = crate::store::db::page_limit(limit);
        let sql = format!(
            "select {ISSUE_COLUMNS} from issues i where i.assignee_id = $1 \
             and i.status = 'unresolved' order by i.last_seen_ms desc, i.issue_id desc limit $2"
        );
        self.db()
            .fetch_all::<IssueRow>(&sql, vec![user_id.into(), limit.into()])
            .await?
            .into_iter()
            .map(Issue::try_from)
            .collect()
    }

    /// The issue a merged-away issue now lives in, if `issue_id` was merged.
    pub async fn issue_redirect(&self, issue_id: i64) -> Result<Option<i64>, StoreError> {
        Ok(self
            .db()
            .fetch_optional::<IdRow>(
                "select merged_into as id from issue_redirects where issue_id = $1",
                vec![issue_id.into()],
            )
            .await?
            .map(|r| r.id))
    }
}
