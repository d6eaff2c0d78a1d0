//! What ingestion checks per event, kept in memory: each project's rate limit and its
//! discarded grouping hashes, copied from the database every [`REFRESH`] (and at once after
//! a change made through this server), so the check costs a map lookup, not a query.
//!
//! Another server's change (or the command line's) applies here within [`REFRESH`].

use std::collections::{HashMap, HashSet};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, RwLock};
use std::time::{Duration, Instant};

use crate::store::{Store, StoreError};

/// How old the in-memory copy may get before a refresh starts (in the background: the
/// request that notices carries on with the copy it has).
pub const REFRESH: Duration = Duration::from_secs(5);

/// One copy of the per-project rules ingestion applies.
#[derive(Debug, Default)]
pub struct Snapshot {
    rate_limits: HashMap<i64, u64>,
    discarded: HashMap<i64, HashSet<String>>,
}

impl Snapshot {
    /// The project's events-per-minute limit, if it has one.
    pub fn rate_limit(&self, project_id: i64) -> Option<u64> {
        self.rate_limits.get(&project_id).copied()
    }

    /// True when events of this grouping hash are dropped in the project.
    pub fn is_discarded(&self, project_id: i64, hash: &str) -> bool {
        self.discarded
            .get(&project_id)
            .is_some_and(|hashes| hashes.contains(hash))
    }
}

/// The in-memory copy and its refresh. Cheap to share (`Arc`).
#[derive(Debug)]
pub struct Policies {
    store: Store,
    current: RwLock<Arc<Snapshot>>,
    loaded_at: Mutex<Option<Instant>>,
    refreshing: AtomicBool,
}

impl Policies {
    /// An empty copy, loaded on first use.
    pub fn new(store: Store) -> Policies {
        Policies {
            store,
            current: RwLock::new(Arc::default()),
            loaded_at: Mutex::new(None),
            refreshing: AtomicBool::new(false),
        }
    }

    /// The current copy. The first call loads it (one query pair); afterwards a copy older
    /// than [`REFRESH`] is refreshed in the background while this call returns it.
    pub async fn snapshot(self: &Arc<Self>) -> Arc<Snapshot> {
        let loaded = self.loaded_at.lock().ok().and_then(|t| *t);
        match loaded {
            None => {
                if let Err(e) = self.reload().await {
                    tracing::error!(error = %e, "cannot load rate limits and discarded issues");
                }
            }
            Some(at) if at.elapsed() >= REFRESH => {
                if !self.refreshing.swap(true, Ordering::AcqRel) {
                    let this = Arc::clone(self);
                    tokio::spawn(async move {
                        if let Err(e) = this.reload().await {
                            tracing::warn!(error = %e, "cannot refresh rate limits and discarded issues");
                        }
                        this.refreshing.store(false, Ordering::Release);
                    });
                }
            }
            Some(_) => {}
        }
        self.current
            .read()
            .map(|s| Arc::clone(&s))
            .unwrap_or_default()
    }

    /// Reads the rules from the database now (after a change made through this server).
    /// Errors: the store's; the old copy stays in force.
    pub async fn reload(&self) -> Result<(), StoreError> {
        let mut next = Snapshot::default();
        for p in self.store.project_limits().await? {
            if let Some(limit) = p.rate_limit_per_minute {
                next.rate_limits
                    .insert(p.project_id, limit.max(0).unsigned_abs());
            }
        }
        for d in self.store.discarded_groupings(None).await? {
            next.discarded
                .entry(d.project_id)
                .or_default()
                .insert(d.hash);
        }
        if let Ok(mut current) = self.current.write() {
            *current = Arc::new(next);
        }
        if let Ok(mut at) = self.loaded_at.lock() {
            *at = Some(Instant::now());
        }
        Ok(())
    }
}
