//! The maintenance runner: the one place where the server's periodic work runs (the
//! notification worker now; retention, the cron monitor clock and uptime checks next).
//!
//! A [`Job`] has a name, a [`Schedule`] and a pass ([`Job::run`]). The [`Runner`] drives each
//! job on its own task: it waits until a pass is due, runs it, records it, and plans the next
//! one at `start + interval + random(0..=jitter)` (so jobs started together drift apart and
//! several servers do not hit the database in step), or at once when the pass reports
//! [`Progress::More`] (work was left: a notification round that sent something, a retention
//! batch). A pass that fails or panics is counted and logged, and the job goes on at its next
//! due time. Passes of one job never overlap within a runner.
//!
//! * **Time** is the server's [`Clock`]: under a test's manual clock a job runs as soon as
//!   the test moves the clock past its due time. A [`Timer::Poll`] job (a latency poll such
//!   as the notification worker's) also runs when its interval has passed in real time, so
//!   it keeps polling while a manual clock stands still.
//! * **One server at a time**: a job with [`Schedule::one_server`] runs under a lease in the
//!   `job_leases` table (`src/store/leases.rs`, the same SQL on SQLite and PostgreSQL). A
//!   runner claims it when the pass is due; the claim moves the shared due time on, so of
//!   several servers exactly one runs each pass, and the others wait for the next due time.
//!   The lease is renewed while the pass runs; if its holder dies, another server takes the
//!   job once the lease has expired. [`Pass::last_ok_ms`] (start of the last successful
//!   pass, kept in the table across restarts) lets a job catch up on what it missed.
//! * **Metrics**: `errata_job_runs_total{job,outcome}` with `outcome` = `ok`, `error`,
//!   `panic` or `skipped` (another server held the lease), and
//!   `errata_job_duration_seconds{job}` (a histogram of the passes that ran).
//! * **Shutdown**: [`Jobs::shutdown`] stops every job after its running pass (which can
//!   see [`Pass::should_stop`] and finish early between batches) and waits for them.
//! * **Tests** run one pass now and await it with [`Jobs::run_now`], and follow each job's
//!   counters and next due time with [`Jobs::stats`].

mod lease;
mod runner;

use std::error::Error;
use std::fmt;
use std::future::Future;
use std::time::Duration;

use futures::future::BoxFuture;
use tokio::sync::watch;

use crate::clock::Clock;
use crate::store::StoreError;

pub use runner::{JobStats, Jobs, PassReport, RunNowError, RunOutcome, Runner};

/// Periodic work. Implementations are cheap to share (the runner holds them in an `Arc`).
pub trait Job: Send + Sync + 'static {
    /// The job's name: a metric label, the key of [`Jobs::run_now`] and, for
    /// [`Schedule::one_server`] jobs, of the lease (so the same on every server).
    fn name(&self) -> &str;

    /// When passes run. Read once, when the runner starts.
    fn schedule(&self) -> Schedule;

    /// One pass. `Ok(Progress::More)` asks for another pass at once; an error is counted,
    /// logged, and the next pass runs at the next due time.
    fn run(&self, pass: Pass) -> BoxFuture<'_, Result<Progress, JobError>>;

    /// Called once when the runner stops the job, after its last pass.
    fn stopped(&self) -> BoxFuture<'_, ()> {
        Box::pin(std::future::ready(()))
    }
}

/// When a job's passes run: every `interval` plus a random `0..=jitter`, on a [`Timer`],
/// on every server or on one at a time.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Schedule {
    /// Time from the start of one pass to the start of the next.
    pub interval: Duration,
    /// Most extra time added to each wait, chosen at random per pass.
    pub jitter: Duration,
    /// What the wait follows.
    pub timer: Timer,
    /// `Some(lease)`: the job runs on one server at a time, under a lease of this length
    /// (renewed while a pass runs); `None`: every server runs it.
    pub lease: Option<Duration>,
}

/// What a job's wait between passes follows.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Timer {
    /// The server's [`Clock`] (a test's manual clock moves it).
    Clock,
    /// The clock, or real time if that comes first: for polls whose interval is about
    /// latency, not about the time of day.
    Poll,
}

impl Schedule {
    /// Every `interval` on the clock, no jitter, on every server.
    pub fn every(interval: Duration) -> Schedule {
        Schedule {
            interval,
            jitter: Duration::ZERO,
            timer: Timer::Clock,
            lease: None,
        }
    }

    /// A latency poll every `interval` ([`Timer::Poll`]), on every server.
    pub fn poll(interval: Duration) -> Schedule {
        Schedule {
            timer: Timer::Poll,
            ..Schedule::every(interval)
        }
    }

    /// Adds up to `jitter` at random to every wait.
    pub fn with_jitter(self, jitter: Duration) -> Schedule {
        Schedule { jitter, ..self }
    }

    /// Runs on one server at a time under a lease of `lease` (see the module docs). Choose
    /// a lease longer than a pass usually takes; it is renewed every third of it.
    pub fn one_server(self, lease: Duration) -> Schedule {
        Schedule {
            lease: Some(lease.max(Duration::from_millis(3))),
            ..self
        }
    }

    /// The due time after a pass that started at `started_ms` (epoch ms):
    /// `started_ms + interval + random · jitter`, with `random` in `0.0..=1.0`.
    pub fn next_due_ms(&self, started_ms: i64, random: f64) -> i64 {
        let jitter = (ms(self.jitter) as f64 * random.clamp(0.0, 1.0)).round() as i64;
        started_ms
            .saturating_add(ms(self.interval))
            .saturating_add(jitter)
    }

    /// The first due time of a runner started at `now_ms`: `now_ms + random · jitter`.
    pub fn first_due_ms(&self, now_ms: i64, random: f64) -> i64 {
        self.next_due_ms(now_ms, random)
            .saturating_sub(ms(self.interval))
    }
}

/// A duration in whole milliseconds, saturating.
fn ms(d: Duration) -> i64 {
    i64::try_from(d.as_millis()).unwrap_or(i64::MAX)
}

/// What a pass left behind.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Progress {
    /// Nothing urgent is left: the next pass runs at the next due time.
    Done,
    /// Work is left: run the next pass at once (unless the runner is stopping).
    More,
}

/// What a pass is handed.
#[derive(Debug, Clone)]
pub struct Pass {
    /// When the pass started, on the server's clock (epoch ms).
    pub started_ms: i64,
    /// When the last successful pass of this job started, if any: kept across restarts
    /// for [`Schedule::one_server`] jobs, in memory for the others.
    pub last_ok_ms: Option<i64>,
    /// The server's clock.
    pub clock: Clock,
    stop: watch::Receiver<bool>,
}

impl Pass {
    /// A pass outside a runner (a command line running one pass now, unit tests); it is
    /// never asked to stop.
    pub fn standalone(clock: Clock, last_ok_ms: Option<i64>) -> Pass {
        let (_, stop) = watch::channel(false);
        Pass {
            started_ms: clock.now_ms(),
            last_ok_ms,
            clock,
            stop,
        }
    }

    /// True once the runner is shutting down or this runner lost the job's lease: a long
    /// pass should stop between batches and return what it did.
    pub fn should_stop(&self) -> bool {
        *self.stop.borrow()
    }

    /// Resolves once [`Pass::should_stop`] is true (never, for a standalone pass): for a
    /// pass that waits on something, to `select!` against.
    pub async fn stopping(&mut self) {
        if self.stop.wait_for(|stop| *stop).await.is_err() {
            std::future::pending::<()>().await;
        }
    }
}

/// A failed pass: any error, with its message.
#[derive(Debug)]
pub struct JobError(Box<dyn Error + Send + Sync>);

impl JobError {
    /// Wraps an error (or a message).
    pub fn new(e: impl Into<Box<dyn Error + Send + Sync>>) -> JobError {
        JobError(e.into())
    }
}

impl fmt::Display for JobError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.0.fmt(f)
    }
}

impl Error for JobError {
    fn source(&self) -> Option<&(dyn Error + 'static)> {
        self.0.source()
    }
}

impl From<StoreError> for JobError {
    fn from(e: StoreError) -> Self {
        JobError::new(e)
    }
}

/// A job from a closure: `from_fn("name", schedule, |pass| async move { … })`.
pub fn from_fn<F, Fut>(name: impl Into<String>, schedule: Schedule, run: F) -> FnJob<F>
where
    F: Fn(Pass) -> Fut + Send + Sync + 'static,
    Fut: Future<Output = Result<Progress, JobError>> + Send + 'static,
{
    FnJob {
        name: name.into(),
        schedule,
        run,
    }
}

/// The job [`from_fn`] makes.
pub struct FnJob<F> {
    name: String,
    schedule: Schedule,
    run: F,
}

impl<F, Fut> Job for FnJob<F>
where
    F: Fn(Pass) -> Fut + Send + Sync + 'static,
    Fut: Future<Output = Result<Progress, JobError>> + Send + 'static,
{
    fn name(&self) -> &str {
        &self.name
    }

    fn schedule(&self) -> Schedule {
        self.schedule
    }

    fn run(&self, pass: Pass) -> BoxFuture<'_, Result<Progress, JobError>> {
        Box::pin((self.run)(pass))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::clock::{MINUTE_MS, SECOND_MS};

    #[test]
    fn due_times_stay_within_interval_and_jitter() {
        let s = Schedule::every(Duration::from_secs(60)).with_jitter(Duration::from_secs(10));
        assert_eq!(s.next_due_ms(1_000, 0.0), 1_000 + MINUTE_MS);
        assert_eq!(
            s.next_due_ms(1_000, 1.0),
            1_000 + MINUTE_MS + 10 * SECOND_MS
        );
        for _ in 0..200 {
            let due = s.next_due_ms(0, rand::random());
            assert!(
                (MINUTE_MS..=MINUTE_MS + 10 * SECOND_MS).contains(&due),
                "{due}"
            );
            let first = s.first_due_ms(0, rand::random());
            assert!((0..=10 * SECOND_MS).contains(&first), "{first}");
        }
        assert_eq!(s.next_due_ms(i64::MAX - 5, 1.0), i64::MAX);
    }

    #[test]
    fn builders_set_timer_and_lease() {
        let s = Schedule::poll(Duration::from_millis(20)).one_server(Duration::from_secs(60));
        assert_eq!(s.timer, Timer::Poll);
        assert_eq!(s.lease, Some(Duration::from_secs(60)));
        assert_eq!(Schedule::every(Duration::from_secs(1)).lease, None);
    }
}
