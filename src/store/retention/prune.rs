//! Pruning: the reads that pick what to delete (on the pool, never blocking a commit) and the
//! small [`Prune`] steps that delete it, each one short transaction on the ingest writer
//! (`writer/`), or on the pool for an in-memory SQLite database.
//!
//! Totals survive: nothing here touches an issue's counters, first/last seen, hourly counts,
//! tag counts or users; they keep counting every event ever received (idle tag values and
//! users are retired apart: `idle.rs`). Events whose aggregates are still pending
//! (`pending_aggregates`, deferred under load) are never pruned: the roll-up would find them
//! gone and count nothing.

use crate::store::db::{placeholders, Arg, Executor, IdRow};
use crate::store::issues::delete_issue_rows;
use crate::store::{Backend, Store, StoreError};

/// Events whose issue aggregates are applied (no pending row).
const APPLIED: &str =
    "not exists (select 1 from pending_aggregates p where p.event_pk = e.event_pk)";

/// One short write transaction of a pruning pass.
#[derive(Debug, Clone)]
pub(in crate::store) enum Prune {
    /// Deletes these events; with `pending`, their pending aggregates too (a whole project
    /// going), else events whose aggregates are pending are left alone.
    Events { event_pks: Vec<i64>, pending: bool },
    /// Deletes an issue with everything it owns. With `idle_before_ms`, only if its
    /// `last_seen_ms` is older and it has no event left (retention by age); otherwise it is
    /// deleted whatever it holds (discard, project delete: its events went in batches first).
    Issue {
        issue_id: i64,
        idle_before_ms: Option<i64>,
    },
    /// Deletes the events of these issues beyond a cap of `cap`, issue after issue, at most
    /// `limit` in all, and records each issue whose excess is gone as capped at the
    /// `event_count` it had when read. One step covers many issues: a transaction per issue
    /// (and its commit's fsync on the writer) cost more than the deletes themselves.
    Cap {
        issues: Vec<CapCandidate>,
        cap: i64,
        limit: u64,
    },
    /// Deletes what is left of a project whose issues and events are gone.
    Project { project_id: i64 },
    /// SQLite: returns up to `pages` free pages to the file system (`incremental_vacuum`).
    Vacuum { pages: i64 },
    /// Retires these aggregate `rows` (`keys`, read on the pool) where still idle before
    /// `idle_before_ms` (`idle.rs`).
    RetireIdle {
        rows: super::IdleRows,
        keys: Vec<super::IdleKey>,
        idle_before_ms: i64,
    },
}

/// The rows a project owns besides its issues and events, deleted last (in this order,
/// children first). A new table that references `projects` adds its line here.
const PROJECT_ROWS: &[&str] = &[
    "delete from notification_attempts where channel_id in \
     (select channel_id from notification_channels where project_id = $1) \
     or delivery_id in (select delivery_id from notification_deliveries where outbox_id in \
     (select outbox_id from outbox where project_id = $1))",
    "update notification_deliveries set folded_into = null where folded_into in \
     (select delivery_id from notification_deliveries where channel_id in \
     (select channel_id from notification_channels where project_id = $1) \
     or outbox_id in (select outbox_id from outbox where project_id = $1))",
    "delete from notification_deliveries where channel_id in \
     (select channel_id from notification_channels where project_id = $1) \
     or outbox_id in (select outbox_id from outbox where project_id = $1)",
    "delete from outbox where project_id = $1",
    "delete from notification_channels where project_id = $1",
    "delete from notification_rules where project_id = $1",
    "delete from alert_rules where project_id = $1",
    "delete from project_subscriptions where project_id = $1",
    "delete from discarded_groupings where project_id = $1",
    "delete from monitor_checkins where monitor_id in \
     (select monitor_id from monitors where project_id = $1)",
    "delete from monitor_environments where monitor_id in \
     (select monitor_id from monitors where project_id = $1)",
    "delete from uptime_results where uptime_check_id in \
     (select uptime_check_id from uptime_checks where project_id = $1)",
    "delete from uptime_certificates where project_id = $1",
    "delete from incidents where project_id = $1",
    "delete from monitors where project_id = $1",
    "delete from uptime_checks where project_id = $1",
    "delete from status_pages where project_id = $1",
    "delete from artifact_files where project_id = $1",
    "delete from artifact_bundles where project_id = $1",
    // Payloads name their dictionary: it goes only once none of the project's events is left.
    "delete from payload_dictionaries where project_id = $1 \
     and not exists (select 1 from events where project_id = $1)",
    "delete from deploys where release_id in \
     (select release_id from releases where project_id = $1)",
    "delete from releases where project_id = $1",
    "delete from project_keys where project_id = $1",
];

/// What one [`Prune`] step did.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub(in crate::store) struct Pruned {
    /// Rows of what the step is about that it deleted (events, an issue, a project, pages).
    pub rows: u64,
    /// [`Prune::Cap`]: how many of its issues (from the first) it finished and marked.
    pub finished: usize,
}

impl Prune {
    /// Runs the step in `tx` (the caller commits).
    pub(in crate::store) async fn run_in(
        &self,
        tx: &mut impl Executor,
    ) -> Result<Pruned, StoreError> {
        if let Prune::Cap { issues, cap, limit } = self {
            return cap_issues(tx, issues, *cap, *limit).await;
        }
        let rows = self.run_rows(tx).await?;
        Ok(Pruned { rows, finished: 0 })
    }

    /// Every step but [`Prune::Cap`]: how many rows it deleted.
    async fn run_rows(&self, tx: &mut impl Executor) -> Result<u64, StoreError> {
        match self {
            Prune::Events { event_pks, pending } => {
                if event_pks.is_empty() {
                    return Ok(0);
                }
                let list = placeholders(1, event_pks.len());
                let args = || event_pks.iter().map(|&pk| Arg::from(pk)).collect();
                let sql = if *pending {
                    tx.execute(
                        &format!("delete from pending_aggregates where event_pk in ({list})"),
                        args(),
                    )
                    .await?;
                    format!("delete from events where event_pk in ({list})")
                } else {
                    format!("delete from events where event_pk in ({list}) and {}", {
                        APPLIED.replace("e.event_pk", "events.event_pk")
                    })
                };
                tx.execute(&sql, args()).await
            }
            Prune::Issue {
                issue_id,
                idle_before_ms,
            } => {
                if let Some(before) = idle_before_ms {
                    // The lock (PostgreSQL) waits for transactions that are adding events to
                    // the issue; the count after it sees them all.
                    let lock = match tx.backend() {
                        Backend::Postgres => " for update",
                        Backend::Sqlite => "",
                    };
                    let sql = format!(
                        "select issue_id as id from issues where issue_id = $1 \
                         and last_seen_ms < $2{lock}"
                    );
                    let idle = tx
                        .fetch_optional::<IdRow>(&sql, vec![(*issue_id).into(), (*before).into()])
                        .await?;
                    let events = tx
                        .fetch_one::<IdRow>(
                            "select count(*) as id from events where issue_id = $1",
                            vec![(*issue_id).into()],
                        )
                        .await?
                        .id;
                    if idle.is_none() || events > 0 {
                        return Ok(0);
                    }
                }
                match delete_issue_rows(tx, *issue_id).await {
                    Ok(()) => Ok(1),
                    Err(StoreError::NotFound) => Ok(0),
                    Err(e) => Err(e),
                }
            }
            Prune::Cap { .. } => Ok(0),
            Prune::Project { project_id } => {
                for sql in PROJECT_ROWS {
                    tx.execute(sql, vec![(*project_id).into()]).await?;
                }
                tx.execute(
                    "delete from projects where project_id = $1 and deleted_ms is not null \
                     and not exists (select 1 from issues where project_id = $1)",
                    vec![(*project_id).into()],
                )
                .await
            }
            Prune::Vacuum { pages } => {
                let before = free_pages(tx).await?;
                // Stepped to its end by `fetch_all`: each step of the pragma frees one page
                // and yields a row without columns.
                tx.fetch_all::<NoColumns>(&format!("pragma incremental_vacuum({pages})"), vec![])
                    .await?;
                Ok(before.saturating_sub(free_pages(tx).await?))
            }
            Prune::RetireIdle {
                rows,
                keys,
                idle_before_ms,
            } => super::idle::retire(tx, *rows, keys, *idle_before_ms).await,
        }
    }
}

/// [`Prune::Cap`]: per issue one range delete found through the `(issue_id, event_pk)` index
/// (the newest event beyond the cap is `cap` entries from the end, the first is the lowest
/// key), then the mark; stops once `limit` events went (that issue is not marked: the next
/// step goes on with it).
async fn cap_issues(
    tx: &mut impl Executor,
    issues: &[CapCandidate],
    cap: i64,
    limit: u64,
) -> Result<Pruned, StoreError> {
    // A cap of 1 keeps only the newest event, any other the first and the newest `cap - 1`.
    let keep_first = cap >= 2;
    let newest = if keep_first { cap - 1 } else { cap.max(1) };
    let after_first = if keep_first {
        "and e.event_pk > (select min(f.event_pk) from events f where f.issue_id = $1)"
    } else {
        ""
    };
    let sql = format!(
        "delete from events where event_pk in (select e.event_pk from events e \
         where e.issue_id = $1 {after_first} \
         and e.event_pk <= (select n.event_pk from events n where n.issue_id = $1 \
         order by n.event_pk desc limit 1 offset $2) \
         and {APPLIED} order by e.event_pk limit $3)"
    );
    let mut done = Pruned::default();
    for issue in issues {
        let left = limit.saturating_sub(done.rows);
        if left == 0 {
            break;
        }
        let left_arg = i64::try_from(left).unwrap_or(i64::MAX);
        let deleted = tx
            .execute(
                &sql,
                vec![issue.issue_id.into(), newest.into(), left_arg.into()],
            )
            .await?;
        done.rows += deleted;
        if deleted >= left {
            // Perhaps more beyond the cap: the next step starts with this issue again.
            break;
        }
        tx.execute(
            "update issues set capped_at_count = $1, capped_with = $2 where issue_id = $3",
            vec![issue.event_count.into(), cap.into(), issue.issue_id.into()],
        )
        .await?;
        done.finished += 1;
    }
    Ok(done)
}

/// A row of no columns (what `pragma incremental_vacuum` yields per page).
#[derive(Debug, sqlx::FromRow)]
struct NoColumns {}

impl crate::store::db::Row for NoColumns {
    fn from_rusqlite(_: &rusqlite::Row<'_>, _: &mut usize) -> rusqlite::Result<Self> {
        Ok(NoColumns {})
    }
}

async fn free_pages(tx: &mut impl Executor) -> Result<u64, StoreError> {
    let row = tx
        .fetch_one::<IdRow>(
            "select freelist_count as id from pragma_freelist_count()",
            vec![],
        )
        .await?;
    Ok(row.id.max(0).unsigned_abs())
}

/// An issue that may hold more events than its cap (`event_count` grew since the cap was
/// last applied).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct CapCandidate {
    /// The issue.
    pub issue_id: i64,
    /// Its `event_count` when read.
    pub event_count: i64,
}

row! {
    struct CandidateRow {
        issue_id: i64,
        event_count: i64,
    }
}

impl Store {
    /// Runs one [`Prune`] step in its own transaction on the ingest writer.
    pub(in crate::store) async fn prune(&self, step: Prune) -> Result<Pruned, StoreError> {
        if let Some(writer) = &self.writer {
            return writer.prune(step).await;
        }
        let mut tx = self.pool.begin_write().await?;
        let done = step.run_in(&mut tx).await?;
        tx.commit().await?;
        Ok(done)
    }

    /// Deletes these events (one short transaction; at most a few hundred keys), skipping
    /// any whose issue aggregates are still pending. Returns how many were deleted.
    pub async fn delete_events(&self, event_pks: Vec<i64>) -> Result<u64, StoreError> {
        Ok(self
            .prune(Prune::Events {
                event_pks,
                pending: false,
            })
            .await?
            .rows)
    }

    /// Deletes an issue and what it owns if it has been idle since before `before_ms`
    /// (`last_seen_ms`) and holds no event; with `None`, whatever it holds (delete its events
    /// with [`Store::issue_event_pks`] batches first). Returns whether it was deleted.
    pub async fn prune_issue(
        &self,
        issue_id: i64,
        idle_before_ms: Option<i64>,
    ) -> Result<bool, StoreError> {
        let done = self
            .prune(Prune::Issue {
                issue_id,
                idle_before_ms,
            })
            .await?;
        Ok(done.rows > 0)
    }

    /// One step of the cap per issue (one short transaction): deletes the events of
    /// `issues`, in their order, beyond a cap of `cap` (the first event and the newest
    /// `cap - 1` are kept; a cap of 1 keeps only the newest), oldest first and at most
    /// `limit` in all, skipping any whose aggregates are pending, and records each issue it
    /// finished as capped at its candidate `event_count`. Returns the events deleted and how
    /// many issues, from the first, it finished (fewer than all only when `limit` was
    /// reached, so every step makes progress).
    pub async fn cap_issues(
        &self,
        issues: &[CapCandidate],
        cap: i64,
        limit: usize,
    ) -> Result<(u64, usize), StoreError> {
        let done = self
            .prune(Prune::Cap {
                issues: issues.to_vec(),
                cap,
                limit: u64::try_from(limit.max(1)).unwrap_or(u64::MAX),
            })
            .await?;
        Ok((done.rows, done.finished))
    }

    /// Deletes up to `limit` events of a project being deleted, pending aggregates included.
    /// Returns how many went.
    pub async fn delete_project_events(
        &self,
        project_id: i64,
        limit: usize,
    ) -> Result<u64, StoreError> {
        let event_pks = self
            .pks(
                "select event_pk as id from events where project_id = $1 \
                 order by received_ms limit $2",
                vec![project_id.into(), limit_arg(limit)],
            )
            .await?;
        Ok(self
            .prune(Prune::Events {
                event_pks,
                pending: true,
            })
            .await?
            .rows)
    }

    /// Deletes what is left of a deleted project once its issues are gone (channels, rules,
    /// keys, discarded hashes, notifications, the project row). Returns whether the project
    /// row went (false while issues remain).
    pub async fn finish_project_delete(&self, project_id: i64) -> Result<bool, StoreError> {
        let gone = self.prune(Prune::Project { project_id }).await?.rows > 0;
        if gone {
            self.forget_payload_dictionary(project_id);
        }
        Ok(gone)
    }

    /// SQLite with `auto_vacuum = incremental`: returns up to `pages` free pages to the file
    /// system; returns how many. Nothing on PostgreSQL (its autovacuum makes space reusable).
    pub async fn incremental_vacuum(&self, pages: i64) -> Result<u64, StoreError> {
        if self.backend() != Backend::Sqlite {
            return Ok(0);
        }
        Ok(self.prune(Prune::Vacuum { pages }).await?.rows)
    }

    /// Up to `limit` events of a project received before `before_ms`, oldest first, whose
    /// aggregates are applied.
    pub async fn events_received_before(
        &self,
        project_id: i64,
        before_ms: i64,
        limit: usize,
    ) -> Result<Vec<i64>, StoreError> {
        let sql = format!(
            "select e.event_pk as id from events e where e.project_id = $1 \
             and e.received_ms < $2 and {APPLIED} order by e.received_ms limit $3"
        );
        self.pks(
            &sql,
            vec![project_id.into(), before_ms.into(), limit_arg(limit)],
        )
        .await
    }

    /// Up to `limit` issues of a project with `last_seen_ms` before `before_ms` and no event
    /// left.
    pub async fn idle_issues(
        &self,
        project_id: i64,
        before_ms: i64,
        limit: usize,
    ) -> Result<Vec<i64>, StoreError> {
        self.pks(
            "select i.issue_id as id from issues i where i.project_id = $1 \
             and i.last_seen_ms < $2 \
             and not exists (select 1 from events e where e.issue_id = i.issue_id) \
             order by i.last_seen_ms limit $3",
            vec![project_id.into(), before_ms.into(), limit_arg(limit)],
        )
        .await
    }

    /// Issues of a project whose `event_count` is over `cap` and grew by more than `slack`
    /// since this cap was last applied to them (or another cap was), up to `limit`, by id
    /// after `after_issue`.
    pub async fn cap_candidates(
        &self,
        project_id: i64,
        cap: i64,
        slack: i64,
        after_issue: i64,
        limit: usize,
    ) -> Result<Vec<CapCandidate>, StoreError> {
        let rows = self
            .db()
            .fetch_all::<CandidateRow>(
                "select issue_id, event_count from issues where project_id = $1 \
                 and event_count > $2 \
                 and (event_count > capped_at_count + $3 or capped_with <> $2) \
                 and issue_id > $4 order by issue_id limit $5",
                vec![
                    project_id.into(),
                    cap.into(),
                    slack.into(),
                    after_issue.into(),
                    limit_arg(limit),
                ],
            )
            .await?;
        Ok(rows
            .into_iter()
            .map(|r| CapCandidate {
                issue_id: r.issue_id,
                event_count: r.event_count,
            })
            .collect())
    }

    /// The oldest `limit` events (by arrival) that are not their issue's newest, whose
    /// aggregates are applied: what the disk budget deletes first.
    pub async fn oldest_prunable_events(&self, limit: usize) -> Result<Vec<i64>, StoreError> {
        let sql = format!(
            "select e.event_pk as id from events e where {APPLIED} \
             and e.event_pk < (select max(n.event_pk) from events n where n.issue_id = e.issue_id) \
             order by e.event_pk limit $1"
        );
        self.pks(&sql, vec![limit_arg(limit)]).await
    }

    /// Up to `limit` events of an issue, oldest first (to delete a whole issue in batches).
    pub async fn issue_event_pks(
        &self,
        issue_id: i64,
        limit: usize,
    ) -> Result<Vec<i64>, StoreError> {
        self.pks(
            "select event_pk as id from events where issue_id = $1 order by event_pk limit $2",
            vec![issue_id.into(), limit_arg(limit)],
        )
        .await
    }

    /// Up to `limit` issues of a project, by id.
    pub async fn project_issue_ids(
        &self,
        project_id: i64,
        limit: usize,
    ) -> Result<Vec<i64>, StoreError> {
        self.pks(
            "select issue_id as id from issues where project_id = $1 order by issue_id limit $2",
            vec![project_id.into(), limit_arg(limit)],
        )
        .await
    }

    /// Up to `limit` issues that one of their groupings discards (an event that passed the
    /// ingest check just before the discard created it again).
    pub async fn discarded_issue_ids(&self, limit: usize) -> Result<Vec<i64>, StoreError> {
        self.pks(
            "select distinct g.issue_id as id from groupings g join discarded_groupings d \
             on d.project_id = g.project_id and d.grouping_version = g.grouping_version \
             and d.hash = g.hash order by id limit $1",
            vec![limit_arg(limit)],
        )
        .await
    }

    pub(super) async fn pks(&self, sql: &str, args: Vec<Arg<'_>>) -> Result<Vec<i64>, StoreError> {
        self.db().fetch_ids(sql, args).await
    }
}

/// A row limit as an argument: at least 1.
pub(super) fn limit_arg(limit: usize) -> Arg<'static> {
    Arg::from(i64::try_from(limit.max(1)).unwrap_or(i64::MAX))
}
