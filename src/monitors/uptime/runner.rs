//! The `uptime-checks` job of the maintenance runner: a pass every second (on the server's
//! clock, plus up to 250 ms of jitter) finds the checks that are due, claims each (see the
//! module docs of [`super`]: a compare-and-set on its due time, so of several servers one
//! runs it), runs up to `uptime.concurrency` requests at once, and settles each result in one
//! [`MonitorTx`](crate::store::MonitorTx): the result row, the check's state and counters,
//! the incident (opened with its issue event and `incident_opened` row, or resolved with
//! `incident_resolved`) and a certificate warning.
//!
//! A pass waits for its requests (at most the longest timeout, 60 s); checks that fall due
//! meanwhile run in the next pass. Results older than [`KEEP_RESULTS_MS`] are deleted now
//! and then.

use std::sync::Arc;
use std::time::Duration;

use futures::future::BoxFuture;
use tokio::sync::Semaphore;
use tokio::task::JoinSet;

use super::event::{certificate_event, failure_event};
use super::probe::{CertInfo, Outcome, Prober};
use super::{CheckStatus, UptimeSettings};
use crate::clock::{DAY_MS, SECOND_MS};
use crate::jobs::{Job, JobError, Pass, Progress, Schedule};
use crate::monitors::incident::{self, Failure, IncidentSource, Step, Tally, Thresholds, Watched};
use crate::store::{MonitorTx, Store, StoreError, UptimeCheck, UptimeOutcome};

/// The job's name (its metric label, and the key of `run_now`).
pub const JOB_NAME: &str = "uptime-checks";
/// Time between passes, before the jitter.
pub const TICK: Duration = Duration::from_secs(1);
/// Checks claimed per pass; a pass that found more asks for another at once.
const BATCH: usize = 100;
/// How long results are kept, ms (the check page shows 30 days, the status page 90).
pub const KEEP_RESULTS_MS: i64 = 90 * DAY_MS;

/// What one pass did.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Tick {
    /// Checks run.
    pub ran: usize,
    /// Of those, failed.
    pub failed: usize,
    /// True when more checks were due than one pass takes.
    pub more: bool,
}

/// The uptime runner job.
pub struct UptimeRunner {
    store: Store,
    prober: Result<Prober, String>,
    slots: Arc<Semaphore>,
}

impl UptimeRunner {
    /// The runner over `store` with `settings` (target rule, concurrency).
    pub fn new(store: Store, settings: &UptimeSettings) -> UptimeRunner {
        UptimeRunner {
            store,
            prober: Prober::new(settings.target_policy())
                .map_err(|e| format!("cannot build the uptime HTTP client: {e}")),
            slots: Arc::new(Semaphore::new(settings.concurrency.clamp(1, 1000))),
        }
    }

    /// One pass at `now` (epoch ms): runs and settles every due check.
    pub async fn tick(&self, now: i64) -> Result<Tick, JobError> {
        let prober = self.prober.as_ref().map_err(|e| JobError::new(e.clone()))?;
        let due = self.store.due_uptime_checks(now, BATCH).await?;
        let mut out = Tick {
            more: due.len() >= BATCH,
            ..Tick::default()
        };
        let mut running = JoinSet::new();
        for (id, due_ms) in due {
            let check = match self.store.uptime_check(id).await {
                Ok(c) => c,
                Err(StoreError::NotFound) => continue,
                Err(e) => return Err(e.into()),
            };
            let interval = check
                .config
                .interval_seconds
                .max(1)
                .saturating_mul(SECOND_MS);
            let next = match due_ms.saturating_add(interval) {
                next if next > now => next,
                _ => now.saturating_add(interval),
            };
            if !self.store.claim_uptime_check(id, due_ms, next).await? {
                continue;
            }
            let Ok(slot) = self.slots.clone().acquire_owned().await else {
                break;
            };
            let (store, prober) = (self.store.clone(), prober.clone());
            running.spawn(async move {
                let outcome = prober.probe(&check.config).await;
                let failed = !outcome.ok();
                let settled = settle(&store, check.id, now, &outcome).await;
                drop(slot);
                settled.map(|()| failed)
            });
        }
        let mut first_error = None;
        while let Some(joined) = running.join_next().await {
            match joined {
                Ok(Ok(failed)) => {
                    out.ran += 1;
                    out.failed += usize::from(failed);
                }
                Ok(Err(e)) => {
                    tracing::error!(error = %e, "uptime result not stored");
                    first_error.get_or_insert(JobError::new(e));
                }
                Err(e) => {
                    first_error.get_or_insert(JobError::new(format!("uptime check task: {e}")));
                }
            }
        }
        match first_error {
            Some(e) => Err(e),
            None => Ok(out),
        }
    }
}

impl Job for UptimeRunner {
    fn name(&self) -> &str {
        JOB_NAME
    }

    fn schedule(&self) -> Schedule {
        Schedule::every(TICK).with_jitter(Duration::from_millis(250))
    }

    fn run(&self, pass: Pass) -> BoxFuture<'_, Result<Progress, JobError>> {
        Box::pin(async move {
            let tick = self.tick(pass.clock.now_ms()).await?;
            if tick.ran > 0 {
                tracing::debug!(ran = tick.ran, failed = tick.failed, "uptime pass");
            }
            Ok(if tick.more && !pass.should_stop() {
                Progress::More
            } else {
                Progress::Done
            })
        })
    }
}

fn count(outcome: &Outcome) {
    let label = match &outcome.error {
        None => "up",
        Some((class, _)) => class.as_str(),
    };
    metrics::counter!("errata_uptime_checks_total", "outcome" => label).increment(1);
    if outcome.status_code.is_some() {
        metrics::histogram!("errata_uptime_response_seconds")
            .record(outcome.response_ms as f64 / 1000.0);
    }
}

/// Stores the result of check `check_id` run at `checked_ms` and settles it against the
/// incident thresholds and the certificate warning, in one transaction.
pub async fn settle(
    store: &Store,
    check_id: i64,
    checked_ms: i64,
    outcome: &Outcome,
) -> Result<(), StoreError> {
    count(outcome);
    let mut tx = store.begin_monitor_tx().await?;
    let Some(mut check) = tx.lock_uptime_check(check_id).await? else {
        return Ok(());
    };
    if check.is_paused {
        return Ok(());
    }
    let ok = outcome.ok();
    let (class, reason) = match &outcome.error {
        Some((class, reason)) => (Some(*class), Some(reason.clone())),
        None => (None, None),
    };
    tx.insert_uptime_result(&UptimeOutcome {
        check_id,
        checked_ms,
        ok,
        status_code: outcome.status_code.map(i64::from),
        response_ms: Some(outcome.response_ms),
        error_class: class,
        reason: reason.clone(),
    })
    .await?;
    let last_ok_before = check.last_ok_ms;
    check.last_checked_ms = Some(checked_ms);
    check.last_response_ms = Some(outcome.response_ms);
    check.last_error = reason;
    if ok {
        check.last_ok_ms = Some(checked_ms);
    }
    let mut tally = Tally {
        failures: check.consecutive_failures,
        successes: check.consecutive_ok,
    };
    let step = tally.record(
        !ok,
        check.incident_id.is_some(),
        Thresholds {
            failures: check.config.failure_threshold,
            recoveries: check.config.recovery_threshold,
        },
    );
    check.consecutive_failures = tally.failures;
    check.consecutive_ok = tally.successes;
    let failure = match (&outcome.error, step) {
        (Some((class, reason)), Step::Open | Step::StillFailing) => {
            let message = format!("DOWN: {} — {reason}", check.config.url);
            Some(Failure {
                event: failure_event(&check, *class, outcome.status_code, &message, checked_ms),
                reason: reason.clone(),
            })
        }
        _ => None,
    };
    let watched = Watched {
        project_id: check.project_id,
        source: IncidentSource::Uptime,
        source_id: check.id,
        incident_id: check.incident_id,
        last_ok_ms: last_ok_before,
    };
    let (incident_id, _) = incident::apply(&mut tx, step, &watched, failure, checked_ms).await?;
    check.incident_id = incident_id;
    check.status = match (incident_id.is_some(), ok, check.status) {
        (true, _, _) => CheckStatus::Down,
        (false, true, _) => CheckStatus::Up,
        (false, false, CheckStatus::Down) => CheckStatus::Up,
        (false, false, status) => status,
    };
    if let Some(cert) = &outcome.certificate {
        warn_certificate(&mut tx, &check, cert, checked_ms).await?;
    }
    tx.save_uptime_state(&check).await?;
    tx.commit().await?;
    if rand::random::<u8>() < 3 {
        store
            .prune_uptime_results(check_id, checked_ms.saturating_sub(KEEP_RESULTS_MS))
            .await?;
    }
    Ok(())
}

/// Notes the certificate a check saw and, the first time one is within the check's warning
/// window, records its warning event and `certificate_expiring` outbox row.
async fn warn_certificate(
    tx: &mut MonitorTx,
    check: &UptimeCheck,
    cert: &CertInfo,
    now: i64,
) -> Result<(), StoreError> {
    let days = check.config.cert_warning_days;
    if days <= 0 {
        return Ok(());
    }
    let seen = tx
        .note_certificate(
            check.id,
            check.project_id,
            &cert.sha256,
            &cert.subject,
            cert.not_after_ms,
            now,
        )
        .await?;
    let left = cert.not_after_ms.saturating_sub(now);
    if seen.warned_ms.is_some() || left > days.saturating_mul(DAY_MS) {
        return Ok(());
    }
    let message = super::notice::certificate_sentence(&check.config.url, cert.not_after_ms, now);
    let event = certificate_event(check, cert, &message, now);
    let event_id = event.fields.event_id.simple().to_string();
    let recorded = tx.record_event(event, now).await?;
    tx.warn_certificate(&seen, recorded.issue_id, &event_id, now)
        .await?;
    Ok(())
}
