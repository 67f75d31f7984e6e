//! The Redis store, as parts: [`RedisStore`] runs bounded commands (`store.rs`), each part
//! below gets only what it needs. This module declares them and names what the crate uses.

mod breaker;
mod cluster;
mod commands;
mod config;
mod connections;
mod dial;
mod events;
mod link;
mod mget;
mod primary_probe;
mod reach;
mod reconnect;
#[cfg(feature = "sentinel")]
mod sentinel;
mod server;
mod store;
mod tls;
mod tracking;

pub(crate) use self::config::RedisTls;
pub use self::config::{ConfigError, RedisConfig};
pub use self::store::RedisStore;
