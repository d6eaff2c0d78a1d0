//! Per-issue aggregate rows idle past the retention age, retired (the rules and why:
//! `store/retention/idle.rs`): tag values folded into their key's remainder, users forgotten.
//! The [`JOB`] job runs hourly rather than on every pruning pass, since the age counts in
//! days and finding idle rows reads every old issue's tags and users; on one server at a
//! time. `errata retention run` retires them too.

use std::time::{Duration, Instant};

use crate::jobs::{self, Progress, Schedule};
use crate::store::{IdleKey, IdleRows, ProjectLimits, Store, StoreError};

use super::pass::{age_cutoff, pace};
use super::RetentionConfig;

/// The job's name (metrics label, lease key, `jobs.run_now`).
pub const JOB: &str = "retention-idle";

/// Time between passes (plus up to a fifth at random).
const INTERVAL: Duration = Duration::from_secs(3600);

/// Issues picked per read; their idle rows are read and retired in steps of at most the
/// pass's batch of rows.
const ISSUES_PER_READ: usize = 100;

/// What one pass retired.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Retired {
    /// Tag value rows folded into their key's remainder.
    pub tag_values: u64,
    /// Users forgotten (rows of `issue_users`; `user_count` lowered by as many).
    pub users: u64,
}

/// Retires, in every project with an age rule, the tag values and users last seen before its
/// cutoff (`now_ms`, epoch ms, less its retention days), in steps of at most
/// `config.batch_size` rows paced like the pruning pass's; `stop` is asked between steps.
/// Errors: the store's, after the steps before it committed.
pub async fn retire_idle(
    store: &Store,
    config: &RetentionConfig,
    now_ms: i64,
    stop: &(dyn Fn() -> bool + Sync),
) -> Result<Retired, StoreError> {
    let mut retired = Retired::default();
    let projects = store.project_limits().await?;
    'projects: for p in projects.iter().filter(|p| p.deleted_ms.is_none()) {
        let Some(cutoff) = age_cutoff(p, config, now_ms) else {
            continue;
        };
        for (rows, total) in [
            (IdleRows::TagValues, &mut retired.tag_values),
            (IdleRows::Users, &mut retired.users),
        ] {
            if !retire_in(store, p, rows, cutoff, config.batch_size, total, stop).await? {
                break 'projects;
            }
        }
    }
    if retired != Retired::default() {
        tracing::info!(
            tag_values = retired.tag_values,
            users = retired.users,
            "retention retired idle tag values and users"
        );
    }
    Ok(retired)
}

/// Retires project `p`'s `rows` idle before `cutoff`, adding to `total` as steps commit:
/// issue after issue, each read on from where the last read stopped, in steps of `batch`
/// rows (one step may span several issues). Returns false when `stop` asked to stop.
async fn retire_in(
    store: &Store,
    p: &ProjectLimits,
    rows: IdleRows,
    cutoff: i64,
    batch: usize,
    total: &mut u64,
    stop: &(dyn Fn() -> bool + Sync),
) -> Result<bool, StoreError> {
    let batch = batch.max(1);
    let metric = match rows {
        IdleRows::TagValues => "errata_tag_values_folded_total",
        IdleRows::Users => "errata_issue_users_forgotten_total",
    };
    let step = |keys: Vec<IdleKey>| async move {
        if keys.is_empty() {
            return Ok(0);
        }
        let started = Instant::now();
        let n = store.retire_idle(rows, keys, cutoff).await?;
        pace(started).await;
        metrics::counter!(metric).increment(n);
        Ok::<u64, StoreError>(n)
    };
    let mut keys: Vec<IdleKey> = Vec::with_capacity(batch);
    let mut after_issue = 0;
    loop {
        let issues = store
            .issues_with_idle(rows, p.project_id, cutoff, after_issue, ISSUES_PER_READ)
            .await?;
        let Some(&last) = issues.last() else {
            break;
        };
        for issue in issues {
            let mut after: Option<IdleKey> = None;
            loop {
                if stop() {
                    *total += step(std::mem::take(&mut keys)).await?;
                    return Ok(false);
                }
                let want = batch - keys.len();
                let read = store
                    .idle_keys(rows, issue, cutoff, after.as_ref(), want)
                    .await?;
                let more = read.len() == want;
                after = read.last().cloned();
                keys.extend(read);
                if keys.len() == batch {
                    *total += step(std::mem::replace(&mut keys, Vec::with_capacity(batch))).await?;
                }
                if !more {
                    break;
                }
            }
        }
        after_issue = last;
    }
    *total += step(keys).await?;
    Ok(true)
}

/// The [`JOB`] job over `store` under `config`'s ages and batch size.
pub fn job(store: Store, config: RetentionConfig) -> impl jobs::Job {
    metrics::describe_counter!(
        "errata_tag_values_folded_total",
        "issue tag values idle past the retention age folded into their key's remainder"
    );
    metrics::describe_counter!(
        "errata_issue_users_forgotten_total",
        "issue users idle past the retention age forgotten (user counts lowered)"
    );
    let schedule = Schedule::every(INTERVAL)
        .with_jitter(INTERVAL / 5)
        .one_server(Duration::from_secs(300));
    let config = std::sync::Arc::new(config);
    jobs::from_fn(JOB, schedule, move |pass: jobs::Pass| {
        let store = store.clone();
        let config = std::sync::Arc::clone(&config);
        async move {
            let stop = || pass.should_stop();
            retire_idle(&store, &config, pass.clock.now_ms(), &stop).await?;
            Ok(Progress::Done)
        }
    })
}
