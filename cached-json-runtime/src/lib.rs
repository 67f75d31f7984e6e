//! The runtime of [`cached-json`](https://docs.rs/cached-json): deterministic keys, the
//! [`Store`] seam with its Redis and in-process stores, the process-wide [`Cache`] and the
//! fail-open cache-aside call that `#[cached_json]` generates calls to.
//!
//! Use it through the `cached-json` crate; this crate is its engine room.

#![warn(missing_docs)]

mod breaker;
mod cache;
mod cache_aside;
mod flight;
pub mod key;
mod logging;
mod memory;
mod outcome;
mod redis_store;
mod store;

pub use cache::{Cache, CacheBuilder, DEFAULT_REDIS_URL};
pub use cache_aside::{CacheSite, Call, KeyArg};
pub use logging::redact_url;
pub use memory::MemoryStore;
pub use outcome::{observe, CacheOutcome};
pub use redis_store::{ConfigError, RedisConfig, RedisStore};
pub use store::{BoxFuture, Store, StoreError};
