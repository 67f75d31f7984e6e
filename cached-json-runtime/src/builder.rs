//! Configuring a [`Cache`] in code: [`CacheBuilder`] (the environment's variables are
//! [`crate::env`]'s, read only by [`CacheBuilder::from_env`]).

use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use crate::cache::{Cache, Inner, DEFAULT_MAX_VALUE_BYTES};
use crate::l1::L1;

use crate::store::redis::{ConfigError, RedisConfig, RedisStore, RedisTls};
use crate::store::{MemoryStore, NoStore, Store};

/// The Redis URL used when `REDIS_URL` is not set.
///
/// ```
/// assert_eq!(cached_json_runtime::DEFAULT_REDIS_URL, "redis://127.0.0.1:6379/0");
/// ```
pub const DEFAULT_REDIS_URL: &str = "redis://127.0.0.1:6379/0";

/// Builds a [`Cache`] in code. It reads no environment variable: start from
/// [`CacheBuilder::from_env`] to take the environment's settings and override some. Without a
/// store, Redis at [`DEFAULT_REDIS_URL`].
///
/// ```
/// use std::time::Duration;
/// use cached_json_runtime::Cache;
///
/// // At start-up, before the first cached call:
/// let cache = Cache::builder()
///     .redis_url("redis://127.0.0.1:6379/0")
///     .namespace("my-app")
///     .op_timeout(Duration::from_millis(400))
///     .build()
///     .expect("a valid URL");
/// // cache.install() makes it the process-wide cache.
/// # drop(cache);
/// ```
#[derive(Default)]
pub struct CacheBuilder {
    store: Option<Chosen>,
    /// TLS settings given to the builder: over those of the Redis configuration.
    tls: RedisTls,
    /// Timeouts given to the builder: over those of the Redis configuration.
    op_timeout: Option<Duration>,
    connect_timeout: Option<Duration>,
    retry_backoff: Option<(Duration, Duration)>,
    namespace: Option<String>,
    max_value_bytes: Option<usize>,
    l1_bytes: Option<u64>,
}

/// The store a builder was given.
enum Chosen {
    Redis(RedisConfig),
    Other(Box<dyn Store>),
    /// No caching (`CACHED_JSON_STORE=off`).
    Off,
}

/// Where a cache comes from (here, so that the cache does not depend on its builder).
impl Cache {
    /// Configures a cache in code.
    pub fn builder() -> CacheBuilder {
        CacheBuilder::default()
    }

    /// The cache the environment describes ([`CacheBuilder::from_env`] has the table of
    /// variables). `Err` for a malformed value, naming the variable: call it at start-up (and
    /// [`Cache::install`] the result) to fail there rather than run with caching off. Does no
    /// I/O.
    pub fn from_env() -> Result<Self, ConfigError> {
        CacheBuilder::from_env()?.build()
    }
}

impl CacheBuilder {
    /// Redis at `url` (`rediss://` for TLS, with the `tls` feature), with the default timeouts. Several URLs separated
    /// by commas make it a Redis Cluster, with these seed nodes.
    pub fn redis_url(self, url: impl Into<String>) -> Self {
        self.redis(RedisConfig::new(url))
    }

    /// A Redis Cluster, reached through these seed nodes (one is enough; give several, so that
    /// any one of them may be down when the cache starts).
    pub fn redis_cluster<I, S>(self, seed_nodes: I) -> Self
    where
        I: IntoIterator<Item = S>,
        S: Into<String>,
    {
        let urls: Vec<String> = seed_nodes.into_iter().map(Into::into).collect();
        let mut config = RedisConfig::new(urls.join(","));
        config.cluster = true;
        self.redis(config)
    }

    /// Redis, configured.
    pub fn redis(mut self, config: RedisConfig) -> Self {
        self.store = Some(Chosen::Redis(config));
        self
    }

    /// TLS: trust the CA in this PEM file instead of the system's roots.
    pub fn tls_ca(mut self, pem_file: impl Into<PathBuf>) -> Self {
        self.tls.ca = Some(pem_file.into());
        self
    }

    /// TLS: show this client certificate (PEM, a chain) and key (mutual TLS).
    pub fn tls_client_cert(
        mut self,
        cert_pem_file: impl Into<PathBuf>,
        key_pem_file: impl Into<PathBuf>,
    ) -> Self {
        self.tls.client_cert = Some(cert_pem_file.into());
        self.tls.client_key = Some(key_pem_file.into());
        self
    }

    /// Redis: the longest wait for one command (default 250 ms). Past it the call goes on
    /// without the cache, and calls skip Redis until a background probe finds it answering.
    pub fn op_timeout(mut self, timeout: Duration) -> Self {
        self.op_timeout = Some(timeout);
        self
    }

    /// Redis: the longest wait for a connection, handshake included (default 250 ms).
    pub fn connect_timeout(mut self, timeout: Duration) -> Self {
        self.connect_timeout = Some(timeout);
        self
    }

    /// Redis: the wait between attempts to reach it again, from `min` doubling up to `max`
    /// (default 100 ms to 1 s: the cache is back in use within about a second of Redis).
    pub fn retry_backoff(mut self, min: Duration, max: Duration) -> Self {
        self.retry_backoff = Some((min, max.max(min)));
        self
    }

    /// The in-process store, holding about `max_bytes`.
    pub fn memory(self, max_bytes: u64) -> Self {
        self.store(MemoryStore::new(max_bytes))
    }

    /// Any store.
    pub fn store(mut self, store: impl Store) -> Self {
        self.store = Some(Chosen::Other(Box::new(store)));
        self
    }

    /// No caching: every call runs its function.
    pub(crate) fn off(mut self) -> Self {
        self.store = Some(Chosen::Off);
        self
    }

    /// Starts every key with `namespace:`, so that several apps can share one Redis.
    pub fn namespace(mut self, namespace: impl Into<String>) -> Self {
        self.namespace = Some(namespace.into()).filter(|n| !n.is_empty());
        self
    }

    /// Values whose JSON is longer than `bytes` are returned but not stored (one warning every
    /// 10 s): one huge value must not clog the connection every key shares. Default 4 MiB.
    pub fn max_value_bytes(mut self, bytes: usize) -> Self {
        self.max_value_bytes = Some(bytes);
        self
    }

    /// Keeps an in-process copy (an L1) of up to about `max_bytes` of the entries read from
    /// Redis, served without a round trip: as fast as memory, and coherent across instances,
    /// since Redis reports every change of a key read (`CLIENT TRACKING`, whoever makes it) and
    /// the copy goes. A copy never outlives its entry in Redis; the L1 is flushed whenever
    /// reports may have been missed. Default: none (0 is none too). Functions opt out with
    /// `no_l1`, or shorten their copies' life with `l1_ttl = SECONDS`. On a Redis Cluster,
    /// every primary reports the changes made on it. The in-process store, which cannot report
    /// changes to other processes, gets no L1.
    pub fn l1(mut self, max_bytes: u64) -> Self {
        self.l1_bytes = Some(max_bytes);
        self
    }

    /// The cache. Fails only on a malformed Redis URL or unreadable TLS files; does no I/O.
    pub fn build(self) -> Result<Cache, ConfigError> {
        let store: Box<dyn Store> = match self.store {
            None => Box::new(RedisStore::new(overridden(
                RedisConfig::new(DEFAULT_REDIS_URL),
                &self.tls,
                self.op_timeout,
                self.connect_timeout,
                self.retry_backoff,
            ))?),
            Some(Chosen::Redis(config)) => Box::new(RedisStore::new(overridden(
                config,
                &self.tls,
                self.op_timeout,
                self.connect_timeout,
                self.retry_backoff,
            ))?),
            Some(Chosen::Other(store)) => store,
            Some(Chosen::Off) => Box::new(NoStore),
        };
        let namespace = self.namespace;
        let l1 = l1_for(&*store, namespace.as_deref(), self.l1_bytes);
        Ok(Cache::from_inner(Inner {
            namespace,
            max_value_bytes: self.max_value_bytes.unwrap_or(DEFAULT_MAX_VALUE_BYTES),
            l1,
            ..Inner::on(store)
        }))
    }
}

/// `config` with what the builder set over it.
fn overridden(
    mut config: RedisConfig,
    tls: &RedisTls,
    op_timeout: Option<Duration>,
    connect_timeout: Option<Duration>,
    retry_backoff: Option<(Duration, Duration)>,
) -> RedisConfig {
    config.tls = config.tls.overridden_by(tls);
    config.op_timeout = op_timeout.unwrap_or(config.op_timeout);
    config.connect_timeout = connect_timeout.unwrap_or(config.connect_timeout);
    if let Some((min, max)) = retry_backoff {
        (config.retry_min, config.retry_max) = (min, max);
    }
    config
}

impl std::fmt::Debug for CacheBuilder {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let mut out = f.debug_struct("CacheBuilder");
        match &self.store {
            None => out.field("store", &"redis (default URL)"),
            Some(Chosen::Redis(config)) => out.field("store", config),
            Some(Chosen::Other(store)) => out.field("store", &store.kind()),
            Some(Chosen::Off) => out.field("store", &"off"),
        };
        out.field("tls", &self.tls)
            .field("op_timeout", &self.op_timeout)
            .field("connect_timeout", &self.connect_timeout)
            .field("retry_backoff", &self.retry_backoff)
            .field("namespace", &self.namespace)
            .field("max_value_bytes", &self.max_value_bytes)
            .field("l1_bytes", &self.l1_bytes)
            .finish()
    }
}

/// An L1 of `max_bytes` in front of `store`, if asked for and the store can keep it coherent:
/// it reports the changes of the keys of `namespace` (of every key without one).
fn l1_for(store: &dyn Store, namespace: Option<&str>, max_bytes: Option<u64>) -> Option<Arc<L1>> {
    let max_bytes = max_bytes.filter(|&bytes| bytes > 0)?;
    let l1 = Arc::new(L1::new(max_bytes, namespace));
    let prefixes: Vec<String> = namespace.map(|ns| format!("{ns}:")).into_iter().collect();
    let weak = Arc::downgrade(&l1);
    let listener = Arc::new(move |event| {
        if let Some(l1) = weak.upgrade() {
            l1.heard(event);
        }
    });
    if store.track_keys(&prefixes, listener) {
        Some(l1)
    } else {
        tracing::info!(
            store = store.kind(),
            "no L1: this store cannot report changes of its keys (the L1 needs Redis)"
        );
        None
    }
}
