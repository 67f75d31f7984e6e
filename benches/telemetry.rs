//! What metrics and tracing add to the HIT path. A recorder and a subscriber are process-wide,
//! so each setup runs in a process of its own, all against one redis-server, side by side in
//! one run:
//!
//! - `off`: no metrics recorder, no tracing subscriber (what the library costs by itself);
//! - `metrics`: the Prometheus recorder (`metrics-exporter-prometheus`) installed;
//! - `subscriber`: a `tracing` fmt subscriber at INFO, the usual production setting: the
//!   call's debug span is off;
//! - `spans`: the same subscriber at DEBUG for the cache: every call opens its span;
//! - `metrics+spans`: both.
//!
//! Each round starts one process per setup, in rotating order; each process times a batch of
//! hits on Redis over 64 concurrent tasks (where a hit costs a few microseconds of CPU: one at a
//! time, a loopback round trip of 100+ µs of thread wake-ups would hide any difference), then
//! hits one at a time on the in-process store (about a microsecond each: where an added cost
//! shows most). Ratios are medians of per-round ratios to `off`.
//!
//! `cargo bench --bench telemetry` for figures; `cargo test --benches` runs one quick round.

use std::hint::black_box;
use std::process::Command;
use std::time::Instant;

use cached_json::{cached_json, Cache};
use cached_json_test_support::RedisServer;

mod common;

use common::{lookup, LocalInfo};

#[cached_json("bench-telemetry", ttl = 3600)]
async fn local_info(location_name: &str) -> Result<LocalInfo, String> {
    Ok(lookup(location_name))
}

const TASKS: u64 = 64;
const SETUPS: [&str; 5] = ["off", "metrics", "subscriber", "spans", "metrics+spans"];
const SETUP_VAR: &str = "CACHED_JSON_BENCH_SETUP";
const URL_VAR: &str = "CACHED_JSON_BENCH_URL";
const QUICK_VAR: &str = "CACHED_JSON_BENCH_QUICK";

fn main() {
    match std::env::var(SETUP_VAR) {
        Ok(setup) => child(&setup),
        Err(_) => parent(),
    }
}

fn parent() {
    let quick = !std::env::args().any(|a| a == "--bench");
    let rounds = if quick { 1 } else { 15 };
    let server = RedisServer::start();
    let exe = std::env::current_exe().expect("the bench's own path");
    // Per setup: (redis ns per call, memory ns per call), one per round.
    let mut figures: Vec<Vec<(f64, f64)>> = vec![Vec::new(); SETUPS.len()];
    for round in 0..rounds {
        for offset in 0..SETUPS.len() {
            let i = (round + offset) % SETUPS.len();
            let output = Command::new(&exe)
                .env(SETUP_VAR, SETUPS[i])
                .env(URL_VAR, server.url())
                .env(QUICK_VAR, if quick { "1" } else { "0" })
                .output()
                .expect("run a bench process");
            let stdout = String::from_utf8_lossy(&output.stdout);
            assert!(
                output.status.success(),
                "setup {} failed: {stdout}{}",
                SETUPS[i],
                String::from_utf8_lossy(&output.stderr)
            );
            let numbers: Vec<f64> = stdout
                .split_whitespace()
                .map(|n| n.parse().expect("ns per call"))
                .collect();
            figures[i].push((numbers[0], numbers[1]));
        }
    }
    let median = |mut v: Vec<f64>| {
        v.sort_by(f64::total_cmp);
        v[v.len() / 2]
    };
    println!("\nHIT path by telemetry setup ({rounds} rounds, one process per setup and round)");
    println!("| setup | Redis, 64 tasks: per call | ratio to off | in-process store, one at a time: per call | ratio to off |");
    println!("|---|---|---|---|---|");
    for (i, setup) in SETUPS.iter().enumerate() {
        let ratio = |pick: fn(&(f64, f64)) -> f64| {
            median(
                figures[i]
                    .iter()
                    .zip(&figures[0])
                    .map(|(a, b)| pick(a) / pick(b))
                    .collect(),
            )
        };
        println!(
            "| {setup} | {:.2} µs | {:.3}x | {:.0} ns | {:.3}x |",
            median(figures[i].iter().map(|f| f.0).collect()) / 1000.0,
            ratio(|f| f.0),
            median(figures[i].iter().map(|f| f.1).collect()),
            ratio(|f| f.1),
        );
    }
}

/// One setup's process: installs what the setup says, times hits on Redis and on the
/// in-process store, prints the two figures in nanoseconds per call.
fn child(setup: &str) {
    let quick = std::env::var(QUICK_VAR).as_deref() == Ok("1");
    let (redis_calls, memory_calls) = if quick {
        (640, 2_000)
    } else {
        (128_000, 400_000)
    };
    let prometheus = setup.contains("metrics").then(|| {
        metrics_exporter_prometheus::PrometheusBuilder::new()
            .install_recorder()
            .expect("the Prometheus recorder")
    });
    if setup == "subscriber" || setup.contains("spans") {
        let filter = if setup == "subscriber" {
            "info"
        } else {
            "info,cached_json_runtime=debug"
        };
        tracing_subscriber::fmt()
            .with_env_filter(tracing_subscriber::EnvFilter::new(filter))
            .with_writer(std::io::sink)
            .init();
    }
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap();
    let url = std::env::var(URL_VAR).expect("the parent's Redis");
    Cache::builder()
        .redis_url(url)
        .build()
        .unwrap()
        .install()
        .unwrap();
    let memory = Cache::builder().memory(1 << 20).build().unwrap();
    let (redis_ns, memory_ns) = runtime.block_on(async move {
        // Warm: the value stored, the connection made, the code paged in.
        for _ in 0..100 {
            call(None).await;
            call(Some(&memory)).await;
        }
        let started = Instant::now();
        let mut tasks = tokio::task::JoinSet::new();
        for _ in 0..TASKS {
            tasks.spawn(async move {
                for _ in 0..redis_calls / TASKS {
                    call(None).await;
                }
            });
        }
        while let Some(done) = tasks.join_next().await {
            done.expect("a bench task");
        }
        let redis_ns = started.elapsed().as_nanos() as f64 / redis_calls as f64;
        let started = Instant::now();
        for _ in 0..memory_calls {
            call(Some(&memory)).await;
        }
        let memory_ns = started.elapsed().as_nanos() as f64 / memory_calls as f64;
        (redis_ns, memory_ns)
    });
    if let Some(prometheus) = prometheus {
        // The recorder really saw the hits: this setup measured what it says.
        let rendered = prometheus.render();
        assert!(
            rendered.contains(r#"cached_json_calls_total{prefix="bench-telemetry",outcome="hit"}"#),
            "{rendered}"
        );
    }
    println!("{redis_ns} {memory_ns}");
}

async fn call(memory: Option<&Cache>) {
    let value = match memory {
        Some(cache) => cache.scope(local_info("Recife")).await,
        None => local_info("Recife").await,
    };
    black_box(value.unwrap());
}
