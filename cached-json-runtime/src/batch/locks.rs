//! `lock` with a batch: each missing id's lock taken at once before the run; the ids whose lock
//! another process holds awaited after it (read together every poll; computed past `wait_ms`
//! or when their lock is let go).

use std::time::Instant;

use super::run::Computed;
use super::Known;
use crate::cache::CurrentCache;
use crate::flight::{Landing, Lead};
use crate::key::Key;
use crate::lock::{self, Lease};
use crate::shape::{decode, Shape};
use crate::site::CacheSite;
use crate::store::Read;

/// An id whose lock another process holds: where it is, its key, its flight's lead.
pub(super) type LockedElsewhere = (usize, Key, Option<Lead>);

/// Takes the lock of each id of `led` the store answered for, at once: the ids this call
/// computes (with their leases, or without a lock to take), and those whose lock another
/// process holds.
pub(super) async fn lock_ids<V>(
    cache: &CurrentCache,
    site: &'static CacheSite,
    keys: &[Option<Key>],
    known: &[Known<V>],
    led: Vec<(usize, Option<Lead>)>,
) -> (Vec<Computed>, Vec<LockedElsewhere>) {
    let lockable = |at: usize| {
        keys[at]
            .as_ref()
            .filter(|_| matches!(known[at], Known::Missing { reachable: true }))
    };
    let taken = crate::join::all(led.iter().map(|(at, _)| {
        let key = lockable(*at);
        async move {
            match key {
                Some(key) => Some(lock::try_once(cache, site, key).await),
                None => None,
            }
        }
    }))
    .await;
    let (mut mine, mut elsewhere) = (Vec::new(), Vec::new());
    for ((at, lead), taken) in led.into_iter().zip(taken) {
        match (taken, lockable(at)) {
            (Some(None), Some(key)) => elsewhere.push((at, key.clone(), lead)),
            (Some(lease), _) => mine.push((at, lead, lease)),
            (None, _) => mine.push((at, lead, None)),
        }
    }
    (mine, elsewhere)
}

/// What waiting for a value another process computes gave.
pub(super) enum Awaited<V> {
    /// It stored it.
    Value(Option<V>),
    /// This call computes it after all (the wait was too long, the store failed, or the other
    /// process let the lock go without storing a value: then with the lock, taken).
    Compute(Option<Lead>, Option<Lease>),
}

/// Waits for the values of the ids other processes hold the locks of, reading them all at
/// once every poll; past the site's `wait`, or on a store failure, this call computes them.
pub(super) async fn await_values<S, V>(
    cache: &CurrentCache,
    site: &'static CacheSite,
    codec: S::Codec,
    mut waiting: Vec<LockedElsewhere>,
) -> Vec<(usize, Awaited<V>)>
where
    S: Shape<Output = Option<V>>,
{
    let store = cache.store();
    let deadline = Instant::now() + site.wait;
    let mut awaited = Vec::with_capacity(waiting.len());
    while !waiting.is_empty() {
        crate::timer::sleep(lock::LOCK_POLL).await;
        let names: Vec<&str> = waiting.iter().map(|(_, key, _)| key.as_str()).collect();
        let reads = store.get_many(&names, false).await;
        let mut still = Vec::new();
        for ((at, key, lead), (read, _)) in waiting.into_iter().zip(reads) {
            match read {
                Read::Value(bytes) => match decode::<S>(codec, &bytes, key.as_str()) {
                    Some(value) => {
                        if let Some(lead) = lead {
                            lead.land(Landing::Value(bytes.as_slice().into(), true));
                        }
                        awaited.push((at, Awaited::Value(value)));
                    }
                    None => still.push((at, key, lead)),
                },
                Read::Miss => still.push((at, key, lead)),
                Read::Unreachable => awaited.push((at, Awaited::Compute(lead, None))),
            }
        }
        if Instant::now() >= deadline {
            tracing::debug!(
                prefix = site.prefix,
                ids = still.len(),
                "waited too long for another process's values: computing them"
            );
            awaited.extend(
                still
                    .into_iter()
                    .map(|(at, _, lead)| (at, Awaited::Compute(lead, None))),
            );
            break;
        }
        // A holder that failed lets its locks go: take them, and compute.
        let retaken = crate::join::all(
            still
                .iter()
                .map(|(_, key, _)| lock::try_once(cache, site, key)),
        )
        .await;
        waiting = Vec::new();
        for ((at, key, lead), lease) in still.into_iter().zip(retaken) {
            match lease {
                Some(lease) => awaited.push((at, Awaited::Compute(lead, Some(lease)))),
                None => waiting.push((at, key, lead)),
            }
        }
    }
    awaited
}
