//! A short-lived cache of public-key lookups, so authenticating an event costs no query in
//! the common case. Entries expire after a few seconds, which bounds how long a disabled key
//! keeps working on another server process.

use std::collections::HashMap;
use std::sync::{Arc, RwLock};
use std::time::{Duration, Instant};

use crate::store::{KeyInfo, Store, StoreError};

const TTL: Duration = Duration::from_secs(10);
/// Unknown keys are remembered for less time: a key created a moment ago should work soon.
const NEGATIVE_TTL: Duration = Duration::from_secs(2);
const MAX_ENTRIES: usize = 10_000;

/// A lookup result (`None`: unknown key) and when it was made.
type Entry = (Option<KeyInfo>, Instant);

/// Cached `public_key → KeyInfo` lookups.
#[derive(Clone, Debug, Default)]
pub struct KeyCache {
    entries: Arc<RwLock<HashMap<String, Entry>>>,
}

impl KeyCache {
    /// Looks the key up, from the cache when fresh, else from the store.
    pub async fn get(&self, store: &Store, key: &str) -> Result<Option<KeyInfo>, StoreError> {
        if let Ok(map) = self.entries.read() {
            if let Some((info, at)) = map.get(key) {
                let ttl = if info.is_some() { TTL } else { NEGATIVE_TTL };
                if at.elapsed() < ttl {
                    return Ok(info.clone());
                }
            }
        }
        let info = store.key_info(key).await?;
        if let Ok(mut map) = self.entries.write() {
            if map.len() >= MAX_ENTRIES {
                // Random keys from a scanner must not grow this without bound.
                map.clear();
            }
            map.insert(key.to_owned(), (info.clone(), Instant::now()));
        }
        Ok(info)
    }

    /// Forgets everything (after a key or project was changed by this process).
    pub fn clear(&self) {
        if let Ok(mut map) = self.entries.write() {
            map.clear();
        }
    }
}
