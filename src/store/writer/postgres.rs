//! The PostgreSQL ingest writer: a thread of its own with a single-threaded tokio runtime and
//! its own pool connections, committing the batches of
//! [`Store::commit_batch`](crate::store::Store::commit_batch).
//!
//! On the server's shared runtime every round trip of a batch woke the committing task behind
//! the request tasks that parse events, each a poll of ~100 µs without an await point: a
//! batch of ~17 events took ~10 ms of which PostgreSQL spent ~3, and the writer, not the
//! database, bounded the rate (`bench/README.md`). Here the OS scheduler runs the writer as
//! soon as an answer arrives. The SQL and the batch logic are those of `batch/`, as on
//! SQLite's writer thread (`sqlite.rs`); everything else (reads, notifications, accounts)
//! stays on the shared pool.

use std::time::{Duration, Instant};

use sqlx::postgres::{PgConnectOptions, PgPoolOptions};
use sqlx::PgPool;
use tokio::sync::{mpsc, oneshot};
use tokio::task::JoinSet;

use super::{Done, Job, Request, WriterHandle};
use crate::store::connect::ACQUIRE_TIMEOUT;
use crate::store::db::{Pool, STATEMENT_CACHE};
use crate::store::StoreError;

/// How long a batch is tried again after transient failures before its events get 503.
const RETRY_WITHIN: Duration = Duration::from_secs(10);

/// Starts the thread with a pool of up to `connections` connections to `options` (opened on
/// first use, on the thread's runtime, whose reactor then serves them). Returns the handle
/// and that pool, for [`Store::close`](crate::store::Store::close); the thread finishes the
/// transactions it has started, closes its connections and ends once every handle is
/// dropped. Errors: [`StoreError::Unavailable`] when the thread or its runtime cannot start.
pub(in crate::store) async fn start(
    options: PgConnectOptions,
    connections: u32,
) -> Result<(WriterHandle, PgPool), StoreError> {
    let (requests, inbox) = mpsc::unbounded_channel::<Request>();
    let (started, pool) = oneshot::channel();
    let cannot = |e: &dyn std::fmt::Display| {
        StoreError::Unavailable(format!("cannot start the PostgreSQL writer: {e}"))
    };
    std::thread::Builder::new()
        .name("errata-pg-writer".into())
        .spawn(move || {
            let runtime = match tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
            {
                Ok(runtime) => runtime,
                Err(e) => {
                    let _ = started.send(Err(cannot(&e)));
                    return;
                }
            };
            runtime.block_on(async move {
                // Created here so that its connections and maintenance task live on this
                // runtime.
                let pool = PgPoolOptions::new()
                    .max_connections(connections.max(1))
                    .acquire_timeout(ACQUIRE_TIMEOUT)
                    .connect_lazy_with(options.statement_cache_capacity(STATEMENT_CACHE));
                if started.send(Ok(pool.clone())).is_ok() {
                    serve(Pool::Postgres(pool.clone()), inbox).await;
                }
                pool.close().await;
            });
        })
        .map_err(|e| cannot(&e))?;
    let pool = pool.await.map_err(|e| cannot(&e))??;
    let handle = WriterHandle::new("the PostgreSQL writer", move |request| {
        requests.send(request).map_err(|e| e.0)
    });
    Ok((handle, pool))
}

/// Runs each request as its own task, so that several ingest writers (`ingest.writers`)
/// commit concurrently on their own connections; returns once every handle is gone and the
/// started transactions have finished.
async fn serve(pool: Pool, mut inbox: mpsc::UnboundedReceiver<Request>) {
    let mut running = JoinSet::new();
    while let Some(request) = inbox.recv().await {
        let pool = pool.clone();
        running.spawn(async move {
            // The requester may have gone away; the batch is committed (or not) either way.
            let _ = request.reply.send(run(&pool, request.job).await);
        });
        while running.try_join_next().is_some() {}
    }
    while running.join_next().await.is_some() {}
}

/// Runs the job in a transaction, again on a transient failure (serialization failure,
/// deadlock, a connection lost or shut down: `db::db_error` maps those to
/// [`StoreError::Unavailable`]) while [`RETRY_WITHIN`] has not passed, so that a failure that a
/// second attempt would not meet reaches no SDK as a 5xx (issue #24, item 3). Trying a commit
/// again is safe even when the first one's answer was lost after it committed: events are
/// stored once per `(project_id, event_id)`, and a repeated batch changes nothing.
async fn run(pool: &Pool, job: Job) -> Result<Done, StoreError> {
    let started = Instant::now();
    let mut pause = Duration::from_millis(50);
    loop {
        match attempt(pool, &job).await {
            Err(StoreError::Unavailable(e)) if started.elapsed() + pause < RETRY_WITHIN => {
                tracing::warn!(error = %e, "PostgreSQL writer transaction failed; trying again");
                tokio::time::sleep(pause).await;
                pause *= 4;
            }
            result => return result,
        }
    }
}

async fn attempt(pool: &Pool, job: &Job) -> Result<Done, StoreError> {
    let mut tx = pool.begin_write().await?;
    let done = job.run_in(&mut tx).await?;
    tx.commit().await?;
    Ok(done)
}
