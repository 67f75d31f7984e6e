//! Coalescing of concurrent misses: N calls for one cold key run the function once.
//!
//! The first caller of a key becomes its leader and runs the function; the others follow,
//! waiting for what the leader lands. The table holds a key only while its leader runs, so it
//! never grows with the number of keys seen.
//!
//! What the leader lands decides what followers do: a value (as the JSON it stores) is theirs;
//! an uncacheable `None` is theirs too; an `Err` is not shared (its type is not ours to clone),
//! so each follower runs the function itself; a leader that was cancelled or panicked lands
//! nothing, and followers compete for leadership again, so that one of them runs it.

use std::collections::HashMap;
use std::hash::{BuildHasherDefault, Hasher};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};

use tokio::sync::watch;

use crate::key::FlightId;

/// What a leader's call ended with, as its followers see it.
#[derive(Debug, Clone)]
pub(crate) enum Landing {
    /// The value, as stored JSON.
    Value(Arc<[u8]>),
    /// `None` from an `Option` function: the answer, and nothing to store.
    Absent,
    /// The function failed and the last good value (the `stale` option) answered: theirs too.
    Stale(Arc<[u8]>),
    /// An error: followers run the function themselves.
    Failed,
    /// Cancelled or panicked before an answer: followers try to lead.
    Abandoned,
}

/// The flight of one key: who leads it, and how followers hear its landing.
struct Slot {
    leader: u64,
    landing: watch::Sender<Option<Landing>>,
}

/// The keys are already uniformly distributed hashes: use their bits as they are.
#[derive(Default)]
struct KeyHasher(u64);

impl Hasher for KeyHasher {
    fn finish(&self) -> u64 {
        self.0
    }
    fn write(&mut self, bytes: &[u8]) {
        for &byte in bytes {
            self.0 = self.0.rotate_left(8) ^ u64::from(byte);
        }
    }
    fn write_u128(&mut self, n: u128) {
        self.0 ^= n as u64;
    }
    fn write_usize(&mut self, n: usize) {
        self.0 ^= (n as u64).rotate_left(32);
    }
}

/// The calls in flight, by key.
#[derive(Default)]
pub(crate) struct Flights {
    in_flight: Mutex<HashMap<FlightId, Slot, BuildHasherDefault<KeyHasher>>>,
    next_leader: AtomicU64,
}

pub(crate) enum Joined<'a> {
    Leader(Lead<'a>),
    Follower(watch::Receiver<Option<Landing>>),
}

impl Flights {
    /// Joins the flight for `key`: as its leader if there is none.
    pub(crate) fn join(&self, key: FlightId) -> Joined<'_> {
        let mut in_flight = self.in_flight.lock().unwrap_or_else(|e| e.into_inner());
        if let Some(slot) = in_flight.get(&key) {
            return Joined::Follower(slot.landing.subscribe());
        }
        let leader = self.next_leader.fetch_add(1, Ordering::Relaxed);
        in_flight.insert(
            key,
            Slot {
                leader,
                landing: watch::channel(None).0,
            },
        );
        Joined::Leader(Lead {
            flights: self,
            key,
            leader,
            landed: false,
        })
    }

    /// How many keys have a call in flight.
    pub(crate) fn len(&self) -> usize {
        self.in_flight
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .len()
    }
}

/// Waits for the leader of a flight to land.
pub(crate) async fn follow(mut receiver: watch::Receiver<Option<Landing>>) -> Landing {
    match receiver.wait_for(Option::is_some).await {
        Ok(landing) => landing.clone().unwrap_or(Landing::Abandoned),
        Err(_) => Landing::Abandoned,
    }
}

/// A flight's leadership. Dropping it without landing (cancellation, panic) lands `Abandoned`.
pub(crate) struct Lead<'a> {
    flights: &'a Flights,
    key: FlightId,
    leader: u64,
    landed: bool,
}

impl Lead<'_> {
    pub(crate) fn land(mut self, landing: Landing) {
        self.finish(landing);
    }

    /// Whether any caller is waiting for this flight's landing.
    pub(crate) fn has_followers(&self) -> bool {
        let in_flight = self
            .flights
            .in_flight
            .lock()
            .unwrap_or_else(|e| e.into_inner());
        in_flight
            .get(&self.key)
            .is_some_and(|slot| slot.landing.receiver_count() > 0)
    }

    fn finish(&mut self, landing: Landing) {
        self.landed = true;
        // Leave the table and answer the followers under one lock: no caller can join the
        // flight after it landed, and none is left without an answer.
        let mut in_flight = self
            .flights
            .in_flight
            .lock()
            .unwrap_or_else(|e| e.into_inner());
        if in_flight
            .get(&self.key)
            .is_some_and(|slot| slot.leader == self.leader)
        {
            if let Some(slot) = in_flight.remove(&self.key) {
                slot.landing.send_replace(Some(landing));
            }
        }
    }
}

impl Drop for Lead<'_> {
    fn drop(&mut self) {
        if !self.landed {
            self.finish(Landing::Abandoned);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn one_leader_per_key_and_followers_get_its_landing() {
        let flights = Flights::default();
        let Joined::Leader(lead) = flights.join((1, 7)) else {
            panic!("first caller leads");
        };
        let Joined::Follower(follower) = flights.join((1, 7)) else {
            panic!("second caller follows");
        };
        assert!(lead.has_followers());
        assert!(matches!(flights.join((2, 7)), Joined::Leader(_)));
        assert!(matches!(flights.join((1, 8)), Joined::Leader(_)));
        lead.land(Landing::Value(Arc::from(&b"1"[..])));
        assert!(matches!(follow(follower).await, Landing::Value(v) if &*v == b"1"));
        assert_eq!(flights.len(), 0);
    }

    #[tokio::test]
    async fn a_dropped_leader_releases_its_followers_as_abandoned() {
        let flights = Flights::default();
        let lead = flights.join((1, 7));
        let Joined::Follower(follower) = flights.join((1, 7)) else {
            panic!("second caller follows");
        };
        drop(lead);
        assert!(matches!(follow(follower).await, Landing::Abandoned));
        assert_eq!(flights.len(), 0);
        assert!(matches!(flights.join((1, 7)), Joined::Leader(_)));
    }
}
