//! Issue aggregates: what each stored event adds to its issue (count, first and last seen,
//! newest title, level and release, environments, distinct users, tag and hourly counts) and
//! the regression of a resolved issue, applied in bulk.
//!
//! Inline, [`apply`] runs in the ingest transaction (phase 3 of `insert.rs`). Under load
//! the ingest writer defers it: the transaction stores the events with one
//! `pending_aggregates` row each (the event's key and its tag pairs; everything else is in
//! the event row), and a roll-up ([`roll_up`]) later applies thousands of them at once and
//! deletes them, in one transaction. The busiest issues' rows, tag rows and sort-index entries
//! are then written once per roll-up instead of once per batch: on SQLite most of the pages a
//! batch wrote, on PostgreSQL the rows two servers' transactions queued on.
//!
//! Both paths share [`apply`], so a deferred event ends up exactly where an inline one would;
//! only the moment differs (the ingest writer rolls up at least every 250 ms under load).
//! Exactly once: a pending row is deleted in the transaction that applies it, and on
//! PostgreSQL concurrent roll-ups take disjoint rows (`for update skip locked`).

use std::borrow::Cow;
use std::collections::{BTreeMap, BTreeSet, HashMap};

use sha2::{Digest, Sha256};

use super::conditions::{self, Reopened};
use super::input::{event_tags, Encoded, NewEvent};
use super::pg;
use crate::clock::{DAY_MS, HOUR_MS};
use crate::store::db::{chunk_sizes, chunks, placeholders, values_list, Arg, Executor};
use crate::store::outbox::insert_outbox;
use crate::store::{Backend, IssueStatus, StoreError};
use crate::triage::Reopen;

/// One stored event, as far as its issue's aggregates are concerned.
pub(super) struct Facts<'a> {
    pub issue_id: i64,
    pub project_id: i64,
    /// 32 lowercase hex.
    pub event_id: &'a str,
    pub timestamp_ms: i64,
    pub title: &'a str,
    pub culprit: Option<&'a str>,
    pub level: &'a str,
    pub release: Option<&'a str>,
    pub environment: Option<&'a str>,
    pub user_key: Option<&'a str>,
    /// The pairs counted in `issue_tags` (`input::event_tags`).
    pub tags: Vec<(&'a str, &'a str)>,
}

impl<'a> Facts<'a> {
    /// The facts of `e`, stored as `event_id` in `issue_id`.
    pub(super) fn of(e: &'a NewEvent, event_id: &'a str, issue_id: i64) -> Facts<'a> {
        Facts {
            issue_id,
            project_id: e.project_id,
            event_id,
            timestamp_ms: e.fields.timestamp_ms,
            title: &e.fields.title,
            culprit: e.fields.culprit.as_deref(),
            level: e.fields.level.as_str(),
            release: e.fields.release.as_deref(),
            environment: e.fields.environment.as_deref(),
            user_key: e.fields.user_key.as_deref(),
            tags: event_tags(e).into_iter().collect(),
        }
    }
}

/// What [`apply`] did.
#[derive(Debug, Default)]
pub(super) struct Applied {
    /// Issues that were resolved (or ignored until regression) and are reopened as
    /// regressions.
    pub regressed: BTreeSet<i64>,
}

/// What a [`Store::roll_up`](crate::store::Store::roll_up) applied.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct RollUp {
    /// Pending events applied (and their rows deleted).
    pub events: usize,
    /// Issues reopened as regressions.
    pub regressions: usize,
}

row! {
    /// A pending row: the event's key and its tags JSON.
    struct PendingRow {
        event_pk: i64,
        tags: String,
    }
}

row! {
    /// The columns of a pending event that its issue's aggregates need (selected in field
    /// order).
    pub(in crate::store) struct PendingEvent {
        pub(in crate::store) event_pk: i64,
        pub(in crate::store) issue_id: i64,
        pub(in crate::store) project_id: i64,
        pub(in crate::store) event_id: String,
        pub(in crate::store) timestamp_ms: i64,
        pub(in crate::store) level: String,
        pub(in crate::store) title: String,
        pub(in crate::store) culprit: Option<String>,
        pub(in crate::store) release: Option<String>,
        pub(in crate::store) environment: Option<String>,
        pub(in crate::store) user_key: Option<String>,
    }
}

/// The columns of [`PendingEvent`], in its field order.
pub(in crate::store) const PENDING_EVENT_COLUMNS: &str = "event_pk, issue_id, project_id, \
    event_id, timestamp_ms, level, title, culprit, release, environment, user_key";

/// Records the stored events (`inserted[i]`, with key `event_pks[i]`) as pending.
pub(super) async fn insert_pending(
    tx: &mut impl Executor,
    events: &[NewEvent],
    encoded: &Encoded,
    inserted: &[bool],
    event_pks: &[i64],
) -> Result<(), StoreError> {
    let rows: Vec<usize> = (0..events.len()).filter(|&i| inserted[i]).collect();
    if rows.is_empty() {
        return Ok(());
    }
    if let Some(conn) = tx.postgres() {
        let pairs: Vec<(i64, &str)> = rows
            .iter()
            .map(|&i| (event_pks[i], encoded.tags[i].as_str()))
            .collect();
        return pg::insert_pending(conn, &pairs).await;
    }
    // One statement per row on SQLite, as the events (`insert.rs`, `EVENT_INSERT`).
    for &i in &rows {
        tx.execute(
            "insert into pending_aggregates (event_pk, tags) values ($1, $2)",
            vec![event_pks[i].into(), encoded.tags[i].as_str().into()],
        )
        .await?;
    }
    Ok(())
}

/// Applies up to `limit` pending events, oldest first, and deletes their rows, inside `tx`
/// (the caller commits). Errors: [`StoreError::Other`] for a pending row whose tags are not
/// the JSON `insert_pending` wrote; storage errors as they come.
pub(in crate::store) async fn roll_up(
    tx: &mut impl Executor,
    limit: usize,
    now: i64,
) -> Result<RollUp, StoreError> {
    // Two servers on one PostgreSQL roll up disjoint rows; SQLite has one writer anyway.
    let lock = match tx.backend() {
        Backend::Postgres => " for update skip locked",
        Backend::Sqlite => "",
    };
    // Two statements, not a join: PostgreSQL's planner, misled by the churn of this table's
    // statistics, merge-joined it with a scan of the whole `events` key index, a cost that
    // grew with the database (18 ms per roll-up at 30,000 events, 110 ms at 200,000).
    let sql = format!(
        "select event_pk, tags from pending_aggregates order by event_pk limit {}{lock}",
        limit.max(1)
    );
    let rows: Vec<PendingRow> = tx.fetch_all(&sql, vec![]).await?;
    let pks: Vec<i64> = rows.iter().map(|r| r.event_pk).collect();
    let mut events: HashMap<i64, PendingEvent> = HashMap::with_capacity(rows.len());
    for chunk in chunks(&pks) {
        let sql = format!(
            "select {PENDING_EVENT_COLUMNS} from events where event_pk in ({})",
            placeholders(1, chunk.len())
        );
        let args = chunk.iter().map(|&pk| Arg::from(pk)).collect();
        for e in tx.fetch_all::<PendingEvent>(&sql, args).await? {
            events.insert(e.event_pk, e);
        }
        let sql = format!(
            "delete from pending_aggregates where event_pk in ({})",
            placeholders(1, chunk.len())
        );
        tx.execute(&sql, chunk.iter().map(|&pk| Arg::from(pk)).collect())
            .await?;
    }
    let mut tags: Vec<Vec<(String, String)>> = Vec::with_capacity(rows.len());
    for r in &rows {
        tags.push(serde_json::from_str(&r.tags).map_err(|e| {
            StoreError::Other(format!("corrupt pending tags of event {}: {e}", r.event_pk))
        })?);
    }
    // A pending row whose event is gone (its issue was deleted meanwhile) adds nothing.
    let facts: Vec<Facts<'_>> = rows
        .iter()
        .zip(&tags)
        .filter_map(|(r, tags)| {
            let e = events.get(&r.event_pk)?;
            Some(Facts {
                issue_id: e.issue_id,
                project_id: e.project_id,
                event_id: &e.event_id,
                timestamp_ms: e.timestamp_ms,
                title: &e.title,
                culprit: e.culprit.as_deref(),
                level: &e.level,
                release: e.release.as_deref(),
                environment: e.environment.as_deref(),
                user_key: e.user_key.as_deref(),
                tags: tags.iter().map(|(k, v)| (k.as_str(), v.as_str())).collect(),
            })
        })
        .collect();
    let applied = apply(tx, &facts, &BTreeSet::new(), now).await?;
    Ok(RollUp {
        events: rows.len(),
        regressions: applied.regressed.len(),
    })
}

/// Adds `facts` to their issues' aggregates and writes the outbox rows: `new_issue` for the
/// issues in `created`, `regression` for resolved issues that get an event (reopened), unless
/// a release condition keeps them resolved, `unignored` for ignored issues whose condition
/// the events meet (`conditions.rs`); reopened issues also get a timeline entry.
/// Rows are touched in a fixed order (issues by id, then tags and hours by key), so
/// concurrent transactions may wait on each other but not deadlock.
pub(super) async fn apply(
    tx: &mut impl Executor,
    facts: &[Facts<'_>],
    created: &BTreeSet<i64>,
    now: i64,
) -> Result<Applied, StoreError> {
    if facts.is_empty() {
        return Ok(Applied::default());
    }
    // Aggregate the stored events per issue, tag and hour.
    let mut deltas: BTreeMap<i64, IssueDelta<'_>> = BTreeMap::new();
    let mut tags: BTreeMap<(i64, &str, &str), TagDelta> = BTreeMap::new();
    let mut hours: BTreeMap<(i64, i64), i64> = BTreeMap::new();
    for (i, e) in facts.iter().enumerate() {
        let issue_id = e.issue_id;
        let ts = e.timestamp_ms;
        let d = deltas.entry(issue_id).or_insert_with(|| IssueDelta {
            first: i,
            count: 0,
            min_ts: ts,
            max_ts: ts,
            newest: i,
            release: None,
            releases: BTreeSet::new(),
            environments: BTreeSet::new(),
            users: BTreeMap::new(),
        });
        d.count += 1;
        d.min_ts = d.min_ts.min(ts);
        if ts >= d.max_ts {
            d.max_ts = ts;
            d.newest = i;
        }
        if let Some(release) = e.release {
            if d.release.is_none_or(|(seen, _)| ts >= seen) {
                d.release = Some((ts, release));
            }
            d.releases.insert(release);
        }
        if let Some(env) = e.environment {
            d.environments.insert(env);
        }
        if let Some(user) = e.user_key {
            let day = d.users.entry(index_user_key(user)).or_insert(ts);
            *day = (*day).max(ts);
        }
        for &(key, value) in &e.tags {
            let t = tags.entry((issue_id, key, value)).or_insert(TagDelta {
                count: 0,
                first_ms: ts,
                last_ms: ts,
            });
            t.count += 1;
            t.first_ms = t.first_ms.min(ts);
            t.last_ms = t.last_ms.max(ts);
        }
        *hours
            .entry((issue_id, ts.div_euclid(HOUR_MS) * HOUR_MS))
            .or_default() += 1;
    }

    // Phase 3: lock the touched issues (in id order), count new distinct users, apply the
    // aggregates; a few multi-row statements however many issues the batch touches.
    let mut states = lock_issues(tx, deltas.keys().copied()).await?;
    let new_users = insert_users(tx, &deltas).await?;
    let first_seen = conditions::release_first_seen(tx, facts, &deltas, &states).await?;
    let mut regressed: BTreeSet<i64> = BTreeSet::new();
    let mut reopened: Vec<Reopened> = Vec::new();
    let mut updates = Vec::with_capacity(deltas.len());
    for (&issue_id, d) in &deltas {
        let state = states
            .remove(&issue_id)
            .ok_or_else(|| StoreError::Other(format!("issue {issue_id} vanished")))?;
        let newest = &facts[d.newest];
        let newer = d.max_ts >= state.last_seen_ms;
        let (title, culprit, level) = if newer {
            (
                Cow::Borrowed(newest.title),
                newest.culprit.map(Cow::Borrowed),
                Cow::Borrowed(newest.level),
            )
        } else {
            (
                Cow::Owned(state.title),
                state.culprit.map(Cow::Owned),
                Cow::Owned(state.level),
            )
        };
        let last_release = match d.release {
            Some((ts, release)) if state.last_release.is_none() || ts >= state.last_seen_ms => {
                Some(Cow::Borrowed(release))
            }
            _ => state.last_release.map(Cow::Owned),
        };
        let mut environments: BTreeSet<String> = serde_json::from_str(&state.environments)
            .map_err(|e| {
                StoreError::Other(format!("corrupt environments of issue {issue_id}: {e}"))
            })?;
        environments.extend(d.environments.iter().map(|s| (*s).to_owned()));
        let environments = serde_json::to_string(&environments)
            .map_err(|e| StoreError::Other(format!("cannot encode environments: {e}")))?;
        let users_after = state.user_count + new_users.get(&issue_id).copied().unwrap_or(0);
        let reopen = conditions::evaluate(
            issue_id,
            &state.status,
            state.status_details.as_deref(),
            d,
            newest.release,
            state.event_count + d.count,
            users_after,
            &first_seen,
            facts[d.first].project_id,
        );
        let (status, is_regression, resolved_ms, details, until) = match &reopen {
            Some(Reopen::Regression { .. }) => {
                regressed.insert(issue_id);
                (
                    IssueStatus::Unresolved.as_str().to_owned(),
                    true,
                    None,
                    None,
                    None,
                )
            }
            Some(Reopen::Unignored { .. }) => (
                IssueStatus::Unresolved.as_str().to_owned(),
                state.is_regression,
                None,
                None,
                None,
            ),
            None => (
                state.status,
                state.is_regression,
                state.resolved_ms,
                state.status_details,
                state.ignore_until_ms,
            ),
        };
        if let Some(reopen) = reopen {
            reopened.push(Reopened { issue_id, reopen });
        }
        updates.push([
            issue_id.into(),
            Arg::Str(title),
            Arg::OptStr(culprit),
            Arg::Str(level),
            status.into(),
            is_regression.into(),
            resolved_ms.into(),
            state.first_seen_ms.min(d.min_ts).into(),
            state.last_seen_ms.max(d.max_ts).into(),
            d.count.into(),
            new_users.get(&issue_id).copied().unwrap_or(0).into(),
            Arg::OptStr(last_release),
            environments.into(),
            details.into(),
            until.into(),
        ]);
    }
    update_issues(tx, updates).await?;

    // Phase 4: tag and hourly counters.
    upsert_tags(tx, &tags).await?;
    upsert_hours(tx, &hours).await?;

    // Phase 5: notifications and timeline entries, in the same transaction as their cause.
    conditions::record(tx, &reopened, now).await?;
    for (&issue_id, d) in &deltas {
        let kind = if created.contains(&issue_id) {
            "new_issue"
        } else if regressed.contains(&issue_id) {
            "regression"
        } else if reopened.iter().any(|r| r.issue_id == issue_id) {
            "unignored"
        } else {
            continue;
        };
        let first = &facts[d.first];
        insert_outbox(tx, kind, first.project_id, issue_id, first.event_id, now).await?;
    }
    Ok(Applied { regressed })
}

/// Longest user key (bytes) stored as is in `issue_users`; longer ones are stored as their
/// SHA-256, which still counts distinct users correctly.
const MAX_USER_KEY: usize = 200;

/// Columns of one row of the issue update, in [`update_issues`]' argument order.
const ISSUE_UPDATE_COLUMNS: &str = "issue_id, title, culprit, level, status, is_regression, \
    resolved_ms, first_seen_ms, last_seen_ms, add_events, add_users, last_release, environments, \
    status_details, ignore_until_ms";
const ISSUE_UPDATE_COLUMN_COUNT: usize = 15;

/// The issue columns phase 3 reads under lock, in the field order of [`IssueState`].
const ISSUE_STATE_COLUMNS: &str = "issue_id, status, is_regression, resolved_ms, title, \
    culprit, level, first_seen_ms, last_seen_ms, last_release, environments, event_count, \
    user_count, status_details, ignore_until_ms";

row! {
    /// The issue columns phase 3 needs, read under lock.
    pub(super) struct IssueState {
        pub(super) issue_id: i64,
        status: String,
        is_regression: bool,
        resolved_ms: Option<i64>,
        title: String,
        culprit: Option<String>,
        level: String,
        first_seen_ms: i64,
        last_seen_ms: i64,
        last_release: Option<String>,
        environments: String,
        event_count: i64,
        user_count: i64,
        /// The condition of a resolve or ignore (`crate::triage::StatusDetails`, JSON).
        pub(super) status_details: Option<String>,
        ignore_until_ms: Option<i64>,
    }
}

/// What the batch adds to one issue.
pub(super) struct IssueDelta<'a> {
    /// Index in the facts of the first event (outbox event id).
    pub(super) first: usize,
    count: i64,
    min_ts: i64,
    max_ts: i64,
    /// Index in the facts of the newest event (title, culprit, level).
    newest: usize,
    /// Newest `(timestamp, release)` among events that carry a release.
    release: Option<(i64, &'a str)>,
    /// Every release among them.
    pub(super) releases: BTreeSet<&'a str>,
    environments: BTreeSet<&'a str>,
    /// Each user's key (`index_user_key`) and newest event timestamp, epoch ms.
    users: BTreeMap<Cow<'a, str>, i64>,
}

/// What the batch adds to one `(issue, key, value)` tag row.
struct TagDelta {
    count: i64,
    first_ms: i64,
    last_ms: i64,
}

/// The key a user is stored under in `issue_users`: itself, or the SHA-256 of a long one.
pub(in crate::store) fn index_user_key(user: &str) -> Cow<'_, str> {
    if user.len() <= MAX_USER_KEY {
        Cow::Borrowed(user)
    } else {
        Cow::Owned(format!(
            "sha256:{}",
            hex::encode(Sha256::digest(user.as_bytes()))
        ))
    }
}

row! {
    /// A row the users' upsert wrote: inserted (`added`), or seen again on a later day.
    struct UserRow {
        issue_id: i64,
        added: bool,
    }
}

/// Adds the batch's users to their issues, or moves a known user's `last_seen_day` on when
/// the batch saw it on a later day (at most one write per user and issue a day, which is
/// what retention's age, in days, needs: `store/retention/idle_users.rs`); returns, per
/// issue, how many were not known before (issues without new users are absent). A row the
/// upsert inserted has both days equal, one it moved on has not (`last_seen_day` only grows).
async fn insert_users(
    tx: &mut impl Executor,
    deltas: &BTreeMap<i64, IssueDelta<'_>>,
) -> Result<HashMap<i64, i64>, StoreError> {
    let rows: Vec<(i64, &str, i64)> = deltas
        .iter()
        .flat_map(|(&issue_id, d)| {
            d.users
                .iter()
                .map(move |(u, &ts)| (issue_id, u.as_ref(), ts.div_euclid(DAY_MS)))
        })
        .collect();
    let mut added: HashMap<i64, i64> = HashMap::new();
    for chunk in chunks(&rows) {
        let sql = format!(
            "insert into issue_users (issue_id, user_key, first_seen_day, last_seen_day) \
             values {} on conflict (issue_id, user_key) do update set \
             last_seen_day = excluded.last_seen_day \
             where issue_users.last_seen_day < excluded.last_seen_day \
             returning issue_id, first_seen_day = last_seen_day as added",
            values_list(chunk.len(), 4)
        );
        let mut args = Vec::with_capacity(chunk.len() * 4);
        for &(issue_id, user, day) in chunk {
            args.extend([issue_id.into(), user.into(), day.into(), day.into()]);
        }
        for row in tx.fetch_all::<UserRow>(&sql, args).await? {
            if row.added {
                *added.entry(row.issue_id).or_default() += 1;
            }
        }
    }
    Ok(added)
}

/// Reads the issues' state, taking their row locks in ascending id order on PostgreSQL
/// (`order by` sits below the lock step, so rows are locked in that order).
async fn lock_issues(
    tx: &mut impl Executor,
    ids: impl Iterator<Item = i64>,
) -> Result<HashMap<i64, IssueState>, StoreError> {
    let lock = match tx.backend() {
        Backend::Postgres => " for no key update",
        Backend::Sqlite => "",
    };
    let ids: Vec<i64> = ids.collect();
    let mut states = HashMap::with_capacity(ids.len());
    for chunk in chunks(&ids) {
        let sql = format!(
            "select {ISSUE_STATE_COLUMNS} from issues where issue_id in ({}) \
             order by issue_id{lock}",
            placeholders(1, chunk.len())
        );
        let args = chunk.iter().map(|&id| Arg::from(id)).collect();
        for state in tx.fetch_all::<IssueState>(&sql, args).await? {
            states.insert(state.issue_id, state);
        }
    }
    Ok(states)
}

/// Applies the per-issue aggregates, one `update … from (values …)` per chunk of rows.
async fn update_issues<'a>(
    tx: &mut impl Executor,
    rows: Vec<[Arg<'a>; ISSUE_UPDATE_COLUMN_COUNT]>,
) -> Result<(), StoreError> {
    let mut rows = rows.into_iter();
    for size in chunk_sizes(rows.len()) {
        let sql = format!(
            "with v ({ISSUE_UPDATE_COLUMNS}) as (values {}) \
             update issues set title = v.title, culprit = v.culprit, level = v.level, \
             status = v.status, is_regression = v.is_regression, resolved_ms = v.resolved_ms, \
             first_seen_ms = v.first_seen_ms, last_seen_ms = v.last_seen_ms, \
             event_count = issues.event_count + v.add_events, \
             user_count = issues.user_count + v.add_users, last_release = v.last_release, \
             environments = v.environments, status_details = v.status_details, \
             ignore_until_ms = v.ignore_until_ms \
             from v where issues.issue_id = v.issue_id",
            values_list(size, ISSUE_UPDATE_COLUMN_COUNT)
        );
        let args = rows.by_ref().take(size).flatten().collect();
        tx.execute(&sql, args).await?;
    }
    Ok(())
}

async fn upsert_tags(
    tx: &mut impl Executor,
    tags: &BTreeMap<(i64, &str, &str), TagDelta>,
) -> Result<(), StoreError> {
    let (least, greatest) = tx.backend().min_max();
    let rows: Vec<_> = tags.iter().collect();
    for chunk in chunks(&rows) {
        let sql = format!(
            "insert into issue_tags (issue_id, key, value, count, first_seen_ms, last_seen_ms) \
             values {} on conflict (issue_id, key, value) do update set \
             count = issue_tags.count + excluded.count, \
             first_seen_ms = {least}(issue_tags.first_seen_ms, excluded.first_seen_ms), \
             last_seen_ms = {greatest}(issue_tags.last_seen_ms, excluded.last_seen_ms)",
            values_list(chunk.len(), 6)
        );
        let mut args = Vec::with_capacity(chunk.len() * 6);
        for ((issue_id, key, value), t) in chunk {
            args.extend([
                (*issue_id).into(),
                (*key).into(),
                (*value).into(),
                t.count.into(),
                t.first_ms.into(),
                t.last_ms.into(),
            ]);
        }
        tx.execute(&sql, args).await?;
    }
    Ok(())
}

async fn upsert_hours(
    tx: &mut impl Executor,
    hours: &BTreeMap<(i64, i64), i64>,
) -> Result<(), StoreError> {
    let rows: Vec<_> = hours.iter().collect();
    for chunk in chunks(&rows) {
        let sql = format!(
            "insert into issue_hourly (issue_id, hour_ms, count) values {} \
             on conflict (issue_id, hour_ms) do update set \
             count = issue_hourly.count + excluded.count",
            values_list(chunk.len(), 3)
        );
        let mut args = Vec::with_capacity(chunk.len() * 3);
        for ((issue_id, hour_ms), count) in chunk {
            args.extend([(*issue_id).into(), (*hour_ms).into(), (**count).into()]);
        }
        tx.execute(&sql, args).await?;
    }
    Ok(())
}
