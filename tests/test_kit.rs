//! The test kit (feature `testing`), as a user's tests of code that uses the cache would use
//! it: `TestCache` keeps its store in process, its clock moves when the test says (`advance`) or
//! with tokio's paused clock, its store fails when told, and it records each call's outcome by
//! prefix. Each test runs in milliseconds, with no Redis and no sleep.
//!
//! `cargo test --features testing --test test_kit`

use std::sync::atomic::{AtomicBool, AtomicU32, Ordering};
use std::sync::Arc;
use std::time::Duration;

use cached_json::testing::TestCache;
use cached_json::{cached_json, CacheOutcome::*};

/// What the cached functions call: it counts its calls, and fails when told.
#[derive(Clone, Default)]
struct Origin {
    calls: Arc<AtomicU32>,
    down: Arc<AtomicBool>,
}

impl Origin {
    /// The answer of call number `n` (counted from 1), or the origin's failure.
    fn call(&self) -> Result<u32, String> {
        let n = self.calls.fetch_add(1, Ordering::SeqCst) + 1;
        match self.down.load(Ordering::SeqCst) {
            true => Err("origin down".into()),
            false => Ok(n),
        }
    }

    fn calls(&self) -> u32 {
        self.calls.load(Ordering::SeqCst)
    }
}

#[cached_json("kit-price", ttl = 60, skip(origin))]
async fn price(origin: &Origin, id: u32) -> u32 {
    origin.call().unwrap() * 100 + id
}

#[tokio::test]
async fn a_hit_after_a_miss() {
    let cache = TestCache::new();
    let origin = Origin::default();
    cache
        .scope(async {
            assert_eq!(price(&origin, 7).await, 107);
            assert_eq!(price(&origin, 7).await, 107);
        })
        .await;
    assert_eq!(cache.outcomes("kit-price"), [Miss, Hit]);
    assert_eq!(origin.calls(), 1);
}

#[cached_json("kit-user", ttl = 60, skip(origin))]
async fn user(origin: &Origin, id: u32) -> Result<String, String> {
    origin.call().map(|n| format!("user {id} (call {n})"))
}

#[tokio::test]
async fn err_is_not_cached() {
    let cache = TestCache::new();
    let origin = Origin::default();
    origin.down.store(true, Ordering::SeqCst);
    cache
        .scope(async {
            assert!(user(&origin, 1).await.is_err());
            assert!(user(&origin, 1).await.is_err(), "the error was not stored");
            origin.down.store(false, Ordering::SeqCst);
            assert_eq!(user(&origin, 1).await.unwrap(), "user 1 (call 3)");
            assert_eq!(user(&origin, 1).await.unwrap(), "user 1 (call 3)");
        })
        .await;
    assert_eq!(cache.outcomes("kit-user"), [Miss, Miss, Miss, Hit]);
}

#[cached_json("kit-rate", ttl = 60, stale = 3600, skip(origin))]
async fn rate(origin: &Origin, currency: &str) -> Result<u32, String> {
    origin.call()
}

#[tokio::test]
async fn stale_is_served_when_the_origin_fails_after_expiry() {
    let cache = TestCache::new();
    let origin = Origin::default();
    cache
        .scope(async {
            assert_eq!(rate(&origin, "BRL").await, Ok(1));
            // A minute and a second later (no sleep): expired.
            cache.advance(Duration::from_secs(61));
            origin.down.store(true, Ordering::SeqCst);
            assert_eq!(rate(&origin, "BRL").await, Ok(1), "the last good value");
            // Past the stale copy's hour too: the failure is the answer.
            cache.advance(Duration::from_secs(3600));
            assert_eq!(rate(&origin, "BRL").await, Err("origin down".into()));
        })
        .await;
    assert_eq!(cache.outcomes("kit-rate"), [Miss, Stale, Miss]);
}

#[cached_json("kit-feed", ttl = 60, refresh_ahead = 0.5, skip(origin))]
async fn feed(origin: &Origin, id: u32) -> u32 {
    origin.call().unwrap()
}

/// Under tokio's paused clock: `tokio::time::advance` moves the cache's clock too, and the
/// refresh, a task of its own, runs as soon as the test yields.
#[tokio::test(start_paused = true)]
async fn refresh_ahead_refreshes() {
    let cache = TestCache::new();
    let origin = Origin::default();
    cache
        .scope(async {
            assert_eq!(feed(&origin, 1).await, 1);
            // Past half of its life: the hit answers at once and refreshes in the background.
            tokio::time::advance(Duration::from_secs(31)).await;
            assert_eq!(feed(&origin, 1).await, 1);
            while origin.calls() < 2 {
                tokio::task::yield_now().await;
            }
            // The refreshed value, with a life of its own again.
            tokio::time::advance(Duration::from_secs(29)).await;
            assert_eq!(feed(&origin, 1).await, 2);
        })
        .await;
    assert_eq!(cache.outcomes("kit-feed"), [Miss, Hit, Hit]);
    assert_eq!(origin.calls(), 2);
}

#[tokio::test(start_paused = true)]
async fn a_store_that_hangs_or_fails_never_fails_the_call() {
    let cache = TestCache::new();
    let origin = Origin::default();
    cache
        .scope(async {
            assert_eq!(price(&origin, 1).await, 101);
            cache.hang();
            // Each store operation waits its timeout (tokio's clock: at once, paused), then
            // the call runs uncached.
            assert_eq!(price(&origin, 1).await, 201);
            cache.recover();
            assert_eq!(price(&origin, 1).await, 101, "what the store held");
            cache.fail_next(1);
            assert_eq!(price(&origin, 1).await, 301);
        })
        .await;
    assert_eq!(cache.outcomes("kit-price"), [Miss, Bypass, Hit, Bypass]);
}
