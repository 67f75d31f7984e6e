//! The storage seam: what the cache-aside call needs from a backend.
//!
//! A [`Store`] is `get` (also with the entry's remaining life, for HTTP caching), `set` with
//! a TTL and `delete` on JSON bytes, plus what a plain key-value interface would leave the call
//! to guess: [`Store::health`], so that a call skips a backend known to be down without asking
//! it; the lock trio ([`Store::try_lock`], [`Store::extend_lock`], [`Store::unlock`]), which
//! stores shared by several processes implement for the `lock` option; and, for stores shared
//! by several processes, messages between them ([`Store::publish`], [`Store::listen`]: the
//! invalidations) and reports of changed keys ([`Store::track_keys`]: what keeps an L1
//! coherent); and the tag records of tagged functions ([`Store::get_tagged`],
//! [`Store::keep_tags`]). Only `get`, `set`, `delete` and `kind` are required. A read answers one
//! [`Read`]: the call never interprets backend errors itself.

mod memory;
mod off;
pub(crate) mod redis;
pub(crate) mod tag_record;

use std::fmt;
use std::future::Future;
use std::pin::Pin;
use std::time::Duration;

pub use memory::MemoryStore;
pub(crate) use off::NoStore;
pub use redis::RedisStore;

/// A boxed future, as returned by [`Store`] methods (the trait is object-safe).
pub type BoxFuture<'a, T> = Pin<Box<dyn Future<Output = T> + Send + 'a>>;

/// What [`Store::get_tagged`] answers: the entry, its remaining life when known, and its tags'
/// tokens.
pub type TaggedRead = (Read, Option<Duration>, Result<Vec<u64>, StoreError>);

/// What a store answered to a read.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum Read {
    /// The bytes stored under the key.
    Value(Vec<u8>),
    /// The store answered: nothing usable under the key (absent, expired, or refused for this
    /// key alone, e.g. a Redis `WRONGTYPE`). A value computed now may be written.
    Miss,
    /// The store did not answer (down, timed out, connection lost). Nothing more is asked of it
    /// for this call: no write, no lock, no stale read.
    Unreachable,
}

/// What a store knows of its backend without asking it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum Health {
    /// Serving.
    Up,
    /// Making its first connection: a call may wait for it, briefly.
    Connecting,
    /// Known to be down (a circuit breaker is open): calls skip it until it is back.
    Down,
}

/// What a store shared by several processes tells each of them (see [`Store::listen`]).
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum StoreEvent {
    /// A message some process published ([`Store::publish`]).
    Message(String),
    /// Messages may have been missed (the listening connection was lost, or is new): what was
    /// learned from them must be read again.
    Resync,
    /// Every message published before this instant has been heard (for a store whose
    /// [`Store::listen`] vouches for its delivery: an answered `PING`, sent then, on the
    /// listening connection).
    Heard(std::time::Instant),
}

/// A function the store calls with each [`StoreEvent`], from its own task: it must not block.
pub type Listener = std::sync::Arc<dyn Fn(StoreEvent) + Send + Sync>;

/// What a store that reports changes to its keys tells an in-process copy of its entries (the
/// L1, see [`Store::track_keys`]), in the order it learns them.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum KeyEvent {
    /// From now on every change of a tracked key is reported. What was copied before may be
    /// stale: drop it, then copy again.
    Tracking,
    /// These keys were written, deleted or expired (by anyone).
    Changed(Vec<String>),
    /// Every key may have changed (the store was flushed): drop every copy, go on copying.
    Flushed,
    /// Changes may be missed from now on (the reporting connection was lost): drop every copy
    /// and make none until [`KeyEvent::Tracking`] again.
    Lost,
    /// Reports may be late (the store did not answer a check in time): serve no copy and make
    /// none, but keep them. [`KeyEvent::Resumed`] follows once every report sent meanwhile has
    /// been heard, or [`KeyEvent::Lost`] if some may have been missed.
    Paused,
    /// After [`KeyEvent::Paused`]: every report sent meanwhile has been heard, so the copies
    /// kept are as right as before. Serve and copy again.
    Resumed,
    /// The reports are heard on time as of this instant: the store's own checks ran then, with
    /// no gap since the last (a process that stalled, with reports queued unread, is told
    /// [`KeyEvent::Paused`] instead, when it resumes). Copies are served only for a short while
    /// after the last of these, so that a stall ends their serving on time even before any
    /// task of the process runs again.
    Heard(std::time::Instant),
}

/// A function the store calls with each [`KeyEvent`], from its own task: it must not block.
pub type KeyListener = std::sync::Arc<dyn Fn(KeyEvent) + Send + Sync>;

/// Why a store could not carry out a write, a delete or a lock.
///
/// ```
/// use cached_json_runtime::store::StoreError;
///
/// // Only an answer from the store itself means it is reachable.
/// let reachable = |err: &StoreError| matches!(err, StoreError::Reply(_));
/// assert!(reachable(&StoreError::Reply("OOM command not allowed".into())));
/// assert!(!reachable(&StoreError::Timeout));
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
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
    /// The store cannot do this at all (e.g. a store of your own without tags).
    Unsupported(&'static str),
}

impl fmt::Display for StoreError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            StoreError::Unavailable => f.write_str("store unavailable (circuit open)"),
            StoreError::Timeout => f.write_str("store timed out"),
            StoreError::Connection(msg) => write!(f, "store connection failed: {msg}"),
            StoreError::Reply(msg) => write!(f, "store refused the command: {msg}"),
            StoreError::Unsupported(what) => write!(f, "the store does not support {what}"),
        }
    }
}

impl std::error::Error for StoreError {}

/// A cache backend holding JSON bytes under string keys, each with its own TTL.
///
/// Implementations must be bounded in time: a call that cannot be answered quickly returns
/// [`Read::Unreachable`] (or [`StoreError::Timeout`]) rather than waiting. The cache-aside call
/// treats every failure as "no cache for this call" and still runs the function.
///
/// A store of your own, here one that counts reads in front of the in-process store:
///
/// ```
/// use std::sync::atomic::{AtomicU64, Ordering};
/// use std::time::Duration;
/// use cached_json_runtime::store::{BoxFuture, MemoryStore, Read, Store, StoreError};
/// use cached_json_runtime::Cache;
///
/// #[derive(Default)]
/// struct Counting { inner: MemoryStore, reads: AtomicU64 }
///
/// impl Store for Counting {
///     fn get<'a>(&'a self, key: &'a str) -> BoxFuture<'a, Read> {
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
    /// The value under `key`: [`Read::Value`], [`Read::Miss`] when there is none (missing,
    /// expired, or refused for this key), [`Read::Unreachable`] when the store did not answer.
    fn get<'a>(&'a self, key: &'a str) -> BoxFuture<'a, Read>;

    /// [`Store::get`], with how long the value has left to live when the store knows (for
    /// refresh-ahead). The default knows nothing of it: no refresh-ahead on such a store.
    fn get_with_ttl<'a>(&'a self, key: &'a str) -> BoxFuture<'a, (Read, Option<Duration>)> {
        Box::pin(async move { (self.get(key).await, None) })
    }

    /// [`Store::get`] of every key of `keys` (with each entry's remaining life when
    /// `with_ttl`, as [`Store::get_with_ttl`]), answered in their order, in one round trip
    /// where the store can: a batch function's read (`#[cached_json(.., batch)]`). The default
    /// reads them one after the other.
    fn get_many<'a>(
        &'a self,
        keys: &'a [&'a str],
        with_ttl: bool,
    ) -> BoxFuture<'a, Vec<(Read, Option<Duration>)>> {
        Box::pin(async move {
            let mut reads = Vec::with_capacity(keys.len());
            for key in keys {
                reads.push(match with_ttl {
                    true => self.get_with_ttl(key).await,
                    false => (self.get(key).await, None),
                });
            }
            reads
        })
    }

    /// [`Store::get`] (with the entry's remaining life when `with_ttl`, as
    /// [`Store::get_with_ttl`]), and the tokens of the tag records `tags` (in their order, `0`
    /// for one that does not exist), read together, in one round trip where the store can: a
    /// tagged function's read (see [`Store::keep_tags`]). The default, for a store without
    /// tags, answers [`Read::Unreachable`]: tagged functions run uncached on it.
    fn get_tagged<'a>(
        &'a self,
        key: &'a str,
        tags: &'a [String],
        with_ttl: bool,
    ) -> BoxFuture<'a, TaggedRead> {
        let _ = (key, tags, with_ttl);
        let unsupported = Err(StoreError::Unsupported("tags"));
        Box::pin(std::future::ready((Read::Unreachable, None, unsupported)))
    }

    /// Makes each tag record of `tags` exist (with a new random token, never `0`, for one that
    /// does not) and live at least `life` more; returns their tokens, in order. A tagged entry
    /// is stored with the tokens its function's run began with, and served only while they are
    /// still its tags' tokens; invalidating a tag deletes its record ([`Store::delete`]), and a
    /// record lost any other way (expired, evicted) also makes its entries misses, never hits.
    /// The default, for a store without tags, fails.
    fn keep_tags<'a>(
        &'a self,
        tags: &'a [String],
        life: Duration,
    ) -> BoxFuture<'a, Result<Vec<u64>, StoreError>> {
        let _ = (tags, life);
        Box::pin(std::future::ready(Err(StoreError::Unsupported("tags"))))
    }

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

    /// Extends the lock `key` to `lease` from now if it is still held with `token`; returns
    /// whether it was. The holder calls it while its function runs.
    fn extend_lock<'a>(
        &'a self,
        key: &'a str,
        token: &'a str,
        lease: Duration,
    ) -> BoxFuture<'a, Result<bool, StoreError>> {
        let _ = (key, token, lease);
        Box::pin(std::future::ready(Ok(true)))
    }

    /// Tells every process sharing this store `message` (they get it through
    /// [`Store::listen`]): how one instance's invalidation reaches the others at once. The
    /// default, for a store private to one process, tells nobody.
    fn publish<'a>(&'a self, message: &'a str) -> BoxFuture<'a, Result<(), StoreError>> {
        let _ = message;
        Box::pin(std::future::ready(Ok(())))
    }

    /// Calls `listener` with every message any process publishes from now on, and with
    /// [`StoreEvent::Resync`] whenever some may have been missed. Returns whether the store
    /// also vouches for the delivery with [`StoreEvent::Heard`], again and again: then what was
    /// learned from messages is trusted only for a short while after each (a listening
    /// connection that goes silent without failing, or a stalled process, cannot leave it
    /// trusted), and read again from the store meanwhile. Returning `false` trusts it until the
    /// next [`StoreEvent::Resync`]. The default, for a store private to one process, never
    /// calls `listener` (there is nothing to miss) and returns `false`.
    fn listen(&self, listener: Listener) -> bool {
        let _ = listener;
        false
    }

    /// Reports every change of the keys starting with one of `prefixes` (all keys when there
    /// are none) to `listener`, from now on, by whoever makes it; returns whether this store can
    /// (the default, and the in-process store, cannot: an L1 in front of them is not kept).
    fn track_keys(&self, prefixes: &[String], listener: KeyListener) -> bool {
        let _ = (prefixes, listener);
        false
    }

    /// What the store knows of its backend without asking it. A call skips a store that is
    /// [`Health::Down`]; the default is [`Health::Up`], for stores that cannot fail.
    fn health(&self) -> Health {
        Health::Up
    }

    /// A short name for logs and health checks, e.g. `"redis"` or `"memory"`.
    fn kind(&self) -> &'static str;
}

/// A shared store is a store: `Cache::new(Arc::clone(&store))` keeps a handle on it.
impl<S: Store + ?Sized> Store for std::sync::Arc<S> {
    fn get<'a>(&'a self, key: &'a str) -> BoxFuture<'a, Read> {
        (**self).get(key)
    }
    fn get_with_ttl<'a>(&'a self, key: &'a str) -> BoxFuture<'a, (Read, Option<Duration>)> {
        (**self).get_with_ttl(key)
    }
    fn get_many<'a>(
        &'a self,
        keys: &'a [&'a str],
        with_ttl: bool,
    ) -> BoxFuture<'a, Vec<(Read, Option<Duration>)>> {
        (**self).get_many(keys, with_ttl)
    }
    fn get_tagged<'a>(
        &'a self,
        key: &'a str,
        tags: &'a [String],
        with_ttl: bool,
    ) -> BoxFuture<'a, TaggedRead> {
        (**self).get_tagged(key, tags, with_ttl)
    }
    fn keep_tags<'a>(
        &'a self,
        tags: &'a [String],
        life: Duration,
    ) -> BoxFuture<'a, Result<Vec<u64>, StoreError>> {
        (**self).keep_tags(tags, life)
    }
    fn set<'a>(
        &'a self,
        key: &'a str,
        value: &'a [u8],
        ttl: Duration,
    ) -> BoxFuture<'a, Result<(), StoreError>> {
        (**self).set(key, value, ttl)
    }
    fn delete<'a>(&'a self, key: &'a str) -> BoxFuture<'a, Result<bool, StoreError>> {
        (**self).delete(key)
    }
    fn try_lock<'a>(
        &'a self,
        key: &'a str,
        token: &'a str,
        lease: Duration,
    ) -> BoxFuture<'a, Result<bool, StoreError>> {
        (**self).try_lock(key, token, lease)
    }
    fn unlock<'a>(&'a self, key: &'a str, token: &'a str) -> BoxFuture<'a, Result<(), StoreError>> {
        (**self).unlock(key, token)
    }
    fn extend_lock<'a>(
        &'a self,
        key: &'a str,
        token: &'a str,
        lease: Duration,
    ) -> BoxFuture<'a, Result<bool, StoreError>> {
        (**self).extend_lock(key, token, lease)
    }
    fn publish<'a>(&'a self, message: &'a str) -> BoxFuture<'a, Result<(), StoreError>> {
        (**self).publish(message)
    }
    fn listen(&self, listener: Listener) -> bool {
        (**self).listen(listener)
    }
    fn track_keys(&self, prefixes: &[String], listener: KeyListener) -> bool {
        (**self).track_keys(prefixes, listener)
    }
    fn health(&self) -> Health {
        (**self).health()
    }
    fn kind(&self) -> &'static str {
        (**self).kind()
    }
}
