//! The Redis store: bounded commands, a circuit breaker, and a connection per runtime.
//!
//! This module runs commands: each with a timeout, its outcome fed to the [`breaker`] (on a
//! Cluster, first to its key's primary's, in [`shards`]). Which connection a command goes out
//! on is [`connections`]' business; finding Redis again after an outage is [`reconnect`]'s;
//! what can be configured is [`config`]'s.

mod breaker;
mod cluster;
mod commands;
mod config;
mod connections;
mod events;
mod link;
mod reconnect;
#[cfg(feature = "sentinel")]
mod sentinel;
mod server;
mod tls;
mod tracking;

use std::sync::Arc;
use std::time::{Duration, Instant};

use redis::RedisError;
use tokio::sync::Notify;

use self::breaker::{Breaker, BreakerState, Trip};
use self::cluster::shards::{self, Gate, Shard, Shards};
use self::connections::{Connections, Picked};
use self::link::{Backend, Opened};
use self::reconnect::{connect_loop, probe, Background};
use self::server::Server;
use crate::instruments::{self, Command, ErrorKind};
use crate::logging::{scrub, LogLimiter};
use crate::store::{KeyListener, StoreError};

use self::commands::Request;

pub use self::config::{ConfigError, RedisConfig};
pub(crate) use self::tls::RedisTls;

/// A [`Store`](crate::store::Store) on Redis that fails open.
///
/// Creating it does no I/O and never blocks; it connects on first use. Cloning is cheap and
/// shares the connection.
///
/// ```no_run
/// use cached_json_runtime::store::RedisStore;
/// use cached_json_runtime::RedisConfig;
///
/// let store = RedisStore::new(RedisConfig::new("redis://127.0.0.1:6379/0"))?;
/// # Ok::<(), cached_json_runtime::ConfigError>(())
/// ```
#[derive(Clone)]
pub struct RedisStore {
    shared: Arc<Shared>,
}

/// What the store's clones, its background tasks and its connections share.
struct Shared {
    /// What the store connects to: what its background tasks get (not the whole store).
    server: Arc<Server>,
    breaker: Breaker,
    /// On a Cluster: which primary serves a key, and which are down (a breaker per primary).
    shards: Shards,
    connections: Connections,
    /// Woken when the first connection attempt ends, for callers waiting on it.
    first_attempt_done: Notify,
    started: std::sync::Once,
    background: Background,
    /// Refused commands: one warning per 10 s.
    op_errors: LogLimiter,
    /// `MOVED` from a server configured as one: the hint to configure a Cluster, once a minute.
    not_a_cluster: LogLimiter,
    /// Tells the tracking connection to start over: Redis was lost, reports may be missed.
    tracking_reset: Arc<Notify>,
    /// What to track and whom to tell ([`Store::track_keys`]), started with the first
    /// connection.
    tracked: std::sync::OnceLock<(Vec<String>, KeyListener)>,
}

impl RedisStore {
    /// A store for `config`. Fails only on a malformed URL or unreadable TLS files.
    pub fn new(config: RedisConfig) -> Result<Self, ConfigError> {
        let Opened {
            backend,
            display_url,
            secrets,
        } = Backend::open(&config)?;
        Ok(RedisStore {
            shared: Arc::new(Shared {
                breaker: Breaker::new(display_url.clone()),
                shards: Shards::new(),
                server: Arc::new(Server {
                    backend,
                    config,
                    display_url,
                    secrets,
                }),
                connections: Connections::new(),
                first_attempt_done: Notify::new(),
                started: std::sync::Once::new(),
                background: Background::start().map_err(|err| {
                    ConfigError(format!("cannot start the cached-json-redis thread: {err}"))
                })?,
                op_errors: LogLimiter::new(Duration::from_secs(10)),
                not_a_cluster: LogLimiter::new(Duration::from_secs(60)),
                tracking_reset: Arc::new(Notify::new()),
                tracked: std::sync::OnceLock::new(),
            }),
        })
    }

    /// The URL, password redacted.
    pub fn display_url(&self) -> &str {
        &self.shared.server.display_url
    }

    /// The connection to send a command on, waiting for the first connection attempt (bounded
    /// by its budget, `connect_timeout` on one server), never for a reconnection.
    async fn connection(
        &self,
        runtime: Option<&tokio::runtime::Handle>,
    ) -> Result<Picked, StoreError> {
        let shared = &self.shared;
        shared.started.call_once(|| {
            let weak = Arc::downgrade(shared);
            shared.background.spawn(connect_loop(weak, true));
            if let Some((prefixes, listener)) = shared.tracked.get() {
                shared.background.spawn(tracking::track(
                    Arc::downgrade(&shared.server),
                    shared.tracking_reset.clone(),
                    prefixes.clone(),
                    listener.clone(),
                ));
            }
        });
        match shared.breaker.state() {
            BreakerState::Closed => {}
            BreakerState::Open | BreakerState::Suspect => return Err(StoreError::Unavailable),
            BreakerState::Connecting => {
                let attempt_done = shared.first_attempt_done.notified();
                tokio::pin!(attempt_done);
                attempt_done.as_mut().enable();
                if shared.breaker.state() == BreakerState::Connecting {
                    // The connect loop has its own timeout; this one only guards against a
                    // runtime that cannot run the loop at all.
                    let wait = shared.server.connect_budget() + Duration::from_millis(50);
                    if crate::timer::timeout(wait, attempt_done).await.is_err() {
                        return Err(StoreError::Unavailable);
                    }
                }
            }
        }
        shared
            .connections
            .pick(&shared.server, runtime)
            .ok_or(StoreError::Unavailable)
    }

    /// Sends `request` (a command, or a pipeline: several in one round trip) on `key` (for
    /// `PUBLISH`, the channel: a Cluster routes it by the channel's slot; `None`: a command on
    /// no key) with the timeout, feeding the outcome to the breaker.
    async fn run<T: redis::FromRedisValue>(
        &self,
        command: Command,
        key: Option<&str>,
        request: impl Into<Request>,
    ) -> Result<T, StoreError> {
        let request = request.into();
        // Looked up once: which connection, and which timer, depend on it.
        let runtime = tokio::runtime::Handle::try_current().ok();
        let mut picked = self.connection(runtime.as_ref()).await?;
        let shard = self.shard(key)?;
        let started = Instant::now();
        let connection = &mut picked.connection;
        let sent = async {
            match &request {
                Request::One(cmd) => cmd.query_async::<T>(connection).await,
                Request::Pipeline(pipe) => pipe.query_async::<T>(connection).await,
            }
        };
        let timeout = self.shared.server.config.op_timeout;
        let answer = crate::timer::timeout_on(runtime.as_ref(), timeout, sent).await;
        instruments::store_command(command, started.elapsed());
        self.answered(&picked, shard.as_ref().zip(key), answer)
    }

    /// On a Cluster, the primary that serves `key`, if known; `Unavailable` if it is down (its
    /// keys skip Redis, the others' do not).
    fn shard(&self, key: Option<&str>) -> Result<Option<Arc<Shard>>, StoreError> {
        let Some(key) = key.filter(|_| self.shared.server.backend.is_cluster()) else {
            return Ok(None);
        };
        match self.shared.shards.gate(key) {
            Gate::Unmapped => Ok(None),
            Gate::Up(shard) => Ok(Some(shard)),
            Gate::Down => Err(StoreError::Unavailable),
        }
    }

    /// What a command's answer (or its absence) means, fed to the breaker.
    fn answered<T>(
        &self,
        picked: &Picked,
        shard: Option<(&Arc<Shard>, &str)>,
        answer: Result<redis::RedisResult<T>, tokio::time::error::Elapsed>,
    ) -> Result<T, StoreError> {
        let shared = &self.shared;
        match answer {
            Ok(Ok(value)) => Ok(value),
            Ok(Err(err)) if is_connection_failure(&err) => {
                instruments::store_error(ErrorKind::Connection);
                let err = scrub(&err.to_string(), &shared.server.secrets);
                self.failed(picked, shard, false, &err);
                Err(StoreError::Connection(err))
            }
            Ok(Err(err)) => {
                // Redis answered: the connection is fine, the command was refused (OOM,
                // WRONGTYPE, NOPERM...). Nothing for the breaker: a full Redis keeps serving
                // reads, and its hits keep hitting.
                instruments::store_error(ErrorKind::of_reply(err.code()));
                if err.redirect_node().is_some() && !shared.server.backend.is_cluster() {
                    // A node of a Cluster, configured as one server: say what to change.
                    if shared.not_a_cluster.allow().is_some() {
                        tracing::error!(url = %shared.server.display_url,
                            "redis answered MOVED: this is a Redis Cluster node; set \
                             CACHED_JSON_CLUSTER=true (or use CacheBuilder::redis_cluster) \
                             to cache on every shard");
                    }
                }
                let err = scrub(&err.to_string(), &shared.server.secrets);
                if let Some(held_back) = shared.op_errors.allow() {
                    tracing::warn!(url = %shared.server.display_url, error = %err, held_back,
                        "redis refused a cache command");
                }
                Err(StoreError::Reply(err))
            }
            Err(_) => {
                instruments::store_error(ErrorKind::Timeout);
                self.failed(picked, shard, true, "timed out");
                Err(StoreError::Timeout)
            }
        }
    }

    /// Records a command that failed on `picked`. On a Cluster, with its key's primary known,
    /// that primary alone is down (its keys skip Redis) and probed, unless every primary is
    /// down now. Otherwise: a runtime's own connection that failed is forgotten (the runtime
    /// makes a new one); a timeout, on any connection, makes Redis suspect and starts one
    /// probe; the store's own connection lost opens the breaker and starts the reconnection.
    fn failed(
        &self,
        picked: &Picked,
        shard: Option<(&Arc<Shard>, &str)>,
        timed_out: bool,
        error: &str,
    ) {
        let shared = &self.shared;
        if let Some((shard, key)) = shard {
            let (first, all_down) = shared.shards.failed(shard);
            if first {
                tracing::warn!(url = %shared.server.display_url, primary = %shard.address(), error,
                    "a Redis Cluster primary failed: bypassing the cache for its keys until it answers");
                let probe = shards::probe(Arc::downgrade(shared), shard.clone(), key.to_owned());
                shared.background.spawn(probe);
            }
            // Every primary down: the store's breaker takes over too, as for one server.
            if !all_down {
                return;
            }
        }
        let local = shared.connections.forget(picked);
        let trip = match (timed_out, local) {
            (true, _) => shared.breaker.on_timeout(),
            // One runtime's connection alone: the others, and the store's, are fine.
            (false, true) => Trip::None,
            (false, false) => shared.breaker.on_connection_lost(),
        };
        let weak = Arc::downgrade(shared);
        match trip {
            Trip::Probe => {
                tracing::warn!(url = %shared.server.display_url, error,
                    "redis did not answer in time: skipping it until a probe answers");
                shared.background.spawn(probe(weak));
            }
            Trip::Reconnect => {
                shared.connections.lost();
                shared.tracking_reset.notify_one();
                tracing::warn!(url = %shared.server.display_url, error,
                    "redis unavailable: bypassing the cache until it is back");
                shared.background.spawn(connect_loop(weak, false));
            }
            Trip::None => {
                if let Some(held_back) = shared.op_errors.allow() {
                    tracing::warn!(url = %shared.server.display_url, error, held_back,
                        local_connection = local, "redis command failed");
                }
            }
        }
    }
}

pub(super) fn is_connection_failure(err: &RedisError) -> bool {
    err.is_io_error() || err.is_connection_dropped() || err.is_unrecoverable_error()
}
