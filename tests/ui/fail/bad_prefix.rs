use cached_json::cached_json;

#[cached_json("", ttl = 60)]
async fn empty(id: u32) -> u32 {
    id
}

#[cached_json("users *", ttl = 60)]
async fn glob(id: u32) -> u32 {
    id
}


#[cached_json("users:v2", ttl = 60)]
async fn looks_versioned(id: u32) -> u32 {
    id
}

#[cached_json("shop:users", ttl = 60)]
async fn looks_namespaced(id: u32) -> u32 {
    id
}

#[cached_json("v2", ttl = 60)]
async fn a_version(id: u32) -> u32 {
    id
}

fn main() {}
