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

#[cached_json("l1-both", ttl = 60, no_l1, l1_ttl = 5)]
async fn l1_ttl_without_l1(id: u32) -> u32 {
    id
}

#[cached_json("l1-long", ttl = 60, l1_ttl = 60)]
async fn l1_ttl_not_shorter(id: u32) -> u32 {
    id
}

fn main() {}
