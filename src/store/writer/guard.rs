//! What the SQLite writer checks around every batch (issue #24, item 10):
//! * **The files are the ones it opened.** A deleted or replaced database file does not stop
//!   SQLite: its open descriptors keep writing to the unlinked inode (in WAL mode SQLite does
//!   not check, unlike its rollback journal's `SQLITE_READONLY_DBMOVED`), so events would be
//!   acknowledged and lost at the next restart. After each commit, before anyone is answered,
//!   the writer compares the device and inode of the database file and its `-wal` at their
//!   paths with those it opened; `/readyz` does the same ([`Store::ping`]).
//! * **The WAL stays under `storage.max_wal_bytes`.** When checkpoints cannot copy the WAL
//!   back (the main file cannot be written, or a reader holds an old snapshot for ever), every
//!   commit would still append to the WAL. Before a batch, a WAL over the limit gets a
//!   blocking `TRUNCATE` checkpoint from the writer itself; if that fails too the batch is
//!   refused (503) until it succeeds.
//!
//! The WAL's size is its file's length: `journal_size_limit` (set by the writer to at most the
//! limit) makes SQLite truncate the file when it starts the WAL over, so a file longer than
//! the limit holds that much uncopied log.
//!
//! [`Store::ping`]: crate::store::Store::ping

use std::fs::Metadata;
use std::path::{Path, PathBuf};

use rusqlite::Connection;

use crate::store::StoreError;

/// Device and inode of a file.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct FileId {
    dev: u64,
    ino: u64,
}

impl FileId {
    #[cfg(unix)]
    fn of(meta: &Metadata) -> FileId {
        use std::os::unix::fs::MetadataExt;
        FileId {
            dev: meta.dev(),
            ino: meta.ino(),
        }
    }

    /// Elsewhere only deletion is noticed.
    #[cfg(not(unix))]
    fn of(_: &Metadata) -> FileId {
        FileId { dev: 0, ino: 0 }
    }
}

/// The database file and its WAL as the writer opened them.
#[derive(Debug)]
pub(in crate::store) struct DatabaseFile {
    path: PathBuf,
    wal: PathBuf,
    db_id: FileId,
    wal_id: Option<FileId>,
}

impl DatabaseFile {
    /// Records the files at `path` and `path-wal` now (the WAL exists once a connection in WAL
    /// mode has read the database). Errors: [`StoreError::Unavailable`] when the database
    /// file cannot be examined.
    pub(in crate::store) fn open(path: &Path) -> Result<DatabaseFile, StoreError> {
        let mut wal = path.as_os_str().to_owned();
        wal.push("-wal");
        let wal = PathBuf::from(wal);
        let db_id = std::fs::metadata(path)
            .map(|m| FileId::of(&m))
            .map_err(|e| {
                StoreError::Unavailable(format!("cannot examine {}: {e}", path.display()))
            })?;
        let wal_id = std::fs::metadata(&wal).ok().map(|m| FileId::of(&m));
        Ok(DatabaseFile {
            path: path.to_owned(),
            wal,
            db_id,
            wal_id,
        })
    }

    /// Checks that both files are still the ones opened; returns the WAL's length in bytes.
    /// Errors: [`StoreError::Unavailable`] naming the file that was deleted or replaced.
    pub(in crate::store) fn check(&self) -> Result<u64, StoreError> {
        let lost = |path: &Path, what: &str| {
            StoreError::Unavailable(format!(
                "the database file {} {what} since the server opened it: what is written \
                 now would be lost; restore the file or restart the server",
                path.display()
            ))
        };
        match std::fs::metadata(&self.path) {
            Ok(m) if FileId::of(&m) == self.db_id => {}
            Ok(_) => return Err(lost(&self.path, "was replaced")),
            Err(_) => return Err(lost(&self.path, "was deleted")),
        }
        let Some(wal_id) = self.wal_id else {
            return Ok(0);
        };
        match std::fs::metadata(&self.wal) {
            Ok(m) if FileId::of(&m) == wal_id => Ok(m.len()),
            Ok(_) => Err(lost(&self.wal, "was replaced")),
            Err(_) => Err(lost(&self.wal, "was deleted")),
        }
    }
}

/// The writer's checks, with what the last one found.
#[derive(Debug)]
pub(super) struct Guard {
    file: std::sync::Arc<DatabaseFile>,
    max_wal_bytes: u64,
    wal_bytes: u64,
}

impl Guard {
    pub(super) fn new(file: std::sync::Arc<DatabaseFile>, max_wal_bytes: u64) -> Guard {
        Guard {
            file,
            max_wal_bytes,
            wal_bytes: 0,
        }
    }

    /// Before a batch: a WAL over the limit is checkpointed and truncated by the writer
    /// itself, waiting for readers up to the busy timeout. Errors:
    /// [`StoreError::Unavailable`] when that fails, the batch must not grow the WAL further.
    pub(super) fn make_room(&mut self, conn: &Connection) -> Result<(), StoreError> {
        if self.wal_bytes <= self.max_wal_bytes {
            return Ok(());
        }
        let full = |cause: String| {
            StoreError::Unavailable(format!(
                "the write-ahead log is {} bytes, over storage.max_wal_bytes = {}, and cannot \
                 be checkpointed: {cause}",
                self.wal_bytes, self.max_wal_bytes
            ))
        };
        // Answers (busy, frames in the WAL, frames checkpointed); busy = 1 when readers or
        // another checkpoint kept it from finishing.
        let busy: i64 = conn
            .query_row("pragma wal_checkpoint(truncate)", [], |row| row.get(0))
            .map_err(|e| full(e.to_string()))?;
        if busy != 0 {
            return Err(full("readers kept it from completing".into()));
        }
        self.wal_bytes = self.file.check()?;
        Ok(())
    }

    /// After a commit, before anyone is answered: the files must be the ones opened.
    pub(super) fn verify(&mut self) -> Result<(), StoreError> {
        self.wal_bytes = self.file.check()?;
        Ok(())
    }
}
