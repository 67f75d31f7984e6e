// Every problem of one signature is reported in one round, not the first only.
use cached_json::cached_json;

#[cached_json("many", ttl = 60, skip(missing))]
fn many<T>((a, b): (u32, u32), name: impl AsRef<str>) {
    let _ = (a, b, name.as_ref());
}

#[cached_json("options", ttl = 0, timeout_ms = 10, tll = 5)]
async fn options(id: u32) -> u32 {
    id
}

fn main() {}
