//! What the attribute's companions call. For a cached function `f`, the attribute also makes:
//!
//! - `f_key(key arguments)`: the key a call of `f` with those arguments has, in the current
//!   cache (its namespace, its prefix's generation);
//! - `f_invalidate(key arguments)`: deletes that call's entry and its stale copy (and its
//!   second entry, `Key::alternate`);
//! - `f_invalidate_all()`: invalidates every entry of `f`'s prefix, in O(1), for every process
//!   sharing the store ([`crate::generation`]);
//! - `f_refresh(arguments)`: runs `f` now and stores its value, whatever the store holds (the
//!   function's own call, made a refresh: [`Call::refreshing`](crate::call::Call::refreshing));
//! - `f_json(arguments)`: `f`'s call, answering with the JSON the cache holds (an [`Entry`](crate::Entry))
//!   in the shape of `f`'s output ([`crate::json`]).
//!
//! They take the same arguments as `f`, so a key can never be rebuilt wrong.

use std::fmt;

use crate::cache::{Cache, CurrentCache};
use crate::call::Call;
use crate::generation::at_generation;
use crate::instance;
use crate::key::{Key, KeyBuilder, Unencodable};
use crate::site::CacheSite;
use crate::store::StoreError;

/// Why a companion (`f_key`, `f_invalidate`, `f_invalidate_all`) could not name or invalidate
/// entries.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum CacheError {
    /// An argument has no canonical form: such calls have no key (they run uncached).
    NoKey(Unencodable),
    /// The store failed, or could not tell the prefix's generation.
    Store(StoreError),
}

impl fmt::Display for CacheError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            CacheError::NoKey(unencodable) => write!(
                f,
                "argument `{}` has no canonical form ({}): the call has no key",
                unencodable.argument, unencodable.reason
            ),
            CacheError::Store(err) => write!(f, "{err}"),
        }
    }
}

impl std::error::Error for CacheError {}

impl From<StoreError> for CacheError {
    fn from(err: StoreError) -> Self {
        CacheError::Store(err)
    }
}

/// The companions' side of a [`Call`]: the same key arguments, gathered the same way (so that a
/// key argument that is not `Serialize` is one error, whichever item reports it).
impl Call {
    /// For a companion of the function of `site`, in `instance` (see [`crate::instance`]).
    pub fn companion(site: &'static CacheSite, instance: &'static str) -> Self {
        Call::companion_in(Cache::current_ref(), site, instance)
    }

    fn companion_in(cache: CurrentCache, site: &'static CacheSite, instance: &'static str) -> Self {
        Call {
            cache,
            site,
            args: KeyBuilder::seeded(instance::seed(instance)),
            finished: None,
            refresh: false,
            bypass: false,
            tag_args: Default::default(),
        }
    }

    /// The key of the call, in the current cache.
    pub async fn key(self) -> Result<Key, CacheError> {
        let digest = self.args.finish().map_err(CacheError::NoKey)?;
        let namespace = self.cache.namespace();
        let generation = self
            .cache
            .generations()
            .resolve(self.cache.store(), namespace, self.site)
            .await
            .ok_or(StoreError::Unavailable)?;
        Ok(self.site.key(namespace, at_generation(digest, generation)))
    }

    /// Deletes the call's entry, its stale copy, and its second entry (and that one's stale
    /// copy: see `Key::alternate`); whether an entry existed.
    pub async fn invalidate(self) -> Result<bool, CacheError> {
        let cache = self.cache.clone();
        let key = self.key().await?;
        // (Through the cache: this process's L1 copy goes at once, the others' when Redis
        // reports the delete.)
        let existed = cache.delete(key.as_str()).await?;
        // The keys derived from it at once (the second entry is never copied into an L1).
        let alternate = key.alternate();
        let derived = [
            key.stale(),
            alternate.as_str().to_owned(),
            alternate.stale(),
        ];
        let store = cache.store();
        let deleted = crate::join::all(derived.iter().map(|derived| store.delete(derived)))
            .await
            .into_iter()
            .collect::<Result<Vec<bool>, _>>()?;
        // Whether the entry, or the second entry, existed.
        Ok(existed || deleted[1])
    }
}

/// Invalidates every entry of `site`'s prefix in the current cache.
pub async fn invalidate_all(site: &'static CacheSite) -> Result<(), CacheError> {
    Ok(Cache::current_ref().invalidate_prefix(site.prefix).await?)
}

/// Invalidates every entry carrying `tag` in the current cache ([`Cache::current`]): see
/// [`Cache::invalidate_tag`]. With `#[cached_json("products", ttl = 60, tags("seller:{seller_id}"))]`
/// on `product(seller_id: u64, id: u64)`, `invalidate_tag("seller:42")` makes every cached
/// product of seller 42 a miss, on every instance.
///
/// `Err` if the store could not be told (never a silent success).
pub async fn invalidate_tag(tag: &str) -> Result<(), CacheError> {
    Ok(Cache::current_ref().invalidate_tag(tag).await?)
}
