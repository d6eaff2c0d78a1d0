//! Opening each engine: pool options, durability settings, the server version check and the
//! migrations (`migrations/sqlite`, `migrations/postgres`).

use std::path::PathBuf;
use std::str::FromStr;
use std::time::Duration;

use sqlx::migrate::{MigrateError, Migrator};
use sqlx::postgres::{PgConnectOptions, PgPoolOptions};
use sqlx::sqlite::{
    SqliteAutoVacuum, SqliteConnectOptions, SqliteJournalMode, SqlitePoolOptions, SqliteSynchronous,
};
use sqlx::FromRow;

use super::db::db_error;
use super::StoreError;

/// How long a request waits for a pooled connection before the store reports
/// [`StoreError::Unavailable`].
pub(super) const ACQUIRE_TIMEOUT: Duration = Duration::from_secs(5);
/// Connections of the PostgreSQL ingest writer's own pool: one per concurrent commit or
/// roll-up (`ingest.writers`, default 1); more writers wait for a free one.
pub(super) const PG_WRITER_CONNECTIONS: u32 = 4;
/// How long SQLite waits for another writer's lock before giving up with `SQLITE_BUSY`.
pub(super) const SQLITE_BUSY_TIMEOUT: Duration = Duration::from_secs(5);
/// The schema of each engine, embedded at build time.
static SQLITE_MIGRATIONS: Migrator = sqlx::migrate!("migrations/sqlite");
static POSTGRES_MIGRATIONS: Migrator = sqlx::migrate!("migrations/postgres");

/// Oldest PostgreSQL accepted (`server_version_num`): 12 is the oldest release with
/// `generated … as identity`, `on conflict` and the planner behaviour the queries assume.
const MIN_POSTGRES_VERSION: i64 = 120000;

/// True for a `sqlite:` URL of a database that lives only in memory.
fn sqlite_in_memory(url: &str) -> bool {
    url.contains(":memory:") || url.contains("mode=memory")
}

/// The file of a `sqlite:` URL as SQLite will open it (`None` for an in-memory database).
/// Errors: [`StoreError::Other`] for a URL sqlx cannot read.
pub fn sqlite_file(url: &str) -> Result<Option<PathBuf>, StoreError> {
    let options = SqliteConnectOptions::from_str(url)
        .map_err(|e| StoreError::Other(format!("invalid sqlite URL: {e}")))?;
    Ok((!sqlite_in_memory(url)).then(|| options.get_filename().to_owned()))
}

/// True when `url` names a database Errata has never used: a SQLite file that does not
/// exist yet (or is empty), a PostgreSQL database without Errata's migrations table. Nothing
/// is created. Errors: [`StoreError::Other`] for a URL that cannot be read,
/// [`StoreError::Unavailable`] for a PostgreSQL server that cannot be reached.
pub async fn is_new_database(url: &str) -> Result<bool, StoreError> {
    if url.starts_with("sqlite:") {
        return Ok(match sqlite_file(url)? {
            None => true,
            Some(file) => tokio::fs::metadata(&file)
                .await
                .map_or(true, |m| m.len() == 0),
        });
    }
    use sqlx::{ConnectOptions, Connection};
    let options = PgConnectOptions::from_str(url)
        .map_err(|e| StoreError::Other(format!("invalid postgres URL: {e}")))?
        .application_name("errata");
    probe_postgres(&options).await?;
    let mut conn = options.connect().await.map_err(db_error)?;
    let known: bool = sqlx::query_scalar(
        "select exists (select 1 from information_schema.tables \
         where table_schema = current_schema() and table_name = '_sqlx_migrations')",
    )
    .fetch_one(&mut conn)
    .await
    .map_err(db_error)?;
    let _ = conn.close().await;
    Ok(!known)
}

/// Storage safety limits (`[storage]`).
#[derive(Debug, Clone, serde::Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct StorageConfig {
    /// Largest SQLite write-ahead log, in bytes. Past it the ingest writer checkpoints the log
    /// itself, and refuses batches (503) while that fails (the main file cannot be written, a
    /// reader holds an old snapshot), instead of letting the log fill the disk. Default 1 GiB;
    /// no effect on PostgreSQL.
    pub max_wal_bytes: u64,
    /// Stored events a project needs before a zstd dictionary is trained on them for its
    /// payloads (`src/payload_dictionaries.rs`); 0: never. Default 1,000.
    pub dictionary_after_events: u64,
    /// Seconds between the passes that look for projects to train a dictionary for (plus up
    /// to a fifth at random; one server at a time). Default 300.
    pub dictionary_interval_secs: u64,
}

impl Default for StorageConfig {
    fn default() -> Self {
        StorageConfig {
            max_wal_bytes: 1024 * 1024 * 1024,
            dictionary_after_events: 1_000,
            dictionary_interval_secs: 300,
        }
    }
}

/// Opens and migrates the pool; returns it with the database file (`None` in memory).
///
/// The file is created when missing, its directory never: a typo in the path must not
/// silently start an empty database somewhere else ([`StoreError::Other`] names it).
pub(super) async fn sqlite(url: &str) -> Result<(sqlx::SqlitePool, Option<PathBuf>), StoreError> {
    let in_memory = sqlite_in_memory(url);
    let options = SqliteConnectOptions::from_str(url)
        .map_err(|e| StoreError::Other(format!("invalid sqlite URL: {e}")))?
        .create_if_missing(true)
        // Takes effect in a new file (and after a `VACUUM` in an older one, see
        // `src/retention/vacuum.rs`): pages freed by pruning can be returned to the file
        // system by `incremental_vacuum`.
        .auto_vacuum(SqliteAutoVacuum::Incremental)
        .journal_mode(SqliteJournalMode::Wal)
        // In WAL mode NORMAL may lose the last commits on power loss; we acknowledge events
        // after commit, so every commit must be synced.
        .synchronous(SqliteSynchronous::Full)
        .busy_timeout(SQLITE_BUSY_TIMEOUT)
        .foreign_keys(true);
    let file = (!in_memory).then(|| options.get_filename().to_owned());
    if let Some(dir) = file.as_deref().and_then(std::path::Path::parent) {
        if !dir.as_os_str().is_empty() && !tokio::fs::metadata(dir).await.is_ok_and(|m| m.is_dir())
        {
            return Err(StoreError::Other(format!(
                "the directory {} of the SQLite database does not exist: create it, or choose \
                 another path",
                dir.display()
            )));
        }
    }
    // The file is created here, once; the pool's own connections never create it. One opened
    // after the file was deleted fails, instead of starting an empty database that the server
    // would take for its own (issue #24, item 10).
    let options = if in_memory {
        options
    } else {
        use sqlx::{ConnectOptions, Connection};
        let first = options.connect().await.map_err(db_error)?;
        first.close().await.map_err(db_error)?;
        options.create_if_missing(false)
    };
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
    SQLITE_MIGRATIONS
        .run(&pool)
        .await
        .map_err(|e| migrate_error(e, &SQLITE_MIGRATIONS))?;
    Ok((pool, file))
}

#[derive(Debug, FromRow)]
struct VersionRow {
    version: String,
}

/// Opens, checks and migrates the shared pool; returns it with the options the ingest
/// writer's own pool connects with.
pub(super) async fn postgres(url: &str) -> Result<(sqlx::PgPool, PgConnectOptions), StoreError> {
    let options = PgConnectOptions::from_str(url)
        .map_err(|e| StoreError::Other(format!("invalid postgres URL: {e}")))?
        .application_name("errata");
    probe_postgres(&options).await?;
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
    POSTGRES_MIGRATIONS
        .run(&pool)
        .await
        .map_err(|e| migrate_error(e, &POSTGRES_MIGRATIONS))?;
    Ok((pool, options))
}

/// Opens and closes one connection, so that a server that cannot be reached is reported with
/// its cause: the pool retries a refused connection until its acquire timeout and then
/// reports only `pool timed out`. A refused connection is retried for as long (the database
/// may be starting next to us); any other failure (unknown host, authentication, missing
/// database) is reported at once. Errors: [`StoreError::Unavailable`] naming host, port and
/// cause, never the password.
async fn probe_postgres(options: &PgConnectOptions) -> Result<(), StoreError> {
    use sqlx::{ConnectOptions, Connection};
    let deadline = tokio::time::Instant::now() + ACQUIRE_TIMEOUT;
    let fail = |cause: String| {
        StoreError::Unavailable(format!(
            "cannot connect to PostgreSQL at {}:{}: {cause}",
            options.get_host(),
            options.get_port()
        ))
    };
    loop {
        let left = deadline.saturating_duration_since(tokio::time::Instant::now());
        match tokio::time::timeout(left, options.connect()).await {
            Ok(Ok(conn)) => {
                let _ = conn.close().await;
                return Ok(());
            }
            Ok(Err(sqlx::Error::Io(e)))
                if e.kind() == std::io::ErrorKind::ConnectionRefused
                    && tokio::time::Instant::now() + PROBE_RETRY < deadline =>
            {
                tokio::time::sleep(PROBE_RETRY).await;
            }
            Ok(Err(e)) => return Err(fail(e.to_string())),
            Err(_) => {
                return Err(fail(format!(
                    "no answer within {} s",
                    ACQUIRE_TIMEOUT.as_secs()
                )))
            }
        }
    }
}

/// Pause between connection attempts while PostgreSQL refuses them.
const PROBE_RETRY: Duration = Duration::from_millis(250);

/// A failed migration as the server reports it, refusing to start: which migration (number
/// and name) and why. sqlx runs each migration with its bookkeeping row in one transaction on
/// both engines (none of ours opts out with `-- no-transaction`, `migrations_are_atomic`
/// checks), so a failed one left the database as the previous migration did.
fn migrate_error(e: MigrateError, migrator: &Migrator) -> StoreError {
    match e {
        MigrateError::Execute(inner) => match db_error(inner) {
            StoreError::Unavailable(m) => StoreError::Unavailable(m),
            other => StoreError::Other(format!("migration failed: {other}")),
        },
        MigrateError::ExecuteMigration(inner, version) => {
            let cause = inner.to_string();
            if let StoreError::Unavailable(m) = db_error(inner) {
                return StoreError::Unavailable(m);
            }
            let name = migrator
                .iter()
                .find(|m| m.version == version)
                .map(|m| format!("{version:04} ({})", m.description))
                .unwrap_or_else(|| format!("{version:04}"));
            let previous = migrator
                .iter()
                .map(|m| m.version)
                .filter(|v| *v < version)
                .max()
                .unwrap_or(0);
            StoreError::Other(format!(
                "migration {name} failed and was rolled back, the database is still at \
                 migration {previous:04}: {cause}"
            ))
        }
        other => StoreError::Other(format!("migration failed: {other}")),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn migrations_are_atomic() {
        for migrator in [&SQLITE_MIGRATIONS, &POSTGRES_MIGRATIONS] {
            for m in migrator.iter() {
                assert!(
                    !m.no_tx,
                    "migration {} must run in a transaction (no `-- no-transaction`)",
                    m.version
                );
            }
        }
        let sqlite: Vec<i64> = SQLITE_MIGRATIONS.iter().map(|m| m.version).collect();
        let postgres: Vec<i64> = POSTGRES_MIGRATIONS.iter().map(|m| m.version).collect();
        assert_eq!(sqlite, postgres, "both engines have the same migrations");
    }
}
