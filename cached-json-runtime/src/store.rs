//! The storage seam: anything that can get and set bytes with a TTL.
//!
//! The cache-aside logic only ever talks to a [`Store`], so Redis can be swapped for another
//! backend (the in-process [`MemoryStore`](crate::MemoryStore), or one of your own) without
//! touching a single annotated function.

use std::fmt;
use std::future::Future;
use std::pin::Pin;
use std::time::Duration;

/// A boxed future, as returned by [`Store`] methods (the trait is object-safe).
pub type BoxFuture<'a, T> = Pin<Box<dyn Future<Output = T> + Send + 'a>>;

/// Why a store could not answer.
///
/// ```
/// use cached_json_runtime::StoreError;
///
/// // Only an answer from the store itself means it is reachable.
/// let reachable = |err: &StoreError| matches!(err, StoreError::Reply(_));
/// assert!(reachable(&StoreError::Reply("OOM command not allowed".into())));
/// assert!(!reachable(&StoreError::Timeout));
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum StoreError {
    /// The store is known to be down (circuit open, not connected yet): it was not even asked.
    /// Cheap, expected during an outage, and not logged per call.
    Unavailable,
    /// The store did not answer in time.
    Timeout,
    /// The connection failed (refused, reset, closed).
    Connection(String),
    /// The store answered, with an error (out of memory, wrong type, no permission...): it is
    /// reachable, but refused this command.
    Reply(String),
}

impl fmt::Display for StoreError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            StoreError::Unavailable => f.write_str("store unavailable (circuit open)"),
            StoreError::Timeout => f.write_str("store timed out"),
            StoreError::Connection(msg) => write!(f, "store connection failed: {msg}"),
            StoreError::Reply(msg) => write!(f, "store refused the command: {msg}"),
        }
    }
}

impl std::error::Error for StoreError {}

/// A cache backend holding JSON bytes under string keys, each with its own TTL.
///
/// Implementations must be bounded in time: a call that cannot be answered quickly returns
/// [`StoreError::Timeout`] or [`StoreError::Unavailable`] rather than waiting. The cache-aside
/// logic treats every error as "no cache for this call" and still runs the function.
///
/// A store of your own, here one that counts reads in front of the in-process store:
///
/// ```
/// use std::sync::atomic::{AtomicU64, Ordering};
/// use std::time::Duration;
/// use cached_json_runtime::{BoxFuture, Cache, MemoryStore, Store, StoreError};
///
/// #[derive(Default)]
/// struct Counting { inner: MemoryStore, reads: AtomicU64 }
///
/// impl Store for Counting {
///     fn get<'a>(&'a self, key: &'a str) -> BoxFuture<'a, Result<Option<Vec<u8>>, StoreError>> {
///         self.reads.fetch_add(1, Ordering::Relaxed);
///         self.inner.get(key)
///     }
///     fn set<'a>(&'a self, key: &'a str, value: &'a [u8], ttl: Duration)
///         -> BoxFuture<'a, Result<(), StoreError>> {
///         self.inner.set(key, value, ttl)
///     }
///     fn delete<'a>(&'a self, key: &'a str) -> BoxFuture<'a, Result<bool, StoreError>> {
///         self.inner.delete(key)
///     }
///     fn kind(&self) -> &'static str { "counting" }
/// }
///
/// let cache = Cache::builder().store(Counting::default()).build().unwrap();
/// assert_eq!(cache.store().kind(), "counting");
/// ```
pub trait Store: Send + Sync + 'static {
    /// The value under `key`, or `None` when there is none (missing or expired).
    fn get<'a>(&'a self, key: &'a str) -> BoxFuture<'a, Result<Option<Vec<u8>>, StoreError>>;

    /// Stores `value` under `key` for `ttl`.
    fn set<'a>(
        &'a self,
        key: &'a str,
        value: &'a [u8],
        ttl: Duration,
    ) -> BoxFuture<'a, Result<(), StoreError>>;

    /// Removes `key`. Returns whether it existed.
    fn delete<'a>(&'a self, key: &'a str) -> BoxFuture<'a, Result<bool, StoreError>>;

    /// Takes the lock `key` for `lease` if nobody holds it, marking it with `token`. Returns
    /// whether this caller got it. Stores shared by several processes implement it so that one
    /// process computes a cold key while the others wait; the default (for stores private to
    /// one process, where in-process coalescing already does the job) always grants it.
    fn try_lock<'a>(
        &'a self,
        key: &'a str,
        token: &'a str,
        lease: Duration,
    ) -> BoxFuture<'a, Result<bool, StoreError>> {
        let _ = (key, token, lease);
        Box::pin(std::future::ready(Ok(true)))
    }

    /// Releases the lock `key` if it is still held with `token` (not if it expired and another
    /// caller took it since).
    fn unlock<'a>(&'a self, key: &'a str, token: &'a str) -> BoxFuture<'a, Result<(), StoreError>> {
        let _ = (key, token);
        Box::pin(std::future::ready(Ok(())))
    }

    /// A short name for logs and health checks, e.g. `"redis"` or `"memory"`.
    fn kind(&self) -> &'static str;

    /// Whether the store is usable right now, as far as it knows without asking the backend.
    fn is_available(&self) -> bool {
        true
    }

    /// Whether the store is known to be down (e.g. its circuit breaker is open), so that a
    /// call should not even ask it. Unlike `!is_available()`, `false` while still connecting.
    fn known_down(&self) -> bool {
        false
    }
}
