//! The Redis store: one multiplexed connection, bounded timeouts, and a circuit breaker.
//!
//! redis-rs's own reconnection makes callers wait for it (seconds, by default). Here a caller
//! never waits on a reconnect: when the connection fails the breaker opens, calls skip Redis,
//! and a background task on the store's own small runtime reconnects with backoff.
//!
//! Connections: a redis-rs multiplexed connection is driven by a task on the runtime that made
//! it. The store's own connection lives on its own thread, so it works from any runtime (one
//! per `#[tokio::test]`, one per actix worker) and outlives them; but a command sent to another
//! thread's driver costs two thread hops, which on a loaded machine is most of a hit's cost. So
//! each runtime that uses the store also gets a connection of its own, made in the background on
//! its first call (until then it uses the store's): the same arrangement as a connection a
//! handler would create by hand.

use std::cell::RefCell;
use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, RwLock, Weak};
use std::time::{Duration, Instant};

use redis::aio::MultiplexedConnection;
use redis::{AsyncConnectionConfig, Client, IntoConnectionInfo, RedisError};
use tokio::sync::Notify;

use crate::breaker::{Breaker, BreakerState};
use crate::logging::{redact_url, LogLimiter};
use crate::store::{BoxFuture, Store, StoreError};

/// How a [`RedisStore`] connects and how long it may wait.
///
/// The defaults bound every call: no cached call waits on Redis longer than `op_timeout`
/// for its read (and as long again for its write), and while Redis is known to be down,
/// calls skip it entirely.
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
#[derive(Debug, Clone)]
pub struct RedisConfig {
    /// `redis://[user:password@]host[:port][/db]`; `rediss://` needs a TLS feature of redis-rs.
    pub url: String,
    /// Longest wait for one command. Default 250 ms.
    pub op_timeout: Duration,
    /// Longest wait for a connection, handshake included. Default 250 ms.
    pub connect_timeout: Duration,
    /// Consecutive timeouts that open the breaker. A dropped connection opens it at once.
    /// Default 3.
    pub failure_threshold: u32,
    /// First delay between reconnection attempts. Default 100 ms.
    pub retry_min: Duration,
    /// Longest delay between reconnection attempts. Default 1 s, so that the cache is back in
    /// use within about a second of Redis returning.
    pub retry_max: Duration,
}

impl RedisConfig {
    /// The defaults, for `url`.
    pub fn new(url: impl Into<String>) -> Self {
        RedisConfig {
            url: url.into(),
            op_timeout: Duration::from_millis(250),
            connect_timeout: Duration::from_millis(250),
            failure_threshold: 3,
            retry_min: Duration::from_millis(100),
            retry_max: Duration::from_secs(1),
        }
    }
}

/// A [`Store`] on Redis that fails open.
///
/// Creating it does no I/O and never blocks; it connects on first use. Cloning is cheap and
/// shares the connection.
///
/// ```no_run
/// use cached_json_runtime::{RedisConfig, RedisStore, Store};
///
/// let store = RedisStore::new(RedisConfig::new("redis://127.0.0.1:6379/0"))?;
/// # Ok::<(), cached_json_runtime::ConfigError>(())
/// ```
#[derive(Clone)]
pub struct RedisStore {
    shared: Arc<Shared>,
}

struct Shared {
    /// Unique in the process: tells this store's thread-local slot entries from another's.
    id: u64,
    client: Client,
    config: RedisConfig,
    /// The URL as it may be logged.
    display_url: String,
    breaker: Breaker,
    /// The store's own connection (driven on its thread) while the breaker is closed.
    connection: RwLock<Option<MultiplexedConnection>>,
    /// Connections driven on the callers' runtimes, by runtime.
    local: RwLock<HashMap<tokio::runtime::Id, LocalConnection>>,
    /// Bumped whenever the breaker opens: connections made before an outage are not used after.
    generation: AtomicU64,
    /// Woken when the first connection attempt ends, for callers waiting on it.
    first_attempt_done: Notify,
    started: std::sync::Once,
    background: Background,
    op_errors: LogLimiter,
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

impl RedisStore {
    /// A store for `config`. Fails only on a malformed URL.
    pub fn new(config: RedisConfig) -> Result<Self, ConfigError> {
        let display_url = redact_url(&config.url);
        let info = config.url.as_str().into_connection_info().map_err(|err| {
            ConfigError(format!("invalid Redis URL {display_url}: {:?}", err.kind()))
        })?;
        let client = Client::open(info)
            .map_err(|err| ConfigError(format!("invalid Redis URL {display_url}: {err}")))?;
        Ok(RedisStore {
            shared: Arc::new(Shared {
                id: NEXT_STORE_ID.fetch_add(1, Ordering::Relaxed),
                client,
                breaker: Breaker::new(config.failure_threshold),
                config,
                display_url,
                connection: RwLock::new(None),
                local: RwLock::new(HashMap::new()),
                generation: AtomicU64::new(0),
                first_attempt_done: Notify::new(),
                started: std::sync::Once::new(),
                background: Background::start().map_err(|err| {
                    ConfigError(format!("cannot start the cached-json-redis thread: {err}"))
                })?,
                op_errors: LogLimiter::new(Duration::from_secs(10)),
            }),
        })
    }

    /// The URL, password redacted.
    pub fn display_url(&self) -> &str {
        &self.shared.display_url
    }

    /// The live connection, waiting for the first connection attempt (bounded by
    /// `connect_timeout`), never for a reconnection.
    async fn connection(&self) -> Result<MultiplexedConnection, StoreError> {
        let shared = &self.shared;
        shared.started.call_once(|| {
            let weak = Arc::downgrade(shared);
            shared.background.spawn(connect_loop(weak, true));
        });
        match shared.breaker.state() {
            BreakerState::Closed => {}
            BreakerState::Open => return Err(StoreError::Unavailable),
            BreakerState::Connecting => {
                let attempt_done = shared.first_attempt_done.notified();
                tokio::pin!(attempt_done);
                attempt_done.as_mut().enable();
                if shared.breaker.state() == BreakerState::Connecting {
                    // The connect loop has its own timeout; this one only guards against a
                    // runtime that cannot run the loop at all.
                    let wait = shared.config.connect_timeout + Duration::from_millis(50);
                    if tokio::time::timeout(wait, attempt_done).await.is_err() {
                        return Err(StoreError::Unavailable);
                    }
                }
            }
        }
        if let Some(connection) = self.local_connection() {
            return Ok(connection);
        }
        let guard = shared.connection.read().unwrap_or_else(|e| e.into_inner());
        guard.clone().ok_or(StoreError::Unavailable)
    }

    /// This runtime's own connection if it is ready; if there is none, starts making one in
    /// the background (the caller uses the store's connection meanwhile).
    fn local_connection(&self) -> Option<MultiplexedConnection> {
        let runtime = tokio::runtime::Handle::try_current().ok()?;
        let id = runtime.id();
        let shared = &self.shared;
        let generation = shared.generation.load(Ordering::Acquire);
        // The thread's slot first: no lock, no shared cache line written.
        let cached = THREAD_CONNECTION.with(|slot| {
            slot.borrow()
                .as_ref()
                .filter(|c| c.store == shared.id && c.runtime == id && c.generation == generation)
                .map(|c| c.connection.clone())
        });
        if cached.is_some() {
            return cached;
        }
        {
            let local = shared.local.read().unwrap_or_else(|e| e.into_inner());
            match local.get(&id) {
                Some(LocalConnection::Ready(connection)) => {
                    let connection = connection.clone();
                    THREAD_CONNECTION.with(|slot| {
                        *slot.borrow_mut() = Some(ThreadConnection {
                            store: shared.id,
                            runtime: id,
                            generation,
                            connection: connection.clone(),
                        });
                    });
                    return Some(connection);
                }
                Some(LocalConnection::Connecting) => return None,
                Some(LocalConnection::Failed(at)) if at.elapsed() < LOCAL_RETRY => return None,
                Some(LocalConnection::Failed(_)) | None => {}
            }
        }
        let mut local = shared.local.write().unwrap_or_else(|e| e.into_inner());
        match local.get(&id) {
            Some(LocalConnection::Failed(at)) if at.elapsed() >= LOCAL_RETRY => {}
            Some(_) => return None,
            None => {}
        }
        // Runtimes come and go (tests, worker restarts): never keep more than a few.
        if local.len() >= MAX_LOCAL_CONNECTIONS {
            local.clear();
        }
        local.insert(id, LocalConnection::Connecting);
        drop(local);
        let store = Arc::downgrade(shared);
        runtime.spawn(async move {
            let Some(shared) = store.upgrade() else {
                return;
            };
            let made = connect(&shared).await.ok();
            let mut local = shared.local.write().unwrap_or_else(|e| e.into_inner());
            let current = shared.generation.load(Ordering::Acquire) == generation;
            match made {
                Some(connection) if current => {
                    local.insert(id, LocalConnection::Ready(connection));
                }
                // Refused (e.g. `maxclients` reached) while the store's own connection works:
                // callers keep using that one, and this runtime tries again after a pause
                // rather than on every call.
                None if current => {
                    local.insert(id, LocalConnection::Failed(Instant::now()));
                }
                // An outage began meanwhile: the next call after it starts afresh.
                _ => {
                    local.remove(&id);
                }
            }
        });
        None
    }

    /// Runs one command with the timeout, feeding the outcome to the breaker.
    async fn run<T: redis::FromRedisValue>(&self, cmd: redis::Cmd) -> Result<T, StoreError> {
        if tokio::runtime::Handle::try_current().is_err() {
            // No Tokio runtime to time the call with: skip the cache rather than panic.
            return Err(StoreError::Unavailable);
        }
        let mut connection = self.connection().await?;
        let shared = &self.shared;
        match tokio::time::timeout(
            shared.config.op_timeout,
            cmd.query_async::<T>(&mut connection),
        )
        .await
        {
            Ok(Ok(value)) => {
                shared.breaker.on_success();
                Ok(value)
            }
            Ok(Err(err)) if is_connection_failure(&err) => {
                self.failed(true, &err.to_string());
                Err(StoreError::Connection(err.to_string()))
            }
            Ok(Err(err)) => {
                // Redis answered: the connection is fine, the command was refused (OOM,
                // WRONGTYPE, NOPERM...). Nothing for the breaker.
                if let Some(held_back) = shared.op_errors.allow() {
                    tracing::warn!(url = %shared.display_url, error = %err, held_back,
                        "redis refused a cache command");
                }
                Err(StoreError::Reply(err.to_string()))
            }
            Err(_) => {
                self.failed(false, "timed out");
                Err(StoreError::Timeout)
            }
        }
    }

    fn failed(&self, hard: bool, error: &str) {
        let shared = &self.shared;
        if shared.breaker.on_failure(hard) {
            shared.generation.fetch_add(1, Ordering::AcqRel);
            *shared.connection.write().unwrap_or_else(|e| e.into_inner()) = None;
            shared
                .local
                .write()
                .unwrap_or_else(|e| e.into_inner())
                .clear();
            tracing::warn!(url = %shared.display_url, error,
                "redis unavailable: bypassing the cache until it is back");
            shared
                .background
                .spawn(connect_loop(Arc::downgrade(shared), false));
        } else if let Some(held_back) = shared.op_errors.allow() {
            tracing::warn!(url = %shared.display_url, error, held_back, "redis command failed");
        }
    }
}

/// A connection driven on a caller's runtime.
enum LocalConnection {
    /// Being made in the background.
    Connecting,
    Ready(MultiplexedConnection),
    /// The last attempt failed at that time.
    Failed(Instant),
}

const MAX_LOCAL_CONNECTIONS: usize = 64;
/// How long a runtime whose own connection failed uses the store's before trying again.
const LOCAL_RETRY: Duration = Duration::from_secs(1);

static NEXT_STORE_ID: AtomicU64 = AtomicU64::new(0);

/// A thread's copy of its runtime's connection, valid while store, runtime and generation match.
struct ThreadConnection {
    store: u64,
    runtime: tokio::runtime::Id,
    generation: u64,
    connection: MultiplexedConnection,
}

thread_local! {
    static THREAD_CONNECTION: RefCell<Option<ThreadConnection>> = const { RefCell::new(None) };
}

fn is_connection_failure(err: &RedisError) -> bool {
    err.is_io_error() || err.is_connection_dropped() || err.is_unrecoverable_error()
}

/// Connects, then keeps trying with capped exponential backoff until it succeeds or the store
/// is dropped. `first`: the store's first connection, which callers may be waiting for.
async fn connect_loop(store: Weak<Shared>, first: bool) {
    let down_since = Instant::now();
    let mut delay = None::<Duration>;
    let mut attempts = 0u32;
    let mut last_logged = None::<Instant>;
    loop {
        if let Some(delay) = delay {
            tokio::time::sleep(delay).await;
        }
        let Some(shared) = store.upgrade() else {
            return;
        };
        attempts += 1;
        match connect(&shared).await {
            Ok(connection) => {
                *shared.connection.write().unwrap_or_else(|e| e.into_inner()) = Some(connection);
                shared.breaker.on_connected();
                shared.first_attempt_done.notify_waiters();
                if first && attempts == 1 {
                    tracing::info!(url = %shared.display_url, "redis connected");
                } else {
                    tracing::info!(url = %shared.display_url, attempts,
                        down_ms = down_since.elapsed().as_millis() as u64,
                        "redis reachable again: cache back in use");
                }
                return;
            }
            Err(err) => {
                if first && shared.breaker.on_first_connect_failed() {
                    shared.first_attempt_done.notify_waiters();
                }
                // One line at the first failure, then one every 30 s while it lasts.
                if last_logged.is_none_or(|at| at.elapsed() >= Duration::from_secs(30)) {
                    last_logged = Some(Instant::now());
                    tracing::warn!(url = %shared.display_url, error = %err, attempts,
                        "redis unreachable: running without cache, retrying in the background");
                }
                let config = &shared.config;
                delay = Some(match delay {
                    None => config.retry_min,
                    Some(d) => (d * 2).min(config.retry_max),
                });
            }
        }
    }
}

async fn connect(shared: &Shared) -> Result<MultiplexedConnection, String> {
    let timeout = shared.config.connect_timeout;
    let config = AsyncConnectionConfig::new()
        .set_connection_timeout(Some(timeout))
        // Commands are timed by `run`, which tells a timeout from a dropped connection.
        .set_response_timeout(None);
    let attempt = async {
        let mut connection = shared
            .client
            .get_multiplexed_async_connection_with_config(&config)
            .await?;
        // The handshake may succeed on a server that cannot serve (loading, paused): ask it.
        redis::cmd("PING")
            .query_async::<()>(&mut connection)
            .await?;
        Ok::<_, RedisError>(connection)
    };
    match tokio::time::timeout(timeout, attempt).await {
        Ok(Ok(connection)) => Ok(connection),
        Ok(Err(err)) => Err(err.to_string()),
        Err(_) => Err(format!("no answer within {} ms", timeout.as_millis())),
    }
}

impl Store for RedisStore {
    fn get<'a>(&'a self, key: &'a str) -> BoxFuture<'a, Result<Option<Vec<u8>>, StoreError>> {
        let mut cmd = redis::cmd("GET");
        cmd.arg(key);
        Box::pin(self.run(cmd))
    }

    fn set<'a>(
        &'a self,
        key: &'a str,
        value: &'a [u8],
        ttl: Duration,
    ) -> BoxFuture<'a, Result<(), StoreError>> {
        let mut cmd = redis::cmd("SET");
        cmd.arg(key)
            .arg(value)
            .arg("PX")
            .arg(ttl.as_millis().max(1) as u64);
        Box::pin(self.run(cmd))
    }

    fn delete<'a>(&'a self, key: &'a str) -> BoxFuture<'a, Result<bool, StoreError>> {
        let mut cmd = redis::cmd("DEL");
        cmd.arg(key);
        Box::pin(async move { self.run::<u64>(cmd).await.map(|n| n > 0) })
    }

    fn try_lock<'a>(
        &'a self,
        key: &'a str,
        token: &'a str,
        lease: Duration,
    ) -> BoxFuture<'a, Result<bool, StoreError>> {
        let mut cmd = redis::cmd("SET");
        cmd.arg(key)
            .arg(token)
            .arg("NX")
            .arg("PX")
            .arg(lease.as_millis().max(1) as u64);
        Box::pin(async move { self.run::<Option<String>>(cmd).await.map(|ok| ok.is_some()) })
    }

    fn unlock<'a>(&'a self, key: &'a str, token: &'a str) -> BoxFuture<'a, Result<(), StoreError>> {
        // Delete only our own lock: after a lease ran out, another caller may hold it.
        let mut cmd = redis::cmd("EVAL");
        cmd.arg(
            "if redis.call('get', KEYS[1]) == ARGV[1] then return redis.call('del', KEYS[1]) else return 0 end",
        )
        .arg(1)
        .arg(key)
        .arg(token);
        Box::pin(async move { self.run::<i64>(cmd).await.map(drop) })
    }

    fn kind(&self) -> &'static str {
        "redis"
    }

    fn is_available(&self) -> bool {
        self.shared.breaker.state() == BreakerState::Closed
    }

    fn known_down(&self) -> bool {
        self.shared.breaker.state() == BreakerState::Open
    }
}

/// A one-thread Tokio runtime owned by the store: it runs the connection's driver and the
/// reconnection loop, so neither depends on the caller's runtime staying alive.
struct Background {
    handle: tokio::runtime::Handle,
    /// Dropping it ends the thread (and its tasks) when the store goes away.
    _stop: tokio::sync::oneshot::Sender<()>,
}

impl Background {
    fn start() -> std::io::Result<Self> {
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()?;
        let handle = runtime.handle().clone();
        let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
        std::thread::Builder::new()
            .name("cached-json-redis".into())
            .spawn(move || {
                let _ = runtime.block_on(stopped);
            })?;
        Ok(Background {
            handle,
            _stop: stop,
        })
    }

    fn spawn(&self, task: impl std::future::Future<Output = ()> + Send + 'static) {
        self.handle.spawn(task);
    }
}
