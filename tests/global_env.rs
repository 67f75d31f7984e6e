//! The process-wide cache as users get it: nothing configured in code, `REDIS_URL` and
//! `CACHED_JSON_NAMESPACE` from the environment; and where configuration comes from: the
//! builder reads no variable, `CacheBuilder::from_env` reads them all, a malformed one is an
//! error. Alone in its binary: it sets the global and the environment.

use cached_json::{cached_json, observe, Cache, CacheBuilder, CacheOutcome};
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

    // A cache configured in code reads nothing from the environment...
    std::env::set_var("CACHED_JSON_L1", "16MiB");
    let in_code = Cache::builder().redis_url(server.url()).build().unwrap();
    assert_eq!(in_code.namespace(), None);
    assert!(!in_code.has_l1());
    // ... one started from it reads everything, and code overrides it.
    let from_env = CacheBuilder::from_env().unwrap().build().unwrap();
    assert_eq!(from_env.namespace(), Some("test-app"));
    assert!(from_env.has_l1());
    let overridden = CacheBuilder::from_env()
        .unwrap()
        .namespace("other")
        .build()
        .unwrap();
    assert_eq!(overridden.namespace(), Some("other"));
    // A malformed variable is an error naming it, not a silent default.
    std::env::set_var("CACHED_JSON_OP_TIMEOUT_MS", "fast");
    let err = Cache::from_env().unwrap_err().to_string();
    assert!(
        err.contains("CACHED_JSON_OP_TIMEOUT_MS") && err.contains("fast"),
        "{err}"
    );
    std::env::remove_var("CACHED_JSON_OP_TIMEOUT_MS");
    std::env::set_var("REDIS_URL", "redis://:s3cret@host:notaport");
    let err = Cache::from_env().unwrap_err().to_string();
    assert!(
        err.contains("invalid Redis URL") && !err.contains("s3cret"),
        "{err}"
    );
}
