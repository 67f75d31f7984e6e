//! Reading a call's entry: the L1's copy, else the store's (copied into the L1), and during a
//! rolling deploy the call's second entry when the first holds another build's value.

use std::time::{Duration, Instant};

use bytes::Bytes;

use super::Aside;
use crate::http;
use crate::key::Key;
use crate::outcome::CacheOutcome;
use crate::shape::{decode, decode_stored, entry_ttl, Decoded, Shape};
use crate::store::{Health, Read};
use crate::tags;

/// What reading the key gave.
pub(super) enum Looked<O> {
    /// A hit: the value, where it came from (`Hit`: the store, `HitL1`: the L1), and, when it
    /// is due for a refresh, the entry's life in full.
    Hit(O, CacheOutcome, Option<Duration>),
    /// No usable value; `reachable`: the store answered (so it may be written, locked...).
    Miss { reachable: bool },
    /// The entry holds another build's value (JSON of another shape, stored with a TTL) and
    /// the call's second entry, `<key>:alt`, nothing usable: computed, and stored there.
    MissAlternate,
    /// A hit on the call's second entry (see [`Aside::look_alternate`]), and, when it is due
    /// for a refresh, its life in full.
    HitAlternate(O, Option<Duration>),
}

impl Aside {
    /// The L1's copy of the call's entry, decoded, and, when it is due for a refresh, its life in
    /// full; `None`
    /// when there is none to serve. Before the key's text is built: a hit needs none.
    pub(super) fn look_l1<S: Shape>(
        &self,
        codec: S::Codec,
        digest: u128,
        usable: bool,
        now: Instant,
    ) -> Option<(S::Output, Option<Duration>)> {
        let l1 = self.l1(usable, self.cache.store().health())?;
        let (json, remaining) = l1.get_at(self.site.entry_id(digest), now)?;
        let output = decode::<S>(codec, &json, self.site.prefix)?;
        if !self.span.is_disabled() {
            self.span.record(
                "key",
                self.site.key(self.cache.namespace(), digest).as_str(),
            );
        }
        let ttl = entry_ttl::<S>(&codec, &output, self.site.ttl);
        if http::wanted() {
            self.observed(CacheOutcome::HitL1, json, Some(remaining), ttl);
        }
        let refresh = self.site.refresh_due(Some(remaining), ttl).then_some(ttl);
        Some((output, refresh))
    }

    /// The L1, if this call may use it: its key is usable, the site allows it, it is no
    /// refresh, and the store is up (its changes reported): a hung or lost Redis may have
    /// changed what the copies say.
    fn l1(&self, usable: bool, health: Health) -> Option<&crate::l1::L1> {
        let allowed = usable && self.site.l1 && !self.refresh && health == Health::Up;
        self.cache.l1().filter(|_| allowed)
    }

    /// Reads the key from the store (with its remaining life when `refresh_ahead`, the HTTP
    /// layer or the L1 need it), copying what it read into the L1.
    ///
    /// Also the tags' tokens it saw, for a tagged key (see [`tags::read_seeing`]).
    pub(super) async fn look<S: Shape>(
        &self,
        codec: S::Codec,
        key: &Key,
    ) -> (Looked<S::Output>, Option<Vec<u64>>) {
        let store = self.cache.store();
        let observed = http::wanted();
        let health = store.health();
        let l1 = self.l1(true, health);
        // Taken before the read: a change of the key heard meanwhile keeps it out of the L1.
        let stamp = l1.and_then(|l1| l1.stamp());
        let (read, remaining, seen) = match health {
            Health::Down => (Read::Unreachable, None, None),
            // `<fn>_refresh`: whatever is stored is replaced.
            Health::Up | Health::Connecting if self.refresh => (Read::Miss, None, None),
            Health::Up | Health::Connecting => {
                let with_ttl = self.site.refresh_ahead.is_some() || observed || stamp.is_some();
                tags::read_seeing(store, key, key.as_str(), with_ttl).await
            }
        };
        // `reachable`: the store answered. When it did not (down, slow), nothing more is asked
        // of it for this call: no write, no lock, no stale read.
        let looked = match read {
            Read::Value(bytes) => match decode_stored::<S>(codec, &bytes, key.as_str()) {
                Decoded::Output(output) => {
                    // Shared by the L1's copy and the HTTP layer's body, not copied.
                    let bytes = Bytes::from(bytes);
                    if let (Some(l1), Some(stamp), Some(remaining)) = (l1, stamp, remaining) {
                        let id = self.site.entry_id(key.digest());
                        l1.fill(
                            id,
                            &bytes,
                            remaining,
                            self.site.l1_ttl,
                            self.site,
                            key.tags(),
                            stamp,
                        );
                    }
                    let ttl = entry_ttl::<S>(&codec, &output, self.site.ttl);
                    if observed {
                        self.observed(CacheOutcome::Hit, bytes, remaining, ttl);
                    }
                    let refresh = self.site.refresh_due(remaining, ttl).then_some(ttl);
                    Looked::Hit(output, CacheOutcome::Hit, refresh)
                }
                // Another build's value (a rolling deploy): left in place, this build's kept
                // beside it.
                Decoded::OtherShape if key.tags().is_none() && !self.refresh => {
                    Box::pin(self.look_alternate::<S>(codec, key)).await
                }
                // Corrupt: a miss, and overwritten.
                Decoded::OtherShape | Decoded::Corrupt => Looked::Miss { reachable: true },
            },
            Read::Miss => Looked::Miss { reachable: true },
            Read::Unreachable => Looked::Miss { reachable: false },
        };
        (looked, seen)
    }

    /// The call's entry holds JSON its type cannot read: most likely the value of another
    /// build of the app, whose type changed shape (a field added or renamed), during a rolling
    /// deploy. Overwriting it would make that build miss and overwrite back, each build
    /// computing every call while both run. So the entry is left to the build that reads it,
    /// and this one reads (and on a miss stores) its value under its second entry,
    /// `<key>:alt`: both builds hit, for one more read on this one's side while the deploy
    /// lasts (or until the entry expires, and the next miss stores it in this build's shape).
    /// An entry without a TTL was not stored by a cache: it is overwritten, as a corrupt one.
    /// Not for tagged functions (their entries are overwritten), nor copied into the L1.
    async fn look_alternate<S: Shape>(&self, codec: S::Codec, key: &Key) -> Looked<S::Output> {
        let alternate = key.alternate();
        let store = self.cache.store();
        let keys = [key.as_str(), alternate.as_str()];
        let mut reads = store.get_many(&keys, true).await.into_iter();
        let (Some(entry), Some(second)) = (reads.next(), reads.next()) else {
            return Looked::Miss { reachable: false };
        };
        match (entry, second) {
            // Gone meanwhile: stored in this build's shape.
            ((Read::Miss, _), _) => Looked::Miss { reachable: true },
            ((Read::Unreachable, _), _) | (_, (Read::Unreachable, _)) => {
                Looked::Miss { reachable: false }
            }
            // No TTL: not a cache's entry.
            ((Read::Value(_), None), _) => Looked::Miss { reachable: true },
            ((Read::Value(_), Some(_)), (Read::Value(bytes), remaining)) => {
                match decode::<S>(codec, &bytes, alternate.as_str()) {
                    Some(output) => {
                        let ttl = entry_ttl::<S>(&codec, &output, self.site.ttl);
                        if http::wanted() {
                            self.observed(CacheOutcome::Hit, bytes.into(), remaining, ttl);
                        }
                        let refresh = self.site.refresh_due(remaining, ttl).then_some(ttl);
                        Looked::HitAlternate(output, refresh)
                    }
                    None => Looked::MissAlternate,
                }
            }
            ((Read::Value(_), Some(_)), (Read::Miss, _)) => Looked::MissAlternate,
        }
    }
}
