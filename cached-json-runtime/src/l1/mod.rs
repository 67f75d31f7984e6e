//! The L1: an in-process copy of entries read from a shared store (Redis), served without a
//! round trip and never after the store has changed them.
//!
//! Bounded by bytes (quick_cache: CLOCK-Pro, close to S3-FIFO); a copy serves no longer than
//! its entry's remaining life in the store (nor the function's `l1_ttl`): checked as it is
//! read. Coherence comes from the store: it reports every change of a tracked key, by any
//! client ([`KeyEvent`], Redis `CLIENT TRACKING`), and the copy goes. While changes are not
//! reported (not yet connected, connection lost) the L1 serves and copies nothing, and it is
//! flushed whenever reports may have been missed; while they may only be late (paused) it
//! serves and copies nothing but keeps its copies. It serves only within [`TRUST_FOR`] of the
//! store's last word that the reports are heard on time ([`KeyEvent::Heard`]), checked against
//! the caller's clock, so that a process that stalled with reports queued unread serves nothing
//! when it resumes, before any of its tasks has run. A copy of a read is kept only if its key
//! did not change while it was read ([`fence`]).

mod fence;

use std::sync::Arc;
use std::time::{Duration, Instant};

use bytes::Bytes;

use self::fence::Fence;
use crate::key::EntryId;
use crate::site::CacheSite;
use crate::store::KeyEvent;

/// How long copies are served after the store last said its reports are heard on time
/// ([`KeyEvent::Heard`], every 25 ms from the Redis store's tracking task): the longest a
/// process that stalled (reports queued unread) may serve a copy after it resumes, counted from
/// its last check before the stall.
pub(crate) const TRUST_FOR: Duration = Duration::from_millis(150);

/// The in-process copies, and what keeps them coherent.
pub(crate) struct L1 {
    /// Keyed by the entry's id, not its key text: a hit builds no key string.
    entries: quick_cache::sync::Cache<
        EntryId,
        Copy,
        CopyWeight,
        IdHashing,
        quick_cache::sync::DefaultLifecycle<EntryId, Copy>,
    >,
    fence: Fence,
    /// The cache's namespace: keys the store reports are read back to ids within it.
    namespace: Option<String>,
}

/// One copy: the stored JSON, which function decoded it, and when the store's entry expires.
#[derive(Clone)]
struct Copy {
    json: Bytes,
    /// The site of the function that read and decoded it: only that function's L1 companion
    /// serves it undecoded (another sharing the prefix may not decode it).
    decoded_by: &'static CacheSite,
    /// When the entry expires in the store (for `refresh_ahead`, `max-age`).
    expires: Instant,
    /// Until when the copy may serve: `expires`, or sooner (`l1_ttl`).
    until: Instant,
    /// The summaries of its tags' records ([`tag_summary`]): a change of one drops it.
    tags: Option<Arc<[u64]>>,
}

/// The summary of a tag record's key, as the fence records changes.
pub(crate) fn tag_summary(record: &str) -> u64 {
    xxhash_rust::xxh3::xxh3_64(record.as_bytes())
}

/// What a copy weighs against the L1's bound: its JSON and [`OVERHEAD_BYTES`].
#[derive(Clone)]
struct CopyWeight;

impl quick_cache::Weighter<EntryId, Copy> for CopyWeight {
    fn weight(&self, _: &EntryId, copy: &Copy) -> u64 {
        (copy.json.len() + OVERHEAD_BYTES) as u64
    }
}

/// How the L1 hashes an [`EntryId`]: its parts are hashes already (of the key's head; of the
/// arguments at their generation), so a multiply folded to 64 bits mixes them, with a key
/// drawn per L1 so that arguments picked to collide in a digest's low bits do not share a
/// bucket, and SplitMix64's finalizer spreads the result over every bit. SipHash, the default,
/// was ~400 instructions of an L1 hit; this is a few.
#[derive(Clone)]
struct IdHashing {
    key: u64,
}

impl std::hash::BuildHasher for IdHashing {
    type Hasher = IdHasher;

    fn build_hasher(&self) -> IdHasher {
        IdHasher {
            state: 0,
            key: self.key,
        }
    }
}

struct IdHasher {
    state: u64,
    key: u64,
}

impl IdHasher {
    fn mix(&mut self, word: u64) {
        let product = u128::from(self.state ^ word) * u128::from(self.key);
        self.state = (product as u64) ^ ((product >> 64) as u64);
    }
}

impl std::hash::Hasher for IdHasher {
    fn finish(&self) -> u64 {
        // SplitMix64's finalizer: the folded multiply alone left the low bits poorly mixed for
        // some keys (ids differing only in the digest's high half fell into 156 of 256 low-bit
        // buckets for one random key, a test failure seen once); a few instructions more.
        let mut z = self.state;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        z ^ (z >> 31)
    }

    fn write(&mut self, bytes: &[u8]) {
        // Not used by `EntryId` (its fields are integers); correct for anything else.
        for chunk in bytes.chunks(8) {
            let mut word = [0u8; 8];
            word[..chunk.len()].copy_from_slice(chunk);
            self.mix(u64::from_le_bytes(word));
        }
    }

    fn write_u64(&mut self, n: u64) {
        self.mix(n);
    }

    fn write_u128(&mut self, n: u128) {
        self.mix(n as u64);
        self.mix((n >> 64) as u64);
    }
}

/// What a copy weighs beyond its JSON: its id, the copy, its slot in the table, the JSON's
/// shared header (`Bytes`) and the allocator's rounding. `cargo bench --bench l1` measured the
/// process growing by 313 bytes per copy of a 105-byte JSON (100,000 copies): 208 beyond the
/// JSON (498 when the L1 was a moka cache keyed by the key text).
pub(crate) const OVERHEAD_BYTES: usize = 210;

impl L1 {
    /// An L1 holding about `max_bytes` of JSON and bookkeeping, for a cache in `namespace`.
    pub(crate) fn new(max_bytes: u64, namespace: Option<&str>) -> Self {
        // quick_cache sizes its shards from an estimate of the count: copies of ~100-byte JSON.
        let estimated = (max_bytes / (OVERHEAD_BYTES as u64 + 128)).clamp(64, 1 << 22);
        let entries = quick_cache::sync::Cache::with(
            estimated as usize,
            max_bytes,
            CopyWeight,
            IdHashing {
                key: fastrand::u64(..) | 1,
            },
            Default::default(),
        );
        L1 {
            entries,
            fence: Fence::new(),
            namespace: namespace.map(str::to_owned),
        }
    }

    /// The copy of entry `id` (its JSON, and the entry's remaining life in the store) at `now`
    /// (read by the caller just before), while changes are reported and heard on time and the
    /// copy is within its life.
    pub(crate) fn get_at(&self, id: EntryId, now: Instant) -> Option<(Bytes, Duration)> {
        self.serve(id, now, |_| true)
    }

    /// [`L1::get_at`], for a copy that `site`'s function (or one of its twins) decoded: its
    /// bytes may be served as they are, without decoding them again.
    pub(crate) fn get_decoded_by(
        &self,
        id: EntryId,
        site: &'static CacheSite,
        now: Instant,
    ) -> Option<(Bytes, Duration)> {
        // Its own copy, or one its function's other sites (`f`, `f_refresh`, `f_json`: one
        // attribute, one type) decoded.
        self.serve(id, now, |copy| {
            std::ptr::eq(copy.decoded_by, site) || copy.decoded_by.same_function(site)
        })
    }

    fn serve(
        &self,
        id: EntryId,
        now: Instant,
        wanted: impl FnOnce(&Copy) -> bool,
    ) -> Option<(Bytes, Duration)> {
        if !self.fence.serves_at(now) {
            return None;
        }
        let copy = self.entries.get(&id)?;
        if now >= copy.until {
            // Past its life: gone (a copy made meanwhile would only be read again).
            self.entries.remove(&id);
            return None;
        }
        if !wanted(&copy) {
            return None;
        }
        Some((copy.json, copy.expires.saturating_duration_since(now)))
    }

    /// Taken before reading the store, for [`L1::fill`]; `None`: no copy may be made now.
    pub(crate) fn stamp(&self) -> Option<u64> {
        self.fence.stamp()
    }

    /// Copies `json`, read from the store since `stamp` with `remaining` life there and decoded
    /// by the function of `decoded_by`, for at most `limit` (the function's `l1_ttl`); unless
    /// its key, or the record of one of its `tags` (their keys), changed meanwhile.
    #[allow(clippy::too_many_arguments)]
    pub(crate) fn fill(
        &self,
        id: EntryId,
        json: &Bytes,
        remaining: Duration,
        limit: Option<Duration>,
        decoded_by: &'static CacheSite,
        tags: Option<&Arc<[String]>>,
        stamp: u64,
    ) {
        let life = limit.map_or(remaining, |limit| limit.min(remaining));
        let tags: Option<Arc<[u64]>> =
            tags.map(|tags| tags.iter().map(|record| tag_summary(record)).collect());
        let tag_summaries = tags.as_deref().unwrap_or_default();
        // Taken before the check: a change heard between the two must show as "something was
        // heard meanwhile" below, or its copy would stay.
        let before = self.fence.now();
        if life.is_zero() || !self.fence.admits(id, tag_summaries, stamp) {
            return;
        }
        #[cfg(test)]
        tests::between_check_and_insert(self);
        let now = Instant::now();
        let copy = Copy {
            json: json.clone(),
            decoded_by,
            expires: now + remaining,
            until: now + life,
            tags: tags.clone(),
        };
        self.entries.insert(id, copy);
        // A change heard between the check and the insert may have been dropped before the
        // copy was in: check again.
        let tag_summaries = tags.as_deref().unwrap_or_default();
        if self.fence.now() != before && !self.fence.admits(id, tag_summaries, stamp) {
            self.entries.remove(&id);
        }
    }

    /// Drops the copy of `key` (this process changed it), or, for a tag record's key, the
    /// copies carrying that tag.
    pub(crate) fn forget(&self, key: &str) {
        if let Some(id) = self.id_of(key) {
            self.entries.remove(&id);
        } else if crate::tags::is_record(self.namespace.as_deref(), key) {
            self.changed(&[key.to_owned()]);
        }
    }

    /// Keys changed: drops the copies of those that are entries, and of the entries carrying
    /// the tags of those that are tag records (a scan of the copies: tags change rarely).
    fn changed(&self, keys: &[String]) {
        let namespace = self.namespace.as_deref();
        let ids: Vec<EntryId> = keys.iter().filter_map(|key| self.id_of(key)).collect();
        let tags: Vec<u64> = keys
            .iter()
            .filter(|key| crate::tags::is_record(namespace, key))
            .map(|key| tag_summary(key))
            .collect();
        self.fence
            .changed(ids.iter().map(EntryId::summary).chain(tags.iter().copied()));
        for id in &ids {
            self.entries.remove(id);
        }
        if !tags.is_empty() {
            self.entries.retain(|_, copy| {
                copy.tags
                    .as_deref()
                    .is_none_or(|carried| !carried.iter().any(|tag| tags.contains(tag)))
            });
        }
    }

    /// The id of a key as the store names it; `None` for keys that are not entries (derived
    /// keys, generations, other applications' keys): no copy is ever made of those.
    fn id_of(&self, key: &str) -> Option<EntryId> {
        EntryId::of_key(self.namespace.as_deref(), key)
    }

    /// What the store reported.
    pub(crate) fn heard(&self, event: KeyEvent) {
        match event {
            KeyEvent::Changed(keys) => self.changed(&keys),
            KeyEvent::Tracking | KeyEvent::Flushed => {
                self.fence.flushed(true);
                self.entries.clear();
            }
            KeyEvent::Lost => {
                self.fence.flushed(false);
                self.entries.clear();
            }
            // Reads made before either are not copied (the fence's flush), but the copies
            // stay: changes are late, not missed.
            KeyEvent::Paused => self.fence.flushed(false),
            KeyEvent::Resumed => self.fence.flushed(true),
            KeyEvent::Heard(at) => self.fence.heard_until(at + TRUST_FOR),
        }
    }

    /// How many copies there are.
    #[cfg(test)]
    pub(crate) fn len(&self) -> u64 {
        self.entries.len() as u64
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const LONG: Duration = Duration::from_secs(60);
    static SITE: CacheSite = CacheSite::new("p", 60, None);

    /// An L1 whose reports are heard, for an hour unless told otherwise.
    fn tracking() -> L1 {
        let l1 = L1::new(1 << 20, Some("app"));
        l1.heard(KeyEvent::Tracking);
        l1.heard(KeyEvent::Heard(Instant::now() + Duration::from_secs(3600)));
        l1
    }

    /// What a test makes happen inside [`L1::fill`].
    type Hook = Box<dyn Fn(&L1)>;

    std::thread_local! {
        /// What [`L1::fill`] does between its admission check and its insert, in a test.
        static BETWEEN: std::cell::RefCell<Option<Hook>> = const { std::cell::RefCell::new(None) };
    }

    pub(super) fn between_check_and_insert(l1: &L1) {
        BETWEEN.with(|between| {
            if let Some(between) = &*between.borrow() {
                between(l1);
            }
        });
    }

    #[test]
    fn a_change_heard_between_the_check_and_the_insert_drops_the_copy() {
        let l1 = tracking();
        let (k, key) = entry(1);
        let stamp = l1.stamp().unwrap();
        // The report of a write made just after the read arrives right after the admission
        // check: its drop finds no copy yet, so the copy must go on the re-check.
        BETWEEN.with(|between| {
            *between.borrow_mut() = Some(Box::new(move |l1: &L1| {
                l1.heard(KeyEvent::Changed(vec![key.clone()]));
            }));
        });
        l1.fill(
            k,
            &Bytes::from_static(b"old"),
            LONG,
            None,
            &SITE,
            None,
            stamp,
        );
        BETWEEN.with(|between| *between.borrow_mut() = None);
        assert!(
            l1.get_at(k, Instant::now()).is_none(),
            "a copy outlived the report of its change"
        );
    }

    #[test]
    fn copies_serve_only_while_the_reports_are_heard_on_time() {
        let l1 = L1::new(1 << 20, Some("app"));
        l1.heard(KeyEvent::Tracking);
        let (k, _) = entry(1);
        let stamp = l1.stamp().unwrap();
        l1.fill(k, &Bytes::from_static(b"1"), LONG, None, &SITE, None, stamp);
        assert!(
            l1.get_at(k, Instant::now()).is_none(),
            "never heard on time yet"
        );
        l1.heard(KeyEvent::Heard(Instant::now()));
        assert!(l1.get_at(k, Instant::now()).is_some());
        // A process that stalls past the trust serves nothing when it resumes, before any
        // task of its own has run.
        std::thread::sleep(TRUST_FOR + Duration::from_millis(10));
        assert!(l1.get_at(k, Instant::now()).is_none());
        l1.heard(KeyEvent::Heard(Instant::now()));
        assert!(l1.get_at(k, Instant::now()).is_some(), "the copy is kept");
    }

    /// Entry `n` of prefix `p` in namespace `app`: its id and its key as the store names it.
    fn entry(n: u128) -> (EntryId, String) {
        let key = crate::key::Key::new(Some("app"), "p", None, n);
        let id = EntryId::new(crate::key::head_hash("p", None), n);
        (id, key.as_str().to_owned())
    }

    #[test]
    fn copies_serve_until_their_key_changes() {
        let l1 = tracking();
        let ((k, key), (other, other_key)) = (entry(1), entry(2));
        let stamp = l1.stamp().unwrap();
        l1.fill(k, &Bytes::from_static(b"1"), LONG, None, &SITE, None, stamp);
        l1.fill(
            other,
            &Bytes::from_static(b"2"),
            LONG,
            None,
            &SITE,
            None,
            stamp,
        );
        assert_eq!(&*l1.get_at(k, Instant::now()).unwrap().0, b"1");
        // Keys that are not entries (derived keys, other namespaces) change nothing.
        l1.heard(KeyEvent::Changed(vec![
            format!("{key}:stale"),
            other_key.replacen("app:", "other:", 1),
        ]));
        assert!(
            l1.get_at(k, Instant::now()).is_some() && l1.get_at(other, Instant::now()).is_some()
        );
        l1.heard(KeyEvent::Changed(vec![key]));
        assert!(l1.get_at(k, Instant::now()).is_none());
        assert!(
            l1.get_at(other, Instant::now()).is_some(),
            "only the changed key goes"
        );
        l1.forget(&other_key);
        assert!(l1.get_at(other, Instant::now()).is_none());
    }

    #[test]
    fn a_copy_is_served_undecoded_only_to_the_function_that_decoded_it() {
        static OTHER: CacheSite = CacheSite::new("p", 60, None).with_function("other");
        let l1 = tracking();
        let (k, _) = entry(1);
        let stamp = l1.stamp().unwrap();
        l1.fill(k, &Bytes::from_static(b"1"), LONG, None, &SITE, None, stamp);
        assert_eq!(
            &*l1.get_decoded_by(k, &SITE, Instant::now()).unwrap().0,
            b"1"
        );
        // Another function of the prefix decodes it first (`get`), or has no copy.
        assert!(l1.get_decoded_by(k, &OTHER, Instant::now()).is_none());
        assert!(l1.get_at(k, Instant::now()).is_some());
    }

    #[test]
    fn a_read_the_key_changed_during_is_not_copied() {
        let l1 = tracking();
        let (k, key) = entry(1);
        let stamp = l1.stamp().unwrap();
        l1.heard(KeyEvent::Changed(vec![key]));
        l1.fill(
            k,
            &Bytes::from_static(b"old"),
            LONG,
            None,
            &SITE,
            None,
            stamp,
        );
        assert!(l1.get_at(k, Instant::now()).is_none());
    }

    #[test]
    fn paused_the_copies_are_kept_but_not_served_and_resumed_they_serve_again() {
        let l1 = tracking();
        let ((k, _), (other, other_key)) = (entry(1), entry(2));
        let stamp = l1.stamp().unwrap();
        l1.fill(k, &Bytes::from_static(b"1"), LONG, None, &SITE, None, stamp);
        l1.fill(
            other,
            &Bytes::from_static(b"2"),
            LONG,
            None,
            &SITE,
            None,
            stamp,
        );
        let before_pause = l1.stamp().unwrap();
        l1.heard(KeyEvent::Paused);
        assert!(
            l1.get_at(k, Instant::now()).is_none() && l1.get_at(other, Instant::now()).is_none()
        );
        assert_eq!(l1.stamp(), None, "no read is copied while paused");
        // A late report heard while paused drops its copy.
        l1.heard(KeyEvent::Changed(vec![other_key]));
        l1.heard(KeyEvent::Resumed);
        assert_eq!(&*l1.get_at(k, Instant::now()).unwrap().0, b"1");
        assert!(l1.get_at(other, Instant::now()).is_none());
        // A read from before the pause is not copied: reports were late meanwhile.
        let (late, _) = entry(3);
        l1.fill(
            late,
            &Bytes::from_static(b"3"),
            LONG,
            None,
            &SITE,
            None,
            before_pause,
        );
        assert!(l1.get_at(late, Instant::now()).is_none());
    }

    #[test]
    fn nothing_is_served_or_copied_while_changes_are_not_reported() {
        let l1 = L1::new(1 << 20, Some("app"));
        assert_eq!(l1.stamp(), None);
        let l1 = tracking();
        let (k, _) = entry(1);
        let stamp = l1.stamp().unwrap();
        l1.fill(k, &Bytes::from_static(b"1"), LONG, None, &SITE, None, stamp);
        l1.heard(KeyEvent::Lost);
        assert!(l1.get_at(k, Instant::now()).is_none());
        assert_eq!(l1.stamp(), None);
        // Tracking again: what was copied before is gone for good.
        l1.heard(KeyEvent::Tracking);
        assert!(l1.get_at(k, Instant::now()).is_none());
        assert_eq!(l1.len(), 0);
    }

    #[test]
    fn a_copy_lives_no_longer_than_the_entry_nor_its_limit() {
        let l1 = tracking();
        let ((short, _), (limited, _), (long, _)) = (entry(1), entry(2), entry(3));
        let stamp = l1.stamp().unwrap();
        let one = Bytes::from_static(b"1");
        l1.fill(
            short,
            &one,
            Duration::from_millis(30),
            None,
            &SITE,
            None,
            stamp,
        );
        l1.fill(
            limited,
            &one,
            LONG,
            Some(Duration::from_millis(30)),
            &SITE,
            None,
            stamp,
        );
        l1.fill(long, &one, LONG, Some(LONG), &SITE, None, stamp);
        let (_, remaining) = l1.get_at(limited, Instant::now()).unwrap();
        assert!(remaining > Duration::from_secs(59), "{remaining:?}");
        std::thread::sleep(Duration::from_millis(60));
        assert!(l1.get_at(short, Instant::now()).is_none());
        assert!(l1.get_at(limited, Instant::now()).is_none());
        assert!(l1.get_at(long, Instant::now()).is_some());
    }

    #[test]
    fn ids_that_differ_in_any_bits_spread_over_buckets() {
        use std::hash::BuildHasher;
        // Many keys, since each L1 draws its own: one in a few hundred spread badly before the
        // finalizer. Low bits and high bits, as a table may use either.
        for _ in 0..500 {
            let key = fastrand::u64(..) | 1;
            let hashing = IdHashing { key };
            for shift in [0, 40, 64, 100] {
                for (bits, at) in [("low", 0), ("high", 56)] {
                    let buckets: std::collections::HashSet<u64> = (0..4096u128)
                        .map(|i| (hashing.hash_one(EntryId::new(1, i << shift)) >> at) & 255)
                        .collect();
                    assert!(
                        buckets.len() > 200,
                        "key {key:#x}, shift {shift}, {bits} bits: {} of 256",
                        buckets.len()
                    );
                }
            }
        }
    }

    #[test]
    fn it_is_bounded_by_bytes() {
        let l1 = L1::new(100 * 1024, None);
        l1.heard(KeyEvent::Tracking);
        let json = Bytes::from(vec![b'1'; 1000]);
        for i in 0..1000 {
            let stamp = l1.stamp().unwrap();
            l1.fill(entry(i).0, &json, LONG, None, &SITE, None, stamp);
        }
        let kept = l1.len();
        assert!(
            kept <= 100 * 1024 / 1000,
            "{kept} copies of 1 KB in 100 KiB"
        );
        assert!(kept > 10, "{kept}");
    }
}
