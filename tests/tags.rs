//! Tags against a real Redis: `tags("catalog", "seller:{seller_id}")` and `invalidate_tag`.
//! Two caches with stores of their own stand for two instances of an app: once an invalidation
//! returns, neither serves a value stored before it for an entry carrying the tag (from Redis,
//! from the stale copy, from a run that began before it), and the L1s drop their copies within
//! their bound (measured, `--nocapture`); other tags' entries stay; a hit reads the tags' records
//! with the entry, in one `MGET` and no other command; an invalidation Redis does not get is
//! an error. The same on a Redis Cluster (records in other slots than their entries) and on the
//! in-process store.

use std::collections::BTreeMap;
use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::Mutex;
use std::time::{Duration, Instant};

use cached_json::{cached_json, invalidate_tag, observe, Cache, CacheOutcome};
use cached_json_test_support::{RedisCluster, RedisServer};
use redis::Commands;

mod support;

use support::outcome;

/// The origin's prices, by seller (each test uses sellers of its own: tests run at once).
static PRICES: Mutex<BTreeMap<u64, u32>> = Mutex::new(BTreeMap::new());

fn price(seller_id: u64) -> u32 {
    *PRICES.lock().unwrap().entry(seller_id).or_insert(100)
}

/// The origin changes seller `seller_id`'s prices.
fn bump(seller_id: u64) {
    *PRICES.lock().unwrap().entry(seller_id).or_insert(100) += 1;
}

#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
struct Product {
    seller_id: u64,
    id: u64,
    price: u32,
}

#[cached_json("tags-product", ttl = 600, tags("catalog", "seller:{seller_id}"))]
async fn product(seller_id: u64, id: u64) -> Product {
    Product {
        seller_id,
        id,
        price: price(seller_id),
    }
}

#[cached_json("tags-seller", ttl = 600, tags("seller:{name}"))]
async fn seller(name: &str) -> String {
    format!("{name} at {}", price(name.parse().unwrap_or_default()))
}

#[cached_json("tags-untagged", ttl = 600)]
async fn untagged(seller_id: u64) -> u32 {
    price(seller_id)
}

static SLOW_RUNS: AtomicU32 = AtomicU32::new(0);

/// Reads the price, then takes 300 ms to answer: an invalidation may come meanwhile.
#[cached_json("tags-slow", ttl = 600, tags("slow:{id}"))]
async fn slow(id: u64) -> u32 {
    SLOW_RUNS.fetch_add(1, Ordering::SeqCst);
    let price = price(id);
    tokio::time::sleep(Duration::from_millis(300)).await;
    price
}

#[cached_json("tags-fallible", ttl = 1, stale = 600, tags("fallible"), skip(fail))]
async fn fallible(id: u64, fail: bool) -> Result<u32, String> {
    match fail {
        true => Err("origin down".into()),
        false => Ok(price(id)),
    }
}

fn cache(server: &RedisServer) -> Cache {
    Cache::builder()
        .redis_url(server.url())
        .namespace("tags-test")
        .build()
        .unwrap()
}

fn with_l1(server: &RedisServer) -> Cache {
    Cache::builder()
        .redis_url(server.url())
        .namespace("tags-l1")
        .l1(1 << 20)
        .build()
        .unwrap()
}

#[tokio::test]
async fn an_invalidated_tag_makes_its_entries_misses_on_every_instance_and_no_other() {
    let server = RedisServer::start();
    let (a, b) = (cache(&server), cache(&server));
    let price = price(42);
    for (seller_id, id) in [(42, 1), (42, 2), (7, 1)] {
        assert_eq!(
            outcome(&a, product(seller_id, id)).await.1,
            CacheOutcome::Miss
        );
        assert_eq!(
            outcome(&b, product(seller_id, id)).await.1,
            CacheOutcome::Hit
        );
    }
    assert_eq!(outcome(&a, seller("42")).await.1, CacheOutcome::Miss);
    assert_eq!(outcome(&a, untagged(42)).await.1, CacheOutcome::Miss);

    // A string argument is written into its tag as it is, a number as its JSON: seller "42"
    // and seller 42 share "seller:42".
    let record = "tags-test:cached-json:tag:seller:42";
    let left: i64 = server.connection().pttl(record).unwrap();
    // Kept for twice (the entry's life + 30 min), extended when under one.
    assert!((1..=2 * (600 + 1800) * 1000).contains(&left), "{left} ms");
    b.invalidate_tag("seller:42").await.unwrap();
    let exists: bool = server.connection().exists(record).unwrap();
    assert!(!exists, "the record is deleted: nothing is left behind");

    bump(42);
    bump(7);
    // Seller 42's entries, whichever function stored them, are misses on both instances at
    // once; seller 7's and the untagged ones still hit.
    let (fresh, was) = outcome(&a, product(42, 1)).await;
    assert_eq!((fresh.price, was), (price + 1, CacheOutcome::Miss));
    assert_eq!(
        outcome(&b, product(42, 1)).await.1,
        CacheOutcome::Hit,
        "stored again"
    );
    let (fresh, was) = outcome(&b, product(42, 2)).await;
    assert_eq!((fresh.price, was), (price + 1, CacheOutcome::Miss));
    assert_eq!(
        outcome(&a, seller("42")).await,
        (format!("42 at {}", price + 1), CacheOutcome::Miss)
    );
    let (kept, was) = outcome(&b, product(7, 1)).await;
    assert_eq!((kept.price, was), (price, CacheOutcome::Hit));
    assert_eq!(outcome(&b, untagged(42)).await, (price, CacheOutcome::Hit));

    // A tag every product carries.
    a.scope(invalidate_tag("catalog")).await.unwrap();
    let (fresh, was) = outcome(&b, product(7, 1)).await;
    assert_eq!((fresh.price, was), (price + 1, CacheOutcome::Miss));
    assert_eq!(
        outcome(&b, seller("42")).await.1,
        CacheOutcome::Hit,
        "not a catalog entry"
    );
}

#[tokio::test]
async fn a_hit_reads_the_records_with_the_entry_and_runs_no_other_command() {
    let server = RedisServer::start();
    let cache = cache(&server);
    assert_eq!(outcome(&cache, product(1, 1)).await.1, CacheOutcome::Miss);
    let stats = |server: &RedisServer| -> (u64, u64, u64, u64) {
        let calls = |command: &str| server.command_calls(command);
        (calls("get"), calls("mget"), calls("eval"), calls("set"))
    };
    let before = stats(&server);
    for _ in 0..10 {
        assert_eq!(outcome(&cache, product(1, 1)).await.1, CacheOutcome::Hit);
    }
    let after = stats(&server);
    // Each hit: one `MGET` of the entry and its records (as cheap for Redis as an untagged
    // hit's `GET`); no EVAL, no SET.
    assert_eq!(
        (after.1 - before.1, after.2 - before.2, after.3 - before.3),
        (10, 0, 0)
    );
    // (A GET or two at most: the prefix's generation, read while the invalidation channel has
    // not yet proved it hears, as for any function.)
    let gets = after.0 - before.0;
    assert!(gets <= 2, "{gets} GETs");
}

#[tokio::test]
async fn a_run_that_began_before_the_invalidation_answers_no_call_made_after_it() {
    let server = RedisServer::start();
    let cache = cache(&server);
    let price = price(500);
    let runs = SLOW_RUNS.load(Ordering::SeqCst);
    let running = tokio::spawn(cache.scope(observe(slow(500))));
    // The run has read the old price; the price changes and the tag is invalidated.
    tokio::time::sleep(Duration::from_millis(100)).await;
    bump(500);
    cache.invalidate_tag("slow:500").await.unwrap();
    // A call made now, while that run goes on, does not wait for it: it runs on its own.
    let (value, was) = outcome(&cache, slow(500)).await;
    assert_eq!(
        value,
        price + 1,
        "a call after the invalidation got the old value"
    );
    assert_eq!(was, CacheOutcome::Miss);
    let (old, was) = running.await.unwrap();
    assert_eq!((old, was), (price, Some(CacheOutcome::Miss)));
    assert_eq!(SLOW_RUNS.load(Ordering::SeqCst), runs + 2);
    assert_eq!(
        outcome(&cache, slow(500)).await,
        (price + 1, CacheOutcome::Hit)
    );

    // A run that began before an invalidation and is the last to store: what it stored
    // carries the tokens of before it, and is never served.
    cache.scope(slow_invalidate(500)).await.unwrap();
    let running = tokio::spawn(cache.scope(observe(slow(500))));
    tokio::time::sleep(Duration::from_millis(100)).await;
    bump(500);
    cache.invalidate_tag("slow:500").await.unwrap();
    assert_eq!(
        running.await.unwrap(),
        (price + 1, Some(CacheOutcome::Miss))
    );
    let stored: Option<String> = server
        .connection()
        .get(cache.scope(slow_key(500)).await.unwrap().as_str())
        .unwrap();
    assert!(stored.is_some_and(|stored| stored.ends_with(&format!(r#""value":{}}}"#, price + 1))));
    assert_eq!(
        outcome(&cache, slow(500)).await,
        (price + 2, CacheOutcome::Miss)
    );
    assert_eq!(
        outcome(&cache, slow(500)).await,
        (price + 2, CacheOutcome::Hit)
    );
}

#[tokio::test]
async fn the_stale_copy_of_an_invalidated_entry_is_not_served() {
    let server = RedisServer::start();
    let cache = cache(&server);
    let price = price(3);
    assert_eq!(
        outcome(&cache, fallible(3, false)).await,
        (Ok(price), CacheOutcome::Miss)
    );
    tokio::time::sleep(Duration::from_millis(1_100)).await;
    // Expired, the origin fails: the stale copy answers...
    assert_eq!(
        outcome(&cache, fallible(3, true)).await,
        (Ok(price), CacheOutcome::Stale)
    );
    // ... until the tag is invalidated: then the failure is the answer.
    cache.invalidate_tag("fallible").await.unwrap();
    assert_eq!(
        outcome(&cache, fallible(3, true)).await,
        (Err("origin down".to_owned()), CacheOutcome::Miss)
    );
}

#[tokio::test]
async fn an_invalidation_redis_does_not_get_is_an_error() {
    let mut server = RedisServer::start();
    let cache = cache(&server);
    assert_eq!(outcome(&cache, product(9, 9)).await.1, CacheOutcome::Miss);
    server.pause();
    let started = Instant::now();
    let failed = cache.invalidate_tag("seller:9").await;
    assert!(failed.is_err(), "{failed:?}");
    assert!(
        started.elapsed() < Duration::from_secs(2),
        "{:?}",
        started.elapsed()
    );
    server.resume();
    server.kill();
    assert!(cache.scope(invalidate_tag("seller:9")).await.is_err());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_l1s_drop_the_copies_carrying_the_tag_and_keep_the_others() {
    let server = RedisServer::start();
    let (a, b) = (with_l1(&server), with_l1(&server));
    let within = Duration::from_secs(2);
    let one = support::until_l1(&a, within, || product(11, 1)).await;
    support::until_l1(&b, within, || product(11, 1)).await;
    support::until_l1(&b, within, || product(12, 1)).await;
    support::until_l1(&b, within, || untagged(11)).await;

    bump(11);
    bump(12);
    a.invalidate_tag("seller:11").await.unwrap();
    // This instance: at once.
    let (fresh, was) = outcome(&a, product(11, 1)).await;
    assert_eq!(was, CacheOutcome::Miss);
    assert_eq!(fresh.price, one.price + 1);
    // The other: when Redis reports the record's change.
    let started = Instant::now();
    loop {
        let (value, was) = outcome(&b, product(11, 1)).await;
        if was != CacheOutcome::HitL1 {
            assert_eq!(value.price, one.price + 1, "{was:?}");
            break;
        }
        assert_eq!(value, one);
        assert!(
            started.elapsed() < Duration::from_millis(500),
            "the L1 still serves it"
        );
        tokio::time::sleep(Duration::from_millis(1)).await;
    }
    println!(
        "another instance's L1 dropped the tagged copy {:?} after the invalidation returned",
        started.elapsed()
    );
    assert_eq!(
        outcome(&b, product(12, 1)).await.1,
        CacheOutcome::HitL1,
        "another seller's copy"
    );
    assert_eq!(
        outcome(&b, untagged(11)).await.1,
        CacheOutcome::HitL1,
        "an untagged copy"
    );
}

#[tokio::test]
async fn tags_work_on_a_cluster_whose_records_live_in_other_slots() {
    let cluster = RedisCluster::start();
    let cache = || {
        Cache::builder()
            .redis_cluster(cluster.urls())
            .namespace("tags-cluster")
            .build()
            .unwrap()
    };
    let (a, b) = (cache(), cache());
    for seller_id in 0..20 {
        assert_eq!(
            outcome(&a, product(seller_id, 1)).await.1,
            CacheOutcome::Miss
        );
        assert_eq!(
            outcome(&b, product(seller_id, 1)).await.1,
            CacheOutcome::Hit
        );
    }
    for seller_id in (0..20).step_by(2) {
        b.invalidate_tag(&format!("seller:{seller_id}"))
            .await
            .unwrap();
    }
    for seller_id in 0..20 {
        let expected = match seller_id % 2 {
            0 => CacheOutcome::Miss,
            _ => CacheOutcome::Hit,
        };
        assert_eq!(
            outcome(&a, product(seller_id, 1)).await.1,
            expected,
            "seller {seller_id}"
        );
    }
    a.invalidate_tag("catalog").await.unwrap();
    for seller_id in 0..20 {
        assert_eq!(
            outcome(&b, product(seller_id, 1)).await.1,
            CacheOutcome::Miss
        );
    }
}

#[tokio::test]
async fn tags_work_on_the_in_process_store() {
    let cache = Cache::builder().memory(1 << 20).build().unwrap();
    assert_eq!(outcome(&cache, product(5, 5)).await.1, CacheOutcome::Miss);
    assert_eq!(outcome(&cache, product(5, 5)).await.1, CacheOutcome::Hit);
    cache.invalidate_tag("seller:5").await.unwrap();
    assert_eq!(outcome(&cache, product(5, 5)).await.1, CacheOutcome::Miss);
    assert_eq!(outcome(&cache, product(5, 5)).await.1, CacheOutcome::Hit);
}

static PARTITIONED: Mutex<BTreeMap<u64, u32>> = Mutex::new(BTreeMap::new());

fn version_of(id: u64) -> u32 {
    *PARTITIONED.lock().unwrap().entry(id).or_insert(1)
}

#[cached_json("tags-partitioned", ttl = 600, tags("partition:{id}"))]
async fn partitioned(id: u64) -> u32 {
    version_of(id)
}

#[cached_json("tags-partitioned-prefix", ttl = 600)]
async fn partitioned_prefix(id: u64) -> u32 {
    version_of(id)
}

/// Redis frozen (`SIGSTOP`) while an instance invalidates: the invalidation returns `Err`
/// within its command timeout; Redis, resumed (`SIGCONT`), carries out the commands it had
/// received, and from then on no instance serves the old value, from Redis or from its L1 (the
/// tag's record is gone; the prefix's generation changed, and every instance reads it again,
/// since its subscription could not prove it heard everything while Redis was frozen).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_invalidation_during_a_partition_is_an_error_and_holds_once_redis_is_back() {
    let mut server = RedisServer::start();
    let (a, b) = (with_l1(&server), with_l1(&server));
    let within = Duration::from_secs(2);
    for cache in [&a, &b] {
        assert_eq!(support::until_l1(cache, within, || partitioned(1)).await, 1);
        assert_eq!(
            support::until_l1(cache, within, || partitioned_prefix(2)).await,
            1
        );
    }
    *PARTITIONED.lock().unwrap() = BTreeMap::from([(1, 2), (2, 2)]);
    server.pause();
    let tag = a.invalidate_tag("partition:1").await;
    let prefix = a.invalidate_prefix("tags-partitioned-prefix").await;
    assert!(tag.is_err(), "{tag:?}");
    assert!(prefix.is_err(), "{prefix:?}");
    server.resume();
    // Once Redis answers again (the breaker closes, the failed invalidations are retried),
    // both instances serve the new values, within a bound, and never the old ones again.
    let started = Instant::now();
    for cache in [&a, &b] {
        loop {
            let tagged = outcome(cache, partitioned(1)).await.0;
            let prefixed = outcome(cache, partitioned_prefix(2)).await.0;
            if (tagged, prefixed) == (2, 2) {
                break;
            }
            assert!(
                started.elapsed() < Duration::from_secs(2),
                "still {tagged} and {prefixed} {:?} after Redis came back",
                started.elapsed()
            );
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
    }
    let settled = started.elapsed();
    for _ in 0..20 {
        for cache in [&a, &b] {
            assert_eq!(outcome(cache, partitioned(1)).await.0, 2);
            assert_eq!(outcome(cache, partitioned_prefix(2)).await.0, 2);
        }
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    println!("after the partition, both instances served the new values {settled:?} after SIGCONT");
}
