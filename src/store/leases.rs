//! Leases and shared schedules of the maintenance runner's jobs (`job_leases`, see
//! `src/jobs`).
//!
//! A job that must run on one server at a time has one row. A runner claims it with one
//! conditional `update` (the same SQL on both engines: the row changes only when the job is
//! due, or the claim is forced, and nobody else holds an unexpired lease), renews the lease
//! while its pass runs, and releases it with the pass's result. The claim also moves
//! `next_run_ms` forward, so the other runners see when the next pass is due and wait for
//! it instead of running the same pass again. All times are epoch ms of the runners' clock.

use super::db::Executor;
use super::{Store, StoreError};

row! {
/// One job's row.
#[derive(Clone, PartialEq, Eq, serde::Serialize)]
pub struct JobLease {
    /// The job's name.
    pub job: String,
    /// The runner holding the lease, while a pass runs.
    pub holder: Option<String>,
    /// The lease ends here; another runner may claim the job after it.
    pub lease_until_ms: i64,
    /// When the next pass is due.
    pub next_run_ms: i64,
    /// Start of the last claimed pass.
    pub last_started_ms: Option<i64>,
    /// End of the last finished pass.
    pub last_finished_ms: Option<i64>,
    /// Start of the last successful pass.
    pub last_ok_ms: Option<i64>,
    /// Error of the last pass; `None` when it succeeded.
    pub last_error: Option<String>,
}
}

/// A runner's attempt to take a job's lease ([`Store::claim_job_lease`]).
#[derive(Debug, Clone, Copy)]
pub struct LeaseClaim<'a> {
    /// The job.
    pub job: &'a str,
    /// The runner claiming it (unique per runner).
    pub holder: &'a str,
    /// Now, on the runner's clock.
    pub now_ms: i64,
    /// End of the lease if claimed.
    pub lease_until_ms: i64,
    /// When the pass after this one is due, if claimed.
    pub next_run_ms: i64,
    /// Claim even if the job is not due yet (a pass asked for now); a lease held by another
    /// runner still wins.
    pub force: bool,
}

const LEASE_COLUMNS: &str = "job, holder, lease_until_ms, next_run_ms, last_started_ms, \
                             last_finished_ms, last_ok_ms, last_error";

impl Store {
    /// Adds the job's row unless it exists (first pass due at `first_run_ms`) and returns it.
    pub async fn register_job_lease(
        &self,
        job: &str,
        first_run_ms: i64,
    ) -> Result<JobLease, StoreError> {
        self.db()
            .execute(
                "insert into job_leases (job, holder, lease_until_ms, next_run_ms) \
                 values ($1, null, 0, $2) on conflict (job) do nothing",
                vec![job.into(), first_run_ms.into()],
            )
            .await?;
        self.job_lease(job).await?.ok_or(StoreError::NotFound)
    }

    /// The job's row, if registered.
    pub async fn job_lease(&self, job: &str) -> Result<Option<JobLease>, StoreError> {
        self.db()
            .fetch_optional::<JobLease>(
                &format!("select {LEASE_COLUMNS} from job_leases where job = $1"),
                vec![job.into()],
            )
            .await
    }

    /// Takes the lease when the job is due (or `force`) and it is free, expired or already
    /// this holder's; moves `next_run_ms` on. True when claimed. Atomic: of several runners
    /// claiming at once, at most one gets it.
    pub async fn claim_job_lease(&self, c: &LeaseClaim<'_>) -> Result<bool, StoreError> {
        let n = self
            .db()
            .execute(
                "update job_leases set holder = $2, lease_until_ms = $4, next_run_ms = $5, \
                 last_started_ms = $3 \
                 where job = $1 and (holder = $2 or holder is null or lease_until_ms <= $3) \
                 and ($6 or next_run_ms <= $3)",
                vec![
                    c.job.into(),
                    c.holder.into(),
                    c.now_ms.into(),
                    c.lease_until_ms.into(),
                    c.next_run_ms.into(),
                    c.force.into(),
                ],
            )
            .await?;
        Ok(n == 1)
    }

    /// Extends a lease this holder still has. False when it was lost (it expired and
    /// another runner claimed the job).
    pub async fn renew_job_lease(
        &self,
        job: &str,
        holder: &str,
        lease_until_ms: i64,
    ) -> Result<bool, StoreError> {
        let n = self
            .db()
            .execute(
                "update job_leases set lease_until_ms = $3 where job = $1 and holder = $2",
                vec![job.into(), holder.into(), lease_until_ms.into()],
            )
            .await?;
        Ok(n == 1)
    }

    /// Records a finished pass of a lease this holder has: `ok_started_ms` is the start of a
    /// successful pass (`None` after a failure, which keeps the previous one), `error` the
    /// failure. With `release` the lease ends now. False when the lease was lost.
    pub async fn finish_job_lease(
        &self,
        job: &str,
        holder: &str,
        now_ms: i64,
        ok_started_ms: Option<i64>,
        error: Option<&str>,
        release: bool,
    ) -> Result<bool, StoreError> {
        let sql = if release {
            "update job_leases set holder = null, lease_until_ms = $3, last_finished_ms = $3, \
             last_ok_ms = coalesce($4, last_ok_ms), last_error = $5 \
             where job = $1 and holder = $2"
        } else {
            "update job_leases set last_finished_ms = $3, \
             last_ok_ms = coalesce($4, last_ok_ms), last_error = $5 \
             where job = $1 and holder = $2"
        };
        let n = self
            .db()
            .execute(
                sql,
                vec![
                    job.into(),
                    holder.into(),
                    now_ms.into(),
                    ok_started_ms.into(),
                    error.into(),
                ],
            )
            .await?;
        Ok(n == 1)
    }
}
