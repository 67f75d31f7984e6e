//! Invalidating every entry of a prefix at once, in O(1): the prefix's *generation*.
//!
//! Each prefix (in a cache's namespace) has a generation, 0 until its first invalidation,
//! stored under `[namespace:]prefix:generation` (a key that never ends in 32 hex digits, so it
//! is never an entry). It seeds the hash of every key of the prefix, 0 leaving the documented
//! hash: a new generation makes every existing entry unreachable at once, without `SCAN` or
//! `KEYS`, and the old entries expire on their own.
//!
//! Each cache keeps the generations it has read, so that a call costs no extra round trip. An
//! invalidation writes a new (random) generation and publishes it ([`Store::publish`]); every
//! process sharing the store updates its copy as the message arrives. When messages may have
//! been missed (the listening connection was lost), the copies are dropped and read again: a
//! call whose prefix's generation cannot be read runs uncached rather than guess.

use std::collections::HashMap;
use std::hash::BuildHasherDefault;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, OnceLock};
use std::time::Duration;

use arc_swap::ArcSwap;
use xxhash_rust::xxh3::xxh3_128_with_seed;

use crate::site::CacheSite;
use crate::store::{Health, Read, Store, StoreError, StoreEvent};

/// How long a generation key lives: longer than any entry written under an older generation.
const GENERATION_TTL: Duration = Duration::from_secs(10 * 365 * 24 * 3600);

/// The generations a cache knows, by site (each site's prefix's).
#[derive(Default)]
pub(crate) struct Generations {
    known: ArcSwap<HashMap<usize, (&'static str, u64), BuildHasherDefault<SiteHasher>>>,
    /// Bumped by every event heard: a read that started before one does not record its result.
    epoch: AtomicU64,
    listening: OnceLock<()>,
}

/// Site addresses are unique: their bits are their hash.
#[derive(Default)]
struct SiteHasher(u64);

impl std::hash::Hasher for SiteHasher {
    fn finish(&self) -> u64 {
        self.0
    }
    fn write(&mut self, bytes: &[u8]) {
        for &byte in bytes {
            self.0 = self.0.rotate_left(8) ^ u64::from(byte);
        }
    }
    fn write_usize(&mut self, n: usize) {
        self.0 = (n as u64).rotate_right(4);
    }
}

/// The generation key of `prefix` in `namespace`.
pub(crate) fn generation_key(namespace: Option<&str>, prefix: &str) -> String {
    match namespace {
        Some(namespace) => format!("{namespace}:{prefix}:generation"),
        None => format!("{prefix}:generation"),
    }
}

/// The digest of a call of a prefix at `generation`: the arguments' own at generation 0.
pub(crate) fn at_generation(digest: u128, generation: u64) -> u128 {
    match generation {
        0 => digest,
        generation => xxh3_128_with_seed(&digest.to_le_bytes(), generation),
    }
}

impl Generations {
    /// The generation of `site`'s prefix, if this cache knows it.
    pub(crate) fn known(&self, site: &'static CacheSite) -> Option<u64> {
        let address = site as *const CacheSite as usize;
        self.known
            .load()
            .get(&address)
            .map(|&(_, generation)| generation)
    }

    /// The generation of `site`'s prefix, read from the store if this cache does not know it
    /// yet; `None` if the store cannot tell. The first read starts listening for others'
    /// invalidations.
    pub(crate) async fn resolve(
        self: &Arc<Self>,
        store: &dyn Store,
        namespace: Option<&str>,
        site: &'static CacheSite,
    ) -> Option<u64> {
        if let Some(generation) = self.known(site) {
            return Some(generation);
        }
        if store.health() == Health::Down {
            return None;
        }
        self.listen(store, namespace);
        let epoch = self.epoch.load(Ordering::Acquire);
        let generation = match store.get(&generation_key(namespace, site.prefix)).await {
            Read::Value(bytes) => std::str::from_utf8(&bytes).ok()?.trim().parse().ok()?,
            Read::Miss => 0,
            Read::Unreachable => return None,
        };
        // An invalidation heard meanwhile may be newer than what was read: record nothing,
        // the next call reads again.
        if self.epoch.load(Ordering::Acquire) == epoch {
            self.update(|known| {
                known.insert(site as *const CacheSite as usize, (site.prefix, generation));
            });
        }
        Some(generation)
    }

    /// Invalidates every entry of `prefix`: a new generation, written, published, and known
    /// here at once.
    pub(crate) async fn bump(
        &self,
        store: &dyn Store,
        namespace: Option<&str>,
        prefix: &str,
    ) -> Result<u64, StoreError> {
        let generation = fastrand::u64(1..);
        let key = generation_key(namespace, prefix);
        store
            .set(&key, generation.to_string().as_bytes(), GENERATION_TTL)
            .await?;
        self.set(prefix, generation);
        // The other processes learn it now; one that misses the message reads it again when
        // it resubscribes.
        store
            .publish(&format!("generation {key} {generation}"))
            .await?;
        Ok(generation)
    }

    /// Starts listening for the other processes' invalidations (once).
    fn listen(self: &Arc<Self>, store: &dyn Store, namespace: Option<&str>) {
        self.listening.get_or_init(|| {
            let generations = Arc::downgrade(self);
            let namespace = namespace.map(str::to_owned);
            store.listen(Arc::new(move |event| {
                if let Some(generations) = generations.upgrade() {
                    generations.heard(event, namespace.as_deref());
                }
            }));
        });
    }

    /// An event from the store: a generation set by some process, or a resync.
    fn heard(&self, event: StoreEvent, namespace: Option<&str>) {
        self.epoch.fetch_add(1, Ordering::AcqRel);
        match event {
            StoreEvent::Resync => self.update(HashMap::clear),
            StoreEvent::Message(message) => {
                let mut words = message.split(' ');
                let (Some("generation"), Some(key), Some(value)) =
                    (words.next(), words.next(), words.next())
                else {
                    return;
                };
                let Ok(generation) = value.parse::<u64>() else {
                    return;
                };
                // `[namespace:]prefix:generation`: a prefix has no `:`, so the segment before
                // the suffix is the prefix and what precedes it the namespace.
                let Some(scope) = key.strip_suffix(":generation") else {
                    return;
                };
                let (key_namespace, prefix) = match scope.rsplit_once(':') {
                    Some((namespace, prefix)) => (Some(namespace), prefix),
                    None => (None, scope),
                };
                if key_namespace == namespace {
                    self.set(prefix, generation);
                }
            }
        }
    }

    /// Sets the generation of every known site of `prefix`.
    fn set(&self, prefix: &str, generation: u64) {
        self.update(|known| {
            for (site_prefix, known_generation) in known.values_mut() {
                if *site_prefix == prefix {
                    *known_generation = generation;
                }
            }
        });
    }

    fn update(
        &self,
        change: impl Fn(&mut HashMap<usize, (&'static str, u64), BuildHasherDefault<SiteHasher>>),
    ) {
        self.known.rcu(|known| {
            let mut known = HashMap::clone(known);
            change(&mut known);
            known
        });
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::store::MemoryStore;

    static USERS: CacheSite = CacheSite::new("users", 60, None);
    static USERS_AGAIN: CacheSite = CacheSite::new("users", 60, None);
    static ORDERS: CacheSite = CacheSite::new("orders", 60, None);

    #[tokio::test]
    async fn a_bump_changes_every_site_of_the_prefix_and_only_them() {
        let store = MemoryStore::default();
        let generations = Arc::new(Generations::default());
        for site in [&USERS, &USERS_AGAIN, &ORDERS] {
            assert_eq!(generations.resolve(&store, None, site).await, Some(0));
        }
        let generation = generations.bump(&store, None, "users").await.unwrap();
        assert_ne!(generation, 0);
        assert_eq!(generations.known(&USERS), Some(generation));
        assert_eq!(generations.known(&USERS_AGAIN), Some(generation));
        assert_eq!(generations.known(&ORDERS), Some(0));
        // Another cache on the store reads it.
        let other = Arc::new(Generations::default());
        assert_eq!(other.resolve(&store, None, &USERS).await, Some(generation));
    }

    #[test]
    fn messages_set_generations_in_their_namespace_only_and_a_resync_forgets() {
        let generations = Generations::default();
        generations.update(|known| {
            known.insert(1, ("users", 0));
            known.insert(2, ("orders", 0));
        });
        let message = |text: &str| StoreEvent::Message(text.to_owned());
        generations.heard(message("generation app:users:generation 7"), Some("app"));
        generations.heard(message("generation users:generation 8"), Some("app"));
        generations.heard(message("generation other:users:generation 9"), Some("app"));
        generations.heard(message("nonsense"), Some("app"));
        assert_eq!(generations.known.load().get(&1), Some(&("users", 7)));
        assert_eq!(generations.known.load().get(&2), Some(&("orders", 0)));
        generations.heard(StoreEvent::Resync, Some("app"));
        assert!(generations.known.load().is_empty());
    }

    #[test]
    fn generation_zero_keeps_the_documented_digest() {
        assert_eq!(at_generation(42, 0), 42);
        assert_ne!(at_generation(42, 1), 42);
        assert_ne!(at_generation(42, 1), at_generation(42, 2));
    }
}
