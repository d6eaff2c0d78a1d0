//! Group commit: events from concurrent requests are queued and committed together, many per
//! transaction, so a burst of thousands of events per second costs a few fsyncs.
//!
//! A request is answered only after the transaction holding its event committed (its
//! [`Writer::submit`] future resolves then). The queue is bounded: when it is full `submit`
//! fails at once with [`SubmitError::QueueFull`] and the endpoint answers 429, instead of
//! letting memory grow.
//!
//! Under load (at least `defer_at` requests in progress) batches leave their issues'
//! counters to a roll-up ([`Aggregates::Deferred`], `store/batch/aggregate.rs`), which a writer
//! task runs when the queue is empty or [`ROLL_UP_EVERY`] has passed, and until nothing is
//! pending when it stops. Issue counts then lag the acknowledged events by at most about
//! that long; the events themselves are stored and readable before their 200.

use std::time::Instant;

use std::sync::Arc;

use tokio::sync::{mpsc, oneshot, OwnedSemaphorePermit, Semaphore};
use tokio::task::JoinSet;

use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use crate::store::{Aggregates, InsertOutcome, NewEvent, Store, StoreError};

/// Longest time deferred aggregates wait for a roll-up while the queue never empties.
pub const ROLL_UP_EVERY: Duration = Duration::from_millis(250);

/// Pending events applied per roll-up transaction.
const ROLL_UP_LIMIT: usize = 20_000;

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
    /// up to `batch_size` events per transaction, deferring issue aggregates while at least
    /// `defer_at` requests are in progress (0: never). Returns the handle and the tasks, to be
    /// awaited at shutdown so pending batches and aggregates are committed.
    pub fn spawn(
        store: Store,
        capacity: usize,
        batch_size: usize,
        workers: usize,
        defer_at: usize,
    ) -> (Writer, JoinSet<()>) {
        let capacity = capacity.max(1);
        let (tx, rx) = mpsc::channel(capacity);
        let admission = Arc::new(Semaphore::new(capacity));
        let shared = Arc::new(Shared {
            rx: tokio::sync::Mutex::new(rx),
            // Rows a previous process left pending are rolled up at the first quiet moment.
            deferred: AtomicU64::new(1),
            rolled: AtomicU64::new(0),
            last_roll_up: std::sync::Mutex::new(Instant::now()),
        });
        let mut set = JoinSet::new();
        for _ in 0..workers.max(1) {
            let store = store.clone();
            let shared = shared.clone();
            let admission = admission.clone();
            set.spawn(async move {
                let mut batch = Vec::with_capacity(batch_size);
                let busy = || defer_at > 0 && in_progress(&admission, capacity) >= defer_at;
                loop {
                    let roll = {
                        // One worker fills a batch at a time; the others commit meanwhile.
                        let mut rx = shared.rx.lock().await;
                        let want = batch_size.max(1);
                        if shared.pending() {
                            // Under load the queue empties between batches too: roll up then
                            // only every ROLL_UP_EVERY, so that each roll-up carries many
                            // batches; and never wait for events past that while rows wait.
                            let due = shared.until_due();
                            if (rx.is_empty() && !busy()) || due.is_zero() {
                                true
                            } else {
                                // Cancel-safe: a timeout receives nothing.
                                match tokio::time::timeout(due, rx.recv_many(&mut batch, want))
                                    .await
                                {
                                    Ok(0) => break,
                                    Ok(_) => false,
                                    Err(_) => true,
                                }
                            }
                        } else if rx.recv_many(&mut batch, want).await == 0 {
                            break;
                        } else {
                            false
                        }
                    };
                    if roll {
                        if !roll_up(&store, &shared).await {
                            // The database is failing; do not spin on it.
                            tokio::time::sleep(ROLL_UP_EVERY).await;
                        }
                        continue;
                    }
                    let aggregates = if busy() {
                        Aggregates::Deferred
                    } else {
                        Aggregates::Inline
                    };
                    commit(&store, &mut batch, aggregates).await;
                    if aggregates == Aggregates::Deferred {
                        // After the commit: a roll-up that starts from here on sees its rows.
                        shared.deferred.fetch_add(1, Ordering::AcqRel);
                    }
                }
                // Shutting down: leave nothing pending behind.
                while shared.pending() {
                    if !roll_up(&store, &shared).await {
                        break;
                    }
                }
            });
        }
        (Writer { tx, admission }, set)
    }

    /// Takes one of the `capacity` places for a request about to be ingested, or fails at once
    /// with [`SubmitError::QueueFull`]. Taken once the body is read (while it is read, the
    /// request holds a place of its address and its bytes of the budget, `gate.rs`, so slow
    /// clients cannot take these places from everyone) and before it is decompressed and
    /// parsed, so an overloaded server refuses work before spending CPU on it, and the queue
    /// can never hold more events than there are places.
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

/// Requests holding an admission: reading, parsing or waiting for their commit.
fn in_progress(admission: &Semaphore, capacity: usize) -> usize {
    capacity.saturating_sub(admission.available_permits())
}

/// State the writer tasks share.
struct Shared {
    rx: tokio::sync::Mutex<mpsc::Receiver<Job>>,
    /// Deferred batches committed (1 at start: a previous process may have left some), and
    /// how many of them a complete roll-up has covered: rows may be pending while they
    /// differ. Counters rather than a flag, so that a batch committed while another worker
    /// rolls up is never taken as covered.
    deferred: AtomicU64,
    rolled: AtomicU64,
    last_roll_up: std::sync::Mutex<Instant>,
}

impl Shared {
    fn pending(&self) -> bool {
        self.deferred.load(Ordering::Acquire) > self.rolled.load(Ordering::Acquire)
    }

    /// Time left until the next roll-up is due (zero: due now).
    fn until_due(&self) -> Duration {
        self.last_roll_up
            .lock()
            .map(|t| ROLL_UP_EVERY.saturating_sub(t.elapsed()))
            .unwrap_or(Duration::ZERO)
    }
}

/// One roll-up transaction; marks the deferred batches it covered once nothing was left
/// beyond its limit. Returns false when it
/// failed (logged; the events stay pending and are tried again later).
async fn roll_up(store: &Store, shared: &Shared) -> bool {
    if let Ok(mut t) = shared.last_roll_up.lock() {
        *t = Instant::now();
    }
    let started = Instant::now();
    // Every deferred batch counted here committed before this roll-up's transaction began.
    let covers = shared.deferred.load(Ordering::Acquire);
    match store.roll_up(ROLL_UP_LIMIT).await {
        Ok(done) => {
            metrics::histogram!("errata_roll_up_duration_seconds")
                .record(started.elapsed().as_secs_f64());
            metrics::counter!("errata_regressions_total").increment(done.regressions as u64);
            if done.events < ROLL_UP_LIMIT {
                shared.rolled.fetch_max(covers, Ordering::AcqRel);
            }
            true
        }
        Err(e) => {
            tracing::error!(error = %e, "roll-up of deferred issue aggregates failed");
            false
        }
    }
}

async fn commit(store: &Store, batch: &mut Vec<Job>, aggregates: Aggregates) {
    let (events, replies): (Vec<NewEvent>, Vec<_>) =
        batch.drain(..).map(|j| (j.event, j.reply)).unzip();
    let events: Arc<[NewEvent]> = events.into();
    metrics::histogram!("errata_batch_size").record(events.len() as f64);
    match insert(store, events.clone(), aggregates).await {
        Ok(outcomes) => answer(outcomes.into_iter().map(Ok), replies),
        // A database that is down fails every event alike: tell every sender at once. The
        // endpoints log the outage (`outage.rs`), not a line per batch.
        Err(e @ StoreError::Unavailable(_)) => {
            tracing::debug!(error = %e, events = events.len(), "group commit failed");
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
                results.push(match insert(store, Arc::from([event.clone()]), aggregates).await {
                    Ok(mut one) => one.pop().ok_or_else(|| StoreError::Other("no outcome".into())),
                    Err(e) => {
                        tracing::error!(error = %e, event_id = %event.fields.event_id, "event could not be stored");
                        Err(e)
                    }
                });
            }
            answer(results.into_iter(), replies);
        }
    }
}

async fn insert(
    store: &Store,
    events: Arc<[NewEvent]>,
    aggregates: Aggregates,
) -> Result<Vec<InsertOutcome>, StoreError> {
    let started = Instant::now();
    let result = store.commit_batch(events, aggregates).await;
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
