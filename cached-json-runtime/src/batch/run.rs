//! A run of a batch function's body for the ids one call computes: each value it returns
//! stored as a single call stores its own, the calls waiting for them answered; with `stale`, a
//! failed run answered by every id's last good value.

use std::collections::HashMap;
use std::future::Future;
use std::hash::BuildHasher;
use std::time::Duration;

use super::seen::Seen;
use super::{BatchId, Known};
use crate::background::Computation;
use crate::cache::CurrentCache;
use crate::flight::{Landing, Lead};
use crate::key::Key;
use crate::lock::{self, Lease};
use crate::logging::LogLimiter;
use crate::outcome::{record, CacheOutcome};
use crate::shape::{decode, Shape};
use crate::site::CacheSite;
use crate::store::Read;
use crate::unwind::CatchUnwind;

static STALE_SERVED: LogLimiter = LogLimiter::new(Duration::from_secs(10));

/// An id this call computes: where it is among the ids, its flight's lead (to answer the
/// calls of this process that wait for it), its lock's lease (with `lock`).
pub(super) type Computed = (usize, Option<Lead>, Option<Lease>);

/// What a run of a batch's function needs.
pub(super) struct Computing<'a, K, C> {
    pub(super) cache: &'a CurrentCache,
    pub(super) site: &'static CacheSite,
    pub(super) codec: C,
    pub(super) ids: &'a [K],
    pub(super) keys: &'a [Option<Key>],
}

impl<K: BatchId, C: Copy> Computing<'_, K, C> {
    /// Runs `body` with the ids at `which` (in the caller's order; none: nothing to run),
    /// stores each value it returned, answers the calls that waited for it, and records each
    /// id's answer in `known`. An `Err` lands nothing (the leads dropped: the calls that waited
    /// compute those ids themselves).
    pub(super) async fn run<S, V, E, H, F, Fut>(
        &self,
        body: &F,
        which: Vec<Computed>,
        known: &mut [Known<V>],
    ) -> Result<(), E>
    where
        S: Shape<Output = Option<V>, Codec = C>,
        H: BuildHasher + Default,
        F: Fn(Vec<K>) -> Fut,
        Fut: Future<Output = Result<HashMap<K, V, H>, E>>,
    {
        if which.is_empty() {
            return Ok(());
        }
        let site = self.site;
        let run_ids: Vec<K> = which.iter().map(|(at, ..)| self.ids[*at].clone()).collect();
        // With `lock`, the leases taken are extended while the body runs.
        let leases: Vec<&Lease> = which
            .iter()
            .filter_map(|(.., lease)| lease.as_ref())
            .collect();
        let run = lock::hold_all(&leases, site.metrics.timed(site.prefix, body(run_ids)));
        let ran = CatchUnwind::new(run).await;
        drop(leases);
        // `stale`: a failure (an `Err`, a panic) answers every id's last good value, when each
        // has one; else the failure is the answer.
        let ran = match ran {
            Ok(Ok(values)) => Ok(values),
            failed => match self.stale::<S, V>(&which, known).await {
                Some(stale) => {
                    for ((_, lead, _), (_, _, bytes)) in which.into_iter().zip(&stale) {
                        if let Some(lead) = lead {
                            lead.land(Landing::Stale(bytes.as_slice().into()));
                        }
                    }
                    for (at, value, _) in stale {
                        known[at] = Known::Answered(value, CacheOutcome::Stale);
                    }
                    return Ok(());
                }
                None => match failed {
                    Ok(result) => result,
                    Err(panic) => std::panic::resume_unwind(panic),
                },
            },
        };
        let mut values = match ran {
            Ok(values) => values,
            Err(err) => {
                // The call's answer: counted as the single calls of these ids would be.
                let mut seen = Seen::default();
                for (at, ..) in &which {
                    let outcome = match known[*at] {
                        Known::Missing { reachable: true } => CacheOutcome::Miss,
                        _ => CacheOutcome::Bypass,
                    };
                    site.metrics.call(site.prefix, outcome);
                    #[cfg(feature = "testing")]
                    self.cache.recorded(site.prefix, outcome);
                    seen.add(outcome);
                }
                record(seen.outcome());
                return Err(err);
            }
        };
        let stored = which.into_iter().map(|(at, lead, lease)| {
            let value = values.remove(&self.ids[at]);
            let reachable = matches!(known[at], Known::Missing { reachable: true });
            let key = self.keys[at].clone();
            let cache = self.cache;
            let codec = self.codec;
            async move {
                let outcome = match reachable {
                    true => CacheOutcome::Miss,
                    false => CacheOutcome::Bypass,
                };
                let value = match key {
                    Some(key) => {
                        Computation::<S>::new(cache, site, &key, codec)
                            .reachable(reachable)
                            .leading(lead, lease)
                            .store(value)
                            .await
                    }
                    None => value,
                };
                (at, Known::Answered(value, outcome))
            }
        });
        for (at, answered) in crate::join::all(stored).await {
            known[at] = answered;
        }
        Ok(())
    }

    /// With `stale`: the last good value of each id of `which` (as stored, and decoded), read
    /// at once; `None` unless every one has a readable copy (a batch answers for all its ids
    /// or fails).
    async fn stale<S, V>(
        &self,
        which: &[Computed],
        known: &[Known<V>],
    ) -> Option<Vec<(usize, Option<V>, Vec<u8>)>>
    where
        S: Shape<Output = Option<V>, Codec = C>,
    {
        let site = self.site;
        site.stale?;
        let keys: Vec<String> = which
            .iter()
            .map(|(at, ..)| match known[*at] {
                Known::Missing { reachable: true } => Some(self.keys[*at].as_ref()?.stale()),
                _ => None,
            })
            .collect::<Option<_>>()?;
        let names: Vec<&str> = keys.iter().map(String::as_str).collect();
        let reads = self.cache.store().get_many(&names, false).await;
        let mut stale = Vec::with_capacity(which.len());
        for ((at, ..), (read, _)) in which.iter().zip(reads) {
            let Read::Value(bytes) = read else {
                return None;
            };
            let value = decode::<S>(self.codec, &bytes, site.prefix)?;
            stale.push((*at, value, bytes));
        }
        if let Some(held_back) = STALE_SERVED.allow() {
            tracing::warn!(
                prefix = site.prefix,
                ids = stale.len(),
                held_back,
                "batch function failed: serving the ids' last good values"
            );
        }
        Some(stale)
    }
}
