//! Stampede protection (in-process and across processes), stale-if-error and TTL jitter,
//! against real redis-server processes.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use cached_json::__private::KeyBuilder;
use cached_json::key::Key;
use cached_json::{cached_json, observe, Cache, CacheOutcome};
use cached_json_test_support::{child, concurrently, count, RedisServer};
use redis::Commands;
use tokio::task::JoinSet;

static COLD_RUNS: AtomicUsize = AtomicUsize::new(0);

#[cached_json("cold", ttl = 60)]
async fn cold(id: u32) -> String {
    COLD_RUNS.fetch_add(1, Ordering::SeqCst);
    tokio::time::sleep(Duration::from_millis(200)).await;
    format!("value {id}")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn concurrent_misses_of_one_key_run_the_function_once() {
    let server = RedisServer::start();
    let cache = server.cache();
    let results = concurrently(&cache, 100, |_| cold(1)).await;
    assert_eq!(COLD_RUNS.load(Ordering::SeqCst), 1);
    assert!(results.iter().all(|(v, _)| v == "value 1"));
    assert_eq!(count(&results, CacheOutcome::Miss), 1);
    assert_eq!(count(&results, CacheOutcome::Coalesced), 99);
    assert_eq!(cache.in_flight(), 0);
}

static OUTAGE_RUNS: AtomicUsize = AtomicUsize::new(0);

#[cached_json("outage", ttl = 60)]
async fn during_outage(id: u32) -> u32 {
    OUTAGE_RUNS.fetch_add(1, Ordering::SeqCst);
    tokio::time::sleep(Duration::from_millis(100)).await;
    id
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn misses_are_still_coalesced_while_redis_is_down() {
    let mut server = RedisServer::start();
    let cache = server.cache();
    server.kill();
    // Let the breaker find out.
    cache.scope(during_outage(0)).await;
    let results = concurrently(&cache, 50, |_| during_outage(7)).await;
    assert!(results.iter().all(|(v, _)| *v == 7));
    assert_eq!(
        OUTAGE_RUNS.load(Ordering::SeqCst),
        2,
        "once for the probe call, once for 50"
    );
    assert_eq!(count(&results, CacheOutcome::Bypass), 1);
}

static SLOW_RUNS: AtomicUsize = AtomicUsize::new(0);

#[cached_json("slow", ttl = 60)]
async fn slow(id: u32) -> u32 {
    SLOW_RUNS.fetch_add(1, Ordering::SeqCst);
    tokio::time::sleep(Duration::from_millis(300)).await;
    id
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_cancelled_leader_hands_over_to_a_follower() {
    let server = RedisServer::start();
    let cache = server.cache();
    // The leader gives up after 50 ms (its client went away, say).
    let leader = {
        let cache = cache.clone();
        tokio::spawn(async move {
            tokio::time::timeout(Duration::from_millis(50), cache.scope(slow(5))).await
        })
    };
    tokio::time::sleep(Duration::from_millis(10)).await;
    let results = concurrently(&cache, 20, |_| slow(5)).await;
    assert!(leader.await.unwrap().is_err(), "the leader was cancelled");
    assert!(results.iter().all(|(v, _)| *v == 5));
    assert_eq!(
        SLOW_RUNS.load(Ordering::SeqCst),
        2,
        "the cancelled run and one more"
    );
    assert_eq!(cache.in_flight(), 0);
}

#[cached_json("many", ttl = 1)]
async fn many(id: u64) -> u64 {
    if id % 1000 == 999 {
        // Some calls outlive their caller's patience and are cancelled.
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    id
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_million_distinct_keys_leave_nothing_in_flight() {
    // The in-process store: this is about the in-flight table, not Redis throughput.
    let cache = Cache::builder().memory(8 * 1024 * 1024).build().unwrap();
    let started = Instant::now();
    for batch in 0..100u64 {
        let mut tasks = JoinSet::new();
        for i in 0..10_000u64 {
            let cache = cache.clone();
            let id = batch * 10_000 + i;
            tasks.spawn(async move {
                let _ = tokio::time::timeout(Duration::from_millis(5), cache.scope(many(id))).await;
            });
        }
        while tasks.join_next().await.is_some() {}
    }
    println!("1,000,000 distinct keys in {:?}", started.elapsed());
    assert_eq!(cache.in_flight(), 0);
}

// ---- Across processes: `lock`. ----

#[cached_json("shared-lock", ttl = 60, lock)]
async fn with_lock(id: u32, redis_url: &str) -> u32 {
    count_origin_run(redis_url, "runs:with-lock");
    tokio::time::sleep(Duration::from_millis(300)).await;
    id
}

#[cached_json("shared-nolock", ttl = 60)]
async fn without_lock(id: u32, redis_url: &str) -> u32 {
    count_origin_run(redis_url, "runs:without-lock");
    tokio::time::sleep(Duration::from_millis(300)).await;
    id
}

/// Counts a run in Redis itself, so that runs in several processes add up.
fn count_origin_run(redis_url: &str, counter: &str) {
    let mut conn = redis::Client::open(redis_url)
        .unwrap()
        .get_connection()
        .unwrap();
    let _: i64 = conn.incr(counter, 1).unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_processes_compute_a_cold_key_once_with_lock() {
    if let Some(url) = child::role() {
        // Child: 20 concurrent callers of each function.
        let cache = Cache::builder().redis_url(&url).build().unwrap();
        let locked = concurrently(&cache, 20, |_| {
            let url = url.clone();
            async move { with_lock(42, &url).await }
        })
        .await;
        let unlocked = concurrently(&cache, 20, |_| {
            let url = url.clone();
            async move { without_lock(42, &url).await }
        })
        .await;
        assert!(locked.iter().chain(&unlocked).all(|(v, _)| *v == 42));
        println!("CHILD OK");
        return;
    }
    let server = RedisServer::start();
    let outputs = child::spawn(
        "two_processes_compute_a_cold_key_once_with_lock",
        2,
        &server.url(),
    );
    for stdout in outputs {
        assert!(stdout.contains("CHILD OK"), "child failed: {stdout}");
    }
    let mut conn = server.connection();
    let with: i64 = conn.get("runs:with-lock").unwrap();
    let without: i64 = conn.get("runs:without-lock").unwrap();
    println!("origin runs for 2 processes x 20 callers: with lock {with}, without {without}");
    assert_eq!(with, 1, "with `lock`, one run across both processes");
    assert_eq!(
        without, 2,
        "without it, one per process (coalesced inside each)"
    );
    let locks: Vec<String> = conn.keys("*:lock").unwrap();
    assert!(locks.is_empty(), "the lock is released: {locks:?}");
}

static AFTER_CRASH_RUNS: AtomicUsize = AtomicUsize::new(0);

#[cached_json("crashed-holder", ttl = 60, lock)]
async fn after_crash(id: u32) -> u32 {
    AFTER_CRASH_RUNS.fetch_add(1, Ordering::SeqCst);
    id
}

#[tokio::test]
async fn a_crashed_lock_holder_is_survived_through_the_lease_expiry() {
    let server = RedisServer::start();
    let cache = server.cache();
    // Another process took the lock and died: nobody will store the value or release it.
    let mut args = KeyBuilder::new();
    args.arg("id", &1u32);
    let key = Key::new(None, "crashed-holder", None, args.finish().unwrap());
    let _: () = redis::cmd("SET")
        .arg(format!("{key}:lock"))
        .arg("dead-process")
        .arg("PX")
        .arg(800)
        .query(&mut server.connection())
        .unwrap();
    let started = Instant::now();
    let (value, outcome) = cache.scope(observe(after_crash(1))).await;
    let waited = started.elapsed();
    println!("waited {waited:?} for the dead holder's lease");
    assert_eq!((value, outcome), (1, Some(CacheOutcome::Miss)));
    assert!(
        waited >= Duration::from_millis(700),
        "{waited:?}: it must wait for the lease"
    );
    assert!(waited < Duration::from_secs(4), "{waited:?}");
    assert_eq!(AFTER_CRASH_RUNS.load(Ordering::SeqCst), 1);
}

// ---- stale-if-error. ----

static ORIGIN_MODE: AtomicUsize = AtomicUsize::new(0);
const HEALTHY: usize = 0;
const FAILING: usize = 1;
const PANICKING: usize = 2;
const HANGING: usize = 3;

#[cached_json("rates", ttl = 1, stale = 60, timeout_ms = 150)]
async fn exchange_rate(currency: &str) -> Result<f64, String> {
    match ORIGIN_MODE.load(Ordering::SeqCst) {
        HEALTHY => Ok(if currency == "USD" { 5.25 } else { 1.0 }),
        FAILING => Err("rates service returned 503".into()),
        PANICKING => panic!("rates client panicked"),
        _ => {
            tokio::time::sleep(Duration::from_secs(2)).await;
            Ok(9.99)
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn stale_if_error_serves_the_last_good_value_on_err_panic_and_timeout() {
    let server = RedisServer::start();
    let cache = server.cache();
    let call = |currency: &'static str| cache.scope(observe(exchange_rate(currency)));

    // Nothing stored yet: errors and panics pass through as they are.
    ORIGIN_MODE.store(FAILING, Ordering::SeqCst);
    assert_eq!(
        call("EUR").await.0,
        Err("rates service returned 503".into())
    );
    ORIGIN_MODE.store(PANICKING, Ordering::SeqCst);
    let owned = cache.clone();
    let panicked = tokio::spawn(async move { owned.scope(exchange_rate("EUR")).await }).await;
    assert!(panicked.unwrap_err().is_panic());

    ORIGIN_MODE.store(HEALTHY, Ordering::SeqCst);
    assert_eq!(call("USD").await, (Ok(5.25), Some(CacheOutcome::Miss)));
    // Both keys are plain JSON of the value.
    let mut args = KeyBuilder::new();
    args.arg("currency", "USD");
    let key = Key::new(None, "rates", None, args.finish().unwrap()).to_string();
    let mut conn = server.connection();
    assert_eq!(conn.get::<_, String>(&key).unwrap(), "5.25");
    assert_eq!(
        conn.get::<_, String>(format!("{key}:stale")).unwrap(),
        "5.25"
    );
    let stale_ttl: i64 = conn.ttl(format!("{key}:stale")).unwrap();
    assert!((55..=61).contains(&stale_ttl), "{stale_ttl}");

    tokio::time::sleep(Duration::from_millis(1100)).await; // past the TTL
    ORIGIN_MODE.store(FAILING, Ordering::SeqCst);
    assert_eq!(call("USD").await, (Ok(5.25), Some(CacheOutcome::Stale)));
    ORIGIN_MODE.store(PANICKING, Ordering::SeqCst);
    assert_eq!(call("USD").await, (Ok(5.25), Some(CacheOutcome::Stale)));
    ORIGIN_MODE.store(HANGING, Ordering::SeqCst);
    let started = Instant::now();
    assert_eq!(call("USD").await, (Ok(5.25), Some(CacheOutcome::Stale)));
    let took = started.elapsed();
    assert!(
        took < Duration::from_millis(1000),
        "soft timeout answered after {took:?}"
    );
    // A stale answer is not stored as fresh...
    assert_eq!(conn.get::<_, Option<String>>(&key).unwrap(), None);
    // ...but the slow function was not cancelled: it finishes in the background and stores
    // its own value.
    while conn.get::<_, Option<String>>(&key).unwrap().is_none() {
        assert!(started.elapsed() < Duration::from_secs(4), "never stored");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    ORIGIN_MODE.store(HEALTHY, Ordering::SeqCst);
    assert_eq!(call("USD").await, (Ok(9.99), Some(CacheOutcome::Hit)));
}

// ---- TTL jitter. ----

#[cached_json("jittered", ttl = 60, jitter = 100)]
async fn jittered(id: u32) -> u32 {
    id
}

#[tokio::test]
async fn jitter_spreads_the_expiry_of_keys_written_together() {
    let server = RedisServer::start();
    let cache = server.cache();
    for id in 0..50 {
        cache.scope(jittered(id)).await;
    }
    let mut conn = server.connection();
    let keys: Vec<String> = conn.keys("jittered:*").unwrap();
    assert_eq!(keys.len(), 50);
    let mut ttls: Vec<i64> = keys.iter().map(|k| conn.pttl(k).unwrap()).collect();
    assert!(
        ttls.iter().all(|t| (59_000..=160_000).contains(t)),
        "{ttls:?}"
    );
    ttls.sort();
    let spread = ttls[ttls.len() - 1] - ttls[0];
    println!("50 keys written together expire over {spread} ms");
    assert!(spread > 20_000, "expiries barely spread: {spread} ms");
}
