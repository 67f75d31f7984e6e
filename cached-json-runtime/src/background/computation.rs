//! A [`Computation`]: steps 3 to 5 of a miss (run the function, store its value, release the
//! lease, answer the followers), owning all they need so that they can run where the caller
//! waits or in a task of their own ([`super`]).

use std::future::Future;
use std::time::Duration;

use crate::cache::CurrentCache;
use crate::flight::{Landing, Lead};
use crate::http::{self, Entry};
use crate::key::Key;
use crate::lock::Lease;
use crate::logging::LogLimiter;
use crate::outcome::CacheOutcome;
use crate::shape::{stored_ttl, Shape};
use crate::site::CacheSite;
use crate::stale::{self, Ran};
use crate::tags::Began;
use crate::unwind::Panic;

static UNWRITABLE_VALUES: LogLimiter = LogLimiter::new(Duration::from_secs(10));
static OVERSIZED_VALUES: LogLimiter = LogLimiter::new(Duration::from_secs(10));

/// What a computation ended with, for the caller.
pub(crate) enum Done<O> {
    Answer(CacheOutcome, O),
    /// The function panicked (and no stale value answered): the caller resumes unwinding.
    Panicked(Panic),
}

/// Steps 3 to 5 of a miss, with everything they need owned.
pub(crate) struct Computation<S: Shape> {
    pub(super) cache: CurrentCache,
    pub(super) site: &'static CacheSite,
    pub(super) key: Key,
    pub(super) codec: S::Codec,
    /// The store answered the read: it may be written.
    reachable: bool,
    lead: Option<Lead>,
    lease: Option<Lease>,
    /// The entry's life in full, as the hit that started a refresh knew it (the site's TTL, or
    /// its value's own): a refresh checks against it whether another instance refreshed first.
    pub(super) entry_ttl: Duration,
    /// A tagged run's tokens, when the caller kept its records already.
    began: Option<Began>,
}

impl<S: Shape> Computation<S> {
    pub(crate) fn new(
        cache: &CurrentCache,
        site: &'static CacheSite,
        key: &Key,
        codec: S::Codec,
    ) -> Self {
        Computation {
            cache: cache.clone(),
            site,
            key: key.clone(),
            codec,
            reachable: true,
            lead: None,
            lease: None,
            entry_ttl: site.ttl,
            began: None,
        }
    }

    /// A tagged run that began with `began` (its records kept by the call that runs it).
    pub(crate) fn began(mut self, began: Option<Began>) -> Self {
        self.began = began;
        self
    }

    /// The life in full of the entry a hit found (see [`refresh`]).
    pub(crate) fn entry_ttl(mut self, ttl: Duration) -> Self {
        self.entry_ttl = ttl;
        self
    }

    pub(crate) fn reachable(mut self, reachable: bool) -> Self {
        self.reachable = reachable;
        self
    }

    pub(crate) fn leading(mut self, lead: Option<Lead>, lease: Option<Lease>) -> Self {
        self.lead = lead;
        self.lease = lease;
        self
    }

    /// Steps 4 and 5 for `output`, computed elsewhere (a batch's run, which computes many keys
    /// at once): stored as [`Computation::run`] stores a fresh value; the followers answered.
    /// For an untagged key.
    pub(crate) async fn store(self, output: S::Output) -> S::Output {
        let Computation {
            cache,
            site,
            key,
            codec,
            reachable,
            lead,
            lease,
            ..
        } = self;
        debug_assert!(key.tags().is_none(), "a batch's keys are untagged");
        let (done, landing) = fresh::<S>(
            &cache,
            site,
            &key,
            codec,
            reachable,
            lead.as_ref(),
            StoredAs::Json,
            output,
        )
        .await;
        release_and_land(lease, lead, landing).await;
        match done {
            Done::Answer(_, output) => output,
            Done::Panicked(panic) => std::panic::resume_unwind(panic),
        }
    }

    /// Runs `function` (extending the lease meanwhile; with `stale`, a failure, or
    /// `soft_timeout`, answers the last good value), stores a fresh value if anyone will read
    /// it (the store, or followers), releases the lease, answers the followers.
    pub(crate) async fn run<F: Future<Output = S::Output>>(
        self,
        function: F,
        soft_timeout: Option<Duration>,
    ) -> Done<S::Output> {
        let Computation {
            cache,
            site,
            key,
            codec,
            reachable,
            lead,
            lease,
            entry_ttl: _,
            began,
        } = self;
        let store = cache.store();
        // A tagged entry is stored with the tokens of its tags' records as the run begins
        // (before the function is first polled): an invalidation during the run makes it a
        // miss (see `tags`). No tokens, no write.
        let stored_as = match (key.tags(), reachable, began) {
            (Some(_), true, Some(began)) => StoredAs::Tagged(began),
            (Some(tags), true, None) => match Began::keep(store, tags, site.entry_life()).await {
                Some(began) => StoredAs::Tagged(began),
                None => StoredAs::NotStored,
            },
            _ => StoredAs::Json,
        };
        let fallback = (reachable && site.stale.is_some()).then_some((store, &key));
        let run = stale::run::<S, F>(site, codec, fallback, soft_timeout, function);
        let ran = match &lease {
            Some(lease) => lease.hold(run).await,
            None => run.await,
        };
        let observed = http::wanted();
        let (done, landing) = match ran {
            Ran::Stale(bytes, output) => {
                let landing = Landing::Stale(bytes.as_slice().into());
                if observed {
                    http::record(Entry::new(
                        CacheOutcome::Stale,
                        bytes.into(),
                        site.ttl,
                        None,
                    ));
                }
                (Done::Answer(CacheOutcome::Stale, output), landing)
            }
            Ran::Fresh(output) => {
                fresh::<S>(
                    &cache,
                    site,
                    &key,
                    codec,
                    reachable,
                    lead.as_ref(),
                    stored_as,
                    output,
                )
                .await
            }
            Ran::Panicked(panic) => {
                // The callers that waited panic too, at once.
                let message = panic_message(&*panic).into();
                (Done::Panicked(panic), Landing::Panicked(message))
            }
        };
        release_and_land(lease, lead, landing).await;
        done
    }
}

/// Step 5, for a run and for a value a batch computed alike: the lease released, then the
/// followers answered.
async fn release_and_land(lease: Option<Lease>, lead: Option<Lead>, landing: Landing) {
    if let Some(lease) = lease {
        lease.release().await;
    }
    if let Some(lead) = lead {
        lead.land(landing);
    }
}

/// How a fresh value is stored, by its key's tags.
enum StoredAs {
    /// An untagged key's: its JSON.
    Json,
    /// A tagged key's: its JSON with the tokens of its tags' records as its run began.
    Tagged(Began),
    /// A tagged key's whose records could not be kept: not stored.
    NotStored,
}

impl StoredAs {
    /// What is written for `json` (`None`: nothing); a run too long ago to trust its tokens
    /// writes nothing (see [`Began::wrap`]).
    fn payload<'a>(&self, json: &'a [u8]) -> Option<std::borrow::Cow<'a, [u8]>> {
        match self {
            StoredAs::Json => Some(json.into()),
            StoredAs::Tagged(began) => began.wrap(json).map(Into::into),
            StoredAs::NotStored => None,
        }
    }
}

/// Step 4 for a fresh output: stores its JSON if it is cacheable and anyone will read it (as
/// `stored_as` says), and what the followers get.
#[allow(clippy::too_many_arguments)]
async fn fresh<S: Shape>(
    cache: &CurrentCache,
    site: &'static CacheSite,
    key: &Key,
    codec: S::Codec,
    reachable: bool,
    lead: Option<&Lead>,
    stored_as: StoredAs,
    output: S::Output,
) -> (Done<S::Output>, Landing) {
    let store = cache.store();
    let observed = http::wanted();
    let followers = lead.is_some_and(Lead::has_followers);
    let (bytes, mut landing) = written::<S>(codec, key, &output, reachable, followers);
    // The value's own TTL (`ttl_with`, `none_ttl`); `None`: it says not to store it
    // (`cache_if`, a zero TTL). It is still answered, to this caller and the
    // followers.
    let value_ttl = stored_ttl::<S>(&codec, &output, site.ttl);
    if let (Some(bytes), Some(value_ttl)) = (bytes.filter(|_| reachable), value_ttl) {
        match stored_as.payload(&bytes) {
            None => {}
            Some(_) if bytes.len() > cache.max_value_bytes() => {
                // One huge value must not clog the connection every key shares.
                if let Some(held_back) = OVERSIZED_VALUES.allow() {
                    tracing::warn!(
                        key = key.as_str(),
                        bytes = bytes.len(),
                        max_value_bytes = cache.max_value_bytes(),
                        held_back,
                        "value larger than the cache's limit: returned, not stored"
                    );
                }
            }
            Some(payload) => {
                // Written before the flight lands, so that a caller arriving as it lands finds
                // the value in the store.
                let ttl = site.jittered(value_ttl);
                let written = store.set(key.as_str(), &payload, ttl).await;
                // This process reads its own write at once; the others drop their copy when
                // the store reports it.
                if let Some(l1) = cache.l1() {
                    l1.forget(key.as_str());
                }
                stale::write(store, key, site, &payload, ttl).await;
                drop(payload);
                if let (Landing::Value(_, stored), true) = (&mut landing, written.is_ok()) {
                    *stored = true;
                }
                if observed && written.is_ok() {
                    http::record(Entry::new(
                        CacheOutcome::Miss,
                        bytes.into(),
                        value_ttl,
                        Some(ttl),
                    ));
                }
            }
        }
    }
    let outcome = if reachable {
        CacheOutcome::Miss
    } else {
        CacheOutcome::Bypass
    };
    (Done::Answer(outcome, output), landing)
}

/// A fresh output's JSON, if it is cacheable and someone will read it, and what the followers
/// get: the JSON, `None`'s answer, a copy of the error, or that they must run it. Synchronous,
/// so that no reference to the output is held across an await.
fn written<S: Shape>(
    codec: S::Codec,
    key: &Key,
    output: &S::Output,
    reachable: bool,
    followers: bool,
) -> (Option<Vec<u8>>, Landing) {
    // With nowhere to write and nobody waiting, the JSON would be thrown away.
    let stored = S::stored(output).filter(|_| reachable || followers);
    match stored.map(|value| S::encode(codec, value)) {
        Some(Ok(bytes)) => {
            // Not stored until the write says so (below).
            let landing = Landing::Value(bytes.as_slice().into(), false);
            (Some(bytes), landing)
        }
        Some(Err(err)) => {
            if let Some(held_back) = UNWRITABLE_VALUES.allow() {
                tracing::warn!(key = key.as_str(), error = %err, held_back,
                    "value does not serialize to JSON: not cached");
            }
            (None, Landing::Failed)
        }
        None if S::is_absent(output) => (None, Landing::Absent),
        None => match S::share_failure(codec, output).filter(|_| followers) {
            Some(shared) => (None, Landing::Error(shared)),
            None => (None, Landing::Failed),
        },
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
