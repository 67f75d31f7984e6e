//! The Redis store: bounded commands, a circuit breaker, and a connection per runtime.
//!
//! This module runs commands: each with a timeout, its outcome fed to the breaker (on a
//! Cluster, first to its key's primary's: `cluster/shards.rs`). Which connection a command goes
//! out on is `connections.rs`' business; finding Redis again after an outage is
//! `reconnect.rs`'s (a Cluster primary's, `primary_probe.rs`'s); what can be configured is
//! `config.rs`'s.

use std::sync::Arc;
use std::time::{Duration, Instant};

use tokio::sync::Notify;

use super::breaker::{Breaker, BreakerState, Trip};
use super::cluster::shards::{Gate, Shard, Shards};
use super::config::{ConfigError, RedisConfig};
use super::connections::{Connections, Picked};
use super::link::{is_connection_failure, Backend, Opened};
use super::reach::Reach;
use super::reconnect::{connect_loop, probe, Background};
use super::server::Server;
use crate::instruments::{self, Command, ErrorKind};
use crate::logging::{scrub, LogLimiter};
use crate::store::{KeyListener, StoreError};

/// What [`RedisStore::run`] sends: one command, or a pipeline (several in one round trip).
pub(super) enum Request {
    One(redis::Cmd),
    Pipeline(redis::Pipeline),
}

impl From<redis::Cmd> for Request {
    fn from(cmd: redis::Cmd) -> Self {
        Request::One(cmd)
    }
}

impl From<redis::Pipeline> for Request {
    fn from(pipe: redis::Pipeline) -> Self {
        Request::Pipeline(pipe)
    }
}

/// `name key`, built with room for both at once: on the hit path, the growing a command's
/// buffers does by default was a sizeable share of its cost.
pub(super) fn key_command(name: &str, key: &str) -> redis::Cmd {
    let mut cmd = redis::Cmd::with_capacity(2, name.len() + key.len());
    cmd.arg(name).arg(key);
    cmd
}

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
    pub(super) shared: Arc<Shared>,
}

/// What the store's clones share.
pub(super) struct Shared {
    /// How Redis is reached: what the reconnection and the probes get (not the whole store).
    pub(super) reach: Arc<Reach>,
    pub(super) started: std::sync::Once,
    pub(super) background: Background,
    /// Refused commands: one warning per 10 s.
    pub(super) op_errors: LogLimiter,
    /// `MOVED` from a server configured as one: the hint to configure a Cluster, once a minute.
    pub(super) not_a_cluster: LogLimiter,
    /// What to track and whom to tell ([`Store::track_keys`]), started with the first
    /// connection.
    pub(super) tracked: std::sync::OnceLock<(Vec<String>, KeyListener)>,
}

impl RedisStore {
    /// A store for `config`. Fails only on a malformed URL or unreadable TLS files.
    pub fn new(config: RedisConfig) -> Result<Self, ConfigError> {
        let Opened {
            backend,
            display_url,
            secrets,
            tls,
        } = Backend::open(&config)?;
        Ok(RedisStore {
            shared: Arc::new(Shared {
                reach: Arc::new(Reach {
                    breaker: Breaker::new(display_url.clone()),
                    shards: Shards::new(),
                    server: Arc::new(Server {
                        backend,
                        config,
                        display_url,
                        secrets,
                        tls,
                    }),
                    connections: Connections::new(),
                    first_attempt_done: Notify::new(),
                    tracking_reset: Arc::new(Notify::new()),
                }),
                started: std::sync::Once::new(),
                background: Background::start().map_err(|err| {
                    ConfigError(format!("cannot start the cached-json-redis thread: {err}"))
                })?,
                op_errors: LogLimiter::new(Duration::from_secs(10)),
                not_a_cluster: LogLimiter::new(Duration::from_secs(60)),
                tracked: std::sync::OnceLock::new(),
            }),
        })
    }

    /// The URL, password redacted.
    pub fn display_url(&self) -> &str {
        &self.shared.reach.server.display_url
    }

    /// The connection to send a command on, waiting for the first connection attempt (bounded
    /// by its budget, `connect_timeout` on one server), never for a reconnection.
    async fn connection(
        &self,
        runtime: Option<&tokio::runtime::Handle>,
    ) -> Result<Picked, StoreError> {
        let shared = &self.shared;
        shared.started.call_once(|| {
            let weak = Arc::downgrade(&shared.reach);
            shared.background.spawn(connect_loop(weak, true));
            if let Some((prefixes, listener)) = shared.tracked.get() {
                shared.background.spawn(super::tracking::track(
                    Arc::downgrade(&shared.reach.server),
                    shared.reach.tracking_reset.clone(),
                    prefixes.clone(),
                    listener.clone(),
                ));
            }
        });
        match shared.reach.breaker.state() {
            BreakerState::Closed => {}
            BreakerState::Open | BreakerState::Suspect => return Err(StoreError::Unavailable),
            BreakerState::Connecting => {
                let attempt_done = shared.reach.first_attempt_done.notified();
                tokio::pin!(attempt_done);
                attempt_done.as_mut().enable();
                if shared.reach.breaker.state() == BreakerState::Connecting {
                    // The connect loop has its own timeout; this one only guards against a
                    // runtime that cannot run the loop at all.
                    let wait = shared.reach.server.connect_budget() + Duration::from_millis(50);
                    if crate::timer::timeout(wait, attempt_done).await.is_err() {
                        return Err(StoreError::Unavailable);
                    }
                }
            }
        }
        shared
            .reach
            .connections
            .pick(&shared.reach.server, runtime)
            .ok_or(StoreError::Unavailable)
    }

    /// Sends `request` (a command, or a pipeline: several in one round trip) on `key` (for
    /// `PUBLISH`, the channel: a Cluster routes it by the channel's slot; `None`: a command on
    /// no key) with the timeout, feeding the outcome to the breaker.
    pub(super) async fn run<T: redis::FromRedisValue>(
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
        let timeout = self.shared.reach.server.config.op_timeout;
        let answer = crate::timer::timeout_on(runtime.as_ref(), timeout, sent).await;
        instruments::store_command(command, started.elapsed());
        self.answered(&picked, shard.as_ref().zip(key), answer)
    }

    /// On a Cluster, the primary that serves `key`, if known; `Unavailable` if it is down (its
    /// keys skip Redis, the others' do not).
    fn shard(&self, key: Option<&str>) -> Result<Option<Arc<Shard>>, StoreError> {
        let Some(key) = key.filter(|_| self.shared.reach.server.backend.is_cluster()) else {
            return Ok(None);
        };
        match self.shared.reach.shards.gate(key) {
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
                let err = scrub(&err.to_string(), &shared.reach.server.secrets);
                self.failed(picked, shard, false, &err);
                Err(StoreError::Connection(err))
            }
            Ok(Err(err)) => {
                // Redis answered: the connection is fine, the command was refused (OOM,
                // WRONGTYPE, NOPERM...). Nothing for the breaker: a full Redis keeps serving
                // reads, and its hits keep hitting.
                instruments::store_error(ErrorKind::of_reply(err.code()));
                if err.redirect_node().is_some() && !shared.reach.server.backend.is_cluster() {
                    // A node of a Cluster, configured as one server: say what to change.
                    if shared.not_a_cluster.allow().is_some() {
                        tracing::error!(url = %shared.reach.server.display_url,
                            "redis answered MOVED: this is a Redis Cluster node; set \
                             CACHED_JSON_CLUSTER=true (or use CacheBuilder::redis_cluster) \
                             to cache on every shard");
                    }
                }
                let err = scrub(&err.to_string(), &shared.reach.server.secrets);
                if let Some(held_back) = shared.op_errors.allow() {
                    tracing::warn!(url = %shared.reach.server.display_url, error = %err, held_back,
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
            let (first, all_down) = shared.reach.shards.failed(shard);
            if first {
                tracing::warn!(url = %shared.reach.server.display_url, primary = %shard.address(), error,
                    "a Redis Cluster primary failed: bypassing the cache for its keys until it answers");
                let probe = super::primary_probe::probe(
                    Arc::downgrade(&shared.reach),
                    shard.clone(),
                    key.to_owned(),
                );
                shared.background.spawn(probe);
            }
            // Every primary down: the store's breaker takes over too, as for one server.
            if !all_down {
                return;
            }
        }
        let local = shared.reach.connections.forget(picked);
        let trip = match (timed_out, local) {
            (true, _) => shared.reach.breaker.on_timeout(),
            // One runtime's connection alone: the others, and the store's, are fine.
            (false, true) => Trip::None,
            (false, false) => shared.reach.breaker.on_connection_lost(),
        };
        let weak = Arc::downgrade(&shared.reach);
        match trip {
            Trip::Probe => {
                tracing::warn!(url = %shared.reach.server.display_url, error,
                    "redis did not answer in time: skipping it until a probe answers");
                shared.background.spawn(probe(weak));
            }
            Trip::Reconnect => {
                shared.reach.connections.lost();
                shared.reach.tracking_reset.notify_one();
                tracing::warn!(url = %shared.reach.server.display_url, error,
                    "redis unavailable: bypassing the cache until it is back");
                shared.background.spawn(connect_loop(weak, false));
            }
            Trip::None => {
                if let Some(held_back) = shared.op_errors.allow() {
                    tracing::warn!(url = %shared.reach.server.display_url, error, held_back,
                        local_connection = local, "redis command failed");
                }
            }
        }
    }
}
