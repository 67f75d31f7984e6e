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

use std::collections::{HashMap, HashSet};
use std::convert::Infallible;
use std::future::Future;
use std::hash::{BuildHasher, Hash};
use std::time::{Duration, Instant};

use crate::aside::UNKNOWN_GENERATION;
use crate::background::Computation;
use crate::cache::{Cache, CurrentCache};
use crate::call::KeyArg;
use crate::flight::{Followed, Joined, Landing, Lane, Lead};
use crate::generation::at_generation;
use crate::instance;
use crate::key::{Key, KeyBuilder};
use crate::lock::{self, Lease};
use crate::logging::LogLimiter;
use crate::outcome::{record, CacheOutcome};
use crate::shape::{decode, Codec, OptionShape, Shape, ValueShape};
use crate::site::CacheSite;
use crate::store::{Health, Read};
use crate::unwind::CatchUnwind;
use tracing::Instrument;

static UNENCODABLE_IDS: LogLimiter = LogLimiter::new(Duration::from_secs(10));
static STALE_SERVED: LogLimiter = LogLimiter::new(Duration::from_secs(10));

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

/// What is known of one id.
enum Known<V> {
    /// Its answer (`None`: absent), and where it came from.
    Answered(Option<V>, CacheOutcome),
    /// To be read from the store.
    Unread,
    /// To be computed; `reachable`: the store answered its read (it may be written).
    Missing { reachable: bool },
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
        let keys: Vec<Option<Key>> = ids
            .iter()
            .map(|id| {
                let mut key = head.clone();
                key.arg(ids_name.unwrap_or("ids"), id).extend(&tail);
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
            })
            .collect();
        // 2. The L1, then the store, for what is left.
        let store = cache.store();
        let health = store.health();
        let usable = generation.is_some() && health != Health::Down;
        let l1 = cache
            .l1()
            .filter(|_| usable && site.l1 && !refresh && health == Health::Up);
        let mut known: Vec<Known<V>> = keys
            .iter()
            .map(|key| {
                let Some(key) = key.as_ref().filter(|_| usable) else {
                    return Known::Missing { reachable: false };
                };
                if refresh {
                    return Known::Missing { reachable: true };
                }
                let copy = l1.and_then(|l1| l1.get_at(site.entry_id(key.digest()), now));
                match copy.and_then(|(json, _)| decode::<S>(codec, &json, site.prefix)) {
                    Some(value) => Known::Answered(value, CacheOutcome::HitL1),
                    None => Known::Unread,
                }
            })
            .collect();
        let unread: Vec<(usize, &Key)> = keys
            .iter()
            .enumerate()
            .filter(|(at, _)| matches!(known[*at], Known::Unread))
            .filter_map(|(at, key)| Some((at, key.as_ref()?)))
            .collect();
        if !unread.is_empty() {
            // Taken before the read: a change of a key heard meanwhile keeps it out of the L1.
            let stamp = l1.and_then(|l1| l1.stamp());
            let names: Vec<&str> = unread.iter().map(|(_, key)| key.as_str()).collect();
            let reads = store.get_many(&names, stamp.is_some()).await;
            for (&(at, key), (read, remaining)) in unread.iter().zip(reads) {
                known[at] = match read {
                    Read::Value(bytes) => match decode::<S>(codec, &bytes, key.as_str()) {
                        Some(value) => {
                            if let (Some(l1), Some(stamp), Some(remaining)) = (l1, stamp, remaining)
                            {
                                let id = site.entry_id(key.digest());
                                let json = bytes::Bytes::from(bytes);
                                l1.fill(id, &json, remaining, site.l1_ttl, site, None, stamp);
                            }
                            Known::Answered(value, CacheOutcome::Hit)
                        }
                        // Corrupt or of another type: a miss, and overwritten.
                        None => Known::Missing { reachable: true },
                    },
                    Read::Miss => Known::Missing { reachable: true },
                    Read::Unreachable => Known::Missing { reachable: false },
                };
            }
        }
        // 3. The ids missing: led here, or followed (another call computes them).
        let flights = cache.flights();
        let mut led: Vec<(usize, Option<Lead>)> = Vec::new();
        let mut followed = Vec::new();
        for (at, state) in known.iter().enumerate() {
            let Known::Missing { .. } = state else {
                continue;
            };
            match keys[at].as_ref() {
                Some(key) => match flights.join(key.flight(), Lane::FIRST) {
                    Joined::Leader(lead) => led.push((at, Some(lead))),
                    Joined::Follower(follower) => followed.push((at, key.flight(), follower)),
                },
                None => led.push((at, None)),
            }
        }
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
        let landings = crate::join::all(followed.into_iter().map(
            |(at, flight, mut follower)| async move {
                let followed = flights
                    .follow(flight, Lane::FIRST, &mut follower, site.wait)
                    .await;
                (at, followed)
            },
        ))
        .await;
        for (at, followed) in landings {
            let landed = match followed {
                Followed::Landed(Landing::Value(bytes, _)) => {
                    decode::<S>(codec, &bytes, site.prefix)
                        .map(|value| (value, CacheOutcome::Coalesced))
                }
                Followed::Landed(Landing::Absent) => Some((None, CacheOutcome::Coalesced)),
                Followed::Landed(Landing::Stale(bytes)) => decode::<S>(codec, &bytes, site.prefix)
                    .map(|value| (value, CacheOutcome::Stale)),
                Followed::TookOver(lead) => {
                    again.push((at, Some(lead), None));
                    continue;
                }
                // Failed, panicked or cancelled there: computed here.
                _ => None,
            };
            match landed {
                Some((value, outcome)) => known[at] = Known::Answered(value, outcome),
                None => again.push((at, None, None)),
            }
        }
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

/// The outcomes of a batch's ids, for the batch's own.
#[derive(Default)]
struct Seen {
    stale: bool,
    miss: bool,
    bypass: bool,
    coalesced: bool,
    hit: bool,
}

impl Seen {
    fn add(&mut self, outcome: CacheOutcome) {
        match outcome {
            CacheOutcome::Miss => self.miss = true,
            CacheOutcome::Bypass => self.bypass = true,
            CacheOutcome::Stale => self.stale = true,
            CacheOutcome::Coalesced => self.coalesced = true,
            CacheOutcome::Hit => self.hit = true,
            CacheOutcome::HitL1 => {}
        }
    }

    /// `Stale` if a last good value answered for an id, else `Miss` if the function ran for an
    /// id the store answered for, else `Bypass` if it ran, else `Coalesced` if another call
    /// computed an id, else a hit (`HitL1` when the L1 answered every id).
    fn outcome(&self) -> CacheOutcome {
        match self {
            Seen { stale: true, .. } => CacheOutcome::Stale,
            Seen { miss: true, .. } => CacheOutcome::Miss,
            Seen { bypass: true, .. } => CacheOutcome::Bypass,
            Seen {
                coalesced: true, ..
            } => CacheOutcome::Coalesced,
            Seen { hit: true, .. } => CacheOutcome::Hit,
            _ => CacheOutcome::HitL1,
        }
    }
}

/// What a run of a batch's function needs.
struct Computing<'a, K, C> {
    cache: &'a CurrentCache,
    site: &'static CacheSite,
    codec: C,
    ids: &'a [K],
    keys: &'a [Option<Key>],
}

impl<K: BatchId, C: Copy> Computing<'_, K, C> {
    /// Runs `body` with the ids at `which` (in the caller's order; none: nothing to run),
    /// stores each value it returned, answers the calls that waited for it, and records each
    /// id's answer in `known`. An `Err` lands nothing (the leads dropped: the calls that waited
    /// compute those ids themselves).
    async fn run<S, V, E, H, F, Fut>(
        &self,
        body: &F,
        which: Vec<Computed>,
        known: &mut [Known<V>],
    ) -> Result<(), E>
    where
        S: Shape<Output = Option<V>, Codec = C>,
        H: BuildHasher + Default,
        F: Fn(Vec<K>) -> Fut,
        Fut: Future<Output = Result<HashMap<K, V, H>, E>>,
    {
        if which.is_empty() {
            return Ok(());
        }
        let site = self.site;
        let run_ids: Vec<K> = which.iter().map(|(at, ..)| self.ids[*at].clone()).collect();
        // With `lock`, the leases taken are extended while the body runs.
        let leases: Vec<&Lease> = which
            .iter()
            .filter_map(|(.., lease)| lease.as_ref())
            .collect();
        let run = lock::hold_all(&leases, site.metrics.timed(site.prefix, body(run_ids)));
        let ran = CatchUnwind::new(run).await;
        drop(leases);
        // `stale`: a failure (an `Err`, a panic) answers every id's last good value, when each
        // has one; else the failure is the answer.
        let ran = match ran {
            Ok(Ok(values)) => Ok(values),
            failed => match self.stale::<S, V>(&which, known).await {
                Some(stale) => {
                    for ((_, lead, _), (_, _, bytes)) in which.into_iter().zip(&stale) {
                        if let Some(lead) = lead {
                            lead.land(Landing::Stale(bytes.as_slice().into()));
                        }
                    }
                    for (at, value, _) in stale {
                        known[at] = Known::Answered(value, CacheOutcome::Stale);
                    }
                    return Ok(());
                }
                None => match failed {
                    Ok(result) => result,
                    Err(panic) => std::panic::resume_unwind(panic),
                },
            },
        };
        let mut values = match ran {
            Ok(values) => values,
            Err(err) => {
                // The call's answer: counted as the single calls of these ids would be.
                let mut seen = Seen::default();
                for (at, ..) in &which {
                    let outcome = match known[*at] {
                        Known::Missing { reachable: true } => CacheOutcome::Miss,
                        _ => CacheOutcome::Bypass,
                    };
                    site.metrics.call(site.prefix, outcome);
                    #[cfg(feature = "testing")]
                    self.cache.recorded(site.prefix, outcome);
                    seen.add(outcome);
                }
                record(seen.outcome());
                return Err(err);
            }
        };
        let stored = which.into_iter().map(|(at, lead, lease)| {
            let value = values.remove(&self.ids[at]);
            let reachable = matches!(known[at], Known::Missing { reachable: true });
            let key = self.keys[at].clone();
            let cache = self.cache;
            let codec = self.codec;
            async move {
                let outcome = match reachable {
                    true => CacheOutcome::Miss,
                    false => CacheOutcome::Bypass,
                };
                let value = match key {
                    Some(key) => {
                        Computation::<S>::new(cache, site, &key, codec)
                            .reachable(reachable)
                            .leading(lead, lease)
                            .store(value)
                            .await
                    }
                    None => value,
                };
                (at, Known::Answered(value, outcome))
            }
        });
        for (at, answered) in crate::join::all(stored).await {
            known[at] = answered;
        }
        Ok(())
    }

    /// With `stale`: the last good value of each id of `which` (as stored, and decoded), read
    /// at once; `None` unless every one has a readable copy (a batch answers for all its ids
    /// or fails).
    async fn stale<S, V>(
        &self,
        which: &[Computed],
        known: &[Known<V>],
    ) -> Option<Vec<(usize, Option<V>, Vec<u8>)>>
    where
        S: Shape<Output = Option<V>, Codec = C>,
    {
        let site = self.site;
        site.stale?;
        let keys: Vec<String> = which
            .iter()
            .map(|(at, ..)| match known[*at] {
                Known::Missing { reachable: true } => Some(self.keys[*at].as_ref()?.stale()),
                _ => None,
            })
            .collect::<Option<_>>()?;
        let names: Vec<&str> = keys.iter().map(String::as_str).collect();
        let reads = self.cache.store().get_many(&names, false).await;
        let mut stale = Vec::with_capacity(which.len());
        for ((at, ..), (read, _)) in which.iter().zip(reads) {
            let Read::Value(bytes) = read else {
                return None;
            };
            let value = decode::<S>(self.codec, &bytes, site.prefix)?;
            stale.push((*at, value, bytes));
        }
        if let Some(held_back) = STALE_SERVED.allow() {
            tracing::warn!(
                prefix = site.prefix,
                ids = stale.len(),
                held_back,
                "batch function failed: serving the ids' last good values"
            );
        }
        Some(stale)
    }
}

/// An id this call computes: where it is among the ids, its flight's lead (to answer the
/// calls of this process that wait for it), its lock's lease (with `lock`).
type Computed = (usize, Option<Lead>, Option<Lease>);

/// An id whose lock another process holds: where it is, its key, its flight's lead.
type LockedElsewhere = (usize, Key, Option<Lead>);

/// Takes the lock of each id of `led` the store answered for, at once: the ids this call
/// computes (with their leases, or without a lock to take), and those whose lock another
/// process holds.
async fn lock_ids<V>(
    cache: &CurrentCache,
    site: &'static CacheSite,
    keys: &[Option<Key>],
    known: &[Known<V>],
    led: Vec<(usize, Option<Lead>)>,
) -> (Vec<Computed>, Vec<LockedElsewhere>) {
    let lockable = |at: usize| {
        keys[at]
            .as_ref()
            .filter(|_| matches!(known[at], Known::Missing { reachable: true }))
    };
    let taken = crate::join::all(led.iter().map(|(at, _)| {
        let key = lockable(*at);
        async move {
            match key {
                Some(key) => Some(lock::try_once(cache, site, key).await),
                None => None,
            }
        }
    }))
    .await;
    let (mut mine, mut elsewhere) = (Vec::new(), Vec::new());
    for ((at, lead), taken) in led.into_iter().zip(taken) {
        match (taken, lockable(at)) {
            (Some(None), Some(key)) => elsewhere.push((at, key.clone(), lead)),
            (Some(lease), _) => mine.push((at, lead, lease)),
            (None, _) => mine.push((at, lead, None)),
        }
    }
    (mine, elsewhere)
}

/// What waiting for a value another process computes gave.
enum Awaited<V> {
    /// It stored it.
    Value(Option<V>),
    /// This call computes it after all (the wait was too long, the store failed, or the other
    /// process let the lock go without storing a value: then with the lock, taken).
    Compute(Option<Lead>, Option<Lease>),
}

/// Waits for the values of the ids other processes hold the locks of, reading them all at
/// once every poll; past the site's `wait`, or on a store failure, this call computes them.
async fn await_values<S, V>(
    cache: &CurrentCache,
    site: &'static CacheSite,
    codec: S::Codec,
    mut waiting: Vec<LockedElsewhere>,
) -> Vec<(usize, Awaited<V>)>
where
    S: Shape<Output = Option<V>>,
{
    let store = cache.store();
    let deadline = Instant::now() + site.wait;
    let mut awaited = Vec::with_capacity(waiting.len());
    while !waiting.is_empty() {
        crate::timer::sleep(lock::LOCK_POLL).await;
        let names: Vec<&str> = waiting.iter().map(|(_, key, _)| key.as_str()).collect();
        let reads = store.get_many(&names, false).await;
        let mut still = Vec::new();
        for ((at, key, lead), (read, _)) in waiting.into_iter().zip(reads) {
            match read {
                Read::Value(bytes) => match decode::<S>(codec, &bytes, key.as_str()) {
                    Some(value) => {
                        if let Some(lead) = lead {
                            lead.land(Landing::Value(bytes.as_slice().into(), true));
                        }
                        awaited.push((at, Awaited::Value(value)));
                    }
                    None => still.push((at, key, lead)),
                },
                Read::Miss => still.push((at, key, lead)),
                Read::Unreachable => awaited.push((at, Awaited::Compute(lead, None))),
            }
        }
        if Instant::now() >= deadline {
            tracing::debug!(
                prefix = site.prefix,
                ids = still.len(),
                "waited too long for another process's values: computing them"
            );
            awaited.extend(
                still
                    .into_iter()
                    .map(|(at, _, lead)| (at, Awaited::Compute(lead, None))),
            );
            break;
        }
        // A holder that failed lets its locks go: take them, and compute.
        let retaken = crate::join::all(
            still
                .iter()
                .map(|(_, key, _)| lock::try_once(cache, site, key)),
        )
        .await;
        waiting = Vec::new();
        for ((at, key, lead), lease) in still.into_iter().zip(retaken) {
            match lease {
                Some(lease) => awaited.push((at, Awaited::Compute(lead, Some(lease)))),
                None => waiting.push((at, key, lead)),
            }
        }
    }
    awaited
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
