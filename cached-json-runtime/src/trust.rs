//! A deadline that hot paths read without a lock: until when something learned from a
//! connection may be trusted.
//!
//! What a process knows of Redis by being told (the generations its pub/sub subscription
//! hears, the changed keys its tracking connection hears) is only as good as that connection.
//! A connection can go silent without failing (a NAT or load balancer dropping its traffic, a
//! frozen Redis), and the process itself can stall (a long pause, SIGSTOP, a starved VM) with
//! reports queued unread. So what is known is trusted for a short while after each proof that
//! nothing was missed (an answered `PING` on that connection, sent at a known instant: every
//! message sent before it has been heard) and no longer: a [`Trust`] holds that deadline, and a
//! reader checks it against its own clock, so a silent connection or a stall ends the trust on
//! time, even when no task of the process has run since.

use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Instant;

/// Until when something may be trusted; nothing, at first.
pub(crate) struct Trust {
    /// What the deadlines are counted from.
    base: Instant,
    /// The deadline, in nanoseconds since `base`: 0 is over, `u64::MAX` is forever.
    until: AtomicU64,
}

impl Trust {
    /// A trust that holds nowhere until it is extended.
    pub(crate) fn new() -> Self {
        Trust {
            base: Instant::now(),
            until: AtomicU64::new(0),
        }
    }

    /// A trust that holds for ever (what is known cannot be missed: nobody else tells).
    pub(crate) fn forever() -> Self {
        Trust {
            base: Instant::now(),
            until: AtomicU64::new(u64::MAX),
        }
    }

    /// Whether it holds at `now`.
    pub(crate) fn holds_at(&self, now: Instant) -> bool {
        self.nanos(now) < self.until.load(Ordering::Acquire)
    }

    /// Makes it hold until `deadline` at least (never shortens it: proofs may be answered out
    /// of order).
    pub(crate) fn extend_to(&self, deadline: Instant) {
        // At least 1: a deadline at the base itself must not read as "over" forever after.
        self.until
            .fetch_max(self.nanos(deadline).max(1), Ordering::AcqRel);
    }

    /// Makes it hold for ever.
    pub(crate) fn extend_forever(&self) {
        self.until.store(u64::MAX, Ordering::Release);
    }

    /// Ends it now, until it is extended again.
    pub(crate) fn end(&self) {
        self.until.store(0, Ordering::Release);
    }

    fn nanos(&self, at: Instant) -> u64 {
        u64::try_from(at.saturating_duration_since(self.base).as_nanos()).unwrap_or(u64::MAX - 1)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    #[test]
    fn it_holds_until_its_deadline_and_never_shrinks_until_ended() {
        let trust = Trust::new();
        let now = Instant::now();
        assert!(!trust.holds_at(now));
        trust.extend_to(now + Duration::from_millis(100));
        assert!(trust.holds_at(now + Duration::from_millis(99)));
        assert!(!trust.holds_at(now + Duration::from_millis(100)));
        // An older proof answered late does not shorten it.
        trust.extend_to(now + Duration::from_millis(50));
        assert!(trust.holds_at(now + Duration::from_millis(99)));
        trust.end();
        assert!(!trust.holds_at(now));
        assert!(Trust::forever().holds_at(now + Duration::from_secs(1 << 30)));
    }
}
