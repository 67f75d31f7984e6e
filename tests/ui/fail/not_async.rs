use cached_json::cached_json;

#[cached_json("sync", ttl = 60)]
fn not_async(id: u32) -> u32 {
    id
}

fn main() {}
