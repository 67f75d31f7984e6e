//! TLS to a real `redis-server` with certificates made at test time: a private CA, mutual TLS,
//! and what a wrong CA or a wrong name does (one clear line in the log, and every call still
//! answers). Alone in its test binary: it installs the global log subscriber.

use std::sync::OnceLock;
use std::time::{Duration, Instant};

use cached_json::{cached_json, observe, Cache, CacheOutcome};
use cached_json_test_support::{CapturedLogs, RedisServer, TlsFiles};

fn logs() -> &'static CapturedLogs {
    static CAPTURED: OnceLock<CapturedLogs> = OnceLock::new();
    CAPTURED.get_or_init(|| {
        let captured = CapturedLogs::default();
        let writer = captured.clone();
        tracing_subscriber::fmt()
            .with_writer(move || writer.clone())
            .with_ansi(false)
            .with_max_level(tracing_subscriber::filter::LevelFilter::WARN)
            .init();
        captured
    })
}

#[cached_json("tls-double", ttl = 60)]
async fn double(n: u64) -> u64 {
    n * 2
}

/// Calls `double(n)` in `cache` until the cache is past connecting; returns the outcomes.
async fn outcomes(cache: &Cache, n: u64, calls: usize) -> Vec<CacheOutcome> {
    let mut seen = Vec::new();
    for _ in 0..calls {
        let (value, outcome) = cache.scope(observe(double(n))).await;
        assert_eq!(value, n * 2, "every call answers its own value");
        seen.push(outcome.unwrap());
    }
    seen
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_private_ca_serves_hits_over_tls() {
    let files = TlsFiles::generate(&["DNS:localhost", "IP:127.0.0.1"]);
    let server = RedisServer::start_tls(&files, false);
    for (n, host) in [(1, "localhost"), (2, "127.0.0.1")] {
        let cache = Cache::builder()
            .redis_url(server.tls_url(host))
            .tls_ca(files.path("ca.crt"))
            .build()
            .unwrap();
        assert_eq!(
            outcomes(&cache, n, 2).await,
            [CacheOutcome::Miss, CacheOutcome::Hit],
            "{host}"
        );
    }
    // The entries are in the server (read through its plain port).
    assert_eq!(server.keys("tls-double:*").len(), 2);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn mutual_tls_needs_the_client_certificate() {
    let files = TlsFiles::generate(&["DNS:localhost"]);
    let server = RedisServer::start_tls(&files, true);
    let with_certificate = Cache::builder()
        .redis_url(server.tls_url("localhost"))
        .tls_ca(files.path("ca.crt"))
        .tls_client_cert(files.path("client.crt"), files.path("client.key"))
        .build()
        .unwrap();
    assert_eq!(
        outcomes(&with_certificate, 10, 2).await,
        [CacheOutcome::Miss, CacheOutcome::Hit]
    );
    // Without one the server refuses the handshake: no cache, every call still answers.
    let without = Cache::builder()
        .redis_url(server.tls_url("localhost"))
        .tls_ca(files.path("ca.crt"))
        .build()
        .unwrap();
    let seen = outcomes(&without, 11, 20).await;
    assert!(seen.iter().all(|o| *o == CacheOutcome::Bypass), "{seen:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_wrong_ca_or_name_fails_open_with_one_clear_line() {
    let captured = logs();
    let files = TlsFiles::generate(&["DNS:localhost"]);
    let server = RedisServer::start_tls(&files, false);
    let elsewhere = TlsFiles::generate(&["DNS:elsewhere.example"]);
    let misnamed = RedisServer::start_tls(&elsewhere, false);
    let cases = [
        (
            "wrong CA",
            Cache::builder()
                .redis_url(server.tls_url("localhost"))
                .tls_ca(files.path("other-ca.crt"))
                .build()
                .unwrap(),
            "UnknownIssuer",
        ),
        (
            "wrong name",
            Cache::builder()
                .redis_url(misnamed.tls_url("localhost"))
                .tls_ca(elsewhere.path("ca.crt"))
                .build()
                .unwrap(),
            "certificate not valid for name \"localhost\"",
        ),
    ];
    for (case, cache, reason) in cases {
        let started = Instant::now();
        let seen = outcomes(&cache, 20, 50).await;
        let took = started.elapsed();
        assert!(
            seen.iter().all(|o| *o == CacheOutcome::Bypass),
            "{case}: {seen:?}"
        );
        println!("{case}: 50 calls in {took:?}");
        assert!(
            took < Duration::from_secs(2),
            "{case}: 50 calls took {took:?}"
        );
        let text = captured.text();
        let lines: Vec<&str> = text.lines().filter(|l| l.contains(reason)).collect();
        assert!(!lines.is_empty(), "{case}: no line says {reason}:\n{text}");
        println!("{case}: {}", lines[0]);
    }
}

#[test]
fn tls_settings_that_cannot_work_are_refused_when_the_cache_is_built() {
    let files = TlsFiles::generate(&["DNS:localhost"]);
    let missing = files.dir().join("no-such-ca.pem");
    let err = Cache::builder()
        .redis_url("rediss://localhost:6380/0")
        .tls_ca(&missing)
        .build()
        .unwrap_err()
        .to_string();
    assert!(
        err.contains("CACHED_JSON_TLS_CA") && err.contains("no-such-ca.pem"),
        "{err}"
    );
    let err = Cache::builder()
        .redis_url("redis://localhost:6379/0")
        .tls_ca(files.path("ca.crt"))
        .build()
        .unwrap_err()
        .to_string();
    assert!(err.contains("not a rediss:// URL"), "{err}");
    // A key that is not PEM.
    let err = Cache::builder()
        .redis_url("rediss://user:pa55word@localhost:6380/0")
        .tls_client_cert(files.path("client.crt"), files.path("ca.crt"))
        .build()
        .unwrap_err()
        .to_string();
    assert!(err.contains("TLS"), "{err}");
    assert!(!err.contains("pa55word"), "{err}");
}
