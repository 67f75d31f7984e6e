use cached_json::cached_json;

#[derive(serde::Serialize)]
pub struct OnlySerialize {
    id: u32,
}

#[cached_json("values", ttl = 60)]
async fn value(id: u32) -> Option<OnlySerialize> {
    Some(OnlySerialize { id })
}

fn main() {}
