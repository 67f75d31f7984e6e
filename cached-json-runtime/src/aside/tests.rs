//! The decisions of the cache-aside path (when to read, write, lock, serve stale, land a flight),
//! against a scripted store that records every command. The same paths run against real
//! redis-server processes in the workspace's integration tests.

use std::collections::HashMap;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use crate::call::Call;
use crate::outcome::{observe, CacheOutcome};
use crate::site::CacheSite;
use crate::store::{BoxFuture, Health, Read, Store, StoreError};
use crate::Cache;

/// The three shapes' calls with an inline body, as the modes make them.
impl Call {
    fn value<V, F: std::future::Future<Output = V>>(
        self,
        codec: crate::shape::Codec<V>,
        function: F,
    ) -> impl std::future::Future<Output = V> {
        self.run::<crate::shape::ValueShape<V>, _>(codec, crate::body::Inline(function))
    }

    fn result<T, E, F: std::future::Future<Output = Result<T, E>>>(
        self,
        codec: crate::shape::Codec<T>,
        errors: crate::shape::ErrorShare<E>,
        function: F,
    ) -> impl std::future::Future<Output = Result<T, E>> {
        self.run::<crate::shape::ResultShape<T, E>, _>(
            (codec, errors),
            crate::body::Inline(function),
        )
    }
}

/// One command the call sent to the store.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Op {
    Get(String),
    Set(String, String, Duration),
    TryLock(String),
    ExtendLock(String),
    Unlock(String),
}

/// A store that answers what the test scripted and records what it was asked.
struct Scripted {
    health: Health,
    /// What `get` answers, by key; `Read::Miss` for the rest.
    reads: Mutex<HashMap<String, Read>>,
    /// What `try_lock` answers, in turn; granted once they run out.
    locks: Mutex<Vec<bool>>,
    ops: Mutex<Vec<Op>>,
}

impl Scripted {
    fn new(health: Health) -> Arc<Self> {
        Arc::new(Scripted {
            health,
            reads: Mutex::default(),
            locks: Mutex::default(),
            ops: Mutex::default(),
        })
    }

    fn answer(self: &Arc<Self>, key: &str, read: Read) -> Arc<Self> {
        self.reads.lock().unwrap().insert(key.to_owned(), read);
        self.clone()
    }

    /// The commands on entries (and their stale copies and locks): the once-per-site reads
    /// of a prefix's generation left out (`generation_is_read_once_per_site_and_cache`).
    fn ops(&self) -> Vec<Op> {
        self.ops
            .lock()
            .unwrap()
            .iter()
            .filter(|op| !matches!(op, Op::Get(key) if key.ends_with(":generation")))
            .cloned()
            .collect()
    }

    fn generation_reads(&self) -> usize {
        self.ops
            .lock()
            .unwrap()
            .iter()
            .filter(|op| matches!(op, Op::Get(key) if key.ends_with(":generation")))
            .count()
    }

    fn log(&self, op: Op) {
        self.ops.lock().unwrap().push(op);
    }
}

impl Store for Scripted {
    fn get<'a>(&'a self, key: &'a str) -> BoxFuture<'a, Read> {
        self.log(Op::Get(key.to_owned()));
        let read = self.reads.lock().unwrap().get(key).cloned();
        Box::pin(std::future::ready(read.unwrap_or(Read::Miss)))
    }
    fn set<'a>(
        &'a self,
        key: &'a str,
        value: &'a [u8],
        ttl: Duration,
    ) -> BoxFuture<'a, Result<(), StoreError>> {
        let value = String::from_utf8_lossy(value).into_owned();
        self.log(Op::Set(key.to_owned(), value, ttl));
        Box::pin(std::future::ready(Ok(())))
    }
    fn delete<'a>(&'a self, _: &'a str) -> BoxFuture<'a, Result<bool, StoreError>> {
        Box::pin(std::future::ready(Ok(false)))
    }
    fn try_lock<'a>(
        &'a self,
        key: &'a str,
        _: &'a str,
        _: Duration,
    ) -> BoxFuture<'a, Result<bool, StoreError>> {
        self.log(Op::TryLock(key.to_owned()));
        let mut locks = self.locks.lock().unwrap();
        let granted = if locks.is_empty() {
            true
        } else {
            locks.remove(0)
        };
        Box::pin(std::future::ready(Ok(granted)))
    }
    fn unlock<'a>(&'a self, key: &'a str, _: &'a str) -> BoxFuture<'a, Result<(), StoreError>> {
        self.log(Op::Unlock(key.to_owned()));
        Box::pin(std::future::ready(Ok(())))
    }
    fn extend_lock<'a>(
        &'a self,
        key: &'a str,
        _: &'a str,
        _: Duration,
    ) -> BoxFuture<'a, Result<bool, StoreError>> {
        self.log(Op::ExtendLock(key.to_owned()));
        Box::pin(std::future::ready(Ok(true)))
    }
    fn health(&self) -> Health {
        self.health
    }
    fn kind(&self) -> &'static str {
        "scripted"
    }
}

static PLAIN: CacheSite = CacheSite::new("plain", 60, None);
static LOCKED: CacheSite = CacheSite::new("locked", 60, None).with_lock();
static STALE: CacheSite = CacheSite::new("stale", 60, None).with_stale(30);
static JITTERED: CacheSite = CacheSite::new("jittered", 60, None)
    .with_stale(30)
    .with_jitter(20);
static SOFT: CacheSite = CacheSite::new("soft", 60, None)
    .with_stale(30)
    .with_soft_timeout_ms(20);

/// The key of `id` under `prefix`, as the runtime builds it.
fn key(prefix: &str, id: u32) -> String {
    let mut args = crate::key::KeyBuilder::new();
    args.arg("id", &id);
    crate::key::Key::new(None, prefix, None, args.finish().unwrap())
        .as_str()
        .to_owned()
}

fn get(prefix: &str, id: u32) -> Op {
    Op::Get(key(prefix, id))
}

fn set(prefix: &str, id: u32, value: &str, ttl: u64) -> Op {
    Op::Set(key(prefix, id), value.to_owned(), Duration::from_secs(ttl))
}

/// Calls `function` as a cached call of `site` with key argument `id`, on a cache on `store`.
async fn call<T, F>(
    store: &Arc<Scripted>,
    site: &'static CacheSite,
    id: u32,
    function: F,
) -> (T, CacheOutcome)
where
    T: serde::Serialize + serde::de::DeserializeOwned,
    F: std::future::Future<Output = T>,
{
    call_in(&Cache::new(store.clone()), site, id, function).await
}

/// The same, in `cache`: calls in one cache coalesce.
async fn call_in<T, F>(
    cache: &Cache,
    site: &'static CacheSite,
    id: u32,
    function: F,
) -> (T, CacheOutcome)
where
    T: serde::Serialize + serde::de::DeserializeOwned,
    F: std::future::Future<Output = T>,
{
    let (output, outcome) = cache
        .scope(observe(async {
            let mut call = Call::new(site, "");
            call.arg("id", &id);
            call.value(crate::shape::Codec::JSON, function).await
        }))
        .await;
    (output, outcome.expect("a cached call ran"))
}

async fn call_result(
    store: &Arc<Scripted>,
    site: &'static CacheSite,
    id: u32,
    output: Result<u32, String>,
) -> (Result<u32, String>, CacheOutcome) {
    let cache = Cache::new(store.clone());
    let (output, outcome) = cache
        .scope(observe(async {
            let mut call = Call::new(site, "");
            call.arg("id", &id);
            call.result(
                crate::shape::Codec::JSON,
                crate::shape::ErrorShare::CLONED,
                async { output },
            )
            .await
        }))
        .await;
    (output, outcome.expect("a cached call ran"))
}

#[tokio::test]
async fn a_hit_is_one_read_and_the_function_does_not_run() {
    let store = Scripted::new(Health::Up).answer(&key("plain", 1), Read::Value(b"7".to_vec()));
    let (value, outcome) = call(&store, &PLAIN, 1, async { unreachable!() as u32 }).await;
    assert_eq!((value, outcome), (7, CacheOutcome::Hit));
    assert_eq!(store.ops(), vec![get("plain", 1)]);
}

#[tokio::test]
async fn a_miss_runs_the_function_and_writes_its_json_with_the_ttl() {
    let store = Scripted::new(Health::Up);
    let (value, outcome) = call(&store, &PLAIN, 2, async { 40 + 2 }).await;
    assert_eq!((value, outcome), (42, CacheOutcome::Miss));
    assert_eq!(
        store.ops(),
        vec![get("plain", 2), set("plain", 2, "42", 60)]
    );
}

#[tokio::test]
async fn an_undecodable_value_is_a_miss_and_is_overwritten() {
    // (Not JSON. JSON of another shape, another build's, is kept: `tests/rolling_deploy.rs`.)
    let store =
        Scripted::new(Health::Up).answer(&key("plain", 3), Read::Value(b"not json".to_vec()));
    let (value, outcome) = call(&store, &PLAIN, 3, async { 3u32 }).await;
    assert_eq!((value, outcome), (3, CacheOutcome::Miss));
    assert_eq!(store.ops(), vec![get("plain", 3), set("plain", 3, "3", 60)]);
}

#[tokio::test]
async fn an_unreachable_store_gets_no_write_and_the_call_is_a_bypass() {
    let store = Scripted::new(Health::Up).answer(&key("plain", 4), Read::Unreachable);
    let (value, outcome) = call(&store, &PLAIN, 4, async { 4u32 }).await;
    assert_eq!((value, outcome), (4, CacheOutcome::Bypass));
    assert_eq!(store.ops(), vec![get("plain", 4)]);
}

#[tokio::test]
async fn a_store_known_down_is_not_even_asked() {
    let store = Scripted::new(Health::Down);
    let (value, outcome) = call(&store, &LOCKED, 5, async { 5u32 }).await;
    assert_eq!((value, outcome), (5, CacheOutcome::Bypass));
    assert_eq!(store.ops(), vec![]);
}

#[tokio::test]
async fn an_error_is_returned_and_not_written() {
    let store = Scripted::new(Health::Up);
    let (value, outcome) = call_result(&store, &PLAIN, 6, Err("no".into())).await;
    assert_eq!((value, outcome), (Err("no".into()), CacheOutcome::Miss));
    assert_eq!(store.ops(), vec![get("plain", 6)]);
}

#[tokio::test]
async fn with_lock_the_leader_takes_the_lease_writes_then_releases_it() {
    let store = Scripted::new(Health::Up);
    let (value, outcome) = call(&store, &LOCKED, 7, async { 7u32 }).await;
    assert_eq!((value, outcome), (7, CacheOutcome::Miss));
    let lock = format!("{}:lock", key("locked", 7));
    assert_eq!(
        store.ops(),
        vec![
            get("locked", 7),
            Op::TryLock(lock.clone()),
            set("locked", 7, "7", 60),
            Op::Unlock(lock),
        ]
    );
}

#[tokio::test]
async fn with_lock_a_value_stored_by_the_holder_answers_the_waiter() {
    let store = Scripted::new(Health::Up);
    // Another process holds the lock; by the first poll it has stored the value.
    store.locks.lock().unwrap().push(false);
    let entry = key("locked", 8);
    let waiter = {
        let store = store.clone();
        tokio::spawn(async move { call(&store, &LOCKED, 8, async { unreachable!() as u32 }).await })
    };
    // The call's first read already happened (a miss); the poll after 25 ms finds the value.
    tokio::time::sleep(Duration::from_millis(5)).await;
    store.answer(&entry, Read::Value(b"80".to_vec()));
    assert_eq!(waiter.await.unwrap(), (80, CacheOutcome::Hit));
    let ops = store.ops();
    assert_eq!(ops.iter().filter(|op| matches!(op, Op::Set(..))).count(), 0);
    assert_eq!(
        ops.iter().filter(|op| matches!(op, Op::Unlock(_))).count(),
        0
    );
}

#[tokio::test]
async fn no_lock_is_asked_of_an_unreachable_store() {
    let store = Scripted::new(Health::Up).answer(&key("locked", 9), Read::Unreachable);
    let (value, outcome) = call(&store, &LOCKED, 9, async { 9u32 }).await;
    assert_eq!((value, outcome), (9, CacheOutcome::Bypass));
    assert_eq!(store.ops(), vec![get("locked", 9)]);
}

#[tokio::test]
async fn with_stale_a_fresh_value_also_writes_the_stale_copy_for_ttl_plus_stale() {
    let store = Scripted::new(Health::Up);
    let (value, outcome) = call_result(&store, &STALE, 10, Ok(10)).await;
    assert_eq!((value, outcome), (Ok(10), CacheOutcome::Miss));
    let entry = key("stale", 10);
    assert_eq!(
        store.ops(),
        vec![
            get("stale", 10),
            set("stale", 10, "10", 60),
            Op::Set(
                format!("{entry}:stale"),
                "10".into(),
                Duration::from_secs(90)
            ),
        ]
    );
}

#[tokio::test]
async fn with_stale_an_error_answers_the_stale_copy() {
    let entry = key("stale", 11);
    let store =
        Scripted::new(Health::Up).answer(&format!("{entry}:stale"), Read::Value(b"1100".to_vec()));
    let (value, outcome) = call_result(&store, &STALE, 11, Err("down".into())).await;
    assert_eq!((value, outcome), (Ok(1100), CacheOutcome::Stale));
    assert_eq!(
        store.ops(),
        vec![get("stale", 11), Op::Get(format!("{entry}:stale"))]
    );
}

#[tokio::test]
async fn with_stale_and_nothing_kept_the_error_is_returned() {
    let store = Scripted::new(Health::Up);
    let (value, outcome) = call_result(&store, &STALE, 12, Err("down".into())).await;
    assert_eq!((value, outcome), (Err("down".into()), CacheOutcome::Miss));
}

#[tokio::test]
async fn with_stale_no_stale_read_is_asked_of_an_unreachable_store() {
    let store = Scripted::new(Health::Up).answer(&key("stale", 13), Read::Unreachable);
    let (value, outcome) = call_result(&store, &STALE, 13, Err("down".into())).await;
    assert_eq!((value, outcome), (Err("down".into()), CacheOutcome::Bypass));
    assert_eq!(store.ops(), vec![get("stale", 13)]);
}

#[tokio::test]
async fn past_the_soft_timeout_the_stale_copy_answers() {
    let entry = key("soft", 14);
    let store =
        Scripted::new(Health::Up).answer(&format!("{entry}:stale"), Read::Value(b"14".to_vec()));
    let slow = async {
        tokio::time::sleep(Duration::from_secs(5)).await;
        0u32
    };
    let (value, outcome) = call(&store, &SOFT, 14, slow).await;
    assert_eq!((value, outcome), (14, CacheOutcome::Stale));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn concurrent_misses_land_one_run_on_every_follower() {
    let store = Scripted::new(Health::Up);
    let cache = Cache::new(store.clone());
    static RUNS: AtomicUsize = AtomicUsize::new(0);
    let calls: Vec<_> = (0..20)
        .map(|_| {
            let cache = cache.clone();
            tokio::spawn(async move {
                call_in(&cache, &PLAIN, 15, async {
                    RUNS.fetch_add(1, Ordering::SeqCst);
                    tokio::time::sleep(Duration::from_millis(50)).await;
                    15u32
                })
                .await
            })
        })
        .collect();
    let mut outcomes = Vec::new();
    for call in calls {
        let (value, outcome) = call.await.unwrap();
        assert_eq!(value, 15);
        outcomes.push(outcome);
    }
    assert_eq!(RUNS.load(Ordering::SeqCst), 1);
    assert_eq!(
        outcomes
            .iter()
            .filter(|o| **o == CacheOutcome::Miss)
            .count(),
        1
    );
    assert_eq!(
        outcomes
            .iter()
            .filter(|o| **o == CacheOutcome::Coalesced)
            .count(),
        19
    );
    let writes = store
        .ops()
        .into_iter()
        .filter(|op| matches!(op, Op::Set(..)));
    assert_eq!(writes.count(), 1, "one write for the whole flight");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_bypassed_leader_still_lands_its_value_on_its_followers() {
    // The store is unreachable: nothing is written, but followers still share the one run.
    let store = Scripted::new(Health::Up).answer(&key("plain", 16), Read::Unreachable);
    let cache = Cache::new(store.clone());
    static RUNS: AtomicUsize = AtomicUsize::new(0);
    let calls: Vec<_> = (0..10)
        .map(|_| {
            let cache = cache.clone();
            tokio::spawn(async move {
                call_in(&cache, &PLAIN, 16, async {
                    RUNS.fetch_add(1, Ordering::SeqCst);
                    tokio::time::sleep(Duration::from_millis(50)).await;
                    16u32
                })
                .await
            })
        })
        .collect();
    for call in calls {
        assert_eq!(call.await.unwrap().0, 16);
    }
    assert_eq!(RUNS.load(Ordering::SeqCst), 1);
    assert!(!store.ops().iter().any(|op| matches!(op, Op::Set(..))));
}

#[tokio::test]
async fn the_stale_copy_outlives_the_jittered_entry_by_exactly_stale() {
    for id in 0..20 {
        let store = Scripted::new(Health::Up);
        let _ = call_result(&store, &JITTERED, id, Ok(id)).await;
        let ttls: Vec<Duration> = store
            .ops()
            .into_iter()
            .filter_map(|op| match op {
                Op::Set(_, _, ttl) => Some(ttl),
                _ => None,
            })
            .collect();
        let [entry, stale] = ttls[..] else {
            panic!("two writes expected: {ttls:?}");
        };
        assert!(entry >= Duration::from_secs(60) && entry <= Duration::from_secs(80));
        assert_eq!(stale, entry + Duration::from_secs(30));
    }
}

/// An argument whose value has no canonical form: a map with tuple keys.
#[tokio::test]
async fn a_call_whose_argument_has_no_key_runs_uncached() {
    let store = Scripted::new(Health::Up);
    let cache = Cache::new(store.clone());
    let tuple_keys = HashMap::from([((1, 2), "a")]);
    for _ in 0..2 {
        let (value, outcome) = cache
            .scope(observe(async {
                let mut call = Call::new(&PLAIN, "");
                call.arg("filter", &tuple_keys);
                call.value(crate::shape::Codec::JSON, async { 5u32 }).await
            }))
            .await;
        assert_eq!((value, outcome), (5, Some(CacheOutcome::Bypass)));
    }
    assert_eq!(store.ops(), vec![], "no key: the store is not asked");
}

#[tokio::test]
async fn instantiations_of_a_generic_site_have_their_own_keys() {
    let store = Scripted::new(Health::Up);
    let cache = Cache::new(store.clone());
    for (instance, value) in [
        ("app::Repo<app::User>::get", 1u32),
        ("app::Repo<app::Admin>::get", 2),
    ] {
        let (got, outcome) = cache
            .scope(observe(async {
                let mut call = Call::new(&PLAIN, instance);
                call.arg("id", &1u32);
                call.value(crate::shape::Codec::JSON, async { value }).await
            }))
            .await;
        assert_eq!((got, outcome), (value, Some(CacheOutcome::Miss)));
    }
    let keys: Vec<String> = store
        .ops()
        .into_iter()
        .filter_map(|op| match op {
            Op::Set(key, ..) => Some(key),
            _ => None,
        })
        .collect();
    assert_eq!(keys.len(), 2);
    assert_ne!(keys[0], keys[1]);
    assert_ne!(
        keys[0],
        key("plain", 1),
        "a seeded key is not the plain one"
    );
}

// ---- Failures of the leader. ----

static FAILING: CacheSite = CacheSite::new("failing", 60, None);

/// An error that cannot be copied.
#[derive(Debug, PartialEq)]
struct Opaque(u32);

/// `calls` concurrent calls of `FAILING` with key 1, each running `function(n)` if it runs;
/// returns the outputs and outcomes, and the most runs that overlapped.
async fn concurrent_failures<E, F, Fut>(
    calls: usize,
    errors: crate::shape::ErrorShare<E>,
    function: F,
) -> (Vec<(Result<u32, E>, CacheOutcome)>, usize)
where
    E: Send + Sync + 'static,
    F: Fn() -> Fut + Send + Sync + Copy + 'static,
    Fut: std::future::Future<Output = Result<u32, E>> + Send,
{
    let running = Arc::new(AtomicUsize::new(0));
    let most = Arc::new(AtomicUsize::new(0));
    let cache = Cache::new(Scripted::new(Health::Up));
    let tasks: Vec<_> = (0..calls)
        .map(|_| {
            let cache = cache.clone();
            let (running, most) = (running.clone(), most.clone());
            tokio::spawn(async move {
                let (output, outcome) = cache
                    .scope(observe(async {
                        let mut call = Call::new(&FAILING, "");
                        call.arg("id", &1u32);
                        call.result(crate::shape::Codec::JSON, errors, async {
                            let now = running.fetch_add(1, Ordering::SeqCst) + 1;
                            most.fetch_max(now, Ordering::SeqCst);
                            let output = function().await;
                            running.fetch_sub(1, Ordering::SeqCst);
                            output
                        })
                        .await
                    }))
                    .await;
                (output, outcome.unwrap())
            })
        })
        .collect();
    let mut results = Vec::new();
    for task in tasks {
        results.push(task.await.unwrap());
    }
    let most = most.load(Ordering::SeqCst);
    (results, most)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_leader_error_that_can_be_copied_is_every_followers_answer() {
    static RUNS: AtomicUsize = AtomicUsize::new(0);
    let (results, _) = concurrent_failures(20, crate::shape::ErrorShare::CLONED, || async {
        RUNS.fetch_add(1, Ordering::SeqCst);
        tokio::time::sleep(Duration::from_millis(50)).await;
        Err::<u32, String>("origin down".into())
    })
    .await;
    assert_eq!(RUNS.load(Ordering::SeqCst), 1);
    assert!(results
        .iter()
        .all(|(r, _)| *r == Err("origin down".to_owned())));
    let coalesced = results
        .iter()
        .filter(|(_, o)| *o == CacheOutcome::Coalesced)
        .count();
    assert_eq!(coalesced, 19);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn followers_of_an_error_that_cannot_be_copied_run_in_doubling_waves() {
    static RUNS: AtomicUsize = AtomicUsize::new(0);
    let started = std::time::Instant::now();
    let (results, most_at_once) =
        concurrent_failures(20, crate::shape::ErrorShare::NOT_SHARED, || async {
            RUNS.fetch_add(1, Ordering::SeqCst);
            tokio::time::sleep(Duration::from_millis(50)).await;
            Err::<u32, Opaque>(Opaque(7))
        })
        .await;
    let took = started.elapsed();
    // Every caller needs an error of its own: 20 runs, but never 20 at once, and not one
    // after the other either.
    assert_eq!(RUNS.load(Ordering::SeqCst), 20);
    assert!(results
        .iter()
        .all(|(r, o)| *r == Err(Opaque(7)) && *o == CacheOutcome::Miss));
    assert!(most_at_once <= 16, "{most_at_once} runs at once");
    assert!(took < Duration::from_millis(50 * 10), "{took:?}: a queue");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_recovering_origin_answers_the_waves_left_waiting() {
    static RUNS: AtomicUsize = AtomicUsize::new(0);
    // Fails once, then works: the second wave's value is every remaining caller's.
    let (results, _) = concurrent_failures(20, crate::shape::ErrorShare::NOT_SHARED, || async {
        let run = RUNS.fetch_add(1, Ordering::SeqCst);
        tokio::time::sleep(Duration::from_millis(50)).await;
        if run == 0 {
            Err::<u32, Opaque>(Opaque(0))
        } else {
            Ok(9)
        }
    })
    .await;
    assert!(
        RUNS.load(Ordering::SeqCst) <= 3,
        "{} runs",
        RUNS.load(Ordering::SeqCst)
    );
    assert_eq!(results.iter().filter(|(r, _)| r.is_err()).count(), 1);
}

static PANICKING: CacheSite = CacheSite::new("panicking", 60, None);

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn followers_of_a_panicking_leader_panic_at_once_with_its_message() {
    static RUNS: AtomicUsize = AtomicUsize::new(0);
    let cache = Cache::new(Scripted::new(Health::Up));
    let started = std::time::Instant::now();
    let tasks: Vec<_> = (0..10)
        .map(|_| {
            let cache = cache.clone();
            tokio::spawn(async move {
                cache
                    .scope(async {
                        let mut call = Call::new(&PANICKING, "");
                        call.arg("id", &1u32);
                        call.value(crate::shape::Codec::JSON, async {
                            RUNS.fetch_add(1, Ordering::SeqCst);
                            tokio::time::sleep(Duration::from_millis(100)).await;
                            panic!("origin exploded");
                            #[allow(unreachable_code)]
                            0u32
                        })
                        .await
                    })
                    .await
            })
        })
        .collect();
    for task in tasks {
        let panic = task.await.unwrap_err().into_panic();
        let message = panic
            .downcast_ref::<String>()
            .cloned()
            .or_else(|| panic.downcast_ref::<&str>().map(|s| s.to_string()))
            .unwrap();
        assert!(message.contains("origin exploded"), "{message}");
    }
    assert_eq!(RUNS.load(Ordering::SeqCst), 1);
    assert!(
        started.elapsed() < Duration::from_millis(600),
        "{:?}",
        started.elapsed()
    );
    assert_eq!(cache.in_flight(), 0);
}

static IMPATIENT: CacheSite = CacheSite::new("impatient", 60, None).with_wait_ms(100);

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn followers_of_a_leader_that_never_finishes_compute_after_the_wait() {
    let cache = Cache::new(Scripted::new(Health::Up));
    let call = |value: u32, hang: bool| {
        let cache = cache.clone();
        async move {
            cache
                .scope(observe(async move {
                    let mut call = Call::new(&IMPATIENT, "");
                    call.arg("id", &1u32);
                    call.value(crate::shape::Codec::JSON, async move {
                        if hang {
                            std::future::pending::<()>().await;
                        }
                        value
                    })
                    .await
                }))
                .await
        }
    };
    // The leader's future is kept but never polled again: a leader that never completes.
    let mut hung = Box::pin(call(1, true));
    assert!(futures_poll_once(&mut hung).await.is_none());
    let started = std::time::Instant::now();
    let followers: Vec<_> = (0..5).map(|_| tokio::spawn(call(2, false))).collect();
    let mut outcomes = Vec::new();
    for follower in followers {
        let (value, outcome) = follower.await.unwrap();
        assert_eq!(value, 2);
        outcomes.push(outcome.unwrap());
    }
    let took = started.elapsed();
    assert!(
        took >= Duration::from_millis(90) && took < Duration::from_secs(2),
        "{took:?}"
    );
    // One of them took over and ran; the others got its value.
    assert_eq!(
        outcomes
            .iter()
            .filter(|o| **o == CacheOutcome::Miss)
            .count(),
        1
    );
    assert_eq!(
        outcomes
            .iter()
            .filter(|o| **o == CacheOutcome::Coalesced)
            .count(),
        4
    );
    drop(hung);
    assert_eq!(cache.in_flight(), 0);
}

/// Polls `future` once; `Some` if it finished.
async fn futures_poll_once<F: std::future::Future + Unpin>(future: &mut F) -> Option<F::Output> {
    std::future::poll_fn(|cx| {
        std::task::Poll::Ready(match std::pin::Pin::new(&mut *future).poll(cx) {
            std::task::Poll::Ready(output) => Some(output),
            std::task::Poll::Pending => None,
        })
    })
    .await
}

static LONG_LOCK: CacheSite = CacheSite::new("long-lock", 60, None)
    .with_lock()
    .with_lock_lease_ms(60);

#[tokio::test]
async fn the_lease_is_extended_while_a_long_body_runs_and_released_after() {
    let store = Scripted::new(Health::Up);
    let (value, outcome) = call(&store, &LONG_LOCK, 1, async {
        tokio::time::sleep(Duration::from_millis(200)).await;
        1u32
    })
    .await;
    assert_eq!((value, outcome), (1, CacheOutcome::Miss));
    let lock = format!("{}:lock", key("long-lock", 1));
    let ops = store.ops();
    let extensions = ops
        .iter()
        .filter(|op| **op == Op::ExtendLock(lock.clone()))
        .count();
    assert!(extensions >= 3, "every 20 ms of a 200 ms body: {ops:?}");
    assert_eq!(ops.last(), Some(&Op::Unlock(lock)));
}

#[tokio::test]
async fn a_cancelled_lock_holder_releases_the_lock_at_once() {
    let store = Scripted::new(Health::Up);
    let cancelled = tokio::time::timeout(
        Duration::from_millis(50),
        call(&store, &LOCKED, 30, async {
            tokio::time::sleep(Duration::from_secs(10)).await;
            30u32
        }),
    )
    .await;
    assert!(cancelled.is_err());
    // The release runs in a task of its own: let it.
    tokio::time::sleep(Duration::from_millis(20)).await;
    let lock = format!("{}:lock", key("locked", 30));
    assert_eq!(store.ops().last(), Some(&Op::Unlock(lock)));
}

#[tokio::test]
async fn generation_is_read_once_per_site_and_cache() {
    let store = Scripted::new(Health::Up);
    let cache = Cache::new(store.clone());
    for id in 0..5 {
        call_in(&cache, &PLAIN, id, async { 1u32 }).await;
        call_in(&cache, &STALE, id, async { 1u32 }).await;
    }
    assert_eq!(store.generation_reads(), 2);
    // Another cache reads it for itself.
    call(&store, &PLAIN, 0, async { 1u32 }).await;
    assert_eq!(store.generation_reads(), 3);
}

#[tokio::test]
async fn a_call_whose_generation_cannot_be_read_runs_uncached() {
    let store = Scripted::new(Health::Up).answer("plain:generation", Read::Unreachable);
    let (value, outcome) = call(&store, &PLAIN, 40, async { 40u32 }).await;
    assert_eq!((value, outcome), (40, CacheOutcome::Bypass));
    assert_eq!(
        store.ops(),
        vec![],
        "no entry read or written without the generation"
    );
}

#[tokio::test]
async fn after_an_invalidation_every_key_of_the_prefix_changes() {
    let store = Scripted::new(Health::Up);
    let cache = Cache::new(store.clone());
    call_in(&cache, &PLAIN, 50, async { 50u32 }).await;
    cache.invalidate_prefix("plain").await.unwrap();
    call_in(&cache, &PLAIN, 50, async { 50u32 }).await;
    let written: Vec<String> = store
        .ops()
        .into_iter()
        .filter_map(|op| match op {
            Op::Set(key, ..) if !key.ends_with(":generation") => Some(key),
            _ => None,
        })
        .collect();
    assert_eq!(written.len(), 2);
    assert_eq!(
        written[0],
        key("plain", 50),
        "generation 0: the documented key"
    );
    assert_ne!(written[1], written[0]);
}

#[tokio::test]
async fn nested_observers_each_see_the_calls_inside_them() {
    fn observe_entry<F: std::future::Future>(
        future: F,
    ) -> impl std::future::Future<Output = (F::Output, Option<crate::Entry>)> {
        crate::http::observe_http(future, |output, entry, _| (output, entry))
    }

    let store = Scripted::new(Health::Up).answer(&key("plain", 90), Read::Value(b"9".to_vec()));
    let cache = Cache::new(store.clone());
    let plain = |id: u32| async move {
        let mut call = Call::new(&PLAIN, "");
        call.arg("id", &id);
        call.value(crate::shape::Codec::JSON, async { 1u32 }).await
    };
    // The outer observer sees the outcome of the call inside the inner one...
    let ((value, entry), outcome) = cache.scope(observe(observe_entry(plain(90)))).await;
    assert_eq!((value, outcome), (9, Some(CacheOutcome::Hit)));
    let entry = entry.expect("the inner observer's entry");
    assert_eq!(
        (entry.outcome(), &entry.json()[..]),
        (CacheOutcome::Hit, &b"9"[..])
    );
    // ...and the entry, when it wants entries and the inner observer does not.
    let ((value, outcome), entry) = cache.scope(observe_entry(observe(plain(91)))).await;
    assert_eq!((value, outcome), (1, Some(CacheOutcome::Miss)));
    let entry = entry.expect("the outer observer's entry");
    assert_eq!(
        (entry.outcome(), &entry.json()[..]),
        (CacheOutcome::Miss, &b"1"[..])
    );
    // Outside any observer, nothing is kept.
    assert_eq!(cache.scope(plain(91)).await, 1);
}
