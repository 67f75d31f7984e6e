//! What a cached call did (a hit from Redis or from the L1, a miss, a bypass, a stale answer,
//! a coalesced one), for the code around it.
//!
//! An HTTP layer wants to answer `X-Cache: HIT` from what the cache really did, not from a
//! guess. [`observe`] runs a future and reports the outcome of the cached calls inside it.

use std::cell::Cell;
use std::future::Future;
use std::pin::Pin;
use std::task::{Context, Poll};

/// What one cached call did.
///
/// ```
/// use cached_json_runtime::CacheOutcome;
///
/// let header = CacheOutcome::Hit.as_str();
/// assert_eq!(header, "HIT");
/// assert_eq!(CacheOutcome::Bypass.to_string(), "BYPASS");
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum CacheOutcome {
    /// The value came from the cache; the function did not run for this call.
    Hit,
    /// The value came from this process's L1 (see `CacheBuilder::l1`), without asking the
    /// store; the function did not run for this call.
    HitL1,
    /// The cache was asked and had nothing usable; the function ran and its value was stored
    /// (if it was cacheable).
    Miss,
    /// The cache could not be used (down, timed out, breaker open); the function ran and
    /// nothing was stored.
    Bypass,
    /// The function failed (`Err`, panic, or over its soft timeout) and the last good value,
    /// kept past its TTL by the `stale` option, was returned instead.
    Stale,
    /// A concurrent call of the same key ran the function, and its answer (value, `None`, or
    /// an error that can be copied) is this call's too: the function did not run for it.
    Coalesced,
}

impl CacheOutcome {
    /// `"HIT"`, `"HIT-L1"`, `"MISS"`, `"BYPASS"`, `"STALE"` or `"COALESCED"`: for an
    /// `X-Cache` header.
    pub const fn as_str(self) -> &'static str {
        match self {
            CacheOutcome::Hit => "HIT",
            CacheOutcome::HitL1 => "HIT-L1",
            CacheOutcome::Miss => "MISS",
            CacheOutcome::Bypass => "BYPASS",
            CacheOutcome::Stale => "STALE",
            CacheOutcome::Coalesced => "COALESCED",
        }
    }
}

impl std::fmt::Display for CacheOutcome {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

tokio::task_local! {
    static OUTCOME: Cell<Option<CacheOutcome>>;
}

/// Runs `future` and returns its output with the outcome of the last cached call that finished
/// inside it (for nested cached calls: the outermost one, which finishes last), or `None` if no
/// cached call ran.
///
/// Calls in tasks spawned from `future` are not seen: the outcome travels with the task.
///
/// ```
/// use cached_json_runtime::{observe, CacheOutcome};
///
/// # tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap().block_on(async {
/// let (value, outcome) = observe(async { 42 }).await;
/// assert_eq!((value, outcome), (42, None));
/// # });
/// ```
pub fn observe<F: Future>(future: F) -> impl Future<Output = (F::Output, Option<CacheOutcome>)> {
    OUTCOME.scope(Cell::new(None), WithOutcome { future })
}

pin_project_lite::pin_project! {
    /// `future`, then the outcome its cached calls recorded. Written by hand: an `async` wrapper
    /// would hold `future` twice (rustc does not overlap an argument with its awaitee), and
    /// each such layer tripled the size of a handler's future (1.4 KB became 14 KB), which
    /// every spawn and box then copies.
    struct WithOutcome<F> {
        #[pin]
        future: F,
    }
}

impl<F: Future> Future for WithOutcome<F> {
    type Output = (F::Output, Option<CacheOutcome>);

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        let output = std::task::ready!(self.project().future.poll(cx));
        Poll::Ready((output, current()))
    }
}

/// Runs `future` in a scope of its own for outcomes (for [`crate::http`]'s observer).
pub(crate) fn scoped<F: Future>(future: F) -> impl Future<Output = F::Output> {
    OUTCOME.scope(Cell::new(None), future)
}

/// The outcome recorded in the current scope.
pub(crate) fn current() -> Option<CacheOutcome> {
    OUTCOME.try_with(Cell::get).ok().flatten()
}

pub(crate) fn record(outcome: CacheOutcome) {
    let _ = OUTCOME.try_with(|cell| cell.set(Some(outcome)));
}

/// The outcomes of a cache's calls, by prefix: what a
/// [`TestCache`](crate::testing::TestCache) records (its cache tells it each call's).
#[cfg(feature = "testing")]
#[derive(Clone, Default)]
pub(crate) struct Recorder(
    std::sync::Arc<std::sync::Mutex<std::collections::HashMap<&'static str, Vec<CacheOutcome>>>>,
);

#[cfg(feature = "testing")]
impl Recorder {
    fn lock(
        &self,
    ) -> std::sync::MutexGuard<'_, std::collections::HashMap<&'static str, Vec<CacheOutcome>>> {
        self.0.lock().unwrap_or_else(|e| e.into_inner())
    }

    pub(crate) fn record(&self, prefix: &'static str, outcome: CacheOutcome) {
        self.lock().entry(prefix).or_default().push(outcome);
    }

    /// The outcomes of `prefix`'s calls so far, in order.
    pub(crate) fn outcomes(&self, prefix: &str) -> Vec<CacheOutcome> {
        self.lock().get(prefix).cloned().unwrap_or_default()
    }
}
