//! Offline spool: envelopes that could not be delivered, one file each.
//!
//! Files are named `<unix-millis>-<seq>-<uuid>.envelope` so a directory listing sorted by name is
//! oldest first; a file is written to a `.tmp` name and renamed, so a crash mid-write never
//! leaves a half envelope to replay. The envelope header carries the DSN, so a later process
//! (after a restart) sends each file where it was meant to go. Files are deleted once the
//! server accepted them (or rejected them for good).

use std::fs;
use std::io;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{SystemTime, UNIX_EPOCH};

static SEQ: AtomicU64 = AtomicU64::new(0);

/// Upper bound of spooled files; the oldest are dropped beyond it.
const MAX_FILES: usize = 1000;

/// A spool directory.
#[derive(Debug, Clone)]
pub struct Spool {
    dir: PathBuf,
}

impl Spool {
    /// Uses (and creates) `dir`.
    pub fn open(dir: &Path) -> io::Result<Spool> {
        fs::create_dir_all(dir)?;
        Ok(Spool {
            dir: dir.to_path_buf(),
        })
    }

    /// Stores one serialized envelope. Returns how many old files were evicted.
    pub fn store(&self, bytes: &[u8]) -> io::Result<usize> {
        let millis = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map(|d| d.as_millis())
            .unwrap_or(0);
        // The counter orders files written within one millisecond.
        let seq = SEQ.fetch_add(1, Ordering::Relaxed) % 1_000_000;
        let name = format!(
            "{millis:015}-{seq:06}-{}.envelope",
            uuid::Uuid::new_v4().simple()
        );
        let tmp = self.dir.join(format!("{name}.tmp"));
        fs::write(&tmp, bytes)?;
        fs::rename(&tmp, self.dir.join(name))?;
        let files = self.list()?;
        let mut evicted = 0;
        if files.len() > MAX_FILES {
            for f in &files[..files.len() - MAX_FILES] {
                if fs::remove_file(f).is_ok() {
                    evicted += 1;
                }
            }
        }
        Ok(evicted)
    }

    /// Spooled files, oldest first.
    pub fn list(&self) -> io::Result<Vec<PathBuf>> {
        let mut files: Vec<PathBuf> = fs::read_dir(&self.dir)?
            .filter_map(Result::ok)
            .map(|e| e.path())
            .filter(|p| p.extension().is_some_and(|e| e == "envelope"))
            .collect();
        files.sort();
        Ok(files)
    }

    /// True when nothing is waiting.
    pub fn is_empty(&self) -> bool {
        self.list().map(|l| l.is_empty()).unwrap_or(true)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn store_and_list_oldest_first() {
        let dir = tempfile::tempdir().unwrap();
        let s = Spool::open(dir.path()).unwrap();
        s.store(b"one").unwrap();
        std::thread::sleep(std::time::Duration::from_millis(2));
        s.store(b"two").unwrap();
        let l = s.list().unwrap();
        assert_eq!(l.len(), 2);
        assert_eq!(fs::read(&l[0]).unwrap(), b"one");
    }
}
