//! An in-process store: the embedded default when there is no Redis, and a fast store for tests
//! of code that uses the attribute.

use std::sync::Arc;
use std::time::{Duration, Instant};

use super::{BoxFuture, Read, Store, StoreError};

/// An in-process [`Store`] on a bounded [moka](https://docs.rs/moka) cache, with a TTL per entry.
///
/// Values live in this process only: two instances of an app do not share them. Entries are
/// evicted by TTL and, past `max_bytes`, by moka's TinyLFU policy.
///
/// ```
/// use cached_json_runtime::store::{MemoryStore, Read, Store};
/// use std::time::Duration;
///
/// # tokio::runtime::Builder::new_current_thread().build().unwrap().block_on(async {
/// let store = MemoryStore::new(64 * 1024 * 1024);
/// store.set("k", b"42", Duration::from_secs(5)).await.unwrap();
/// assert_eq!(store.get("k").await, Read::Value(b"42".to_vec()));
/// # });
/// ```
#[derive(Clone)]
pub struct MemoryStore {
    entries: moka::sync::Cache<String, Entry>,
}

#[derive(Clone)]
struct Entry {
    value: Arc<[u8]>,
    ttl: Duration,
    written: Instant,
}

struct PerEntryTtl;

impl moka::Expiry<String, Entry> for PerEntryTtl {
    fn expire_after_create(&self, _: &String, entry: &Entry, _: Instant) -> Option<Duration> {
        Some(entry.ttl)
    }
    fn expire_after_update(
        &self,
        _: &String,
        entry: &Entry,
        _: Instant,
        _: Option<Duration>,
    ) -> Option<Duration> {
        Some(entry.ttl)
    }
}

impl MemoryStore {
    /// A store holding at most about `max_bytes` of keys and values.
    pub fn new(max_bytes: u64) -> Self {
        let entries = moka::sync::Cache::builder()
            .max_capacity(max_bytes)
            .weigher(|key: &String, entry: &Entry| {
                u32::try_from(key.len() + entry.value.len()).unwrap_or(u32::MAX)
            })
            .expire_after(PerEntryTtl)
            .build();
        MemoryStore { entries }
    }
}

impl Default for MemoryStore {
    /// 64 MiB.
    fn default() -> Self {
        MemoryStore::new(64 * 1024 * 1024)
    }
}

impl Store for MemoryStore {
    fn get<'a>(&'a self, key: &'a str) -> BoxFuture<'a, Read> {
        let read = match self.entries.get(key) {
            Some(entry) => Read::Value(entry.value.to_vec()),
            None => Read::Miss,
        };
        Box::pin(std::future::ready(read))
    }

    fn get_with_ttl<'a>(&'a self, key: &'a str) -> BoxFuture<'a, (Read, Option<Duration>)> {
        let read = match self.entries.get(key) {
            Some(entry) => (
                Read::Value(entry.value.to_vec()),
                Some(entry.ttl.saturating_sub(entry.written.elapsed())),
            ),
            None => (Read::Miss, None),
        };
        Box::pin(std::future::ready(read))
    }

    fn set<'a>(
        &'a self,
        key: &'a str,
        value: &'a [u8],
        ttl: Duration,
    ) -> BoxFuture<'a, Result<(), StoreError>> {
        self.entries.insert(
            key.to_owned(),
            Entry {
                value: value.into(),
                ttl,
                written: Instant::now(),
            },
        );
        Box::pin(std::future::ready(Ok(())))
    }

    fn delete<'a>(&'a self, key: &'a str) -> BoxFuture<'a, Result<bool, StoreError>> {
        let existed = self.entries.remove(key).is_some();
        Box::pin(std::future::ready(Ok(existed)))
    }

    fn kind(&self) -> &'static str {
        "memory"
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn entries_expire_after_their_own_ttl() {
        let store = MemoryStore::default();
        store
            .set("short", b"1", Duration::from_millis(50))
            .await
            .unwrap();
        store
            .set("long", b"2", Duration::from_secs(60))
            .await
            .unwrap();
        tokio::time::sleep(Duration::from_millis(120)).await;
        assert_eq!(store.get("short").await, Read::Miss);
        assert_eq!(store.get("long").await, Read::Value(b"2".to_vec()));
    }

    #[tokio::test]
    async fn overwrite_takes_the_new_ttl_and_delete_removes() {
        let store = MemoryStore::default();
        store.set("k", b"1", Duration::from_secs(60)).await.unwrap();
        store
            .set("k", b"2", Duration::from_millis(50))
            .await
            .unwrap();
        assert_eq!(store.get("k").await, Read::Value(b"2".to_vec()));
        tokio::time::sleep(Duration::from_millis(120)).await;
        assert_eq!(store.get("k").await, Read::Miss);
        store.set("d", b"3", Duration::from_secs(60)).await.unwrap();
        assert!(store.delete("d").await.unwrap());
        assert!(!store.delete("d").await.unwrap());
    }
}
