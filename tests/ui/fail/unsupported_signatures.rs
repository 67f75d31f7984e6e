use cached_json::cached_json;

#[cached_json("impl", ttl = 60)]
async fn impl_arg(name: impl AsRef<str>) -> String {
    name.as_ref().to_owned()
}

#[cached_json("generic", ttl = 60)]
async fn generic<T: serde::de::DeserializeOwned>(id: u32) -> Option<T> {
    let _ = id;
    None
}

#[cached_json("pattern", ttl = 60)]
async fn pattern((a, b): (u32, u32)) -> u32 {
    a + b
}

#[cached_json("unit", ttl = 60)]
async fn unit(id: u32) {
    let _ = id;
}

fn main() {}
