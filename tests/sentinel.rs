//! Redis Sentinel against real processes (feature `sentinel`): a master, its replica and three
//! sentinels (test-support). A cache on a `redis+sentinel://` URL caches on the master the
//! sentinels name; when the master is killed under load, no call fails or returns another
//! key's value, none waits for the failover (each is bounded by a command timeout), caching
//! resumes on the promoted replica (the time from the promotion is measured and printed,
//! `--nocapture`), and the L1 stays coherent: an invalidation made after the failover by
//! another instance reaches it. An ACL user's credentials in the URL are the master's. Over TLS
//! (`rediss+sentinel://`) with a private CA, the sentinels and the master are both reached,
//! before and after a failover.

use std::collections::{BTreeMap, HashMap};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use cached_json::{cached_json, observe, Cache, CacheOutcome};
use cached_json_test_support::{RedisSentinels, TlsFiles};

const IDS: u64 = 50;

/// The origin's version of each id's value: bumped to see a recomputed value.
static VERSIONS: Mutex<BTreeMap<u64, u64>> = Mutex::new(BTreeMap::new());

fn version(id: u64) -> u64 {
    *VERSIONS.lock().unwrap().get(&id).unwrap_or(&0)
}

#[cached_json("sentinel-item", ttl = 600)]
async fn item(id: u64) -> String {
    format!("item {id} v{}", version(id))
}

fn sentinel_cache(set_up: &RedisSentinels, credentials: &str, l1: bool) -> Cache {
    let builder = Cache::builder()
        .redis_url(set_up.url(credentials))
        .namespace("sentinel-test");
    match l1 {
        true => builder.l1(1 << 20),
        false => builder,
    }
    .build()
    .unwrap()
}

/// One call of the load: when it ended (from the load's start), what it did, how long it took.
struct Sample {
    at: Duration,
    outcome: Option<CacheOutcome>,
    took: Duration,
}

/// Four tasks calling `item` over [`IDS`] ids in `cache` until stopped; every answer checked
/// to be its id's (a wrong value panics the task, and the test with it).
async fn load(cache: Cache, started: Instant, stop: Arc<AtomicBool>) -> Vec<Sample> {
    let tasks: Vec<_> = (0..4u64)
        .map(|task| {
            let (cache, stop) = (cache.clone(), stop.clone());
            tokio::spawn(async move {
                let mut samples = Vec::new();
                let mut n = task;
                while !stop.load(Ordering::Relaxed) {
                    let id = n % IDS;
                    n += 7;
                    let call = Instant::now();
                    let (value, outcome) = cache.scope(observe(item(id))).await;
                    let prefix = format!("item {id} v");
                    assert!(value.starts_with(&prefix), "{value:?} for id {id}");
                    samples.push(Sample {
                        at: started.elapsed(),
                        outcome,
                        took: call.elapsed(),
                    });
                    tokio::time::sleep(Duration::from_millis(2)).await;
                }
                samples
            })
        })
        .collect();
    let mut samples = Vec::new();
    for task in tasks {
        samples.extend(task.await.expect("no call panicked"));
    }
    samples
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn killing_the_master_under_load_fails_over_to_the_replica_without_errors() {
    let mut set_up = RedisSentinels::start();
    let cache = sentinel_cache(&set_up, "", true);
    let other = sentinel_cache(&set_up, "", false);
    for id in 0..IDS {
        assert_eq!(cache.scope(item(id)).await, format!("item {id} v0"));
    }
    let started = Instant::now();
    let stop = Arc::new(AtomicBool::new(false));
    let load = tokio::spawn(load(cache.clone(), started, stop.clone()));
    tokio::time::sleep(Duration::from_secs(1)).await;

    let killed_at = started.elapsed();
    let old = set_up.kill_master();
    let set_up = tokio::task::spawn_blocking(move || {
        let promoted = set_up.wait_for_promotion(old, Duration::from_secs(30));
        (set_up, promoted)
    })
    .await
    .unwrap();
    let (set_up, promoted) = set_up;
    let promoted_at = promoted.duration_since(started);
    tokio::time::sleep(Duration::from_secs(3)).await;
    stop.store(true, Ordering::Relaxed);
    let samples = load.await.unwrap();

    let mut counts: HashMap<&str, [u64; 3]> = HashMap::new();
    for sample in &samples {
        let phase = match sample.at {
            at if at < killed_at => 0,
            at if at < promoted_at => 1,
            _ => 2,
        };
        counts
            .entry(sample.outcome.map_or("NONE", CacheOutcome::as_str))
            .or_default()[phase] += 1;
    }
    // The first call that read the new master (a hit, from Redis or the L1 it refilled).
    let resumed = samples
        .iter()
        .filter(|s| s.at >= promoted_at)
        .filter(|s| matches!(s.outcome, Some(CacheOutcome::Hit | CacheOutcome::HitL1)))
        .map(|s| s.at)
        .min()
        .expect("caching resumed");
    let last_bypass = samples
        .iter()
        .filter(|s| s.outcome == Some(CacheOutcome::Bypass))
        .map(|s| s.at)
        .max();
    let slowest = samples.iter().map(|s| s.took).max().unwrap();
    println!(
        "sentinel failover: {} calls; outcomes [before kill, until promotion, after] {counts:?}; \
         promoted {:?} after the kill; first hit on the new master {:?} after the promotion, \
         last bypass {:?} after it; slowest call {slowest:?}",
        samples.len(),
        promoted_at - killed_at,
        resumed.saturating_sub(promoted_at),
        last_bypass.map(|at| at.saturating_sub(promoted_at)),
    );
    // No call waited for the failover: each is bounded by a command timeout (250 ms).
    assert!(slowest < Duration::from_secs(1), "a call took {slowest:?}");
    // Caching resumes on its own: the store reconnects with backoff (up to `retry_max`, 1 s),
    // asking the sentinels each time, and the promoted replica has what it replicated.
    assert!(
        resumed - promoted_at < Duration::from_millis(2500),
        "caching resumed {:?} after the promotion",
        resumed - promoted_at
    );
    assert!(
        last_bypass.is_none_or(|at| at < promoted_at + Duration::from_millis(2500)),
        "a bypass {last_bypass:?} long after the promotion at {promoted_at:?}"
    );

    // The L1 is coherent on the new master: another instance's invalidation reaches it.
    assert_eq!(
        cache.scope(observe(item(3))).await.0,
        "item 3 v0",
        "the value replicated before the kill"
    );
    *VERSIONS.lock().unwrap().entry(3).or_default() += 1;
    assert!(other.scope(item_invalidate(3)).await.unwrap());
    let invalidated = Instant::now();
    loop {
        let (value, outcome) = cache.scope(observe(item(3))).await;
        if value == "item 3 v1" {
            println!(
                "sentinel failover: the invalidation reached the L1 in {:?} ({outcome:?})",
                invalidated.elapsed()
            );
            break;
        }
        assert!(
            invalidated.elapsed() < Duration::from_secs(1),
            "the L1 still serves {value:?} ({outcome:?})"
        );
        tokio::time::sleep(Duration::from_millis(2)).await;
    }
    assert_ne!(set_up.master().port(), old);
}

#[tokio::test]
async fn an_acl_user_in_the_url_is_the_master_s() {
    let set_up = RedisSentinels::start();
    for server in set_up.servers() {
        let _: () = redis::cmd("ACL")
            .arg(&["SETUSER", "cache", "on", ">s3cret", "~*", "&*", "+@all"][..])
            .query(&mut server.connection())
            .unwrap();
    }
    let cache = sentinel_cache(&set_up, "cache:s3cret@", false);
    let (value, outcome) = cache.scope(observe(item(1000))).await;
    assert_eq!(
        (value.as_str(), outcome),
        ("item 1000 v0", Some(CacheOutcome::Miss))
    );
    let (_, outcome) = cache.scope(observe(item(1000))).await;
    assert_eq!(outcome, Some(CacheOutcome::Hit));
    // A wrong password: the calls still answer, uncached.
    let wrong = sentinel_cache(&set_up, "cache:wrong@", false);
    let (value, outcome) = wrong.scope(observe(item(1001))).await;
    assert_eq!(
        (value.as_str(), outcome),
        ("item 1001 v0", Some(CacheOutcome::Bypass))
    );
}

#[cached_json("sentinel-tls-item", ttl = 600)]
async fn tls_item(id: u64) -> String {
    format!("tls item {id}")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn over_tls_with_a_private_ca_the_sentinels_and_the_master_are_reached() {
    let files = TlsFiles::generate(&["DNS:localhost", "IP:127.0.0.1"]);
    let mut set_up = RedisSentinels::start_tls(&files);
    let cache = Cache::builder()
        .redis_url(set_up.tls_url())
        .tls_ca(files.path("ca.crt"))
        .namespace("sentinel-tls")
        .build()
        .unwrap();
    // The first call waits for the first connection (its budget with Sentinel: the sentinels
    // asked over TLS, then the master connected to over TLS), and so is cached.
    let mut outcomes = Vec::new();
    for _ in 0..2 {
        let (value, outcome) = cache.scope(observe(tls_item(1))).await;
        assert_eq!(value, "tls item 1");
        outcomes.push(outcome);
    }
    assert_eq!(
        outcomes,
        [Some(CacheOutcome::Miss), Some(CacheOutcome::Hit)],
        "cached over TLS"
    );
    assert_eq!(
        set_up.master().keys("sentinel-tls:*").len(),
        1,
        "on the master"
    );

    let old = set_up.kill_master();
    let (set_up, promoted) = tokio::task::spawn_blocking(move || {
        let promoted = set_up.wait_for_promotion(old, Duration::from_secs(30));
        (set_up, promoted)
    })
    .await
    .unwrap();
    // Caching resumes on the promoted replica, found through the sentinels over TLS: a hit on
    // the entry it replicated.
    loop {
        let (value, outcome) = cache.scope(observe(tls_item(1))).await;
        assert_eq!(value, "tls item 1");
        if outcome == Some(CacheOutcome::Hit) {
            println!(
                "sentinel over TLS: a hit on the promoted replica {:?} after the promotion",
                promoted.elapsed()
            );
            break;
        }
        assert!(
            promoted.elapsed() < Duration::from_secs(5),
            "no hit on the promoted replica ({outcome:?})"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    assert_ne!(set_up.master().tls_port(), Some(old));
}
