//! A steady HIT load for profilers: 64 tasks calling a `#[cached_json]` function that hits,
//! against a redis-server it starts, for `SECONDS` (default 10). With
//! `CONTENDER=hand-written`, the same load through the hand-written floor instead (redis-rs
//! `GET` + `serde_json::from_slice` on one multiplexed connection), with `CONTENDER=tagged`
//! through the same function carrying two tags, to compare profiles.
//!
//! ```text
//! cargo build --release --example profile_hit
//! perf record -e cpu-clock -g target/release/examples/profile_hit
//! ```

use std::time::{Duration, Instant};

use cached_json::{cached_json, Cache};
use cached_json_test_support::RedisServer;

#[path = "../benches/common/mod.rs"]
mod common;

use common::{lookup, LocalInfo};

#[cached_json("profile-local-info", ttl = 3600)]
async fn local_info(location_name: &str) -> Result<LocalInfo, String> {
    Ok(lookup(location_name))
}

#[cached_json(
    "profile-local-info-tagged",
    ttl = 3600,
    tags("places", "place:{location_name}")
)]
async fn tagged(location_name: &str) -> Result<LocalInfo, String> {
    Ok(lookup(location_name))
}

fn main() {
    let seconds: u64 = std::env::var("SECONDS")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(10);
    println!(
        "future of one call: {} bytes",
        std::mem::size_of_val(&local_info("x"))
    );
    let server = RedisServer::start();
    Cache::builder()
        .redis_url(server.url())
        .build()
        .unwrap()
        .install()
        .unwrap();
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap();
    let hand_written = std::env::var("CONTENDER").is_ok_and(|c| c == "hand-written");
    let with_tags = std::env::var("CONTENDER").is_ok_and(|c| c == "tagged");
    let url = server.url();
    let calls = runtime.block_on(async move {
        local_info("Recife").await.unwrap();
        tagged("Recife").await.unwrap();
        let client = redis::Client::open(url).unwrap();
        let connection = client.get_multiplexed_async_connection().await.unwrap();
        let json = serde_json::to_vec(&lookup("Recife")).unwrap();
        let _: () = redis::AsyncCommands::set(&mut connection.clone(), "hand-written", json)
            .await
            .unwrap();
        tokio::time::sleep(Duration::from_millis(100)).await;
        let deadline = Instant::now() + Duration::from_secs(seconds);
        let tasks: Vec<_> = (0..64)
            .map(|_| {
                let mut connection = connection.clone();
                tokio::spawn(async move {
                    let mut calls = 0u64;
                    while Instant::now() < deadline {
                        if hand_written {
                            let bytes: Option<Vec<u8>> =
                                redis::AsyncCommands::get(&mut connection, "hand-written")
                                    .await
                                    .unwrap();
                            let info: LocalInfo = serde_json::from_slice(&bytes.unwrap()).unwrap();
                            std::hint::black_box(info);
                        } else if with_tags {
                            tagged("Recife").await.unwrap();
                        } else {
                            local_info("Recife").await.unwrap();
                        }
                        calls += 1;
                    }
                    calls
                })
            })
            .collect();
        let mut calls = 0;
        for task in tasks {
            calls += task.await.unwrap();
        }
        calls
    });
    println!(
        "{calls} hits in {seconds} s: {:.0} per second",
        calls as f64 / seconds as f64
    );
}
