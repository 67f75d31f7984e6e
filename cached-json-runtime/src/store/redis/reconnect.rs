//! Finding Redis again: the store's own small runtime, the probe that checks a suspect Redis,
//! and the loop that reconnects with backoff while callers skip the cache.
//!
//! redis-rs's own reconnection makes callers wait for it (seconds, by default). Here a caller
//! never waits on a reconnect: the breaker is open meanwhile, and this loop alone dials Redis.

use std::sync::Weak;
use std::time::{Duration, Instant};

use super::breaker::Trip;
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
        let connected = match shared.server.locate().await {
            Ok(()) => shared.server.connect("cached-json").await,
            Err(err) => Err(err),
        };
        match connected {
            Ok(connection) => {
                shared.connections.connected(connection);
                shared.breaker.on_connected();
                shared.first_attempt_done.notify_waiters();
                if first && attempts == 1 {
                    tracing::info!(url = %shared.server.display_url, "redis connected");
                } else {
                    tracing::info!(url = %shared.server.display_url, attempts,
                        down_ms = down_since.elapsed().as_millis() as u64,
                        "redis reachable again: cache back in use");
                }
                // A Cluster's primaries as they are now, each up until it fails.
                if shared.server.backend.is_cluster() {
                    shared.shards.reset();
                    if !super::cluster::shards::read_map(&shared).await {
                        tracing::warn!(url = %shared.server.display_url,
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
                    tracing::warn!(url = %shared.server.display_url, error = %err, attempts,
                        "redis unreachable: running without cache, retrying in the background");
                }
                if first && shared.breaker.on_first_connect_failed() {
                    shared.first_attempt_done.notify_waiters();
                }
                delay = Some(shared.server.config.backoff().after(delay));
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
                shared.server.config.op_timeout,
                redis::cmd("PING").query_async::<()>(&mut connection),
            )
            .await,
            Ok(Ok(()))
        ),
        None => false,
    };
    if answered {
        shared.breaker.on_probe_answered();
        tracing::info!(url = %shared.server.display_url, "redis answers again after a timeout");
    } else if shared.breaker.on_probe_failed() == Trip::Reconnect {
        shared.connections.lost();
        shared.tracking_reset.notify_one();
        tracing::warn!(url = %shared.server.display_url,
            "redis does not answer: bypassing the cache until it is back");
        connect_loop(store, false).await;
    }
}
