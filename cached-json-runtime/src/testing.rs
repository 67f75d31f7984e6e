//! A test kit (feature `testing`): a cache for your tests, with no Redis and no sleeping.
//!
//! [`TestCache`] is an in-process cache whose clock the test moves ([`TestCache::advance`]; it
//! also follows tokio's paused clock under `#[tokio::test(start_paused = true)]`), whose store
//! fails when told ([`TestCache::fail_next`], [`TestCache::hang`], [`TestCache::recover`]),
//! and which records every call's outcome by prefix ([`TestCache::outcomes`]). Install it for
//! a scope, as [`Cache::scope`] does:
//!
//! ```
//! use std::time::Duration;
//! use cached_json_runtime::testing::TestCache;
//!
//! # tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap().block_on(async {
//! let cache = TestCache::new();
//! // cache.scope(async { ... your code calling cached functions ... }).await;
//! cache.advance(Duration::from_secs(60)); // every entry a minute older
//! cache.fail_next(1); // the next store operation fails
//! assert!(cache.outcomes("price").is_empty());
//! # });
//! ```
//!
//! `tests/test_kit.rs` in the repository is the complete example: "a hit after a miss",
//! "`Err` is not cached", "the stale value answers when the origin fails after expiry",
//! "`refresh_ahead` refreshes", each in a few milliseconds.
//!
//! What it is not: a model of Redis's failures in full. A fault fails the store's operations
//! (reads answer unreachable, writes fail), as a Redis that refuses connections or times out
//! does; the cache's own reactions to that (fail open, stale answers) are the real ones. The
//! store never reports itself down and keeps no L1.

use std::future::Future;
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;

use crate::cache::Cache;
use crate::outcome::{CacheOutcome, Recorder};
use crate::store::{BoxFuture, MemoryStore, Read, Store, StoreError, TaggedRead};

/// How long an operation of a hung store waits before it fails (tokio's clock: at once under a
/// paused clock), as a Redis command past its timeout.
pub const HANG_TIMEOUT: Duration = Duration::from_millis(100);

/// An in-process cache for tests: a clock the test moves, scripted store faults, and the
/// outcome of every call, by prefix. See the [module](self).
pub struct TestCache {
    cache: Cache,
    store: Arc<TestStore>,
    recorder: Recorder,
}

impl TestCache {
    /// A cache with an empty store, its clock at tokio's now.
    pub fn new() -> Self {
        let store = Arc::new(TestStore::default());
        let recorder = Recorder::default();
        let cache = Cache::recording(Arc::clone(&store), recorder.clone());
        TestCache {
            cache,
            store,
            recorder,
        }
    }

    /// Runs `future` with this cache as the current one (see [`Cache::scope`]).
    pub fn scope<F: Future>(&self, future: F) -> impl Future<Output = F::Output> {
        self.cache.scope(future)
    }

    /// The cache itself (for [`Cache::invalidate_tag`], [`Cache::invalidate_prefix`]...).
    pub fn cache(&self) -> &Cache {
        &self.cache
    }

    /// Moves the store's clock `by` ahead: entries that expire meanwhile are gone, the others
    /// have that much less to live (for `stale`, `refresh_ahead`, `max-age`).
    pub fn advance(&self, by: Duration) {
        *lock(&self.store.offset) += by;
    }

    /// The next `n` operations of the store fail (a read answers unreachable, a write fails),
    /// as with a Redis that refuses connections.
    pub fn fail_next(&self, n: usize) {
        lock(&self.store.faults).fail_next += n;
    }

    /// From now on the store answers nothing: each operation waits [`HANG_TIMEOUT`] and fails,
    /// until [`TestCache::recover`].
    pub fn hang(&self) {
        lock(&self.store.faults).hanging = true;
    }

    /// Ends [`TestCache::hang`] and [`TestCache::fail_next`]: the store answers again (with
    /// what it held).
    pub fn recover(&self) {
        *lock(&self.store.faults) = Faults::default();
        self.store.recovered.notify_waiters();
    }

    /// The outcomes of the calls of `prefix` so far, in the order they finished.
    pub fn outcomes(&self, prefix: &str) -> Vec<CacheOutcome> {
        self.recorder.outcomes(prefix)
    }
}

impl Default for TestCache {
    fn default() -> Self {
        TestCache::new()
    }
}

impl std::fmt::Debug for TestCache {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TestCache").finish_non_exhaustive()
    }
}

/// The store of a [`TestCache`]: the in-process store on the test's clock, behind the faults
/// the test scripts.
struct TestStore {
    store: MemoryStore,
    /// How far the test moved the clock past tokio's.
    offset: Arc<Mutex<Duration>>,
    faults: Mutex<Faults>,
    recovered: tokio::sync::Notify,
}

#[derive(Default)]
struct Faults {
    fail_next: usize,
    hanging: bool,
}

fn lock<T>(mutex: &Mutex<T>) -> MutexGuard<'_, T> {
    mutex.lock().unwrap_or_else(|e| e.into_inner())
}

impl Default for TestStore {
    fn default() -> Self {
        let offset = Arc::default();
        TestStore {
            store: MemoryStore::on_test_clock(64 << 20, Arc::clone(&offset)),
            offset,
            faults: Mutex::default(),
            recovered: tokio::sync::Notify::new(),
        }
    }
}

impl TestStore {
    /// Whether the operation may go ahead, or the fault it meets.
    async fn answers(&self) -> Result<(), StoreError> {
        let hanging = {
            let mut faults = lock(&self.faults);
            if faults.fail_next > 0 {
                faults.fail_next -= 1;
                return Err(StoreError::Connection("a fault the test scripted".into()));
            }
            faults.hanging
        };
        if hanging {
            let recovered = self.recovered.notified();
            if tokio::time::timeout(HANG_TIMEOUT, recovered).await.is_err() {
                return Err(StoreError::Timeout);
            }
        }
        Ok(())
    }
}

/// Each operation: the scripted fault, if any, else the in-process store's answer.
impl Store for TestStore {
    fn get<'a>(&'a self, key: &'a str) -> BoxFuture<'a, Read> {
        Box::pin(async move {
            match self.answers().await {
                Ok(()) => self.store.get(key).await,
                Err(_) => Read::Unreachable,
            }
        })
    }

    fn get_with_ttl<'a>(&'a self, key: &'a str) -> BoxFuture<'a, (Read, Option<Duration>)> {
        Box::pin(async move {
            match self.answers().await {
                Ok(()) => self.store.get_with_ttl(key).await,
                Err(_) => (Read::Unreachable, None),
            }
        })
    }

    fn get_many<'a>(
        &'a self,
        keys: &'a [&'a str],
        with_ttl: bool,
    ) -> BoxFuture<'a, Vec<(Read, Option<Duration>)>> {
        // One read: one scripted fault fails it all.
        Box::pin(async move {
            match self.answers().await {
                Ok(()) => self.store.get_many(keys, with_ttl).await,
                Err(_) => keys.iter().map(|_| (Read::Unreachable, None)).collect(),
            }
        })
    }

    fn get_tagged<'a>(
        &'a self,
        key: &'a str,
        tags: &'a [String],
        with_ttl: bool,
    ) -> BoxFuture<'a, TaggedRead> {
        Box::pin(async move {
            match self.answers().await {
                Ok(()) => self.store.get_tagged(key, tags, with_ttl).await,
                Err(err) => (Read::Unreachable, None, Err(err)),
            }
        })
    }

    fn keep_tags<'a>(
        &'a self,
        tags: &'a [String],
        life: Duration,
    ) -> BoxFuture<'a, Result<Vec<u64>, StoreError>> {
        Box::pin(async move {
            self.answers().await?;
            self.store.keep_tags(tags, life).await
        })
    }

    fn set<'a>(
        &'a self,
        key: &'a str,
        value: &'a [u8],
        ttl: Duration,
    ) -> BoxFuture<'a, Result<(), StoreError>> {
        Box::pin(async move {
            self.answers().await?;
            self.store.set(key, value, ttl).await
        })
    }

    fn delete<'a>(&'a self, key: &'a str) -> BoxFuture<'a, Result<bool, StoreError>> {
        Box::pin(async move {
            self.answers().await?;
            self.store.delete(key).await
        })
    }

    fn kind(&self) -> &'static str {
        "test"
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn the_clock_moves_entries_toward_their_end_and_faults_fail_what_they_should() {
        let cache = TestCache::new();
        let store = cache.cache().store();
        store.set("k", b"1", Duration::from_secs(10)).await.unwrap();
        cache.advance(Duration::from_secs(4));
        let (read, remaining) = store.get_with_ttl("k").await;
        assert_eq!(read, Read::Value(b"1".to_vec()));
        let remaining = remaining.unwrap();
        assert!(remaining <= Duration::from_secs(6) && remaining > Duration::from_secs(5));
        cache.fail_next(2);
        assert_eq!(store.get("k").await, Read::Unreachable);
        assert!(store.set("k", b"2", Duration::from_secs(1)).await.is_err());
        assert_eq!(store.get("k").await, Read::Value(b"1".to_vec()));
        cache.advance(Duration::from_secs(6));
        assert_eq!(store.get("k").await, Read::Miss);
        cache.hang();
        let started = std::time::Instant::now();
        assert_eq!(store.get("k").await, Read::Unreachable);
        assert!(started.elapsed() >= HANG_TIMEOUT);
        cache.recover();
        assert_eq!(store.get("k").await, Read::Miss);
    }
}
