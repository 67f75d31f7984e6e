//! Coalescing of concurrent misses: N calls for one cold key run the function once.
//!
//! The first caller of a key leads its flight and runs the function; the others follow,
//! waiting for what the leader lands. The table holds a key only while its leader runs, so it
//! never grows with the number of keys seen.
//!
//! What the leader lands decides what followers do:
//!
//! - a value (as the JSON it stores), `None`, the `stale` value, or an error that can be
//!   copied (`E: Clone`, as Go's singleflight shares `err`): theirs too, without a run;
//! - an error that cannot be copied: the followers cannot be given it, so they run the
//!   function again, in a wider *wave*: wave `w` has `2^w` lanes, each lane a flight of its own
//!   with one leader. After one failure two runs go out, after two failures four, and so on:
//!   a failing origin sees its load double at each failed round (not N runs at once), and a
//!   follower waits for about `log2(N)` origin runs at most (not an N-long queue);
//! - a panic: the followers panic too, at once, with the leader's message (as the function
//!   would have for them);
//! - nothing, because the leader was cancelled: one follower leads in its place.
//!
//! A follower never waits forever: past its wait (a leader that never completes, or is kept
//! but never polled) it takes the flight over, and the other followers wait for it instead.

use std::collections::HashMap;
use std::hash::{BuildHasherDefault, Hasher};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use tokio::sync::watch;

use crate::key::FlightId;
use crate::shape::SharedError;

/// What a leader's call ended with, as its followers see it.
#[derive(Clone)]
pub(crate) enum Landing {
    /// The value's JSON, and whether the store holds it (written, or read there): only then may
    /// a follower's HTTP answer promise it (`ETag`, `max-age`).
    Value(Arc<[u8]>, bool),
    /// `None` from an `Option` function: the answer, and nothing to store.
    Absent,
    /// The function failed and the last good value (the `stale` option) answered: theirs too.
    Stale(Arc<[u8]>),
    /// The function's error, which followers can copy.
    Error(SharedError),
    /// An error followers cannot be given: they run the function in the next wave.
    Failed,
    /// The function panicked, with this message: followers panic too.
    Panicked(Arc<str>),
    /// Cancelled before an answer: followers try to lead.
    Abandoned,
}

/// Which of a key's flights a caller joins: wave 0 has one lane (lane 0), wave `w` has `2^w`
/// (lanes `2^w - 1 ..= 2^(w+1) - 2`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub(crate) struct Lane(u32);

/// The widest wave: 64 lanes.
const MAX_WAVE: u32 = 6;

impl Lane {
    /// The first wave's one lane: every caller of a cold key starts there.
    pub(crate) const FIRST: Lane = Lane(0);

    /// A lane of the next wave, at random, after this lane's leader failed.
    pub(crate) fn next_wave(self) -> Lane {
        let wave = (self.wave() + 1).min(MAX_WAVE);
        Lane((1 << wave) - 1 + fastrand::u32(0..1 << wave))
    }

    fn wave(self) -> u32 {
        (self.0 + 1).ilog2()
    }
}

/// The flight of one key in one lane: who leads it, and how followers hear its landing.
struct Slot {
    leader: u64,
    landing: watch::Sender<Option<Landing>>,
}

type SlotKey = (FlightId, Lane);

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
    fn write_u32(&mut self, n: u32) {
        self.0 ^= u64::from(n).rotate_left(16);
    }
    fn write_u128(&mut self, n: u128) {
        self.0 ^= n as u64;
    }
    fn write_usize(&mut self, n: usize) {
        self.0 ^= (n as u64).rotate_left(32);
    }
}

/// The calls in flight, by key and lane.
#[derive(Default)]
pub(crate) struct Flights {
    in_flight: Mutex<HashMap<SlotKey, Slot, BuildHasherDefault<KeyHasher>>>,
    next_leader: AtomicU64,
}

pub(crate) enum Joined {
    Leader(Lead),
    Follower(Follower),
}

/// A follower of a flight: the landing it waits for, and the leader it expects it from.
pub(crate) struct Follower {
    landing: watch::Receiver<Option<Landing>>,
    leader: u64,
}

/// How following ended.
pub(crate) enum Followed {
    Landed(Landing),
    /// The leader did not land within the wait: this follower leads now.
    TookOver(Lead),
    /// Nothing landed within the wait, and taking over was not asked for.
    Waiting,
}

impl Flights {
    /// Joins the flight of `id` in `lane`: as its leader if there is none.
    pub(crate) fn join(self: &Arc<Self>, id: FlightId, lane: Lane) -> Joined {
        let key = (id, lane);
        let mut in_flight = self.lock();
        if let Some(slot) = in_flight.get(&key) {
            return Joined::Follower(Follower {
                landing: slot.landing.subscribe(),
                leader: slot.leader,
            });
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
            flights: self.clone(),
            key,
            leader,
            landed: false,
        })
    }

    /// Leads the flight of `id` if nobody does, without waiting otherwise: for a refresh in
    /// the background, which is pointless when a call is already computing the key.
    pub(crate) fn try_lead(self: &Arc<Self>, id: FlightId) -> Option<Lead> {
        match self.join(id, Lane::FIRST) {
            Joined::Leader(lead) => Some(lead),
            Joined::Follower(_) => None,
        }
    }

    /// Waits for the landing of the flight `follower` joined (`id` in `lane`); past `wait`
    /// without one, takes the flight over from its leader. The other followers keep their
    /// channel and get the new leader's landing; the old leader, if it ever finishes, lands
    /// nothing.
    pub(crate) async fn follow(
        self: &Arc<Self>,
        id: FlightId,
        lane: Lane,
        follower: &mut Follower,
        wait: Duration,
    ) -> Followed {
        self.follow_for(id, lane, follower, wait, true).await
    }

    /// [`Flights::follow`]; past `wait`, takes over only if `take_over`, else answers
    /// [`Followed::Waiting`] (the follower keeps its place and may follow again).
    pub(crate) async fn follow_for(
        self: &Arc<Self>,
        id: FlightId,
        lane: Lane,
        follower: &mut Follower,
        wait: Duration,
        take_over: bool,
    ) -> Followed {
        loop {
            let landed =
                crate::timer::timeout(wait, follower.landing.wait_for(Option::is_some)).await;
            match landed {
                Ok(Ok(landing)) => {
                    return Followed::Landed(landing.clone().unwrap_or(Landing::Abandoned))
                }
                Ok(Err(_)) => return Followed::Landed(Landing::Abandoned),
                Err(_) if !take_over => return Followed::Waiting,
                Err(_) => {}
            }
            let mut in_flight = self.lock();
            let Some(slot) = in_flight.get_mut(&(id, lane)) else {
                // Landed as the wait ended: the channel has it.
                continue;
            };
            if slot.leader != follower.leader {
                // Another follower took over first: wait for that one.
                follower.leader = slot.leader;
                continue;
            }
            let leader = self.next_leader.fetch_add(1, Ordering::Relaxed);
            slot.leader = leader;
            tracing::warn!(
                waited_ms = wait.as_millis() as u64,
                "a coalesced call's leader did not finish in time: another caller takes over"
            );
            return Followed::TookOver(Lead {
                flights: self.clone(),
                key: (id, lane),
                leader,
                landed: false,
            });
        }
    }

    /// How many flights are in the air.
    pub(crate) fn len(&self) -> usize {
        self.lock().len()
    }

    fn lock(
        &self,
    ) -> std::sync::MutexGuard<'_, HashMap<SlotKey, Slot, BuildHasherDefault<KeyHasher>>> {
        self.in_flight.lock().unwrap_or_else(|e| e.into_inner())
    }
}

/// A flight's leadership, which a background task may own. Dropping it without landing
/// (cancellation) lands `Abandoned`.
pub(crate) struct Lead {
    flights: Arc<Flights>,
    key: SlotKey,
    leader: u64,
    landed: bool,
}

impl Lead {
    pub(crate) fn land(mut self, landing: Landing) {
        self.finish(landing);
    }

    /// Whether any caller is waiting for this flight's landing.
    pub(crate) fn has_followers(&self) -> bool {
        self.flights
            .lock()
            .get(&self.key)
            .is_some_and(|slot| slot.landing.receiver_count() > 0)
    }

    fn finish(&mut self, landing: Landing) {
        self.landed = true;
        // Leave the table and answer the followers under one lock: no caller can join the
        // flight after it landed, and none is left without an answer. A leader that was taken
        // over lands nothing: the flight is another's now.
        let mut in_flight = self.flights.lock();
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

impl Drop for Lead {
    fn drop(&mut self) {
        if !self.landed {
            self.finish(Landing::Abandoned);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const WAIT: Duration = Duration::from_secs(5);

    #[tokio::test]
    async fn one_leader_per_key_and_lane_and_followers_get_its_landing() {
        let flights = Arc::new(Flights::default());
        let Joined::Leader(lead) = flights.join((1, 7), Lane::FIRST) else {
            panic!("first caller leads");
        };
        let Joined::Follower(mut follower) = flights.join((1, 7), Lane::FIRST) else {
            panic!("second caller follows");
        };
        assert!(lead.has_followers());
        assert!(matches!(
            flights.join((2, 7), Lane::FIRST),
            Joined::Leader(_)
        ));
        assert!(matches!(
            flights.join((1, 8), Lane::FIRST),
            Joined::Leader(_)
        ));
        assert!(matches!(flights.join((1, 7), Lane(1)), Joined::Leader(_)));
        lead.land(Landing::Value(Arc::from(&b"1"[..]), true));
        let landed = flights
            .follow((1, 7), Lane::FIRST, &mut follower, WAIT)
            .await;
        assert!(matches!(landed, Followed::Landed(Landing::Value(v, true)) if &*v == b"1"));
        assert_eq!(flights.len(), 0);
    }

    #[tokio::test]
    async fn a_dropped_leader_releases_its_followers_as_abandoned() {
        let flights = Arc::new(Flights::default());
        let lead = flights.join((1, 7), Lane::FIRST);
        let Joined::Follower(mut follower) = flights.join((1, 7), Lane::FIRST) else {
            panic!("second caller follows");
        };
        drop(lead);
        let landed = flights
            .follow((1, 7), Lane::FIRST, &mut follower, WAIT)
            .await;
        assert!(matches!(landed, Followed::Landed(Landing::Abandoned)));
        assert_eq!(flights.len(), 0);
        assert!(matches!(
            flights.join((1, 7), Lane::FIRST),
            Joined::Leader(_)
        ));
    }

    #[tokio::test]
    async fn past_the_wait_one_follower_takes_over_and_the_others_follow_it() {
        let flights = Arc::new(Flights::default());
        let Joined::Leader(hung) = flights.join((1, 7), Lane::FIRST) else {
            panic!("first caller leads");
        };
        let follower = || match flights.join((1, 7), Lane::FIRST) {
            Joined::Follower(follower) => follower,
            Joined::Leader(_) => panic!("the flight is led"),
        };
        let (mut first, mut second) = (follower(), follower());
        let wait = Duration::from_millis(20);
        let Followed::TookOver(new_leader) =
            flights.follow((1, 7), Lane::FIRST, &mut first, wait).await
        else {
            panic!("the first follower to time out takes over");
        };
        let waiting = flights.follow((1, 7), Lane::FIRST, &mut second, wait);
        new_leader.land(Landing::Absent);
        assert!(matches!(waiting.await, Followed::Landed(Landing::Absent)));
        // The hung leader finishing at last lands nothing, and removes nothing.
        let Joined::Leader(next) = flights.join((1, 7), Lane::FIRST) else {
            panic!("the flight landed: a new caller leads");
        };
        hung.land(Landing::Failed);
        assert_eq!(flights.len(), 1);
        drop(next);
        assert_eq!(flights.len(), 0);
    }

    #[test]
    fn each_wave_has_twice_the_lanes_of_the_one_before() {
        assert_eq!(Lane::FIRST.wave(), 0);
        for _ in 0..100 {
            let second = Lane::FIRST.next_wave();
            assert!((1..=2).contains(&second.0), "{second:?}");
            let third = second.next_wave();
            assert!((3..=6).contains(&third.0), "{third:?}");
            let mut lane = third;
            for _ in 0..10 {
                lane = lane.next_wave();
            }
            assert_eq!(lane.wave(), MAX_WAVE);
        }
    }
}
