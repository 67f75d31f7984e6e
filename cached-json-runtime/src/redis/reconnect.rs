//! Finding Redis again: the store's own small runtime, the probe that checks a suspect Redis,
//! and the loop that reconnects with backoff while callers skip the cache.
//!
//! redis-rs's own reconnection makes callers wait for it (seconds, by default). Here a caller
//! never waits on a reconnect: the breaker is open meanwhile, and this loop alone dials Redis.

use std::sync::{Arc, Weak};
use std::time::{Duration, Instant};

use redis::{AsyncConnectionConfig, RedisError};

use super::breaker::Trip;
use super::link::{Backend, Link};
use super::Shared;

/// A one-thread Tokio runtime owned by the store: it runs the store's connection driver and the
/// reconnection loop, so neither depends on a caller's runtime staying alive.
pub(super) struct Background {
    handle: tokio::runtime::Handle,
    /// Dropping it ends the thread (and its tasks) when the store goes away.
    _stop: tokio::sync::oneshot::Sender<()>,
}

impl Background {
    pub(super) fn start() -> std::io::Result<Self> {
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

    pub(super) fn spawn(&self, task: impl std::future::Future<Output = ()> + Send + 'static) {
        self.handle.spawn(task);
    }
}

/// Connects, then keeps trying with capped exponential backoff until it succeeds or the store
/// is dropped. `first`: the store's first connection, which callers may be waiting for.
pub(super) async fn connect_loop(store: Weak<Shared>, first: bool) {
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
        match connect(&shared, "cached-json").await {
            Ok(connection) => {
                shared.connections.connected(connection);
                shared.breaker.on_connected();
                shared.first_attempt_done.notify_waiters();
                if first && attempts == 1 {
                    tracing::info!(url = %shared.display_url, "redis connected");
                } else {
                    tracing::info!(url = %shared.display_url, attempts,
                        down_ms = down_since.elapsed().as_millis() as u64,
                        "redis reachable again: cache back in use");
                }
                // A Cluster's primaries as they are now, each up until it fails.
                if shared.backend.is_cluster() {
                    shared.shards.reset();
                    if !super::shards::read_map(&shared).await {
                        tracing::warn!(url = %shared.display_url,
                            "could not read the Redis Cluster's slot map (CLUSTER SLOTS, with \
                             endpoints): a failing primary will make every key bypass the cache \
                             until the store reconnects");
                    }
                }
                return;
            }
            Err(err) => {
                // One line at the first failure, then one every 30 s while it lasts; written
                // before the waiting callers go on, so that it comes before what they log.
                if last_logged.is_none_or(|at| at.elapsed() >= Duration::from_secs(30)) {
                    last_logged = Some(Instant::now());
                    tracing::warn!(url = %shared.display_url, error = %err, attempts,
                        "redis unreachable: running without cache, retrying in the background");
                }
                if first && shared.breaker.on_first_connect_failed() {
                    shared.first_attempt_done.notify_waiters();
                }
                delay = Some(shared.config.backoff().after(delay));
            }
        }
    }
}

/// Asks a suspect Redis (a command timed out) whether it still answers: a `PING` on the store's
/// connection, within one command timeout. Answered: the breaker closes. Not: it opens, and the
/// reconnection starts.
pub(super) async fn probe(store: Weak<Shared>) {
    let Some(shared) = store.upgrade() else {
        return;
    };
    let answered = match shared.connections.own() {
        Some(mut connection) => matches!(
            crate::timer::timeout(
                shared.config.op_timeout,
                redis::cmd("PING").query_async::<()>(&mut connection),
            )
            .await,
            Ok(Ok(()))
        ),
        None => false,
    };
    if answered {
        shared.breaker.on_probe_answered();
        tracing::info!(url = %shared.display_url, "redis answers again after a timeout");
    } else if shared.breaker.on_probe_failed() == Trip::Reconnect {
        shared.connections.lost();
        shared.tracking_reset.notify_one();
        tracing::warn!(url = %shared.display_url,
            "redis does not answer: bypassing the cache until it is back");
        connect_loop(store, false).await;
    }
}

/// How long one connection attempt may take: `connect_timeout`; a Cluster's, plus two command
/// timeouts (every seed's handshake, a connection then an answer, then the slot map's read).
pub(super) fn connect_budget(shared: &Shared) -> Duration {
    match &shared.backend {
        Backend::Single { .. } => shared.config.connect_timeout,
        Backend::Cluster { .. } => shared.config.connect_timeout + shared.config.op_timeout * 2,
    }
}

/// One connection, made and checked within [`connect_budget`], driven on the current runtime,
/// named `name` on the server (`CLIENT LIST` shows which are the cache's). On a Cluster, the
/// `PING` goes to every primary redis-rs could connect to (it skips one it could not: that one
/// fails its keys' commands later, and [`super::shards`] handles it).
pub(super) async fn connect(shared: &Arc<Shared>, name: &str) -> Result<Link, String> {
    let timeout = connect_budget(shared);
    let config = AsyncConnectionConfig::new()
        .set_connection_timeout(Some(timeout))
        // Commands are timed by the store, which tells a timeout from a dropped connection.
        .set_response_timeout(None);
    let attempt = async {
        let mut link = match &shared.backend {
            Backend::Single { client, .. } => Link::Single(
                client
                    .get_multiplexed_async_connection_with_config(&config)
                    .await?,
            ),
            Backend::Cluster { client, .. } => Link::Cluster(client.get_async_connection().await?),
        };
        // The handshake may succeed on a server that cannot serve (loading, paused): ask it.
        redis::cmd("PING").query_async::<()>(&mut link).await?;
        // A name for operators; a user without the right to set it (ACL) still caches. (On a
        // Cluster it would name one node's connection only.)
        if let Link::Single(connection) = &mut link {
            let _ = redis::cmd("CLIENT")
                .arg("SETNAME")
                .arg(name)
                .query_async::<()>(connection)
                .await;
        }
        Ok::<_, RedisError>(link)
    };
    match crate::timer::timeout(timeout, attempt).await {
        Ok(Ok(connection)) => Ok(connection),
        Ok(Err(err)) => Err(crate::logging::scrub(&err.to_string(), &shared.secrets)),
        Err(_) => Err(format!("no answer within {} ms", timeout.as_millis())),
    }
}
