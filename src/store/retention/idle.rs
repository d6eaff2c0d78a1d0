//! Per-issue aggregate rows that retention retires once idle past the age: tag values folded
//! into their key (`idle_tag_values.rs`), users forgotten (`idle_users.rs`). Pruning deletes
//! old events; without this, the rows counting what those events carried would grow forever
//! for a live issue, under any retention setting.
//!
//! As with pruning, the reads that pick the rows run on the pool, in key order from where the
//! last one stopped (an issue's kept rows are read once per pass, however many steps its idle
//! ones take), and each step ([`Prune::RetireIdle`]) retires the rows it is given, checking
//! the cutoff again, in one short transaction on the ingest writer.

use crate::store::db::{Arg, Executor};
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

row! {
    /// The key of an idle row: `issue_tags`' `(issue_id, key, value)`, or `issue_users`'
    /// `(issue_id, user_key)` with `key` the user key and `value` empty.
    #[derive(Clone, PartialEq, Eq)]
    pub struct IdleKey {
        pub issue_id: i64,
        pub key: String,
        pub value: String,
    }
}

impl IdleRows {
    /// The rows' table, as `t`.
    fn table(self) -> &'static str {
        match self {
            IdleRows::TagValues => "issue_tags t",
            IdleRows::Users => "issue_users t",
        }
    }

    /// The condition on row `t` that it is idle at the placeholder `cutoff`, and that
    /// placeholder's value for a cutoff of `idle_before_ms` (epoch ms; users count in days).
    fn idle(self, cutoff: &str, idle_before_ms: i64) -> (String, i64) {
        match self {
            IdleRows::TagValues => (
                format!(
                    "t.last_seen_ms < {cutoff} and {}",
                    idle_tag_values::FOLDABLE
                ),
                idle_before_ms,
            ),
            IdleRows::Users => (
                format!("t.last_seen_day < {cutoff}"),
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
        let (idle, cutoff) = rows.idle("$4", idle_before_ms);
        // An issue first seen after the cutoff cannot hold a row last seen before it.
        let sql = format!(
            "select i.issue_id as id from issues i where i.project_id = $1 \
             and i.issue_id > $2 and i.first_seen_ms < $3 and exists (select 1 from {} \
             where t.issue_id = i.issue_id and {idle}) order by i.issue_id limit $5",
            rows.table()
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

    /// Issue `issue_id`'s `rows` idle before `idle_before_ms` (epoch ms) whose key follows
    /// `after` (within the issue; from its first row without), in key order, at most `limit`.
    pub async fn idle_keys(
        &self,
        rows: IdleRows,
        issue_id: i64,
        idle_before_ms: i64,
        after: Option<&IdleKey>,
        limit: usize,
    ) -> Result<Vec<IdleKey>, StoreError> {
        // Numbered in order of first use (SQLite numbers `$N` as it meets them).
        let (idle, cutoff) = rows.idle("$2", idle_before_ms);
        let mut args: Vec<Arg<'_>> = vec![issue_id.into(), cutoff.into()];
        let (columns, after) = match rows {
            IdleRows::TagValues => (
                "t.issue_id, t.key, t.value",
                after.map_or("", |k| {
                    args.extend([Arg::from(k.key.clone()), Arg::from(k.value.clone())]);
                    "and (t.key, t.value) > ($3, $4)"
                }),
            ),
            IdleRows::Users => (
                "t.issue_id, t.user_key as key, '' as value",
                after.map_or("", |k| {
                    args.push(Arg::from(k.key.clone()));
                    "and t.user_key > $3"
                }),
            ),
        };
        let sql = format!(
            "select {columns} from {} where t.issue_id = $1 and {idle} {after} \
             order by 2, 3 limit ${}",
            rows.table(),
            args.len() + 1
        );
        args.push(limit_arg(limit));
        self.db().fetch_all::<IdleKey>(&sql, args).await
    }

    /// One step (one short transaction on the ingest writer): retires these `rows` where
    /// still idle before `idle_before_ms`. Returns how many it retired.
    pub async fn retire_idle(
        &self,
        rows: IdleRows,
        keys: Vec<IdleKey>,
        idle_before_ms: i64,
    ) -> Result<u64, StoreError> {
        let step = Prune::RetireIdle {
            rows,
            keys,
            idle_before_ms,
        };
        Ok(self.prune(step).await?.rows)
    }
}

/// [`Prune::RetireIdle`] in `tx`. Returns the rows retired.
pub(super) async fn retire(
    tx: &mut impl Executor,
    rows: IdleRows,
    keys: &[IdleKey],
    idle_before_ms: i64,
) -> Result<u64, StoreError> {
    if keys.is_empty() {
        return Ok(0);
    }
    match rows {
        IdleRows::TagValues => idle_tag_values::fold(tx, keys, idle_before_ms).await,
        IdleRows::Users => idle_users::forget(tx, keys, idle_before_ms).await,
    }
}
