//! Fail-open behaviour: every fault in Redis still gives the caller its value, within bounds.
//!
//! Latency bounds asserted here are generous (several times the configured timeouts), so that a
//! loaded CI machine does not make them flaky; the measured figures are printed.

use std::time::{Duration, Instant};

use cached_json::store::Health;
use cached_json::{cached_json, observe, Cache, CacheOutcome};
use cached_json_test_support::{spread, timed, RedisServer};
use redis::Commands;

#[cached_json("double", ttl = 300)]
async fn double(n: u64) -> u64 {
    n * 2
}

fn cache_on(url: String) -> Cache {
    Cache::builder().redis_url(url).build().unwrap()
}

/// One call through `cache`: value, outcome, time taken.
async fn call(cache: &Cache, n: u64) -> (u64, CacheOutcome, Duration) {
    let ((value, outcome), took) = timed(cache.scope(observe(double(n)))).await;
    (value, outcome.expect("a cached call ran"), took)
}

/// Once a fault is detected, a call adds next to nothing: p99 under 5 ms, as the issue asks
/// (measured: tens of microseconds).
fn assert_detected(samples: Vec<Duration>, what: &str) {
    let (median, p99, max) = spread(samples);
    println!("{what}: median {median:?}, p99 {p99:?}, max {max:?}");
    assert!(p99 < Duration::from_millis(5), "{what}: p99 {p99:?}");
    assert!(max < Duration::from_millis(100), "{what}: max {max:?}");
}

/// Calls until the outcome is no longer BYPASS; returns how long that took.
async fn time_to_recover(cache: &Cache) -> Duration {
    let start = Instant::now();
    while start.elapsed() < Duration::from_secs(10) {
        let (value, outcome, _) = call(cache, 5).await;
        assert_eq!(value, 10);
        if outcome != CacheOutcome::Bypass {
            return start.elapsed();
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    panic!("the cache did not come back within 10 s of Redis returning");
}

#[tokio::test]
async fn redis_down_from_the_start_costs_one_fast_failure_then_nothing() {
    let mut server = RedisServer::start();
    let url = server.url();
    server.kill();
    let cache = cache_on(url);

    let (value, outcome, first) = call(&cache, 1).await;
    assert_eq!((value, outcome), (2, CacheOutcome::Bypass));
    let mut later = Vec::new();
    for n in 0..1000 {
        let (value, outcome, took) = call(&cache, n).await;
        assert_eq!((value, outcome), (n * 2, CacheOutcome::Bypass));
        later.push(took);
    }
    println!("redis down at start: first call {first:?}");
    assert!(
        first < Duration::from_millis(600),
        "first call took {first:?}"
    );
    assert_detected(later, "redis down at start, then");
    assert_eq!(cache.store().health(), Health::Down);
}

#[tokio::test]
async fn redis_killed_then_restarted() {
    let mut server = RedisServer::start();
    let cache = cache_on(server.url());
    assert_eq!(call(&cache, 21).await.1, CacheOutcome::Miss);
    assert_eq!(call(&cache, 21).await.1, CacheOutcome::Hit);

    server.kill();
    let mut took = Vec::new();
    for n in 0..200 {
        let (value, outcome, elapsed) = call(&cache, n).await;
        assert_eq!(value, n * 2);
        assert_eq!(outcome, CacheOutcome::Bypass, "call {n}");
        took.push(elapsed);
    }
    let first = took[0];
    println!("redis killed: first call {first:?}");
    assert!(
        first < Duration::from_millis(600),
        "first call took {first:?}"
    );
    assert_detected(took[1..].to_vec(), "redis killed, then");

    server.restart();
    let recovered = time_to_recover(&cache).await;
    println!("redis restarted: cache back in use after {recovered:?}");
    assert!(recovered < Duration::from_secs(3), "{recovered:?}");
    // The restarted server is empty: a miss, then hits again.
    assert_eq!(call(&cache, 21).await.1, CacheOutcome::Miss);
    assert_eq!(call(&cache, 21).await.1, CacheOutcome::Hit);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn redis_hung_is_detected_within_the_timeout_then_skipped() {
    let mut server = RedisServer::start();
    let cache = cache_on(server.url());
    assert_eq!(call(&cache, 3).await.1, CacheOutcome::Miss);

    server.pause();
    // 64 concurrent calls while the server is frozen: each waits one timeout at most.
    let start = Instant::now();
    let tasks: Vec<_> = (0..64)
        .map(|n| {
            let cache = cache.clone();
            tokio::spawn(async move { call(&cache, n).await })
        })
        .collect();
    let mut slowest = Duration::ZERO;
    for (n, task) in tasks.into_iter().enumerate() {
        let (value, outcome, took) = task.await.unwrap();
        assert_eq!((value, outcome), (n as u64 * 2, CacheOutcome::Bypass));
        slowest = slowest.max(took);
    }
    println!(
        "redis hung: 64 concurrent calls, slowest {slowest:?}, all done in {:?}",
        start.elapsed()
    );
    assert!(slowest < Duration::from_millis(1000), "{slowest:?}");

    // Detected: from now on calls do not wait for Redis at all.
    let mut took = Vec::new();
    for n in 0..500 {
        let (value, _, elapsed) = call(&cache, n).await;
        assert_eq!(value, n * 2);
        took.push(elapsed);
    }
    assert_detected(took, "redis hung, breaker open");

    server.resume();
    let recovered = time_to_recover(&cache).await;
    println!("redis resumed: cache back in use after {recovered:?}");
    assert!(recovered < Duration::from_secs(3), "{recovered:?}");
    assert_eq!(call(&cache, 3).await.1, CacheOutcome::Hit);
}

#[tokio::test]
async fn a_wrong_or_missing_password_means_no_cache_not_errors() {
    let server = RedisServer::start_with(&["--requirepass", "right-password"]);
    for url in [
        server.url(),
        format!("redis://:wrong-password@127.0.0.1:{}/0", server.port()),
    ] {
        let cache = cache_on(url);
        for n in 0..50 {
            let (value, outcome, took) = call(&cache, n).await;
            assert_eq!((value, outcome), (n * 2, CacheOutcome::Bypass));
            assert!(took < Duration::from_millis(600), "{took:?}");
        }
    }
    let cache = cache_on(format!(
        "redis://:right-password@127.0.0.1:{}/0",
        server.port()
    ));
    assert_eq!(call(&cache, 1).await.1, CacheOutcome::Miss);
    assert_eq!(call(&cache, 1).await.1, CacheOutcome::Hit);
}

#[tokio::test]
async fn redis_out_of_memory_still_serves_reads_and_callers() {
    let server =
        RedisServer::start_with(&["--maxmemory", "2mb", "--maxmemory-policy", "noeviction"]);
    let cache = cache_on(server.url());
    assert_eq!(call(&cache, 7).await.1, CacheOutcome::Miss);

    // Fill Redis until it refuses writes.
    let mut conn = server.connection();
    let blob = "x".repeat(64 * 1024);
    let mut refused = false;
    for i in 0..200 {
        if conn.set::<_, _, ()>(format!("filler:{i}"), &blob).is_err() {
            refused = true;
            break;
        }
    }
    assert!(refused, "redis never reported out of memory");

    // Stored values are still served; new ones cannot be stored, and callers do not notice.
    assert_eq!(call(&cache, 7).await.1, CacheOutcome::Hit);
    for n in 100..150 {
        let (value, outcome, took) = call(&cache, n).await;
        assert_eq!((value, outcome), (n * 2, CacheOutcome::Miss));
        assert!(took < Duration::from_millis(600), "{took:?}");
    }
    assert_eq!(
        cache.store().health(),
        Health::Up,
        "OOM replies must not open the breaker"
    );
}

#[cached_json("no-write", ttl = 300)]
async fn not_written_after_a_failed_read(n: u64) -> u64 {
    n + 100
}

#[tokio::test]
async fn a_call_whose_read_failed_sends_no_write() {
    // A paused server keeps what it is sent in its socket buffer and runs it on SIGCONT: if the
    // call had sent a SET after its GET timed out, the key would exist after the resume.
    let mut server = RedisServer::start();
    let cache = cache_on(server.url());
    assert_eq!(call(&cache, 0).await.1, CacheOutcome::Miss); // connected
    server.pause();
    let (value, outcome) = cache
        .scope(observe(not_written_after_a_failed_read(1)))
        .await;
    assert_eq!((value, outcome), (101, Some(CacheOutcome::Bypass)));
    server.resume();
    tokio::time::sleep(Duration::from_millis(300)).await;
    let keys: Vec<String> = server.connection().keys("no-write:*").unwrap();
    assert!(
        keys.is_empty(),
        "a write reached Redis after a failed read: {keys:?}"
    );
}

#[tokio::test]
async fn a_server_answering_garbage_means_no_cache_not_errors() {
    // Something that is not Redis on the port: it answers every read with an HTTP error.
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    std::thread::spawn(move || {
        for stream in listener.incoming().flatten() {
            std::thread::spawn(move || {
                use std::io::{Read, Write};
                let mut stream = stream;
                let mut buf = [0u8; 1024];
                while let Ok(n) = stream.read(&mut buf) {
                    if n == 0
                        || stream
                            .write_all(b"HTTP/1.1 400 Bad Request\r\n\r\n")
                            .is_err()
                    {
                        break;
                    }
                }
            });
        }
    });
    let cache = cache_on(format!("redis://127.0.0.1:{port}/0"));
    let mut took = Vec::new();
    for n in 0..200 {
        let (value, outcome, elapsed) = call(&cache, n).await;
        assert_eq!((value, outcome), (n * 2, CacheOutcome::Bypass));
        took.push(elapsed);
    }
    let first = took[0];
    println!("garbage server: first call {first:?}");
    assert!(
        first < Duration::from_millis(600),
        "first call took {first:?}"
    );
    assert_detected(took[1..].to_vec(), "garbage server, then");
}

#[tokio::test]
async fn a_runtime_refused_its_own_connection_uses_the_shared_one_and_retries_slowly() {
    // Three client slots: this test's connection, the store's own and its invalidation
    // listener's. The connection the store also makes for this test's runtime is refused ("max
    // number of clients reached").
    let server = RedisServer::start_with(&["--maxclients", "3"]);
    let mut inspection = server.connection();
    let cache = cache_on(server.url());
    assert_eq!(call(&cache, 4).await.1, CacheOutcome::Miss);
    let started = Instant::now();
    let mut calls = 0;
    while started.elapsed() < Duration::from_millis(500) {
        assert_eq!(call(&cache, 4).await.1, CacheOutcome::Hit);
        calls += 1;
    }
    let info: String = redis::cmd("INFO")
        .arg("stats")
        .query(&mut inspection)
        .unwrap();
    let rejected: u64 = info
        .lines()
        .find_map(|l| l.strip_prefix("rejected_connections:"))
        .and_then(|n| n.trim().parse().ok())
        .expect("rejected_connections in INFO stats");
    println!("{calls} hits through the shared connection; {rejected} connections refused");
    assert!(calls > 50);
    assert!(
        rejected <= 3,
        "the runtime retried its own connection {rejected} times"
    );
}

#[cached_json("refused-write", ttl = 60)]
async fn slow_refused(id: u32) -> u32 {
    tokio::time::sleep(Duration::from_millis(150)).await;
    id
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_value_redis_refused_to_store_is_no_callers_cached_entry() {
    // Every write refused (-OOM), reads fine: the leader's value is answered to the callers that
    // waited for it, but none of their answers may promise it is cached (no ETag, no max-age).
    let server = RedisServer::start_with(&["--maxmemory", "1", "--maxmemory-policy", "noeviction"]);
    let cache = server.cache();
    let mut calls = tokio::task::JoinSet::new();
    for _ in 0..8 {
        let cache = cache.clone();
        calls.spawn(async move { cache.scope(slow_refused_json(5)).await });
    }
    let mut coalesced = 0;
    while let Some(done) = calls.join_next().await {
        let entry = done.unwrap();
        coalesced += usize::from(entry.outcome() == CacheOutcome::Coalesced);
        assert_eq!(&entry.json()[..], b"5");
        assert!(!entry.is_cached(), "{entry:?}");
        assert_eq!(entry.max_age(), Duration::ZERO);
    }
    assert!(coalesced > 0, "the callers shared one run");
    // The function itself answers all the same.
    assert_eq!(cache.scope(slow_refused(6)).await, 6);
    assert!(server.keys("*").is_empty());
}
