// The resilience options: lock, lock_lease_ms, wait_ms, stale, jitter, timeout_ms, with each
// other and the rest.
use cached_json::cached_json;

#[cached_json(
    "all", ttl = 60, lock, lock_lease_ms = 2000, wait_ms = 3000, stale = 3600, jitter = 10,
    timeout_ms = 250, version = 2
)]
async fn everything(id: u32) -> Result<u32, String> {
    Ok(id)
}

#[cached_json("locked", ttl = 60, lock)]
async fn locked(id: u32) -> Option<u32> {
    Some(id)
}

#[cached_json("stale", ttl = 60, stale = 60, wait_ms = 100)]
async fn stale(id: u32) -> u32 {
    id
}

fn main() {
    cached_json::Cache::builder().memory(1 << 20).build().unwrap().install().unwrap();
    tokio::runtime::Runtime::new().unwrap().block_on(async {
        assert_eq!(everything(1).await, Ok(1));
        assert_eq!(locked(2).await, Some(2));
        assert_eq!(stale(3).await, 3);
    });
}
