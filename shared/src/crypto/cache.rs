//! A bounded cache of plaintext data keys.
//!
//! Entries expire after `max_age` or `max_uses`, whichever comes first, and the cache
//! holds at most `max_entries` keys (the oldest is dropped). Keys are zeroed when dropped.
//! Bounding uses also bounds how many AES-GCM messages share one key under random nonces.

use std::collections::HashMap;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use zeroize::Zeroizing;

/// How long and how often a cached data key may be used.
#[derive(Debug, Clone, Copy)]
pub struct CacheLimits {
    pub max_age: Duration,
    pub max_uses: u32,
    pub max_entries: usize,
}

impl Default for CacheLimits {
    fn default() -> Self {
        Self {
            max_age: Duration::from_secs(300),
            max_uses: 1_000,
            max_entries: 1_000,
        }
    }
}

pub(crate) struct CachedKey {
    pub key: Zeroizing<[u8; 32]>,
    pub wrapped: Vec<u8>,
    created: Instant,
    uses: u32,
}

/// Plaintext data keys by cache key (the encryption context for sealing, context and
/// wrapped key for opening).
pub struct DataKeyCache {
    limits: CacheLimits,
    entries: Mutex<HashMap<String, CachedKey>>,
}

impl DataKeyCache {
    pub fn new(limits: CacheLimits) -> Self {
        Self {
            limits,
            entries: Mutex::new(HashMap::new()),
        }
    }

    /// A usable key for `id`, counting this use; expired entries are dropped.
    pub(crate) fn take(&self, id: &str) -> Option<(Zeroizing<[u8; 32]>, Vec<u8>)> {
        let mut entries = self.entries.lock().expect("cache lock is never poisoned");
        let fresh = entries.get_mut(id).and_then(|e| {
            let usable = e.created.elapsed() < self.limits.max_age && e.uses < self.limits.max_uses;
            usable.then(|| {
                e.uses += 1;
                (e.key.clone(), e.wrapped.clone())
            })
        });
        if fresh.is_none() {
            entries.remove(id);
        }
        fresh
    }

    pub(crate) fn put(&self, id: String, key: Zeroizing<[u8; 32]>, wrapped: Vec<u8>) {
        let mut entries = self.entries.lock().expect("cache lock is never poisoned");
        if entries.len() >= self.limits.max_entries && !entries.contains_key(&id) {
            let oldest = entries
                .iter()
                .min_by_key(|(_, e)| e.created)
                .map(|(k, _)| k.clone());
            if let Some(oldest) = oldest {
                entries.remove(&oldest);
            }
        }
        entries.insert(
            id,
            CachedKey {
                key,
                wrapped,
                created: Instant::now(),
                uses: 1,
            },
        );
    }

    pub fn len(&self) -> usize {
        self.entries
            .lock()
            .expect("cache lock is never poisoned")
            .len()
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn key(b: u8) -> Zeroizing<[u8; 32]> {
        Zeroizing::new([b; 32])
    }

    #[test]
    fn key_is_reused_until_max_uses() {
        let cache = DataKeyCache::new(CacheLimits {
            max_uses: 3,
            ..CacheLimits::default()
        });
        cache.put("ctx".into(), key(1), vec![9]);
        assert!(cache.take("ctx").is_some()); // use 2
        assert!(cache.take("ctx").is_some()); // use 3
        assert!(
            cache.take("ctx").is_none(),
            "a fourth use must need a new key"
        );
        assert!(cache.is_empty());
    }

    #[test]
    fn key_expires_after_max_age() {
        let cache = DataKeyCache::new(CacheLimits {
            max_age: Duration::ZERO,
            ..CacheLimits::default()
        });
        cache.put("ctx".into(), key(1), vec![9]);
        assert!(cache.take("ctx").is_none());
    }

    #[test]
    fn cache_is_bounded() {
        let cache = DataKeyCache::new(CacheLimits {
            max_entries: 2,
            ..CacheLimits::default()
        });
        for i in 0..5u8 {
            cache.put(format!("ctx{i}"), key(i), vec![i]);
        }
        assert_eq!(cache.len(), 2);
        assert!(cache.take("ctx4").is_some());
    }

    #[test]
    fn contexts_do_not_share_keys() {
        let cache = DataKeyCache::new(CacheLimits::default());
        cache.put("tenant-a".into(), key(1), vec![1]);
        assert!(cache.take("tenant-b").is_none());
    }
}
