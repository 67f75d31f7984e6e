use cached_json::cached_json;

#[cached_json("zero", ttl = 0)]
async fn zero(id: u32) -> u32 {
    id
}

#[cached_json("negative", ttl = -5)]
async fn negative(id: u32) -> u32 {
    id
}

#[cached_json("float", ttl = 1.5)]
async fn float(id: u32) -> u32 {
    id
}

#[cached_json("string", ttl = "60")]
async fn string(id: u32) -> u32 {
    id
}

#[cached_json("expr", ttl = 30 * 60)]
async fn expression(id: u32) -> u32 {
    id
}

fn main() {}
