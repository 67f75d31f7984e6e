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
use std::sync::{Arc, Mutex};

use tokio::sync::watch;

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

type Slot = Arc<watch::Sender<Option<Landing>>>;

/// The calls in flight, by key.
#[derive(Default)]
pub(crate) struct Flights {
    in_flight: Mutex<HashMap<String, Slot>>,
}

pub(crate) enum Joined<'a> {
    Leader(Lead<'a>),
    Follower(watch::Receiver<Option<Landing>>),
}

impl Flights {
    /// Joins the flight for `key`: as its leader if there is none.
    pub(crate) fn join(&self, key: &str) -> Joined<'_> {
        let mut in_flight = self.in_flight.lock().unwrap_or_else(|e| e.into_inner());
        if let Some(slot) = in_flight.get(key) {
            return Joined::Follower(slot.subscribe());
        }
        let slot: Slot = Arc::new(watch::channel(None).0);
        in_flight.insert(key.to_owned(), slot.clone());
        Joined::Leader(Lead {
            flights: self,
            key: key.to_owned(),
            slot,
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
    key: String,
    slot: Slot,
    landed: bool,
}

impl Lead<'_> {
    pub(crate) fn land(mut self, landing: Landing) {
        self.finish(landing);
    }

    fn finish(&mut self, landing: Landing) {
        self.landed = true;
        // Answer the followers first, then leave the table: a caller arriving in between
        // follows a landed flight and gets its answer at once, instead of running again.
        self.slot.send_replace(Some(landing));
        let mut in_flight = self
            .flights
            .in_flight
            .lock()
            .unwrap_or_else(|e| e.into_inner());
        if in_flight
            .get(&self.key)
            .is_some_and(|slot| Arc::ptr_eq(slot, &self.slot))
        {
            in_flight.remove(&self.key);
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
        let Joined::Leader(lead) = flights.join("k") else {
            panic!("first caller leads");
        };
        let Joined::Follower(follower) = flights.join("k") else {
            panic!("second caller follows");
        };
        assert!(matches!(flights.join("other"), Joined::Leader(_)));
        lead.land(Landing::Value(Arc::from(&b"1"[..])));
        assert!(matches!(follow(follower).await, Landing::Value(v) if &*v == b"1"));
        assert_eq!(flights.len(), 0);
    }

    #[tokio::test]
    async fn a_dropped_leader_releases_its_followers_as_abandoned() {
        let flights = Flights::default();
        let lead = flights.join("k");
        let Joined::Follower(follower) = flights.join("k") else {
            panic!("second caller follows");
        };
        drop(lead);
        assert!(matches!(follow(follower).await, Landing::Abandoned));
        assert_eq!(flights.len(), 0);
        assert!(matches!(flights.join("k"), Joined::Leader(_)));
    }
}
