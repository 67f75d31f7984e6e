// A syntax error in the body is reported as itself, where it is, not as a misuse of the attribute.
use cached_json::cached_json;

#[cached_json("broken", ttl = 60)]
async fn broken(id: u32) -> u32 {
    let x = ;
    id
}

fn main() {}
