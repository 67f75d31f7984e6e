//! Redis Cluster: a local cluster of three primaries and three replicas (test-support's
//! `RedisCluster`). Every feature on keys spread over all shards; the ways to select the
//! Cluster (seed lists, `CACHED_JSON_CLUSTER`, the builder); and a primary killed under load:
//! every call answers its own value, none waits long, and caching resumes once a replica is
//! promoted. The L1 on a Cluster: a change on any shard (a refresh, a plain `DEL`, after a
//! failover too) leaves another instance's L1. Run with `--nocapture` for the figures.

use std::collections::BTreeMap;
use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use cached_json::{cached_json, observe, Cache, CacheOutcome};
use cached_json_test_support::{
    child, concurrently, count, documented_acl_rule, redis_cli_bin, spread, CapturedLogs,
    RedisCluster, TlsFiles,
};

mod support;

#[cached_json("cluster-plain", ttl = 60)]
async fn plain(n: u32) -> u32 {
    n * 2
}

static SLOW_RUNS: AtomicUsize = AtomicUsize::new(0);

#[cached_json("cluster-slow", ttl = 60)]
async fn slow(n: u32) -> u32 {
    SLOW_RUNS.fetch_add(1, Ordering::SeqCst);
    tokio::time::sleep(Duration::from_millis(200)).await;
    n + 1
}

static LOCKED_RUNS: AtomicUsize = AtomicUsize::new(0);

// Locked, with a body longer than its lease: the lease is taken, extended and released.
#[cached_json("cluster-locked", ttl = 60, lock, lock_lease_ms = 300)]
async fn locked(n: u32) -> u32 {
    LOCKED_RUNS.fetch_add(1, Ordering::SeqCst);
    tokio::time::sleep(Duration::from_millis(450)).await;
    n + 3
}

// `fail` is left out of the key: the failing call finds the stale copy of the good one.
#[cached_json("cluster-stale", ttl = 1, stale = 60, skip(fail))]
async fn flaky(n: u32, fail: bool) -> Result<u32, String> {
    if fail {
        Err("origin down".into())
    } else {
        Ok(n * 5)
    }
}

static HOT_RUNS: AtomicUsize = AtomicUsize::new(0);

#[cached_json("cluster-hot", ttl = 2, refresh_ahead = 0.5)]
async fn hot(n: u32) -> u32 {
    HOT_RUNS.fetch_add(1, Ordering::SeqCst);
    n
}

/// What `versioned` answers: bumped to make a new value.
static VERSION: AtomicU64 = AtomicU64::new(0);

#[cached_json("cluster-versioned", ttl = 60)]
async fn versioned(id: u32) -> (u32, u64) {
    (id, VERSION.load(Ordering::SeqCst))
}

/// [`support::until_l1`] within 5 s: every primary tracked, and the copy made.
async fn until_l1<T, F, Fut>(cache: &Cache, call: F) -> T
where
    F: Fn() -> Fut,
    Fut: std::future::Future<Output = T>,
{
    support::until_l1(cache, Duration::from_secs(5), call).await
}

/// How long until `reader` stops answering version `stale` of `versioned(id)`.
async fn until_changed(reader: &Cache, id: u32, stale: u64) -> Duration {
    support::until_changed(reader, || versioned(id), (id, stale)).await
}

/// `cluster` once every slot is served again (a replica promoted), and how long that took;
/// waited for off the runtime (it polls the nodes with blocking connections).
async fn served(cluster: RedisCluster) -> (RedisCluster, Duration) {
    tokio::task::spawn_blocking(move || {
        let took = cluster.wait_until_served(Duration::from_secs(30));
        (cluster, took)
    })
    .await
    .unwrap()
}

fn cluster_cache(cluster: &RedisCluster) -> Cache {
    Cache::builder()
        .redis_cluster(cluster.urls())
        .build()
        .expect("valid seed nodes")
}

/// How many of `n` keys of `plain` each primary holds.
fn keys_per_primary(cluster: &RedisCluster, pattern: &str) -> Vec<usize> {
    cluster
        .primaries()
        .into_iter()
        .map(|i| cluster.nodes()[i].keys(pattern).len())
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_feature_works_on_every_shard() {
    let cluster = RedisCluster::start();
    let cache = cluster_cache(&cluster);
    let other = cluster_cache(&cluster);
    cache
        .scope(async {
            // Misses, then hits, on keys that land on all three shards.
            for n in 0..60 {
                assert_eq!(observe(plain(n)).await, (n * 2, Some(CacheOutcome::Miss)));
            }
            for n in 0..60 {
                assert_eq!(observe(plain(n)).await, (n * 2, Some(CacheOutcome::Hit)));
            }
            let spread = keys_per_primary(&cluster, "cluster-plain:*");
            assert_eq!(spread.len(), 3);
            assert_eq!(spread.iter().sum::<usize>(), 60, "{spread:?}");
            assert!(spread.iter().all(|&keys| keys > 0), "{spread:?}");

            // Coalescing: 20 callers, one run.
            let results = concurrently(&cache, 20, |_| slow(7)).await;
            assert!(results.iter().all(|(value, _)| *value == 8));
            assert_eq!(SLOW_RUNS.load(Ordering::SeqCst), 1);
            assert_eq!(count(&results, CacheOutcome::Miss), 1);
            assert_eq!(count(&results, CacheOutcome::Coalesced), 19);

            // The lock, across two caches (no shared flight): one run, its lease extended past
            // 300 ms; the other cache waits for the value instead of running it too.
            let (a, b) = tokio::join!(
                observe(locked(1)),
                other.scope(async {
                    tokio::time::sleep(Duration::from_millis(50)).await;
                    observe(locked(1)).await
                })
            );
            assert_eq!((a.0, b.0), (4, 4));
            assert_eq!(LOCKED_RUNS.load(Ordering::SeqCst), 1, "{a:?} {b:?}");
            assert_eq!(
                cluster.keys("cluster-locked:*").len(),
                1,
                "the lock is released"
            );

            // The stale copy, written and served when the origin fails.
            for n in 0..6 {
                assert_eq!(flaky(n, false).await, Ok(n * 5));
            }
            tokio::time::sleep(Duration::from_millis(1100)).await;
            for n in 0..6 {
                assert_eq!(
                    observe(flaky(n, true)).await,
                    (Ok(n * 5), Some(CacheOutcome::Stale))
                );
            }

            // refresh_ahead (GET + PTTL in one pipeline, on the key's shard): the entry is
            // refreshed in the background before it expires, so it never misses again.
            assert_eq!(observe(hot(3)).await.1, Some(CacheOutcome::Miss));
            tokio::time::sleep(Duration::from_millis(1200)).await;
            assert_eq!(observe(hot(3)).await.1, Some(CacheOutcome::Hit));
            tokio::time::sleep(Duration::from_millis(1200)).await;
            assert_eq!(observe(hot(3)).await.1, Some(CacheOutcome::Hit));
            assert_eq!(HOT_RUNS.load(Ordering::SeqCst), 2, "one miss, one refresh");

            // Invalidation of one entry, then of every entry of the prefix: the new
            // generation reaches the other cache over pub/sub on the Cluster.
            assert!(plain_invalidate(5).await.unwrap());
            assert_eq!(observe(plain(5)).await.1, Some(CacheOutcome::Miss));
            assert_eq!(
                other.scope(observe(plain(5))).await.1,
                Some(CacheOutcome::Hit)
            );
            plain_invalidate_all().await.unwrap();
            assert_eq!(observe(plain(5)).await.1, Some(CacheOutcome::Miss));
            let started = Instant::now();
            while other.scope(observe(plain(5))).await.1 != Some(CacheOutcome::Hit) {
                assert!(
                    started.elapsed() < Duration::from_secs(2),
                    "the other cache never heard of the new generation"
                );
                tokio::time::sleep(Duration::from_millis(5)).await;
            }
            println!(
                "invalidate_all heard by the other cache within {:?}",
                started.elapsed()
            );
        })
        .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_cluster_over_tls_with_a_private_ca() {
    // As managed Clusters are: TLS to every node, between the nodes too.
    let files = TlsFiles::generate(&["DNS:localhost", "IP:127.0.0.1"]);
    let cluster = RedisCluster::start_tls(&files);
    let cache = Cache::builder()
        .redis_cluster(cluster.tls_urls().into_iter().take(2))
        .tls_ca(files.path("ca.crt"))
        .build()
        .unwrap();
    cache
        .scope(async {
            for n in 400..430 {
                assert_eq!(observe(plain(n)).await, (n * 2, Some(CacheOutcome::Miss)));
                assert_eq!(observe(plain(n)).await, (n * 2, Some(CacheOutcome::Hit)));
            }
        })
        .await;
    let spread = keys_per_primary(&cluster, "cluster-plain:*");
    assert_eq!(spread.iter().sum::<usize>(), 30, "{spread:?}");
    assert!(spread.iter().all(|&keys| keys > 0), "{spread:?}");

    // The L1's tracking connections reach every primary over TLS too (on the ports the
    // Cluster gives TLS clients), and hear a change.
    let with_l1 = Cache::builder()
        .redis_cluster(cluster.tls_urls().into_iter().take(1))
        .tls_ca(files.path("ca.crt"))
        .l1(1 << 20)
        .build()
        .unwrap();
    for n in 400..430 {
        assert_eq!(until_l1(&with_l1, || plain(n)).await, n * 2);
    }
    cache.scope(plain_refresh(400)).await;
    let started = Instant::now();
    while with_l1.scope(observe(plain(400))).await.1 == Some(CacheOutcome::HitL1) {
        assert!(
            started.elapsed() < Duration::from_secs(2),
            "still a copy after 2 s"
        );
        tokio::task::yield_now().await;
    }
}

fn l1_cache(cluster: &RedisCluster) -> Cache {
    Cache::builder()
        .redis_cluster(cluster.urls().into_iter().take(2))
        .namespace("l1")
        .l1(1 << 20)
        .build()
        .expect("valid seed nodes")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_l1_hears_every_shard_and_follows_a_failover() {
    const IDS: u32 = 60;
    let cluster = RedisCluster::start();
    let writer = l1_cache(&cluster);
    let reader = l1_cache(&cluster);
    assert!(reader.has_l1());

    // Copies of entries on every shard.
    let copy_everything = || async {
        for id in 0..IDS {
            writer.scope(versioned(id)).await;
            until_l1(&reader, || versioned(id)).await;
        }
    };
    copy_everything().await;
    let shards = keys_per_primary(&cluster, "l1:cluster-versioned:*");
    assert!(shards.iter().all(|&keys| keys > 0), "{shards:?}");

    // A refresh on one instance, on whichever shard: the other's copy goes.
    let refresh_everything = || async {
        let mut samples = Vec::new();
        for id in 0..IDS {
            let (_, old) = reader.scope(versioned(id)).await;
            VERSION.fetch_add(1, Ordering::SeqCst);
            writer.scope(versioned_refresh(id)).await;
            samples.push(until_changed(&reader, id, old).await);
        }
        spread(samples)
    };
    let (median, p99, max) = refresh_everything().await;
    println!(
        "Cluster, refresh on one instance -> the other's L1 answers the new value: median \
         {median:?}, p99 {p99:?}, max {max:?} ({IDS} keys on 3 shards)"
    );
    assert!(p99 < Duration::from_millis(100), "p99 {p99:?}");

    // A plain `DEL` from `redis-cli -c` (which follows the key to its shard).
    for id in 0..6 {
        until_l1(&reader, || versioned(id)).await;
        let key = reader.scope(versioned_key(id)).await.unwrap();
        let port = cluster.nodes()[0].port().to_string();
        let deleted = std::process::Command::new(redis_cli_bin())
            .args(["-c", "-p", &port, "DEL", key.as_str()])
            .output()
            .expect("redis-cli (Debian's redis-tools)");
        assert_eq!(String::from_utf8_lossy(&deleted.stdout).trim(), "1");
        let started = Instant::now();
        while reader.scope(observe(versioned(id))).await.1 == Some(CacheOutcome::HitL1) {
            assert!(
                started.elapsed() < Duration::from_secs(2),
                "versioned({id}): still a copy 2 s after DEL"
            );
            tokio::task::yield_now().await;
        }
    }

    // A manual failover: the promoted replica reported nothing while it was a replica; its
    // changes must be heard from the moment it takes writes.
    copy_everything().await;
    let replica = cluster.replica_of(cluster.primaries()[0]);
    let cluster = tokio::task::spawn_blocking(move || {
        cluster.fail_over_to(replica);
        cluster
    })
    .await
    .unwrap();
    let (median, p99, max) = refresh_everything().await;
    println!(
        "Cluster, right after a manual failover, refresh on one instance -> the other's L1 \
         answers the new value: median {median:?}, p99 {p99:?}, max {max:?}"
    );
    // And the L1 serves again, with the promoted primary tracked.
    copy_everything().await;
    let (median, p99, _) = refresh_everything().await;
    println!("Cluster, after the failover: median {median:?}, p99 {p99:?}");
    assert!(p99 < Duration::from_millis(100), "p99 {p99:?}");
    assert_eq!(cluster.primaries().len(), 3);
}

/// The child's side of `the_environment_selects_the_cluster`: the environment names one seed
/// node and `CACHED_JSON_CLUSTER=true`; prints the outcomes of 30 misses and 30 hits.
async fn from_the_environment(seed: &str) {
    // Alone in this child process: nothing else reads the environment.
    std::env::set_var("REDIS_URL", seed);
    std::env::set_var("CACHED_JSON_CLUSTER", "true");
    let cache = Cache::from_env().expect("a usable environment");
    let mut outcomes = Vec::new();
    for _ in 0..2 {
        for n in 100..130 {
            let (value, outcome) = cache.scope(observe(plain(n))).await;
            assert_eq!(value, n * 2);
            outcomes.push(outcome.unwrap().as_str());
        }
    }
    println!("OUTCOMES {}", outcomes.join(","));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_environment_or_several_seeds_select_the_cluster() {
    if let Some(seed) = child::role() {
        return from_the_environment(&seed).await;
    }
    let cluster = RedisCluster::start();
    // One seed node, a replica: the client finds the primaries from it.
    let replica = (0..6)
        .find(|i| !cluster.primaries().contains(i))
        .expect("a replica");
    let stdout = child::spawn(
        "the_environment_or_several_seeds_select_the_cluster",
        1,
        &cluster.nodes()[replica].url(),
    );
    let line = stdout[0]
        .lines()
        .find_map(|line| line.strip_prefix("OUTCOMES "))
        .unwrap_or_else(|| panic!("the child printed no outcomes: {}", stdout[0]));
    let outcomes: Vec<&str> = line.split(',').collect();
    assert_eq!(outcomes[..30], ["MISS"; 30], "{line}");
    assert_eq!(outcomes[30..], ["HIT"; 30], "{line}");
    assert_eq!(cluster.keys("cluster-plain:*").len(), 30);

    // Several seed URLs separated by commas imply a Cluster.
    let seeds = cluster.urls()[..2].join(",");
    let cache = Cache::builder().redis_url(seeds).build().unwrap();
    cache
        .scope(async {
            for n in 100..130 {
                assert_eq!(observe(plain(n)).await, (n * 2, Some(CacheOutcome::Hit)));
            }
        })
        .await;
}

#[cached_json("cluster-load", ttl = 60)]
async fn load(n: u32) -> u32 {
    tokio::time::sleep(Duration::from_millis(2)).await;
    n * 7
}

const KEYS: u32 = 300;
const TASKS: usize = 16;

/// One call under load: its argument, when it started (since the load began), how long it
/// took, what it did.
struct Sample {
    n: u32,
    at: Duration,
    took: Duration,
    outcome: CacheOutcome,
}

/// `TASKS` tasks calling `load` over `KEYS` keys in a loop, each checking every answer.
struct Load {
    began: Instant,
    stop: Arc<AtomicBool>,
    tasks: Vec<tokio::task::JoinHandle<Vec<Sample>>>,
}

impl Load {
    /// Caches every key, then starts the tasks.
    async fn start(cache: &Cache) -> Load {
        cache
            .scope(async {
                for n in 0..KEYS {
                    assert_eq!(load(n).await, n * 7);
                }
            })
            .await;
        let began = Instant::now();
        let stop = Arc::new(AtomicBool::new(false));
        let tasks = (0..TASKS)
            .map(|task| {
                let cache = cache.clone();
                let stop = stop.clone();
                tokio::spawn(async move {
                    let mut samples = Vec::new();
                    let mut n = task as u32;
                    while !stop.load(Ordering::Relaxed) {
                        n = (n + 17) % KEYS;
                        let at = began.elapsed();
                        let (value, outcome) = cache.scope(observe(load(n))).await;
                        // A wrong value would be the worst failure of all.
                        assert_eq!(value, n * 7, "load({n}) answered another call's value");
                        samples.push(Sample {
                            n,
                            at,
                            took: began.elapsed() - at,
                            outcome: outcome.expect("a cached call"),
                        });
                    }
                    samples
                })
            })
            .collect();
        Load { began, stop, tasks }
    }

    fn elapsed(&self) -> Duration {
        self.began.elapsed()
    }

    /// Stops the tasks; every call they made.
    async fn stop(self) -> Vec<Sample> {
        self.stop.store(true, Ordering::Relaxed);
        let mut samples = Vec::new();
        for task in self.tasks {
            samples.extend(task.await.expect("no call panicked"));
        }
        samples
    }
}

/// When the last call of `samples` that bypassed the cache ended (since the load began), printed
/// as a time after the `event` at `event_at`, the replica promoted `promoted_in` after it.
fn last_bypass(
    samples: &[Sample],
    event: &str,
    event_at: Duration,
    promoted_in: Duration,
) -> Option<Duration> {
    let last = samples
        .iter()
        .filter(|s| s.outcome == CacheOutcome::Bypass)
        .map(|s| s.at + s.took)
        .max();
    println!(
        "  last bypass {:?} after the {event} (promoted {promoted_in:?} after it)",
        last.map(|at| at.saturating_sub(event_at))
    );
    last
}

/// The calls of `samples` in three windows (before `event`, until `settled`, after), with their
/// outcomes and latencies printed; returns the windows' outcome tallies.
fn report(
    what: &str,
    samples: &[Sample],
    event: Duration,
    settled: Duration,
) -> [BTreeMap<&'static str, usize>; 3] {
    let window = |from: Duration, to: Duration| -> Vec<&Sample> {
        samples
            .iter()
            .filter(|s| s.at >= from && s.at < to)
            .collect()
    };
    let windows = [
        window(Duration::ZERO, event),
        window(event, settled),
        window(settled, Duration::MAX),
    ];
    let tallies = windows.clone().map(|window| {
        let mut tally = BTreeMap::new();
        for sample in window {
            *tally.entry(sample.outcome.as_str()).or_default() += 1;
        }
        tally
    });
    let (median, p99, max) = spread(samples.iter().map(|s| s.took).collect());
    println!(
        "{what}: {} calls ({TASKS} tasks, {KEYS} keys, 2 ms origin); event at {event:.1?}, \
         settled {:.1?} later; latency median {median:.1?}, p99 {p99:.1?}, max {max:.1?}",
        samples.len(),
        settled - event
    );
    for (name, (window, tally)) in ["before", "during", "after"]
        .iter()
        .zip(windows.iter().zip(&tallies))
    {
        if window.is_empty() {
            continue;
        }
        let (_, p99, max) = spread(window.iter().map(|s| s.took).collect());
        println!("  {name}: {tally:?}, p99 {p99:.1?}, max {max:.1?}");
    }
    tallies
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_killed_primary_fails_over_without_errors() {
    let mut cluster = RedisCluster::start();
    let cache = cluster_cache(&cluster);
    let load = Load::start(&cache).await;
    assert_eq!(cluster.keys("cluster-load:*").len(), KEYS as usize);
    tokio::time::sleep(Duration::from_secs(1)).await;

    let victim = cluster.primaries()[0];
    let killed_at = load.elapsed();
    cluster.kill(victim);
    // The replica's promotion, seen from the nodes still running.
    let (cluster, promoted_in) = served(cluster).await;
    tokio::time::sleep(Duration::from_secs(3)).await;
    let samples = load.stop().await;
    let [before, during, after] = report(
        "primary killed (SIGKILL)",
        &samples,
        killed_at,
        killed_at + promoted_in,
    );

    // (A few misses at the start: the warm-up's writes land in the background.)
    assert_eq!(before.get("BYPASS"), None, "{before:?}");
    // Bounded: a call waits at most a command timeout (250 ms), never for the failover.
    let max = samples.iter().map(|s| s.took).max().unwrap();
    assert!(max < Duration::from_secs(1), "a call took {max:?}");
    let last_bypass = last_bypass(&samples, "kill", killed_at, promoted_in);
    // Meanwhile only the dead primary's keys skipped Redis: the others' kept their hits (with
    // one breaker for the whole store, every key bypassed until the failover).
    assert!(
        during.get("HIT").copied().unwrap_or(0) * 2
            > during.get("BYPASS").copied().unwrap_or(0) * 3,
        "{during:?}"
    );
    // Caching resumes on its own once a replica serves the slots: its probe reads the slot map
    // each round (backing off to `retry_max`, 1 s), and the promoted replica has the entries it
    // replicated: everything after that is a hit.
    let resumed = killed_at + promoted_in + Duration::from_millis(1250);
    assert!(
        last_bypass.is_none_or(|at| at < resumed),
        "a bypass {last_bypass:?} after the load began, the failover settled at {:?}",
        killed_at + promoted_in
    );
    assert!(
        after
            .keys()
            .all(|outcome| ["HIT", "BYPASS", "COALESCED"].contains(outcome)),
        "{after:?}"
    );
    assert_eq!(cluster.primaries().len(), 3);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_dead_primary_bypasses_the_cache_for_its_own_keys_only() {
    // A primary lost with no replica to take over (both killed), on a Cluster that serves the
    // slots it still covers (`cluster-require-full-coverage no`, as managed Clusters often
    // run): the other primaries' keys keep their cache, and the dead one's skip Redis at once.
    let mut cluster = RedisCluster::start();
    for node in cluster.nodes() {
        let _: () = redis::cmd("CONFIG")
            .arg("SET")
            .arg("cluster-require-full-coverage")
            .arg("no")
            .query(&mut node.connection())
            .unwrap();
    }
    let cache = cluster_cache(&cluster);
    let load = Load::start(&cache).await;
    let victim = cluster.primaries()[0];
    let on_victim: std::collections::HashSet<u32> = {
        let stored = cluster.nodes()[victim].keys("cluster-load:*");
        let mut on_victim = std::collections::HashSet::new();
        for n in 0..KEYS {
            let key = cache.scope(load_key(n)).await.unwrap();
            if stored.iter().any(|k| k == key.as_str()) {
                on_victim.insert(n);
            }
        }
        on_victim
    };
    assert!(!on_victim.is_empty() && on_victim.len() < KEYS as usize / 2);
    tokio::time::sleep(Duration::from_secs(1)).await;

    let replica = cluster.replica_of(victim);
    let killed_at = load.elapsed();
    cluster.kill(replica);
    cluster.kill(victim);
    tokio::time::sleep(Duration::from_secs(4)).await;
    let restarted_at = load.elapsed();
    cluster.restart(victim);
    tokio::time::sleep(Duration::from_secs(4)).await;
    let samples = load.stop().await;

    // From a second after the kill (the first failures found the dead primary) to the restart.
    let dead = |s: &&Sample| s.at > killed_at + Duration::from_secs(1) && s.at < restarted_at;
    let tally = |on: bool| -> BTreeMap<&'static str, usize> {
        let mut tally = BTreeMap::new();
        for sample in samples
            .iter()
            .filter(dead)
            .filter(|s| on_victim.contains(&s.n) == on)
        {
            *tally.entry(sample.outcome.as_str()).or_default() += 1;
        }
        tally
    };
    let (others, its_own) = (tally(false), tally(true));
    let took = |on: bool| {
        spread(
            samples
                .iter()
                .filter(dead)
                .filter(|s| on_victim.contains(&s.n) == on)
                .map(|s| s.took)
                .collect(),
        )
    };
    let ((others_median, others_p99, _), (own_median, own_p99, _)) = (took(false), took(true));
    println!(
        "a primary and its replica killed ({} of {KEYS} keys on it), 1 s to 4 s after: other \
         primaries' keys {others:?} (median {others_median:?}, p99 {others_p99:?}); its own \
         {its_own:?} (median {own_median:?}, p99 {own_p99:?})",
        on_victim.len()
    );
    let share = |tally: &BTreeMap<&str, usize>, outcome: &str| {
        *tally.get(outcome).unwrap_or(&0) as f64 / tally.values().sum::<usize>().max(1) as f64
    };
    assert!(share(&others, "HIT") > 0.99, "{others:?}");
    // Redis skipped: the origin runs, shared by concurrent callers of a key (coalesced).
    assert!(
        share(&its_own, "BYPASS") + share(&its_own, "COALESCED") > 0.99,
        "{its_own:?}"
    );
    // Skipped at once, not after a timeout each (the origin takes 2 ms).
    assert!(own_p99 < Duration::from_millis(50), "{own_p99:?}");
    // Back: its keys use Redis again once it answers (it restarts empty: misses, then hits).
    let after = samples
        .iter()
        .filter(|s| s.at > restarted_at + Duration::from_secs(3) && on_victim.contains(&s.n))
        .filter(|s| s.outcome == CacheOutcome::Bypass)
        .count();
    assert_eq!(
        after, 0,
        "its keys still bypass the cache 3 s after it restarted"
    );
    let max = samples.iter().map(|s| s.took).max().unwrap();
    assert!(max < Duration::from_secs(1), "a call took {max:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_hung_primary_failed_over_is_left_behind() {
    // A primary frozen (SIGSTOP) until its replica takes over: its connections stay open and
    // nothing answers, so redis-rs's cluster client, which re-reads its routing on errors only,
    // would keep sending its slots to it. Its keys must come back once the replica serves them.
    // Every node a seed, the frozen one included.
    let mut cluster = RedisCluster::start();
    let victim = cluster.primaries()[0];
    let cache = cluster_cache(&cluster);
    let load = Load::start(&cache).await;
    tokio::time::sleep(Duration::from_secs(1)).await;
    let replica = cluster.replica_of(victim);
    let replica_server = cluster.nodes()[replica].url();
    let paused_at = load.elapsed();
    cluster.pause(victim);
    let promoted_in = tokio::task::spawn_blocking(move || {
        let started = Instant::now();
        let client = redis::Client::open(replica_server).unwrap();
        loop {
            let mut connection = client
                .get_connection_with_timeout(Duration::from_secs(2))
                .unwrap();
            let role: Vec<redis::Value> = redis::cmd("ROLE").query(&mut connection).unwrap();
            if matches!(role.first(), Some(redis::Value::BulkString(role)) if role == b"master") {
                return started.elapsed();
            }
            assert!(started.elapsed() < Duration::from_secs(30), "no promotion");
            std::thread::sleep(Duration::from_millis(50));
        }
    })
    .await
    .unwrap();
    tokio::time::sleep(Duration::from_secs(5)).await;
    let samples = load.stop().await;
    cluster.resume(victim);
    let promoted_at = paused_at + promoted_in;
    let [_, during, after] = report("primary frozen (SIGSTOP)", &samples, paused_at, promoted_at);
    let last_bypass = last_bypass(&samples, "freeze", paused_at, promoted_in);
    // Meanwhile the other shards' keys kept their cache.
    assert!(
        during.get("HIT").copied().unwrap_or(0) > during.get("BYPASS").copied().unwrap_or(0),
        "{during:?}"
    );
    // Its keys are served by the promoted replica within a few seconds: the probe's round (up
    // to 1 s), a timeout through the old link, a new link (a frozen seed's handshake times
    // out), a command through it.
    let resumed = promoted_at + Duration::from_secs(4);
    assert!(
        last_bypass.is_none_or(|at| at < resumed),
        "a bypass {last_bypass:?} after the load began, the replica promoted at {promoted_at:?}"
    );
    assert!(after.contains_key("HIT"), "{after:?}");
    let max = samples.iter().map(|s| s.took).max().unwrap();
    assert!(max < Duration::from_secs(1), "a call took {max:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_manual_failover_is_followed_without_bypassing() {
    let cluster = RedisCluster::start();
    let cache = cluster_cache(&cluster);
    let load = Load::start(&cache).await;
    tokio::time::sleep(Duration::from_secs(1)).await;

    // The primary becomes a replica: commands it gets for its old slots answer MOVED (or
    // READONLY), which makes the client refresh the topology, not the breaker open.
    let replica = cluster.replica_of(cluster.primaries()[0]);
    let started_at = load.elapsed();
    let cluster = tokio::task::spawn_blocking(move || {
        cluster.fail_over_to(replica);
        cluster
    })
    .await
    .unwrap();
    let done_at = load.elapsed();
    tokio::time::sleep(Duration::from_secs(2)).await;
    let samples = load.stop().await;
    let tallies = report(
        "manual failover (CLUSTER FAILOVER)",
        &samples,
        started_at,
        done_at,
    );
    for tally in &tallies {
        assert_eq!(tally.get("BYPASS"), None, "{tallies:?}");
    }
    assert_eq!(
        tallies[2].keys().copied().collect::<Vec<_>>(),
        ["HIT"],
        "{tallies:?}"
    );
    assert_eq!(cluster.primaries().len(), 3);
}

#[tokio::test]
async fn a_cluster_node_configured_as_one_server_says_what_to_change() {
    let captured = CapturedLogs::default();
    let writer = captured.clone();
    let subscriber = tracing_subscriber::fmt()
        .with_writer(move || writer.clone())
        .with_ansi(false)
        .with_max_level(tracing_subscriber::filter::LevelFilter::WARN)
        .finish();
    let _logging = tracing::subscriber::set_default(subscriber);

    let cluster = RedisCluster::start();
    // One node's URL, without CACHED_JSON_CLUSTER: the keys of the other shards answer MOVED.
    let cache = Cache::builder()
        .redis_url(cluster.nodes()[cluster.primaries()[0]].url())
        .build()
        .unwrap();
    cache
        .scope(async {
            for n in 200..230 {
                assert_eq!(plain(n).await, n * 2, "every call still answers");
            }
        })
        .await;
    // Only the node's own shard is cached; the rest run uncached, and one line says why.
    tokio::time::sleep(Duration::from_millis(100)).await;
    let stored = cluster.keys("cluster-plain:*").len();
    assert!(0 < stored && stored < 30, "{stored} of 30 stored");
    let logs = captured.text();
    let hints = logs
        .lines()
        .filter(|line| line.contains("this is a Redis Cluster node; set CACHED_JSON_CLUSTER=true"))
        .count();
    assert_eq!(hints, 1, "{logs}");
}

#[cached_json("cluster-acl-locked", ttl = 60, lock, lock_lease_ms = 300)]
async fn acl_locked(n: u32) -> u32 {
    tokio::time::sleep(Duration::from_millis(450)).await;
    n + 1
}

#[cached_json("cluster-acl-hot", ttl = 2, refresh_ahead = 0.5)]
async fn acl_hot(n: u32) -> u32 {
    n
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_documented_acl_rule_is_all_the_cache_needs_on_a_cluster() {
    const NAMESPACE: &str = "acl-cluster";
    const PASSWORD: &str = "s3cret-cluster-pass";
    let cluster = RedisCluster::start();
    for node in cluster.nodes() {
        let mut admin = node.connection();
        let _: () = redis::cmd("ACL")
            .arg("SETUSER")
            .arg("cached-json")
            .arg(documented_acl_rule(true, NAMESPACE, PASSWORD))
            .query(&mut admin)
            .expect("the README's rule is valid ACL syntax");
        let _: () = redis::cmd("ACL")
            .arg("LOG")
            .arg("RESET")
            .query(&mut admin)
            .unwrap();
    }
    let seeds: Vec<String> = cluster
        .nodes()
        .iter()
        .take(2)
        .map(|node| format!("redis://cached-json:{PASSWORD}@127.0.0.1:{}/0", node.port()))
        .collect();
    let cache = |l1: u64| {
        Cache::builder()
            .redis_cluster(seeds.clone())
            .namespace(NAMESPACE)
            .l1(l1)
            .build()
            .unwrap()
    };
    // The other one with an L1: its tracking connections need no more than the rule.
    let (cache, other) = (cache(0), cache(1 << 20));
    cache
        .scope(async {
            for n in 300..330 {
                assert_eq!(observe(plain(n)).await.1, Some(CacheOutcome::Miss));
                assert_eq!(observe(plain(n)).await.1, Some(CacheOutcome::Hit));
            }
            assert!(plain_invalidate(300).await.unwrap());
            assert_eq!(
                other.scope(observe(plain(301))).await.1,
                Some(CacheOutcome::Hit)
            );
            plain_invalidate_all().await.unwrap();
            let started = Instant::now();
            // The other cache hears of the new generation (SUBSCRIBE on a seed node).
            while other.scope(observe(plain(301))).await.1 != Some(CacheOutcome::Miss) {
                assert!(started.elapsed() < Duration::from_secs(2));
            }
            assert_eq!(observe(acl_locked(1)).await, (2, Some(CacheOutcome::Miss)));
            assert_eq!(observe(flaky(40, false)).await.0, Ok(200));
            tokio::time::sleep(Duration::from_millis(1100)).await;
            assert_eq!(observe(flaky(40, true)).await.0, Ok(200));
            assert_eq!(observe(acl_hot(3)).await.1, Some(CacheOutcome::Miss));
            tokio::time::sleep(Duration::from_millis(1200)).await;
            assert_eq!(observe(acl_hot(3)).await.1, Some(CacheOutcome::Hit));
            tokio::time::sleep(Duration::from_millis(200)).await;
        })
        .await;
    assert_eq!(until_l1(&other, || plain(310)).await, 620);

    for node in cluster.nodes() {
        let denied: Vec<redis::Value> = redis::cmd("ACL")
            .arg("LOG")
            .query(&mut node.connection())
            .unwrap();
        assert!(
            denied.is_empty(),
            "the cache needed more than the documented rule on {}: {denied:#?}",
            node.url()
        );
    }
    let keys = cluster.keys("*");
    assert!(
        keys.iter().all(|k| k.starts_with(&format!("{NAMESPACE}:"))),
        "{keys:?}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_l1_tracks_a_primary_added_to_the_cluster() {
    let mut cluster = RedisCluster::start();
    let writer = l1_cache(&cluster);
    let reader = l1_cache(&cluster);
    let id = 1000;
    writer.scope(versioned(id)).await;
    until_l1(&reader, || versioned(id)).await;

    // Scaling out: a new primary joins, without slots, then takes the slot of this entry's key
    // (the key moves with it). The L1's tracking must find the new primary on its own: its
    // changes are reported there, and only there.
    let key = reader.scope(versioned_key(id)).await.unwrap();
    let (cluster, added) = tokio::task::spawn_blocking(move || {
        let added = cluster.add_primary();
        cluster.move_slot_of(key.as_str(), added);
        (cluster, added)
    })
    .await
    .unwrap();
    assert_eq!(
        cluster.nodes()[added].keys("l1:cluster-versioned:*").len(),
        1
    );

    // The reader copies the entry from its new primary; a refresh there leaves the copy.
    let (_, old) = until_l1(&reader, || versioned(id)).await;
    VERSION.fetch_add(1, Ordering::SeqCst);
    writer.scope(versioned_refresh(id)).await;
    let took = until_changed(&reader, id, old).await;
    println!("Cluster, a primary added: a change there left the other instance's L1 in {took:?}");
    assert!(took < Duration::from_millis(100), "{took:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_killed_primary_flushes_the_l1_until_its_replica_is_tracked() {
    let mut cluster = RedisCluster::start();
    let cache = l1_cache(&cluster);
    for n in 600..630 {
        assert_eq!(until_l1(&cache, || plain(n)).await, n * 2);
    }
    // Writes it acknowledged may not have reached its replica: no copy is served from the moment
    // its connection drops until the promoted replica is tracked.
    cluster.kill(cluster.primaries()[0]);
    let killed = Instant::now();
    tokio::time::sleep(Duration::from_millis(200)).await;
    for n in 600..630 {
        let (value, outcome) = cache.scope(observe(plain(n))).await;
        assert_eq!(value, n * 2);
        assert_ne!(
            outcome,
            Some(CacheOutcome::HitL1),
            "plain({n}) after the kill"
        );
    }
    let (cluster, _) = served(cluster).await;
    for n in 600..630 {
        assert_eq!(until_l1(&cache, || plain(n)).await, n * 2);
    }
    println!(
        "Cluster, a primary killed: the L1 serves every key again {:?} after the kill",
        killed.elapsed()
    );
    assert_eq!(cluster.primaries().len(), 3);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_seed_that_knows_only_itself_is_not_believed() {
    // The first seed is a Cluster node that never joined (a node restarted without its
    // nodes.conf): it names only itself as a primary. Tracking only it, the L1 would hear no
    // change of the real Cluster's keys.
    let cluster = RedisCluster::start();
    let dir = std::env::temp_dir().join(format!("cached-json-lone-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let config_file = dir.join("nodes.conf");
    let lone = cached_json_test_support::RedisServer::start_cluster_node(
        &[
            "--cluster-enabled",
            "yes",
            "--cluster-config-file",
            config_file.to_str().unwrap(),
        ],
        None,
    );
    let reader = Cache::builder()
        .redis_cluster([lone.url(), cluster.urls()[0].clone()])
        .namespace("l1")
        .l1(1 << 20)
        .build()
        .unwrap();
    let writer = l1_cache(&cluster);
    for id in 2000..2010 {
        writer.scope(versioned(id)).await;
        let (_, old) = until_l1(&reader, || versioned(id)).await;
        VERSION.fetch_add(1, Ordering::SeqCst);
        writer.scope(versioned_refresh(id)).await;
        until_changed(&reader, id, old).await;
    }
    drop(lone);
    let _ = std::fs::remove_dir_all(&dir);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_hung_primary_stops_the_l1_until_it_answers() {
    // A primary frozen: its connections stay open and report nothing, so only the checks can
    // tell (its turn of the topology read, every 300 ms here, unanswered for a second).
    let mut cluster = RedisCluster::start();
    let cache = l1_cache(&cluster);
    for n in 700..730 {
        assert_eq!(until_l1(&cache, || plain(n)).await, n * 2);
    }
    let victim = cluster.primaries()[0];
    cluster.pause(victim);
    let stopped_after =
        support::until_not_l1(&cache, Duration::from_secs(3), || plain(700), 1400).await;
    // Thawed before the Cluster fails it over (node timeout 1 s) or not: either way the L1
    // serves again once every primary answers.
    cluster.resume(victim);
    let (cluster, _) = served(cluster).await;
    for n in 700..730 {
        assert_eq!(until_l1(&cache, || plain(n)).await, n * 2);
    }
    println!("Cluster, a primary frozen: the L1 stopped serving {stopped_after:?} into the freeze");
    assert_eq!(cluster.primaries().len(), 3);
}
