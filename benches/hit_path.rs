//! The HIT path against the alternatives, in one run, against a redis-server the bench starts:
//!
//! - `hand-written`: `GET` + `serde_json::from_slice` on a multiplexed redis-rs connection,
//!   the floor any cache-aside over Redis can reach;
//! - `cached-json`: a `#[cached_json]` function on a hit;
//! - `cached-crate`: the `cached` crate's `#[concurrent_cached]` over its `AsyncRedisCache`;
//! - then `cached-json` against itself with two tags (`tags(...)`: the records read with the
//!   entry);
//! - then a batch of 100 ids, all cached: `hand-written` `MGET` of the 100 keys + decoding each
//!   into a `HashMap` (one round trip), against a `#[cached_json(.., batch)]` function.
//!
//! Criterion measures each contender in turn. On a shared 2-core machine the speed of the
//! machine drifts by tens of percent between two such measurements, so the ratios come from a
//! paired comparison first: contenders alternate in small batches, round after round, and each
//! ratio is the median of the per-round ratios.
//!
//! `cargo bench --bench hit_path` for figures; `cargo test --benches` runs each once (CI).

use std::collections::HashMap;
use std::hint::black_box;
use std::sync::{Arc, OnceLock};

use cached_json::{cached_json, Cache};
use cached_json_test_support::RedisServer;
use criterion::{criterion_group, criterion_main, Criterion, Throughput};
use redis::AsyncCommands;

mod common;
mod paired;

use common::{lookup, LocalInfo};
use paired::{concurrently, paired, Contender};

#[cached_json("bench-local-info", ttl = 3600)]
async fn with_cached_json(location_name: &str) -> Result<LocalInfo, String> {
    Ok(lookup(location_name))
}

/// The same, carrying two tags (one fixed, one from its argument): a hit also reads the tags'
/// records, in the same round trip.
#[cached_json(
    "bench-local-info-tagged",
    ttl = 3600,
    tags("places", "place:{location_name}")
)]
async fn with_tags(location_name: &str) -> Result<LocalInfo, String> {
    Ok(lookup(location_name))
}

/// 100 places at once, each its own entry.
#[cached_json("bench-places", ttl = 3600, batch)]
async fn places(ids: &[u64]) -> Result<HashMap<u64, LocalInfo>, String> {
    Ok(ids.iter().map(|&id| (id, lookup("Recife"))).collect())
}

/// The hand-written batch read: `MGET` of `keys`, each value decoded, by id.
async fn hand_written_batch(
    connection: &mut redis::aio::MultiplexedConnection,
    ids: &[u64],
    keys: &[String],
) -> HashMap<u64, LocalInfo> {
    let values: Vec<Option<Vec<u8>>> = connection.mget(keys).await.expect("MGET");
    ids.iter()
        .zip(values)
        .filter_map(|(&id, bytes)| Some((id, serde_json::from_slice(&bytes?).expect("JSON"))))
        .collect()
}

static CACHED_CRATE_URL: OnceLock<String> = OnceLock::new();

#[cached::macros::concurrent_cached(
    map_error = r##"|e| format!("{e:?}")"##,
    ty = "cached::AsyncRedisCache<String, LocalInfo>",
    create = r##" {
        cached::AsyncRedisCache::builder("bench-cached-crate")
            .ttl(std::time::Duration::from_secs(3600))
            .connection_string(CACHED_CRATE_URL.get().expect("set before the first call"))
            .build()
            .await
            .expect("the cached crate's redis store")
    } "##
)]
async fn with_cached_crate(location_name: String) -> Result<LocalInfo, String> {
    Ok(lookup(&location_name))
}

async fn hand_written(connection: &mut redis::aio::MultiplexedConnection, key: &str) -> LocalInfo {
    let bytes: Option<Vec<u8>> = connection.get(key).await.expect("GET");
    serde_json::from_slice(&bytes.expect("stored")).expect("JSON")
}

fn hit_path(c: &mut Criterion) {
    let server = RedisServer::start();
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap();
    Cache::builder()
        .redis_url(server.url())
        .build()
        .unwrap()
        .install()
        .expect("the bench installs the process-wide cache first");
    CACHED_CRATE_URL.set(server.url()).unwrap();

    // Warm every contender: the values are stored, connections made.
    let connection = runtime.block_on(async {
        let client = redis::Client::open(server.url()).unwrap();
        let mut connection = client.get_multiplexed_async_connection().await.unwrap();
        let value = serde_json::to_vec(&lookup("Recife")).unwrap();
        let _: () = connection.set("bench-hand-written", value).await.unwrap();
        with_cached_json("Recife").await.unwrap();
        with_tags("Recife").await.unwrap();
        with_cached_crate("Recife".into()).await.unwrap();
        connection
    });

    let contenders: Vec<Contender> = vec![
        (
            "hand-written",
            paired::hand_written::<LocalInfo, _>(&connection, "bench-hand-written"),
        ),
        (
            "cached-json",
            Arc::new(|| {
                Box::pin(async {
                    black_box(with_cached_json("Recife").await.unwrap());
                })
            }),
        ),
        (
            "cached-crate",
            Arc::new(|| {
                Box::pin(async {
                    black_box(with_cached_crate("Recife".into()).await.unwrap());
                })
            }),
        ),
    ];
    paired(&runtime, "HIT, one call at a time", false, &contenders);
    paired(&runtime, "HIT, 64 concurrent tasks", true, &contenders);

    // Tags: the price of a tagged hit, against the untagged one it would otherwise be.
    let tagged: Vec<Contender> = vec![
        contenders[1].clone(),
        (
            "cached-json, 2 tags",
            Arc::new(|| {
                Box::pin(async {
                    black_box(with_tags("Recife").await.unwrap());
                })
            }),
        ),
    ];
    paired(
        &runtime,
        "HIT, tagged vs untagged, one call at a time",
        false,
        &tagged,
    );
    paired(
        &runtime,
        "HIT, tagged vs untagged, 64 concurrent tasks",
        true,
        &tagged,
    );

    // Batch loading: 100 ids, every one cached.
    let ids: Arc<Vec<u64>> = Arc::new((0..100).collect());
    let keys: Arc<Vec<String>> = Arc::new(
        ids.iter()
            .map(|id| format!("bench-hand-batch:{id}"))
            .collect(),
    );
    runtime.block_on(async {
        let mut connection = connection.clone();
        let value = serde_json::to_vec(&lookup("Recife")).unwrap();
        for key in keys.iter() {
            let _: () = connection.set(key, &value).await.unwrap();
        }
        assert_eq!(places(&ids).await.unwrap().len(), 100);
        assert_eq!(
            hand_written_batch(&mut connection, &ids, &keys).await.len(),
            100
        );
    });
    let batch: Vec<Contender> = vec![
        ("hand-written MGET", {
            let (connection, ids, keys) = (connection.clone(), ids.clone(), keys.clone());
            Arc::new(move || {
                let (mut connection, ids, keys) = (connection.clone(), ids.clone(), keys.clone());
                Box::pin(async move {
                    black_box(hand_written_batch(&mut connection, &ids, &keys).await);
                })
            })
        }),
        ("cached-json batch", {
            let ids = ids.clone();
            Arc::new(move || {
                let ids = ids.clone();
                Box::pin(async move {
                    black_box(places(&ids).await.unwrap());
                })
            })
        }),
    ];
    paired(
        &runtime,
        "HIT, a batch of 100 ids, one call at a time",
        false,
        &batch,
    );

    let mut group = c.benchmark_group("hit/sequential");
    group.throughput(Throughput::Elements(1));
    group.bench_function("hand-written", |b| {
        b.to_async(&runtime).iter(|| {
            let mut connection = connection.clone();
            async move { hand_written(&mut connection, "bench-hand-written").await }
        })
    });
    group.bench_function("cached-json", |b| {
        b.to_async(&runtime).iter(|| with_cached_json("Recife"))
    });
    group.bench_function("cached-crate", |b| {
        b.to_async(&runtime)
            .iter(|| with_cached_crate("Recife".into()))
    });
    group.finish();

    let mut group = c.benchmark_group("hit/64-tasks");
    group.throughput(Throughput::Elements(1));
    group.bench_function("hand-written", |b| {
        b.to_async(&runtime).iter_custom(|iters| {
            let connection = connection.clone();
            concurrently(iters, move || {
                let mut connection = connection.clone();
                async move { hand_written(&mut connection, "bench-hand-written").await }
            })
        })
    });
    group.bench_function("cached-json", |b| {
        b.to_async(&runtime)
            .iter_custom(|iters| concurrently(iters, || with_cached_json("Recife")))
    });
    group.bench_function("cached-crate", |b| {
        b.to_async(&runtime)
            .iter_custom(|iters| concurrently(iters, || with_cached_crate("Recife".into())))
    });
    group.finish();
}

criterion_group!(benches, hit_path);
criterion_main!(benches);
