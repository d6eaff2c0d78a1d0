//! Per-issue aggregate rows that retention retires once idle past the age: tag values folded
//! into their key (`idle_tag_values.rs`), users forgotten (`idle_users.rs`). Pruning deletes
//! old events; without this, the rows counting what those events carried would grow forever
//! for a live issue, under any retention setting.
//!
//! Each step runs on the ingest writer like the other pruning steps ([`Prune::RetireIdle`]),
//! a bounded number of rows; the reads that pick the issues run on the pool.

use crate::store::retention::prune::limit_arg;
use crate::store::retention::Prune;
use crate::store::{Store, StoreError};

use super::{idle_tag_values, idle_users};

/// Which aggregate rows a retirement step visits.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum IdleRows {
    /// `issue_tags` values last seen before the cutoff, folded into their key's remainder.
    TagValues,
    /// `issue_users` rows last seen before the cutoff's day, deleted, `user_count` lowered.
    Users,
}

impl IdleRows {
    /// The condition on issue `i` that it holds such a row idle at `$4`, and `$4`'s value for
    /// a cutoff of `idle_before_ms`.
    fn held(self, idle_before_ms: i64) -> (String, i64) {
        match self {
            IdleRows::TagValues => (
                format!(
                    "exists (select 1 from issue_tags t where t.issue_id = i.issue_id \
                     and t.last_seen_ms < $4 and {})",
                    idle_tag_values::FOLDABLE
                ),
                idle_before_ms,
            ),
            IdleRows::Users => (
                "exists (select 1 from issue_users u where u.issue_id = i.issue_id \
                 and u.last_seen_day < $4)"
                    .to_owned(),
                idle_users::cutoff_day(idle_before_ms),
            ),
        }
    }
}

impl Store {
    /// Issues of `project_id` with an id above `after_issue` holding `rows` idle before
    /// `idle_before_ms` (epoch ms), by id, at most `limit`.
    pub async fn issues_with_idle(
        &self,
        rows: IdleRows,
        project_id: i64,
        idle_before_ms: i64,
        after_issue: i64,
        limit: usize,
    ) -> Result<Vec<i64>, StoreError> {
        let (held, cutoff) = rows.held(idle_before_ms);
        // An issue first seen after the cutoff cannot hold a row last seen before it.
        let sql = format!(
            "select i.issue_id as id from issues i where i.project_id = $1 \
             and i.issue_id > $2 and i.first_seen_ms < $3 and {held} \
             order by i.issue_id limit $5"
        );
        self.pks(
            &sql,
            vec![
                project_id.into(),
                after_issue.into(),
                idle_before_ms.into(),
                cutoff.into(),
                limit_arg(limit),
            ],
        )
        .await
    }

    /// One step (one short transaction on the ingest writer): retires at most `limit` of
    /// these issues' `rows` idle before `idle_before_ms`. Returns how many it retired; 0 once
    /// none is left.
    pub async fn retire_idle(
        &self,
        rows: IdleRows,
        issue_ids: Vec<i64>,
        idle_before_ms: i64,
        limit: usize,
    ) -> Result<u64, StoreError> {
        let step = Prune::RetireIdle {
            rows,
            issue_ids,
            idle_before_ms,
            limit,
        };
        Ok(self.prune(step).await?.rows)
    }
}

/// [`Prune::RetireIdle`] in `tx`. Returns the rows retired.
pub(super) async fn retire(
    tx: &mut impl crate::store::db::Executor,
    rows: IdleRows,
    issue_ids: &[i64],
    idle_before_ms: i64,
    limit: usize,
) -> Result<u64, StoreError> {
    match rows {
        IdleRows::TagValues => idle_tag_values::fold(tx, issue_ids, idle_before_ms, limit).await,
        IdleRows::Users => idle_users::forget(tx, issue_ids, idle_before_ms, limit).await,
    }
}
