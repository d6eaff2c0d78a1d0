//! The SQLite ingest writer: one OS thread owning one rusqlite connection, committing the
//! batches of [`Store::commit_batch`](crate::store::Store::commit_batch).
//!
//! sqlx runs every SQLite statement on a worker thread and hands each result back to the
//! async caller: two thread switches per statement, which made the group commit
//! latency-bound (`bench/README.md`, "Where the time went"). Here a batch crosses threads
//! once each way and its statements run back to back from a prepared-statement cache. The
//! SQL and the batch logic are the same as PostgreSQL's (`batch/`); only the executor differs
//! (`db/direct.rs`). Everything else (reads, notifications, accounts) stays on sqlx.

use std::future::Future;
use std::panic::AssertUnwindSafe;
use std::path::Path;
use std::pin::pin;
use std::sync::{mpsc, Arc};
use std::task::{Context, Poll, Waker};
use std::time::{Duration, Instant};

use rusqlite::{Connection, ErrorCode, Transaction, TransactionBehavior};

use super::checkpoint::{self, Checkpointer};
use super::guard::{DatabaseFile, Guard};
use super::{Done, Job, Request, WriterHandle};
use crate::store::db::{direct_error, DirectTx, STATEMENT_CACHE};
use crate::store::StoreError;

/// Page cache of the writer connection, KiB. SQLite's default (2 MiB) misses on the random
/// `events (project_id, event_id)` index and the hot issues' tag pages after a few hundred
/// thousand events, and every miss is a read syscall on the commit path; 16 MiB keeps them.
const CACHE_KIB: u32 = 16 * 1024;

/// How long without a batch before the writer releases its page cache.
const IDLE_AFTER: Duration = Duration::from_secs(2);

/// How long the writer keeps asking for the write lock when another connection holds it
/// (each attempt waits the busy timeout): a batch fails with `database is locked` only after
/// this, not after one busy timeout (issue #24, item 3).
const LOCK_PATIENCE: Duration = Duration::from_secs(30);

/// Opens the database file (already created and migrated through sqlx) with the same
/// durability settings as the pool (WAL, `synchronous=FULL`, foreign keys, busy timeout) and
/// starts the writer thread on it; the thread closes its connection and ends once every
/// handle is dropped. Returns the handle and the files as opened (`guard.rs`), which
/// `/readyz` checks too. Errors: [`StoreError::Unavailable`] when the file cannot be opened
/// or is locked past the busy timeout, or the thread cannot start; [`StoreError::Other`]
/// otherwise.
pub(in crate::store) fn start(
    path: &Path,
    busy_timeout: Duration,
    max_wal_bytes: u64,
) -> Result<(WriterHandle, Arc<DatabaseFile>), StoreError> {
    let conn = Connection::open(path).map_err(direct_error)?;
    conn.busy_timeout(busy_timeout).map_err(direct_error)?;
    // temp_store: the statement journal of a multi-row insert outgrows SQLite's 64 KiB
    // in-memory spill limit, and a temp file costs a write syscall per page.
    // journal_size_limit: the WAL file shrinks back when the WAL starts over, so its length
    // measures the log not yet checkpointed (`guard.rs`).
    let size_limit = max_wal_bytes.min(u64::from(checkpoint::BACKSTOP_PAGES) * 4096);
    conn.execute_batch(&format!(
        "pragma journal_mode = wal; pragma synchronous = full; pragma foreign_keys = on; \
         pragma cache_size = -{CACHE_KIB}; pragma temp_store = memory; \
         pragma wal_autocheckpoint = {}; pragma journal_size_limit = {size_limit}; \
         select count(*) from sqlite_master;",
        checkpoint::BACKSTOP_PAGES
    ))
    .map_err(direct_error)?;
    let file = Arc::new(DatabaseFile::open(path)?);
    let guard = Guard::new(file.clone(), max_wal_bytes);
    let checkpointer = Checkpointer::start(path, busy_timeout)?;
    conn.set_prepared_statement_cache_capacity(STATEMENT_CACHE);
    let (requests, inbox) = mpsc::channel::<Request>();
    std::thread::Builder::new()
        .name("errata-sqlite-writer".into())
        .spawn(move || serve(conn, inbox, checkpointer, guard))
        .map_err(|e| StoreError::Unavailable(format!("cannot start the SQLite writer: {e}")))?;
    let handle = WriterHandle::new("the SQLite writer", move |request| {
        requests.send(request).map_err(|e| e.0)
    });
    Ok((handle, file))
}

fn serve(
    mut conn: Connection,
    inbox: mpsc::Receiver<Request>,
    checkpointer: Checkpointer,
    mut guard: Guard,
) {
    let mut cache_used = false;
    loop {
        match inbox.recv_timeout(IDLE_AFTER) {
            Ok(request) => {
                // A bug that panics mid-batch must fail that batch (the transaction rolls
                // back as it unwinds), not stop ingestion for good.
                let outcome = std::panic::catch_unwind(AssertUnwindSafe(|| {
                    run(&mut conn, &request.job, &mut guard)
                }))
                .unwrap_or_else(|_| {
                    tracing::error!("the SQLite writer panicked; the batch was rolled back");
                    Err(StoreError::Other(
                        "the SQLite writer failed on this batch".into(),
                    ))
                });
                // Also after a failure: a WAL over its limit needs checkpoints to come back.
                checkpointer.nudge();
                // The requester may have gone away; the batch is committed (or not) either way.
                let _ = request.reply.send(outcome);
                cache_used = true;
            }
            // A quiet server gives its page cache back (the idle-footprint target); the next
            // burst warms it again within a few batches.
            Err(mpsc::RecvTimeoutError::Timeout) if cache_used => {
                if let Err(e) = conn.execute_batch("pragma shrink_memory") {
                    tracing::warn!(error = %e, "cannot release the SQLite writer's page cache");
                }
                cache_used = false;
            }
            Err(mpsc::RecvTimeoutError::Timeout) => {}
            Err(mpsc::RecvTimeoutError::Disconnected) => return,
        }
    }
}

fn run(conn: &mut Connection, job: &Job, guard: &mut Guard) -> Result<Done, StoreError> {
    guard.make_room(conn)?;
    let mut batch = DirectTx { tx: begin(conn)? };
    let done = run_to_completion(job.run_in(&mut batch))??;
    batch.tx.commit().map_err(direct_error)?;
    guard.verify()?;
    Ok(done)
}

/// `BEGIN IMMEDIATE`, asking again while another connection holds the write lock, for up to
/// [`LOCK_PATIENCE`]. Nothing has been written when it fails, so trying again is safe.
fn begin(conn: &Connection) -> Result<Transaction<'_>, StoreError> {
    let started = Instant::now();
    loop {
        match Transaction::new_unchecked(conn, TransactionBehavior::Immediate) {
            Ok(tx) => return Ok(tx),
            Err(e) if is_locked(&e) && started.elapsed() < LOCK_PATIENCE => {
                tracing::warn!(
                    error = %e,
                    waited_secs = started.elapsed().as_secs(),
                    "the database is locked by another connection; the ingest writer waits on"
                );
            }
            Err(e) => return Err(direct_error(e)),
        }
    }
}

fn is_locked(e: &rusqlite::Error) -> bool {
    matches!(
        e.sqlite_error_code(),
        Some(ErrorCode::DatabaseBusy | ErrorCode::DatabaseLocked)
    )
}

/// Polls a future whose awaits never suspend (every [`DirectTx`] call finishes before it
/// returns) to its end, here on the writer thread, without an async runtime.
fn run_to_completion<F: Future>(future: F) -> Result<F::Output, StoreError> {
    match pin!(future).poll(&mut Context::from_waker(Waker::noop())) {
        Poll::Ready(output) => Ok(output),
        Poll::Pending => Err(StoreError::Other(
            "a SQLite batch tried to wait on something".into(),
        )),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_batch_that_would_wait_fails_instead_of_hanging() {
        assert_eq!(run_to_completion(async { 7 }).ok(), Some(7));
        assert!(matches!(
            run_to_completion(std::future::pending::<()>()),
            Err(StoreError::Other(_))
        ));
    }
}
