//! The process-wide cache as users get it: nothing configured in code, `REDIS_URL` and
//! `CACHED_JSON_NAMESPACE` from the environment. Alone in its binary: it sets the global.

use cached_json::{cached_json, observe, Cache, CacheOutcome};
use cached_json_test_support::RedisServer;
use redis::Commands;

#[cached_json("env-global", ttl = 60)]
async fn add_one(n: u32) -> u32 {
    n + 1
}

#[tokio::test]
async fn the_global_cache_is_built_from_the_environment_on_first_use() {
    let server = RedisServer::start();
    // Only test in this binary: nothing else reads the environment concurrently.
    std::env::set_var("REDIS_URL", server.url());
    std::env::set_var("CACHED_JSON_NAMESPACE", "test-app");

    assert_eq!(observe(add_one(1)).await, (2, Some(CacheOutcome::Miss)));
    assert_eq!(observe(add_one(1)).await, (2, Some(CacheOutcome::Hit)));

    assert_eq!(Cache::global().store().kind(), "redis");
    assert_eq!(Cache::global().namespace(), Some("test-app"));
    let keys: Vec<String> = server.connection().keys("test-app:env-global:*").unwrap();
    assert_eq!(keys.len(), 1);
    // Too late to install another one: the caller learns it.
    assert!(Cache::builder()
        .memory(1024)
        .build()
        .unwrap()
        .install()
        .is_err());
}
