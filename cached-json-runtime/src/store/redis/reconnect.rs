//! Finding Redis again: the store's own small runtime, the probe that checks a suspect Redis,
//! and the loop that reconnects with backoff while callers skip the cache.
//!
//! redis-rs's own reconnection makes callers wait for it (seconds, by default). Here a caller
//! never waits on a reconnect: the breaker is open meanwhile, and this loop alone dials Redis.

use std::sync::Weak;
use std::time::{Duration, Instant};

use super::breaker::Trip;
use super::reach::Reach;

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
pub(super) async fn connect_loop(store: Weak<Reach>, first: bool) {
    let down_since = Instant::now();
    let mut delay = None::<Duration>;
    let mut attempts = 0u32;
    let mut last_logged = None::<Instant>;
    loop {
        if let Some(delay) = delay {
            tokio::time::sleep(delay).await;
        }
        let Some(reach) = store.upgrade() else {
            return;
        };
        attempts += 1;
        let connected = match reach.server.before_connecting().await {
            Ok(()) => reach.server.connect("cached-json").await,
            Err(err) => Err(err),
        };
        match connected {
            Ok(connection) => {
                reach.connections.connected(connection);
                reach.breaker.on_connected();
                reach.first_attempt_done.notify_waiters();
                if first && attempts == 1 {
                    tracing::info!(url = %reach.server.display_url, "redis connected");
                } else {
                    tracing::info!(url = %reach.server.display_url, attempts,
                        down_ms = down_since.elapsed().as_millis() as u64,
                        "redis reachable again: cache back in use");
                }
                // A Cluster's primaries as they are now, each up until it fails.
                if reach.server.backend.is_cluster() {
                    reach.shards.reset();
                    if !super::primary_probe::read_map(&reach).await {
                        tracing::warn!(url = %reach.server.display_url,
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
                    tracing::warn!(url = %reach.server.display_url, error = %err, attempts,
                        "redis unreachable: running without cache, retrying in the background");
                }
                if first && reach.breaker.on_first_connect_failed() {
                    reach.first_attempt_done.notify_waiters();
                }
                delay = Some(reach.server.config.backoff().after(delay));
            }
        }
    }
}

/// Asks a suspect Redis (a command timed out) whether it still answers: a `PING` on the store's
/// connection, within one command timeout. Answered: the breaker closes. Not: it opens, and the
/// reconnection starts.
pub(super) async fn probe(store: Weak<Reach>) {
    let Some(reach) = store.upgrade() else {
        return;
    };
    let answered = match reach.connections.own() {
        Some(mut connection) => matches!(
            crate::timer::timeout(
                reach.server.config.op_timeout,
                redis::cmd("PING").query_async::<()>(&mut connection),
            )
            .await,
            Ok(Ok(()))
        ),
        None => false,
    };
    if answered {
        reach.breaker.on_probe_answered();
        tracing::info!(url = %reach.server.display_url, "redis answers again after a timeout");
    } else if reach.breaker.on_probe_failed() == Trip::Reconnect {
        reach.connections.lost();
        reach.tracking_reset.notify_one();
        tracing::warn!(url = %reach.server.display_url,
            "redis does not answer: bypassing the cache until it is back");
        connect_loop(store, false).await;
    }
}
