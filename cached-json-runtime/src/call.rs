//! What the `#[cached_json]` attribute generates calls to: a [`Call`] gathers one call's key
//! arguments, then runs the function's body through the cache-aside path ([`crate::aside`]).
//!
//! The generated code is a static [`CacheSite`](crate::CacheSite), one [`Call::arg`] per key
//! argument and one of [`Call::value`], [`Call::result`] or [`Call::option`]: the logic lives in
//! the runtime, where it is tested.

use std::future::Future;

use serde::Serialize;

use crate::aside::Aside;
use crate::cache::Cache;
use crate::cache::CurrentCache;
use crate::key::KeyBuilder;
use crate::shape::{CacheValue, OptionShape, PlainShape, ResultShape};
use crate::site::CacheSite;

/// A value that can be part of a cache key: anything `Serialize`.
///
/// It exists for its error message: the attribute checks each key argument against it.
#[diagnostic::on_unimplemented(
    message = "cache key argument of type `{Self}` does not implement `serde::Serialize`",
    label = "this argument is part of the cache key, so it must implement `serde::Serialize`",
    note = "derive or implement `Serialize` for it, or leave it out of the key with `skip(<argument name>)` in `#[cached_json(...)]`"
)]
pub trait KeyArg: Serialize {}

impl<T: Serialize + ?Sized> KeyArg for T {}

/// One cached call being prepared: the cache it uses and its key arguments.
pub struct Call {
    cache: CurrentCache,
    site: &'static CacheSite,
    args: KeyBuilder,
}

impl Call {
    /// Starts a call of `site`, on [`Cache::current`].
    pub fn new(site: &'static CacheSite) -> Self {
        site.register();
        Call {
            cache: Cache::current_ref(),
            site,
            args: KeyBuilder::new(),
        }
    }

    /// Adds a key argument (names in ascending order; see [`KeyBuilder::arg`]).
    pub fn arg<T: KeyArg + ?Sized>(&mut self, name: &'static str, value: &T) -> &mut Self {
        self.args.arg(name, value);
        self
    }

    /// Caches every value `function` returns.
    pub fn value<V, F>(self, function: F) -> impl Future<Output = V>
    where
        V: CacheValue,
        F: Future<Output = V>,
    {
        self.into_aside().run::<PlainShape<V>, F>(function)
    }

    /// Caches `Ok` values; `Err` is returned as it is and not stored.
    pub fn result<T, E, F>(self, function: F) -> impl Future<Output = Result<T, E>>
    where
        T: CacheValue,
        F: Future<Output = Result<T, E>>,
    {
        self.into_aside().run::<ResultShape<T, E>, F>(function)
    }

    /// Caches `Some` values; `None` is returned and not stored.
    pub fn option<T, F>(self, function: F) -> impl Future<Output = Option<T>>
    where
        T: CacheValue,
        F: Future<Output = Option<T>>,
    {
        self.into_aside().run::<OptionShape<T>, F>(function)
    }

    /// Finishes the key now, so that the arguments' canonical buffer (256 bytes inline) is not
    /// carried in the call's future.
    fn into_aside(self) -> Aside {
        let key = self.site.key(self.cache.namespace(), self.args.finish());
        Aside::new(self.cache, self.site, key)
    }
}
