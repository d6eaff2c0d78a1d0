//! Storage: the one [`Store`] facade over SQLite (embedded default) and PostgreSQL.
//!
//! The engine is chosen from the URL scheme (`sqlite:` or `postgres:`/`postgresql:`) at
//! [`Store::connect`], which also runs the migrations (`migrations/sqlite` and
//! `migrations/postgres`: same version numbers, same logical schema). SQL is shared where the
//! dialects agree and matched on [`Backend`] where they differ. All timestamps are epoch
//! milliseconds, ids and hashes `TEXT`, JSON `TEXT`.
//!
//! # Layout: one module per entity
//! Each entity module holds its public types, its row types and an `impl Store` block with
//! its reads and writes for both engines:
//! * `projects.rs`: `projects`, `project_keys`, per-project counters.
//! * `tokens.rs`: `api_tokens` (create, list, revoke, last use), and [`secret_hash`], the
//!   stored form of every secret.
//! * `accounts.rs`: `users`, `sessions`, `setup_tokens`.
//! * `account_changes.rs`: audited changes to users (create, delete, role, passwords) and
//!   `password_resets`.
//! * `audit.rs`: `audit_log`, who did what to accounts and access.
//! * `feedback.rs`: `user_feedback`, what users wrote about an event, linked to its issue.
//! * `events.rs`: `events` (reads; events are written by `batch/`); `event_search.rs`: an
//!   issue's events filtered by the search terms.
//! * `issues/`: `issues` and `groupings`: one issue, triage, delete (`mod.rs`), lists and
//!   search (`list.rs`), tag facets and hourly counts from `issue_tags`, `issue_hourly`
//!   (`stats.rs`), assignment and conditional resolve / ignore (`triage.rs`), merge and
//!   unmerge with `issue_redirects` (`merge.rs`).
//! * `releases.rs`: `releases`, `deploys`, and per-release numbers read from `issue_tags`.
//! * `artifacts.rs`: `upload_chunks`, `artifact_bundles`, `artifact_files` (source maps).
//! * `activity.rs`: `issue_activity`: the timeline of an issue and its comments.
//! * `channels.rs`: `notification_channels`.
//! * `alert_rules.rs`: `alert_rules` (a project's rules: triggers, filters, actions).
//! * `rules.rs`: the windowed triggers' evaluation (frequency, users, every event).
//! * `server_settings.rs`: `server_settings`, facts `errata serve` records for the command
//!   line (the public base URL).
//! * `outbox.rs`: `outbox` and `notification_triggers`: notifications and their fan-out.
//! * `deliveries/`: `notification_deliveries`: claims (`mod.rs`), storm control
//!   (`storm.rs`), `notification_attempts` and channel health (`attempts.rs`).
//! * `retention/`: the data lifecycle: per-project limits, discarded hashes, pruning steps
//!   (run on the ingest writer), database size and `retention_runs`.
//! * `monitors.rs`, `checkins.rs`, `incidents.rs`: cron monitors with their environments,
//!   their check-ins, and incidents; `monitor_tx.rs`: [`MonitorTx`], the one transaction a
//!   check-in (or the monitor clock) commits, issue event and outbox rows included.
//! * `status_pages.rs`: public status pages and the daily tallies of their bars.
//! * `payload_dictionaries.rs`: `payload_dictionaries`, per-project zstd dictionaries of event
//!   payloads, with the current ones in memory and the decoders readers load on demand.
//! * `uptime.rs`: uptime checks, their results and the certificates they saw, and the
//!   [`MonitorTx`] writes of a result.
//!
//! A new table gets a new module: the queries of a `monitors` table go in
//! `store/monitors.rs`, with its types, its rows declared with `row!` and an
//! `impl Store { … }` block, plus a `mod monitors;` and a `pub use` line here.
//!
//! The machinery under them:
//! * `db/`: the one `Executor` trait every query goes through (the pool, an open
//!   transaction, the SQLite writer's own connection), bound arguments, the `row!` macro,
//!   the sqlx and rusqlite error mapping, and helpers that write SQL text.
//! * `batch/`: the ingest hot path, [`Store::commit_batch`] (one transaction per batch:
//!   groupings, events, issue aggregates, `outbox` rows) and [`Store::roll_up`] of deferred
//!   aggregates (`pending_aggregates`).
//! * `writer/`: the threads that run batches, one per engine (a SQLite file: a rusqlite
//!   connection and a WAL checkpointer; PostgreSQL: its own runtime and connections).
//! * `connect.rs` opens each engine; `payload.rs` encodes the `events.payload` column (zstd,
//!   with the project's dictionary from `payload_dictionaries.rs` when it has one).

#[macro_use]
mod db;
mod account_changes;
mod accounts;
mod activity;
mod alert_rules;
mod artifacts;
pub mod audit;
mod batch;
mod channels;
mod checkins;
mod connect;
mod deliveries;
mod event_search;
mod events;
mod feedback;
mod incidents;
mod issues;
pub mod leases;
mod monitor_tx;
mod monitors;
mod outbox;
mod payload;
mod payload_dictionaries;
mod projects;
mod releases;
mod resolutions;
mod retention;
mod rules;
pub mod server_settings;
mod sso;
mod status_pages;
mod teams;
mod tokens;
mod uptime;
mod writer;

use crate::clock::system_now_ms as now_ms;
use db::{Executor, IdRow, Pool};

pub use accounts::{normalize_email, Session, SessionInfo, User, SESSION_ID_LEN};
pub use activity::{Activity, CommentError, MAX_COMMENT_BYTES};
pub use alert_rules::{
    default_rule_spec, AlertRule, AssignedFilter, ChannelSelection, InvalidRule, RuleActions,
    RuleFilters, RuleSpec, RuleTrigger, Subject, TagFilter, TagOp, UPTIME_DOWN_KIND,
    UPTIME_UP_KIND,
};
pub use artifacts::{ArtifactKind, ArtifactRef, NewArtifactFile, NewBundle};
pub use audit::{
    Actor, AuditAction, AuditEntry, AuditPage, AuditQuery, AuditTarget, NewAuditEntry,
};
pub use batch::{Aggregates, InsertOutcome, NewEvent, RollUp};
pub use channels::{Channel, ChannelKind, ChannelStatus};
pub use checkins::{CheckInFields, CheckInPage, StoredCheckIn};
pub use connect::StorageConfig;
pub use connect::{is_new_database, sqlite_file};
pub use deliveries::{
    Attempt, Claim, ClaimedDelivery, Recorded, RetryPolicy, SendReport, StormPolicy,
    MAX_DIGEST_MINUTES,
};
pub use event_search::{EventFilter, EventListItem, EventListPage, SCAN_BUDGET};
pub use events::{EventNeighbors, EventPage, EventSummary, StoredEvent};
pub use feedback::{Feedback, FeedbackKind, FeedbackPage, FeedbackQuery, NewFeedback};
pub use incidents::Incident;
pub use issues::{
    Assignee, AssigneeFilter, GroupingHash, Issue, IssuePage, IssueQuery, IssueSort, IssueStatus,
    MergeError, REGROUPING_LOCK_TIMEOUT_MS,
};
pub use monitor_tx::{CheckInChange, MonitorTx, NewCheckIn, NewIncident};
pub use monitors::{Monitor, MonitorEnvironment};
pub use outbox::{FanOut, NotificationItem, OutboxEntry, Trigger};
pub use payload::{
    decode_payload, decode_payload_with, encode_json, encode_payload, encode_value, encode_with,
    payload_dictionary_id, set_dictionary_id, Dictionaries, PayloadDictionary,
    DICTIONARY_ZSTD_LEVEL,
};
pub use payload_dictionaries::PayloadInfo;
pub use projects::{KeyInfo, Project, ProjectStats};
pub use releases::{Deploy, Release, ReleaseStats, ReleaseSummary, ReleaseUpdate};
pub use retention::{
    CapCandidate, DatabaseSize, DiscardedGrouping, IdleKey, IdleRows, Limit, ProjectLimits,
    RetentionRun, StoredContents,
};
pub use rules::FrequencyRule;
pub use sso::SsoLogin;
pub use status_pages::{DayTally, StatusPage};
pub use teams::{team_name, Role, Team, TeamLink, MAX_TEAM_NAME};
pub use tokens::{secret_hash, ApiToken, NewToken, TOUCH_INTERVAL_MS};
pub use uptime::{UptimeCertificate, UptimeCheck, UptimeOutcome, UptimeResult, UptimeResultPage};

/// Errors of the storage layer, mapped once from the drivers (`db/`).
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    /// The row asked for does not exist.
    #[error("not found")]
    NotFound,
    /// A uniqueness rule was violated.
    #[error("conflict: {0}")]
    Conflict(String),
    /// The database cannot be reached or is saturated (pool timeout, connection refused).
    #[error("database unavailable: {0}")]
    Unavailable(String),
    /// Anything else (a bug or corrupt data).
    #[error("database error: {0}")]
    Other(String),
    /// A pagination cursor that this store did not hand out (or one for another sort
    /// order); the read API answers 400.
    #[error("invalid cursor: {0}")]
    InvalidCursor(String),
}

/// Which engine a `Store` runs on.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Backend {
    /// Embedded SQLite file (WAL mode).
    Sqlite,
    /// PostgreSQL server.
    Postgres,
}

impl Backend {
    /// The dialect's two-argument minimum and maximum functions, for upserts that widen a
    /// first/last-seen range: `("min", "max")` or `("least", "greatest")`.
    pub(in crate::store) fn min_max(self) -> (&'static str, &'static str) {
        match self {
            Backend::Sqlite => ("min", "max"),
            Backend::Postgres => ("least", "greatest"),
        }
    }
}

/// The store facade. Cheap to clone (a pool handle).
#[derive(Clone, Debug)]
pub struct Store {
    pool: Pool,
    /// The thread that commits ingest batches (`writer/`); `None` for an in-memory SQLite
    /// database (which a second connection could not see), where batches go through the
    /// pool.
    writer: Option<writer::WriterHandle>,
    /// The PostgreSQL writer's own connections, closed by [`Store::close`].
    writer_pool: Option<sqlx::PgPool>,
    /// A SQLite database file as the writer opened it, which [`Store::ping`] checks is
    /// still the file at its path.
    file: Option<std::sync::Arc<writer::DatabaseFile>>,
    /// Payload dictionaries in memory: each project's current one, and those readers
    /// loaded (`payload_dictionaries.rs`).
    dictionaries: std::sync::Arc<payload::Dictionaries>,
}

impl Store {
    /// Opens `sqlite://path` (or `sqlite::memory:`) or `postgres://…`, and runs migrations.
    ///
    /// SQLite: creates the file if missing (its directory must exist); WAL journal,
    /// `synchronous=FULL` (a commit is on disk when acknowledged), foreign keys on, a busy
    /// timeout; a file database also gets its ingest writer thread and connection.
    /// PostgreSQL: a pool with an acquire timeout, and the ingest writer thread with its own
    /// connections; the server must be version 12 or newer. Errors:
    /// [`StoreError::Unavailable`] when the database cannot be reached (with the cause),
    /// [`StoreError::Other`] for a bad URL, a missing SQLite directory, an unsupported
    /// server or a failed migration. Messages never contain the URL (it may hold a password).
    pub async fn connect(url: &str) -> Result<Store, StoreError> {
        Store::connect_with(url, &StorageConfig::default()).await
    }

    /// [`Store::connect`] under the limits of `[storage]`.
    pub async fn connect_with(url: &str, config: &StorageConfig) -> Result<Store, StoreError> {
        let scheme = url.split(':').next().unwrap_or_default();
        let (pool, writer, writer_pool, file) = match scheme {
            "sqlite" => {
                let (pool, path) = connect::sqlite(url).await?;
                let (writer, file) = match path {
                    Some(path) => {
                        let (writer, file) = writer::start_sqlite(
                            &path,
                            connect::SQLITE_BUSY_TIMEOUT,
                            config.max_wal_bytes,
                        )?;
                        (Some(writer), Some(file))
                    }
                    None => (None, None),
                };
                (Pool::Sqlite(pool), writer, None, file)
            }
            "postgres" | "postgresql" => {
                let (pool, options) = connect::postgres(url).await?;
                let (writer, writer_pool) =
                    writer::start_postgres(options, connect::PG_WRITER_CONNECTIONS).await?;
                (Pool::Postgres(pool), Some(writer), Some(writer_pool), None)
            }
            _ => {
                return Err(StoreError::Other(format!(
                    "unsupported database URL scheme {scheme:?}: use sqlite:// or postgres://"
                )))
            }
        };
        Ok(Store {
            pool,
            writer,
            writer_pool,
            file,
            dictionaries: Default::default(),
        })
    }

    /// The engine in use.
    pub fn backend(&self) -> Backend {
        self.pool.backend()
    }

    /// Readiness: a SQLite file must still be the file the writer opened (not deleted or
    /// replaced), then a trivial query must round-trip. Errors: [`StoreError::Unavailable`]
    /// saying which failed.
    pub async fn ping(&self) -> Result<(), StoreError> {
        if let Some(file) = &self.file {
            file.check()?;
        }
        self.db()
            .fetch_one::<IdRow>("select cast(1 as bigint) as id", vec![])
            .await?;
        Ok(())
    }

    /// Closes the pool, waiting for checked-out connections to be returned.
    pub async fn close(&self) {
        if let Some(writer_pool) = &self.writer_pool {
            writer_pool.close().await;
        }
        self.pool.close().await
    }

    /// The pool as an executor: `self.db().fetch_all(…)` runs one statement on a pooled
    /// connection. Transactions start with `self.pool.begin_write()`.
    fn db(&self) -> &Pool {
        &self.pool
    }
}
