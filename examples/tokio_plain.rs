//! A plain Tokio program using cached-json, no web framework: a starting point to copy.
//!
//! ```text
//! cargo run --example tokio_plain                          # Redis at REDIS_URL (127.0.0.1:6379)
//! CACHED_JSON_STORE=memory cargo run --example tokio_plain # no Redis: the in-process store
//! ```
//!
//! Without a reachable Redis every call still answers (it runs uncached, `BYPASS`).

use std::time::{Duration, Instant};

use cached_json::{cached_json, observe, CacheBuilder};
use serde::{Deserialize, Serialize};

#[derive(Debug, Clone, Serialize, Deserialize)]
struct Weather {
    city: String,
    celsius: f32,
}

/// A slow origin: an HTTP API, a database query...
#[cached_json("example-weather", ttl = 60)]
async fn weather(city: &str) -> Result<Weather, String> {
    tokio::time::sleep(Duration::from_millis(200)).await;
    Ok(Weather {
        city: city.to_owned(),
        celsius: 27.5,
    })
}

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    // The environment's settings (REDIS_URL, CACHED_JSON_*), a malformed one an error here,
    // with a namespace set in code; installed before the first cached call.
    CacheBuilder::from_env()?
        .namespace("example")
        .build()?
        .install()
        .map_err(|_| "a cache was installed already")?;

    for _ in 0..3 {
        let started = Instant::now();
        let (answer, outcome) = observe(weather("Recife")).await;
        println!("{answer:?}: {outcome:?} in {:?}", started.elapsed());
    }
    // Its entry, as the cache holds it (what an HTTP handler would send on).
    let entry = weather_json("Recife").await?;
    println!("stored JSON: {}", String::from_utf8_lossy(entry.json()));
    // The next call computes again.
    weather_invalidate("Recife").await?;
    let (_, outcome) = observe(weather("Recife")).await;
    println!("after the invalidation: {outcome:?}");
    Ok(())
}
