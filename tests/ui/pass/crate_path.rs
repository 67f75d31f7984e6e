// The facade renamed (`use ... as`) or re-exported by another module: `crate = "..."` says where
// the generated code finds it.
use cached_json as cj;

mod platform {
    pub use cached_json as cache;
}

#[cj::cached_json("renamed", ttl = 60, crate = "cj")]
async fn renamed(n: u64) -> u64 {
    n + 1
}

#[platform::cache::cached_json("re-exported", ttl = 60, crate = "platform::cache")]
async fn re_exported(n: u64) -> u64 {
    n + 2
}

fn main() {
    cj::Cache::builder().memory(1 << 20).build().unwrap().install().unwrap();
    tokio::runtime::Runtime::new().unwrap().block_on(async {
        assert_eq!(renamed(1).await, 2);
        assert_eq!(re_exported(1).await, 3);
    });
}
