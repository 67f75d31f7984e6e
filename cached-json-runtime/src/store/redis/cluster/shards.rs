//! A Cluster's shards, for a breaker per primary: which primary serves a key, and which
//! primaries are down.
//!
//! Without it one dead primary took the whole cache with it: its keys' commands failed, the
//! store's breaker opened, and every key of every shard went to the origin until the store
//! reconnected, when the next failure opened it again. Here a command whose primary timed out
//! or dropped skips Redis at once, as the breaker would, but only for the keys of that primary:
//! the others keep their cache. The primary is probed on its own ([`probe`]): the slot map read
//! again (a replica promoted in its place serves its slots at once), its slot asked through the
//! cluster link, the link replaced if it cannot reach a primary that answers directly. The
//! slot map is `CLUSTER SLOTS`'s, keyed by node id; a key's slot is the CRC16 of its hash tag,
//! as the Cluster computes it. Until the map is read, and on one server, the store's breaker
//! is all there is.

use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, Weak};
use std::time::Duration;

use arc_swap::ArcSwapOption;
use redis::{AsyncConnectionConfig, Value};

use super::super::link::Tracking;
use super::super::{is_connection_failure, Shared};
use super::topology::slot_ranges;

const SLOTS: usize = super::topology::SLOTS as usize;
/// In `owners`: no primary serves the slot (the map does not say).
const UNSERVED: u16 = u16::MAX;

/// The primaries serving a Cluster's slots, and which of them are down.
pub(in crate::store::redis) struct Shards {
    map: ArcSwapOption<SlotMap>,
    /// Every primary ever mapped, by node id: a map read again keeps their state.
    known: Mutex<HashMap<String, Arc<Shard>>>,
}

/// Which primary serves each slot.
struct SlotMap {
    /// An index into `shards` per slot, or [`UNSERVED`].
    owners: Box<[u16]>,
    shards: Vec<Arc<Shard>>,
}

/// One primary.
pub(in crate::store::redis) struct Shard {
    id: String,
    host: String,
    port: u16,
    /// Its commands skip Redis while set; its probe clears it.
    down: AtomicBool,
}

impl Shard {
    /// `host:port`, for logs (never credentials).
    pub(in crate::store::redis) fn address(&self) -> String {
        format!("{}:{}", self.host, self.port)
    }
}

/// The slot of `key`: CRC16 (XMODEM) of its hash tag (what is between its first `{` and the
/// next `}`, if not empty), or of the whole key, mod 16384.
pub(in crate::store::redis) fn slot_of(key: &[u8]) -> usize {
    let tagged = key
        .iter()
        .position(|&b| b == b'{')
        .and_then(|open| {
            let tag = &key[open + 1..];
            let close = tag.iter().position(|&b| b == b'}')?;
            (close > 0).then(|| &tag[..close])
        })
        .unwrap_or(key);
    usize::from(crc16::State::<crc16::XMODEM>::calculate(tagged)) % SLOTS
}

/// What the shards say of a command's key.
pub(in crate::store::redis) enum Gate {
    /// No map, or no primary known for its slot: the store's breaker decides.
    Unmapped,
    /// Its primary, up: send it.
    Up(Arc<Shard>),
    /// Its primary is down: skip Redis.
    Down,
}

impl Shards {
    pub(in crate::store::redis) fn new() -> Self {
        Shards {
            map: ArcSwapOption::empty(),
            known: Mutex::new(HashMap::new()),
        }
    }

    /// Whether the command on `key` may be sent.
    pub(in crate::store::redis) fn gate(&self, key: &str) -> Gate {
        let map = self.map.load();
        let Some(map) = map.as_deref() else {
            return Gate::Unmapped;
        };
        match map.owners[slot_of(key.as_bytes())] {
            UNSERVED => Gate::Unmapped,
            owner => {
                let shard = &map.shards[usize::from(owner)];
                if shard.down.load(Ordering::Acquire) {
                    Gate::Down
                } else {
                    Gate::Up(shard.clone())
                }
            }
        }
    }

    /// `shard` failed a command (timed out, or its connection dropped): it is down. Whether
    /// the caller is the first to say so (and must start its probe), and whether every mapped
    /// primary is down now (the store's breaker takes over).
    pub(in crate::store::redis) fn failed(&self, shard: &Shard) -> (bool, bool) {
        let first = !shard.down.swap(true, Ordering::AcqRel);
        let all_down = self.map.load().as_deref().is_some_and(|map| {
            map.shards
                .iter()
                .all(|shard| shard.down.load(Ordering::Acquire))
        });
        (first, all_down)
    }

    /// Forgets the map and every primary's state: the store reconnected (to a Cluster that may
    /// have changed meanwhile), and reads the map again.
    pub(in crate::store::redis) fn reset(&self) {
        self.map.store(None);
        self.known.lock().unwrap_or_else(|e| e.into_inner()).clear();
    }

    /// Installs the map of a `CLUSTER SLOTS` answer. A primary already known keeps its state
    /// (down stays down until its probe says otherwise). Returns whether it says anything.
    fn install(&self, slots: Value) -> bool {
        let ranges = slot_ranges(slots);
        if ranges.is_empty() {
            return false;
        }
        let mut known = self.known.lock().unwrap_or_else(|e| e.into_inner());
        let mut owners = vec![UNSERVED; SLOTS].into_boxed_slice();
        let mut shards: Vec<Arc<Shard>> = Vec::new();
        for range in ranges {
            let index = match shards.iter().position(|shard| shard.id == range.id) {
                Some(index) => index,
                None => {
                    let shard = known
                        .entry(range.id.clone())
                        .or_insert_with(|| {
                            Arc::new(Shard {
                                id: range.id.clone(),
                                host: range.host.clone(),
                                port: range.port,
                                down: AtomicBool::new(false),
                            })
                        })
                        .clone();
                    shards.push(shard);
                    shards.len() - 1
                }
            };
            for slot in range.from..=range.to.min(SLOTS - 1) {
                owners[slot] = index as u16;
            }
        }
        self.map.store(Some(Arc::new(SlotMap { owners, shards })));
        true
    }

    /// The addresses of the primaries mapped and up.
    fn up(&self) -> Vec<(String, u16)> {
        self.map.load().as_deref().map_or_else(Vec::new, |map| {
            map.shards
                .iter()
                .filter(|shard| !shard.down.load(Ordering::Acquire))
                .map(|shard| (shard.host.clone(), shard.port))
                .collect()
        })
    }

    /// Whether `shard` is the one known by its id (not one forgotten by [`Shards::reset`]).
    fn knows(&self, shard: &Arc<Shard>) -> bool {
        self.known
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .get(&shard.id)
            .is_some_and(|known| Arc::ptr_eq(known, shard))
    }

    /// Whether `shard` still serves slots in the current map.
    fn serves(&self, shard: &Shard) -> bool {
        self.map
            .load()
            .as_deref()
            .is_some_and(|map| map.shards.iter().any(|mapped| mapped.id == shard.id))
    }
}

/// Reads the slot map and installs it; whether it did. Asked of a node directly (the primaries
/// mapped up, then the seeds), not through the cluster client, whose own map may still route
/// to the primary that failed.
pub(in crate::store::redis) async fn read_map(shared: &Shared) -> bool {
    let Tracking::Cluster(nodes) = shared.server.backend.tracking() else {
        return false;
    };
    let mut clients: Vec<redis::Client> = shared
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
        if let Some(slots) = ask::<Value>(shared, &client, &cmd).await {
            if shared.shards.install(slots) {
                return true;
            }
        }
    }
    false
}

/// `cmd`'s answer from the node of `client`, on a connection of its own made and answered
/// within the connect and command timeouts.
async fn ask<T: redis::FromRedisValue>(
    shared: &Shared,
    client: &redis::Client,
    cmd: &redis::Cmd,
) -> Option<T> {
    let config = &shared.server.config;
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
pub(in crate::store::redis) async fn probe(store: Weak<Shared>, shard: Arc<Shard>, key: String) {
    let mut delay = None::<Duration>;
    // At most one link replaced per probe: a primary that answers directly but never through a
    // new link either (an address the Cluster announces that differs from the one reached
    // directly) must not have the link replaced round after round.
    let mut replaced = false;
    loop {
        let Some(shared) = store.upgrade() else {
            return;
        };
        // Up again, or forgotten (the store reconnected and maps the Cluster anew).
        if !shard.down.load(Ordering::Acquire) || !shared.shards.knows(&shard) {
            return;
        }
        if read_map(&shared).await && !shared.shards.serves(&shard) {
            tracing::info!(url = %shared.server.display_url, primary = %shard.address(),
                "a Redis Cluster primary that failed no longer serves slots: its keys are served by another");
            shard.down.store(false, Ordering::Release);
            return;
        }
        if link_answers(&shared, &key).await {
            shard.down.store(false, Ordering::Release);
            tracing::info!(url = %shared.server.display_url, primary = %shard.address(),
                "a Redis Cluster primary answers again: its keys use the cache again");
            return;
        }
        if !replaced && answers(&shared, &shard).await {
            // The primary answers, the link does not reach it: the link still routes its slots
            // to a node that does not answer. A new link, if one can be made now, replaces it
            // (the next round asks through it); the cache stays in use meanwhile.
            match shared.server.connect("cached-json").await {
                Ok(link) => {
                    shared.connections.connected(link);
                    replaced = true;
                    tracing::warn!(url = %shared.server.display_url, primary = %shard.address(),
                        "a Redis Cluster primary answers, but not through the cluster link: \
                         replaced the link");
                    // Asked again through the new link at once.
                    delay = None;
                    continue;
                }
                Err(err) => {
                    tracing::debug!(url = %shared.server.display_url, error = %err,
                        "a new Redis Cluster link could not be made yet");
                }
            }
        }
        let wait = shared.server.config.backoff().after(delay);
        delay = Some(wait);
        drop(shared);
        tokio::time::sleep(wait).await;
    }
}

/// Whether a command on `key` sent through the store's cluster link is answered in time: a
/// value, or a refusal from Redis (an ACL's `NOPERM` on the events channel's slot is an
/// answer), not a timeout or a dropped connection.
async fn link_answers(shared: &Shared, key: &str) -> bool {
    let Some(mut link) = shared.connections.own() else {
        return false;
    };
    let mut cmd = redis::cmd("PTTL");
    cmd.arg(key);
    let asked = cmd.query_async::<Value>(&mut link);
    match crate::timer::timeout(shared.server.config.op_timeout, asked).await {
        Ok(Ok(_)) => true,
        Ok(Err(err)) => !is_connection_failure(&err),
        Err(_) => false,
    }
}

/// Whether `shard` answers a `PING` on a connection of its own, made and answered in time.
async fn answers(shared: &Shared, shard: &Shard) -> bool {
    let Tracking::Cluster(nodes) = shared.server.backend.tracking() else {
        return false;
    };
    let Ok(client) = nodes.client(&shard.host, shard.port) else {
        return false;
    };
    ask::<()>(shared, &client, &redis::cmd("PING"))
        .await
        .is_some()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn slots_are_the_clusters() {
        // `CLUSTER KEYSLOT foo` (the Redis Cluster specification's example).
        assert_eq!(slot_of(b"foo"), 12182);
        // The slot redis-rs's cluster client routes the key to, hash tags included: the first
        // `{`...`}` if not empty, else the whole key.
        for key in [
            "foo",
            "{user1000}.following",
            "foo{}{bar}",
            "foo{{bar}}zap",
            "foo{bar}{zap}",
            "{",
            "}{x}",
            "",
            "app:top-soon:v2:0123456789abcdef0123456789abcdef",
        ] {
            let slot = u16::try_from(slot_of(key.as_bytes())).unwrap();
            assert_eq!(
                redis::cluster_routing::Slot::new(slot),
                Some(redis::cluster_routing::Slot::for_key(key)),
                "{key}"
            );
        }
        assert_eq!(slot_of(b"{user1000}.following"), slot_of(b"user1000"));
        assert_ne!(
            slot_of(b"foo{}{bar}"),
            slot_of(b"bar"),
            "an empty tag: the whole key"
        );
    }

    fn range(from: i64, to: i64, host: &str, port: i64, id: &str) -> Value {
        Value::Array(vec![
            Value::Int(from),
            Value::Int(to),
            Value::Array(vec![
                Value::BulkString(host.as_bytes().to_vec()),
                Value::Int(port),
                Value::BulkString(id.as_bytes().to_vec()),
            ]),
        ])
    }

    #[test]
    fn a_down_primary_closes_only_its_own_keys_and_keeps_its_state_across_maps() {
        let shards = Shards::new();
        assert!(matches!(shards.gate("k"), Gate::Unmapped));
        let map = |a: &str| {
            Value::Array(vec![
                range(0, 8191, "10.0.0.1", 6379, a),
                range(8192, 16383, "10.0.0.2", 6379, "b"),
            ])
        };
        assert!(shards.install(map("a")));
        // Keys on both halves.
        let key_on = |low: bool| {
            (0..)
                .map(|i| format!("key{i}"))
                .find(|key| (slot_of(key.as_bytes()) < 8192) == low)
                .unwrap()
        };
        let (on_a, on_b) = (key_on(true), key_on(false));
        let Gate::Up(a) = shards.gate(&on_a) else {
            panic!("a is up")
        };
        assert_eq!(a.id, "a");
        assert_eq!(shards.failed(&a), (true, false));
        assert_eq!(
            shards.failed(&a),
            (false, false),
            "only the first starts a probe"
        );
        assert!(matches!(shards.gate(&on_a), Gate::Down));
        assert!(matches!(shards.gate(&on_b), Gate::Up(_)));
        // Read again: still down; moved to another primary (a failover): served.
        assert!(shards.install(map("a")));
        assert!(matches!(shards.gate(&on_a), Gate::Down));
        assert!(shards.serves(&a));
        assert!(shards.install(map("a2")));
        assert!(matches!(shards.gate(&on_a), Gate::Up(_)));
        assert!(!shards.serves(&a));
        // Every primary down: the store's breaker takes over.
        let Gate::Up(b) = shards.gate(&on_b) else {
            panic!("b is up")
        };
        let Gate::Up(a2) = shards.gate(&on_a) else {
            panic!("a2 is up")
        };
        assert_eq!(shards.failed(&b), (true, false));
        assert_eq!(shards.failed(&a2), (true, true));
        shards.reset();
        assert!(matches!(shards.gate(&on_a), Gate::Unmapped));
        // Nothing usable: nothing installed.
        assert!(!shards.install(Value::Array(vec![range(0, 10, "?", 6379, "c")])));
    }
}
