//! Batch loading against a real Redis: `#[cached_json("...", ttl = N, batch)]` on a function
//! taking a list of ids and returning a map of their values. One call reads every id's entry
//! in one `MGET` (counted with `INFO commandstats`) and runs the function once with the ids
//! missing (counted by the origin); each id is its own entry, which the companions name by one
//! id; ids left out of the map are not cached (with `cache_none`, cached as absent); an `Err`
//! stores nothing; concurrent calls sharing ids compute each id once, and an id another call
//! failed to compute (an `Err`, a panic) is computed by the call that waited for it. The same
//! on a Cluster (one `MGET` per slot), with an L1 (copies dropped when another instance
//! invalidates), and with Redis gone (every id computed, no error).

use std::collections::HashMap;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use cached_json::{cached_json, observe, Cache, CacheOutcome};
use cached_json_test_support::{RedisCluster, RedisServer};
use redis::Commands;

mod support;

use support::outcome;

/// Each origin run's ids, by function (each test uses ids of its own: tests run at once).
static RUNS: Mutex<Vec<(&str, Vec<u64>)>> = Mutex::new(Vec::new());

fn ran(function: &'static str, ids: &[u64]) {
    RUNS.lock().unwrap().push((function, ids.to_vec()));
}

/// The runs of `function` that computed one of `ids`, with the ids each was given.
fn runs_of(function: &str, ids: std::ops::Range<u64>) -> Vec<Vec<u64>> {
    RUNS.lock()
        .unwrap()
        .iter()
        .filter(|(name, run)| *name == function && run.iter().any(|id| ids.contains(id)))
        .map(|(_, run)| run.clone())
        .collect()
}

fn value(id: u64) -> String {
    format!("user {id}")
}

#[cached_json("batch-users", ttl = 600, batch)]
async fn users(ids: Vec<u64>) -> HashMap<u64, String> {
    ran("users", &ids);
    ids.iter().map(|&id| (id, value(id))).collect()
}

/// Only even ids exist.
#[cached_json("batch-evens", ttl = 600, batch, skip(region))]
async fn evens(region: &str, ids: &[u64]) -> HashMap<u64, String> {
    ran("evens", ids);
    let _ = region;
    ids.iter()
        .filter(|id| *id % 2 == 0)
        .map(|&id| (id, value(id)))
        .collect()
}

/// Only even ids exist, and that odd ones do not is cached too (for 2 s).
#[cached_json("batch-evens-known", ttl = 600, batch, none_ttl = 2)]
async fn evens_known(ids: Vec<u64>) -> HashMap<u64, String> {
    ran("evens_known", &ids);
    ids.iter()
        .filter(|id| *id % 2 == 0)
        .map(|&id| (id, value(id)))
        .collect()
}

/// Fails with `fail`, after `delay_ms`; panics with `panic`.
#[cached_json("batch-fallible", ttl = 600, batch, skip(fail, panic, delay_ms))]
async fn fallible(
    ids: Vec<u64>,
    fail: bool,
    panic: bool,
    delay_ms: u64,
) -> Result<HashMap<u64, String>, String> {
    ran("fallible", &ids);
    tokio::time::sleep(Duration::from_millis(delay_ms)).await;
    if panic {
        panic!("the origin broke");
    }
    match fail {
        true => Err("origin down".into()),
        false => Ok(ids.iter().map(|&id| (id, value(id))).collect()),
    }
}

/// Takes 200 ms, for calls that overlap.
#[cached_json("batch-slow", ttl = 600, batch, skip(tenant))]
async fn slow(tenant: String, ids: &[u64]) -> HashMap<u64, String> {
    ran("slow", ids);
    tokio::time::sleep(Duration::from_millis(200)).await;
    ids.iter()
        .map(|&id| (id, format!("{tenant}/{}", value(id))))
        .collect()
}

fn cache(server: &RedisServer, namespace: &str) -> Cache {
    Cache::builder()
        .redis_url(server.url())
        .namespace(namespace)
        .build()
        .unwrap()
}

fn expected(ids: impl IntoIterator<Item = u64>) -> HashMap<u64, String> {
    ids.into_iter().map(|id| (id, value(id))).collect()
}

#[tokio::test]
async fn a_hundred_ids_with_ninety_cached_cost_one_read_and_one_origin_call_with_ten() {
    let server = RedisServer::start();
    let cache = cache(&server, "batch-test");
    let (first, was) = outcome(&cache, users((1000..1090).collect())).await;
    assert_eq!((first, was), (expected(1000..1090), CacheOutcome::Miss));
    assert_eq!(
        runs_of("users", 1000..1100),
        [(1000..1090).collect::<Vec<_>>()]
    );

    let (mgets, gets, sets) = (
        server.command_calls("mget"),
        server.command_calls("get"),
        server.command_calls("set"),
    );
    // The ten missing ids in the middle and at the end, in the caller's order, with repeats.
    let mut ids: Vec<u64> = (1000..1100).rev().collect();
    ids.extend([1095, 1000, 1095]);
    let (all, was) = outcome(&cache, users(ids)).await;
    assert_eq!((all, was), (expected(1000..1100), CacheOutcome::Miss));
    assert_eq!(
        server.command_calls("mget") - mgets,
        1,
        "one read for the hundred ids"
    );
    // (A GET or two at most: the prefix's generation, read while the invalidation channel has
    // not yet proved it hears, as for any function.)
    let one_by_one = server.command_calls("get") - gets;
    assert!(one_by_one <= 2, "{one_by_one} GETs");
    assert_eq!(
        server.command_calls("set") - sets,
        10,
        "the ten values computed"
    );
    assert_eq!(
        runs_of("users", 1000..1100),
        [
            (1000..1090).collect::<Vec<_>>(),
            (1090..1100).rev().collect::<Vec<_>>()
        ],
        "one origin call with the ten missing ids, deduplicated, in the caller's order"
    );

    // All cached now: one read, no origin call.
    let mgets = server.command_calls("mget");
    let (all, was) = outcome(&cache, users((1000..1100).collect())).await;
    assert_eq!((all, was), (expected(1000..1100), CacheOutcome::Hit));
    assert_eq!(server.command_calls("mget") - mgets, 1);
    assert_eq!(runs_of("users", 1000..1100).len(), 2);

    // Each id is its own entry, with the function's TTL; the companions name it by one id.
    let key = cache.scope(users_key(&1042)).await.unwrap();
    let mut redis = server.connection();
    let stored: String = redis.get(key.as_str()).unwrap();
    assert_eq!(stored, serde_json::to_string(&value(1042)).unwrap());
    let ttl: i64 = redis.ttl(key.as_str()).unwrap();
    assert!((590..=600).contains(&ttl), "TTL {ttl}");
    assert!(cache.scope(users_invalidate(&1042)).await.unwrap());
    let (all, was) = outcome(&cache, users((1040..1045).collect())).await;
    assert_eq!((all, was), (expected(1040..1045), CacheOutcome::Miss));
    assert_eq!(runs_of("users", 1040..1045).last().unwrap(), &[1042]);
    // No ids, no read and no run.
    let (none, _) = cache.scope(observe(users(Vec::new()))).await;
    assert!(none.is_empty());
}

#[tokio::test]
async fn ids_left_out_of_the_map_are_not_cached_unless_absence_is_cached() {
    let server = RedisServer::start();
    let cache = cache(&server, "batch-test");
    let evens_of = |ids: std::ops::Range<u64>| expected(ids.filter(|id| id % 2 == 0));
    for _ in 0..2 {
        let (found, was) = outcome(&cache, evens("eu", &(2000..2006).collect::<Vec<_>>())).await;
        assert_eq!((found, was), (evens_of(2000..2006), CacheOutcome::Miss));
    }
    // The odd ids (absent) are asked again; the even ones were cached.
    assert_eq!(
        runs_of("evens", 2000..2006),
        [(2000..2006).collect(), vec![2001, 2003, 2005]]
    );

    let ids: Vec<u64> = (2100..2106).collect();
    let (found, was) = outcome(&cache, evens_known(ids.clone())).await;
    assert_eq!((found, was), (evens_of(2100..2106), CacheOutcome::Miss));
    let (found, was) = outcome(&cache, evens_known(ids.clone())).await;
    assert_eq!((found, was), (evens_of(2100..2106), CacheOutcome::Hit));
    assert_eq!(
        runs_of("evens_known", 2100..2106).len(),
        1,
        "absence cached"
    );
    let key = cache.scope(evens_known_key(&2101)).await.unwrap();
    let mut redis = server.connection();
    let stored: String = redis.get(key.as_str()).unwrap();
    let pttl: i64 = redis.pttl(key.as_str()).unwrap();
    assert_eq!(stored, "null");
    assert!((1..=2000).contains(&pttl), "none_ttl's life: {pttl} ms");
    tokio::time::sleep(Duration::from_millis(pttl as u64 + 50)).await;
    let (found, _) = outcome(&cache, evens_known(ids)).await;
    assert_eq!(found, evens_of(2100..2106));
    assert_eq!(
        runs_of("evens_known", 2100..2106).last().unwrap(),
        &[2101, 2103, 2105],
        "past none_ttl, the absent ids are asked again"
    );
}

#[tokio::test]
async fn an_err_stores_nothing_and_is_the_answer() {
    let server = RedisServer::start();
    let cache = cache(&server, "batch-test");
    let ids: Vec<u64> = (3000..3005).collect();
    let (failed, was) = outcome(&cache, fallible(ids.clone(), true, false, 0)).await;
    assert_eq!(
        (failed, was),
        (Err("origin down".to_owned()), CacheOutcome::Miss)
    );
    assert!(server.keys("batch-test:batch-fallible:*").is_empty());
    let (found, was) = outcome(&cache, fallible(ids.clone(), false, false, 0)).await;
    assert_eq!(
        (found, was),
        (Ok(expected(ids.clone())), CacheOutcome::Miss)
    );
    assert_eq!(runs_of("fallible", 3000..3005), [ids.clone(), ids]);
}

#[tokio::test]
async fn concurrent_calls_sharing_ids_compute_each_id_once() {
    let server = RedisServer::start();
    let cache = cache(&server, "batch-test");
    let first: Vec<u64> = (4000..4010).collect();
    let second: Vec<u64> = (4005..4015).collect();
    let (a, b) = tokio::join!(
        cache.scope(observe(slow("t".into(), &first))),
        cache.scope(async {
            // Starts while the first computes 4005..4010.
            tokio::time::sleep(Duration::from_millis(50)).await;
            observe(slow("t".into(), &second)).await
        }),
    );
    let with_tenant = |ids: std::ops::Range<u64>| -> HashMap<u64, String> {
        ids.map(|id| (id, format!("t/{}", value(id)))).collect()
    };
    assert_eq!(a.0, with_tenant(4000..4010));
    assert_eq!(b.0, with_tenant(4005..4015));
    assert_eq!(
        runs_of("slow", 4000..4015),
        [first, (4010..4015).collect()],
        "the ids the first call was computing awaited by the second, not computed twice"
    );
    assert_eq!(b.1, Some(CacheOutcome::Miss));
}

#[tokio::test]
async fn an_id_another_call_failed_to_compute_is_computed_by_the_call_that_waited() {
    let server = RedisServer::start();
    let cache = cache(&server, "batch-test");
    for (fail, panic, base) in [(true, false, 5000), (false, true, 5100)] {
        let first: Vec<u64> = (base..base + 4).collect();
        let second: Vec<u64> = (base + 2..base + 6).collect();
        let failing = tokio::spawn(cache.scope(fallible(first.clone(), fail, panic, 200)));
        tokio::time::sleep(Duration::from_millis(50)).await;
        let (found, was) = outcome(&cache, fallible(second.clone(), false, false, 0)).await;
        assert_eq!(
            (found, was),
            (Ok(expected(second.clone())), CacheOutcome::Miss)
        );
        match failing.await {
            Ok(answer) => assert_eq!(answer, Err("origin down".into())),
            Err(err) => assert!(err.is_panic() && panic),
        }
        assert_eq!(
            runs_of("fallible", base..base + 6),
            [first, vec![base + 4, base + 5], vec![base + 2, base + 3]],
            "its own ids at once; those the other call failed to compute, after it failed"
        );
    }
}

#[tokio::test]
async fn with_redis_gone_every_id_is_computed_and_answered() {
    let mut server = RedisServer::start();
    let cache = cache(&server, "batch-test");
    let ids: Vec<u64> = (6000..6004).collect();
    assert_eq!(
        outcome(&cache, users(ids.clone())).await.1,
        CacheOutcome::Miss
    );
    server.kill();
    let started = Instant::now();
    for _ in 0..3 {
        let (found, was) = outcome(&cache, users(ids.clone())).await;
        assert_eq!(found, expected(ids.clone()));
        assert!(
            matches!(was, CacheOutcome::Bypass | CacheOutcome::Miss),
            "{was:?}"
        );
    }
    assert!(
        started.elapsed() < Duration::from_secs(3),
        "{:?}",
        started.elapsed()
    );
}

#[tokio::test]
async fn an_l1_answers_a_batch_and_drops_a_copy_another_instance_invalidates() {
    let server = RedisServer::start();
    let with_l1 = || {
        Cache::builder()
            .redis_url(server.url())
            .namespace("batch-l1")
            .l1(1 << 20)
            .build()
            .unwrap()
    };
    let (a, b) = (with_l1(), with_l1());
    let ids: Vec<u64> = (7000..7005).collect();
    assert_eq!(outcome(&a, users(ids.clone())).await.1, CacheOutcome::Miss);
    let found = support::until_l1(&b, Duration::from_secs(5), || users(ids.clone())).await;
    assert_eq!(found, expected(ids.clone()));
    // Another instance invalidates 7002: this one stops serving its copy (and only its).
    assert!(a.scope(users_invalidate(&7002)).await.unwrap());
    let started = Instant::now();
    loop {
        let (found, was) = outcome(&b, users(ids.clone())).await;
        assert_eq!(found, expected(ids.clone()));
        if was == CacheOutcome::Miss {
            break;
        }
        assert!(
            started.elapsed() < Duration::from_secs(1),
            "the copy of 7002 is still served"
        );
        tokio::time::sleep(Duration::from_millis(2)).await;
    }
    assert_eq!(runs_of("users", 7000..7005).last().unwrap(), &[7002]);
}

#[tokio::test]
async fn a_batch_on_a_cluster_reads_with_one_mget_per_slot() {
    let cluster = RedisCluster::start();
    let cache = Cache::builder()
        .redis_cluster(cluster.urls())
        .namespace("batch-cluster")
        .build()
        .unwrap();
    let ids: Vec<u64> = (8000..8030).collect();
    let (found, was) = outcome(&cache, users(ids.clone())).await;
    assert_eq!((found, was), (expected(ids.clone()), CacheOutcome::Miss));
    let mut slots = std::collections::HashSet::new();
    for id in &ids {
        let key = cache.scope(users_key(id)).await.unwrap();
        let slot: u16 = redis::cmd("CLUSTER")
            .arg("KEYSLOT")
            .arg(key.as_str())
            .query(&mut cluster.nodes()[0].connection())
            .unwrap();
        slots.insert(slot);
    }
    let mgets = || -> u64 {
        cluster
            .nodes()
            .iter()
            .map(|node| node.command_calls("mget"))
            .sum()
    };
    let gets = || -> u64 {
        cluster
            .nodes()
            .iter()
            .map(|node| node.command_calls("get"))
            .sum()
    };
    let (mgets_before, gets_before) = (mgets(), gets());
    let (found, was) = outcome(&cache, users(ids.clone())).await;
    assert_eq!((found, was), (expected(ids.clone()), CacheOutcome::Hit));
    assert_eq!(mgets() - mgets_before, slots.len() as u64);
    assert!(gets() - gets_before <= 2, "the generation's GET at most");
    assert_eq!(runs_of("users", 8000..8030).len(), 1);
}

/// Fails with `fail`, panics with `panic`; the last good values kept 600 s past the TTL.
#[cached_json("batch-stale", ttl = 1, batch, stale = 600, skip(fail, panic))]
async fn with_stale(
    ids: Vec<u64>,
    fail: bool,
    panic: bool,
) -> Result<HashMap<u64, String>, String> {
    ran("with_stale", &ids);
    if panic {
        panic!("the origin broke");
    }
    match fail {
        true => Err("origin down".into()),
        false => Ok(ids.iter().map(|&id| (id, value(id))).collect()),
    }
}

#[tokio::test]
async fn with_stale_a_failed_run_answers_every_id_s_last_good_value_or_fails() {
    let server = RedisServer::start();
    let cache = cache(&server, "batch-test");
    let ids: Vec<u64> = (9000..9004).collect();
    let (found, was) = outcome(&cache, with_stale(ids.clone(), false, false)).await;
    assert_eq!(
        (found, was),
        (Ok(expected(ids.clone())), CacheOutcome::Miss)
    );
    // Past the TTL, the origin failing or panicking: the last good values answer.
    tokio::time::sleep(Duration::from_millis(1100)).await;
    for (fail, panic) in [(true, false), (false, true)] {
        let (found, was) = outcome(&cache, with_stale(ids.clone(), fail, panic)).await;
        assert_eq!(
            (found, was),
            (Ok(expected(ids.clone())), CacheOutcome::Stale)
        );
    }
    // An id without a last good value: the batch cannot answer for it, the failure is the
    // answer.
    let mut more = ids.clone();
    more.push(9010);
    let (found, _) = outcome(&cache, with_stale(more, true, false)).await;
    assert_eq!(found, Err("origin down".to_owned()));
    assert_eq!(runs_of("with_stale", 9000..9011).len(), 4);
}

/// Takes 300 ms; with `lock`, across instances.
#[cached_json("batch-locked", ttl = 600, batch, lock)]
async fn locked(ids: &[u64]) -> HashMap<u64, String> {
    ran("locked", ids);
    tokio::time::sleep(Duration::from_millis(300)).await;
    ids.iter().map(|&id| (id, value(id))).collect()
}

#[tokio::test]
async fn with_lock_two_instances_compute_each_id_once() {
    let server = RedisServer::start();
    // Two instances: two caches, each with its own flights (coalescing does not join them).
    let (a, b) = (cache(&server, "batch-lock"), cache(&server, "batch-lock"));
    let first: Vec<u64> = (9100..9110).collect();
    let second: Vec<u64> = (9105..9115).collect();
    let (one, two) = tokio::join!(a.scope(observe(locked(&first))), async {
        // Starts while the first instance computes 9105..9110, holding their locks.
        tokio::time::sleep(Duration::from_millis(50)).await;
        b.scope(observe(locked(&second))).await
    },);
    assert_eq!(one.0, expected(first.clone()));
    assert_eq!(two.0, expected(second));
    assert_eq!(
        runs_of("locked", 9100..9115),
        [first, (9110..9115).collect()],
        "the ids the other instance held the locks of awaited, not computed twice"
    );
    assert!(
        server.keys("batch-lock:*:lock").is_empty(),
        "every lock released"
    );
}
