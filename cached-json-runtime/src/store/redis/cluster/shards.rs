//! A Cluster's shards, for a breaker per primary: which primary serves a key, and which
//! primaries are down.
//!
//! Without it one dead primary took the whole cache with it: its keys' commands failed, the
//! store's breaker opened, and every key of every shard went to the origin until the store
//! reconnected, when the next failure opened it again. Here a command whose primary timed out
//! or dropped skips Redis at once, as the breaker would, but only for the keys of that primary:
//! the others keep their cache. The primary is probed on its own (`primary_probe.rs`): the slot map read
//! again (a replica promoted in its place serves its slots at once), its slot asked through the
//! cluster link, the link replaced if it cannot reach a primary that answers directly. The
//! slot map is `CLUSTER SLOTS`'s, keyed by node id; a key's slot is the CRC16 of its hash tag,
//! as the Cluster computes it. Until the map is read, and on one server, the store's breaker
//! is all there is.

use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};

use arc_swap::ArcSwapOption;
use redis::Value;

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
    /// Whether it is down (a command on it failed, and no probe found it answering since).
    pub(in crate::store::redis) fn is_down(&self) -> bool {
        self.down.load(Ordering::Acquire)
    }

    /// Up again: its keys use Redis again.
    pub(in crate::store::redis) fn mark_up(&self) {
        self.down.store(false, Ordering::Release);
    }

    /// Its host and port, to connect to it directly.
    pub(in crate::store::redis) fn node(&self) -> (&str, u16) {
        (&self.host, self.port)
    }

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
    pub(in crate::store::redis) fn install(&self, slots: Value) -> bool {
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
    pub(in crate::store::redis) fn up(&self) -> Vec<(String, u16)> {
        self.map.load().as_deref().map_or_else(Vec::new, |map| {
            map.shards
                .iter()
                .filter(|shard| !shard.down.load(Ordering::Acquire))
                .map(|shard| (shard.host.clone(), shard.port))
                .collect()
        })
    }

    /// Whether `shard` is the one known by its id (not one forgotten by [`Shards::reset`]).
    pub(in crate::store::redis) fn knows(&self, shard: &Arc<Shard>) -> bool {
        self.known
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .get(&shard.id)
            .is_some_and(|known| Arc::ptr_eq(known, shard))
    }

    /// Whether `shard` still serves slots in the current map.
    pub(in crate::store::redis) fn serves(&self, shard: &Shard) -> bool {
        self.map
            .load()
            .as_deref()
            .is_some_and(|map| map.shards.iter().any(|mapped| mapped.id == shard.id))
    }
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
