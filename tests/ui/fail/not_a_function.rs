use cached_json::cached_json;

#[cached_json("struct", ttl = 60)]
pub struct NotAFunction;

fn main() {}
