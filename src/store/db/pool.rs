//! The sqlx executors: the pool of the engine in use and its write transactions, and the
//! mapping of sqlx errors into [`StoreError`].

use sqlx::{PgConnection, PgPool, Postgres, Sqlite, SqliteConnection, SqlitePool, Transaction};

use super::{Arg, Executor, Row};
use crate::store::{Backend, StoreError};

/// The connection pool of the engine in use.
#[derive(Clone, Debug)]
pub(in crate::store) enum Pool {
    Sqlite(SqlitePool),
    Postgres(PgPool),
}

/// An open write transaction; dropped without [`Tx::commit`] it rolls back.
pub(in crate::store) enum Tx {
    Sqlite(Transaction<'static, Sqlite>),
    Postgres(Transaction<'static, Postgres>),
}

impl Pool {
    pub(in crate::store) fn backend(&self) -> Backend {
        match self {
            Pool::Sqlite(_) => Backend::Sqlite,
            Pool::Postgres(_) => Backend::Postgres,
        }
    }

    /// Opens a write transaction. On SQLite it starts `IMMEDIATE`: taking the write lock up
    /// front lets the busy timeout queue writers, where a deferred transaction that reads
    /// first would fail with `SQLITE_BUSY` when it later tries to write.
    pub(in crate::store) async fn begin_write(&self) -> Result<Tx, StoreError> {
        match self {
            Pool::Sqlite(p) => Ok(Tx::Sqlite(
                p.begin_with("BEGIN IMMEDIATE").await.map_err(db_error)?,
            )),
            Pool::Postgres(p) => Ok(Tx::Postgres(p.begin().await.map_err(db_error)?)),
        }
    }

    /// Waits for checked-out connections to be returned, then closes every connection.
    pub(in crate::store) async fn close(&self) {
        match self {
            Pool::Sqlite(p) => p.close().await,
            Pool::Postgres(p) => p.close().await,
        }
    }
}

impl Tx {
    pub(in crate::store) async fn commit(self) -> Result<(), StoreError> {
        match self {
            Tx::Sqlite(t) => t.commit().await,
            Tx::Postgres(t) => t.commit().await,
        }
        .map_err(db_error)
    }
}

/// What one sqlx statement runs on: a pool (which lends it a connection) or the connection
/// of an open transaction.
pub(in crate::store) enum Target<'c> {
    SqlitePool(&'c SqlitePool),
    PostgresPool(&'c PgPool),
    Sqlite(&'c mut SqliteConnection),
    Postgres(&'c mut PgConnection),
}

/// A sqlx executor: where its statements run ([`Executor`] is implemented once for all).
pub(in crate::store) trait Sqlx {
    fn engine(&self) -> Backend;
    fn target(&mut self) -> Target<'_>;
}

impl Sqlx for &Pool {
    fn engine(&self) -> Backend {
        // Not `self.backend()`: on `&&Pool` that resolves to `Executor::backend`, which calls
        // this again.
        Pool::backend(self)
    }

    fn target(&mut self) -> Target<'_> {
        match self {
            Pool::Sqlite(p) => Target::SqlitePool(p),
            Pool::Postgres(p) => Target::PostgresPool(p),
        }
    }
}

impl Sqlx for Tx {
    fn engine(&self) -> Backend {
        match self {
            Tx::Sqlite(_) => Backend::Sqlite,
            Tx::Postgres(_) => Backend::Postgres,
        }
    }

    fn target(&mut self) -> Target<'_> {
        match self {
            Tx::Sqlite(t) => Target::Sqlite(t),
            Tx::Postgres(t) => Target::Postgres(t),
        }
    }
}

/// Binds `$args` in order to `$query` (`sqlx::query` or `sqlx::query_as`), then runs `$run`
/// with the bound query as `$q` and the target's sqlx executor as `$e`: the same code for all
/// four [`Target`]s, each instance typed for its driver.
macro_rules! run {
    ($target:expr, $query:expr, $args:expr, |$q:ident, $e:ident| $run:expr) => {
        match $target {
            Target::SqlitePool($e) => run!(@bound $query, $args, |$q| $run),
            Target::PostgresPool($e) => run!(@bound $query, $args, |$q| $run),
            Target::Sqlite($e) => run!(@bound $query, $args, |$q| $run),
            Target::Postgres($e) => run!(@bound $query, $args, |$q| $run),
        }
    };
    (@bound $query:expr, $args:expr, |$q:ident| $run:expr) => {{
        let mut $q = $query;
        for arg in $args {
            $q = match arg {
                Arg::Int(v) => $q.bind(v),
                Arg::OptInt(v) => $q.bind(v),
                Arg::Bool(v) => $q.bind(v),
                Arg::Str(v) => $q.bind(v),
                Arg::OptStr(v) => $q.bind(v),
                Arg::Bytes(v) => $q.bind(v),
            };
        }
        $run
    }};
}

impl<T: Sqlx> Executor for T {
    fn backend(&self) -> Backend {
        self.engine()
    }

    fn postgres(&mut self) -> Option<&mut PgConnection> {
        match self.target() {
            Target::Postgres(c) => Some(c),
            _ => None,
        }
    }

    async fn fetch_all<R: Row>(
        &mut self,
        sql: &str,
        args: Vec<Arg<'_>>,
    ) -> Result<Vec<R>, StoreError> {
        run!(self.target(), sqlx::query_as::<_, R>(sql), args, |q, e| q
            .fetch_all(e)
            .await)
        .map_err(db_error)
    }

    async fn execute(&mut self, sql: &str, args: Vec<Arg<'_>>) -> Result<u64, StoreError> {
        run!(self.target(), sqlx::query(sql), args, |q, e| q
            .execute(e)
            .await
            .map(|done| done.rows_affected()))
        .map_err(db_error)
    }
}

/// Maps a sqlx error into the store's error kinds, once.
pub(in crate::store) fn db_error(e: sqlx::Error) -> StoreError {
    match e {
        sqlx::Error::RowNotFound => StoreError::NotFound,
        sqlx::Error::PoolTimedOut
        | sqlx::Error::PoolClosed
        | sqlx::Error::Io(_)
        | sqlx::Error::Tls(_)
        | sqlx::Error::WorkerCrashed => StoreError::Unavailable(e.to_string()),
        sqlx::Error::Database(ref db) => {
            if db.is_unique_violation() {
                return StoreError::Conflict(db.message().to_owned());
            }
            if is_transient(db.code().as_deref()) {
                return StoreError::Unavailable(e.to_string());
            }
            StoreError::Other(e.to_string())
        }
        other => StoreError::Other(other.to_string()),
    }
}

/// True for database error codes that mean "busy or going away, try again later" rather
/// than a bug: SQLite BUSY/LOCKED/FULL/IOERR (primary code in the low byte of the extended
/// code) and PostgreSQL serialization failure, deadlock, lock timeout (`lock_not_available`),
/// too many connections, shutdown.
fn is_transient(code: Option<&str>) -> bool {
    let Some(code) = code else { return false };
    if let Ok(sqlite) = code.parse::<i32>() {
        return super::is_transient_sqlite(sqlite);
    }
    matches!(
        code,
        "40001"
            | "40P01"
            | "55P03"
            | "53300"
            | "57P01"
            | "57P02"
            | "57P03"
            | "08000"
            | "08003"
            | "08006"
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn transient_codes() {
        assert!(is_transient(Some("517")));
        assert!(is_transient(Some("40P01")));
        assert!(is_transient(Some("55P03")));
        assert!(!is_transient(Some("23505")));
        assert!(!is_transient(None));
    }
}
