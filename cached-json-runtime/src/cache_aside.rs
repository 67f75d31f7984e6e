//! The cache-aside call itself: key, `GET`, run the function on a miss, store its JSON.
//!
//! Everything the `#[cached_json]` attribute generates is a [`CacheSite`] and a few calls on
//! [`Call`]: the logic lives here, where it is tested, not in generated code.
//!
//! A miss goes through three guards against stampedes and failures, each cheap when unused:
//! concurrent misses of one key in this process are coalesced ([`crate::flight`]); with `lock`,
//! a lease in the store lets one process of many compute the key; with `stale`, the last good
//! value outlives its TTL in a second key and answers when the function fails.

use std::any::Any;
use std::future::Future;
use std::marker::PhantomData;
use std::panic::AssertUnwindSafe;
use std::pin::Pin;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::task::{Context, Poll};
use std::time::{Duration, Instant};

use serde::de::DeserializeOwned;
use serde::Serialize;

use crate::cache::{Cache, CurrentCache};
use crate::flight::{follow, FlightKey, Joined, Landing, Lead};
use crate::key::{format_key, KeyBuilder};
use crate::logging::LogLimiter;
use crate::outcome::{record, CacheOutcome};
use crate::store::StoreError;

/// How long a cross-process lock is held at most: past it, a crashed holder's lock expires.
const LOCK_LEASE: Duration = Duration::from_secs(5);
/// How long a caller waits for another process's computation before computing itself.
const LOCK_WAIT: Duration = Duration::from_secs(5);
/// How often a waiting caller looks for the value (and retries the lock).
const LOCK_POLL: Duration = Duration::from_millis(25);

/// The fixed part of one annotated function's caching: prefix, TTL, key version and options.
///
/// Built in a `static` by the attribute: every method is `const`.
#[derive(Debug)]
pub struct CacheSite {
    prefix: &'static str,
    /// The annotated function's path, for messages.
    function: &'static str,
    /// Whether this site was checked against the others (see [`CacheSite::register`]).
    registered: AtomicBool,
    ttl: Duration,
    version: Option<u32>,
    lock: bool,
    stale: Option<Duration>,
    jitter: Option<Duration>,
    soft_timeout: Option<Duration>,
}

impl CacheSite {
    /// A site for `prefix`, storing values for `ttl_secs` seconds.
    pub const fn new(prefix: &'static str, ttl_secs: u64, version: Option<u32>) -> Self {
        CacheSite {
            prefix,
            function: "",
            registered: AtomicBool::new(false),
            ttl: Duration::from_secs(ttl_secs),
            version,
            lock: false,
            stale: None,
            jitter: None,
            soft_timeout: None,
        }
    }

    /// Names the annotated function (its path), for messages.
    pub const fn with_function(mut self, function: &'static str) -> Self {
        self.function = function;
        self
    }

    /// Coalesce misses across processes with a lease in the store (`lock`).
    pub const fn with_lock(mut self) -> Self {
        self.lock = true;
        self
    }

    /// Keep the last good value `secs` past its TTL, for when the function fails (`stale`).
    pub const fn with_stale(mut self, secs: u64) -> Self {
        self.stale = Some(Duration::from_secs(secs));
        self
    }

    /// Add up to `secs` of random time to each stored TTL (`jitter`).
    pub const fn with_jitter(mut self, secs: u64) -> Self {
        self.jitter = Some(Duration::from_secs(secs));
        self
    }

    /// Answer the stale value when the function takes longer than `ms` (`timeout_ms`).
    pub const fn with_soft_timeout_ms(mut self, ms: u64) -> Self {
        self.soft_timeout = Some(Duration::from_millis(ms));
        self
    }

    /// The prefix.
    pub const fn prefix(&self) -> &'static str {
        self.prefix
    }

    /// How long a stored value lives (before jitter).
    pub const fn ttl(&self) -> Duration {
        self.ttl
    }

    /// On a site's first call: warns if another function already uses the same prefix (and
    /// version). Their keys would collide whenever their arguments serialize alike, and each
    /// would read the other's values: a mistake (Spring users know it as SPR-11736) that is
    /// cheap to catch here and costly to find in production.
    fn register(&'static self) {
        if self.registered.load(Ordering::Relaxed) {
            return;
        }
        static SITES: Mutex<Vec<&'static CacheSite>> = Mutex::new(Vec::new());
        let mut sites = SITES.lock().unwrap_or_else(|e| e.into_inner());
        if self.registered.swap(true, Ordering::Relaxed) {
            return;
        }
        if let Some(other) = sites
            .iter()
            .find(|other| other.prefix == self.prefix && other.version == self.version)
        {
            tracing::warn!(
                prefix = self.prefix,
                first = other.function,
                second = self.function,
                "two functions use the same cache prefix: they will read each other's values \
                 when their arguments match; give each its own prefix"
            );
        }
        sites.push(self);
    }

    fn ttl_with_jitter(&self) -> Duration {
        match self.jitter {
            Some(jitter) if !jitter.is_zero() => {
                self.ttl + Duration::from_millis(fastrand::u64(0..=jitter.as_millis() as u64))
            }
            _ => self.ttl,
        }
    }
}

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

/// One cached call being prepared: the cache it uses and its key.
pub struct Call {
    cache: CurrentCache,
    site: &'static CacheSite,
    key: KeyBuilder,
}

static UNREADABLE_VALUES: LogLimiter = LogLimiter::new(Duration::from_secs(10));
static UNWRITABLE_VALUES: LogLimiter = LogLimiter::new(Duration::from_secs(10));
static STALE_SERVED: LogLimiter = LogLimiter::new(Duration::from_secs(10));

impl Call {
    /// Starts a call of `site`, on [`Cache::current`].
    pub fn new(site: &'static CacheSite) -> Self {
        site.register();
        Call {
            cache: Cache::current_ref(),
            site,
            key: KeyBuilder::new(),
        }
    }

    /// Adds a key argument (names in ascending order; see [`KeyBuilder::arg`]).
    pub fn arg<T: KeyArg + ?Sized>(&mut self, name: &'static str, value: &T) -> &mut Self {
        self.key.arg(name, value);
        self
    }

    /// Caches every value `function` returns.
    pub fn value<V, F>(self, function: F) -> impl Future<Output = V>
    where
        V: Serialize + DeserializeOwned,
        F: Future<Output = V>,
    {
        self.into_aside().run::<PlainShape<V>, F>(function)
    }

    /// Caches `Ok` values; `Err` is returned as it is and not stored.
    pub fn result<T, E, F>(self, function: F) -> impl Future<Output = Result<T, E>>
    where
        T: Serialize + DeserializeOwned,
        F: Future<Output = Result<T, E>>,
    {
        self.into_aside().run::<ResultShape<T, E>, F>(function)
    }

    /// Caches `Some` values; `None` is returned and not stored.
    pub fn option<T, F>(self, function: F) -> impl Future<Output = Option<T>>
    where
        T: Serialize + DeserializeOwned,
        F: Future<Output = Option<T>>,
    {
        self.into_aside().run::<OptionShape<T>, F>(function)
    }

    /// Finishes the key now, so that the hasher's state (half a kilobyte) is not carried in
    /// the call's future.
    fn into_aside(mut self) -> Aside {
        let digest = self.key.digest();
        let key = format_key(
            self.cache.namespace(),
            self.site.prefix,
            self.site.version,
            digest,
        );
        Aside {
            flight: (self.site as *const CacheSite as usize, digest),
            cache: self.cache,
            site: self.site,
            key,
        }
    }
}

/// A call with its key: what the cache-aside future carries.
struct Aside {
    cache: CurrentCache,
    site: &'static CacheSite,
    key: String,
    flight: FlightKey,
}

impl Aside {
    async fn run<S: Shape, F: Future<Output = S::Output>>(self, function: F) -> S::Output {
        let key = self.key.as_str();
        // `usable`: the store answered. When it did not (down, slow), nothing more is asked of
        // it for this call: no write, no lock, no stale read.
        let store = self.cache.store();
        let read = if store.known_down() {
            Err(StoreError::Unavailable)
        } else {
            store.get(key).await
        };
        let usable = match read {
            Ok(Some(bytes)) => match decode::<S>(&bytes, key) {
                Some(output) => return self.finish(CacheOutcome::Hit, output),
                None => true,
            },
            Ok(None) => true,
            // Redis answered (refused this key, e.g. WRONGTYPE): it is healthy, overwrite.
            Err(StoreError::Reply(_)) => true,
            // Down or slow: do not add a write to a store that is struggling.
            Err(_) => false,
        };
        // The miss path is boxed: its futures (lock waits, timeouts, stale reads) would make
        // every call's future kilobytes larger, and hits never need them.
        Box::pin(self.miss::<S, F>(usable, function)).await
    }

    async fn miss<S: Shape, F: Future<Output = S::Output>>(
        &self,
        usable: bool,
        function: F,
    ) -> S::Output {
        let key = self.key.as_str();
        let mut function = Some(function);
        loop {
            let receiver = match self.cache.flights().join(self.flight) {
                Joined::Leader(lead) => {
                    let function = function.take().expect("a leader runs the function once");
                    return self.compute::<S, F>(usable, Some(lead), function).await;
                }
                Joined::Follower(receiver) => receiver,
            };
            match follow(receiver).await {
                Landing::Value(bytes) => {
                    if let Some(output) = decode::<S>(&bytes, key) {
                        return self.finish(CacheOutcome::Hit, output);
                    }
                    break;
                }
                Landing::Stale(bytes) => {
                    if let Some(output) = decode::<S>(&bytes, key) {
                        return self.finish(CacheOutcome::Stale, output);
                    }
                    break;
                }
                Landing::Absent => {
                    if let Some(output) = S::absent() {
                        return self.finish(CacheOutcome::Miss, output);
                    }
                    break;
                }
                // The leader's error is its own: run the function for this caller.
                Landing::Failed => break,
                // The leader was cancelled or panicked: try to lead.
                Landing::Abandoned => continue,
            }
        }
        let function = function.take().expect("followers keep their function");
        self.compute::<S, F>(usable, None, function).await
    }

    /// Runs the function (as the flight's leader, or alone), stores its value, lands the
    /// flight.
    async fn compute<S: Shape, F: Future<Output = S::Output>>(
        &self,
        usable: bool,
        lead: Option<Lead<'_>>,
        function: F,
    ) -> S::Output {
        let key = self.key.as_str();
        let store = self.cache.store();
        let site = self.site;

        // Only the in-process leader asks for the cross-process lock: followers wait here.
        let mut lock = None;
        if usable && site.lock && lead.is_some() {
            match self.wait_for_lock::<S>(key).await {
                LockWait::Acquired(lock_key, token) => lock = Some((lock_key, token)),
                LockWait::ValueAppeared(bytes, output) => {
                    land(lead, Landing::Value(bytes));
                    return self.finish(CacheOutcome::Hit, output);
                }
                LockWait::GaveUp => {}
            }
        }

        let stale_key = (usable && site.stale.is_some()).then(|| format!("{key}:stale"));
        let (outcome, output, landing) = match self
            .call::<S, F>(stale_key.as_deref(), function)
            .await
        {
            Called::Stale(bytes, output) => (CacheOutcome::Stale, output, Landing::Stale(bytes)),
            Called::Fresh(output) => {
                // With nowhere to write and nobody waiting, the JSON would be thrown away.
                let wanted = usable || lead.as_ref().is_some_and(Lead::has_followers);
                let stored = S::stored(&output).filter(|_| wanted);
                let landing = match stored.map(serde_json::to_vec) {
                    Some(Ok(bytes)) => {
                        if usable {
                            // Written before the flight lands, so that a caller arriving as
                            // it lands finds the value in the store.
                            let _ = store.set(key, &bytes, site.ttl_with_jitter()).await;
                            if let (Some(stale_key), Some(stale)) = (&stale_key, site.stale) {
                                let _ = store.set(stale_key, &bytes, site.ttl + stale).await;
                            }
                        }
                        Landing::Value(bytes.into())
                    }
                    Some(Err(err)) => {
                        if let Some(held_back) = UNWRITABLE_VALUES.allow() {
                            tracing::warn!(key, error = %err, held_back,
                                "value does not serialize to JSON: not cached");
                        }
                        Landing::Failed
                    }
                    None if S::is_absent(&output) => Landing::Absent,
                    // An error, or a value nobody was waiting for.
                    None => Landing::Failed,
                };
                let outcome = if usable {
                    CacheOutcome::Miss
                } else {
                    CacheOutcome::Bypass
                };
                (outcome, output, landing)
            }
        };
        if let Some((lock_key, token)) = lock {
            let _ = store.unlock(&lock_key, &token).await;
        }
        land(lead, landing);
        self.finish(outcome, output)
    }

    /// Runs the function, answering the stale value (if `stale_key` is set and holds one)
    /// when it fails, panics or outlives the soft timeout.
    async fn call<S: Shape, F: Future<Output = S::Output>>(
        &self,
        stale_key: Option<&str>,
        function: F,
    ) -> Called<S::Output> {
        let Some(stale_key) = stale_key else {
            return Called::Fresh(function.await);
        };
        let mut guarded = CatchUnwind(Box::pin(function));
        let result = match self.site.soft_timeout {
            Some(limit) => match tokio::time::timeout(limit, &mut guarded).await {
                Ok(result) => result,
                Err(_) => match self.read_stale::<S>(stale_key, "timed out").await {
                    Some((bytes, output)) => return Called::Stale(bytes, output),
                    // Nothing to fall back on: the function's answer is the only one.
                    None => guarded.await,
                },
            },
            None => guarded.await,
        };
        match result {
            Ok(output) if S::is_failure(&output) => {
                match self.read_stale::<S>(stale_key, "returned an error").await {
                    Some((bytes, stale)) => Called::Stale(bytes, stale),
                    None => Called::Fresh(output),
                }
            }
            Ok(output) => Called::Fresh(output),
            Err(panic) => match self.read_stale::<S>(stale_key, "panicked").await {
                Some((bytes, stale)) => Called::Stale(bytes, stale),
                None => std::panic::resume_unwind(panic),
            },
        }
    }

    async fn read_stale<S: Shape>(
        &self,
        stale_key: &str,
        why: &'static str,
    ) -> Option<(Arc<[u8]>, S::Output)> {
        let bytes = self.cache.store().get(stale_key).await.ok()??;
        let output = decode::<S>(&bytes, stale_key)?;
        if let Some(held_back) = STALE_SERVED.allow() {
            tracing::warn!(
                prefix = self.site.prefix,
                why,
                held_back,
                "function failed: serving the last good value"
            );
        }
        Some((bytes.into(), output))
    }

    /// Takes the cross-process lock for `key`, or waits for the process holding it to store
    /// the value. Gives up (and lets this caller compute) after [`LOCK_WAIT`] or on any store
    /// error: a lock must never turn into a failure.
    async fn wait_for_lock<S: Shape>(&self, key: &str) -> LockWait<S::Output> {
        let store = self.cache.store();
        let lock_key = format!("{key}:lock");
        let token = lock_token();
        let deadline = Instant::now() + LOCK_WAIT;
        loop {
            match store.try_lock(&lock_key, &token, LOCK_LEASE).await {
                Ok(true) => return LockWait::Acquired(lock_key, token),
                Ok(false) => {}
                Err(_) => return LockWait::GaveUp,
            }
            if Instant::now() >= deadline {
                tracing::debug!(
                    key,
                    "waited too long for another process's value: computing it"
                );
                return LockWait::GaveUp;
            }
            tokio::time::sleep(LOCK_POLL).await;
            match store.get(key).await {
                Ok(Some(bytes)) => {
                    if let Some(output) = decode::<S>(&bytes, key) {
                        return LockWait::ValueAppeared(bytes.into(), output);
                    }
                }
                Ok(None) => {}
                Err(_) => return LockWait::GaveUp,
            }
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

/// The stored JSON as the function's output, or `None` (logged) if it does not deserialize:
/// corrupt, or written by an older version of the type. The caller treats that as a miss.
fn decode<S: Shape>(bytes: &[u8], key: &str) -> Option<S::Output> {
    match serde_json::from_slice::<S::Stored>(bytes) {
        Ok(value) => Some(S::from_stored(value)),
        Err(err) => {
            if let Some(held_back) = UNREADABLE_VALUES.allow() {
                tracing::warn!(key, error = %err, held_back,
                    "cached value does not deserialize: treated as a miss");
            }
            None
        }
    }
}

/// A token that tells this caller's lock from any other's, across processes.
fn lock_token() -> String {
    static NEXT: AtomicU64 = AtomicU64::new(0);
    let started = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_nanos());
    format!(
        "{:x}-{started:x}-{:x}",
        std::process::id(),
        NEXT.fetch_add(1, Ordering::Relaxed)
    )
}

enum LockWait<O> {
    Acquired(String, String),
    ValueAppeared(Arc<[u8]>, O),
    GaveUp,
}

enum Called<O> {
    Fresh(O),
    Stale(Arc<[u8]>, O),
}

/// A future that turns a panic while polling into an `Err` with its payload.
struct CatchUnwind<F>(Pin<Box<F>>);

impl<F: Future> Future for CatchUnwind<F> {
    type Output = Result<F::Output, Box<dyn Any + Send>>;

    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        let inner = self.0.as_mut();
        match std::panic::catch_unwind(AssertUnwindSafe(|| inner.poll(cx))) {
            Ok(Poll::Ready(output)) => Poll::Ready(Ok(output)),
            Ok(Poll::Pending) => Poll::Pending,
            Err(panic) => Poll::Ready(Err(panic)),
        }
    }
}

/// How a function's output maps to what is stored.
trait Shape {
    type Output;
    type Stored: Serialize + DeserializeOwned;
    /// The part to store, if the output is cacheable.
    fn stored(output: &Self::Output) -> Option<&Self::Stored>;
    fn from_stored(stored: Self::Stored) -> Self::Output;
    /// Whether the output is an uncacheable answer that is the same for every caller (`None`).
    fn is_absent(_output: &Self::Output) -> bool {
        false
    }
    /// That answer, for the callers that waited for it.
    fn absent() -> Option<Self::Output> {
        None
    }
    /// Whether the output is a failure that a stale value may replace (`Err`).
    fn is_failure(_output: &Self::Output) -> bool {
        false
    }
}

struct PlainShape<V>(PhantomData<V>);
struct ResultShape<T, E>(PhantomData<(T, E)>);
struct OptionShape<T>(PhantomData<T>);

impl<V: Serialize + DeserializeOwned> Shape for PlainShape<V> {
    type Output = V;
    type Stored = V;
    fn stored(output: &V) -> Option<&V> {
        Some(output)
    }
    fn from_stored(stored: V) -> V {
        stored
    }
}

impl<T: Serialize + DeserializeOwned, E> Shape for ResultShape<T, E> {
    type Output = Result<T, E>;
    type Stored = T;
    fn stored(output: &Result<T, E>) -> Option<&T> {
        output.as_ref().ok()
    }
    fn from_stored(stored: T) -> Result<T, E> {
        Ok(stored)
    }
    fn is_failure(output: &Result<T, E>) -> bool {
        output.is_err()
    }
}

impl<T: Serialize + DeserializeOwned> Shape for OptionShape<T> {
    type Output = Option<T>;
    type Stored = T;
    fn stored(output: &Option<T>) -> Option<&T> {
        output.as_ref()
    }
    fn from_stored(stored: T) -> Option<T> {
        Some(stored)
    }
    fn is_absent(output: &Option<T>) -> bool {
        output.is_none()
    }
    fn absent() -> Option<Option<T>> {
        Some(None)
    }
}
