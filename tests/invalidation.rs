//! The companions against a real redis-server: a call's key is the key the cache writes, an
//! invalidation deletes the entry and its stale copy, a refresh replaces a cached value, and
//! invalidating every entry of a function reaches every process sharing the Redis at once.

use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use cached_json::{cached_json, observe, Cache, CacheOutcome};
use cached_json_test_support::{child, RedisServer};

static PRICE_VERSION: AtomicU64 = AtomicU64::new(1);

/// A price that changes when `PRICE_VERSION` does, as a database row would.
#[cached_json("price", ttl = 600, stale = 600)]
async fn price(sku: &str) -> Result<u64, String> {
    Ok(sku.len() as u64 * 100 + PRICE_VERSION.load(Ordering::SeqCst))
}

#[tokio::test]
async fn key_invalidate_and_refresh_act_on_the_entry_the_cache_uses() {
    let server = RedisServer::start();
    let cache = server.cache();
    cache
        .scope(async {
            assert_eq!(price("abc").await, Ok(301));
            let key = price_key("abc").await.unwrap();
            let stored = server.keys("price:*");
            assert_eq!(stored, vec![key.to_string(), format!("{key}:stale")]);

            // A refresh replaces the cached value with a fresh one.
            PRICE_VERSION.store(2, Ordering::SeqCst);
            assert_eq!(
                observe(price("abc")).await,
                (Ok(301), Some(CacheOutcome::Hit))
            );
            assert_eq!(price_refresh("abc").await, Ok(302));
            assert_eq!(
                observe(price("abc")).await,
                (Ok(302), Some(CacheOutcome::Hit))
            );

            // An invalidation deletes the entry and its stale copy.
            assert_eq!(price_invalidate("abc").await, Ok(true));
            assert!(
                server.keys("price:*").is_empty(),
                "{:?}",
                server.keys("price:*")
            );
            assert_eq!(price_invalidate("abc").await, Ok(false));
            assert_eq!(observe(price("abc")).await.1, Some(CacheOutcome::Miss));
        })
        .await;
}

/// Prints the value and outcome of `price("abc")` in this process, for the parent to read.
async fn report(cache: &Cache, label: &str) {
    let (value, outcome) = cache.scope(observe(price("abc"))).await;
    println!("{label} {} {}", value.unwrap(), outcome.unwrap());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn invalidating_every_entry_reaches_another_process_at_once() {
    if let Some(url) = child::role() {
        // The other instance: warm, then watching for the invalidation.
        let cache = Cache::builder().redis_url(&url).build().unwrap();
        report(&cache, "CHILD BEFORE").await;
        report(&cache, "CHILD BEFORE").await;
        let before = cache.scope(price_key("abc")).await.unwrap();
        // Wait for the parent's invalidation: its mark in Redis.
        let mut conn = redis::Client::open(url.as_str())
            .unwrap()
            .get_connection()
            .unwrap();
        let started = Instant::now();
        loop {
            let done: Option<String> = redis::cmd("GET")
                .arg("test:invalidated")
                .query(&mut conn)
                .unwrap();
            if done.is_some() {
                break;
            }
            assert!(started.elapsed() < Duration::from_secs(10));
            std::thread::sleep(Duration::from_millis(1));
        }
        // The message travels next to the mark: give it a few milliseconds at most. Then the
        // key of every call of `price` has changed: the old entries are out of reach.
        let noticed = Instant::now();
        while cache.scope(price_key("abc")).await.unwrap() == before {
            assert!(noticed.elapsed() < Duration::from_secs(2), "never noticed");
            tokio::time::sleep(Duration::from_millis(1)).await;
        }
        println!("CHILD NOTICED {}", noticed.elapsed().as_micros());
        return;
    }
    let server = RedisServer::start();
    let cache = server.cache();
    cache.scope(price("abc")).await.unwrap();
    let url = server.url();
    let parent = tokio::task::spawn_blocking(move || {
        child::spawn(
            "invalidating_every_entry_reaches_another_process_at_once",
            1,
            &url,
        )
        .remove(0)
    });
    // Let the child warm up and listen.
    tokio::time::sleep(Duration::from_millis(800)).await;
    cache.scope(price_invalidate_all()).await.unwrap();
    let _: () = redis::cmd("SET")
        .arg("test:invalidated")
        .arg("1")
        .query(&mut server.connection())
        .unwrap();
    assert_eq!(
        cache.scope(observe(price("abc"))).await.1,
        Some(CacheOutcome::Miss)
    );
    let stdout = parent.await.unwrap();
    println!("{stdout}");
    assert!(stdout.contains("CHILD BEFORE"), "{stdout}");
    let noticed: u128 = stdout
        .lines()
        .find_map(|l| l.strip_prefix("CHILD NOTICED "))
        .and_then(|n| n.trim().parse().ok())
        .unwrap_or_else(|| panic!("the child did not notice: {stdout}"));
    println!(
        "another process had every key of the prefix changed {noticed} µs after the invalidation was marked"
    );
    assert!(noticed < 500_000);
}

#[tokio::test]
async fn invalidating_every_entry_leaves_other_prefixes_and_namespaces_alone() {
    let server = RedisServer::start();
    let plain = server.cache();
    let other = Cache::builder()
        .redis_url(server.url())
        .namespace("other-app")
        .build()
        .unwrap();
    for cache in [&plain, &other] {
        cache.scope(price("x")).await.unwrap();
        assert_eq!(
            cache.scope(observe(price("x"))).await.1,
            Some(CacheOutcome::Hit)
        );
    }
    plain.scope(price_invalidate_all()).await.unwrap();
    assert_eq!(
        plain.scope(observe(price("x"))).await.1,
        Some(CacheOutcome::Miss)
    );
    assert_eq!(
        other.scope(observe(price("x"))).await.1,
        Some(CacheOutcome::Hit)
    );
    // The generation is a plain key, next to the prefix's entries.
    let generations: Vec<String> = server.keys("*generation");
    assert_eq!(generations, vec!["price:generation".to_owned()]);
}
