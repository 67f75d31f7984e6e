//! The cache handle: which store, which namespace, which calls are in flight; the process-wide
//! default (installed, or built from the environment) and scoped overrides. How one is
//! configured is [`crate::builder`]'s; retrying an invalidation the store did not take is
//! [`retries`]'.

mod retries;

use std::future::Future;
use std::sync::{Arc, OnceLock};

use crate::flight::Flights;
use crate::generation::Generations;
use crate::l1::L1;
use crate::store::{NoStore, Store, StoreError};

pub(crate) use self::retries::Retries;
use self::retries::{republish, Retried};

/// A handle to a store and the namespace its keys live in. Cheap to clone.
///
/// Annotated functions use [`Cache::current`]: the cache of the enclosing [`Cache::scope`] if
/// there is one, else the process-wide one ([`Cache::install`]ed, or built from the environment
/// on first use).
///
/// ```
/// use cached_json_runtime::store::MemoryStore;
/// use cached_json_runtime::Cache;
///
/// let cache = Cache::builder()
///     .store(MemoryStore::default())
///     .namespace("my-app")
///     .build()
///     .unwrap();
/// assert_eq!(cache.namespace(), Some("my-app"));
/// assert_eq!(cache.store().kind(), "memory");
/// ```
#[derive(Clone)]
pub struct Cache {
    inner: Arc<Inner>,
}

pub(crate) struct Inner {
    pub(crate) store: Box<dyn Store>,
    pub(crate) namespace: Option<String>,
    pub(crate) flights: Arc<Flights>,
    /// The generations of the prefixes this cache has used.
    pub(crate) generations: Arc<Generations>,
    /// Values whose JSON is longer are returned but not stored.
    pub(crate) max_value_bytes: usize,
    /// The in-process copies of the store's entries, when asked for and the store can keep
    /// them coherent.
    pub(crate) l1: Option<Arc<L1>>,
    /// Invalidations the store did not take, retried until it does.
    pub(crate) retries: Retries,
    /// Told each call's prefix and outcome (a [`TestCache`](crate::testing::TestCache)'s).
    #[cfg(feature = "testing")]
    pub(crate) recorder: Option<crate::outcome::Recorder>,
}

impl Inner {
    /// A cache's parts on `store`, every setting at its default.
    pub(crate) fn on(store: Box<dyn Store>) -> Self {
        Inner {
            store,
            namespace: None,
            flights: Arc::default(),
            generations: Arc::default(),
            max_value_bytes: DEFAULT_MAX_VALUE_BYTES,
            l1: None,
            retries: Retries::default(),
            #[cfg(feature = "testing")]
            recorder: None,
        }
    }
}

/// [`CacheBuilder::max_value_bytes`](crate::CacheBuilder::max_value_bytes) unless set: 4 MiB.
pub(crate) const DEFAULT_MAX_VALUE_BYTES: usize = 4 << 20;

static GLOBAL: OnceLock<Cache> = OnceLock::new();

tokio::task_local! {
    static SCOPED: Cache;
}

impl Cache {
    /// A cache on `store`, without namespace.
    pub fn new(store: impl Store) -> Self {
        Cache::from_inner(Inner::on(Box::new(store)))
    }

    /// A cache on `store` whose calls' outcomes `recorder` gets (a test's).
    #[cfg(feature = "testing")]
    pub(crate) fn recording(store: impl Store, recorder: crate::outcome::Recorder) -> Self {
        Cache::from_inner(Inner {
            recorder: Some(recorder),
            ..Inner::on(Box::new(store))
        })
    }

    /// Tells the cache's recorder (a test's) that a call of `prefix` ended with `outcome`.
    #[cfg(feature = "testing")]
    pub(crate) fn recorded(&self, prefix: &'static str, outcome: crate::CacheOutcome) {
        if let Some(recorder) = &self.inner.recorder {
            recorder.record(prefix, outcome);
        }
    }

    pub(crate) fn from_inner(inner: Inner) -> Self {
        Cache {
            inner: Arc::new(inner),
        }
    }

    /// Makes this the process-wide cache. Call it at start-up, before the first cached call;
    /// once a process-wide cache exists (installed, or built from the environment by a cached
    /// call), it stays, and this returns the cache you passed back as the error.
    pub fn install(self) -> Result<(), Cache> {
        GLOBAL.set(self)
    }

    /// The process-wide cache, built from the environment ([`Cache::from_env`]) if none was
    /// installed. If the environment is malformed, that is logged as an error and caching is
    /// off (every call runs its function): a cached call never fails for the cache's sake.
    pub fn global() -> &'static Cache {
        GLOBAL.get_or_init(|| {
            Cache::from_env().unwrap_or_else(|err| {
                tracing::error!(error = %err,
                    "the cache's environment is not usable: caching is off (Cache::from_env() \
                     at start-up reports this as an error)");
                Cache::new(NoStore)
            })
        })
    }

    /// The cache annotated functions use here: the innermost [`Cache::scope`]'s, else the
    /// process-wide one.
    pub fn current() -> Cache {
        SCOPED
            .try_with(Cache::clone)
            .unwrap_or_else(|_| Cache::global().clone())
    }

    /// [`Cache::current`] without cloning the process-wide cache: that would write its
    /// reference count, a cache line every core shares, on every call.
    pub(crate) fn current_ref() -> CurrentCache {
        match SCOPED.try_with(Cache::clone) {
            Ok(scoped) => CurrentCache::Scoped(scoped),
            Err(_) => CurrentCache::Global(Cache::global()),
        }
    }

    /// Runs `future` with this cache as [`Cache::current`] for every cached call inside it
    /// (not in tasks it spawns). For tests, and for apps with several caches.
    pub fn scope<F: Future>(&self, future: F) -> impl Future<Output = F::Output> {
        // (Not an `async fn`, which would hold `future` twice: see `outcome.rs`.)
        SCOPED.scope(self.clone(), future)
    }

    /// The store.
    pub fn store(&self) -> &dyn Store {
        &*self.inner.store
    }

    /// The namespace that starts every key, if any.
    pub fn namespace(&self) -> Option<&str> {
        self.inner.namespace.as_deref()
    }

    /// How many keys have a call in flight in this process right now (their function is
    /// running, and concurrent callers of the same key wait for it).
    pub fn in_flight(&self) -> usize {
        self.inner.flights.len()
    }

    pub(crate) fn flights(&self) -> &Arc<Flights> {
        &self.inner.flights
    }

    pub(crate) fn generations(&self) -> &Arc<Generations> {
        &self.inner.generations
    }

    /// Invalidates every entry of `prefix` in this cache's namespace, in O(1) and for every
    /// process sharing the store: the prefix's generation changes, so that every key of it
    /// does (the old entries expire on their own). The attribute's `<fn>_invalidate_all` is
    /// this for one function; this form serves tools and admin routes that know prefixes by
    /// name.
    ///
    /// `Err` if the new generation could not be written; the invalidation is then retried in
    /// the background (on the caller's Tokio runtime, backing off from 25 ms to 250 ms) until
    /// Redis takes it, so that one made while Redis was away is not lost. Once it is written,
    /// this process uses it at once; if telling the other processes failed, that is retried
    /// the same way until it goes through or a newer invalidation of the prefix makes it moot.
    pub async fn invalidate_prefix(&self, prefix: &str) -> Result<(), StoreError> {
        let bumped = match self
            .inner
            .generations
            .bump(self.store(), self.namespace(), prefix)
            .await
        {
            Ok(bumped) => bumped,
            Err(err) => {
                // The caller is told; the invalidation is also retried until the store gets
                // it, so that it is not lost when the store was only briefly away (a write
                // that timed out may even have been carried out: one more is harmless).
                self.retry(Retried::Prefix(prefix.to_owned()), &err);
                return Err(err);
            }
        };
        if let Err(err) = bumped.published {
            tracing::warn!(prefix, error = %err,
                "an invalidation was written but not published: retrying in the background");
            let retry = republish(Arc::downgrade(&self.inner), bumped.key, bumped.generation);
            match tokio::runtime::Handle::try_current() {
                Ok(runtime) => drop(runtime.spawn(retry)),
                Err(_) => tracing::warn!(
                    prefix,
                    "no Tokio runtime to retry the publication on: the other processes learn \
                     of the invalidation when they read the generation again"
                ),
            }
        }
        Ok(())
    }

    /// Invalidates every entry carrying `tag` (a function's `tags(...)`, with its arguments
    /// written in: `"seller:42"`) in this cache's namespace, in O(1) and for every process
    /// sharing the store: the tag's record is deleted, so that no entry stored before now
    /// (even by a call still running) is served again, from the store or from an L1. This
    /// process's L1 drops its copies before this returns; another process's, when its store
    /// reports the change (within the L1's bound, see README).
    ///
    /// `Err` if the store could not be told (never a silent success); it is then retried in
    /// the background until the store takes it, as [`Cache::invalidate_prefix`] is.
    pub async fn invalidate_tag(&self, tag: &str) -> Result<(), StoreError> {
        let record = crate::tags::record_key(self.namespace(), tag);
        // The store first: a copy read before the delete reaches the store must not outlive
        // this call here.
        let deleted = self.inner.store.delete(&record).await;
        if let Some(l1) = self.l1() {
            l1.forget(&record);
        }
        if let Err(err) = &deleted {
            // As for a prefix: `Err`, and retried until the store gets it.
            self.retry(Retried::Tag(record), err);
        }
        deleted.map(drop)
    }

    /// The L1, if this cache has one.
    pub(crate) fn l1(&self) -> Option<&L1> {
        self.inner.l1.as_deref()
    }

    /// Whether this cache keeps an in-process L1 in front of its store
    /// ([`CacheBuilder::l1`](crate::CacheBuilder::l1)): asked for, and the store reports changes of its keys.
    pub fn has_l1(&self) -> bool {
        self.inner.l1.is_some()
    }

    /// The longest JSON a value may have to be stored.
    pub(crate) fn max_value_bytes(&self) -> usize {
        self.inner.max_value_bytes
    }

    /// Removes one key (as built by the attribute, namespace included).
    pub async fn delete(&self, key: &str) -> Result<bool, StoreError> {
        if let Some(l1) = self.l1() {
            l1.forget(key);
        }
        self.inner.store.delete(key).await
    }
}

impl std::fmt::Debug for Cache {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Cache")
            .field("store", &self.store().kind())
            .field("namespace", &self.namespace())
            .field("l1", &self.has_l1())
            .finish()
    }
}

/// The cache a call uses: borrowed when it is the process-wide one.
#[derive(Clone)]
pub(crate) enum CurrentCache {
    Global(&'static Cache),
    Scoped(Cache),
}

impl std::ops::Deref for CurrentCache {
    type Target = Cache;
    fn deref(&self) -> &Cache {
        match self {
            CurrentCache::Global(cache) => cache,
            CurrentCache::Scoped(cache) => cache,
        }
    }
}
