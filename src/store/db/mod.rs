//! How every query runs: one [`Executor`] over the three places SQL goes, arguments as
//! [`Arg`] values, rows as [`Row`] types, and the few helpers that write SQL text.
//!
//! The executors:
//! * `&Pool` (`pool.rs`): sqlx's pool of either engine, a connection per statement; reads and
//!   single-statement writes.
//! * [`Tx`] (`pool.rs`): an open sqlx write transaction of either engine.
//! * [`DirectTx`] (`direct.rs`): a write transaction on the SQLite writer thread's own
//!   rusqlite connection (`writer/sqlite.rs`), whose calls never suspend.
//!
//! Code written against `impl Executor` (the ingest batch in `batch/`) runs unchanged on all
//! of them. SQL text is written once with `$1…$n` placeholders (sqlx's SQLite driver reads
//! `$N` as argument N, rusqlite binds by position, see [`DirectTx`]), and a [`row!`] type
//! decodes from sqlx's rows of both engines by column name and from rusqlite's by position.
//! Driver errors are mapped into [`StoreError`] in the two executor files and nowhere else.

mod direct;
mod pool;

use std::borrow::Cow;

use sqlx::postgres::PgRow;
use sqlx::sqlite::SqliteRow;
use sqlx::FromRow;

use super::{Backend, StoreError};

pub(super) use direct::{direct_error, is_transient_sqlite, DirectTx};
pub(super) use pool::{db_error, Pool, Tx};

/// Declares a row type: a struct that decodes from sqlx's rows of both engines (by column
/// name, `#[derive(FromRow)]`, `#[sqlx(flatten)]` allowed) and from the SQLite writer's
/// rusqlite rows (by position: fields in the order of the statement's select list, a
/// flattened row's columns where it stands).
///
/// An optional `try_into |r| { … }` clause after the struct declares the row's conversion
/// into its domain type (`impl TryFrom<Row> for Target` with [`StoreError`]): `let` bindings,
/// then `Ok(Target { … })`, where a field given by name alone (`slug,`) is the row's field
/// of that name (`r.slug`) and any other is `name: expression`. A row states its columns
/// once and its mapping once, instead of an impl header and a copy of every plain field.
macro_rules! row {
    // A field of a `try_into` clause: the row's own field, or the given expression.
    (@field $r:ident $out:ident) => {
        $r.$out
    };
    (@field $r:ident $out:ident $value:expr) => {
        $value
    };
    (
        $(#[$attr:meta])*
        $vis:vis struct $name:ident {
            $($(#[$field_attr:meta])* $field_vis:vis $field:ident: $ty:ty),* $(,)?
        }
        $(
            try_into |$r:ident| {
                $(let $var:ident $(: $var_ty:ty)? = $value:expr;)*
                Ok($target:ident { $($out:ident $(: $out_value:expr)?),* $(,)? })
            }
        )?
    ) => {
        $(#[$attr])*
        #[derive(Debug, sqlx::FromRow)]
        $vis struct $name {
            $($(#[$field_attr])* $field_vis $field: $ty),*
        }

        impl $crate::store::db::Row for $name {
            fn from_rusqlite(
                row: &rusqlite::Row<'_>,
                next: &mut usize,
            ) -> rusqlite::Result<Self> {
                Ok($name {
                    $($field: $crate::store::db::Column::read(row, next)?),*
                })
            }
        }

        $(
            impl TryFrom<$name> for $target {
                type Error = $crate::store::StoreError;

                fn try_from($r: $name) -> Result<Self, $crate::store::StoreError> {
                    $(let $var $(: $var_ty)? = $value;)*
                    Ok($target {
                        $($out: row!(@field $r $out $($out_value)?)),*
                    })
                }
            }
        )?
    };
}

/// A row type, declared with [`row!`].
pub(super) trait Row:
    for<'r> FromRow<'r, SqliteRow> + for<'r> FromRow<'r, PgRow> + Send + Unpin
{
    /// Reads the row's fields from column `*next` on, advancing `*next` past them.
    fn from_rusqlite(row: &rusqlite::Row<'_>, next: &mut usize) -> rusqlite::Result<Self>;
}

/// A field of a [`row!`] type: one column, or a flattened row of several.
pub(super) trait Column: Sized {
    /// Reads the field at column `*next`, advancing `*next` past it.
    fn read(row: &rusqlite::Row<'_>, next: &mut usize) -> rusqlite::Result<Self>;
}

/// [`Column`] for the column types rows use.
macro_rules! columns {
    ($($ty:ty),*) => {$(
        impl Column for $ty {
            fn read(row: &rusqlite::Row<'_>, next: &mut usize) -> rusqlite::Result<Self> {
                let value = row.get(*next)?;
                *next += 1;
                Ok(value)
            }
        }
    )*};
}

columns!(i64, bool, String, Vec<u8>, Option<i64>, Option<String>);

impl<R: Row> Column for R {
    fn read(row: &rusqlite::Row<'_>, next: &mut usize) -> rusqlite::Result<Self> {
        R::from_rusqlite(row, next)
    }
}

row! {
    /// A one-column `bigint` row (`returning issue_id`, `count(*)`, …).
    pub(super) struct IdRow {
        pub(super) id: i64,
    }
}

row! {
    /// A one-column nullable `bigint` row (`max(…) as value`).
    pub(super) struct MaxRow {
        pub(super) value: Option<i64>,
    }
}

/// Where SQL runs: the pool, an open transaction, or the SQLite writer's connection (see the
/// module docs). Every method sends one statement.
pub(super) trait Executor {
    /// The engine, for the few statements whose dialects differ.
    fn backend(&self) -> Backend;

    /// The PostgreSQL connection of an open transaction, for the array forms of
    /// `batch/pg.rs`; `None` on SQLite and on the pool.
    fn postgres(&mut self) -> Option<&mut sqlx::PgConnection> {
        None
    }

    /// Every row the statement returns.
    async fn fetch_all<R: Row>(
        &mut self,
        sql: &str,
        args: Vec<Arg<'_>>,
    ) -> Result<Vec<R>, StoreError>;

    /// Runs a statement; returns the number of rows it changed.
    async fn execute(&mut self, sql: &str, args: Vec<Arg<'_>>) -> Result<u64, StoreError>;

    /// The first row the statement returns, if any, for statements of at most one row. The
    /// statement runs to its end (an `insert … returning` finishes its work either way).
    async fn fetch_optional<R: Row>(
        &mut self,
        sql: &str,
        args: Vec<Arg<'_>>,
    ) -> Result<Option<R>, StoreError> {
        Ok(self.fetch_all(sql, args).await?.into_iter().next())
    }

    /// Like [`Executor::fetch_optional`], with no row being [`StoreError::NotFound`].
    async fn fetch_one<R: Row>(&mut self, sql: &str, args: Vec<Arg<'_>>) -> Result<R, StoreError> {
        self.fetch_optional(sql, args)
            .await?
            .ok_or(StoreError::NotFound)
    }

    /// The `id` column of every row the statement returns, for statements selecting one
    /// `bigint` column `as id` (see [`IdRow`]).
    async fn fetch_ids(&mut self, sql: &str, args: Vec<Arg<'_>>) -> Result<Vec<i64>, StoreError> {
        let rows = self.fetch_all::<IdRow>(sql, args).await?;
        Ok(rows.into_iter().map(|r| r.id).collect())
    }

    /// Runs a statement on one row by its key (an update, a delete): [`StoreError::NotFound`]
    /// when it changed none.
    async fn execute_one(&mut self, sql: &str, args: Vec<Arg<'_>>) -> Result<(), StoreError> {
        found(self.execute(sql, args).await?)
    }
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

/// `Ok` when a statement changed a row, else [`StoreError::NotFound`].
pub(super) fn found(rows: u64) -> Result<(), StoreError> {
    if rows == 0 {
        Err(StoreError::NotFound)
    } else {
        Ok(())
    }
}

/// Reads a stored name back: the value of `all` whose `name` it is. Anything else is
/// corrupt data, [`StoreError::Other`] naming `what` was read.
pub(super) fn parse_name<T: Copy>(
    all: &[T],
    name: fn(T) -> &'static str,
    s: &str,
    what: &str,
) -> Result<T, StoreError> {
    all.iter()
        .copied()
        .find(|&v| name(v) == s)
        .ok_or_else(|| StoreError::Other(format!("corrupt {what} {s:?}")))
}

/// Appends an argument and returns its placeholder (`$n`), for SQL built clause by clause.
pub(super) fn arg<'a>(args: &mut Vec<Arg<'a>>, value: impl Into<Arg<'a>>) -> String {
    args.push(value.into());
    format!("${}", args.len())
}

/// `for update skip locked` on PostgreSQL; nothing on SQLite, where `BEGIN IMMEDIATE` already
/// gives the transaction the only write lock.
pub(super) fn skip_locked(backend: Backend, of: &str) -> String {
    match backend {
        Backend::Postgres if of.is_empty() => " for update skip locked".to_owned(),
        Backend::Postgres => format!(" for update of {of} skip locked"),
        Backend::Sqlite => String::new(),
    }
}

/// The pattern of a case-insensitive substring search with SQLite's `like … escape '\'`:
/// `%text%`, with `\`, `%` and `_` of `text` escaped.
pub(super) fn like_contains(text: &str) -> String {
    let escaped = text
        .replace('\\', "\\\\")
        .replace('%', "\\%")
        .replace('_', "\\_");
    format!("%{escaped}%")
}

/// A page size as a bind value, clamped to 1..=100.
pub(super) fn page_limit(limit: usize) -> i64 {
    i64::try_from(limit.clamp(1, 100)).unwrap_or(100)
}

/// Keyset pagination: a page query asks for `limit + 1` rows. When more than `limit` came,
/// drops the extra one and returns the page's last row, whose key the next cursor carries;
/// `None` on the last page.
pub(super) fn next_page<T>(rows: &mut Vec<T>, limit: i64) -> Option<&T> {
    let limit = limit.unsigned_abs() as usize;
    if rows.len() > limit {
        rows.truncate(limit);
        rows.last()
    } else {
        None
    }
}

/// `INSERT`-style `values ($1, $2), ($3, $4)…` for `rows` rows of `cols` columns, numbering
/// from `$1`.
pub(super) fn values_list(rows: usize, cols: usize) -> String {
    values_list_from(1, rows, cols)
}

/// [`values_list`] numbering from `$first`.
pub(super) fn values_list_from(first: usize, rows: usize, cols: usize) -> String {
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
            s.push_str(&(first + r * cols + c).to_string());
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

/// Splits `rows` along [`chunk_sizes`].
pub(super) fn chunks<T>(rows: &[T]) -> impl Iterator<Item = &[T]> {
    let mut rest = rows;
    chunk_sizes(rows.len()).into_iter().map(move |size| {
        let (chunk, tail) = rest.split_at(size);
        rest = tail;
        chunk
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    row! {
        struct InnerRow {
            id: i64,
            name: Option<String>,
        }
    }

    row! {
        struct OuterRow {
            #[sqlx(flatten)]
            inner: InnerRow,
            ok: bool,
            bytes: Vec<u8>,
        }
    }

    #[tokio::test]
    async fn rows_decode_by_position_on_the_sqlite_writer() {
        let mut conn = rusqlite::Connection::open_in_memory().unwrap();
        let mut tx = DirectTx {
            tx: conn.transaction().unwrap(),
        };
        let sql = "select $1 as id, null as name, true as ok, x'ff00' as bytes \
                   union all select 2, 'two', false, x''";
        let rows: Vec<OuterRow> = tx.fetch_all(sql, vec![7.into()]).await.unwrap();
        assert_eq!(rows.len(), 2);
        assert_eq!((rows[0].inner.id, rows[0].inner.name.as_deref()), (7, None));
        assert_eq!(
            (rows[0].ok, rows[0].bytes.as_slice()),
            (true, &[0xff, 0][..])
        );
        assert_eq!(
            (rows[1].inner.id, rows[1].inner.name.as_deref()),
            (2, Some("two"))
        );
        assert_eq!((rows[1].ok, rows[1].bytes.len()), (false, 0));
        let first: OuterRow = tx.fetch_one(sql, vec![7.into()]).await.unwrap();
        assert_eq!(first.inner.id, 7);
        let none: Option<IdRow> = tx
            .fetch_optional("select 1 as id where 0", vec![])
            .await
            .unwrap();
        assert!(none.is_none());
        assert!(matches!(
            tx.fetch_all::<IdRow>("select $1 as id", vec![]).await,
            Err(StoreError::Other(_))
        ));
    }

    #[test]
    fn values_list_numbers_rows() {
        assert_eq!(values_list(2, 2), "($1, $2), ($3, $4)");
        assert_eq!(values_list_from(3, 2, 1), "($3), ($4)");
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
}
