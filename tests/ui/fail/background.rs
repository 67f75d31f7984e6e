// What cannot run detached from its caller, with `refresh_ahead`: each is an error that says
// what to take instead.
use cached_json::cached_json;

pub struct Service;

impl Service {
    #[cached_json("borrowed-self", ttl = 60, refresh_ahead = 0.8)]
    async fn describe(&self, id: u32) -> u32 {
        id
    }
}

#[cached_json("mutable", ttl = 60, refresh_ahead = 0.8)]
async fn mutable(ids: &mut Vec<u32>) -> usize {
    ids.len()
}

#[cached_json("borrowing-type", ttl = 60, refresh_ahead = 0.8)]
async fn borrowing_type(names: Vec<&str>) -> usize {
    names.len()
}

pub struct Pool;

#[cached_json("not-clone", ttl = 60, refresh_ahead = 0.8, skip(pool))]
async fn not_clone(pool: &Pool, id: u32) -> u32 {
    let _ = pool;
    id
}

#[cached_json("bad-share", ttl = 60, refresh_ahead = 1.5)]
async fn bad_share(id: u32) -> u32 {
    id
}

#[cached_json("hard-alone", ttl = 60, hard_timeout_ms = 100)]
async fn hard_alone(id: u32) -> u32 {
    id
}

fn main() {}
