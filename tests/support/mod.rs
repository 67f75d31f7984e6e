//! Helpers of the test files that need them (`mod support;`): a call's outcome, waiting on the
//! L1, an application's own rustls provider.

#![allow(dead_code)]

use std::fmt::Debug;
use std::future::Future;
use std::time::{Duration, Instant};

use cached_json::{observe, Cache, CacheOutcome};

/// `call` in `cache`, and what the cache did for it (it must be a cached call).
pub async fn outcome<T>(cache: &Cache, call: impl Future<Output = T>) -> (T, CacheOutcome) {
    let (value, outcome) = cache.scope(observe(call)).await;
    (value, outcome.expect("a cached call ran"))
}

/// Calls `call` in `cache` until it answers from the L1 (the tracking is up and the copy made);
/// panics after `within`.
pub async fn until_l1<T, F, Fut>(cache: &Cache, within: Duration, call: F) -> T
where
    F: Fn() -> Fut,
    Fut: Future<Output = T>,
{
    let started = Instant::now();
    loop {
        let (value, outcome) = cache.scope(observe(call())).await;
        if outcome == Some(CacheOutcome::HitL1) {
            return value;
        }
        assert!(
            started.elapsed() < within,
            "never served from the L1 within {within:?} (last outcome {outcome:?})"
        );
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
}

/// Calls `call` in `cache` until it no longer answers from the L1, each answer `expected`;
/// returns how long that took, and panics after `within`.
pub async fn until_not_l1<T, F, Fut>(
    cache: &Cache,
    within: Duration,
    call: F,
    expected: T,
) -> Duration
where
    T: PartialEq + Debug,
    F: Fn() -> Fut,
    Fut: Future<Output = T>,
{
    let started = Instant::now();
    loop {
        let (value, outcome) = cache.scope(observe(call())).await;
        assert_eq!(value, expected);
        if outcome != Some(CacheOutcome::HitL1) {
            return started.elapsed();
        }
        assert!(
            started.elapsed() < within,
            "the L1 still serves {within:?} later"
        );
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
}

/// How long until `reader` stops answering `stale` to `call`, polling from memory; panics after
/// 2 s.
pub async fn until_changed<T, F, Fut>(reader: &Cache, call: F, stale: T) -> Duration
where
    T: PartialEq + Debug,
    F: Fn() -> Fut,
    Fut: Future<Output = T>,
{
    let started = Instant::now();
    loop {
        if reader.scope(call()).await != stale {
            return started.elapsed();
        }
        assert!(
            started.elapsed() < Duration::from_secs(2),
            "the other instance still answers {stale:?} after 2 s"
        );
        tokio::task::yield_now().await;
    }
}

/// An application's own rustls crypto provider: ring with `suite` alone, told apart from the
/// default by its one cipher suite (`tls_provider*.rs`).
pub fn one_suite_provider(suite: rustls::CipherSuite) -> rustls::crypto::CryptoProvider {
    let mut provider = rustls::crypto::ring::default_provider();
    provider.cipher_suites.retain(|each| each.suite() == suite);
    provider
}

/// How many cipher suites the process default provider has.
pub fn default_provider_suites() -> usize {
    rustls::crypto::CryptoProvider::get_default()
        .expect("a provider is installed")
        .cipher_suites
        .len()
}
