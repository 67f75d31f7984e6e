use cached_json::cached_json;

#[cached_json]
async fn no_args(id: u32) -> u32 {
    id
}

#[cached_json(ttl = 60)]
async fn no_prefix(id: u32) -> u32 {
    id
}

#[cached_json("no-ttl")]
async fn no_ttl(id: u32) -> u32 {
    id
}

fn main() {}
