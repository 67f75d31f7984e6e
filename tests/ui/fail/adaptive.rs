

use cached_json::cached_json;

fn wrong_type(value: &String) -> bool {
    value.is_empty()
}

fn not_a_duration(_: &u32) -> u64 {
    1
}

#[cached_json("wrong-type", ttl = 60, cache_if = wrong_type)]
async fn wrong_type_for_the_value(id: u32) -> u32 {
    id
}

#[cached_json("not-duration", ttl = 60, ttl_with = not_a_duration)]
async fn ttl_not_a_duration(id: u32) -> u32 {
    id
}

#[cached_json("none-ttl", ttl = 60, none_ttl = 5)]
async fn none_ttl_without_option(id: u32) -> Result<u32, String> {
    Ok(id)
}

#[cached_json("none-twice", ttl = 60, none_ttl = 5, cache_none)]
async fn none_twice(id: u32) -> Option<u32> {
    Some(id)
}

#[cached_json("not-a-path", ttl = 60, ttl_with = |_| std::time::Duration::ZERO)]
async fn closure(id: u32) -> u32 {
    id
}

fn main() {}
