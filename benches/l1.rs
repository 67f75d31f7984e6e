//! The L1 HIT path next to the in-memory floor and the Redis path, in one run against a
//! redis-server the bench starts:
//!
//! - `hand-written, memory`: a quick_cache `get` of the JSON bytes + `serde_json::from_slice`:
//!   the fastest in-process cache a user would write around JSON (the floor of an L1 hit; the
//!   L1 is a quick_cache too; moka's `get` costs more);
//! - `cached-json, L1`: a `#[cached_json]` hit served by the cache's L1;
//! - `cached-json, Redis`: the same function on a cache without L1 (a Redis round trip);
//! - `hand-written, Redis`: redis-rs `GET` + `serde_json::from_slice` on one multiplexed
//!   connection.
//!
//! Then the same hit for an HTTP handler that sends the JSON on (no value wanted): the L1
//! companion `local_info_json` answering from the L1 (the copy's bytes as stored) next to a hand-written quick_cache
//! `get` of the bytes alone.
//!
//! Then what an L1 copy costs in memory: the growth of the process's resident memory while
//! 100,000 entries are copied, per entry. Paired and interleaved (see `paired/mod.rs`);
//! `cargo bench --bench l1` for figures, `cargo test --benches` runs it once.

use std::hint::black_box;
use std::sync::Arc;
use std::time::{Duration, Instant};

use cached_json::{cached_json, observe, Cache, CacheOutcome};
use cached_json_test_support::RedisServer;
use redis::AsyncCommands;

mod common;
mod paired;

use common::{lookup, LocalInfo};
use paired::{hand_written, paired, Call, Contender};

#[cached_json("bench-l1", ttl = 3600)]
async fn local_info(location_name: &str) -> Result<LocalInfo, String> {
    Ok(lookup(location_name))
}

#[cached_json("bench-l1-memory", ttl = 3600)]
async fn numbered(id: u32) -> LocalInfo {
    lookup(&format!("city {id}"))
}

/// The process's resident memory, in bytes.
fn resident_bytes() -> u64 {
    let statm = std::fs::read_to_string("/proc/self/statm").unwrap_or_default();
    let pages: u64 = statm
        .split_whitespace()
        .nth(1)
        .and_then(|pages| pages.parse().ok())
        .unwrap_or(0);
    pages * 4096
}

fn main() {
    let server = RedisServer::start();
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap();
    let with_l1 = Cache::builder()
        .redis_url(server.url())
        .namespace("bench")
        .l1(64 << 20)
        .build()
        .unwrap();
    let without_l1 = Cache::builder()
        .redis_url(server.url())
        .namespace("bench")
        .build()
        .unwrap();
    let json = serde_json::to_vec(&lookup("Recife")).unwrap();
    let memory: Arc<quick_cache::sync::Cache<String, Arc<[u8]>>> =
        Arc::new(quick_cache::sync::Cache::new(10_000));
    memory.insert("bench-hand-written".to_owned(), json.clone().into());
    let connection = runtime.block_on(async {
        let client = redis::Client::open(server.url()).unwrap();
        let mut connection = client.get_multiplexed_async_connection().await.unwrap();
        let _: () = connection.set("bench-hand-written", &json).await.unwrap();
        without_l1.scope(local_info("Recife")).await.unwrap();
        // Until the L1's tracking connection is up and the copy made.
        let started = Instant::now();
        while with_l1.scope(observe(local_info("Recife"))).await.1 != Some(CacheOutcome::HitL1) {
            assert!(started.elapsed() < Duration::from_secs(5), "no L1 hit");
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
        connection
    });

    let bytes_memory = memory.clone();
    let hand_written_memory: Call = Arc::new(move || {
        let memory = memory.clone();
        Box::pin(async move {
            let bytes = memory.get("bench-hand-written").expect("in memory");
            let info: LocalInfo = serde_json::from_slice(&bytes).unwrap();
            black_box(info);
        })
    });
    let on = |cache: &Cache| -> Call {
        let cache = cache.clone();
        Arc::new(move || {
            let cache = cache.clone();
            Box::pin(async move {
                black_box(cache.scope(local_info("Recife")).await.unwrap());
            })
        })
    };
    let contenders: Vec<Contender> = vec![
        ("hand-written, memory", hand_written_memory),
        ("cached-json, L1", on(&with_l1)),
        ("cached-json, Redis", on(&without_l1)),
        (
            "hand-written, Redis",
            hand_written::<LocalInfo, _>(&connection, "bench-hand-written"),
        ),
    ];
    paired(&runtime, "HIT, one call at a time", false, &contenders);
    paired(&runtime, "HIT, 64 concurrent tasks", true, &contenders);

    // An HTTP handler's hit: the stored bytes, nothing decoded.
    let hand_written_bytes: Call = Arc::new(move || {
        let memory = bytes_memory.clone();
        Box::pin(async move {
            black_box(memory.get("bench-hand-written").expect("in memory"));
        })
    });
    let companion = with_l1.clone();
    let l1_companion: Call = Arc::new(move || {
        let cache = companion.clone();
        Box::pin(async move {
            let entry = cache.scope(local_info_json("Recife")).await;
            black_box(entry.expect("the L1's copy").into_json());
        })
    });
    paired(
        &runtime,
        "HIT as stored bytes (an HTTP handler), one call at a time",
        false,
        &[
            ("hand-written, memory bytes", hand_written_bytes),
            ("cached-json, L1 (f_json)", l1_companion),
        ],
    );

    // The decoding alone, for "under 1 µs plus decoding".
    let started = Instant::now();
    let rounds = if std::env::args().any(|a| a == "--bench") {
        1_000_000
    } else {
        1000
    };
    for _ in 0..rounds {
        let info: LocalInfo = serde_json::from_slice(black_box(&json)).unwrap();
        black_box(info);
    }
    println!(
        "\nserde_json::from_slice of the value ({} bytes) alone: {:.0} ns",
        json.len(),
        started.elapsed().as_nanos() as f64 / rounds as f64
    );

    // Memory per copy: every key written (a miss), then read into the L1 (a Redis hit), then
    // the resident memory's growth over the copies' count.
    let copies: u32 = if std::env::args().any(|a| a == "--bench") {
        100_000
    } else {
        1000
    };
    let key_bytes = runtime
        .block_on(with_l1.scope(numbered_key(0)))
        .unwrap()
        .as_str()
        .len();
    let value_bytes = serde_json::to_vec(&lookup("city 0")).unwrap().len();
    let fill = |cache: &Cache| {
        let cache = cache.clone();
        runtime.block_on(async move {
            let mut tasks = tokio::task::JoinSet::new();
            for task in 0..64 {
                let cache = cache.clone();
                tasks.spawn(async move {
                    for id in (task..copies).step_by(64) {
                        black_box(cache.scope(numbered(id)).await);
                    }
                });
            }
            while tasks.join_next().await.is_some() {}
        })
    };
    fill(&without_l1); // written to Redis; no copies
    let before = resident_bytes();
    fill(&with_l1); // read back: each one copied
    let after = resident_bytes();
    let l1_hits = runtime.block_on(async {
        let mut hits = 0;
        for id in (0..copies).step_by(97) {
            if with_l1.scope(observe(numbered(id))).await.1 == Some(CacheOutcome::HitL1) {
                hits += 1;
            }
        }
        hits
    });
    println!(
        "L1 memory: {copies} copies ({key_bytes}-byte keys, {value_bytes}-byte JSON) grew the \
         process by {:.1} MiB: {:.0} bytes per copy ({} of {} sampled keys served from the L1)",
        (after.saturating_sub(before)) as f64 / (1 << 20) as f64,
        after.saturating_sub(before) as f64 / f64::from(copies),
        l1_hits,
        copies.div_ceil(97)
    );
}
