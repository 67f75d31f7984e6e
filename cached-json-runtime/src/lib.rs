//! The runtime of [`cached-json`](https://docs.rs/cached-json): deterministic keys, the
//! [`Store`](store::Store) seam with its Redis and in-process stores, the process-wide [`Cache`]
//! and the fail-open cache-aside call that `#[cached_json]` generates calls to.
//!
//! Use it through the `cached-json` crate; this crate is its engine room. ARCHITECTURE.md at
//! the repository's root follows one call through the modules.

#![warn(missing_docs)]

#[cfg(feature = "actix")]
pub mod actix;
mod aside;
#[cfg(feature = "axum")]
pub mod axum;
mod background;
mod builder;
mod cache;
mod call;
mod companion;
pub mod detach;
mod env;
mod flight;
mod generation;
mod http;
pub mod instance;
mod instruments;
pub mod json;
pub mod key;
mod l1;
mod lock;
mod logging;
pub mod mode;
mod outcome;
mod redis;
mod shape;
mod site;
mod stale;
pub mod store;
mod timer;
mod trust;
mod unwind;

pub use builder::DEFAULT_REDIS_URL;
pub use cache::{Cache, CacheBuilder};
pub use call::{Call, KeyArg};
pub use companion::{invalidate_all, KeyError};
pub use http::{observe_entry, observe_http, Entry};
pub use instruments::describe_metrics;
pub use logging::redact_url;
pub use outcome::{observe, CacheOutcome};
pub use redis::{ConfigError, RedisConfig, RedisTls};
pub use shape::{CacheValue, Codec, ErrorShare};
pub use site::CacheSite;
