//! Cache-aside for any `async fn`, over Redis, with one attribute.
//!
//! ```
//! use cached_json::cached_json;
//! # #[derive(serde::Serialize, serde::Deserialize)] struct LocalInfo { name: String }
//! # #[derive(Debug)] struct AppError;
//!
//! #[cached_json("local-info", ttl = 86400)]
//! async fn local_info(location_name: &str) -> Result<LocalInfo, AppError> {
//!     // The slow part: runs on a miss only.
//!     Ok(LocalInfo { name: location_name.to_owned() })
//! }
//! # cached_json::Cache::builder().memory(1 << 20).build().unwrap().install().unwrap();
//! # tokio::runtime::Runtime::new().unwrap().block_on(async {
//! let info = local_info("Recife").await.unwrap(); // miss: runs, stores
//! let info = local_info("Recife").await.unwrap(); // hit: from the cache
//! # });
//! ```

pub use cached_json_macro::cached_json;
pub use cached_json_runtime::{
    key, observe, redact_url, BoxFuture, Cache, CacheBuilder, CacheOutcome, ConfigError,
    MemoryStore, RedisConfig, RedisStore, Store, StoreError, DEFAULT_REDIS_URL,
};

#[doc(hidden)]
pub mod __private {
    pub use cached_json_runtime::{CacheSite, Call};
}
