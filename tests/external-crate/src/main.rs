//! Every supported shape of `#[cached_json]`, compiled in a crate that only knows the facade
//! (also renamed, and re-exported by a "platform" module), and run against the in-process store
//! (MISS, then HIT).

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

/// A company's platform crate re-exporting the facade, as its services would use it.
mod platform {
    pub use cj as cache;
}

#[cj::cached_json("renamed", ttl = 60, crate = "cj")]
async fn renamed(n: u64) -> u64 {
    n * 10
}

#[platform::cache::cached_json("re-exported", ttl = 60, crate = "platform::cache")]
async fn re_exported(n: u64) -> u64 {
    n * 100
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
    twice(renamed(4), renamed(4)).await;
    twice(re_exported(5), re_exported(5)).await;
    println!("external crate: every shape compiled against the facade alone, MISS then HIT");
}
