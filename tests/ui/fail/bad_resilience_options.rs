use cached_json::cached_json;

#[cached_json("timeout", ttl = 60, timeout_ms = 100)]
async fn timeout_without_stale(id: u32) -> Result<u32, String> {
    Ok(id)
}

#[cached_json("stale", ttl = 60, stale = 0)]
async fn zero_stale(id: u32) -> Result<u32, String> {
    Ok(id)
}

#[cached_json("lock", ttl = 60, lock, lock)]
async fn lock_twice(id: u32) -> u32 {
    id
}

fn main() {}
