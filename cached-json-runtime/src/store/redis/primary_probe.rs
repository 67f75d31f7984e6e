//! Finding out when a Cluster primary that failed a command can be used again (a breaker per
//! primary: [`super::cluster::shards`]), and reading the Cluster's slot map from a live node.
//! Here, not in `cluster/`, because it acts on how the store reaches Redis (its connections,
//! its server: [`Reach`]), which itself holds the shards.

use std::sync::{Arc, Weak};
use std::time::Duration;

use redis::{AsyncConnectionConfig, Value};

use super::cluster::shards::Shard;
use super::link::{is_connection_failure, Tracking};
use super::reach::Reach;

/// Reads the slot map and installs it; whether it did. Asked of a node directly (the primaries
/// mapped up, then the seeds), not through the cluster client, whose own map may still route
/// to the primary that failed.
pub(in crate::store::redis) async fn read_map(reach: &Reach) -> bool {
    let Tracking::Cluster(nodes) = reach.server.backend.tracking() else {
        return false;
    };
    let mut clients: Vec<redis::Client> = reach
        .shards
        .up()
        .into_iter()
        .filter_map(|(host, port)| nodes.client(&host, port).ok())
        .collect();
    // Not every process asks the same node.
    fastrand::shuffle(&mut clients);
    clients.extend(nodes.seeds.iter().cloned());
    let mut cmd = redis::cmd("CLUSTER");
    cmd.arg("SLOTS");
    for client in clients {
        if let Some(slots) = ask::<Value>(reach, &client, &cmd).await {
            if reach.shards.install(slots) {
                return true;
            }
        }
    }
    false
}

/// `cmd`'s answer from the node of `client`, on a connection of its own made and answered
/// within the connect and command timeouts.
async fn ask<T: redis::FromRedisValue>(
    reach: &Reach,
    client: &redis::Client,
    cmd: &redis::Cmd,
) -> Option<T> {
    let config = &reach.server.config;
    let connection_config =
        AsyncConnectionConfig::new().set_connection_timeout(Some(config.connect_timeout));
    let asked = async {
        let mut connection = client
            .get_multiplexed_async_connection_with_config(&connection_config)
            .await?;
        cmd.query_async::<T>(&mut connection).await
    };
    let within = config.connect_timeout + config.op_timeout;
    crate::timer::timeout(within, asked).await.ok()?.ok()
}

/// Finds out when a primary that failed a command on `key` can be used again. Each round (with
/// the reconnection's backoff) reads the slot map again: a replica promoted in its place takes
/// its slots, and its keys are served at once. Otherwise the key's slot is asked through the
/// store's cluster link, the way the keys go: answered, its keys use Redis again. Not answered
/// while the primary itself answers a `PING` on a connection of its own: the link still routes
/// the slot to a node that does not answer (a hung primary failed over: redis-rs re-reads its
/// routing only on errors, and a hung node gives none), and a new link is made and asked at
/// once.
pub(in crate::store::redis) async fn probe(store: Weak<Reach>, shard: Arc<Shard>, key: String) {
    let mut delay = None::<Duration>;
    // At most one link replaced per probe: a primary that answers directly but never through a
    // new link either (an address the Cluster announces that differs from the one reached
    // directly) must not have the link replaced round after round.
    let mut replaced = false;
    loop {
        let Some(reach) = store.upgrade() else {
            return;
        };
        // Up again, or forgotten (the store reconnected and maps the Cluster anew).
        if !shard.is_down() || !reach.shards.knows(&shard) {
            return;
        }
        if read_map(&reach).await && !reach.shards.serves(&shard) {
            tracing::info!(url = %reach.server.display_url, primary = %shard.address(),
                "a Redis Cluster primary that failed no longer serves slots: its keys are served by another");
            shard.mark_up();
            return;
        }
        if link_answers(&reach, &key).await {
            shard.mark_up();
            tracing::info!(url = %reach.server.display_url, primary = %shard.address(),
                "a Redis Cluster primary answers again: its keys use the cache again");
            return;
        }
        if !replaced && answers(&reach, &shard).await {
            // The primary answers, the link does not reach it: the link still routes its slots
            // to a node that does not answer. A new link, if one can be made now, replaces it
            // (the next round asks through it); the cache stays in use meanwhile.
            match reach.server.connect("cached-json").await {
                Ok(link) => {
                    reach.connections.connected(link);
                    replaced = true;
                    tracing::warn!(url = %reach.server.display_url, primary = %shard.address(),
                        "a Redis Cluster primary answers, but not through the cluster link: \
                         replaced the link");
                    // Asked again through the new link at once.
                    delay = None;
                    continue;
                }
                Err(err) => {
                    tracing::debug!(url = %reach.server.display_url, error = %err,
                        "a new Redis Cluster link could not be made yet");
                }
            }
        }
        let wait = reach.server.config.backoff().after(delay);
        delay = Some(wait);
        drop(reach);
        tokio::time::sleep(wait).await;
    }
}

/// Whether a command on `key` sent through the store's cluster link is answered in time: a
/// value, or a refusal from Redis (an ACL's `NOPERM` on the events channel's slot is an
/// answer), not a timeout or a dropped connection.
async fn link_answers(reach: &Reach, key: &str) -> bool {
    let Some(mut link) = reach.connections.own() else {
        return false;
    };
    let mut cmd = redis::cmd("PTTL");
    cmd.arg(key);
    let asked = cmd.query_async::<Value>(&mut link);
    match crate::timer::timeout(reach.server.config.op_timeout, asked).await {
        Ok(Ok(_)) => true,
        Ok(Err(err)) => !is_connection_failure(&err),
        Err(_) => false,
    }
}

/// Whether `shard` answers a `PING` on a connection of its own, made and answered in time.
async fn answers(reach: &Reach, shard: &Shard) -> bool {
    let Tracking::Cluster(nodes) = reach.server.backend.tracking() else {
        return false;
    };
    let Ok(client) = nodes.client(shard.node().0, shard.node().1) else {
        return false;
    };
    ask::<()>(reach, &client, &redis::cmd("PING"))
        .await
        .is_some()
}
