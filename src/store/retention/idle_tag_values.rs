//! Tag values idle past the retention age, folded into their key's remainder (`issue_tags`).
//!
//! `issue_tags` counts, per issue, each value every tag key was seen with. Pruning deletes an
//! issue's old events but never its counts (totals survive), so a live issue tagged with
//! something that differs per event (a request id, a session) would gain a row, and an index
//! entry, per event for as long as it lives: a database that grows forever under any
//! retention setting. A value last seen before the age has no event left to show, so its
//! count moves into one remainder row per `(issue, key)`, whose value is empty (normalization
//! never stores an empty tag value), and its row goes. A key's total, the sum over its rows
//! and the base of the facets' "(not set)", stays exact; the folded value leaves the facets'
//! top values and tag search, as its events left the event list. `level`, `release` and
//! `environment` are not folded: they have a handful of values, and the release pages read
//! each release's first and last seen per issue.
//!
//! The steps and the reads that pick their issues: `idle.rs`.

use super::idle::IdleKey;
use crate::store::db::{values_list_from, Arg, Executor, IdRow};
use crate::store::{Backend, StoreError};

/// The rows of `issue_tags` (as `t`) that folding moves, once idle: not a remainder, not of
/// a kept key.
pub(super) const FOLDABLE: &str =
    "t.value <> '' and t.key not in ('level', 'release', 'environment')";

/// Folds in `tx` these rows of `issue_tags`, where still last seen before `idle_before_ms`
/// (epoch ms): their counts added to their keys' remainders, the rows deleted. Returns the
/// rows folded. `keys` is not empty (`idle::retire` sees to it).
pub(super) async fn fold(
    tx: &mut impl Executor,
    keys: &[IdleKey],
    idle_before_ms: i64,
) -> Result<u64, StoreError> {
    // Numbered in order of first use, as the writer's SQLite statements must be: the cutoff,
    // then the keys.
    let args = || {
        let mut args: Vec<Arg<'_>> = vec![idle_before_ms.into()];
        for k in keys {
            args.extend([
                Arg::from(k.issue_id),
                Arg::from(k.key.as_str()),
                Arg::from(k.value.as_str()),
            ]);
        }
        args
    };
    let idle = format!(
        "last_seen_ms < $1 and (issue_id, key, value) in (values {})",
        values_list_from(2, keys.len(), 3)
    );
    let (least, greatest) = tx.backend().min_max();
    let add_to_remainder = format!(
        "on conflict (issue_id, key, value) do update set \
         count = issue_tags.count + excluded.count, \
         first_seen_ms = {least}(issue_tags.first_seen_ms, excluded.first_seen_ms), \
         last_seen_ms = {greatest}(issue_tags.last_seen_ms, excluded.last_seen_ms)"
    );
    match tx.backend() {
        // One writer: the rows read twice in one transaction are the same rows.
        Backend::Sqlite => {
            tx.execute(
                &format!(
                    "insert into issue_tags (issue_id, key, value, count, first_seen_ms, \
                     last_seen_ms) select issue_id, key, '', sum(count), min(first_seen_ms), \
                     max(last_seen_ms) from issue_tags where {idle} group by issue_id, key \
                     {add_to_remainder}"
                ),
                args(),
            )
            .await?;
            tx.execute(&format!("delete from issue_tags where {idle}"), args())
                .await
        }
        // Concurrent roll-ups may raise a row's count and `last_seen_ms` meanwhile: the delete
        // checks the cutoff on the row it locks, and only what it deleted, with the counts it
        // deleted, is added to the remainder.
        Backend::Postgres => {
            let folded = tx
                .fetch_one::<IdRow>(
                    &format!(
                        "with gone as (delete from issue_tags where {idle} \
                         returning issue_id, key, count, first_seen_ms, last_seen_ms), \
                         added as (insert into issue_tags (issue_id, key, value, count, \
                         first_seen_ms, last_seen_ms) select issue_id, key, '', \
                         cast(sum(count) as bigint), min(first_seen_ms), max(last_seen_ms) \
                         from gone group by issue_id, key {add_to_remainder}) \
                         select count(*) as id from gone"
                    ),
                    args(),
                )
                .await?
                .id;
            Ok(folded.max(0).unsigned_abs())
        }
    }
}
