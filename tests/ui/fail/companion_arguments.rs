// The companions take the function's own key arguments: wrong ones are a compile error.
use cached_json::cached_json;

#[cached_json("users", ttl = 60)]
async fn user_name(id: u64, region: &str) -> Option<String> {
    Some(format!("{id}{region}"))
}

async fn misuse() {
    let _ = user_name_key("7", "br").await;
    let _ = user_name_invalidate(7).await;
}

fn main() {
    let _ = misuse();
}
