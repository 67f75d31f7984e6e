//! Cache-aside behaviour against a real redis-server per test.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use cached_json::{cached_json, observe, Cache, CacheOutcome};
use cached_json_test_support::{child, RedisServer};
use redis::Commands;
use serde::{Deserialize, Serialize};

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
struct LocalInfo {
    name: String,
    population: u64,
}

fn lookup(location_name: &str) -> Result<LocalInfo, String> {
    if location_name == "Atlantis" {
        return Err(format!("unknown place {location_name}"));
    }
    Ok(LocalInfo {
        name: location_name.to_owned(),
        population: location_name.len() as u64 * 1000,
    })
}

// Each test that counts runs has its own function: tests run in parallel.
static LOCAL_INFO_RUNS: AtomicUsize = AtomicUsize::new(0);

#[cached_json("local-info", ttl = 86400)]
async fn local_info(location_name: &str) -> Result<LocalInfo, String> {
    LOCAL_INFO_RUNS.fetch_add(1, Ordering::SeqCst);
    lookup(location_name)
}

static STRICT_RUNS: AtomicUsize = AtomicUsize::new(0);

#[cached_json("strict-info", ttl = 60)]
async fn strict_info(location_name: &str) -> Result<LocalInfo, String> {
    STRICT_RUNS.fetch_add(1, Ordering::SeqCst);
    lookup(location_name)
}

#[cached_json("shared-info", ttl = 60)]
async fn shared_info(location_name: &str) -> Result<LocalInfo, String> {
    lookup(location_name)
}

#[tokio::test]
async fn a_hit_returns_the_stored_value_without_running_the_body() {
    let server = RedisServer::start();
    let cache = server.cache();
    cache
        .scope(async {
            let (first, outcome) = observe(local_info("Recife")).await;
            assert_eq!(outcome, Some(CacheOutcome::Miss));
            let (second, outcome) = observe(local_info("Recife")).await;
            assert_eq!(outcome, Some(CacheOutcome::Hit));
            assert_eq!(first, second);
            assert_eq!(LOCAL_INFO_RUNS.load(Ordering::SeqCst), 1);
        })
        .await;

    // The key is the documented one, the value is plain JSON, the TTL is the attribute's.
    let key = "local-info:cccb998e077f32923f57e5b7625f9c0a";
    assert_eq!(server.keys("local-info:*"), vec![key.to_owned()]);
    let mut conn = server.connection();
    let stored: String = conn.get(key).unwrap();
    assert_eq!(stored, r#"{"name":"Recife","population":6000}"#);
    let ttl: i64 = conn.ttl(key).unwrap();
    assert!((86_390..=86_400).contains(&ttl), "ttl {ttl}");
}

#[tokio::test]
async fn errors_are_returned_and_never_cached() {
    let server = RedisServer::start();
    server
        .cache()
        .scope(async {
            for _ in 0..3 {
                let (result, outcome) = observe(strict_info("Atlantis")).await;
                assert_eq!(result, Err("unknown place Atlantis".to_owned()));
                assert_eq!(outcome, Some(CacheOutcome::Miss));
            }
            assert_eq!(STRICT_RUNS.load(Ordering::SeqCst), 3);
        })
        .await;
    assert!(server.keys("*").is_empty());
}

static TICKS: AtomicUsize = AtomicUsize::new(0);

#[cached_json("short-lived", ttl = 1)]
async fn tick() -> usize {
    TICKS.fetch_add(1, Ordering::SeqCst) + 1
}

#[tokio::test]
async fn a_value_expires_after_its_ttl() {
    let server = RedisServer::start();
    server
        .cache()
        .scope(async {
            let first = tick().await;
            assert_eq!(tick().await, first, "second call within the TTL is a hit");
            let pttl: i64 = server
                .connection()
                .pttl(server.keys("short-lived:*")[0].as_str())
                .unwrap();
            assert!((1..=1000).contains(&pttl), "pttl {pttl}");
            tokio::time::sleep(Duration::from_millis(1300)).await;
            let (after, outcome) = observe(tick()).await;
            assert_eq!(outcome, Some(CacheOutcome::Miss));
            assert_eq!(after, first + 1);
        })
        .await;
}

#[cached_json("square", ttl = 60)]
async fn square(n: i64) -> i64 {
    n * n
}

#[cached_json("cube", ttl = 60)]
async fn cube(n: i64) -> i64 {
    n * n * n
}

#[tokio::test]
async fn each_argument_set_and_each_prefix_has_its_own_key() {
    let server = RedisServer::start();
    server
        .cache()
        .scope(async {
            for n in 0..20 {
                assert_eq!(square(n).await, n * n);
                assert_eq!(cube(n).await, n * n * n);
            }
            // Hits return each argument's own value, not a neighbour's.
            for n in 0..20 {
                let (value, outcome) = observe(square(n)).await;
                assert_eq!((value, outcome), (n * n, Some(CacheOutcome::Hit)));
                let (value, outcome) = observe(cube(n)).await;
                assert_eq!((value, outcome), (n * n * n, Some(CacheOutcome::Hit)));
            }
        })
        .await;
    assert_eq!(server.keys("square:*").len(), 20);
    assert_eq!(server.keys("cube:*").len(), 20);
}

static FIND_RUNS: AtomicUsize = AtomicUsize::new(0);

#[cached_json("find", ttl = 60)]
async fn find(id: u32) -> Option<String> {
    FIND_RUNS.fetch_add(1, Ordering::SeqCst);
    id.is_multiple_of(2).then(|| format!("item {id}"))
}

static FIND_ALL_RUNS: AtomicUsize = AtomicUsize::new(0);

#[cached_json("find-with-none", ttl = 60, cache_none)]
async fn find_caching_none(id: u32) -> Option<String> {
    FIND_ALL_RUNS.fetch_add(1, Ordering::SeqCst);
    id.is_multiple_of(2).then(|| format!("item {id}"))
}

#[tokio::test]
async fn none_is_not_cached_unless_asked() {
    let server = RedisServer::start();
    server
        .cache()
        .scope(async {
            for _ in 0..3 {
                assert_eq!(find(1).await, None);
                assert_eq!(find(2).await, Some("item 2".to_owned()));
            }
            assert_eq!(FIND_RUNS.load(Ordering::SeqCst), 3 + 1);

            for _ in 0..3 {
                assert_eq!(find_caching_none(1).await, None);
                assert_eq!(find_caching_none(2).await, Some("item 2".to_owned()));
            }
            assert_eq!(FIND_ALL_RUNS.load(Ordering::SeqCst), 2);
        })
        .await;
    assert_eq!(server.keys("find:*").len(), 1);
    let none_key = server.keys("find-with-none:*");
    assert_eq!(none_key.len(), 2);
}

struct Pool {
    name: &'static str,
}

#[cached_json("skip", ttl = 60, skip(pool, request_id))]
async fn with_skipped(pool: &Pool, city: String, request_id: u64) -> String {
    format!("{city} via {} ({request_id})", pool.name)
}

#[tokio::test]
async fn skipped_arguments_are_left_out_of_the_key() {
    let server = RedisServer::start();
    server
        .cache()
        .scope(async {
            let a = Pool { name: "a" };
            let b = Pool { name: "b" };
            assert_eq!(with_skipped(&a, "Natal".into(), 1).await, "Natal via a (1)");
            // Other pool, other request id, same key argument: the stored value.
            assert_eq!(with_skipped(&b, "Natal".into(), 2).await, "Natal via a (1)");
            assert_eq!(with_skipped(&b, "Belém".into(), 3).await, "Belém via b (3)");
        })
        .await;
    assert_eq!(server.keys("skip:*").len(), 2);
}

struct Repository {
    calls: AtomicUsize,
    label: &'static str,
}

impl Repository {
    #[cached_json("repo-name", ttl = 60)]
    pub(crate) async fn name_of(&self, id: u32) -> String {
        self.calls.fetch_add(1, Ordering::SeqCst);
        format!("{}-{id}", self.label)
    }
}

#[tokio::test]
async fn self_is_never_part_of_the_key() {
    let server = RedisServer::start();
    server
        .cache()
        .scope(async {
            let one = Repository {
                calls: AtomicUsize::new(0),
                label: "one",
            };
            let two = Repository {
                calls: AtomicUsize::new(0),
                label: "two",
            };
            assert_eq!(one.name_of(7).await, "one-7");
            assert_eq!(two.name_of(7).await, "one-7");
            assert_eq!(two.calls.load(Ordering::SeqCst), 0);
        })
        .await;
}

#[tokio::test]
async fn a_corrupt_or_foreign_value_is_a_miss_and_is_overwritten() {
    let server = RedisServer::start();
    let cache = server.cache();
    cache.scope(square(12)).await;
    let key = server.keys("square:*").remove(0);
    let mut conn = server.connection();

    for corrupt in ["not json", r#"{"a":1}"#, "\"144\"", ""] {
        let _: () = conn.set(&key, corrupt).unwrap();
        let (value, outcome) = cache.scope(observe(square(12))).await;
        assert_eq!(
            (value, outcome),
            (144, Some(CacheOutcome::Miss)),
            "{corrupt:?}"
        );
        let stored: String = conn.get(&key).unwrap();
        assert_eq!(stored, "144");
    }

    // Another type under the key (WRONGTYPE on GET): still a miss, and fixed.
    let _: () = conn.del(&key).unwrap();
    let _: () = conn.hset(&key, "field", "value").unwrap();
    let (value, outcome) = cache.scope(observe(square(12))).await;
    assert_eq!((value, outcome), (144, Some(CacheOutcome::Miss)));
    let (value, outcome) = cache.scope(observe(square(12))).await;
    assert_eq!((value, outcome), (144, Some(CacheOutcome::Hit)));
}

#[tokio::test]
async fn a_namespace_and_version_frame_every_key() {
    #[cached_json("versioned", ttl = 60, version = 3)]
    async fn versioned(n: u8) -> u8 {
        n
    }
    let server = RedisServer::start();
    let cache = Cache::builder()
        .redis_url(server.url())
        .namespace("shop")
        .build()
        .unwrap();
    cache.scope(versioned(1)).await;
    let found = server.keys("*");
    assert_eq!(found.len(), 1);
    assert!(found[0].starts_with("shop:versioned:v3:"), "{found:?}");
    assert_eq!(found[0].len(), "shop:versioned:v3:".len() + 32);
}

#[test]
fn one_cache_serves_several_runtimes_one_after_another() {
    // Each #[tokio::test] and each actix worker has its own runtime; a runtime that ends must
    // not take the cache's connection with it.
    let server = RedisServer::start();
    let cache = server.cache();
    for round in 0..3 {
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .unwrap();
        let (value, outcome) = runtime.block_on(cache.scope(observe(square(99))));
        assert_eq!(value, 9801);
        let expected = if round == 0 {
            CacheOutcome::Miss
        } else {
            CacheOutcome::Hit
        };
        assert_eq!(outcome, Some(expected), "round {round}");
    }
}

#[tokio::test]
async fn a_second_process_reads_what_the_first_wrote() {
    if let Some(url) = child::role() {
        let cache = Cache::builder().redis_url(url).build().unwrap();
        let (info, outcome) = cache.scope(observe(shared_info("Olinda"))).await;
        println!(
            "CHILD {} {}",
            outcome.unwrap(),
            serde_json::to_string(&info.unwrap()).unwrap()
        );
        return;
    }
    let server = RedisServer::start();
    let written = server.cache().scope(shared_info("Olinda")).await.unwrap();
    let stdout = child::spawn(
        "a_second_process_reads_what_the_first_wrote",
        1,
        &server.url(),
    )
    .remove(0);
    let line = stdout
        .lines()
        .find(|l| l.starts_with("CHILD "))
        .unwrap_or_else(|| panic!("child printed no result: {stdout}"));
    assert_eq!(
        line,
        format!("CHILD HIT {}", serde_json::to_string(&written).unwrap())
    );
}

#[cached_json("nested-inner", ttl = 60)]
async fn nested_inner(n: u32) -> u32 {
    n
}

/// Its value is longer than the test cache's `max_value_bytes`: returned, never stored.
#[cached_json("nested-outer", ttl = 60)]
async fn nested_outer(n: u32) -> String {
    let inner = nested_inner(n).await;
    format!("{}{inner}", "x".repeat(100))
}

#[tokio::test]
async fn an_outer_call_that_stores_nothing_never_answers_with_a_nested_calls_entry() {
    // An HTTP layer sends the observed entry's bytes as the answer: a nested call's entry
    // would be another function's JSON, under the outer function's name.
    let cache = Cache::builder()
        .memory(1 << 20)
        .max_value_bytes(64)
        .build()
        .unwrap();
    cache
        .scope(async {
            assert_eq!(nested_inner(7).await, 7);
            assert_eq!(nested_outer(7).await.len(), 101, "over max_value_bytes");
            let entry = nested_outer_json(7).await;
            assert!(
                !entry.is_cached(),
                "the outer call stored nothing: it has no entry"
            );
            let own = serde_json::to_vec(&format!("{}7", "x".repeat(100))).unwrap();
            assert_eq!(
                entry.json()[..],
                own[..],
                "the outer call's own value, made now"
            );
            // Stored, an outer call's own entry is the one answered.
            let entry = nested_inner_json(8).await;
            assert!(entry.is_cached());
            assert_eq!(&entry.json()[..], b"8");
        })
        .await;
}
