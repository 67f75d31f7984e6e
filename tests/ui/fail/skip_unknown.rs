use cached_json::cached_json;

#[cached_json("skip", ttl = 60, skip(pol))]
async fn typo(pool: u32, id: u32) -> u32 {
    pool + id
}

#[cached_json("skip-self", ttl = 60, skip(self))]
async fn skip_self(id: u32) -> u32 {
    id
}

fn main() {}
