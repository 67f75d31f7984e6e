#![warn(missing_docs, unreachable_pub)]
#![cfg_attr(docsrs, feature(doc_cfg))]

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
//!
//! # The reference
//!
//! - [`cached_json`](macro@cached_json): the attribute, its options, and the companions it
//!   generates next to each function (`f_key`, `f_invalidate`, `f_invalidate_all`,
//!   `f_refresh`, `f_json`), whose errors are a [`CacheError`].
//! - [`Cache`] and [`CacheBuilder`]: which store, which settings. With no set-up the first
//!   cached call builds the cache from the environment; [`CacheBuilder::from_env`] lists every
//!   variable and the values it accepts. [`RedisConfig`]: a Redis store's settings.
//! - [`Entry`]: what `f_json` answers, the stored JSON with what HTTP caching needs; with the
//!   `actix` or `axum` feature it is a response ([`actix`], [`axum`]).
//! - [`observe`] and [`CacheOutcome`]: what the cache did for a call.
//! - [`store`]: the storage seam, to put another backend behind the cache; [`key`]: how keys
//!   are made.
//!
//! # Features
//!
//! | feature | default | what it adds |
//! |---|---|---|
//! | `tls` | off | `rediss://` URLs, a private CA, client certificates (rustls) |
//! | `actix` | off | an [`Entry`] is an actix-web `Responder` ([`actix`]) |
//! | `axum` | off | an [`Entry`] is an axum 0.8 `IntoResponse`, and [`axum::not_modified`] answers `304`s |
//! | `sentinel` | off | `redis+sentinel://` URLs: the master Redis Sentinel names, found again after a failover |
//! | `testing` | off | [`testing::TestCache`]: tests of code that uses the cache, with no Redis and no sleep (a `[dev-dependencies]` feature) |

/// Makes an `async fn` cache-aside: key from its arguments, `GET`; on a hit the stored value,
/// on a miss the body's value, stored as JSON with the TTL.
///
/// `#[cached_json("prefix", ttl = SECONDS, ...)]`; only the prefix and `ttl` are required.
///
/// | option | meaning |
/// |---|---|
/// | `skip(a, b)` | arguments left out of the key (pools, clients, request ids) |
/// | `version = N` | adds `:vN` to the key: bump it when the cached type changes shape |
/// | `returns = value \| result \| option` | how the output is cached, said outright (by default: from the real return type) |
/// | `cache_none` | with `Option<T>`: cache `None` too (stored as JSON `null`) |
/// | `lock` | across processes: one instance computes a cold key, the others wait for its value |
/// | `lock_lease_ms = N` | with `lock`: the lease, extended while the function runs (default 5000) |
/// | `wait_ms = N` | the most a caller waits for another's computation of the same key (default 10000) |
/// | `stale = N` | keep the last good value N seconds past its TTL; answer it when the function returns `Err` or panics |
/// | `timeout_ms = N` | with `stale`: answer the stale value when the function takes longer than N ms; it goes on in the background |
/// | `hard_timeout_ms = N` | with `timeout_ms`: the most the function may go on once a stale value answered for it |
/// | `refresh_ahead = 0.8` | a hit past that share of the TTL refreshes the entry in the background |
/// | `jitter = N` | add 0..N random seconds to each TTL |
/// | `no_l1` | never copy this function's entries into the cache's in-process L1 (`CacheBuilder::l1`) |
/// | `l1_ttl = N` | keep L1 copies at most N seconds (shorter than `ttl`) |
/// | `cache_if = path` | `fn(&V) -> bool`, `V` what is stored (the `Ok` value, the `Some` value, or the whole value): a value for which it is false is returned and not stored |
/// | `ttl_with = path` | `fn(&V) -> std::time::Duration`: each value stored for its own TTL instead of `ttl` (zero: not stored); `jitter`, `stale`, `refresh_ahead`, the L1 and HTTP `max-age` follow it |
/// | `none_ttl = N` | with `Option<T>`: cache `None` for N seconds too (negative caching; `cache_none` caches it for `ttl`); `V` is then the whole `Option` |
/// | `tags("catalog", "seller:{id}")` | tags its entries carry (fixed, or built from key arguments); [`invalidate_tag`] makes every entry of a tag a miss, on every instance, in O(1) |
/// | `batch` | on a function taking a list of ids (`Vec<K>` or `&[K]`) and returning `HashMap<K, V>` (or a `Result` of it): one read for every id's entry, one run with the missing ids only, each id its own entry (below) |
/// | `crate = "path"` | where this crate is, when it is renamed in `Cargo.toml` or re-exported by another crate |
///
/// - `Result<T, E>`: only `Ok` is cached. `Option<T>`: only `Some` (add `cache_none` to cache
///   `None` as well). Any other return type: every value. The compiler decides from the real
///   type, so an alias such as `type ApiResult<T> = Result<T, MyError>` caches `Ok` only.
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
///
/// Each cached function comes with companions, so that a key is never rebuilt by hand. Taking
/// its key arguments only: `<fn>_key` (the call's [`Key`](key::Key)), `<fn>_invalidate` (its
/// entry and stale copy) and `<fn>_invalidate_all` (every entry, in O(1), on every instance
/// sharing the Redis), whose errors are a [`CacheError`]. Taking all its arguments:
/// `<fn>_refresh` (runs the body now and stores the value) and `<fn>_json` (the call itself,
/// answering the JSON the cache holds as an [`Entry`], in the shape of the output:
/// `Result<Entry, E>`, `Option<Entry>` or `Entry`; see [`actix`] and [`axum`]). For methods
/// they are associated functions of the type.
///
/// ```
/// use cached_json::{cached_json, observe, Cache, CacheOutcome};
///
/// struct Db;
///
/// #[cached_json("prices", ttl = 600, skip(db))]
/// async fn price(db: &Db, sku: &str) -> u64 {
///     42 // the slow query
/// }
///
/// # tokio::runtime::Runtime::new().unwrap().block_on(async {
/// let cache = Cache::builder().memory(1 << 20).build().unwrap();
/// cache.scope(async {
///     price(&Db, "a-1").await; // stored
///     let key = price_key("a-1").await.unwrap();
///     assert!(key.as_str().starts_with("prices:"));
///     assert!(price_invalidate("a-1").await.unwrap()); // deleted
///     assert_eq!(observe(price(&Db, "a-1")).await.1, Some(CacheOutcome::Miss));
///     assert_eq!(price_refresh(&Db, "a-1").await, 42); // ran and stored, hit or not
///     price_invalidate_all().await.unwrap(); // every "prices" entry, at once
///     assert_eq!(observe(price(&Db, "a-1")).await.1, Some(CacheOutcome::Miss));
/// }).await;
/// # });
/// ```
///
/// Batch loading: each id its own entry, one read for all of them, the body run once with the
/// ids missing from the cache (ids it leaves out of its map are absent from the answer, and
/// not cached). The companions take one id:
///
/// ```
/// use std::collections::HashMap;
/// use std::sync::atomic::{AtomicUsize, Ordering};
/// use cached_json::{cached_json, Cache};
///
/// static ORIGIN_CALLS: AtomicUsize = AtomicUsize::new(0);
///
/// #[cached_json("users", ttl = 60, batch)]
/// async fn users(ids: &[u64]) -> HashMap<u64, String> {
///     ORIGIN_CALLS.fetch_add(1, Ordering::Relaxed);
///     ids.iter().filter(|id| **id < 100).map(|id| (*id, format!("user {id}"))).collect()
/// }
///
/// # tokio::runtime::Runtime::new().unwrap().block_on(async {
/// let cache = Cache::builder().memory(1 << 20).build().unwrap();
/// cache.scope(async {
///     assert_eq!(users(&[1, 2]).await.len(), 2); // one call with [1, 2]
///     let found = users(&[1, 2, 3, 500]).await; // one call with [3, 500]
///     assert_eq!(found.len(), 3); // 500 does not exist
///     assert_eq!(ORIGIN_CALLS.load(Ordering::Relaxed), 2);
///     assert!(users_invalidate(&2).await.unwrap());
/// }).await;
/// # });
/// ```
///
/// Against a flaky, slow origin shared by several instances of an app:
///
/// ```
/// # use cached_json::cached_json;
/// #[cached_json("rates", ttl = 60, lock, stale = 3600, timeout_ms = 800, jitter = 10)]
/// async fn exchange_rate(currency: &str) -> Result<f64, String> {
///     Ok(5.1) // the slow, sometimes failing call
/// }
/// ```
pub use cached_json_macro::cached_json;
pub use cached_json_runtime::{
    describe_metrics, invalidate_tag, observe, Cache, CacheBuilder, CacheError, CacheOutcome,
    ConfigError, Entry, RedisConfig, DEFAULT_REDIS_URL,
};

#[cfg(feature = "actix")]
#[cfg_attr(docsrs, doc(cfg(feature = "actix")))]
pub mod actix;

/// HTTP caching for axum handlers (cargo feature `axum`, axum 0.8): an [`Entry`] is an
/// `IntoResponse` (the stored JSON with `X-Cache`, a strong `ETag`, `Cache-Control: max-age`,
/// `Age`), and [`axum::not_modified`] (a middleware) answers a matching `If-None-Match` with
/// `304`. One line per route, one layer per router (`examples/axum.rs` is a complete app):
///
/// ```no_run
/// use axum::{extract::Path, http::StatusCode, routing::get, Router};
/// use cached_json::{cached_json, Entry};
///
/// #[derive(serde::Serialize, serde::Deserialize)]
/// struct Place { name: String }
///
/// #[cached_json("places", ttl = 3600)]
/// async fn place(name: &str) -> Option<Place> {
///     Some(Place { name: name.to_owned() })
/// }
///
/// async fn get_place(Path(name): Path<String>) -> Result<Entry, StatusCode> {
///     place_json(&name).await.ok_or(StatusCode::NOT_FOUND)
/// }
///
/// let app: Router = Router::new()
///     .route("/places/{name}", get(get_place))
///     .layer(axum::middleware::from_fn(cached_json::axum::not_modified));
/// # drop(app);
/// ```
#[cfg(feature = "axum")]
#[cfg_attr(docsrs, doc(cfg(feature = "axum")))]
pub mod axum {
    pub use cached_json_runtime::axum::{not_modified, X_CACHE};
}

/// A cache for your tests (cargo feature `testing`, for `[dev-dependencies]`): an in-process
/// [`TestCache`](testing::TestCache) whose clock the test moves (or tokio's paused clock
/// does), whose store fails when told, and which records every call's outcome by prefix.
///
/// ```
/// use std::time::Duration;
/// use cached_json::testing::TestCache;
/// use cached_json::{cached_json, CacheOutcome::{Hit, Miss, Stale}};
///
/// #[cached_json("rates", ttl = 60, stale = 3600, skip(up))]
/// async fn rate(currency: &str, up: bool) -> Result<f64, String> {
///     if up { Ok(5.1) } else { Err("origin down".into()) }
/// }
///
/// # tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap().block_on(async {
/// let cache = TestCache::new();
/// cache.scope(async {
///     assert_eq!(rate("BRL", true).await, Ok(5.1));
///     cache.advance(Duration::from_secs(61)); // expired, no sleep
///     assert_eq!(rate("BRL", false).await, Ok(5.1)); // the origin fails: the stale value
/// }).await;
/// assert_eq!(cache.outcomes("rates"), [Miss, Stale]);
/// # let _ = Hit;
/// # });
/// ```
///
/// `tests/test_kit.rs` in the repository is the complete example: a hit after a miss, `Err`
/// not cached, the stale value answering when the origin fails after expiry, `refresh_ahead`
/// refreshing, a store that hangs.
#[cfg(feature = "testing")]
#[cfg_attr(docsrs, doc(cfg(feature = "testing")))]
pub mod testing {
    pub use cached_json_runtime::testing::{TestCache, HANG_TIMEOUT};
}

/// The storage seam: the [`Store`](store::Store) trait, its answers, and the two stores that
/// come with the crate (Redis and in-process).
pub mod store {
    pub use cached_json_runtime::store::*;
}

/// Cache keys: the [`Key`](key::Key) type and the canonical JSON its hash is computed over.
pub mod key {
    pub use cached_json_runtime::key::{canonical_json, Key, Unencodable};
}

// What generated code names, and nothing else: not public API (see the runtime's
// `__private`).
#[doc(hidden)]
pub use cached_json_runtime::__private;
