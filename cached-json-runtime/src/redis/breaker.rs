//! The circuit breaker in front of a remote store.
//!
//! It exists because a client's own retries make callers wait for the backend: with the breaker
//! open, a call skips the store in nanoseconds, and one background task owns the job of finding
//! the backend again.

use std::sync::atomic::{AtomicU32, AtomicU8, Ordering};

/// What the breaker says about the backend.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum BreakerState {
    /// The first connection is being made; callers may wait for it, briefly.
    Connecting,
    /// Healthy: calls go to the backend.
    Closed,
    /// Down: calls skip the backend until a background probe reconnects.
    Open,
}

pub(crate) struct Breaker {
    state: AtomicU8,
    consecutive_failures: AtomicU32,
    threshold: u32,
}

const CONNECTING: u8 = 0;
const CLOSED: u8 = 1;
const OPEN: u8 = 2;

impl Breaker {
    /// A breaker that opens after `threshold` consecutive soft failures (timeouts).
    pub(crate) fn new(threshold: u32) -> Self {
        Breaker {
            state: AtomicU8::new(CONNECTING),
            consecutive_failures: AtomicU32::new(0),
            threshold: threshold.max(1),
        }
    }

    pub(crate) fn state(&self) -> BreakerState {
        match self.state.load(Ordering::Acquire) {
            CONNECTING => BreakerState::Connecting,
            CLOSED => BreakerState::Closed,
            _ => BreakerState::Open,
        }
    }

    pub(crate) fn on_success(&self) {
        // Read first: the hot path must not write a shared cache line on every call.
        if self.consecutive_failures.load(Ordering::Relaxed) != 0 {
            self.consecutive_failures.store(0, Ordering::Relaxed);
        }
    }

    /// Records a failed call. A `hard` failure (the connection is gone) opens the breaker at
    /// once; soft ones (timeouts) after `threshold` in a row. Returns `true` for exactly one
    /// caller: the one that opened it, which must start the reconnection.
    pub(crate) fn on_failure(&self, hard: bool) -> bool {
        let failures = self.consecutive_failures.fetch_add(1, Ordering::Relaxed) + 1;
        if hard || failures >= self.threshold {
            self.state
                .compare_exchange(CLOSED, OPEN, Ordering::AcqRel, Ordering::Acquire)
                .is_ok()
        } else {
            false
        }
    }

    /// A connection was made: close the breaker.
    pub(crate) fn on_connected(&self) {
        self.consecutive_failures.store(0, Ordering::Relaxed);
        self.state.store(CLOSED, Ordering::Release);
    }

    /// The first connection attempt failed: open the breaker. Returns `true` if it was
    /// still connecting (so the caller owns the reconnection).
    pub(crate) fn on_first_connect_failed(&self) -> bool {
        self.state
            .compare_exchange(CONNECTING, OPEN, Ordering::AcqRel, Ordering::Acquire)
            .is_ok()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn soft_failures_open_only_at_the_threshold_and_success_resets_the_count() {
        let breaker = Breaker::new(3);
        breaker.on_connected();
        assert!(!breaker.on_failure(false));
        assert!(!breaker.on_failure(false));
        breaker.on_success();
        assert!(!breaker.on_failure(false));
        assert!(!breaker.on_failure(false));
        assert_eq!(breaker.state(), BreakerState::Closed);
        assert!(breaker.on_failure(false));
        assert_eq!(breaker.state(), BreakerState::Open);
    }

    #[test]
    fn a_hard_failure_opens_at_once_and_only_one_caller_owns_the_reconnect() {
        let breaker = Breaker::new(3);
        breaker.on_connected();
        assert!(breaker.on_failure(true));
        assert!(!breaker.on_failure(true));
        assert_eq!(breaker.state(), BreakerState::Open);
        breaker.on_connected();
        assert_eq!(breaker.state(), BreakerState::Closed);
    }

    #[test]
    fn starts_connecting_and_a_failed_first_connect_opens() {
        let breaker = Breaker::new(3);
        assert_eq!(breaker.state(), BreakerState::Connecting);
        // Failures while connecting do not claim the reconnection: the connector owns it.
        assert!(!breaker.on_failure(true));
        assert!(breaker.on_first_connect_failed());
        assert!(!breaker.on_first_connect_failed());
        assert_eq!(breaker.state(), BreakerState::Open);
    }
}
