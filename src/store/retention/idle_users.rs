//! Users idle past the retention age, forgotten (`issue_users`).
//!
//! `issue_users` holds one row per distinct user (id, e-mail, username or IP address) an issue
//! was seen with, the base of its `user_count`. Kept forever, a live issue of a public site,
//! where every visitor is a user by IP address, would gain a row per visitor for as long as it
//! lives, under any retention setting. A user the issue has not seen within the project's age
//! is forgotten: its row goes and `user_count` drops by one, so that `user_count` counts the
//! users seen within the age, as Sentry's user counts cover its retention window (a user seen
//! again later counts again). The roll-up records the day of each user's newest event
//! (`last_seen_day`, days since the epoch, moved on at most once a day:
//! `batch/aggregate.rs`), so a user is forgotten up to a day after its last event's age.
//! Projects that keep events forever forget nobody. An "ignore until N more users" condition
//! recorded the count that ends it when it was set; forgetting lowers that target by as many
//! as it lowers `user_count`, so that the users still to come stay N.

use std::collections::BTreeMap;

use super::idle::IdleKey;
use crate::clock::DAY_MS;
use crate::store::db::{placeholders, values_list, values_list_from, Arg, Executor};
use crate::store::issues::parse_details;
use crate::store::{Backend, StoreError};
use crate::triage::StatusDetails;

row! {
    /// An ignored issue's stored condition.
    struct IgnoredRow {
        issue_id: i64,
        status_details: Option<String>,
    }
}

/// The day (since the epoch, UTC) before which a user last seen is idle, for a cutoff of
/// `idle_before_ms` (epoch ms): the cutoff's own day is kept whole.
pub(super) fn cutoff_day(idle_before_ms: i64) -> i64 {
    idle_before_ms.div_euclid(DAY_MS)
}

/// Forgets in `tx` these users (`key` is the user key), where still last seen before
/// `idle_before_ms` (epoch ms): their rows deleted, each issue's `user_count` lowered by as
/// many, and an ignore's target with it ([`lower_ignore_targets`]). Returns the users
/// forgotten. `keys` is not empty (`idle::retire` sees to it).
pub(super) async fn forget(
    tx: &mut impl Executor,
    keys: &[IdleKey],
    idle_before_ms: i64,
) -> Result<u64, StoreError> {
    if tx.backend() == Backend::Postgres {
        // The roll-up locks a batch's issues in id order, then upserts their users; taking the
        // issues first, in the same order, keeps this step from deadlocking against it.
        let mut issues: Vec<i64> = keys.iter().map(|k| k.issue_id).collect();
        issues.sort_unstable();
        issues.dedup();
        let sql = format!(
            "select issue_id as id from issues where issue_id in ({}) order by issue_id \
             for no key update",
            placeholders(1, issues.len())
        );
        tx.fetch_ids(&sql, issues.into_iter().map(Arg::from).collect())
            .await?;
    }
    // Numbered in order of first use, as the writer's SQLite statements must be. The cutoff
    // is checked on the deleted row: on PostgreSQL a roll-up may have moved it on since.
    let sql = format!(
        "delete from issue_users where last_seen_day < $1 and (issue_id, user_key) in \
         (values {}) returning issue_id as id",
        values_list_from(2, keys.len(), 2)
    );
    let mut args: Vec<Arg<'_>> = vec![cutoff_day(idle_before_ms).into()];
    for k in keys {
        args.extend([Arg::from(k.issue_id), Arg::from(k.key.as_str())]);
    }
    let mut gone: BTreeMap<i64, i64> = BTreeMap::new();
    for issue_id in tx.fetch_ids(&sql, args).await? {
        *gone.entry(issue_id).or_default() += 1;
    }
    if gone.is_empty() {
        return Ok(0);
    }
    let sql = format!(
        "with v (issue_id, n) as (values {}) update issues set user_count = \
         case when issues.user_count > v.n then issues.user_count - v.n else 0 end \
         from v where issues.issue_id = v.issue_id",
        values_list(gone.len(), 2)
    );
    let args = gone
        .iter()
        .flat_map(|(&issue_id, &n)| [Arg::from(issue_id), Arg::from(n)])
        .collect();
    tx.execute(&sql, args).await?;
    lower_ignore_targets(tx, &gone).await?;
    Ok(gone.values().map(|&n| n.unsigned_abs()).sum())
}

/// Lowers the target of each "ignore until N more users" among these issues (issue id → users
/// forgotten) by the users it forgot: the condition ends once `user_count` reaches the target,
/// and `user_count` has just dropped by as many. Without this an ignore outliving the age would
/// wait for as many more users as were forgotten meanwhile.
async fn lower_ignore_targets(
    tx: &mut impl Executor,
    gone: &BTreeMap<i64, i64>,
) -> Result<(), StoreError> {
    let sql = format!(
        "select issue_id, status_details from issues where status = 'ignored' \
         and issue_id in ({})",
        placeholders(1, gone.len())
    );
    let ignored: Vec<IgnoredRow> = tx
        .fetch_all(&sql, gone.keys().map(|&id| Arg::from(id)).collect())
        .await?;
    for row in ignored {
        let details = parse_details(row.issue_id, row.status_details.as_deref());
        let (Some(StatusDetails::IgnoreUsers { users, until_users }), Some(&n)) =
            (details, gone.get(&row.issue_id))
        else {
            continue;
        };
        let lowered = StatusDetails::IgnoreUsers {
            users,
            until_users: until_users - n,
        };
        tx.execute(
            "update issues set status_details = $1 where issue_id = $2",
            vec![lowered.to_stored().into(), row.issue_id.into()],
        )
        .await?;
    }
    Ok(())
}
