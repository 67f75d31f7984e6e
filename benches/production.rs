//! The HIT path on production set-ups next to plain single-node Redis, in one run against one
//! `redis-server` listening on a plain and a TLS port (certificates made at start) and a local
//! Redis Cluster of three primaries and three replicas:
//!
//! - `cached-json`: a `#[cached_json]` hit over `redis://`;
//! - `cached-json, TLS`: the same function over `rediss://` with a private CA (rustls);
//! - `cached-json, Cluster`: the same function on the Cluster (redis-rs's cluster client);
//! - `hand-written`, `hand-written, TLS`: redis-rs `GET` + `serde_json::from_slice` on one
//!   multiplexed connection, over `redis://` and `rediss://`: the floors;
//! - `hand-written, Cluster`: the same on one redis-rs `ClusterConnection`.
//!
//! Paired and interleaved (see `paired/mod.rs`); `cargo bench --bench production` for figures,
//! `cargo test --benches` runs it once.

use std::hint::black_box;
use std::sync::Arc;

use cached_json::{cached_json, Cache};
use cached_json_test_support::{RedisCluster, RedisServer, TlsFiles};
use redis::AsyncCommands;

mod common;
mod paired;

use common::{lookup, LocalInfo};
use paired::{hand_written, paired, Call, Contender};

/// Where the hand-written contenders read the value.
const KEY: &str = "bench-hand-written";

#[cached_json("bench-production", ttl = 3600)]
async fn local_info(location_name: &str) -> Result<LocalInfo, String> {
    Ok(lookup(location_name))
}

fn main() {
    let files = TlsFiles::generate(&["DNS:localhost"]);
    let server = RedisServer::start_tls(&files, false);
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap();
    let plain = Cache::builder().redis_url(server.url()).build().unwrap();
    let tls = Cache::builder()
        .redis_url(server.tls_url("localhost"))
        .tls_ca(files.path("ca.crt"))
        .build()
        .unwrap();
    let cluster = RedisCluster::start();
    let on_cluster = Cache::builder()
        .redis_cluster(cluster.urls())
        .build()
        .unwrap();
    let cluster_connection = runtime.block_on(async {
        let client = redis::cluster::ClusterClient::new(cluster.urls()).unwrap();
        let mut connection = client.get_async_connection().await.unwrap();
        let value = serde_json::to_vec(&lookup("Recife")).unwrap();
        let _: () = connection.set(KEY, value).await.unwrap();
        for _ in 0..10 {
            on_cluster.scope(local_info("Recife")).await.unwrap();
        }
        connection
    });
    let (connection, tls_connection) = runtime.block_on(async {
        let client = redis::Client::open(server.url()).unwrap();
        let mut connection = client.get_multiplexed_async_connection().await.unwrap();
        let value = serde_json::to_vec(&lookup("Recife")).unwrap();
        let _: () = connection.set(KEY, value).await.unwrap();
        // (The TLS cache built above installed rustls's crypto provider.)
        let certificates = redis::TlsCertificates {
            client_tls: None,
            root_cert: Some(std::fs::read(files.path("ca.crt")).unwrap()),
        };
        let tls_client =
            redis::Client::build_with_tls(server.tls_url("localhost"), certificates).unwrap();
        let tls_connection = tls_client.get_multiplexed_async_connection().await.unwrap();
        // Warm both caches: connections made (one per runtime too), the value stored.
        for cache in [&plain, &tls] {
            for _ in 0..10 {
                cache.scope(local_info("Recife")).await.unwrap();
            }
        }
        (connection, tls_connection)
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
        (
            "hand-written",
            hand_written::<LocalInfo, _>(&connection, KEY),
        ),
        ("cached-json", on(&plain)),
        (
            "hand-written, TLS",
            hand_written::<LocalInfo, _>(&tls_connection, KEY),
        ),
        ("cached-json, TLS", on(&tls)),
        (
            "hand-written, Cluster",
            hand_written::<LocalInfo, _>(&cluster_connection, KEY),
        ),
        ("cached-json, Cluster", on(&on_cluster)),
    ];
    paired(&runtime, "HIT, one call at a time", false, &contenders);
    paired(&runtime, "HIT, 64 concurrent tasks", true, &contenders);
}
