//! What the attribute's companions call. For a cached function `f`, the attribute also makes:
//!
//! - `f_key(key arguments)`: the key a call of `f` with those arguments has, in the current
//!   cache (its namespace, its prefix's generation);
//! - `f_invalidate(key arguments)`: deletes that call's entry and its stale copy;
//! - `f_invalidate_all()`: invalidates every entry of `f`'s prefix, in O(1), for every process
//!   sharing the store ([`crate::generation`]);
//! - `f_refresh(arguments)`: runs `f` now and stores its value, whatever the store holds (the
//!   function's own call, made a refresh: [`Call::refreshing`](crate::Call::refreshing));
//! - `f_l1(key arguments)`: the L1's copy of that call's entry, its JSON as stored, when the L1
//!   can answer the call at once ([`L1Call`]): for an HTTP handler that sends the JSON
//!   on, a hit without decoding it into a value only to encode it again.
//!
//! They take the same arguments as `f`, so a key can never be rebuilt wrong.

use std::fmt;
use std::time::Instant;

use crate::cache::{Cache, CurrentCache};
use crate::call::Call;
use crate::generation::at_generation;
use crate::http::Entry;
use crate::instance;
use crate::instruments;
use crate::key::{Key, KeyBuilder, Unencodable};
use crate::outcome::{record, CacheOutcome};
use crate::site::CacheSite;
use crate::store::{Health, StoreError};

/// Why a companion could not name or invalidate a call's entry.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum KeyError {
    /// An argument has no canonical form: such calls have no key (they run uncached).
    NoKey(Unencodable),
    /// The store failed, or could not tell the prefix's generation.
    Store(StoreError),
}

impl fmt::Display for KeyError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            KeyError::NoKey(unencodable) => write!(
                f,
                "argument `{}` has no canonical form ({}): the call has no key",
                unencodable.argument, unencodable.reason
            ),
            KeyError::Store(err) => write!(f, "{err}"),
        }
    }
}

impl std::error::Error for KeyError {}

impl From<StoreError> for KeyError {
    fn from(err: StoreError) -> Self {
        KeyError::Store(err)
    }
}

/// The companions' side of a [`Call`]: the same key arguments, gathered the same way (so that a
/// key argument that is not `Serialize` is one error, whichever item reports it).
impl Call {
    /// For a companion of the function of `site`, in `instance` (see [`crate::instance`]).
    pub fn companion(site: &'static CacheSite, instance: &'static str) -> Self {
        Call::companion_in(Cache::current_ref(), site, instance)
    }

    fn companion_in(cache: CurrentCache, site: &'static CacheSite, instance: &'static str) -> Self {
        Call {
            cache,
            site,
            args: KeyBuilder::seeded(instance::seed(instance)),
            refresh: false,
        }
    }

    /// The key of the call, in the current cache.
    pub async fn key(self) -> Result<Key, KeyError> {
        let digest = self.args.finish().map_err(KeyError::NoKey)?;
        let namespace = self.cache.namespace();
        let generation = self
            .cache
            .generations()
            .resolve(self.cache.store(), namespace, self.site)
            .await
            .ok_or(StoreError::Unavailable)?;
        Ok(self.site.key(namespace, at_generation(digest, generation)))
    }

    /// Deletes the call's entry and its stale copy; whether the entry existed.
    pub async fn invalidate(self) -> Result<bool, KeyError> {
        let cache = self.cache.clone();
        let key = self.key().await?;
        // (Through the cache: this process's L1 copy goes at once, the others' when Redis
        // reports the delete.)
        let existed = cache.delete(key.as_str()).await?;
        cache.store().delete(&key.stale()).await?;
        Ok(existed)
    }
}

/// A call of an L1 companion (`f_l1`) being prepared: only made when the L1 may answer it, so
/// that without one the key arguments are not even hashed.
pub struct L1Call {
    call: Call,
    /// The function's own site (not the companion's): its generation, its copies.
    site: &'static CacheSite,
    generation: u64,
    /// When the generation was known: the L1's copy is checked at the same instant.
    now: Instant,
}

impl L1Call {
    /// For the L1 companion of the function of `site`, in `instance`: `None` unless the current
    /// cache has an L1 that the store reports changes to, the function may use it, and the
    /// function has run in this process (its site and its prefix's generation are known).
    pub fn new(site: &'static CacheSite, instance: &'static str) -> Option<Self> {
        let cache = Cache::current_ref();
        if !cache.has_l1() || cache.store().health() != Health::Up {
            return None;
        }
        let function_site = site.function_site().filter(|site| site.l1)?;
        let now = Instant::now();
        let generation = cache.generations().known_at(function_site, now)?;
        Some(L1Call {
            call: Call::companion_in(cache, site, instance),
            site: function_site,
            generation,
            now,
        })
    }

    /// The call, for its key arguments ([`Call::arg`]: the same bound, so that a key argument
    /// that is not `Serialize` is one error whichever item reports it).
    pub fn call_mut(&mut self) -> &mut Call {
        &mut self.call
    }

    /// The L1's copy of the call's entry, its JSON as the store held it (outcome `HitL1`), when
    /// the function's call would answer from it right now: the call has a key, the copy is the
    /// function's own (read and decoded by this function, not by another whose calls share its
    /// keys) and no refresh is due. Otherwise `None`, and the function's call does the rest.
    /// Nothing is decoded, nothing waits, nothing is asked of the store. Counted in the metrics
    /// as the call's hit would be; no span is made for it.
    pub fn entry(self) -> Option<Entry> {
        let L1Call {
            call,
            site,
            generation,
            now,
        } = self;
        let l1 = call.cache.l1()?;
        let digest = at_generation(call.args.finish().ok()?, generation);
        let (json, remaining) = l1.get_decoded_by(site.entry_id(digest), site, now)?;
        // A refresh due is the function's to start: its call has the arguments it needs.
        if site.refresh_due(Some(remaining)) {
            return None;
        }
        instruments::call(site, CacheOutcome::HitL1);
        record(CacheOutcome::HitL1);
        Some(Entry {
            outcome: CacheOutcome::HitL1,
            json,
            ttl: site.ttl,
            remaining: Some(remaining),
        })
    }
}

/// Invalidates every entry of `site`'s prefix in the current cache.
pub async fn invalidate_all(site: &'static CacheSite) -> Result<(), StoreError> {
    Cache::current_ref().invalidate_prefix(site.prefix).await
}
