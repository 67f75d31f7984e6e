//! The cache-aside path of one call: read the key (`aside/look.rs`: the L1's copy, else the
//! store's); on a hit decode it; on a miss coalesce with concurrent callers, take the
//! cross-process lock, run the function, store its JSON, and tell the callers that waited.
//!
//! Each guard on the miss path lives in its own module and is cheap when unused: coalescing in
//! [`crate::flight`] (a caller's side of it in `aside/coalesce.rs`), the `lock` lease in
//! [`crate::lock`], the `stale` copy and the soft timeout in [`crate::stale`]. This module
//! decides when each is used; [`Aside::miss`] reads top to bottom as the order they run in. A
//! function whose arguments the attribute could copy can also be finished, or refreshed, in a
//! task of its own ([`crate::body`], [`crate::background`]). Each call runs in a debug span,
//! and its outcome is counted ([`crate::instruments`]).

mod coalesce;
mod look;

use std::future::Future;
use std::time::{Duration, Instant};

use bytes::Bytes;
use tracing::Instrument;

use self::coalesce::Coalesced;
use self::look::Looked;
use crate::background::{Computation, Done};
use crate::body::Body;
use crate::cache::CurrentCache;
use crate::flight::Landing;
use crate::generation::at_generation;
use crate::http::{self, Entry};
use crate::instruments;
use crate::key::Key;
use crate::lock::{self, Lease, LockWait};
use crate::outcome::{record, CacheOutcome};
use crate::shape::{entry_ttl, Shape};
use crate::site::CacheSite;
use crate::tags::{self, Began, TagArgs};

/// The generation a key is built at when the store cannot tell the real one: a key no entry
/// has (a real generation is random), for coalescing only.
pub(crate) const UNKNOWN_GENERATION: u64 = u64::MAX;

/// A call with the hash of its arguments: what the cache-aside future carries.
pub(crate) struct Aside {
    cache: CurrentCache,
    site: &'static CacheSite,
    /// The arguments' digest; `None`: the call runs uncached (an argument with no canonical
    /// form, or a return type the attribute could not see).
    digest: Option<u128>,
    /// `<fn>_refresh`: compute and store whatever the store holds.
    refresh: bool,
    /// The call's span (disabled unless a subscriber wants debug spans of this crate): its key
    /// and outcome are recorded in it.
    span: tracing::Span,
    /// The key arguments its tags name (a tagged function's).
    tag_args: TagArgs,
}

/// How coalescing and locking ended for this caller.
enum Prepared<O> {
    /// Another caller's computation answered for this one.
    Answered(CacheOutcome, O),
    /// This caller computes the key: as its flight's leader (or alone), holding the
    /// cross-process lock or not.
    Compute(Option<crate::flight::Lead>, Option<Lease>),
}

impl Aside {
    pub(crate) fn new(
        cache: CurrentCache,
        site: &'static CacheSite,
        digest: Option<u128>,
        refresh: bool,
    ) -> Self {
        Aside {
            cache,
            site,
            digest,
            refresh,
            span: tracing::Span::none(),
            tag_args: TagArgs::default(),
        }
    }

    /// With the key arguments its tags name.
    pub(crate) fn with_tags(mut self, tag_args: TagArgs) -> Self {
        self.tag_args = tag_args;
        self
    }

    /// The call's digest at its prefix's generation ([`crate::generation`], read once per site
    /// and cache), and whether the store may be used for it. `None`: no key.
    ///
    /// When the store cannot tell the generation (down since before the first call), the digest
    /// is one no stored entry has, used for coalescing only: the store is left alone for this
    /// call, but concurrent callers still share one run of the function, so that an outage
    /// does not multiply the load on the origin.
    ///
    /// Also the instant it was known at, for the L1 (one clock read per call).
    async fn digest(&self) -> Option<(u128, bool, Instant)> {
        let digest = self.digest?;
        let generations = self.cache.generations();
        let now = Instant::now();
        let (generation, now) = match generations.known_at(self.site, now) {
            Some(generation) => (Some(generation), now),
            // Boxed: once per site and cache (or while the store cannot vouch for what this
            // cache heard), it need not make every call's future larger.
            None => {
                let namespace = self.cache.namespace();
                let read =
                    Box::pin(generations.resolve(self.cache.store(), namespace, self.site)).await;
                (read, Instant::now())
            }
        };
        let digest = at_generation(digest, generation.unwrap_or(UNKNOWN_GENERATION));
        Some((digest, generation.is_some(), now))
    }

    /// The key of the call whose digest (at its generation) is `digest`.
    fn key(&self, digest: u128) -> Key {
        let namespace = self.cache.namespace();
        let mut key = self.site.key(namespace, digest);
        if !self.site.tags.is_empty() {
            key = key.tagged(Some(self.tag_args.records(self.site.tags, namespace)));
        }
        if !self.span.is_disabled() {
            self.span.record("key", key.as_str());
        }
        key
    }

    /// The whole call, in its span. `body` runs in the caller's task, or, when it can run apart
    /// from its caller ([`crate::body::Detached`]), a hit past `refresh_ahead` also refreshes
    /// the entry in the background, and past `timeout_ms` the stale value answers while the
    /// function goes on in the background and stores its value when it finishes.
    pub(crate) fn run<S: Shape, B: Body<S>>(
        mut self,
        codec: S::Codec,
        body: B,
    ) -> impl Future<Output = S::Output> {
        let span = self.span();
        self.run_here::<S, B>(codec, body).instrument(span)
    }

    /// [`Aside::run`] inside its span: the hit path inline, the miss path boxed.
    async fn run_here<S: Shape, B: Body<S>>(self, codec: S::Codec, body: B) -> S::Output {
        let _scope = http::enter();
        let Some((digest, usable, now)) = self.digest().await else {
            // Boxed, as the miss path is: inline, the function's future would be held twice.
            let output = Box::pin(self.site.metrics.timed(self.site.prefix, body.start())).await;
            return self.finish(CacheOutcome::Bypass, output);
        };
        if let Some((output, refresh)) = self.look_l1::<S>(codec, digest, usable, now) {
            if let Some(ttl) = refresh {
                self.refresh(body, codec, &self.key(digest), ttl);
            }
            return self.finish(CacheOutcome::HitL1, output);
        }
        let key = self.key(digest);
        let (looked, seen) = match usable {
            true => self.look::<S>(codec, &key).await,
            false => (Looked::Miss { reachable: false }, None),
        };
        let (key, reachable) = match looked {
            Looked::Hit(output, outcome, refresh) => {
                if let Some(ttl) = refresh {
                    self.refresh(body, codec, &key, ttl);
                }
                return self.finish(outcome, output);
            }
            Looked::HitAlternate(output, refresh) => {
                if let Some(ttl) = refresh {
                    self.refresh(body, codec, &key.alternate(), ttl);
                }
                return self.finish(CacheOutcome::Hit, output);
            }
            Looked::Miss { reachable } => (key, reachable),
            Looked::MissAlternate => (key.alternate(), true),
        };
        // The miss path is boxed: its futures (lock waits, timeouts, stale reads) would make
        // every call's future kilobytes larger, and hits never need them.
        Box::pin(self.miss::<S, B>(codec, key, reachable, seen, body)).await
    }

    /// Refreshes the entry of `key` (of `ttl` in full) in the background, if `body` can run
    /// apart from its caller.
    fn refresh<S: Shape, B: Body<S>>(&self, body: B, codec: S::Codec, key: &Key, ttl: Duration) {
        body.refresh(Computation::<S>::new(&self.cache, self.site, key, codec).entry_ttl(ttl));
    }

    /// The call's span, at debug level: its prefix and function, then its key (the hash of the
    /// arguments, never their values, which may be personal data) and outcome.
    fn span(&mut self) -> tracing::Span {
        self.span = tracing::debug_span!(
            "cached_json",
            prefix = self.site.prefix,
            function = self.site.function,
            key = tracing::field::Empty,
            outcome = tracing::field::Empty,
        );
        self.span.clone()
    }

    /// The miss path, in the order its steps run.
    ///
    /// `seen`: a tagged key's tokens as the read saw them.
    async fn miss<S: Shape, B: Body<S>>(
        &self,
        codec: S::Codec,
        key: Key,
        reachable: bool,
        seen: Option<Vec<u64>>,
        body: B,
    ) -> S::Output {
        // 0. A tagged call runs with the tokens it saw, or, where a record was missing (never
        //    made, or deleted by an invalidation), with the ones it makes now: calls that saw
        //    different tokens (one before an invalidation, one after) do not share a run.
        let (key, began) = self.tokens(key, reachable, seen).await;
        let key = &key;
        // 1-2. Coalesce with this process's callers, then lock across processes.
        let (lead, lease) = match self.prepare::<S>(codec, key, reachable).await {
            Prepared::Answered(outcome, output) => return self.finish(outcome, output),
            Prepared::Compute(lead, lease) => (lead, lease),
        };
        // 3-5. Run the function; store its value; release the lease; answer the followers.
        let computation = Computation::<S>::new(&self.cache, self.site, key, codec)
            .reachable(reachable)
            .began(began)
            .leading(lead, lease);
        let stale_may_answer = reachable && self.site.stale.is_some();
        let done = body
            .compute(computation, self.site.soft_timeout, stale_may_answer)
            .await;
        self.conclude(done)
    }

    /// Step 0 of a tagged key's miss: the tokens its run goes by (see [`Aside::miss`]), mixed
    /// into its flight's identity, and, when they were made now, what its run began with.
    async fn tokens(
        &self,
        key: Key,
        reachable: bool,
        seen: Option<Vec<u64>>,
    ) -> (Key, Option<Began>) {
        let (Some(tags), Some(seen), true) = (key.tags(), seen, reachable) else {
            return (key, None);
        };
        if !seen.contains(&0) {
            return (key.read_with(tags::salt(&seen)), None);
        }
        match Began::keep(self.cache.store(), tags, self.site.entry_life()).await {
            Some(began) => (key.read_with(tags::salt(&began.tokens)), Some(began)),
            None => (key, None),
        }
    }

    /// Steps 1 and 2 of a miss: in this process, one caller per key computes it and the others
    /// wait for what it lands; across processes (`lock`), that caller takes the store's lease,
    /// or gets the value another process stored while it waited.
    async fn prepare<S: Shape>(
        &self,
        codec: S::Codec,
        key: &Key,
        reachable: bool,
    ) -> Prepared<S::Output> {
        let lead = match self.coalesce::<S>(codec, key, reachable).await {
            Coalesced::Answered(outcome, output) => return Prepared::Answered(outcome, output),
            Coalesced::Lead(lead) => Some(lead),
            Coalesced::Alone => None,
        };
        let mut lease = None;
        if reachable && self.site.lock && lead.is_some() {
            match lock::acquire_or_wait::<S>(&self.cache, self.site, codec, key).await {
                LockWait::Acquired(held) => lease = Some(held),
                LockWait::ValueAppeared(bytes, output) => {
                    if let Some(lead) = lead {
                        lead.land(Landing::Value(bytes.as_slice().into(), true));
                    }
                    if http::wanted() {
                        let ttl = entry_ttl::<S>(&codec, &output, self.site.ttl);
                        self.observed(CacheOutcome::Hit, bytes.into(), None, ttl);
                    }
                    return Prepared::Answered(CacheOutcome::Hit, output);
                }
                LockWait::GaveUp => {}
            }
        }
        Prepared::Compute(lead, lease)
    }

    /// The caller's answer from a computation: its outcome, or the function's panic.
    fn conclude<T>(&self, done: Done<T>) -> T {
        match done {
            Done::Answer(outcome, output) => self.finish(outcome, output),
            Done::Panicked(panic) => std::panic::resume_unwind(panic),
        }
    }

    /// Records the entry behind this call's answer, for [`crate::http::observe_http`]: its JSON,
    /// its life in full (`ttl`: the site's, or its value's own) and what is left of it.
    fn observed(
        &self,
        outcome: CacheOutcome,
        json: Bytes,
        remaining: Option<Duration>,
        ttl: Duration,
    ) {
        http::record(Entry::new(outcome, json, ttl, remaining));
    }

    fn finish<T>(&self, outcome: CacheOutcome, output: T) -> T {
        if !self.span.is_disabled() {
            self.span
                .record("outcome", instruments::outcome_label(outcome));
        }
        self.site.metrics.call(self.site.prefix, outcome);
        record(outcome);
        #[cfg(feature = "testing")]
        self.cache.recorded(self.site.prefix, outcome);
        output
    }
}

#[cfg(test)]
mod tests;
