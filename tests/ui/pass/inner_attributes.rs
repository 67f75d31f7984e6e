// Inner attributes at the top of the body keep applying to it: without the `allow`, the unused
// variable would be an error under `deny(warnings)`.
#![deny(warnings)]

use cached_json::cached_json;

#[cached_json("inner", ttl = 60)]
async fn with_inner_attribute(n: u64) -> u64 {
    #![allow(unused_variables)]
    let unused = n;
    n
}

fn main() {
    cached_json::Cache::builder().memory(1 << 20).build().unwrap().install().unwrap();
    tokio::runtime::Runtime::new().unwrap().block_on(async {
        assert_eq!(with_inner_attribute(3).await, 3);
    });
}
