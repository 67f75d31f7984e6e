//! `#[cached_json]` through a renamed facade and through a re-export, in a crate that has no
//! `cached_json` in its dependencies at all, run against the in-process store (MISS, then HIT).

use cj::{observe, Cache, CacheOutcome};

/// A company's platform crate re-exporting the facade, as its services would use it.
mod platform {
    pub use cj as cache;
}

#[cj::cached_json("renamed", ttl = 60, crate = "cj")]
async fn renamed(n: u64) -> Result<u64, String> {
    Ok(n * 10)
}

#[platform::cache::cached_json("re-exported", ttl = 60, crate = "platform::cache")]
async fn re_exported(n: u64) -> Option<u64> {
    Some(n * 100)
}

struct Service;

impl Service {
    #[cj::cached_json("renamed-method", ttl = 60, crate = "cj")]
    async fn lookup(&self, id: u32) -> String {
        format!("item {id}")
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
    twice(renamed(4), renamed(4)).await;
    twice(re_exported(5), re_exported(5)).await;
    twice(Service.lookup(6), Service.lookup(6)).await;
    println!("renamed and re-exported facade: every shape compiled with `crate = \"..\"`, MISS then HIT");
}
