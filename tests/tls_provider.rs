//! An application that installs its own rustls crypto provider (here ring with one cipher
//! suite, told apart from the default by that) after building its cache and before its first
//! cached call: building the cache installs none (the install succeeds), and the cache's TLS
//! connections use the application's (the process default afterwards is still it). Alone in
//! its test binary: the provider is process-wide, and no other test may connect first.

mod support;

use cached_json::{cached_json, Cache, CacheOutcome};
use cached_json_test_support::{RedisServer, TlsFiles};
use rustls::CipherSuite;

#[cached_json("tls-provider", ttl = 60)]
async fn triple(n: u64) -> u64 {
    n * 3
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_applications_own_provider_is_used_and_never_replaced() {
    let files = TlsFiles::generate(&["DNS:localhost"]);
    let server = RedisServer::start_tls(&files, false);
    let cache = Cache::builder()
        .redis_url(server.tls_url("localhost"))
        .tls_ca(files.path("ca.crt"))
        .build()
        .unwrap();

    support::one_suite_provider(CipherSuite::TLS13_AES_128_GCM_SHA256)
        .install_default()
        .expect("building a cache with a rediss:// URL installed no crypto provider");

    let mut seen = Vec::new();
    for _ in 0..2 {
        let (value, outcome) = support::outcome(&cache, triple(7)).await;
        assert_eq!(value, 21);
        seen.push(outcome);
    }
    assert_eq!(
        seen,
        [CacheOutcome::Miss, CacheOutcome::Hit],
        "cached over TLS"
    );
    assert_eq!(
        support::default_provider_suites(),
        1,
        "the process default is still the application's provider"
    );
    // The application may install it again as it likes: `Err`, never a panic.
    assert!(rustls::crypto::ring::default_provider()
        .install_default()
        .is_err());
}
