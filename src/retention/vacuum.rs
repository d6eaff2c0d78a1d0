//! Giving SQLite's free pages back to the file system.
//!
//! Pruning frees pages inside the file; SQLite reuses them for new rows, so the file stops
//! growing, but it only shrinks with `auto_vacuum = incremental`, which lets each pass
//! return free pages (`pragma incremental_vacuum`) in small steps. A new database gets the
//! setting when it is created. A database made before it existed only gets it through one
//! `VACUUM`, which rewrites the whole file and holds the write lock meanwhile: `errata
//! serve` does it at start for a file up to `retention.vacuum_at_start_up_to` (default
//! 256 MiB, a few seconds), and otherwise logs a warning and leaves it to
//! `errata retention vacuum`, to be run when a pause of ingestion is acceptable (about
//! 10–30 s per GiB; the server may run meanwhile, its commits wait).

use std::time::Instant;

use crate::store::{Backend, Store, StoreError};

/// What [`convert`] found or did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Conversion {
    /// PostgreSQL, or a SQLite file that already has `auto_vacuum = incremental`.
    NotNeeded,
    /// The file was rewritten with `auto_vacuum = incremental`.
    Converted {
        /// Size before, bytes.
        bytes: i64,
    },
    /// The file is larger than the limit and was left as it is.
    TooLarge {
        /// Its size, bytes.
        bytes: i64,
    },
}

/// Gives a SQLite file `auto_vacuum = incremental` with a one-time `VACUUM` if it is at most
/// `up_to` bytes (`u64::MAX`: whatever its size). Errors: the store's (a `VACUUM` that fails
/// leaves the file as it was).
pub async fn convert(store: &Store, up_to: u64) -> Result<Conversion, StoreError> {
    if store.backend() != Backend::Sqlite {
        return Ok(Conversion::NotNeeded);
    }
    let size = store.database_size().await?;
    if size.incremental_vacuum {
        return Ok(Conversion::NotNeeded);
    }
    if size.bytes.max(0).unsigned_abs() > up_to {
        return Ok(Conversion::TooLarge { bytes: size.bytes });
    }
    let started = Instant::now();
    store.vacuum_into_incremental().await?;
    tracing::info!(
        bytes = size.bytes,
        ms = started.elapsed().as_millis() as u64,
        "the database now returns pages freed by pruning to the file system (auto_vacuum = incremental)"
    );
    Ok(Conversion::Converted { bytes: size.bytes })
}

/// [`convert`] at `errata serve` start: a file too large is logged, not converted.
pub async fn at_start(store: &Store, up_to: u64) {
    match convert(store, up_to).await {
        Ok(Conversion::TooLarge { bytes }) => tracing::warn!(
            bytes,
            "the database file cannot shrink after pruning (auto_vacuum is off); freed pages \
             are reused, so it stops growing. Run `errata retention vacuum` once when a pause \
             of ingestion is acceptable to let it shrink"
        ),
        Ok(_) => {}
        Err(e) => tracing::warn!(error = %e, "cannot turn on incremental vacuum"),
    }
}
