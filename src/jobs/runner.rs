//! The runner: one task per job that waits for the due time (or a request to run now), runs
//! the pass under its lease when it has one, records it and plans the next. See the module
//! docs of [`crate::jobs`] for the rules.

use std::collections::BTreeMap;
use std::future::Future;
use std::panic::AssertUnwindSafe;
use std::pin::Pin;
use std::sync::Arc;
use std::time::{Duration, Instant};

use futures::FutureExt;
use tokio::sync::{mpsc, oneshot, watch, Mutex};
use tokio::task::JoinSet;

use super::lease::{Claimed, Lease};
use super::{ms, Job, JobError, Pass, Progress, Schedule, Timer};
use crate::clock::Clock;
use crate::store::Store;

/// How one pass ended; the `outcome` label of `errata_job_runs_total`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum RunOutcome {
    /// The pass succeeded.
    Ok,
    /// The pass (or claiming its lease) failed with this message.
    Error(String),
    /// The pass panicked.
    Panic,
    /// Not run: another server holds the job's lease, or already ran this pass.
    Skipped,
}

impl RunOutcome {
    /// `ok`, `error`, `panic` or `skipped`.
    pub fn label(&self) -> &'static str {
        match self {
            RunOutcome::Ok => "ok",
            RunOutcome::Error(_) => "error",
            RunOutcome::Panic => "panic",
            RunOutcome::Skipped => "skipped",
        }
    }
}

/// What one pass did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PassReport {
    /// How it ended.
    pub outcome: RunOutcome,
    /// What the job reported, for a successful pass.
    pub progress: Option<Progress>,
    /// When it started, on the server's clock (epoch ms).
    pub started_ms: i64,
    /// How long it ran (real time; zero when skipped).
    pub duration: Duration,
}

/// One job's counters in one runner, and when its next pass is due.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct JobStats {
    /// Successful passes.
    pub ok: u64,
    /// Failed passes.
    pub error: u64,
    /// Passes that panicked.
    pub panic: u64,
    /// Passes left to another server.
    pub skipped: u64,
    /// When the runner next wakes for the job (epoch ms, server clock); `None` before it
    /// started.
    pub next_due_ms: Option<i64>,
    /// The latest pass.
    pub last: Option<PassReport>,
}

impl JobStats {
    /// Passes that ran (whatever their outcome).
    pub fn runs(&self) -> u64 {
        self.ok + self.error + self.panic
    }
}

/// Why [`Jobs::run_now`] could not run a pass.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum RunNowError {
    /// No job of that name was added.
    #[error("no job named {0:?}")]
    Unknown(String),
    /// The runner is shutting down or has stopped.
    #[error("the job runner has stopped")]
    Stopped,
}

/// Jobs to run; [`Runner::start`] starts them.
pub struct Runner {
    store: Store,
    clock: Clock,
    jobs: Vec<Arc<dyn Job>>,
}

impl Runner {
    /// A runner whose jobs read `clock` and keep their leases in `store`.
    pub fn new(store: Store, clock: Clock) -> Runner {
        Runner {
            store,
            clock,
            jobs: Vec::new(),
        }
    }

    /// Adds a job (names must be unique: a second job of one name is not run).
    pub fn add(&mut self, job: impl Job) -> &mut Runner {
        self.jobs.push(Arc::new(job));
        self
    }

    /// Starts every job on the current tokio runtime, each on its own task.
    pub fn start(self) -> Jobs {
        describe_metrics();
        let (stop, _) = watch::channel(false);
        // Unique per runner, so two servers (or two runners in one test) never share a lease.
        let holder = format!(
            "{}-{}",
            std::process::id(),
            hex::encode(rand::random::<[u8; 6]>())
        );
        let mut tasks = JoinSet::new();
        let mut entries = BTreeMap::new();
        for job in self.jobs {
            let name = job.name().to_owned();
            if entries.contains_key(&name) {
                tracing::error!(job = %name, "two jobs share a name; the second one does not run");
                continue;
            }
            let schedule = job.schedule();
            let (requests, inbox) = mpsc::channel(8);
            let (stats_tx, stats) = watch::channel(JobStats::default());
            let task = JobTask {
                lease: schedule
                    .lease
                    .map(|l| Lease::new(self.store.clone(), &name, &holder, ms(l))),
                job,
                name: name.clone(),
                schedule,
                clock: self.clock.clone(),
                stop: stop.subscribe(),
                stats: stats_tx,
                last_ok_ms: None,
            };
            tasks.spawn(task.drive(inbox));
            entries.insert(name, Entry { requests, stats });
        }
        Jobs {
            inner: Arc::new(Inner {
                entries,
                stop,
                tasks: Mutex::new(Some(tasks)),
            }),
        }
    }
}

/// The running jobs. Cheap to clone; [`Jobs::shutdown`] on any clone stops them all.
#[derive(Clone)]
pub struct Jobs {
    inner: Arc<Inner>,
}

struct Inner {
    entries: BTreeMap<String, Entry>,
    stop: watch::Sender<bool>,
    tasks: Mutex<Option<JoinSet<()>>>,
}

struct Entry {
    requests: mpsc::Sender<oneshot::Sender<PassReport>>,
    stats: watch::Receiver<JobStats>,
}

impl std::fmt::Debug for Jobs {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_list().entries(self.inner.entries.keys()).finish()
    }
}

impl Jobs {
    /// The names of the running jobs, sorted.
    pub fn names(&self) -> Vec<String> {
        self.inner.entries.keys().cloned().collect()
    }

    /// Runs a pass of `name` as soon as its current one (if any) ends, and returns its
    /// report. A job with a lease still leaves the pass to another server that holds it
    /// ([`RunOutcome::Skipped`]). The next scheduled pass follows a full interval later.
    pub async fn run_now(&self, name: &str) -> Result<PassReport, RunNowError> {
        let entry = self
            .inner
            .entries
            .get(name)
            .ok_or_else(|| RunNowError::Unknown(name.to_owned()))?;
        let (reply, report) = oneshot::channel();
        entry
            .requests
            .send(reply)
            .await
            .map_err(|_| RunNowError::Stopped)?;
        report.await.map_err(|_| RunNowError::Stopped)
    }

    /// Follows a job's counters (`None` for an unknown job): tests wait on it with
    /// `watch::Receiver::wait_for`.
    pub fn stats(&self, name: &str) -> Option<watch::Receiver<JobStats>> {
        self.inner.entries.get(name).map(|e| e.stats.clone())
    }

    /// Stops every job after its running pass and waits for them. Later calls return at
    /// once.
    pub async fn shutdown(&self) {
        self.inner.stop.send_replace(true);
        let tasks = self.inner.tasks.lock().await.take();
        if let Some(mut tasks) = tasks {
            while let Some(joined) = tasks.join_next().await {
                if let Err(e) = joined {
                    tracing::error!(error = %e, "a job task failed");
                }
            }
        }
    }
}

/// One job's loop.
struct JobTask {
    job: Arc<dyn Job>,
    name: String,
    schedule: Schedule,
    clock: Clock,
    lease: Option<Lease>,
    stop: watch::Receiver<bool>,
    stats: watch::Sender<JobStats>,
    last_ok_ms: Option<i64>,
}

type PassResult = std::thread::Result<Result<Progress, JobError>>;
type RenewResult = Result<bool, crate::store::StoreError>;

impl JobTask {
    async fn drive(mut self, mut inbox: mpsc::Receiver<oneshot::Sender<PassReport>>) {
        let mut due = self.first_due().await;
        let mut inbox_open = true;
        loop {
            if *self.stop.borrow() {
                break;
            }
            self.stats.send_modify(|s| s.next_due_ms = Some(due));
            let reply = tokio::select! {
                biased;
                changed = self.stop.changed() => {
                    if changed.is_err() {
                        break;
                    }
                    continue;
                }
                request = inbox.recv(), if inbox_open => match request {
                    Some(reply) => Some(reply),
                    None => {
                        inbox_open = false;
                        continue;
                    }
                },
                () = wait_until(&self.clock, due, self.schedule.timer) => None,
            };
            let (report, next) = self.pass(reply.is_some()).await;
            due = next;
            if let Some(reply) = reply {
                let _ = reply.send(report);
            }
        }
        self.let_go().await;
        self.job.stopped().await;
    }

    /// The first due time: soon after the start (within the jitter), or the shared due
    /// time of a job with a lease.
    async fn first_due(&mut self) -> i64 {
        let first = self
            .schedule
            .first_due_ms(self.clock.now_ms(), rand::random());
        let Some(lease) = &mut self.lease else {
            return first;
        };
        match lease.register(first).await {
            Ok(due) => due,
            Err(e) => {
                tracing::warn!(job = %self.name, error = %e, "cannot register the job's lease, will retry");
                first
            }
        }
    }

    /// Runs one pass (if the lease allows) and returns its report and the next due time.
    async fn pass(&mut self, forced: bool) -> (PassReport, i64) {
        let started_ms = self.clock.now_ms();
        let planned = self.schedule.next_due_ms(started_ms, rand::random());
        let mut last_ok_ms = self.last_ok_ms;
        if let Some(lease) = &mut self.lease {
            match lease.claim(started_ms, planned, forced).await {
                Ok(Claimed::Yes { last_ok_ms: shared }) => last_ok_ms = shared,
                Ok(Claimed::No { retry_at_ms }) => {
                    let report = self.record(RunOutcome::Skipped, None, started_ms, Duration::ZERO);
                    return (report, retry_at_ms.unwrap_or(planned));
                }
                Err(e) => {
                    let outcome = RunOutcome::Error(format!("cannot claim the job's lease: {e}"));
                    let report = self.record(outcome, None, started_ms, Duration::ZERO);
                    return (report, planned);
                }
            }
        }
        let began = Instant::now();
        let result = self.await_pass(started_ms, last_ok_ms).await;
        let duration = began.elapsed();
        let (outcome, progress) = match result {
            Ok(Ok(progress)) => (RunOutcome::Ok, Some(progress)),
            Ok(Err(e)) => (RunOutcome::Error(e.to_string()), None),
            Err(panic) => {
                let message = panic
                    .downcast_ref::<&str>()
                    .map(|s| (*s).to_owned())
                    .or_else(|| panic.downcast_ref::<String>().cloned())
                    .unwrap_or_default();
                tracing::error!(job = %self.name, panic = %message, "job pass panicked");
                (RunOutcome::Panic, None)
            }
        };
        let more = progress == Some(Progress::More) && !*self.stop.borrow();
        if outcome == RunOutcome::Ok {
            self.last_ok_ms = Some(started_ms);
        }
        if let Some(lease) = &mut self.lease {
            let error = match &outcome {
                RunOutcome::Error(e) => Some(e.as_str()),
                RunOutcome::Panic => Some("the pass panicked"),
                _ => None,
            };
            let ok_started = (outcome == RunOutcome::Ok).then_some(started_ms);
            match lease
                .finish(self.clock.now_ms(), ok_started, error, !more)
                .await
            {
                Ok(true) => {}
                Ok(false) => {
                    tracing::warn!(job = %self.name, "the job's lease expired during its pass")
                }
                Err(e) => {
                    tracing::warn!(job = %self.name, error = %e, "cannot record the job's pass")
                }
            }
        }
        let report = self.record(outcome, progress, started_ms, duration);
        let next = if more { self.clock.now_ms() } else { planned };
        (report, next)
    }

    /// Runs the job's pass to its end, catching a panic; meanwhile renews the lease and
    /// tells the pass when to stop (shutdown, or the lease was lost).
    async fn await_pass(&mut self, started_ms: i64, last_ok_ms: Option<i64>) -> PassResult {
        let (stop_pass, stop_rx) = watch::channel(*self.stop.borrow());
        let pass = Pass {
            started_ms,
            last_ok_ms,
            clock: self.clock.clone(),
            stop: stop_rx,
        };
        let job = Arc::clone(&self.job);
        let run = AssertUnwindSafe(job.run(pass)).catch_unwind();
        tokio::pin!(run);
        let mut stop = self.stop.clone();
        let mut stop_seen = *stop.borrow();
        let renew_every = self.lease.as_ref().map(Lease::renew_every_ms);
        let mut renew_at = renew_every.map(|every| started_ms.saturating_add(every));
        // The renewal runs beside the pass, never instead of it: awaiting it while the pass
        // sits suspended in a SQLite write transaction would wait for that transaction's lock
        // and stall both for the busy timeout.
        let mut renewing: Option<Pin<Box<dyn Future<Output = RenewResult> + Send + '_>>> = None;
        loop {
            tokio::select! {
                result = &mut run => return result,
                _ = stop.changed(), if !stop_seen => {
                    stop_seen = true;
                    stop_pass.send_replace(true);
                }
                () = wait_until_some(&self.clock, renew_at, self.schedule.timer), if renewing.is_none() => {
                    let now = self.clock.now_ms();
                    renew_at = renew_every.map(|every| now.saturating_add(every));
                    if let Some(lease) = &self.lease {
                        renewing = Some(Box::pin(lease.renew(now)));
                    }
                }
                renewed = async { renewing.as_mut().expect("guarded by is_some").await }, if renewing.is_some() => {
                    renewing = None;
                    match renewed {
                        Ok(true) => {}
                        Ok(false) => {
                            tracing::warn!(job = %self.name, "lost the job's lease during its pass");
                            stop_pass.send_replace(true);
                            renew_at = None;
                        }
                        Err(e) => tracing::warn!(job = %self.name, error = %e, "cannot renew the job's lease"),
                    }
                }
            }
        }
    }

    /// Counts a pass in the metrics and the stats, and logs a failure.
    fn record(
        &self,
        outcome: RunOutcome,
        progress: Option<Progress>,
        started_ms: i64,
        duration: Duration,
    ) -> PassReport {
        metrics::counter!("errata_job_runs_total", "job" => self.name.clone(), "outcome" => outcome.label())
            .increment(1);
        match &outcome {
            RunOutcome::Skipped => {
                tracing::debug!(job = %self.name, "job pass left to the lease holder");
            }
            RunOutcome::Error(e) => {
                tracing::warn!(job = %self.name, error = %e, "job pass failed");
            }
            RunOutcome::Ok | RunOutcome::Panic => {}
        }
        if outcome != RunOutcome::Skipped {
            metrics::histogram!("errata_job_duration_seconds", "job" => self.name.clone())
                .record(duration.as_secs_f64());
        }
        let report = PassReport {
            outcome,
            progress,
            started_ms,
            duration,
        };
        self.stats.send_modify(|s| {
            match report.outcome {
                RunOutcome::Ok => s.ok += 1,
                RunOutcome::Error(_) => s.error += 1,
                RunOutcome::Panic => s.panic += 1,
                RunOutcome::Skipped => s.skipped += 1,
            }
            s.last = Some(report.clone());
        });
        report
    }

    /// Releases a lease still held between passes (the runner stopped during a series of
    /// passes that asked for more).
    async fn let_go(&mut self) {
        let now = self.clock.now_ms();
        if let Some(lease) = self.lease.as_mut().filter(|l| l.held()) {
            if let Err(e) = lease.finish(now, None, None, true).await {
                tracing::warn!(job = %self.name, error = %e, "cannot release the job's lease");
            }
        }
    }
}

/// Waits until `clock` reads `due_ms`; a [`Timer::Poll`] wait also ends once the time left
/// now has passed in real time.
async fn wait_until(clock: &Clock, due_ms: i64, timer: Timer) {
    match timer {
        Timer::Clock => clock.sleep_until(due_ms).await,
        Timer::Poll => {
            let left = u64::try_from(due_ms.saturating_sub(clock.now_ms())).unwrap_or(0);
            tokio::select! {
                () = clock.sleep_until(due_ms) => {}
                () = tokio::time::sleep(Duration::from_millis(left)) => {}
            }
        }
    }
}

/// [`wait_until`], or forever for `None`.
async fn wait_until_some(clock: &Clock, due_ms: Option<i64>, timer: Timer) {
    match due_ms {
        Some(due) => wait_until(clock, due, timer).await,
        None => std::future::pending().await,
    }
}

fn describe_metrics() {
    use metrics::{describe_counter, describe_histogram, Unit};
    describe_counter!(
        "errata_job_runs_total",
        "maintenance job passes, by job and outcome (ok, error, panic, skipped: another server held the lease)"
    );
    describe_histogram!(
        "errata_job_duration_seconds",
        Unit::Seconds,
        "duration of the maintenance job passes that ran, by job"
    );
}
