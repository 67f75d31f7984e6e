//! The paired comparison the HIT-path benches share: contenders alternate in small batches,
//! round after round, and each ratio is the median of the per-round ratios, because on a
//! shared 2-core machine the speed drifts by tens of percent between two measurements.

use std::future::Future;
use std::hint::black_box;
use std::pin::Pin;
use std::sync::Arc;
use std::time::{Duration, Instant};

pub const TASKS: u64 = 64;

/// One call of a contender.
pub type Call = Arc<dyn Fn() -> Pin<Box<dyn Future<Output = ()> + Send>> + Send + Sync>;

/// A contender: its name and its call.
pub type Contender = (&'static str, Call);

/// The hand-written floor every Redis bench compares with: redis-rs `GET` of `key` +
/// `serde_json::from_slice` into `T`, on a clone of `connection` (a multiplexed connection, or
/// a Cluster's) per call.
pub fn hand_written<T, C>(connection: &C, key: &'static str) -> Call
where
    T: serde::de::DeserializeOwned + Send + 'static,
    C: redis::aio::ConnectionLike + Clone + Send + Sync + 'static,
{
    let connection = connection.clone();
    Arc::new(move || {
        let mut connection = connection.clone();
        Box::pin(async move {
            let bytes: Option<Vec<u8>> = redis::AsyncCommands::get(&mut connection, key)
                .await
                .expect("GET");
            let value: T = serde_json::from_slice(&bytes.expect("stored")).expect("JSON");
            black_box(value);
        })
    })
}

/// Interleaved comparison: every round runs a batch of each contender (sequentially, or over
/// 64 tasks); prints the median time per call and the median per-round ratio to the first.
pub fn paired(
    runtime: &tokio::runtime::Runtime,
    title: &str,
    concurrent: bool,
    contenders: &[Contender],
) {
    let quick = !std::env::args().any(|a| a == "--bench");
    let (rounds, batch) = if quick { (2, 64) } else { (31, 2048) };
    let mut per_call: Vec<Vec<f64>> = vec![Vec::new(); contenders.len()];
    for round in 0..rounds {
        // Rotate the order too, so that no contender always runs right after another.
        for offset in 0..contenders.len() {
            let i = (round + offset) % contenders.len();
            let call = contenders[i].1.clone();
            let elapsed = runtime.block_on(async move {
                if concurrent {
                    concurrently(batch, move || call()).await
                } else {
                    let started = Instant::now();
                    for _ in 0..batch {
                        call().await;
                    }
                    started.elapsed()
                }
            });
            per_call[i].push(elapsed.as_nanos() as f64 / batch as f64);
        }
    }
    let median = |mut v: Vec<f64>| {
        v.sort_by(f64::total_cmp);
        v[v.len() / 2]
    };
    println!("\n{title} ({rounds} rounds x {batch} calls, interleaved)");
    println!(
        "| contender | median per call | ratio to {} (median of rounds) |",
        contenders[0].0
    );
    println!("|---|---|---|");
    for (i, (name, _)) in contenders.iter().enumerate() {
        let ratios: Vec<f64> = per_call[i]
            .iter()
            .zip(&per_call[0])
            .map(|(a, b)| a / b)
            .collect();
        println!(
            "| {name} | {:.2} µs | {:.3}x |",
            median(per_call[i].clone()) / 1000.0,
            median(ratios)
        );
    }
}

/// Runs `iters` calls of `call` spread over 64 concurrent tasks; returns the time per call
/// times `iters`, as criterion's `iter_custom` wants.
pub async fn concurrently<F, Fut>(iters: u64, call: F) -> Duration
where
    F: Fn() -> Fut + Clone + Send + 'static,
    Fut: std::future::Future + Send,
{
    let per_task = iters.div_ceil(TASKS).max(1);
    let started = Instant::now();
    let mut tasks = tokio::task::JoinSet::new();
    for _ in 0..TASKS {
        let call = call.clone();
        tasks.spawn(async move {
            for _ in 0..per_task {
                black_box(call().await);
            }
        });
    }
    while tasks.join_next().await.is_some() {}
    started
        .elapsed()
        .mul_f64(iters as f64 / (per_task * TASKS) as f64)
}
