//! Configuring a [`Cache`]: in code with [`CacheBuilder`], or from the environment.

use std::path::PathBuf;
use std::sync::Arc;

use crate::cache::{Cache, Inner, DEFAULT_MAX_VALUE_BYTES};
use crate::l1::L1;

use crate::redis::{ConfigError, RedisConfig, RedisStore, RedisTls};
use crate::store::{MemoryStore, NoStore, Store};

/// The Redis URL used when `REDIS_URL` is not set.
///
/// ```
/// assert_eq!(cached_json_runtime::DEFAULT_REDIS_URL, "redis://127.0.0.1:6379/0");
/// ```
pub const DEFAULT_REDIS_URL: &str = "redis://127.0.0.1:6379/0";

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
    store: Option<Chosen>,
    /// TLS settings given to the builder: over those of the Redis configuration.
    tls: RedisTls,
    namespace: Option<String>,
    max_value_bytes: Option<usize>,
    l1_bytes: Option<u64>,
}

/// The store a builder was given.
enum Chosen {
    Redis(RedisConfig),
    Other(Box<dyn Store>),
}

impl CacheBuilder {
    /// Redis at `url`, with the default timeouts; for a `rediss://` URL, the TLS files of
    /// `CACHED_JSON_TLS_CA`, `CACHED_JSON_TLS_CERT` and `CACHED_JSON_TLS_KEY` if set. Several
    /// URLs separated by commas, or `CACHED_JSON_CLUSTER=true`, make it a Redis Cluster.
    pub fn redis_url(self, url: impl Into<String>) -> Self {
        self.redis(redis_config_with_env(url.into()))
    }

    /// A Redis Cluster, reached through these seed nodes (one is enough; give several, so that
    /// any one of them may be down when the cache starts).
    pub fn redis_cluster<I, S>(self, seed_nodes: I) -> Self
    where
        I: IntoIterator<Item = S>,
        S: Into<String>,
    {
        let urls: Vec<String> = seed_nodes.into_iter().map(Into::into).collect();
        let mut config = redis_config_with_env(urls.join(","));
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

    /// The in-process store, holding about `max_bytes`.
    pub fn memory(self, max_bytes: u64) -> Self {
        self.store(MemoryStore::new(max_bytes))
    }

    /// Any store.
    pub fn store(mut self, store: impl Store) -> Self {
        self.store = Some(Chosen::Other(Box::new(store)));
        self
    }

    /// Starts every key with `namespace:`, so that several apps can share one Redis.
    pub fn namespace(mut self, namespace: impl Into<String>) -> Self {
        self.namespace = Some(namespace.into()).filter(|n| !n.is_empty());
        self
    }

    /// Values whose JSON is longer than `bytes` are returned but not stored (one warning every
    /// 10 s): one huge value must not clog the connection every key shares. Default 4 MiB, or
    /// `CACHED_JSON_MAX_VALUE_BYTES` (e.g. `16MiB`).
    pub fn max_value_bytes(mut self, bytes: usize) -> Self {
        self.max_value_bytes = Some(bytes);
        self
    }

    /// Keeps an in-process copy (an L1) of up to about `max_bytes` of the entries read from
    /// Redis, served without a round trip: as fast as memory, and coherent across instances,
    /// since Redis reports every change of a key read (`CLIENT TRACKING`, whoever makes it) and
    /// the copy goes. A copy never outlives its entry in Redis; the L1 is flushed whenever
    /// reports may have been missed. Default: none, or `CACHED_JSON_L1` (e.g. `64MiB`).
    /// Functions opt out with `no_l1`, or shorten their copies' life with `l1_ttl = SECONDS`.
    /// On a Redis Cluster, every primary reports the changes made on it. The in-process store,
    /// which cannot report changes to other processes, gets no L1.
    pub fn l1(mut self, max_bytes: u64) -> Self {
        self.l1_bytes = Some(max_bytes);
        self
    }

    /// The cache. Fails only on a malformed Redis URL or unreadable TLS files; does no I/O.
    pub fn build(self) -> Result<Cache, ConfigError> {
        let store: Box<dyn Store> = match self.store {
            Some(Chosen::Redis(mut config)) => {
                config.tls = config.tls.overridden_by(&self.tls);
                Box::new(RedisStore::new(config)?)
            }
            Some(Chosen::Other(store)) => store,
            None => store_from_env(&self.tls),
        };
        let namespace = self.namespace.or_else(namespace_from_env);
        let l1 = l1_for(
            &*store,
            namespace.as_deref(),
            self.l1_bytes.or_else(l1_from_env),
        );
        Ok(Cache::from_inner(Inner {
            store,
            namespace,
            flights: Default::default(),
            generations: Default::default(),
            max_value_bytes: self
                .max_value_bytes
                .unwrap_or_else(max_value_bytes_from_env),
            l1,
        }))
    }

    /// [`Cache::from_env`]: never fails.
    pub(crate) fn build_from_env(self) -> Cache {
        let store = store_from_env(&self.tls);
        let namespace = namespace_from_env();
        let l1 = l1_for(&*store, namespace.as_deref(), l1_from_env());
        Cache::from_inner(Inner {
            store,
            namespace,
            flights: Default::default(),
            generations: Default::default(),
            max_value_bytes: max_value_bytes_from_env(),
            l1,
        })
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

fn l1_from_env() -> Option<u64> {
    let value = std::env::var("CACHED_JSON_L1").ok()?;
    match value.trim().to_ascii_lowercase().as_str() {
        "" | "0" | "off" | "false" | "no" => return None,
        _ => {}
    }
    let bytes = parse_size(&value);
    if bytes.is_none() {
        tracing::error!(
            value,
            "CACHED_JSON_L1 must be a size such as 64MiB (or off): no L1"
        );
    }
    bytes
}

fn max_value_bytes_from_env() -> usize {
    let Ok(value) = std::env::var("CACHED_JSON_MAX_VALUE_BYTES") else {
        return DEFAULT_MAX_VALUE_BYTES;
    };
    match parse_size(&value) {
        Some(bytes) => usize::try_from(bytes).unwrap_or(usize::MAX),
        None => {
            tracing::error!(
                value,
                "CACHED_JSON_MAX_VALUE_BYTES must be a size such as 4194304, 512KiB or 16MiB: \
                 using 4MiB"
            );
            DEFAULT_MAX_VALUE_BYTES
        }
    }
}

/// A size in bytes: `4096`, `512KiB`, `16MiB`, `1GiB` (also `KB`/`MB`/`GB`, read as powers of
/// two, and lowercase).
pub(crate) fn parse_size(text: &str) -> Option<u64> {
    let text = text.trim();
    let digits = text
        .find(|c: char| !c.is_ascii_digit())
        .unwrap_or(text.len());
    let number: u64 = text[..digits].parse().ok()?;
    let shift = match text[digits..].trim().to_ascii_lowercase().as_str() {
        "" | "b" => 0,
        "k" | "kb" | "kib" => 10,
        "m" | "mb" | "mib" => 20,
        "g" | "gb" | "gib" => 30,
        _ => return None,
    };
    number.checked_mul(1 << shift)
}

/// The configuration for `url` with what the environment says of TLS
/// (`CACHED_JSON_TLS_*`) and Cluster (`CACHED_JSON_CLUSTER`).
fn redis_config_with_env(url: String) -> RedisConfig {
    let mut config = RedisConfig::new(url);
    config.tls = RedisTls::from_env();
    config.cluster = match std::env::var("CACHED_JSON_CLUSTER") {
        Ok(value) => match value.trim().to_ascii_lowercase().as_str() {
            "1" | "true" | "yes" | "on" => true,
            "" | "0" | "false" | "no" | "off" => false,
            _ => {
                tracing::error!(
                    value,
                    "CACHED_JSON_CLUSTER must be true or false: reading it as false"
                );
                false
            }
        },
        Err(_) => false,
    };
    config
}

fn namespace_from_env() -> Option<String> {
    std::env::var("CACHED_JSON_NAMESPACE")
        .ok()
        .filter(|n| !n.is_empty())
}

fn store_from_env(tls: &RedisTls) -> Box<dyn Store> {
    let kind = std::env::var("CACHED_JSON_STORE").unwrap_or_default();
    match kind.trim().to_ascii_lowercase().as_str() {
        "" | "redis" => {
            let url = std::env::var("REDIS_URL").unwrap_or_else(|_| DEFAULT_REDIS_URL.to_owned());
            let mut config = redis_config_with_env(url);
            config.tls = config.tls.overridden_by(tls);
            match RedisStore::new(config) {
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sizes_read_with_or_without_a_unit() {
        assert_eq!(parse_size("4096"), Some(4096));
        assert_eq!(parse_size("512KiB"), Some(512 << 10));
        assert_eq!(parse_size(" 16mib "), Some(16 << 20));
        assert_eq!(parse_size("1GB"), Some(1 << 30));
        assert_eq!(parse_size("64 MiB"), Some(64 << 20));
        assert_eq!(parse_size("lots"), None);
        assert_eq!(parse_size("-1"), None);
        assert_eq!(parse_size("99999999999999999999"), None);
    }
}
