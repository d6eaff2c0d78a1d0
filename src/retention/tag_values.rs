//! Tag values idle past the retention age, folded into their key's remainder (the rule and
//! why: `store/retention/tag_values.rs`), as the [`JOB`] job: hourly rather than on every
//! pruning pass, since the age counts in days and finding idle values reads every old
//! issue's tag rows; on one server at a time. `errata retention run` folds too.

use std::time::{Duration, Instant};

use crate::jobs::{self, Progress, Schedule};
use crate::store::{Store, StoreError};

use super::pass::{age_cutoff, pace};
use super::RetentionConfig;

/// The job's name (metrics label, lease key, `jobs.run_now`).
pub const JOB: &str = "retention-tag-values";

/// Time between passes (plus up to a fifth at random).
const INTERVAL: Duration = Duration::from_secs(3600);

/// Issues picked per read; each is folded in steps of at most the pass's batch of rows.
const ISSUES_PER_READ: usize = 100;

/// Folds, in every project with an age rule, the tag values last seen before its cutoff
/// (`now_ms`, epoch ms, less its retention days), in steps of at most `config.batch_size`
/// rows paced like the pruning pass's; `stop` is asked between steps. Returns the value rows
/// folded. Errors: the store's, after the steps before it committed.
pub async fn fold_idle(
    store: &Store,
    config: &RetentionConfig,
    now_ms: i64,
    stop: &(dyn Fn() -> bool + Sync),
) -> Result<u64, StoreError> {
    let batch = config.batch_size.max(1);
    let mut folded = 0;
    let projects = store.project_limits().await?;
    'projects: for p in projects.iter().filter(|p| p.deleted_ms.is_none()) {
        let Some(cutoff) = age_cutoff(p, config, now_ms) else {
            continue;
        };
        let mut after = 0;
        loop {
            if stop() {
                break 'projects;
            }
            let issues = store
                .issues_with_idle_tag_values(p.project_id, cutoff, after, ISSUES_PER_READ)
                .await?;
            let Some(&last) = issues.last() else {
                break;
            };
            loop {
                let started = Instant::now();
                let n = store
                    .fold_idle_tag_values(issues.clone(), cutoff, batch)
                    .await?;
                pace(started).await;
                folded += n;
                metrics::counter!("errata_tag_values_folded_total").increment(n);
                if n < batch as u64 || stop() {
                    break;
                }
            }
            after = last;
        }
    }
    if folded > 0 {
        tracing::info!(folded, "retention folded idle tag values");
    }
    Ok(folded)
}

/// The [`JOB`] job over `store` under `config`'s ages and batch size.
pub fn job(store: Store, config: RetentionConfig) -> impl jobs::Job {
    metrics::describe_counter!(
        "errata_tag_values_folded_total",
        "issue tag values idle past the retention age folded into their key's remainder"
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
            fold_idle(&store, &config, pass.clock.now_ms(), &stop).await?;
            Ok(Progress::Done)
        }
    })
}
