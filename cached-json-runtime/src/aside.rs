//! The cache-aside path of one call: read the key; on a hit decode it; on a miss coalesce with
//! concurrent callers, take the cross-process lock, run the function, store its JSON, and tell
//! the callers that waited.
//!
//! Each guard on the miss path lives in its own module and is cheap when unused: coalescing in
//! [`crate::flight`], the `lock` lease in [`crate::lock`], the `stale` copy and the soft timeout
//! in [`crate::stale`]. This module decides when each is used; [`Aside::miss`] reads top to
//! bottom as the order they run in.

use std::future::Future;
use std::time::Duration;

use crate::cache::CurrentCache;
use crate::flight::{Followed, Joined, Landing, Lane, Lead};
use crate::key::Key;
use crate::lock::{self, LockWait};
use crate::logging::LogLimiter;
use crate::outcome::{record, CacheOutcome};
use crate::shape::{decode, Shape};
use crate::site::CacheSite;
use crate::stale::{self, Ran};
use crate::store::{Health, Read};

static UNWRITABLE_VALUES: LogLimiter = LogLimiter::new(Duration::from_secs(10));
static OVERSIZED_VALUES: LogLimiter = LogLimiter::new(Duration::from_secs(10));

/// A call with its key: what the cache-aside future carries.
pub(crate) struct Aside {
    cache: CurrentCache,
    site: &'static CacheSite,
    /// `None`: the call runs uncached (an argument with no canonical form, or a return type
    /// the attribute could not see).
    key: Option<Key>,
}

/// How coalescing with concurrent callers of the key ended for this one.
enum Coalesced<'a, O> {
    /// Another caller's call answered for this one.
    Answered(CacheOutcome, O),
    /// This caller leads the flight: it runs the function and lands the answer.
    Lead(Lead<'a>),
    /// The leader's answer cannot be this caller's (undecodable): run alone.
    Alone,
}

impl Aside {
    pub(crate) fn new(cache: CurrentCache, site: &'static CacheSite, key: Option<Key>) -> Self {
        Aside { cache, site, key }
    }

    /// The whole call: the hit path inline, the miss path boxed.
    pub(crate) async fn run<S: Shape, F: Future<Output = S::Output>>(
        self,
        codec: S::Codec,
        function: F,
    ) -> S::Output {
        let Some(key) = &self.key else {
            let output = function.await;
            return self.finish(CacheOutcome::Bypass, output);
        };
        let read = match self.cache.store().health() {
            Health::Down => Read::Unreachable,
            Health::Up | Health::Connecting => self.cache.store().get(key.as_str()).await,
        };
        // `reachable`: the store answered. When it did not (down, slow), nothing more is asked
        // of it for this call: no write, no lock, no stale read.
        let reachable = match read {
            Read::Value(bytes) => match decode::<S>(codec, &bytes, key.as_str()) {
                Some(output) => return self.finish(CacheOutcome::Hit, output),
                // Corrupt or of another type: a miss, and overwritten.
                None => true,
            },
            Read::Miss => true,
            Read::Unreachable => false,
        };
        // The miss path is boxed: its futures (lock waits, timeouts, stale reads) would make
        // every call's future kilobytes larger, and hits never need them.
        Box::pin(self.miss::<S, F>(codec, key, reachable, function)).await
    }

    /// The miss path, in the order its steps run.
    async fn miss<S: Shape, F: Future<Output = S::Output>>(
        &self,
        codec: S::Codec,
        key: &Key,
        reachable: bool,
        function: F,
    ) -> S::Output {
        let store = self.cache.store();

        // 1. In this process, one caller per key runs the function; the others wait for what
        //    it lands.
        let lead = match self.coalesce::<S>(codec, key).await {
            Coalesced::Answered(outcome, output) => return self.finish(outcome, output),
            Coalesced::Lead(lead) => Some(lead),
            Coalesced::Alone => None,
        };

        // 2. Across processes (`lock`): the leader takes the store's lease, or gets the value
        //    another process stored while it waited.
        let mut lease = None;
        if reachable && self.site.lock && lead.is_some() {
            match lock::acquire_or_wait::<S>(&self.cache, self.site, codec, key).await {
                LockWait::Acquired(held) => lease = Some(held),
                LockWait::ValueAppeared(bytes, output) => {
                    land(lead, Landing::Value(bytes.into()));
                    return self.finish(CacheOutcome::Hit, output);
                }
                LockWait::GaveUp => {}
            }
        }

        // 3. Run the function (extending the lease meanwhile); with `stale`, a failure answers
        //    the last good value.
        let fallback = (reachable && self.site.stale.is_some()).then_some((store, key));
        let run = stale::run::<S, F>(self.site, codec, fallback, function);
        let ran = match &lease {
            Some(lease) => lease.hold(run).await,
            None => run.await,
        };

        // 4. Store a fresh value, if anyone will read it: the store, or followers.
        let (outcome, output, landing) = match ran {
            Ran::Stale(bytes, output) => {
                (CacheOutcome::Stale, output, Landing::Stale(bytes.into()))
            }
            Ran::Fresh(output) => {
                let followers = lead.as_ref().is_some_and(Lead::has_followers);
                let landing = self
                    .write::<S>(codec, key, reachable, followers, &output)
                    .await;
                let outcome = if reachable {
                    CacheOutcome::Miss
                } else {
                    CacheOutcome::Bypass
                };
                (outcome, output, landing)
            }
            Ran::Panicked(panic) => {
                // The callers that waited panic too, at once; the lock is released now.
                land(lead, Landing::Panicked(panic_message(&*panic).into()));
                if let Some(lease) = lease {
                    lease.release().await;
                }
                std::panic::resume_unwind(panic);
            }
        };

        // 5. Release the lease, then answer the followers.
        if let Some(lease) = lease {
            lease.release().await;
        }
        land(lead, landing);
        self.finish(outcome, output)
    }

    /// Joins the flight of this key: as its leader, or as a follower that waits for the
    /// leader's answer: a value, `None`, a stale value or a copyable error is this caller's
    /// too; after an error it cannot copy it runs the function in the next, wider wave; after
    /// a cancelled leader it tries to lead; after a panic it panics.
    async fn coalesce<S: Shape>(&self, codec: S::Codec, key: &Key) -> Coalesced<'_, S::Output> {
        let flights = self.cache.flights();
        let mut lane = Lane::FIRST;
        loop {
            let mut follower = match flights.join(key.flight(), lane) {
                Joined::Leader(lead) => return Coalesced::Lead(lead),
                Joined::Follower(follower) => follower,
            };
            let landing = match flights
                .follow(key.flight(), lane, &mut follower, self.site.wait)
                .await
            {
                Followed::Landed(landing) => landing,
                Followed::TookOver(lead) => return Coalesced::Lead(lead),
            };
            let (outcome, bytes) = match landing {
                Landing::Value(bytes) => (CacheOutcome::Coalesced, bytes),
                Landing::Stale(bytes) => (CacheOutcome::Stale, bytes),
                Landing::Absent => {
                    return match S::absent() {
                        Some(output) => Coalesced::Answered(CacheOutcome::Coalesced, output),
                        None => Coalesced::Alone,
                    }
                }
                Landing::Error(shared) => {
                    return match S::take_failure(codec, &shared) {
                        Some(output) => Coalesced::Answered(CacheOutcome::Coalesced, output),
                        None => Coalesced::Alone,
                    }
                }
                Landing::Failed => {
                    lane = lane.next_wave();
                    continue;
                }
                Landing::Panicked(message) => panic!(
                    "cached function `{}` panicked in the concurrent call this one waited for: {message}",
                    self.site.function
                ),
                Landing::Abandoned => continue,
            };
            return match decode::<S>(codec, &bytes, key.as_str()) {
                Some(output) => Coalesced::Answered(outcome, output),
                None => Coalesced::Alone,
            };
        }
    }

    /// Stores a fresh output (when the store is `reachable`), and says what the followers get:
    /// the value's JSON, `None`'s answer, a copy of the error, or that they must run it.
    async fn write<S: Shape>(
        &self,
        codec: S::Codec,
        key: &Key,
        reachable: bool,
        followers: bool,
        output: &S::Output,
    ) -> Landing {
        // With nowhere to write and nobody waiting, the JSON would be thrown away.
        let stored = S::stored(output).filter(|_| reachable || followers);
        match stored.map(|value| S::encode(codec, value)) {
            Some(Ok(bytes)) => {
                if reachable && bytes.len() > self.cache.max_value_bytes() {
                    // One huge value must not clog the connection every key shares.
                    if let Some(held_back) = OVERSIZED_VALUES.allow() {
                        tracing::warn!(
                            key = key.as_str(),
                            bytes = bytes.len(),
                            max_value_bytes = self.cache.max_value_bytes(),
                            held_back,
                            "value larger than the cache's limit: returned, not stored"
                        );
                    }
                } else if reachable {
                    // Written before the flight lands, so that a caller arriving as it lands
                    // finds the value in the store.
                    let store = self.cache.store();
                    let ttl = self.site.ttl_with_jitter();
                    let _ = store.set(key.as_str(), &bytes, ttl).await;
                    stale::write(store, key, self.site, &bytes, ttl).await;
                }
                Landing::Value(bytes.into())
            }
            Some(Err(err)) => {
                if let Some(held_back) = UNWRITABLE_VALUES.allow() {
                    tracing::warn!(key = key.as_str(), error = %err, held_back,
                        "value does not serialize to JSON: not cached");
                }
                Landing::Failed
            }
            None if S::is_absent(output) => Landing::Absent,
            None => match S::share_failure(codec, output).filter(|_| followers) {
                Some(shared) => Landing::Error(shared),
                None => Landing::Failed,
            },
        }
    }

    fn finish<T>(&self, outcome: CacheOutcome, output: T) -> T {
        tracing::trace!(
            prefix = self.site.prefix,
            outcome = outcome.as_str(),
            "cached call"
        );
        record(outcome);
        output
    }
}

fn land(lead: Option<Lead<'_>>, landing: Landing) {
    if let Some(lead) = lead {
        lead.land(landing);
    }
}

/// A panic's message, for the callers that waited on the call that panicked.
fn panic_message(panic: &(dyn std::any::Any + Send)) -> &str {
    panic
        .downcast_ref::<&str>()
        .copied()
        .or_else(|| panic.downcast_ref::<String>().map(String::as_str))
        .unwrap_or("(a panic without a message)")
}

#[cfg(test)]
mod tests;
