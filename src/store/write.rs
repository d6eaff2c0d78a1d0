//! The hot path: committing a batch of events in one transaction (group commit).
//!
//! Phases, each touching rows in a fixed global order so that two writers (two tasks or two
//! processes on PostgreSQL) can wait on each other but never deadlock:
//!
//! Every phase is a few multi-row statements per batch (chunks of [`chunk_sizes`]), not a few
//! per event or per issue: the statement count, not the row count, dominated the commit time.
//! The logic runs unchanged on sqlx (PostgreSQL, in-memory SQLite) and on the SQLite writer
//! thread's own connection (`direct.rs`), through [`BatchTx`].
//!
//! 1. **Groupings**, by `(project_id, grouping_version, hash)`: look all hashes up in
//!    `in (…)` queries; for each new one create the issue, then `insert … on conflict do nothing` the grouping row. If a
//!    concurrent transaction committed the same hash first (PostgreSQL makes our insert wait
//!    for it), delete our still-invisible issue and join theirs: one issue, no orphan.
//! 2. **Events**, by `(project_id, event_id)`: multi-row `insert … on conflict do nothing
//!    returning`; rows not returned are duplicates and change nothing else. A new issue all
//!    of whose events turned out to be duplicates is deleted again.
//! 3. **Issues**, by `issue_id`: lock them all in ascending id order (`select … order by
//!    issue_id for no key update`; SQLite's `BEGIN IMMEDIATE` already serializes writers),
//!    add distinct users, then `update … from (values …)` with each issue's batch aggregate
//!    (count, first/last seen, newest title/level/release, environments, regression).
//! 4. **Tags** and **hourly counts**, by key: summed multi-row upserts.
//! 5. **Outbox** rows for new issues and regressions (fresh rows, no waiting).
//!
//! Row locks taken by foreign-key checks are `key share`, which does not conflict with the
//! `no key update` locks of phase 3, so they do not break the order.

use std::borrow::Cow;
use std::collections::hash_map::Entry;
use std::collections::{BTreeMap, BTreeSet, HashMap, HashSet};

use sha2::{Digest, Sha256};
use sqlx::FromRow;

use super::db::{chunk_sizes, placeholders, values_list, AnyRow, Arg, IdRow, Tx};
use super::{Backend, InsertOutcome, IssueStatus, NewEvent, StoreError};

/// Length of one hour in milliseconds, the `issue_hourly` bucket.
pub(super) const HOUR_MS: i64 = 3_600_000;

/// Longest tag key / value (bytes) kept in `issue_tags`; longer pairs are skipped there (the
/// event payload keeps them). Guards the unique index, which PostgreSQL limits to ~2.7 kB.
const MAX_TAG_KEY: usize = 200;
const MAX_TAG_VALUE: usize = 1000;
/// Longest user key (bytes) stored as is in `issue_users`; longer ones are stored as their
/// SHA-256, which still counts distinct users correctly.
const MAX_USER_KEY: usize = 200;

const GROUPING_LOOKUP: &str = "select issue_id as id from groupings \
    where project_id = $1 and grouping_version = $2 and hash = $3";

const ISSUE_INSERT: &str = "insert into issues (project_id, title, culprit, level, status, \
    is_regression, first_seen_ms, last_seen_ms, event_count, user_count, last_release, \
    environments, grouping_kind, fingerprint, resolved_ms, created_ms) \
    values ($1, $2, $3, $4, 'unresolved', false, $5, $5, 0, 0, null, '[]', $6, $7, null, $8) \
    returning issue_id as id";

const GROUPING_INSERT: &str = "insert into groupings \
    (project_id, grouping_version, hash, issue_id, created_ms) values ($1, $2, $3, $4, $5) \
    on conflict (project_id, grouping_version, hash) do nothing returning issue_id as id";

const EVENT_COLUMNS: &str = "project_id, event_id, issue_id, timestamp_ms, received_ms, level, \
    platform, title, culprit, release, environment, user_key, grouping_version, grouping_kind, \
    grouping_hash, grouping_values, payload";
const EVENT_COLUMN_COUNT: usize = 17;

/// Columns of one row of the issue update, in [`update_issues`]' argument order.
const ISSUE_UPDATE_COLUMNS: &str = "issue_id, title, culprit, level, status, is_regression, \
    resolved_ms, first_seen_ms, last_seen_ms, add_events, add_users, last_release, environments";
const ISSUE_UPDATE_COLUMN_COUNT: usize = 13;

/// The issue columns phase 3 reads under lock.
const ISSUE_STATE_COLUMNS: &str = "issue_id, status, is_regression, resolved_ms, title, \
    culprit, level, first_seen_ms, last_seen_ms, last_release, environments";

#[derive(Debug, FromRow)]
struct GroupingRow {
    hash: String,
    issue_id: i64,
}

#[derive(Debug, FromRow)]
struct InsertedRow {
    project_id: i64,
    event_id: String,
}

/// The issue columns phase 3 needs, read under lock.
#[derive(Debug, FromRow)]
struct IssueState {
    issue_id: i64,
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
}

/// What the batch adds to one issue.
struct IssueDelta<'a> {
    project_id: i64,
    /// Input index of the first stored event (outcome flags, outbox event id).
    first: usize,
    count: i64,
    min_ts: i64,
    max_ts: i64,
    /// Input index of the newest stored event (title, culprit, level).
    newest: usize,
    /// Newest `(timestamp, release)` among events that carry a release.
    release: Option<(i64, &'a str)>,
    environments: BTreeSet<&'a str>,
    users: BTreeSet<Cow<'a, str>>,
}

/// What the batch adds to one `(issue, key, value)` tag row.
struct TagDelta {
    count: i64,
    first_ms: i64,
    last_ms: i64,
}

/// What [`insert_batch`] needs of an open write transaction: sqlx's, on either backend, or
/// the SQLite ingest thread's own connection ([`super::direct`]), whose calls complete
/// without ever suspending.
pub(super) trait BatchTx {
    fn backend(&self) -> Backend;

    async fn fetch_all<R: BatchRow>(
        &mut self,
        sql: &str,
        args: Vec<Arg<'_>>,
    ) -> Result<Vec<R>, StoreError>;

    /// Runs a statement; returns the number of rows it changed.
    async fn execute(&mut self, sql: &str, args: Vec<Arg<'_>>) -> Result<u64, StoreError>;

    async fn fetch_optional<R: BatchRow>(
        &mut self,
        sql: &str,
        args: Vec<Arg<'_>>,
    ) -> Result<Option<R>, StoreError> {
        Ok(self.fetch_all(sql, args).await?.into_iter().next())
    }

    async fn fetch_one<R: BatchRow>(
        &mut self,
        sql: &str,
        args: Vec<Arg<'_>>,
    ) -> Result<R, StoreError> {
        self.fetch_optional(sql, args)
            .await?
            .ok_or(StoreError::NotFound)
    }
}

impl BatchTx for Tx {
    fn backend(&self) -> Backend {
        Tx::backend(self)
    }

    async fn fetch_all<R: BatchRow>(
        &mut self,
        sql: &str,
        args: Vec<Arg<'_>>,
    ) -> Result<Vec<R>, StoreError> {
        Tx::fetch_all(self, sql, args).await
    }

    async fn execute(&mut self, sql: &str, args: Vec<Arg<'_>>) -> Result<u64, StoreError> {
        Tx::execute(self, sql, args).await
    }
}

/// A row [`insert_batch`] reads: decodes from sqlx's rows and from rusqlite's (columns in
/// the order of the statement's select list).
pub(super) trait BatchRow: AnyRow {
    fn from_rusqlite(row: &rusqlite::Row<'_>) -> rusqlite::Result<Self>;
}

impl BatchRow for IdRow {
    fn from_rusqlite(row: &rusqlite::Row<'_>) -> rusqlite::Result<Self> {
        Ok(IdRow { id: row.get(0)? })
    }
}

impl BatchRow for GroupingRow {
    fn from_rusqlite(row: &rusqlite::Row<'_>) -> rusqlite::Result<Self> {
        Ok(GroupingRow {
            hash: row.get(0)?,
            issue_id: row.get(1)?,
        })
    }
}

impl BatchRow for InsertedRow {
    fn from_rusqlite(row: &rusqlite::Row<'_>) -> rusqlite::Result<Self> {
        Ok(InsertedRow {
            project_id: row.get(0)?,
            event_id: row.get(1)?,
        })
    }
}

impl BatchRow for IssueState {
    fn from_rusqlite(row: &rusqlite::Row<'_>) -> rusqlite::Result<Self> {
        Ok(IssueState {
            issue_id: row.get(0)?,
            status: row.get(1)?,
            is_regression: row.get(2)?,
            resolved_ms: row.get(3)?,
            title: row.get(4)?,
            culprit: row.get(5)?,
            level: row.get(6)?,
            first_seen_ms: row.get(7)?,
            last_seen_ms: row.get(8)?,
            last_release: row.get(9)?,
            environments: row.get(10)?,
        })
    }
}

/// Commits `events` inside `tx` (the caller commits); one outcome per input, in order.
///
/// `values` holds each event's `grouping.values` as JSON ([`encode_grouping_values`]),
/// encoded by the caller so that the SQLite writer thread does not spend its time on it.
pub(super) async fn insert_batch(
    tx: &mut impl BatchTx,
    events: &[NewEvent],
    values: &[String],
    now: i64,
) -> Result<Vec<InsertOutcome>, StoreError> {
    let n = events.len();
    let ids: Vec<String> = events.iter().map(|e| e.event_id.simple()).collect();

    // Repeats inside the batch are duplicates of their first occurrence.
    let mut first_index: HashMap<(i64, &str), usize> = HashMap::with_capacity(n);
    let mut repeat_of: Vec<Option<usize>> = Vec::with_capacity(n);
    for (i, e) in events.iter().enumerate() {
        match first_index.entry((e.project_id, ids[i].as_str())) {
            Entry::Occupied(o) => repeat_of.push(Some(*o.get())),
            Entry::Vacant(v) => {
                v.insert(i);
                repeat_of.push(None);
            }
        }
    }

    // Phase 1: find or create the issue of every hash.
    let mut by_hash: BTreeMap<(i64, &str, &str), Vec<usize>> = BTreeMap::new();
    for (i, e) in events.iter().enumerate() {
        if repeat_of[i].is_none() {
            by_hash
                .entry((e.project_id, e.grouping.version, e.grouping.hash.as_str()))
                .or_default()
                .push(i);
        }
    }
    let known = lookup_issues(tx, by_hash.keys().copied()).await?;
    let mut issue_of = vec![0_i64; n];
    let mut created: BTreeSet<i64> = BTreeSet::new();
    for (key, indexes) in &by_hash {
        let issue_id = match known.get(key) {
            Some(&issue_id) => issue_id,
            None => {
                let (issue_id, new) = find_or_create_issue(tx, &events[indexes[0]], now).await?;
                if new {
                    created.insert(issue_id);
                }
                issue_id
            }
        };
        for &i in indexes {
            issue_of[i] = issue_id;
        }
    }

    // Phase 2: insert the events.
    let mut order: Vec<usize> = (0..n).filter(|&i| repeat_of[i].is_none()).collect();
    order.sort_by(|&a, &b| (events[a].project_id, &ids[a]).cmp(&(events[b].project_id, &ids[b])));
    let mut inserted = vec![false; n];
    for chunk in chunks(&order) {
        let sql = format!(
            "insert into events ({EVENT_COLUMNS}) values {} \
             on conflict (project_id, event_id) do nothing returning project_id, event_id",
            values_list(chunk.len(), EVENT_COLUMN_COUNT)
        );
        let mut args = Vec::with_capacity(chunk.len() * EVENT_COLUMN_COUNT);
        for &i in chunk {
            push_event_args(&mut args, &events[i], &ids[i], &values[i], issue_of[i]);
        }
        for row in tx.fetch_all::<InsertedRow>(&sql, args).await? {
            if let Some(&i) = first_index.get(&(row.project_id, row.event_id.as_str())) {
                inserted[i] = true;
            }
        }
    }

    // An issue created for events that were all duplicates must not survive.
    let used: BTreeSet<i64> = (0..n)
        .filter(|&i| inserted[i])
        .map(|i| issue_of[i])
        .collect();
    for &issue_id in created.difference(&used) {
        tx.execute(
            "delete from groupings where issue_id = $1",
            vec![issue_id.into()],
        )
        .await?;
        tx.execute(
            "delete from issues where issue_id = $1",
            vec![issue_id.into()],
        )
        .await?;
    }
    created.retain(|id| used.contains(id));

    // Aggregate the stored events per issue, tag and hour.
    let mut deltas: BTreeMap<i64, IssueDelta<'_>> = BTreeMap::new();
    let mut tags: BTreeMap<(i64, &str, &str), TagDelta> = BTreeMap::new();
    let mut hours: BTreeMap<(i64, i64), i64> = BTreeMap::new();
    for (i, e) in events.iter().enumerate() {
        if !inserted[i] {
            continue;
        }
        let issue_id = issue_of[i];
        let ts = e.timestamp_ms;
        let d = deltas.entry(issue_id).or_insert_with(|| IssueDelta {
            project_id: e.project_id,
            first: i,
            count: 0,
            min_ts: ts,
            max_ts: ts,
            newest: i,
            release: None,
            environments: BTreeSet::new(),
            users: BTreeSet::new(),
        });
        d.count += 1;
        d.min_ts = d.min_ts.min(ts);
        if ts >= d.max_ts {
            d.max_ts = ts;
            d.newest = i;
        }
        if let Some(release) = e.release.as_deref() {
            if d.release.is_none_or(|(seen, _)| ts >= seen) {
                d.release = Some((ts, release));
            }
        }
        if let Some(env) = e.environment.as_deref() {
            d.environments.insert(env);
        }
        if let Some(user) = e.user_key.as_deref() {
            d.users.insert(index_user_key(user));
        }
        for (key, value) in event_tags(e) {
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
    let mut regressed: BTreeSet<i64> = BTreeSet::new();
    let mut updates = Vec::with_capacity(deltas.len());
    for (&issue_id, d) in &deltas {
        let state = states
            .remove(&issue_id)
            .ok_or_else(|| StoreError::Other(format!("issue {issue_id} vanished")))?;
        let newest = &events[d.newest];
        let newer = d.max_ts >= state.last_seen_ms;
        let (title, culprit, level) = if newer {
            (
                Cow::Borrowed(newest.title.as_str()),
                newest.culprit.as_deref().map(Cow::Borrowed),
                Cow::Borrowed(newest.level.as_str()),
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
        let (status, is_regression, resolved_ms) = if state.status == IssueStatus::Resolved.as_str()
        {
            regressed.insert(issue_id);
            (IssueStatus::Unresolved.as_str().to_owned(), true, None)
        } else {
            (state.status, state.is_regression, state.resolved_ms)
        };
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
        ]);
    }
    update_issues(tx, updates).await?;

    // Phase 4: tag and hourly counters.
    upsert_tags(tx, &tags).await?;
    upsert_hours(tx, &hours).await?;

    // Phase 5: notifications, in the same transaction as their cause.
    for (&issue_id, d) in &deltas {
        let kind = if created.contains(&issue_id) {
            "new_issue"
        } else if regressed.contains(&issue_id) {
            "regression"
        } else {
            continue;
        };
        tx.execute(
            "insert into outbox (kind, project_id, issue_id, event_id, created_ms, state, \
             attempts, next_attempt_ms, last_error) \
             values ($1, $2, $3, $4, $5, 'pending', 0, $5, null)",
            vec![
                kind.into(),
                d.project_id.into(),
                issue_id.into(),
                ids[d.first].as_str().into(),
                now.into(),
            ],
        )
        .await?;
    }

    // Outcomes; duplicates report the issue of the stored copy.
    let mut stored_issue = vec![0_i64; n];
    for i in 0..n {
        stored_issue[i] = match repeat_of[i] {
            Some(first) => stored_issue[first],
            None if inserted[i] => issue_of[i],
            None => {
                tx.fetch_optional::<IdRow>(
                    "select issue_id as id from events where project_id = $1 and event_id = $2",
                    vec![events[i].project_id.into(), ids[i].as_str().into()],
                )
                .await?
                .ok_or_else(|| {
                    StoreError::Other(format!("duplicate event {} is not readable", ids[i]))
                })?
                .id
            }
        };
    }
    Ok(events
        .iter()
        .enumerate()
        .map(|(i, e)| {
            let issue_id = stored_issue[i];
            let first = inserted[i] && deltas.get(&issue_id).is_some_and(|d| d.first == i);
            InsertOutcome {
                event_id: e.event_id,
                issue_id,
                duplicate: !inserted[i],
                new_issue: first && created.contains(&issue_id),
                regression: first && regressed.contains(&issue_id),
            }
        })
        .collect())
}

/// Phase 1 for one hash; returns the issue id and whether this transaction created it.
async fn find_or_create_issue(
    tx: &mut impl BatchTx,
    e: &NewEvent,
    now: i64,
) -> Result<(i64, bool), StoreError> {
    let key = || -> Vec<Arg<'_>> {
        vec![
            e.project_id.into(),
            e.grouping.version.into(),
            e.grouping.hash.as_str().into(),
        ]
    };
    if let Some(row) = tx.fetch_optional::<IdRow>(GROUPING_LOOKUP, key()).await? {
        return Ok((row.id, false));
    }
    let issue_id = tx
        .fetch_one::<IdRow>(
            ISSUE_INSERT,
            vec![
                e.project_id.into(),
                e.title.as_str().into(),
                e.culprit.as_deref().into(),
                e.level.as_str().into(),
                e.timestamp_ms.into(),
                e.grouping.kind.as_str().into(),
                e.grouping.hash.as_str().into(),
                now.into(),
            ],
        )
        .await?
        .id;
    let mut args = key();
    args.extend([issue_id.into(), now.into()]);
    if tx
        .fetch_optional::<IdRow>(GROUPING_INSERT, args)
        .await?
        .is_some()
    {
        return Ok((issue_id, true));
    }
    // A concurrent transaction committed this hash first: our issue was never visible to
    // anyone, drop it and join theirs.
    tx.execute(
        "delete from issues where issue_id = $1",
        vec![issue_id.into()],
    )
    .await?;
    let row = tx
        .fetch_optional::<IdRow>(GROUPING_LOOKUP, key())
        .await?
        .ok_or_else(|| StoreError::Other("grouping conflict without a grouping row".into()))?;
    Ok((row.id, false))
}

/// The `grouping_values` column of every event, in order: a JSON array of strings.
pub(super) fn encode_grouping_values(events: &[NewEvent]) -> Result<Vec<String>, StoreError> {
    events
        .iter()
        .map(|e| {
            serde_json::to_string(&e.grouping.values)
                .map_err(|err| StoreError::Other(format!("cannot encode grouping values: {err}")))
        })
        .collect()
}

fn push_event_args<'a>(
    args: &mut Vec<Arg<'a>>,
    e: &'a NewEvent,
    id: &'a str,
    values: &'a str,
    issue_id: i64,
) {
    args.extend([
        e.project_id.into(),
        id.into(),
        issue_id.into(),
        e.timestamp_ms.into(),
        e.received_ms.into(),
        e.level.as_str().into(),
        e.platform.as_str().into(),
        e.title.as_str().into(),
        e.culprit.as_deref().into(),
        e.release.as_deref().into(),
        e.environment.as_deref().into(),
        e.user_key.as_deref().into(),
        e.grouping.version.into(),
        e.grouping.kind.as_str().into(),
        e.grouping.hash.as_str().into(),
        values.into(),
        Arg::Bytes(&e.payload),
    ]);
}

/// The `(key, value)` pairs one event counts in `issue_tags`: its tags (first value of a
/// repeated key wins), overridden by the event's own `level`, `release` and `environment`.
fn event_tags(e: &NewEvent) -> BTreeMap<&str, &str> {
    let mut pairs = BTreeMap::new();
    for (key, value) in &e.tags {
        if key.len() <= MAX_TAG_KEY && value.len() <= MAX_TAG_VALUE {
            pairs.entry(key.as_str()).or_insert(value.as_str());
        }
    }
    pairs.insert("level", e.level.as_str());
    for (key, value) in [("release", &e.release), ("environment", &e.environment)] {
        if let Some(value) = value.as_deref() {
            if value.len() <= MAX_TAG_VALUE {
                pairs.insert(key, value);
            }
        }
    }
    pairs
}

fn index_user_key(user: &str) -> Cow<'_, str> {
    if user.len() <= MAX_USER_KEY {
        Cow::Borrowed(user)
    } else {
        Cow::Owned(format!(
            "sha256:{}",
            hex::encode(Sha256::digest(user.as_bytes()))
        ))
    }
}

/// Adds the batch's users to their issues; returns, per issue, how many were not known
/// before (issues without new users are absent).
async fn insert_users(
    tx: &mut impl BatchTx,
    deltas: &BTreeMap<i64, IssueDelta<'_>>,
) -> Result<HashMap<i64, i64>, StoreError> {
    let rows: Vec<(i64, &str)> = deltas
        .iter()
        .flat_map(|(&issue_id, d)| d.users.iter().map(move |u| (issue_id, u.as_ref())))
        .collect();
    let mut added: HashMap<i64, i64> = HashMap::new();
    for chunk in chunks(&rows) {
        let sql = format!(
            "insert into issue_users (issue_id, user_key) values {} \
             on conflict (issue_id, user_key) do nothing returning issue_id as id",
            values_list(chunk.len(), 2)
        );
        let mut args = Vec::with_capacity(chunk.len() * 2);
        for &(issue_id, user) in chunk {
            args.extend([issue_id.into(), user.into()]);
        }
        for row in tx.fetch_all::<IdRow>(&sql, args).await? {
            *added.entry(row.id).or_default() += 1;
        }
    }
    Ok(added)
}

/// Phase 1 lookup: the issue of every grouping key already stored, in a few `in (…)`
/// queries per `(project, grouping version)`.
async fn lookup_issues<'a>(
    tx: &mut impl BatchTx,
    keys: impl Iterator<Item = (i64, &'a str, &'a str)>,
) -> Result<HashMap<(i64, &'a str, &'a str), i64>, StoreError> {
    let mut by_scope: BTreeMap<(i64, &'a str), Vec<&'a str>> = BTreeMap::new();
    for (project_id, version, hash) in keys {
        by_scope
            .entry((project_id, version))
            .or_default()
            .push(hash);
    }
    let mut found = HashMap::new();
    for ((project_id, version), hashes) in by_scope {
        for chunk in chunks(&hashes) {
            let sql = format!(
                "select hash, issue_id from groupings \
                 where project_id = $1 and grouping_version = $2 and hash in ({})",
                placeholders(3, chunk.len())
            );
            let mut args: Vec<Arg<'_>> = Vec::with_capacity(chunk.len() + 2);
            args.extend([project_id.into(), version.into()]);
            args.extend(chunk.iter().map(|&h| Arg::from(h)));
            let asked: HashSet<&'a str> = chunk.iter().copied().collect();
            for row in tx.fetch_all::<GroupingRow>(&sql, args).await? {
                // Keyed by the caller's borrowed hash, so the map can outlive the rows.
                if let Some(&hash) = asked.get(row.hash.as_str()) {
                    found.insert((project_id, version, hash), row.issue_id);
                }
            }
        }
    }
    Ok(found)
}

/// Reads the issues' state, taking their row locks in ascending id order on PostgreSQL
/// (`order by` sits below the lock step, so rows are locked in that order).
async fn lock_issues(
    tx: &mut impl BatchTx,
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
    tx: &mut impl BatchTx,
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
             environments = v.environments \
             from v where issues.issue_id = v.issue_id",
            values_list(size, ISSUE_UPDATE_COLUMN_COUNT)
        );
        let args = rows.by_ref().take(size).flatten().collect();
        tx.execute(&sql, args).await?;
    }
    Ok(())
}

/// Splits `rows` along [`chunk_sizes`].
fn chunks<T>(rows: &[T]) -> impl Iterator<Item = &[T]> {
    let mut rest = rows;
    chunk_sizes(rows.len()).into_iter().map(move |size| {
        let (chunk, tail) = rest.split_at(size);
        rest = tail;
        chunk
    })
}

async fn upsert_tags(
    tx: &mut impl BatchTx,
    tags: &BTreeMap<(i64, &str, &str), TagDelta>,
) -> Result<(), StoreError> {
    let (least, greatest) = min_max(tx.backend());
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
    tx: &mut impl BatchTx,
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

/// The two-argument minimum and maximum functions of each dialect.
fn min_max(backend: Backend) -> (&'static str, &'static str) {
    match backend {
        Backend::Sqlite => ("min", "max"),
        Backend::Postgres => ("least", "greatest"),
    }
}
