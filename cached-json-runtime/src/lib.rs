//! The runtime of [`cached-json`](https://docs.rs/cached-json): deterministic keys, the
//! [`Store`](store::Store) seam with its Redis and in-process stores, the process-wide [`Cache`]
//! and the fail-open cache-aside call that `#[cached_json]` generates calls to.
//!
//! Use it through the `cached-json` crate; this crate is its engine room. ARCHITECTURE.md at
//! the repository's root follows one call through the modules.

#![warn(missing_docs, unreachable_pub)]
#![cfg_attr(docsrs, feature(doc_cfg))]

#[cfg(feature = "actix")]
#[cfg_attr(docsrs, doc(cfg(feature = "actix")))]
pub mod actix;
mod aside;
#[cfg(feature = "axum")]
#[cfg_attr(docsrs, doc(cfg(feature = "axum")))]
pub mod axum;
mod background;
mod batch;
mod body;
mod builder;
mod cache;
mod call;
mod companion;
mod detach;
mod env;
mod flight;
mod generation;
mod http;
mod instance;
mod instruments;
mod join;
mod json;
pub mod key;
mod l1;
mod lock;
mod logging;
mod mode;
mod outcome;
mod shape;
mod site;
mod stale;
pub mod store;
mod tags;
#[cfg(feature = "testing")]
#[cfg_attr(docsrs, doc(cfg(feature = "testing")))]
pub mod testing;
mod timer;
mod trust;
mod unwind;

pub use builder::CacheBuilder;
pub use builder::DEFAULT_REDIS_URL;
pub use cache::Cache;
pub use companion::invalidate_tag;
pub use companion::CacheError;
pub use http::Entry;
pub use instruments::describe_metrics;
pub use outcome::{observe, CacheOutcome};
pub use store::redis::{ConfigError, RedisConfig};

/// What the code `#[cached_json]` generates calls, and nothing else does: not public API.
///
/// Generated code names every item through `<crate>::__private` (as serde's and tracing's do),
/// so these may change in any release; a user never writes these paths.
#[doc(hidden)]
pub mod __private {
    pub mod batch {
        pub use crate::batch::{again, Again, Batch, BatchId};
    }
    pub use crate::call::{Call, KeyArg};
    pub use crate::companion::invalidate_all;
    pub mod detach {
        pub use crate::detach::*;
    }
    pub use crate::detach::Start;
    pub use crate::http::observe_http;
    pub use crate::instance::instance_of;
    pub mod json {
        pub use crate::json::*;
    }
    pub use crate::key::builder::KeyBuilder;
    pub use crate::key::Key;
    pub mod mode {
        pub use crate::mode::*;
    }
    pub use crate::shape::{CacheValue, Codec, ErrorShare};
    pub use crate::site::CacheSite;
    pub use crate::{CacheError, Entry};
}
