//! Batch loading (`#[cached_json("users", ttl = 60, batch)]`): one call for many ids, each id
//! its own entry, one read for all of them, one run of the function for the ids missing.
//!
//! The function takes its ids as one key argument (`Vec<K>` or `&[K]`) and returns
//! `HashMap<K, V>` (or `Result<HashMap<K, V>, E>`). A call:
//!
//! 1. deduplicates the ids (keeping the caller's order) and builds each id's key: the key a call
//!    with that one id in place of the list would have (the other key arguments hashed with
//!    it, as for any call);
//! 2. answers what it can from the L1, then reads every other id's entry at once
//!    ([`Store::get_many`](crate::store::Store::get_many): one `MGET`; on a Cluster one per
//!    slot, all at once);
//! 3. for each id still missing, joins its flight ([`crate::flight`]): an id that another call
//!    of this process is computing is awaited, not computed twice;
//! 4. runs the function once, with the ids it leads (in the caller's order), stores each
//!    returned value as a single call stores its own ([`Computation::store`]: TTL, `jitter`,
//!    `cache_if`/`ttl_with`, size limit, L1), and answers the calls that wait for them; an id
//!    missing from the returned map is absent (not stored, or stored as absent with
//!    `cache_none`/`none_ttl`); an `Err` stores nothing and is the call's answer;
//! 5. then waits for the ids others compute. An id whose computation ended without a value
//!    (it failed, panicked or was cancelled in the other call) is run again here, in one more
//!    run of the function with those ids only.
//!
//! Every id counts as a call of its entry in the metrics (its outcome: `HitL1`, `Hit`, `Miss`,
//! `Coalesced`, `Bypass`); `observe` sees the batch's outcome as a whole (a `Miss` if the
//! function ran, else a `Coalesced` if another call computed some ids, else a hit).
//!
//! Why the function may run twice, and so is called through `Fn`: an id another call computes
//! is not known to need computing here until that call ends, and this call's own run starts at
//! once (waiting for the others first could wait in a circle, two calls each waiting for an id
//! the other leads). The generated code makes the body `Fn` by cloning the function's other
//! arguments for each run ([`again`]).

mod coalesce;
mod locks;
mod read;
mod run;
mod seen;

use std::collections::{HashMap, HashSet};
use std::convert::Infallible;
use std::future::Future;
use std::hash::{BuildHasher, Hash};
use std::time::{Duration, Instant};

use self::locks::{await_values, lock_ids, Awaited};
use self::read::Known;

use self::run::Computing;
use self::seen::Seen;
use crate::aside::UNKNOWN_GENERATION;
use crate::cache::{Cache, CurrentCache};
use crate::call::KeyArg;
use crate::generation::at_generation;
use crate::instance;
use crate::key::{Key, KeyBuilder};
use crate::logging::LogLimiter;
use crate::outcome::{record, CacheOutcome};
use crate::shape::{Codec, OptionShape, Shape, ValueShape};
use crate::site::CacheSite;
use tracing::Instrument;

static UNENCODABLE_IDS: LogLimiter = LogLimiter::new(Duration::from_secs(10));

/// An id of a batch: part of its entry's key (`Serialize`), and the key of the map the function
/// returns (`Eq + Hash + Clone`).
#[diagnostic::on_unimplemented(
    message = "the batch id `{Self}` must implement `serde::Serialize`, `Eq`, `Hash` and `Clone`",
    label = "each id is part of its entry's key and a key of the returned map",
    note = "a `batch` function takes its ids as `Vec<K>` or `&[K]` and returns `HashMap<K, V>`"
)]
pub trait BatchId: serde::Serialize + Eq + Hash + Clone {}

impl<K: serde::Serialize + Eq + Hash + Clone> BatchId for K {}

/// A copy of a `batch` function's argument for one run of its body (see the module's docs).
#[diagnostic::on_unimplemented(
    message = "an argument of a `batch` function must be `Clone`: `{Self}` is not",
    label = "the body may run twice in one call (for ids another call failed to compute), each run with a copy of this argument",
    note = "take it by reference (`&T`), or wrap it in an `Arc`"
)]
pub trait Again: Clone {}

impl<T: Clone> Again for T {}

/// A copy of `argument`, for one run of a `batch` function's body.
pub fn again<T: Again>(argument: &T) -> T {
    argument.clone()
}

/// One call of a `batch` function being prepared: its key arguments and its ids.
pub struct Batch<K> {
    cache: CurrentCache,
    site: &'static CacheSite,
    /// The key arguments named before the ids' argument.
    head: KeyBuilder,
    /// Those named after it, appended to each id's key.
    tail: KeyBuilder,
    /// The ids' argument's name, once given.
    ids_name: Option<&'static str>,
    /// The ids, deduplicated, in the caller's order.
    ids: Vec<K>,
    refresh: bool,
}

impl<K: BatchId> Batch<K> {
    /// Starts a call of `site`, on [`Cache::current`], made in `instance` (see
    /// [`crate::instance`]).
    pub fn new(site: &'static CacheSite, instance: &'static str) -> Self {
        site.register();
        Batch {
            cache: Cache::current_ref(),
            site,
            head: KeyBuilder::seeded(instance::seed(instance)),
            tail: KeyBuilder::members(),
            ids_name: None,
            ids: Vec::new(),
            refresh: false,
        }
    }

    /// Makes this call a refresh (`<fn>_refresh`): every id is computed and stored, whatever
    /// the store holds.
    pub fn refreshing(mut self) -> Self {
        self.refresh = true;
        self
    }

    /// Adds a key argument other than the ids (names in ascending order, the ids' among them).
    pub fn arg<T: KeyArg + ?Sized>(&mut self, name: &'static str, value: &T) -> &mut Self {
        match self.ids_name {
            None => self.head.arg(name, value),
            Some(_) => self.tail.arg(name, value),
        };
        self
    }

    /// The ids, as the key argument `name`: each id is its own entry.
    pub fn ids(&mut self, name: &'static str, ids: &[K]) -> &mut Self {
        self.ids_name = Some(name);
        let mut seen = HashSet::with_capacity(ids.len());
        self.ids = ids.iter().filter(|id| seen.insert(*id)).cloned().collect();
        self
    }

    /// The call of a function returning `HashMap<K, V>`: an id missing from it is not stored.
    pub async fn map<V, H, F, Fut>(self, codec: Codec<V>, body: F) -> HashMap<K, V, H>
    where
        V: crate::shape::CacheValue,
        H: BuildHasher + Default,
        F: Fn(Vec<K>) -> Fut,
        Fut: Future<Output = HashMap<K, V, H>>,
    {
        let loaded = self
            .load::<OptionShape<V>, V, Infallible, H, _, _>(codec, |ids| infallible(body(ids)))
            .await;
        match loaded {
            Ok(map) => map,
        }
    }

    /// The call of a function returning `Result<HashMap<K, V>, E>`: an id missing from the map
    /// is not stored; an `Err` stores nothing.
    pub async fn result<V, E, H, F, Fut>(
        self,
        codec: Codec<V>,
        body: F,
    ) -> Result<HashMap<K, V, H>, E>
    where
        V: crate::shape::CacheValue,
        H: BuildHasher + Default,
        F: Fn(Vec<K>) -> Fut,
        Fut: Future<Output = Result<HashMap<K, V, H>, E>>,
    {
        self.load::<OptionShape<V>, V, E, H, _, _>(codec, body)
            .await
    }

    /// [`Batch::map`], an id missing from the map stored as absent (`cache_none`, `none_ttl`):
    /// `null`, answered by leaving it out of the map again.
    pub async fn map_storing_absent<V, H, F, Fut>(
        self,
        codec: Codec<Option<V>>,
        body: F,
    ) -> HashMap<K, V, H>
    where
        V: crate::shape::CacheValue,
        H: BuildHasher + Default,
        F: Fn(Vec<K>) -> Fut,
        Fut: Future<Output = HashMap<K, V, H>>,
    {
        let loaded = self
            .load::<ValueShape<Option<V>>, V, Infallible, H, _, _>(codec, |ids| {
                infallible(body(ids))
            })
            .await;
        match loaded {
            Ok(map) => map,
        }
    }

    /// [`Batch::result`], an id missing from the map stored as absent (`cache_none`,
    /// `none_ttl`).
    pub async fn result_storing_absent<V, E, H, F, Fut>(
        self,
        codec: Codec<Option<V>>,
        body: F,
    ) -> Result<HashMap<K, V, H>, E>
    where
        V: crate::shape::CacheValue,
        H: BuildHasher + Default,
        F: Fn(Vec<K>) -> Fut,
        Fut: Future<Output = Result<HashMap<K, V, H>, E>>,
    {
        self.load::<ValueShape<Option<V>>, V, E, H, _, _>(codec, body)
            .await
    }

    /// The whole call (see the module's docs), in a debug span (its prefix, function, number
    /// of ids and outcome); `S` stores one id's value (`Option<V>`: `None` for an id the
    /// function left out).
    fn load<S, V, E, H, F, Fut>(
        self,
        codec: S::Codec,
        body: F,
    ) -> impl Future<Output = Result<HashMap<K, V, H>, E>>
    where
        S: Shape<Output = Option<V>>,
        H: BuildHasher + Default,
        F: Fn(Vec<K>) -> Fut,
        Fut: Future<Output = Result<HashMap<K, V, H>, E>>,
    {
        let span = tracing::debug_span!(
            "cached_json",
            prefix = self.site.prefix,
            function = self.site.function,
            ids = self.ids.len(),
            outcome = tracing::field::Empty,
        );
        self.load_here::<S, V, E, H, F, Fut>(codec, body)
            .instrument(span)
    }

    /// [`Batch::load`] inside its span.
    async fn load_here<S, V, E, H, F, Fut>(
        self,
        codec: S::Codec,
        body: F,
    ) -> Result<HashMap<K, V, H>, E>
    where
        S: Shape<Output = Option<V>>,
        H: BuildHasher + Default,
        F: Fn(Vec<K>) -> Fut,
        Fut: Future<Output = Result<HashMap<K, V, H>, E>>,
    {
        let Batch {
            cache,
            site,
            head,
            tail,
            ids_name,
            ids,
            refresh,
        } = self;
        let mut answer = HashMap::with_capacity_and_hasher(ids.len(), H::default());
        if ids.is_empty() {
            return Ok(answer);
        }
        let span = tracing::Span::current();
        // 1. Each id's key, at the prefix's generation (none for an id without a canonical
        //    form: it runs uncached).
        let (generation, now) = generation(&cache, site).await;
        let ids_name = ids_name.unwrap_or("ids");
        let keys: Vec<Option<Key>> = ids
            .iter()
            .map(|id| id_key(&cache, site, &head, ids_name, id, &tail, generation))
            .collect();
        // 2. The L1, then the store, for what is left.
        let mut known =
            read::known::<S, V>(&cache, site, codec, &keys, generation, now, refresh).await;
        // 3. The ids missing: led here, or followed (another call computes them).
        let flights = cache.flights();
        let (led, followed) = coalesce::join(flights, &keys, &known);
        // 3b. `lock`: across processes, one computes each id. The ids whose lock another
        //     process holds are awaited after this call's own run (never before: two processes
        //     each waiting for the other's ids would wait in a circle).
        let (led, locked_elsewhere) = match site.lock {
            true => lock_ids(&cache, site, &keys, &known, led).await,
            false => (
                led.into_iter().map(|(at, lead)| (at, lead, None)).collect(),
                Vec::new(),
            ),
        };
        let computing = Computing {
            cache: &cache,
            site,
            codec,
            ids: &ids,
            keys: &keys,
        };
        // 4. One run for the ids led here.
        computing
            .run::<S, _, _, _, _, _>(&body, led, &mut known)
            .await?;
        // 5. The ids others computed (other processes, then this one's calls); those they
        //    could not, in one more run.
        let mut again = Vec::new();
        for (at, awaited) in await_values::<S, _>(&cache, site, codec, locked_elsewhere).await {
            match awaited {
                Awaited::Value(value) => known[at] = Known::Answered(value, CacheOutcome::Hit),
                Awaited::Compute(lead, lease) => again.push((at, lead, lease)),
            }
        }
        coalesce::follow::<S, V>(flights, site, codec, followed, &mut known, &mut again).await;
        computing
            .run::<S, _, _, _, _, _>(&body, again, &mut known)
            .await?;
        // The answer, and each id's outcome.
        let mut seen = Seen::default();
        for (id, state) in ids.into_iter().zip(known) {
            let (value, outcome) = match state {
                Known::Answered(value, outcome) => (value, outcome),
                // Every id is answered by now.
                Known::Unread | Known::Missing { .. } => continue,
            };
            site.metrics.call(site.prefix, outcome);
            #[cfg(feature = "testing")]
            cache.recorded(site.prefix, outcome);
            seen.add(outcome);
            if let Some(value) = value {
                answer.insert(id, value);
            }
        }
        let outcome = seen.outcome();
        if !span.is_disabled() {
            span.record("outcome", crate::instruments::outcome_label(outcome));
        }
        record(outcome);
        Ok(answer)
    }
}

/// The key of `id` (named `ids_name` among the key arguments `head` and `tail`) at `generation`;
/// `None` for an id without a canonical form (computed uncached).
fn id_key<K: BatchId>(
    cache: &CurrentCache,
    site: &'static CacheSite,
    head: &KeyBuilder,
    ids_name: &'static str,
    id: &K,
    tail: &KeyBuilder,
    generation: Option<u64>,
) -> Option<Key> {
    let mut key = head.clone();
    key.arg(ids_name, id).extend(tail);
    let digest = key.finish().map_err(|unencodable| {
        if let Some(held_back) = UNENCODABLE_IDS.allow() {
            tracing::warn!(
                function = site.function,
                argument = unencodable.argument,
                reason = %unencodable.reason,
                held_back,
                "a batch id has no canonical form: it is computed uncached"
            );
        }
    });
    let digest = at_generation(digest.ok()?, generation.unwrap_or(UNKNOWN_GENERATION));
    Some(site.key(cache.namespace(), digest))
}

/// The prefix's generation (`None` when the store cannot tell it: the ids are computed, and
/// coalesced, but the store is left alone), and the instant it was known at.
async fn generation(cache: &CurrentCache, site: &'static CacheSite) -> (Option<u64>, Instant) {
    let generations = cache.generations();
    let now = Instant::now();
    match generations.known_at(site, now) {
        Some(generation) => (Some(generation), now),
        None => {
            let read = generations
                .resolve(cache.store(), cache.namespace(), site)
                .await;
            (read, Instant::now())
        }
    }
}

/// `future`'s output as a `Result` that cannot fail.
async fn infallible<T>(future: impl Future<Output = T>) -> Result<T, Infallible> {
    Ok(future.await)
}
