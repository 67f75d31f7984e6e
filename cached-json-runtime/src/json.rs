//! The JSON companion: for a cached function `f`, the attribute also makes `f_json` (same
//! arguments), the same call as `f` (coalescing, lock, stale, refresh-ahead, the L1, the
//! breaker, metrics, every option) answering with the JSON the cache holds, as an [`Entry`], in
//! the shape of `f`'s output: `Result<Entry, E>`, `Option<Entry>`, or `Entry`. An HTTP handler
//! sends it on as it is (`Entry` is an actix-web `Responder` with the `actix` feature), without
//! encoding the value again.
//!
//! Never another function's bytes: the entry is the one this call read or wrote under its own
//! key (the observed call's own, [`crate::http`]), and what is read is checked to be this
//! function's JSON by decoding it as the function's type, as `f` does; only an L1 copy that
//! this function's own calls decoded is handed over without decoding again
//! ([`Call::json_from_l1`](crate::call::Call::json_from_l1)). So an `f_json` hit through Redis costs
//! what `f`'s does (the read and one decode) minus the encode an HTTP layer would make of the
//! value, and an L1 hit costs a lookup. When the cache was not used (bypassed, the value not
//! stored), the entry is the value's JSON made now ([`Entry::is_cached`] is `false`).
//!
//! The functions here map `f`'s output and what its call recorded into that shape; the
//! generated `f_json` passes one of them to [`crate::http`]'s observer.

use bytes::Bytes;
use serde::Serialize;

use crate::http::Entry;
use crate::outcome::CacheOutcome;

/// `f`'s output of any type: its entry.
pub fn value<T: Serialize>(
    output: T,
    entry: Option<Entry>,
    outcome: Option<CacheOutcome>,
) -> Entry {
    entry.unwrap_or_else(|| Entry::uncached(&output, outcome))
}

/// A `Result`: the `Ok` value's entry, or the error.
pub fn result<T: Serialize, E>(
    output: Result<T, E>,
    entry: Option<Entry>,
    outcome: Option<CacheOutcome>,
) -> Result<Entry, E> {
    output.map(|value| entry.unwrap_or_else(|| Entry::uncached(&value, outcome)))
}

/// An `Option`: the `Some` value's entry, or `None`.
pub fn option<T: Serialize>(
    output: Option<T>,
    entry: Option<Entry>,
    outcome: Option<CacheOutcome>,
) -> Option<Entry> {
    output.map(|value| entry.unwrap_or_else(|| Entry::uncached(&value, outcome)))
}

/// A `Result` the attribute read as a value (a type alias, without `returns = result`): the
/// `Ok` value's entry; an `Err` has none ([`unanswered`]).
pub fn result_as_value<T: Serialize, E>(
    output: Result<T, E>,
    entry: Option<Entry>,
    outcome: Option<CacheOutcome>,
) -> Entry {
    match output {
        Ok(value) => entry.unwrap_or_else(|| Entry::uncached(&value, outcome)),
        Err(_) => unanswered(outcome),
    }
}

/// An `Option` the attribute read as a value (a type alias, without `returns = option`): the
/// `Some` value's entry; `None` has none ([`unanswered`]).
pub fn option_as_value<T: Serialize>(
    output: Option<T>,
    entry: Option<Entry>,
    outcome: Option<CacheOutcome>,
) -> Entry {
    match output {
        Some(value) => entry.unwrap_or_else(|| Entry::uncached(&value, outcome)),
        None => unanswered(outcome),
    }
}

/// The answer of `f_json` for an `Err` or a `None` it cannot return as such (its function's
/// output type is an alias the attribute could not read; `returns = result` or `returns =
/// option` says it): an entry with no JSON, not from the cache (an HTTP answer is a 500). Logged
/// once every 10 s.
pub fn unanswered(outcome: Option<CacheOutcome>) -> Entry {
    static UNANSWERED: crate::logging::LogLimiter =
        crate::logging::LogLimiter::new(std::time::Duration::from_secs(10));
    if let Some(held_back) = UNANSWERED.allow() {
        tracing::warn!(
            held_back,
            "an f_json companion got an Err or a None behind a type alias: it answers an empty \
             entry; write `returns = result` or `returns = option` in #[cached_json] so that it \
             returns Result<Entry, E> or Option<Entry>"
        );
    }
    Entry::unanswered(outcome)
}

/// An L1 copy answering an `Option`-returning function: `None` when the stored JSON is `null`
/// (a `None` cached with `cache_none`).
pub fn from_l1_option(entry: Entry) -> Option<Entry> {
    (entry.json() != &Bytes::from_static(b"null")).then_some(entry)
}
