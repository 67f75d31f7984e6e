//! Added latency per call while Redis is down and the breaker is open: a `#[cached_json]` call
//! against the same body called directly. The process-wide cache points at a killed server.
//!
//! Paired and interleaved like `hit_path` (the machine's speed drifts between measurements);
//! `cargo test --benches` runs it once (CI).

use std::hint::black_box;
use std::time::Instant;

use cached_json::{cached_json, Cache};
use cached_json_test_support::RedisServer;
use criterion::{criterion_group, criterion_main, Criterion};
use serde::{Deserialize, Serialize};

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
struct LocalInfo {
    name: String,
    state: String,
    population: u64,
}

fn lookup(location_name: &str) -> LocalInfo {
    LocalInfo {
        name: location_name.to_owned(),
        state: "PE".into(),
        population: 1_488_920,
    }
}

async fn no_cache(location_name: &str) -> Result<LocalInfo, String> {
    Ok(lookup(location_name))
}

#[cached_json("bench-down", ttl = 3600)]
async fn breaker_open(location_name: &str) -> Result<LocalInfo, String> {
    Ok(lookup(location_name))
}

fn redis_down(c: &mut Criterion) {
    let mut server = RedisServer::start();
    Cache::builder()
        .redis_url(server.url())
        .build()
        .unwrap()
        .install()
        .unwrap();
    server.kill();
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    runtime.block_on(breaker_open("Recife")).unwrap();
    assert!(
        Cache::global().store().health() != cached_json::store::Health::Up,
        "the breaker is open"
    );

    let quick = !std::env::args().any(|a| a == "--bench");
    let (rounds, batch) = if quick { (2, 100) } else { (31, 20_000) };
    let (mut plain, mut open, mut added) = (Vec::new(), Vec::new(), Vec::new());
    runtime.block_on(async {
        for _ in 0..rounds {
            let started = Instant::now();
            for _ in 0..batch {
                black_box(no_cache(black_box("Recife")).await.unwrap());
            }
            let a = started.elapsed().as_nanos() as f64 / batch as f64;
            let started = Instant::now();
            for _ in 0..batch {
                black_box(breaker_open(black_box("Recife")).await.unwrap());
            }
            let b = started.elapsed().as_nanos() as f64 / batch as f64;
            plain.push(a);
            open.push(b);
            added.push(b - a);
        }
    });
    let median = |mut v: Vec<f64>| {
        v.sort_by(f64::total_cmp);
        v[v.len() / 2]
    };
    println!("\nRedis down, breaker open ({rounds} rounds x {batch} calls, interleaved)");
    println!("| | median per call |");
    println!("|---|---|");
    println!("| no cache (the body alone) | {:.0} ns |", median(plain));
    println!("| #[cached_json], breaker open | {:.0} ns |", median(open));
    println!("| added by the cache | {:.0} ns |", median(added));

    let mut group = c.benchmark_group("redis-down");
    group.bench_function("no-cache", |b| {
        b.to_async(&runtime).iter(|| no_cache(black_box("Recife")))
    });
    group.bench_function("breaker-open", |b| {
        b.to_async(&runtime)
            .iter(|| breaker_open(black_box("Recife")))
    });
    group.finish();
}

criterion_group!(benches, redis_down);
criterion_main!(benches);
