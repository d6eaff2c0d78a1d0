//! Group commit: events from concurrent requests are queued and committed together, many per
//! transaction, so a burst of thousands of events per second costs a few fsyncs.
//!
//! A request is answered only after the transaction holding its event committed (its
//! [`Writer::submit`] future resolves then). The queue is bounded: when it is full `submit`
//! fails at once with [`SubmitError::QueueFull`] and the endpoint answers 429, instead of
//! letting memory grow.

use std::time::Instant;

use std::sync::Arc;

use tokio::sync::{mpsc, oneshot, OwnedSemaphorePermit, Semaphore};
use tokio::task::JoinSet;

use crate::store::{InsertOutcome, NewEvent, Store, StoreError};

/// Why an event was not committed.
#[derive(Debug, thiserror::Error)]
pub enum SubmitError {
    /// The queue is full: the server is over capacity right now.
    #[error("ingest queue is full")]
    QueueFull,
    /// The writer has stopped (shutdown).
    #[error("writer is shutting down")]
    Closed,
    /// The commit failed; nothing of the batch was stored.
    #[error(transparent)]
    Store(#[from] StoreError),
}

struct Job {
    event: NewEvent,
    reply: Reply,
}

/// Handle to the writer tasks. Cheap to clone; the tasks stop once every handle is dropped
/// and the queue is drained.
#[derive(Clone, Debug)]
pub struct Writer {
    tx: mpsc::Sender<Job>,
    admission: Arc<Semaphore>,
}

/// A place among the requests being ingested; dropping it frees the place.
#[must_use = "the admission lasts as long as the permit is held"]
#[derive(Debug)]
pub struct Admission {
    _permit: OwnedSemaphorePermit,
}

impl Writer {
    /// Starts `workers` writer tasks sharing one queue of `capacity` events, each committing
    /// up to `batch_size` events per transaction. Returns the handle and the tasks, to be
    /// awaited at shutdown so pending batches are committed.
    pub fn spawn(
        store: Store,
        capacity: usize,
        batch_size: usize,
        workers: usize,
    ) -> (Writer, JoinSet<()>) {
        let (tx, rx) = mpsc::channel(capacity.max(1));
        let rx = Arc::new(tokio::sync::Mutex::new(rx));
        let admission = Arc::new(Semaphore::new(capacity.max(1)));
        let mut set = JoinSet::new();
        for _ in 0..workers.max(1) {
            let store = store.clone();
            let rx = rx.clone();
            set.spawn(async move {
                let mut batch = Vec::with_capacity(batch_size);
                loop {
                    {
                        // One worker fills a batch at a time; the others commit meanwhile.
                        let mut rx = rx.lock().await;
                        if rx.recv_many(&mut batch, batch_size.max(1)).await == 0 {
                            return;
                        }
                    }
                    commit(&store, &mut batch).await;
                }
            });
        }
        (Writer { tx, admission }, set)
    }

    /// Takes one of the `capacity` places for a request about to be ingested, or fails at once
    /// with [`SubmitError::QueueFull`]. Taken before the body is read, so an overloaded
    /// server refuses work before spending memory and CPU on it, and the queue can never hold
    /// more events than there are places.
    pub fn admit(&self) -> Result<Admission, SubmitError> {
        self.admission
            .clone()
            .try_acquire_owned()
            .map(|permit| Admission { _permit: permit })
            .map_err(|_| SubmitError::QueueFull)
    }

    /// Queues one event and waits until it is committed.
    pub async fn submit(&self, event: NewEvent) -> Result<InsertOutcome, SubmitError> {
        let (reply, rx) = oneshot::channel();
        self.tx
            .try_send(Job { event, reply })
            .map_err(|e| match e {
                mpsc::error::TrySendError::Full(_) => SubmitError::QueueFull,
                mpsc::error::TrySendError::Closed(_) => SubmitError::Closed,
            })?;
        match rx.await {
            Ok(result) => Ok(result?),
            Err(_) => Err(SubmitError::Closed),
        }
    }
}

async fn commit(store: &Store, batch: &mut Vec<Job>) {
    let (events, replies): (Vec<NewEvent>, Vec<_>) =
        batch.drain(..).map(|j| (j.event, j.reply)).unzip();
    let events: Arc<[NewEvent]> = events.into();
    metrics::histogram!("errata_batch_size").record(events.len() as f64);
    match insert(store, events.clone()).await {
        Ok(outcomes) => answer(outcomes.into_iter().map(Ok), replies),
        // A database that is down fails every event alike: tell every sender at once.
        Err(e @ StoreError::Unavailable(_)) => {
            tracing::error!(error = %e, events = events.len(), "group commit failed");
            let msg = e.to_string();
            answer(
                events
                    .iter()
                    .map(|_| Err(StoreError::Unavailable(msg.clone()))),
                replies,
            );
        }
        // Anything else may be one bad event: commit the others one by one so it cannot take
        // the whole batch down with it.
        Err(e) => {
            tracing::error!(error = %e, events = events.len(), "group commit failed, retrying events one by one");
            let mut results = Vec::with_capacity(events.len());
            for event in events.iter() {
                results.push(match insert(store, Arc::from([event.clone()])).await {
                    Ok(mut one) => one.pop().ok_or_else(|| StoreError::Other("no outcome".into())),
                    Err(e) => {
                        tracing::error!(error = %e, event_id = %event.event_id, "event could not be stored");
                        Err(e)
                    }
                });
            }
            answer(results.into_iter(), replies);
        }
    }
}

async fn insert(store: &Store, events: Arc<[NewEvent]>) -> Result<Vec<InsertOutcome>, StoreError> {
    let started = Instant::now();
    let result = store.commit_batch(events).await;
    metrics::histogram!("errata_commit_duration_seconds").record(started.elapsed().as_secs_f64());
    result
}

type Reply = oneshot::Sender<Result<InsertOutcome, StoreError>>;

fn answer(results: impl Iterator<Item = Result<InsertOutcome, StoreError>>, replies: Vec<Reply>) {
    for (result, reply) in results.zip(replies) {
        if let Ok(outcome) = &result {
            if outcome.duplicate {
                metrics::counter!("errata_events_duplicate_total").increment(1);
            } else {
                metrics::counter!("errata_events_accepted_total").increment(1);
            }
            if outcome.new_issue {
                metrics::counter!("errata_issues_created_total").increment(1);
            }
            if outcome.regression {
                metrics::counter!("errata_regressions_total").increment(1);
            }
        }
        // The requester may have gone away; the event is stored either way.
        let _ = reply.send(result);
    }
}
