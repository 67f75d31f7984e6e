//! A batch's outcome as a whole, from its ids' (what `observe` and the call's span see).

use crate::outcome::CacheOutcome;

/// The outcomes of a batch's ids, for the batch's own.
#[derive(Default)]
pub(super) struct Seen {
    stale: bool,
    miss: bool,
    bypass: bool,
    coalesced: bool,
    hit: bool,
}

impl Seen {
    pub(super) fn add(&mut self, outcome: CacheOutcome) {
        match outcome {
            CacheOutcome::Miss => self.miss = true,
            CacheOutcome::Bypass => self.bypass = true,
            CacheOutcome::Stale => self.stale = true,
            CacheOutcome::Coalesced => self.coalesced = true,
            CacheOutcome::Hit => self.hit = true,
            CacheOutcome::HitL1 => {}
        }
    }

    /// `Stale` if a last good value answered for an id, else `Miss` if the function ran for an
    /// id the store answered for, else `Bypass` if it ran, else `Coalesced` if another call
    /// computed an id, else a hit (`HitL1` when the L1 answered every id).
    pub(super) fn outcome(&self) -> CacheOutcome {
        match self {
            Seen { stale: true, .. } => CacheOutcome::Stale,
            Seen { miss: true, .. } => CacheOutcome::Miss,
            Seen { bypass: true, .. } => CacheOutcome::Bypass,
            Seen {
                coalesced: true, ..
            } => CacheOutcome::Coalesced,
            Seen { hit: true, .. } => CacheOutcome::Hit,
            _ => CacheOutcome::HitL1,
        }
    }
}
