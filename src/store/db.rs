//! The closed set of backends and the few primitives every query goes through.
//!
//! SQL text is written once with `$1…$n` placeholders (sqlx's SQLite driver reads `$N` as
//! argument N), arguments travel as [`Arg`] values, and rows decode through one
//! `#[derive(FromRow)]` struct for both drivers. sqlx errors are mapped into [`StoreError`]
//! here and nowhere else.

use std::borrow::Cow;

use sqlx::postgres::PgRow;
use sqlx::sqlite::SqliteRow;
use sqlx::{FromRow, PgPool, Postgres, Sqlite, SqlitePool, Transaction};

use super::{Backend, StoreError};

/// The connection pool of the backend in use.
#[derive(Clone, Debug)]
pub(super) enum Pool {
    Sqlite(SqlitePool),
    Postgres(PgPool),
}

/// Runs `$body` with `$p` bound to the concrete pool (or connection) of each backend.
macro_rules! on_pool {
    ($pool:expr, |$p:ident| $body:expr) => {
        match $pool {
            Pool::Sqlite($p) => $body,
            Pool::Postgres($p) => $body,
        }
    };
}

/// Same as [`on_pool!`] for an open transaction; `$c` is the `&mut` connection.
macro_rules! on_tx {
    ($tx:expr, |$c:ident| $body:expr) => {
        match $tx {
            Tx::Sqlite(t) => {
                let $c = &mut **t;
                $body
            }
            Tx::Postgres(t) => {
                let $c = &mut **t;
                $body
            }
        }
    };
}

/// One bound argument. Borrowed where the caller owns the data, so the hot path does not
/// copy payloads.
#[derive(Debug, Clone)]
pub(super) enum Arg<'a> {
    Int(i64),
    OptInt(Option<i64>),
    Bool(bool),
    Str(Cow<'a, str>),
    OptStr(Option<Cow<'a, str>>),
    Bytes(&'a [u8]),
}

impl<'a> From<&'a str> for Arg<'a> {
    fn from(s: &'a str) -> Self {
        Arg::Str(Cow::Borrowed(s))
    }
}

impl From<String> for Arg<'_> {
    fn from(s: String) -> Self {
        Arg::Str(Cow::Owned(s))
    }
}

impl<'a> From<Option<&'a str>> for Arg<'a> {
    fn from(s: Option<&'a str>) -> Self {
        Arg::OptStr(s.map(Cow::Borrowed))
    }
}

impl From<Option<String>> for Arg<'_> {
    fn from(s: Option<String>) -> Self {
        Arg::OptStr(s.map(Cow::Owned))
    }
}

impl From<Option<i64>> for Arg<'_> {
    fn from(v: Option<i64>) -> Self {
        Arg::OptInt(v)
    }
}

impl From<i64> for Arg<'_> {
    fn from(v: i64) -> Self {
        Arg::Int(v)
    }
}

impl From<bool> for Arg<'_> {
    fn from(v: bool) -> Self {
        Arg::Bool(v)
    }
}

/// Binds every argument in order; works for `query` and `query_as` of either driver.
macro_rules! bind_all {
    ($query:expr, $args:expr) => {{
        let mut q = $query;
        for arg in $args {
            q = match arg {
                Arg::Int(v) => q.bind(v),
                Arg::OptInt(v) => q.bind(v),
                Arg::Bool(v) => q.bind(v),
                Arg::Str(v) => q.bind(v),
                Arg::OptStr(v) => q.bind(v),
                Arg::Bytes(v) => q.bind(v),
            };
        }
        q
    }};
}

/// A row type that decodes from both drivers (any `#[derive(FromRow)]` struct of portable
/// field types).
pub(super) trait AnyRow:
    for<'r> FromRow<'r, SqliteRow> + for<'r> FromRow<'r, PgRow> + Send + Unpin
{
}

impl<T> AnyRow for T where
    T: for<'r> FromRow<'r, SqliteRow> + for<'r> FromRow<'r, PgRow> + Send + Unpin
{
}

impl Pool {
    pub(super) fn backend(&self) -> Backend {
        match self {
            Pool::Sqlite(_) => Backend::Sqlite,
            Pool::Postgres(_) => Backend::Postgres,
        }
    }

    /// Opens a write transaction. On SQLite it starts `IMMEDIATE`: taking the write lock up
    /// front lets the busy timeout queue writers, where a deferred transaction that reads
    /// first would fail with `SQLITE_BUSY` when it later tries to write.
    pub(super) async fn begin_write(&self) -> Result<Tx, StoreError> {
        match self {
            Pool::Sqlite(p) => Ok(Tx::Sqlite(
                p.begin_with("BEGIN IMMEDIATE").await.map_err(db_error)?,
            )),
            Pool::Postgres(p) => Ok(Tx::Postgres(p.begin().await.map_err(db_error)?)),
        }
    }

    pub(super) async fn fetch_all<R: AnyRow>(
        &self,
        sql: &str,
        args: Vec<Arg<'_>>,
    ) -> Result<Vec<R>, StoreError> {
        on_pool!(self, |p| bind_all!(sqlx::query_as::<_, R>(sql), args)
            .fetch_all(p)
            .await)
        .map_err(db_error)
    }

    pub(super) async fn fetch_optional<R: AnyRow>(
        &self,
        sql: &str,
        args: Vec<Arg<'_>>,
    ) -> Result<Option<R>, StoreError> {
        on_pool!(self, |p| bind_all!(sqlx::query_as::<_, R>(sql), args)
            .fetch_optional(p)
            .await)
        .map_err(db_error)
    }

    /// Like [`Pool::fetch_optional`], with no row being [`StoreError::NotFound`].
    pub(super) async fn fetch_one<R: AnyRow>(
        &self,
        sql: &str,
        args: Vec<Arg<'_>>,
    ) -> Result<R, StoreError> {
        self.fetch_optional(sql, args)
            .await?
            .ok_or(StoreError::NotFound)
    }

    /// Runs a statement; returns the number of rows it changed.
    pub(super) async fn execute(&self, sql: &str, args: Vec<Arg<'_>>) -> Result<u64, StoreError> {
        on_pool!(self, |p| bind_all!(sqlx::query(sql), args)
            .execute(p)
            .await
            .map(|r| r.rows_affected()))
        .map_err(db_error)
    }
}

/// An open write transaction; dropped without [`Tx::commit`] it rolls back.
pub(super) enum Tx {
    Sqlite(Transaction<'static, Sqlite>),
    Postgres(Transaction<'static, Postgres>),
}

impl Tx {
    pub(super) fn backend(&self) -> Backend {
        match self {
            Tx::Sqlite(_) => Backend::Sqlite,
            Tx::Postgres(_) => Backend::Postgres,
        }
    }

    pub(super) async fn commit(self) -> Result<(), StoreError> {
        match self {
            Tx::Sqlite(t) => t.commit().await,
            Tx::Postgres(t) => t.commit().await,
        }
        .map_err(db_error)
    }

    pub(super) async fn fetch_all<R: AnyRow>(
        &mut self,
        sql: &str,
        args: Vec<Arg<'_>>,
    ) -> Result<Vec<R>, StoreError> {
        on_tx!(self, |c| bind_all!(sqlx::query_as::<_, R>(sql), args)
            .fetch_all(c)
            .await)
        .map_err(db_error)
    }

    pub(super) async fn fetch_optional<R: AnyRow>(
        &mut self,
        sql: &str,
        args: Vec<Arg<'_>>,
    ) -> Result<Option<R>, StoreError> {
        on_tx!(self, |c| bind_all!(sqlx::query_as::<_, R>(sql), args)
            .fetch_optional(c)
            .await)
        .map_err(db_error)
    }

    pub(super) async fn fetch_one<R: AnyRow>(
        &mut self,
        sql: &str,
        args: Vec<Arg<'_>>,
    ) -> Result<R, StoreError> {
        self.fetch_optional(sql, args)
            .await?
            .ok_or(StoreError::NotFound)
    }

    pub(super) async fn execute(
        &mut self,
        sql: &str,
        args: Vec<Arg<'_>>,
    ) -> Result<u64, StoreError> {
        on_tx!(self, |c| bind_all!(sqlx::query(sql), args)
            .execute(c)
            .await
            .map(|r| r.rows_affected()))
        .map_err(db_error)
    }
}

/// A one-column `bigint` row (`returning issue_id`, `count(*)`, …).
#[derive(Debug, FromRow)]
pub(super) struct IdRow {
    pub(super) id: i64,
}

/// Maps a sqlx error into the store's error kinds, once.
pub(super) fn db_error(e: sqlx::Error) -> StoreError {
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
/// code) and PostgreSQL serialization failure, deadlock, too many connections, shutdown.
fn is_transient(code: Option<&str>) -> bool {
    let Some(code) = code else { return false };
    if let Ok(sqlite) = code.parse::<i32>() {
        return is_transient_sqlite(sqlite);
    }
    matches!(
        code,
        "40001" | "40P01" | "53300" | "57P01" | "57P02" | "57P03" | "08000" | "08003" | "08006"
    )
}

/// True for SQLite (extended) result codes whose primary code is BUSY, LOCKED, IOERR or FULL.
pub(super) fn is_transient_sqlite(code: i32) -> bool {
    matches!(code & 0xff, 5 | 6 | 10 | 13)
}

/// `INSERT`-style `values ($1, $2), ($3, $4)…` for `rows` rows of `cols` columns, numbering
/// from `$1`.
pub(super) fn values_list(rows: usize, cols: usize) -> String {
    let mut s = String::with_capacity(rows * cols * 5);
    for r in 0..rows {
        if r > 0 {
            s.push_str(", ");
        }
        s.push('(');
        for c in 0..cols {
            if c > 0 {
                s.push_str(", ");
            }
            s.push('$');
            s.push_str(&(r * cols + c + 1).to_string());
        }
        s.push(')');
    }
    s
}

/// `$first, $first+1, …` for `count` arguments, as in `where id in (…)`.
pub(super) fn placeholders(first: usize, count: usize) -> String {
    let mut s = String::with_capacity(count * 5);
    for i in first..first + count {
        if i > first {
            s.push_str(", ");
        }
        s.push('$');
        s.push_str(&i.to_string());
    }
    s
}

/// Prepared statements kept per connection of the ingest writers: the batch statements come
/// in a few shapes per chunk size ([`chunk_sizes`]): about a dozen kinds times eight sizes.
pub(super) const STATEMENT_CACHE: usize = 256;

/// Splits `n` rows into chunk sizes from a fixed set, largest first. Multi-row statements
/// then come in a handful of shapes, so both drivers' prepared-statement caches
/// ([`STATEMENT_CACHE`]) keep them instead of churning through one statement per batch size.
/// Powers of two: a typical batch of 16–31 events takes popcount(n) statements per phase
/// (2.5 on average), where `[128, 32, 8, 4, 2, 1]` took 3.5.
pub(super) fn chunk_sizes(mut n: usize) -> Vec<usize> {
    const SIZES: [usize; 8] = [128, 64, 32, 16, 8, 4, 2, 1];
    let mut out = Vec::new();
    for size in SIZES {
        while n >= size {
            out.push(size);
            n -= size;
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn values_list_numbers_rows() {
        assert_eq!(values_list(2, 2), "($1, $2), ($3, $4)");
        assert_eq!(placeholders(3, 2), "$3, $4");
    }

    #[test]
    fn chunks_cover_everything() {
        assert_eq!(chunk_sizes(45), vec![32, 8, 4, 1]);
        assert_eq!(chunk_sizes(23), vec![16, 4, 2, 1]);
        assert_eq!(chunk_sizes(300), vec![128, 128, 32, 8, 4]);
        assert_eq!(chunk_sizes(0), Vec::<usize>::new());
        for n in 0..200 {
            assert_eq!(chunk_sizes(n).iter().sum::<usize>(), n);
        }
    }

    #[test]
    fn transient_codes() {
        assert!(is_transient(Some("517")));
        assert!(is_transient(Some("40P01")));
        assert!(!is_transient(Some("23505")));
        assert!(!is_transient(None));
    }
}
