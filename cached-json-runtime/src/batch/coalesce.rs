//! The ids of a batch that another call of this process computes: joined before the run (each
//! id its own flight, [`crate::flight`]), followed after it.

use std::sync::Arc;

use super::read::Known;
use super::run::Computed;
use crate::flight::{Flights, Followed, Follower, Joined, Landing, Lane, Lead};
use crate::key::{FlightId, Key};
use crate::outcome::CacheOutcome;
use crate::shape::{decode, Shape};
use crate::site::CacheSite;

/// A missing id another call leads: where it is among the ids, its flight, its place in it.
pub(super) type FollowedId = (usize, FlightId, Follower);

/// Joins the flight of each missing id: those this call leads (with the lead; none for an id
/// computed uncached), and those another call leads.
pub(super) fn join<V>(
    flights: &Arc<Flights>,
    keys: &[Option<Key>],
    known: &[Known<V>],
) -> (Vec<(usize, Option<Lead>)>, Vec<FollowedId>) {
    let mut led = Vec::new();
    let mut followed = Vec::new();
    for (at, state) in known.iter().enumerate() {
        let Known::Missing { .. } = state else {
            continue;
        };
        match keys[at].as_ref() {
            Some(key) => match flights.join(key.flight(), Lane::FIRST) {
                Joined::Leader(lead) => led.push((at, Some(lead))),
                Joined::Follower(follower) => followed.push((at, key.flight(), follower)),
            },
            None => led.push((at, None)),
        }
    }
    (led, followed)
}

/// Waits for the ids other calls lead, all at once (each at most the site's `wait`), and
/// records their answers in `known`; those they could not compute (failed, panicked, cancelled,
/// or waited for too long) go to `again`, to be computed here.
pub(super) async fn follow<S, V>(
    flights: &Arc<Flights>,
    site: &'static CacheSite,
    codec: S::Codec,
    followed: Vec<FollowedId>,
    known: &mut [Known<V>],
    again: &mut Vec<Computed>,
) where
    S: Shape<Output = Option<V>>,
{
    let landings = crate::join::all(followed.into_iter().map(
        |(at, flight, mut follower)| async move {
            let followed = flights
                .follow(flight, Lane::FIRST, &mut follower, site.wait)
                .await;
            (at, followed)
        },
    ))
    .await;
    for (at, followed) in landings {
        let landed = match followed {
            Followed::Landed(Landing::Value(bytes, _)) => decode::<S>(codec, &bytes, site.prefix)
                .map(|value| (value, CacheOutcome::Coalesced)),
            Followed::Landed(Landing::Absent) => Some((None, CacheOutcome::Coalesced)),
            Followed::Landed(Landing::Stale(bytes)) => {
                decode::<S>(codec, &bytes, site.prefix).map(|value| (value, CacheOutcome::Stale))
            }
            Followed::TookOver(lead) => {
                again.push((at, Some(lead), None));
                continue;
            }
            // Failed, panicked or cancelled there: computed here.
            _ => None,
        };
        match landed {
            Some((value, outcome)) => known[at] = Known::Answered(value, outcome),
            None => again.push((at, None, None)),
        }
    }
}
