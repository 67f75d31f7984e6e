//! An in-process store: the embedded default when there is no Redis, and a fast store for tests
//! of code that uses the attribute.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use super::{BoxFuture, Read, Store, StoreError, TaggedRead};

/// An in-process [`Store`]: a bounded [quick_cache](https://docs.rs/quick_cache) (the L1's
/// crate too), with a TTL per entry.
///
/// Values live in this process only: two instances of an app do not share them. An entry past
/// its TTL is never read (checked on read, and dropped then); past `max_bytes` of keys and
/// values, entries are evicted by quick_cache's policy (CLOCK-Pro: what is not read again goes
/// first, expired entries among them).
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
    entries: Arc<Entries>,
    /// The tag records (see [`Store::keep_tags`]): apart from the entries, so that evicting
    /// entries never drops one (that would only cost misses, but it would cost them for every
    /// entry of the tag).
    tags: Arc<Mutex<HashMap<String, TagRecord>>>,
    /// `None`: the system's clock. `Some`: tokio's (paused in a test, perhaps) moved ahead by
    /// this much more: a [`TestCache`](crate::testing::TestCache)'s.
    clock: Option<Arc<Mutex<Duration>>>,
}

type Entries = quick_cache::sync::Cache<
    String,
    Entry,
    EntryWeight,
    std::hash::RandomState,
    quick_cache::sync::DefaultLifecycle<String, Entry>,
>;

/// A tag record: its token, and when it expires.
#[derive(Clone, Copy)]
struct TagRecord {
    token: u64,
    expires: Instant,
}

#[derive(Clone)]
struct Entry {
    value: Arc<[u8]>,
    expires: Instant,
}

/// What an entry weighs against `max_bytes`: its key and its value.
#[derive(Clone)]
struct EntryWeight;

impl quick_cache::Weighter<String, Entry> for EntryWeight {
    fn weight(&self, key: &String, entry: &Entry) -> u64 {
        // Never 0: quick_cache never evicts what weighs nothing.
        (key.len() + entry.value.len()).max(1) as u64
    }
}

impl MemoryStore {
    /// A store holding at most about `max_bytes` of keys and values.
    pub fn new(max_bytes: u64) -> Self {
        // quick_cache sizes its shards from an estimate of the count: entries of ~200 bytes.
        let estimated = (max_bytes / 200).clamp(64, 1 << 22) as usize;
        let entries = Entries::with(
            estimated,
            max_bytes,
            EntryWeight,
            std::hash::RandomState::new(),
            Default::default(),
        );
        MemoryStore {
            entries: Arc::new(entries),
            tags: Arc::default(),
            clock: None,
        }
    }

    /// A store on tokio's clock moved ahead by `offset` (a test's clock).
    #[cfg(feature = "testing")]
    pub(crate) fn on_test_clock(max_bytes: u64, offset: Arc<Mutex<Duration>>) -> Self {
        MemoryStore {
            clock: Some(offset),
            ..MemoryStore::new(max_bytes)
        }
    }

    fn now(&self) -> Instant {
        match &self.clock {
            None => Instant::now(),
            Some(offset) => {
                tokio::time::Instant::now().into_std()
                    + *offset.lock().unwrap_or_else(|e| e.into_inner())
            }
        }
    }

    /// The live value of `key`, and how long it has left.
    fn live(&self, key: &str) -> Option<(Vec<u8>, Duration)> {
        let entry = self.entries.get(key)?;
        let now = self.now();
        if entry.expires <= now {
            self.entries.remove(key);
            return None;
        }
        Some((entry.value.to_vec(), entry.expires - now))
    }

    fn tag_records(&self) -> std::sync::MutexGuard<'_, HashMap<String, TagRecord>> {
        self.tags.lock().unwrap_or_else(|e| e.into_inner())
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
        let read = match self.live(key) {
            Some((value, _)) => Read::Value(value),
            None => Read::Miss,
        };
        Box::pin(std::future::ready(read))
    }

    fn get_with_ttl<'a>(&'a self, key: &'a str) -> BoxFuture<'a, (Read, Option<Duration>)> {
        let read = match self.live(key) {
            Some((value, remaining)) => (Read::Value(value), Some(remaining)),
            None => (Read::Miss, None),
        };
        Box::pin(std::future::ready(read))
    }

    fn get_tagged<'a>(
        &'a self,
        key: &'a str,
        tags: &'a [String],
        with_ttl: bool,
    ) -> BoxFuture<'a, TaggedRead> {
        let _ = with_ttl;
        let now = self.now();
        let tokens = {
            let records = self.tag_records();
            tags.iter()
                .map(|tag| match records.get(tag) {
                    Some(record) if record.expires > now => record.token,
                    _ => 0,
                })
                .collect()
        };
        Box::pin(async move {
            let (read, remaining) = self.get_with_ttl(key).await;
            (read, remaining, Ok(tokens))
        })
    }

    fn keep_tags<'a>(
        &'a self,
        tags: &'a [String],
        life: Duration,
    ) -> BoxFuture<'a, Result<Vec<u64>, StoreError>> {
        let now = self.now();
        let mut records = self.tag_records();
        if records.len() >= 1024 && records.len().is_power_of_two() {
            // Bounded by the tags in use: the expired go as the map doubles.
            records.retain(|_, record| record.expires > now);
        }
        let tokens = tags
            .iter()
            .map(|tag| {
                let live = records
                    .get(tag)
                    .filter(|record| record.expires > now)
                    .map(|record| (record.token, record.expires - now));
                let (token, new_life) = super::tag_record::kept(live, life);
                if let Some(new_life) = new_life {
                    let expires = now + new_life;
                    records.insert(tag.clone(), TagRecord { token, expires });
                }
                token
            })
            .collect();
        Box::pin(std::future::ready(Ok(tokens)))
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
                expires: self.now() + ttl,
            },
        );
        Box::pin(std::future::ready(Ok(())))
    }

    fn delete<'a>(&'a self, key: &'a str) -> BoxFuture<'a, Result<bool, StoreError>> {
        // (A tag record's key is deleted to invalidate the tag.)
        let tag = self.tag_records().remove(key).is_some();
        let now = self.now();
        let existed = self
            .entries
            .remove(key)
            .is_some_and(|(_, entry)| entry.expires > now)
            || tag;
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
