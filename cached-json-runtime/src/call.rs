//! What the `#[cached_json]` attribute generates calls to: a [`Call`] gathers one call's key
//! arguments, then runs the function's body through the cache-aside path ([`crate::aside`]).
//!
//! The generated code is a static [`CacheSite`](crate::site::CacheSite), a [`Call::new`] naming the
//! instantiation it runs in ([`crate::instance`]), one [`Call::arg`] per key argument, and the
//! body run through the [`Mode`](crate::mode::Mode) of its return type (picked by the compiler,
//! or by `returns = ...`), which chooses the output's shape for [`Call::run`]: one path for
//! every call, whatever its output and whether its body can run apart from it
//! ([`crate::body`]). The logic lives in the runtime, where it is tested.

use std::future::Future;
use std::time::{Duration, Instant};

use serde::Serialize;

use crate::aside::Aside;
use crate::body::Body;
use crate::cache::{Cache, CurrentCache};
use crate::generation::at_generation;
use crate::http::Entry;
use crate::instance;
use crate::key::{KeyBuilder, Unencodable};
use crate::logging::LogLimiter;
use crate::outcome::{record, CacheOutcome};
use crate::shape::Shape;
use crate::site::CacheSite;
use crate::store::Health;
use crate::tags::TagArgs;

/// A value that can be part of a cache key: anything `Serialize`.
///
/// It exists for its error message: the attribute checks each key argument against it.
#[diagnostic::on_unimplemented(
    message = "cache key argument of type `{Self}` does not implement `serde::Serialize`",
    label = "this argument is part of the cache key, so it must implement `serde::Serialize`",
    note = "derive or implement `Serialize` for it, or leave it out of the key with `skip(<argument name>)` in `#[cached_json(...)]`"
)]
pub trait KeyArg: Serialize {}

impl<T: Serialize + ?Sized> KeyArg for T {}

/// One cached call being prepared: the cache it uses and its key arguments.
pub struct Call {
    pub(crate) cache: CurrentCache,
    pub(crate) site: &'static CacheSite,
    pub(crate) args: KeyBuilder,
    /// The arguments' digest, when already finished (by [`Call::json_from_l1`]): the call that
    /// follows does not hash them again.
    pub(crate) finished: Option<Result<u128, Unencodable>>,
    pub(crate) refresh: bool,
    /// Run uncached: the output's type turned out not to be what the attribute chose for it.
    pub(crate) bypass: bool,
    /// The key arguments its tags name, as they are written into them (tagged sites only).
    pub(crate) tag_args: TagArgs,
}

static UNENCODABLE_ARGUMENTS: LogLimiter = LogLimiter::new(Duration::from_secs(10));

impl Call {
    /// Starts a call of `site`, on [`Cache::current`], made in `instance` (the type name of a
    /// closure defined in the annotated function: see [`crate::instance`]).
    pub fn new(site: &'static CacheSite, instance: &'static str) -> Self {
        site.register();
        Call {
            cache: Cache::current_ref(),
            site,
            args: KeyBuilder::seeded(instance::seed(instance)),
            finished: None,
            refresh: false,
            bypass: false,
            tag_args: TagArgs::default(),
        }
    }

    /// For the JSON companion (`f_json`): the L1's copy of the call's entry, as stored (outcome
    /// `HitL1`), when the call would answer from it right now and this function's own calls
    /// decoded that copy (so its bytes are this function's JSON); else `None`, and the call
    /// goes on as usual. Nothing is decoded, nothing waits, nothing is asked of the store; the
    /// key arguments are hashed only when an L1 may answer. Counted in the metrics as the
    /// call's hit would be; no span is made for it.
    pub fn json_from_l1(&mut self) -> Option<Entry> {
        let cache = &self.cache;
        // (A value whose TTL a function of it gives has its full life known from the value
        // only: the call, which decodes it, answers then.)
        if !self.site.l1
            || self.refresh
            || self.site.ttl_with
            || !cache.has_l1()
            || cache.store().health() != Health::Up
        {
            return None;
        }
        let args = std::mem::take(&mut self.args);
        let digest = *self.finished.insert(args.finish()).as_ref().ok()?;
        let now = Instant::now();
        let generation = cache.generations().known_at(self.site, now)?;
        let id = self.site.entry_id(at_generation(digest, generation));
        let (json, remaining) = cache.l1()?.get_decoded_by(id, self.site, now)?;
        // A refresh due is the call's to start.
        // Its life in full: `none_ttl`'s for a stored `None` (`null`: what decoding would read
        // as `None`), else the site's TTL.
        let ttl = match self.site.none_ttl {
            Some(none_ttl) if json[..] == *b"null" => none_ttl,
            _ => self.site.ttl,
        };
        if self.site.refresh_due(Some(remaining), ttl) {
            return None;
        }
        self.site
            .metrics
            .call(self.site.prefix, CacheOutcome::HitL1);
        record(CacheOutcome::HitL1);
        #[cfg(feature = "testing")]
        cache.recorded(self.site.prefix, CacheOutcome::HitL1);
        Some(Entry::new(CacheOutcome::HitL1, json, ttl, Some(remaining)))
    }

    /// Makes this call a refresh (`<fn>_refresh`): the function runs and its value is stored,
    /// whatever the store holds.
    pub fn refreshing(mut self) -> Self {
        self.refresh = true;
        self
    }

    /// Adds a key argument (names in ascending order; see [`KeyBuilder::arg`]).
    pub fn arg<T: KeyArg + ?Sized>(&mut self, name: &'static str, value: &T) -> &mut Self {
        self.args.arg(name, value);
        if !self.site.tags.is_empty() && self.site.tag_names(name) {
            self.tag_args.add(name, self.args.last_value());
        }
        self
    }

    /// The call: its output cached as shape `S` says (chosen by the function's [`crate::mode`]),
    /// read and written with `codec`, `body` run on a miss (see [`crate::body`]).
    pub(crate) fn run<S: Shape, B: Body<S>>(
        self,
        codec: S::Codec,
        body: B,
    ) -> impl Future<Output = S::Output> {
        self.into_aside().run::<S, B>(codec, body)
    }

    /// Makes this call run its function uncached (outcome `Bypass`) when `uncached`.
    pub(crate) fn bypass_if(mut self, uncached: bool) -> Self {
        self.bypass = uncached;
        self
    }

    /// The annotated function's path, for messages.
    pub(crate) fn function(&self) -> &'static str {
        self.site.function
    }

    /// Finishes the key now, so that the arguments' canonical buffer (256 bytes inline) is not
    /// carried in the call's future. A call whose arguments have no key runs uncached.
    fn into_aside(self) -> Aside {
        let finished = match self.finished {
            Some(finished) => finished,
            None => self.args.finish(),
        };
        let digest = match finished {
            Ok(digest) if !self.bypass => Some(digest),
            Ok(_) => None,
            Err(unencodable) => {
                if let Some(held_back) = UNENCODABLE_ARGUMENTS.allow() {
                    tracing::warn!(
                        function = self.site.function,
                        argument = unencodable.argument,
                        reason = %unencodable.reason,
                        held_back,
                        "a cache key argument has no canonical form: the call runs uncached"
                    );
                }
                None
            }
        };
        Aside::new(self.cache, self.site, digest, self.refresh).with_tags(self.tag_args)
    }
}
