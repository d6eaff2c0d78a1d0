//! The rusqlite executor: a write transaction on the SQLite writer thread's own connection
//! (`writer/sqlite.rs`), and the mapping of rusqlite errors into [`StoreError`].
//!
//! Its calls run the statement before they return: the futures of [`Executor`] never
//! suspend here, so the writer thread drives a batch to its end without an async runtime.

use rusqlite::ErrorCode;

use super::{Arg, Executor, Row};
use crate::store::{Backend, StoreError};

/// An open write transaction on the writer's connection.
pub(in crate::store) struct DirectTx<'c> {
    pub(in crate::store) tx: rusqlite::Transaction<'c>,
}

impl DirectTx<'_> {
    /// Prepares (or takes from the cache) `sql` and binds `args` by position. The batch SQL
    /// numbers its `$N` placeholders in order of first use, so `$N` is parameter N; the
    /// count check catches a statement that does not.
    fn prepare(
        &self,
        sql: &str,
        args: Vec<Arg<'_>>,
    ) -> Result<rusqlite::CachedStatement<'_>, StoreError> {
        let mut stmt = self.tx.prepare_cached(sql).map_err(direct_error)?;
        if stmt.parameter_count() != args.len() {
            return Err(StoreError::Other(format!(
                "statement takes {} arguments, {} given",
                stmt.parameter_count(),
                args.len()
            )));
        }
        for (i, arg) in args.into_iter().enumerate() {
            let index = i + 1;
            match arg {
                Arg::Int(v) => stmt.raw_bind_parameter(index, v),
                Arg::OptInt(v) => stmt.raw_bind_parameter(index, v),
                Arg::Bool(v) => stmt.raw_bind_parameter(index, v),
                Arg::Str(v) => stmt.raw_bind_parameter(index, v.as_ref()),
                Arg::OptStr(v) => stmt.raw_bind_parameter(index, v.as_deref()),
                Arg::Bytes(v) => stmt.raw_bind_parameter(index, v),
            }
            .map_err(direct_error)?;
        }
        Ok(stmt)
    }
}

impl Executor for DirectTx<'_> {
    fn backend(&self) -> Backend {
        Backend::Sqlite
    }

    async fn fetch_all<R: Row>(
        &mut self,
        sql: &str,
        args: Vec<Arg<'_>>,
    ) -> Result<Vec<R>, StoreError> {
        let mut stmt = self.prepare(sql, args)?;
        let mut rows = stmt.raw_query();
        let mut out = Vec::new();
        while let Some(row) = rows.next().map_err(direct_error)? {
            out.push(R::from_rusqlite(row, &mut 0).map_err(direct_error)?);
        }
        Ok(out)
    }

    async fn execute(&mut self, sql: &str, args: Vec<Arg<'_>>) -> Result<u64, StoreError> {
        let mut stmt = self.prepare(sql, args)?;
        let changed = stmt.raw_execute().map_err(direct_error)?;
        Ok(changed as u64)
    }
}

/// Maps a rusqlite error into the store's kinds, as `pool::db_error` does for sqlx.
pub(in crate::store) fn direct_error(e: rusqlite::Error) -> StoreError {
    if let rusqlite::Error::SqliteFailure(failure, _) = &e {
        if failure.code == ErrorCode::ConstraintViolation
            && matches!(
                failure.extended_code,
                rusqlite::ffi::SQLITE_CONSTRAINT_UNIQUE
                    | rusqlite::ffi::SQLITE_CONSTRAINT_PRIMARYKEY
            )
        {
            return StoreError::Conflict(e.to_string());
        }
        if is_transient_sqlite(failure.extended_code) || failure.code == ErrorCode::CannotOpen {
            return StoreError::Unavailable(e.to_string());
        }
    }
    StoreError::Other(e.to_string())
}

/// True for SQLite (extended) result codes whose primary code is BUSY, LOCKED, IOERR or FULL.
pub(in crate::store) fn is_transient_sqlite(code: i32) -> bool {
    matches!(code & 0xff, 5 | 6 | 10 | 13)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sqlite_errors_map_to_store_errors() {
        let failure = |code| rusqlite::Error::SqliteFailure(rusqlite::ffi::Error::new(code), None);
        assert!(matches!(
            direct_error(failure(rusqlite::ffi::SQLITE_BUSY)),
            StoreError::Unavailable(_)
        ));
        assert!(matches!(
            direct_error(failure(rusqlite::ffi::SQLITE_CONSTRAINT_UNIQUE)),
            StoreError::Conflict(_)
        ));
        assert!(matches!(
            direct_error(failure(rusqlite::ffi::SQLITE_CONSTRAINT_FOREIGNKEY)),
            StoreError::Other(_)
        ));
    }
}
