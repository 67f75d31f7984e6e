//! A Redis that evicts under load (`allkeys-lru`, `maxmemory` far below the working set):
//! entries, stale copies, `lock` leases and tag records go at any time, whoever wrote them. Two
//! caches (two instances of an app) call a function with `lock`, `stale` and tags over a working
//! set about eight times what Redis may hold, while one tag is invalidated now and then: every
//! call answers its own value (0 errors, 0 wrong values), no call waits much past `wait_ms`
//! (an evicted lease, or a value evicted before a waiter read it, costs a waiter its wait, never
//! more), and the origin calls the eviction costs are counted (`--nocapture` for the figures).

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use cached_json::{cached_json, invalidate_tag, observe, Cache, CacheOutcome};
use cached_json_test_support::RedisServer;

static RUNS: AtomicU64 = AtomicU64::new(0);

#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
struct Item {
    group: u32,
    id: u32,
    payload: String,
}

const WAIT_MS: u64 = 300;

#[cached_json(
    "evict-item",
    ttl = 600,
    lock,
    lock_lease_ms = 200,
    wait_ms = 300,
    stale = 600,
    tags("evict", "evict:{group}")
)]
async fn item(group: u32, id: u32) -> Result<Item, String> {
    RUNS.fetch_add(1, Ordering::SeqCst);
    tokio::time::sleep(Duration::from_millis(2)).await;
    Ok(Item {
        group,
        id,
        payload: format!("{group}/{id}/").repeat(200),
    })
}

/// xorshift64: the test's own random numbers, reproducible per task.
struct Rng(u64);

impl Rng {
    fn below(&mut self, n: u32) -> u32 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        (self.0 % u64::from(n)) as u32
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_evicting_redis_under_load_costs_origin_calls_never_a_wrong_value_or_a_long_wait() {
    // About 2 KB a value (and its stale copy): 2,000 ids are some 8 MB; Redis may hold 1 MB
    // more than it uses empty.
    let server = RedisServer::start();
    let mut admin = server.connection();
    let info: String = redis::cmd("INFO").arg("memory").query(&mut admin).unwrap();
    let used: u64 = info
        .lines()
        .find_map(|line| line.strip_prefix("used_memory:"))
        .and_then(|bytes| bytes.trim().parse().ok())
        .expect("used_memory");
    for (name, value) in [
        ("maxmemory", (used + (1 << 20)).to_string()),
        ("maxmemory-policy", "allkeys-lru".into()),
    ] {
        let _: () = redis::cmd("CONFIG")
            .arg("SET")
            .arg(name)
            .arg(value)
            .query(&mut admin)
            .unwrap();
    }
    let caches: Vec<Cache> = (0..2)
        .map(|_| Cache::builder().redis_url(server.url()).build().unwrap())
        .collect();
    let calls = Arc::new(AtomicU64::new(0));
    let hits = Arc::new(AtomicU64::new(0));
    let slowest = Arc::new(AtomicU64::new(0));
    let deadline = Instant::now() + Duration::from_secs(4);
    let mut tasks = Vec::new();
    for task in 0..8u64 {
        let cache = caches[task as usize % 2].clone();
        let (calls, hits, slowest) = (calls.clone(), hits.clone(), slowest.clone());
        tasks.push(tokio::spawn(cache.clone().scope(async move {
            let mut rng = Rng(task * 2 + 1);
            let mut invalidations = 0;
            while Instant::now() < deadline {
                // Skewed: half the calls go to 50 hot ids, the rest anywhere in 2,000.
                let id = match rng.below(2) {
                    0 => rng.below(50),
                    _ => rng.below(2_000),
                };
                let group = id % 10;
                let started = Instant::now();
                let (answer, outcome) = observe(item(group, id)).await;
                let took = started.elapsed().as_micros() as u64;
                slowest.fetch_max(took, Ordering::SeqCst);
                let answer = answer.expect("the origin never fails, nor may the cache");
                assert_eq!((answer.group, answer.id), (group, id), "a wrong value");
                assert!(answer.payload.starts_with(&format!("{group}/{id}/")));
                calls.fetch_add(1, Ordering::SeqCst);
                if matches!(outcome, Some(CacheOutcome::Hit | CacheOutcome::HitL1)) {
                    hits.fetch_add(1, Ordering::SeqCst);
                }
                if task == 0 && rng.below(200) == 0 {
                    invalidate_tag(&format!("evict:{}", rng.below(10)))
                        .await
                        .unwrap();
                    invalidations += 1;
                }
            }
            invalidations
        })));
    }
    let mut invalidations = 0;
    for task in tasks {
        invalidations += task.await.unwrap();
    }
    let (calls, hits, runs) = (
        calls.load(Ordering::SeqCst),
        hits.load(Ordering::SeqCst),
        RUNS.load(Ordering::SeqCst),
    );
    let slowest = Duration::from_micros(slowest.load(Ordering::SeqCst));
    let info: String = redis::cmd("INFO")
        .arg("stats")
        .query(&mut server.connection())
        .unwrap();
    let evicted: u64 = info
        .lines()
        .find_map(|line| line.strip_prefix("evicted_keys:"))
        .and_then(|n| n.trim().parse().ok())
        .unwrap();
    println!(
        "allkeys-lru, maxmemory 1 MB, ~8 MB working set, 2 instances x 4 tasks, 4 s: {calls} calls, \
         {hits} hits ({:.0}%), {runs} origin calls ({:.2} per call), {evicted} keys evicted, \
         {invalidations} tag invalidations, slowest call {slowest:?}",
        100.0 * hits as f64 / calls as f64,
        runs as f64 / calls as f64,
    );
    assert!(evicted > 1_000, "Redis did not evict: {evicted}");
    assert!(hits > 0, "nothing hit");
    // The longest a caller may wait for another's value is `wait_ms`; then it computes (2 ms)
    // itself. The margin is for a debug build on two loaded cores.
    assert!(
        slowest < Duration::from_millis(WAIT_MS) + Duration::from_millis(700),
        "a call took {slowest:?}"
    );
}
