//! What keeps a copy of a read out of the L1 when the key changed while it was read.
//!
//! A read from Redis and the report of a change to its key travel on different connections: the
//! report of a write made just after the read may arrive before the value read is copied. So a
//! copy is made only if no change of its key (and no flush) was heard since the read began:
//! each event bumps a stamp; a read takes the stamp first ([`Fence::stamp`]), and the copy is
//! checked against the changes heard since ([`Fence::admits`]), again after it is made.

use std::collections::VecDeque;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Mutex;
use std::time::Instant;

use crate::key::EntryId;
use crate::trust::Trust;

/// How many recent key changes are remembered; a copy of a read that began before the oldest
/// of them is refused (its key may be among those forgotten).
const REMEMBERED: usize = 4096;

pub(crate) struct Fence {
    /// Bumped by every event.
    stamp: AtomicU64,
    /// The stamp of the last flush (or loss, or new tracking).
    flushed_at: AtomicU64,
    /// Whether changes are being reported: copies are made and served only then.
    armed: AtomicBool,
    /// The recent changes (stamp, summary of the entry's id), the newest last.
    changes: Mutex<VecDeque<(u64, u64)>>,
    /// Until when the reports are known to be heard on time ([`super::TRUST_FOR`] after the
    /// store's last [`crate::store::KeyEvent::Heard`]): copies are served only until then.
    heard: Trust,
}

impl Fence {
    pub(crate) fn new() -> Self {
        Fence {
            stamp: AtomicU64::new(0),
            flushed_at: AtomicU64::new(0),
            armed: AtomicBool::new(false),
            changes: Mutex::new(VecDeque::new()),
            heard: Trust::new(),
        }
    }

    /// Whether changes are reported, so that copies may be made.
    pub(crate) fn armed(&self) -> bool {
        self.armed.load(Ordering::SeqCst)
    }

    /// Whether copies may be served at `now`: changes are reported, and heard on time.
    pub(crate) fn serves_at(&self, now: Instant) -> bool {
        self.armed() && self.heard.holds_at(now)
    }

    /// The reports were heard on time as of `at`: copies serve until `until`.
    pub(crate) fn heard_until(&self, until: Instant) {
        self.heard.extend_to(until);
    }

    /// Taken before a read whose value may be copied; `None` while changes are not reported.
    pub(crate) fn stamp(&self) -> Option<u64> {
        let stamp = self.stamp.load(Ordering::SeqCst);
        self.armed().then_some(stamp)
    }

    /// Whether a copy of `key` read since `stamp` may be kept: no flush and no change of `key`
    /// (nor of the records of its tags, `tags`: their summaries) heard since, and still armed.
    pub(crate) fn admits(&self, id: EntryId, tags: &[u64], stamp: u64) -> bool {
        if !self.armed() || self.flushed_at.load(Ordering::SeqCst) > stamp {
            return false;
        }
        if self.stamp.load(Ordering::SeqCst) == stamp {
            return true;
        }
        let hash = id.summary();
        let changes = self.changes.lock().unwrap_or_else(|e| e.into_inner());
        // Forgotten history: the key may have changed.
        if changes
            .front()
            .is_some_and(|&(oldest, _)| oldest > stamp + 1)
        {
            return false;
        }
        !changes
            .iter()
            .rev()
            .take_while(|&&(at, _)| at > stamp)
            .any(|&(_, changed)| changed == hash || tags.contains(&changed))
    }

    /// The stamp now, to tell after a copy is made whether anything was heard meanwhile.
    pub(crate) fn now(&self) -> u64 {
        self.stamp.load(Ordering::SeqCst)
    }

    /// Records a change of the entries or tag records whose summaries are `changed`
    /// ([`EntryId::summary`], [`super::tag_summary`]); the caller drops their copies after.
    pub(crate) fn changed(&self, changed: impl Iterator<Item = u64>) {
        let mut changes = self.changes.lock().unwrap_or_else(|e| e.into_inner());
        let at = self.stamp.fetch_add(1, Ordering::SeqCst) + 1;
        for summary in changed {
            changes.push_back((at, summary));
        }
        while changes.len() > REMEMBERED {
            changes.pop_front();
        }
    }

    /// Records a flush; `armed`: whether changes are reported from now on. The caller drops
    /// every copy after.
    pub(crate) fn flushed(&self, armed: bool) {
        let mut changes = self.changes.lock().unwrap_or_else(|e| e.into_inner());
        let at = self.stamp.fetch_add(1, Ordering::SeqCst) + 1;
        self.flushed_at.store(at, Ordering::SeqCst);
        self.armed.store(armed, Ordering::SeqCst);
        changes.clear();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn id(n: u128) -> EntryId {
        EntryId::new(7, n)
    }

    #[test]
    fn nothing_is_admitted_until_changes_are_reported() {
        let fence = Fence::new();
        assert_eq!(fence.stamp(), None);
        assert!(!fence.admits(id(1), &[], 0));
        fence.flushed(true);
        let stamp = fence.stamp().unwrap();
        assert!(fence.admits(id(1), &[], stamp));
    }

    #[test]
    fn a_change_of_the_key_since_the_read_refuses_its_copy_and_only_its() {
        let fence = Fence::new();
        fence.flushed(true);
        let stamp = fence.stamp().unwrap();
        fence.changed([id(2).summary()].into_iter());
        assert!(fence.admits(id(1), &[], stamp), "another key changed");
        fence.changed([id(1).summary()].into_iter());
        assert!(!fence.admits(id(1), &[], stamp));
        // A read that began after the change is fine.
        assert!(fence.admits(id(1), &[], fence.stamp().unwrap()));
    }

    #[test]
    fn a_flush_or_a_loss_refuses_every_earlier_read() {
        let fence = Fence::new();
        fence.flushed(true);
        let stamp = fence.stamp().unwrap();
        fence.flushed(true);
        assert!(!fence.admits(id(1), &[], stamp));
        let stamp = fence.stamp().unwrap();
        fence.flushed(false);
        assert!(!fence.admits(id(1), &[], stamp));
        assert_eq!(fence.stamp(), None);
    }

    #[test]
    fn forgotten_history_refuses() {
        let fence = Fence::new();
        fence.flushed(true);
        let stamp = fence.stamp().unwrap();
        for i in 0..REMEMBERED + 10 {
            fence.changed([id(100 + i as u128).summary()].into_iter());
        }
        assert!(!fence.admits(id(1), &[], stamp));
    }
}
