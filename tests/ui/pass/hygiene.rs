// Argument and type names that a careless expansion would capture or shadow.
use cached_json::cached_json;

#[allow(dead_code)]
struct Call;
#[allow(dead_code)]
struct CacheSite;
#[allow(dead_code)]
struct Cache;

#[cached_json("names", ttl = 60)]
async fn clashing(
    key: String,
    value: u32,
    cache: bool,
    call: i64,
    site: &str,
    __cached_json_call: u8,
    r#type: &str,
) -> String {
    format!("{key}{value}{cache}{call}{site}{__cached_json_call}{}", r#type)
}

fn main() {
    cached_json::Cache::builder().memory(1 << 20).build().unwrap().install().unwrap();
    tokio::runtime::Runtime::new().unwrap().block_on(async {
        let out = clashing("k".into(), 1, true, -1, "s", 7, "t").await;
        assert_eq!(out, "k1true-1s7t");
    });
}
