//! Storage: the one [`Store`] facade over SQLite (embedded default) and PostgreSQL.
//!
//! The backend is chosen from the URL scheme (`sqlite:` or `postgres:`/`postgresql:`) and
//! held in a closed enum; SQL is shared where the dialects agree and matched per backend
//! where they differ. Migrations live in `migrations/sqlite` and `migrations/postgres` (same
//! version numbers, same logical schema) and run at [`Store::connect`].
//!
//! Schema in short (all timestamps epoch milliseconds, ids and hashes `TEXT`, JSON as `TEXT`):
//! * `projects`, `project_keys` (public key → project), `api_tokens` (sha256 of the token).
//! * `issues`: triage state and denormalized counters; `groupings` maps
//!   `(project_id, grouping_version, hash)` → issue (several rows per issue allowed, so merges
//!   and future grouping versions are inserts).
//! * `events`: one row per stored event, zstd-compressed normalized JSON in `payload`.
//! * `issue_users` (distinct users), `issue_tags` (tag counts per issue, including the keys
//!   `release`, `environment`, `level`), `issue_hourly` (event counts per hour).
//! * `outbox`: `new_issue` / `regression` notifications, written in the transaction that
//!   caused them.
//!
//! Writes happen in [`Store::commit_batch`] (one transaction per batch, see `write.rs`; on a
//! SQLite file they run on a dedicated writer thread, see `direct.rs`); everything else is
//! small reads and single-row updates.

#[macro_use]
mod db;
mod accounts;
mod aggregate;
mod checkpoint;
mod direct;
mod handoff;
mod notify;
mod pg_batch;
mod pg_writer;
mod read;
mod web;
mod write;

use std::path::PathBuf;
use std::str::FromStr;
use std::sync::Arc;
use std::time::Duration;

use sha2::{Digest, Sha256};
use sqlx::postgres::{PgConnectOptions, PgPoolOptions};
use sqlx::sqlite::{SqliteConnectOptions, SqliteJournalMode, SqlitePoolOptions, SqliteSynchronous};
use sqlx::FromRow;

use crate::grouping::Grouping;
use crate::protocol::{EventId, Level};

use db::{db_error, IdRow, Pool};

pub use accounts::{normalize_email, secret_hash, Session, User};
pub use aggregate::RollUp;
pub use notify::{
    Attempt, Channel, ChannelKind, ChannelStatus, Claim, ClaimedDelivery, FanOut, FrequencyRule,
    NotificationItem, Recorded, RetryPolicy, SendReport, StormPolicy, Trigger,
};
pub use read::{
    EventPage, EventSummary, Issue, IssuePage, IssueQuery, IssueSort, OutboxEntry, OutboxKind,
    StoredEvent,
};
pub use web::{EventNeighbors, ProjectStats};

/// Errors of the storage layer, mapped once from sqlx.
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

/// A project: events arrive for it under its public key.
#[derive(Debug, Clone, serde::Serialize)]
pub struct Project {
    /// Numeric project id, the last path segment of the DSN.
    pub id: i64,
    /// Human name.
    pub name: String,
    /// The active public key (32 lowercase hex) used as DSN user-info.
    pub public_key: String,
    /// Creation time, epoch milliseconds.
    pub created_ms: i64,
}

/// What a public key authorizes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct KeyInfo {
    /// The project the key belongs to.
    pub project_id: i64,
    /// False when the key was disabled.
    pub key_active: bool,
    /// False when the project was disabled.
    pub project_active: bool,
}

/// Triage state of an issue.
///
/// `resolved_ms` is set exactly while an issue is `resolved`. `is_regression` is set when an
/// event reopens a resolved issue and cleared only by resolving it again (a manual reopen or
/// ignore leaves it as it was).
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum IssueStatus {
    /// Open (new or regressed).
    Unresolved,
    /// Marked fixed; a new event reopens it as a regression.
    Resolved,
    /// Muted: events are counted, nothing reopens or notifies.
    Ignored,
}

impl IssueStatus {
    /// The stored and wire name (`"unresolved"`, `"resolved"`, `"ignored"`).
    pub fn as_str(self) -> &'static str {
        match self {
            IssueStatus::Unresolved => "unresolved",
            IssueStatus::Resolved => "resolved",
            IssueStatus::Ignored => "ignored",
        }
    }

    fn parse(s: &str) -> Result<IssueStatus, StoreError> {
        match s {
            "unresolved" => Ok(IssueStatus::Unresolved),
            "resolved" => Ok(IssueStatus::Resolved),
            "ignored" => Ok(IssueStatus::Ignored),
            other => Err(StoreError::Other(format!("corrupt issue status {other:?}"))),
        }
    }
}

/// One event ready to be committed: normalized, grouped, payload encoded.
#[derive(Debug, Clone)]
pub struct NewEvent {
    /// Owning project.
    pub project_id: i64,
    /// Event id; `(project_id, event_id)` is unique, a repeat is a duplicate.
    pub event_id: EventId,
    /// Event time, epoch ms.
    pub timestamp_ms: i64,
    /// Receive time, epoch ms.
    pub received_ms: i64,
    /// Severity.
    pub level: Level,
    /// Platform name.
    pub platform: String,
    /// Display title.
    pub title: String,
    /// Culprit, if any.
    pub culprit: Option<String>,
    /// Release, if any.
    pub release: Option<String>,
    /// Environment, if any.
    pub environment: Option<String>,
    /// Distinct-user identity, if any.
    pub user_key: Option<String>,
    /// Normalized tags.
    pub tags: Vec<(String, String)>,
    /// The grouping result that decides the issue.
    pub grouping: Grouping,
    /// The normalized event JSON, encoded by [`encode_payload`].
    pub payload: Vec<u8>,
}

/// What committing one [`NewEvent`] did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct InsertOutcome {
    /// The event id.
    pub event_id: EventId,
    /// The issue it belongs to.
    pub issue_id: i64,
    /// True when `(project_id, event_id)` was already stored: nothing was written.
    pub duplicate: bool,
    /// True when this event created its issue.
    pub new_issue: bool,
    /// True when this event reopened a resolved issue.
    pub regression: bool,
}

/// zstd level for payloads. Level 1 takes ~8 µs for a 12 KB event where level 3 took
/// ~40 µs, and the generator's 200,000-event database came out the same size (998 MB) with
/// either (`bench/README.md`).
const PAYLOAD_ZSTD_LEVEL: i32 = 1;

/// The 4-byte magic number that starts every zstd frame.
const ZSTD_MAGIC: [u8; 4] = [0x28, 0xb5, 0x2f, 0xfd];

/// Encodes a normalized event for the `payload` column: the JSON text compressed as one zstd
/// frame. If compression fails (only possible when out of memory) the plain JSON bytes are
/// stored instead; [`decode_payload`] reads both.
pub fn encode_payload(event: &serde_json::Value) -> Vec<u8> {
    thread_local! {
        // A zstd context is costly to set up; every event on this thread reuses one.
        static COMPRESSOR: std::cell::RefCell<Option<zstd::bulk::Compressor<'static>>> =
            std::cell::RefCell::new(zstd::bulk::Compressor::new(PAYLOAD_ZSTD_LEVEL).ok());
        // The JSON text, in a buffer that keeps its capacity: growing a fresh `Vec` to
        // 12 KB took a dozen reallocations and copies per event.
        static JSON: std::cell::RefCell<Vec<u8>> = const { std::cell::RefCell::new(Vec::new()) };
    }
    JSON.with(|json| {
        let mut json = json.borrow_mut();
        json.clear();
        // A writer, not `to_string`: Display goes through `fmt::Write`, a third slower here.
        // (Serializing a `Value` into a `Vec` cannot fail; the fallback keeps this total.)
        if serde_json::to_writer(&mut *json, event).is_err() {
            return event.to_string().into_bytes();
        }
        let compressed = COMPRESSOR.with(|c| match c.borrow_mut().as_mut() {
            Some(c) => c.compress(&json).ok(),
            None => None,
        });
        let encoded = compressed.unwrap_or_else(|| json.clone());
        // An event far larger than usual gives its memory back instead of pinning it here.
        if json.capacity() > MAX_KEPT_JSON_BUFFER {
            *json = Vec::new();
        }
        encoded
    })
}

/// Largest serialization buffer [`encode_payload`] keeps per thread between events, bytes.
const MAX_KEPT_JSON_BUFFER: usize = 256 * 1024;

/// Decodes a `payload` column written by [`encode_payload`] back into JSON.
///
/// Errors with [`StoreError::Other`] when the bytes are neither a zstd frame of JSON nor
/// plain JSON (corrupt data).
pub fn decode_payload(bytes: &[u8]) -> Result<serde_json::Value, StoreError> {
    let corrupt = |e: &dyn std::fmt::Display| StoreError::Other(format!("corrupt payload: {e}"));
    if bytes.starts_with(&ZSTD_MAGIC) {
        let json = zstd::stream::decode_all(bytes).map_err(|e| corrupt(&e))?;
        serde_json::from_slice(&json).map_err(|e| corrupt(&e))
    } else {
        serde_json::from_slice(bytes).map_err(|e| corrupt(&e))
    }
}

/// How long a request waits for a pooled connection before the store reports
/// [`StoreError::Unavailable`].
const ACQUIRE_TIMEOUT: Duration = Duration::from_secs(5);
/// Connections of the PostgreSQL ingest writer's own pool: one per concurrent commit or
/// roll-up (`ingest.writers`, default 1); more writers wait for a free one.
const PG_WRITER_CONNECTIONS: u32 = 4;
/// How long SQLite waits for another writer's lock before giving up with `SQLITE_BUSY`.
const SQLITE_BUSY_TIMEOUT: Duration = Duration::from_secs(5);
/// Oldest PostgreSQL accepted (`server_version_num`): 12 is the oldest release with
/// `generated … as identity`, `on conflict` and the planner behaviour the queries assume.
const MIN_POSTGRES_VERSION: i64 = 120000;

/// The store facade. Cheap to clone (a pool handle).
#[derive(Clone, Debug)]
pub struct Store {
    pool: Pool,
    /// The thread that commits ingest batches (`direct.rs`, `pg_writer.rs`); `None` for an
    /// in-memory SQLite database (which a second connection could not see), where batches
    /// go through the pool.
    writer: Option<handoff::WriterHandle>,
    /// The PostgreSQL writer's own connections, closed by [`Store::close`].
    writer_pool: Option<sqlx::PgPool>,
}

#[derive(Debug, FromRow)]
struct ProjectRow {
    project_id: i64,
    name: String,
    public_key: Option<String>,
    created_ms: i64,
}

impl From<ProjectRow> for Project {
    fn from(r: ProjectRow) -> Self {
        Project {
            id: r.project_id,
            name: r.name,
            public_key: r.public_key.unwrap_or_default(),
            created_ms: r.created_ms,
        }
    }
}

#[derive(Debug, FromRow)]
struct KeyInfoRow {
    project_id: i64,
    key_active: bool,
    project_active: bool,
}

/// Projects with their preferred key: the oldest active one, else the oldest disabled one.
const PROJECT_SELECT: &str = "select p.project_id, p.name, p.created_ms, \
    (select k.public_key from project_keys k where k.project_id = p.project_id \
     order by k.active desc, k.created_ms, k.public_key limit 1) as public_key \
    from projects p";

impl Store {
    /// Opens `sqlite://path` (or `sqlite::memory:`) or `postgres://…`, and runs migrations.
    ///
    /// SQLite: creates the file and its parent directory if missing; WAL journal,
    /// `synchronous=FULL` (a commit is on disk when acknowledged), foreign keys on, a busy
    /// timeout; a file database also gets its ingest writer thread and connection.
    /// PostgreSQL: a pool with an acquire timeout, and the ingest writer thread with its own
    /// connections; the server must be version 12 or newer. Errors: [`StoreError::Unavailable`] when the database cannot be reached or the
    /// directory cannot be created, [`StoreError::Other`] for a bad URL, an unsupported
    /// server or a failed migration. Messages never contain the URL (it may hold a password).
    pub async fn connect(url: &str) -> Result<Store, StoreError> {
        let scheme = url.split(':').next().unwrap_or_default();
        let (pool, writer, writer_pool) = match scheme {
            "sqlite" => {
                let (pool, file) = connect_sqlite(url).await?;
                let writer = match file {
                    Some(path) => Some(direct::start(&path, SQLITE_BUSY_TIMEOUT)?),
                    None => None,
                };
                (Pool::Sqlite(pool), writer, None)
            }
            "postgres" | "postgresql" => {
                let (pool, options) = connect_postgres(url).await?;
                let (writer, writer_pool) =
                    pg_writer::start(options, PG_WRITER_CONNECTIONS).await?;
                (Pool::Postgres(pool), Some(writer), Some(writer_pool))
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
        })
    }

    /// The engine in use.
    pub fn backend(&self) -> Backend {
        self.pool.backend()
    }

    /// Round-trips a trivial query (readiness check). Errors: [`StoreError::Unavailable`].
    pub async fn ping(&self) -> Result<(), StoreError> {
        self.pool
            .fetch_one::<IdRow>("select cast(1 as bigint) as id", vec![])
            .await?;
        Ok(())
    }

    /// Closes the pool, waiting for checked-out connections to be returned.
    pub async fn close(&self) {
        if let Some(writer_pool) = &self.writer_pool {
            writer_pool.close().await;
        }
        on_pool!(&self.pool, |p| p.close().await)
    }

    /// Creates a project with a fresh random public key (32 lowercase hex).
    pub async fn create_project(&self, name: &str) -> Result<Project, StoreError> {
        let key = hex::encode(rand::random::<[u8; 16]>());
        self.create_project_with_key(name, &key).await
    }

    /// Creates a project with the given public key (fixtures use `publickey`).
    /// Errors: [`StoreError::Conflict`] when the key is already in use.
    pub async fn create_project_with_key(
        &self,
        name: &str,
        public_key: &str,
    ) -> Result<Project, StoreError> {
        let now = now_ms();
        let mut tx = self.pool.begin_write().await?;
        let id = tx
            .fetch_one::<IdRow>(
                "insert into projects (name, active, created_ms) values ($1, true, $2) \
                 returning project_id as id",
                vec![name.into(), now.into()],
            )
            .await?
            .id;
        tx.execute(
            "insert into project_keys (public_key, project_id, active, created_ms) \
             values ($1, $2, true, $3)",
            vec![public_key.into(), id.into(), now.into()],
        )
        .await?;
        tx.commit().await?;
        Ok(Project {
            id,
            name: name.to_owned(),
            public_key: public_key.to_owned(),
            created_ms: now,
        })
    }

    /// All projects, by id.
    pub async fn list_projects(&self) -> Result<Vec<Project>, StoreError> {
        let sql = format!("{PROJECT_SELECT} order by p.project_id");
        let rows = self.pool.fetch_all::<ProjectRow>(&sql, vec![]).await?;
        Ok(rows.into_iter().map(Project::from).collect())
    }

    /// One project. Errors: [`StoreError::NotFound`].
    pub async fn project(&self, project_id: i64) -> Result<Project, StoreError> {
        let sql = format!("{PROJECT_SELECT} where p.project_id = $1");
        let row = self
            .pool
            .fetch_one::<ProjectRow>(&sql, vec![project_id.into()])
            .await?;
        Ok(row.into())
    }

    /// What a public key authorizes; `None` for an unknown key (compared exactly).
    pub async fn key_info(&self, public_key: &str) -> Result<Option<KeyInfo>, StoreError> {
        let row = self
            .pool
            .fetch_optional::<KeyInfoRow>(
                "select k.project_id, k.active as key_active, p.active as project_active \
                 from project_keys k join projects p on p.project_id = k.project_id \
                 where k.public_key = $1",
                vec![public_key.into()],
            )
            .await?;
        Ok(row.map(|r| KeyInfo {
            project_id: r.project_id,
            key_active: r.key_active,
            project_active: r.project_active,
        }))
    }

    /// Enables or disables a public key. Errors: [`StoreError::NotFound`].
    pub async fn set_key_active(&self, public_key: &str, active: bool) -> Result<(), StoreError> {
        let n = self
            .pool
            .execute(
                "update project_keys set active = $1 where public_key = $2",
                vec![active.into(), public_key.into()],
            )
            .await?;
        found(n)
    }

    /// Enables or disables a project (all its keys). Errors: [`StoreError::NotFound`].
    pub async fn set_project_active(
        &self,
        project_id: i64,
        active: bool,
    ) -> Result<(), StoreError> {
        let n = self
            .pool
            .execute(
                "update projects set active = $1 where project_id = $2",
                vec![active.into(), project_id.into()],
            )
            .await?;
        found(n)
    }

    /// Creates a read-API token and returns its plaintext (`errata_` + 40 lowercase hex),
    /// which is shown once: only its SHA-256 is stored.
    pub async fn create_token(&self, name: &str) -> Result<String, StoreError> {
        let token = format!("errata_{}", hex::encode(rand::random::<[u8; 20]>()));
        self.pool
            .execute(
                "insert into api_tokens (token_hash, name, created_ms) values ($1, $2, $3)",
                vec![token_hash(&token).into(), name.into(), now_ms().into()],
            )
            .await?;
        Ok(token)
    }

    /// True when `token` is one [`Store::create_token`] handed out.
    pub async fn token_valid(&self, token: &str) -> Result<bool, StoreError> {
        let row = self
            .pool
            .fetch_optional::<IdRow>(
                "select cast(1 as bigint) as id from api_tokens where token_hash = $1",
                vec![token_hash(token).into()],
            )
            .await?;
        Ok(row.is_some())
    }

    /// Commits a batch in one transaction; one outcome per input, in order.
    ///
    /// Duplicates (an `(project_id, event_id)` already stored, or repeated within the batch)
    /// change nothing. Other events join the issue of their grouping hash, creating it (and
    /// a `new_issue` outbox row) when the hash is new; an event for a resolved issue reopens
    /// it as a regression (and a `regression` outbox row). Errors roll the whole batch back:
    /// [`StoreError::Unavailable`] for transient failures (lock timeout, connection lost),
    /// [`StoreError::Other`] otherwise (e.g. an unknown `project_id`).
    pub async fn insert_events(
        &self,
        events: &[NewEvent],
    ) -> Result<Vec<InsertOutcome>, StoreError> {
        self.commit_batch(events.into(), Aggregates::Inline).await
    }

    /// [`Store::insert_events`] for a batch the caller hands over, as the ingest writer
    /// does: on a SQLite file it runs on the dedicated writer thread (see `direct.rs`). With
    /// [`Aggregates::Deferred`] the issues' counters, tags, users and regressions wait for
    /// [`Store::roll_up`] (new issues and their `new_issue` rows are committed at once) and
    /// no outcome reports a regression.
    #[tracing::instrument(skip_all, fields(events = events.len()))]
    pub async fn commit_batch(
        &self,
        events: Arc<[NewEvent]>,
        aggregates: Aggregates,
    ) -> Result<Vec<InsertOutcome>, StoreError> {
        if events.is_empty() {
            return Ok(Vec::new());
        }
        if let Some(writer) = &self.writer {
            return writer.commit(events, aggregates).await;
        }
        let mut tx = self.pool.begin_write().await?;
        let encoded = write::Encoded::of(&events, aggregates)?;
        let outcomes =
            write::insert_batch(&mut tx, &events, &encoded, now_ms(), aggregates).await?;
        tx.commit().await?;
        Ok(outcomes)
    }

    /// Applies up to `limit` deferred events to their issues (oldest first) in one
    /// transaction, reopening resolved issues as regressions with their `regression` outbox
    /// rows; returns what it applied (`events == 0`: nothing was pending). Errors as
    /// [`Store::insert_events`]; a failed roll-up leaves its events pending.
    pub async fn roll_up(&self, limit: usize) -> Result<RollUp, StoreError> {
        if let Some(writer) = &self.writer {
            return writer.roll_up(limit).await;
        }
        let mut tx = self.pool.begin_write().await?;
        let done = aggregate::roll_up(&mut tx, limit, now_ms()).await?;
        tx.commit().await?;
        Ok(done)
    }
}

/// Where a batch's issue aggregates are applied ([`Store::commit_batch`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Aggregates {
    /// In the batch's own transaction: counts are exact as soon as the batch commits.
    Inline,
    /// Left to [`Store::roll_up`]: cheaper under load, counts lag until the roll-up.
    Deferred,
}

/// Opens and migrates the pool; returns it with the database file (`None` in memory).
async fn connect_sqlite(url: &str) -> Result<(sqlx::SqlitePool, Option<PathBuf>), StoreError> {
    let in_memory = url.contains(":memory:") || url.contains("mode=memory");
    let options = SqliteConnectOptions::from_str(url)
        .map_err(|e| StoreError::Other(format!("invalid sqlite URL: {e}")))?
        .create_if_missing(true)
        .journal_mode(SqliteJournalMode::Wal)
        // In WAL mode NORMAL may lose the last commits on power loss; we acknowledge events
        // after commit, so every commit must be synced.
        .synchronous(SqliteSynchronous::Full)
        .busy_timeout(SQLITE_BUSY_TIMEOUT)
        .foreign_keys(true);
    let file = (!in_memory).then(|| options.get_filename().to_owned());
    if !in_memory {
        if let Some(dir) = options.get_filename().parent() {
            if !dir.as_os_str().is_empty() {
                tokio::fs::create_dir_all(dir).await.map_err(|e| {
                    StoreError::Unavailable(format!(
                        "cannot create database directory {}: {e}",
                        dir.display()
                    ))
                })?;
            }
        }
    }
    let pool_options = if in_memory {
        // An in-memory database lives as long as its last connection: keep exactly one,
        // forever (shared-cache locking between several would also bypass the busy timeout).
        SqlitePoolOptions::new()
            .max_connections(1)
            .min_connections(1)
            .idle_timeout(None)
            .max_lifetime(None)
    } else {
        SqlitePoolOptions::new().max_connections(8)
    };
    let pool = pool_options
        .acquire_timeout(ACQUIRE_TIMEOUT)
        .connect_with(options)
        .await
        .map_err(db_error)?;
    sqlx::migrate!("migrations/sqlite")
        .run(&pool)
        .await
        .map_err(migrate_error)?;
    Ok((pool, file))
}

#[derive(Debug, FromRow)]
struct VersionRow {
    version: String,
}

/// Opens, checks and migrates the shared pool; returns it with the options the ingest
/// writer's own pool connects with.
async fn connect_postgres(url: &str) -> Result<(sqlx::PgPool, PgConnectOptions), StoreError> {
    let options = PgConnectOptions::from_str(url)
        .map_err(|e| StoreError::Other(format!("invalid postgres URL: {e}")))?
        .application_name("errata");
    let pool = PgPoolOptions::new()
        .max_connections(16)
        .acquire_timeout(ACQUIRE_TIMEOUT)
        .connect_with(options.clone())
        .await
        .map_err(db_error)?;
    let version =
        sqlx::query_as::<_, VersionRow>("select current_setting('server_version_num') as version")
            .fetch_one(&pool)
            .await
            .map_err(db_error)?
            .version;
    let number: i64 = version
        .trim()
        .parse()
        .map_err(|_| StoreError::Other(format!("unexpected server_version_num {version:?}")))?;
    if number < MIN_POSTGRES_VERSION {
        return Err(StoreError::Other(format!(
            "PostgreSQL {number} is too old: version 12 or newer is required"
        )));
    }
    sqlx::migrate!("migrations/postgres")
        .run(&pool)
        .await
        .map_err(migrate_error)?;
    Ok((pool, options))
}

fn migrate_error(e: sqlx::migrate::MigrateError) -> StoreError {
    match e {
        sqlx::migrate::MigrateError::Execute(inner) => match db_error(inner) {
            StoreError::Unavailable(m) => StoreError::Unavailable(m),
            other => StoreError::Other(format!("migration failed: {other}")),
        },
        other => StoreError::Other(format!("migration failed: {other}")),
    }
}

/// Hex SHA-256 of an API token, the only form stored.
fn token_hash(token: &str) -> String {
    hex::encode(Sha256::digest(token.as_bytes()))
}

/// `Ok` when an update touched a row, else [`StoreError::NotFound`].
fn found(rows: u64) -> Result<(), StoreError> {
    if rows == 0 {
        Err(StoreError::NotFound)
    } else {
        Ok(())
    }
}

/// Wall-clock now, epoch milliseconds.
fn now_ms() -> i64 {
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap_or_default();
    i64::try_from(now.as_millis()).unwrap_or(i64::MAX)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn payload_round_trips_and_is_compressed() {
        let v = serde_json::json!({"message": "x".repeat(1000), "n": [1, 2, 3]});
        let bytes = encode_payload(&v);
        assert!(bytes.starts_with(&ZSTD_MAGIC));
        assert!(bytes.len() < 200);
        assert_eq!(decode_payload(&bytes).unwrap(), v);
        assert_eq!(
            decode_payload(br#"{"a":1}"#).unwrap(),
            serde_json::json!({"a": 1})
        );
        assert!(decode_payload(b"\x28\xb5\x2f\xfdgarbage").is_err());
    }

    #[test]
    fn status_names_round_trip() {
        for s in [
            IssueStatus::Unresolved,
            IssueStatus::Resolved,
            IssueStatus::Ignored,
        ] {
            assert_eq!(IssueStatus::parse(s.as_str()).unwrap(), s);
        }
    }
}
