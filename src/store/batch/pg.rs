//! PostgreSQL's one-statement forms of the hottest batch statements: each column bound as
//! one array parameter and `unnest`ed, so a phase is one round trip and one prepared
//! statement whatever the batch size, where the portable multi-row `values` lists of
//! `insert.rs` and `aggregate.rs` take one statement per chunk (`db::chunk_sizes`). SQLite
//! keeps those: its statements cost no round trip, and it has no arrays.

use sqlx::PgConnection;

use super::input::NewEvent;
use super::rows::{GroupingRow, InsertedRow};
use crate::store::db::db_error;
use crate::store::StoreError;

/// Inserts the events, rows in the given order; returns the rows stored (duplicates of
/// stored `(project_id, event_id)` keys are skipped, as with the portable form).
const EVENT_INSERT: &str = "insert into events (project_id, event_id, issue_id, timestamp_ms, \
    received_ms, level, platform, title, culprit, release, environment, user_key, \
    grouping_version, grouping_kind, grouping_hash) \
    select * from unnest($1::bigint[], $2::text[], $3::bigint[], $4::bigint[], $5::bigint[], \
    $6::text[], $7::text[], $8::text[], $9::text[], $10::text[], $11::text[], $12::text[], \
    $13::text[], $14::text[], $15::text[]) \
    on conflict (project_id, event_id) do nothing \
    returning event_pk, project_id, event_id";

/// One lateral index probe per hash: `offset 0` keeps the planner from flattening it into
/// a join whose plan would depend on the table's statistics (see `insert::lookup_issues`).
const GROUPING_LOOKUP: &str = "select h.hash, g.issue_id from unnest($3::text[]) as h (hash) \
    cross join lateral (select issue_id from groupings \
    where project_id = $1 and grouping_version = $2 and hash = h.hash offset 0) as g";

const PAYLOAD_INSERT: &str = "insert into event_payloads (event_pk, payload) \
    select * from unnest($1::bigint[], $2::bytea[])";

const PENDING_INSERT: &str = "insert into pending_aggregates (event_pk, tags) \
    select * from unnest($1::bigint[], $2::text[])";

/// One event row for [`insert_events`].
pub(super) struct EventRow<'a> {
    pub event: &'a NewEvent,
    pub event_id: &'a str,
    pub issue_id: i64,
}

/// [`EVENT_INSERT`] of `rows`. Errors: storage errors as they come.
pub(super) async fn insert_events(
    conn: &mut PgConnection,
    rows: &[EventRow<'_>],
) -> Result<Vec<InsertedRow>, StoreError> {
    sqlx::query_as::<_, InsertedRow>(EVENT_INSERT)
        .bind(column(rows, |r| r.event.project_id))
        .bind(column(rows, |r| r.event_id))
        .bind(column(rows, |r| r.issue_id))
        .bind(column(rows, |r| r.event.fields.timestamp_ms))
        .bind(column(rows, |r| r.event.fields.received_ms))
        .bind(column(rows, |r| r.event.fields.level.as_str()))
        .bind(column(rows, |r| r.event.fields.platform.as_str()))
        .bind(column(rows, |r| r.event.fields.title.as_str()))
        .bind(column(rows, |r| r.event.fields.culprit.as_deref()))
        .bind(column(rows, |r| r.event.fields.release.as_deref()))
        .bind(column(rows, |r| r.event.fields.environment.as_deref()))
        .bind(column(rows, |r| r.event.fields.user_key.as_deref()))
        .bind(column(rows, |r| r.event.grouping.version))
        .bind(column(rows, |r| r.event.grouping.kind.as_str()))
        .bind(column(rows, |r| r.event.grouping.hash.as_str()))
        .fetch_all(conn)
        .await
        .map_err(db_error)
}

/// One column of `rows`, as an array parameter.
fn column<'s, 'a, T>(rows: &'s [EventRow<'a>], f: impl Fn(&'s EventRow<'a>) -> T) -> Vec<T> {
    rows.iter().map(f).collect()
}

/// The issues of those of `hashes` (of one project and grouping version) that exist.
pub(super) async fn lookup_groupings(
    conn: &mut PgConnection,
    project_id: i64,
    version: &str,
    hashes: &[&str],
) -> Result<Vec<GroupingRow>, StoreError> {
    sqlx::query_as::<_, GroupingRow>(GROUPING_LOOKUP)
        .bind(project_id)
        .bind(version)
        .bind(hashes)
        .fetch_all(conn)
        .await
        .map_err(db_error)
}

/// [`PENDING_INSERT`] of `(event_pk, tags JSON)` pairs.
pub(super) async fn insert_pending(
    conn: &mut PgConnection,
    rows: &[(i64, &str)],
) -> Result<(), StoreError> {
    sqlx::query(PENDING_INSERT)
        .bind(rows.iter().map(|r| r.0).collect::<Vec<i64>>())
        .bind(rows.iter().map(|r| r.1).collect::<Vec<&str>>())
        .execute(conn)
        .await
        .map_err(db_error)?;
    Ok(())
}

/// [`PAYLOAD_INSERT`] of `(event_pk, payload)` pairs.
pub(super) async fn insert_payloads(
    conn: &mut PgConnection,
    rows: &[(i64, &[u8])],
) -> Result<(), StoreError> {
    sqlx::query(PAYLOAD_INSERT)
        .bind(rows.iter().map(|r| r.0).collect::<Vec<i64>>())
        .bind(rows.iter().map(|r| r.1).collect::<Vec<&[u8]>>())
        .execute(conn)
        .await
        .map_err(db_error)?;
    Ok(())
}
