//! Merging issues that are one bug, and splitting grouping hashes off again.
//!
//! **Merge** ([`Store::merge_issues`]): the issue with the most events survives (ties: the
//! oldest). The others' `groupings` rows, events, tag, user and hourly counts, notifications
//! and timelines move to it, their counters are added to it (first / last seen, newest
//! title, environments), and they are deleted, leaving an `issue_redirects` row so that old
//! links (`/issues/{id}`, e-mails) lead to the survivor. Later events with any of their
//! hashes join the survivor, because the batch finds issues through `groupings`. Deferred
//! aggregates of moved events land in the survivor too: a roll-up reads each event's issue
//! when it applies it.
//!
//! **Unmerge** ([`Store::unmerge_hashes`]): the events of the chosen hashes become a new
//! issue; its counters, tags, users and hourly counts are computed from those events (their
//! payloads carry the tags), and subtracted from the issue they leave. Only stored events
//! move: an event that retention pruned is gone, so the new issue counts only the events
//! still stored, and the counts of pruned events stay with the old issue (which keeps its
//! first-seen time then, since its oldest events are the pruned ones).
//!
//! Both run in one transaction. On PostgreSQL they first take `groupings` in access
//! exclusive mode and `pending_aggregates` in exclusive mode: that waits for the ingest
//! batches and roll-ups in flight and holds new ones back until the commit, so no event can
//! join an issue that is being merged away or split. Ingestion therefore pauses for the
//! length of a merge or unmerge, which grows with the events moved (SQLite's single writer
//! gives the same order). A merge that cannot get its locks within
//! [`REGROUPING_LOCK_TIMEOUT_MS`] gives up with [`StoreError::Unavailable`] (a 503: try
//! again), rather than waiting on, say, a session left idle in a transaction.

use std::collections::{BTreeMap, BTreeSet, HashSet};

use serde_json::json;

use super::{locking, IssueStatus, Store, StoreError};
use crate::clock::{DAY_MS, HOUR_MS};
use crate::store::activity::{insert_activity, NewActivity};
use crate::store::batch::{
    index_user_key, roll_up, tag_pairs, PendingEvent, PENDING_EVENT_COLUMNS,
};
use crate::store::db::{chunks, placeholders, values_list, Arg, Executor, IdRow, Tx};
use crate::store::events::PAYLOAD;
use crate::store::Backend;
use crate::triage::Actor;

/// Events read per query while an unmerge collects what moves.
const UNMERGE_CHUNK: i64 = 500;
/// Pending aggregates applied per roll-up step before an unmerge.
const ROLL_UP_STEP: usize = 5_000;

/// One grouping hash of an issue, with the events stored under it.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct GroupingHash {
    /// Grouping rules version (`"v1"`).
    pub grouping_version: String,
    /// The hash (64 hex).
    pub hash: String,
    /// Events with this hash: stored events when the issue has several hashes, the issue's
    /// event count when it has one.
    pub event_count: i64,
    /// When the hash first joined an issue, epoch ms.
    pub created_ms: i64,
}

/// Why a merge or unmerge was refused.
#[derive(Debug, thiserror::Error)]
pub enum MergeError {
    /// A merge needs at least two issues.
    #[error("choose at least two issues to merge")]
    TooFew,
    /// Issues that do not exist in this project.
    #[error("issues {0:?} are not issues of this project")]
    UnknownIssues(Vec<i64>),
    /// An unmerge without hashes.
    #[error("choose at least one grouping hash to split off")]
    NoHashes,
    /// Hashes that are not the issue's.
    #[error("hashes {0:?} are not grouping hashes of this issue")]
    UnknownHashes(Vec<String>),
    /// Every hash of the issue was chosen.
    #[error("an issue keeps at least one grouping hash: leave one unchosen")]
    AllHashes,
    /// No stored event carries the chosen hashes (retention pruned them).
    #[error("no stored event has these hashes, so there is nothing to split off")]
    NoEvents,
    /// The database failed, or the issue does not exist ([`StoreError::NotFound`]).
    #[error(transparent)]
    Store(#[from] StoreError),
}

row! {
    struct MergeState {
        issue_id: i64,
        project_id: i64,
        event_count: i64,
        first_seen_ms: i64,
        last_seen_ms: i64,
        title: String,
        culprit: Option<String>,
        level: String,
        last_release: Option<String>,
        environments: String,
    }
}

row! {
    struct HashRow {
        grouping_version: String,
        hash: String,
        created_ms: i64,
    }
}

row! {
    struct HashCountRow {
        grouping_version: String,
        hash: String,
        n: i64,
    }
}

row! {
    /// A stored event of the hashes split off: the columns aggregates need, and where its
    /// tags are.
    struct MovedEvent {
        #[sqlx(flatten)]
        event: PendingEvent,
        grouping_version: String,
        grouping_kind: String,
        grouping_hash: String,
        payload: Vec<u8>,
    }
}

row! {
    struct RemainingRow {
        n: i64,
        first: Option<i64>,
        last: Option<i64>,
    }
}

row! {
    struct NewestRow {
        title: String,
        culprit: Option<String>,
        level: String,
    }
}

row! {
    struct TextRow {
        value: Option<String>,
    }
}

const STATE_COLUMNS: &str = "issue_id, project_id, event_count, first_seen_ms, last_seen_ms, \
    title, culprit, level, last_release, environments";

/// How long a merge or unmerge waits for any one lock on PostgreSQL (its table locks, then its
/// issue rows' `for update`) before it gives up with [`StoreError::Unavailable`]
/// (PostgreSQL's `lock_timeout`, set for the whole transaction; SQLSTATE 55P03). Ingest
/// batches and roll-ups hold them for milliseconds; a transaction that holds one longer (a
/// slow report, a session left idle in a transaction) would otherwise stall the merge, and
/// every ingest batch queued behind its access exclusive request, for as long as it lasts.
pub const REGROUPING_LOCK_TIMEOUT_MS: u64 = 5_000;

/// Holds ingestion back for the rest of the transaction (see the module docs), waiting at
/// most [`REGROUPING_LOCK_TIMEOUT_MS`] for the locks.
async fn lock_for_regrouping(tx: &mut Tx) -> Result<(), StoreError> {
    if tx.backend() == Backend::Postgres {
        let timeout = format!("set local lock_timeout = {REGROUPING_LOCK_TIMEOUT_MS}");
        tx.execute(&timeout, vec![]).await?;
        tx.execute("lock table groupings in access exclusive mode", vec![])
            .await?;
        tx.execute("lock table pending_aggregates in exclusive mode", vec![])
            .await?;
    }
    Ok(())
}

fn environments_of(s: &MergeState) -> Result<BTreeSet<String>, StoreError> {
    serde_json::from_str(&s.environments).map_err(|e| {
        StoreError::Other(format!("corrupt environments of issue {}: {e}", s.issue_id))
    })
}

/// What the events of the split-off hashes add up to.
#[derive(Default)]
struct Moved {
    count: i64,
    first_ms: i64,
    last_ms: i64,
    newest: Option<(i64, String, Option<String>, String, String)>,
    release: Option<(i64, String)>,
    environments: BTreeSet<String>,
    /// Each user's first and last event timestamps, epoch ms.
    users: BTreeMap<String, (i64, i64)>,
    tags: BTreeMap<(String, String), (i64, i64, i64)>,
    hours: BTreeMap<i64, i64>,
}

impl Moved {
    fn add(&mut self, moved: &MovedEvent, payload: &serde_json::Value) -> Result<(), StoreError> {
        let e = &moved.event;
        let ts = e.timestamp_ms;
        if self.count == 0 {
            (self.first_ms, self.last_ms) = (ts, ts);
        }
        self.count += 1;
        self.first_ms = self.first_ms.min(ts);
        self.last_ms = self.last_ms.max(ts);
        if self.newest.as_ref().is_none_or(|n| ts >= n.0) {
            self.newest = Some((
                ts,
                e.title.clone(),
                e.culprit.clone(),
                e.level.clone(),
                moved.grouping_kind.clone(),
            ));
        }
        if let Some(r) = &e.release {
            if self.release.as_ref().is_none_or(|(seen, _)| ts >= *seen) {
                self.release = Some((ts, r.clone()));
            }
        }
        self.environments.extend(e.environment.clone());
        if let Some(user) = &e.user_key {
            let seen = self.users.entry(user.clone()).or_insert((ts, ts));
            *seen = (seen.0.min(ts), seen.1.max(ts));
        }
        *self
            .hours
            .entry(ts.div_euclid(HOUR_MS) * HOUR_MS)
            .or_default() += 1;
        let pairs: Vec<(&str, &str)> = payload
            .get("tags")
            .and_then(|t| t.as_array())
            .into_iter()
            .flatten()
            .filter_map(|p| Some((p.get(0)?.as_str()?, p.get(1)?.as_str()?)))
            .collect();
        let tags = tag_pairs(
            pairs,
            &e.level,
            e.release.as_deref(),
            e.environment.as_deref(),
        );
        for (k, v) in tags {
            let t = self
                .tags
                .entry((k.to_owned(), v.to_owned()))
                .or_insert((0, ts, ts));
            t.0 += 1;
            t.1 = t.1.min(ts);
            t.2 = t.2.max(ts);
        }
        Ok(())
    }
}

impl Store {
    /// Merges `issue_ids` (at least two, all of `project_id`) into the one with the most
    /// events (see the module docs) on behalf of `actor` at `now`, with a `merge` timeline
    /// entry on it (`data.issue_ids`: the merged issues). Returns the surviving issue's id.
    /// Errors: [`MergeError::TooFew`], [`MergeError::UnknownIssues`], storage errors.
    pub async fn merge_issues(
        &self,
        project_id: i64,
        issue_ids: &[i64],
        actor: &Actor,
        now: i64,
    ) -> Result<i64, MergeError> {
        let ids: BTreeSet<i64> = issue_ids.iter().copied().collect();
        if ids.len() < 2 {
            return Err(MergeError::TooFew);
        }
        let ids: Vec<i64> = ids.into_iter().collect();
        let mut tx = self.pool.begin_write().await?;
        lock_for_regrouping(&mut tx).await?;
        let sql = format!(
            "select {STATE_COLUMNS} from issues where issue_id in ({}) order by issue_id{}",
            placeholders(1, ids.len()),
            locking(tx.backend())
        );
        let args = ids.iter().map(|&id| Arg::from(id)).collect();
        let states: Vec<MergeState> = tx.fetch_all(&sql, args).await?;
        let unknown: Vec<i64> = ids
            .iter()
            .copied()
            .filter(|id| {
                !states
                    .iter()
                    .any(|s| s.issue_id == *id && s.project_id == project_id)
            })
            .collect();
        if !unknown.is_empty() {
            return Err(MergeError::UnknownIssues(unknown));
        }
        let target = states
            .iter()
            .max_by(|a, b| {
                a.event_count
                    .cmp(&b.event_count)
                    .then(b.issue_id.cmp(&a.issue_id))
            })
            .map(|s| s.issue_id)
            .ok_or(MergeError::TooFew)?;
        let sources: Vec<i64> = ids.iter().copied().filter(|&id| id != target).collect();
        for &source in &sources {
            move_issue(&mut tx, source, target).await?;
        }
        // Counters of the survivor: sums, extremes, and the newest issue's texts.
        let newest = states
            .iter()
            .max_by_key(|s| (s.last_seen_ms, s.issue_id))
            .ok_or(MergeError::TooFew)?;
        let last_release = states
            .iter()
            .filter(|s| s.last_release.is_some())
            .max_by_key(|s| (s.last_seen_ms, s.issue_id))
            .and_then(|s| s.last_release.clone());
        let mut environments = BTreeSet::new();
        for s in &states {
            environments.extend(environments_of(s)?);
        }
        let environments = serde_json::to_string(&environments)
            .map_err(|e| StoreError::Other(format!("cannot encode environments: {e}")))?;
        let users = tx
            .fetch_one::<IdRow>(
                "select count(*) as id from issue_users where issue_id = $1",
                vec![target.into()],
            )
            .await?
            .id;
        tx.execute_one(
            "update issues set event_count = $2, user_count = $3, first_seen_ms = $4, \
             last_seen_ms = $5, title = $6, culprit = $7, level = $8, last_release = $9, \
             environments = $10 where issue_id = $1",
            vec![
                target.into(),
                states.iter().map(|s| s.event_count).sum::<i64>().into(),
                users.into(),
                states
                    .iter()
                    .map(|s| s.first_seen_ms)
                    .min()
                    .unwrap_or(0)
                    .into(),
                states
                    .iter()
                    .map(|s| s.last_seen_ms)
                    .max()
                    .unwrap_or(0)
                    .into(),
                newest.title.as_str().into(),
                newest.culprit.as_deref().into(),
                newest.level.as_str().into(),
                last_release.into(),
                environments.into(),
            ],
        )
        .await?;
        insert_activity(
            &mut tx,
            &[NewActivity {
                issue_id: target,
                kind: "merge",
                actor,
                data: json!({ "issue_ids": sources }),
                body: None,
            }],
            now,
        )
        .await?;
        tx.commit().await?;
        Ok(target)
    }

    /// The grouping hashes of an issue, oldest first, with their event counts (see
    /// [`GroupingHash::event_count`]). Errors: [`StoreError::NotFound`].
    pub async fn issue_hashes(&self, issue_id: i64) -> Result<Vec<GroupingHash>, StoreError> {
        let issue = self.issue(issue_id).await?;
        let rows = self
            .db()
            .fetch_all::<HashRow>(
                "select grouping_version, hash, created_ms from groupings where issue_id = $1 \
                 order by created_ms, hash",
                vec![issue_id.into()],
            )
            .await?;
        let counts: Vec<HashCountRow> = if rows.len() > 1 {
            // Merged issues only: a scan of the issue's events (no index holds the hash).
            self.db()
                .fetch_all(
                    "select grouping_version, grouping_hash as hash, count(*) as n from events \
                     where issue_id = $1 group by grouping_version, grouping_hash",
                    vec![issue_id.into()],
                )
                .await?
        } else {
            Vec::new()
        };
        Ok(rows
            .into_iter()
            .map(|r| {
                let event_count = if counts.is_empty() {
                    issue.count
                } else {
                    counts
                        .iter()
                        .find(|c| c.hash == r.hash && c.grouping_version == r.grouping_version)
                        .map_or(0, |c| c.n)
                };
                GroupingHash {
                    grouping_version: r.grouping_version,
                    hash: r.hash,
                    event_count,
                    created_ms: r.created_ms,
                }
            })
            .collect())
    }

    /// Splits `hashes` (grouping hashes of `issue_id`, not all of them) off into a new
    /// unresolved issue with their stored events (see the module docs), on behalf of
    /// `actor` at `now`, with an `unmerge` timeline entry on both issues. Returns the new
    /// issue's id. Errors: [`MergeError`]; [`StoreError::NotFound`] for an unknown issue.
    pub async fn unmerge_hashes(
        &self,
        issue_id: i64,
        hashes: &[String],
        actor: &Actor,
        now: i64,
    ) -> Result<i64, MergeError> {
        let chosen: BTreeSet<&str> = hashes.iter().map(|h| h.trim()).collect();
        if chosen.is_empty() {
            return Err(MergeError::NoHashes);
        }
        let mut tx = self.pool.begin_write().await?;
        lock_for_regrouping(&mut tx).await?;
        // Counters must be complete before events are counted out of them.
        while roll_up(&mut tx, ROLL_UP_STEP, now).await?.events > 0 {}
        let sql = format!(
            "select {STATE_COLUMNS} from issues where issue_id = $1{}",
            locking(tx.backend())
        );
        let old: MergeState = tx.fetch_one(&sql, vec![issue_id.into()]).await?;
        let own: Vec<HashRow> = tx
            .fetch_all(
                "select grouping_version, hash, created_ms from groupings where issue_id = $1",
                vec![issue_id.into()],
            )
            .await?;
        let unknown: Vec<String> = chosen
            .iter()
            .filter(|h| !own.iter().any(|r| r.hash == **h))
            .map(|h| (*h).to_owned())
            .collect();
        if !unknown.is_empty() {
            return Err(MergeError::UnknownHashes(unknown));
        }
        if own.iter().all(|r| chosen.contains(r.hash.as_str())) {
            return Err(MergeError::AllHashes);
        }
        let chosen: Vec<&str> = chosen.into_iter().collect();
        let hash_list = placeholders(2, chosen.len());
        let hash_args = || -> Vec<Arg<'_>> {
            let mut args = vec![Arg::from(issue_id)];
            args.extend(chosen.iter().map(|&h| Arg::from(h)));
            args
        };

        // What moves, read in chunks so payloads never pile up in memory.
        let mut moved = Moved::default();
        let mut cursor = 0_i64;
        loop {
            let sql = format!(
                "select {PENDING_EVENT_COLUMNS}, grouping_version, grouping_kind, \
                 grouping_hash, {PAYLOAD} from events where issue_id = $1 and grouping_hash in ({hash_list}) and event_pk > ${} \
                 order by event_pk limit {UNMERGE_CHUNK}",
                chosen.len() + 2
            );
            let mut args = hash_args();
            args.push(cursor.into());
            let rows: Vec<MovedEvent> = tx.fetch_all(&sql, args).await?;
            for e in &rows {
                let versions_match = own
                    .iter()
                    .any(|r| r.hash == e.grouping_hash && r.grouping_version == e.grouping_version);
                if versions_match {
                    let payload = self.decode_stored(&mut tx, &e.payload).await?;
                    moved.add(e, &payload)?;
                }
            }
            match rows.last() {
                Some(last) if rows.len() as i64 == UNMERGE_CHUNK => cursor = last.event.event_pk,
                _ => break,
            }
        }
        let Some((_, title, culprit, level, kind)) = moved.newest.clone() else {
            return Err(MergeError::NoEvents);
        };

        // The new issue, then the rows that move into it.
        // Days as the roll-up records them (`batch/aggregate.rs`); two raw keys may hash alike.
        let mut user_keys: BTreeMap<String, (i64, i64)> = BTreeMap::new();
        for (user, &(first, last)) in &moved.users {
            let days = (first.div_euclid(DAY_MS), last.div_euclid(DAY_MS));
            let seen = user_keys
                .entry(index_user_key(user).into_owned())
                .or_insert(days);
            *seen = (seen.0.min(days.0), seen.1.max(days.1));
        }
        let environments = serde_json::to_string(&moved.environments)
            .map_err(|e| StoreError::Other(format!("cannot encode environments: {e}")))?;
        let new_id = tx
            .fetch_one::<IdRow>(
                "insert into issues (project_id, title, culprit, level, status, is_regression, \
                 first_seen_ms, last_seen_ms, event_count, user_count, last_release, \
                 environments, grouping_kind, fingerprint, resolved_ms, created_ms) \
                 values ($1, $2, $3, $4, $5, false, $6, $7, $8, $9, $10, $11, $12, $13, null, \
                 $14) returning issue_id as id",
                vec![
                    old.project_id.into(),
                    title.into(),
                    culprit.into(),
                    level.into(),
                    IssueStatus::Unresolved.as_str().into(),
                    moved.first_ms.into(),
                    moved.last_ms.into(),
                    moved.count.into(),
                    i64::try_from(user_keys.len()).unwrap_or(i64::MAX).into(),
                    moved.release.as_ref().map(|(_, r)| r.clone()).into(),
                    environments.into(),
                    kind.into(),
                    chosen[0].into(),
                    now.into(),
                ],
            )
            .await?
            .id;
        for table in ["groupings", "events"] {
            let column = if table == "groupings" {
                "hash"
            } else {
                "grouping_hash"
            };
            let sql = format!(
                "update {table} set issue_id = ${} where issue_id = $1 and {column} in ({hash_list})",
                chosen.len() + 2
            );
            let mut args = hash_args();
            args.push(new_id.into());
            tx.execute(&sql, args).await?;
        }
        // Feedback follows its event into the new issue.
        tx.execute(
            "update user_feedback set issue_id = $1 where issue_id = $2 and event_id in \
             (select e.event_id from events e where e.issue_id = $1)",
            vec![new_id.into(), issue_id.into()],
        )
        .await?;
        let tags: Vec<_> = moved.tags.iter().collect();
        for chunk in chunks(&tags) {
            let sql = format!(
                "insert into issue_tags (issue_id, key, value, count, first_seen_ms, \
                 last_seen_ms) values {}",
                values_list(chunk.len(), 6)
            );
            let mut args: Vec<Arg<'_>> = Vec::with_capacity(chunk.len() * 6);
            for ((k, v), (n, first, last)) in chunk {
                args.extend([
                    new_id.into(),
                    k.as_str().into(),
                    v.as_str().into(),
                    (*n).into(),
                    (*first).into(),
                    (*last).into(),
                ]);
            }
            tx.execute(&sql, args).await?;
        }
        let keys: Vec<(&String, &(i64, i64))> = user_keys.iter().collect();
        for chunk in chunks(&keys) {
            let sql = format!(
                "insert into issue_users (issue_id, user_key, first_seen_day, last_seen_day) \
                 values {}",
                values_list(chunk.len(), 4)
            );
            let args = chunk
                .iter()
                .flat_map(|(k, &(first, last))| {
                    [
                        Arg::from(new_id),
                        Arg::from(k.as_str()),
                        Arg::from(first),
                        Arg::from(last),
                    ]
                })
                .collect();
            tx.execute(&sql, args).await?;
        }
        let hours: Vec<(i64, i64)> = moved.hours.iter().map(|(h, n)| (*h, *n)).collect();
        for chunk in chunks(&hours) {
            let sql = format!(
                "insert into issue_hourly (issue_id, hour_ms, count) values {}",
                values_list(chunk.len(), 3)
            );
            let args = chunk
                .iter()
                .flat_map(|(h, n)| [Arg::from(new_id), Arg::from(*h), Arg::from(*n)])
                .collect();
            tx.execute(&sql, args).await?;
        }

        subtract_from_old(&mut tx, &old, &moved).await?;
        let hashes: Vec<&str> = chosen.clone();
        insert_activity(
            &mut tx,
            &[
                NewActivity {
                    issue_id,
                    kind: "unmerge",
                    actor,
                    data: json!({ "hashes": hashes, "issue_id": new_id }),
                    body: None,
                },
                NewActivity {
                    issue_id: new_id,
                    kind: "unmerge",
                    actor,
                    data: json!({ "hashes": hashes, "from_issue_id": issue_id }),
                    body: None,
                },
            ],
            now,
        )
        .await?;
        tx.commit().await?;
        Ok(new_id)
    }
}

/// Moves everything of `source` into `target` and deletes `source`, leaving a redirect.
async fn move_issue(tx: &mut Tx, source: i64, target: i64) -> Result<(), StoreError> {
    let (least, greatest) = tx.backend().min_max();
    let both = [
        "update groupings set issue_id = $1 where issue_id = $2".to_owned(),
        "update events set issue_id = $1 where issue_id = $2".to_owned(),
        format!(
            "insert into issue_tags (issue_id, key, value, count, first_seen_ms, last_seen_ms) \
             select $1, key, value, count, first_seen_ms, last_seen_ms from issue_tags \
             where issue_id = $2 on conflict (issue_id, key, value) do update set \
             count = issue_tags.count + excluded.count, \
             first_seen_ms = {least}(issue_tags.first_seen_ms, excluded.first_seen_ms), \
             last_seen_ms = {greatest}(issue_tags.last_seen_ms, excluded.last_seen_ms)"
        ),
        format!(
            "insert into issue_users (issue_id, user_key, first_seen_day, last_seen_day) \
             select $1, user_key, first_seen_day, last_seen_day from issue_users \
             where issue_id = $2 on conflict (issue_id, user_key) do update set \
             first_seen_day = {least}(issue_users.first_seen_day, excluded.first_seen_day), \
             last_seen_day = {greatest}(issue_users.last_seen_day, excluded.last_seen_day)"
        ),
        "insert into issue_hourly (issue_id, hour_ms, count) select $1, hour_ms, count \
         from issue_hourly where issue_id = $2 on conflict (issue_id, hour_ms) do update \
         set count = issue_hourly.count + excluded.count"
            .to_owned(),
        "update outbox set issue_id = $1 where issue_id = $2".to_owned(),
        "update issue_activity set issue_id = $1 where issue_id = $2".to_owned(),
        "update user_feedback set issue_id = $1 where issue_id = $2".to_owned(),
        "update incidents set issue_id = $1 where issue_id = $2".to_owned(),
        "update issue_redirects set merged_into = $1 where merged_into = $2".to_owned(),
        "insert into issue_redirects (issue_id, merged_into) values ($2, $1)".to_owned(),
    ];
    for sql in &both {
        tx.execute(sql, vec![target.into(), source.into()]).await?;
    }
    for table in [
        "issue_tags",
        "issue_users",
        "issue_hourly",
        "notification_triggers",
        "issues",
    ] {
        let sql = format!("delete from {table} where issue_id = $1");
        tx.execute(&sql, vec![source.into()]).await?;
    }
    Ok(())
}

/// Takes what moved out of the old issue's counters (see the module docs on pruned events).
/// A moved value that retention folded into its key's remainder (its row gone, its events
/// not yet pruned: `store/retention/idle_tag_values.rs`) is taken from the remainder, so the
/// key's total stays the old issue's events.
async fn subtract_from_old(tx: &mut Tx, old: &MergeState, moved: &Moved) -> Result<(), StoreError> {
    let issue_id = old.issue_id;
    let tags: Vec<_> = moved.tags.iter().collect();
    for chunk in chunks(&tags) {
        // Several folded values of a key meet in one remainder row: summed first, since an
        // `update … from` changes a row once however many rows of `from` match it.
        let sql = format!(
            "with v (key, value, n) as (values {}), \
             w (key, value, n) as (select v.key, case when exists (select 1 from issue_tags t \
             where t.issue_id = ${at} and t.key = v.key and t.value = v.value) then v.value \
             else '' end, v.n from v), \
             s (key, value, n) as (select key, value, cast(sum(n) as bigint) from w \
             group by key, value) \
             update issue_tags set count = issue_tags.count - s.n from s \
             where issue_tags.issue_id = ${at} and issue_tags.key = s.key \
             and issue_tags.value = s.value",
            values_list(chunk.len(), 3),
            at = chunk.len() * 3 + 1
        );
        let mut args: Vec<Arg<'_>> = Vec::with_capacity(chunk.len() * 3 + 1);
        for ((k, v), (n, _, _)) in chunk {
            args.extend([k.as_str().into(), v.as_str().into(), (*n).into()]);
        }
        args.push(issue_id.into());
        tx.execute(&sql, args).await?;
    }
    let hours: Vec<(i64, i64)> = moved.hours.iter().map(|(h, n)| (*h, *n)).collect();
    for chunk in chunks(&hours) {
        let sql = format!(
            "with v (hour_ms, n) as (values {}) update issue_hourly set \
             count = issue_hourly.count - v.n from v where issue_hourly.issue_id = ${} \
             and issue_hourly.hour_ms = v.hour_ms",
            values_list(chunk.len(), 2),
            chunk.len() * 2 + 1
        );
        let mut args: Vec<Arg<'_>> = chunk
            .iter()
            .flat_map(|(h, n)| [Arg::from(*h), Arg::from(*n)])
            .collect();
        args.push(issue_id.into());
        tx.execute(&sql, args).await?;
    }
    for table in ["issue_tags", "issue_hourly"] {
        let sql = format!("delete from {table} where issue_id = $1 and count <= 0");
        tx.execute(&sql, vec![issue_id.into()]).await?;
    }
    // Users that none of the remaining events has any more.
    let users: Vec<&String> = moved.users.keys().collect();
    let mut still: HashSet<String> = HashSet::new();
    for chunk in chunks(&users) {
        let sql = format!(
            "select distinct user_key as value from events where issue_id = $1 \
             and user_key in ({})",
            placeholders(2, chunk.len())
        );
        let mut args = vec![Arg::from(issue_id)];
        args.extend(chunk.iter().map(|u| Arg::from(u.as_str())));
        still.extend(
            tx.fetch_all::<TextRow>(&sql, args)
                .await?
                .into_iter()
                .filter_map(|r| r.value),
        );
    }
    let gone: Vec<String> = users
        .iter()
        .filter(|u| !still.contains(u.as_str()))
        .map(|u| index_user_key(u).into_owned())
        .collect();
    let mut removed = 0_u64;
    for chunk in chunks(&gone) {
        let sql = format!(
            "delete from issue_users where issue_id = $1 and user_key in ({})",
            placeholders(2, chunk.len())
        );
        let mut args = vec![Arg::from(issue_id)];
        args.extend(chunk.iter().map(|u| Arg::from(u.as_str())));
        removed += tx.execute(&sql, args).await?;
    }

    // Seen times and texts from what remains; with pruned events (stored fewer than
    // counted), the first-seen time and environments of the pruned ones are kept.
    let remaining: RemainingRow = tx
        .fetch_one(
            "select count(*) as n, min(timestamp_ms) as first, max(timestamp_ms) as last \
             from events where issue_id = $1",
            vec![issue_id.into()],
        )
        .await?;
    let complete = remaining.n + moved.count == old.event_count;
    let newest: Option<NewestRow> = tx
        .fetch_optional(
            "select title, culprit, level from events where issue_id = $1 \
             order by timestamp_ms desc, event_pk desc limit 1",
            vec![issue_id.into()],
        )
        .await?;
    let release: Option<TextRow> = tx
        .fetch_optional(
            "select release as value from events where issue_id = $1 and release is not null \
             order by timestamp_ms desc, event_pk desc limit 1",
            vec![issue_id.into()],
        )
        .await?;
    let environments = if complete {
        let rows: Vec<TextRow> = tx
            .fetch_all(
                "select distinct environment as value from events where issue_id = $1",
                vec![issue_id.into()],
            )
            .await?;
        let envs: BTreeSet<String> = rows.into_iter().filter_map(|r| r.value).collect();
        serde_json::to_string(&envs)
            .map_err(|e| StoreError::Other(format!("cannot encode environments: {e}")))?
    } else {
        old.environments.clone()
    };
    let first = match remaining.first {
        Some(first) if complete => first,
        _ => old.first_seen_ms,
    };
    let last = remaining.last.unwrap_or(old.last_seen_ms);
    let (title, culprit, level) = match newest {
        Some(n) => (n.title, n.culprit, n.level),
        None => (old.title.clone(), old.culprit.clone(), old.level.clone()),
    };
    tx.execute_one(
        "update issues set event_count = event_count - $2, \
         user_count = case when user_count > $3 then user_count - $3 else 0 end, \
         first_seen_ms = $4, last_seen_ms = $5, title = $6, culprit = $7, level = $8, \
         last_release = $9, environments = $10 where issue_id = $1",
        vec![
            issue_id.into(),
            moved.count.into(),
            i64::try_from(removed).unwrap_or(i64::MAX).into(),
            first.into(),
            last.into(),
            title.into(),
            culprit.into(),
            level.into(),
            release
                .and_then(|r| r.value)
                .or(old.last_release.clone())
                .into(),
            environments.into(),
        ],
    )
    .await?;
    Ok(())
}
