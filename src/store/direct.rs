//! The SQLite ingest writer: one OS thread owning one rusqlite connection, committing the
//! batches of [`super::Store::commit_batch`].
//!
//! sqlx runs every SQLite statement on a worker thread and hands each result back to the
//! async caller: two thread switches per statement, which made the group commit
//! latency-bound (`bench/README.md`, "Where the time went"). Here a batch crosses threads
//! once each way and its statements run back to back from a prepared-statement cache. The
//! SQL and the batch logic are the same as PostgreSQL's ([`super::write::insert_batch`]); only
//! the executor differs. Everything else (reads, notifications, accounts) stays on sqlx.

use std::future::Future;
use std::panic::AssertUnwindSafe;
use std::path::Path;
use std::pin::pin;
use std::sync::mpsc;
use std::task::{Context, Poll, Waker};
use std::time::Duration;

use rusqlite::{Connection, ErrorCode, TransactionBehavior};

use super::checkpoint::{self, Checkpointer};
use super::db::{is_transient_sqlite, Arg, STATEMENT_CACHE};
use super::handoff::{Done, Job, Request, WriterHandle};
use super::write::{BatchRow, BatchTx};
use super::{Backend, StoreError};

/// Page cache of the writer connection, KiB. SQLite's default (2 MiB) misses on the random
/// `events (project_id, event_id)` index and the hot issues' tag pages after a few hundred
/// thousand events, and every miss is a read syscall on the commit path; 16 MiB keeps them.
const CACHE_KIB: u32 = 16 * 1024;

/// How long without a batch before the writer releases its page cache.
const IDLE_AFTER: Duration = Duration::from_secs(2);

/// Opens the database file (already created and migrated through sqlx) with the same
/// durability settings as the pool (WAL, `synchronous=FULL`, foreign keys, busy timeout) and
/// starts the writer thread on it; the thread closes its connection and ends once every
/// handle is dropped. Errors: [`StoreError::Unavailable`] when the file cannot be opened or is
/// locked past the busy timeout, or the thread cannot start; [`StoreError::Other`] otherwise.
pub(super) fn start(path: &Path, busy_timeout: Duration) -> Result<WriterHandle, StoreError> {
    let conn = Connection::open(path).map_err(direct_error)?;
    conn.busy_timeout(busy_timeout).map_err(direct_error)?;
    // temp_store: the statement journal of a multi-row insert outgrows SQLite's 64 KiB
    // in-memory spill limit, and a temp file costs a write syscall per page.
    conn.execute_batch(&format!(
        "pragma journal_mode = wal; pragma synchronous = full; pragma foreign_keys = on; \
         pragma cache_size = -{CACHE_KIB}; pragma temp_store = memory; \
         pragma wal_autocheckpoint = {};",
        checkpoint::BACKSTOP_PAGES
    ))
    .map_err(direct_error)?;
    let checkpointer = Checkpointer::start(path, busy_timeout)?;
    conn.set_prepared_statement_cache_capacity(STATEMENT_CACHE);
    let (requests, inbox) = mpsc::channel::<Request>();
    std::thread::Builder::new()
        .name("errata-sqlite-writer".into())
        .spawn(move || serve(conn, inbox, checkpointer))
        .map_err(|e| StoreError::Unavailable(format!("cannot start the SQLite writer: {e}")))?;
    Ok(WriterHandle::new("the SQLite writer", move |request| {
        requests.send(request).map_err(|e| e.0)
    }))
}

fn serve(mut conn: Connection, inbox: mpsc::Receiver<Request>, checkpointer: Checkpointer) {
    let mut cache_used = false;
    loop {
        match inbox.recv_timeout(IDLE_AFTER) {
            Ok(request) => {
                // A bug that panics mid-batch must fail that batch (the transaction rolls
                // back as it unwinds), not stop ingestion for good.
                let outcome =
                    std::panic::catch_unwind(AssertUnwindSafe(|| run(&mut conn, &request.job)))
                        .unwrap_or_else(|_| {
                            tracing::error!(
                                "the SQLite writer panicked; the batch was rolled back"
                            );
                            Err(StoreError::Other(
                                "the SQLite writer failed on this batch".into(),
                            ))
                        });
                if outcome.is_ok() {
                    checkpointer.nudge();
                }
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

fn run(conn: &mut Connection, job: &Job) -> Result<Done, StoreError> {
    let tx = conn
        .transaction_with_behavior(TransactionBehavior::Immediate)
        .map_err(direct_error)?;
    let mut batch = DirectTx { tx };
    let done = run_to_completion(job.run_in(&mut batch))??;
    batch.tx.commit().map_err(direct_error)?;
    Ok(done)
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

/// An open write transaction on the writer's connection.
struct DirectTx<'c> {
    tx: rusqlite::Transaction<'c>,
}

impl DirectTx<'_> {
    /// Prepares (or takes from the cache) `sql` and binds `args` by position. The batch SQL
    /// numbers its `$N` placeholders in order of first use, so `$N` is parameter N; the
    /// count check catches a statement that does not.
    fn prepare(
        &self,
        sql: &str,
        args: Vec<Arg<'_>>,
    ) -> Result<rusqlite::CachedStatement<'_>, StoreError> {
        let mut stmt = self.tx.prepare_cached(sql).map_err(direct_error)?;
        if stmt.parameter_count() != args.len() {
            return Err(StoreError::Other(format!(
                "statement takes {} arguments, {} given",
                stmt.parameter_count(),
                args.len()
            )));
        }
        for (i, arg) in args.into_iter().enumerate() {
            let index = i + 1;
            match arg {
                Arg::Int(v) => stmt.raw_bind_parameter(index, v),
                Arg::OptInt(v) => stmt.raw_bind_parameter(index, v),
                Arg::Bool(v) => stmt.raw_bind_parameter(index, v),
                Arg::Str(v) => stmt.raw_bind_parameter(index, v.as_ref()),
                Arg::OptStr(v) => stmt.raw_bind_parameter(index, v.as_deref()),
                Arg::Bytes(v) => stmt.raw_bind_parameter(index, v),
            }
            .map_err(direct_error)?;
        }
        Ok(stmt)
    }
}

impl BatchTx for DirectTx<'_> {
    fn backend(&self) -> Backend {
        Backend::Sqlite
    }

    async fn fetch_all<R: BatchRow>(
        &mut self,
        sql: &str,
        args: Vec<Arg<'_>>,
    ) -> Result<Vec<R>, StoreError> {
        let mut stmt = self.prepare(sql, args)?;
        let mut rows = stmt.raw_query();
        let mut out = Vec::new();
        while let Some(row) = rows.next().map_err(direct_error)? {
            out.push(R::from_rusqlite(row).map_err(direct_error)?);
        }
        Ok(out)
    }

    async fn execute(&mut self, sql: &str, args: Vec<Arg<'_>>) -> Result<u64, StoreError> {
        let mut stmt = self.prepare(sql, args)?;
        let changed = stmt.raw_execute().map_err(direct_error)?;
        Ok(changed as u64)
    }
}

/// Maps a rusqlite error into the store's kinds, as `db::db_error` does for sqlx.
fn direct_error(e: rusqlite::Error) -> StoreError {
    if let rusqlite::Error::SqliteFailure(failure, _) = &e {
        if failure.code == ErrorCode::ConstraintViolation
            && matches!(
                failure.extended_code,
                rusqlite::ffi::SQLITE_CONSTRAINT_UNIQUE
                    | rusqlite::ffi::SQLITE_CONSTRAINT_PRIMARYKEY
            )
        {
            return StoreError::Conflict(e.to_string());
        }
        if is_transient_sqlite(failure.extended_code) || failure.code == ErrorCode::CannotOpen {
            return StoreError::Unavailable(e.to_string());
        }
    }
    StoreError::Other(e.to_string())
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

    #[test]
    fn sqlite_errors_map_to_store_errors() {
        let failure = |code| rusqlite::Error::SqliteFailure(rusqlite::ffi::Error::new(code), None);
        assert!(matches!(
            direct_error(failure(rusqlite::ffi::SQLITE_BUSY)),
            StoreError::Unavailable(_)
        ));
        assert!(matches!(
            direct_error(failure(rusqlite::ffi::SQLITE_CONSTRAINT_UNIQUE)),
            StoreError::Conflict(_)
        ));
        assert!(matches!(
            direct_error(failure(rusqlite::ffi::SQLITE_CONSTRAINT_FOREIGNKEY)),
            StoreError::Other(_)
        ));
    }
}
