//! What the database holds and how large it is, and the record of retention passes
//! (`retention_runs`).

use crate::store::db::{Executor, IdRow};
use crate::store::{Backend, Store, StoreError};

/// Passes kept in `retention_runs`.
const RUNS_KEPT: i64 = 1000;

/// The database's size.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, serde::Serialize)]
pub struct DatabaseSize {
    /// On disk: SQLite `page_count × page_size` (the main file; the WAL beside it is bounded
    /// by the checkpointer), PostgreSQL the sum of `pg_total_relation_size` of every table.
    pub bytes: i64,
    /// What the stored rows take, the figure the disk budget is held to: SQLite `bytes`
    /// less the free pages; PostgreSQL an estimate, the other tables' full size plus
    /// events × the average size of the newest 1,000 events (row plus its share of the
    /// indexes), since PostgreSQL files keep their size after deletes and reuse the space.
    pub used_bytes: i64,
    /// SQLite: free pages (bytes) inside the file; 0 on PostgreSQL.
    pub free_bytes: i64,
    /// SQLite: `auto_vacuum` is `incremental`, so free pages can be given back to the file
    /// system; always false on PostgreSQL.
    pub incremental_vacuum: bool,
}

/// What the database holds.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, serde::Serialize)]
pub struct StoredContents {
    /// Events stored.
    pub events: i64,
    /// Issues.
    pub issues: i64,
    /// Receive time of the first-received stored event (epoch ms).
    pub oldest_received_ms: Option<i64>,
}

/// One retention pass, as recorded.
#[derive(Debug, Clone, PartialEq, Eq, Default, serde::Serialize)]
pub struct RetentionRun {
    /// Start (epoch ms, server clock).
    pub started_ms: i64,
    /// End.
    pub finished_ms: i64,
    /// Events deleted for their age.
    pub deleted_age: i64,
    /// Events deleted by the cap per issue.
    pub deleted_cap: i64,
    /// Events deleted to get under the disk budget.
    pub deleted_budget: i64,
    /// Issues deleted (idle past the retention, discarded, of deleted projects).
    pub deleted_issues: i64,
    /// Projects whose deletion finished.
    pub deleted_projects: i64,
    /// The database's on-disk size after the pass.
    pub database_bytes: i64,
    /// A disk budget is set and the pass could not get under it.
    pub over_budget: bool,
    /// Why the pass stopped early, if it did.
    pub error: Option<String>,
}

row! {
    struct SqliteSizeRow {
        pages: i64,
        free: i64,
        page_size: i64,
        auto_vacuum: i64,
    }
}

row! {
    struct PgSizeRow {
        total: i64,
        events_total: i64,
        events_heap: i64,
    }
}

row! {
    struct ContentsRow {
        events: i64,
        issues: i64,
        oldest: Option<i64>,
    }
}

row! {
    struct RunRow {
        started_ms: i64,
        finished_ms: i64,
        deleted_age: i64,
        deleted_cap: i64,
        deleted_budget: i64,
        deleted_issues: i64,
        deleted_projects: i64,
        database_bytes: i64,
        over_budget: bool,
        error: Option<String>,
    }
}

impl Store {
    /// The database's size (see [`DatabaseSize`]). Cheap on SQLite; on PostgreSQL a count
    /// of the events (an index scan) and a read of the newest 1,000.
    pub async fn database_size(&self) -> Result<DatabaseSize, StoreError> {
        match self.backend() {
            Backend::Sqlite => {
                let r = self
                    .db()
                    .fetch_one::<SqliteSizeRow>(
                        "select (select page_count from pragma_page_count()) as pages, \
                         (select freelist_count from pragma_freelist_count()) as free, \
                         (select page_size from pragma_page_size()) as page_size, \
                         (select auto_vacuum from pragma_auto_vacuum()) as auto_vacuum",
                        vec![],
                    )
                    .await?;
                let bytes = r.pages.saturating_mul(r.page_size);
                let free_bytes = r.free.saturating_mul(r.page_size);
                Ok(DatabaseSize {
                    bytes,
                    used_bytes: bytes - free_bytes,
                    free_bytes,
                    // 2 = incremental (https://www.sqlite.org/pragma.html#pragma_auto_vacuum).
                    incremental_vacuum: r.auto_vacuum == 2,
                })
            }
            Backend::Postgres => {
                let r = self
                    .db()
                    .fetch_one::<PgSizeRow>(
                        "select cast(coalesce(sum(pg_total_relation_size(c.oid)), 0) as bigint) \
                           as total, \
                         cast(pg_total_relation_size('events') \
                           + pg_total_relation_size('event_payloads') as bigint) as events_total, \
                         cast(pg_table_size('events') + pg_table_size('event_payloads') as bigint) \
                           as events_heap \
                         from pg_class c join pg_namespace n on n.oid = c.relnamespace \
                         where n.nspname = current_schema() and c.relkind = 'r'",
                        vec![],
                    )
                    .await?;
                let events = self
                    .db()
                    .fetch_one::<IdRow>("select count(*) as id from events", vec![])
                    .await?
                    .id;
                let row_bytes = self
                    .db()
                    .fetch_one::<IdRow>(
                        "select cast(coalesce(avg(pg_column_size(e.*) + pg_column_size(p.*)), 0) \
                           as bigint) as id \
                         from (select * from events order by event_pk desc limit 1000) e \
                         join event_payloads p on p.event_pk = e.event_pk",
                        vec![],
                    )
                    .await?
                    .id;
                // Indexes grow with the table (heap and TOAST): give each event its share.
                let with_indexes = if r.events_heap > 0 {
                    row_bytes.saturating_mul(r.events_total) / r.events_heap
                } else {
                    row_bytes
                };
                let events_used = events.saturating_mul(with_indexes).min(r.events_total);
                Ok(DatabaseSize {
                    bytes: r.total,
                    used_bytes: r.total - r.events_total + events_used,
                    free_bytes: 0,
                    incremental_vacuum: false,
                })
            }
        }
    }

    /// The database's size on disk ([`DatabaseSize::bytes`]) without the PostgreSQL estimate
    /// of what the rows take: cheap on both engines, for every pass.
    pub async fn database_bytes(&self) -> Result<i64, StoreError> {
        match self.backend() {
            Backend::Sqlite => Ok(self.database_size().await?.bytes),
            Backend::Postgres => Ok(self
                .db()
                .fetch_one::<IdRow>(
                    "select cast(coalesce(sum(pg_total_relation_size(c.oid)), 0) as bigint) as id \
                     from pg_class c join pg_namespace n on n.oid = c.relnamespace \
                     where n.nspname = current_schema() and c.relkind = 'r'",
                    vec![],
                )
                .await?
                .id),
        }
    }

    /// Events and issues stored and the oldest event. Counts rows: for status pages and the
    /// command line, not per-request paths.
    pub async fn stored_contents(&self) -> Result<StoredContents, StoreError> {
        let r = self
            .db()
            .fetch_one::<ContentsRow>(
                "select (select count(*) from events) as events, \
                 (select count(*) from issues) as issues, \
                 (select received_ms from events order by event_pk limit 1) as oldest",
                vec![],
            )
            .await?;
        Ok(StoredContents {
            events: r.events,
            issues: r.issues,
            oldest_received_ms: r.oldest,
        })
    }

    /// Events stored for one issue (an index range count).
    pub async fn issue_stored_events(&self, issue_id: i64) -> Result<i64, StoreError> {
        Ok(self
            .db()
            .fetch_one::<IdRow>(
                "select count(*) as id from events where issue_id = $1",
                vec![issue_id.into()],
            )
            .await?
            .id)
    }

    /// Records a pass, keeping the latest 1,000.
    pub async fn record_retention_run(&self, run: &RetentionRun) -> Result<(), StoreError> {
        self.db()
            .execute(
                "insert into retention_runs (started_ms, finished_ms, deleted_age, \
                 deleted_cap, deleted_budget, deleted_issues, deleted_projects, \
                 database_bytes, over_budget, error) \
                 values ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10)",
                vec![
                    run.started_ms.into(),
                    run.finished_ms.into(),
                    run.deleted_age.into(),
                    run.deleted_cap.into(),
                    run.deleted_budget.into(),
                    run.deleted_issues.into(),
                    run.deleted_projects.into(),
                    run.database_bytes.into(),
                    run.over_budget.into(),
                    run.error.clone().into(),
                ],
            )
            .await?;
        self.db()
            .execute(
                "delete from retention_runs where run_id <= \
                 (select max(run_id) from retention_runs) - $1",
                vec![RUNS_KEPT.into()],
            )
            .await?;
        Ok(())
    }

    /// The latest passes, newest first.
    pub async fn retention_runs(&self, limit: usize) -> Result<Vec<RetentionRun>, StoreError> {
        let rows = self
            .db()
            .fetch_all::<RunRow>(
                "select started_ms, finished_ms, deleted_age, deleted_cap, deleted_budget, \
                 deleted_issues, deleted_projects, database_bytes, over_budget, error \
                 from retention_runs order by run_id desc limit $1",
                vec![i64::try_from(limit.max(1)).unwrap_or(i64::MAX).into()],
            )
            .await?;
        Ok(rows
            .into_iter()
            .map(|r| RetentionRun {
                started_ms: r.started_ms,
                finished_ms: r.finished_ms,
                deleted_age: r.deleted_age,
                deleted_cap: r.deleted_cap,
                deleted_budget: r.deleted_budget,
                deleted_issues: r.deleted_issues,
                deleted_projects: r.deleted_projects,
                database_bytes: r.database_bytes,
                over_budget: r.over_budget,
                error: r.error,
            })
            .collect())
    }
}

impl Store {
    /// SQLite: sets `auto_vacuum = incremental` and rewrites the file with `VACUUM` so that
    /// it takes effect. Holds the write lock for the whole rewrite. Errors: the store's.
    pub async fn vacuum_into_incremental(&self) -> Result<(), StoreError> {
        if self.backend() != Backend::Sqlite {
            return Ok(());
        }
        // Both on one connection: the setting is per connection until VACUUM writes it.
        let crate::store::db::Pool::Sqlite(pool) = &self.pool else {
            return Ok(());
        };
        let mut conn = pool.acquire().await.map_err(crate::store::db::db_error)?;
        sqlx::query("pragma auto_vacuum = incremental")
            .execute(&mut *conn)
            .await
            .map_err(crate::store::db::db_error)?;
        sqlx::query("vacuum")
            .execute(&mut *conn)
            .await
            .map_err(crate::store::db::db_error)?;
        Ok(())
    }
}
