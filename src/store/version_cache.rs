//! Recently rendered resource versions, kept as their stored bytes.
//!
//! A search page is rendered from the store: each entry is a B-tree lookup of ("Type/id",
//! version) in redb's page cache, which descends four levels, clones an `Arc` per page (the root
//! page's count is shared by every search thread) and compares tuple keys at each level. Under 8
//! clients on the national corpus that was 14 % of the server's CPU. A stored version never
//! changes (a write makes a new version, a delete a new empty one), so its bytes can be kept
//! without any invalidation: a hit is one hash lookup in a sharded map.
//!
//! Only versions read from committed read transactions enter the cache, so a version number
//! given by a unit that later failed is never seen here. Bounded by weight (bytes), with
//! quick_cache's scan-resistant policy: an export or a deep paging run does not flush the versions
//! that searches keep showing.

use std::hash::Hash;
use std::sync::Arc;

use quick_cache::{sync::Cache, Equivalent, Weighter};

/// Bytes counted per entry beyond the resource itself: key, `Arc` header, table slot.
const ENTRY_OVERHEAD: u64 = 96;
/// A typical ROR resource as stored, to size the table up front.
const TYPICAL_ENTRY_BYTES: u64 = 1_500;

#[derive(Clone, PartialEq, Eq, Hash)]
struct VersionKey {
    storage_key: Box<str>,
    version: u64,
}

/// The borrowed form of [`VersionKey`], for lookups without an allocation. Its derived hash is
/// the owned key's: a `&str` hashes as the `str` its `Box` holds, then the version.
#[derive(Hash)]
struct VersionRef<'a> {
    storage_key: &'a str,
    version: u64,
}

impl Equivalent<VersionKey> for VersionRef<'_> {
    fn equivalent(&self, key: &VersionKey) -> bool {
        self.version == key.version && self.storage_key == &*key.storage_key
    }
}

#[derive(Clone)]
struct ByteWeight;

impl Weighter<VersionKey, Arc<[u8]>> for ByteWeight {
    fn weight(&self, key: &VersionKey, bytes: &Arc<[u8]>) -> u64 {
        bytes.len() as u64 + key.storage_key.len() as u64 + ENTRY_OVERHEAD
    }
}

pub struct VersionCache {
    /// `None` when configured to 0 bytes.
    cache: Option<Cache<VersionKey, Arc<[u8]>, ByteWeight>>,
}

impl VersionCache {
    pub fn new(capacity_bytes: u64) -> VersionCache {
        let cache = (capacity_bytes > 0).then(|| {
            let estimated_items = (capacity_bytes / (TYPICAL_ENTRY_BYTES + ENTRY_OVERHEAD)).max(16);
            Cache::with_weighter(estimated_items as usize, capacity_bytes, ByteWeight)
        });
        VersionCache { cache }
    }

    /// The bytes of `version` of `storage_key` ("Type/id"), if kept.
    pub fn get(&self, storage_key: &str, version: u64) -> Option<Arc<[u8]>> {
        self.cache.as_ref()?.get(&VersionRef { storage_key, version })
    }

    /// Keep the committed bytes of a version read from the store.
    pub fn insert(&self, storage_key: &str, version: u64, bytes: &[u8]) {
        if let Some(cache) = &self.cache {
            cache.insert(VersionKey { storage_key: storage_key.into(), version }, Arc::from(bytes));
        }
    }

    /// Bytes held now (entries and their overhead).
    #[cfg(test)]
    fn weight(&self) -> u64 {
        self.cache.as_ref().map_or(0, |cache| cache.weight())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn test_versions_are_kept_apart_and_the_weight_stays_bounded() {
        let cache = VersionCache::new(64 << 10);
        cache.insert("Location/a", 1, b"{\"v\":1}");
        cache.insert("Location/a", 2, b"{\"v\":2}");
        assert_eq!(cache.get("Location/a", 1).as_deref(), Some(&b"{\"v\":1}"[..]));
        assert_eq!(cache.get("Location/a", 2).as_deref(), Some(&b"{\"v\":2}"[..]));
        assert_eq!(cache.get("Location/a", 3), None);
        assert_eq!(cache.get("Location/b", 1), None);
        // A prefix of another key is another key.
        assert_eq!(cache.get("Location/", 1), None);
        let resource = vec![b'x'; 1_000];
        for id in 0..1_000 {
            cache.insert(&format!("HealthcareService/{id}"), 1, &resource);
        }
        assert!(cache.weight() <= 64 << 10, "held {} bytes", cache.weight());
    }

    #[test]
    fn test_a_zero_capacity_keeps_nothing() {
        let cache = VersionCache::new(0);
        cache.insert("Location/a", 1, b"{}");
        assert_eq!(cache.get("Location/a", 1), None);
        assert_eq!(cache.weight(), 0);
    }
}
