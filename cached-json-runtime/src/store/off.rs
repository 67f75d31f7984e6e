//! The store of a cache that is off (`CACHED_JSON_STORE=off`, or an unusable configuration):
//! every call skips it and runs its function.

use std::time::Duration;

use super::{BoxFuture, Health, Read, Store, StoreError};

pub(crate) struct NoStore;

impl Store for NoStore {
    fn get<'a>(&'a self, _: &'a str) -> BoxFuture<'a, Read> {
        Box::pin(std::future::ready(Read::Unreachable))
    }
    fn set<'a>(
        &'a self,
        _: &'a str,
        _: &'a [u8],
        _: Duration,
    ) -> BoxFuture<'a, Result<(), StoreError>> {
        Box::pin(std::future::ready(Err(StoreError::Unsupported(
            "writes: caching is off",
        ))))
    }
    fn delete<'a>(&'a self, _: &'a str) -> BoxFuture<'a, Result<bool, StoreError>> {
        Box::pin(std::future::ready(Err(StoreError::Unsupported(
            "writes: caching is off",
        ))))
    }
    fn health(&self) -> Health {
        Health::Down
    }
    fn kind(&self) -> &'static str {
        "off"
    }
}
