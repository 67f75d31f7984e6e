//! The cache entry behind a call's answer, for HTTP caching: [`observe_http`] runs a future and
//! reports the entry of the last cached call in it, with what an HTTP layer needs to let
//! clients and CDNs share the work: a strong `ETag` from the stored bytes, the `max-age` the
//! entry has left (never more than its TTL), its `Age` on hits, and `If-None-Match` matching.
//!
//! A request's own `Cache-Control` is no input here: a client must never be able to make the
//! server skip or refresh its cache (fastapi-cache2 #352, #424).

use std::cell::RefCell;
use std::future::Future;
use std::pin::Pin;
use std::task::{Context, Poll};
use std::time::Duration;

use bytes::Bytes;
use xxhash_rust::xxh3::xxh3_64;

use crate::outcome::CacheOutcome;

/// The entry behind a cached call's answer: the JSON the cache holds (or, when the cache could
/// not be used, the value's JSON made now), what the call did, and the entry's life, for HTTP
/// caching. What a `f_json` companion returns.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Entry {
    outcome: CacheOutcome,
    json: Bytes,
    ttl: Duration,
    remaining: Option<Duration>,
    /// Whether `json` is the cache's (else: the value encoded now, the cache not used).
    cached: bool,
}

impl Entry {
    /// An entry the cache holds: `json` as stored, with the entry's TTL and, when known, its
    /// remaining life.
    pub(crate) fn new(
        outcome: CacheOutcome,
        json: Bytes,
        ttl: Duration,
        remaining: Option<Duration>,
    ) -> Self {
        Entry {
            outcome,
            json,
            ttl,
            remaining,
            cached: true,
        }
    }

    /// The answer of a call that did not use the cache (`outcome`, `BYPASS` if none): `value`'s
    /// JSON, made now; empty if it does not serialize (an HTTP layer answers 500).
    pub(crate) fn uncached<T: serde::Serialize>(value: &T, outcome: Option<CacheOutcome>) -> Self {
        Entry {
            outcome: outcome.unwrap_or(CacheOutcome::Bypass),
            json: serde_json::to_vec(value)
                .map(Bytes::from)
                .unwrap_or_default(),
            ttl: Duration::ZERO,
            remaining: None,
            cached: false,
        }
    }

    /// An answer with no JSON (an HTTP answer is a 500): what `f_json` gives for an `Err` or a
    /// `None` it cannot return as such.
    pub(crate) fn unanswered(outcome: Option<CacheOutcome>) -> Self {
        Entry {
            outcome: outcome.unwrap_or(CacheOutcome::Bypass),
            json: Bytes::new(),
            ttl: Duration::ZERO,
            remaining: None,
            cached: false,
        }
    }

    /// What the call did (`X-Cache`).
    pub fn outcome(&self) -> CacheOutcome {
        self.outcome
    }

    /// The answer's JSON: as the cache holds it, byte for byte what [`Entry::etag`] is computed
    /// over (shared with the L1's copy, not copied); or, when the cache was not used, the
    /// value's JSON made now (empty if it did not serialize).
    pub fn json(&self) -> &Bytes {
        &self.json
    }

    /// [`Entry::json`], owned.
    pub fn into_json(self) -> Bytes {
        self.json
    }

    /// Whether the JSON is the cache's: `false` when the call did not use the cache (it was
    /// bypassed, or its value was not stored); HTTP answers then promise nothing
    /// (`Cache-Control: no-cache`, no `ETag`).
    pub fn is_cached(&self) -> bool {
        self.cached
    }

    /// A strong `ETag` of the stored bytes: `"` + 16 hex digits of their xxh3-64 + `"`.
    pub fn etag(&self) -> String {
        let etag = self.etag_bytes();
        String::from_utf8_lossy(&etag).into_owned()
    }

    /// [`Entry::etag`] without an allocation, for a header value.
    pub(crate) fn etag_bytes(&self) -> [u8; 18] {
        const HEX: &[u8; 16] = b"0123456789abcdef";
        let hash = xxh3_64(&self.json);
        let mut etag = [b'"'; 18];
        for (i, digit) in etag[1..17].iter_mut().enumerate() {
            *digit = HEX[((hash >> (60 - 4 * i)) & 0xf) as usize];
        }
        etag
    }

    /// How long a client may reuse the answer counted from when the entry was stored: the
    /// entry's TTL (`Cache-Control: max-age`). With [`Entry::age`] (`Age`, the time it has
    /// spent in the cache) a client or CDN reuses it for what is left of its life, as RFC 9111
    /// counts freshness (`max-age` minus `Age`). 0 for a stale answer (it is already past its
    /// life) and for one the cache did not hold.
    pub fn max_age(&self) -> Duration {
        match self.outcome {
            CacheOutcome::Stale => Duration::ZERO,
            _ if !self.cached => Duration::ZERO,
            _ => self.ttl,
        }
    }

    /// How long the answer has been in the cache, on a hit: its TTL less its remaining life
    /// (`Age`).
    pub fn age(&self) -> Option<Duration> {
        match (self.outcome, self.remaining) {
            (CacheOutcome::Hit | CacheOutcome::HitL1, Some(remaining)) => {
                Some(self.ttl.saturating_sub(remaining))
            }
            _ => None,
        }
    }

    /// Whether a request's `If-None-Match` header names this entry (or is `*`): the answer is
    /// then `304 Not Modified`, without a body. Weak comparison, as RFC 9110 asks of it.
    pub fn not_modified(&self, if_none_match: &str) -> bool {
        let etag = self.etag_bytes();
        etag_matches_bytes(&etag, if_none_match)
    }

    /// `Cache-Control: max-age=<seconds>` of the answer ([`Entry::max_age`]), on the stack.
    #[allow(dead_code)] // Used by the HTTP integrations behind features.
    pub(crate) fn max_age_header(&self) -> MaxAgeHeader {
        const PREFIX: &[u8] = b"max-age=";
        let mut digits = itoa::Buffer::new();
        let digits = digits.format(self.max_age().as_secs()).as_bytes();
        let mut bytes = [0u8; 28];
        bytes[..PREFIX.len()].copy_from_slice(PREFIX);
        bytes[PREFIX.len()..PREFIX.len() + digits.len()].copy_from_slice(digits);
        MaxAgeHeader {
            bytes,
            len: PREFIX.len() + digits.len(),
        }
    }
}

/// `max-age=<seconds>`: the prefix and at most u64::MAX's 20 digits.
pub(crate) struct MaxAgeHeader {
    bytes: [u8; 28],
    len: usize,
}

impl MaxAgeHeader {
    #[allow(dead_code)] // Used by the HTTP integrations behind features.
    pub(crate) fn as_bytes(&self) -> &[u8] {
        &self.bytes[..self.len]
    }
}

/// Whether `if_none_match` (a list, or `*`) names `etag`; weak comparison.
#[allow(dead_code)] // Used by the HTTP integrations behind features.
pub(crate) fn etag_matches(etag: &str, if_none_match: &str) -> bool {
    etag_matches_bytes(
        etag.strip_prefix("W/").unwrap_or(etag).as_bytes(),
        if_none_match,
    )
}

fn etag_matches_bytes(etag: &[u8], if_none_match: &str) -> bool {
    if_none_match.split(',').map(str::trim).any(|candidate| {
        candidate == "*" || candidate.strip_prefix("W/").unwrap_or(candidate).as_bytes() == etag
    })
}

tokio::task_local! {
    static ENTRY: RefCell<Observed>;
}

/// What an observed task's cached calls recorded.
#[derive(Default)]
struct Observed {
    /// How many cached calls are under way, each inside the one before (nested).
    depth: u32,
    /// The depth of the call that recorded `entry`.
    recorded_at: u32,
    /// The last entry recorded.
    entry: Option<Entry>,
}

/// A cached call under way in an observed task: when it ends (however: finished, cancelled,
/// panicking), an entry recorded by a call nested in it is dropped. The call's answer is its
/// own: a call that stored nothing (bypassed, a value over the size limit, a refused write, an
/// `Err`) has no entry, and must not be answered with the JSON of a call its body made.
pub(crate) struct CallScope(());

/// Marks the start of a cached call, if the task is observed.
pub(crate) fn enter() -> Option<CallScope> {
    ENTRY
        .try_with(|observed| observed.borrow_mut().depth += 1)
        .ok()
        .map(|()| CallScope(()))
}

impl Drop for CallScope {
    fn drop(&mut self) {
        let _ = ENTRY.try_with(|observed| {
            let mut observed = observed.borrow_mut();
            let depth = observed.depth;
            if observed.entry.is_some() && observed.recorded_at > depth {
                observed.entry = None;
            }
            observed.depth = depth.saturating_sub(1);
        });
    }
}

/// Runs `future` and maps its output with the entry of the last cached call that finished
/// inside it (for nested calls, the outermost: a call nested in one that has no entry of its
/// own is not reported; `None` if none did or it has no entry) and what the cache did
/// ([`crate::observe`]; an observer around this one sees that outcome too). What `f_json`
/// companions are made of.
pub fn observe_http<F: Future, T>(
    future: F,
    map: fn(F::Output, Option<Entry>, Option<CacheOutcome>) -> T,
) -> impl Future<Output = T> {
    let observed = crate::outcome::scoped(
        ENTRY.scope(RefCell::new(Observed::default()), WithEntry { future }),
    );
    Mapped { observed, map }
}

pin_project_lite::pin_project! {
    /// `future`, then the entry and the outcome its cached calls recorded. Written by hand for
    /// the reason `outcome.rs`'s `WithOutcome` is.
    struct WithEntry<F> {
        #[pin]
        future: F,
    }
}

impl<F: Future> Future for WithEntry<F> {
    type Output = (F::Output, Option<Entry>, Option<CacheOutcome>);

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        let output = std::task::ready!(self.project().future.poll(cx));
        let entry = ENTRY.with(|observed| observed.borrow_mut().entry.take());
        Poll::Ready((output, entry, crate::outcome::current()))
    }
}

pin_project_lite::pin_project! {
    /// Out of the observed scopes: the outcome reported to an observer around (as a cached
    /// call finishing there would have), then the output mapped.
    struct Mapped<O, F, T> {
        #[pin]
        observed: O,
        map: fn(F, Option<Entry>, Option<CacheOutcome>) -> T,
    }
}

impl<O, F, T> Future for Mapped<O, F, T>
where
    O: Future<Output = (F, Option<Entry>, Option<CacheOutcome>)>,
{
    type Output = T;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<T> {
        let this = self.project();
        let (output, entry, outcome) = std::task::ready!(this.observed.poll(cx));
        if let Some(outcome) = outcome {
            crate::outcome::record(outcome);
        }
        Poll::Ready((this.map)(output, entry, outcome))
    }
}

/// Whether the current task observes entries (so that a call reads its remaining life and
/// keeps its bytes).
pub(crate) fn wanted() -> bool {
    ENTRY.try_with(|_| ()).is_ok()
}

pub(crate) fn record(entry: Entry) {
    let _ = ENTRY.try_with(|observed| {
        let mut observed = observed.borrow_mut();
        observed.recorded_at = observed.depth;
        observed.entry = Some(entry);
    });
}

#[cfg(test)]
mod tests {
    #[test]
    fn observing_adds_little_to_the_observed_future() {
        // A future as big as a cached call's: the observers must not hold it twice over (an
        // `async fn` wrapper made 1.4 KB into 14 KB, copied by every box and spawn).
        let inner = async {
            let buffer = [0u8; 1024];
            std::future::ready(()).await;
            buffer.len()
        };
        let inner_size = std::mem::size_of_val(&inner);
        let both = observe_http(inner, |output, entry, outcome| (output, entry, outcome));
        // What the wrappers add is their own state (the outcome, the entry: about 140 bytes),
        // not a second copy of the future.
        assert!(
            std::mem::size_of_val(&both) <= inner_size + 160,
            "{} bytes around a {inner_size}-byte future",
            std::mem::size_of_val(&both)
        );
    }

    use super::*;

    fn entry(outcome: CacheOutcome, remaining: Option<u64>) -> Entry {
        Entry::new(
            outcome,
            Bytes::from_static(br#"{"a":1}"#),
            Duration::from_secs(60),
            remaining.map(Duration::from_secs),
        )
    }

    #[test]
    fn max_age_less_age_is_the_remaining_life() {
        // RFC 9111: fresh while `max-age` > `Age` (plus the time in transit and in the client's
        // cache). An entry of 60 s with 20 s left: reusable for 20 s more, not 20 - 40.
        let hit = entry(CacheOutcome::Hit, Some(20));
        assert_eq!(hit.max_age(), Duration::from_secs(60));
        assert_eq!(hit.age(), Some(Duration::from_secs(40)));
        assert_eq!(hit.max_age() - hit.age().unwrap(), Duration::from_secs(20));
        // Jitter can leave an entry more than its TTL: its age is then 0, its max-age the TTL.
        let jittered = entry(CacheOutcome::Hit, Some(90));
        assert_eq!(jittered.max_age(), Duration::from_secs(60));
        assert_eq!(jittered.age(), Some(Duration::ZERO));
        assert_eq!(
            entry(CacheOutcome::Miss, None).max_age(),
            Duration::from_secs(60)
        );
        assert_eq!(entry(CacheOutcome::Stale, None).max_age(), Duration::ZERO);
        assert_eq!(
            entry(CacheOutcome::Hit, Some(20)).age(),
            Some(Duration::from_secs(40))
        );
        assert_eq!(entry(CacheOutcome::Miss, Some(60)).age(), None);
    }

    #[test]
    fn max_age_is_the_seconds_in_decimal() {
        let header = |outcome| entry(outcome, Some(20)).max_age_header();
        assert_eq!(header(CacheOutcome::Stale).as_bytes(), b"max-age=0");
        assert_eq!(header(CacheOutcome::Hit).as_bytes(), b"max-age=60");
        assert!(etag_matches("W/\"a\"", "\"a\""));
        assert!(!etag_matches("\"a\"", "\"b\", \"c\""));
    }

    #[test]
    fn if_none_match_is_a_list_with_weak_comparison_and_a_wildcard() {
        let entry = entry(CacheOutcome::Hit, Some(20));
        let etag = entry.etag();
        assert_eq!(etag.len(), 18);
        assert_eq!(
            etag,
            format!("\"{:016x}\"", xxh3_64(br#"{"a":1}"#)),
            "quotes around 16 lower-case hex digits of the xxh3-64"
        );
        assert!(entry.not_modified(&etag));
        assert!(entry.not_modified(&format!("\"other\", W/{etag}")));
        assert!(entry.not_modified("*"));
        assert!(!entry.not_modified("\"other\""));
        assert!(!entry.not_modified(""));
    }
}
