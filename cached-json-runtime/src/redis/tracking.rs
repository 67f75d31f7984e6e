//! Hearing of changed keys, for the L1: a RESP3 connection of the store's own with
//! `CLIENT TRACKING ON BCAST [PREFIX <namespace>:]`, on which Redis pushes the name of every
//! key written, deleted, expired or evicted there, by any client at all (another instance,
//! `redis-cli DEL`, another language's client), and a null when the database is flushed.
//!
//! On a Cluster, one such connection to every primary: a node reports the changes made on it
//! (a replica, those it replicates), so the primaries together report every change. The
//! primaries are read from `CLUSTER NODES` (which, unlike `CLUSTER SLOTS`, also lists a primary
//! still importing its first slot, already taking writes), and read again every
//! [`TOPOLOGY_EVERY`], in turn from each tracked node: when one is not tracked (a primary
//! added, a replica promoted), its changes go unheard, and tracking starts over. (After a
//! manual failover the demoted primary reports on meanwhile, as a replica; a killed one's
//! connection drops, which starts tracking over at once.)
//!
//! The listener hears [`KeyEvent::Tracking`] once every connection tracks, and
//! [`KeyEvent::Lost`] as soon as reports may be missed: a connection dropped, a `PING` (or, on a
//! Cluster, the topology read) went unanswered for a command timeout, the primaries changed, or
//! the store's breaker lost Redis (the store then resets the tracking too).

use std::collections::BTreeSet;
use std::sync::Weak;
use std::time::Duration;

use redis::aio::MultiplexedConnection;
use redis::{AsyncConnectionConfig, Client, PushInfo, PushKind, RedisError, Value};
use tokio::sync::mpsc::UnboundedSender;

use super::link::{NodeClients, Tracking};
use super::Shared;
use crate::store::{KeyEvent, KeyListener};

/// How often one server's tracking connection is checked: the longest a silently dead
/// connection (no reset from the network) goes unnoticed, plus a command timeout.
pub(super) const PING_EVERY: Duration = Duration::from_secs(1);

/// How often a Cluster's primaries are read again (from each tracked node in turn, which also
/// checks that node's connection): after a failover, the longest the promoted primary's changes
/// go unheard, plus a round trip.
pub(super) const TOPOLOGY_EVERY: Duration = Duration::from_millis(100);

/// A node's address, as the Cluster gives it.
type Address = (String, u16);

/// The connections that track, and what they were made for.
struct Tracked {
    connections: Vec<MultiplexedConnection>,
    /// On a Cluster: the primaries, in the order of `connections`.
    primaries: Option<Vec<Address>>,
}

/// Keeps the tracking connections for as long as the store lives, reconnecting with backoff,
/// and tells `listener` what it hears.
pub(super) async fn track(store: Weak<Shared>, prefixes: Vec<String>, listener: KeyListener) {
    let mut delay = None::<Duration>;
    let mut last_logged = None::<std::time::Instant>;
    loop {
        if let Some(delay) = delay {
            tokio::time::sleep(delay).await;
        }
        let Some(shared) = store.upgrade() else {
            return;
        };
        let config = &shared.config;
        let (connect_timeout, op_timeout) = (config.connect_timeout, config.op_timeout);
        let backoff = config.backoff();
        let reset = shared.tracking_reset.clone();

        let (pushes_in, mut pushes) = tokio::sync::mpsc::unbounded_channel::<PushInfo>();
        let open = Opener {
            prefixes: prefixes.clone(),
            connect_timeout,
            pushes: pushes_in,
        };
        // Bounded as a whole: a Cluster's topology read and a connection per primary.
        let opened = tokio::time::timeout(
            connect_timeout.saturating_mul(2),
            open.tracked(shared.backend.tracking()),
        )
        .await;
        let (display_url, secrets) = (shared.display_url.clone(), shared.secrets.clone());
        drop(shared);
        let mut tracked = match opened {
            Ok(Ok(tracked)) => tracked,
            failed => {
                // Once, then every 30 s: the L1 serves nothing meanwhile. (A refused CLIENT
                // TRACKING or HELLO, e.g. an ACL user without them, lands here too.)
                if last_logged.is_none_or(|at| at.elapsed() >= Duration::from_secs(30)) {
                    last_logged = Some(std::time::Instant::now());
                    let error = match failed {
                        Ok(Err(err)) => crate::logging::scrub(&err, &secrets),
                        _ => "timed out".to_owned(),
                    };
                    tracing::warn!(url = %display_url, error,
                        "the L1 cannot track changed keys: it serves nothing until it can");
                }
                delay = Some(backoff.after(delay));
                continue;
            }
        };
        delay = None;
        if last_logged.take().is_some() {
            tracing::info!(url = %display_url, "the L1 tracks changed keys again");
        }
        // A reset asked for before these connections existed is not about them.
        let _ = tokio::time::timeout(Duration::ZERO, reset.notified()).await;
        listener(KeyEvent::Tracking);
        // An interval, not a sleep in the select: a steady stream of reports must not put the
        // checks off.
        let mut checks = tokio::time::interval(match tracked.primaries {
            Some(_) => TOPOLOGY_EVERY,
            None => PING_EVERY,
        });
        checks.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        checks.reset();
        let mut turn = 0usize;
        loop {
            tokio::select! {
                push = pushes.recv() => match push {
                    Some(PushInfo { kind: PushKind::Invalidate, data }) => {
                        listener(invalidation(data));
                    }
                    // Any connection's: reports from its node may be missed from now on.
                    Some(PushInfo { kind: PushKind::Disconnection, .. }) | None => break,
                    Some(_) => {}
                },
                () = reset.notified() => break,
                _ = checks.tick() => {
                    if store.strong_count() == 0 {
                        listener(KeyEvent::Lost);
                        return;
                    }
                    turn = turn.wrapping_add(1);
                    let check = tracked.check(turn);
                    if !matches!(tokio::time::timeout(op_timeout, check).await, Ok(true)) {
                        break;
                    }
                }
            }
        }
        listener(KeyEvent::Lost);
    }
}

/// Opens tracking connections.
#[derive(Clone)]
struct Opener {
    prefixes: Vec<String>,
    connect_timeout: Duration,
    /// Where every connection's pushes go.
    pushes: UnboundedSender<PushInfo>,
}

impl Opener {
    /// The connections `tracking` needs, each tracking. Errors are for the log (unscrubbed).
    async fn tracked(&self, tracking: Tracking<'_>) -> Result<Tracked, String> {
        match tracking {
            Tracking::Single(client) => Ok(Tracked {
                connections: vec![self.open(client).await.map_err(|e| e.to_string())?],
                primaries: None,
            }),
            Tracking::Cluster(nodes) => self.tracked_cluster(nodes).await,
        }
    }

    /// A connection to every primary the first seed that answers names.
    async fn tracked_cluster(&self, nodes: &NodeClients) -> Result<Tracked, String> {
        let mut failures = Vec::new();
        for seed in &nodes.seeds {
            let asked = async {
                let mut connection = self.connect(seed, false).await?;
                cluster_primaries(&mut connection, &seed_host(seed)).await
            };
            let primaries = match asked.await {
                Ok(primaries) if !primaries.is_empty() => primaries,
                Ok(_) => {
                    failures.push("no primary listed".to_owned());
                    continue;
                }
                Err(err) => {
                    failures.push(err.to_string());
                    continue;
                }
            };
            // All at once: one after the other, a Cluster of many primaries far away would not
            // be tracked within the connect timeout.
            let mut opening = tokio::task::JoinSet::new();
            for (index, (host, port)) in primaries.iter().enumerate() {
                let client = nodes.client(host, *port).map_err(|err| err.0)?;
                let (open, address) = (self.clone(), format!("{host}:{port}"));
                opening.spawn(async move {
                    let opened = open.open(&client).await;
                    (
                        index,
                        opened.map_err(|err| format!("primary {address}: {err}")),
                    )
                });
            }
            let mut connections: Vec<Option<MultiplexedConnection>> =
                std::iter::repeat_with(|| None)
                    .take(primaries.len())
                    .collect();
            while let Some(opened) = opening.join_next().await {
                let (index, connection) = opened.map_err(|err| err.to_string())?;
                connections[index] = Some(connection?);
            }
            return Ok(Tracked {
                connections: connections.into_iter().flatten().collect(),
                primaries: Some(primaries),
            });
        }
        Err(format!(
            "no seed node named the primaries: {}",
            failures.join("; ")
        ))
    }

    /// A RESP3 connection; with `pushes`, its pushes (its disconnection too) go to the shared
    /// channel.
    async fn connect(
        &self,
        client: &Client,
        pushes: bool,
    ) -> Result<MultiplexedConnection, RedisError> {
        let mut config = AsyncConnectionConfig::new()
            .set_connection_timeout(Some(self.connect_timeout))
            .set_response_timeout(None);
        if pushes {
            config = config.set_push_sender(self.pushes.clone());
        }
        client
            .get_multiplexed_async_connection_with_config(&config)
            .await
    }

    /// [`Opener::connect`], tracking the keys of the prefixes.
    async fn open(&self, client: &Client) -> Result<MultiplexedConnection, RedisError> {
        let mut connection = self.connect(client, true).await?;
        let mut tracking = redis::cmd("CLIENT");
        tracking.arg("TRACKING").arg("ON").arg("BCAST");
        for prefix in &self.prefixes {
            tracking.arg("PREFIX").arg(prefix);
        }
        tracking.query_async::<()>(&mut connection).await?;
        let _ = redis::cmd("CLIENT")
            .arg("SETNAME")
            .arg("cached-json-tracking")
            .query_async::<()>(&mut connection)
            .await;
        Ok(connection)
    }
}

impl Tracked {
    /// Whether the tracking still covers everything: one server answers `PING`; on a Cluster,
    /// the tracked node whose `turn` it is names no primary that is not tracked.
    async fn check(&mut self, turn: usize) -> bool {
        let count = self.connections.len();
        let connection = &mut self.connections[turn % count];
        match &self.primaries {
            None => redis::cmd("PING")
                .query_async::<()>(connection)
                .await
                .is_ok(),
            Some(tracked) => {
                let (host, _) = &tracked[turn % count];
                matches!(cluster_primaries(connection, host).await, Ok(now) if covers(tracked, &now))
            }
        }
    }
}

/// Whether the primaries `tracked` (sorted) include every one of `now`. Only a primary not
/// tracked can take writes unheard; one tracked that is no longer a primary (demoted: it reports
/// what it replicates; gone: its connection drops) costs nothing. Not equality: nodes see
/// changes at different times, and one cut off from the others may keep an old view for long;
/// comparing each view in turn for equality would start tracking over, and flush the L1, again
/// and again.
fn covers(tracked: &[Address], now: &[Address]) -> bool {
    now.iter()
        .all(|primary| tracked.binary_search(primary).is_ok())
}

/// The host of a seed's address: what a node that does not know its own address is reached by.
fn seed_host(client: &Client) -> String {
    match client.get_connection_info().addr() {
        redis::ConnectionAddr::Tcp(host, _) | redis::ConnectionAddr::TcpTls { host, .. } => {
            host.clone()
        }
        _ => String::new(),
    }
}

/// The primaries the node on `connection` (reached at `host`) knows, sorted.
async fn cluster_primaries(
    connection: &mut MultiplexedConnection,
    host: &str,
) -> Result<Vec<Address>, RedisError> {
    let nodes: String = redis::cmd("CLUSTER")
        .arg("NODES")
        .query_async(connection)
        .await?;
    Ok(primaries(&nodes, host))
}

/// The primaries in a `CLUSTER NODES` answer, sorted: every node flagged `master` that is not
/// `fail` (failed over, or about to be), `handshake` (not yet a member) or `noaddr`, slots or
/// none (a primary importing its first slot already holds keys). A node listed without an IP
/// (itself, before it learned it) is `asked_host`; one that announces a hostname, that name.
fn primaries(nodes: &str, asked_host: &str) -> Vec<Address> {
    let mut found = BTreeSet::new();
    for line in nodes.lines() {
        let mut fields = line.split_ascii_whitespace();
        let (Some(_id), Some(address), Some(flags)) = (fields.next(), fields.next(), fields.next())
        else {
            continue;
        };
        let flags: Vec<&str> = flags.split(',').collect();
        if !flags.contains(&"master")
            || flags
                .iter()
                .any(|flag| matches!(*flag, "fail" | "handshake" | "noaddr"))
        {
            continue;
        }
        // `ip:port@cport[,hostname[,aux=value]*]` (an IPv6 address has colons of its own). An
        // announced hostname is what the node wants clients to use (a TLS certificate names
        // it); else the IP, as redis-rs's cluster client does.
        let mut parts = address.split(',');
        let endpoint = parts.next().unwrap_or_default();
        let hostname = parts.next().filter(|h| !h.is_empty() && !h.contains('='));
        let endpoint = endpoint.split('@').next().unwrap_or_default();
        let Some((ip, port)) = endpoint.rsplit_once(':') else {
            continue;
        };
        let Ok(port) = port.parse::<u16>() else {
            continue;
        };
        if port == 0 {
            continue;
        }
        let host = match hostname {
            Some(hostname) => hostname,
            None if ip.is_empty() => asked_host,
            None => ip,
        };
        found.insert((host.to_owned(), port));
    }
    found.into_iter().collect()
}

/// What an `invalidate` push says: the keys, or (null) every key.
fn invalidation(data: Vec<Value>) -> KeyEvent {
    let mut keys = Vec::new();
    for value in data {
        match value {
            Value::Array(items) | Value::Set(items) => {
                for item in items {
                    if let Ok(key) = redis::from_redis_value::<String>(item) {
                        keys.push(key);
                    }
                }
            }
            Value::Nil => return KeyEvent::Flushed,
            other => {
                if let Ok(key) = redis::from_redis_value::<String>(other) {
                    keys.push(key);
                }
            }
        }
    }
    KeyEvent::Changed(keys)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_a_primary_not_tracked_starts_tracking_over() {
        let node = |port| ("10.0.0.1".to_owned(), port);
        let tracked = [node(1), node(2), node(3)];
        assert!(covers(&tracked, &[node(1), node(2), node(3)]));
        // A view where a primary failed (or was demoted): still covered.
        assert!(covers(&tracked, &[node(1), node(3)]));
        // A replica promoted, a primary added: not.
        assert!(!covers(&tracked, &[node(1), node(3), node(4)]));
        assert!(!covers(&tracked, &[node(1), node(2), node(3), node(4)]));
    }

    #[test]
    fn the_primaries_are_the_masters_that_can_take_writes() {
        // Redis 7's `CLUSTER NODES`: three primaries, one failed over, a new one without slots,
        // replicas, a node in handshake.
        let nodes = "\
07c37dfeb235213a872192d90877d0cd55635b91 127.0.0.1:30004@31004,host-4 slave e7d1eecce10fd6bb5eb35b9f99a514335d9ba9ca 0 1426238317239 4 connected
67ed2db8d677e59ec4a4cefb06858cf2a1a89fa1 127.0.0.1:30002@31002 master - 0 1426238316232 2 connected 5461-10922
292f8b365bb7edb5e285caf0b7e6ddc7265d2f4f 127.0.0.1:30003@31003 master - 0 1426238318243 3 connected 10923-16383
6ec23923021cf3ffec47632106199cb7f496ce01 127.0.0.1:30005@31005 slave 67ed2db8d677e59ec4a4cefb06858cf2a1a89fa1 0 1426238316232 5 connected
e7d1eecce10fd6bb5eb35b9f99a514335d9ba9ca :30001@31001 myself,master - 0 0 1 connected 0-5460
aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa 127.0.0.1:30006@31006 master,fail - 1426238316232 0 6 disconnected
bbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbb 127.0.0.1:30007@31007,,shard-id=abc master - 0 1426238316232 7 connected
ffffffffffffffffffffffffffffffffffffffff 10.0.0.8:6379@16379,node-8.example,shard-id=def master - 0 1426238316232 8 connected 0
cccccccccccccccccccccccccccccccccccccccc 127.0.0.1:30008@31008 handshake - 0 0 0 disconnected
dddddddddddddddddddddddddddddddddddddddd :0@0 master,noaddr - 0 0 0 disconnected
eeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeee ::1:30009@31009 master,fail? - 0 0 9 connected 16383
";
        assert_eq!(
            primaries(nodes, "seed.example"),
            [
                ("127.0.0.1".to_owned(), 30002),
                ("127.0.0.1".to_owned(), 30003),
                ("127.0.0.1".to_owned(), 30007),
                ("::1".to_owned(), 30009),
                ("node-8.example".to_owned(), 6379),
                ("seed.example".to_owned(), 30001),
            ]
        );
    }

    #[test]
    fn an_invalidate_push_names_keys_or_flushes() {
        let keys = vec![Value::Array(vec![
            Value::BulkString(b"app:a:1".to_vec()),
            Value::BulkString(b"app:b:2".to_vec()),
        ])];
        assert_eq!(
            invalidation(keys),
            KeyEvent::Changed(vec!["app:a:1".into(), "app:b:2".into()])
        );
        assert_eq!(invalidation(vec![Value::Nil]), KeyEvent::Flushed);
    }
}
