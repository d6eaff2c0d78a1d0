//! Per-project zstd dictionaries for stored event payloads (issue #23): events of one project
//! share most of their JSON (keys, SDK, contexts, modules, frames), which a dictionary
//! trained on the project's own events holds once instead of in every payload
//! (`bench/README.md`, "Payload dictionaries").
//!
//! * **Training**, the [`TRAIN_JOB`] job (one server at a time): a live project with at least
//!   `storage.dictionary_after_events` stored events and no dictionary gets one, trained on
//!   its [`SAMPLES`] most recent payloads. The samples are read through the pool (no write
//!   lock), the training runs on a blocking thread, and the dictionary is stored in one
//!   short transaction ([`Store::add_payload_dictionary`]), which also makes it this
//!   server's current one for the project.
//! * **No retraining** in this first version: a project keeps its first dictionary. The
//!   table can hold several per project (the newest is current, every one stays readable),
//!   so a later version can retrain when the ratio of new payloads degrades.
//! * **Refresh**, the [`SYNC_JOB`] job (every server, at start and every minute): loads
//!   dictionaries other servers trained ([`Store::load_payload_dictionaries`]). Requests
//!   never wait for it: until then a project's events are compressed without a dictionary,
//!   which reads back the same.
//! * **Reading** loads the dictionary a payload names on demand (`store::payload`), so a
//!   server that has not refreshed yet still reads every event.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use crate::clock::DAY_MS;
use crate::jobs::{self, JobError, Progress, Schedule};
use crate::store::{StorageConfig, Store};

/// The name of the training job (metrics label, lease key, `jobs.run_now`).
pub const TRAIN_JOB: &str = "payload-dictionaries";

/// The name of the job that loads dictionaries trained by other servers.
pub const SYNC_JOB: &str = "payload-dictionary-sync";

/// Most recent payloads a dictionary is trained on (~12 MB of bench events).
pub const SAMPLES: usize = 1_000;

/// Largest dictionary trained, bytes: 7.72x on bench events at level 1, where 16 KiB gave
/// 7.49x and 64 or 112 KiB no more (`bench/README.md`, "Payload dictionaries").
pub const DICTIONARY_BYTES: usize = 32 * 1024;

/// How long a project whose training failed waits before it is tried again.
const RETRY_AFTER_MS: i64 = DAY_MS;

/// Counts, per project, the events this server encoded without a dictionary, so that a new
/// project gets its dictionary moments after it reaches `storage.dictionary_after_events`
/// instead of at the training job's next pass, up to `storage.dictionary_interval_secs` (300 s)
/// later: a burst that starts a project (the case dictionaries pay most for, issue #23) would
/// otherwise store all of its first minutes without one.
#[derive(Debug, Default)]
pub struct Due {
    counts: Mutex<HashMap<i64, u64>>,
}

impl Due {
    /// Counts one event of `project_id` encoded without a dictionary; true every `after`
    /// events (never for 0), when the caller should ask for a training pass
    /// ([`train_soon`]). The count is of events encoded, some not yet committed, so a pass
    /// may still find the project short of the threshold: the next `after` events ask again.
    pub fn event_without_dictionary(&self, project_id: i64, after: u64) -> bool {
        if after == 0 {
            return false;
        }
        let Ok(mut counts) = self.counts.lock() else {
            return false;
        };
        let count = counts.entry(project_id).or_default();
        *count += 1;
        if *count < after {
            return false;
        }
        *count = 0;
        true
    }
}

/// Asks for a pass of the training job without waiting for it (a pass already running
/// finishes first; on a server without the job's lease the pass is skipped, and the server
/// holding it trains at its next pass).
pub fn train_soon(jobs: &jobs::Jobs) {
    let jobs = jobs.clone();
    tokio::spawn(async move {
        if let Err(e) = jobs.run_now(TRAIN_JOB).await {
            tracing::debug!(error = %e, "no early payload dictionary pass");
        }
    });
}

/// Trains a dictionary on `samples` (JSON texts) of at most `max_bytes`: a blocking call of
/// seconds for a thousand 12 KB samples (run it off the async workers). Errors: zstd's (too
/// few or too small samples).
pub fn train(samples: &[Vec<u8>], max_bytes: usize) -> std::io::Result<Vec<u8>> {
    zstd::dict::from_samples(samples, max_bytes)
}

/// The [`TRAIN_JOB`] job over `store` under `config`'s threshold and interval. A pass trains
/// every project due (returns [`Progress::Done`]); with `dictionary_after_events = 0` passes
/// do nothing.
pub fn train_job(store: Store, config: &StorageConfig) -> impl jobs::Job {
    let interval = Duration::from_secs(config.dictionary_interval_secs.max(1));
    let schedule = Schedule::every(interval)
        .with_jitter(interval / 5)
        .one_server(Duration::from_secs(300));
    let min_events = config.dictionary_after_events;
    // Projects whose training failed, and when: retried a day later, not every pass.
    let failed: Arc<Mutex<HashMap<i64, i64>>> = Arc::default();
    jobs::from_fn(TRAIN_JOB, schedule, move |pass: jobs::Pass| {
        let store = store.clone();
        let failed = Arc::clone(&failed);
        async move {
            if min_events == 0 {
                return Ok(Progress::Done);
            }
            let now = pass.clock.now_ms();
            for project_id in store
                .projects_needing_payload_dictionary(min_events)
                .await?
            {
                if pass.should_stop() {
                    break;
                }
                let recent_failure = failed
                    .lock()
                    .ok()
                    .and_then(|f| f.get(&project_id).copied())
                    .is_some_and(|at| now - at < RETRY_AFTER_MS);
                if recent_failure {
                    continue;
                }
                match train_project(&store, project_id, now).await {
                    Ok(()) => {}
                    Err(e) => {
                        tracing::warn!(project_id, error = %e, "cannot train a payload dictionary");
                        metrics::counter!("errata_payload_dictionaries_total", "outcome" => "error")
                            .increment(1);
                        if let Ok(mut f) = failed.lock() {
                            f.insert(project_id, now);
                        }
                    }
                }
            }
            Ok(Progress::Done)
        }
    })
}

/// Trains and stores one project's dictionary at `now_ms`.
async fn train_project(store: &Store, project_id: i64, now_ms: i64) -> Result<(), JobError> {
    let samples = store.payload_samples(project_id, SAMPLES).await?;
    let count = samples.len();
    let raw: usize = samples.iter().map(Vec::len).sum();
    let started = std::time::Instant::now();
    let dictionary = tokio::task::spawn_blocking(move || train(&samples, DICTIONARY_BYTES))
        .await
        .map_err(|e| JobError::new(format!("training stopped: {e}")))?
        .map_err(|e| JobError::new(format!("training failed: {e}")))?;
    let bytes = dictionary.len();
    let d = store
        .add_payload_dictionary(project_id, now_ms, count, dictionary)
        .await?;
    metrics::counter!("errata_payload_dictionaries_total", "outcome" => "trained").increment(1);
    tracing::info!(
        project_id,
        dictionary_id = d.id(),
        samples = count,
        sample_bytes = raw,
        dictionary_bytes = bytes,
        took_ms = started.elapsed().as_millis() as u64,
        "trained a payload dictionary"
    );
    Ok(())
}

/// The [`SYNC_JOB`] job: every server loads new dictionaries at start and every minute.
pub fn sync_job(store: Store) -> impl jobs::Job {
    metrics::describe_counter!(
        "errata_payload_dictionaries_total",
        "payload dictionaries trained on this server, by outcome (trained, error)"
    );
    jobs::from_fn(
        SYNC_JOB,
        Schedule::every(Duration::from_secs(60)),
        move |_pass: jobs::Pass| {
            let store = store.clone();
            async move {
                store.load_payload_dictionaries().await?;
                Ok(Progress::Done)
            }
        },
    )
}

#[cfg(test)]
mod tests {
    use super::Due;

    #[test]
    fn due_every_threshold_of_events_per_project() {
        let due = Due::default();
        let asks = |project, n| {
            (0..n)
                .filter(|_| due.event_without_dictionary(project, 3))
                .count()
        };
        assert_eq!(asks(1, 2), 0);
        assert_eq!(asks(2, 2), 0, "projects count apart");
        assert_eq!(asks(1, 1), 1, "the third event of project 1");
        assert_eq!(asks(1, 6), 2);
        assert!(
            !Due::default().event_without_dictionary(1, 0),
            "0 turns it off"
        );
    }
}
