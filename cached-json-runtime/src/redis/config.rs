//! How a [`RedisStore`](super::RedisStore) connects and how long it may wait, and the error a
//! bad configuration gives.

use std::time::Duration;

use super::RedisTls;

/// How a [`RedisStore`](crate::store::RedisStore) connects and how long it may wait.
///
/// The defaults bound every call: no cached call waits on Redis longer than `op_timeout` for
/// its read (and as long again for its write), and once one command has timed out, calls skip
/// Redis until a probe finds it answering again.
///
/// ```
/// use std::time::Duration;
/// use cached_json_runtime::{Cache, RedisConfig};
///
/// // A Redis in another zone: more room per command, the rest as is. Builds without I/O.
/// let mut config = RedisConfig::new("redis://cache.internal:6379/0");
/// config.op_timeout = Duration::from_millis(400);
/// let cache = Cache::builder().redis(config).namespace("shop").build().unwrap();
/// assert_eq!(cache.store().kind(), "redis");
/// ```
#[derive(Clone)]
pub struct RedisConfig {
    /// `redis://[user:password@]host[:port][/db]` (`rediss://` for TLS); for a Cluster, one or
    /// more seed nodes separated by commas. Kept as given (the password included, to connect
    /// with); [`Debug`](std::fmt::Debug), logs and errors show it redacted.
    pub url: String,
    /// Talk to a Redis Cluster (also implied by several URLs). Default `false`
    /// ([`CacheBuilder::from_env`](crate::CacheBuilder::from_env) reads `CACHED_JSON_CLUSTER`).
    pub cluster: bool,
    /// Longest wait for one command. Default 250 ms.
    pub op_timeout: Duration,
    /// Longest wait for a connection, handshake included. Default 250 ms. (A Cluster's
    /// connection attempt, to every seed and then for the slot map, may take two `op_timeout`s
    /// more.)
    pub connect_timeout: Duration,
    /// First delay between reconnection attempts. Default 100 ms.
    pub retry_min: Duration,
    /// Longest delay between reconnection attempts. Default 1 s, so that the cache is back in
    /// use within about a second of Redis returning.
    pub retry_max: Duration,
    /// For `rediss://` URLs: a private CA, a client certificate. Default: the system's roots,
    /// no client certificate ([`CacheBuilder::from_env`](crate::CacheBuilder::from_env) reads
    /// `CACHED_JSON_TLS_*`).
    pub tls: RedisTls,
}

/// The waits between attempts to reach Redis again: `retry_min`, doubling up to `retry_max`.
/// (The reconnection, the invalidation subscription and the L1's tracking connection all
/// retry this way.)
#[derive(Clone, Copy)]
pub(super) struct Backoff {
    min: Duration,
    max: Duration,
}

impl Backoff {
    /// The wait after a failed attempt, `previous` being the wait before it (none at first).
    pub(super) fn after(self, previous: Option<Duration>) -> Duration {
        match previous {
            None => self.min,
            Some(previous) => (previous * 2).min(self.max),
        }
    }
}

impl RedisConfig {
    /// How attempts to reach Redis again are spaced.
    pub(super) fn backoff(&self) -> Backoff {
        Backoff {
            min: self.retry_min,
            max: self.retry_max,
        }
    }

    /// The defaults, for `url`.
    pub fn new(url: impl Into<String>) -> Self {
        RedisConfig {
            url: url.into(),
            cluster: false,
            op_timeout: Duration::from_millis(250),
            connect_timeout: Duration::from_millis(250),
            retry_min: Duration::from_millis(100),
            retry_max: Duration::from_secs(1),
            tls: RedisTls::default(),
        }
    }
}

impl std::fmt::Debug for RedisConfig {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RedisConfig")
            .field("url", &crate::logging::redact_url(&self.url))
            .field("cluster", &self.cluster)
            .field("op_timeout", &self.op_timeout)
            .field("connect_timeout", &self.connect_timeout)
            .field("retry_min", &self.retry_min)
            .field("retry_max", &self.retry_max)
            .field("tls", &self.tls)
            .finish()
    }
}

/// An error in the store's configuration, found when it is built. Its message never shows
/// the URL's password.
///
/// ```
/// use cached_json_runtime::Cache;
///
/// let err = Cache::builder().redis_url("redis://:secret@host:notaport").build().unwrap_err();
/// assert!(err.to_string().starts_with("invalid Redis URL"));
/// assert!(!err.to_string().contains("secret"));
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ConfigError(pub(crate) String);

impl std::fmt::Display for ConfigError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for ConfigError {}
