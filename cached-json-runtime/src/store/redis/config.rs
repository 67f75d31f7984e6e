//! How a [`RedisStore`](super::RedisStore) connects and how long it may wait, and the error a
//! bad configuration gives.

use std::path::PathBuf;
use std::time::Duration;

/// How a [`RedisStore`](crate::store::RedisStore) connects and how long it may wait:
/// [`RedisConfig::new`] and setters (what [`CacheBuilder`](crate::CacheBuilder)'s Redis
/// setters and [`CacheBuilder::from_env`](crate::CacheBuilder::from_env) set too).
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
/// let config = RedisConfig::new("redis://cache.internal:6379/0").op_timeout(Duration::from_millis(400));
/// let cache = Cache::builder().redis(config).namespace("shop").build().unwrap();
/// assert_eq!(cache.store().kind(), "redis");
/// ```
#[derive(Clone)]
#[non_exhaustive]
pub struct RedisConfig {
    /// Kept as given (the password included, to connect with); `Debug`, logs and errors show
    /// it redacted.
    pub(crate) url: String,
    pub(crate) cluster: bool,
    pub(crate) op_timeout: Duration,
    pub(crate) connect_timeout: Duration,
    pub(crate) retry_min: Duration,
    pub(crate) retry_max: Duration,
    pub(crate) tls: RedisTls,
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

    /// The defaults, for `url`: `redis://[user:password@]host[:port][/db]` (`rediss://` for
    /// TLS); for a Cluster, one or more seed nodes separated by commas; with the `sentinel`
    /// feature, `redis+sentinel://[user:password@]host:port[,host:port...]/<master name>[/db]`
    /// for the master Redis Sentinel names (the credentials and database are the master's;
    /// `rediss+sentinel://` for TLS).
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

impl RedisConfig {
    /// Talk to a Redis Cluster (also implied by several URLs). Default: no
    /// (`CACHED_JSON_CLUSTER`).
    pub fn cluster(mut self, cluster: bool) -> Self {
        self.cluster = cluster;
        self
    }

    /// The longest wait for one command (default 250 ms). Past it the call goes on without
    /// the cache, and calls skip Redis until a background probe finds it answering
    /// (`CACHED_JSON_OP_TIMEOUT_MS`).
    pub fn op_timeout(mut self, timeout: Duration) -> Self {
        self.op_timeout = timeout;
        self
    }

    /// The longest wait for a connection, handshake included (default 250 ms). A Cluster's
    /// connection attempt, to every seed and then for the slot map, may take two
    /// `op_timeout`s more (`CACHED_JSON_CONNECT_TIMEOUT_MS`).
    pub fn connect_timeout(mut self, timeout: Duration) -> Self {
        self.connect_timeout = timeout;
        self
    }

    /// The wait between attempts to reach Redis again, from `min` doubling up to `max`
    /// (default 100 ms to 1 s, so that the cache is back in use within about a second of
    /// Redis returning; `CACHED_JSON_RETRY_MIN_MS`, `CACHED_JSON_RETRY_MAX_MS`).
    pub fn retry_backoff(mut self, min: Duration, max: Duration) -> Self {
        self.retry_min = min;
        self.retry_max = max.max(min);
        self
    }

    /// For `rediss://` URLs: trust the CA in this PEM file instead of the system's roots
    /// (`CACHED_JSON_TLS_CA`).
    pub fn tls_ca(mut self, pem_file: impl Into<std::path::PathBuf>) -> Self {
        self.tls.ca = Some(pem_file.into());
        self
    }

    /// For `rediss://` URLs: show this client certificate (PEM, a chain) and its key (PKCS#8,
    /// PKCS#1 or SEC1): mutual TLS (`CACHED_JSON_TLS_CERT`, `CACHED_JSON_TLS_KEY`).
    pub fn tls_client_cert(
        mut self,
        cert_pem_file: impl Into<std::path::PathBuf>,
        key_pem_file: impl Into<std::path::PathBuf>,
    ) -> Self {
        self.tls.client_cert = Some(cert_pem_file.into());
        self.tls.client_key = Some(key_pem_file.into());
        self
    }

    /// The URL as it may be logged or shown (what `Debug`, logs and errors show): any
    /// credential replaced by `***`, the password of the user info (and a user info with no
    /// `:`, which people do write their password in) and credential query parameters (`pass`,
    /// `password`, `auth`, `token`...). A password may contain `/`, `?`, `#` or `@`, which
    /// makes the URL unparsable as such: the user info is taken to end at the *last* `@`, so
    /// that too much is hidden, never too little.
    ///
    /// ```
    /// use cached_json_runtime::RedisConfig;
    ///
    /// let redact_url = |url: &str| RedisConfig::new(url).redacted_url();
    /// assert_eq!(redact_url("redis://app:s3cret@cache:6379/0"), "redis://app:***@cache:6379/0");
    /// assert_eq!(redact_url("redis://:s3cret@cache"), "redis://:***@cache");
    /// assert_eq!(redact_url("redis://cache:6379"), "redis://cache:6379");
    /// assert_eq!(redact_url("rediss://u:pa/ss@w#rd@host:6380/1"), "rediss://u:***@host:6380/1");
    /// assert_eq!(
    ///     redact_url("redis+unix:///run/redis.sock?db=1&pass=s3cret"),
    ///     "redis+unix:///run/redis.sock?db=1&pass=***"
    /// );
    /// assert_eq!(
    ///     redact_url("redis://:pw@node-a:7000,redis://:pw@node-b:7001"),
    ///     "redis://:***@node-a:7000,redis://:***@node-b:7001"
    /// );
    /// ```
    pub fn redacted_url(&self) -> String {
        crate::logging::redact_url(&self.url)
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

/// Where a Redis store's TLS material comes from: PEM files, set through
/// [`RedisConfig`]'s and the builder's setters. Unset fields use the
/// defaults (the system's roots, no client certificate).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub(crate) struct RedisTls {
    /// A private CA that replaces the system's roots (`CACHED_JSON_TLS_CA`).
    pub(crate) ca: Option<PathBuf>,
    /// A client certificate (chain), for mutual TLS (`CACHED_JSON_TLS_CERT`).
    pub(crate) client_cert: Option<PathBuf>,
    /// Its private key: PKCS#8, PKCS#1 or SEC1 (`CACHED_JSON_TLS_KEY`).
    pub(crate) client_key: Option<PathBuf>,
}

impl RedisTls {
    /// From `CACHED_JSON_TLS_CA`, `CACHED_JSON_TLS_CERT` and `CACHED_JSON_TLS_KEY`, read
    /// through `var`.
    pub(crate) fn from_env_with(var: &dyn Fn(&str) -> Option<String>) -> Self {
        let path = |name: &str| {
            var(name)
                .filter(|value| !value.is_empty())
                .map(PathBuf::from)
        };
        RedisTls {
            ca: path("CACHED_JSON_TLS_CA"),
            client_cert: path("CACHED_JSON_TLS_CERT"),
            client_key: path("CACHED_JSON_TLS_KEY"),
        }
    }

    /// Whether nothing is set.
    pub(crate) fn is_default(&self) -> bool {
        *self == RedisTls::default()
    }

    /// These settings, each field of `overrides` that is set taking precedence.
    pub(crate) fn overridden_by(self, overrides: &RedisTls) -> RedisTls {
        RedisTls {
            ca: overrides.ca.clone().or(self.ca),
            client_cert: overrides.client_cert.clone().or(self.client_cert),
            client_key: overrides.client_key.clone().or(self.client_key),
        }
    }
}
