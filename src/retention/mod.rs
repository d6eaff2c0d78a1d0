//! The data lifecycle: how long events are kept, how many per issue, how large the database
//! may grow, how fast a project may send, and which events are discarded.
//!
//! * **Age** (`[retention] days`, per project `retention_days`): events received (server
//!   time) more than N days ago are deleted; an issue whose `last_seen` is older and that
//!   has no event left is deleted with its tags, hourly counts and notifications.
//! * **Cap per issue** (`max_events_per_issue`): an issue keeps its first event and its
//!   newest ones.
//! * **Disk budget** (`max_database_bytes`): the oldest events (each issue keeps its newest)
//!   are pruned until the database holds less than 90 % of the budget; SQLite returns the
//!   freed pages to the file system (`auto_vacuum = incremental`, see [`vacuum`]).
//! * **Totals survive**: an issue's counters, first/last seen, hourly chart and tag facets
//!   are kept in `issues`, `issue_hourly` and `issue_tags` as events arrive and are never
//!   recomputed from the events, so pruning leaves them counting every event received.
//! * **Idle tag values and users** ([`idle`]): a tag value an issue has not seen within the
//!   age is folded into its key's remainder, so that a tag differing per event does not grow
//!   `issue_tags` forever (the key's total still counts every event); a user it has not seen
//!   within the age is forgotten, so `user_count` counts the users seen within the age.
//! * **Quotas** ([`quota`]) and **discard** ([`policies`]): checked per event at ingest,
//!   from memory.
//! * **Project delete** ([`delete_project`]): in batches, like pruning.
//!
//! Pruning runs as the `retention` job of the maintenance runner (one server at a time), in
//! small steps through the ingest writer ([`pass`]); `errata retention run` runs one pass now.

pub mod cli;
mod config;
pub mod idle;
pub mod pass;
pub mod policies;
pub mod quota;
pub mod vacuum;

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::Duration;

use crate::clock::Clock;
use crate::jobs::{self, JobError, Progress, Schedule};
use crate::store::{Store, StoreError};

pub use config::{parse_byte_size, RetentionConfig};
pub use pass::{run_pass, Mode};

/// The name of the pruning job (metrics label, lease key, `jobs.run_now`).
pub const JOB: &str = "retention";

/// What the lifecycle keeps per server: the ingest rules in memory and the last pass's
/// budget state. Shared by the ingest path, the pages and the job (`AppState.retention`).
#[derive(Debug)]
pub struct Retention {
    /// Rate limits and discarded hashes, in memory.
    pub policies: Arc<policies::Policies>,
    /// Events counted against rate limits in the current minute.
    pub quotas: quota::RateWindows,
    over_budget: AtomicBool,
}

impl Retention {
    /// Fresh state over `store` (rules load on first use).
    pub fn new(store: Store) -> Retention {
        describe_metrics();
        Retention {
            policies: Arc::new(policies::Policies::new(store)),
            quotas: quota::RateWindows::default(),
            over_budget: AtomicBool::new(false),
        }
    }

    /// True when the last pass on this server found the database over its disk budget with
    /// nothing left to prune (`/readyz` reports it).
    pub fn over_budget(&self) -> bool {
        self.over_budget.load(Ordering::Relaxed)
    }
}

fn describe_metrics() {
    use metrics::{describe_counter, describe_gauge, Unit};
    describe_counter!(
        "errata_events_pruned_total",
        "events deleted by the data lifecycle, by reason (age, cap, budget, discard, project)"
    );
    describe_counter!(
        "errata_events_discarded_total",
        "events dropped at ingest because their issue was deleted and discarded"
    );
    describe_gauge!(
        "errata_database_bytes",
        Unit::Bytes,
        "database size on disk after the last retention pass"
    );
    describe_gauge!(
        "errata_retention_over_budget",
        "1 when the last retention pass could not get under retention.max_database_bytes"
    );
}

/// The `retention` job: a [`Mode::Scheduled`] pass every `interval_secs` (plus up to a fifth
/// at random), at once again after a pass that deleted something, on one server at a time.
pub fn job(store: Store, config: RetentionConfig, state: Arc<Retention>) -> impl jobs::Job {
    let interval = Duration::from_secs(config.interval_secs.max(1));
    let schedule = Schedule::every(interval)
        .with_jitter(interval / 5)
        .one_server(Duration::from_secs(120));
    let config = Arc::new(config);
    jobs::from_fn(JOB, schedule, move |pass: jobs::Pass| {
        let store = store.clone();
        let config = Arc::clone(&config);
        let state = Arc::clone(&state);
        async move {
            let stop = || pass.should_stop();
            let run = run_pass(&store, &config, pass.clock.now_ms(), Mode::Scheduled, &stop)
                .await
                .map_err(JobError::from)?;
            state.over_budget.store(run.over_budget, Ordering::Relaxed);
            // While events keep coming faster than passes at the interval would prune them
            // (a noisy issue over its cap), passes follow each other; an idle one waits.
            let deleted =
                run.deleted_age + run.deleted_cap + run.deleted_budget + run.deleted_issues;
            Ok(if deleted > 0 {
                Progress::More
            } else {
                Progress::Done
            })
        }
    })
}

/// "Delete and discard future events": records the issue's grouping hashes as discarded
/// (this server drops their events from now on, others within
/// [`policies::REFRESH`]), then deletes the issue and its events in steps. Returns the
/// events deleted. Errors: [`StoreError::NotFound`] for an unknown issue.
pub async fn discard_issue(
    store: &Store,
    retention: &Retention,
    clock: &Clock,
    issue_id: i64,
) -> Result<u64, StoreError> {
    store
        .discard_issue_groupings(issue_id, clock.now_ms())
        .await?;
    retention.policies.reload().await?;
    let mut deleted = 0;
    loop {
        let pks = store.issue_event_pks(issue_id, 500).await?;
        if pks.is_empty() {
            break;
        }
        let n = store.delete_events(pks).await?;
        metrics::counter!("errata_events_pruned_total", "reason" => "discard").increment(n);
        deleted += n;
        if n == 0 {
            // Only events whose aggregates are pending are left: they go with the issue.
            break;
        }
    }
    store.prune_issue(issue_id, None).await?;
    Ok(deleted)
}

/// Deletes a project and everything it owns, in steps: marks it deleted (it takes no more
/// events), then runs the deletion to its end. Returns the events and issues deleted.
/// Errors: [`StoreError::NotFound`] for an unknown project.
pub async fn delete_project(
    store: &Store,
    project_id: i64,
    now_ms: i64,
) -> Result<(i64, i64), StoreError> {
    store.mark_project_deleted(project_id, now_ms).await?;
    let before = store.counts(Some(project_id)).await?;
    let config = RetentionConfig {
        days: 0,
        max_events_per_issue: 0,
        max_database_bytes: None,
        ..RetentionConfig::default()
    };
    let run = run_pass(store, &config, now_ms, Mode::Scheduled, &|| false).await?;
    Ok((before.0, run.deleted_issues))
}
