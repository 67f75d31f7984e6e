//! The L1: an in-process copy of entries read from a shared store (Redis), served without a
//! round trip and never after the store has changed them.
//!
//! Bounded by bytes (moka, TinyLFU); an entry lives no longer than its remaining life in the
//! store (nor the function's `l1_ttl`). Coherence comes from the store: it reports every change
//! of a tracked key, by any client ([`KeyEvent`], Redis `CLIENT TRACKING`), and the copy goes.
//! While changes are not reported (not yet connected, connection lost) the L1 serves and copies
//! nothing, and it is flushed whenever reports may have been missed. A copy of a read is kept
//! only if its key did not change while it was read ([`fence`]).

mod fence;

use std::time::{Duration, Instant};

use bytes::Bytes;

use self::fence::Fence;
use crate::store::KeyEvent;

/// The in-process copies, and what keeps them coherent.
pub(crate) struct L1 {
    entries: moka::sync::Cache<String, Copy>,
    fence: Fence,
}

/// One copy: the stored JSON, and when the store's entry expires.
#[derive(Clone)]
pub(crate) struct Copy {
    pub(crate) json: Bytes,
    /// When the entry expires in the store (for `refresh_ahead`, `max-age`).
    pub(crate) expires: Instant,
    /// How long the copy lives in the L1: to `expires`, or shorter (`l1_ttl`).
    life: Duration,
}

impl Copy {
    /// The entry's remaining life in the store.
    pub(crate) fn remaining(&self) -> Duration {
        self.expires.saturating_duration_since(Instant::now())
    }
}

struct CopyLife;

impl moka::Expiry<String, Copy> for CopyLife {
    fn expire_after_create(&self, _: &String, copy: &Copy, _: Instant) -> Option<Duration> {
        Some(copy.life)
    }
    fn expire_after_update(
        &self,
        _: &String,
        copy: &Copy,
        _: Instant,
        _: Option<Duration>,
    ) -> Option<Duration> {
        Some(copy.life)
    }
}

/// What a copy weighs beyond its key and JSON: the copy, moka's entry, its policy's nodes, the
/// JSON's shared header (`Bytes`) and the allocator's rounding. `cargo bench --bench l1`
/// measured the process growing by 648 bytes per copy of a 54-byte key and 105-byte JSON
/// (100,000 copies): 489 beyond the two (617-620 before the JSON became `Bytes`).
pub(crate) const OVERHEAD_BYTES: usize = 490;

impl L1 {
    /// An L1 holding about `max_bytes` of keys, JSON and bookkeeping.
    pub(crate) fn new(max_bytes: u64) -> Self {
        let entries = moka::sync::Cache::builder()
            .max_capacity(max_bytes)
            .weigher(|key: &String, copy: &Copy| {
                u32::try_from(key.len() + copy.json.len() + OVERHEAD_BYTES).unwrap_or(u32::MAX)
            })
            .expire_after(CopyLife)
            .build();
        L1 {
            entries,
            fence: Fence::new(),
        }
    }

    /// The copy of `key`, while changes are reported.
    pub(crate) fn get(&self, key: &str) -> Option<Copy> {
        if !self.fence.armed() {
            return None;
        }
        self.entries.get(key)
    }

    /// Taken before reading the store, for [`L1::fill`]; `None`: no copy may be made now.
    pub(crate) fn stamp(&self) -> Option<u64> {
        self.fence.stamp()
    }

    /// Copies `json`, read from the store since `stamp` with `remaining` life there, for at most
    /// `limit` (the function's `l1_ttl`); unless its key changed meanwhile.
    pub(crate) fn fill(
        &self,
        key: &str,
        json: &Bytes,
        remaining: Duration,
        limit: Option<Duration>,
        stamp: u64,
    ) {
        let life = limit.map_or(remaining, |limit| limit.min(remaining));
        if life.is_zero() || !self.fence.admits(key, stamp) {
            return;
        }
        let before = self.fence.now();
        let copy = Copy {
            json: json.clone(),
            expires: Instant::now() + remaining,
            life,
        };
        self.entries.insert(key.to_owned(), copy);
        // A change heard between the check and the insert may have been dropped before the
        // copy was in: check again.
        if self.fence.now() != before && !self.fence.admits(key, stamp) {
            self.entries.invalidate(key);
        }
    }

    /// Drops the copy of `key` (this process changed it).
    pub(crate) fn forget(&self, key: &str) {
        self.entries.invalidate(key);
    }

    /// What the store reported.
    pub(crate) fn heard(&self, event: KeyEvent) {
        match event {
            KeyEvent::Changed(keys) => {
                self.fence.changed(keys.iter().map(String::as_str));
                for key in &keys {
                    self.entries.invalidate(key.as_str());
                }
            }
            KeyEvent::Tracking | KeyEvent::Flushed => {
                self.fence.flushed(true);
                self.entries.invalidate_all();
            }
            KeyEvent::Lost => {
                self.fence.flushed(false);
                self.entries.invalidate_all();
            }
        }
    }

    /// How many copies there are (moka's estimate, after pending work).
    #[cfg(test)]
    pub(crate) fn len(&self) -> u64 {
        self.entries.run_pending_tasks();
        self.entries.entry_count()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const LONG: Duration = Duration::from_secs(60);

    fn tracking() -> L1 {
        let l1 = L1::new(1 << 20);
        l1.heard(KeyEvent::Tracking);
        l1
    }

    #[test]
    fn copies_serve_until_their_key_changes() {
        let l1 = tracking();
        let stamp = l1.stamp().unwrap();
        l1.fill("k", &Bytes::from_static(b"1"), LONG, None, stamp);
        assert_eq!(&*l1.get("k").unwrap().json, b"1");
        l1.heard(KeyEvent::Changed(vec!["k".into()]));
        assert!(l1.get("k").is_none());
    }

    #[test]
    fn a_read_the_key_changed_during_is_not_copied() {
        let l1 = tracking();
        let stamp = l1.stamp().unwrap();
        l1.heard(KeyEvent::Changed(vec!["k".into()]));
        l1.fill("k", &Bytes::from_static(b"old"), LONG, None, stamp);
        assert!(l1.get("k").is_none());
    }

    #[test]
    fn nothing_is_served_or_copied_while_changes_are_not_reported() {
        let l1 = L1::new(1 << 20);
        assert_eq!(l1.stamp(), None);
        let l1 = tracking();
        let stamp = l1.stamp().unwrap();
        l1.fill("k", &Bytes::from_static(b"1"), LONG, None, stamp);
        l1.heard(KeyEvent::Lost);
        assert!(l1.get("k").is_none());
        assert_eq!(l1.stamp(), None);
        // Tracking again: what was copied before is gone for good.
        l1.heard(KeyEvent::Tracking);
        assert!(l1.get("k").is_none());
        assert_eq!(l1.len(), 0);
    }

    #[test]
    fn a_copy_lives_no_longer_than_the_entry_nor_its_limit() {
        let l1 = tracking();
        let stamp = l1.stamp().unwrap();
        let one = Bytes::from_static(b"1");
        l1.fill("short", &one, Duration::from_millis(30), None, stamp);
        l1.fill(
            "limited",
            &one,
            LONG,
            Some(Duration::from_millis(30)),
            stamp,
        );
        l1.fill("long", &one, LONG, Some(LONG), stamp);
        let remaining = l1.get("limited").unwrap().remaining();
        assert!(remaining > Duration::from_secs(59), "{remaining:?}");
        std::thread::sleep(Duration::from_millis(60));
        assert!(l1.get("short").is_none());
        assert!(l1.get("limited").is_none());
        assert!(l1.get("long").is_some());
    }

    #[test]
    fn it_is_bounded_by_bytes() {
        let l1 = L1::new(100 * 1024);
        l1.heard(KeyEvent::Tracking);
        let json = Bytes::from(vec![b'1'; 1000]);
        for i in 0..1000 {
            let stamp = l1.stamp().unwrap();
            l1.fill(&format!("key-{i}"), &json, LONG, None, stamp);
        }
        let kept = l1.len();
        assert!(
            kept <= 100 * 1024 / 1000,
            "{kept} copies of 1 KB in 100 KiB"
        );
        assert!(kept > 10, "{kept}");
    }
}
