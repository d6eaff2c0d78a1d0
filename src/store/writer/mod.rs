//! The ingest writer threads, one per engine, and the handle that hands them work: the caller
//! encodes a batch's JSON columns, sends the job, and awaits the answer while the thread runs
//! the transaction.
//!
//! * `sqlite.rs`: for a SQLite file, one OS thread owning one rusqlite connection.
//! * `guard.rs`: what it checks around every batch: the files are still the ones it opened,
//!   the WAL is under its limit.
//! * `checkpoint.rs`: beside it, the thread that checkpoints the WAL.
//! * `postgres.rs`: for PostgreSQL, a thread with its own runtime and connections.
//!
//! Both run the same [`Job`]s: the batch code of `batch/` on their own executor.

mod checkpoint;
mod guard;
mod postgres;
mod sqlite;

use std::sync::Arc;

use tokio::sync::oneshot;

use super::batch::{self, insert_batch, Aggregates, Encoded, InsertOutcome, NewEvent, RollUp};
use super::db::Executor;
use super::retention::{Prune, Pruned};
use super::{now_ms, StoreError};

pub(super) use guard::DatabaseFile;
pub(super) use postgres::start as start_postgres;
pub(super) use sqlite::start as start_sqlite;

/// One transaction for a writer thread.
pub(super) enum Job {
    Commit {
        events: Arc<[NewEvent]>,
        encoded: Encoded,
        aggregates: Aggregates,
    },
    RollUp {
        limit: usize,
    },
    /// One small step of a retention pass (`store/retention/prune.rs`).
    Prune(Prune),
}

impl Job {
    /// Does the job's work in `tx`, which the writer thread begins and commits.
    pub(super) async fn run_in(&self, tx: &mut impl Executor) -> Result<Done, StoreError> {
        Ok(match self {
            Job::Commit {
                events,
                encoded,
                aggregates,
            } => Done::Committed(insert_batch(tx, events, encoded, now_ms(), *aggregates).await?),
            Job::RollUp { limit } => Done::RolledUp(batch::roll_up(tx, *limit, now_ms()).await?),
            Job::Prune(step) => Done::Pruned(step.run_in(tx).await?),
        })
    }
}

/// What a [`Job`] did.
pub(super) enum Done {
    Committed(Vec<InsertOutcome>),
    RolledUp(RollUp),
    Pruned(Pruned),
}

/// A job with the channel its answer goes back on.
pub(super) struct Request {
    pub job: Job,
    pub reply: oneshot::Sender<Result<Done, StoreError>>,
}

type SendFn = dyn Fn(Request) -> Result<(), Request> + Send + Sync;

/// Handle to a writer thread; cheap to clone.
#[derive(Clone)]
pub(super) struct WriterHandle {
    /// Queues a request for the thread; gives it back when the thread has stopped.
    send: Arc<SendFn>,
    /// The thread's name in errors ("the SQLite writer").
    name: &'static str,
}

impl std::fmt::Debug for WriterHandle {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("WriterHandle")
            .field("name", &self.name)
            .finish_non_exhaustive()
    }
}

impl WriterHandle {
    /// A handle sending through `send`, which gives the request back once the thread is gone.
    pub(super) fn new(
        name: &'static str,
        send: impl Fn(Request) -> Result<(), Request> + Send + Sync + 'static,
    ) -> WriterHandle {
        WriterHandle {
            send: Arc::new(send),
            name,
        }
    }

    /// Commits `events` in one transaction on the thread; see
    /// [`Store::commit_batch`](crate::store::Store::commit_batch) for the contract.
    pub(super) async fn commit(
        &self,
        events: Arc<[NewEvent]>,
        aggregates: Aggregates,
    ) -> Result<Vec<InsertOutcome>, StoreError> {
        let encoded = Encoded::of(&events, aggregates)?;
        match self
            .run(Job::Commit {
                events,
                encoded,
                aggregates,
            })
            .await?
        {
            Done::Committed(outcomes) => Ok(outcomes),
            _ => Err(self.out_of_turn()),
        }
    }

    /// [`Store::roll_up`](crate::store::Store::roll_up) on the thread.
    pub(super) async fn roll_up(&self, limit: usize) -> Result<RollUp, StoreError> {
        match self.run(Job::RollUp { limit }).await? {
            Done::RolledUp(done) => Ok(done),
            _ => Err(self.out_of_turn()),
        }
    }

    /// One retention step on the thread; returns what it deleted.
    pub(super) async fn prune(&self, step: Prune) -> Result<Pruned, StoreError> {
        match self.run(Job::Prune(step)).await? {
            Done::Pruned(n) => Ok(n),
            _ => Err(self.out_of_turn()),
        }
    }

    async fn run(&self, job: Job) -> Result<Done, StoreError> {
        let (reply, answer) = oneshot::channel();
        let stopped = || StoreError::Unavailable(format!("{} has stopped", self.name));
        (self.send)(Request { job, reply }).map_err(|_| stopped())?;
        answer.await.map_err(|_| stopped())?
    }

    fn out_of_turn(&self) -> StoreError {
        StoreError::Other(format!("{} answered out of turn", self.name))
    }
}
