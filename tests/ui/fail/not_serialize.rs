use cached_json::cached_json;

pub struct DbPool;

#[cached_json("users", ttl = 60)]
async fn user(pool: &DbPool, id: u32) -> String {
    let _ = pool;
    id.to_string()
}

fn main() {}
