//! The documented way: an application that installs its own rustls crypto provider first thing
//! in `main` (here ring with one cipher suite, told apart from the default by that), then
//! builds its cache on `rediss://`: the cache caches over TLS with it and installs nothing over
//! it. Alone in its test binary: the provider is process-wide. (`tls_provider.rs`: installed
//! after the cache is built.)

mod support;

use cached_json::{cached_json, Cache, CacheOutcome};
use cached_json_test_support::{RedisServer, TlsFiles};
use rustls::CipherSuite;

#[cached_json("tls-provider-first", ttl = 60)]
async fn double(n: u64) -> u64 {
    n * 2
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_provider_installed_before_the_cache_is_used_and_kept() {
    support::one_suite_provider(CipherSuite::TLS13_AES_256_GCM_SHA384)
        .install_default()
        .expect("nothing installed a provider before main's first line");

    let files = TlsFiles::generate(&["DNS:localhost"]);
    let server = RedisServer::start_tls(&files, false);
    let cache = Cache::builder()
        .redis_url(server.tls_url("localhost"))
        .tls_ca(files.path("ca.crt"))
        .build()
        .unwrap();
    let mut seen = Vec::new();
    for _ in 0..2 {
        let (value, outcome) = support::outcome(&cache, double(8)).await;
        assert_eq!(value, 16);
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
}
