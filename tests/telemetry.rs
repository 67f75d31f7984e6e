//! Metrics and tracing: what a recorder and a subscriber see of real calls against a real
//! Redis. Alone in its test binary: it installs the process's global recorder and subscriber.

use std::time::{Duration, Instant};

use cached_json::{cached_json, observe, Cache, CacheOutcome};
use cached_json_test_support::{prometheus_series as series, CapturedLogs, RedisServer};
use metrics_exporter_prometheus::{PrometheusBuilder, PrometheusHandle};

fn calls(prefix: &str, outcome: &str) -> String {
    format!(r#"cached_json_calls_total{{prefix="{prefix}",outcome="{outcome}"}}"#)
}

/// The global recorder and subscriber, installed once for the tests that use them.
fn global() -> (&'static PrometheusHandle, &'static CapturedLogs) {
    static INSTALLED: std::sync::OnceLock<(PrometheusHandle, CapturedLogs)> =
        std::sync::OnceLock::new();
    let (handle, captured) = INSTALLED.get_or_init(|| {
        let handle = PrometheusBuilder::new().install_recorder().unwrap();
        let captured = CapturedLogs::default();
        let writer = captured.clone();
        tracing_subscriber::fmt()
            .with_writer(move || writer.clone())
            .with_ansi(false)
            .with_env_filter("info,cached_json_runtime=debug")
            .with_span_events(tracing_subscriber::fmt::format::FmtSpan::CLOSE)
            .init();
        (handle, captured)
    });
    (handle, captured)
}

const ORIGIN: Duration = Duration::from_millis(50);

#[cached_json("metered", ttl = 60)]
async fn metered(email: &str) -> u64 {
    tokio::time::sleep(ORIGIN).await;
    email.len() as u64
}

// `fail` is left out of the key: failing and succeeding calls share the entry.
#[cached_json("metered-stale", ttl = 1, stale = 60, skip(fail))]
async fn flaky(fail: bool) -> Result<u64, String> {
    if fail {
        Err("origin down".into())
    } else {
        Ok(7)
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_recorder_counts_each_outcome_once_and_the_time_hits_saved() {
    let (prometheus, _) = global();
    let server = RedisServer::start();
    let cache = server.cache();
    let before = prometheus.render();

    // 1 miss, 3 hits.
    let started = Instant::now();
    assert_eq!(
        cache.scope(observe(metered("ana@example.com"))).await.1,
        Some(CacheOutcome::Miss)
    );
    let miss_took = started.elapsed();
    for _ in 0..3 {
        assert_eq!(
            cache.scope(observe(metered("ana@example.com"))).await.1,
            Some(CacheOutcome::Hit)
        );
    }
    // 1 leader, 3 coalesced followers.
    let together: Vec<_> = (0..4)
        .map(|_| {
            let cache = cache.clone();
            tokio::spawn(async move { cache.scope(observe(metered("bia@example.com"))).await })
        })
        .collect();
    let mut outcomes = Vec::new();
    for task in together {
        outcomes.push(task.await.unwrap());
    }
    assert_eq!(
        outcomes
            .iter()
            .filter(|o| o.1 == Some(CacheOutcome::Coalesced))
            .count(),
        3
    );
    // A stale answer: stored, expired, then the function fails.
    assert_eq!(cache.scope(flaky(false)).await, Ok(7));
    tokio::time::sleep(Duration::from_millis(1100)).await;
    assert_eq!(
        cache.scope(observe(flaky(true))).await,
        (Ok(7), Some(CacheOutcome::Stale))
    );

    let after = prometheus.render();
    let moved = |name: &str| series(&after, name) - series(&before, name);
    assert_eq!(moved(&calls("metered", "miss")), 2.0, "{after}");
    assert_eq!(moved(&calls("metered", "hit")), 3.0);
    assert_eq!(moved(&calls("metered", "coalesced")), 3.0);
    assert_eq!(moved(&calls("metered", "bypass")), 0.0);
    assert_eq!(moved(&calls("metered-stale", "miss")), 1.0);
    assert_eq!(moved(&calls("metered-stale", "stale")), 1.0);
    assert_eq!(
        moved(r#"cached_json_origin_duration_seconds_count{prefix="metered"}"#),
        2.0
    );
    // 6 calls that did not run the function, each saving about one run of it.
    let saved = Duration::from_micros(moved(
        r#"cached_json_origin_saved_microseconds_total{prefix="metered"}"#,
    ) as u64);
    assert!(
        saved >= ORIGIN * 6 && saved <= miss_took * 6,
        "{saved:?} saved by 6 calls of a {ORIGIN:?} function"
    );
    // Every round trip is timed: the misses' writes among them.
    assert!(
        moved(r#"cached_json_store_command_duration_seconds_count{command="set"}"#) >= 3.0,
        "{after}"
    );
    assert_eq!(series(&after, "cached_json_store_up"), 1.0);
}

#[cached_json("traced", ttl = 60)]
async fn traced(email: &str) -> usize {
    tracing::info!("origin ran");
    email.len()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn each_call_has_a_span_with_its_prefix_key_and_outcome_never_its_arguments() {
    let (_, captured) = global();
    let server = RedisServer::start();
    let cache = server.cache();
    let email = "carla.private@example.com";
    cache.scope(traced(email)).await;
    cache.scope(traced(email)).await;
    let key = cache.scope(traced_key(email)).await.unwrap();

    let logs = captured.text();
    let spans: Vec<&str> = logs
        .lines()
        .filter(|line| line.contains("cached_json{prefix=\"traced\""))
        .collect();
    // The origin's own event is inside the call's span.
    assert!(
        spans.iter().any(|line| line.contains("origin ran")),
        "{logs}"
    );
    let closed: Vec<&&str> = spans.iter().filter(|l| l.contains("close")).collect();
    assert_eq!(closed.len(), 2, "{logs}");
    assert!(
        closed[0].contains(&format!("key=\"{}\"", key.as_str())),
        "{}",
        closed[0]
    );
    assert!(closed[0].contains("outcome=\"miss\""), "{}", closed[0]);
    assert!(closed[1].contains("outcome=\"hit\""), "{}", closed[1]);
    assert!(
        !logs.contains(email),
        "an argument value reached the logs:\n{logs}"
    );
}

#[cached_json("locally-metered", ttl = 60)]
async fn locally_metered(n: u64) -> u64 {
    n
}

#[test]
fn each_local_recorder_sees_its_own_calls_even_at_a_reused_address() {
    let cache = Cache::builder().memory(1 << 20).build().unwrap();
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    // Recorders made one after the other in one stack slot: the second may well sit where the
    // first did. Each must count its own calls, not hand them to the first's handles.
    for round in 0..3u64 {
        let recorder = PrometheusBuilder::new().build_recorder();
        let handle = recorder.handle();
        {
            let _local = metrics::set_default_local_recorder(&recorder);
            runtime.block_on(cache.scope(async {
                for _ in 0..5 {
                    locally_metered(round).await;
                }
            }));
        }
        let scrape = handle.render();
        assert_eq!(
            series(&scrape, &calls("locally-metered", "miss")),
            1.0,
            "round {round}: {scrape}"
        );
        assert_eq!(series(&scrape, &calls("locally-metered", "hit")), 4.0);
    }
}
