//! A Redis Cluster's primaries, as the L1's tracking needs them: every node that can take a
//! write of a key (and so is the one to report it), known by its node id, with the address to
//! reach it by.
//!
//! `CLUSTER NODES` names them all, a primary still importing its first slot (already taking
//! writes) included, which `CLUSTER SLOTS` leaves out; `CLUSTER SLOTS` gives the endpoint the
//! Cluster wants clients to use (an announced hostname, say), which the cache's own Cluster
//! client uses too. A view is complete when its primaries serve all 16384 slots: a node that
//! is not (yet) a member of the Cluster, or was reset, knows only itself, and must not be
//! believed. (So a Cluster run with slots deliberately unassigned, `cluster-require-full-coverage
//! no`, gets no L1.) A view also says whose it is, so that a connection can be checked to reach
//! the node it was made for.

use std::collections::HashMap;

use redis::aio::MultiplexedConnection;
use redis::{RedisError, Value};

/// How many slots a Cluster has.
/// A Cluster's slots.
pub(in crate::store::redis) const SLOTS: u32 = 16384;

/// A node's address: host and port.
type Address = (String, u16);

/// A primary: its node id (which stays when its address changes, and reads the same in every
/// node's view), and where to reach it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(in crate::store::redis) struct Primary {
    pub(in crate::store::redis) id: String,
    pub(in crate::store::redis) address: Address,
}

/// What one node says of the Cluster's primaries.
#[derive(Debug, PartialEq, Eq)]
pub(in crate::store::redis) struct View {
    /// The node's own id: whom the connection reached (an address can come to be another
    /// node's, or another Cluster's).
    pub(in crate::store::redis) myself: Option<String>,
    /// Sorted by id.
    pub(in crate::store::redis) primaries: Vec<Primary>,
    /// Whether their slots cover the whole Cluster.
    pub(in crate::store::redis) complete: bool,
}

/// The view of the node on `connection`, reached at `asked_host`: with `endpoints`, each
/// slot-serving primary at the endpoint `CLUSTER SLOTS` gives (one more round trip).
pub(in crate::store::redis) async fn read(
    connection: &mut MultiplexedConnection,
    asked_host: &str,
    endpoints: bool,
) -> Result<View, RedisError> {
    let nodes: String = redis::cmd("CLUSTER")
        .arg("NODES")
        .query_async(connection)
        .await?;
    let mut view = parse_nodes(&nodes, asked_host);
    if endpoints {
        let slots: Value = redis::cmd("CLUSTER")
            .arg("SLOTS")
            .query_async(connection)
            .await?;
        let preferred = preferred_endpoints(slots);
        for primary in &mut view.primaries {
            if let Some(address) = preferred.get(&primary.id) {
                primary.address = address.clone();
            }
        }
    }
    Ok(view)
}

/// Whether the primaries `tracked` (sorted by id) include every one of `now`. Only a primary
/// not tracked can take writes unheard; one tracked that is no longer a primary (demoted: it
/// reports what it replicates; gone: its connection drops) costs nothing. Not equality: nodes
/// learn of a change at different times, and one cut off from the others may keep an old view
/// for long; starting over on every difference would flush the L1 again and again.
pub(in crate::store::redis) fn covers(tracked: &[Primary], now: &[Primary]) -> bool {
    now.iter().all(|primary| {
        tracked
            .binary_search_by(|known| known.id.cmp(&primary.id))
            .is_ok()
    })
}

/// The primaries in a `CLUSTER NODES` answer: every node flagged `master` but `handshake` (not
/// yet a member) or `noaddr`, with slots or none (importing its first), and even `fail` while
/// it still has slots (it comes back owning them, and takes writes again long before the
/// others clear the flag); a failed primary without slots was failed over. Reached at its IP,
/// or at `asked_host` if it has none (the node asked, before it learned its own).
fn parse_nodes(nodes: &str, asked_host: &str) -> View {
    let mut primaries = Vec::new();
    let mut covered = 0u32;
    let mut myself = None;
    for line in nodes.lines() {
        let fields: Vec<&str> = line.split_ascii_whitespace().collect();
        let [id, address, flags, ..] = fields[..] else {
            continue;
        };
        let flags: Vec<&str> = flags.split(',').collect();
        if flags.contains(&"myself") {
            myself = Some(id.to_owned());
        }
        if !flags.contains(&"master") || flags.contains(&"handshake") || flags.contains(&"noaddr") {
            continue;
        }
        // Slots from the ninth field: `a-b` or `a` (and, on the node's own line, `[a->-id]` or
        // `[a-<-id]` for a slot being moved, which it does not own by that).
        let slots: u32 = fields
            .iter()
            .skip(8)
            .filter(|range| !range.starts_with('['))
            .map(|range| match range.split_once('-') {
                Some((from, to)) => match (from.parse::<u32>(), to.parse::<u32>()) {
                    (Ok(from), Ok(to)) if to >= from => to - from + 1,
                    _ => 0,
                },
                None => u32::from(range.parse::<u32>().is_ok()),
            })
            .sum();
        if flags.contains(&"fail") && slots == 0 {
            continue;
        }
        // `ip:port@cport[,hostname[,aux=value]*]`; an IPv6 address has colons of its own.
        let endpoint = address.split([',', '@']).next().unwrap_or_default();
        let Some((ip, port)) = endpoint.rsplit_once(':') else {
            continue;
        };
        let Ok(port) = port.parse::<u16>() else {
            continue;
        };
        if port == 0 {
            continue;
        }
        let host = if ip.is_empty() { asked_host } else { ip };
        covered += slots;
        primaries.push(Primary {
            id: id.to_owned(),
            address: (host.to_owned(), port),
        });
    }
    primaries.sort_by(|a, b| a.id.cmp(&b.id));
    primaries.dedup_by(|a, b| a.id == b.id);
    View {
        myself,
        primaries,
        complete: covered >= SLOTS,
    }
}

/// Each slot-serving primary's endpoint in a `CLUSTER SLOTS` answer, by node id. An endpoint
/// unknown to the node (`?` or empty) is left out: its IP from `CLUSTER NODES` stands.
fn preferred_endpoints(slots: Value) -> HashMap<String, Address> {
    slot_ranges(slots)
        .into_iter()
        .map(|range| (range.id, (range.host, range.port)))
        .collect()
}

/// One range of `CLUSTER SLOTS`: slots `from..=to`, served by the node `id` at `host:port`.
pub(in crate::store::redis) struct SlotRange {
    pub(in crate::store::redis) from: usize,
    pub(in crate::store::redis) to: usize,
    pub(in crate::store::redis) id: String,
    pub(in crate::store::redis) host: String,
    pub(in crate::store::redis) port: u16,
}

/// The ranges of a `CLUSTER SLOTS` answer (`[from, to, [endpoint, port, id, ...], replicas...]`)
/// whose primary has a known endpoint (not `?` or empty, port not 0) and an id.
pub(in crate::store::redis) fn slot_ranges(slots: Value) -> Vec<SlotRange> {
    let Value::Array(ranges) = slots else {
        return Vec::new();
    };
    ranges
        .into_iter()
        .filter_map(|range| {
            let Value::Array(range) = range else {
                return None;
            };
            let mut fields = range.into_iter();
            let from: usize = redis::from_redis_value(fields.next()?).ok()?;
            let to: usize = redis::from_redis_value(fields.next()?).ok()?;
            let Value::Array(primary) = fields.next()? else {
                return None;
            };
            let mut primary = primary.into_iter();
            let host: String = redis::from_redis_value(primary.next()?).ok()?;
            let port: u16 = redis::from_redis_value(primary.next()?).ok()?;
            let id: String = redis::from_redis_value(primary.next()?).ok()?;
            (!host.is_empty() && host != "?" && port != 0 && from <= to).then_some(SlotRange {
                from,
                to,
                id,
                host,
                port,
            })
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn primary(id: &str, host: &str, port: u16) -> Primary {
        Primary {
            id: id.to_owned(),
            address: (host.to_owned(), port),
        }
    }

    #[test]
    fn the_primaries_are_the_masters_that_can_take_writes() {
        // Redis 7's `CLUSTER NODES`: primaries with slots (one asked, without its own IP yet;
        // one on IPv6, not reachable from the asked node), replicas, a failed-over primary
        // without slots, a failed one still owning slots, a new one without slots, a node in
        // handshake, one without an address.
        let nodes = "\
r1 127.0.0.1:30004@31004,host-4 slave a 0 1426238317239 4 connected
b 127.0.0.1:30002@31002,,shard-id=x master - 0 1426238316232 2 connected 5461-10922
c 127.0.0.1:30003@31003 master - 0 1426238318243 3 connected 10923-16000
r2 127.0.0.1:30005@31005 slave b 0 1426238316232 5 connected
a :30001@31001 myself,master - 0 0 1 connected 0-5460 [5461->-b]
gone 127.0.0.1:30006@31006 master,fail - 1426238316232 0 6 disconnected
d ::1:30009@31009 master,fail? - 0 0 9 connected 16001-16382
e 127.0.0.1:30010@31010,node-10.example master,fail - 0 0 10 disconnected 16383
new 127.0.0.1:30007@31007 master - 0 1426238316232 7 connected
shaking 127.0.0.1:30008@31008 handshake - 0 0 0 disconnected
nowhere :0@0 master,noaddr - 0 0 0 disconnected
";
        let view = parse_nodes(nodes, "seed.example");
        assert_eq!(view.myself.as_deref(), Some("a"));
        assert_eq!(
            view.primaries,
            [
                primary("a", "seed.example", 30001),
                primary("b", "127.0.0.1", 30002),
                primary("c", "127.0.0.1", 30003),
                primary("d", "::1", 30009),
                primary("e", "127.0.0.1", 30010),
                primary("new", "127.0.0.1", 30007),
            ]
        );
        assert!(view.complete);
    }

    #[test]
    fn a_node_that_knows_only_itself_is_not_believed() {
        // A node just started (or reset), not a member of the Cluster yet.
        let alone = "a 127.0.0.1:30001@31001 myself,master - 0 0 0 connected\n";
        let view = parse_nodes(alone, "seed");
        assert_eq!(view.primaries, [primary("a", "127.0.0.1", 30001)]);
        assert!(!view.complete);
        // Slots missing: not complete either.
        let partial = "a 127.0.0.1:30001@31001 myself,master - 0 0 0 connected 0-16382\n";
        assert!(!parse_nodes(partial, "seed").complete);
    }

    #[test]
    fn a_primary_is_reached_at_the_endpoint_the_cluster_prefers() {
        let node = |endpoint: &str, port: i64, id: &str| {
            Value::Array(vec![
                Value::BulkString(endpoint.as_bytes().to_vec()),
                Value::Int(port),
                Value::BulkString(id.as_bytes().to_vec()),
                Value::Map(vec![]),
            ])
        };
        let slots = Value::Array(vec![
            Value::Array(vec![
                Value::Int(0),
                Value::Int(5460),
                node("node-a.example", 6380, "a"),
                node("replica.example", 6380, "r1"),
            ]),
            Value::Array(vec![
                Value::Int(5461),
                Value::Int(16383),
                node("?", 6379, "b"),
            ]),
        ]);
        let endpoints = preferred_endpoints(slots);
        assert_eq!(
            endpoints,
            HashMap::from([("a".to_owned(), ("node-a.example".to_owned(), 6380))])
        );
    }

    #[test]
    fn only_a_primary_not_tracked_starts_tracking_over() {
        let tracked = [
            primary("a", "h", 1),
            primary("b", "h", 2),
            primary("c", "h", 3),
        ];
        assert!(covers(&tracked, &tracked));
        // A view where a primary failed (or was demoted): still covered.
        assert!(covers(
            &tracked,
            &[primary("a", "h", 1), primary("c", "h", 3)]
        ));
        // The same node under another address (a hostname learned later): the same node.
        assert!(covers(&tracked, &[primary("a", "other", 9)]));
        // A replica promoted, a primary added: not.
        assert!(!covers(
            &tracked,
            &[primary("a", "h", 1), primary("d", "h", 4)]
        ));
    }
}
