//! The circuit breaker in front of Redis: when to stop asking it.
//!
//! It exists because a client's own retries make callers wait for the backend: with the breaker
//! not closed, a call skips Redis in nanoseconds, and one background task owns the job of
//! finding Redis again. One timeout is enough to stop asking: a hung Redis then costs a request
//! one command timeout at most, however many cached calls it makes.
//!
//! ```text
//! Connecting --connected--> Closed --timeout--> Suspect --probe answered--> Closed
//!      |                      |                    |
//!      +--first connect fails-+--connection lost---+--probe failed--> Open --reconnected--> Closed
//! ```

use std::sync::atomic::{AtomicU8, Ordering};

/// What the breaker says about Redis.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum BreakerState {
    /// The first connection is being made; callers may wait for it, briefly.
    Connecting,
    /// Healthy: calls go to Redis.
    Closed,
    /// A command timed out: calls skip Redis while one probe finds out whether it still answers.
    Suspect,
    /// Down: calls skip Redis until the background reconnection succeeds.
    Open,
}

/// What the caller that recorded a failure must start.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Trip {
    /// Nothing: the breaker was already past this point (another caller owns the next step).
    None,
    /// A probe of the current connection: the breaker just became `Suspect`.
    Probe,
    /// The reconnection: the breaker just opened.
    Reconnect,
}

pub(crate) struct Breaker {
    state: AtomicU8,
    /// The store's URL, redacted, for the transitions' events.
    url: String,
}

const CONNECTING: u8 = 0;
const CLOSED: u8 = 1;
const SUSPECT: u8 = 2;
const OPEN: u8 = 3;

impl Breaker {
    pub(crate) fn new(url: String) -> Self {
        Breaker {
            state: AtomicU8::new(CONNECTING),
            url,
        }
    }

    pub(crate) fn state(&self) -> BreakerState {
        match self.state.load(Ordering::Acquire) {
            CONNECTING => BreakerState::Connecting,
            CLOSED => BreakerState::Closed,
            SUSPECT => BreakerState::Suspect,
            _ => BreakerState::Open,
        }
    }

    /// A command timed out: Redis may be hung. Exactly one caller gets [`Trip::Probe`].
    pub(crate) fn on_timeout(&self) -> Trip {
        self.transition(CLOSED, SUSPECT, Trip::Probe)
    }

    /// The store's own connection failed (refused, reset, closed): Redis is gone. Exactly one
    /// caller gets [`Trip::Reconnect`].
    pub(crate) fn on_connection_lost(&self) -> Trip {
        match self.transition(CLOSED, OPEN, Trip::Reconnect) {
            Trip::None => self.transition(SUSPECT, OPEN, Trip::Reconnect),
            trip => trip,
        }
    }

    /// The probe of a suspect Redis answered: back to normal.
    pub(crate) fn on_probe_answered(&self) {
        let _ = self.transition(SUSPECT, CLOSED, Trip::None);
    }

    /// The probe of a suspect Redis failed: open. Returns [`Trip::Reconnect`] if this opened it.
    pub(crate) fn on_probe_failed(&self) -> Trip {
        self.transition(SUSPECT, OPEN, Trip::Reconnect)
    }

    /// A connection was made: close the breaker.
    pub(crate) fn on_connected(&self) {
        let from = self.state.swap(CLOSED, Ordering::AcqRel);
        if from != CLOSED {
            self.changed(from, CLOSED);
        }
    }

    /// The first connection attempt failed: open the breaker. Returns `true` if it was
    /// still connecting (so the caller owns the reconnection).
    pub(crate) fn on_first_connect_failed(&self) -> bool {
        self.transition(CONNECTING, OPEN, Trip::Reconnect) == Trip::Reconnect
    }

    fn transition(&self, from: u8, to: u8, trip: Trip) -> Trip {
        match self
            .state
            .compare_exchange(from, to, Ordering::AcqRel, Ordering::Acquire)
        {
            Ok(_) => {
                self.changed(from, to);
                trip
            }
            Err(_) => Trip::None,
        }
    }

    /// Tells the application: an event for each transition, and the store's up/down metrics
    /// when the cache starts or stops using Redis.
    fn changed(&self, from: u8, to: u8) {
        let (from_name, to_name) = (name(from), name(to));
        tracing::info!(url = %self.url, from = from_name, to = to_name, "redis circuit breaker");
        let (was_up, up) = (from == CLOSED, to == CLOSED);
        // Connecting counts as neither: the first outcome is a transition either way.
        if was_up != up || from == CONNECTING {
            crate::instruments::store_transition(up);
        }
    }
}

fn name(state: u8) -> &'static str {
    match state {
        CONNECTING => "connecting",
        CLOSED => "closed",
        SUSPECT => "suspect",
        _ => "open",
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn one_timeout_makes_redis_suspect_and_one_caller_probes() {
        let breaker = Breaker::new("redis://test".into());
        breaker.on_connected();
        assert_eq!(breaker.on_timeout(), Trip::Probe);
        assert_eq!(breaker.on_timeout(), Trip::None);
        assert_eq!(breaker.state(), BreakerState::Suspect);
        breaker.on_probe_answered();
        assert_eq!(breaker.state(), BreakerState::Closed);
    }

    #[test]
    fn a_failed_probe_opens_and_its_caller_reconnects() {
        let breaker = Breaker::new("redis://test".into());
        breaker.on_connected();
        assert_eq!(breaker.on_timeout(), Trip::Probe);
        assert_eq!(breaker.on_probe_failed(), Trip::Reconnect);
        assert_eq!(breaker.state(), BreakerState::Open);
        // Already open: nobody else starts a reconnection.
        assert_eq!(breaker.on_connection_lost(), Trip::None);
        assert_eq!(breaker.on_timeout(), Trip::None);
        breaker.on_connected();
        assert_eq!(breaker.state(), BreakerState::Closed);
    }

    #[test]
    fn a_lost_connection_opens_at_once_from_closed_or_suspect() {
        let breaker = Breaker::new("redis://test".into());
        breaker.on_connected();
        assert_eq!(breaker.on_connection_lost(), Trip::Reconnect);
        assert_eq!(breaker.on_connection_lost(), Trip::None);
        breaker.on_connected();
        assert_eq!(breaker.on_timeout(), Trip::Probe);
        assert_eq!(breaker.on_connection_lost(), Trip::Reconnect);
        // The probe then finds it open: it starts nothing more.
        assert_eq!(breaker.on_probe_failed(), Trip::None);
        breaker.on_probe_answered();
        assert_eq!(breaker.state(), BreakerState::Open);
    }

    #[test]
    fn starts_connecting_and_a_failed_first_connect_opens() {
        let breaker = Breaker::new("redis://test".into());
        assert_eq!(breaker.state(), BreakerState::Connecting);
        // Failures while connecting do not claim the reconnection: the connector owns it.
        assert_eq!(breaker.on_connection_lost(), Trip::None);
        assert_eq!(breaker.on_timeout(), Trip::None);
        assert!(breaker.on_first_connect_failed());
        assert!(!breaker.on_first_connect_failed());
        assert_eq!(breaker.state(), BreakerState::Open);
    }
}
