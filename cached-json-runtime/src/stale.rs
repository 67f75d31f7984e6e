//! The `stale` option: the last good value, kept in `<key>:stale` past the entry's TTL, answers
//! when the function fails: returns `Err`, panics, or outlives the soft timeout (`timeout_ms`).

use std::time::Duration;

use crate::key::Key;
use crate::logging::LogLimiter;
use crate::shape::{decode, Shape};
use crate::site::CacheSite;
use crate::store::{Read, Store};
use crate::unwind::{CatchUnwind, Panic};

static STALE_SERVED: LogLimiter = LogLimiter::new(Duration::from_secs(10));

/// What running the function gave.
pub(crate) enum Ran<O> {
    /// The function's own output.
    Fresh(O),
    /// The function failed; the stale value (as stored, and decoded) answers instead.
    Stale(Vec<u8>, O),
    /// The function panicked, and no stale value answers: the caller resumes the unwinding
    /// (after telling the callers that waited).
    Panicked(Panic),
}

/// Runs `function`, catching a panic. With a stale copy to fall back on (`fallback`), a
/// failure answers it: an `Err`, a panic, or `soft_timeout` (the function is then cancelled).
pub(crate) async fn run<S: Shape, F: std::future::Future<Output = S::Output>>(
    site: &'static CacheSite,
    codec: S::Codec,
    fallback: Option<(&dyn Store, &Key)>,
    soft_timeout: Option<Duration>,
    function: F,
) -> Ran<S::Output> {
    let mut guarded = CatchUnwind::new(site.metrics.timed(site.prefix, function));
    let Some((store, key)) = fallback else {
        return match guarded.await {
            Ok(output) => Ran::Fresh(output),
            Err(panic) => Ran::Panicked(panic),
        };
    };
    let result = match soft_timeout {
        Some(limit) => match crate::timer::timeout(limit, &mut guarded).await {
            Ok(result) => result,
            Err(_) => match read::<S>(store, codec, key, site, "timed out").await {
                Some((bytes, output)) => return Ran::Stale(bytes, output),
                // Nothing to fall back on: the function's answer is the only one.
                None => guarded.await,
            },
        },
        None => guarded.await,
    };
    match result {
        Ok(output) if S::is_failure(&output) => {
            match read::<S>(store, codec, key, site, "returned an error").await {
                Some((bytes, stale)) => Ran::Stale(bytes, stale),
                None => Ran::Fresh(output),
            }
        }
        Ok(output) => Ran::Fresh(output),
        Err(panic) => match read::<S>(store, codec, key, site, "panicked").await {
            Some((bytes, stale)) => Ran::Stale(bytes, stale),
            None => Ran::Panicked(panic),
        },
    }
}

/// The stale copy of `key`, if there is a readable one; `why` the function's answer is not
/// used, for the log.
pub(crate) async fn read<S: Shape>(
    store: &dyn Store,
    codec: S::Codec,
    key: &Key,
    site: &CacheSite,
    why: &'static str,
) -> Option<(Vec<u8>, S::Output)> {
    let stale_key = key.stale();
    let Read::Value(bytes) = crate::tags::read(store, key, &stale_key, false).await.0 else {
        return None;
    };
    let output = decode::<S>(codec, &bytes, &stale_key)?;
    if let Some(held_back) = STALE_SERVED.allow() {
        tracing::warn!(
            prefix = site.prefix,
            why,
            held_back,
            "function failed: serving the last good value"
        );
    }
    Some((bytes, output))
}

/// Writes the stale copy of a fresh value: it lives `stale` past the entry's TTL as written
/// (`ttl`, jitter included), so it always outlives the entry.
pub(crate) async fn write(
    store: &dyn Store,
    key: &Key,
    site: &CacheSite,
    bytes: &[u8],
    ttl: Duration,
) {
    if let Some(stale) = site.stale {
        let _ = store.set(&key.stale(), bytes, ttl + stale).await;
    }
}
