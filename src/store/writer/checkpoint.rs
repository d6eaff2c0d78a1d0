//! WAL checkpoints on their own thread, beside the SQLite writer.
//!
//! SQLite's automatic checkpoint runs inside the commit that crosses `wal_autocheckpoint`
//! pages, on the committing connection: copying the WAL back into the database file and two
//! fsyncs then sit on the ingest writer's serial path (about a sixth of its time in
//! `bench/profile.sh`). A passive checkpoint from another connection does the same work
//! without taking the write lock, so the writer goes on committing while the other core
//! copies. The writer keeps a high `wal_autocheckpoint` ([`BACKSTOP_PAGES`]) in case this
//! thread falls behind, so the WAL stays bounded either way.
//!
//! Durability does not change: a checkpoint only moves pages that are already committed and
//! synced in the WAL; `synchronous=FULL` makes it sync the WAL before and the database after.
//! (<https://www.sqlite.org/wal.html#checkpointing>, "application-initiated checkpoints".)

use std::path::Path;
use std::sync::mpsc::{self, Receiver, RecvTimeoutError, SyncSender};
use std::time::Duration;

use rusqlite::Connection;

use crate::store::StoreError;

/// The writer's own `wal_autocheckpoint`: it checkpoints itself only once the WAL has this
/// many frames (4 KiB pages: 64 MiB), which happens when this thread cannot keep up.
pub(super) const BACKSTOP_PAGES: u32 = 16_384;

/// Least time between two checkpoints. Nudges that come meanwhile are folded into the next
/// one, so a stream of small commits costs one checkpoint (two fsyncs) per pace, not per
/// commit, and each checkpoint copies many frames at once: a page the commits of one pace
/// wrote again and again (the tables' last pages, the busiest issues' index leaves) is copied
/// once. 100 ms rather than 20 wrote 10 % fewer bytes per event in a burst (`bench/README.md`,
/// "Where the writer's pages go"); the WAL then holds ~7 MB at 5,000 events/s.
const PACE: Duration = Duration::from_millis(100);

/// When readers on older snapshots kept frames from being copied, the thread tries again
/// this long after the last commit, so a quiet server's WAL does not keep them.
const RETRY_IDLE: Duration = Duration::from_secs(1);

/// Handle to the checkpoint thread; the thread ends when the handle is dropped.
#[derive(Debug)]
pub(super) struct Checkpointer {
    wake: SyncSender<()>,
}

impl Checkpointer {
    /// Opens a second connection to `path` for checkpoints and starts its thread. Errors:
    /// [`StoreError::Unavailable`] when the file cannot be opened or the thread cannot start.
    pub(super) fn start(path: &Path, busy_timeout: Duration) -> Result<Checkpointer, StoreError> {
        let unavailable = |e: &dyn std::fmt::Display| {
            StoreError::Unavailable(format!("cannot start the WAL checkpointer: {e}"))
        };
        let conn = Connection::open(path).map_err(|e| unavailable(&e))?;
        conn.busy_timeout(busy_timeout)
            .map_err(|e| unavailable(&e))?;
        // The checkpoint copies WAL frames straight into the file; a small cache is enough.
        conn.execute_batch("pragma synchronous = full; pragma cache_size = -256;")
            .map_err(|e| unavailable(&e))?;
        let (wake, nudges) = mpsc::sync_channel(1);
        std::thread::Builder::new()
            .name("errata-sqlite-checkpoint".into())
            .spawn(move || run(&conn, &nudges))
            .map_err(|e| unavailable(&e))?;
        Ok(Checkpointer { wake })
    }

    /// Tells the thread that a transaction committed. Never blocks: nudges that arrive while
    /// one is pending are folded into it.
    pub(super) fn nudge(&self) {
        // Full: a nudge is pending already. The thread only stops once this handle is gone.
        let _ = self.wake.try_send(());
    }
}

fn run(conn: &Connection, nudges: &Receiver<()>) {
    let mut left = 0;
    let mut failing = false;
    loop {
        let wait = if left > 0 {
            nudges.recv_timeout(RETRY_IDLE)
        } else {
            nudges.recv().map_err(|_| RecvTimeoutError::Disconnected)
        };
        if let Err(RecvTimeoutError::Disconnected) = wait {
            return;
        }
        // A failure is logged when it starts and when it ends, not at every attempt (issue
        // #24, item 10): the writer refuses batches once the WAL passes its limit, and
        // ingestion logs that outage.
        match checkpoint(conn) {
            Ok(frames) => {
                if failing {
                    tracing::info!("WAL checkpoints work again");
                    failing = false;
                }
                left = frames;
                std::thread::sleep(PACE);
            }
            Err(e) => {
                if !failing {
                    tracing::warn!(error = %e, "WAL checkpoints fail; the WAL grows until they work again, up to storage.max_wal_bytes");
                    failing = true;
                }
                // Try again a while later, without waiting for a commit.
                left = 1;
                std::thread::sleep(RETRY_IDLE);
            }
        }
    }
}

/// Runs a passive checkpoint; returns how many WAL frames are left uncopied (readers on
/// older snapshots keep some).
fn checkpoint(conn: &Connection) -> rusqlite::Result<i64> {
    // Answers (busy, frames in the WAL, frames checkpointed), `-1` for both counts when the
    // database is not in WAL mode.
    let (log, done) = conn.query_row("pragma wal_checkpoint(passive)", [], |row| {
        Ok((row.get::<_, i64>(1)?, row.get::<_, i64>(2)?))
    })?;
    Ok((log - done).max(0))
}
