//! The monitor clock: the `monitor-clock` job of the maintenance runner, a pass every 28 s
//! plus up to 2 s of jitter (so at least every 30 s) on one server at a time, which records
//! what did not happen:
//!
//! * **missed**: an environment whose next check-in was due before now minus its margin
//!   (`next_checkin_latest_ms <= now`) gets a `missed` check-in for that expected time, and
//!   its expectation moves to the next scheduled time; repeated until the expectation is in
//!   the future, so slots that passed while no server ran are caught up, each recorded once.
//! * **timeout**: an `in_progress` check-in past its time-out (start, or last `in_progress`
//!   update, plus `max_runtime`) becomes `timeout`.
//!
//! Both then count as failures towards the monitor's incident ([`super::process::settle`]).
//! Paused monitors are skipped. Exactly once on several servers: the job's lease gives one
//! runner per pass, and every write is idempotent besides: a missed check-in's id is derived
//! from (environment, expected time) and unique per monitor, a time-out only changes a
//! check-in that is still `in_progress`, and each decision is taken on the environment row
//! locked in its transaction. Time is the server's [`Clock`](crate::clock::Clock).

use std::time::Duration;

use futures::future::BoxFuture;
use sha2::{Digest, Sha256};

use super::checkin::CheckInStatus;
use super::process::{count, expect_next, reason, settle, JobResult};
use crate::jobs::{Job, JobError, Pass, Progress, Schedule};
use crate::store::{CheckInChange, NewCheckIn, Store, StoreError};

/// The job's name (its lease and metric label).
pub const JOB_NAME: &str = "monitor-clock";
/// Time between passes, before the jitter (at most [`JITTER`]).
pub const TICK: Duration = Duration::from_secs(28);
/// Most random time added to a wait, so servers do not tick in step.
pub const JITTER: Duration = Duration::from_secs(2);
/// Environments and check-ins handled per pass and kind; a pass that found more asks for
/// another at once.
const BATCH: usize = 200;
/// Most missed check-ins recorded for one environment in one transaction (catching up on a
/// long outage goes on in the next pass).
const MAX_MISSED_PER_ENVIRONMENT: usize = 100;

/// The monitor clock job.
pub struct MonitorClock {
    store: Store,
}

/// What one pass recorded.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Tick {
    /// Missed check-ins recorded.
    pub missed: usize,
    /// Check-ins timed out.
    pub timed_out: usize,
    /// True when work was left for another pass.
    pub more: bool,
}

impl MonitorClock {
    /// The clock over `store`.
    pub fn new(store: Store) -> MonitorClock {
        MonitorClock { store }
    }

    /// One pass at `now` (epoch ms): records missed check-ins and time-outs.
    pub async fn tick(&self, now: i64) -> Result<Tick, StoreError> {
        let mut out = Tick::default();
        let overdue = self.store.overdue_environments(now, BATCH).await?;
        out.more |= overdue.len() >= BATCH;
        for env_id in overdue {
            let (missed, left) = mark_missed(&self.store, env_id, now).await?;
            out.missed += missed;
            out.more |= left;
        }
        let running = self.store.timed_out_checkins(now, BATCH).await?;
        out.more |= running.len() >= BATCH;
        for checkin_id in running {
            out.timed_out += usize::from(mark_timeout(&self.store, checkin_id, now).await?);
        }
        Ok(out)
    }
}

impl Job for MonitorClock {
    fn name(&self) -> &str {
        JOB_NAME
    }

    fn schedule(&self) -> Schedule {
        Schedule::every(TICK)
            .with_jitter(JITTER)
            .one_server(Duration::from_secs(120))
    }

    fn run(&self, pass: Pass) -> BoxFuture<'_, Result<Progress, JobError>> {
        Box::pin(async move {
            let tick = self.tick(pass.clock.now_ms()).await?;
            if tick.missed + tick.timed_out > 0 {
                tracing::debug!(
                    missed = tick.missed,
                    timed_out = tick.timed_out,
                    "monitor clock pass"
                );
            }
            Ok(if tick.more && !pass.should_stop() {
                Progress::More
            } else {
                Progress::Done
            })
        })
    }
}

/// The id of the missed check-in of environment `env_id` for the slot expected at
/// `expected_ms`: the same on every server, so recording it twice is impossible.
pub fn missed_guid(env_id: i64, expected_ms: i64) -> String {
    let digest = Sha256::digest(format!("missed\x1f{env_id}\x1f{expected_ms}"));
    hex::encode(&digest[..16])
}

/// Records the missed check-ins of one environment up to `now`; returns how many, and
/// whether more are overdue.
async fn mark_missed(store: &Store, env_id: i64, now: i64) -> Result<(usize, bool), StoreError> {
    let mut tx = store.begin_monitor_tx().await?;
    let Some(mut env) = tx.lock_environment_by_id(env_id).await? else {
        return Ok((0, false));
    };
    let monitor = tx.monitor(env.monitor_id, false).await?;
    if monitor.is_paused {
        return Ok((0, false));
    }
    let mut recorded = 0;
    let mut steps = 0;
    while let (Some(expected), Some(latest)) = (env.next_checkin_ms, env.next_checkin_latest_ms) {
        if latest > now || steps >= MAX_MISSED_PER_ENVIRONMENT {
            break;
        }
        steps += 1;
        let guid = missed_guid(env.id, expected);
        let inserted = tx
            .insert_checkin(&NewCheckIn {
                monitor_id: monitor.id,
                monitor_environment_id: env.id,
                guid: &guid,
                status: CheckInStatus::Missed,
                started_ms: expected,
                updated_ms: now,
                duration_ms: None,
                timeout_at_ms: None,
                expected_ms: Some(expected),
                release: None,
                trace_id: None,
            })
            .await?;
        if let Some(checkin_id) = inserted {
            recorded += 1;
            count(CheckInStatus::Missed);
            let why = reason(&monitor, CheckInStatus::Missed, expected, now);
            let result = JobResult {
                checkin_id,
                guid: &guid,
                status: CheckInStatus::Missed,
                started_ms: expected,
                release: None,
                reason: Some(&why),
            };
            settle(&mut tx, &monitor, &mut env, &result, now).await?;
        }
        expect_next(&monitor, &mut env, expected);
    }
    let left = env.next_checkin_latest_ms.is_some_and(|l| l <= now);
    tx.save_environment(&env).await?;
    tx.commit().await?;
    Ok((recorded, left))
}

/// Times out one `in_progress` check-in if it still is and is still due; true when it did.
async fn mark_timeout(store: &Store, checkin_id: i64, now: i64) -> Result<bool, StoreError> {
    let mut tx = store.begin_monitor_tx().await?;
    let Some(seen) = tx.checkin(checkin_id).await? else {
        return Ok(false);
    };
    let Some(mut env) = tx
        .lock_environment_by_id(seen.fields.monitor_environment_id)
        .await?
    else {
        return Ok(false);
    };
    // Read again under the environment's lock: an `ok` or a new `in_progress` may have come.
    let Some(c) = tx.checkin(checkin_id).await? else {
        return Ok(false);
    };
    let due = c.fields.status == CheckInStatus::InProgress
        && c.fields.timeout_at_ms.is_some_and(|t| t <= now);
    let monitor = tx.monitor(env.monitor_id, false).await?;
    if !due || monitor.is_paused {
        return Ok(false);
    }
    let change = CheckInChange {
        status: CheckInStatus::Timeout,
        updated_ms: now,
        duration_ms: None,
        timeout_at_ms: c.fields.timeout_at_ms,
        release: None,
    };
    if !tx.update_running_checkin(c.id, &change).await? {
        return Ok(false);
    }
    count(CheckInStatus::Timeout);
    let result = JobResult {
        checkin_id: c.id,
        guid: &c.fields.guid,
        status: CheckInStatus::Timeout,
        started_ms: c.fields.started_ms,
        release: c.fields.release.as_deref(),
        reason: None,
    };
    settle(&mut tx, &monitor, &mut env, &result, now).await?;
    tx.save_environment(&env).await?;
    tx.commit().await?;
    Ok(true)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn missed_ids_are_stable_and_distinct() {
        let a = missed_guid(1, 60_000);
        assert_eq!(a, missed_guid(1, 60_000));
        assert_eq!(a.len(), 32);
        assert_ne!(a, missed_guid(1, 120_000));
        assert_ne!(a, missed_guid(2, 60_000));
    }
}
