//! User feedback after ingestion: the `feedback_links` job, which links feedback that arrived
//! before its event.
//!
//! Feedback names the event it is about; SDKs send the two in separate requests, so either
//! may arrive first. Feedback that finds its event stored is linked to the event's issue as
//! it is saved (`store/feedback.rs`); the rest waits unlinked, and this job links it once the
//! event is there: every [`LINK_INTERVAL`] of the server's clock (a test's manual clock holds
//! it until the test moves the clock or runs it), looking at unlinked feedback of the last
//! [`LINK_WINDOW_MS`] only, through a partial index of unlinked rows. The event ingest path does no extra work for feedback.
//! The statement is idempotent, so every server runs the job without a lease.

use std::time::Duration;

use futures::future::BoxFuture;

use crate::clock::DAY_MS;
use crate::jobs::{Job, JobError, Pass, Progress, Schedule};
use crate::store::Store;

/// How often unlinked feedback is looked at.
pub const LINK_INTERVAL: Duration = Duration::from_secs(5);

/// Feedback older than this (30 days) whose event never came is no longer looked at.
pub const LINK_WINDOW_MS: i64 = 30 * DAY_MS;

/// The job's name (for `Jobs::run_now`).
pub const JOB_NAME: &str = "feedback_links";

/// The `feedback_links` job.
pub struct FeedbackLinker {
    store: Store,
}

impl FeedbackLinker {
    /// The job over `store`.
    pub fn new(store: Store) -> FeedbackLinker {
        FeedbackLinker { store }
    }
}

impl Job for FeedbackLinker {
    fn name(&self) -> &str {
        JOB_NAME
    }

    fn schedule(&self) -> Schedule {
        Schedule::every(LINK_INTERVAL).with_jitter(Duration::from_secs(1))
    }

    fn run(&self, pass: Pass) -> BoxFuture<'_, Result<Progress, JobError>> {
        Box::pin(async move {
            let linked = self
                .store
                .link_feedback(pass.started_ms.saturating_sub(LINK_WINDOW_MS))
                .await?;
            if linked > 0 {
                tracing::debug!(linked, "feedback linked to issues");
            }
            Ok(Progress::Done)
        })
    }
}
