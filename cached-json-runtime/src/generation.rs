//! Invalidating every entry of a prefix at once, in O(1): the prefix's *generation*.
//!
//! Each prefix (in a cache's namespace) has a generation, 0 until its first invalidation,
//! stored under `[namespace:]prefix:generation` (a key that never ends in 32 hex digits, so it
//! is never an entry). It seeds the hash of every key of the prefix, 0 leaving the documented
//! hash: a new generation makes every existing entry unreachable at once, without `SCAN` or
//! `KEYS`, and the old entries expire on their own.
//!
//! Each cache keeps the generations it has read, so that a call costs no extra round trip. An
//! invalidation writes a new (random) generation and publishes it ([`Store::publish`]; a
//! publication that fails is retried by the cache until it goes through or a newer generation
//! makes it moot); every process sharing the store updates its copy as the message arrives.
//!
//! A copy is only as good as the subscription that would tell of a change, so on a store that
//! vouches for its delivery ([`Store::listen`] returns `true`: Redis) the copies are trusted
//! for [`TRUST_FOR`] after each proof that every message published until then was heard
//! ([`StoreEvent::Heard`]) and no longer ([`Trust`]): a subscription gone silent (black-holed,
//! refused on reconnect, Redis frozen) or a process that stalled stops trusting them within that
//! bound, and each call reads its prefix's generation again meanwhile (one more round trip),
//! until the proofs come again. When messages may have been missed (the subscription was lost
//! or is new), the copies are dropped and read again. A call whose prefix's generation cannot be
//! read runs uncached rather than guess.

use std::collections::HashMap;
use std::hash::BuildHasherDefault;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, OnceLock};
use std::time::{Duration, Instant};

use arc_swap::ArcSwap;
use xxhash_rust::xxh3::xxh3_128_with_seed;

use crate::site::CacheSite;
use crate::store::{Health, Read, Store, StoreError, StoreEvent};
use crate::trust::Trust;

/// How long a generation key lives: longer than any entry written under an older generation.
const GENERATION_TTL: Duration = Duration::from_secs(10 * 365 * 24 * 3600);

/// How long the known generations are trusted after the store proved that every message
/// published until an instant was heard ([`StoreEvent::Heard`]): the longest a process goes on
/// using a generation another process replaced, whatever happened to its subscription. (The
/// Redis store proves it every 25 ms; see `store/redis/events.rs`.)
pub(crate) const TRUST_FOR: Duration = Duration::from_millis(150);

/// The generations a cache knows, by site (each site's prefix's).
pub(crate) struct Generations {
    known: ArcSwap<HashMap<usize, (&'static str, u64), BuildHasherDefault<SiteHasher>>>,
    /// Bumped by every message and resync heard: a read that started before one does not record
    /// its result.
    epoch: AtomicU64,
    listening: OnceLock<()>,
    /// Until when `known` may be used: for ever on a store private to the process; on a store
    /// that vouches for its delivery, [`TRUST_FOR`] after its last proof.
    trusted: Trust,
}

impl Default for Generations {
    fn default() -> Self {
        Generations {
            known: ArcSwap::default(),
            epoch: AtomicU64::new(0),
            listening: OnceLock::new(),
            trusted: Trust::forever(),
        }
    }
}

/// What became of an invalidation's publication.
pub(crate) struct Bumped {
    /// The generation key and the message that tells the others of it.
    pub(crate) key: String,
    pub(crate) generation: u64,
    /// `Err`: the generation is written (this process uses it) but the others were not told:
    /// [`Generations::republish`] until it goes through or is moot.
    pub(crate) published: Result<(), StoreError>,
}

/// What one more try at a failed publication did.
#[derive(Debug, PartialEq, Eq)]
pub(crate) enum Republished {
    /// The others are told.
    Done,
    /// Nothing to tell: the generation was replaced since (that one is published on its own).
    Moot,
    /// Not yet: try again later.
    Failed,
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

/// What tells the other processes that `key` holds `generation` now.
fn message(key: &str, generation: u64) -> String {
    format!("generation {key} {generation}")
}

/// The digest of a call of a prefix at `generation`: the arguments' own at generation 0.
pub(crate) fn at_generation(digest: u128, generation: u64) -> u128 {
    match generation {
        0 => digest,
        generation => xxh3_128_with_seed(&digest.to_le_bytes(), generation),
    }
}

impl Generations {
    /// The generation of `site`'s prefix, if this cache knows it and may trust what it knows.
    pub(crate) fn known(&self, site: &'static CacheSite) -> Option<u64> {
        self.known_at(site, Instant::now())
    }

    /// [`Generations::known`] at `now` (read by the caller, who uses it for the L1 too: one
    /// clock read per call).
    pub(crate) fn known_at(&self, site: &'static CacheSite, now: Instant) -> Option<u64> {
        if !self.trusted.holds_at(now) {
            return None;
        }
        let address = site as *const CacheSite as usize;
        self.known
            .load()
            .get(&address)
            .map(|&(_, generation)| generation)
    }

    /// The generation of `site`'s prefix, read from the store if this cache does not know it
    /// (or may not trust what it knows right now); `None` if the store cannot tell. The first
    /// read starts listening for others' invalidations.
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
        // An invalidation heard meanwhile may be newer than what was read: record nothing, the
        // next call reads again. Checked inside the swap: a message heard between a check made
        // before it and the insert would otherwise be overwritten by the older value read (its
        // `set` swaps the map, so this swap retries and sees the new epoch).
        self.known.rcu(|known| {
            let mut known = HashMap::clone(known);
            if self.epoch.load(Ordering::Acquire) == epoch {
                known.insert(site as *const CacheSite as usize, (site.prefix, generation));
            }
            known
        });
        Some(generation)
    }

    /// Invalidates every entry of `prefix`: a new generation, written, known here at once, and
    /// published. `Err` only if the generation could not be written; a publication that failed
    /// is in [`Bumped::published`], for the caller to [`Generations::republish`].
    pub(crate) async fn bump(
        &self,
        store: &dyn Store,
        namespace: Option<&str>,
        prefix: &str,
    ) -> Result<Bumped, StoreError> {
        let generation = fastrand::u64(1..);
        let key = generation_key(namespace, prefix);
        // A read of the generation under way in this process may return the old one: it must
        // not be recorded (its own message may never come, if the publication fails).
        self.epoch.fetch_add(1, Ordering::AcqRel);
        store
            .set(&key, generation.to_string().as_bytes(), GENERATION_TTL)
            .await?;
        self.set(prefix, generation);
        // The other processes learn it now (one whose subscription is lost reads it again when
        // it resubscribes, or when its trust runs out).
        let published = store.publish(&message(&key, generation)).await;
        Ok(Bumped {
            key,
            generation,
            published,
        })
    }

    /// One more try at publishing `generation` of `key`, unless the store holds another
    /// generation now (a newer invalidation, published on its own): then it is moot.
    pub(crate) async fn republish(store: &dyn Store, key: &str, generation: u64) -> Republished {
        match store.get(key).await {
            Read::Value(bytes) if bytes == generation.to_string().as_bytes() => {}
            Read::Value(_) | Read::Miss => return Republished::Moot,
            Read::Unreachable => return Republished::Failed,
        }
        match store.publish(&message(key, generation)).await {
            Ok(()) => Republished::Done,
            Err(_) => Republished::Failed,
        }
    }

    /// Starts listening for the other processes' invalidations (once).
    fn listen(self: &Arc<Self>, store: &dyn Store, namespace: Option<&str>) {
        self.listening.get_or_init(|| {
            let generations = Arc::downgrade(self);
            let namespace = namespace.map(str::to_owned);
            // Untrusted from now on unless the store says there is nothing to prove: its proofs
            // may come as soon as it listens.
            self.trusted.end();
            let vouched = store.listen(Arc::new(move |event| {
                if let Some(generations) = generations.upgrade() {
                    generations.heard(event, namespace.as_deref());
                }
            }));
            if !vouched {
                self.trusted.extend_forever();
            }
        });
    }

    /// An event from the store: a generation set by some process, a resync, or a proof that
    /// every message until an instant was heard.
    fn heard(&self, event: StoreEvent, namespace: Option<&str>) {
        if let StoreEvent::Heard(at) = event {
            self.trusted.extend_to(at + TRUST_FOR);
            return;
        }
        self.epoch.fetch_add(1, Ordering::AcqRel);
        match event {
            StoreEvent::Heard(_) => {}
            StoreEvent::Resync => {
                // Nothing known is trusted until the store proves it hears again.
                self.trusted.end();
                self.update(HashMap::clear);
            }
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
        let generation = generations
            .bump(&store, None, "users")
            .await
            .unwrap()
            .generation;
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

    /// The in-process store, shared as Redis is: it vouches for its delivery, and the test
    /// plays the subscription (its messages, resyncs and proofs).
    #[derive(Default)]
    struct Vouching {
        inner: MemoryStore,
        listener: std::sync::Mutex<Option<crate::store::Listener>>,
    }

    impl Store for Vouching {
        fn get<'a>(&'a self, key: &'a str) -> crate::store::BoxFuture<'a, Read> {
            self.inner.get(key)
        }
        fn set<'a>(
            &'a self,
            key: &'a str,
            value: &'a [u8],
            ttl: Duration,
        ) -> crate::store::BoxFuture<'a, Result<(), StoreError>> {
            self.inner.set(key, value, ttl)
        }
        fn delete<'a>(
            &'a self,
            key: &'a str,
        ) -> crate::store::BoxFuture<'a, Result<bool, StoreError>> {
            self.inner.delete(key)
        }
        fn listen(&self, listener: crate::store::Listener) -> bool {
            *self.listener.lock().unwrap() = Some(listener);
            true
        }
        fn kind(&self) -> &'static str {
            "vouching"
        }
    }

    impl Vouching {
        fn tell(&self, event: StoreEvent) {
            let listener = self.listener.lock().unwrap().clone().unwrap();
            listener(event);
        }
    }

    #[tokio::test]
    async fn what_is_known_is_trusted_only_shortly_after_each_proof_of_delivery() {
        let store = Vouching::default();
        let generations = Arc::new(Generations::default());
        // Before any proof: read from the store each time, never from memory.
        assert_eq!(generations.resolve(&store, None, &USERS).await, Some(0));
        assert_eq!(generations.known(&USERS), None);
        store.tell(StoreEvent::Resync);
        assert_eq!(generations.resolve(&store, None, &USERS).await, Some(0));
        store.tell(StoreEvent::Heard(Instant::now()));
        assert_eq!(generations.known(&USERS), Some(0));
        // Another process's invalidation whose message never arrives (a silent subscription):
        // trusted for TRUST_FOR at most, then read again.
        store
            .set("users:generation", b"9", GENERATION_TTL)
            .await
            .unwrap();
        assert_eq!(generations.known(&USERS), Some(0));
        tokio::time::sleep(TRUST_FOR + Duration::from_millis(10)).await;
        assert_eq!(generations.known(&USERS), None);
        assert_eq!(generations.resolve(&store, None, &USERS).await, Some(9));
        // Proofs again: what was read is trusted; a resync forgets it and ends the trust.
        store.tell(StoreEvent::Heard(Instant::now()));
        assert_eq!(generations.known(&USERS), Some(9));
        store.tell(StoreEvent::Resync);
        assert_eq!(generations.known(&USERS), None);
        store.tell(StoreEvent::Heard(Instant::now()));
        assert_eq!(generations.known(&USERS), None, "forgotten, read again");
    }

    #[tokio::test]
    async fn a_publication_is_retried_until_it_goes_through_or_a_newer_generation_makes_it_moot() {
        let store = MemoryStore::default();
        let generations = Generations::default();
        let bumped = generations.bump(&store, None, "users").await.unwrap();
        assert_eq!(
            Generations::republish(&store, &bumped.key, bumped.generation).await,
            Republished::Done
        );
        let newer = generations.bump(&store, None, "users").await.unwrap();
        assert_eq!(
            Generations::republish(&store, &bumped.key, bumped.generation).await,
            Republished::Moot
        );
        assert_eq!(
            Generations::republish(&store, &newer.key, newer.generation).await,
            Republished::Done
        );
    }

    #[test]
    fn generation_zero_keeps_the_documented_digest() {
        assert_eq!(at_generation(42, 0), 42);
        assert_ne!(at_generation(42, 1), 42);
        assert_ne!(at_generation(42, 1), at_generation(42, 2));
    }
}
