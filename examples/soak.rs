//! A long run against a real Redis (the soak of #24): what the process and Redis hold as hours
//! of traffic go by. Eight tasks call cached functions on ever new keys and on recent ones
//! (plain, tagged and batch functions, through an L1), while another invalidates tags and whole
//! prefixes; Redis runs with `maxmemory 64mb` and `allkeys-lru`, so it evicts all along. Every
//! interval a line: calls, resident memory, tasks alive, calls in flight, the cache's Redis
//! connections, Redis's keys and memory. At the end, the checks: nothing in flight, no task or
//! connection left over, memory flat after the warm-up (the last sample within 1.5x of the one
//! a third of the way in; runs of a minute or more).
//!
//! ```text
//! cargo run --release --example soak -- 600      # 10 minutes, a line every 30 s
//! cargo run --example soak -- 6                   # the quick run CI makes
//! ```

use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use cached_json::{cached_json, invalidate_tag, Cache};
use cached_json_test_support::RedisServer;

#[derive(serde::Serialize, serde::Deserialize)]
struct Item {
    id: u64,
    payload: String,
}

#[cached_json("soak-item", ttl = 30, jitter = 5)]
async fn item(id: u64) -> Item {
    Item {
        id,
        payload: "x".repeat(200),
    }
}

#[cached_json("soak-tagged", ttl = 30, tags("group:{group}"))]
async fn tagged(group: u64, id: u64) -> Result<u64, String> {
    Ok(group * id)
}

#[cached_json("soak-batch", ttl = 30, batch)]
async fn batch(ids: &[u64]) -> HashMap<u64, u64> {
    ids.iter().map(|id| (*id, id * 2)).collect()
}

/// What the process holds now.
struct Sample {
    at: Duration,
    calls: u64,
    rss_kib: u64,
    tasks: usize,
    in_flight: usize,
    clients: u64,
    keys: u64,
    redis_mib: f64,
}

fn main() {
    let seconds: u64 = std::env::args()
        .nth(1)
        .map(|s| s.parse().expect("seconds"))
        .unwrap_or(30);
    let interval = Duration::from_secs((seconds / 20).clamp(1, 30));
    let server =
        RedisServer::start_with(&["--maxmemory", "64mb", "--maxmemory-policy", "allkeys-lru"]);
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap();
    let samples = runtime.block_on(soak(&server, Duration::from_secs(seconds), interval));
    println!("| at | calls | RSS | tasks alive | in flight | cache's Redis clients | Redis keys | Redis memory |");
    println!("|---|---|---|---|---|---|---|---|");
    for s in &samples {
        println!(
            "| {:.0} s | {} | {:.1} MiB | {} | {} | {} | {} | {:.1} MiB |",
            s.at.as_secs_f64(),
            s.calls,
            s.rss_kib as f64 / 1024.0,
            s.tasks,
            s.in_flight,
            s.clients,
            s.keys,
            s.redis_mib
        );
    }
    // Past the warm-up (the L1 and Redis filled: a third of the run), memory must stay flat.
    let (first, last) = (&samples[samples.len() / 3], &samples[samples.len() - 1]);
    let mut failed = Vec::new();
    if last.in_flight != 0 {
        failed.push(format!(
            "{} calls still in flight after the load",
            last.in_flight
        ));
    }
    if seconds < 60 {
        println!("(a run under 60 s is too short to judge memory)");
    } else if last.rss_kib as f64 > first.rss_kib as f64 * 1.5 {
        failed.push(format!(
            "resident memory grew from {} KiB to {} KiB",
            first.rss_kib, last.rss_kib
        ));
    }
    let clients = samples.iter().map(|s| s.clients);
    let (fewest, most) = (clients.clone().min().unwrap(), clients.max().unwrap());
    if most > fewest + 2 {
        failed.push(format!("Redis clients varied from {fewest} to {most}"));
    }
    if last.tasks > first.tasks + 2 {
        failed.push(format!(
            "tasks alive grew from {} to {}",
            first.tasks, last.tasks
        ));
    }
    if failed.is_empty() {
        println!(
            "soak: {} calls in {seconds} s, nothing left over",
            last.calls
        );
    } else {
        eprintln!("soak failed: {}", failed.join("; "));
        std::process::exit(1);
    }
}

async fn soak(server: &RedisServer, length: Duration, interval: Duration) -> Vec<Sample> {
    let cache = Cache::builder()
        .redis_url(server.url())
        .namespace("soak")
        .l1(16 << 20)
        .build()
        .unwrap();
    let started = Instant::now();
    let stop = Arc::new(AtomicBool::new(false));
    let calls = Arc::new(AtomicU64::new(0));
    let mut tasks = Vec::new();
    for task in 0..8u64 {
        let (scoped, stop, calls) = (cache.clone(), stop.clone(), calls.clone());
        tasks.push(tokio::spawn(async move {
            let load = async {
                let mut round = 0u64;
                while !stop.load(Ordering::Relaxed) {
                    round += 1;
                    let n = task + 8 * round;
                    // Half new keys, half recent ones (hits, in Redis or the L1).
                    let id = match round % 2 {
                        0 => n,
                        _ => n.saturating_sub(n.wrapping_mul(2_654_435_761) % 2000),
                    };
                    let _ = item(id).await;
                    if n % 10 == 1 {
                        let _ = tagged(id % 100, id).await;
                    }
                    if n % 50 == 3 {
                        let ids: Vec<u64> = (id..id + 20).collect();
                        let _ = batch(&ids).await;
                    }
                    calls.fetch_add(1, Ordering::Relaxed);
                }
            };
            scoped.scope(load).await
        }));
    }
    let invalidations = {
        let (scoped, stop) = (cache.clone(), stop.clone());
        tokio::spawn(async move {
            let invalidate = async {
                let mut round = 0u64;
                while !stop.load(Ordering::Relaxed) {
                    tokio::time::sleep(Duration::from_millis(200)).await;
                    round += 1;
                    let _ = invalidate_tag(&format!("group:{}", round % 100)).await;
                    if round.is_multiple_of(25) {
                        let _ = item_invalidate_all().await;
                    }
                }
            };
            scoped.scope(invalidate).await
        })
    };
    let mut samples = Vec::new();
    let mut redis = server.connection();
    while started.elapsed() < length {
        tokio::time::sleep(interval.min(length.saturating_sub(started.elapsed()))).await;
        samples.push(sample(&cache, &mut redis, started, &calls));
    }
    stop.store(true, Ordering::Relaxed);
    for task in tasks {
        task.await.expect("no call panicked");
    }
    invalidations.await.expect("no invalidation panicked");
    // Background refreshes and retries settle.
    tokio::time::sleep(Duration::from_millis(500)).await;
    samples.push(sample(&cache, &mut redis, started, &calls));
    samples
}

fn sample(
    cache: &Cache,
    redis: &mut redis::Connection,
    started: Instant,
    calls: &AtomicU64,
) -> Sample {
    let info: String = redis::cmd("INFO").query(redis).unwrap_or_default();
    let field = |name: &str| -> Option<&str> {
        info.lines()
            .find_map(|line| line.strip_prefix(name)?.strip_prefix(':'))
    };
    // The cache's connections (named by the store) and this sampler's own.
    let clients: String = redis::cmd("CLIENT")
        .arg("LIST")
        .query(redis)
        .unwrap_or_default();
    let keys = field("db0")
        .and_then(|db| db.strip_prefix("keys=")?.split(',').next()?.parse().ok())
        .unwrap_or(0);
    Sample {
        at: started.elapsed(),
        calls: calls.load(Ordering::Relaxed),
        rss_kib: std::fs::read_to_string("/proc/self/status")
            .ok()
            .and_then(|status| {
                status
                    .lines()
                    .find_map(|line| line.strip_prefix("VmRSS:"))?
                    .trim()
                    .trim_end_matches(" kB")
                    .parse()
                    .ok()
            })
            .unwrap_or(0),
        tasks: tokio::runtime::Handle::current()
            .metrics()
            .num_alive_tasks(),
        in_flight: cache.in_flight(),
        clients: clients.lines().count() as u64 - 1,
        keys,
        redis_mib: field("used_memory")
            .and_then(|bytes| bytes.parse::<f64>().ok())
            .map_or(0.0, |bytes| bytes / (1 << 20) as f64),
    }
}
