//! A full Redis (`maxmemory` reached with `noeviction`) against the cache: writes are refused
//! with `-OOM`, every call still answers its own value, entries already stored keep hitting
//! (the breaker stays closed: Redis answers), and each refusal is counted by kind
//! (`cached_json_store_errors_total{kind="oom"}`) and logged once per interval. Alone in its
//! test binary: it installs the process's global recorder and log subscriber.

use std::sync::atomic::{AtomicU32, Ordering};

use cached_json::store::Health;
use cached_json::{cached_json, observe, Cache, CacheOutcome};
use cached_json_test_support::{prometheus_series as series, CapturedLogs, RedisServer};
use metrics_exporter_prometheus::PrometheusBuilder;
use redis::Commands;

static SQUARES: AtomicU32 = AtomicU32::new(0);

#[cached_json("full-redis", ttl = 600)]
async fn square(n: u64) -> u64 {
    SQUARES.fetch_add(1, Ordering::SeqCst);
    n * n
}

#[tokio::test]
async fn a_full_redis_refuses_writes_and_every_call_still_answers() {
    let metrics = PrometheusBuilder::new().install_recorder().unwrap();
    let logs = CapturedLogs::default();
    let writer = logs.clone();
    tracing_subscriber::fmt()
        .with_writer(move || writer.clone())
        .with_ansi(false)
        .with_max_level(tracing_subscriber::filter::LevelFilter::WARN)
        .init();
    let server =
        RedisServer::start_with(&["--maxmemory", "2mb", "--maxmemory-policy", "noeviction"]);
    let cache = Cache::builder().redis_url(server.url()).build().unwrap();
    cache
        .scope(async {
            assert_eq!(observe(square(1)).await, (1, Some(CacheOutcome::Miss)));
            assert_eq!(observe(square(1)).await, (1, Some(CacheOutcome::Hit)));
            // Redis full: `maxmemory` below what it uses (another client's data, say), with
            // `noeviction`. Reads go on; every write is refused.
            let mut other = server.connection();
            let info: String = redis::cmd("INFO").arg("memory").query(&mut other).unwrap();
            let used: u64 = info
                .lines()
                .find_map(|line| line.strip_prefix("used_memory:"))
                .and_then(|bytes| bytes.trim().parse().ok())
                .expect("used_memory");
            let _: () = redis::cmd("CONFIG")
                .arg("SET")
                .arg("maxmemory")
                .arg(used / 2)
                .query(&mut other)
                .unwrap();
            let refused = other.set::<_, _, ()>("probe", "1").unwrap_err();
            assert_eq!(refused.code(), Some("OOM"), "{refused}");

            for _ in 0..3 {
                assert_eq!(
                    observe(square(2)).await,
                    (4, Some(CacheOutcome::Miss)),
                    "answered each time, never stored"
                );
            }
            assert_eq!(
                observe(square(1)).await,
                (1, Some(CacheOutcome::Hit)),
                "what was stored keeps hitting"
            );
            assert_eq!(
                cache.store().health(),
                Health::Up,
                "the breaker stays closed"
            );
        })
        .await;
    assert_eq!(SQUARES.load(Ordering::SeqCst), 1 + 3);
    let scrape = metrics.render();
    let oom = series(&scrape, r#"cached_json_store_errors_total{kind="oom"}"#);
    assert_eq!(oom, 3.0, "{scrape}");
    assert_eq!(
        series(&scrape, r#"cached_json_store_errors_total{kind="timeout"}"#),
        0.0
    );
    // Three refusals within the interval (10 s): one warning, naming the refusal.
    let text = logs.text();
    let refused: Vec<&str> = text
        .lines()
        .filter(|line| line.contains("redis refused a cache command"))
        .collect();
    assert_eq!(refused.len(), 1, "{text}");
    assert!(refused[0].contains("OOM"), "{text}");
}
