//! The cache-aside call itself: key, `GET`, run the function on a miss, store its JSON.
//!
//! Everything the `#[cached_json]` attribute generates is a [`CacheSite`] and a few calls on
//! [`Call`]: the logic lives here, where it is tested, not in generated code.

use std::future::Future;
use std::marker::PhantomData;
use std::time::Duration;

use serde::de::DeserializeOwned;
use serde::Serialize;

use crate::cache::Cache;
use crate::key::KeyBuilder;
use crate::logging::LogLimiter;
use crate::outcome::{record, CacheOutcome};
use crate::store::StoreError;

/// The fixed part of one annotated function's caching: its prefix, TTL and key version.
#[derive(Debug)]
pub struct CacheSite {
    prefix: &'static str,
    ttl: Duration,
    version: Option<u32>,
}

impl CacheSite {
    /// A site for `prefix`, storing values for `ttl_secs` seconds.
    pub const fn new(prefix: &'static str, ttl_secs: u64, version: Option<u32>) -> Self {
        CacheSite {
            prefix,
            ttl: Duration::from_secs(ttl_secs),
            version,
        }
    }

    /// The prefix.
    pub const fn prefix(&self) -> &'static str {
        self.prefix
    }

    /// How long a stored value lives.
    pub const fn ttl(&self) -> Duration {
        self.ttl
    }
}

/// A value that can be part of a cache key: anything `Serialize`.
///
/// It exists for its error message: the attribute checks each key argument against it.
#[diagnostic::on_unimplemented(
    message = "cache key argument of type `{Self}` does not implement `serde::Serialize`",
    label = "this argument is part of the cache key, so it must implement `serde::Serialize`",
    note = "derive or implement `Serialize` for it, or leave it out of the key with `skip(<argument name>)` in `#[cached_json(...)]`"
)]
pub trait KeyArg: Serialize {}

impl<T: Serialize + ?Sized> KeyArg for T {}

/// One cached call being prepared: the cache it uses and its key.
pub struct Call {
    cache: Cache,
    site: &'static CacheSite,
    key: KeyBuilder,
}

static UNREADABLE_VALUES: LogLimiter = LogLimiter::new(Duration::from_secs(10));
static UNWRITABLE_VALUES: LogLimiter = LogLimiter::new(Duration::from_secs(10));

impl Call {
    /// Starts a call of `site`, on [`Cache::current`].
    pub fn new(site: &'static CacheSite) -> Self {
        Call {
            cache: Cache::current(),
            site,
            key: KeyBuilder::new(),
        }
    }

    /// Adds a key argument (names in ascending order; see [`KeyBuilder::arg`]).
    pub fn arg<T: KeyArg + ?Sized>(&mut self, name: &'static str, value: &T) -> &mut Self {
        self.key.arg(name, value);
        self
    }

    /// The key this call reads and writes.
    pub fn key(&mut self) -> String {
        self.key
            .finish(self.cache.namespace(), self.site.prefix, self.site.version)
    }

    /// Caches every value `function` returns.
    pub async fn value<V, F>(self, function: F) -> V
    where
        V: Serialize + DeserializeOwned,
        F: Future<Output = V>,
    {
        self.run::<PlainShape<V>, F>(function).await
    }

    /// Caches `Ok` values; `Err` is returned as it is and not stored.
    pub async fn result<T, E, F>(self, function: F) -> Result<T, E>
    where
        T: Serialize + DeserializeOwned,
        F: Future<Output = Result<T, E>>,
    {
        self.run::<ResultShape<T, E>, F>(function).await
    }

    /// Caches `Some` values; `None` is returned and not stored.
    pub async fn option<T, F>(self, function: F) -> Option<T>
    where
        T: Serialize + DeserializeOwned,
        F: Future<Output = Option<T>>,
    {
        self.run::<OptionShape<T>, F>(function).await
    }

    async fn run<S: Shape, F: Future<Output = S::Output>>(mut self, function: F) -> S::Output {
        let key = self.key();
        let store = self.cache.store();
        let prefix = self.site.prefix;
        let may_write = match store.get(&key).await {
            Ok(Some(bytes)) => match serde_json::from_slice::<S::Stored>(&bytes) {
                Ok(value) => {
                    finish(prefix, CacheOutcome::Hit);
                    return S::from_stored(value);
                }
                Err(err) => {
                    // Corrupt, or written by an older version of the type: a miss, and the
                    // fresh value overwrites it.
                    if let Some(held_back) = UNREADABLE_VALUES.allow() {
                        tracing::warn!(key, error = %err, held_back,
                            "cached value does not deserialize: treated as a miss");
                    }
                    true
                }
            },
            Ok(None) => true,
            // Redis answered (refused this key, e.g. WRONGTYPE): it is healthy, overwrite.
            Err(StoreError::Reply(_)) => true,
            // Down or slow: do not add a write to a store that is struggling.
            Err(_) => false,
        };
        let output = function.await;
        if may_write {
            if let Some(value) = S::stored(&output) {
                match serde_json::to_vec(value) {
                    // A failed write has been logged by the store; the caller has its value.
                    Ok(bytes) => drop(store.set(&key, &bytes, self.site.ttl).await),
                    Err(err) => {
                        if let Some(held_back) = UNWRITABLE_VALUES.allow() {
                            tracing::warn!(key, error = %err, held_back,
                                "value does not serialize to JSON: not cached");
                        }
                    }
                }
            }
        }
        finish(
            prefix,
            if may_write {
                CacheOutcome::Miss
            } else {
                CacheOutcome::Bypass
            },
        );
        output
    }
}

fn finish(prefix: &'static str, outcome: CacheOutcome) {
    tracing::trace!(prefix, outcome = outcome.as_str(), "cached call");
    record(outcome);
}

/// How a function's output maps to what is stored.
trait Shape {
    type Output;
    type Stored: Serialize + DeserializeOwned;
    fn stored(output: &Self::Output) -> Option<&Self::Stored>;
    fn from_stored(stored: Self::Stored) -> Self::Output;
}

struct PlainShape<V>(PhantomData<V>);
struct ResultShape<T, E>(PhantomData<(T, E)>);
struct OptionShape<T>(PhantomData<T>);

impl<V: Serialize + DeserializeOwned> Shape for PlainShape<V> {
    type Output = V;
    type Stored = V;
    fn stored(output: &V) -> Option<&V> {
        Some(output)
    }
    fn from_stored(stored: V) -> V {
        stored
    }
}

impl<T: Serialize + DeserializeOwned, E> Shape for ResultShape<T, E> {
    type Output = Result<T, E>;
    type Stored = T;
    fn stored(output: &Result<T, E>) -> Option<&T> {
        output.as_ref().ok()
    }
    fn from_stored(stored: T) -> Result<T, E> {
        Ok(stored)
    }
}

impl<T: Serialize + DeserializeOwned> Shape for OptionShape<T> {
    type Output = Option<T>;
    type Stored = T;
    fn stored(output: &Option<T>) -> Option<&T> {
        output.as_ref()
    }
    fn from_stored(stored: T) -> Option<T> {
        Some(stored)
    }
}
