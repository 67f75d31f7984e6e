//! The miss path, bounded and fair under every failure (against real redis-server processes):
//! a hung Redis costs a request one command timeout at most, one broken connection is replaced
//! alone, a failing or panicking origin is not amplified, a follower never waits forever, and
//! the cross-process lock is released by a cancelled or panicking holder. Figures are printed
//! (`--nocapture`); bounds are generous so that a loaded machine does not make them flaky.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use cached_json::{cached_json, observe, Cache, CacheOutcome, RedisConfig};
use cached_json_test_support::{child, concurrently, count, RedisServer};
use tokio::task::JoinSet;

#[cached_json("hung-inner", ttl = 60)]
async fn hung_inner(id: u32) -> u32 {
    id + 1
}

/// Like the demo's `forecast_info`, which calls `local_info`: two cached calls in one request.
#[cached_json("hung-outer", ttl = 60)]
async fn hung_outer(id: u32) -> u32 {
    hung_inner(id).await * 10
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_hung_redis_costs_a_request_one_command_timeout_through_nested_calls() {
    let mut server = RedisServer::start();
    // Long enough that one timeout and two are far apart whatever the machine's load.
    let config = RedisConfig::new(server.url()).op_timeout(Duration::from_millis(1000));
    let cache = Cache::builder().redis(config).build().unwrap();
    assert_eq!(
        cache.scope(observe(hung_outer(0))).await.1,
        Some(CacheOutcome::Miss)
    );

    server.pause();
    let started = Instant::now();
    let (value, outcome) = cache.scope(observe(hung_outer(1))).await;
    let cold = started.elapsed();
    assert_eq!((value, outcome), (20, Some(CacheOutcome::Bypass)));
    // And a request making two cached calls of other keys, one after the other.
    let started = Instant::now();
    let both = cache
        .scope(async { (hung_inner(7).await, hung_outer(8).await) })
        .await;
    let two_keys = started.elapsed();
    assert_eq!(both, (8, 90));
    server.resume();
    println!(
        "redis hung (op_timeout 1 s): cold nested request {cold:?}; next request, two keys, {two_keys:?}"
    );
    assert!(
        cold >= Duration::from_millis(900),
        "{cold:?}: the first read does wait"
    );
    assert!(
        cold < Duration::from_millis(1800),
        "{cold:?}: more than one timeout"
    );
    assert!(
        two_keys < Duration::from_millis(500),
        "{two_keys:?}: Redis is skipped now"
    );
}

#[cached_json("per-runtime", ttl = 60)]
async fn per_runtime(id: u32) -> u32 {
    id
}

/// The server's clients as (id, name).
fn clients(server: &RedisServer) -> Vec<(u64, String)> {
    let list: String = redis::cmd("CLIENT")
        .arg("LIST")
        .query(&mut server.connection())
        .unwrap();
    list.lines()
        .filter_map(|line| {
            let field = |name: &str| {
                line.split(' ')
                    .find_map(|f| f.strip_prefix(&format!("{name}=")).map(str::to_owned))
            };
            Some((field("id")?.parse().ok()?, field("name")?))
        })
        .collect()
}

#[test]
fn one_broken_runtime_connection_is_replaced_alone() {
    let server = RedisServer::start();
    let cache = server.cache();
    // Two runtimes, as two actix workers would have, each calling until it has its own
    // connection.
    let runtime = || {
        tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .unwrap()
    };
    let (a, b) = (runtime(), runtime());
    let warm = |rt: &tokio::runtime::Runtime| {
        let name = format!("cached-json-rt{}", rt.handle().id());
        for _ in 0..200 {
            rt.block_on(cache.scope(per_runtime(1)));
            if clients(&server).iter().any(|(_, n)| *n == name) {
                return name;
            }
            std::thread::sleep(Duration::from_millis(5));
        }
        panic!("no connection named {name}: {:?}", clients(&server));
    };
    let (name_a, name_b) = (warm(&a), warm(&b));
    let before = clients(&server);
    let id_of = |clients: &[(u64, String)], name: &str| {
        clients.iter().find(|(_, n)| n == name).map(|(id, _)| *id)
    };
    let (a_id, b_id, own_id) = (
        id_of(&before, &name_a).unwrap(),
        id_of(&before, &name_b).unwrap(),
        id_of(&before, "cached-json").unwrap(),
    );

    // A proxy or an idle timeout closes runtime A's connection, and only it.
    let _: () = redis::cmd("CLIENT")
        .arg("KILL")
        .arg("ID")
        .arg(a_id)
        .query(&mut server.connection())
        .unwrap();
    let outcomes: Vec<_> = (0..20)
        .map(|_| {
            let outcome = a.block_on(cache.scope(observe(per_runtime(1)))).1.unwrap();
            std::thread::sleep(Duration::from_millis(10));
            outcome
        })
        .collect();
    let bypassed = outcomes
        .iter()
        .filter(|o| **o == CacheOutcome::Bypass)
        .count();
    println!("runtime A after its connection was killed: {outcomes:?}");
    assert!(
        bypassed <= 1,
        "only the call that found it broken bypasses: {outcomes:?}"
    );
    assert_eq!(outcomes.last(), Some(&CacheOutcome::Hit));
    assert_eq!(cache.store().health(), cached_json::store::Health::Up);
    // Runtime B never noticed.
    assert_eq!(
        b.block_on(cache.scope(observe(per_runtime(1)))).1,
        Some(CacheOutcome::Hit)
    );
    let after = clients(&server);
    assert_eq!(
        id_of(&after, &name_b),
        Some(b_id),
        "runtime B kept its connection"
    );
    assert_eq!(
        id_of(&after, "cached-json"),
        Some(own_id),
        "the store kept its own"
    );
    let new_a = id_of(&after, &name_a).expect("runtime A has a connection again");
    assert_ne!(new_a, a_id);
}

// ---- A failing origin is not amplified. ----

static CLONE_ERROR_RUNS: AtomicUsize = AtomicUsize::new(0);

#[cached_json("failing-clone", ttl = 60)]
async fn failing_with_clone_error(id: u32) -> Result<u32, String> {
    CLONE_ERROR_RUNS.fetch_add(1, Ordering::SeqCst);
    tokio::time::sleep(Duration::from_millis(200)).await;
    Err(format!("origin down for {id}"))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_failing_origin_with_a_clone_error_runs_once_for_twenty_callers() {
    let server = RedisServer::start();
    let cache = server.cache();
    let started = Instant::now();
    let results = concurrently(&cache, 20, |_| async {
        let started = Instant::now();
        (failing_with_clone_error(1).await, started.elapsed())
    })
    .await;
    let slowest = results.iter().map(|((_, took), _)| *took).max().unwrap();
    let runs = CLONE_ERROR_RUNS.load(Ordering::SeqCst);
    println!(
        "20 concurrent misses, origin failing after 200 ms (Clone error): {runs} origin run(s), \
         slowest caller {slowest:?}, all in {:?}",
        started.elapsed()
    );
    assert!(runs <= 2, "{runs} origin runs");
    assert!(results
        .iter()
        .all(|((r, _), _)| *r == Err("origin down for 1".to_owned())));
    assert_eq!(count(&results, CacheOutcome::Coalesced), 20 - runs);
    assert!(
        slowest < Duration::from_millis(2 * 200 + 300),
        "{slowest:?}"
    );
    assert!(server.keys("*").is_empty(), "an error is never stored");
}

/// An error type that cannot be copied, as many are (they wrap an `io::Error`, a `Box<dyn
/// Error>`...).
#[derive(Debug)]
pub struct OpaqueError;

static OPAQUE_RUNS: AtomicUsize = AtomicUsize::new(0);
static OPAQUE_RUNNING: AtomicUsize = AtomicUsize::new(0);
static OPAQUE_MOST: AtomicUsize = AtomicUsize::new(0);

#[cached_json("failing-opaque", ttl = 60)]
async fn failing_with_opaque_error(id: u32) -> Result<u32, OpaqueError> {
    OPAQUE_RUNS.fetch_add(1, Ordering::SeqCst);
    let now = OPAQUE_RUNNING.fetch_add(1, Ordering::SeqCst) + 1;
    OPAQUE_MOST.fetch_max(now, Ordering::SeqCst);
    tokio::time::sleep(Duration::from_millis(200)).await;
    OPAQUE_RUNNING.fetch_sub(1, Ordering::SeqCst);
    let _ = id;
    Err(OpaqueError)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_failing_origin_with_an_error_that_cannot_be_copied_is_called_in_doubling_waves() {
    let server = RedisServer::start();
    let cache = server.cache();
    let started = Instant::now();
    let results = concurrently(&cache, 20, |_| async {
        let started = Instant::now();
        (
            failing_with_opaque_error(1).await.is_err(),
            started.elapsed(),
        )
    })
    .await;
    let slowest = results.iter().map(|((_, took), _)| *took).max().unwrap();
    let (runs, most) = (
        OPAQUE_RUNS.load(Ordering::SeqCst),
        OPAQUE_MOST.load(Ordering::SeqCst),
    );
    println!(
        "20 concurrent misses, origin failing after 200 ms (error not Clone): {runs} runs, at \
         most {most} at once, slowest caller {slowest:?}, all in {:?}",
        started.elapsed()
    );
    assert!(results.iter().all(|((failed, _), _)| *failed));
    // Each caller needs its own error, so each runs once; but never all at once, nor in a
    // 20-long queue: waves of 1, 2, 4, 8... runs.
    assert_eq!(runs, 20);
    assert!(most <= 16, "{most} runs at once");
    assert!(slowest < Duration::from_millis(7 * 200), "{slowest:?}");
}

static PANIC_RUNS: AtomicUsize = AtomicUsize::new(0);

#[cached_json("panicking", ttl = 60)]
async fn panicking(id: u32) -> u32 {
    PANIC_RUNS.fetch_add(1, Ordering::SeqCst);
    tokio::time::sleep(Duration::from_millis(200)).await;
    panic!("origin panicked for {id}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_panicking_origin_does_not_make_its_followers_queue() {
    let server = RedisServer::start();
    let cache = server.cache();
    let started = Instant::now();
    let mut tasks = JoinSet::new();
    for _ in 0..10 {
        let cache = cache.clone();
        tasks.spawn(async move { cache.scope(panicking(2)).await });
    }
    let mut panicked = 0;
    while let Some(done) = tasks.join_next().await {
        assert!(done.unwrap_err().is_panic());
        panicked += 1;
    }
    let took = started.elapsed();
    let runs = PANIC_RUNS.load(Ordering::SeqCst);
    println!("10 concurrent misses of an origin panicking after 200 ms: {runs} run(s), all finished in {took:?}");
    assert_eq!(panicked, 10, "each call panics, as the function would");
    assert_eq!(runs, 1);
    assert!(took < Duration::from_millis(200 + 400), "{took:?}");
    assert_eq!(cache.in_flight(), 0);
}

// ---- A follower never waits forever. ----

static NEVER_RUNS: AtomicUsize = AtomicUsize::new(0);

/// The body of `never_finishes_key`.
async fn never_finishes(hang: bool) -> u32 {
    NEVER_RUNS.fetch_add(1, Ordering::SeqCst);
    if hang {
        // An HTTP call with no timeout, to a server that never answers.
        std::future::pending::<()>().await;
    }
    7
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn followers_of_a_leader_that_never_completes_compute_after_the_wait() {
    let server = RedisServer::start();
    let cache = server.cache();
    // The leader's call never completes (its flag, left out of the key, makes it hang); the
    // others, of the same key, come after it.
    let leader = {
        let cache = cache.clone();
        tokio::spawn(async move { cache.scope(never_finishes_key(true)).await })
    };
    tokio::time::sleep(Duration::from_millis(50)).await;
    let started = Instant::now();
    let results = concurrently(&cache, 10, |_| never_finishes_key(false)).await;
    let took = started.elapsed();
    println!(
        "10 followers of a leader that never completes: released after {took:?} (wait_ms = 300)"
    );
    assert!(results.iter().all(|(v, _)| *v == 7));
    assert!(took >= Duration::from_millis(200), "{took:?}");
    assert!(took < Duration::from_millis(1500), "{took:?}");
    assert_eq!(
        count(&results, CacheOutcome::Miss),
        1,
        "one of them took over"
    );
    assert_eq!(count(&results, CacheOutcome::Coalesced), 9);
    leader.abort();
}

/// `never_finishes` with the flag out of the key: every call shares one key and one flight.
#[cached_json("never-finishes-key", ttl = 60, wait_ms = 300, skip(hang))]
async fn never_finishes_key(hang: bool) -> u32 {
    never_finishes(hang).await
}

// ---- The cross-process lock. ----

#[cached_json("cancelled-holder", ttl = 60, lock)]
async fn slow_locked(id: u32) -> u32 {
    tokio::time::sleep(Duration::from_secs(3)).await;
    id
}

fn lock_of(server: &RedisServer, prefix: &str) -> Vec<String> {
    server.keys(&format!("{prefix}:*:lock"))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_cancelled_or_panicking_lock_holder_releases_the_lock_at_once() {
    let server = RedisServer::start();
    let cache = server.cache();
    // Cancelled: the client went away, or a timeout around the call.
    let cancelled =
        tokio::time::timeout(Duration::from_millis(300), cache.scope(slow_locked(1))).await;
    assert!(cancelled.is_err());
    let started = Instant::now();
    while !lock_of(&server, "cancelled-holder").is_empty() {
        assert!(
            started.elapsed() < Duration::from_secs(2),
            "the lock is still held"
        );
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    println!(
        "cancelled lock holder: lock gone {:?} after the cancel",
        started.elapsed()
    );
    assert!(started.elapsed() < Duration::from_millis(500));

    // Panicking.
    let panicked = tokio::spawn({
        let cache = cache.clone();
        async move { cache.scope(panicking_locked(2)).await }
    })
    .await;
    assert!(panicked.unwrap_err().is_panic());
    tokio::time::sleep(Duration::from_millis(50)).await;
    assert!(
        lock_of(&server, "panicking-holder").is_empty(),
        "released by the panicking holder"
    );
}

#[cached_json("panicking-holder", ttl = 60, lock)]
async fn panicking_locked(id: u32) -> u32 {
    tokio::time::sleep(Duration::from_millis(50)).await;
    panic!("holder {id} panicked");
}

/// Counts a run in Redis itself, so that runs in several processes add up.
fn count_run(redis_url: &str) {
    let mut conn = redis::Client::open(redis_url)
        .unwrap()
        .get_connection()
        .unwrap();
    let _: i64 = redis::cmd("INCR")
        .arg("runs:long-body")
        .query(&mut conn)
        .unwrap();
}

/// A body three times slower than the lease: extended while it runs, the lease keeps the other
/// process out.
#[cached_json("long-body", ttl = 60, lock, lock_lease_ms = 400, wait_ms = 5000)]
async fn long_body(id: u32, redis_url: &str) -> u32 {
    count_run(redis_url);
    tokio::time::sleep(Duration::from_millis(1200)).await;
    id
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_body_slower_than_the_lease_keeps_the_lock_for_two_processes() {
    if let Some(url) = child::role() {
        let cache = Cache::builder().redis_url(&url).build().unwrap();
        let value = cache.scope(long_body(5, &url)).await;
        println!("CHILD {value}");
        return;
    }
    let server = RedisServer::start();
    let started = Instant::now();
    let outputs = child::spawn(
        "a_body_slower_than_the_lease_keeps_the_lock_for_two_processes",
        2,
        &server.url(),
    );
    for stdout in &outputs {
        assert!(stdout.contains("CHILD 5"), "child failed: {stdout}");
    }
    let runs: i64 = redis::cmd("GET")
        .arg("runs:long-body")
        .query(&mut server.connection())
        .unwrap();
    println!(
        "2 processes, a 1.2 s body under a 0.4 s lease: {runs} run(s) in {:?}",
        started.elapsed()
    );
    assert_eq!(
        runs, 1,
        "the extended lease kept the second process waiting for the value"
    );
}

// ---- One huge value does not clog the shared connection. ----

#[cached_json("sized", ttl = 60)]
async fn sized(bytes: usize) -> String {
    "x".repeat(bytes)
}

#[tokio::test]
async fn a_value_over_the_size_limit_is_returned_but_not_stored() {
    let server = RedisServer::start();
    let cache = Cache::builder()
        .redis_url(server.url())
        .max_value_bytes(1024)
        .build()
        .unwrap();
    for _ in 0..2 {
        let (value, outcome) = cache.scope(observe(sized(10_000))).await;
        assert_eq!((value.len(), outcome), (10_000, Some(CacheOutcome::Miss)));
    }
    assert_eq!(
        cache.scope(observe(sized(100))).await.1,
        Some(CacheOutcome::Miss)
    );
    assert_eq!(
        cache.scope(observe(sized(100))).await.1,
        Some(CacheOutcome::Hit)
    );
    assert_eq!(
        server.keys("sized:*").len(),
        1,
        "only the small value is stored"
    );
    assert_eq!(cache.store().health(), cached_json::store::Health::Up);
}

// ---- No panic anywhere in the cache. ----

#[cached_json(
    "all-options",
    ttl = 60,
    lock,
    stale = 60,
    timeout_ms = 50,
    jitter = 5,
    wait_ms = 500
)]
async fn all_options(id: u32, fail: bool) -> Result<u32, String> {
    if fail {
        Err(format!("failed {id}"))
    } else {
        Ok(id)
    }
}

#[cached_json("plain-option", ttl = 60, lock_lease_ms = 300, lock)]
async fn plain_option(id: u32) -> Option<u32> {
    Some(id)
}

/// Every option, `Ok` and `Err`, hit and miss: the function's answer, whatever the store.
async fn exercise(cache: &Cache) {
    cache
        .scope(async {
            for round in 0..2 {
                assert_eq!(all_options(1, false).await, Ok(1), "round {round}");
                assert_eq!(plain_option(2).await, Some(2));
            }
            // Err: with a stale copy from above for id 1, the stale value; else the error.
            assert_eq!(all_options(3, true).await, Err("failed 3".into()));
        })
        .await;
}

#[test]
fn no_store_and_no_runtime_makes_a_call_panic() {
    let server = RedisServer::start();
    let closed_port = {
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        listener.local_addr().unwrap().port()
    };
    let caches = [
        ("redis", server.cache()),
        ("memory", Cache::builder().memory(1 << 20).build().unwrap()),
        (
            "redis down",
            Cache::builder()
                .redis_url(format!("redis://127.0.0.1:{closed_port}/0"))
                .build()
                .unwrap(),
        ),
    ];
    for (name, cache) in &caches {
        // A normal runtime.
        tokio::runtime::Runtime::new()
            .unwrap()
            .block_on(exercise(cache));
        // A runtime built without a time driver: the cache's timers still work.
        tokio::runtime::Builder::new_current_thread()
            .enable_io()
            .build()
            .unwrap()
            .block_on(exercise(cache));
        // One with timers but no I/O driver: no connection of its own can be made there.
        tokio::runtime::Builder::new_current_thread()
            .enable_time()
            .build()
            .unwrap()
            .block_on(exercise(cache));
        // No runtime at all, as `futures::executor::block_on`.
        cached_json_test_support::block_on(exercise(cache));
        println!("{name}: every option, in every kind of executor, answered");
    }
    // Outside any runtime, Redis still serves (through the store's own connection).
    let (_, outcome) =
        cached_json_test_support::block_on(caches[0].1.scope(observe(plain_option(2))));
    assert_eq!(outcome, Some(CacheOutcome::Hit));
}

// ---- A slow origin refreshes its entry instead of being cancelled. ----

static SLOW_ORIGIN_RUNS: AtomicUsize = AtomicUsize::new(0);
static SLOW_ORIGIN_DONE: AtomicUsize = AtomicUsize::new(0);

#[cached_json("slow-origin", ttl = 60, stale = 600, timeout_ms = 100)]
async fn slow_origin(city: &str) -> Result<String, String> {
    let run = SLOW_ORIGIN_RUNS.fetch_add(1, Ordering::SeqCst);
    tokio::time::sleep(Duration::from_millis(500)).await;
    SLOW_ORIGIN_DONE.fetch_add(1, Ordering::SeqCst);
    Ok(format!("{city} #{run}"))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn past_the_soft_timeout_the_stale_value_answers_and_the_origin_finishes_in_the_background() {
    let server = RedisServer::start();
    let cache = server.cache();
    // Cold: no stale copy yet, so the call waits for the function.
    let (value, outcome) = cache.scope(observe(slow_origin("Natal"))).await;
    assert_eq!(
        (value, outcome),
        (Ok("Natal #0".into()), Some(CacheOutcome::Miss))
    );
    // The entry expires; its stale copy stays.
    let entry = server
        .keys("slow-origin:*")
        .into_iter()
        .find(|k| !k.ends_with(":stale"))
        .unwrap();
    let _: () = redis::cmd("DEL")
        .arg(&entry)
        .query(&mut server.connection())
        .unwrap();

    let started = Instant::now();
    let (value, outcome) = cache.scope(observe(slow_origin("Natal"))).await;
    let answered = started.elapsed();
    assert_eq!(
        (value, outcome),
        (Ok("Natal #0".into()), Some(CacheOutcome::Stale))
    );
    // The function was not cancelled: it finishes and stores its fresh value.
    while SLOW_ORIGIN_DONE.load(Ordering::SeqCst) < 2 {
        assert!(
            started.elapsed() < Duration::from_secs(3),
            "the background run never finished"
        );
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    tokio::time::sleep(Duration::from_millis(50)).await;
    let refreshed = started.elapsed();
    let stored: String = redis::cmd("GET")
        .arg(&entry)
        .query(&mut server.connection())
        .unwrap();
    println!(
        "soft timeout 100 ms, origin 500 ms: stale answered after {answered:?}; fresh value stored \
         by the background run after {refreshed:?}"
    );
    assert!(answered < Duration::from_millis(400), "{answered:?}");
    assert_eq!(stored, "\"Natal #1\"");
    assert_eq!(SLOW_ORIGIN_RUNS.load(Ordering::SeqCst), 2);
    let (value, outcome) = cache.scope(observe(slow_origin("Natal"))).await;
    assert_eq!(
        (value, outcome),
        (Ok("Natal #1".into()), Some(CacheOutcome::Hit))
    );
}

static HUNG_ORIGIN_DONE: AtomicUsize = AtomicUsize::new(0);

#[cached_json(
    "hung-origin",
    ttl = 60,
    stale = 600,
    timeout_ms = 50,
    hard_timeout_ms = 300
)]
async fn hung_origin(fail_slowly: bool) -> Result<u32, String> {
    if fail_slowly {
        tokio::time::sleep(Duration::from_secs(2)).await;
        HUNG_ORIGIN_DONE.fetch_add(1, Ordering::SeqCst);
    }
    Ok(1)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_hard_timeout_bounds_the_background_run() {
    let server = RedisServer::start();
    let cache = server.cache();
    // A stale copy to answer with (the flag is part of the key: warm the slow one's key).
    cache.scope(hung_origin_warm()).await;
    let (value, outcome) = cache.scope(observe(hung_origin(true))).await;
    assert_eq!((value, outcome), (Ok(1), Some(CacheOutcome::Stale)));
    tokio::time::sleep(Duration::from_millis(2500)).await;
    assert_eq!(
        HUNG_ORIGIN_DONE.load(Ordering::SeqCst),
        0,
        "cut at 300 ms, not run to 2 s"
    );
}

/// Writes `hung_origin(true)`'s stale copy, as an earlier good answer would have.
async fn hung_origin_warm() {
    let cache = cached_json::Cache::current();
    let mut args = cached_json::__private::KeyBuilder::new();
    args.arg("fail_slowly", &true);
    let key = cached_json::key::Key::new(None, "hung-origin", None, args.finish().unwrap());
    cache
        .store()
        .set(&format!("{key}:stale"), b"1", Duration::from_secs(60))
        .await
        .unwrap();
}

// ---- No miss at all for a hot key. ----

static HOT_RUNS: AtomicUsize = AtomicUsize::new(0);

#[cached_json("hot", ttl = 1, refresh_ahead = 0.5)]
async fn hot(id: u32) -> u32 {
    HOT_RUNS.fetch_add(1, Ordering::SeqCst);
    tokio::time::sleep(Duration::from_millis(50)).await;
    id
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn under_steady_load_a_hot_key_never_misses_again() {
    let server = RedisServer::start();
    let cache = server.cache();
    let started = Instant::now();
    let mut tasks = JoinSet::new();
    for _ in 0..8 {
        let cache = cache.clone();
        tasks.spawn(async move {
            let mut outcomes = Vec::new();
            while started.elapsed() < Duration::from_secs(4) {
                outcomes.push(cache.scope(observe(hot(1))).await.1.unwrap());
                tokio::time::sleep(Duration::from_millis(5)).await;
            }
            outcomes
        });
    }
    let mut outcomes = Vec::new();
    while let Some(done) = tasks.join_next().await {
        outcomes.extend(done.unwrap());
    }
    let misses = outcomes
        .iter()
        .filter(|o| **o == CacheOutcome::Miss)
        .count();
    let runs = HOT_RUNS.load(Ordering::SeqCst);
    println!(
        "8 tasks on one key for 4 s (ttl 1 s, refresh_ahead 0.5): {} calls, {misses} miss(es), \
         {runs} origin runs",
        outcomes.len()
    );
    assert_eq!(misses, 1, "only the first call misses");
    // About one refresh per half TTL, not one per call.
    assert!((4..=12).contains(&runs), "{runs} origin runs");
}

static LOCKED_REFRESH_RUNS: AtomicUsize = AtomicUsize::new(0);

#[cached_json("hot-locked", ttl = 2, refresh_ahead = 0.5, lock)]
async fn hot_locked(id: u32) -> u32 {
    LOCKED_REFRESH_RUNS.fetch_add(1, Ordering::SeqCst);
    tokio::time::sleep(Duration::from_millis(200)).await;
    id
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_refresh_runs_once_across_instances_with_lock() {
    let server = RedisServer::start();
    // Two instances of an app: two caches, each with its own connections and flights.
    let (a, b) = (server.cache(), server.cache());
    a.scope(hot_locked(1)).await;
    assert_eq!(LOCKED_REFRESH_RUNS.load(Ordering::SeqCst), 1);
    tokio::time::sleep(Duration::from_millis(1100)).await;
    // Both see the entry past half its life, many times, at once.
    let mut tasks = JoinSet::new();
    for i in 0..20 {
        let cache = if i % 2 == 0 { a.clone() } else { b.clone() };
        tasks.spawn(async move { cache.scope(observe(hot_locked(1))).await.1.unwrap() });
    }
    while let Some(outcome) = tasks.join_next().await {
        assert_eq!(outcome.unwrap(), CacheOutcome::Hit);
    }
    tokio::time::sleep(Duration::from_millis(400)).await;
    let pttl: i64 = redis::cmd("PTTL")
        .arg(server.keys("hot-locked:*").remove(0))
        .query(&mut server.connection())
        .unwrap();
    let runs = LOCKED_REFRESH_RUNS.load(Ordering::SeqCst);
    println!(
        "20 hits on two instances past half the TTL: {} refresh run(s); entry now lives {pttl} ms",
        runs - 1
    );
    assert_eq!(runs, 2, "one refresh for both instances");
    assert!(pttl > 1500, "the refresh reset the entry's life: {pttl} ms");
}
