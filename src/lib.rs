#![warn(missing_docs)]

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

/// Makes an `async fn` cache-aside: key from its arguments, `GET`; on a hit the stored value,
/// on a miss the body's value, stored as JSON with the TTL.
///
/// `#[cached_json("prefix", ttl = SECONDS, skip(arg, ...), version = N, returns = value |
/// result | option, cache_none)]`; only the prefix and `ttl` are required.
///
/// - `Result<T, E>`: only `Ok` is cached. `Option<T>`: only `Some` (add `cache_none` to cache
///   `None` as well). Any other return type: every value. Behind a type alias, say which with
///   `returns = ...`.
/// - The key is built from every argument but `self` and the `skip`ped ones; each must be
///   `Serialize`. The stored type must be `Serialize + DeserializeOwned`.
/// - Redis trouble never fails the call: the body runs and its value is returned.
///
/// ```
/// use cached_json::{cached_json, observe, Cache, CacheOutcome};
///
/// struct Db; // not Serialize: skipped
///
/// #[cached_json("users", ttl = 60, skip(db))]
/// async fn user_name(db: &Db, id: u64) -> Option<String> {
///     (id == 1).then(|| "Ana".to_owned()) // the slow query
/// }
///
/// # tokio::runtime::Runtime::new().unwrap().block_on(async {
/// let cache = Cache::builder().memory(1 << 20).build().unwrap();
/// cache.scope(async {
///     assert_eq!(observe(user_name(&Db, 1)).await, (Some("Ana".into()), Some(CacheOutcome::Miss)));
///     assert_eq!(observe(user_name(&Db, 1)).await, (Some("Ana".into()), Some(CacheOutcome::Hit)));
///     // None is not cached: the body runs every time.
///     assert_eq!(observe(user_name(&Db, 2)).await, (None, Some(CacheOutcome::Miss)));
/// }).await;
/// # });
/// ```
///
/// Methods work too; `self` is never part of the key:
///
/// ```
/// # use cached_json::cached_json;
/// struct Weather { api_key: String }
///
/// impl Weather {
///     #[cached_json("forecast", ttl = 1800)]
///     pub async fn forecast(&self, city: &str, days: u8) -> Result<Vec<f32>, String> {
///         Ok(vec![25.0; days as usize])
///     }
/// }
/// ```
pub use cached_json_macro::cached_json;
pub use cached_json_runtime::{
    key, observe, redact_url, BoxFuture, Cache, CacheBuilder, CacheOutcome, ConfigError,
    MemoryStore, RedisConfig, RedisStore, Store, StoreError, DEFAULT_REDIS_URL,
};

#[doc(hidden)]
pub mod __private {
    pub use cached_json_runtime::{CacheSite, Call};
}
