use cached_json::cached_json;

#[cached_json("", ttl = 60)]
async fn empty(id: u32) -> u32 {
    id
}

#[cached_json("users *", ttl = 60)]
async fn glob(id: u32) -> u32 {
    id
}

fn main() {}
