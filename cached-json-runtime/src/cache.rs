//! The cache handle: which store, which namespace, which calls are in flight; the process-wide
//! default (installed, or built from the environment) and scoped overrides.

use std::future::Future;
use std::sync::{Arc, OnceLock};

use crate::flight::Flights;
use crate::redis::{ConfigError, RedisConfig, RedisStore};
use crate::store::{MemoryStore, NoStore, Store, StoreError};

/// The Redis URL used when `REDIS_URL` is not set.
///
/// ```
/// assert_eq!(cached_json_runtime::DEFAULT_REDIS_URL, "redis://127.0.0.1:6379/0");
/// ```
pub const DEFAULT_REDIS_URL: &str = "redis://127.0.0.1:6379/0";

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

struct Inner {
    store: Box<dyn Store>,
    namespace: Option<String>,
    flights: Flights,
}

static GLOBAL: OnceLock<Cache> = OnceLock::new();

tokio::task_local! {
    static SCOPED: Cache;
}

impl Cache {
    /// A cache on `store`, without namespace.
    pub fn new(store: impl Store) -> Self {
        Cache {
            inner: Arc::new(Inner {
                store: Box::new(store),
                namespace: None,
                flights: Flights::default(),
            }),
        }
    }

    /// Configures a cache in code.
    pub fn builder() -> CacheBuilder {
        CacheBuilder::default()
    }

    /// The cache the environment describes. Never fails and does no I/O:
    ///
    /// | variable | meaning | default |
    /// |---|---|---|
    /// | `CACHED_JSON_STORE` | `redis`, `memory` (in-process) or `off` | `redis` |
    /// | `REDIS_URL` | the Redis server | `redis://127.0.0.1:6379/0` |
    /// | `CACHED_JSON_NAMESPACE` | a prefix for every key, e.g. the app's name | none |
    ///
    /// A malformed value is logged as an error and the cache is turned off (every call runs
    /// its function), rather than failing the calls.
    pub fn from_env() -> Self {
        Cache {
            inner: Arc::new(Inner {
                store: store_from_env(),
                namespace: namespace_from_env(),
                flights: Flights::default(),
            }),
        }
    }

    /// Makes this the process-wide cache. Call it at start-up, before the first cached call;
    /// once a process-wide cache exists (installed, or built from the environment by a cached
    /// call), it stays, and this returns the cache you passed back as the error.
    pub fn install(self) -> Result<(), Cache> {
        GLOBAL.set(self)
    }

    /// The process-wide cache, built from the environment ([`Cache::from_env`]) if none was
    /// installed.
    pub fn global() -> &'static Cache {
        GLOBAL.get_or_init(Cache::from_env)
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
    pub async fn scope<F: Future>(&self, future: F) -> F::Output {
        SCOPED.scope(self.clone(), future).await
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

    pub(crate) fn flights(&self) -> &Flights {
        &self.inner.flights
    }

    /// Removes one key (as built by the attribute, namespace included).
    pub async fn delete(&self, key: &str) -> Result<bool, StoreError> {
        self.inner.store.delete(key).await
    }
}

impl std::fmt::Debug for Cache {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Cache")
            .field("store", &self.store().kind())
            .field("namespace", &self.namespace())
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

/// Builds a [`Cache`]. Without a store, it takes the one [`Cache::from_env`] would.
///
/// ```
/// use cached_json_runtime::Cache;
///
/// // At start-up, before the first cached call:
/// let cache = Cache::builder()
///     .redis_url("redis://127.0.0.1:6379/0")
///     .namespace("my-app")
///     .build()
///     .expect("a valid URL");
/// // cache.install() makes it the process-wide cache.
/// # drop(cache);
/// ```
#[derive(Default)]
pub struct CacheBuilder {
    store: Option<Result<Box<dyn Store>, ConfigError>>,
    namespace: Option<String>,
}

impl CacheBuilder {
    /// Redis at `url`, with the default timeouts.
    pub fn redis_url(self, url: impl Into<String>) -> Self {
        self.redis(RedisConfig::new(url))
    }

    /// Redis, configured.
    pub fn redis(mut self, config: RedisConfig) -> Self {
        self.store = Some(RedisStore::new(config).map(|s| Box::new(s) as Box<dyn Store>));
        self
    }

    /// The in-process store, holding about `max_bytes`.
    pub fn memory(self, max_bytes: u64) -> Self {
        self.store(MemoryStore::new(max_bytes))
    }

    /// Any store.
    pub fn store(mut self, store: impl Store) -> Self {
        self.store = Some(Ok(Box::new(store)));
        self
    }

    /// Starts every key with `namespace:`, so that several apps can share one Redis.
    pub fn namespace(mut self, namespace: impl Into<String>) -> Self {
        self.namespace = Some(namespace.into()).filter(|n| !n.is_empty());
        self
    }

    /// The cache. Fails only on a malformed Redis URL; does no I/O.
    pub fn build(self) -> Result<Cache, ConfigError> {
        let store = match self.store {
            Some(store) => store?,
            None => store_from_env(),
        };
        Ok(Cache {
            inner: Arc::new(Inner {
                store,
                namespace: self.namespace.or_else(namespace_from_env),
                flights: Flights::default(),
            }),
        })
    }
}

fn namespace_from_env() -> Option<String> {
    std::env::var("CACHED_JSON_NAMESPACE")
        .ok()
        .filter(|n| !n.is_empty())
}

fn store_from_env() -> Box<dyn Store> {
    let kind = std::env::var("CACHED_JSON_STORE").unwrap_or_default();
    match kind.trim().to_ascii_lowercase().as_str() {
        "" | "redis" => {
            let url = std::env::var("REDIS_URL").unwrap_or_else(|_| DEFAULT_REDIS_URL.to_owned());
            match RedisStore::new(RedisConfig::new(url)) {
                Ok(store) => Box::new(store),
                Err(err) => {
                    tracing::error!(error = %err, "REDIS_URL is not usable: caching is off");
                    Box::new(NoStore)
                }
            }
        }
        "memory" => Box::new(MemoryStore::default()),
        "off" | "none" => Box::new(NoStore),
        other => {
            tracing::error!(
                value = other,
                "CACHED_JSON_STORE must be redis, memory or off: caching is off"
            );
            Box::new(NoStore)
        }
    }
}
