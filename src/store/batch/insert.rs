//! Phases 1 and 2 of a batch (see the phase list in `batch/mod.rs`): find or create the issue
//! of every grouping hash, insert the events, then hand phase 3 to `aggregate.rs`.

use std::collections::hash_map::Entry;
use std::collections::{BTreeMap, BTreeSet, HashMap, HashSet};

use super::aggregate::{self, Applied, Facts};
use super::input::{Aggregates, Encoded, NewEvent};
use super::pg::{self, EventRow};
use super::rows::GroupingRow;
use crate::protocol::EventId;
use crate::store::db::{chunks, Arg, Executor, IdRow};
use crate::store::outbox::insert_outbox;
use crate::store::StoreError;

const GROUPING_LOOKUP: &str = "select issue_id as id from groupings \
    where project_id = $1 and grouping_version = $2 and hash = $3";

const ISSUE_INSERT: &str = "insert into issues (project_id, title, culprit, level, status, \
    is_regression, first_seen_ms, last_seen_ms, event_count, user_count, last_release, \
    environments, grouping_kind, fingerprint, resolved_ms, created_ms) \
    values ($1, $2, $3, $4, 'unresolved', false, $5, $5, 0, 0, null, '[]', $6, $7, null, $8) \
    returning issue_id as id";

const GROUPING_INSERT: &str = "insert into groupings \
    (project_id, grouping_version, hash, issue_id, created_ms, grouping_values) \
    values ($1, $2, $3, $4, $5, $6) \
    on conflict (project_id, grouping_version, hash) do nothing returning issue_id as id";

const EVENT_COLUMN_COUNT: usize = 15;

/// SQLite's event insert: one row per statement, on the writer thread's own connection, where
/// a statement costs no thread hop (`writer/sqlite.rs`). A multi-row `VALUES` list or a
/// `RETURNING` clause makes SQLite keep a statement journal (a copy of every page the
/// statement changes, in case it has to undo it halfway); a single-row insert that can only
/// fail before it writes needs none. That journal and the multi-row SQL cost more than the
/// extra statements: 1.035× the rate, 0.958× the CPU per event (`bench/README.md`, "Where the
/// writer's pages go"). The key comes from `last_insert_rowid()` ([`LAST_ROWID`]);
/// a duplicate changes no row.
const EVENT_INSERT: &str = "insert into events (project_id, event_id, issue_id, timestamp_ms, \
    received_ms, level, platform, title, culprit, release, environment, user_key, \
    grouping_version, grouping_kind, grouping_hash) \
    values ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15) \
    on conflict (project_id, event_id) do nothing";

/// The key of the row the connection's last insert created.
const LAST_ROWID: &str = "select last_insert_rowid() as id";

/// SQLite's payload insert, one row per statement as [`EVENT_INSERT`].
const PAYLOAD_INSERT: &str = "insert into event_payloads (event_pk, payload) values ($1, $2)";

/// What committing one [`NewEvent`] did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct InsertOutcome {
    /// The event id.
    pub event_id: EventId,
    /// The issue it belongs to.
    pub issue_id: i64,
    /// True when `(project_id, event_id)` was already stored: nothing was written.
    pub duplicate: bool,
    /// True when this event created its issue.
    pub new_issue: bool,
    /// True when this event reopened a resolved issue.
    pub regression: bool,
}

/// Commits `events` inside `tx` (the caller commits); one outcome per input, in order.
///
/// `encoded` holds each event's JSON columns ([`Encoded::of`]), encoded by the caller so that
/// the SQLite writer thread does not spend its time on them. With
/// [`Aggregates::Deferred`], the issues' counters, tags, users and regressions are left to a
/// roll-up (`aggregate.rs`) and no outcome reports a regression.
pub(in crate::store) async fn insert_batch(
    tx: &mut impl Executor,
    events: &[NewEvent],
    encoded: &Encoded,
    now: i64,
    aggregates: Aggregates,
) -> Result<Vec<InsertOutcome>, StoreError> {
    let n = events.len();
    let ids: Vec<String> = events.iter().map(|e| e.fields.event_id.simple()).collect();

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
    // `(input index, key)` of every event stored.
    let stored: Vec<(usize, i64)> = match tx.postgres() {
        Some(conn) => {
            let rows: Vec<EventRow<'_>> = order
                .iter()
                .map(|&i| EventRow {
                    event: &events[i],
                    event_id: &ids[i],
                    issue_id: issue_of[i],
                })
                .collect();
            pg::insert_events(conn, &rows)
                .await?
                .into_iter()
                .filter_map(|row| {
                    let i = first_index.get(&(row.project_id, row.event_id.as_str()))?;
                    Some((*i, row.event_pk))
                })
                .collect()
        }
        None => {
            // One single-row statement per event, without `RETURNING`: see `EVENT_INSERT`.
            let mut stored = Vec::with_capacity(order.len());
            for &i in &order {
                let mut args = Vec::with_capacity(EVENT_COLUMN_COUNT);
                push_event_args(&mut args, &events[i], &ids[i], issue_of[i]);
                if tx.execute(EVENT_INSERT, args).await? == 1 {
                    stored.push((i, tx.fetch_one::<IdRow>(LAST_ROWID, vec![]).await?.id));
                }
            }
            stored
        }
    };
    let mut inserted = vec![false; n];
    let mut event_pks = vec![0_i64; n];
    for (i, event_pk) in stored {
        inserted[i] = true;
        event_pks[i] = event_pk;
    }
    insert_payloads(tx, events, &inserted, &event_pks).await?;

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

    // Input index of each issue's first stored event: it carries the outcome's flags, and
    // its id goes into the issue's notification.
    let mut first_of: BTreeMap<i64, usize> = BTreeMap::new();
    for i in (0..n).filter(|&i| inserted[i]) {
        first_of.entry(issue_of[i]).or_insert(i);
    }
    let applied = if aggregates == Aggregates::Deferred {
        // Under load the issue aggregates wait for a roll-up (`aggregate.rs`); the events and
        // the new issues' notifications are committed now.
        aggregate::insert_pending(tx, events, encoded, &inserted, &event_pks).await?;
        for (&issue_id, &i) in first_of.iter().filter(|(id, _)| created.contains(id)) {
            let project_id = events[i].project_id;
            insert_outbox(tx, "new_issue", project_id, issue_id, &ids[i], now).await?;
        }
        Applied::default()
    } else {
        let facts: Vec<Facts<'_>> = (0..n)
            .filter(|&i| inserted[i])
            .map(|i| Facts::of(&events[i], &ids[i], issue_of[i]))
            .collect();
        aggregate::apply(tx, &facts, &created, now).await?
    };

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
            let first = inserted[i] && first_of.get(&issue_id) == Some(&i);
            InsertOutcome {
                event_id: e.fields.event_id,
                issue_id,
                duplicate: !inserted[i],
                new_issue: first && created.contains(&issue_id),
                regression: first && applied.regressed.contains(&issue_id),
            }
        })
        .collect())
}

/// Phase 1 for one hash; returns the issue id and whether this transaction created it. A new
/// grouping row records `e`'s grouping values as JSON: every event of the hash has the same,
/// so they are stored once per grouping, not per event.
async fn find_or_create_issue(
    tx: &mut impl Executor,
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
    // Encoded only here, for the few hashes a batch creates, not for every event before it.
    let values = serde_json::to_string(&e.grouping.values)
        .map_err(|err| StoreError::Other(format!("cannot encode grouping values: {err}")))?;
    let issue_id = tx
        .fetch_one::<IdRow>(
            ISSUE_INSERT,
            vec![
                e.project_id.into(),
                e.fields.title.as_str().into(),
                e.fields.culprit.as_deref().into(),
                e.fields.level.as_str().into(),
                e.fields.timestamp_ms.into(),
                e.grouping.kind.as_str().into(),
                e.grouping.hash.as_str().into(),
                now.into(),
            ],
        )
        .await?
        .id;
    let mut args = key();
    args.extend([issue_id.into(), now.into(), values.into()]);
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

fn push_event_args<'a>(args: &mut Vec<Arg<'a>>, e: &'a NewEvent, id: &'a str, issue_id: i64) {
    args.extend([
        e.project_id.into(),
        id.into(),
        issue_id.into(),
        e.fields.timestamp_ms.into(),
        e.fields.received_ms.into(),
        e.fields.level.as_str().into(),
        e.fields.platform.as_str().into(),
        e.fields.title.as_str().into(),
        e.fields.culprit.as_deref().into(),
        e.fields.release.as_deref().into(),
        e.fields.environment.as_deref().into(),
        e.fields.user_key.as_deref().into(),
        e.grouping.version.into(),
        e.grouping.kind.as_str().into(),
        e.grouping.hash.as_str().into(),
    ]);
}

/// The payloads of the stored events (`inserted[i]`, key `event_pks[i]`), in key order: on
/// SQLite each lands at the right edge of `event_payloads`, pages filled in arrival order
/// (one statement per row, see [`EVENT_INSERT`]).
async fn insert_payloads(
    tx: &mut impl Executor,
    events: &[NewEvent],
    inserted: &[bool],
    event_pks: &[i64],
) -> Result<(), StoreError> {
    let mut rows: Vec<(i64, &[u8])> = (0..events.len())
        .filter(|&i| inserted[i])
        .map(|i| (event_pks[i], events[i].payload.as_slice()))
        .collect();
    if rows.is_empty() {
        return Ok(());
    }
    rows.sort_unstable_by_key(|r| r.0);
    if let Some(conn) = tx.postgres() {
        return pg::insert_payloads(conn, &rows).await;
    }
    for (pk, payload) in rows {
        tx.execute(PAYLOAD_INSERT, vec![pk.into(), Arg::Bytes(payload)])
            .await?;
    }
    Ok(())
}

/// Phase 1 lookup: the issue of every grouping key already stored, in a few `in (…)`
/// queries per `(project, grouping version)`.
async fn lookup_issues<'a>(
    tx: &mut impl Executor,
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
        let rows = match tx.postgres() {
            Some(conn) => pg::lookup_groupings(conn, project_id, version, &hashes).await?,
            None => {
                let mut rows = Vec::with_capacity(hashes.len());
                for chunk in chunks(&hashes) {
                    // One whole-key equality per hash, which any planner answers with a probe
                    // of the key index: PostgreSQL, before it took `pg.rs`, planned
                    // `hash in (…)` on a young table (no statistics) as a filter over every
                    // grouping of the project, 0.5 ms per lookup at 1,000 issues.
                    let sql = (0..chunk.len())
                        .map(|k| {
                            format!(
                                "select hash, issue_id from groupings \
                                 where project_id = $1 and grouping_version = $2 \
                                 and hash = ${}",
                                k + 3
                            )
                        })
                        .collect::<Vec<_>>()
                        .join(" union all ");
                    let mut args: Vec<Arg<'_>> = Vec::with_capacity(chunk.len() + 2);
                    args.extend([project_id.into(), version.into()]);
                    args.extend(chunk.iter().map(|&h| Arg::from(h)));
                    rows.extend(tx.fetch_all::<GroupingRow>(&sql, args).await?);
                }
                rows
            }
        };
        let asked: HashSet<&'a str> = hashes.iter().copied().collect();
        for row in rows {
            // Keyed by the caller's borrowed hash, so the map can outlive the rows.
            if let Some(&hash) = asked.get(row.hash.as_str()) {
                found.insert((project_id, version, hash), row.issue_id);
            }
        }
    }
    Ok(found)
}
