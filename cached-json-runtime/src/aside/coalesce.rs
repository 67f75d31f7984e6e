//! Step 1 of a miss: joining the flight of the key, as its leader or as a follower that waits
//! for the leader's answer (and what a follower does when that answer cannot be its own).

use crate::flight::{Followed, Joined, Landing, Lane};
use crate::http;
use crate::key::Key;
use crate::outcome::CacheOutcome;
use crate::shape::{decode, entry_ttl, Shape};
use crate::stale;

use super::Aside;

impl Aside {
    /// Joins the flight of this key: as its leader, or as a follower that waits for the
    /// leader's answer: a value, `None`, a stale value or a copyable error is this caller's
    /// too; after an error it cannot copy it runs the function in the next, wider wave; after
    /// a cancelled leader it tries to lead; after a panic it panics. With `stale` and
    /// `timeout_ms`, a follower too answers the stale value past the soft timeout.
    pub(super) async fn coalesce<S: Shape>(
        &self,
        codec: S::Codec,
        key: &Key,
        reachable: bool,
    ) -> Coalesced<S::Output> {
        let flights = self.cache.flights();
        let soft_timeout = self
            .site
            .soft_timeout
            .filter(|_| reachable && self.site.stale.is_some());
        let mut lane = Lane::FIRST;
        loop {
            let mut follower = match flights.join(key.flight(), lane) {
                Joined::Leader(lead) => return Coalesced::Lead(lead),
                Joined::Follower(follower) => follower,
            };
            let mut followed = match soft_timeout {
                Some(soft) => {
                    flights
                        .follow_for(key.flight(), lane, &mut follower, soft, false)
                        .await
                }
                None => Followed::Waiting,
            };
            if let Followed::Waiting = followed {
                if soft_timeout.is_some() {
                    let store = self.cache.store();
                    if let Some((_, output)) =
                        stale::read::<S>(store, codec, key, self.site, "timed out").await
                    {
                        return Coalesced::Answered(CacheOutcome::Stale, output);
                    }
                }
                followed = flights
                    .follow(key.flight(), lane, &mut follower, self.site.wait)
                    .await;
            }
            let landing = match followed {
                Followed::Landed(landing) => landing,
                Followed::TookOver(lead) => return Coalesced::Lead(lead),
                Followed::Waiting => continue,
            };
            let (outcome, bytes, stored) = match landing {
                Landing::Value(bytes, stored) => (CacheOutcome::Coalesced, bytes, stored),
                Landing::Stale(bytes) => (CacheOutcome::Stale, bytes, true),
                Landing::Absent => {
                    return match S::absent() {
                        Some(output) => Coalesced::Answered(CacheOutcome::Coalesced, output),
                        None => Coalesced::Alone,
                    }
                }
                Landing::Error(shared) => {
                    return match S::take_failure(codec, &shared) {
                        Some(output) => Coalesced::Answered(CacheOutcome::Coalesced, output),
                        None => Coalesced::Alone,
                    }
                }
                Landing::Failed => {
                    lane = lane.next_wave();
                    continue;
                }
                Landing::Panicked(message) => panic!(
                    "cached function `{}` panicked in the concurrent call this one waited for: {message}",
                    self.site.function
                ),
                Landing::Abandoned => continue,
            };
            return match decode::<S>(codec, &bytes, key.as_str()) {
                Some(output) => {
                    // A value the leader could not store has no entry: the answer promises
                    // nothing (an HTTP layer sends the value with `no-cache`).
                    if stored && http::wanted() {
                        let ttl = entry_ttl::<S>(&codec, &output, self.site.ttl);
                        let json = bytes::Bytes::copy_from_slice(&bytes);
                        self.observed(outcome, json, None, ttl);
                    }
                    Coalesced::Answered(outcome, output)
                }
                None => Coalesced::Alone,
            };
        }
    }
}

/// How coalescing with concurrent callers of the key ended for this one.
pub(super) enum Coalesced<O> {
    /// Another caller's call answered for this one.
    Answered(CacheOutcome, O),
    /// This caller leads the flight: it runs the function and lands the answer.
    Lead(crate::flight::Lead),
    /// The leader's answer cannot be this caller's (undecodable): run alone.
    Alone,
}
