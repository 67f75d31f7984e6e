//! How the store reaches Redis: what it connects to, its connections, its circuit breaker, a
//! Cluster's primaries, and the signals of a (re)connection. The store's background tasks (the
//! reconnection loop, the probes of a suspect Redis or of a Cluster primary) get this, not the
//! whole store.

use std::sync::Arc;

use tokio::sync::Notify;

use super::breaker::Breaker;
use super::cluster::shards::Shards;
use super::connections::Connections;
use super::server::Server;

pub(super) struct Reach {
    /// What the store connects to.
    pub(super) server: Arc<Server>,
    pub(super) breaker: Breaker,
    /// On a Cluster: which primary serves a key, and which are down (a breaker per primary).
    pub(super) shards: Shards,
    pub(super) connections: Connections,
    /// Woken when the first connection attempt ends, for callers waiting on it.
    pub(super) first_attempt_done: Notify,
    /// Tells the tracking connection to start over: Redis was lost, reports may be missed.
    pub(super) tracking_reset: Arc<Notify>,
}
