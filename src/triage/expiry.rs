//! The `ignore_expiry` job: ends ignores for a duration whose time is up, on the server's
//! clock. Each pass runs [`Store::expire_ignores`] (the issue comes back as unresolved,
//! with a timeline entry by Errata and an `unignored` notification) until nothing is left.
//! It runs once a minute on one server at a time, so an ignore ends at most about a minute
//! (plus jitter) late.

use std::time::Duration;

use crate::jobs::{from_fn, Job, JobError, Progress, Schedule};
use crate::store::Store;

/// The job's name (metrics label, lease, `Jobs::run_now`).
pub const JOB: &str = "ignore_expiry";

/// The job over `store`.
pub fn job(store: Store) -> impl Job {
    let schedule = Schedule::every(Duration::from_secs(60))
        .with_jitter(Duration::from_secs(5))
        .one_server(Duration::from_secs(60));
    from_fn(JOB, schedule, move |pass| {
        let store = store.clone();
        async move {
            let ended = store.expire_ignores(pass.clock.now_ms()).await?;
            if ended > 0 {
                tracing::info!(issues = ended, "ignores for a duration ended");
                Ok::<_, JobError>(Progress::More)
            } else {
                Ok(Progress::Done)
            }
        }
    })
}
