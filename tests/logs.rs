//! What an outage looks like in the logs: a few lines, never one per request, and never the
//! password. Alone in its test binary because it installs the global log subscriber.

use std::time::{Duration, Instant};

use cached_json::{cached_json, observe, Cache, CacheOutcome};
use cached_json_test_support::{CapturedLogs, RedisServer};
use redis::Commands;

#[cached_json("logged", ttl = 60)]
async fn triple(n: u64) -> u64 {
    n * 3
}

// Two functions sharing a prefix by mistake.
#[cached_json("shared-prefix", ttl = 60)]
async fn price_of(id: u32) -> u32 {
    id * 100
}

#[cached_json("shared-prefix", ttl = 60)]
async fn stock_of(id: u32) -> u32 {
    id
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_outage_logs_a_few_lines_and_never_the_password() {
    let captured = CapturedLogs::default();
    let writer = captured.clone();
    tracing_subscriber::fmt()
        .with_writer(move || writer.clone())
        .with_ansi(false)
        .with_max_level(tracing_subscriber::filter::LevelFilter::INFO)
        .init();

    let password = "hunter2-very-secret";
    let mut server = RedisServer::start_with(&["--requirepass", password]);
    let cache = Cache::builder()
        .redis_url(format!("redis://:{password}@127.0.0.1:{}/0", server.port()))
        .build()
        .unwrap();
    let wrong = Cache::builder()
        .redis_url(format!(
            "redis://:{password}-wrong@127.0.0.1:{}/0",
            server.port()
        ))
        .build()
        .unwrap();

    assert_eq!(
        cache.scope(observe(triple(1))).await.1,
        Some(CacheOutcome::Miss)
    );
    // 200 corrupt values read: one log line about it, not 200.
    let key = {
        let mut conn = server.connection();
        let _: () = redis::cmd("AUTH").arg(password).query(&mut conn).unwrap();
        let keys: Vec<String> = conn.keys("logged:*").unwrap();
        for _ in 0..200 {
            let _: () = conn.set(&keys[0], "{corrupt").unwrap();
            assert_eq!(cache.scope(triple(1)).await, 3);
        }
        keys[0].clone()
    };
    assert!(key.starts_with("logged:"));

    // An outage of about a second with calls all along, through both caches.
    server.kill();
    let start = Instant::now();
    let mut calls = 0u64;
    while start.elapsed() < Duration::from_secs(1) {
        assert_eq!(cache.scope(triple(calls)).await, calls * 3);
        assert_eq!(wrong.scope(triple(calls)).await, calls * 3);
        calls += 2;
    }
    server.restart();
    let deadline = Instant::now() + Duration::from_secs(5);
    while cache.scope(observe(triple(1))).await.1 == Some(CacheOutcome::Bypass) {
        assert!(Instant::now() < deadline, "cache did not come back");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }

    let outage_logs = captured.text();

    // Credentials in every shape a URL can carry them, against a closed port: the calls run,
    // the failures are logged and returned, and no secret is in any of it.
    let closed = {
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        listener.local_addr().unwrap().port()
    };
    let secret_urls = [
        format!("redis://app:{password}/with/slashes@and#hash@127.0.0.1:{closed}/0"),
        format!("redis+unix:///tmp/cached-json-no-such.sock?db=0&pass={password}"),
        format!("rediss://default:{password}@127.0.0.1:{closed}/0?password={password}"),
        format!("redis://{password}@127.0.0.1:{closed}/0"),
        format!("redis://:{password}@127.0.0.1:not-a-port/0"),
    ];
    let mut errors = Vec::new();
    for url in &secret_urls {
        match Cache::builder().redis_url(url.as_str()).build() {
            Ok(cache) => {
                for n in 0..20 {
                    assert_eq!(cache.scope(triple(n)).await, n * 3);
                }
                if let Err(err) = cache.delete("any-key").await {
                    errors.push(err.to_string());
                }
            }
            Err(err) => errors.push(err.to_string()),
        }
    }
    for error in &errors {
        assert!(!error.contains(password), "a secret in an error: {error}");
    }

    // An L1 whose user may not track keys (an ACL without CLIENT TRACKING): the calls still
    // cache in Redis, nothing comes from the L1, and one line says why, without the password.
    let _: () = redis::cmd("ACL")
        .arg("SETUSER")
        .arg("no-tracking")
        .arg(&[
            "on",
            &format!(">{password}"),
            "~*",
            "&*",
            "+@all",
            "-client|tracking",
        ])
        .query(&mut {
            let mut conn = server.connection();
            let _: () = redis::cmd("AUTH").arg(password).query(&mut conn).unwrap();
            conn
        })
        .unwrap();
    let untracked = Cache::builder()
        .redis_url(format!(
            "redis://no-tracking:{password}@127.0.0.1:{}/0",
            server.port()
        ))
        .l1(1 << 20)
        .build()
        .unwrap();
    assert!(untracked.has_l1());
    let mut seen = Vec::new();
    for _ in 0..30 {
        seen.push(untracked.scope(observe(triple(77))).await.1);
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    assert!(!seen.contains(&Some(CacheOutcome::HitL1)), "{seen:?}");
    assert!(seen.contains(&Some(CacheOutcome::Hit)), "{seen:?}");

    // A prefix used by two functions is reported once, naming both; a function's refresh
    // twin shares its prefix by design, and is not reported.
    let memory = Cache::builder().memory(1 << 20).build().unwrap();
    memory.scope(price_of(0)).await;
    memory.scope(price_of_refresh(0)).await;
    for id in 0..3 {
        memory.scope(price_of(id)).await;
        memory.scope(stock_of(id)).await;
    }

    let logs = captured.text();
    println!("{calls} calls during the outage; the logs:\n{logs}");
    let shared: Vec<&str> = logs
        .lines()
        .filter(|l| l.contains("same cache prefix"))
        .collect();
    assert_eq!(shared.len(), 1, "{shared:?}");
    assert!(shared[0].contains("logs::price_of") && shared[0].contains("logs::stock_of"));
    assert!(!logs.contains(password), "the password reached the logs");
    assert!(
        logs.contains("redis://:***@127.0.0.1"),
        "logs name the (redacted) server"
    );
    let warnings = outage_logs.lines().filter(|l| l.contains("WARN")).count();
    assert!(calls > 1000, "too few calls to say anything: {calls}");
    assert!(warnings <= 13, "{warnings} warning lines for {calls} calls");
    assert!(logs.contains("cache back in use"));
    let untracked: Vec<&str> = logs
        .lines()
        .filter(|l| l.contains("the L1 cannot track changed keys"))
        .collect();
    assert_eq!(untracked.len(), 1, "{untracked:?}");
    assert!(
        untracked[0].contains("NOPERM") || untracked[0].contains("permission"),
        "{}",
        untracked[0]
    );
    assert_eq!(
        logs.matches("does not deserialize").count(),
        1,
        "corrupt values must be logged once per interval"
    );
}
