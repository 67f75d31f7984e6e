//! Adaptive caching against a real Redis: the value decides whether it is stored
//! (`cache_if`) and for how long (`ttl_with`; `none_ttl` for a `None`), and what follows a
//! value's TTL follows its own one (the TTL Redis holds, `jitter`, the `stale` copy, HTTP
//! `max-age`, `refresh_ahead`).

use std::sync::atomic::{AtomicU32, Ordering};
use std::time::{Duration, Instant};

use cached_json::{cached_json, observe, Cache, CacheOutcome};
use cached_json_test_support::RedisServer;
use redis::Commands;

mod support;

/// A forecast says how long it stays true.
#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
struct Forecast {
    city: String,
    valid_secs: u64,
}

fn valid_for(forecast: &Forecast) -> Duration {
    Duration::from_secs(forecast.valid_secs)
}

static FORECASTS: AtomicU32 = AtomicU32::new(0);

#[cached_json("adaptive-forecast", ttl = 3600, ttl_with = valid_for, stale = 50)]
async fn forecast(city: &str, valid_secs: u64) -> Result<Forecast, String> {
    FORECASTS.fetch_add(1, Ordering::SeqCst);
    Ok(Forecast {
        city: city.to_owned(),
        valid_secs,
    })
}

fn is_even(n: &u32) -> bool {
    n.is_multiple_of(2)
}

static HALVES: AtomicU32 = AtomicU32::new(0);

#[cached_json("adaptive-even", ttl = 600, cache_if = is_even)]
async fn half_of(n: u32) -> Option<u32> {
    HALVES.fetch_add(1, Ordering::SeqCst);
    Some(n / 2 * 2 + n % 2)
}

static LOOKUPS: AtomicU32 = AtomicU32::new(0);

#[cached_json("adaptive-user", ttl = 600, none_ttl = 2)]
async fn user(id: u32) -> Option<String> {
    LOOKUPS.fetch_add(1, Ordering::SeqCst);
    (id == 1).then(|| "Ana".to_owned())
}

#[cached_json("adaptive-jitter", ttl = 3600, ttl_with = units::secs, jitter = 10)]
async fn jittered(secs: u64) -> u64 {
    secs
}

mod units {
    /// A value that is a number of seconds, as its own TTL.
    pub fn secs(value: &u64) -> std::time::Duration {
        std::time::Duration::from_secs(*value)
    }
}

static REFRESHES: AtomicU32 = AtomicU32::new(0);

/// Expires fast, refreshes ahead: the site's TTL (an hour) would never make it due.
#[cached_json("adaptive-refresh", ttl = 3600, ttl_with = two_seconds, refresh_ahead = 0.5)]
async fn refreshed(id: u32) -> u32 {
    REFRESHES.fetch_add(1, Ordering::SeqCst);
    id
}

fn two_seconds(_: &u32) -> Duration {
    Duration::from_secs(2)
}

fn pttl(server: &RedisServer, key: &str) -> i64 {
    server.connection().pttl(key).unwrap()
}

fn cache(server: &RedisServer) -> Cache {
    Cache::builder().redis_url(server.url()).build().unwrap()
}

#[tokio::test]
async fn each_value_is_stored_for_the_ttl_it_gives_and_its_stale_copy_follows() {
    let server = RedisServer::start();
    let cache = cache(&server);
    cache
        .scope(async {
            let before = FORECASTS.load(Ordering::SeqCst);
            assert_eq!(forecast("Natal", 120).await.unwrap().valid_secs, 120);
            assert_eq!(forecast("Recife", 30).await.unwrap().valid_secs, 30);
            let natal = forecast_key("Natal", 120).await.unwrap();
            let recife = forecast_key("Recife", 30).await.unwrap();
            let (natal_ttl, recife_ttl) = (
                pttl(&server, natal.as_str()),
                pttl(&server, recife.as_str()),
            );
            assert!(
                (115_000..=120_000).contains(&natal_ttl),
                "{natal_ttl} ms, not the site's hour"
            );
            assert!((25_000..=30_000).contains(&recife_ttl), "{recife_ttl} ms");
            // The stale copy lives the value's TTL plus `stale`.
            let stale = pttl(&server, &format!("{}:stale", recife.as_str()));
            assert!((75_000..=80_000).contains(&stale), "stale copy: {stale} ms");
            // Stored: the next calls are hits.
            assert_eq!(
                observe(forecast("Natal", 120)).await.1,
                Some(CacheOutcome::Hit)
            );
            // HTTP: the answer's max-age is the value's life, not the site's.
            let entry = forecast_json("Recife", 30).await.unwrap();
            assert_eq!(entry.outcome(), CacheOutcome::Hit);
            assert!(
                entry.max_age() <= Duration::from_secs(30),
                "{:?}",
                entry.max_age()
            );
            assert!(
                entry.age().unwrap() < Duration::from_secs(5),
                "{:?}",
                entry.age()
            );
            // A zero TTL: returned, not stored.
            assert_eq!(forecast("Nowhere", 0).await.unwrap().valid_secs, 0);
            assert_eq!(
                observe(forecast("Nowhere", 0)).await.1,
                Some(CacheOutcome::Miss)
            );
            let nowhere = forecast_key("Nowhere", 0).await.unwrap();
            assert_eq!(pttl(&server, nowhere.as_str()), -2, "no entry");
            assert_eq!(FORECASTS.load(Ordering::SeqCst) - before, 4);
        })
        .await;
}

#[tokio::test]
async fn a_value_cache_if_refuses_is_returned_and_not_stored() {
    let server = RedisServer::start();
    let cache = cache(&server);
    cache
        .scope(async {
            let before = HALVES.load(Ordering::SeqCst);
            for _ in 0..3 {
                assert_eq!(half_of(4).await, Some(4));
                assert_eq!(half_of(5).await, Some(5));
            }
            // 4 once (then hits); 5 every time.
            assert_eq!(HALVES.load(Ordering::SeqCst) - before, 4);
            let refused = half_of_key(5).await.unwrap();
            assert_eq!(pttl(&server, refused.as_str()), -2);
            // Its JSON answer promises nothing.
            let entry = half_of_json(5).await.unwrap();
            assert!(!entry.is_cached());
            assert_eq!(&entry.json()[..], b"5");
        })
        .await;
}

#[tokio::test]
async fn none_is_cached_for_none_ttl_and_some_for_ttl() {
    let server = RedisServer::start();
    let cache = cache(&server);
    cache
        .scope(async {
            let before = LOOKUPS.load(Ordering::SeqCst);
            assert_eq!(user(1).await.as_deref(), Some("Ana"));
            assert_eq!(user(2).await, None);
            let some = pttl(&server, user_key(1).await.unwrap().as_str());
            let none_key = user_key(2).await.unwrap();
            let none = pttl(&server, none_key.as_str());
            assert!((595_000..=600_000).contains(&some), "Some: {some} ms");
            assert!((1..=2_000).contains(&none), "None: {none} ms");
            let stored: String = server.connection().get(none_key.as_str()).unwrap();
            assert_eq!(stored, "null");
            // Both hit until the None expires; then it is looked up again.
            assert_eq!(observe(user(2)).await, (None, Some(CacheOutcome::Hit)));
            assert_eq!(user_json(2).await, None, "a stored None answers None");
            assert_eq!(LOOKUPS.load(Ordering::SeqCst) - before, 2);
            tokio::time::sleep(Duration::from_millis(2_100)).await;
            assert_eq!(observe(user(2)).await, (None, Some(CacheOutcome::Miss)));
            assert_eq!(observe(user(1)).await.1, Some(CacheOutcome::Hit));
        })
        .await;
}

#[tokio::test]
async fn jitter_is_added_to_the_value_s_own_ttl() {
    let server = RedisServer::start();
    let cache = cache(&server);
    cache
        .scope(async {
            for secs in [100, 200] {
                assert_eq!(jittered(secs).await, secs);
                let key = jittered_key(secs).await.unwrap();
                let ttl = pttl(&server, key.as_str());
                let low = secs as i64 * 1000 - 2_000;
                let high = (secs as i64 + 10) * 1000;
                assert!((low..=high).contains(&ttl), "{secs} s + jitter: {ttl} ms");
            }
        })
        .await;
}

#[tokio::test]
async fn refresh_ahead_is_due_by_the_value_s_own_ttl() {
    let server = RedisServer::start();
    let cache = cache(&server);
    cache
        .scope(async {
            let before = REFRESHES.load(Ordering::SeqCst);
            assert_eq!(refreshed(7).await, 7);
            assert_eq!(REFRESHES.load(Ordering::SeqCst) - before, 1);
            // Past half of its 2 s (the site's hour would be far from due): a hit refreshes it.
            tokio::time::sleep(Duration::from_millis(1_300)).await;
            assert_eq!(observe(refreshed(7)).await, (7, Some(CacheOutcome::Hit)));
            let waiting = Instant::now();
            while REFRESHES.load(Ordering::SeqCst) - before < 2 {
                assert!(
                    waiting.elapsed() < Duration::from_secs(5),
                    "never refreshed"
                );
                tokio::time::sleep(Duration::from_millis(20)).await;
            }
            // Refreshed: stored for 2 s again.
            let key = refreshed_key(7).await.unwrap();
            tokio::time::sleep(Duration::from_millis(100)).await;
            assert!(pttl(&server, key.as_str()) > 1_500);
        })
        .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_l1_copy_lives_no_longer_than_the_value_s_own_ttl() {
    let server = RedisServer::start();
    let cache = Cache::builder()
        .redis_url(server.url())
        .namespace("adaptive-l1")
        .l1(1 << 20)
        .build()
        .unwrap();
    // A value good for 2 s, under a site TTL of an hour: its copy in the L1 serves it...
    let first = support::until_l1(&cache, Duration::from_secs(2), || lives_for(2)).await;
    assert_eq!(first, 2);
    // ...for what was left of its 2 s when it was read, never the site's hour.
    tokio::time::sleep(Duration::from_millis(2_100)).await;
    let (value, outcome) = cache.scope(observe(lives_for(2))).await;
    assert_eq!(value, 2);
    assert_eq!(
        outcome,
        Some(CacheOutcome::Miss),
        "the copy outlived its value's TTL"
    );
}

#[cached_json("adaptive-l1", ttl = 3600, ttl_with = units::secs)]
async fn lives_for(secs: u64) -> u64 {
    secs
}
