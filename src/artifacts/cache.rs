//! What resolution keeps in memory between events, per server: parsed source maps and
//! minified sources by artifact id within a byte budget (least recently used out first), and
//! which artifact answers a lookup (by debug ID, by release and URL), including "none".
//!
//! An upload on this server makes every cached lookup stale at once (a generation counter),
//! so an event that arrives after its maps were uploaded is resolved. Uploads on another
//! server are seen once a lookup is older than [`LOOKUP_TTL`].

use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use sourcemap::{SourceMap, SourceView};

/// How long a cached lookup is trusted without an upload on this server.
pub const LOOKUP_TTL: Duration = Duration::from_secs(60);

/// Most cached lookups; the whole table is dropped when it grows past this.
const MAX_LOOKUPS: usize = 10_000;

/// A parsed artifact.
#[derive(Debug, Clone)]
pub enum Parsed {
    /// A source map.
    Map(Arc<SourceMap>),
    /// A minified source, for function names.
    Source(Arc<SourceView>),
}

/// Where a frame's map is: artifact ids of the map and of its minified file, and the URL the
/// map's relative `sources` resolve against.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Located {
    /// The source map's artifact.
    pub map_file: i64,
    /// The minified file's artifact, if uploaded.
    pub minified_file: Option<i64>,
    /// The map's URL (or the frame's URL when the map had none).
    pub map_url: String,
}

/// The per-server cache of source maps; cheap to share (`Arc` inside [`crate::AppState`]).
#[derive(Debug)]
pub struct SourceMaps {
    budget: usize,
    generation: AtomicU64,
    inner: Mutex<Inner>,
}

#[derive(Debug, Default)]
struct Inner {
    parsed: HashMap<i64, Entry>,
    used: usize,
    tick: u64,
    lookups: HashMap<String, Lookup>,
}

#[derive(Debug)]
struct Entry {
    value: Parsed,
    size: usize,
    last_used: u64,
}

#[derive(Debug, Clone)]
struct Lookup {
    generation: u64,
    at: Instant,
    found: Result<Located, String>,
}

impl Default for SourceMaps {
    fn default() -> Self {
        SourceMaps::new(crate::artifacts::ReleasesConfig::default().cache_bytes)
    }
}

impl SourceMaps {
    /// A cache holding at most about `budget` bytes of parsed artifacts.
    pub fn new(budget: usize) -> SourceMaps {
        SourceMaps {
            budget,
            generation: AtomicU64::new(0),
            inner: Mutex::default(),
        }
    }

    /// Forgets every cached lookup: called after an upload.
    pub fn uploaded(&self) {
        self.generation.fetch_add(1, Ordering::Relaxed);
    }

    /// The cached answer of lookup `key`, if still trusted.
    pub fn lookup(&self, key: &str) -> Option<Result<Located, String>> {
        let generation = self.generation.load(Ordering::Relaxed);
        let inner = self.inner.lock().ok()?;
        let hit = inner.lookups.get(key)?;
        (hit.generation == generation && hit.at.elapsed() < LOOKUP_TTL).then(|| hit.found.clone())
    }

    /// Remembers the answer of lookup `key`.
    pub fn remember(&self, key: String, found: Result<Located, String>) {
        let generation = self.generation.load(Ordering::Relaxed);
        if let Ok(mut inner) = self.inner.lock() {
            if inner.lookups.len() >= MAX_LOOKUPS {
                inner.lookups.clear();
            }
            inner.lookups.insert(
                key,
                Lookup {
                    generation,
                    at: Instant::now(),
                    found,
                },
            );
        }
    }

    /// The parsed artifact `file_id`, if cached.
    pub fn get(&self, file_id: i64) -> Option<Parsed> {
        let mut inner = self.inner.lock().ok()?;
        inner.tick += 1;
        let tick = inner.tick;
        let entry = inner.parsed.get_mut(&file_id)?;
        entry.last_used = tick;
        Some(entry.value.clone())
    }

    /// Keeps a parsed artifact of about `size` bytes, evicting the least recently used ones
    /// to stay within the budget. One bigger than the whole budget is not kept.
    pub fn put(&self, file_id: i64, value: Parsed, size: usize) {
        if size > self.budget {
            return;
        }
        let Ok(mut inner) = self.inner.lock() else {
            return;
        };
        while inner.used + size > self.budget {
            let Some(oldest) = inner
                .parsed
                .iter()
                .min_by_key(|(_, e)| e.last_used)
                .map(|(id, _)| *id)
            else {
                break;
            };
            if let Some(e) = inner.parsed.remove(&oldest) {
                inner.used -= e.size;
            }
        }
        inner.tick += 1;
        let last_used = inner.tick;
        if let Some(old) = inner.parsed.insert(
            file_id,
            Entry {
                value,
                size,
                last_used,
            },
        ) {
            inner.used -= old.size;
        }
        inner.used += size;
    }

    /// Bytes held.
    pub fn used(&self) -> usize {
        self.inner.lock().map(|i| i.used).unwrap_or(0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn source(text: &str) -> Parsed {
        Parsed::Source(Arc::new(SourceView::from_string(text.to_owned())))
    }

    #[test]
    fn evicts_least_recently_used_within_budget() {
        let cache = SourceMaps::new(100);
        cache.put(1, source("a"), 40);
        cache.put(2, source("b"), 40);
        assert!(cache.get(1).is_some());
        cache.put(3, source("c"), 40);
        assert!(cache.get(2).is_none(), "least recently used went");
        assert!(cache.get(1).is_some() && cache.get(3).is_some());
        assert_eq!(cache.used(), 80);
        cache.put(4, source("d"), 500);
        assert!(cache.get(4).is_none(), "bigger than the budget");
    }

    #[test]
    fn uploads_invalidate_lookups() {
        let cache = SourceMaps::new(100);
        cache.remember("k".into(), Err("none".into()));
        assert_eq!(cache.lookup("k"), Some(Err("none".into())));
        cache.uploaded();
        assert_eq!(cache.lookup("k"), None);
    }
}
