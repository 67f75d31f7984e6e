//! What is known of a batch's ids before any run: the L1's copies, then one read of the store
//! for all the others ([`Store::get_many`](crate::store::Store::get_many)).

use std::time::Instant;

use crate::cache::CurrentCache;
use crate::key::Key;
use crate::outcome::CacheOutcome;
use crate::shape::{decode, Shape};
use crate::site::CacheSite;
use crate::store::{Health, Read};

/// What is known of one id.
pub(super) enum Known<V> {
    /// Its answer (`None`: absent), and where it came from.
    Answered(Option<V>, CacheOutcome),
    /// To be read from the store.
    Unread,
    /// To be computed; `reachable`: the store answered its read (it may be written).
    Missing { reachable: bool },
}

/// Each id's state (by its key: `None` for an id computed uncached) at `generation` (`None`:
/// unknown, the store is left alone), `now`: answered by the L1 or the store, or missing (every
/// id, for a refresh).
pub(super) async fn known<S, V>(
    cache: &CurrentCache,
    site: &'static CacheSite,
    codec: S::Codec,
    keys: &[Option<Key>],
    generation: Option<u64>,
    now: Instant,
    refresh: bool,
) -> Vec<Known<V>>
where
    S: Shape<Output = Option<V>>,
{
    let store = cache.store();
    let health = store.health();
    let usable = generation.is_some() && health != Health::Down;
    let l1 = cache
        .l1()
        .filter(|_| usable && site.l1 && !refresh && health == Health::Up);
    let mut known: Vec<Known<V>> = keys
        .iter()
        .map(|key| {
            let Some(key) = key.as_ref().filter(|_| usable) else {
                return Known::Missing { reachable: false };
            };
            if refresh {
                return Known::Missing { reachable: true };
            }
            let copy = l1.and_then(|l1| l1.get_at(site.entry_id(key.digest()), now));
            match copy.and_then(|(json, _)| decode::<S>(codec, &json, site.prefix)) {
                Some(value) => Known::Answered(value, CacheOutcome::HitL1),
                None => Known::Unread,
            }
        })
        .collect();
    let unread: Vec<(usize, &Key)> = keys
        .iter()
        .enumerate()
        .filter(|(at, _)| matches!(known[*at], Known::Unread))
        .filter_map(|(at, key)| Some((at, key.as_ref()?)))
        .collect();
    if !unread.is_empty() {
        // Taken before the read: a change of a key heard meanwhile keeps it out of the L1.
        let stamp = l1.and_then(|l1| l1.stamp());
        let names: Vec<&str> = unread.iter().map(|(_, key)| key.as_str()).collect();
        let reads = store.get_many(&names, stamp.is_some()).await;
        for (&(at, key), (read, remaining)) in unread.iter().zip(reads) {
            known[at] = match read {
                Read::Value(bytes) => match decode::<S>(codec, &bytes, key.as_str()) {
                    Some(value) => {
                        if let (Some(l1), Some(stamp), Some(remaining)) = (l1, stamp, remaining) {
                            let id = site.entry_id(key.digest());
                            let json = bytes::Bytes::from(bytes);
                            l1.fill(id, &json, remaining, site.l1_ttl, site, None, stamp);
                        }
                        Known::Answered(value, CacheOutcome::Hit)
                    }
                    // Corrupt or of another type: a miss, and overwritten.
                    None => Known::Missing { reachable: true },
                },
                Read::Miss => Known::Missing { reachable: true },
                Read::Unreachable => Known::Missing { reachable: false },
            };
        }
    }
    known
}
