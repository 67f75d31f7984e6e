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

#[cached_json("lease", ttl = 60, lock_lease_ms = 500)]
async fn lease_without_lock(id: u32) -> u32 {
    id
}

#[cached_json("wait", ttl = 60, wait_ms = 0)]
async fn zero_wait(id: u32) -> u32 {
    id
}

fn main() {}
