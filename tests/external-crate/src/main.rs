//! Every supported shape of `#[cached_json]`, compiled in a crate that only knows the facade,
//! and run against the in-process store (MISS, then HIT).

use cached_json::{cached_json, observe, Cache, CacheOutcome};
use serde::{Deserialize, Serialize};

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Place {
    name: String,
}

#[derive(Debug, PartialEq)]
pub struct AppError;

pub struct Pool;

#[cached_json("place", ttl = 60)]
pub async fn place(name: &str) -> Result<Place, AppError> {
    Ok(Place { name: name.to_owned() })
}

#[cached_json("maybe", ttl = 60, skip(pool))]
pub(crate) async fn maybe<'a>(pool: &Pool, ids: &'a [u32], label: String) -> Option<Vec<u32>> {
    let _ = (pool, label);
    Some(ids.to_vec())
}

#[cached_json("plain", ttl = 60, version = 2)]
async fn plain(n: u64) -> u64 {
    n + 1
}

struct Service;

impl Service {
    #[cached_json("method", ttl = 60)]
    async fn lookup(&self, id: u32) -> Result<String, String> {
        Ok(format!("item {id}"))
    }
}

async fn twice<T: PartialEq + std::fmt::Debug, F: std::future::Future<Output = T>>(
    first: F,
    second: F,
) {
    let (a, outcome_a) = observe(first).await;
    let (b, outcome_b) = observe(second).await;
    assert_eq!(a, b);
    assert_eq!(outcome_a, Some(CacheOutcome::Miss));
    assert_eq!(outcome_b, Some(CacheOutcome::Hit));
}

#[tokio::main]
async fn main() {
    // TLS is not a default feature: a `rediss://` URL is refused when the cache is built, with
    // an error that says what to add (not a cache that would silently run every call uncached).
    let refused = Cache::builder()
        .redis_url("rediss://cache.example:6380")
        .build();
    let message = refused.err().expect("rediss:// without the tls feature").to_string();
    assert!(message.contains("features = [\"tls\"]"), "{message}");

    Cache::builder()
        .memory(1 << 20)
        .build()
        .unwrap()
        .install()
        .unwrap();
    twice(place("Recife"), place("Recife")).await;
    twice(maybe(&Pool, &[1, 2], "a".into()), maybe(&Pool, &[1, 2], "a".into())).await;
    twice(plain(1), plain(1)).await;
    twice(Service.lookup(3), Service.lookup(3)).await;
    println!("external crate: every shape compiled against the facade alone, MISS then HIT");
}
