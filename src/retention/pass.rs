//! One pruning pass: finish deleting projects, delete discarded issues that came back, then
//! per project the events past their age and the issues idle past it, the events beyond the
//! cap per issue, then the oldest events while the database is over its budget, and finally
//! (SQLite) return free pages to the file system. Source-map artifacts are purged by age and
//! release on the way.
//!
//! Every delete is a small step ([`crate::store::Store::delete_events`] and friends: one
//! short transaction on the ingest writer); after each step the pass sleeps as long as the
//! step took, so pruning takes at most half of the writer's time however much there is to
//! delete. A pass killed at any point has committed whole steps only: what it deleted, the
//! rules deleted; what it did not reach, the next pass finds again (an issue is marked as
//! capped in the step that deletes the last of its excess). The cap per issue deletes for
//! many issues per step: one transaction per issue made the pass's commits (each an fsync
//! on the writer) outnumber ingestion's tenfold under a sustained load at the cap.

use std::time::{Duration, Instant};

use crate::clock::DAY_MS;
use crate::store::{ProjectLimits, RetentionRun, Store, StoreError};

use super::RetentionConfig;

/// How exact a pass is about the cap per issue.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Mode {
    /// Scheduled passes: an issue is capped again once it got a tenth of its cap in new
    /// events (so it holds at most 10 % more between passes), keeping the cost of finding
    /// its newest events to a few index entries per event; at most a tenth of the file is
    /// left free for ingestion to reuse before free pages are returned.
    Scheduled,
    /// A pass asked for (`errata retention run`): every issue over its cap is pruned to it
    /// and every free page returned.
    Exact,
}

/// Pages returned to the file system per step of an incremental vacuum (4 KiB pages: 8 MiB).
const VACUUM_PAGES: i64 = 2048;

/// Why events were deleted: the `reason` label of `errata_events_pruned_total`.
#[derive(Debug, Clone, Copy)]
enum Reason {
    Age,
    Cap,
    Budget,
    Discard,
    Project,
}

impl Reason {
    fn label(self) -> &'static str {
        match self {
            Reason::Age => "age",
            Reason::Cap => "cap",
            Reason::Budget => "budget",
            Reason::Discard => "discard",
            Reason::Project => "project",
        }
    }
}

/// Runs one pass at `now_ms` (server clock); `stop` is asked between steps (a server shutting
/// down) and ends the pass early with what it did. The returned record is also stored
/// (`retention_runs`) and counted in `/metrics`. Errors: the store's, after recording what
/// was deleted before.
pub async fn run_pass(
    store: &Store,
    config: &RetentionConfig,
    now_ms: i64,
    mode: Mode,
    stop: &(dyn Fn() -> bool + Sync),
) -> Result<RetentionRun, StoreError> {
    let started = Instant::now();
    let mut run = RetentionRun {
        started_ms: now_ms,
        ..RetentionRun::default()
    };
    let mut pruner = Pruner {
        store,
        batch: config.batch_size.max(1),
        stop,
        run: &mut run,
    };
    let outcome = pruner.all(config, now_ms, mode).await;
    if let Err(e) = &outcome {
        run.error = Some(e.to_string());
    }
    run.database_bytes = store.database_bytes().await.unwrap_or_default();
    // The pass's own length is real time; a test's standing clock must not hide it.
    let took = i64::try_from(started.elapsed().as_millis()).unwrap_or(i64::MAX);
    run.finished_ms = now_ms.saturating_add(took);
    metrics::gauge!("errata_database_bytes").set(run.database_bytes as f64);
    metrics::gauge!("errata_retention_over_budget").set(if run.over_budget { 1.0 } else { 0.0 });
    if let Err(e) = store.record_retention_run(&run).await {
        tracing::warn!(error = %e, "cannot record the retention pass");
    }
    let deleted = run.deleted_age + run.deleted_cap + run.deleted_budget;
    if deleted > 0 || run.deleted_issues > 0 {
        tracing::info!(
            age = run.deleted_age,
            cap = run.deleted_cap,
            budget = run.deleted_budget,
            issues = run.deleted_issues,
            projects = run.deleted_projects,
            database_bytes = run.database_bytes,
            "retention pass deleted events"
        );
    }
    outcome.map(|()| run)
}

struct Pruner<'a> {
    store: &'a Store,
    batch: usize,
    stop: &'a (dyn Fn() -> bool + Sync),
    run: &'a mut RetentionRun,
}

impl Pruner<'_> {
    async fn all(
        &mut self,
        config: &RetentionConfig,
        now: i64,
        mode: Mode,
    ) -> Result<(), StoreError> {
        let projects = self.store.project_limits().await?;
        for p in projects.iter().filter(|p| p.deleted_ms.is_some()) {
            if self.project(p.project_id).await? {
                self.run.deleted_projects += 1;
            }
        }
        while !(self.stop)() {
            let issues = self.store.discarded_issue_ids(self.batch).await?;
            if issues.is_empty() {
                break;
            }
            for issue_id in issues {
                self.issue(issue_id, Reason::Discard).await?;
            }
        }
        for p in projects.iter().filter(|p| p.deleted_ms.is_none()) {
            self.age(p, config, now).await?;
            self.cap(p, config, mode).await?;
        }
        self.artifacts(config, now).await?;
        if let Some(budget) = config.max_database_bytes {
            self.budget(budget).await?;
        }
        self.vacuum(mode).await
    }

    /// Source-map artifacts go with their release or after the retention age, whichever comes
    /// later; upload chunks no assemble used, after a day.
    async fn artifacts(&mut self, config: &RetentionConfig, now: i64) -> Result<(), StoreError> {
        let cutoff = match config.days {
            0 => i64::MIN,
            days => now.saturating_sub(i64::from(days).saturating_mul(DAY_MS)),
        };
        let deleted = self
            .store
            .purge_artifacts(cutoff, now.saturating_sub(DAY_MS))
            .await?;
        if deleted > 0 {
            tracing::info!(bundles = deleted, "retention pass deleted artifact bundles");
        }
        Ok(())
    }

    /// Deletes events in steps of the batch size while `next` finds some; returns how many.
    async fn events<F, Fut>(&mut self, reason: Reason, mut next: F) -> Result<i64, StoreError>
    where
        F: FnMut(usize) -> Fut,
        Fut: std::future::Future<Output = Result<Vec<i64>, StoreError>>,
    {
        let mut total = 0;
        while !(self.stop)() {
            let pks = next(self.batch).await?;
            if pks.is_empty() {
                break;
            }
            let started = Instant::now();
            let deleted = self.store.delete_events(pks).await?;
            pace(started).await;
            total += i64::try_from(deleted).unwrap_or(i64::MAX);
            metrics::counter!("errata_events_pruned_total", "reason" => reason.label())
                .increment(deleted);
            if deleted == 0 {
                break;
            }
        }
        Ok(total)
    }

    async fn age(
        &mut self,
        p: &ProjectLimits,
        c: &RetentionConfig,
        now: i64,
    ) -> Result<(), StoreError> {
        let Some(cutoff) = age_cutoff(p, c, now) else {
            return Ok(());
        };
        let store = self.store;
        let id = p.project_id;
        self.run.deleted_age += self
            .events(Reason::Age, |n| store.events_received_before(id, cutoff, n))
            .await?;
        while !(self.stop)() {
            let idle = store.idle_issues(id, cutoff, self.batch).await?;
            let mut deleted = 0;
            for issue_id in &idle {
                if store.prune_issue(*issue_id, Some(cutoff)).await? {
                    deleted += 1;
                }
            }
            self.run.deleted_issues += deleted;
            if deleted == 0 {
                break;
            }
        }
        Ok(())
    }

    async fn cap(
        &mut self,
        p: &ProjectLimits,
        c: &RetentionConfig,
        mode: Mode,
    ) -> Result<(), StoreError> {
        let cap = p
            .max_events_per_issue
            .unwrap_or(i64::try_from(c.max_events_per_issue).unwrap_or(i64::MAX));
        if cap <= 0 {
            return Ok(());
        }
        let slack = match mode {
            Mode::Scheduled => cap / 10,
            Mode::Exact => 0,
        };
        let store = self.store;
        let mut after = 0;
        while !(self.stop)() {
            let candidates = store
                .cap_candidates(p.project_id, cap, slack, after, self.batch)
                .await?;
            if candidates.is_empty() {
                break;
            }
            // Many issues per step, at most a batch of events: each step either finishes
            // issues (marked in it) or deletes a whole batch of one large issue's excess.
            let mut rest = candidates.as_slice();
            while !rest.is_empty() {
                if (self.stop)() {
                    return Ok(());
                }
                let started = Instant::now();
                let (deleted, finished) = store.cap_issues(rest, cap, self.batch).await?;
                pace(started).await;
                self.run.deleted_cap += i64::try_from(deleted).unwrap_or(i64::MAX);
                metrics::counter!("errata_events_pruned_total", "reason" => Reason::Cap.label())
                    .increment(deleted);
                if let Some(done) = finished.checked_sub(1).and_then(|n| rest.get(n)) {
                    after = done.issue_id;
                }
                rest = &rest[finished..];
            }
        }
        Ok(())
    }

    async fn budget(&mut self, budget: u64) -> Result<(), StoreError> {
        let budget = i64::try_from(budget).unwrap_or(i64::MAX);
        let target = budget / 10 * 9;
        let mut used = self.store.database_size().await?.used_bytes;
        while used > target && !(self.stop)() {
            let pks = self.store.oldest_prunable_events(self.batch).await?;
            if pks.is_empty() {
                break;
            }
            let started = Instant::now();
            let deleted = self.store.delete_events(pks).await?;
            pace(started).await;
            self.run.deleted_budget += i64::try_from(deleted).unwrap_or(i64::MAX);
            metrics::counter!("errata_events_pruned_total", "reason" => Reason::Budget.label())
                .increment(deleted);
            if deleted == 0 {
                break;
            }
            used = self.store.database_size().await?.used_bytes;
        }
        self.run.over_budget = used > budget;
        if self.run.over_budget {
            tracing::error!(
                used_bytes = used,
                budget_bytes = budget,
                "the database is over its disk budget and nothing more can be pruned: \
                 every issue keeps its newest event; raise retention.max_database_bytes \
                 or delete issues or projects"
            );
        }
        Ok(())
    }

    /// SQLite: gives free pages back to the file system, leaving a tenth of the file free
    /// for scheduled passes (ingestion fills it again before the next pass).
    async fn vacuum(&mut self, mode: Mode) -> Result<(), StoreError> {
        if self.store.backend() != crate::store::Backend::Sqlite {
            return Ok(());
        }
        let size = self.store.database_size().await?;
        if !size.incremental_vacuum {
            return Ok(());
        }
        let keep = match mode {
            Mode::Scheduled => size.bytes / 10,
            Mode::Exact => 0,
        };
        let mut free = size.free_bytes;
        while free > keep && !(self.stop)() {
            let started = Instant::now();
            let freed = self.store.incremental_vacuum(VACUUM_PAGES).await?;
            pace(started).await;
            if freed == 0 {
                break;
            }
            free = self.store.database_size().await?.free_bytes;
        }
        Ok(())
    }

    /// Deletes an issue: its events in steps, then the issue with what it owns.
    async fn issue(&mut self, issue_id: i64, reason: Reason) -> Result<(), StoreError> {
        let store = self.store;
        self.events(reason, |n| store.issue_event_pks(issue_id, n))
            .await?;
        if !(self.stop)() && store.prune_issue(issue_id, None).await? {
            self.run.deleted_issues += 1;
        }
        Ok(())
    }

    /// Finishes deleting a project; true once it is gone.
    async fn project(&mut self, project_id: i64) -> Result<bool, StoreError> {
        let store = self.store;
        while !(self.stop)() {
            let started = Instant::now();
            let deleted = store.delete_project_events(project_id, self.batch).await?;
            pace(started).await;
            metrics::counter!("errata_events_pruned_total", "reason" => Reason::Project.label())
                .increment(deleted);
            if deleted == 0 {
                break;
            }
        }
        while !(self.stop)() {
            let issues = store.project_issue_ids(project_id, self.batch).await?;
            if issues.is_empty() {
                break;
            }
            for issue_id in issues {
                self.issue(issue_id, Reason::Project).await?;
            }
        }
        if (self.stop)() {
            return Ok(false);
        }
        store.finish_project_delete(project_id).await
    }
}

/// The age rule's cutoff for project `p` at `now_ms` (epoch ms): events received and issues
/// last seen before it go. `None` when the project keeps events forever.
pub(super) fn age_cutoff(p: &ProjectLimits, c: &RetentionConfig, now_ms: i64) -> Option<i64> {
    let days = p.retention_days.unwrap_or(i64::from(c.days));
    (days > 0).then(|| now_ms.saturating_sub(days.saturating_mul(DAY_MS)))
}

/// Yields the writer to ingestion for as long as the step took.
pub(super) async fn pace(step_started: Instant) {
    let took = step_started.elapsed();
    tokio::time::sleep(took.min(Duration::from_millis(250))).await;
}
