//! The maintenance runner: a manual clock drives job schedules (interval and jitter bounds),
//! failing and panicking passes are counted in `/metrics` and the runner goes on, shutdown
//! waits for a running pass, and leases let exactly one of two runners on one database run
//! each pass (SQLite and PostgreSQL), including after a lease holder died.
//!
//! Every wait is on an event: a job's stats (`Jobs::stats`) or a channel the job writes to.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use anyhow::{ensure, Context, Result};
use errata_server::clock::{Clock, HOUR_MS, MINUTE_MS, SECOND_MS};
use errata_server::jobs::{
    self, Job, JobError, JobStats, Jobs, Pass, Progress, RunNowError, RunOutcome, Runner, Schedule,
};
use errata_server::store::leases::LeaseClaim;
use errata_server::store::Store;
use futures::future::BoxFuture;
use tokio::sync::{mpsc, watch, Notify};

use crate::store::{run_postgres, run_sqlite, Ctx};

/// Longest wait for anything the runner does.
const DEADLINE: Duration = Duration::from_secs(30);
/// Where the manual clocks start: 2024-01-01T00:00:00Z.
const START_MS: i64 = 1_704_067_200_000;

const HOUR: Duration = Duration::from_secs(3600);

/// A fresh SQLite store in a temporary directory.
async fn sqlite_store() -> (Store, tempfile::TempDir) {
    let dir = tempfile::tempdir().expect("dir");
    let url = format!("sqlite://{}", dir.path().join("errata.db").display());
    (Store::connect(&url).await.expect("store"), dir)
}

/// Waits until a job's stats satisfy `ok`, failing after [`DEADLINE`].
async fn wait_stats(
    stats: &mut watch::Receiver<JobStats>,
    what: &str,
    ok: impl FnMut(&JobStats) -> bool,
) -> JobStats {
    tokio::time::timeout(DEADLINE, stats.wait_for(ok))
        .await
        .unwrap_or_else(|_| panic!("timed out waiting for {what}"))
        .expect("runner alive")
        .clone()
}

/// A job that reports each pass (its start and `last_ok_ms`) on a channel.
fn recording_job(
    name: &str,
    schedule: Schedule,
) -> (impl Job, mpsc::UnboundedReceiver<(i64, Option<i64>)>) {
    let (tx, rx) = mpsc::unbounded_channel();
    let job = jobs::from_fn(name, schedule, move |pass: Pass| {
        let tx = tx.clone();
        async move {
            let _ = tx.send((pass.started_ms, pass.last_ok_ms));
            Ok(Progress::Done)
        }
    });
    (job, rx)
}

async fn next_pass(rx: &mut mpsc::UnboundedReceiver<(i64, Option<i64>)>) -> (i64, Option<i64>) {
    tokio::time::timeout(DEADLINE, rx.recv())
        .await
        .expect("a pass in time")
        .expect("job alive")
}

#[tokio::test]
async fn a_manual_clock_drives_the_schedule() {
    let (store, _dir) = sqlite_store().await;
    let clock = Clock::manual(START_MS);
    let (job, mut passes) = recording_job("hourly", Schedule::every(HOUR));
    let mut runner = Runner::new(store.clone(), clock.clone());
    runner.add(job);
    let jobs = runner.start();
    let mut stats = jobs.stats("hourly").expect("stats");

    // The first pass runs at the start (no jitter), then one an hour later.
    assert_eq!(next_pass(&mut passes).await, (START_MS, None));
    let s = wait_stats(&mut stats, "the next due time", |s| {
        s.ok == 1 && s.next_due_ms == Some(START_MS + HOUR_MS)
    })
    .await;
    assert_eq!(s.last.expect("a report").outcome, RunOutcome::Ok);

    // 59 minutes: not due. The hour: the job runs at once, told when the last one ran.
    clock.advance(Duration::from_secs(59 * 60));
    tokio::task::yield_now().await;
    assert!(passes.try_recv().is_err(), "ran before it was due");
    clock.advance(Duration::from_secs(60));
    assert_eq!(
        next_pass(&mut passes).await,
        (START_MS + HOUR_MS, Some(START_MS))
    );

    // Three hours at once: one pass (catching up is the job's business, with last_ok_ms),
    // and the next one an interval after it.
    clock.advance(3 * HOUR);
    assert_eq!(
        next_pass(&mut passes).await,
        (START_MS + 4 * HOUR_MS, Some(START_MS + HOUR_MS))
    );
    wait_stats(&mut stats, "the next due time", |s| {
        s.next_due_ms == Some(START_MS + 5 * HOUR_MS)
    })
    .await;
    assert!(passes.try_recv().is_err());

    // A pass asked for now runs now and restarts the interval.
    clock.advance(Duration::from_secs(600));
    let report = jobs.run_now("hourly").await.expect("run now");
    assert_eq!(report.outcome, RunOutcome::Ok);
    assert_eq!(report.started_ms, START_MS + 4 * HOUR_MS + 10 * MINUTE_MS);
    assert_eq!(next_pass(&mut passes).await.0, report.started_ms);
    wait_stats(&mut stats, "the restarted interval", |s| {
        s.next_due_ms == Some(report.started_ms + HOUR_MS)
    })
    .await;
    assert_eq!(
        jobs.run_now("nope").await,
        Err(RunNowError::Unknown("nope".into()))
    );
    jobs.shutdown().await;
    store.close().await;
}

#[tokio::test]
async fn jitter_keeps_each_wait_between_interval_and_interval_plus_jitter() {
    let (store, _dir) = sqlite_store().await;
    let clock = Clock::manual(START_MS);
    let schedule = Schedule::every(Duration::from_secs(60)).with_jitter(Duration::from_secs(10));
    let (job, mut passes) = recording_job("jittery", schedule);
    let mut runner = Runner::new(store.clone(), clock.clone());
    runner.add(job);
    let jobs = runner.start();
    let mut stats = jobs.stats("jittery").expect("stats");

    let mut offsets = std::collections::BTreeSet::new();
    let mut last_start = START_MS - 1;
    for round in 0..20 {
        // The due time the runner waits for (a zero jitter drawn first runs at once).
        let s = wait_stats(&mut stats, "a due time", |s| {
            s.runs() > round || s.next_due_ms.is_some_and(|d| d > last_start)
        })
        .await;
        let due = match (s.runs() > round, s.next_due_ms, s.last) {
            (true, _, Some(last)) => last.started_ms,
            (_, Some(due), _) => due,
            _ => unreachable!("waited for one of them"),
        };
        let (low, high) = if round == 0 {
            (START_MS, START_MS + 10 * SECOND_MS)
        } else {
            (last_start + 60 * SECOND_MS, last_start + 70 * SECOND_MS)
        };
        assert!((low..=high).contains(&due), "round {round}: {due}");
        offsets.insert(due - low);
        clock.set_ms(due);
        last_start = next_pass(&mut passes).await.0;
        assert_eq!(last_start, due);
    }
    assert!(offsets.len() > 1, "jitter varies: {offsets:?}");
    jobs.shutdown().await;
    store.close().await;
}

#[tokio::test]
async fn failing_and_panicking_passes_are_counted_and_the_runner_goes_on() {
    // Install the process's recorder before anything counts.
    let recorder = errata_server::telemetry::metrics_handle();
    let (store, _dir) = sqlite_store().await;
    let clock = Clock::manual(START_MS);
    let calls = Arc::new(AtomicUsize::new(0));
    let counter = calls.clone();
    let name = format!("flaky-{}", rand::random::<u32>());
    let job = jobs::from_fn(&name, Schedule::every(HOUR), move |_| {
        let n = counter.fetch_add(1, Ordering::SeqCst);
        async move {
            match n {
                0 => Ok(Progress::Done),
                1 => Err(JobError::new("the disk is on fire")),
                2 => panic!("a bug in the job (a panic this test provokes)"),
                _ => Ok(Progress::Done),
            }
        }
    });
    let mut runner = Runner::new(store.clone(), clock.clone());
    runner.add(job);
    let jobs = runner.start();
    let mut stats = jobs.stats(&name).expect("stats");
    wait_stats(&mut stats, "the first pass", |s| s.ok == 1).await;

    let failed = jobs.run_now(&name).await.expect("run");
    assert_eq!(
        failed.outcome,
        RunOutcome::Error("the disk is on fire".into())
    );
    let panicked = jobs.run_now(&name).await.expect("run");
    assert_eq!(panicked.outcome, RunOutcome::Panic);
    // The schedule goes on after both.
    clock.advance(HOUR);
    let s = wait_stats(&mut stats, "the scheduled pass", |s| s.ok == 2).await;
    assert_eq!((s.ok, s.error, s.panic, s.skipped), (2, 1, 1, 0));

    let metrics = recorder.render();
    let value = |outcome: &str| -> Option<f64> {
        metrics
            .lines()
            .find(|l| {
                l.starts_with("errata_job_runs_total{")
                    && l.contains(&format!("job=\"{name}\""))
                    && l.contains(&format!("outcome=\"{outcome}\""))
            })
            .and_then(|l| l.rsplit(' ').next())
            .and_then(|v| v.parse().ok())
    };
    assert_eq!(value("ok"), Some(2.0), "{metrics}");
    assert_eq!(value("error"), Some(1.0));
    assert_eq!(value("panic"), Some(1.0));
    let durations = metrics
        .lines()
        .find(|l| {
            l.starts_with(&format!(
                "errata_job_duration_seconds_count{{job=\"{name}\"}}"
            ))
        })
        .expect("duration histogram");
    assert!(durations.ends_with(" 4"), "{durations}");
    jobs.shutdown().await;
    store.close().await;
}

/// A job whose pass waits for the runner to stop, then for the test to release it.
struct Blocking {
    started: Arc<Notify>,
    saw_stop: Arc<Notify>,
    release: Arc<Notify>,
    finished: Arc<AtomicUsize>,
    stopped: Arc<AtomicUsize>,
}

impl Job for Blocking {
    fn name(&self) -> &str {
        "blocking"
    }

    fn schedule(&self) -> Schedule {
        Schedule::every(HOUR)
    }

    fn run(&self, mut pass: Pass) -> BoxFuture<'_, Result<Progress, JobError>> {
        Box::pin(async move {
            self.started.notify_one();
            pass.stopping().await;
            self.saw_stop.notify_one();
            self.release.notified().await;
            self.finished.fetch_add(1, Ordering::SeqCst);
            Ok(Progress::More)
        })
    }

    fn stopped(&self) -> BoxFuture<'_, ()> {
        Box::pin(async move {
            self.stopped.fetch_add(1, Ordering::SeqCst);
        })
    }
}

#[tokio::test]
async fn shutdown_waits_for_the_running_pass() {
    let (store, _dir) = sqlite_store().await;
    let job = Blocking {
        started: Arc::default(),
        saw_stop: Arc::default(),
        release: Arc::default(),
        finished: Arc::default(),
        stopped: Arc::default(),
    };
    let (started, saw_stop, release) = (
        job.started.clone(),
        job.saw_stop.clone(),
        job.release.clone(),
    );
    let (finished, stopped) = (job.finished.clone(), job.stopped.clone());
    let mut runner = Runner::new(store.clone(), Clock::manual(START_MS));
    runner.add(job);
    let jobs = runner.start();
    tokio::time::timeout(DEADLINE, started.notified())
        .await
        .expect("the first pass starts");

    let stopping = tokio::spawn({
        let jobs = jobs.clone();
        async move { jobs.shutdown().await }
    });
    // The pass is told to stop and is still running: shutdown waits for it.
    tokio::time::timeout(DEADLINE, saw_stop.notified())
        .await
        .expect("the pass sees the stop");
    assert!(!stopping.is_finished());
    assert_eq!(finished.load(Ordering::SeqCst), 0);
    release.notify_one();
    tokio::time::timeout(DEADLINE, stopping)
        .await
        .expect("shutdown ends")
        .expect("joined");
    // The pass finished (its "more" ignored while stopping), the job was told, and
    // nothing runs any more.
    assert_eq!(finished.load(Ordering::SeqCst), 1);
    assert_eq!(stopped.load(Ordering::SeqCst), 1);
    let stats = jobs.stats("blocking").expect("stats").borrow().clone();
    assert_eq!(stats.ok, 1);
    assert_eq!(jobs.run_now("blocking").await, Err(RunNowError::Stopped));
    jobs.shutdown().await;
    store.close().await;
}

/// What the passes of the shared job saw: (runner, started_ms, last_ok_ms).
type Seen = Arc<Mutex<Vec<(&'static str, i64, Option<i64>)>>>;

fn leased_runner(store: Store, clock: &Clock, who: &'static str, seen: &Seen) -> Jobs {
    let seen = seen.clone();
    let schedule = Schedule::every(HOUR).one_server(Duration::from_secs(300));
    let job = jobs::from_fn("tick", schedule, move |pass: Pass| {
        let seen = seen.clone();
        async move {
            seen.lock()
                .expect("lock")
                .push((who, pass.started_ms, pass.last_ok_ms));
            Ok(Progress::Done)
        }
    });
    let mut runner = Runner::new(store, clock.clone());
    runner.add(job);
    runner.start()
}

/// Two runners on two pools of one database, one manual clock: every hour exactly one of
/// them runs the pass and the other skips it; a third runner started later continues from
/// the last successful pass.
async fn one_of_two_runners_runs_each_pass(ctx: Ctx) -> Result<()> {
    let clock = Clock::manual(START_MS);
    let seen: Seen = Arc::default();
    let a = leased_runner(ctx.store.clone(), &clock, "a", &seen);
    let b = leased_runner(ctx.second_store().await?, &clock, "b", &seen);
    let (mut sa, mut sb) = (
        a.stats("tick").context("stats")?,
        b.stats("tick").context("stats")?,
    );
    const PASSES: u64 = 6;
    // A runner that registers after the other one ran the first pass only waits for the
    // second: the first pass has one skip or none, every later pass exactly one.
    let mut first_skips = None;
    for k in 1..=PASSES {
        let (ra, rb) = tokio::time::timeout(DEADLINE, async {
            loop {
                let (ra, rb) = (sa.borrow().clone(), sb.borrow().clone());
                // Both woke for the pass, and both plan the next one an hour on.
                let next = START_MS + k as i64 * HOUR_MS;
                if ra.ok + rb.ok >= k
                    && ra.next_due_ms == Some(next)
                    && rb.next_due_ms == Some(next)
                {
                    return (ra, rb);
                }
                tokio::select! {
                    _ = sa.changed() => {}
                    _ = sb.changed() => {}
                }
            }
        })
        .await
        .with_context(|| format!("pass {k}: {:?} / {:?}", sa.borrow(), sb.borrow()))?;
        let skips = ra.skipped + rb.skipped;
        let first = *first_skips.get_or_insert(skips);
        ensure!(
            ra.ok + rb.ok == k && first <= 1 && skips == k - 1 + first,
            "pass {k}: {ra:?} / {rb:?}"
        );
        ensure!(ra.error + rb.error + ra.panic + rb.panic == 0);
        if k < PASSES {
            clock.advance(HOUR);
        }
    }
    let passes = seen.lock().expect("lock").clone();
    ensure!(passes.len() == PASSES as usize, "{passes:?}");
    for (k, (_, started, last_ok)) in passes.iter().enumerate() {
        ensure!(*started == START_MS + k as i64 * HOUR_MS, "{passes:?}");
        let previous = (k > 0).then(|| START_MS + (k as i64 - 1) * HOUR_MS);
        ensure!(*last_ok == previous, "pass {k} saw {last_ok:?}: {passes:?}");
    }
    println!(
        "{:?}: runner a ran {:?}",
        ctx.store.backend(),
        passes.iter().filter(|p| p.0 == "a").count()
    );
    a.shutdown().await;
    b.shutdown().await;
    let row = ctx.store.job_lease("tick").await?.context("a lease row")?;
    ensure!(row.holder.is_none() && row.last_error.is_none(), "{row:?}");
    ensure!(row.last_ok_ms == Some(START_MS + (PASSES as i64 - 1) * HOUR_MS));
    ensure!(row.next_run_ms == START_MS + PASSES as i64 * HOUR_MS);

    // A restart continues the shared schedule: the next pass is due at the stored time,
    // and it knows when the last one succeeded.
    let c = leased_runner(ctx.second_store().await?, &clock, "c", &seen);
    let mut sc = c.stats("tick").context("stats")?;
    wait_stats(&mut sc, "the shared due time", |s| {
        s.next_due_ms == Some(START_MS + PASSES as i64 * HOUR_MS)
    })
    .await;
    clock.advance(HOUR);
    wait_stats(&mut sc, "the pass after the restart", |s| s.ok == 1).await;
    let last = *seen.lock().expect("lock").last().context("a pass")?;
    ensure!(
        last == (
            "c",
            START_MS + PASSES as i64 * HOUR_MS,
            Some(START_MS + (PASSES as i64 - 1) * HOUR_MS)
        ),
        "{last:?}"
    );
    c.shutdown().await;
    Ok(())
}

/// A lease whose holder died in a long pass (it never renews or releases) is taken over
/// once it expires, not before, even though the next pass was due earlier.
async fn a_dead_holders_lease_is_taken_over_when_it_expires(ctx: Ctx) -> Result<()> {
    let clock = Clock::manual(START_MS);
    ctx.store.register_job_lease("tick", START_MS).await?;
    let claimed = ctx
        .store
        .claim_job_lease(&LeaseClaim {
            job: "tick",
            holder: "a-dead-server",
            now_ms: START_MS,
            lease_until_ms: START_MS + 2 * HOUR_MS,
            next_run_ms: START_MS + HOUR_MS,
            force: false,
        })
        .await?;
    ensure!(claimed);
    clock.advance(Duration::from_secs(60));
    let seen: Seen = Arc::default();
    let runner = leased_runner(ctx.store.clone(), &clock, "live", &seen);
    let mut stats = runner.stats("tick").context("stats")?;
    // When the next pass is due, or asked for now: the lease still holds.
    clock.set_ms(START_MS + HOUR_MS);
    wait_stats(&mut stats, "the wait for the lease", |s| {
        s.skipped == 1 && s.next_due_ms == Some(START_MS + 2 * HOUR_MS)
    })
    .await;
    let report = runner.run_now("tick").await?;
    ensure!(report.outcome == RunOutcome::Skipped, "{report:?}");
    let s = wait_stats(&mut stats, "the wait for the lease", |s| {
        s.next_due_ms == Some(START_MS + 2 * HOUR_MS)
    })
    .await;
    ensure!(s.ok == 0 && s.skipped == 2, "{s:?}");
    // Expired: taken over.
    clock.set_ms(START_MS + 2 * HOUR_MS);
    wait_stats(&mut stats, "the take-over", |s| s.ok == 1).await;
    ensure!(seen.lock().expect("lock").len() == 1);
    let row = ctx.store.job_lease("tick").await?.context("row")?;
    ensure!(
        row.holder.is_none() && row.last_ok_ms == Some(START_MS + 2 * HOUR_MS),
        "{row:?}"
    );
    runner.shutdown().await;
    Ok(())
}

/// A leased job's pass that holds SQLite's write lock (its own connection, as a pass inside a
/// write transaction does) until the test lets it go, which it sees only if it is polled.
fn lock_holding_job(
    path: std::path::PathBuf,
    started: Arc<Notify>,
    release: Arc<Notify>,
) -> impl Job {
    let schedule = Schedule::every(HOUR).one_server(Duration::from_secs(300));
    jobs::from_fn("locking", schedule, move |_pass: Pass| {
        let (path, started, release) = (path.clone(), started.clone(), release.clone());
        async move {
            let conn = rusqlite::Connection::open(&path).map_err(JobError::new)?;
            conn.execute_batch("begin immediate")
                .map_err(JobError::new)?;
            started.notify_one();
            release.notified().await;
            conn.execute_batch("commit").map_err(JobError::new)?;
            Ok(Progress::Done)
        }
    })
}

/// The lease is renewed beside a running pass, not instead of it: when the renewal is due
/// while the pass holds the database's write lock, the pass still runs on, lets the lock go,
/// and the renewal then succeeds. (Awaiting the renewal in place stalled both for SQLite's
/// busy timeout and failed the renewal, and every other writer meanwhile: seen as "database is
/// locked" in the monitor tests.)
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_lease_is_renewed_beside_a_pass_that_holds_the_write_lock() {
    let (store, dir) = sqlite_store().await;
    let clock = Clock::manual(START_MS);
    let (started, release) = (Arc::new(Notify::new()), Arc::new(Notify::new()));
    let mut runner = Runner::new(store.clone(), clock.clone());
    runner.add(lock_holding_job(
        dir.path().join("errata.db"),
        started.clone(),
        release.clone(),
    ));
    let jobs = runner.start();
    let mut stats = jobs.stats("locking").expect("stats");
    tokio::time::timeout(DEADLINE, started.notified())
        .await
        .expect("the first pass starts");
    // Past the renewal time (a third of the lease): the runner starts renewing, which waits
    // for the pass's lock.
    clock.advance(Duration::from_secs(120));
    tokio::time::sleep(Duration::from_millis(200)).await;
    let released = std::time::Instant::now();
    release.notify_one();
    let s = wait_stats(&mut stats, "the pass", |s| s.ok == 1).await;
    assert!(
        released.elapsed() < Duration::from_secs(3),
        "the pass waited {:?} for the renewal (SQLite's busy timeout is 5 s): {s:?}",
        released.elapsed()
    );
    jobs.shutdown().await;
    let after = store
        .job_lease("locking")
        .await
        .expect("row")
        .expect("registered");
    assert!(
        after.holder.is_none() && after.last_ok_ms.is_some(),
        "{after:?}"
    );
    store.close().await;
}

/// A test on SQLite and one on PostgreSQL for each `async fn(Ctx) -> Result<()>`.
macro_rules! on_both_engines {
    ($($test:ident => $sqlite:ident, $postgres:ident;)*) => {$(
        #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
        async fn $sqlite() -> Result<()> {
            run_sqlite($test).await
        }

        #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
        async fn $postgres() -> Result<()> {
            run_postgres($test).await
        }
    )*};
}

on_both_engines! {
    one_of_two_runners_runs_each_pass =>
        one_of_two_runners_on_sqlite_runs_each_pass,
        one_of_two_runners_on_postgres_runs_each_pass;
    a_dead_holders_lease_is_taken_over_when_it_expires =>
        a_dead_holders_lease_is_taken_over_on_sqlite,
        a_dead_holders_lease_is_taken_over_on_postgres;
}
