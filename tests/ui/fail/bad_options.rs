use cached_json::cached_json;

#[cached_json("unknown", ttl = 60, tll = 5)]
async fn unknown(id: u32) -> u32 {
    id
}

#[cached_json("twice", ttl = 60, ttl = 30)]
async fn twice(id: u32) -> u32 {
    id
}

#[cached_json("returns", ttl = 60, returns = list)]
async fn bad_returns(id: u32) -> u32 {
    id
}

#[cached_json("none", ttl = 60, cache_none)]
async fn cache_none_on_result(id: u32) -> Result<u32, String> {
    Ok(id)
}

fn main() {}
