//! The hot path: committing a batch of events in one transaction (group commit), and the
//! roll-up of deferred issue aggregates.
//!
//! Modules, each using only those listed before it:
//! * `input.rs`: what a batch commits ([`NewEvent`], [`Aggregates`]) and the JSON columns
//!   encoded before it reaches a writer thread.
//! * `rows.rs`: the rows the batch reads back.
//! * `pg.rs`: PostgreSQL's one-statement array forms of the hottest statements.
//! * `conditions.rs`: phase 3's triage conditions (release resolves, conditional ignores).
//! * `aggregate.rs`: phase 3, inline or deferred to a roll-up ([`RollUp`]).
//! * `insert.rs`: phases 1 and 2, then phase 3 ([`InsertOutcome`]).
//!
//! The logic is written once against `db::Executor` and runs unchanged on sqlx (PostgreSQL's
//! writer thread, `writer/postgres.rs`; an in-memory SQLite database) and on the SQLite writer
//! thread's own connection (`writer/sqlite.rs`).
//!
//! Phases, each touching rows in a fixed global order so that two writers (two tasks or two
//! processes on PostgreSQL) can wait on each other but never deadlock. Every phase is a few
//! multi-row statements per batch (chunks of `db::chunk_sizes`), not a few per event or per
//! issue: the statement count, not the row count, dominated the commit time. On PostgreSQL the
//! hottest ones are a single array statement instead (`pg.rs`); on SQLite, where the writer
//! thread runs statements without a thread hop, the event, payload and pending-aggregate
//! inserts are one single-row statement per event instead, which needs no statement journal
//! (`insert.rs`, `EVENT_INSERT`).
//!
//! 1. **Groupings**, by `(project_id, grouping_version, hash)`: look all hashes up, one
//!    whole-key probe per hash; for each new one create the issue, then `insert … on
//!    conflict do nothing` the grouping row. If a concurrent transaction committed the same
//!    hash first (PostgreSQL makes our insert wait for it), delete our still-invisible issue
//!    and join theirs: one issue, no orphan.
//! 2. **Events**, by `(project_id, event_id)`: `insert … on conflict do nothing` (PostgreSQL:
//!    one array statement with `returning`; SQLite: a statement per row, its key from
//!    `last_insert_rowid()`); rows not inserted are duplicates and change nothing else. The
//!    stored events' payloads follow in `event_payloads`, by key (arrival order). A new issue all
//!    of whose events turned out to be duplicates is deleted again.
//! 3. **Aggregates** (`aggregate.rs`): the touched issues locked in id order, then their
//!    counters, users, tags, hourly counts, regressions and outbox rows. Under load
//!    ([`Aggregates::Deferred`]) this phase is one `pending_aggregates` row per event
//!    instead, applied later in bulk by a roll-up; only the new issues' `new_issue` rows are
//!    written here.
//!
//! Row locks taken by foreign-key checks are `key share`, which does not conflict with the
//! `no key update` locks of phase 3, so they do not break the order.

mod aggregate;
mod conditions;
mod input;
mod insert;
mod pg;
mod rows;

use std::sync::Arc;

pub use aggregate::RollUp;
pub(super) use aggregate::{index_user_key, roll_up, PendingEvent, PENDING_EVENT_COLUMNS};
pub(super) use input::{tag_pairs, Encoded};
pub use input::{Aggregates, NewEvent};
pub(super) use insert::insert_batch;
pub use insert::InsertOutcome;

use super::{now_ms, Store, StoreError};

impl Store {
    /// Commits a batch in one transaction; one outcome per input, in order.
    ///
    /// Duplicates (an `(project_id, event_id)` already stored, or repeated within the batch)
    /// change nothing. Other events join the issue of their grouping hash, creating it (and
    /// a `new_issue` outbox row) when the hash is new; an event for a resolved issue reopens
    /// it as a regression (and a `regression` outbox row). Errors roll the whole batch back:
    /// [`StoreError::Unavailable`] for transient failures (lock timeout, connection lost),
    /// [`StoreError::Other`] otherwise (e.g. an unknown `project_id`).
    pub async fn insert_events(
        &self,
        events: &[NewEvent],
    ) -> Result<Vec<InsertOutcome>, StoreError> {
        self.commit_batch(events.into(), Aggregates::Inline).await
    }

    /// [`Store::insert_events`] for a batch the caller hands over, as the ingest writer
    /// does: on a SQLite file it runs on the dedicated writer thread (see `writer/sqlite.rs`).
    /// With [`Aggregates::Deferred`] the issues' counters, tags, users and regressions wait
    /// for [`Store::roll_up`] (new issues and their `new_issue` rows are committed at once)
    /// and no outcome reports a regression.
    #[tracing::instrument(skip_all, fields(events = events.len()))]
    pub async fn commit_batch(
        &self,
        events: Arc<[NewEvent]>,
        aggregates: Aggregates,
    ) -> Result<Vec<InsertOutcome>, StoreError> {
        if events.is_empty() {
            return Ok(Vec::new());
        }
        if let Some(writer) = &self.writer {
            return writer.commit(events, aggregates).await;
        }
        let mut tx = self.pool.begin_write().await?;
        let encoded = Encoded::of(&events, aggregates)?;
        let outcomes = insert_batch(&mut tx, &events, &encoded, now_ms(), aggregates).await?;
        tx.commit().await?;
        Ok(outcomes)
    }

    /// Applies up to `limit` deferred events to their issues (oldest first) in one
    /// transaction, reopening resolved issues as regressions with their `regression` outbox
    /// rows; returns what it applied (`events == 0`: nothing was pending). Errors as
    /// [`Store::insert_events`]; a failed roll-up leaves its events pending.
    pub async fn roll_up(&self, limit: usize) -> Result<RollUp, StoreError> {
        if let Some(writer) = &self.writer {
            return writer.roll_up(limit).await;
        }
        let mut tx = self.pool.begin_write().await?;
        let done = roll_up(&mut tx, limit, now_ms()).await?;
        tx.commit().await?;
        Ok(done)
    }
}
