//! Delivery: one background thread per client, a bounded queue, retries, rate limits, spool.
//!
//! The application's threads only `try_send` into a bounded `sync_channel`; when it is full the
//! event is dropped and counted (`queue_overflow`), never blocking the caller. The worker thread
//! turns pending events into envelopes (symbolication happens there, see `backtrace`), drops
//! items of rate-limited categories, and sends with the [`Transport`]. Connection errors and 5xx
//! answers are retried with exponential backoff; with a spool directory the envelope is written
//! to disk instead and replayed when the server answers again (also by a later process). Drop
//! counts travel as a `client_report` item on the next envelope, or alone when the queue idles.
//!
//! `flush(timeout)` waits until everything queued before the call has been handled (sent,
//! spooled or dropped) or the timeout passes.

pub mod http;
pub mod ratelimit;
pub mod spool;

use std::collections::BTreeMap;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::mpsc::{self, Receiver, RecvTimeoutError, SyncSender, TrySendError};
use std::sync::{Arc, Condvar, Mutex, RwLock};
use std::time::{Duration, Instant};

use crate::protocol::{ClientReport, DiscardedEvent, Envelope, Timestamp};
use ratelimit::RateLimiter;
use spool::Spool;

/// What the server answered.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Response {
    /// HTTP status.
    pub status: u16,
    /// `Retry-After` header.
    pub retry_after: Option<String>,
    /// `X-Sentry-Rate-Limits` header.
    pub rate_limits: Option<String>,
}

/// Why a send did not get an answer.
#[derive(Debug, thiserror::Error)]
pub enum TransportError {
    /// Connection refused, reset, timed out…
    #[error("connection error: {0}")]
    Connection(String),
    /// The body could not be encoded.
    #[error("encoding error: {0}")]
    Encode(String),
}

/// Sends one serialized envelope and reports the answer. Called only from the worker thread,
/// so it may block.
pub trait Transport: Send + Sync {
    /// Sends the envelope bytes.
    fn send(&self, envelope: &[u8]) -> Result<Response, TransportError>;
}

/// Counters shared by the client and its worker (internal).
#[derive(Default)]
pub struct Shared {
    queued: AtomicU64,
    done: Mutex<u64>,
    done_cv: Condvar,
    discarded: Mutex<BTreeMap<(&'static str, &'static str), u64>>,
    shutdown: AtomicBool,
}

impl Shared {
    pub(crate) fn discard(&self, reason: &'static str, category: &'static str, n: u64) {
        if let Ok(mut d) = self.discarded.lock() {
            *d.entry((reason, category)).or_insert(0) += n;
        }
    }

    fn take_report(&self) -> Option<ClientReport> {
        let mut d = self.discarded.lock().ok()?;
        if d.is_empty() {
            return None;
        }
        let discarded_events = std::mem::take(&mut *d)
            .into_iter()
            .map(|((reason, category), quantity)| DiscardedEvent {
                reason: reason.to_owned(),
                category: category.to_owned(),
                quantity,
            })
            .collect();
        Some(ClientReport {
            timestamp: Timestamp::now(),
            discarded_events,
        })
    }

    fn has_report(&self) -> bool {
        self.discarded
            .lock()
            .map(|d| !d.is_empty())
            .unwrap_or(false)
    }

    fn mark_done(&self) {
        if let Ok(mut d) = self.done.lock() {
            *d += 1;
            self.done_cv.notify_all();
        }
    }
}

/// Work for the worker thread.
pub(crate) enum Task<P> {
    /// An event still to be resolved.
    Event(P),
    /// A finished envelope.
    Envelope(Envelope),
}

/// Retry and spool settings.
pub(crate) struct DeliveryConfig {
    pub(crate) max_retries: u32,
    pub(crate) retry_backoff: Duration,
    pub(crate) spool_dir: Option<std::path::PathBuf>,
    pub(crate) dsn: Option<String>,
    pub(crate) debug: bool,
}

/// The caller's side of the worker.
pub(crate) struct Worker<P: Send + 'static> {
    tx: RwLock<Option<SyncSender<Task<P>>>>,
    pub(crate) shared: Arc<Shared>,
}

impl<P: Send + 'static> Worker<P> {
    /// Spawns the worker thread. `process` turns a pending event into an envelope (or drops it).
    pub(crate) fn spawn(
        queue_size: usize,
        transport: Arc<dyn Transport>,
        config: DeliveryConfig,
        process: impl FnMut(P, &Shared) -> Option<Envelope> + Send + 'static,
    ) -> std::io::Result<Self> {
        let (tx, rx) = mpsc::sync_channel(queue_size);
        let shared = Arc::new(Shared::default());
        let spool = match &config.spool_dir {
            Some(dir) => match Spool::open(dir) {
                Ok(s) => Some(s),
                Err(e) => {
                    if config.debug {
                        eprintln!("[errata] spool directory unusable, not spooling: {e}");
                    }
                    None
                }
            },
            None => None,
        };
        let mut state = Delivery {
            transport,
            shared: shared.clone(),
            limiter: RateLimiter::new(),
            spool,
            down_until: None,
            backoff: config.retry_backoff,
            config,
        };
        std::thread::Builder::new()
            .name("errata-worker".into())
            .spawn(move || {
                crate::hub::mark_worker_thread();
                state.run(rx, process)
            })?;
        Ok(Worker {
            tx: RwLock::new(Some(tx)),
            shared,
        })
    }

    /// Queues without blocking; false (and counted) when full or closed.
    pub(crate) fn enqueue(&self, task: Task<P>) -> bool {
        let Ok(guard) = self.tx.read() else {
            return false;
        };
        let Some(tx) = guard.as_ref() else {
            return false;
        };
        // Counted before sending so a concurrent flush never sees done > queued.
        self.shared.queued.fetch_add(1, Ordering::SeqCst);
        match tx.try_send(task) {
            Ok(()) => true,
            Err(TrySendError::Full(_)) => {
                self.shared.mark_done();
                self.shared.discard("queue_overflow", "error", 1);
                false
            }
            Err(TrySendError::Disconnected(_)) => {
                self.shared.mark_done();
                false
            }
        }
    }

    /// Waits until everything queued so far is handled; false on timeout.
    pub(crate) fn flush(&self, timeout: Duration) -> bool {
        let target = self.shared.queued.load(Ordering::SeqCst);
        let deadline = Instant::now() + timeout;
        let Ok(mut done) = self.shared.done.lock() else {
            return false;
        };
        while *done < target {
            let now = Instant::now();
            if now >= deadline {
                return false;
            }
            match self.shared.done_cv.wait_timeout(done, deadline - now) {
                Ok((d, _)) => done = d,
                Err(_) => return false,
            }
        }
        true
    }

    /// Flushes, then stops the worker (it drains what is left, spooling if it can't send).
    pub(crate) fn close(&self, timeout: Duration) -> bool {
        let flushed = self.flush(timeout);
        self.shared.shutdown.store(true, Ordering::SeqCst);
        if let Ok(mut tx) = self.tx.write() {
            tx.take();
        }
        flushed
    }
}

struct Delivery {
    transport: Arc<dyn Transport>,
    shared: Arc<Shared>,
    limiter: RateLimiter,
    spool: Option<Spool>,
    /// While set, the server is considered unreachable: envelopes go to the spool.
    down_until: Option<Instant>,
    backoff: Duration,
    config: DeliveryConfig,
}

enum Outcome {
    Delivered,
    /// Dropped for good (4xx, rate limited).
    Rejected,
    /// Connection error or 5xx: worth another try.
    Retry,
}

const IDLE_TICK: Duration = Duration::from_millis(500);
const MAX_BACKOFF: Duration = Duration::from_secs(60);

impl Delivery {
    fn run<P>(
        &mut self,
        rx: Receiver<Task<P>>,
        mut process: impl FnMut(P, &Shared) -> Option<Envelope>,
    ) {
        self.replay_spool();
        loop {
            let wait = match self.down_until {
                Some(t) => t.saturating_duration_since(Instant::now()).min(IDLE_TICK),
                None => IDLE_TICK,
            };
            match rx.recv_timeout(wait) {
                Ok(task) => {
                    let env = match task {
                        Task::Event(p) => process(p, &self.shared),
                        Task::Envelope(e) => Some(e),
                    };
                    if let Some(env) = env {
                        self.deliver(env);
                    }
                    self.shared.mark_done();
                }
                Err(RecvTimeoutError::Timeout) => {
                    // A lone report waits while limits are active: it would be a request
                    // the server just asked us not to make.
                    if self.shared.has_report()
                        && self.down_until.is_none()
                        && !self.limiter.any_active()
                    {
                        self.deliver(Envelope::default());
                    }
                }
                Err(RecvTimeoutError::Disconnected) => break,
            }
            if self.down_until.is_some_and(|t| t <= Instant::now()) {
                self.replay_spool();
            }
        }
        if self.shared.has_report() && self.down_until.is_none() && !self.limiter.any_active() {
            self.deliver(Envelope::default());
        }
    }

    fn log(&self, msg: impl FnOnce() -> String) {
        if self.config.debug {
            eprintln!("[errata] {}", msg());
        }
    }

    fn deliver(&mut self, mut env: Envelope) {
        env.dsn = self.config.dsn.clone();
        let had_items = !env.is_empty();
        for cat in self.limiter.filter(&mut env) {
            self.shared.discard("ratelimit_backoff", cat, 1);
        }
        if had_items && env.is_empty() {
            // Everything was limited: the report waits rather than making a request alone.
            return;
        }
        if let Some(report) = self.shared.take_report() {
            let _ = env.add_client_report(&report);
        }
        if env.is_empty() {
            return;
        }
        let bytes = env.to_bytes();
        if self.spool.is_some() && self.down_until.is_some() {
            self.spool_bytes(&bytes);
            return;
        }
        let mut attempt = 0;
        loop {
            match self.send(&bytes) {
                Outcome::Delivered => {
                    self.backoff = self.config.retry_backoff;
                    if self.spool.as_ref().is_some_and(|s| !s.is_empty()) {
                        self.replay_spool();
                    }
                    return;
                }
                Outcome::Rejected => return,
                Outcome::Retry => {
                    if self.spool.is_some() {
                        self.spool_bytes(&bytes);
                        self.mark_down();
                        return;
                    }
                    if attempt >= self.config.max_retries
                        || self.shared.shutdown.load(Ordering::SeqCst)
                    {
                        self.count_items(&bytes, "network_error");
                        return;
                    }
                    let delay = self.config.retry_backoff * 2u32.saturating_pow(attempt);
                    self.sleep(delay.min(MAX_BACKOFF));
                    attempt += 1;
                }
            }
        }
    }

    /// Sleeps in slices so a shutdown cuts the wait short.
    fn sleep(&self, d: Duration) {
        let end = Instant::now() + d;
        while Instant::now() < end && !self.shared.shutdown.load(Ordering::SeqCst) {
            std::thread::sleep((end - Instant::now()).min(Duration::from_millis(20)));
        }
    }

    fn mark_down(&mut self) {
        self.down_until = Some(Instant::now() + self.backoff);
        self.backoff = (self.backoff * 2).min(MAX_BACKOFF);
    }

    fn send(&mut self, bytes: &[u8]) -> Outcome {
        match self.transport.send(bytes) {
            Ok(resp) => {
                self.limiter.update(
                    resp.status,
                    resp.retry_after.as_deref(),
                    resp.rate_limits.as_deref(),
                );
                match resp.status {
                    200..=299 => Outcome::Delivered,
                    429 => {
                        self.log(|| "rate limited (429), dropping envelope".into());
                        self.count_items(bytes, "ratelimit_backoff");
                        Outcome::Rejected
                    }
                    500..=599 => {
                        self.log(|| format!("server error {}, will retry", resp.status));
                        Outcome::Retry
                    }
                    s => {
                        self.log(|| format!("envelope rejected with status {s}"));
                        self.count_items(bytes, "send_error");
                        Outcome::Rejected
                    }
                }
            }
            Err(e) => {
                self.log(|| format!("send failed: {e}"));
                Outcome::Retry
            }
        }
    }

    fn count_items(&self, bytes: &[u8], reason: &'static str) {
        if let Ok(p) = crate::protocol::parse_envelope(bytes) {
            for (h, _) in &p.items {
                if h.get("type").and_then(|t| t.as_str()) == Some("event") {
                    self.shared.discard(reason, "error", 1);
                }
            }
        }
    }

    fn spool_bytes(&self, bytes: &[u8]) {
        if let Some(spool) = &self.spool {
            match spool.store(bytes) {
                Ok(evicted) if evicted > 0 => {
                    self.shared
                        .discard("cache_overflow", "error", evicted as u64)
                }
                Ok(_) => {}
                Err(e) => {
                    self.log(|| format!("could not spool envelope: {e}"));
                    self.count_items(bytes, "network_error");
                }
            }
        }
    }

    /// Sends spooled envelopes oldest first until one fails.
    fn replay_spool(&mut self) {
        let Some(spool) = self.spool.clone() else {
            return;
        };
        self.down_until = None;
        let files = spool.list().unwrap_or_default();
        for file in files {
            if self.shared.shutdown.load(Ordering::SeqCst) && self.down_until.is_some() {
                return;
            }
            if let Some(t) = self.limiter.limited_until("error") {
                self.down_until = Some(t);
                return;
            }
            let Ok(bytes) = std::fs::read(&file) else {
                continue;
            };
            match self.send(&bytes) {
                Outcome::Delivered | Outcome::Rejected => {
                    let _ = std::fs::remove_file(&file);
                    self.backoff = self.config.retry_backoff;
                }
                Outcome::Retry => {
                    self.mark_down();
                    return;
                }
            }
        }
    }
}
