//! The in-process L1 against a real Redis: hits served from memory and told apart, and copies
//! that disappear from every instance when the entry changes, whoever changes it (another
//! instance's refresh or invalidation, a plain `DEL`), with the time that takes measured; a
//! restarted Redis flushes the L1; `no_l1`, `l1_ttl` and the entry's TTL bound the copies.
//! Two caches with stores of their own stand for two instances of an app. Run with
//! `--nocapture` for the figures.

use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use cached_json::{cached_json, observe, Cache, CacheOutcome};
use cached_json_test_support::{redis_cli_bin, spread, RedisServer};
use redis::Commands;

mod support;

const L1_BYTES: u64 = 1 << 20;

/// What `versioned` answers: bumped to make a new value.
static VERSION: AtomicU64 = AtomicU64::new(0);

#[cached_json("l1-versioned", ttl = 60)]
async fn versioned(id: u32) -> (u32, u64) {
    (id, VERSION.load(Ordering::SeqCst))
}

#[cached_json("l1-plain", ttl = 60)]
async fn plain(id: u32) -> u32 {
    id * 2
}

#[cached_json("l1-opted-out", ttl = 60, no_l1)]
async fn opted_out(id: u32) -> u32 {
    id * 3
}

#[cached_json("l1-short-copies", ttl = 60, l1_ttl = 1)]
async fn short_copies(id: u32) -> u32 {
    id * 4
}

static LOCKED_RUNS: AtomicU64 = AtomicU64::new(0);

// Slow, locked, with a stale copy: what the L1 must leave as it is.
#[cached_json("l1-guarded", ttl = 1, lock, stale = 60, skip(fail))]
async fn guarded(id: u32, fail: bool) -> Result<u32, String> {
    if fail {
        return Err("origin down".into());
    }
    LOCKED_RUNS.fetch_add(1, Ordering::SeqCst);
    tokio::time::sleep(Duration::from_millis(200)).await;
    Ok(id * 6)
}

#[cached_json("l1-short-entry", ttl = 1)]
async fn short_entry(id: u32) -> u32 {
    id * 5
}

/// `Some(())` is stored as `null`: it is no `None`.
#[cached_json("l1-some-unit", ttl = 60)]
async fn some_unit(id: u32) -> Option<()> {
    (id > 0).then_some(())
}

#[cached_json("l1-refreshed-ahead", ttl = 2, refresh_ahead = 0.5)]
async fn refreshed_ahead(id: u32) -> u32 {
    id * 7
}

// One prefix, two methods of one name in one module (so one path, `l1::of`), of two types:
// the prefix-sharing mistake the registry warns of. Their calls share keys.
struct Celsius;
struct Label;

impl Celsius {
    #[cached_json("l1-same-name", ttl = 60)]
    async fn of(id: u32) -> u32 {
        id
    }
}

impl Label {
    #[cached_json("l1-same-name", ttl = 60)]
    async fn of(id: u32) -> String {
        format!("#{id}")
    }
}

// Two methods of one name made by one `macro_rules!` call, one prefix, two types: one path
// and, as `line!()` names the macro's call, one line: only the attribute's expansion differs.
macro_rules! made_by_one_call {
    ($($owner:ident => $value:ty, $make:expr;)*) => {$(
        impl $owner {
            #[cached_json("l1-one-macro-call", ttl = 60)]
            async fn made(id: u32) -> $value {
                ($make)(id)
            }
        }
    )*};
}

struct Meters;
struct Named;

made_by_one_call! {
    Meters => u32, |id| id;
    Named => String, |id| format!("#{id}");
}

// One function, one site, instantiated for two types: their calls have keys of their own.
struct Repo<T>(std::marker::PhantomData<T>);

impl<T: 'static> Repo<T> {
    #[cached_json("l1-repo", ttl = 60)]
    async fn get(id: u32) -> String {
        format!("{}#{id}", std::any::type_name::<T>())
    }
}

fn with_l1(server: &RedisServer) -> Cache {
    Cache::builder()
        .redis_url(server.url())
        .namespace("l1-test")
        .l1(L1_BYTES)
        .build()
        .unwrap()
}

async fn until_l1<T, F, Fut>(cache: &Cache, call: F) -> T
where
    F: Fn() -> Fut,
    Fut: std::future::Future<Output = T>,
{
    support::until_l1(cache, Duration::from_secs(2), call).await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn hits_come_from_memory_and_say_so() {
    let server = RedisServer::start();
    let cache = with_l1(&server);
    assert!(cache.has_l1());
    cache
        .scope(async {
            assert_eq!(observe(plain(1)).await, (2, Some(CacheOutcome::Miss)));
        })
        .await;
    assert_eq!(until_l1(&cache, || plain(1)).await, 2);
    // Served from memory: Redis is not asked (its command count does not move).
    let commands = |server: &RedisServer| -> u64 {
        let info: String = redis::cmd("INFO")
            .arg("stats")
            .query(&mut server.connection())
            .unwrap();
        info.lines()
            .find_map(|line| line.strip_prefix("total_commands_processed:"))
            .unwrap()
            .trim()
            .parse()
            .unwrap()
    };
    let before = commands(&server);
    let started = Instant::now();
    cache
        .scope(async {
            for _ in 0..100 {
                assert_eq!(observe(plain(1)).await, (2, Some(CacheOutcome::HitL1)));
            }
        })
        .await;
    // (The INFO calls themselves, and the tracking connection's PING every 100 ms, are all
    // that ran.)
    let pings = started.elapsed().as_millis() as u64 / 100 + 1;
    assert!(commands(&server) - before <= 2 + pings);

    // No L1 where it could not be kept coherent: the in-process store.
    let memory = Cache::builder()
        .memory(1 << 20)
        .l1(L1_BYTES)
        .build()
        .unwrap();
    assert!(!memory.has_l1());
}

/// How long until `reader` stops answering version `stale` of `versioned(id)`.
async fn until_changed(reader: &Cache, id: u32, stale: u64) -> Duration {
    support::until_changed(reader, || versioned(id), (id, stale)).await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn redis_cli_del_leaves_the_l1() {
    // The issue's own words: `redis-cli DEL`, the real binary.
    let server = RedisServer::start();
    let cache = with_l1(&server);
    assert_eq!(until_l1(&cache, || plain(41)).await, 82);
    let key = cache.scope(plain_key(41)).await.unwrap();
    let deleted = std::process::Command::new(redis_cli_bin())
        .args(["-p", &server.port().to_string(), "DEL", key.as_str()])
        .output()
        .expect("redis-cli (Debian's redis-tools)");
    assert_eq!(String::from_utf8_lossy(&deleted.stdout).trim(), "1");
    let started = Instant::now();
    loop {
        let (value, outcome) = cache.scope(observe(plain(41))).await;
        assert_eq!(value, 82);
        if outcome == Some(CacheOutcome::Miss) {
            break;
        }
        assert_eq!(outcome, Some(CacheOutcome::HitL1));
        assert!(
            started.elapsed() < Duration::from_secs(2),
            "still a copy after 2 s"
        );
        tokio::task::yield_now().await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn functions_called_with_the_same_arguments_keep_copies_of_their_own() {
    // `plain` and `short_copies` take the same argument: until a prefix is invalidated their
    // arguments hash alike, and only the prefix tells their entries (and copies) apart.
    let server = RedisServer::start();
    let cache = with_l1(&server);
    assert_eq!(until_l1(&cache, || plain(7)).await, 14);
    assert_eq!(until_l1(&cache, || short_copies(7)).await, 28);
    for _ in 0..20 {
        let plain = cache.scope(observe(plain(7))).await;
        let other = cache.scope(observe(short_copies(7))).await;
        assert_eq!(plain, (14, Some(CacheOutcome::HitL1)));
        assert_eq!(other, (28, Some(CacheOutcome::HitL1)));
    }
    // A change of one entry leaves the other's copy.
    let key = cache.scope(plain_key(7)).await.unwrap();
    let removed: u32 = server.connection().del(key.as_str()).unwrap();
    assert_eq!(removed, 1);
    let started = Instant::now();
    while cache.scope(observe(plain(7))).await.1 == Some(CacheOutcome::HitL1) {
        assert!(
            started.elapsed() < Duration::from_secs(2),
            "still a copy after 2 s"
        );
        tokio::task::yield_now().await;
    }
    assert_eq!(
        cache.scope(observe(short_copies(7))).await,
        (28, Some(CacheOutcome::HitL1))
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_change_on_one_instance_leaves_every_other_l1_at_once() {
    const ROUNDS: u32 = 200;
    let server = RedisServer::start();
    let writer = with_l1(&server);
    let reader = with_l1(&server);
    let mut refreshed = Vec::new();
    let mut invalidated = Vec::new();
    for id in 0..ROUNDS {
        // The reader holds a copy of the current value.
        VERSION.fetch_add(1, Ordering::SeqCst);
        let old = writer.scope(versioned(id)).await.1;
        let (_, version) = until_l1(&reader, || versioned(id)).await;
        assert_eq!(version, old);
        if id % 2 == 0 {
            // The writer stores a new value (a refresh, as on a write through the app).
            VERSION.fetch_add(1, Ordering::SeqCst);
            writer.scope(versioned_refresh(id)).await;
            refreshed.push(until_changed(&reader, id, old).await);
        } else {
            // The writer invalidates it: the reader computes it again, with the new version.
            VERSION.fetch_add(1, Ordering::SeqCst);
            assert!(writer.scope(versioned_invalidate(id)).await.unwrap());
            invalidated.push(until_changed(&reader, id, old).await);
        }
    }
    for (what, samples) in [("refresh", refreshed), ("invalidate", invalidated)] {
        let (median, p99, max) = spread(samples);
        println!(
            "{what} on one instance -> the other's L1 answers the new value: median {median:?}, \
             p99 {p99:?}, max {max:?} ({} rounds)",
            ROUNDS / 2
        );
        assert!(p99 < Duration::from_millis(100), "{what}: p99 {p99:?}");
    }
}

/// What Redis holds under `key`.
fn stored(server: &RedisServer, key: &cached_json::key::Key) -> Vec<u8> {
    server.connection().get(key.as_str()).unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_json_companion_answers_with_the_stored_bytes_on_miss_hit_and_hit_l1() {
    let server = RedisServer::start();
    let cache = with_l1(&server);
    let key = cache.scope(plain_key(5)).await.unwrap();
    // A miss: the bytes it stored.
    let entry = cache.scope(plain_json(5)).await;
    assert_eq!(entry.outcome(), CacheOutcome::Miss);
    assert_eq!(&entry.json()[..], &stored(&server, &key)[..]);
    assert_eq!(&entry.json()[..], b"10");
    assert!(entry.is_cached());
    // A hit through Redis, then from the L1 (the copy its own call decoded): the same bytes.
    let entry = cache.scope(plain_json(5)).await;
    assert!(
        matches!(entry.outcome(), CacheOutcome::Hit | CacheOutcome::HitL1),
        "{entry:?}"
    );
    assert_eq!(&entry.json()[..], b"10");
    let entry = until_l1(&cache, || plain_json(5)).await;
    assert_eq!(&entry.json()[..], &stored(&server, &key)[..]);
    assert_eq!(entry.etag().len(), 18, "a strong ETag of the bytes");
    let max_age = entry.max_age();
    assert!(max_age <= Duration::from_secs(60) && max_age > Duration::from_secs(50));
    // The function and its companion share entries and copies.
    assert_eq!(until_l1(&cache, || plain(5)).await, 10);
    // Other arguments: their own entry.
    assert_eq!(&cache.scope(plain_json(6)).await.json()[..], b"12");
    // An `Option` whose `Some` is stored as `null` answers `Some` from the L1 too.
    let unit = until_l1(&cache, || some_unit_json(1)).await;
    assert_eq!(&unit.expect("Some(()) from the L1").json()[..], b"null");
    assert_eq!(cache.scope(some_unit(1)).await, Some(()));
    // No L1 where the function's calls would not use it.
    for _ in 0..3 {
        let entry = cache.scope(opted_out_json(5)).await;
        assert_ne!(entry.outcome(), CacheOutcome::HitL1);
        assert_eq!(&entry.json()[..], b"15");
    }
    let memory = Cache::builder().memory(1 << 20).build().unwrap();
    assert_eq!(
        memory.scope(plain_json(5)).await.outcome(),
        CacheOutcome::Miss
    );
    assert_eq!(
        memory.scope(plain_json(5)).await.outcome(),
        CacheOutcome::Hit
    );
    // Changed in Redis: gone from the companion as from the call.
    let _: u32 = server.connection().del(key.as_str()).unwrap();
    let started = Instant::now();
    loop {
        let entry = cache.scope(plain_json(5)).await;
        if entry.outcome() == CacheOutcome::Miss {
            break;
        }
        assert!(started.elapsed() < Duration::from_secs(2), "still a copy");
        tokio::task::yield_now().await;
    }
    // Redis down: the value's JSON made now, promising nothing.
    let down = Cache::builder()
        .redis_url("redis://127.0.0.1:1/0")
        .build()
        .unwrap();
    let entry = down.scope(plain_json(5)).await;
    assert_eq!(entry.outcome(), CacheOutcome::Bypass);
    assert_eq!(&entry.json()[..], b"10");
    assert!(!entry.is_cached());
    assert_eq!(entry.max_age(), Duration::ZERO);

    // A refresh due is the call's to start: the L1's copy steps aside, the call answers and
    // refreshes the entry (its life starts again).
    assert_eq!(until_l1(&cache, || refreshed_ahead(1)).await, 7);
    tokio::time::sleep(Duration::from_millis(1100)).await;
    // What a client may reuse it for: `max-age` less `Age`.
    let left = |entry: &cached_json::Entry| {
        entry
            .max_age()
            .saturating_sub(entry.age().unwrap_or_default())
    };
    let entry = cache.scope(refreshed_ahead_json(1)).await;
    assert!(left(&entry) < Duration::from_secs(1), "{entry:?}");
    let started = Instant::now();
    while left(&cache.scope(refreshed_ahead_json(1)).await) < Duration::from_secs(1) {
        assert!(
            started.elapsed() < Duration::from_secs(1),
            "never refreshed"
        );
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_json_companion_never_answers_with_another_functions_bytes() {
    // Two functions whose calls share a key (one prefix, one path: methods of one name; then
    // two made by one macro call, one line too): what one of them stored or copied must not be
    // sent as the other's answer.
    let server = RedisServer::start();
    let cache = with_l1(&server);
    let copy = until_l1(&cache, || Celsius::of_json(3)).await;
    assert_eq!(&copy.json()[..], b"3");
    // The other function reads the entry through its own type, fails (a number is no String),
    // and keeps its own value beside it (`<key>:alt`, as another build of the app would): its
    // answer is its own JSON, from then on too, and the first function's stays its own.
    let label = cache.scope(Label::of_json(3)).await;
    assert_eq!(&label.json()[..], br##""#3""##);
    assert_eq!(label.outcome(), CacheOutcome::Miss);
    let label = cache.scope(Label::of_json(3)).await;
    assert_eq!(&label.json()[..], br##""#3""##);
    assert_eq!(label.outcome(), CacheOutcome::Hit);
    let celsius = until_l1(&cache, || Celsius::of_json(3)).await;
    assert_eq!(&celsius.json()[..], b"3");

    // The same, for two functions made by one macro call.
    assert_eq!(
        &until_l1(&cache, || Meters::made_json(4)).await.json()[..],
        b"4"
    );
    assert_eq!(
        &cache.scope(Named::made_json(4)).await.json()[..],
        br##""#4""##
    );
    assert_eq!(&cache.scope(Meters::made_json(4)).await.json()[..], b"4");

    // One generic function's instantiations: one site, keys of their own.
    let copy = until_l1(&cache, || Repo::<u8>::get_json(1)).await;
    assert_eq!(&copy.json()[..], br#""u8#1""#);
    let other = cache.scope(Repo::<u16>::get_json(1)).await;
    assert_eq!(&other.json()[..], br#""u16#1""#);
    // The functions themselves agree with their companions.
    assert_eq!(cache.scope(Celsius::of(3)).await, 3);
    assert_eq!(cache.scope(Label::of(3)).await, "#3");
    assert_eq!(cache.scope(Meters::made(4)).await, 4);
    assert_eq!(cache.scope(Named::made(4)).await, "#4");
    assert_eq!(cache.scope(Repo::<u8>::get(1)).await, "u8#1");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_plain_del_from_any_client_leaves_the_l1() {
    let server = RedisServer::start();
    let cache = with_l1(&server);
    let mut samples = Vec::new();
    for id in 0..50 {
        cache.scope(plain(id)).await;
        until_l1(&cache, || plain(id)).await;
        let keys = server.keys("l1-test:l1-plain:*");
        let key = cache
            .scope(plain_key(id))
            .await
            .unwrap()
            .as_str()
            .to_owned();
        assert!(keys.contains(&key));
        // As `redis-cli DEL` would, from a client that knows nothing of cached-json.
        let removed: u32 = server.connection().del(&key).unwrap();
        assert_eq!(removed, 1);
        let started = Instant::now();
        loop {
            let (_, outcome) = cache.scope(observe(plain(id))).await;
            if outcome == Some(CacheOutcome::Miss) {
                samples.push(started.elapsed());
                break;
            }
            assert_eq!(outcome, Some(CacheOutcome::HitL1));
            assert!(
                started.elapsed() < Duration::from_secs(2),
                "still a copy after 2 s"
            );
            tokio::task::yield_now().await;
        }
    }
    let (median, p99, max) = spread(samples);
    println!(
        "DEL from another client -> the L1 copy gone: median {median:?}, p99 {p99:?}, max {max:?}"
    );
    assert!(p99 < Duration::from_millis(100), "p99 {p99:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_flushed_database_flushes_the_l1() {
    let server = RedisServer::start();
    let cache = with_l1(&server);
    for id in 0..5 {
        cache.scope(plain(id)).await;
        until_l1(&cache, || plain(id)).await;
    }
    // Another client empties the database: Redis reports it as one null invalidation.
    let _: () = redis::cmd("FLUSHDB")
        .query(&mut server.connection())
        .unwrap();
    let started = Instant::now();
    for id in 0..5 {
        loop {
            let (value, outcome) = cache.scope(observe(plain(id))).await;
            assert_eq!(value, id * 2);
            if outcome == Some(CacheOutcome::Miss) {
                break;
            }
            assert_eq!(outcome, Some(CacheOutcome::HitL1));
            assert!(
                started.elapsed() < Duration::from_millis(100),
                "a copy outlived FLUSHDB"
            );
            tokio::task::yield_now().await;
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_hung_redis_is_noticed_and_the_l1_stops_serving() {
    let mut server = RedisServer::start();
    let cache = with_l1(&server);
    cache.scope(plain(7)).await;
    until_l1(&cache, || plain(7)).await;
    // Frozen: nothing can change in it, so copies are still right; but the tracking
    // connection's PING (every 100 ms) goes unanswered for a second, and from then on the L1
    // serves nothing (paused, its copies kept).
    server.pause();
    let stopped_after =
        support::until_not_l1(&cache, Duration::from_secs(3), || plain(7), 14).await;
    println!("hung Redis: the L1 stopped serving {stopped_after:?} into the freeze");
    server.resume();
    // Back: the L1 tracks again and serves again.
    let value = until_l1(&cache, || plain(7)).await;
    assert_eq!(value, 14);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_restarted_redis_flushes_the_l1() {
    let mut server = RedisServer::start();
    let cache = with_l1(&server);
    for id in 0..5 {
        cache.scope(plain(id)).await;
        until_l1(&cache, || plain(id)).await;
    }
    // Down: the L1 does not answer for a Redis it cannot hear from.
    server.kill();
    tokio::time::sleep(Duration::from_millis(50)).await;
    for id in 0..5 {
        let (value, outcome) = cache.scope(observe(plain(id))).await;
        assert_eq!(value, id * 2);
        assert_ne!(
            outcome,
            Some(CacheOutcome::HitL1),
            "a copy served with Redis gone"
        );
    }
    // Back, empty: what the L1 held before is gone too; every key misses once.
    server.restart();
    let started = Instant::now();
    let mut outcomes = Vec::new();
    for id in 0..5 {
        loop {
            let (value, outcome) = cache.scope(observe(plain(id))).await;
            assert_eq!(value, id * 2);
            if outcome != Some(CacheOutcome::Bypass) {
                outcomes.push(outcome.unwrap());
                break;
            }
            assert!(
                started.elapsed() < Duration::from_secs(5),
                "Redis never came back"
            );
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }
    assert_eq!(outcomes, [CacheOutcome::Miss; 5]);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn options_and_the_entry_ttl_bound_the_copies() {
    let server = RedisServer::start();
    let cache = with_l1(&server);
    cache
        .scope(async {
            // Warm up the tracking connection.
            plain(100).await;
        })
        .await;
    until_l1(&cache, || plain(100)).await;
    cache
        .scope(async {
            // `no_l1`: always from Redis.
            assert_eq!(observe(opted_out(1)).await.1, Some(CacheOutcome::Miss));
            for _ in 0..20 {
                assert_eq!(observe(opted_out(1)).await, (3, Some(CacheOutcome::Hit)));
            }
        })
        .await;
    // `l1_ttl = 1`: a copy for a second, then Redis again, then a new copy.
    cache.scope(short_copies(1)).await;
    until_l1(&cache, || short_copies(1)).await;
    tokio::time::sleep(Duration::from_millis(1100)).await;
    assert_eq!(
        cache.scope(observe(short_copies(1))).await,
        (4, Some(CacheOutcome::Hit))
    );
    assert_eq!(
        cache.scope(observe(short_copies(1))).await,
        (4, Some(CacheOutcome::HitL1))
    );
    // A copy never outlives its entry: `ttl = 1` misses after a second.
    cache.scope(short_entry(1)).await;
    until_l1(&cache, || short_entry(1)).await;
    tokio::time::sleep(Duration::from_millis(1100)).await;
    assert_eq!(
        cache.scope(observe(short_entry(1))).await,
        (5, Some(CacheOutcome::Miss))
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn coalescing_lock_and_stale_keep_their_meaning_with_the_l1() {
    let server = RedisServer::start();
    let (first, second) = (with_l1(&server), with_l1(&server));
    // 20 callers of a cold key over two instances: coalesced in each, locked across them, so
    // the function runs once.
    let mut calls = tokio::task::JoinSet::new();
    for i in 0..20 {
        let cache = if i % 2 == 0 {
            first.clone()
        } else {
            second.clone()
        };
        calls.spawn(async move { cache.scope(observe(guarded(1, false))).await });
    }
    let mut outcomes = Vec::new();
    while let Some(done) = calls.join_next().await {
        let (value, outcome) = done.unwrap();
        assert_eq!(value, Ok(6));
        outcomes.push(outcome.unwrap());
    }
    assert_eq!(LOCKED_RUNS.load(Ordering::SeqCst), 1, "{outcomes:?}");
    // Past its TTL the entry (and the copy with it) is gone; a failing origin is answered with
    // the stale copy, never with an L1 copy.
    assert_eq!(until_l1(&first, || guarded(1, false)).await, Ok(6));
    tokio::time::sleep(Duration::from_millis(1100)).await;
    assert_eq!(
        first.scope(observe(guarded(1, true))).await,
        (Ok(6), Some(CacheOutcome::Stale))
    );
}
