//! A runner's side of a job's lease: claim it when a pass is due, renew it while the pass
//! runs, record the pass and release it (over the `job_leases` calls of `src/store/leases.rs`).

use crate::store::leases::LeaseClaim;
use crate::store::{Store, StoreError};

/// The answer to a claim.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Claimed {
    /// This runner holds the lease; the last successful pass started at `last_ok_ms`.
    Yes { last_ok_ms: Option<i64> },
    /// Another runner holds it or the pass is not due: try again at `retry_at_ms` (`None`
    /// when the row gives no time to wait for).
    No { retry_at_ms: Option<i64> },
}

/// One job's lease as seen by one runner.
pub(super) struct Lease {
    store: Store,
    job: String,
    holder: String,
    ttl_ms: i64,
    registered: bool,
    held: bool,
}

impl Lease {
    pub(super) fn new(store: Store, job: &str, holder: &str, ttl_ms: i64) -> Lease {
        Lease {
            store,
            job: job.to_owned(),
            holder: holder.to_owned(),
            ttl_ms: ttl_ms.max(3),
            registered: false,
            held: false,
        }
    }

    /// How often a running pass renews the lease, ms.
    pub(super) fn renew_every_ms(&self) -> i64 {
        self.ttl_ms / 3
    }

    /// True while this runner holds the lease between passes (a pass asked for more).
    pub(super) fn held(&self) -> bool {
        self.held
    }

    /// Adds the job's row unless another runner did (first pass due at `first_run_ms`);
    /// returns when the next pass is due.
    pub(super) async fn register(&mut self, first_run_ms: i64) -> Result<i64, StoreError> {
        let row = self
            .store
            .register_job_lease(&self.job, first_run_ms)
            .await?;
        self.registered = true;
        Ok(row.next_run_ms)
    }

    /// Claims the lease for a pass starting at `now_ms` whose successor is due at
    /// `next_run_ms`; `force` claims before the due time. A lease this runner still holds
    /// is always claimed again.
    pub(super) async fn claim(
        &mut self,
        now_ms: i64,
        next_run_ms: i64,
        force: bool,
    ) -> Result<Claimed, StoreError> {
        // SQLite can refuse a write at once with `SQLITE_BUSY` (a snapshot gone stale under
        // concurrent passes) where waiting would not help; the claim is idempotent, so it is
        // tried again a few times before the pass counts as failed.
        let mut attempt = 0;
        let claimed = loop {
            attempt += 1;
            let tried = async {
                if !self.registered {
                    self.register(now_ms).await?;
                }
                self.store
                    .claim_job_lease(&LeaseClaim {
                        job: &self.job,
                        holder: &self.holder,
                        now_ms,
                        lease_until_ms: now_ms.saturating_add(self.ttl_ms),
                        next_run_ms,
                        force: force || self.held,
                    })
                    .await
            }
            .await;
            match tried {
                Err(StoreError::Unavailable(_)) if attempt < 4 => {
                    tokio::time::sleep(std::time::Duration::from_millis(10 * attempt)).await;
                }
                other => break other?,
            }
        };
        self.held = claimed;
        let row = self.store.job_lease(&self.job).await?;
        if claimed {
            return Ok(Claimed::Yes {
                last_ok_ms: row.and_then(|r| r.last_ok_ms),
            });
        }
        let Some(row) = row else {
            self.registered = false;
            return Ok(Claimed::No { retry_at_ms: None });
        };
        let busy_until = if row.holder.is_some() {
            row.lease_until_ms
        } else {
            i64::MIN
        };
        let at = row.next_run_ms.max(busy_until);
        Ok(Claimed::No {
            retry_at_ms: (at > now_ms).then_some(at),
        })
    }

    /// Extends the lease from `now_ms`. False when it was lost to another runner.
    pub(super) async fn renew(&self, now_ms: i64) -> Result<bool, StoreError> {
        self.store
            .renew_job_lease(&self.job, &self.holder, now_ms.saturating_add(self.ttl_ms))
            .await
    }

    /// Records a finished pass (`ok_started_ms` for a success, `error` for a failure) and,
    /// with `release`, gives the lease up. False when the lease was lost to another runner.
    pub(super) async fn finish(
        &mut self,
        now_ms: i64,
        ok_started_ms: Option<i64>,
        error: Option<&str>,
        release: bool,
    ) -> Result<bool, StoreError> {
        if release {
            self.held = false;
        }
        self.store
            .finish_job_lease(
                &self.job,
                &self.holder,
                now_ms,
                ok_started_ms,
                error,
                release,
            )
            .await
    }
}
