//! Never a wrong value: against a real redis-server, a value written by one call is never read
//! by a call with different arguments, nor by another instantiation of a generic context, and
//! what must not be cached (an `Err` behind an alias, an argument with no key) is not.

use std::collections::HashMap;
use std::time::Duration;

use cached_json::{cached_json, CacheOutcome};
use cached_json_test_support::RedisServer;
use redis::Commands;

mod support;

use support::outcome;

/// Echoes its argument's debug form: a hit with another call's value would show.
#[cached_json("float-echo", ttl = 60)]
async fn float_echo(x: Option<f64>) -> String {
    format!("{x:?}")
}

#[cached_json("nested-echo", ttl = 60)]
async fn nested_echo(x: Option<Option<u8>>) -> String {
    format!("{x:?}")
}

#[tokio::test]
async fn floats_and_nones_that_json_writes_alike_have_entries_of_their_own() {
    let server = RedisServer::start();
    let cache = server.cache();
    let values = [
        None,
        Some(f64::NAN),
        Some(f64::INFINITY),
        Some(f64::NEG_INFINITY),
        Some(0.0),
        Some(-0.0),
    ];
    for x in values {
        assert_eq!(
            outcome(&cache, float_echo(x)).await,
            (format!("{x:?}"), CacheOutcome::Miss)
        );
    }
    for x in values {
        assert_eq!(
            outcome(&cache, float_echo(x)).await,
            (format!("{x:?}"), CacheOutcome::Hit)
        );
    }
    assert_eq!(server.keys("float-echo:*").len(), values.len());

    let nested = [None, Some(None), Some(Some(0))];
    for x in nested {
        assert_eq!(
            outcome(&cache, nested_echo(x)).await,
            (format!("{x:?}"), CacheOutcome::Miss)
        );
    }
    for x in nested {
        assert_eq!(
            outcome(&cache, nested_echo(x)).await,
            (format!("{x:?}"), CacheOutcome::Hit)
        );
    }
}

#[cached_json("by-pair", ttl = 60)]
async fn by_pair(pairs: HashMap<(u8, u8), u8>) -> usize {
    pairs.len()
}

#[tokio::test]
async fn an_argument_with_no_key_runs_uncached_and_stores_nothing() {
    let server = RedisServer::start();
    let cache = server.cache();
    let one = HashMap::from([((1, 2), 3)]);
    let two = HashMap::from([((1, 2), 3), ((4, 5), 6)]);
    assert_eq!(
        outcome(&cache, by_pair(one.clone())).await,
        (1, CacheOutcome::Bypass)
    );
    assert_eq!(
        outcome(&cache, by_pair(two)).await,
        (2, CacheOutcome::Bypass)
    );
    assert_eq!(
        outcome(&cache, by_pair(one)).await,
        (1, CacheOutcome::Bypass)
    );
    assert!(server.keys("*").is_empty(), "{:?}", server.keys("*"));
}

pub trait Entity {
    const TABLE: &'static str;
}
pub struct User;
pub struct Admin;
impl Entity for User {
    const TABLE: &'static str = "users";
}
impl Entity for Admin {
    const TABLE: &'static str = "admins";
}

pub struct Repo<T>(std::marker::PhantomData<T>);

impl<T: Entity> Repo<T> {
    #[cached_json("repo-name", ttl = 60)]
    async fn name(&self, id: u32) -> String {
        format!("{}#{id}", T::TABLE)
    }
}

#[tokio::test]
async fn instantiations_of_a_generic_impl_never_read_each_others_entries() {
    let server = RedisServer::start();
    let cache = server.cache();
    let users = Repo::<User>(Default::default());
    let admins = Repo::<Admin>(Default::default());
    assert_eq!(
        outcome(&cache, users.name(1)).await,
        ("users#1".into(), CacheOutcome::Miss)
    );
    assert_eq!(
        outcome(&cache, admins.name(1)).await,
        ("admins#1".into(), CacheOutcome::Miss)
    );
    assert_eq!(
        outcome(&cache, admins.name(1)).await,
        ("admins#1".into(), CacheOutcome::Hit)
    );
    assert_eq!(
        outcome(&cache, users.name(1)).await,
        ("users#1".into(), CacheOutcome::Hit)
    );
    assert_eq!(server.keys("repo-name:*").len(), 2);
}

#[derive(Debug, PartialEq)]
pub struct ApiError;
type ApiResult<T> = Result<T, ApiError>;

#[cached_json("aliased", ttl = 60)]
async fn aliased(fail: bool) -> ApiResult<u32> {
    if fail {
        Err(ApiError)
    } else {
        Ok(1)
    }
}

pub trait Source {
    type Out;
    fn out(id: u32) -> Self::Out;
}
pub struct Fallible;
impl Source for Fallible {
    type Out = Result<u32, String>;
    fn out(id: u32) -> Result<u32, String> {
        Err(format!("no {id}"))
    }
}
pub struct Fetcher<S>(std::marker::PhantomData<S>);

impl<S: Source> Fetcher<S>
where
    S::Out: serde::Serialize + serde::de::DeserializeOwned,
{
    /// `S::Out` is a `Result` only once `S` is known: the attribute cannot see it.
    #[cached_json("projected", ttl = 60)]
    async fn fetch(&self, id: u32) -> S::Out {
        S::out(id)
    }
}

#[tokio::test]
async fn an_err_is_never_stored_whatever_spells_its_type() {
    let server = RedisServer::start();
    let cache = server.cache();
    assert_eq!(
        outcome(&cache, aliased(true)).await,
        (Err(ApiError), CacheOutcome::Miss)
    );
    assert!(
        server.keys("aliased:*").is_empty(),
        "an Err behind an alias was stored"
    );
    assert_eq!(
        outcome(&cache, aliased(false)).await,
        (Ok(1), CacheOutcome::Miss)
    );
    assert_eq!(server.keys("aliased:*").len(), 1);

    // A projection resolved per instantiation: the Result is seen at run time, and the call
    // runs uncached rather than storing its Err as a value.
    let fetcher = Fetcher::<Fallible>(Default::default());
    for _ in 0..2 {
        assert_eq!(
            outcome(&cache, fetcher.fetch(3)).await,
            (Err("no 3".into()), CacheOutcome::Bypass)
        );
    }
    assert!(server.keys("projected:*").is_empty());
}

#[cached_json("jittered-stale", ttl = 60, stale = 30, jitter = 50)]
async fn jittered_stale(id: u32) -> Result<u32, String> {
    Ok(id)
}

#[tokio::test]
async fn the_stale_copy_outlives_its_jittered_entry() {
    let server = RedisServer::start();
    let cache = server.cache();
    for id in 0..20 {
        cache.scope(jittered_stale(id)).await.unwrap();
    }
    let mut conn = server.connection();
    let entries: Vec<String> = server
        .keys("jittered-stale:*")
        .into_iter()
        .filter(|k| !k.ends_with(":stale"))
        .collect();
    assert_eq!(entries.len(), 20);
    let mut spread = Vec::new();
    for entry in entries {
        let fresh: i64 = conn.pttl(&entry).unwrap();
        let stale: i64 = conn.pttl(format!("{entry}:stale")).unwrap();
        spread.push(fresh);
        let margin = Duration::from_millis((stale - fresh) as u64);
        assert!(
            margin > Duration::from_secs(29) && margin < Duration::from_secs(31),
            "{entry}: entry {fresh} ms, stale copy {stale} ms"
        );
    }
    spread.sort();
    println!(
        "entry TTLs from {} to {} ms",
        spread[0],
        spread[spread.len() - 1]
    );
    assert!(
        spread[spread.len() - 1] - spread[0] > 5_000,
        "jitter spreads the entries"
    );
}
