//! An invalidation made by one process is obeyed by every other process sharing the Redis within
//! a bound, whatever happens to the connection that carries it: a subscriber connection
//! black-holed (a proxy stops forwarding it without closing it), a re-subscription refused
//! (`maxclients` reached, pub/sub clients killed), a `PUBLISH` refused; nor does a reader that
//! was stopped (SIGSTOP) while it happened serve a value from before it once it resumes, from
//! Redis or from its L1. With and without an L1.
//!
//! Each test runs a reader in a child process that reads a cached function every half
//! millisecond (its Redis connections through a [`TcpProxy`]), while this process changes the
//! truth the function reads and invalidates every entry of the function, again and again. No
//! read that started more than the bound after an invalidation returned may give a value from
//! before it.

use std::sync::OnceLock;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use cached_json::{cached_json, Cache};
use cached_json_test_support::{child, RedisServer, TcpProxy};

/// The longest a process goes on using a generation another process replaced, when it did not
/// hear of it: the runtime's trust in what its subscription told it (`generation::TRUST_FOR`).
const BOUND: Duration = Duration::from_millis(150);

/// Slack for reading two processes' clocks (CLOCK_REALTIME here, the lease's CLOCK_MONOTONIC
/// there): the bound holds on one clock, the reads are stamped on another.
const CLOCKS: Duration = Duration::from_millis(5);

/// The truth the origin reads, directly on the test's Redis (never through the proxy).
static ORIGIN: OnceLock<redis::aio::MultiplexedConnection> = OnceLock::new();
static ORIGIN_CLIENT: OnceLock<redis::Client> = OnceLock::new();

#[cached_json("truth", ttl = 600)]
async fn truth() -> Result<u64, String> {
    let mut connection = ORIGIN.get().expect("the origin's connection").clone();
    let read = |mut connection: redis::aio::MultiplexedConnection| async move {
        redis::cmd("GET")
            .arg("test:truth")
            .query_async::<Option<u64>>(&mut connection)
            .await
            .map(|value| value.unwrap_or(0))
    };
    match read(connection.clone()).await {
        // The test's own connection to the origin (the cache's go through the proxy) was reset
        // once, on a loaded machine, as the reader resumed from SIGSTOP: read on a new one.
        Err(err) if err.is_io_error() || err.is_connection_dropped() => {
            let client = ORIGIN_CLIENT.get().expect("the origin's client");
            connection = client
                .get_multiplexed_async_connection()
                .await
                .map_err(|err| err.to_string())?;
            read(connection).await.map_err(|err| err.to_string())
        }
        read => read.map_err(|err| err.to_string()),
    }
}

/// Microseconds since the epoch: a clock both processes read.
fn now_us() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_micros() as u64
}

#[derive(Clone, Copy, Debug, PartialEq)]
enum Fault {
    /// The reader's subscriber connection stops forwarding, both ways, without closing; so does
    /// every new one, until the fault ends.
    BlackHole,
    /// Every pub/sub connection is killed while `maxclients` is reached: resubscribing is
    /// refused until the fault ends.
    ResubscribeRefused,
    /// The invalidating process may not `PUBLISH` (ACL) until the fault ends.
    PublishRefused,
    /// The reader is stopped (SIGSTOP) for a second while its entry is deleted
    /// (`truth_invalidate`: the L1 hears it from its tracking connection).
    StalledWhileDeleted,
    /// The reader is stopped (SIGSTOP) for a second while every entry of the function is
    /// invalidated (`truth_invalidate_all`: heard on the subscription).
    StalledWhileInvalidatedAll,
}

/// What the reader is told: `direct proxied l1 run_ms pace`: `pace` `calm` reads every half
/// millisecond; `hot`, in two tasks as fast as they can (a stalled process resumes in the middle
/// of its reads, before its store's thread has read what was queued).
async fn reader(argument: &str) {
    let words: Vec<&str> = argument.split(' ').collect();
    let (direct, proxied, l1, run, hot) = (
        words[0],
        words[1],
        words[2] == "l1",
        Duration::from_millis(words[3].parse().unwrap()),
        words[4] == "hot",
    );
    let client = redis::Client::open(direct).unwrap();
    let origin = client.get_multiplexed_async_connection().await.unwrap();
    let _ = ORIGIN_CLIENT.set(client);
    let _ = ORIGIN.set(origin.clone());
    let mut builder = Cache::builder().redis_url(proxied);
    if l1 {
        builder = builder.l1(16 << 20);
    }
    let cache = builder.build().unwrap();
    let started = Instant::now();
    let mut readers = tokio::task::JoinSet::new();
    for _ in 0..if hot { 2 } else { 1 } {
        let cache = cache.clone();
        readers.spawn(async move {
            // value -> (first, last) start of a read that returned it.
            let mut seen = std::collections::BTreeMap::<u64, (u64, u64)>::new();
            while started.elapsed() < run {
                let at = now_us();
                let value = cache.scope(truth()).await.unwrap();
                let entry = seen.entry(value).or_insert((at, at));
                entry.1 = at;
                match hot {
                    true => tokio::task::yield_now().await,
                    false => tokio::time::sleep(Duration::from_micros(500)).await,
                }
            }
            seen
        });
    }
    tokio::time::sleep(Duration::from_millis(300)).await;
    let _: () = redis::cmd("SET")
        .arg("test:ready")
        .arg(std::process::id())
        .query_async(&mut origin.clone())
        .await
        .unwrap();
    let mut seen = std::collections::BTreeMap::<u64, (u64, u64)>::new();
    while let Some(read) = readers.join_next().await {
        for (value, (first, last)) in read.unwrap() {
            let entry = seen.entry(value).or_insert((first, last));
            entry.0 = entry.0.min(first);
            entry.1 = entry.1.max(last);
        }
    }
    for (value, (first, last)) in seen {
        println!("SEEN {value} {first} {last}");
    }
}

/// How a run went: per invalidation, how long after it returned the reader still read a value
/// from before it (0 if never).
struct Staleness {
    during: Vec<Duration>,
    after: Vec<Duration>,
    /// How long after the fault ended a value from before the last invalidation made during
    /// it was still read.
    after_fault_ended: Duration,
}

fn stale_for(seen: &[(u64, u64, u64)], value: u64, at: u64) -> Duration {
    let last_older = seen
        .iter()
        .filter(|(seen_value, _, _)| *seen_value < value)
        .map(|&(_, _, last)| last)
        .max()
        .unwrap_or(0);
    Duration::from_micros(last_older.saturating_sub(at))
}

async fn run(test: &str, fault: Fault, l1: bool) -> Staleness {
    let server = RedisServer::start();
    let proxy = TcpProxy::start(server.port());
    let mut direct = server.connection();
    let set = |connection: &mut redis::Connection, args: &[&str]| {
        let mut cmd = redis::cmd(args[0]);
        for arg in &args[1..] {
            cmd.arg(*arg);
        }
        cmd.query::<redis::Value>(connection)
            .unwrap_or_else(|err| panic!("{args:?}: {err}"))
    };
    set(&mut direct, &["SET", "test:truth", "0"]);
    let writer_url = match fault {
        Fault::PublishRefused => {
            set(
                &mut direct,
                &[
                    "ACL", "SETUSER", "writer", "on", ">pw", "~*", "&*", "+@all", "-publish",
                ],
            );
            format!("redis://writer:pw@127.0.0.1:{}/0", server.port())
        }
        _ => server.url(),
    };
    let writer = Cache::builder().redis_url(&writer_url).build().unwrap();
    // Its connections made before any fault.
    writer.scope(truth_key()).await.unwrap();

    let run_ms = 5_000;
    let stalls = matches!(
        fault,
        Fault::StalledWhileDeleted | Fault::StalledWhileInvalidatedAll
    );
    let argument = format!(
        "{} {} {} {run_ms} {}",
        server.url(),
        proxy.url(),
        if l1 { "l1" } else { "plain" },
        if stalls { "hot" } else { "calm" }
    );
    let test = test.to_owned();
    let reader = tokio::task::spawn_blocking(move || child::spawn(&test, 1, &argument).remove(0));
    let waiting = Instant::now();
    let pid = loop {
        if let redis::Value::BulkString(pid) = set(&mut direct, &["GET", "test:ready"]) {
            break String::from_utf8(pid).unwrap();
        }
        assert!(
            waiting.elapsed() < Duration::from_secs(10),
            "the reader never got ready"
        );
        tokio::time::sleep(Duration::from_millis(10)).await;
    };
    let signal = |name: &str| {
        let status = std::process::Command::new("kill")
            .args([&format!("-{name}"), &pid])
            .status()
            .unwrap();
        assert!(status.success(), "kill -{name} {pid}");
    };

    match fault {
        Fault::BlackHole => {
            let frozen = proxy.freeze_matching("SUBSCRIBE");
            assert_eq!(frozen, 1, "the reader's subscriber connection");
        }
        Fault::ResubscribeRefused => {
            let info = match set(&mut direct, &["INFO", "clients"]) {
                redis::Value::BulkString(bytes) => String::from_utf8(bytes).unwrap(),
                redis::Value::VerbatimString { text, .. } => text,
                other => panic!("INFO: {other:?}"),
            };
            let connected: usize = info
                .lines()
                .find_map(|line| line.strip_prefix("connected_clients:"))
                .unwrap()
                .trim()
                .parse()
                .unwrap();
            let subscribers = match set(&mut direct, &["CLIENT", "LIST", "TYPE", "pubsub"]) {
                redis::Value::BulkString(bytes) => String::from_utf8(bytes).unwrap(),
                redis::Value::VerbatimString { text, .. } => text,
                other => panic!("CLIENT LIST: {other:?}"),
            }
            .lines()
            .filter(|line| !line.is_empty())
            .count();
            assert!(
                subscribers >= 2,
                "the reader's and the writer's subscribers"
            );
            let full = (connected - subscribers).to_string();
            set(&mut direct, &["CONFIG", "SET", "maxclients", &full]);
            set(&mut direct, &["CLIENT", "KILL", "TYPE", "pubsub"]);
        }
        Fault::PublishRefused => {}
        Fault::StalledWhileDeleted | Fault::StalledWhileInvalidatedAll => {
            signal("STOP");
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }

    // Invalidations every 40 ms while the fault lasts (one, for a stalled reader), then after
    // it ends.
    let mut invalidations = Vec::new();
    let mut value = 0u64;
    let faulted = Instant::now();
    match fault {
        Fault::StalledWhileDeleted | Fault::StalledWhileInvalidatedAll => {
            value += 1;
            set(&mut direct, &["SET", "test:truth", &value.to_string()]);
            if fault == Fault::StalledWhileDeleted {
                writer.scope(truth_invalidate()).await.unwrap();
            } else {
                writer.scope(truth_invalidate_all()).await.unwrap();
            }
            invalidations.push((value, now_us()));
            tokio::time::sleep(Duration::from_millis(900)).await;
        }
        _ => {
            while faulted.elapsed() < Duration::from_millis(1_600) {
                value += 1;
                set(&mut direct, &["SET", "test:truth", &value.to_string()]);
                writer.scope(truth_invalidate_all()).await.unwrap();
                invalidations.push((value, now_us()));
                tokio::time::sleep(Duration::from_millis(40)).await;
            }
        }
    }
    let during = invalidations.len();
    let last_during = value;
    match fault {
        Fault::BlackHole => proxy.thaw(),
        Fault::ResubscribeRefused => {
            set(&mut direct, &["CONFIG", "SET", "maxclients", "10000"]);
        }
        Fault::PublishRefused => {
            set(&mut direct, &["ACL", "SETUSER", "writer", "+publish"]);
        }
        Fault::StalledWhileDeleted | Fault::StalledWhileInvalidatedAll => signal("CONT"),
    }
    let fault_ended = now_us();
    if fault == Fault::PublishRefused {
        // No newer invalidation for a while: only the retry of the refused publications can
        // tell the reader.
        tokio::time::sleep(Duration::from_millis(800)).await;
    }
    let after = Instant::now();
    while after.elapsed() < Duration::from_millis(1_200) {
        value += 1;
        set(&mut direct, &["SET", "test:truth", &value.to_string()]);
        writer.scope(truth_invalidate_all()).await.unwrap();
        invalidations.push((value, now_us()));
        tokio::time::sleep(Duration::from_millis(40)).await;
    }

    let stdout = reader.await.unwrap();
    let seen: Vec<(u64, u64, u64)> = stdout
        .lines()
        .filter_map(|line| line.strip_prefix("SEEN "))
        .map(|line| {
            let words: Vec<u64> = line.split(' ').map(|w| w.parse().unwrap()).collect();
            (words[0], words[1], words[2])
        })
        .collect();
    assert!(
        seen.iter().any(|&(v, _, _)| v == value),
        "the reader never read the last value: {stdout}"
    );
    let staleness: Vec<Duration> = invalidations
        .iter()
        .map(|&(value, at)| stale_for(&seen, value, at))
        .collect();
    let (during, after) = staleness.split_at(during);
    Staleness {
        during: during.to_vec(),
        after: after.to_vec(),
        after_fault_ended: stale_for(&seen, last_during, fault_ended),
    }
}

fn report(name: &str, staleness: &Staleness) {
    let summary = |samples: &[Duration]| {
        let mut sorted = samples.to_vec();
        sorted.sort();
        let p99 = sorted[((sorted.len() - 1) as f64 * 0.99) as usize];
        let stale = sorted.iter().filter(|d| !d.is_zero()).count();
        format!(
            "{} invalidations, {stale} with stale reads after they returned, p99 {:.1} ms, max {:.1} ms",
            sorted.len(),
            p99.as_secs_f64() * 1e3,
            sorted.last().unwrap().as_secs_f64() * 1e3
        )
    };
    println!(
        "{name}: during the fault {}; after it {}; values from before the fault's end read until {:.1} ms after it",
        summary(&staleness.during),
        summary(&staleness.after),
        staleness.after_fault_ended.as_secs_f64() * 1e3
    );
}

fn assert_bounded(name: &str, samples: &[Duration], bound: Duration) {
    for (i, stale) in samples.iter().enumerate() {
        assert!(
            *stale <= bound + CLOCKS,
            "{name}: invalidation {i}: a value from before it was read {stale:?} after it returned (bound {bound:?})"
        );
    }
}

macro_rules! delivery_test {
    ($name:ident, $fault:expr, $l1:expr) => {
        #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
        async fn $name() {
            if let Some(argument) = child::role() {
                reader(&argument).await;
                return;
            }
            let staleness = run(stringify!($name), $fault, $l1).await;
            report(stringify!($name), &staleness);
            match $fault {
                Fault::PublishRefused => {
                    // Nothing reaches the others while the publication is refused; once it is
                    // allowed, the retry (backing off to 250 ms) delivers it.
                    assert_bounded(stringify!($name), &staleness.after, BOUND);
                    let bound = Duration::from_millis(250) + BOUND;
                    assert!(
                        staleness.after_fault_ended <= bound,
                        "{}: stale values were read {:?} after the publication was allowed again",
                        stringify!($name),
                        staleness.after_fault_ended
                    );
                }
                _ => {
                    assert_bounded(stringify!($name), &staleness.during, BOUND);
                    assert_bounded(stringify!($name), &staleness.after, BOUND);
                }
            }
        }
    };
}

delivery_test!(a_black_holed_subscriber_without_l1, Fault::BlackHole, false);
delivery_test!(a_black_holed_subscriber_with_l1, Fault::BlackHole, true);
delivery_test!(
    a_refused_resubscription_without_l1,
    Fault::ResubscribeRefused,
    false
);
delivery_test!(
    a_refused_resubscription_with_l1,
    Fault::ResubscribeRefused,
    true
);
delivery_test!(a_refused_publish_without_l1, Fault::PublishRefused, false);
delivery_test!(a_refused_publish_with_l1, Fault::PublishRefused, true);
delivery_test!(
    a_reader_stalled_while_its_entry_was_deleted,
    Fault::StalledWhileDeleted,
    true
);
delivery_test!(
    a_reader_stalled_while_every_entry_was_invalidated_without_l1,
    Fault::StalledWhileInvalidatedAll,
    false
);
delivery_test!(
    a_reader_stalled_while_every_entry_was_invalidated_with_l1,
    Fault::StalledWhileInvalidatedAll,
    true
);
